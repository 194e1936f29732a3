use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Id;

/// The kind of person an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    /// A patient who shares data with studies.
    Patient,
    /// A practitioner (researcher, study staff) working in organisations.
    Practitioner,
}

impl UserType {
    /// The wire and database spelling (`patient` / `practitioner`).
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Patient => "patient",
            UserType::Practitioner => "practitioner",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "patient" => Some(UserType::Patient),
            "practitioner" => Some(UserType::Practitioner),
            _ => None,
        }
    }
}

/// The stored form of an e-mail address: trimmed and lower-cased (the whole address), so that
/// addresses differing only in case are one account. Stores normalise on write and compare
/// normalised forms on lookup.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A login account (`JheUser` in the original). The e-mail address is the user name.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub id: Id,
    /// Unique e-mail address, used to log in.
    pub email: String,
    /// Password hash (argon2id PHC string or Django `pbkdf2_sha256$…`); `!`-prefixed means unusable.
    #[serde(skip_serializing)]
    pub password: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Superusers manage settings, practitioners, clients and data sources.
    pub is_superuser: bool,
    /// May use administrative tools.
    pub is_staff: bool,
    /// Inactive accounts cannot log in.
    pub is_active: bool,
    /// When the account was created.
    pub date_joined: DateTime<Utc>,
    /// Last successful login (also set when a patient invitation is issued).
    pub last_login: Option<DateTime<Utc>>,
    /// Whether the e-mail address was confirmed through the verification link.
    pub email_is_verified: bool,
    /// Free-text external identifier (EHR id, IdP subject); `""` when not set.
    pub identifier: String,
    /// Patient or practitioner, or neither.
    pub user_type: Option<UserType>,
}

debug_redacted!(User { id, email, first_name, last_name, is_superuser, is_staff, is_active, date_joined, last_login, email_is_verified, identifier, user_type } redact { password });

/// What is needed to create a [`User`].
#[derive(Clone, Default, PartialEq)]
pub struct NewUser {
    /// Fixed id (seed data); `None` lets the database choose.
    pub id: Option<Id>,
    /// Unique e-mail address.
    pub email: String,
    /// Password hash (see [`User::password`]).
    pub password: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// External identifier.
    pub identifier: String,
    /// Patient or practitioner.
    pub user_type: Option<UserType>,
    /// Whether the e-mail address is already verified.
    pub email_is_verified: bool,
}

debug_redacted!(NewUser { id, email, first_name, last_name, is_superuser, is_staff, identifier, user_type, email_is_verified } redact { password });
