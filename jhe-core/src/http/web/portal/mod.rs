//! The web portal at `/portal/`: server-rendered minijinja pages over the same service functions
//! the REST API calls, with the caller's session as [`Principal`] (full role, as a browser login
//! of the original) and CSRF-protected forms.
//!
//! Every page is readable without JavaScript; the only scripts are small enhancements (copy
//! buttons, "select all") served by the binary itself (`/portal/static/portal.js`). Actions are
//! plain `POST` forms that answer with a redirect (post/redirect/get) and a one-time message kept
//! in the session ("flash"). Buttons of actions the policy refuses are not shown; a refused
//! request (crafted by hand) still answers with the policy's message.

mod admin;
mod charts;
mod debug;
mod history;
mod invitation;
mod observations;
mod organizations;
mod patients;
mod qr;
mod studies;
mod token;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, Route, get, handler};
use serde_json::{Value, json};

use super::{csrf, form_fields, redirect};
use crate::domain::{GrantedScopes, PageRequest, Session};
use crate::error::CoreError;
use crate::http::session;
use crate::policy::{AuthMethod, Principal};
use crate::server::AppState;

pub use charts::{ChartSeries, chart_series, daily_counts};
pub use debug::{DebugCall, InProcessApi, allowed_call};

/// The page sizes offered by paged lists (the original's choices).
pub const PAGE_SIZES: [u64; 4] = [20, 100, 500, 1000];

/// Mounts the portal's pages (the settings script stays in [`crate::http::portal`]).
pub fn mount(route: Route) -> Route {
    let route = route
        .at("/portal", get(to_slash))
        .at("/portal/", get(home))
        .at(
            "/portal/static/:name",
            get(crate::http::templates::static_asset),
        )
        .at("/portal/*rest", get(add_slash));
    let route = organizations::mount(route);
    let route = studies::mount(route);
    let route = patients::mount(route);
    let route = observations::mount(route);
    let route = admin::mount(route);
    let route = history::mount(route);
    let route = invitation::mount(route);
    let route = debug::mount(route);
    token::mount(route)
}

/// A request of a logged-in user: the state, the caller and the session.
pub(crate) struct Ctx {
    /// The application.
    pub state: Arc<AppState>,
    /// The caller (session login: full role).
    pub principal: Principal,
    /// The session (for the CSRF secret and flash messages).
    pub session: Session,
}

/// The request's caller, or a redirect to the login page that comes back here.
pub(crate) async fn ctx(state: &Arc<AppState>, req: &Request) -> Result<Ctx, Response> {
    let found = match session::current_user(state, req).await {
        Ok(found) => found,
        Err(e) => return Err(internal(e)),
    };
    let Some((user, session)) = found else {
        let here = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/portal/");
        let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return Err(redirect(&format!("/accounts/login/?next={next}")));
    };
    let practitioner = state.store.get_practitioner_by_user(user.id).await;
    let patient = state.store.get_patient_by_user(user.id).await;
    let (practitioner, patient) = match (practitioner, patient) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(internal(CoreError::from(e))),
    };
    Ok(Ctx {
        state: state.clone(),
        principal: Principal {
            user,
            practitioner,
            patient,
            via: AuthMethod::Session,
            scopes: GrantedScopes::full_role(),
        },
        session,
    })
}

/// Like [`ctx`] for a form submission: also reads the form and checks its CSRF token.
pub(crate) async fn post_ctx(
    state: &Arc<AppState>,
    req: &Request,
    body: Body,
) -> Result<(Ctx, HashMap<String, String>), Response> {
    let ctx = ctx(state, req).await?;
    let form = match body.into_bytes_limit(256 * 1024).await {
        Ok(bytes) => form_fields(&bytes),
        Err(_) => HashMap::new(),
    };
    if !csrf::valid(
        Some(&ctx.session),
        form.get("csrfmiddlewaretoken").map(String::as_str),
    ) {
        return Err(super::templates_page(
            StatusCode::FORBIDDEN,
            json!({"status": 403, "message": "CSRF verification failed. Reload the page and submit the form again."}),
        ));
    }
    Ok((ctx, form))
}

/// The largest multipart form the portal reads (an icon of at most 256 KiB and the fields).
const MAX_MULTIPART_BYTES: usize = 1024 * 1024;

/// A form that may carry files: its text fields and its non-empty uploaded files by field name.
pub(crate) struct FilesForm {
    /// Text fields (first value of each name).
    pub fields: HashMap<String, String>,
    /// Non-empty uploaded files (an empty file input sends an empty part: left out).
    pub files: HashMap<String, Vec<u8>>,
}

/// Like [`post_ctx`] for a form that may be `multipart/form-data` (a file input) or urlencoded.
/// A body over 1 MiB is answered with a message on `back` (nothing is done).
pub(crate) async fn post_ctx_files(
    state: &Arc<AppState>,
    req: &Request,
    body: Body,
    back: &str,
) -> Result<(Ctx, FilesForm), Response> {
    let mut ctx = ctx(state, req).await?;
    let bytes = match body.into_bytes_limit(MAX_MULTIPART_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Err(ctx
                .flash_redirect(
                    back,
                    "error",
                    "The upload is too large: an icon may have at most 256 KiB.",
                )
                .await);
        }
    };
    let is_multipart = req
        .content_type()
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let mut form = FilesForm {
        fields: HashMap::new(),
        files: HashMap::new(),
    };
    if is_multipart {
        let mut body = poem::RequestBody::new(Body::from(bytes));
        if let Ok(mut multipart) =
            <poem::web::Multipart as poem::FromRequest>::from_request(req, &mut body).await
        {
            while let Ok(Some(field)) = multipart.next_field().await {
                let name = field.name().unwrap_or_default().to_string();
                if field.file_name().is_some() {
                    if let Ok(data) = field.bytes().await
                        && !data.is_empty()
                    {
                        form.files.insert(name, data);
                    }
                } else if let Ok(text) = field.text().await {
                    form.fields.entry(name).or_insert(text);
                }
            }
        }
    } else {
        form.fields = form_fields(&bytes);
    }
    if !csrf::valid(
        Some(&ctx.session),
        form.fields.get("csrfmiddlewaretoken").map(String::as_str),
    ) {
        return Err(super::templates_page(
            StatusCode::FORBIDDEN,
            json!({"status": 403, "message": "CSRF verification failed. Reload the page and submit the form again."}),
        ));
    }
    Ok((ctx, form))
}

/// A plain 500 page (the error is logged, not shown).
pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "portal page failed");
    super::templates_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"status": 500, "message": "Something went wrong. Please try again."}),
    )
}

/// What a user reads for a refused or failed action.
pub fn error_text(e: &CoreError) -> String {
    match e {
        CoreError::Validation(fields) => fields
            .iter()
            .map(|(field, messages)| match field.as_str() {
                "nonFieldErrors" | "non_field_errors" | "detail" => messages.join(" "),
                _ => format!("{field}: {}", messages.join(" ")),
            })
            .collect::<Vec<_>>()
            .join("; "),
        CoreError::Forbidden(m)
        | CoreError::InsufficientScope(m)
        | CoreError::NotFound(m)
        | CoreError::BadRequest(m)
        | CoreError::Conflict(m) => m.clone(),
        CoreError::Unauthenticated | CoreError::InvalidToken | CoreError::ExpiredToken => {
            "Please log in again.".into()
        }
        CoreError::Store(_) | CoreError::Internal(_) => {
            "Something went wrong. Please try again.".into()
        }
    }
}

impl Ctx {
    /// Renders a portal page: adds the navigation, the caller, the CSRF token and the pending
    /// flash messages (which are then cleared).
    pub async fn render(&mut self, template: &str, mut context: Value) -> Response {
        self.render_status(StatusCode::OK, template, &mut context)
            .await
    }

    async fn render_status(
        &mut self,
        status: StatusCode,
        template: &str,
        context: &mut Value,
    ) -> Response {
        let messages = self.take_flash().await;
        if let Some(map) = context.as_object_mut() {
            map.insert("portal".into(), self.nav());
            map.insert(
                "csrf_token".into(),
                csrf::token_of(&self.session).unwrap_or_default().into(),
            );
            map.insert("user".into(), super::user_context(&self.principal.user));
            if let Some(list) = map.get_mut("messages").and_then(Value::as_array_mut) {
                list.extend(messages);
            } else {
                map.insert("messages".into(), Value::Array(messages));
            }
        }
        super::page(&self.state, status, template, context.clone()).await
    }

    /// A "not found" page (inside the portal layout).
    pub async fn not_found(&mut self, message: &str) -> Response {
        self.render_status(
            StatusCode::NOT_FOUND,
            "portal/message.html",
            &mut json!({"heading": "Not found", "text": message}),
        )
        .await
    }

    /// The page for a failed read: `404` for not found, the message otherwise.
    pub async fn failed(&mut self, e: CoreError) -> Response {
        match &e {
            CoreError::NotFound(m) => {
                let m = m.clone();
                self.not_found(&m).await
            }
            CoreError::Forbidden(_) | CoreError::BadRequest(_) | CoreError::Validation(_) => {
                let text = error_text(&e);
                self.render_status(
                    StatusCode::FORBIDDEN,
                    "portal/message.html",
                    &mut json!({"heading": "Not allowed", "text": text}),
                )
                .await
            }
            _ => internal(e),
        }
    }

    fn nav(&self) -> Value {
        let p = &self.principal;
        json!({
            "is_superuser": p.is_superuser(),
            "is_practitioner": p.practitioner.is_some(),
            "is_patient": p.patient.is_some(),
            "email": p.user.email,
        })
    }

    async fn take_flash(&mut self) -> Vec<Value> {
        let Some(map) = self.session.data.as_object_mut() else {
            return Vec::new();
        };
        let Some(Value::Array(list)) = map.remove("flash") else {
            return Vec::new();
        };
        if let Err(e) = session::save(&self.state, &self.session).await {
            tracing::warn!(error = %e, "cannot clear flash messages");
        }
        list
    }

    /// Keeps a message for the next page and redirects there.
    pub async fn flash_redirect(&mut self, location: &str, level: &str, text: &str) -> Response {
        if let Some(map) = self.session.data.as_object_mut() {
            let entry = map
                .entry("flash")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!({"level": level, "text": text}));
            }
        }
        if let Err(e) = session::save(&self.state, &self.session).await {
            return internal(e);
        }
        redirect(location)
    }

    /// Redirects with a success message, or back with the error's message.
    pub async fn outcome<T>(
        &mut self,
        result: Result<T, CoreError>,
        location: &str,
        success: &str,
    ) -> Response {
        match result {
            Ok(_) => self.flash_redirect(location, "success", success).await,
            Err(CoreError::Store(e)) => internal(e),
            Err(CoreError::Internal(e)) => internal(e),
            Err(e) => {
                let text = error_text(&e);
                self.flash_redirect(location, "error", &text).await
            }
        }
    }
}

/// A page request from `page` and `pageSize` query values (sizes limited to [`PAGE_SIZES`]).
pub fn page_request(page: Option<&str>, size: Option<&str>) -> PageRequest {
    let page = page.and_then(|p| p.parse::<u64>().ok()).unwrap_or(1);
    let size = size
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| PAGE_SIZES.contains(s))
        .unwrap_or(20);
    PageRequest::new(page, size)
}

/// Every item of a paged service list, read 1,000 at a time (for
/// reference lists shown whole: organisations, data sources, clients), so nothing is cut off
/// silently.
///
/// # Errors
/// The first failing page's error.
pub(crate) async fn all_pages<T, F, Fut>(mut read: F) -> Result<Vec<T>, CoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<crate::domain::Page<T>, CoreError>>,
{
    const SIZE: u64 = 1000;
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let found = read(PageRequest::new(page, SIZE)).await?;
        let got = found.items.len() as u64;
        out.extend(found.items);
        if got < SIZE || out.len() as u64 >= found.total {
            return Ok(out);
        }
        page += 1;
    }
}

/// A numeric id from a form or query value.
pub fn id_of(value: Option<&String>) -> Option<crate::domain::Id> {
    value.and_then(|v| v.trim().parse().ok())
}

/// A non-empty, trimmed form value.
pub fn text_of(value: Option<&String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[handler]
fn to_slash() -> Response {
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header("Location", "/portal/")
        .finish()
}

/// `/portal/<screen>` without the trailing slash: `301` to the slash form (as the original);
/// anything else under `/portal/` is a 404 page.
#[handler]
async fn add_slash(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let path = req.uri().path();
    if path == "/portal/" {
        return home_page(&state, req).await;
    }
    if !path.ends_with('/') && !path.contains('.') {
        let location = match req.uri().query() {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        return Response::builder()
            .status(StatusCode::MOVED_PERMANENTLY)
            .header("Location", location)
            .finish();
    }
    match ctx(&state, req).await {
        Ok(mut c) => c.not_found("There is no such page in the portal.").await,
        Err(r) => r,
    }
}

#[handler]
async fn home(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    home_page(&state, req).await
}

/// `/portal/`: the first screen of the caller's role.
async fn home_page(state: &Arc<AppState>, req: &Request) -> Response {
    let ctx = match ctx(state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if ctx.principal.practitioner.is_some() || ctx.principal.is_superuser() {
        redirect("/portal/organizations/")
    } else if ctx.principal.patient.is_some() {
        redirect("/portal/consents/")
    } else {
        redirect("/portal/profile/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_limited_to_the_choices() {
        assert_eq!(page_request(None, None), PageRequest::new(1, 20));
        assert_eq!(
            page_request(Some("3"), Some("100")),
            PageRequest::new(3, 100)
        );
        assert_eq!(page_request(Some("x"), Some("7")), PageRequest::new(1, 20));
        assert_eq!(page_request(Some("0"), None), PageRequest::new(1, 20));
    }

    #[test]
    fn errors_read_as_sentences() {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("name".to_string(), vec!["This field is required.".into()]);
        assert_eq!(
            error_text(&CoreError::Validation(fields)),
            "name: This field is required."
        );
        assert_eq!(error_text(&CoreError::Forbidden("No.".into())), "No.");
        assert_eq!(
            error_text(&CoreError::Internal("secret detail".into())),
            "Something went wrong. Please try again."
        );
    }
}
