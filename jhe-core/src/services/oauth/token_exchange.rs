//! Token exchange (RFC 8693, auth.md §7): a practitioner's access token from the trusted external
//! identity provider is swapped for a JHE access token (request scope `openid`; granted
//! `openid user/*.cruds`, the practitioner's full role as for a portal login; no refresh token).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use serde::Serialize;
use serde_json::Value;

use super::tokens::{IssueRequest, issue};
use crate::config::Config;
use crate::domain::{GrantedScopes, User, keys};
use crate::error::CoreError;
use crate::services::settings::{site_url, string_setting};
use crate::store::Store;

/// The only accepted `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only accepted subject and requested token type.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Largest IdP response read (discovery, userinfo, introspection).
const MAX_IDP_RESPONSE: usize = 1 << 20;

/// A successful exchange.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ExchangedToken {
    /// The JHE access token.
    pub access_token: String,
    /// Always [`ACCESS_TOKEN_TYPE`].
    pub issued_token_type: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// The granted scope: `openid user/*.cruds`.
    pub scope: String,
}

crate::domain::debug_redacted!(ExchangedToken { issued_token_type, token_type, expires_in, scope } redact { access_token });

/// Why an exchange failed; every variant carries the message of the original.
#[derive(Debug)]
pub enum TokenExchangeError {
    /// The request is invalid or the IdP does not know the token (400).
    BadRequest(String),
    /// No practitioner has the IdP's identifier (404).
    NotFound(String),
    /// The IdP could not be asked or answered nonsense (500, as the original).
    Upstream(String),
    /// Storage or another internal failure.
    Core(CoreError),
}

impl From<CoreError> for TokenExchangeError {
    fn from(e: CoreError) -> Self {
        TokenExchangeError::Core(e)
    }
}

impl From<crate::store::StoreError> for TokenExchangeError {
    fn from(e: crate::store::StoreError) -> Self {
        TokenExchangeError::Core(CoreError::Store(e))
    }
}

const USERINFO_ERROR: &str = "Error retrieving user info for access token";

fn http_client() -> Result<&'static reqwest::Client, TokenExchangeError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .timeout(StdDuration::from_secs(10))
        .connect_timeout(StdDuration::from_secs(5))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "cannot build the token-exchange HTTP client");
            TokenExchangeError::Upstream(USERINFO_ERROR.into())
        })?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Reads a JSON body of at most [`MAX_IDP_RESPONSE`] bytes.
async fn read_json(mut response: reqwest::Response) -> Option<Value> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_IDP_RESPONSE {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).ok()
}

fn string_claim(value: &Value, name: &str) -> Option<String> {
    match value.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Asks the IdP who the token belongs to; returns the identifier to look up.
async fn identify(idp: &str, subject_token: &str) -> Result<String, TokenExchangeError> {
    let client = http_client()?;
    let upstream = |msg: &str| TokenExchangeError::Upstream(msg.into());
    let not_found = || TokenExchangeError::BadRequest(format!("Token not found in {idp}"));
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        idp.trim_end_matches('/')
    );
    let response = client.get(&discovery_url).send().await.map_err(|e| {
        tracing::warn!(error = %e, url = %discovery_url, "token exchange: discovery failed");
        upstream(USERINFO_ERROR)
    })?;
    if !response.status().is_success() {
        return Err(upstream(USERINFO_ERROR));
    }
    let config = read_json(response)
        .await
        .ok_or_else(|| upstream(USERINFO_ERROR))?;
    if let Some(userinfo) = config.get("userinfo_endpoint").and_then(Value::as_str) {
        let response = client
            .get(userinfo)
            .bearer_auth(subject_token)
            .send()
            .await
            .map_err(|_| upstream(USERINFO_ERROR))?;
        if !response.status().is_success() {
            return Err(not_found());
        }
        let info = read_json(response)
            .await
            .ok_or_else(|| upstream(USERINFO_ERROR))?;
        return string_claim(&info, "sub").ok_or_else(|| upstream(USERINFO_ERROR));
    }
    if let Some(introspection) = config.get("introspection_endpoint").and_then(Value::as_str) {
        const INTROSPECTION_ERROR: &str = "Error introspecting access token";
        let response = client
            .post(introspection)
            .bearer_auth(subject_token)
            .form(&[("token", subject_token)])
            .send()
            .await
            .map_err(|_| upstream(INTROSPECTION_ERROR))?;
        if !response.status().is_success() {
            return Err(not_found());
        }
        let info = read_json(response)
            .await
            .ok_or_else(|| upstream(INTROSPECTION_ERROR))?;
        if info.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(not_found());
        }
        if let Some(sub) = string_claim(&info, "sub") {
            return Ok(sub);
        }
        return info
            .get("fhirUser")
            .and_then(Value::as_str)
            .and_then(|f| f.strip_prefix("Practitioner/"))
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| upstream(INTROSPECTION_ERROR));
    }
    Err(upstream(USERINFO_ERROR))
}

/// The active practitioner user with this external identifier.
async fn practitioner_for(store: &dyn Store, identifier: &str) -> Result<User, TokenExchangeError> {
    let not_found =
        || TokenExchangeError::NotFound(format!("Practitioner not found for {identifier}"));
    let mut found = Vec::new();
    for user in store.find_users_by_identifier(identifier).await? {
        if user.is_active && store.get_practitioner_by_user(user.id).await?.is_some() {
            found.push(user);
        }
    }
    match found.len() {
        0 => Err(not_found()),
        1 => found.pop().ok_or_else(not_found),
        _ => Err(TokenExchangeError::BadRequest(format!(
            "More than one practitioner has the identifier {identifier}"
        ))),
    }
}

/// Exchanges the IdP access token in `params` (form fields of the request) for a JHE token.
pub async fn exchange(
    store: &dyn Store,
    config: &Config,
    params: &BTreeMap<String, String>,
) -> Result<ExchangedToken, TokenExchangeError> {
    let bad = |msg: String| Err(TokenExchangeError::BadRequest(msg));
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    for name in [
        "audience",
        "requested_token_type",
        "subject_token_type",
        "subject_token",
        "grant_type",
    ] {
        if get(name).is_none() {
            return bad(format!("Missing required argument: {name}"));
        }
    }
    let arg = |name: &str| get(name).unwrap_or_default();
    if arg("grant_type") != GRANT_TYPE {
        return bad(format!(
            "grant_type must be {GRANT_TYPE}, not {}",
            arg("grant_type")
        ));
    }
    for name in ["subject_token_type", "requested_token_type"] {
        if arg(name) != ACCESS_TOKEN_TYPE {
            return bad(format!(
                "{name} must be {ACCESS_TOKEN_TYPE}, not {}",
                arg(name)
            ));
        }
    }
    let site = site_url(store, config).await?;
    let audience = arg("audience");
    if audience.trim_end_matches('/') != site {
        return bad(format!("audience must be {site}, not {audience}"));
    }
    let scope = get("scope").unwrap_or("openid");
    if scope != "openid" {
        return bad(format!("Only 'openid' scope is supported, not {scope}"));
    }
    let idp = match string_setting(store, keys::TRUSTED_TOKEN_IDP).await? {
        Some(idp) if !idp.trim().is_empty() => idp.trim().to_string(),
        _ => match &config.trusted_token_idp {
            Some(idp) if !idp.trim().is_empty() => idp.trim().to_string(),
            _ => return bad("Token exchange is not configured.".into()),
        },
    };
    let identifier = identify(&idp, arg("subject_token")).await?;
    let user = practitioner_for(store, &identifier).await?;
    let issued = issue(
        store,
        config,
        IssueRequest {
            user,
            client: None,
            // A notebook acting for the practitioner: the full role, as a portal login.
            scope: GrantedScopes::full_role().narrowed_to(&GrantedScopes::parse("openid")?),
            refresh: None,
            source_refresh_token_id: None,
            id_token: false,
            nonce: None,
            auth_time: None,
        },
    )
    .await?;
    Ok(ExchangedToken {
        access_token: issued.access_token,
        issued_token_type: ACCESS_TOKEN_TYPE.into(),
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        scope: issued.scope,
    })
}
