//! `/o/token/`, `/o/revoke_token/`, `/o/introspect/`, `/o/userinfo/`, discovery, JWKS and
//! `/o/token-exchange`.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde_json::json;

use super::common::{
    basic_credentials, error_response, first, no_store_json, query_pairs, read_form,
};
use crate::http::auth::bearer_token;
use crate::server::AppState;
use crate::services::oauth::clients::ClientCredentials;
use crate::services::oauth::id_token::{discovery_document, jwks as jwks_document};
use crate::services::oauth::introspection::{
    introspect as introspect_token, introspecting_client, revoke, userinfo as userinfo_claims,
};
use crate::services::oauth::token_endpoint::{TokenRequest, token_request};
use crate::services::oauth::token_exchange::{TokenExchangeError, exchange as exchange_token};
use crate::services::oauth::{OAuthError, OAuthErrorCode};

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// `POST /o/register/`: RFC 7591 dynamic registration of native public clients with loopback
/// redirect URIs (see [`crate::services::oauth::registration`]): `201` with the client
/// information, `400` `{"error": "invalid_redirect_uri" | "invalid_client_metadata",
/// "error_description"}`, `429` when one address registers too often.
#[handler]
pub async fn register(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    use crate::services::oauth::registration::{RegistrationError, register as register_client};
    let no_store = |mut response: Response| {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    };
    let metadata = match body.into_bytes_limit(64 * 1024).await {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).ok(),
        Err(_) => None,
    };
    let Some(metadata) = metadata else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_client_metadata",
                    "error_description": "the body must be a JSON object of client metadata"}),
        );
    };
    let address = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    match register_client(state, &metadata, &address).await {
        Ok(Ok(client)) => no_store(json_response(StatusCode::CREATED, &client)),
        Ok(Err(RegistrationError::Invalid { code, description })) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": code, "error_description": description}),
        ),
        Ok(Err(RegistrationError::TooMany)) => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": "too_many_requests",
                    "error_description": "Too many client registrations from this address; try again in an hour."}),
        ),
        Err(e) => crate::http::error::response_of(e),
    }
}

/// `POST /o/token/`: the token endpoint (form-encoded; never cached; RFC 6749 errors).
#[handler]
pub async fn token_post(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let basic = basic_credentials(req);
    let used_basic = basic.is_some();
    let pairs = match read_form(body).await {
        Ok(p) => p,
        Err(e) => return error_response(&e, used_basic),
    };
    let request = TokenRequest::from_pairs(pairs, basic);
    let result = token_request(state, &request).await;
    match result {
        Ok(tokens) => match serde_json::to_value(&tokens) {
            Ok(body) => no_store_json(StatusCode::OK, &body),
            Err(_) => error_response(&OAuthError::bare(OAuthErrorCode::ServerError), used_basic),
        },
        Err(e) => error_response(&e, used_basic),
    }
}

fn credentials_of(req: &Request, pairs: &[(String, String)]) -> ClientCredentials {
    ClientCredentials {
        basic: basic_credentials(req),
        client_id: first(pairs, "client_id")
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        client_secret: first(pairs, "client_secret")
            .filter(|v| !v.is_empty())
            .map(str::to_string),
    }
}

/// `POST /o/revoke_token/` (RFC 7009): 200 with an empty body, also for unknown tokens.
#[handler]
pub async fn revoke_token(
    req: &Request,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let pairs = match read_form(body).await {
        Ok(p) => p,
        Err(e) => return error_response(&e, false),
    };
    let credentials = credentials_of(req, &pairs);
    let holder =
        crate::services::audit::token_holder(state, first(&pairs, "token").unwrap_or("")).await;
    let result = revoke(
        state.store.as_ref(),
        &credentials,
        first(&pairs, "token"),
        first(&pairs, "token_type_hint"),
    )
    .await;
    state.tokens.clear();
    if holder.user_id.is_some() || result.is_err() {
        let event =
            crate::audit::AuditEvent::by_agent(holder, crate::audit::AuditKind::TokenRevoked);
        crate::services::audit::record(
            state,
            match &result {
                Ok(()) => event,
                Err(e) => event.failed(e.to_string()),
            },
        );
    }
    match result {
        Ok(()) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CACHE_CONTROL, "no-store")
            .finish(),
        Err(e) => error_response(&e, credentials.used_basic()),
    }
}

/// `GET/POST /o/introspect/` (RFC 7662). Callers authenticate as a confidential client; anyone
/// else (public clients, bearer tokens, anonymous callers) gets 403 with an empty body.
#[handler]
pub async fn introspect(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let mut pairs = query_pairs(req);
    if req.method() == poem::http::Method::POST {
        match read_form(body).await {
            Ok(p) => pairs.extend(p),
            Err(e) => return error_response(&e, false),
        }
    }
    let credentials = credentials_of(req, &pairs);
    let caller = match introspecting_client(state.store.as_ref(), &credentials).await {
        Ok(Some(client)) => client,
        Ok(None) => return Response::builder().status(StatusCode::FORBIDDEN).finish(),
        Err(e) => return error_response(&e, false),
    };
    match introspect_token(state.store.as_ref(), &caller, first(&pairs, "token")).await {
        Ok(body) => no_store_json(StatusCode::OK, &body),
        Err(e) => error_response(&OAuthError::from(e), false),
    }
}

/// `GET/POST /o/userinfo/`: the claims of the bearer token's user.
#[handler]
pub async fn userinfo(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let token = bearer_token(req);
    match userinfo_claims(state.store.as_ref(), token.as_deref()).await {
        Ok(body) => no_store_json(StatusCode::OK, &body),
        Err(e) => {
            let mut response = error_response(&e, false);
            let challenge = match e.code {
                OAuthErrorCode::InvalidToken => Some("Bearer error=\"invalid_token\""),
                OAuthErrorCode::InsufficientScope => Some("Bearer error=\"insufficient_scope\""),
                _ => None,
            };
            if let Some(challenge) = challenge {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            response
        }
    }
}

/// `GET /o/.well-known/openid-configuration` (and `/.well-known/openid-configuration`).
#[handler]
pub async fn discovery(Data(state): Data<&Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &discovery_document(&state.config))
}

/// `GET /o/.well-known/jwks.json`: every signing key, active and retired.
#[handler]
pub async fn jwks(Data(state): Data<&Arc<AppState>>) -> Response {
    match jwks_document(state.store.as_ref()).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => crate::http::error::response_of(e),
    }
}

/// `POST /o/token-exchange` (RFC 8693, auth.md §7): errors are `{"error": "<message>"}`.
#[handler]
pub async fn token_exchange(body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let pairs = match read_form(body).await {
        Ok(p) => p,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": e.description.unwrap_or_default()}),
            );
        }
    };
    let mut params = BTreeMap::new();
    for (k, v) in pairs {
        params.entry(k).or_insert(v);
    }
    let result = exchange_token(state.store.as_ref(), &state.config, &params).await;
    crate::services::audit::record_token_issue(
        state,
        "urn:ietf:params:oauth:grant-type:token-exchange",
        match &result {
            Ok(token) => Ok(token.access_token.as_str()),
            Err(_) => Err("token exchange refused".to_string()),
        },
    )
    .await;
    match result {
        Ok(token) => match serde_json::to_value(&token) {
            Ok(body) => no_store_json(StatusCode::OK, &body),
            Err(_) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": "Internal server error."}),
            ),
        },
        Err(e) => {
            let (status, message) = match e {
                TokenExchangeError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
                TokenExchangeError::NotFound(m) => (StatusCode::NOT_FOUND, m),
                TokenExchangeError::Upstream(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
                TokenExchangeError::Core(e) => {
                    let status = crate::http::error::status_of(&e);
                    let detail = crate::http::error::body_of(&e)
                        .get("detail")
                        .and_then(|d| d.as_str())
                        .unwrap_or("Internal server error.")
                        .to_string();
                    (status, detail)
                }
            };
            json_response(status, &json!({"error": message}))
        }
    }
}

/// `GET /o/token-exchange`: 405 with an empty body.
#[handler]
pub async fn method_not_allowed() -> Response {
    Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header(header::ALLOW, "POST")
        .finish()
}
