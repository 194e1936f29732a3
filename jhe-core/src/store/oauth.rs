use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{
    AccessToken, AuthorizationGrant, GrantRedemption, Id, NewAccessToken, NewAuthorizationGrant,
    NewRefreshToken, NewSigningKey, PersonalAccessToken, RefreshToken, Session, SigningKey,
};

/// Authorization codes, tokens and signing keys of the OAuth 2.0 / OIDC server.
#[async_trait]
pub trait OAuthStore {
    /// Stores an authorization code.
    async fn create_grant(&self, new: NewAuthorizationGrant) -> StoreResult<AuthorizationGrant>;
    /// Presents the code with this hash: the first presentation atomically marks the grant used
    /// at `at` and binds it to `token_family` ([`GrantRedemption::Redeemed`]); any later one
    /// answers [`GrantRedemption::Replayed`] with the family of the first exchange, so a code is
    /// used at most once even when two requests race (RFC 6749 §4.1.2). `None` for an unknown
    /// code.
    ///
    /// # Errors
    ///
    /// `Backend` when the database fails.
    async fn take_grant(
        &self,
        code_hash: &str,
        token_family: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<GrantRedemption>>;
    /// The current grant of a user for a client (newest unused one), without consuming it.
    async fn find_grant(
        &self,
        user_id: Id,
        application_id: Id,
    ) -> StoreResult<Option<AuthorizationGrant>>;
    /// Deletes every grant of a user for a client; returns how many.
    async fn delete_grants(&self, user_id: Id, application_id: Id) -> StoreResult<u64>;

    /// Stores an access token.
    async fn create_access_token(&self, new: NewAccessToken) -> StoreResult<AccessToken>;
    /// An access token by hash (expired ones included; the caller checks `expires`).
    async fn get_access_token(&self, token_hash: &str) -> StoreResult<Option<AccessToken>>;
    /// Deletes an access token.
    async fn delete_access_token(&self, id: Id) -> StoreResult<bool>;

    /// Names an access token of `user_id` as a personal access token.
    async fn create_personal_access_token(
        &self,
        user_id: Id,
        access_token_id: Id,
        name: &str,
    ) -> StoreResult<PersonalAccessToken>;
    /// The personal access tokens of a user whose access token still exists (expired ones
    /// included until the clean-up deletes them), newest first.
    async fn list_personal_access_tokens(
        &self,
        user_id: Id,
    ) -> StoreResult<Vec<PersonalAccessToken>>;
    /// Revokes a personal access token of `user_id`: deletes it and its access token. `false`
    /// when the user has no such token.
    async fn delete_personal_access_token(&self, user_id: Id, id: Id) -> StoreResult<bool>;

    /// Stores a refresh token.
    async fn create_refresh_token(&self, new: NewRefreshToken) -> StoreResult<RefreshToken>;
    /// A refresh token by hash (revoked ones included).
    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Marks a refresh token revoked if it is still active; `true` if this call revoked it
    /// (so two racing rotations cannot both succeed).
    async fn revoke_refresh_token(&self, id: Id, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Revokes every refresh token of a rotation family and deletes their access tokens; returns
    /// how many refresh tokens it revoked.
    async fn revoke_token_family(&self, token_family: &str, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Deletes expired access tokens and grants (used ones included); returns how many rows.
    async fn delete_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Stores a signing key; when it is `active`, the others become inactive (retired now).
    async fn add_signing_key(&self, new: NewSigningKey, active: bool) -> StoreResult<SigningKey>;
    /// All signing keys, the active one first, then newest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// Makes one key active (retiring the current one).
    async fn activate_signing_key(&self, kid: &str) -> StoreResult<bool>;
}

/// Server-side browser sessions.
#[async_trait]
pub trait SessionStore {
    /// Inserts or replaces a session.
    async fn put_session(&self, session: &Session) -> StoreResult<()>;
    /// A session by id (hash), if not expired at `now`.
    async fn get_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>>;
    /// Deletes a session.
    async fn delete_session(&self, id: &str) -> StoreResult<bool>;
    /// Deletes every session of a user (password change, logout everywhere).
    async fn delete_user_sessions(&self, user_id: Id) -> StoreResult<u64>;
    /// Deletes expired sessions.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Records a login attempt under `key` (`account:<email>`, `ip:<addr>`).
    async fn record_login_attempt(
        &self,
        key: &str,
        succeeded: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Failed attempts under `key` since `since` (after the last success).
    async fn count_failed_logins(&self, key: &str, since: DateTime<Utc>) -> StoreResult<u64>;
}
