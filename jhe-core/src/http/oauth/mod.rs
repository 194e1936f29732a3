//! The OAuth 2.0 / OpenID Connect authorization server under `/o/`.

use poem::Route;

/// Mounts the OAuth routes.
pub fn mount(route: Route) -> Route {
    route
}
