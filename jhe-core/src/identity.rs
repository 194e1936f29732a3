//! The `IdentityProvider` trait: how a person proves who they are (password, SAML, OIDC).
//!
//! Whatever provider authenticated the person, the result ends in the same place: a JHE user
//! with a server-side session, from which the OAuth server issues tokens.

use std::collections::BTreeMap;

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::User;
use crate::store::{Store, StoreError};

/// What the browser sent to log in.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Local e-mail and password.
    Password {
        /// E-mail address.
        email: String,
        /// Password as typed (never logged).
        password: String,
    },
    /// A callback from an external provider (SAML POST, OIDC redirect) with its parameters.
    Callback {
        /// Form or query parameters of the callback.
        params: BTreeMap<String, String>,
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
            Credentials::Callback { params } => f
                .debug_struct("Callback")
                .field("params", &params.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// A person as an external provider describes them, to find or create the JHE user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalIdentity {
    /// E-mail address (the JHE user name).
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// The provider's subject identifier (stored as the user's `identifier`).
    pub identifier: Option<String>,
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
    /// The provider's answer was invalid (bad signature, expired assertion, …).
    #[error("{0}")]
    Rejected(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A way to log in.
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// A stable id (`password`, `saml`, `oidc`).
    fn id(&self) -> &'static str;
    /// The label of its login button.
    fn display_name(&self) -> &str;
    /// Where to send the browser to start a login (external providers), or `None` for a form.
    fn login_url(&self, _next: &str) -> Option<String> {
        None
    }
    /// Checks the credentials.
    async fn authenticate(
        &self,
        credentials: &Credentials,
        store: &dyn Store,
    ) -> Result<Authenticated, IdpError>;
}
