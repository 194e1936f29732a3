//! The `IdentityProvider` trait: how a person proves who they are (password, SAML, OIDC).
//!
//! Whatever provider authenticated the person, the result ends in the same place: a JHE user
//! with a server-side session, from which the OAuth server issues tokens.

use std::collections::BTreeMap;

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::User;
use crate::store::{Store, StoreError};

/// What the browser sent to the login form.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Local e-mail and password.
    Password {
        /// E-mail address.
        email: String,
        /// Password as typed (never logged).
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { email, .. } => f
                .debug_struct("Password")
                .field("email", email)
                .field("password", &crate::domain::Redacted)
                .finish(),
        }
    }
}

/// A person as an external provider describes them, to find or create the JHE user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalIdentity {
    /// The provider's stable subject identifier (SAML `NameID` or a mapped attribute; OIDC
    /// `sub`). Links the provider's person to one local user.
    pub subject: String,
    /// E-mail address (the JHE user name).
    pub email: String,
    /// Whether the provider vouches that the person controls [`email`](Self::email) (OIDC
    /// `email_verified`; a SAML IdP configured as authoritative for its addresses). An
    /// existing local account is linked only when this is true.
    pub email_verified: bool,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// An external id to store as the user's `identifier` (e.g. the SAML attribute `id`).
    pub identifier: Option<String>,
}

/// How an external login starts.
#[derive(Debug)]
pub struct LoginStart<'a> {
    /// The public origin of this server (`SITE_URL`), without trailing `/`.
    pub site_url: &'a str,
    /// An opaque, single-use handle to send to the provider and get back unchanged (OIDC
    /// `state`, SAML `RelayState`).
    pub state: &'a str,
    /// An e-mail address the person already typed (OIDC `login_hint`), if any.
    pub login_hint: Option<&'a str>,
    /// The request's headers (a provider behind an authenticating proxy reads them).
    pub headers: &'a poem::http::HeaderMap,
    /// The provider's [`setting_keys`](IdentityProvider::setting_keys), read from the settings
    /// store for this login.
    pub settings: &'a ProviderSettings,
}

/// The first step of an external login.
#[derive(Clone, PartialEq)]
pub enum LoginStep {
    /// Send the browser to `url`. The server keeps `request_id` and `data` until the answer
    /// comes back to the provider's callback, bound to this browser, for ten minutes.
    Redirect {
        /// The provider's login URL (with the request).
        url: String,
        /// What the answer must refer to (SAML `AuthnRequest/@ID`, the OIDC nonce).
        request_id: String,
        /// Anything else the provider needs at the callback (a PKCE verifier). Secret.
        data: serde_json::Value,
    },
    /// The person is already identified (e.g. by a trusted proxy's header): log them in now.
    Identified(ExternalIdentity),
}

impl std::fmt::Debug for LoginStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginStep::Redirect {
                url, request_id, ..
            } => f
                .debug_struct("Redirect")
                .field("url", url)
                .field("request_id", request_id)
                .field("data", &crate::domain::Redacted)
                .finish(),
            LoginStep::Identified(identity) => f.debug_tuple("Identified").field(identity).finish(),
        }
    }
}

/// The provider's answer, as it reached the callback (SAML ACS, OIDC redirect URI).
pub struct LoginCallback<'a> {
    /// The public origin of this server (`SITE_URL`), without trailing `/`.
    pub site_url: &'a str,
    /// Query and form parameters of the callback.
    pub params: &'a BTreeMap<String, String>,
    /// The `request_id` of the [`LoginStep::Redirect`] this answer belongs to.
    pub request_id: &'a str,
    /// The `data` of that step.
    pub data: &'a serde_json::Value,
    /// The provider's [`setting_keys`](IdentityProvider::setting_keys), read from the settings
    /// store for this answer.
    pub settings: &'a ProviderSettings,
}

impl std::fmt::Debug for LoginCallback<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCallback")
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// The values of the settings store (`jhe_settings`, global rows) a provider asked for with
/// [`IdentityProvider::setting_keys`], read at each login so that an administrator's change
/// takes effect at the next one (as the original keeps `auth.sso.*` in the settings table).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSettings(BTreeMap<String, crate::domain::SettingValue>);

impl ProviderSettings {
    /// Settings from `(key, value)` pairs (keys without a row are simply absent).
    pub fn new(values: impl IntoIterator<Item = (String, crate::domain::SettingValue)>) -> Self {
        Self(values.into_iter().collect())
    }

    /// The value of `key`, if the settings store has one.
    pub fn get(&self, key: &str) -> Option<&crate::domain::SettingValue> {
        self.0.get(key)
    }

    /// The trimmed text of a string setting, `None` when absent, not a string or blank.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(crate::domain::SettingValue::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// Whether `key` is set to an "on" value (non-zero, `true`, non-empty; see
    /// [`SettingValue::is_truthy`](crate::domain::SettingValue::is_truthy)).
    pub fn is_on(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(crate::domain::SettingValue::is_truthy)
    }
}

/// A verified answer of an external provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalLogin {
    /// Who the person is.
    pub identity: ExternalIdentity,
    /// An id that must be accepted only once, across replicas, and until when it could be
    /// replayed (SAML assertion id and `NotOnOrAfter`). The server refuses the login if the id
    /// was seen before.
    pub once: Option<(String, chrono::DateTime<chrono::Utc>)>,
}

/// A document a provider publishes (SAML SP metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDocument {
    /// Its media type, e.g. `application/samlmetadata+xml`.
    pub content_type: String,
    /// The body.
    pub body: String,
}

/// Who the provider says the person is.
#[derive(Debug, Clone, PartialEq)]
pub enum Authenticated {
    /// An existing JHE user.
    User(Box<User>),
    /// A person to look up by e-mail or provision as a practitioner.
    External(ExternalIdentity),
}

/// Why authentication failed.
#[derive(Debug, Error)]
pub enum IdpError {
    /// Wrong credentials (the message never says which part was wrong).
    #[error("Please enter a correct email and password.")]
    InvalidCredentials,
    /// This provider does not handle these credentials.
    #[error("unsupported credentials for this identity provider")]
    Unsupported,
    /// The account exists but may not log in.
    #[error("This account is inactive.")]
    Inactive,
    /// The provider's answer was invalid (bad signature, expired assertion, …); the message is
    /// shown to the person.
    #[error("{0}")]
    Rejected(String),
    /// The provider could not be reached or answered nonsense (its metadata, discovery
    /// document or token endpoint); the message is shown to the person.
    #[error("{0}")]
    Unavailable(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A way to log in.
///
/// Local providers check [`Credentials`] in [`authenticate`](Self::authenticate). External
/// providers (SAML, OpenID Connect, a trusted proxy) answer [`is_external`](Self::is_external)
/// with `true`; the server then mounts, for each, `/sso/{id}/login/` (calls
/// [`start_login`](Self::start_login)), `/sso/{id}/callback/` and its alias `/sso/{id}/acs/`
/// (GET and POST; calls [`complete_login`](Self::complete_login)) and `/sso/{id}/metadata/`
/// (serves [`metadata`](Self::metadata)), keeps the started logins in the store (so any
/// replica can take the answer), and ends every login like a password login: a local user
/// with a fresh session (see [`crate::services::login::complete_external`]).
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// A stable id, unique among the server's providers (`password`, `saml`, `oidc-google`); it
    /// is part of the provider's URLs and of its accounts' links.
    fn id(&self) -> &str;
    /// The label of its login button.
    fn display_name(&self) -> &str;
    /// Whether this provider logs people in elsewhere (and has the `/sso/{id}/…` routes).
    fn is_external(&self) -> bool {
        false
    }
    /// E-mail domains (lower case, e.g. `hospital.example.org`) whose addresses log in through
    /// this provider: the login form sends them straight to it, and the provider's answers for
    /// other domains are refused. Empty: any address.
    fn domains(&self) -> &[String] {
        &[]
    }
    /// Keys of the settings store this provider reads (e.g. `auth.sso.idp_metadata_url`); the
    /// server reads them at each login and hands them over as [`ProviderSettings`]. Default:
    /// none.
    fn setting_keys(&self) -> &[&str] {
        &[]
    }
    /// Whether the provider is offered at the moment, given its settings: a disabled provider
    /// gets no login button and no domain routing, and its login and callback routes answer
    /// `404` (its metadata stays published, so it can be registered before it is turned on).
    /// Default: always.
    fn is_enabled(&self, _settings: &ProviderSettings) -> bool {
        true
    }
    /// Whether an existing superuser account may be linked to this provider's identity (by a
    /// verified e-mail). Default `false`: superusers keep logging in locally.
    fn may_link_superusers(&self) -> bool {
        false
    }
    /// Where to send the browser to start a login, or `None` for the password form. External
    /// providers default to their `/sso/{id}/login/` route.
    fn login_url(&self, next: &str) -> Option<String> {
        if !self.is_external() {
            return None;
        }
        let mut url = format!("/sso/{}/login/", self.id());
        if !next.is_empty() {
            url.push_str("?next=");
            url.extend(url::form_urlencoded::byte_serialize(next.as_bytes()));
        }
        Some(url)
    }
    /// Checks the credentials of the login form.
    ///
    /// # Errors
    /// [`IdpError::Unsupported`] when this provider does not take form credentials (the default).
    async fn authenticate(
        &self,
        _credentials: &Credentials,
        _store: &dyn Store,
    ) -> Result<Authenticated, IdpError> {
        Err(IdpError::Unsupported)
    }
    /// Starts an external login (builds the SAML `AuthnRequest` or the OIDC authorization
    /// request).
    ///
    /// # Errors
    /// [`IdpError::Unavailable`] when the provider cannot be reached; [`IdpError::Unsupported`]
    /// for local providers (the default).
    async fn start_login(&self, _start: &LoginStart<'_>) -> Result<LoginStep, IdpError> {
        Err(IdpError::Unsupported)
    }
    /// Verifies the provider's answer to a login this server started.
    ///
    /// # Errors
    /// [`IdpError::Rejected`] with a message for the person when the answer is not acceptable
    /// (signature, issuer, audience, destination, validity window, request id…);
    /// [`IdpError::Unavailable`] when the provider cannot be reached.
    async fn complete_login(
        &self,
        _callback: &LoginCallback<'_>,
    ) -> Result<ExternalLogin, IdpError> {
        Err(IdpError::Unsupported)
    }
    /// A document this provider publishes at `/sso/{id}/metadata/` (SAML SP metadata), if any.
    ///
    /// # Errors
    /// [`IdpError::Unavailable`] when it cannot be produced.
    fn metadata(&self, _site_url: &str) -> Result<Option<ProviderDocument>, IdpError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::ProviderSettings;
    use crate::domain::SettingValue;

    #[test]
    fn provider_settings_read_text_and_switches() {
        let settings = ProviderSettings::new([
            ("on".to_string(), SettingValue::Int(1)),
            ("off".to_string(), SettingValue::Int(0)),
            (
                "url".to_string(),
                SettingValue::String("  https://idp.example/md ".into()),
            ),
            ("blank".to_string(), SettingValue::String("   ".into())),
        ]);
        assert!(settings.is_on("on"));
        assert!(!settings.is_on("off"));
        assert!(!settings.is_on("missing"));
        assert_eq!(settings.text("url"), Some("https://idp.example/md"));
        assert_eq!(settings.text("blank"), None);
        assert_eq!(settings.text("on"), None, "an int is not text");
    }
}
