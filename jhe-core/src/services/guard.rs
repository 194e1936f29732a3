//! Turning policy decisions into errors.

use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Decision, Principal};
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
