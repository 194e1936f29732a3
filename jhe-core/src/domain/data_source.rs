use serde::{Deserialize, Serialize};

use super::Id;

/// Data source types (key, label).
pub const DATA_SOURCE_TYPES: &[(&str, &str)] = &[
    ("medical_device", "Medical Device"),
    ("personal_device", "Personal Device"),
];

/// Whether `key` is one of [`DATA_SOURCE_TYPES`].
pub fn is_data_source_type(key: &str) -> bool {
    DATA_SOURCE_TYPES.iter().any(|(k, _)| *k == key)
}

/// A device or app producing data (FHIR `Device`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSource {
    /// Primary key.
    pub id: Id,
    /// Name.
    pub name: Option<String>,
    /// One of [`DATA_SOURCE_TYPES`].
    pub source_type: String,
}

/// What is needed to create a [`DataSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDataSource {
    /// Fixed id (seed data).
    pub id: Option<Id>,
    /// Name.
    pub name: Option<String>,
    /// Type key.
    pub source_type: String,
}

/// A scope a data source can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSourceSupportedScope {
    /// Primary key.
    pub id: Id,
    /// Data source.
    pub data_source_id: Id,
    /// Scope.
    pub scope_code_id: Id,
}

/// A data source an OAuth client uploads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientDataSource {
    /// Primary key.
    pub id: Id,
    /// Numeric client id.
    pub client_id: Id,
    /// Data source.
    pub data_source_id: Id,
}
