//! Server-rendered pages: home and accounts (login, sign-up, e-mail verification, passwords).

mod accounts;
pub mod csrf;

use std::collections::HashMap;

use poem::http::{StatusCode, header};
use poem::{Request, Response, Route};
use serde_json::{Value, json};

use crate::domain::User;
use crate::server::AppState;

/// Mounts the pages.
pub fn mount(route: Route) -> Route {
    accounts::mount(route)
}

/// The home page (served at `/` through the system API, which owns the root path).
pub async fn home_html(state: &AppState, req: &Request) -> String {
    let user = crate::http::session::current_user(state, req)
        .await
        .ok()
        .flatten()
        .map(|(u, _)| u);
    let context = json!({"user": user.as_ref().map(user_context)});
    crate::http::templates::render_text("home.html", &context).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot render the home page");
        "JupyterHealth Exchange".to_string()
    })
}

/// The fields of a user the templates may show.
pub(crate) fn user_context(user: &User) -> Value {
    json!({
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email_is_verified": user.email_is_verified,
    })
}

/// Renders a page with the site title setting.
pub(crate) async fn page(
    state: &AppState,
    status: StatusCode,
    template: &str,
    mut context: Value,
) -> Response {
    let title = crate::services::settings::string_setting(
        state.store.as_ref(),
        crate::domain::keys::SITE_UI_TITLE,
    )
    .await
    .ok()
    .flatten();
    if let (Some(map), Some(title)) = (context.as_object_mut(), title) {
        map.entry("site_title").or_insert(title.into());
    }
    crate::http::templates::page(status, template, &context)
}

/// A 302 redirect.
pub(crate) fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .finish()
}

/// Adds `Set-Cookie` when a cookie value is given.
pub(crate) fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(cookie) = cookie
        && let Ok(value) = header::HeaderValue::from_str(&cookie)
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A form body as a map (urlencoded or multipart-free forms only).
pub(crate) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Where to go after a login: the `next` value if it stays on this site, else `default`.
pub(crate) fn safe_next(state: &AppState, next: Option<&str>, default: &str) -> String {
    let Some(next) = next.map(str::trim).filter(|n| !n.is_empty()) else {
        return default.to_string();
    };
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        return next.to_string();
    }
    let site = state.config.site_url.trim_end_matches('/');
    if let Some(rest) = next.strip_prefix(site)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return if rest.is_empty() {
            "/".into()
        } else {
            rest.to_string()
        };
    }
    default.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode() {
        let f = form_fields(b"username=a%40b.org&password=p%26q&next=%2Fo%2Fauthorize%2F%3Fx%3D1");
        assert_eq!(f["username"], "a@b.org");
        assert_eq!(f["password"], "p&q");
        assert_eq!(f["next"], "/o/authorize/?x=1");
    }
}
