//! The Admin REST API (`/api/v1`). Every operation authenticates with [`BearerAuth`]
//! (`Authorization: Bearer`), which also declares the OAuth 2.0 security scheme in the OpenAPI
//! document. Response keys are camelCase (rest-api.md §0.3).
//!
//! [`BearerAuth`]: crate::http::auth::BearerAuth

pub mod clients;
pub mod data_sources;
pub mod input;
pub mod jhe_settings;
pub mod observations;
pub mod organizations;
pub mod patients;
pub mod practitioners;
pub mod shapes;
pub mod studies;
pub mod study_icons;
pub mod study_transfer;
pub mod users;
pub mod users_admin;

use std::sync::Arc;

use poem_openapi::{OpenApi, Tags};

use crate::server::AppState;

/// Base path of the API.
pub const API_PREFIX: &str = "/api/v1";

/// Tags of the `/api/v1` operations.
#[derive(Debug, Tags)]
pub enum ApiTags {
    /// Accounts.
    Users,
    /// Organisations, their hierarchy and members.
    Organizations,
    /// Patients.
    Patients,
    /// Practitioners (superusers only).
    Practitioners,
    /// Data sources and the scopes they support.
    DataSources,
    /// OAuth client applications.
    Clients,
    /// System settings (superusers only).
    JheSettings,
    /// Studies and their patients, scopes, clients and data sources.
    Studies,
    /// Observations (portal view).
    Observations,
}

/// Every documented `/api/v1` API, composed.
pub fn apis(state: Arc<AppState>) -> impl OpenApi {
    (
        (
            users::UsersApi {
                state: state.clone(),
            },
            users_admin::UsersAdminApi {
                state: state.clone(),
            },
            organizations::OrganizationsApi {
                state: state.clone(),
            },
        ),
        patients::PatientsApi {
            state: state.clone(),
        },
        (
            studies::StudiesApi {
                state: state.clone(),
            },
            observations::ObservationsApi {
                state: state.clone(),
            },
            study_transfer::StudyTransferApi {
                state: state.clone(),
            },
            study_icons::StudyIconsApi {
                state: state.clone(),
            },
        ),
        (
            practitioners::PractitionersApi {
                state: state.clone(),
            },
            data_sources::DataSourcesApi {
                state: state.clone(),
            },
            clients::ClientsApi {
                state: state.clone(),
            },
            jhe_settings::JheSettingsApi { state },
        ),
    )
}
