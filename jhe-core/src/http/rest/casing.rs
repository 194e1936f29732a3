//! JSON key casing, as djangorestframework-camel-case does it for the original.
//!
//! Responses are camelCase. Requests may use camelCase or snake_case: a middleware rewrites
//! request keys (JSON bodies and query-parameter names) to camelCase before the handlers parse
//! them. Keys in [`NEVER_RENAMED`] keep their spelling either way, and the Open mHealth payload
//! under `valueAttachmentData` is never touched.

use poem::http::header;

use crate::domain::{control_character_path_except, has_forbidden_control};
use crate::http::auth::bearer_token;
use crate::server::AppState;
use crate::services::oauth::tokens::validate_access_token;
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result};

/// Keys that are never renamed (in either direction), as in the original.
pub const NEVER_RENAMED: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "code_verifier",
];

/// Keys whose value is copied verbatim (never recursed into): the Open mHealth payload and the
/// free-form `value` of settings.
pub const VERBATIM_VALUES: &[&str] = &["valueAttachmentData", "value_attachment_data", "value"];

fn is_protected(key: &str) -> bool {
    NEVER_RENAMED.contains(&key) || NEVER_RENAMED.contains(&to_snake_raw(key).as_str())
}

fn to_snake_raw(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev: Option<char> = None;
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

/// `name_family` → `nameFamily` (keys in [`NEVER_RENAMED`] unchanged).
pub fn to_camel(key: &str) -> String {
    if is_protected(key) || !key.contains('_') {
        return key.to_string();
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for (i, c) in key.chars().enumerate() {
        if c == '_' && i > 0 {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `nameFamily` → `name_family` (keys in [`NEVER_RENAMED`] unchanged).
pub fn to_snake(key: &str) -> String {
    if is_protected(key) {
        return key.to_string();
    }
    to_snake_raw(key)
}

/// Rewrites every object key of `value` with `f`, recursively, except inside verbatim values.
pub fn rename_keys(value: serde_json::Value, f: &dyn Fn(&str) -> String) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if VERBATIM_VALUES.contains(&k.as_str()) {
                        v
                    } else {
                        rename_keys(v, f)
                    };
                    (f(&k), v)
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(|v| rename_keys(v, f)).collect())
        }
        other => other,
    }
}

/// Middleware normalising request keys to camelCase (JSON bodies and query names).
#[derive(Debug, Clone, Copy, Default)]
pub struct CamelCaseRequests;

impl<E: Endpoint> Middleware<E> for CamelCaseRequests {
    type Output = CamelCaseEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        CamelCaseEndpoint { inner: ep }
    }
}

/// The endpoint produced by [`CamelCaseRequests`].
pub struct CamelCaseEndpoint<E> {
    inner: E,
}

fn camel_query(query: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (to_camel(&k), v.into_owned())),
        )
        .finish()
}

/// Largest JSON body of an authenticated `/api/v1` request (`413` beyond).
pub const MAX_API_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Largest JSON body of a request without a valid bearer token (its handler answers `401`).
pub const MAX_ANONYMOUS_BODY_BYTES: usize = 64 * 1024;

/// The `413 {"detail": …}` of a body over `limit` bytes.
fn too_large(limit: usize) -> poem::Error {
    poem::Error::from_response(
        Response::builder()
            .status(poem::http::StatusCode::PAYLOAD_TOO_LARGE)
            .content_type("application/json")
            .body(
                serde_json::json!({
                    "detail": format!("The request body is too large: at most {limit} bytes are accepted.")
                })
                .to_string(),
            ),
    )
}

/// A `400 {"detail": …}` answer.
fn bad_request(detail: String) -> poem::Error {
    poem::Error::from(crate::error::CoreError::BadRequest(detail))
}

/// Refuses control characters in query parameters (FHIR strings and the databases alike cannot
/// hold them: PostgreSQL rejects NUL, SQLite would store it).
fn check_query(query: &str) -> Result<()> {
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if has_forbidden_control(&name) || has_forbidden_control(&value) {
            return Err(bad_request(format!(
                "Query parameter '{}' contains a control character.",
                name.escape_default()
            )));
        }
    }
    Ok(())
}

impl<E: Endpoint> Endpoint for CamelCaseEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        if let Some(query) = req.uri().query() {
            check_query(query)?;
        }
        if let Some(query) = req.uri().query().filter(|q| q.contains('_')) {
            let rewritten = camel_query(query);
            let mut parts = req.uri().clone().into_parts();
            let path = req.uri().path().to_string();
            if let Ok(pq) = format!("{path}?{rewritten}").parse() {
                parts.path_and_query = Some(pq);
                if let Ok(uri) = poem::http::Uri::from_parts(parts) {
                    // Keep the original spelling for absolute links built from the request.
                    let original = req.original_uri().clone();
                    req.extensions_mut().insert(OriginalUri(original));
                    *req.uri_mut() = uri;
                }
            }
        }
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if is_json {
            // Authenticate before parsing and rewriting a body: an anonymous or bad-token request
            // is refused by its handler anyway, so it only gets a small body, passed unparsed.
            let authenticated = match (req.data::<std::sync::Arc<AppState>>(), bearer_token(&req)) {
                (Some(state), Some(token)) => {
                    matches!(
                        validate_access_token(state.store.as_ref(), &token).await,
                        Ok(Some(_))
                    )
                }
                _ => false,
            };
            let limit = if authenticated {
                MAX_API_BODY_BYTES
            } else {
                MAX_ANONYMOUS_BODY_BYTES
            };
            let bytes = req
                .take_body()
                .into_bytes_limit(limit)
                .await
                .map_err(|_| too_large(limit))?;
            if !authenticated {
                req.set_body(Body::from(bytes));
                return Ok(self.inner.call(req).await?.into_response());
            }
            let parsed = serde_json::from_slice::<serde_json::Value>(&bytes);
            if let Some(path) = parsed
                .as_ref()
                .ok()
                .and_then(|v| control_character_path_except(v, VERBATIM_VALUES))
            {
                // Field errors as the handlers (and the original's serializers) give them.
                let field = path.split(['.', '[']).next().unwrap_or_default();
                let message =
                    if path.contains('\0') || String::from_utf8_lossy(&bytes).contains("\\u0000") {
                        "Null characters are not allowed."
                    } else {
                        "Control characters are not allowed."
                    };
                return Err(poem::Error::from(crate::error::CoreError::field(
                    &to_camel(&field.escape_default().to_string()),
                    message,
                )));
            }
            let body = match parsed {
                Ok(value) => match serde_json::to_vec(&rename_keys(value, &to_camel)) {
                    Ok(v) => Body::from(v),
                    Err(_) => Body::from(bytes),
                },
                // Let the handler report the parse error.
                Err(_) => Body::from(bytes),
            };
            req.set_body(body);
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

/// The request URI as the client sent it, before query names were rewritten.
#[derive(Debug, Clone)]
pub struct OriginalUri(pub poem::http::Uri);

/// The URI the client sent (query names in their original spelling).
pub fn original_uri(req: &Request) -> poem::http::Uri {
    req.extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| {
            let original = req.original_uri();
            // Requests built outside a server (tests) have no original URI.
            if original.path() == "/" && original.query().is_none() {
                req.uri().clone()
            } else {
                original.clone()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_convert_with_the_exceptions() {
        assert_eq!(to_camel("name_family"), "nameFamily");
        assert_eq!(to_camel("part_of"), "partOf");
        assert_eq!(to_camel("client_id"), "client_id");
        assert_eq!(to_camel("code_verifier"), "code_verifier");
        assert_eq!(to_camel("nameFamily"), "nameFamily");
        assert_eq!(to_snake("organizationId"), "organization_id");
        assert_eq!(to_snake("clientId"), "clientId");
        assert_eq!(to_snake("codeVerifier"), "codeVerifier");
        assert_eq!(to_snake("value2Go"), "value2_go");
    }

    #[test]
    fn payloads_are_not_renamed() {
        let v = json!({"value_attachment_data": {"effective_time_frame": 1}, "study_scope_consents": [{"scope_consents": []}]});
        assert_eq!(
            rename_keys(v, &to_camel),
            json!({"valueAttachmentData": {"effective_time_frame": 1}, "studyScopeConsents": [{"scopeConsents": []}]})
        );
    }

    proptest::proptest! {
        #[test]
        fn snake_and_camel_round_trip(words in proptest::collection::vec("[a-z]{2}[a-z0-9]{0,5}", 1..5)) {
            let snake = words.join("_");
            let camel = to_camel(&snake);
            proptest::prop_assert!(!camel.contains('_'));
            if !is_protected(&snake) && words.iter().skip(1).all(|w| w.starts_with(|c: char| c.is_ascii_lowercase())) {
                proptest::prop_assert_eq!(to_snake(&camel), snake);
            }
        }

        #[test]
        fn conversion_never_panics(key in "\\PC{0,40}") {
            let _ = to_snake(&to_camel(&key));
            let _ = camel_query(&key);
            let _ = check_query(&key);
        }

        #[test]
        fn rename_keeps_values_and_key_count(keys in proptest::collection::btree_set("[a-z_]{1,12}", 0..8)) {
            let value = serde_json::Value::Object(keys.iter().map(|k| (k.clone(), json!(k))).collect());
            let renamed = rename_keys(value.clone(), &to_camel);
            let values = |v: &serde_json::Value| {
                let mut out: Vec<String> = v.as_object().into_iter().flatten().map(|(_, x)| x.to_string()).collect();
                out.sort();
                out
            };
            // Keys may merge (`a_b` and `aB`), values are never changed.
            let (before, after) = (values(&value), values(&renamed));
            proptest::prop_assert!(after.iter().all(|v| before.contains(v)));
        }
    }

    #[test]
    fn query_names_convert() {
        assert_eq!(
            camel_query("organization_id=1&page_size=2&x=a_b"),
            "organizationId=1&pageSize=2&x=a_b"
        );
    }
}
