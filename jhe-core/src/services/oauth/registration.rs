//! OAuth 2.0 Dynamic Client Registration (RFC 7591) for **native public clients only**: the way
//! MCP clients (desktop AI applications) register themselves before running the authorization
//! code flow with PKCE.
//!
//! What makes it safe to leave open (RFC 7591 §5 and RFC 8252 §8.4):
//! - every redirect URI must be loopback `http` (`127.0.0.1`, `[::1]` or `localhost`, any port,
//!   RFC 8252 §7.3), without user information or fragment: an authorization code can only ever
//!   be delivered to the user's own machine;
//! - the client is public (`token_endpoint_auth_method: none`, no secret), so PKCE `S256` (which
//!   the authorization endpoint requires) binds the code to the registering process;
//! - the client never skips the consent screen, and its name is shown as
//!   `<client_name> (self-registered)` so it cannot pass for a client an administrator set up;
//! - registrations are limited per client address ([`MAX_PER_ADDRESS_PER_HOUR`]).

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::domain::NewOAuthClient;
use crate::error::CoreResult;
use crate::server::AppState;

/// Registrations accepted from one address per hour.
pub const MAX_PER_ADDRESS_PER_HOUR: u64 = 10;

/// Suffix of the stored name of every self-registered client.
pub const NAME_SUFFIX: &str = " (self-registered)";

/// A refused registration: RFC 7591 §3.2.2 `error` code and description (400), or `429`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationError {
    /// `invalid_redirect_uri` / `invalid_client_metadata` (400).
    Invalid {
        /// The RFC 7591 error code.
        code: &'static str,
        /// What was wrong.
        description: String,
    },
    /// Too many registrations from this address (429).
    TooMany,
}

fn invalid(code: &'static str, description: impl Into<String>) -> RegistrationError {
    RegistrationError::Invalid {
        code,
        description: description.into(),
    }
}

/// Whether `uri` is a loopback `http` redirect URI (RFC 8252 §7.3) without user information or
/// fragment.
pub fn is_loopback_redirect(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "http"
        && loopback
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
        && !uri.chars().any(char::is_whitespace)
}

fn string_list(metadata: &Value, name: &str) -> Result<Option<Vec<String>>, RegistrationError> {
    match metadata.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    invalid(
                        "invalid_client_metadata",
                        format!("{name} must be a list of strings"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(
            "invalid_client_metadata",
            format!("{name} must be a list of strings"),
        )),
    }
}

/// The display name: `client_name` without control characters, at most 80 characters, or
/// `MCP client`.
fn display_name(metadata: &Value) -> String {
    let raw = metadata
        .get("client_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).take(80).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "MCP client".into()
    } else {
        cleaned.to_string()
    }
}

/// Registers a native public client from RFC 7591 client metadata sent from `address`; returns
/// the client information response (RFC 7591 §3.2.1) to answer with `201`.
///
/// # Errors
/// [`RegistrationError`] for metadata that is not acceptable (see the module documentation) or
/// too many registrations; store failures as `Err(Ok(CoreError))`.
pub async fn register(
    state: &AppState,
    metadata: &Value,
    address: &str,
) -> CoreResult<Result<Value, RegistrationError>> {
    let checked = check(metadata);
    let (redirect_uris, name) = match checked {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let key = format!("oauth-register:{address}");
    let now = Utc::now();
    if state
        .store
        .count_failed_logins(&key, now - Duration::hours(1))
        .await?
        >= MAX_PER_ADDRESS_PER_HOUR
    {
        return Ok(Err(RegistrationError::TooMany));
    }
    // Counted as attempts under the key (the login-throttling table), never reset.
    state.store.record_login_attempt(&key, false, now).await?;
    let client_id = jhe_kdf::random_token(40);
    state
        .store
        .create_client(NewOAuthClient {
            id: None,
            client_id: client_id.clone(),
            redirect_uris: redirect_uris.join(" "),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            client_secret: String::new(),
            name: format!("{name}{NAME_SUFFIX}"),
            user_id: None,
            skip_authorization: false,
            algorithm: "RS256".into(),
        })
        .await?;
    tracing::info!(%address, client = %name, "OAuth client self-registered (RFC 7591)");
    Ok(Ok(json!({
        "client_id": client_id,
        "client_id_issued_at": now.timestamp(),
        "client_name": name,
        "redirect_uris": redirect_uris,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    })))
}

fn check(metadata: &Value) -> Result<(Vec<String>, String), RegistrationError> {
    if !metadata.is_object() {
        return Err(invalid(
            "invalid_client_metadata",
            "the body must be a JSON object of client metadata",
        ));
    }
    let redirect_uris = string_list(metadata, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(invalid("invalid_redirect_uri", "redirect_uris is required"));
    }
    if redirect_uris.len() > 10 {
        return Err(invalid("invalid_redirect_uri", "at most 10 redirect_uris"));
    }
    if let Some(bad) = redirect_uris
        .iter()
        .find(|u| u.len() > 500 || !is_loopback_redirect(u))
    {
        return Err(invalid(
            "invalid_redirect_uri",
            format!(
                "only loopback http redirect URIs (http://127.0.0.1:<port>/…, http://[::1]:<port>/…, http://localhost:<port>/…) can be registered here; got '{bad}'"
            ),
        ));
    }
    match metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("none") => {}
        Some(other) => {
            return Err(invalid(
                "invalid_client_metadata",
                format!(
                    "only public clients (token_endpoint_auth_method \"none\") can register; got '{other}'"
                ),
            ));
        }
    }
    if let Some(grants) = string_list(metadata, "grant_types")?
        && let Some(bad) = grants
            .iter()
            .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(invalid(
            "invalid_client_metadata",
            format!("unsupported grant type '{bad}'"),
        ));
    }
    if let Some(types) = string_list(metadata, "response_types")?
        && types.iter().any(|t| t != "code")
    {
        return Err(invalid(
            "invalid_client_metadata",
            "only the response type 'code' is supported",
        ));
    }
    Ok((redirect_uris, display_name(metadata)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_redirects() {
        for good in [
            "http://127.0.0.1:33418/callback",
            "http://localhost:6274/oauth/callback",
            "http://[::1]:8080/cb",
            "http://127.0.0.1/cb",
        ] {
            assert!(is_loopback_redirect(good), "{good}");
        }
        for bad in [
            "https://evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://user@127.0.0.1:1/cb",
            "http://127.0.0.1:1/cb#frag",
            "https://localhost/cb",
            "myapp://callback",
            "not a url",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn metadata_checks() {
        assert!(matches!(
            check(&json!({})),
            Err(RegistrationError::Invalid {
                code: "invalid_redirect_uri",
                ..
            })
        ));
        assert!(matches!(
            check(&json!({"redirect_uris": ["http://127.0.0.1:1/cb"],
                          "token_endpoint_auth_method": "client_secret_basic"})),
            Err(RegistrationError::Invalid {
                code: "invalid_client_metadata",
                ..
            })
        ));
        assert!(matches!(
            check(&json!({"redirect_uris": ["http://127.0.0.1:1/cb"],
                          "grant_types": ["client_credentials"]})),
            Err(RegistrationError::Invalid {
                code: "invalid_client_metadata",
                ..
            })
        ));
        let (uris, name) = check(&json!({"redirect_uris": ["http://127.0.0.1:1/cb"],
            "client_name": "Claude\u{7}"}))
        .unwrap();
        assert_eq!((uris.len(), name.as_str()), (1, "Claude"));
    }
}
