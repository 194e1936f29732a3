//! Use cases. REST, FHIR, MCP and the portal call these functions; none of them talks to the
//! store or the policy directly.

pub mod access_history;
pub mod accounts;
pub mod audit;
pub mod bulk_export;
pub mod clients;
pub mod consents;
pub mod data_sources;
pub mod docs_client;
pub mod fhir_consents;
pub mod fhir_patients;
pub mod fields;
pub mod guard;
pub mod jhe_settings;
pub mod kdf;
pub mod keys;
pub mod links;
pub mod login;
pub mod oauth;
pub mod observation_list;
pub mod observation_search;
pub mod observations;
pub mod organizations;
pub mod patients;
pub mod personal_tokens;
#[cfg(feature = "demo")]
pub mod seed;
pub mod settings;
pub mod signup;
pub mod studies;
pub mod study_transfer;
pub mod token_cache;
pub mod users;
