//! Mapping of [`CoreError`] to HTTP responses: one place, JSON `{"detail": …}` bodies.

use poem::http::StatusCode;
use poem::{Body, Response};

use crate::error::CoreError;
use crate::store::StoreError;

/// The HTTP status of an error.
pub fn status_of(error: &CoreError) -> StatusCode {
    match error {
        CoreError::Unauthenticated | CoreError::InvalidToken | CoreError::ExpiredToken => {
            StatusCode::UNAUTHORIZED
        }
        CoreError::Forbidden(_) | CoreError::InsufficientScope(_) => StatusCode::FORBIDDEN,
        CoreError::NotFound(_) | CoreError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
        CoreError::BadRequest(_)
        | CoreError::Validation(_)
        | CoreError::Store(StoreError::Rejected(_)) => StatusCode::BAD_REQUEST,
        CoreError::Conflict(_)
        | CoreError::Store(StoreError::Conflict(_))
        | CoreError::Store(StoreError::Constraint(_)) => StatusCode::CONFLICT,
        CoreError::Store(StoreError::Backend(_)) => StatusCode::SERVICE_UNAVAILABLE,
        CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON body of an error: field errors as `{"field": ["msg"]}`, everything else as
/// `{"detail": "msg"}`. Database details are logged, not returned.
pub fn body_of(error: &CoreError) -> serde_json::Value {
    match error {
        CoreError::Validation(fields) => serde_json::to_value(fields).unwrap_or_default(),
        CoreError::Store(StoreError::Backend(msg)) => {
            tracing::error!(error = %msg, "database error");
            serde_json::json!({"detail": "The database is unavailable; please retry."})
        }
        CoreError::Internal(msg) => {
            tracing::error!(error = %msg, "internal error");
            serde_json::json!({"detail": "Internal server error."})
        }
        // The store puts the broken rule in these (never the driver's text); sentence case.
        CoreError::Store(
            StoreError::Conflict(rule) | StoreError::Constraint(rule) | StoreError::Rejected(rule),
        ) => {
            serde_json::json!({"detail": sentence(rule)})
        }
        CoreError::Store(StoreError::NotFound(_)) => serde_json::json!({"detail": "Not found."}),
        other => serde_json::json!({"detail": other.to_string()}),
    }
}

/// `rule` with a capital first letter and a final full stop.
fn sentence(rule: &str) -> String {
    let mut chars = rule.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return "The change conflicts with existing data.".into(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

impl From<CoreError> for poem::Error {
    fn from(error: CoreError) -> Self {
        let status = status_of(&error);
        let mut response = Response::builder()
            .status(status)
            .content_type("application/json")
            .body(Body::from_json(body_of(&error)).unwrap_or_default());
        if let CoreError::InsufficientScope(needed) = &error {
            // RFC 6750 §3.1; the needed scopes are scope-tokens (no quotes or backslashes).
            if let Ok(value) = poem::http::HeaderValue::from_str(&format!(
                "Bearer realm=\"api\",error=\"insufficient_scope\",scope=\"{needed}\""
            )) {
                response.headers_mut().insert("WWW-Authenticate", value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "WWW-Authenticate",
                poem::http::HeaderValue::from_static(match error {
                    CoreError::InvalidToken => {
                        "Bearer realm=\"api\",error=\"invalid_token\",error_description=\"The access token is invalid.\""
                    }
                    CoreError::ExpiredToken => {
                        "Bearer realm=\"api\",error=\"invalid_token\",error_description=\"The access token has expired.\""
                    }
                    _ => "Bearer realm=\"api\"",
                }),
            );
        }
        poem::Error::from_response(response)
    }
}

/// The HTTP response of an error (JSON body, status from [`status_of`]).
pub fn response_of(error: CoreError) -> Response {
    poem::Error::from(error).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_statuses_and_json() {
        assert_eq!(
            status_of(&CoreError::NotFound("x".into())),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_of(&CoreError::Store(StoreError::Conflict("dup".into()))),
            StatusCode::CONFLICT
        );
        assert_eq!(
            body_of(&CoreError::Forbidden("no".into())),
            serde_json::json!({"detail": "no"})
        );
        assert_eq!(
            body_of(&CoreError::field("name", "This field is required.")),
            serde_json::json!({"name": ["This field is required."]})
        );
        let leaked = body_of(&CoreError::Store(StoreError::Backend(
            "password=secret".into(),
        )));
        assert!(!leaked.to_string().contains("secret"));
    }

    #[test]
    fn conflicts_name_the_rule() {
        let body = body_of(&CoreError::Store(StoreError::Conflict(
            "a user with this e-mail already exists".into(),
        )));
        assert_eq!(
            body,
            serde_json::json!({"detail": "A user with this e-mail already exists."})
        );
        let body = body_of(&CoreError::Store(StoreError::Constraint(
            "a referenced record does not exist".into(),
        )));
        assert_eq!(
            body,
            serde_json::json!({"detail": "A referenced record does not exist."})
        );
        assert!(!body.to_string().contains("conflict:"));
    }
}
