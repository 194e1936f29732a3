//! `/sso/{id}/…`: the routes every external identity provider gets (login start, callback /
//! SAML assertion consumer service, metadata), and e-mail-domain routing of the login form.
//!
//! A login started here is stored (hashed handle → provider, request id, PKCE verifier,
//! `next`) so that any replica can take the answer, exactly once, within ten minutes, and
//! only in the browser that started it (a random binding cookie whose hash is stored with
//! it). The answer then goes through the provider's checks and
//! [`login::complete_external`], and the browser gets a fresh session as with a password.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, Route, get, handler};
use serde_json::json;

use super::{form_fields, page, redirect, safe_next, with_cookie};
use crate::http::session;
use crate::identity::{
    IdentityProvider, IdpError, LoginCallback, LoginStart, LoginStep, ProviderSettings,
};
use crate::server::AppState;
use crate::services::login::{self, LoginError};
use crate::store::PendingSsoLogin;

/// Where an external login lands without `next`.
const AFTER_LOGIN: &str = "/portal/";
/// The cookie binding a started login to the browser that started it.
const BINDING_COOKIE: &str = "jhe_sso";
/// How long the provider has to answer.
const PENDING_MINUTES: i64 = 10;

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/sso/:id/login/", get(start))
        .at("/sso/:id/login", get(start))
        .at("/sso/:id/callback/", get(callback).post(callback))
        .at("/sso/:id/callback", get(callback).post(callback))
        .at("/sso/:id/acs/", get(callback).post(callback))
        .at("/sso/:id/acs", get(callback).post(callback))
        .at("/sso/:id/metadata/", get(metadata))
        .at("/sso/:id/metadata", get(metadata))
        // The original JHE's SAML URLs (django-saml2-auth), for the provider `saml`: an IdP
        // registered for the original keeps working (with `SamlIdp::original_urls`).
        .at("/saml/login/", get(original_saml_start))
        .at("/saml/login", get(original_saml_start))
        .at("/sso/acs/", get(original_saml_acs).post(original_saml_acs))
        .at("/sso/acs", get(original_saml_acs).post(original_saml_acs))
}

/// The provider id the original's SAML URLs stand for.
const ORIGINAL_SAML_ID: &str = "saml";

fn provider<'a>(state: &'a AppState, id: &str) -> Option<&'a Arc<dyn IdentityProvider>> {
    state
        .identity_providers
        .iter()
        .find(|p| p.is_external() && p.id() == id)
}

/// The external provider `id` with its current settings, if it is configured and enabled;
/// otherwise the page to answer with (`404` for an unknown or disabled provider).
async fn enabled_provider(
    state: &AppState,
    id: &str,
) -> Result<(Arc<dyn IdentityProvider>, ProviderSettings), Response> {
    let Some(provider) = provider(state, id) else {
        return Err(problem(
            state,
            StatusCode::NOT_FOUND,
            "There is no such login provider.",
        )
        .await);
    };
    match login::provider_settings(state, provider.as_ref()).await {
        Ok(settings) if provider.is_enabled(&settings) => Ok((provider.clone(), settings)),
        Ok(_) => Err(problem(
            state,
            StatusCode::NOT_FOUND,
            &format!(
                "{} sign-in is turned off on this server. Please log in another way, or ask your administrator.",
                provider.display_name()
            ),
        )
        .await),
        Err(e) => {
            tracing::error!(error = ?e, "cannot read the provider's settings");
            Err(problem(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The login could not be started. Please try again.",
            )
            .await)
        }
    }
}

/// A page that says what went wrong, with a way back to the login form.
async fn problem(state: &AppState, status: StatusCode, message: &str) -> Response {
    page(
        state,
        status,
        "accounts/sso_error.html",
        json!({"status": status.as_u16(), "message": message}),
    )
    .await
}

fn address(req: &Request) -> String {
    req.remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The `Set-Cookie` value of the binding cookie: `SameSite=None; Secure` on https sites,
/// because a SAML response arrives as a cross-site POST; `Lax` on plain-http development sites.
fn binding_cookie(state: &AppState, value: &str) -> String {
    let attributes = if state.config.site_url.starts_with("https://") {
        "SameSite=None; Secure"
    } else {
        "SameSite=Lax"
    };
    format!(
        "{BINDING_COOKIE}={value}; Path=/sso/; HttpOnly; Max-Age={}; {attributes}",
        PENDING_MINUTES * 60
    )
}

/// The provider an address is routed to by its domain, if any (external providers only).
async fn provider_for_address(state: &AppState, email: &str) -> Option<Arc<dyn IdentityProvider>> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    for (provider, _) in login::enabled_external_providers(state).await {
        match login::provider_domains(state, provider.as_ref()).await {
            Ok(domains) if domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) => {
                return Some(provider);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "cannot read the single sign-on domains"),
        }
    }
    None
}

/// Where the login form sends an address of a single sign-on domain (the provider's login
/// start, with the address as a hint), or `None` for a password login.
pub(super) async fn route_by_domain(state: &AppState, email: &str, next: &str) -> Option<String> {
    let provider = provider_for_address(state, email).await?;
    let mut url = format!("/sso/{}/login/?", provider.id());
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !next.is_empty() {
        query.append_pair("next", next);
    }
    url.push_str(&query.append_pair("login_hint", email.trim()).finish());
    Some(url)
}

/// Whether any external provider has e-mail domains (the form then explains the routing).
pub(super) async fn routes_by_domain(state: &AppState) -> bool {
    for (provider, _) in login::enabled_external_providers(state).await {
        if login::provider_domains(state, provider.as_ref())
            .await
            .is_ok_and(|d| !d.is_empty())
        {
            return true;
        }
    }
    false
}

fn query_params(req: &Request) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Logs the person in and sends them on.
async fn finish(
    state: &AppState,
    req: &Request,
    provider: &dyn IdentityProvider,
    login: crate::identity::ExternalLogin,
    next: &str,
) -> Response {
    match login::complete_external(state, provider, login, &address(req)).await {
        Ok(user) => match session::start_login(state, req, user.id).await {
            Ok(cookie) => with_cookie(
                redirect(&safe_next(state, Some(next), AFTER_LOGIN)),
                Some(cookie),
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the session");
                problem(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The login could not be completed. Please try again.",
                )
                .await
            }
        },
        Err(LoginError::Rejected(m)) | Err(LoginError::RateLimited(m)) => {
            problem(state, StatusCode::FORBIDDEN, &m).await
        }
        Err(LoginError::Core(e)) => {
            tracing::error!(error = %e, "single sign-on failed");
            problem(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The login could not be completed. Please try again.",
            )
            .await
        }
    }
}

#[handler]
async fn start(state: Data<&Arc<AppState>>, req: &Request, Path(id): Path<String>) -> Response {
    start_login(&state, req, &id).await
}

/// `GET /saml/login/` (the original's SP-initiated login): `/sso/saml/login/`.
#[handler]
async fn original_saml_start(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    start_login(&state, req, ORIGINAL_SAML_ID).await
}

async fn start_login(state: &AppState, req: &Request, id: &str) -> Response {
    let (provider, settings) = match enabled_provider(state, id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let params = query_params(req);
    let next = safe_next(state, params.get("next").map(String::as_str), AFTER_LOGIN);
    let handle = jhe_kdf::random_token(43);
    let step = provider
        .start_login(&LoginStart {
            site_url: &state.config.site_url,
            state: &handle,
            login_hint: params.get("login_hint").map(String::as_str),
            headers: req.headers(),
            settings: &settings,
        })
        .await;
    match step {
        Ok(LoginStep::Redirect {
            url,
            request_id,
            data,
        }) => {
            let binding = session::cookie_value(req, BINDING_COOKIE)
                .filter(|b| b.len() >= 32 && b.chars().all(|c| c.is_ascii_alphanumeric()))
                .unwrap_or_else(|| jhe_kdf::random_token(43));
            let now = Utc::now();
            let pending = PendingSsoLogin {
                id: jhe_kdf::sha256_hex(&handle),
                provider: provider.id().to_string(),
                binding_hash: jhe_kdf::sha256_hex(&binding),
                request_id,
                data: json!({"provider": data, "next": next}),
                created: now,
                expires: now + Duration::minutes(PENDING_MINUTES),
            };
            if let Err(e) = state.store.put_sso_login(&pending).await {
                tracing::error!(error = %e, "cannot store the started login");
                return problem(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The login could not be started. Please try again.",
                )
                .await;
            }
            let mut response = redirect(&url);
            if let Ok(value) = header::HeaderValue::from_str(&binding_cookie(state, &binding)) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Ok(LoginStep::Identified(identity)) => {
            let login = crate::identity::ExternalLogin {
                identity,
                once: None,
            };
            finish(state, req, provider.as_ref(), login, &next).await
        }
        Err(e) => refusal(state, req, provider.as_ref(), e).await,
    }
}

/// The page for a provider's refusal or failure (never a 500); refusals are audited.
async fn refusal(
    state: &AppState,
    req: &Request,
    provider: &dyn IdentityProvider,
    error: IdpError,
) -> Response {
    let name = provider.display_name();
    if matches!(
        error,
        IdpError::Rejected(_) | IdpError::InvalidCredentials | IdpError::Inactive
    ) {
        login::record_refused_external(state, provider, &error.to_string(), &address(req));
    }
    match error {
        IdpError::Unavailable(m) => {
            tracing::warn!(provider = provider.id(), error = %m, "identity provider unavailable");
            problem(
                state,
                StatusCode::BAD_GATEWAY,
                &format!("{name} cannot be reached right now ({m}). Please try again later, or contact your administrator."),
            )
            .await
        }
        IdpError::Store(e) => {
            tracing::error!(error = %e, "single sign-on failed");
            problem(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The login could not be completed. Please try again.",
            )
            .await
        }
        IdpError::Unsupported => {
            problem(
                state,
                StatusCode::NOT_FOUND,
                "This login provider does not support this step.",
            )
            .await
        }
        other => {
            tracing::info!(provider = provider.id(), reason = %other, "single sign-on answer refused");
            problem(
                state,
                StatusCode::FORBIDDEN,
                &format!("The answer of {name} was refused: {other}"),
            )
            .await
        }
    }
}

#[handler]
async fn callback(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    complete(&state, req, &id, body).await
}

/// `POST /sso/acs/` (the original's assertion consumer service): the ACS of the provider
/// `saml`.
#[handler]
async fn original_saml_acs(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    complete(&state, req, ORIGINAL_SAML_ID, body).await
}

async fn complete(state: &AppState, req: &Request, id: &str, body: Body) -> Response {
    let (provider, settings) = match enabled_provider(state, id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let mut params = query_params(req);
    if let Ok(bytes) = body.into_bytes_limit(1024 * 1024).await {
        params.extend(form_fields(&bytes));
    }
    let handle = params
        .get("state")
        .or_else(|| params.get("RelayState"))
        .filter(|h| !h.is_empty())
        .cloned();
    let Some(handle) = handle else {
        return problem(
            state,
            StatusCode::BAD_REQUEST,
            "This sign-in answer does not belong to a login started here (unsolicited or IdP-initiated logins are not accepted). Please start from the login page.",
        )
        .await;
    };
    let pending = match state
        .store
        .take_sso_login(&jhe_kdf::sha256_hex(&handle), Utc::now())
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => {
            return problem(
                state,
                StatusCode::BAD_REQUEST,
                "This login has expired or was already completed. Please start again from the login page.",
            )
            .await;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the started login");
            return problem(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The login could not be completed. Please try again.",
            )
            .await;
        }
    };
    let binding = session::cookie_value(req, BINDING_COOKIE)
        .map(|b| jhe_kdf::sha256_hex(&b))
        .unwrap_or_default();
    if pending.provider != provider.id()
        || !bool::from(subtle_eq(
            binding.as_bytes(),
            pending.binding_hash.as_bytes(),
        ))
    {
        return problem(
            state,
            StatusCode::BAD_REQUEST,
            "This login was started in another browser or for another provider. Please start again from the login page.",
        )
        .await;
    }
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return problem(
            state,
            StatusCode::FORBIDDEN,
            &format!(
                "{} refused the login ({error}{description}).",
                provider.display_name()
            ),
        )
        .await;
    }
    let next = pending
        .data
        .get("next")
        .and_then(|n| n.as_str())
        .unwrap_or(AFTER_LOGIN)
        .to_string();
    let empty = serde_json::Value::Null;
    let data = pending.data.get("provider").unwrap_or(&empty);
    let answer = provider
        .complete_login(&LoginCallback {
            site_url: &state.config.site_url,
            params: &params,
            request_id: &pending.request_id,
            data,
            settings: &settings,
        })
        .await;
    match answer {
        Ok(login) => finish(state, req, provider.as_ref(), login, &next).await,
        Err(e) => refusal(state, req, provider.as_ref(), e).await,
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}

#[handler]
async fn metadata(state: Data<&Arc<AppState>>, req: &Request, Path(id): Path<String>) -> Response {
    let Some(provider) = provider(&state, &id) else {
        return problem(
            &state,
            StatusCode::NOT_FOUND,
            "There is no such login provider.",
        )
        .await;
    };
    match provider.metadata(&state.config.site_url) {
        Ok(Some(document)) => Response::builder()
            .status(StatusCode::OK)
            .content_type(document.content_type)
            .body(document.body),
        Ok(None) => {
            problem(
                &state,
                StatusCode::NOT_FOUND,
                "This login provider publishes no metadata.",
            )
            .await
        }
        Err(e) => refusal(&state, req, provider.as_ref(), e).await,
    }
}
