//! Turning policy decisions into errors.

use crate::error::{CoreError, CoreResult};
use crate::policy::{AccessScope, Action, Decision, Principal, access_scope};
use crate::server::AppState;

/// Fails with `403` and the policy's message unless `principal` may perform `action`.
pub async fn require(state: &AppState, principal: &Principal, action: Action) -> CoreResult<()> {
    match state
        .policy
        .authorize(principal, &action, state.store.as_ref())
        .await?
    {
        Decision::Allow => Ok(()),
        Decision::Deny(message) => Err(CoreError::Forbidden(message)),
    }
}

/// Whether `principal` may perform `action`.
pub async fn allowed(state: &AppState, principal: &Principal, action: Action) -> CoreResult<bool> {
    Ok(state
        .policy
        .authorize(principal, &action, state.store.as_ref())
        .await?
        .is_allowed())
}

/// The caller's sealed access scope, as the policy issues it: what every read of patient data
/// takes.
pub async fn scope(state: &AppState, principal: &Principal) -> AccessScope {
    access_scope(state.policy.as_ref(), principal).await
}
