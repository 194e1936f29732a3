//! Logging in through an [`IdentityProvider`](crate::identity::IdentityProvider), with rate
//! limiting per account and per client address.

use crate::audit::{AuditAgent, AuditEvent, AuditKind};
use chrono::{Duration, Utc};

use crate::domain::{NewUser, User, UserType};
use crate::error::{CoreError, CoreResult};
use crate::identity::{Authenticated, Credentials, IdpError};
use crate::server::AppState;
use crate::services::accounts::{ProfileDetails, create_user_with_profile};

/// Failed attempts per account within [`LOCKOUT_WINDOW_MINUTES`] before logins are refused.
pub const MAX_FAILURES_PER_ACCOUNT: u64 = 5;
/// Failed attempts per client address within the window before logins are refused.
pub const MAX_FAILURES_PER_ADDRESS: u64 = 20;
/// The rate-limit window.
pub const LOCKOUT_WINDOW_MINUTES: i64 = 15;

/// Why a login failed, with the message shown on the form.
#[derive(Debug)]
pub enum LoginError {
    /// Wrong credentials or inactive account.
    Rejected(String),
    /// Too many failures recently.
    RateLimited(String),
    /// Something else failed.
    Core(CoreError),
}

impl From<CoreError> for LoginError {
    fn from(e: CoreError) -> Self {
        LoginError::Core(e)
    }
}

impl From<crate::store::StoreError> for LoginError {
    fn from(e: crate::store::StoreError) -> Self {
        LoginError::Core(e.into())
    }
}

/// Checks credentials with the identity providers (in order) and returns the user. Records the
/// attempt; refuses early when the account or the address failed too often.
pub async fn login(
    state: &AppState,
    credentials: &Credentials,
    address: &str,
) -> Result<User, LoginError> {
    let result = login_unaudited(state, credentials, address).await;
    let claimed = match credentials {
        Credentials::Password { email, .. } => Some(email.trim().to_lowercase()),
        Credentials::Callback { .. } => None,
    };
    let event = match &result {
        Ok(user) => AuditEvent::by_agent(
            AuditAgent {
                user_id: Some(user.id),
                display: Some(user.email.clone()),
                superuser: user.is_superuser,
                ..AuditAgent::default()
            },
            AuditKind::Login,
        ),
        Err(e) => AuditEvent::by_agent(
            AuditAgent {
                display: claimed,
                ..AuditAgent::default()
            },
            AuditKind::Login,
        )
        .failed(match e {
            LoginError::Rejected(m) => format!("rejected: {m}"),
            LoginError::RateLimited(m) => format!("rate limited: {m}"),
            LoginError::Core(e) => e.to_string(),
        }),
    };
    crate::services::audit::record(state, event.detail(format!("from {address}")));
    result
}

async fn login_unaudited(
    state: &AppState,
    credentials: &Credentials,
    address: &str,
) -> Result<User, LoginError> {
    let now = Utc::now();
    let since = now - Duration::minutes(LOCKOUT_WINDOW_MINUTES);
    let account_key = match credentials {
        Credentials::Password { email, .. } => {
            Some(format!("account:{}", email.trim().to_lowercase()))
        }
        Credentials::Callback { .. } => None,
    };
    let address_key = format!("ip:{address}");
    let locked = format!(
        "Too many failed login attempts. Please wait {LOCKOUT_WINDOW_MINUTES} minutes and try again, or reset your password."
    );
    if let Some(key) = &account_key
        && state.store.count_failed_logins(key, since).await? >= MAX_FAILURES_PER_ACCOUNT
    {
        return Err(LoginError::RateLimited(locked));
    }
    if state.store.count_failed_logins(&address_key, since).await? >= MAX_FAILURES_PER_ADDRESS {
        return Err(LoginError::RateLimited(locked));
    }

    let mut last_error = IdpError::Unsupported;
    for provider in &state.identity_providers {
        match provider
            .authenticate(credentials, state.store.as_ref())
            .await
        {
            Ok(found) => {
                let mut user = match found {
                    Authenticated::User(user) => *user,
                    Authenticated::External(identity) => provision(state, identity).await?,
                };
                // Only `last_login` is written: a whole-row write could restore a password
                // changed at the same moment.
                state.store.touch_last_login(user.id, now).await?;
                user.last_login = Some(now);
                if let Some(key) = &account_key {
                    state.store.record_login_attempt(key, true, now).await?;
                }
                return Ok(user);
            }
            Err(IdpError::Unsupported) => continue,
            Err(IdpError::Store(e)) => return Err(e.into()),
            Err(other) => {
                last_error = other;
                break;
            }
        }
    }
    if let Some(key) = &account_key {
        state.store.record_login_attempt(key, false, now).await?;
    }
    state
        .store
        .record_login_attempt(&address_key, false, now)
        .await?;
    Err(LoginError::Rejected(match last_error {
        IdpError::Unsupported => "This way of logging in is not enabled.".into(),
        other => other.to_string(),
    }))
}

/// Finds a person an external provider vouched for by e-mail, or creates them as a practitioner.
async fn provision(
    state: &AppState,
    identity: crate::identity::ExternalIdentity,
) -> CoreResult<User> {
    let email = identity.email.trim().to_lowercase();
    if let Some(user) = state.store.get_user_by_email(&email).await? {
        return Ok(user);
    }
    create_user_with_profile(
        state.store.as_ref(),
        NewUser {
            email,
            password: jhe_kdf::unusable_password(),
            first_name: identity.first_name.unwrap_or_default(),
            last_name: identity.last_name.unwrap_or_default(),
            identifier: identity.identifier.unwrap_or_default(),
            user_type: Some(UserType::Practitioner),
            ..Default::default()
        },
        ProfileDetails::default(),
    )
    .await
}
