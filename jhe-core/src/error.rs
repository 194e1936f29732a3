//! The error type of jhe-core services; mapped to HTTP once, in [`crate::http::error`].

use std::collections::BTreeMap;

use thiserror::Error;

use crate::store::StoreError;

/// Why a use case failed.
#[derive(Debug, Error)]
pub enum CoreError {
    /// No credentials, or invalid ones.
    #[error("Authentication credentials were not provided.")]
    Unauthenticated,
    /// A bearer token was sent but is unknown, revoked, malformed or belongs to an inactive
    /// account (RFC 6750 `invalid_token`).
    #[error("The access token is invalid.")]
    InvalidToken,
    /// A bearer token was sent and was valid, but has expired (RFC 6750 `invalid_token`; the
    /// client should refresh it).
    #[error("The access token has expired.")]
    ExpiredToken,
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The bearer token's scopes do not cover the request (RFC 6750 §3.1 `insufficient_scope`);
    /// carries the scope(s) that would, space-separated (alternatives).
    #[error("This token's scope does not allow this request; it needs one of these scopes: {0}.")]
    InsufficientScope(String),
    /// The thing does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Field errors (field name → messages).
    #[error("invalid input")]
    Validation(BTreeMap<String, Vec<String>>),
    /// The change collides with existing data.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something inside the server failed (key material, mail transport…).
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    /// A single field error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut map = BTreeMap::new();
        map.insert(field.to_string(), vec![message.into()]);
        CoreError::Validation(map)
    }
}

/// Result of a use case.
pub type CoreResult<T> = Result<T, CoreError>;
