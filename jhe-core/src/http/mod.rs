//! HTTP handlers (poem / poem-openapi). Thin: parse, authenticate, call one service function,
//! map the result.
//!
//! Each area mounts its own routes (`mount(route) -> route`), so this file only composes them.

pub mod api;
pub mod auth;
pub mod error;
pub mod fhir;
pub mod oauth;
pub mod portal;
pub mod rest;
pub mod scopes;
pub mod session;
pub mod system;
pub mod templates;
pub mod web;

use std::sync::Arc;

use poem::{EndpointExt, Route};
use poem_openapi::{OpenApi, OpenApiService};

use crate::server::AppState;

/// Title of the generated OpenAPI document.
pub const API_TITLE: &str = "JupyterHealth Exchange";

/// The version string served by `/health` and `client_settings.js` (`vX.Y.Z`).
pub fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// The documented APIs, as one poem-openapi service (the seam where plug-ins add endpoints).
pub fn openapi_service(state: Arc<AppState>) -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(
        (system::SystemApi { state: state.clone() }, api::apis(state)),
        API_TITLE,
        version(),
    )
    .description(
        "JupyterHealth Exchange: consented sharing of personal health data (Open mHealth in FHIR R5) with research studies.",
    )
}

/// The full router of the server.
pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint + 'static {
    let api = openapi_service(state.clone());
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let route = Route::new()
        .at("/api/schema/openapi.json", spec)
        .nest("/api/docs", docs);
    let route = oauth::mount(route);
    let route = web::mount(route);
    let route = portal::mount(route);
    let route = fhir::mount(route);
    let api = rest::errors::json_errors(api.with(rest::casing::CamelCaseRequests));
    route.nest("/", api).data(state)
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
