//! Server-rendered pages: home and accounts (login, sign-up, e-mail verification, passwords).

mod accounts;
pub mod csrf;
pub mod portal;
mod sso;

use std::collections::HashMap;

use poem::http::{StatusCode, header};
use poem::{Request, Response, Route};
use serde_json::{Value, json};

use crate::domain::User;
use crate::server::AppState;

/// Mounts the pages.
pub fn mount(route: Route) -> Route {
    portal::mount(sso::mount(accounts::mount(route)))
}

/// The generic error page with a status.
pub(crate) fn templates_page(status: StatusCode, context: Value) -> Response {
    crate::http::templates::page(status, "error.html", &context)
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
    safe_next_path(&state.config.site_url, next, default)
}

/// `safe_next` on its own: `next` is resolved against `site_url` the way a browser resolves a
/// `Location` (WHATWG URL parsing, which drops tabs and newlines: `/\t/evil.example` is
/// `//evil.example`), and accepted only when the result has the site's origin. Control
/// characters and backslashes are refused outright. The answer is a path (with query and
/// fragment) on this site.
pub fn safe_next_path(site_url: &str, next: Option<&str>, default: &str) -> String {
    let Some(next) = next.map(str::trim).filter(|n| !n.is_empty()) else {
        return default.to_string();
    };
    if next.chars().any(char::is_control) || next.contains('\\') {
        return default.to_string();
    }
    let Ok(site) = url::Url::parse(site_url) else {
        return default.to_string();
    };
    let Ok(target) = site.join(next) else {
        return default.to_string();
    };
    if target.origin() != site.origin() || !matches!(target.scheme(), "http" | "https") {
        return default.to_string();
    }
    let mut path = target.path().to_string();
    if let Some(query) = target.query() {
        path.push('?');
        path.push_str(query);
    }
    if let Some(fragment) = target.fragment() {
        path.push('#');
        path.push_str(fragment);
    }
    path
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

    const SITE: &str = "https://jhe.example.org";

    #[test]
    fn next_stays_on_the_site() {
        let next = |n: &str| safe_next_path(SITE, Some(n), "/default");
        assert_eq!(next("/o/authorize/?x=1&y=%2F"), "/o/authorize/?x=1&y=%2F");
        assert_eq!(next("/portal/#top"), "/portal/#top");
        assert_eq!(next("https://jhe.example.org/a?b"), "/a?b");
        assert_eq!(next("https://jhe.example.org"), "/");
        assert_eq!(next("relative"), "/relative");
        assert_eq!(safe_next_path(SITE, None, "/default"), "/default");
        for evil in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/%09/evil.example".replace("%09", "\t").as_str(),
            "\\\\evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "https://jhe.example.org.evil.example/",
            "https://jhe.example.org@evil.example/",
            "http://jhe.example.org/",
            "https://jhe.example.org:444/",
            "javascript:alert(1)",
            "data:text/html,x",
            " //evil.example",
            "/a\u{0}b",
            "\u{7f}/x",
        ] {
            assert_eq!(next(evil), "/default", "{evil:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn next_never_leaves_the_site(next in "\\PC{0,40}|[/\\\\\t\r\n:@.a-z%0-9]{0,24}") {
            let path = safe_next_path(SITE, Some(&next), "/default");
            proptest::prop_assert!(path.starts_with('/') && !path.starts_with("//"), "{path}");
            proptest::prop_assert!(!path.chars().any(char::is_control), "{path}");
            let site = url::Url::parse(SITE).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let resolved = site.join(&path).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(resolved.origin(), site.origin());
        }
    }
}
