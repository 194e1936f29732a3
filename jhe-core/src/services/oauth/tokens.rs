//! Issuing and checking opaque access and refresh tokens (stored as SHA-256 hashes).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::id_token::{IdTokenClaims, at_hash, sign};
use super::{SUPPORTED_SCOPES, TOKEN_LENGTH, has_scope, issuer};
use crate::config::Config;
use crate::domain::{AccessToken, Id, NewAccessToken, NewRefreshToken, OAuthClient, User};
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
    /// Granted scope (canonical form).
    pub scope: String,
    /// Issue a refresh token in this rotation family (see [`new_family`]).
    pub refresh_family: Option<String>,
    /// The refresh token this issuance rotates.
    pub source_refresh_token_id: Option<Id>,
    /// Issue an ID token (when `scope` has `openid` and there is a client).
    pub id_token: bool,
    /// OIDC nonce to echo in the ID token.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
}

/// The SHA-256 hex under which a code or token is stored.
pub fn hash(token: &str) -> String {
    jhe_kdf::sha256_hex(token)
}

/// A new rotation family for a refresh token chain.
///
/// The family string also records the granted scope (a bit mask over
/// [`SUPPORTED_SCOPES`]: `s<hex>-<uuid>`, 35 characters) because refresh-token rows have no
/// scope column; rotated tokens keep exactly the scope of the original grant.
pub fn new_family(scope: &str) -> String {
    let mask = SUPPORTED_SCOPES
        .iter()
        .enumerate()
        .filter(|(_, s)| has_scope(scope, s))
        .fold(0u32, |m, (i, _)| m | (1 << i));
    format!("s{mask:x}-{}", uuid::Uuid::new_v4().simple())
}

/// The scope recorded in a family string by [`new_family`]; `None` for other formats.
pub fn family_scope(family: &str) -> Option<String> {
    let rest = family.strip_prefix('s')?;
    let (mask, _) = rest.split_once('-')?;
    let mask = u32::from_str_radix(mask, 16).ok()?;
    Some(
        SUPPORTED_SCOPES
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, s)| *s)
            .collect::<Vec<_>>()
            .join(" "),
    )
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
    let wants_id_token =
        request.id_token && request.client.is_some() && has_scope(&request.scope, "openid");
    let jti = wants_id_token.then(|| uuid::Uuid::new_v4().to_string());
    let stored = store
        .create_access_token(NewAccessToken {
            token_hash: hash(&access_token),
            user_id: Some(request.user.id),
            application_id: request.client.as_ref().map(|c| c.id),
            expires: now + Duration::seconds(lifetime),
            scope: request.scope.clone(),
            source_refresh_token_id: request.source_refresh_token_id,
            id_token_jti: jti.clone(),
        })
        .await?;
    let refresh_token = match (&request.refresh_family, &request.client) {
        (Some(family), Some(client)) => {
            let token = jhe_kdf::try_random_token(TOKEN_LENGTH)
                .map_err(|e| crate::CoreError::Internal(e.to_string()))?;
            store
                .create_refresh_token(NewRefreshToken {
                    token_hash: hash(&token),
                    access_token_id: Some(stored.id),
                    application_id: client.id,
                    user_id: request.user.id,
                    token_family: family.clone(),
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
                email: has_scope(&request.scope, "email").then(|| request.user.email.clone()),
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
        scope: request.scope,
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
    fn families_carry_the_scope() {
        for scope in ["openid email", "openid", "email", ""] {
            let family = new_family(scope);
            assert!(family.len() <= 36, "{family}");
            assert_eq!(family_scope(&family).as_deref(), Some(scope));
        }
        assert_eq!(family_scope(&uuid::Uuid::new_v4().to_string()), None);
        assert_ne!(new_family("openid"), new_family("openid"));
    }
}
