//! FHIR R5 support without a FHIR crate: structure validation of incoming resources
//! ([`structure`]), the serde models read and written ([`model`]), search parameters
//! ([`search`]), date handling ([`datetime`]), attachment decoding ([`attachment`]) and the
//! errors of the FHIR use cases ([`error`]).
//!
//! This is the one FHIR folder of the model (resources, parsing, search parameters); the HTTP
//! adapter is [`crate::http::fhir`]. The use cases are services like every other:
//! [`crate::services::observations`] (Observation create, Bundles, search, read),
//! [`crate::services::fhir_patients`] (Patient search and read) and
//! [`crate::services::fhir_consents`] (Consent).

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
