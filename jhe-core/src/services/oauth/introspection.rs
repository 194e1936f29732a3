//! Token revocation (RFC 7009), introspection (RFC 7662) and OIDC userinfo.

use serde_json::{Value, json};

use super::clients::{ClientCredentials, authenticate, is_confidential};
use super::tokens::{hash, validate_access_token};
use super::{OAuthError, OAuthErrorCode, OAuthResult, has_scope};
use crate::domain::OAuthClient;
use crate::error::CoreResult;
use crate::store::Store;

/// Revokes an access or refresh token of the authenticated client (RFC 7009). Revoking a refresh
/// token revokes its whole rotation chain and the access tokens issued from it. Unknown tokens and
/// tokens of other clients are ignored (the answer is the same, so nothing leaks).
pub async fn revoke(
    store: &dyn Store,
    credentials: &ClientCredentials,
    token: Option<&str>,
    token_type_hint: Option<&str>,
) -> OAuthResult<()> {
    let client = authenticate(store, credentials).await?;
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(OAuthError::invalid_request("Missing token parameter."));
    };
    if token.len() > 512 {
        return Ok(());
    }
    let token_hash = hash(token);
    let now = chrono::Utc::now();
    let revoke_access = || async {
        match store.get_access_token(&token_hash).await? {
            Some(access) if access.application_id == Some(client.id) => {
                store.delete_access_token(access.id).await?;
                Ok::<bool, crate::store::StoreError>(true)
            }
            _ => Ok(false),
        }
    };
    let revoke_refresh = || async {
        match store.get_refresh_token(&token_hash).await? {
            Some(refresh) if refresh.application_id == client.id => {
                store
                    .revoke_token_family(&refresh.token_family, now)
                    .await?;
                Ok::<bool, crate::store::StoreError>(true)
            }
            _ => Ok(false),
        }
    };
    if token_type_hint == Some("refresh_token") {
        if !revoke_refresh().await? {
            revoke_access().await?;
        }
    } else if !revoke_access().await? {
        revoke_refresh().await?;
    }
    Ok(())
}

/// The client allowed to call the introspection endpoint (RFC 7662 §2.1): a confidential client
/// authenticating with its own credentials (HTTP Basic or `client_secret_post`). `None` for
/// anyone else — public clients, wrong secrets, bearer tokens and anonymous callers — who get 403.
///
/// # Errors
/// Only when the store fails; refused credentials are `Ok(None)`.
pub async fn introspecting_client(
    store: &dyn Store,
    credentials: &ClientCredentials,
) -> OAuthResult<Option<OAuthClient>> {
    if credentials.basic.is_none() && credentials.client_id.is_none() {
        return Ok(None);
    }
    match authenticate(store, credentials).await {
        Ok(client) => Ok(is_confidential(&client).then_some(client)),
        Err(e)
            if matches!(
                e.code,
                OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable
            ) =>
        {
            Err(e)
        }
        Err(_) => Ok(None),
    }
}

/// The RFC 7662 answer for an access token: `{"active": false}` unless it is live; else
/// `active`, `scope`, `sub` (the user id), `exp`, `iat`, `token_type` and `client_id`.
///
/// `username` (the user's e-mail) is added only when `caller` is the client the token was issued
/// to — it already knows the user from its own flow. Any other confidential client (a resource
/// server) learns the opaque `sub`, never the e-mail.
///
/// # Errors
/// Only when the store fails.
pub async fn introspect(
    store: &dyn Store,
    caller: &OAuthClient,
    token: Option<&str>,
) -> CoreResult<Value> {
    let inactive = json!({"active": false});
    let Some(token) = token else {
        return Ok(inactive);
    };
    let Some((access, user)) = validate_access_token(store, token).await? else {
        return Ok(inactive);
    };
    let client_id = match access.application_id {
        Some(id) => store.get_client(id).await?.map(|c| c.client_id),
        None => None,
    };
    let mut body = json!({
        "active": true,
        "scope": access.scope,
        "sub": user.id.to_string(),
        "exp": access.expires.timestamp(),
        "iat": access.created.timestamp(),
        "token_type": "Bearer",
    });
    if let Some(map) = body.as_object_mut() {
        if let Some(client_id) = client_id {
            map.insert("client_id".into(), client_id.into());
        }
        if access.application_id == Some(caller.id) {
            map.insert("username".into(), user.email.into());
        }
    }
    Ok(body)
}

/// The OIDC userinfo of a bearer token: `{"sub": "<id>"}` plus `email` with scope `email`.
pub async fn userinfo(store: &dyn Store, token: Option<&str>) -> OAuthResult<Value> {
    let invalid = || {
        OAuthError::new(
            OAuthErrorCode::InvalidToken,
            "The access token provided is expired, revoked, malformed, or invalid for other reasons.",
        )
    };
    let token = token.ok_or_else(invalid)?;
    let (access, user) = validate_access_token(store, token)
        .await?
        .ok_or_else(invalid)?;
    if !has_scope(&access.scope, "openid") {
        return Err(OAuthError::new(
            OAuthErrorCode::InsufficientScope,
            "The access token does not have the openid scope.",
        ));
    }
    let mut body = json!({"sub": user.id.to_string()});
    if has_scope(&access.scope, "email")
        && let Some(map) = body.as_object_mut()
    {
        map.insert("email".into(), user.email.into());
    }
    Ok(body)
}
