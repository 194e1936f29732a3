//! Shared plumbing of the OAuth endpoints: form bodies, HTTP Basic client credentials and JSON
//! error responses (RFC 6749 §5.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Request, Response};
use serde_json::{Value, json};

use crate::services::oauth::{OAuthError, OAuthErrorCode};

/// Largest form body the OAuth endpoints read.
pub const MAX_FORM_BODY: usize = 64 * 1024;

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte).
pub fn form_decode(raw: &str) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut rest = raw.as_bytes();
    while let [b, tail @ ..] = rest {
        rest = tail;
        match b {
            b'+' => out.push(b' '),
            b'%' => match tail {
                [h, l, after @ ..] => match (hex(*h), hex(*l)) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        rest = after;
                    }
                    _ => out.push(b'%'),
                },
                _ => out.push(b'%'),
            },
            b => out.push(*b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a form-encoded body into name/value pairs (never fails on content: undecodable input
/// becomes replacement characters; `Err` only when the body is too large or unreadable).
pub async fn read_form(body: Body) -> Result<Vec<(String, String)>, OAuthError> {
    let bytes = body
        .into_bytes_limit(MAX_FORM_BODY)
        .await
        .map_err(|_| OAuthError::invalid_request("The request body is too large or unreadable."))?;
    Ok(url::form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The query string of a request as name/value pairs.
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of a parameter.
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `(client_id, client_secret)` of an `Authorization: Basic` header (RFC 6749 §2.3.1: both
/// form-encoded before base64). A malformed header gives empty strings, which fail
/// authentication. `None` when the header is absent or uses another scheme.
pub fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((id, secret)) => (form_decode(id), form_decode(secret)),
        None => (String::new(), String::new()),
    })
}

/// The HTTP status of an OAuth error.
pub fn status_of(code: OAuthErrorCode) -> StatusCode {
    match code {
        OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        OAuthErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A JSON response that must not be cached (token responses, RFC 6749 §5.1).
pub fn no_store_json(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
        .body(body.to_string())
}

/// The RFC 6749 §5.2 JSON error response; `invalid_client` after HTTP Basic carries
/// `WWW-Authenticate: Basic`.
pub fn error_response(error: &OAuthError, used_basic: bool) -> Response {
    let mut body = json!({"error": error.code.as_str()});
    if let (Some(map), Some(description)) = (body.as_object_mut(), &error.description) {
        map.insert("error_description".into(), description.clone().into());
    }
    let mut response = no_store_json(status_of(error.code), &body);
    if error.code == OAuthErrorCode::InvalidClient && used_basic {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauth\""),
        );
    }
    response
}

/// A redirect (302) to `location`; a location that is not a valid header value (a registered
/// redirect URI with raw non-ASCII characters) gives a 400 error page instead.
pub fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, value)
            .header(header::CACHE_CONTROL, "no-store")
            .finish(),
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::invalid_request("The redirect URI cannot be used."),
        ),
    }
}

/// The HTML error page of the authorization endpoint (no redirect).
pub fn error_page(status: StatusCode, error: &OAuthError) -> Response {
    crate::http::templates::page(
        status,
        "oauth/error.html",
        &json!({
            "error": error.code.as_str(),
            "error_description": error.description,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%20c%3A"), "a b c:");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz"), "%zz");
        assert_eq!(form_decode("%e2%82%ac"), "€");
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let req = Request::builder()
            .header(
                "Authorization",
                format!("Basic {}", STANDARD.encode("my%20id:s%3Ac")),
            )
            .finish();
        assert_eq!(
            basic_credentials(&req),
            Some(("my id".to_string(), "s:c".to_string()))
        );
        let bad = Request::builder()
            .header("Authorization", "Basic !!!")
            .finish();
        assert_eq!(
            basic_credentials(&bad),
            Some((String::new(), String::new()))
        );
        let bearer = Request::builder()
            .header("Authorization", "Bearer x")
            .finish();
        assert_eq!(basic_credentials(&bearer), None);
    }
}
