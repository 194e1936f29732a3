//! The FHIR R5 API, served at `/fhir/r5/` and `/FHIR/R5/`.

use poem::Route;

/// Mounts the FHIR routes.
pub fn mount(route: Route) -> Route {
    route
}
