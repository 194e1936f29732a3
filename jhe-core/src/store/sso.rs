//! [`SsoStore`]: state of logins through external identity providers, shared by every replica.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::Id;

/// A login started at an external identity provider and not yet answered.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingSsoLogin {
    /// SHA-256 hex of the opaque handle sent as OIDC `state` / SAML `RelayState`.
    pub id: String,
    /// The provider's id.
    pub provider: String,
    /// SHA-256 hex of the browser-binding cookie set when the login started.
    pub binding_hash: String,
    /// The provider's request id (SAML `AuthnRequest/@ID`; the OIDC nonce).
    pub request_id: String,
    /// Provider data (PKCE verifier, nonce) and the `next` URL, as JSON. Secret: never logged.
    pub data: serde_json::Value,
    /// When the login started.
    pub created: DateTime<Utc>,
    /// After this instant the answer is refused.
    pub expires: DateTime<Utc>,
}

impl std::fmt::Debug for PendingSsoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSsoLogin")
            .field("provider", &self.provider)
            .field("request_id", &self.request_id)
            .field("data", &crate::domain::Redacted)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Persistence of single sign-on state.
#[async_trait]
pub trait SsoStore {
    /// Saves a started login.
    async fn put_sso_login(&self, pending: &PendingSsoLogin) -> StoreResult<()>;
    /// Removes and returns the started login `id` if it has not expired. Exactly one caller
    /// (across replicas) gets it.
    async fn take_sso_login(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PendingSsoLogin>>;
    /// Records `key` (e.g. `saml:<issuer>:<assertion id>`) as used until `expires`. Returns
    /// `false` when it was already recorded (a replay), across replicas. Expired keys are
    /// forgotten.
    async fn claim_once(
        &self,
        key: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The local user linked to `subject` at `provider`.
    async fn get_external_identity(&self, provider: &str, subject: &str)
    -> StoreResult<Option<Id>>;
    /// Links `subject` at `provider` to `user_id` (a link that exists is kept).
    async fn link_external_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: Id,
    ) -> StoreResult<()>;
}
