use thiserror::Error;

/// Why a store operation failed.
///
/// The messages of [`Conflict`](StoreError::Conflict) and [`Constraint`](StoreError::Constraint)
/// are shown to clients (409 bodies): a backend puts there the rule that was broken ("a user
/// with this e-mail already exists"), never the database driver's text, which it logs instead.
/// [`Backend`](StoreError::Backend) may hold driver text: it is logged, never returned.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was violated; the message names the rule.
    #[error("{0}")]
    Conflict(String),
    /// A referenced row does not exist, or the row is still referenced; the message names the rule.
    #[error("{0}")]
    Constraint(String),
    /// The database refused a value the client sent (a character it cannot store, a value too
    /// long for its index): retrying cannot help. The message names the rule (shown to
    /// clients, `400`); the driver's text is logged.
    #[error("{0}")]
    Rejected(String),
    /// The database failed (connection, syntax, …); the message is for logs only.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
