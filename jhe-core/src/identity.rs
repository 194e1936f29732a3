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
}

impl std::fmt::Debug for LoginCallback<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCallback")
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
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
