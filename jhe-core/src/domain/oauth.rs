use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Id;

/// Name of the first-party portal application, served to the browser in `client_settings.js`.
pub const ADMIN_UI_CLIENT_NAME: &str = "JHE Admin UI";

/// Name of the API docs' public client (`/api/docs` logs in with it: authorization code + PKCE).
pub const API_DOCS_CLIENT_NAME: &str = "JHE API docs";

/// OAuth `client_id` of the API docs' public client.
pub const API_DOCS_CLIENT_ID: &str = "jhe-api-docs";

/// Path of the API docs' OAuth redirect page (its redirect URI is `SITE_URL` + this path).
pub const API_DOCS_REDIRECT_PATH: &str = "/api/docs/oauth2-redirect.html";

/// An OAuth 2.0 client application ("Client" in the portal).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    /// Numeric id (used by the Admin API, study clients and client settings).
    pub id: Id,
    /// The OAuth `client_id`.
    pub client_id: String,
    /// Space-separated registered redirect URIs (matched exactly).
    pub redirect_uris: String,
    /// Space-separated post-logout redirect URIs.
    pub post_logout_redirect_uris: String,
    /// `public` or `confidential`.
    pub client_type: String,
    /// `authorization-code`, `client-credentials`, …
    pub authorization_grant_type: String,
    /// Hash of the client secret (never the secret itself); empty when there is none.
    #[serde(skip_serializing)]
    pub client_secret: String,
    /// Whether the secret is stored hashed (always true for secrets set by jhe-rs).
    pub hash_client_secret: bool,
    /// Display name.
    pub name: String,
    /// Owner, if any.
    pub user_id: Option<Id>,
    /// Skip the consent screen.
    pub skip_authorization: bool,
    /// ID token signing algorithm (`RS256`).
    pub algorithm: String,
    /// CORS origins.
    pub allowed_origins: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last change.
    pub updated: DateTime<Utc>,
}

debug_redacted!(OAuthClient { id, client_id, redirect_uris, post_logout_redirect_uris, client_type, authorization_grant_type, hash_client_secret, name, user_id, skip_authorization, algorithm, allowed_origins, created, updated } redact { client_secret });

impl OAuthClient {
    /// Whether `uri` is one of the registered redirect URIs (exact match).
    pub fn allows_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.split_whitespace().any(|u| u == uri)
    }
}

/// What is needed to create an [`OAuthClient`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewOAuthClient {
    /// Fixed id (seed data).
    pub id: Option<Id>,
    /// OAuth `client_id`.
    pub client_id: String,
    /// Redirect URIs (space-separated).
    pub redirect_uris: String,
    /// `public` / `confidential`.
    pub client_type: String,
    /// Grant type.
    pub authorization_grant_type: String,
    /// Secret hash or empty.
    pub client_secret: String,
    /// Display name.
    pub name: String,
    /// Owner.
    pub user_id: Option<Id>,
    /// Skip consent.
    pub skip_authorization: bool,
    /// Signing algorithm.
    pub algorithm: String,
}

debug_redacted!(NewOAuthClient { id, client_id, redirect_uris, client_type, authorization_grant_type, name, user_id, skip_authorization, algorithm } redact { client_secret });

/// An authorization code (a "grant"), stored by the SHA-256 of the code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationGrant {
    /// Primary key.
    pub id: Id,
    /// SHA-256 hex of the code (the code itself is never stored, invitation codes included).
    pub code_hash: String,
    /// Client.
    pub application_id: Id,
    /// User.
    pub user_id: Id,
    /// Expiry.
    pub expires: DateTime<Utc>,
    /// Redirect URI bound to the code.
    pub redirect_uri: String,
    /// Granted scope (space-separated).
    pub scope: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// PKCE method (`S256`).
    pub code_challenge_method: String,
    /// OIDC nonce.
    pub nonce: String,
    /// Requested claims (JSON text).
    pub claims: String,
    /// When the user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// When the code was exchanged at the token endpoint; `None` while unused. A used code is
    /// kept until it expires so that a second presentation can be recognised (RFC 6749 §4.1.2).
    pub consumed: Option<DateTime<Utc>>,
    /// The rotation family of the tokens its exchange issued (revoked if the code comes back).
    pub token_family: Option<String>,
}

/// The outcome of presenting an authorization code (see `OAuthStore::take_grant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRedemption {
    /// First presentation: the grant is now marked used and bound to the new token family.
    Redeemed(AuthorizationGrant),
    /// The code was used before (RFC 6749 §4.1.2: deny, and revoke the tokens of its first
    /// exchange, whose family the grant names).
    Replayed(AuthorizationGrant),
}

debug_redacted!(AuthorizationGrant { id, application_id, user_id, expires, redirect_uri, scope, code_challenge, code_challenge_method, nonce, claims, auth_time, created, consumed, token_family } redact { code_hash });

/// What is needed to create an [`AuthorizationGrant`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewAuthorizationGrant {
    /// SHA-256 hex of the code.
    pub code_hash: String,
    /// Client.
    pub application_id: Id,
    /// User.
    pub user_id: Id,
    /// Expiry.
    pub expires: DateTime<Utc>,
    /// Redirect URI.
    pub redirect_uri: String,
    /// Scope.
    pub scope: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// PKCE method.
    pub code_challenge_method: String,
    /// Nonce.
    pub nonce: String,
    /// Claims JSON text.
    pub claims: String,
    /// Authentication time.
    pub auth_time: Option<DateTime<Utc>>,
}

debug_redacted!(NewAuthorizationGrant { application_id, user_id, expires, redirect_uri, scope, code_challenge, code_challenge_method, nonce, claims, auth_time } redact { code_hash });

/// An opaque access token, stored by its SHA-256.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    /// Primary key.
    pub id: Id,
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// User the token acts for (none for pure client-credentials tokens).
    pub user_id: Option<Id>,
    /// Client it was issued to.
    pub application_id: Option<Id>,
    /// Expiry.
    pub expires: DateTime<Utc>,
    /// Scope.
    pub scope: String,
    /// The refresh token it was minted from.
    pub source_refresh_token_id: Option<Id>,
    /// `jti` of the ID token issued with it.
    pub id_token_jti: Option<String>,
    /// Creation time.
    pub created: DateTime<Utc>,
}

debug_redacted!(AccessToken { id, user_id, application_id, expires, scope, source_refresh_token_id, id_token_jti, created } redact { token_hash });

/// A personal access token: an [`AccessToken`] a user created for a notebook or script on the
/// portal's "Get a token" page, with the name they gave it. The secret is shown once at creation
/// and only its hash is stored (in the access token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalAccessToken {
    /// Primary key.
    pub id: Id,
    /// The owner.
    pub user_id: Id,
    /// The access token row.
    pub access_token_id: Id,
    /// The name the user gave it.
    pub name: String,
    /// The token's scope (space-separated SMART scopes).
    pub scope: String,
    /// When the token expires.
    pub expires: DateTime<Utc>,
    /// Creation time.
    pub created: DateTime<Utc>,
}

/// What is needed to create an [`AccessToken`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewAccessToken {
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// User.
    pub user_id: Option<Id>,
    /// Client.
    pub application_id: Option<Id>,
    /// Expiry.
    pub expires: DateTime<Utc>,
    /// Scope.
    pub scope: String,
    /// Source refresh token.
    pub source_refresh_token_id: Option<Id>,
    /// ID token `jti`.
    pub id_token_jti: Option<String>,
}

debug_redacted!(NewAccessToken { user_id, application_id, expires, scope, source_refresh_token_id, id_token_jti } redact { token_hash });

/// An opaque refresh token, stored by its SHA-256; rotated on use.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Primary key.
    pub id: Id,
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// The access token issued with it.
    pub access_token_id: Option<Id>,
    /// Client.
    pub application_id: Id,
    /// User.
    pub user_id: Id,
    /// When it was revoked (rotation or RFC 7009); `None` while active.
    pub revoked: Option<DateTime<Utc>>,
    /// All tokens of one rotation chain share a family (reuse revokes the family).
    pub token_family: String,
    /// The scope granted to the chain (canonical, see `GrantedScopes`); a refresh never widens
    /// it.
    pub scope: String,
    /// Creation time.
    pub created: DateTime<Utc>,
}

debug_redacted!(RefreshToken { id, access_token_id, application_id, user_id, revoked, token_family, scope, created } redact { token_hash });

/// What is needed to create a [`RefreshToken`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// The access token issued with it.
    pub access_token_id: Option<Id>,
    /// Client.
    pub application_id: Id,
    /// User.
    pub user_id: Id,
    /// Rotation family.
    pub token_family: String,
    /// Granted scope (canonical).
    pub scope: String,
}

debug_redacted!(NewRefreshToken { access_token_id, application_id, user_id, token_family, scope } redact { token_hash });

/// An ID-token signing key; retired keys stay published in the JWKS for a while.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Primary key.
    pub id: Id,
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// `RS256`.
    pub algorithm: String,
    /// PKCS#1 PEM private key.
    #[serde(skip_serializing)]
    pub private_key_pem: String,
    /// Public JWK (JSON text).
    pub public_jwk: String,
    /// The key new tokens are signed with.
    pub active: bool,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// When it stopped signing.
    pub retired: Option<DateTime<Utc>>,
}

debug_redacted!(SigningKey { id, kid, algorithm, public_jwk, active, created, retired } redact { private_key_pem });

/// What is needed to store a [`SigningKey`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub algorithm: String,
    /// PKCS#1 PEM private key.
    pub private_key_pem: String,
    /// Public JWK JSON text.
    pub public_jwk: String,
}

debug_redacted!(NewSigningKey { kid, algorithm, public_jwk } redact { private_key_pem });

/// A server-side browser session (stored by the SHA-256 of the cookie value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 hex of the session cookie value.
    pub id: String,
    /// Logged-in user.
    pub user_id: Option<Id>,
    /// Session data (CSRF secret, flash messages, …).
    pub data: serde_json::Value,
    /// Expiry.
    pub expires: DateTime<Utc>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last change.
    pub updated: DateTime<Utc>,
}
