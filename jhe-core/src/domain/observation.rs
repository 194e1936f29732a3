use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Id;

/// An external identifier of an observation, globally unique per (system, value).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObservationIdentifier {
    /// Identifier system (may be absent).
    pub system: Option<String>,
    /// Identifier value.
    pub value: String,
}

/// A stored observation: the payload exactly as received plus the indexed columns search needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Primary key.
    pub id: Id,
    /// The patient the data is about.
    pub subject_patient_id: Id,
    /// The data type.
    pub codeable_concept_id: Id,
    /// The device or app that produced it.
    pub data_source_id: Option<Id>,
    /// The decoded attachment, byte for byte as uploaded (Open mHealth JSON for OMH codes).
    pub value_attachment_data: String,
    /// The attachment content type.
    pub content_type: String,
    /// FHIR status as sent.
    pub status: String,
    /// Start (or instant) of the effective time, when the format could tell.
    pub effective_start: Option<DateTime<Utc>>,
    /// End of the effective period.
    pub effective_end: Option<DateTime<Utc>>,
    /// When it was stored or last changed.
    pub last_updated: DateTime<Utc>,
    /// Open Wearables sync key.
    pub ow_key: Option<String>,
    /// External identifiers.
    pub identifiers: Vec<ObservationIdentifier>,
}

/// What is needed to store an [`Observation`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewObservation {
    /// Fixed id (seed data).
    pub id: Option<Id>,
    /// Patient.
    pub subject_patient_id: Id,
    /// Data type.
    pub codeable_concept_id: Id,
    /// Data source.
    pub data_source_id: Option<Id>,
    /// Payload as received.
    pub value_attachment_data: String,
    /// Content type.
    pub content_type: String,
    /// Status.
    pub status: String,
    /// Effective start.
    pub effective_start: Option<DateTime<Utc>>,
    /// Effective end.
    pub effective_end: Option<DateTime<Utc>>,
    /// Identifiers.
    pub identifiers: Vec<ObservationIdentifier>,
}
