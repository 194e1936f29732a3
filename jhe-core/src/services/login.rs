//! Logging in through an [`IdentityProvider`], with rate
//! limiting per account and per client address.

use crate::audit::{AuditAgent, AuditEvent, AuditKind};
use chrono::{Duration, Utc};

use crate::domain::{NewUser, User, UserType};
use crate::error::CoreError;
use crate::identity::{
    Authenticated, Credentials, ExternalIdentity, ExternalLogin, IdentityProvider, IdpError,
    ProviderSettings,
};
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
    let Credentials::Password { email, .. } = credentials;
    let claimed = Some(email.trim().to_lowercase());
    let event = login_event(&result, claimed);
    crate::services::audit::record(state, event.detail(format!("from {address}")));
    result
}

/// The audit event of a login attempt: the account on success; otherwise the address the person
/// claimed (if any) and why it failed.
fn login_event(result: &Result<User, LoginError>, claimed: Option<String>) -> AuditEvent {
    match result {
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
    }
}

async fn login_unaudited(
    state: &AppState,
    credentials: &Credentials,
    address: &str,
) -> Result<User, LoginError> {
    let now = Utc::now();
    let since = now - Duration::minutes(LOCKOUT_WINDOW_MINUTES);
    let Credentials::Password { email, .. } = credentials;
    let account_key = Some(format!("account:{}", email.trim().to_lowercase()));
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
                    Authenticated::External(identity) => {
                        find_or_create(state, provider.as_ref(), identity).await?
                    }
                };
                // Only `last_login` is written: a whole-row write could restore a password
                // changed at the same moment.
                state.store.touch_last_login(user.id, now).await?;
                user.last_login = Some(now);
                crate::http::observe::record_login(true);
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
    crate::http::observe::record_login(false);
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

/// Completes a login through an external identity provider (SAML, OpenID Connect, a trusted
/// proxy), after the provider verified its answer: refuses a replayed one-time id, finds the
/// local user (by the provider's subject link, else by e-mail) or creates one, records the
/// login and audits it. The caller then starts the session exactly as for a password login
/// ([`crate::http::session::start_login`]).
///
/// Rules: the address must be in the provider's [`domains`](IdentityProvider::domains) when it
/// has any. A subject already linked logs in as its user. Otherwise an existing account with
/// the same e-mail is linked only when the provider says the address is verified, and a
/// superuser only when the provider allows it ([`IdentityProvider::may_link_superusers`]).
/// Otherwise a new practitioner account is created just in time, with an unusable password and
/// no organisation (an administrator assigns them).
///
/// # Errors
/// [`LoginError::Rejected`] with the message to show; [`LoginError::Core`] when storage fails.
pub async fn complete_external(
    state: &AppState,
    provider: &dyn IdentityProvider,
    login: ExternalLogin,
    address: &str,
) -> Result<User, LoginError> {
    let claimed = login.identity.email.trim().to_lowercase();
    let result = complete_external_unaudited(state, provider, login).await;
    let event = login_event(&result, Some(claimed).filter(|c| !c.is_empty()));
    crate::services::audit::record(
        state,
        event.detail(format!("via {} from {address}", provider.id())),
    );
    result
}

/// Records in the audit trail that an external provider's answer was refused before it named
/// anyone (bad signature, wrong audience, expired, unknown login…), with the reason.
pub fn record_refused_external(
    state: &AppState,
    provider: &dyn IdentityProvider,
    reason: &str,
    address: &str,
) {
    let event = AuditEvent::by_agent(AuditAgent::default(), AuditKind::Login)
        .failed(format!("rejected: {reason}"))
        .detail(format!("via {} from {address}", provider.id()));
    crate::services::audit::record(state, event);
}

async fn complete_external_unaudited(
    state: &AppState,
    provider: &dyn IdentityProvider,
    login: ExternalLogin,
) -> Result<User, LoginError> {
    let now = Utc::now();
    if let Some((key, until)) = &login.once {
        let key = format!("{}:{key}", provider.id());
        if !state
            .store
            .claim_once(&key, (*until).max(now + Duration::minutes(5)), now)
            .await?
        {
            return Err(LoginError::Rejected(
                "This sign-in answer was already used. Please start the login again.".into(),
            ));
        }
    }
    let mut user = find_or_create(state, provider, login.identity).await?;
    state.store.touch_last_login(user.id, now).await?;
    user.last_login = Some(now);
    Ok(user)
}

/// Finds the local user of an identity an external provider vouched for, links it, or creates
/// it as a practitioner (see [`complete_external`] for the rules).
async fn find_or_create(
    state: &AppState,
    provider: &dyn IdentityProvider,
    identity: ExternalIdentity,
) -> Result<User, LoginError> {
    let name = provider.display_name().to_string();
    let email = identity.email.trim().to_lowercase();
    let Some((_, domain)) = email
        .rsplit_once('@')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty())
    else {
        return Err(LoginError::Rejected(format!(
            "{name} did not send an e-mail address, which this exchange needs to identify you."
        )));
    };
    let domains = provider_domains(state, provider).await?;
    if !domains.is_empty() && !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return Err(LoginError::Rejected(format!(
            "Addresses at {domain} cannot log in through {name}."
        )));
    }
    let subject = identity.subject.trim();
    if subject.is_empty() {
        return Err(LoginError::Rejected(format!(
            "{name} did not identify you (no subject)."
        )));
    }
    let inactive = || LoginError::Rejected(IdpError::Inactive.to_string());
    if let Some(user_id) = state
        .store
        .get_external_identity(provider.id(), subject)
        .await?
        && let Some(user) = state.store.get_user(user_id).await?
    {
        return if user.is_active {
            Ok(user)
        } else {
            Err(inactive())
        };
    }
    if let Some(user) = state.store.get_user_by_email(&email).await? {
        if !identity.email_verified {
            return Err(LoginError::Rejected(format!(
                "An account with this e-mail address already exists. {name} did not confirm that the address is verified, so the two cannot be linked: log in with your password."
            )));
        }
        if user.is_superuser && !provider.may_link_superusers() {
            return Err(LoginError::Rejected(format!(
                "This is an administrator account: it cannot log in through {name}. Log in with its password."
            )));
        }
        if !user.is_active {
            return Err(inactive());
        }
        state
            .store
            .link_external_identity(provider.id(), subject, user.id)
            .await?;
        tracing::info!(
            user_id = user.id,
            provider = provider.id(),
            "external identity linked to an existing account"
        );
        return Ok(user);
    }
    let created = create_user_with_profile(
        state.store.as_ref(),
        NewUser {
            email: email.clone(),
            password: jhe_kdf::unusable_password(),
            first_name: identity.first_name.unwrap_or_default(),
            last_name: identity.last_name.unwrap_or_default(),
            identifier: identity.identifier.unwrap_or_default(),
            user_type: Some(UserType::Practitioner),
            email_is_verified: identity.email_verified,
            ..Default::default()
        },
        ProfileDetails {
            without_default_orgs: true,
            ..Default::default()
        },
    )
    .await;
    let user = match created {
        Ok(user) => {
            tracing::info!(
                user_id = user.id,
                provider = provider.id(),
                "account created at first single sign-on"
            );
            user
        }
        // Another replica created it at the same moment: use that one.
        Err(CoreError::Store(crate::store::StoreError::Conflict(_))) => state
            .store
            .get_user_by_email(&email)
            .await?
            .ok_or_else(|| LoginError::Rejected("Please try again.".into()))?,
        Err(e) => return Err(e.into()),
    };
    state
        .store
        .link_external_identity(provider.id(), subject, user.id)
        .await?;
    Ok(user)
}

/// The e-mail domains of an external provider: its own [`IdentityProvider::domains`], and for
/// the provider `saml` also the setting `auth.sso.valid_domains` (comma- or space-separated,
/// as the original keeps it).
///
/// # Errors
/// A store error.
pub async fn provider_domains(
    state: &AppState,
    provider: &dyn IdentityProvider,
) -> Result<Vec<String>, LoginError> {
    let mut domains: Vec<String> = provider
        .domains()
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    if provider.id() == "saml"
        && let Some(setting) = crate::services::settings::string_setting(
            state.store.as_ref(),
            crate::domain::keys::AUTH_SSO_VALID_DOMAINS,
        )
        .await?
    {
        domains.extend(
            setting
                .split([',', ' ', ';'])
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
        );
    }
    domains.sort();
    domains.dedup();
    Ok(domains)
}

/// Reads the settings a provider asked for ([`IdentityProvider::setting_keys`]) from the
/// settings store (global rows).
///
/// # Errors
/// A store error.
pub async fn provider_settings(
    state: &AppState,
    provider: &dyn IdentityProvider,
) -> Result<ProviderSettings, LoginError> {
    let mut values = Vec::new();
    for key in provider.setting_keys() {
        if let Some(setting) = state.store.get_setting(key, None).await? {
            values.push(((*key).to_string(), setting.value));
        }
    }
    Ok(ProviderSettings::new(values))
}

/// The external providers offered now ([`IdentityProvider::is_enabled`] with their current
/// settings), each with those settings. A provider whose settings cannot be read is left out
/// (and the failure logged).
pub async fn enabled_external_providers(
    state: &AppState,
) -> Vec<(std::sync::Arc<dyn IdentityProvider>, ProviderSettings)> {
    let mut enabled = Vec::new();
    for provider in state.identity_providers.iter().filter(|p| p.is_external()) {
        match provider_settings(state, provider.as_ref()).await {
            Ok(settings) if provider.is_enabled(&settings) => {
                enabled.push((provider.clone(), settings));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(provider = provider.id(), error = ?e, "cannot read the provider's settings");
            }
        }
    }
    enabled
}
