//! The Admin REST API (`/api/v1`). Every operation authenticates with [`BearerAuth`]
//! (`Authorization: Bearer`), which also declares the OAuth 2.0 security scheme in the OpenAPI
//! document. Response keys are camelCase (rest-api.md §0.3).
//!
//! [`BearerAuth`]: crate::http::auth::BearerAuth

pub mod patients;
pub mod shapes;
pub mod users;

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
    /// Patients.
    Patients,
}

/// Every documented `/api/v1` API, composed.
pub fn apis(state: Arc<AppState>) -> impl OpenApi {
    (
        users::UsersApi {
            state: state.clone(),
        },
        patients::PatientsApi { state },
    )
}
