//! FHIR responses: JSON bodies with the FHIR content type, OperationOutcome errors, and the
//! absolute paging links of search Bundles.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Request, Response};
use serde::Serialize;

use crate::config::Config;
use crate::fhir::model::{LinkOut, OperationOutcomeOut};
use crate::fhir::{FHIR_JSON, FhirError};

/// The content type of a successful answer: `application/fhir+json` when the client asks for
/// it (`Accept` or `_format`), else `application/json` as the original.
pub fn content_type_for(req: &Request) -> &'static str {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = req.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "_format" && v.contains("fhir"))
    });
    if accept.contains("fhir+json") || format {
        FHIR_JSON
    } else {
        "application/json"
    }
}

/// A JSON response (serialised in field order) with `status`.
pub fn json<T: Serialize>(status: StatusCode, content_type: &str, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::builder()
            .status(status)
            .content_type(content_type)
            .body(bytes),
        Err(e) => error(FhirError::Core(crate::error::CoreError::Internal(format!(
            "cannot serialise a FHIR response: {e}"
        )))),
    }
}

fn issue_code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        409 => "conflict",
        400 | 422 => "invalid",
        503 => "transient",
        _ => "exception",
    }
}

/// An OperationOutcome response for any error (`Content-Type: application/fhir+json`).
/// Errors of the core (authentication, storage) keep the status and headers their one
/// mapping gives them (`WWW-Authenticate` on 401); storage details are logged, not returned.
pub fn error(error: FhirError) -> Response {
    match error {
        FhirError::Outcome(o) => json(
            StatusCode::from_u16(o.status.code()).unwrap_or(StatusCode::BAD_REQUEST),
            FHIR_JSON,
            &OperationOutcomeOut::error(o.code, o.diagnostics, o.expression),
        ),
        FhirError::Core(e) => {
            let detail = match crate::http::error::body_of(&e) {
                serde_json::Value::Object(map) if map.len() == 1 && map.contains_key("detail") => {
                    map.get("detail")
                        .and_then(|d| d.as_str())
                        .unwrap_or_default()
                        .to_string()
                }
                other => other.to_string(),
            };
            let core = crate::http::error::response_of(e);
            let status = core.status();
            let mut response = json(
                status,
                FHIR_JSON,
                &OperationOutcomeOut::error(issue_code_for(status), detail, Vec::new()),
            );
            if let Some(value) = core.headers().get(header::WWW_AUTHENTICATE) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value.clone());
            }
            response
        }
    }
}

/// Adds a `Location` header.
pub fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The public origin of a request (`scheme://host`), believing proxy headers only from trusted
/// proxies ([`crate::http::forwarded`]), followed by the server's mount prefix
/// ([`crate::http::prefix`]; empty at the root).
pub fn origin(req: &Request, config: &Config) -> String {
    crate::http::prefix::public_base(req, config)
}

/// Percent-encodes like Python's `quote_plus` (safe: letters, digits, `_.-~`; space → `+`).
pub fn quote_plus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The paging links of a search: `self` (the request URL as received), `next` and
/// `previous` (the request's parameters sorted by name, `_page` replaced — absent for page 1 —
/// and `_cursor` carrying the keyset position of the next page).
pub struct Links {
    base: String,
    self_url: String,
    params: Vec<(String, String)>,
}

impl Links {
    /// Links for a request to `uri` (path and query as the client sent them) reaching the
    /// server at `origin`, with its decoded `params`.
    pub fn new(origin: &str, uri: &poem::http::Uri, params: &[(String, String)]) -> Self {
        let path = uri.path();
        let self_url = match uri.query() {
            Some(q) => format!("{origin}{path}?{q}"),
            None => format!("{origin}{path}"),
        };
        let mut params: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "_page" && k != "_cursor")
            .cloned()
            .collect();
        params.sort();
        Links {
            base: format!("{origin}{path}"),
            self_url,
            params,
        }
    }

    fn page_url(&self, page: u64, cursor: Option<&str>) -> String {
        let mut params = self.params.clone();
        if let Some(cursor) = cursor {
            params.push(("_cursor".into(), cursor.to_string()));
        }
        if page > 1 {
            params.push(("_page".into(), page.to_string()));
        }
        params.sort();
        if params.is_empty() {
            return self.base.clone();
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
            .collect();
        format!("{}?{}", self.base, query.join("&"))
    }

    /// `self`, then `next` and `previous` when they exist.
    pub fn build(&self, page: u64, has_next: bool, next_cursor: Option<&str>) -> Vec<LinkOut> {
        let mut links = vec![LinkOut {
            relation: "self",
            url: self.self_url.clone(),
        }];
        if has_next {
            links.push(LinkOut {
                relation: "next",
                url: self.page_url(page + 1, next_cursor),
            });
        }
        if page > 1 {
            links.push(LinkOut {
                relation: "previous",
                url: self.page_url(page - 1, None),
            });
        }
        links
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_original() {
        let req = Request::builder()
            .uri_str("/FHIR/R5/Observation?patient._has%3AGroup%3Amember%3A_id=30001&code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Ablood-pressure%3A4.0&_count=1&_page=2&_cursor=5_7")
            .header("host", "example.org")
            .finish();
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let origin = origin(&req, &Config::default());
        let links = Links::new(&origin, req.uri(), &params).build(2, true, Some("9_1"));
        assert_eq!(links[0].url, format!("http://example.org{}", req.uri()));
        assert_eq!(
            links[1].url,
            "http://example.org/FHIR/R5/Observation?_count=1&_cursor=9_1&_page=3&code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Ablood-pressure%3A4.0&patient._has%3AGroup%3Amember%3A_id=30001"
        );
        assert_eq!(
            links[2].url,
            "http://example.org/FHIR/R5/Observation?_count=1&code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Ablood-pressure%3A4.0&patient._has%3AGroup%3Amember%3A_id=30001"
        );
        assert_eq!(quote_plus("a b|c/~"), "a+b%7Cc%2F~");
    }
}
