//! Issuing and checking opaque access and refresh tokens (stored as SHA-256 hashes).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::id_token::{IdTokenClaims, at_hash, sign};
use super::{TOKEN_LENGTH, issuer};
use crate::config::Config;
use crate::domain::{
    AccessToken, GrantedScopes, Id, IdentityScope, NewAccessToken, NewRefreshToken, OAuthClient,
    User,
};
use crate::error::CoreResult;
use crate::store::Store;

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct IssuedTokens {
    /// The access token (shown once; stored hashed).
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Always `Bearer`.
    pub token_type: String,
    /// Granted scope.
    pub scope: String,
    /// Refresh token, when the grant issues one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// ID token, when the scope contains `openid` and a client authenticated a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

crate::domain::debug_redacted!(IssuedTokens { expires_in, token_type, scope } redact { access_token, refresh_token, id_token });

/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The user the tokens act for.
    pub user: User,
    /// The client (none for token exchange).
    pub client: Option<OAuthClient>,
    /// Scope of the access token.
    pub scope: GrantedScopes,
    /// Issue a refresh token too (only with a client).
    pub refresh: Option<RefreshIssue>,
    /// The refresh token this issuance rotates.
    pub source_refresh_token_id: Option<Id>,
    /// Issue an ID token (when `scope` has `openid` and there is a client).
    pub id_token: bool,
    /// OIDC nonce to echo in the ID token.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
}

/// The refresh token of an [`IssueRequest`].
#[derive(Debug, Clone)]
pub struct RefreshIssue {
    /// Its rotation family (see [`new_family`]).
    pub family: String,
    /// Its scope: what later refreshes may ask for (RFC 6749 §6). At least the access token's.
    pub scope: GrantedScopes,
}

/// The SHA-256 hex under which a code or token is stored.
pub fn hash(token: &str) -> String {
    jhe_kdf::sha256_hex(token)
}

/// A new rotation family for the tokens of one authorization (32 hex digits). Reusing a rotated
/// refresh token, or presenting the code again, revokes the whole family.
pub fn new_family() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Issues an access token (and optionally a refresh token and an ID token).
pub async fn issue(
    store: &dyn Store,
    config: &Config,
    request: IssueRequest,
) -> CoreResult<IssuedTokens> {
    let now = Utc::now();
    let lifetime = config.lifetimes.access_token;
    let access_token = jhe_kdf::try_random_token(TOKEN_LENGTH)
        .map_err(|e| crate::CoreError::Internal(e.to_string()))?;
    let wants_id_token = request.id_token && request.client.is_some() && request.scope.has_openid();
    let scope = request.scope.to_string();
    let jti = wants_id_token.then(|| uuid::Uuid::new_v4().to_string());
    let stored = store
        .create_access_token(NewAccessToken {
            token_hash: hash(&access_token),
            user_id: Some(request.user.id),
            application_id: request.client.as_ref().map(|c| c.id),
            expires: now + Duration::seconds(lifetime),
            scope: scope.clone(),
            source_refresh_token_id: request.source_refresh_token_id,
            id_token_jti: jti.clone(),
        })
        .await?;
    let refresh_token = match (&request.refresh, &request.client) {
        (Some(refresh), Some(client)) => {
            let token = jhe_kdf::try_random_token(TOKEN_LENGTH)
                .map_err(|e| crate::CoreError::Internal(e.to_string()))?;
            store
                .create_refresh_token(NewRefreshToken {
                    token_hash: hash(&token),
                    access_token_id: Some(stored.id),
                    application_id: client.id,
                    user_id: request.user.id,
                    token_family: refresh.family.clone(),
                    scope: refresh.scope.to_string(),
                })
                .await?;
            Some(token)
        }
        _ => None,
    };
    let id_token = match (jti, &request.client) {
        (Some(jti), Some(client)) => {
            let iat = now.timestamp();
            let claims = IdTokenClaims {
                iss: issuer(config),
                aud: client.client_id.clone(),
                sub: request.user.id.to_string(),
                iat,
                exp: iat + config.lifetimes.id_token,
                auth_time: request
                    .auth_time
                    .or(request.user.last_login)
                    .map(|t| t.timestamp()),
                jti,
                at_hash: Some(at_hash(&access_token)),
                email: request
                    .scope
                    .has(IdentityScope::Email)
                    .then(|| request.user.email.clone()),
                nonce: request.nonce.filter(|n| !n.is_empty()),
            };
            Some(sign(store, &claims).await?)
        }
        _ => None,
    };
    Ok(IssuedTokens {
        access_token,
        expires_in: lifetime,
        token_type: "Bearer".into(),
        scope,
        refresh_token,
        id_token,
    })
}

/// The stored access token and its active user, if `token` is a live (unexpired, unrevoked)
/// access token of an active account.
pub async fn validate_access_token(
    store: &dyn Store,
    token: &str,
) -> CoreResult<Option<(AccessToken, User)>> {
    if token.is_empty() || token.len() > 512 {
        return Ok(None);
    }
    let Some(access) = store.get_access_token(&hash(token)).await? else {
        return Ok(None);
    };
    if access.expires <= Utc::now() {
        return Ok(None);
    }
    let Some(user_id) = access.user_id else {
        return Ok(None);
    };
    Ok(store
        .get_user(user_id)
        .await?
        .filter(|u| u.is_active)
        .map(|u| (access, u)))
}

/// Whether `token` names a stored access token that has expired (so a client can be told to
/// refresh rather than to sign in again).
///
/// # Errors
/// Storage errors.
pub async fn access_token_expired(store: &dyn Store, token: &str) -> CoreResult<bool> {
    if token.is_empty() || token.len() > 512 {
        return Ok(false);
    }
    Ok(store
        .get_access_token(&hash(token))
        .await?
        .is_some_and(|access| access.expires <= Utc::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_do_not_print_through_debug() {
        let issued = IssuedTokens {
            access_token: "access-secret".into(),
            expires_in: 10,
            token_type: "Bearer".into(),
            scope: "openid".into(),
            refresh_token: Some("refresh-secret".into()),
            id_token: Some("id-secret".into()),
        };
        let printed = format!("{issued:?}");
        for secret in ["access-secret", "refresh-secret", "id-secret"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("Bearer"));
    }

    #[test]
    fn families_are_unique_and_carry_nothing() {
        let family = new_family();
        assert_eq!(family.len(), 32);
        assert!(family.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_family(), new_family());
    }
}
