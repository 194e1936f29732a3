//! The Debug screen (`/portal/debug/`): staff test the patient-app flow. A pasted invitation code
//! is redeemed like an app does it (the token endpoint's own function), the patient's token is
//! kept in the staff member's session (never in the page's forms), and a few API requests an app
//! makes are sent with it to the real API routes in-process, so the answer is exactly what the
//! app would get.

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::http::{Method, header};
use poem::web::Data;
use poem::{Body, Endpoint, EndpointExt, Request, Response, Route, get, handler};
use serde_json::{Value, json};

use super::{Ctx, ctx, post_ctx};
use crate::error::CoreError;
use crate::server::AppState;
use crate::services::oauth::invitation;

/// The session key holding the Debug screen's patient token.
const SESSION_KEY: &str = "debug_token";

/// The largest answer shown (longer ones are cut).
const MAX_SHOWN_BYTES: usize = 256 * 1024;

/// The API routes (Admin REST API and FHIR) as an endpoint the Debug screen calls in-process,
/// given to the portal when the server is assembled ([`crate::http::routes_with`]).
#[derive(Clone)]
pub struct InProcessApi(Arc<BoxEndpoint<'static>>);

impl InProcessApi {
    /// Wraps the API endpoint (requests go to it as they arrive from the network, minus the
    /// outer layers: security headers, metrics, path prefix).
    pub fn new<E: Endpoint + 'static>(endpoint: E) -> Self {
        InProcessApi(Arc::new(endpoint.map_to_response().boxed()))
    }
}

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/portal/debug/", get(page))
        .at("/portal/debug/exchange", poem::post(exchange))
        .at("/portal/debug/call", poem::post(call_api))
        .at("/portal/debug/forget", poem::post(forget))
}

/// Whether the caller may use the Debug screen: practitioners (any role) and superusers.
fn is_staff(ctx: &Ctx) -> bool {
    ctx.principal.practitioner.is_some() || ctx.principal.is_superuser()
}

async fn refuse(ctx: &mut Ctx) -> Response {
    ctx.failed(CoreError::Forbidden(
        "The Debug screen is for practitioners and superusers.".into(),
    ))
    .await
}

/// The patient token kept in the session, if any.
fn token_of(ctx: &Ctx) -> Option<Value> {
    ctx.session
        .data
        .get(SESSION_KEY)
        .filter(|t| t.is_object())
        .cloned()
}

/// A request the Debug screen may send: the method and the path with its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugCall {
    /// The HTTP method.
    pub method: Method,
    /// Path and query, e.g. `/api/v1/observations?patientId=40001`.
    pub path: String,
}

/// Checks a request of the Debug screen against what a patient app does: `GET
/// /api/v1/users/profile`; `GET`, `POST`, `PATCH`, `DELETE` `/api/v1/patients/{id}/consents`;
/// `GET` under `/api/v1/observations` or `/fhir/r5/Observation`. Anything else is refused with
/// the reason.
///
/// # Errors
/// The message to show.
pub fn allowed_call(method: &str, path: &str) -> Result<DebugCall, String> {
    let path = path.trim();
    let method = match method.trim().to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => return Err(format!("The method {other} is not offered here.")),
    };
    let refused = || {
        format!(
            "The Debug screen only calls /api/v1/users/profile, /api/v1/patients/{{id}}/consents, \
             and GET /api/v1/observations or /fhir/r5/Observation; not {method} {path}."
        )
    };
    let lower = path.to_ascii_lowercase();
    if !path.starts_with('/')
        || path.chars().any(|c| c.is_control() || c.is_whitespace())
        || path.contains('\\')
        || path.contains('#')
        || path.contains("..")
        || path.contains("//")
        || lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
    {
        return Err(refused());
    }
    let route = path.split_once('?').map_or(path, |(p, _)| p);
    let route = route.strip_suffix('/').unwrap_or(route);
    let consents = route
        .strip_prefix("/api/v1/patients/")
        .and_then(|rest| rest.strip_suffix("/consents"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    let under = |base: &str| route == base || route.starts_with(&format!("{base}/"));
    let ok = match method {
        Method::GET => {
            route == "/api/v1/users/profile"
                || consents
                || under("/api/v1/observations")
                || under("/fhir/r5/Observation")
        }
        _ => consents,
    };
    if ok {
        Ok(DebugCall {
            method,
            path: path.to_string(),
        })
    } else {
        Err(refused())
    }
}

/// The example body of the consents form: a decision on the first pending scope of the
/// patient's first study waiting for consent (found when the code was redeemed), else a
/// template to fill in.
fn example_body(token: Option<&Value>) -> String {
    let example = token.and_then(|t| t.get("example"));
    let field = |name: &str| example.and_then(|e| e.get(name)).cloned();
    let body = json!({"studyScopeConsents": [{
        "studyId": field("studyId").unwrap_or(json!(0)),
        "scopeConsents": [{
            "codingSystem": field("codingSystem").unwrap_or(json!("https://w3id.org/openmhealth")),
            "codingCode": field("codingCode").unwrap_or(json!("omh:blood-pressure:4.0")),
            "consented": true,
        }],
    }]});
    serde_json::to_string_pretty(&body).unwrap_or_default()
}

/// The first pending decision in a `GET …/consents` answer (`studiesPendingConsent`).
fn pending_example(consents: &Value) -> Value {
    let study = consents.get("studiesPendingConsent").and_then(|s| s.get(0));
    let code = study
        .and_then(|s| s.get("pendingScopeConsents"))
        .and_then(|p| p.get(0))
        .and_then(|p| p.get("code"));
    match (study.and_then(|s| s.get("id")), code) {
        (Some(id), Some(code)) => json!({
            "studyId": id,
            "codingSystem": code.get("codingSystem"),
            "codingCode": code.get("codingCode"),
        }),
        _ => Value::Null,
    }
}

/// What the forms show (the last values sent, or the defaults).
fn form_values(
    token: Option<&Value>,
    sent: Option<&std::collections::HashMap<String, String>>,
) -> Value {
    let patient = token
        .and_then(|t| t.get("patient_id"))
        .and_then(Value::as_i64)
        .map_or_else(|| "{patientId}".to_string(), |id| id.to_string());
    let get = |name: &str| sent.and_then(|f| f.get(name)).cloned();
    let which = get("which").unwrap_or_default();
    let keep = |form: &str, name: &str, default: String| {
        if which == form {
            get(name).unwrap_or(default)
        } else {
            default
        }
    };
    json!({
        "consents_method": keep("consents", "method", "GET".into()),
        "consents_path": keep("consents", "path", format!("/api/v1/patients/{patient}/consents")),
        "consents_body": keep("consents", "body", example_body(token)),
        "observations_path": keep("observations", "path", format!("/fhir/r5/Observation?patient={patient}&_count=10")),
    })
}

async fn render(
    ctx: &mut Ctx,
    result: Value,
    sent: Option<&std::collections::HashMap<String, String>>,
) -> Response {
    let token = token_of(ctx);
    let forms = form_values(token.as_ref(), sent);
    ctx.render(
        "portal/debug.html",
        json!({
            "active": "debug",
            "token": token,
            "forms": forms,
            "result": result,
        }),
    )
    .await
}

#[handler]
async fn page(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !is_staff(&ctx) {
        return refuse(&mut ctx).await;
    }
    render(&mut ctx, Value::Null, None).await
}

#[handler]
async fn exchange(
    state: Data<&Arc<AppState>>,
    api: Data<&InProcessApi>,
    req: &Request,
    body: Body,
) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !is_staff(&ctx) {
        return refuse(&mut ctx).await;
    }
    let text = form.get("code").map(String::as_str).unwrap_or_default();
    let redeemed = match invitation::redeem_for_debug(&state, text).await {
        Ok(r) => r,
        Err(e) => {
            return ctx.outcome(Err::<(), _>(e), "/portal/debug/", "").await;
        }
    };
    // Whose token it is (the app would read it from /api/v1/users/profile).
    let holder = crate::services::oauth::tokens::validate_access_token(
        state.store.as_ref(),
        &redeemed.tokens.access_token,
    )
    .await;
    let (email, patient_id) = match holder {
        Ok(Some((_, user))) => {
            let patient = state
                .store
                .get_patient_by_user(user.id)
                .await
                .ok()
                .flatten()
                .map(|p| p.id);
            (user.email, patient)
        }
        _ => (String::new(), None),
    };
    // An example for the consents form, from what the app would read first.
    let example = match patient_id {
        Some(id) => {
            let read = DebugCall {
                method: Method::GET,
                path: format!("/api/v1/patients/{id}/consents"),
            };
            let (status, text) = send(&api, req, &redeemed.tokens.access_token, &read, None).await;
            if status == 200 {
                serde_json::from_str::<Value>(&text)
                    .map(|v| pending_example(&v))
                    .unwrap_or(Value::Null)
            } else {
                Value::Null
            }
        }
        None => Value::Null,
    };
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(redeemed.tokens.expires_in);
    let stored = json!({
        "access_token": redeemed.tokens.access_token,
        "refresh_token": redeemed.tokens.refresh_token,
        "scope": redeemed.tokens.scope,
        "token_type": redeemed.tokens.token_type,
        "expires_in": redeemed.tokens.expires_in,
        "expires_at": expires_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        "client_id": redeemed.client_id,
        "redirect_uri": redeemed.redirect_uri,
        "email": email,
        "patient_id": patient_id,
        "example": example,
    });
    if let Some(map) = ctx.session.data.as_object_mut() {
        map.insert(SESSION_KEY.into(), stored);
    } else {
        ctx.session.data = json!({ SESSION_KEY: stored });
    }
    let who = if email.is_empty() {
        "the patient".to_string()
    } else {
        email
    };
    ctx.flash_redirect(
        "/portal/debug/",
        "success",
        &format!(
            "Tokens issued for {who}. Requests below are sent with this patient's access token."
        ),
    )
    .await
}

#[handler]
async fn forget(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, _) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !is_staff(&ctx) {
        return refuse(&mut ctx).await;
    }
    if let Some(map) = ctx.session.data.as_object_mut() {
        map.remove(SESSION_KEY);
    }
    ctx.flash_redirect(
        "/portal/debug/",
        "success",
        "The patient token is forgotten.",
    )
    .await
}

/// Sends one request to the API in-process with the patient's token; the status and the body.
/// The request carries the staff member's connection details (addresses, scheme), as if their
/// browser had sent it.
async fn send(
    api: &InProcessApi,
    from: &Request,
    token: &str,
    call: &DebugCall,
    body: Option<String>,
) -> (u16, String) {
    let mut builder = poem::http::Request::builder()
        .method(call.method.clone())
        .uri(call.path.as_str())
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, "application/json");
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let head = match builder.body(()) {
        Ok(r) => r.into_parts().0,
        Err(e) => return (400, format!("Not a valid request: {e}")),
    };
    // Built from the parts (not poem's builder) so that `original_uri` is the path, as it is
    // for a request from the network.
    let parts = poem::RequestParts::from((
        head,
        from.local_addr().clone(),
        from.remote_addr().clone(),
        from.scheme().clone(),
    ));
    let body = body.map_or_else(Body::empty, Body::from_string);
    let request = Request::from_parts(parts, body);
    let response = match api.0.call(request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .into_bytes_limit(MAX_SHOWN_BYTES)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_else(|_| b"(the answer is too long to show)".to_vec());
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let shown = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    (status, shown)
}

#[handler]
async fn call_api(
    state: Data<&Arc<AppState>>,
    api: Data<&InProcessApi>,
    req: &Request,
    body: Body,
) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !is_staff(&ctx) {
        return refuse(&mut ctx).await;
    }
    let Some(token) = token_of(&ctx).and_then(|t| {
        t.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_string)
    }) else {
        return ctx
            .flash_redirect(
                "/portal/debug/",
                "error",
                "Redeem an invitation code first: requests are sent with the patient's token.",
            )
            .await;
    };
    let which = form.get("which").map(String::as_str).unwrap_or_default();
    let (method, path) = match which {
        "profile" => ("GET", "/api/v1/users/profile"),
        "consents" => (
            form.get("method").map(String::as_str).unwrap_or("GET"),
            form.get("path").map(String::as_str).unwrap_or_default(),
        ),
        _ => (
            "GET",
            form.get("path").map(String::as_str).unwrap_or_default(),
        ),
    };
    let result = match allowed_call(method, path) {
        Ok(call) => {
            let body = (call.method != Method::GET)
                .then(|| form.get("body").cloned().unwrap_or_default())
                .filter(|b| !b.trim().is_empty());
            let (status, text) = send(&api, req, &token, &call, body).await;
            json!({"method": call.method.as_str(), "path": call.path, "status": status, "body": text})
        }
        Err(message) => json!({"refused": message}),
    };
    render(&mut ctx, result, Some(&form)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consents_example_is_the_first_pending_decision() {
        let answer = json!({"studiesPendingConsent": [{"id": 30002, "pendingScopeConsents": [
            {"code": {"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:heart-rate:2.0"}}]}]});
        let example = pending_example(&answer);
        assert_eq!(example["studyId"], 30002);
        let body: Value =
            serde_json::from_str(&example_body(Some(&json!({"example": example})))).unwrap();
        assert_eq!(body["studyScopeConsents"][0]["studyId"], 30002);
        assert_eq!(
            body["studyScopeConsents"][0]["scopeConsents"][0]["codingCode"],
            "omh:heart-rate:2.0"
        );
        assert_eq!(
            pending_example(&json!({"studiesPendingConsent": []})),
            Value::Null
        );
        let template: Value = serde_json::from_str(&example_body(None)).unwrap();
        assert_eq!(template["studyScopeConsents"][0]["studyId"], 0);
    }

    #[test]
    fn only_the_patient_app_requests_are_allowed() {
        for (method, path) in [
            ("GET", "/api/v1/users/profile"),
            ("get", "/api/v1/patients/40001/consents"),
            ("POST", "/api/v1/patients/40001/consents"),
            ("PATCH", "/api/v1/patients/40001/consents/"),
            ("DELETE", "/api/v1/patients/40001/consents"),
            ("GET", "/api/v1/observations?patientId=40001&pageSize=5"),
            ("GET", "/fhir/r5/Observation?patient=40001"),
            ("GET", "/fhir/r5/Observation/63001"),
        ] {
            assert!(allowed_call(method, path).is_ok(), "{method} {path}");
        }
        for (method, path) in [
            ("GET", "/api/v1/users"),
            ("POST", "/api/v1/users/profile"),
            ("POST", "/fhir/r5/Observation"),
            ("GET", "/api/v1/patients/x/consents"),
            ("GET", "/api/v1/patients//consents"),
            ("GET", "/fhir/r5/Observation/../Patient"),
            ("GET", "/fhir/r5/Observation/%2e%2e/Patient"),
            ("GET", "/fhir/r5/ObservationX"),
            ("GET", "http://evil.example/api/v1/users/profile"),
            ("GET", "/api/v1/observations#x"),
            ("PUT", "/api/v1/patients/1/consents"),
            ("GET", "/admin/"),
        ] {
            assert!(allowed_call(method, path).is_err(), "{method} {path}");
        }
    }
}
