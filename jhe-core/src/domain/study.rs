use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Id;

/// A research study of one organisation, requesting some data types from its patients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Study {
    /// Primary key.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The organisation running the study.
    pub organization_id: Id,
    /// Icon shown in apps.
    pub icon_url: Option<String>,
}

/// What is needed to create a [`Study`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStudy {
    /// Fixed id (seed data).
    pub id: Option<Id>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Organisation.
    pub organization_id: Id,
    /// Icon URL.
    pub icon_url: Option<String>,
}

/// A patient's enrolment in a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyPatient {
    /// Primary key.
    pub id: Id,
    /// Study.
    pub study_id: Id,
    /// Patient.
    pub patient_id: Id,
}

/// A data type (scope) a study asks its patients to share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyScopeRequest {
    /// Primary key.
    pub id: Id,
    /// Study.
    pub study_id: Id,
    /// The requested [`CodeableConcept`](super::CodeableConcept).
    pub scope_code_id: Id,
    /// SMART-style actions, `rs` by default (not interpreted).
    pub scope_actions: Option<String>,
}

/// A patient's decision on one requested scope of one enrolment. No row means "pending".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyPatientScopeConsent {
    /// Primary key.
    pub id: Id,
    /// The enrolment.
    pub study_patient_id: Id,
    /// The scope.
    pub scope_code_id: Id,
    /// SMART-style actions (`rs`).
    pub scope_actions: Option<String>,
    /// Granted (`true`) or refused (`false`).
    pub consented: bool,
    /// Time of the (last) decision.
    pub consented_time: DateTime<Utc>,
}

/// A data source used by a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyDataSource {
    /// Primary key.
    pub id: Id,
    /// Study.
    pub study_id: Id,
    /// Data source.
    pub data_source_id: Id,
}

/// An OAuth client (app) used to collect data for a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyClient {
    /// Primary key.
    pub id: Id,
    /// Study.
    pub study_id: Id,
    /// Numeric id of the [`OAuthClient`](super::OAuthClient).
    pub client_id: Id,
}

/// The image uploaded as a study's icon (one per study), served at
/// `/api/v1/studies/{id}/icon`.
#[derive(Clone, PartialEq, Eq)]
pub struct StudyIcon {
    /// The study.
    pub study_id: Id,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// The image, byte for byte as uploaded.
    pub data: Vec<u8>,
    /// SHA-256 of `data` (hex): the `ETag` and the version in the study's `icon_url`.
    pub content_hash: String,
    /// When it was stored.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for StudyIcon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudyIcon")
            .field("study_id", &self.study_id)
            .field("content_type", &self.content_type)
            .field("bytes", &self.data.len())
            .field("content_hash", &self.content_hash)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}
