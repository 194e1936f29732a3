//! The OAuth 2.0 / OpenID Connect authorization server under `/o/` (auth.md §5–7).
//!
//! Every endpoint answers with and without the trailing slash; the canonical paths (those in
//! the discovery document) have it.

pub mod authorize;
pub mod common;
pub mod endpoints;

use poem::{Route, get, post};

/// Mounts the OAuth routes.
pub fn mount(route: Route) -> Route {
    let mut route = route;
    for path in ["/o/authorize/", "/o/authorize"] {
        route = route.at(
            path,
            get(authorize::authorize_get).post(authorize::authorize_post),
        );
    }
    for path in ["/o/token/", "/o/token"] {
        route = route.at(path, post(endpoints::token_post));
    }
    for path in ["/o/register/", "/o/register"] {
        route = route.at(path, post(endpoints::register));
    }
    for path in ["/o/revoke_token/", "/o/revoke_token"] {
        route = route.at(path, post(endpoints::revoke_token));
    }
    for path in ["/o/introspect/", "/o/introspect"] {
        route = route.at(path, get(endpoints::introspect).post(endpoints::introspect));
    }
    for path in ["/o/userinfo/", "/o/userinfo"] {
        route = route.at(path, get(endpoints::userinfo).post(endpoints::userinfo));
    }
    for path in [
        "/o/.well-known/openid-configuration",
        "/o/.well-known/openid-configuration/",
        "/.well-known/openid-configuration",
        // RFC 8414 authorization-server metadata: the issuer is `<SITE_URL>/o`, so its
        // well-known URL is `/.well-known/oauth-authorization-server/o` (§3.1); the other two
        // are where clients that ignore the issuer's path look. Same document as OpenID
        // discovery (RFC 8414 §5 allows it).
        "/.well-known/oauth-authorization-server/o",
        "/.well-known/oauth-authorization-server",
        "/o/.well-known/oauth-authorization-server",
    ] {
        route = route.at(path, get(endpoints::discovery));
    }
    route = route.at("/o/.well-known/jwks.json", get(endpoints::jwks));
    for path in ["/o/token-exchange", "/o/token-exchange/"] {
        route = route.at(
            path,
            post(endpoints::token_exchange).get(endpoints::method_not_allowed),
        );
    }
    route
}
