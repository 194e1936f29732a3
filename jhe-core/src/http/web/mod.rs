//! Server-rendered pages: home and accounts (login, sign-up, e-mail verification, passwords).

use poem::Route;

/// Mounts the pages.
pub fn mount(route: Route) -> Route {
    route
}
