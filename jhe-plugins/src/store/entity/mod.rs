//! sea-orm entities, one module per table of the jhe-rs schema
//! (see the `jhe-migrations` crate for the DDL).

pub mod prelude;

pub mod audit_event;
pub mod bulk_export_job;
pub mod client_data_source;
pub mod codeable_concept;
pub mod data_source;
pub mod data_source_supported_scope;
pub mod external_identity;
pub mod jhe_setting;
pub mod login_attempt;
pub mod oauth_access_token;
pub mod oauth_application;
pub mod oauth_grant;
pub mod oauth_refresh_token;
pub mod oauth_signing_key;
pub mod observation;
pub mod observation_identifier;
pub mod organization;
pub mod patient;
pub mod patient_organization;
pub mod personal_access_token;
pub mod practitioner;
pub mod practitioner_organization;
pub mod session;
pub mod sso_login_request;
pub mod sso_used_id;
pub mod study;
pub mod study_client;
pub mod study_data_source;
pub mod study_icon;
pub mod study_patient;
pub mod study_patient_scope_consent;
pub mod study_scope_request;
pub mod user;

#[cfg(test)]
#[allow(clippy::string_slice)] // test code
mod tests;
