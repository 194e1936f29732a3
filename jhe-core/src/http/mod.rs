//! HTTP handlers (poem / poem-openapi). Thin: parse, authenticate, call one service function,
//! map the result.

pub mod error;
pub mod system;

use std::sync::Arc;

use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;

use crate::server::AppState;

/// Title of the generated OpenAPI document.
pub const API_TITLE: &str = "JupyterHealth Exchange";

/// The version string served by `/health` and `client_settings.js` (`vX.Y.Z`).
pub fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The documented APIs, as one poem-openapi service (the seam where plug-ins add endpoints).
pub fn openapi_service(state: Arc<AppState>) -> OpenApiService<system::SystemApi, ()> {
    OpenApiService::new(system::SystemApi { state }, API_TITLE, version())
        .description("JupyterHealth Exchange: consented sharing of personal health data (Open mHealth in FHIR R5) with research studies.")
}

/// The full router of the server.
pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint + 'static {
    let api = openapi_service(state.clone());
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    Route::new()
        .at("/api/schema/openapi.json", spec)
        .nest("/api/docs", docs)
        .nest("/", api)
        .data(state)
}

/// Adds the security headers of the original to every response.
pub fn with_security_headers<E: poem::Endpoint + 'static>(
    endpoint: E,
) -> poem::endpoint::BoxEndpoint<'static> {
    endpoint
        .with(
            poem::middleware::SetHeader::new()
                .overriding("X-Frame-Options", "SAMEORIGIN")
                .overriding("X-Content-Type-Options", "nosniff")
                .overriding("Referrer-Policy", "same-origin")
                .overriding("Cross-Origin-Opener-Policy", "same-origin"),
        )
        .map_to_response()
        .boxed()
}
