//! The token endpoint (`/o/token/`): `authorization_code` (PKCE S256), `refresh_token`
//! (rotation with reuse detection) and `client_credentials`.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};

use super::clients::{ClientCredentials, GrantType, allows_grant, authenticate};
use super::pkce::{S256, is_valid_verifier, verify_s256};
use super::tokens::{IssueRequest, IssuedTokens, RefreshIssue, hash, issue, new_family};
use super::{OAuthError, OAuthErrorCode, OAuthResult, grant_scope, requested_scope};
use crate::config::Config;
use crate::domain::{GrantRedemption, GrantedScopes, OAuthClient, User};
use crate::store::Store;

/// A token request: its form parameters and the client's credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    /// Form parameters (first value of each name).
    pub params: BTreeMap<String, String>,
    /// Names sent more than once (refused, RFC 6749 §3.2).
    pub duplicates: Vec<String>,
    /// Client credentials (HTTP Basic and/or form fields).
    pub credentials: ClientCredentials,
}

impl TokenRequest {
    /// Builds a request from decoded form pairs and an optional decoded HTTP Basic pair.
    pub fn from_pairs(pairs: Vec<(String, String)>, basic: Option<(String, String)>) -> Self {
        let mut params = BTreeMap::new();
        let mut duplicates = Vec::new();
        for (name, value) in pairs {
            if params.contains_key(&name) {
                if !duplicates.contains(&name) {
                    duplicates.push(name);
                }
                continue;
            }
            params.insert(name, value);
        }
        let credentials = ClientCredentials {
            basic,
            client_id: params.get("client_id").cloned().filter(|v| !v.is_empty()),
            client_secret: params
                .get("client_secret")
                .cloned()
                .filter(|v| !v.is_empty()),
        };
        TokenRequest {
            params,
            duplicates,
            credentials,
        }
    }

    /// A non-empty parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A token request as `/o/token/` answers it: [`exchange`], then the verified-token cache is
/// cleared (a refresh rotation deletes the previous access token; a reused code or refresh
/// token revokes a whole family) and the issuance (or its refusal) is audited. The portal's
/// Debug screen redeems invitation codes through this same function.
pub async fn token_request(
    state: &crate::server::AppState,
    request: &TokenRequest,
) -> OAuthResult<IssuedTokens> {
    let grant = request
        .params
        .get("grant_type")
        .cloned()
        .unwrap_or_default();
    let result = exchange(state.store.as_ref(), &state.config, request).await;
    state.tokens.clear();
    crate::services::audit::record_token_issue(
        state,
        &grant,
        match &result {
            Ok(tokens) => Ok(tokens.access_token.as_str()),
            Err(e) => Err(e.to_string()),
        },
    )
    .await;
    result
}

/// Handles a token request.
pub async fn exchange(
    store: &dyn Store,
    config: &Config,
    request: &TokenRequest,
) -> OAuthResult<IssuedTokens> {
    if let Some(name) = request.duplicates.first() {
        return Err(OAuthError::invalid_request(format!(
            "Duplicate {name} parameter."
        )));
    }
    let Some(grant_type) = request.param("grant_type") else {
        return Err(OAuthError::invalid_request("Missing grant_type parameter."));
    };
    let Some(grant) = GrantType::parse(grant_type) else {
        return Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            "Unsupported grant_type: this server implements authorization_code, refresh_token \
             and client_credentials.",
        ));
    };
    let client = authenticate(store, &request.credentials).await?;
    if !allows_grant(&client, grant) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            format!("The client may not use the {} grant.", grant.as_str()),
        ));
    }
    match grant {
        GrantType::AuthorizationCode => authorization_code(store, config, &client, request).await,
        GrantType::RefreshToken => refresh_token(store, config, &client, request).await,
        GrantType::ClientCredentials => client_credentials(store, config, &client, request).await,
    }
}

async fn active_user(store: &dyn Store, id: crate::domain::Id) -> OAuthResult<User> {
    store
        .get_user(id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| OAuthError::invalid_grant("The user is inactive or does not exist."))
}

/// The scope stored on a grant or token (written by this server in canonical form); a value that
/// no longer parses grants nothing.
fn stored_scope(text: &str) -> GrantedScopes {
    GrantedScopes::parse(text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "unreadable stored scope; granting nothing");
        GrantedScopes::default()
    })
}

async fn authorization_code(
    store: &dyn Store,
    config: &Config,
    client: &OAuthClient,
    request: &TokenRequest,
) -> OAuthResult<IssuedTokens> {
    let Some(code) = request.param("code") else {
        return Err(OAuthError::invalid_request("Missing code parameter."));
    };
    if code.len() > 255 {
        return Err(OAuthError::invalid_grant("Invalid code."));
    }
    let now = Utc::now();
    let family = new_family();
    // Marked used now, whatever happens next: a code is never usable twice.
    let grant = match store.take_grant(&hash(code), &family, now).await? {
        None => return Err(OAuthError::invalid_grant("Invalid code.")),
        Some(GrantRedemption::Redeemed(grant)) => grant,
        Some(GrantRedemption::Replayed(grant)) => {
            // RFC 6749 §4.1.2 / §10.5: the code leaked; revoke what its first exchange issued.
            let revoked = match &grant.token_family {
                Some(first) => store.revoke_token_family(first, now).await?,
                None => 0,
            };
            tracing::warn!(
                user_id = grant.user_id,
                application_id = grant.application_id,
                revoked,
                "authorization code presented again; the tokens of its first exchange are revoked"
            );
            return Err(OAuthError::invalid_grant("Invalid code."));
        }
    };
    if grant.application_id != client.id {
        return Err(OAuthError::invalid_grant("Invalid code."));
    }
    if grant.expires <= now {
        return Err(OAuthError::invalid_grant("The code has expired."));
    }
    if request.param("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant("Mismatching redirect URI."));
    }
    if !grant.code_challenge.is_empty() {
        let Some(verifier) = request.param("code_verifier") else {
            return Err(OAuthError::invalid_request("Code verifier required."));
        };
        if grant.code_challenge_method != S256
            || !is_valid_verifier(verifier)
            || !verify_s256(verifier, &grant.code_challenge)
        {
            return Err(OAuthError::invalid_grant("Invalid code_verifier."));
        }
    }
    // The code's scope, narrowed if the client asks for less (never more).
    let requested = requested_scope(request.param("scope"))?;
    let scope = grant_scope(&stored_scope(&grant.scope), requested.as_ref(), true)?;
    let user = active_user(store, grant.user_id).await?;
    Ok(issue(
        store,
        config,
        IssueRequest {
            user,
            client: Some(client.clone()),
            refresh: Some(RefreshIssue {
                family,
                scope: scope.clone(),
            }),
            scope,
            source_refresh_token_id: None,
            id_token: true,
            nonce: Some(grant.nonce).filter(|n| !n.is_empty()),
            auth_time: grant.auth_time,
        },
    )
    .await?)
}

async fn refresh_token(
    store: &dyn Store,
    config: &Config,
    client: &OAuthClient,
    request: &TokenRequest,
) -> OAuthResult<IssuedTokens> {
    let Some(token) = request.param("refresh_token") else {
        return Err(OAuthError::invalid_request(
            "Missing refresh_token parameter.",
        ));
    };
    if token.len() > 255 {
        return Err(OAuthError::invalid_grant("Invalid refresh token."));
    }
    let Some(current) = store.get_refresh_token(&hash(token)).await? else {
        return Err(OAuthError::invalid_grant("Invalid refresh token."));
    };
    if current.application_id != client.id {
        return Err(OAuthError::invalid_grant("Invalid refresh token."));
    }
    let now = Utc::now();
    if current.revoked.is_some() {
        // A rotated (or revoked) refresh token came back: it may have been stolen, so every token
        // of its chain is revoked.
        let revoked = store
            .revoke_token_family(&current.token_family, now)
            .await?;
        tracing::warn!(
            user_id = current.user_id,
            application_id = current.application_id,
            revoked,
            "refresh token reused; token family revoked"
        );
        return Err(OAuthError::invalid_grant("Invalid refresh token."));
    }
    let lifetime = config.lifetimes.refresh_token;
    if lifetime > 0 && current.created + Duration::seconds(lifetime) <= now {
        return Err(OAuthError::invalid_grant("The refresh token has expired."));
    }
    // RFC 6749 §6: the access token may be narrowed; the new refresh token keeps the chain's scope.
    let granted = stored_scope(&current.scope);
    let requested = requested_scope(request.param("scope"))?;
    let scope = grant_scope(&granted, requested.as_ref(), true)?;
    let user = active_user(store, current.user_id).await?;
    if !store.revoke_refresh_token(current.id, now).await? {
        // Another request rotated it at the same moment: treat as reuse.
        store
            .revoke_token_family(&current.token_family, now)
            .await?;
        return Err(OAuthError::invalid_grant("Invalid refresh token."));
    }
    if let Some(access_id) = current.access_token_id {
        store.delete_access_token(access_id).await?;
    }
    Ok(issue(
        store,
        config,
        IssueRequest {
            user,
            client: Some(client.clone()),
            scope,
            refresh: Some(RefreshIssue {
                family: current.token_family,
                scope: granted,
            }),
            source_refresh_token_id: Some(current.id),
            id_token: true,
            nonce: None,
            auth_time: None,
        },
    )
    .await?)
}

async fn client_credentials(
    store: &dyn Store,
    config: &Config,
    client: &OAuthClient,
    request: &TokenRequest,
) -> OAuthResult<IssuedTokens> {
    let Some(owner) = client.user_id else {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "The client has no owner to act for.",
        ));
    };
    // The owner's full role, narrowed to the request.
    let requested = requested_scope(request.param("scope"))?;
    let scope = grant_scope(&GrantedScopes::full_role(), requested.as_ref(), false)?;
    let user = store
        .get_user(owner)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "The client's owner is inactive.",
            )
        })?;
    Ok(issue(
        store,
        config,
        IssueRequest {
            user,
            client: Some(client.clone()),
            scope,
            refresh: None,
            source_refresh_token_id: None,
            id_token: false,
            nonce: None,
            auth_time: None,
        },
    )
    .await?)
}
