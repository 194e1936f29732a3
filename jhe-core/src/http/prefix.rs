//! Serving under a path prefix: `Route::new().nest("/jhe", server.into_endpoint())`.
//!
//! The server works on the paths below its mount point (`/fhir/r5/Observation`, `/portal/`…),
//! whatever the prefix. The prefix ([`BasePath`]) is found per request from what poem's `nest`
//! stripped (the original path minus the path the server sees), and put back where the client
//! needs it:
//!
//! * `Location` headers that are paths (`/portal/`) get the prefix (`/jhe/portal/`);
//! * in HTML pages, `href`, `src`, `action` and `formaction` attributes that are paths get it;
//! * absolute URLs built from the request (FHIR `Bundle.link`, FHIR `Location`, Admin API
//!   paging links) use [`public_base`], which includes it.
//!
//! Absolute URLs that do not come from a request (the OAuth issuer and discovery document,
//! redirect URIs of the seeded clients, links in e-mails) come from `SITE_URL`, which must
//! therefore be the public URL *including* the prefix (e.g. `https://example.org/jhe`); a
//! request whose prefix differs from `SITE_URL`'s path is logged once as a warning.

use poem::http::{HeaderValue, Uri, header};
use poem::{Request, RequestParts, Response};

/// The path prefix the server is mounted under (`""` at the root, else e.g. `/jhe`, without a
/// trailing `/`), as a request extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasePath(pub String);

/// The mount prefix of `req` (`""` when served at the root or outside the server's endpoint).
pub fn base_path(req: &Request) -> &str {
    req.extensions()
        .get::<BasePath>()
        .map(|b| b.0.as_str())
        .unwrap_or("")
}

/// The public origin and mount prefix of a request (`https://example.org/jhe`), to which the
/// server's own paths are appended for absolute URLs.
pub fn public_base(req: &Request, config: &crate::config::Config) -> String {
    format!(
        "{}{}",
        crate::http::forwarded::request_origin(req, config).origin,
        base_path(req)
    )
}

/// The prefix `nest` stripped: the original path minus the path the endpoint sees.
fn stripped_prefix(original: &str, seen: &str) -> String {
    if original == seen {
        return String::new();
    }
    if let Some(prefix) = original.strip_suffix(seen) {
        return prefix.trim_end_matches('/').to_string();
    }
    if seen == "/" {
        // `/jhe` itself, mounted at `/jhe`.
        return original.trim_end_matches('/').to_string();
    }
    String::new()
}

/// Takes the prefix off `req`: the returned request's original URI is the path below the mount
/// point (so every handler routes and checks scopes on the same paths as at the root), and it
/// carries the [`BasePath`]. Returns the prefix (`""` when there is none; the request is then
/// unchanged).
pub(crate) fn strip(req: Request) -> (Request, String) {
    let base = stripped_prefix(req.original_uri().path(), req.uri().path());
    if base.is_empty() {
        return (req, base);
    }
    let local = req.local_addr().clone();
    let remote = req.remote_addr().clone();
    let scheme = req.scheme().clone();
    let (parts, body) = req.into_parts();
    let (mut head, ()) = poem::http::Request::new(()).into_parts();
    head.method = parts.method;
    head.uri = parts.uri;
    head.version = parts.version;
    head.headers = parts.headers;
    head.extensions = parts.extensions;
    let mut req = Request::from_parts(RequestParts::from((head, local, remote, scheme)), body);
    req.extensions_mut().insert(BasePath(base.clone()));
    (req, base)
}

/// Whether an attribute value or header is a path on this site (`/x`, not `//host/x`).
fn is_site_path(value: &str) -> bool {
    (value.starts_with('/') && !value.starts_with("//"))
        || (value.starts_with("&#x2f;") && !value.starts_with("&#x2f;&#x2f;"))
}

/// The attributes whose path values get the prefix.
const LINK_ATTRIBUTES: &[&str] = &["href", "src", "action", "formaction"];

/// Puts `base` in front of every path-valued link attribute of `html` (see the module).
pub fn prefix_links(html: &str, base: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some((before, after)) = rest.split_once("=\"") {
        out.push_str(before);
        out.push_str("=\"");
        let attribute = before
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        if LINK_ATTRIBUTES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
            && is_site_path(after)
        {
            out.push_str(base);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Puts the prefix back into a response: `Location` paths, and link attributes of HTML pages.
pub(crate) async fn restore(response: Response, base: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let prefixed = parts
            .headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_site_path(v))
            .and_then(|v| HeaderValue::from_str(&format!("{base}{v}")).ok());
        if let Some(value) = prefixed {
            parts.headers.insert(name, value);
        }
    }
    let is_html = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return Response::from_parts(parts, body);
    }
    match body.into_string().await {
        Ok(html) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, prefix_links(&html, base).into())
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read an HTML response to add the path prefix");
            Response::from_parts(parts, poem::Body::empty())
        }
    }
}

/// Logs once when the mount prefix differs from `SITE_URL`'s path (OAuth and e-mail links would
/// then point elsewhere).
pub(crate) fn check_against_site_url(base: &str, site_url: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    let site_path = site_url
        .parse::<Uri>()
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    if site_path != base && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            prefix = base,
            site_url,
            "the server is mounted under a path prefix that is not SITE_URL's path: set SITE_URL \
             to the public URL including the prefix, or OAuth redirects and e-mail links will \
             miss it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stripped_prefix_is_found() {
        assert_eq!(stripped_prefix("/jhe/fhir/r5", "/fhir/r5"), "/jhe");
        assert_eq!(stripped_prefix("/jhe/", "/"), "/jhe");
        assert_eq!(stripped_prefix("/jhe", "/"), "/jhe");
        assert_eq!(stripped_prefix("/a/b/portal/", "/portal/"), "/a/b");
        assert_eq!(stripped_prefix("/portal/", "/portal/"), "");
    }

    #[test]
    fn link_attributes_get_the_prefix() {
        let html = r#"<a href="/portal/">x</a><form method="post" action="&#x2f;accounts&#x2f;login&#x2f;"><img src="//cdn.example/x.png"><a href="https://example.org/">y</a><p title="/not/a/link">"#;
        assert_eq!(
            prefix_links(html, "/jhe"),
            r#"<a href="/jhe/portal/">x</a><form method="post" action="/jhe&#x2f;accounts&#x2f;login&#x2f;"><img src="//cdn.example/x.png"><a href="https://example.org/">y</a><p title="/not/a/link">"#
        );
    }

    proptest::proptest! {
        #[test]
        fn an_empty_prefix_changes_nothing(html in ".{0,200}") {
            proptest::prop_assert_eq!(prefix_links(&html, ""), html.clone());
            proptest::prop_assert!(prefix_links(&html, "/p").len() >= html.len());
        }
    }
}
