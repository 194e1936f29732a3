//! `/portal/invitation/`: a patient opens an invitation in a browser and lands on the consent
//! screen, signed in once by the invitation itself (a patient created by staff has no password).
//!
//! Opening the page (`GET`, which link previews and scanners may do) uses nothing; the patient
//! presses *Continue*, a CSRF-protected `POST` that redeems the invitation through
//! [`sign_in_with_invitation`] (single use, expiring, patient accounts only).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Body, Request, Response, Route, get, handler};
use serde::Deserialize;
use serde_json::json;

use super::super::{csrf, form_fields, page, redirect, with_cookie};
use super::{error_text, internal};
use crate::error::CoreError;
use crate::http::session;
use crate::server::AppState;
use crate::services::oauth::invitation::sign_in_with_invitation;

/// Where a patient signed in by an invitation lands.
const AFTER_SIGN_IN: &str = "/portal/consents/";

pub(super) fn mount(route: Route) -> Route {
    route.at(
        "/portal/invitation/",
        get(invitation_page).post(invitation_submit),
    )
}

#[derive(Deserialize, Default)]
struct CodeQuery {
    code: Option<String>,
}

async fn form(
    state: &AppState,
    req: &Request,
    status: StatusCode,
    code: &str,
    error: Option<String>,
) -> Response {
    let (session, cookie) = match csrf::ensure(state, req).await {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    with_cookie(
        page(
            state,
            status,
            "portal/invitation.html",
            json!({
                "csrf_token": csrf::token_of(&session),
                "code": code,
                "errors": error.into_iter().collect::<Vec<_>>(),
            }),
        )
        .await,
        cookie,
    )
}

#[handler]
async fn invitation_page(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<CodeQuery>,
) -> Response {
    form(
        &state,
        req,
        StatusCode::OK,
        q.code.as_deref().unwrap_or_default(),
        None,
    )
    .await
}

#[handler]
async fn invitation_submit(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let fields = match body.into_bytes_limit(16 * 1024).await {
        Ok(bytes) => form_fields(&bytes),
        Err(_) => Default::default(),
    };
    if !csrf::valid_form(&state, req, &fields).await {
        return super::super::templates_page(
            StatusCode::FORBIDDEN,
            json!({"status": 403, "message": "CSRF verification failed. Reload the page and submit the form again."}),
        );
    }
    let code = fields.get("code").cloned().unwrap_or_default();
    match sign_in_with_invitation(state.store.as_ref(), &state.config, &code).await {
        Ok(user) => match session::start_login(&state, req, user.id).await {
            Ok(cookie) => with_cookie(redirect(AFTER_SIGN_IN), Some(cookie)),
            Err(e) => internal(e),
        },
        Err(e @ (CoreError::Store(_) | CoreError::Internal(_))) => internal(e),
        Err(e) => {
            form(
                &state,
                req,
                StatusCode::BAD_REQUEST,
                "",
                Some(error_text(&e)),
            )
            .await
        }
    }
}
