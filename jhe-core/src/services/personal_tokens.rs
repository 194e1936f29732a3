//! Personal access tokens ("Get a token"): a practitioner creates a bearer token for a notebook
//! or script (e.g. `jupyterhealth-client`), names it, picks an expiry, and revokes it when done.
//!
//! The token is an ordinary access token of the caller (no client), stored by its SHA-256 hash,
//! so every API checks it exactly like an OAuth token: the same validation, the same SMART scope
//! table ([`crate::http::scopes`]) and the same access scope. By default it is read-only
//! (`openid email user/*.rs`: read and search, RFC 6750 bearer usage); `user/*.cruds` only when
//! asked for. The secret is returned once and cannot be shown again.

use chrono::{Duration, Utc};

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::{GrantedScopes, Id, NewAccessToken, PersonalAccessToken};
use crate::error::{CoreError, CoreResult};
use crate::policy::Principal;
use crate::server::AppState;

/// The scope of a read-only token: identity, read and search every resource the account may.
pub const READ_ONLY_SCOPE: &str = "openid email user/*.rs";
/// The scope of a read-write token: the account's full role.
pub const READ_WRITE_SCOPE: &str = "openid email user/*.cruds";
/// The expiry choices in days; the first is the default.
pub const EXPIRY_DAYS: [i64; 4] = [30, 7, 90, 365];
/// The longest name.
pub const MAX_NAME: usize = 100;

/// A token as created: its record and the secret (shown once).
pub struct CreatedToken {
    /// The record.
    pub token: PersonalAccessToken,
    /// The bearer token itself.
    pub secret: String,
}

crate::domain::debug_redacted!(CreatedToken { token } redact { secret });

fn require_practitioner(principal: &Principal) -> CoreResult<()> {
    if principal.practitioner.is_none() && !principal.is_superuser() {
        return Err(CoreError::Forbidden(
            "Only practitioners can create personal access tokens.".into(),
        ));
    }
    Ok(())
}

/// Creates a token for the caller (practitioners and superusers).
///
/// # Errors
/// `403` for other callers; `400` for an empty or too long name or an expiry not in
/// [`EXPIRY_DAYS`]; storage errors.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    name: &str,
    days: i64,
    read_write: bool,
) -> CoreResult<CreatedToken> {
    require_practitioner(principal)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::field("name", "This field may not be blank."));
    }
    if name.chars().count() > MAX_NAME || name.contains('\0') {
        return Err(CoreError::field(
            "name",
            format!("Ensure this field has no more than {MAX_NAME} characters."),
        ));
    }
    if !EXPIRY_DAYS.contains(&days) {
        return Err(CoreError::field(
            "expires",
            "Choose one of the offered expiries.",
        ));
    }
    let scope = if read_write {
        READ_WRITE_SCOPE
    } else {
        READ_ONLY_SCOPE
    };
    // Normalised as every granted scope is.
    let scope = GrantedScopes::parse(scope)?.to_string();
    let secret = jhe_kdf::try_random_token(crate::services::oauth::TOKEN_LENGTH)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let access = state
        .store
        .create_access_token(NewAccessToken {
            token_hash: crate::services::oauth::tokens::hash(&secret),
            user_id: Some(principal.user.id),
            application_id: None,
            expires: Utc::now() + Duration::days(days),
            scope,
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await?;
    let token = state
        .store
        .create_personal_access_token(principal.user.id, access.id, name)
        .await?;
    crate::services::audit::record(
        state,
        AuditEvent::by(principal, AuditKind::TokenIssued)
            .entity(format!("PersonalAccessToken/{}", token.id))
            .detail(format!(
                "scope {}; expires {}",
                token.scope,
                token.expires.to_rfc3339()
            )),
    );
    Ok(CreatedToken { token, secret })
}

/// The caller's tokens, newest first.
///
/// # Errors
/// Storage errors.
pub async fn list(state: &AppState, principal: &Principal) -> CoreResult<Vec<PersonalAccessToken>> {
    Ok(state
        .store
        .list_personal_access_tokens(principal.user.id)
        .await?)
}

/// Revokes one of the caller's tokens; it stops working at once.
///
/// # Errors
/// `404` when the caller has no such token; storage errors.
pub async fn revoke(state: &AppState, principal: &Principal, id: Id) -> CoreResult<()> {
    if !state
        .store
        .delete_personal_access_token(principal.user.id, id)
        .await?
    {
        return Err(CoreError::NotFound(
            "No token matches the given query.".into(),
        ));
    }
    state.tokens.clear();
    crate::services::audit::record(
        state,
        AuditEvent::by(principal, AuditKind::TokenRevoked)
            .entity(format!("PersonalAccessToken/{id}")),
    );
    Ok(())
}
