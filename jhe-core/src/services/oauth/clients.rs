//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! public clients name themselves with `client_id`; confidential clients prove themselves with
//! HTTP Basic or the `client_secret` form field, checked against the stored hash.

use subtle::ConstantTimeEq;

use super::{OAuthError, OAuthResult};
use crate::domain::OAuthClient;
use crate::store::Store;

/// `client_type` of clients that hold a secret.
pub const CONFIDENTIAL: &str = "confidential";

/// What a request offers to identify its client.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientCredentials {
    /// `(client_id, client_secret)` from `Authorization: Basic`, already decoded.
    pub basic: Option<(String, String)>,
    /// The `client_id` form field.
    pub client_id: Option<String>,
    /// The `client_secret` form field.
    pub client_secret: Option<String>,
}

crate::domain::debug_redacted!(ClientCredentials { client_id } redact { basic, client_secret });

impl ClientCredentials {
    /// Whether the request used HTTP Basic (a 401 must then carry `WWW-Authenticate: Basic`).
    pub fn used_basic(&self) -> bool {
        self.basic.is_some()
    }
}

/// Whether the client holds a secret.
pub fn is_confidential(client: &OAuthClient) -> bool {
    client.client_type == CONFIDENTIAL
}

/// The grant types the token endpoint implements (RFC 6749 §4.1, §4.4 and §6). Everything else —
/// including the resource owner `password` grant, which this server never offers — is
/// `unsupported_grant_type` (RFC 6749 §5.2) before any client is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// `authorization_code` (with PKCE S256, RFC 7636).
    AuthorizationCode,
    /// `refresh_token` (rotation with reuse detection).
    RefreshToken,
    /// `client_credentials` (confidential clients registered for it).
    ClientCredentials,
}

impl GrantType {
    /// The grant type named by a `grant_type` parameter, or `None` when it is not implemented.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }

    /// The `grant_type` parameter value (RFC 6749).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// Whether a client registered with `authorization_grant_type` may use `grant` (as
/// django-oauth-toolkit: the grant must match the application's type; `client_credentials` only
/// for confidential clients).
pub fn allows_grant(client: &OAuthClient, grant: GrantType) -> bool {
    let registered = client.authorization_grant_type.as_str();
    match grant {
        GrantType::AuthorizationCode | GrantType::RefreshToken => {
            matches!(registered, "authorization-code" | "openid-hybrid")
        }
        GrantType::ClientCredentials => {
            registered == "client-credentials" && is_confidential(client)
        }
    }
}

/// Checks a secret against the stored one: a password hash (argon2id or Django pbkdf2) when
/// `hash_client_secret`, else a constant-time comparison with the stored value.
pub async fn secret_matches(client: &OAuthClient, secret: &str) -> bool {
    if client.client_secret.is_empty() || secret.is_empty() {
        return false;
    }
    if client.hash_client_secret {
        crate::services::kdf::verify_password(secret, &client.client_secret)
            .await
            .is_valid()
    } else {
        secret
            .as_bytes()
            .ct_eq(client.client_secret.as_bytes())
            .into()
    }
}

/// Identifies and authenticates the client of a request. Unknown clients, missing credentials
/// and wrong secrets give `invalid_client`.
pub async fn authenticate(
    store: &dyn Store,
    credentials: &ClientCredentials,
) -> OAuthResult<OAuthClient> {
    if credentials.basic.is_some() && credentials.client_secret.is_some() {
        return Err(OAuthError::invalid_request(
            "Use only one client authentication method.",
        ));
    }
    let client_id = match (&credentials.basic, &credentials.client_id) {
        (Some((basic_id, _)), Some(form_id)) if basic_id != form_id => {
            return Err(OAuthError::invalid_client(
                "The client_id does not match the client credentials.",
            ));
        }
        (Some((basic_id, _)), _) => basic_id.as_str(),
        (None, Some(form_id)) => form_id.as_str(),
        (None, None) => {
            return Err(OAuthError::invalid_client(
                "Client authentication required.",
            ));
        }
    };
    if client_id.is_empty() || client_id.len() > 255 {
        return Err(OAuthError::invalid_client(
            "Invalid client_id parameter value.",
        ));
    }
    let Some(client) = store.get_client_by_client_id(client_id).await? else {
        return Err(OAuthError::invalid_client(
            "Invalid client_id parameter value.",
        ));
    };
    if is_confidential(&client) {
        let secret = credentials
            .basic
            .as_ref()
            .map(|(_, s)| s.as_str())
            .or(credentials.client_secret.as_deref());
        match secret {
            Some(secret) if secret_matches(&client, secret).await => {}
            Some(_) => return Err(OAuthError::invalid_client("Invalid client credentials.")),
            None => {
                return Err(OAuthError::invalid_client(
                    "Client authentication required.",
                ));
            }
        }
    }
    Ok(client)
}
