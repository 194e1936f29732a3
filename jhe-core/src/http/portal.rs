//! The portal's settings script and OIDC callback page.

use poem::Route;

/// Mounts the portal routes.
pub fn mount(route: Route) -> Route {
    route
}
