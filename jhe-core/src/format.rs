//! The `DataFormat` trait: validates and indexes observation payloads.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::domain::CodeableConcept;

/// What a format learned from a valid payload (stored in indexed columns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadFacts {
    /// Start (or instant) of the effective time.
    pub effective_start: Option<DateTime<Utc>>,
    /// End of the effective period.
    pub effective_end: Option<DateTime<Utc>>,
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// No schema or handler for this code / content type.
    #[error("{0}")]
    Unsupported(String),
    /// The payload does not follow the format; the message names the place.
    #[error("{0}")]
    Invalid(String),
}

/// A payload format (Open mHealth JSON, opaque attachments, …). Formats are asked in order;
/// the first that [`accepts`](DataFormat::accepts) a payload validates it.
pub trait DataFormat: Send + Sync {
    /// A short name (`omh`, `attachment`).
    fn name(&self) -> &'static str;
    /// Whether this format handles payloads of `content_type` for `concept`.
    fn accepts(&self, content_type: &str, concept: &CodeableConcept) -> bool;
    /// Validates a decoded payload and extracts its indexed facts.
    fn validate(
        &self,
        concept: &CodeableConcept,
        payload: &[u8],
    ) -> Result<PayloadFacts, FormatError>;
    /// Codes this format knows (for capability documents), e.g. `omh:heart-rate:2.0`.
    fn supported_codes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The JSON schemas this format checks payloads against, by code (e.g.
    /// `("omh:heart-rate:2.0", {…})`, and the data-point header as `ieee:header:1.0`), for the
    /// MCP `get_omh_schema` tool and `omh://schema/<name>` resources. Default: none.
    fn schemas(&self) -> Vec<(String, serde_json::Value)> {
        Vec::new()
    }
    /// Whether an upload in this format must come from a data source that lists the
    /// observation's concept among its supported scopes (opaque formats use this so that only
    /// configured devices can store arbitrary payloads).
    fn requires_declared_scope(&self) -> bool {
        false
    }
}
