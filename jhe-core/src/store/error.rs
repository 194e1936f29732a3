use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row does not exist, or the row is still referenced.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// The database failed (connection, syntax, …).
    #[error("database error: {0}")]
    Backend(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
