//! Integration tests: the real server on a random loopback port, real databases (SQLite and
//! PostgreSQL), real HTTP. One binary, grouped by behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::string_slice,
    clippy::indexing_slicing
)]
mod support;

mod access_matrix;
mod accounts;
mod api_clients;
mod api_consents;
mod api_data_sources;
mod api_docs;
mod api_observations;
mod api_organizations;
mod api_patients;
mod api_permissions_patients_studies;
mod api_practitioners;
mod api_settings;
mod api_studies;
mod api_users;
mod audit;
mod bulk_export;
mod cli_data;
mod client_compat;
mod email_case;
mod embedding;
mod env_example;
mod fhir_conformance;
mod fhir_consent;
mod fhir_search;
mod fhir_search_sort;
mod fhir_upload;
mod formats;
mod hardening;
mod invitation;
mod journeys;
mod mcp;
mod migrations;
mod oauth;
mod observation_counts;
mod openapi;
mod operations;
mod portal;
mod portal_browser;
mod portal_debug;
mod portal_history;
mod portal_invitation;
mod query_counts;
mod reverse_proxy;
mod safe_defaults;
mod seed;
mod server;
mod sso_oidc;
#[cfg(feature = "saml")]
mod sso_saml;
mod startup;
mod store_crud;
mod store_rules;
mod study_icons;
mod study_transfer;
mod token_cache;
mod token_exchange;
mod token_lifecycle;
mod unit_of_work;
