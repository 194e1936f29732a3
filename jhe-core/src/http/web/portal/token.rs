//! The caller's own pages: profile, the patient consent screen and the "Get a token" page.

use std::sync::Arc;

use poem::web::Data;
use poem::{Body, Request, Response, Route, get, handler};
use serde_json::json;

use super::{ctx, id_of, post_ctx};
use crate::server::AppState;
use crate::services::consents::{self, ConsentChange, ScopeConsentInput, StudyConsentInput};
use crate::services::personal_tokens;

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/portal/profile/", get(profile))
        .at("/portal/consents/", get(consent_page).post(consent_submit))
        .at("/portal/token/", get(token_page).post(token_create))
        .at("/portal/token/:id/revoke", poem::post(token_revoke))
}

/// The token list as template data.
fn tokens_view(tokens: &[crate::domain::PersonalAccessToken]) -> Vec<serde_json::Value> {
    let now = chrono::Utc::now();
    tokens
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "scope": t.scope,
                "read_only": t.scope == crate::services::personal_tokens::READ_ONLY_SCOPE,
                "created": t.created.format("%Y-%m-%d %H:%M UTC").to_string(),
                "expires": t.expires.format("%Y-%m-%d").to_string(),
                "expired": t.expires <= now,
            })
        })
        .collect()
}

async fn token_view(ctx: &mut super::Ctx, created: serde_json::Value) -> Response {
    let state = ctx.state.clone();
    let p = ctx.principal.clone();
    if p.practitioner.is_none() && !p.is_superuser() {
        return ctx
            .failed(crate::CoreError::Forbidden(
                "Only practitioners can create personal access tokens.".into(),
            ))
            .await;
    }
    let tokens = match personal_tokens::list(&state, &p).await {
        Ok(t) => t,
        Err(e) => return ctx.failed(e).await,
    };
    ctx.render(
        "portal/token.html",
        json!({
            "active": "token",
            "tokens": tokens_view(&tokens),
            "created": created,
            "site_url": state.config.site_url.trim_end_matches('/'),
            "expiry_days": personal_tokens::EXPIRY_DAYS,
        }),
    )
    .await
}

#[handler]
async fn token_page(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    token_view(&mut ctx, serde_json::Value::Null).await
}

#[handler]
async fn token_create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let days = form
        .get("expires")
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(0);
    let read_write = form.get("write").is_some_and(|v| v == "on");
    match personal_tokens::create(
        &state,
        &p,
        form.get("name").map(String::as_str).unwrap_or_default(),
        days,
        read_write,
    )
    .await
    {
        // Rendered directly (not redirected), so the secret never lands in the session.
        Ok(created) => {
            let shown = json!({"name": created.token.name, "secret": created.secret});
            token_view(&mut ctx, shown).await
        }
        Err(e) => ctx.outcome(Err::<(), _>(e), "/portal/token/", "").await,
    }
}

#[handler]
async fn token_revoke(
    state: Data<&Arc<AppState>>,
    req: &Request,
    poem::web::Path(id): poem::web::Path<crate::domain::Id>,
    body: Body,
) -> Response {
    let (mut ctx, _) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let result = personal_tokens::revoke(&state, &p, id).await;
    ctx.outcome(
        result,
        "/portal/token/",
        "Token revoked: it no longer works.",
    )
    .await
}

#[handler]
async fn profile(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let orgs = crate::services::users::my_organizations(&state, &p)
        .await
        .unwrap_or_default();
    let mut memberships = Vec::new();
    for o in &orgs {
        let role = crate::services::organizations::role_of(&state, &p, o.id)
            .await
            .ok()
            .flatten();
        memberships.push(json!({"id": o.id, "name": o.name, "role": role}));
    }
    ctx.render(
        "portal/profile.html",
        json!({
            "active": "profile",
            "me": {
                "id": p.user.id,
                "email": p.user.email,
                "first_name": p.user.first_name,
                "last_name": p.user.last_name,
                "is_superuser": p.user.is_superuser,
                "email_is_verified": p.user.email_is_verified,
                "practitioner_id": p.practitioner.as_ref().map(|x| x.id),
                "patient_id": p.patient.as_ref().map(|x| x.id),
            },
            "memberships": memberships,
        }),
    )
    .await
}

#[handler]
async fn consent_page(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let Some(patient) = p.patient.clone() else {
        return ctx
            .not_found("Only patients have consents: this account has no patient record.")
            .await;
    };
    let overview = match consents::overview(&state, &p, patient.id).await {
        Ok(o) => o,
        Err(e) => return ctx.failed(e).await,
    };
    let studies = super::patients::consents_view(&overview);
    ctx.render(
        "portal/consents.html",
        json!({"active": "consents", "studies": studies}),
    )
    .await
}

#[handler]
async fn consent_submit(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let Some(patient) = p.patient.clone() else {
        return ctx
            .not_found("Only patients have consents: this account has no patient record.")
            .await;
    };
    let consented = form.get("decision").map(String::as_str) == Some("consent");
    let entry = StudyConsentInput {
        study_id: id_of(form.get("study")),
        scope_consents: vec![ScopeConsentInput {
            coding_system: form.get("system").cloned(),
            coding_code: form.get("code").cloned(),
            consented: Some(consented),
        }],
    };
    let result = consents::change(
        &state,
        &p,
        patient.id,
        ConsentChange::Record,
        Some(vec![entry]),
    )
    .await;
    let done = if consented {
        "Consent recorded: the study can now read this data."
    } else {
        "Consent withdrawn: the study can no longer read this data."
    };
    ctx.outcome(result, "/portal/consents/", done).await
}
