//! `GET/POST /o/authorize/`: the authorization endpoint and its consent page.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::common::{error_page, query_pairs, read_form, redirect};
use crate::domain::Session;
use crate::http::session;
use crate::server::AppState;
use crate::services::oauth::authorize::{
    AuthorizationParams, AuthorizeError, ValidatedAuthorization, append_query, issue_code, validate,
};
use crate::services::oauth::{OAuthError, OAuthErrorCode};

/// Path of the login page (`?next=` brings the browser back).
pub const LOGIN_PATH: &str = "/accounts/login/";
/// Canonical path of the authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/o/authorize/";
/// Form field of the CSRF token (Django's name).
pub const CSRF_FIELD: &str = "csrfmiddlewaretoken";

fn login_redirect(next: &str) -> Response {
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    redirect(&format!("{LOGIN_PATH}?next={encoded}"))
}

fn failure(error: AuthorizeError) -> Response {
    match error.redirect_url() {
        Some(url) => redirect(&url),
        None => {
            let status = match error.error().code {
                OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            error_page(status, error.error())
        }
    }
}

fn internal(error: crate::CoreError) -> Response {
    let error = OAuthError::from(error);
    let status = super::common::status_of(error.code);
    error_page(status, &error)
}

async fn grant(
    state: &AppState,
    request: &ValidatedAuthorization,
    user: &crate::domain::User,
    session: &Session,
) -> Response {
    match issue_code(
        state.store.as_ref(),
        &state.config,
        request,
        user,
        session::auth_time(session),
    )
    .await
    {
        Ok(url) => redirect(&url),
        Err(e) => internal(e),
    }
}

fn csrf_secret(session: &Session) -> Option<&str> {
    session
        .data
        .get("csrf")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
}

/// `GET /o/authorize/`: validates the request, sends anonymous users to the login page, issues a
/// code at once for clients that skip authorization, and shows the consent page otherwise.
#[handler]
pub async fn authorize_get(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let params = AuthorizationParams::from_pairs(query_pairs(req));
    let request = match validate(state.store.as_ref(), &params).await {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let current = match session::current_user(state, req).await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let Some((user, mut current_session)) = current else {
        if request.prompt_none {
            return failure(request.error(OAuthError::bare(OAuthErrorCode::LoginRequired)));
        }
        let next = req
            .original_uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| AUTHORIZE_PATH.to_string());
        return login_redirect(&next);
    };
    if !request.needs_consent() {
        return grant(state, &request, &user, &current_session).await;
    }
    if request.prompt_none {
        return failure(request.error(OAuthError::bare(OAuthErrorCode::ConsentRequired)));
    }
    let csrf = match csrf_secret(&current_session) {
        Some(token) => token.to_string(),
        None => {
            let token = jhe_kdf::random_token(48);
            if let Some(map) = current_session.data.as_object_mut() {
                map.insert("csrf".into(), token.clone().into());
            } else {
                current_session.data = json!({"csrf": token});
            }
            if let Err(e) = session::save(state, &current_session).await {
                return internal(e);
            }
            token
        }
    };
    let fields: serde_json::Map<String, serde_json::Value> = request
        .params
        .to_pairs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    crate::http::templates::page(
        StatusCode::OK,
        "oauth/authorize.html",
        &json!({
            "client_name": request.client.name,
            "scopes": request.scope.split_whitespace().collect::<Vec<_>>(),
            "action": AUTHORIZE_PATH,
            "csrf_token": csrf,
            "params": fields,
        }),
    )
}

/// `POST /o/authorize/`: the consent form. Checks the CSRF token against the session, then
/// issues a code (`allow` set) or reports `access_denied` to the client.
#[handler]
pub async fn authorize_post(
    req: &Request,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let pairs = match read_form(body).await {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let submitted_csrf = super::common::first(&pairs, CSRF_FIELD).map(str::to_string);
    let allow = super::common::first(&pairs, "allow").is_some_and(|v| !v.is_empty());
    let params = AuthorizationParams::from_pairs(
        pairs
            .iter()
            .filter(|(k, _)| k != CSRF_FIELD && k != "allow")
            .map(|(k, v)| (k.as_str(), v.clone())),
    );
    let request = match validate(state.store.as_ref(), &params).await {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let current = match session::current_user(state, req).await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let Some((user, current_session)) = current else {
        return login_redirect(&append_query(AUTHORIZE_PATH, &params.to_pairs()));
    };
    let csrf_ok = match (csrf_secret(&current_session), submitted_csrf.as_deref()) {
        (Some(expected), Some(given)) => expected.as_bytes().ct_eq(given.as_bytes()).into(),
        _ => false,
    };
    if !csrf_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            &OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "CSRF verification failed. Reload the page and try again.",
            ),
        );
    }
    if !allow {
        return failure(request.error(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "The user denied the request.",
        )));
    }
    grant(state, &request, &user, &current_session).await
}
