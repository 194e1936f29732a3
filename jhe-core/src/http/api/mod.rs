//! The Admin REST API (`/api/v1`).

use std::sync::Arc;

use poem_openapi::OpenApi;

use crate::server::AppState;

/// Every documented `/api/v1` API, composed.
pub fn apis(state: Arc<AppState>) -> impl OpenApi {
    EmptyApi { _state: state }
}

/// Placeholder until the first `/api/v1` endpoint exists.
pub struct EmptyApi {
    _state: Arc<AppState>,
}

#[OpenApi]
impl EmptyApi {}
