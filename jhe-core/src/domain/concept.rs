use serde::{Deserialize, Serialize};

use super::Id;

/// The coding system of Open mHealth data types.
pub const OMH_SYSTEM: &str = "https://w3id.org/openmhealth";

/// The coding system later upstream uses for IEEE 1752 data types (`ieee:sleep-stage-summary:1.0`).
pub const IEEE_SYSTEM: &str = "https://w3id.org/ieee1752";

/// A data type ("scope"), e.g. `omh:blood-glucose:4.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodeableConcept {
    /// Primary key.
    pub id: Id,
    /// Coding system, e.g. `https://w3id.org/openmhealth`.
    pub coding_system: String,
    /// Code, e.g. `omh:heart-rate:2.0`.
    pub coding_code: String,
    /// Human label.
    pub text: String,
}

/// What is needed to create a [`CodeableConcept`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCodeableConcept {
    /// Fixed id (seed data).
    pub id: Option<Id>,
    /// Coding system.
    pub coding_system: String,
    /// Code.
    pub coding_code: String,
    /// Label.
    pub text: String,
}
