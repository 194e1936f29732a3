//! Documented error responses of the Admin API and the mapping from [`CoreError`].

use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;

use crate::error::CoreError;

/// Error responses: `{"detail": "…"}`, or `{"<field>": ["…"]}` for validation errors.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// Malformed request or invalid fields.
    #[oai(status = 400)]
    BadRequest(Json<serde_json::Value>),
    /// Missing or invalid bearer token.
    #[oai(status = 401)]
    Unauthorized(
        Json<serde_json::Value>,
        #[oai(header = "WWW-Authenticate")] String,
    ),
    /// Authenticated but not allowed.
    #[oai(status = 403)]
    Forbidden(Json<serde_json::Value>),
    /// No such resource (or not visible to the caller).
    #[oai(status = 404)]
    NotFound(Json<serde_json::Value>),
    /// The change collides with existing data.
    #[oai(status = 409)]
    Conflict(Json<serde_json::Value>),
    /// The database is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<serde_json::Value>),
    /// Unexpected failure (logged).
    #[oai(status = 500)]
    Internal(Json<serde_json::Value>),
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        let status = crate::http::error::status_of(&error);
        let body = Json(crate::http::error::body_of(&error));
        match status.as_u16() {
            400 => ApiError::BadRequest(body),
            401 => ApiError::Unauthorized(body, "Bearer realm=\"api\"".into()),
            403 => ApiError::Forbidden(body),
            404 => ApiError::NotFound(body),
            409 => ApiError::Conflict(body),
            503 => ApiError::Unavailable(body),
            _ => ApiError::Internal(body),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        CoreError::from(error).into()
    }
}

/// Result of an Admin API operation.
pub type ApiResult<T> = Result<T, ApiError>;

/// `204 No Content`.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}
