//! The OAuth 2.0 security scheme of the Admin API: every operation takes an [`ApiAuth`]
//! argument, which resolves the bearer token to a [`Principal`].

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use crate::policy::Principal;

/// OAuth 2.0 bearer token (authorization-code flow with PKCE S256 at `/o/authorize/` and
/// `/o/token/`; tokens from invitation links and `/o/token-exchange` work as well).
#[derive(SecurityScheme)]
#[oai(
    rename = "oauth2",
    ty = "oauth2",
    flows(authorization_code(
        authorization_url = "/o/authorize/",
        token_url = "/o/token/",
        scopes = "ApiScopes"
    )),
    checker = "check"
)]
pub struct ApiAuth(pub Principal);

/// Scopes of JHE tokens (the API does not restrict by scope).
#[derive(poem_openapi::OAuthScopes)]
pub enum ApiScopes {
    /// OpenID Connect.
    #[oai(rename = "openid")]
    OpenId,
    /// E-mail address in the ID token and userinfo.
    #[oai(rename = "email")]
    Email,
}

async fn check(req: &Request, _bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<std::sync::Arc<crate::server::AppState>>()
        .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    Ok(crate::http::auth::principal(state, req).await?)
}
