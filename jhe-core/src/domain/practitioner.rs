use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Id;

/// The practitioner profile of a user (1:1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Practitioner {
    /// Primary key.
    pub id: Id,
    /// The account.
    pub jhe_user_id: Id,
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: Option<String>,
    /// Given name.
    pub name_given: Option<String>,
    /// Phone number.
    pub telecom_phone: Option<String>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
}

/// What is needed to create a [`Practitioner`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPractitioner {
    /// Fixed id (seed data).
    pub id: Option<Id>,
    /// The account.
    pub jhe_user_id: Id,
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: Option<String>,
    /// Given name.
    pub name_given: Option<String>,
    /// Phone number.
    pub telecom_phone: Option<String>,
}

/// A practitioner's membership of one organisation, with a role string
/// (normally `manager`, `member` or `viewer`; any other string grants nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PractitionerOrganization {
    /// Primary key.
    pub id: Id,
    /// The practitioner.
    pub practitioner_id: Id,
    /// The organisation.
    pub organization_id: Id,
    /// Role string.
    pub role: String,
}
