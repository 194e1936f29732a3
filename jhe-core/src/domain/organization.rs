use serde::{Deserialize, Serialize};

use super::Id;

/// The id of the ROOT organisation; "top-level" organisations have it as parent.
pub const ROOT_ORGANIZATION_ID: Id = 0;

/// Organisation types (key, label), in the order the original serves them.
pub const ORGANIZATION_TYPES: &[(&str, &str)] = &[
    ("root", "ROOT"),
    ("prov", "Healthcare Provider"),
    ("dept", "Hospital Department"),
    ("team", "Organizational team"),
    ("govt", "Government"),
    ("ins", "Insurance Company"),
    ("pay", "Payer"),
    ("edu", "Educational Institute"),
    ("reli", "Religious Institution"),
    ("crs", "Clinical Research Sponsor"),
    ("cg", "Community Group"),
    ("bus", "Non-Healthcare Business or Corporation"),
    ("other", "Other"),
    ("laboratory", "Laboratory"),
    ("imaging", "Imaging Center"),
    ("pharmacy", "Pharmacy"),
    ("health-information-network", "Health Information Network"),
    ("health-data-aggregator", "Health Data Aggregator"),
];

/// Whether `key` is one of [`ORGANIZATION_TYPES`].
pub fn is_organization_type(key: &str) -> bool {
    ORGANIZATION_TYPES.iter().any(|(k, _)| *k == key)
}

/// An organisation (institute, department, lab…) in a hierarchy under ROOT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Primary key (ROOT is 0).
    pub id: Id,
    /// Display name.
    pub name: String,
    /// One of the keys of [`ORGANIZATION_TYPES`].
    pub org_type: String,
    /// Parent organisation; `None` only for ROOT (and orgs a superuser created without parent).
    pub part_of: Option<Id>,
}

/// What is needed to create an [`Organization`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganization {
    /// Fixed id (seed data); `None` lets the database choose.
    pub id: Option<Id>,
    /// Display name.
    pub name: String,
    /// Type key.
    pub org_type: String,
    /// Parent organisation.
    pub part_of: Option<Id>,
}

/// A practitioner's role in one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages members, patients and studies.
    Manager,
    /// Manages patients and studies.
    Member,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a stored role; unknown strings (which grant nothing) give `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "manager" => Some(Role::Manager),
            "member" => Some(Role::Member),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// The permission strings of each role, served verbatim to the portal (`ROLE_PERMISSIONS`).
pub const ROLE_PERMISSIONS: &[(&str, &[&str])] = &[
    (
        "super_user",
        &[
            "organization.manage_for_practitioners",
            "organization.create_top_level",
            "patient.manage_for_organization",
            "study.manage_for_organization",
            "client.manage",
            "data_source.manage",
        ],
    ),
    (
        "manager",
        &[
            "organization.manage_for_practitioners",
            "patient.manage_for_organization",
            "study.manage_for_organization",
        ],
    ),
    (
        "member",
        &[
            "patient.manage_for_organization",
            "study.manage_for_organization",
        ],
    ),
    ("viewer", &[]),
];

/// Whether the role string `role` (e.g. `manager`, `super_user`) grants `permission`.
pub fn role_has_permission(role: &str, permission: &str) -> bool {
    ROLE_PERMISSIONS
        .iter()
        .any(|(r, perms)| *r == role && perms.contains(&permission))
}
