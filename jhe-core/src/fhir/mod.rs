//! FHIR R5 support without a FHIR crate: structure validation of incoming resources
//! ([`structure`]), the serde models read and written ([`model`]), search parameters
//! ([`search`]), date handling ([`datetime`]), attachment decoding ([`attachment`]) and the
//! errors of the FHIR use cases ([`error`]).
//!
//! The use cases themselves are in [`crate::services::observations`]; the HTTP handlers in
//! [`crate::http::fhir`].

pub mod attachment;
pub mod consent;
pub mod datetime;
pub mod error;
pub mod model;
pub mod search;
pub mod structure;
#[cfg(test)]
mod tables_gen;

pub use error::{FhirError, FhirResult, FhirStatus, Outcome};

/// `Content-Type` of FHIR JSON.
pub const FHIR_JSON: &str = "application/fhir+json";
