//! The OAuth 2.0 / OpenID Connect authorization server: one function per use case.
//!
//! * [`authorize`]: validating `/o/authorize` requests and issuing authorization codes (PKCE S256
//!   required);
//! * [`token_endpoint`]: the `authorization_code`, `refresh_token` (rotating) and
//!   `client_credentials` grants;
//! * [`id_token`]: RS256 ID tokens, the JWKS and the discovery document;
//! * [`introspection`]: RFC 7009 revocation, RFC 7662 introspection and OIDC userinfo;
//! * [`invitation`]: patient invitation links (an authorization code delivered out of band);
//! * [`token_exchange`]: RFC 8693 exchange of a trusted IdP's access token for a JHE token.
//!
//! Codes and tokens are 30 random alphanumerics handed out once and stored as SHA-256 hashes.
//! Nothing here knows about HTTP: errors are [`OAuthError`]s (RFC 6749 §5.2 codes) or
//! [`CoreError`]s, which the handlers in [`crate::http::oauth`] map to responses.

pub mod authorize;
pub mod clients;
pub mod id_token;
pub mod introspection;
pub mod invitation;
pub mod pkce;
pub mod registration;
pub mod token_endpoint;
pub mod token_exchange;
pub mod tokens;

use thiserror::Error;

use crate::domain::GrantedScopes;
use crate::error::CoreError;
use crate::store::StoreError;

/// The scopes listed as `scopes_supported` in the discovery document (auth.md §5.2: exactly the
/// original's). The server also understands the SMART App Launch v2 scopes of
/// [`GrantedScopes`].
pub const SUPPORTED_SCOPES: &[&str] = &["openid", "email"];

/// Length of authorization codes, access and refresh tokens.
pub const TOKEN_LENGTH: usize = 30;

/// Error codes of RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1 and OpenID Connect Core §3.1.2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// A parameter is missing, repeated or malformed.
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong or missing secret).
    InvalidClient,
    /// The code or refresh token is invalid, expired, used, revoked or bound to something else.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The response type is not supported.
    UnsupportedResponseType,
    /// A requested scope is unknown.
    InvalidScope,
    /// The user refused.
    AccessDenied,
    /// `prompt=none` but nobody is logged in.
    LoginRequired,
    /// `prompt=none` but the client needs the user's consent.
    ConsentRequired,
    /// The bearer token is missing, expired, revoked or malformed.
    InvalidToken,
    /// The bearer token lacks a scope the endpoint needs.
    InsufficientScope,
    /// Something failed inside the server.
    ServerError,
    /// The database is unavailable.
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The wire spelling (`invalid_grant`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::LoginRequired => "login_required",
            OAuthErrorCode::ConsentRequired => "consent_required",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: a code and an optional human-readable description.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct OAuthError {
    /// The error code.
    pub code: OAuthErrorCode,
    /// `error_description`.
    pub description: Option<String>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: Some(description.into()),
        }
    }

    /// An error without description.
    pub fn bare(code: OAuthErrorCode) -> Self {
        Self {
            code,
            description: None,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    /// `invalid_client` with a description.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        OAuthError::from(CoreError::Store(error))
    }
}

impl From<CoreError> for OAuthError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Store(StoreError::Backend(msg)) => {
                tracing::error!(error = %msg, "database error in the OAuth server");
                OAuthError::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "The database is unavailable; please retry.",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error in the OAuth server");
                OAuthError::bare(OAuthErrorCode::ServerError)
            }
        }
    }
}

/// Result of an OAuth use case.
pub type OAuthResult<T> = Result<T, OAuthError>;

/// Parses the `scope` parameter of an authorization or token request (RFC 6749 §3.3): `None`
/// when it is absent or blank (the client asks for everything it may have).
///
/// # Errors
///
/// `invalid_scope` (RFC 6749 §4.1.2.1, §5.2) for a malformed scope or one the server does not
/// know (neither an identity scope nor a SMART resource scope).
pub fn requested_scope(requested: Option<&str>) -> OAuthResult<Option<GrantedScopes>> {
    let Some(text) = requested.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    let scopes = GrantedScopes::parse(text)
        .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e.to_string()))?;
    if let Some(unknown) = scopes.opaque().next() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            format!("Unsupported scope: {unknown}"),
        ));
    }
    Ok(Some(scopes))
}

/// The scope to grant out of `available` for a request (RFC 6749 §3.3, §6): all of it when the
/// request names none, else [`GrantedScopes::narrowed_to`] the request.
///
/// # Errors
///
/// With `strict`, `invalid_scope` when the request asks for anything `available` does not cover
/// (RFC 6749 §6: a refresh, or a code exchange narrowing its code's scope, may not ask for more
/// than was granted). Without it (the authorization endpoint) the grant is silently narrowed.
pub fn grant_scope(
    available: &GrantedScopes,
    requested: Option<&GrantedScopes>,
    strict: bool,
) -> OAuthResult<GrantedScopes> {
    let Some(requested) = requested else {
        return Ok(available.clone());
    };
    if strict && !available.covers(requested) {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "The requested scope exceeds the granted scope.",
        ));
    }
    Ok(available.narrowed_to(requested))
}

/// Whether a space-separated scope string contains `scope`.
pub fn has_scope(scopes: &str, scope: &str) -> bool {
    scopes.split_whitespace().any(|s| s == scope)
}

/// The issuer of ID tokens and the discovery document: `<SITE_URL>/o`.
pub fn issuer(config: &crate::config::Config) -> String {
    format!("{}/o", config.site_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_scopes_are_parsed() {
        assert_eq!(requested_scope(None).unwrap(), None);
        assert_eq!(requested_scope(Some("  ")).unwrap(), None);
        assert_eq!(
            requested_scope(Some("email openid email"))
                .unwrap()
                .unwrap()
                .to_string(),
            "openid email"
        );
        let err = requested_scope(Some("openid telepathy")).unwrap_err();
        assert_eq!(err.code, OAuthErrorCode::InvalidScope);
        let err = requested_scope(Some("user/Observation.x")).unwrap_err();
        assert_eq!(err.code, OAuthErrorCode::InvalidScope);
        assert!(has_scope("openid email", "email"));
        assert!(!has_scope("openid", "email"));
    }

    #[test]
    fn grants_narrow_and_strict_ones_refuse_more() {
        let full = GrantedScopes::full_role();
        let openid = requested_scope(Some("openid")).unwrap();
        assert_eq!(
            grant_scope(&full, openid.as_ref(), true)
                .unwrap()
                .to_string(),
            "openid user/*.cruds"
        );
        let wider = requested_scope(Some("openid patient/Observation.d")).unwrap();
        let app = GrantedScopes::patient_app();
        assert_eq!(
            grant_scope(&app, wider.as_ref(), true).unwrap_err().code,
            OAuthErrorCode::InvalidScope
        );
        // Not strict (the authorization endpoint): what is not available is left out.
        assert_eq!(
            grant_scope(&full, wider.as_ref(), false)
                .unwrap()
                .to_string(),
            "openid"
        );
        let narrower = requested_scope(Some("patient/Observation.c")).unwrap();
        assert_eq!(
            grant_scope(&app, narrower.as_ref(), true)
                .unwrap()
                .to_string(),
            "patient/Observation.c"
        );
        assert_eq!(grant_scope(&app, None, true).unwrap(), app);
    }

    #[test]
    fn errors_display_code_and_description() {
        assert_eq!(
            OAuthError::invalid_grant("used").to_string(),
            "invalid_grant: used"
        );
        assert_eq!(
            OAuthError::bare(OAuthErrorCode::InvalidClient).to_string(),
            "invalid_client"
        );
    }
}
