use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Id;

/// A patient record; usually linked to a patient user (who logs in through an invitation link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// Primary key.
    pub id: Id,
    /// The account, if any.
    pub jhe_user_id: Option<Id>,
    /// External identifier ("External ID" in the portal).
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: String,
    /// Given name.
    pub name_given: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Phone number.
    pub telecom_phone: Option<String>,
    /// Last change.
    pub last_updated: DateTime<Utc>,
}

/// What is needed to create a [`Patient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPatient {
    /// Fixed id (seed data).
    pub id: Option<Id>,
    /// The account.
    pub jhe_user_id: Option<Id>,
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: String,
    /// Given name.
    pub name_given: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Phone number.
    pub telecom_phone: Option<String>,
}
