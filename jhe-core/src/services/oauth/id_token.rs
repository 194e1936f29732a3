//! RS256 ID tokens, the JWKS and the OpenID Connect discovery document.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{CoreError, CoreResult};
use crate::services::keys::active_key;
use crate::store::Store;

/// The claims of an ID token (OpenID Connect Core §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdTokenClaims {
    /// Issuer, `<SITE_URL>/o`.
    pub iss: String,
    /// Audience: the client's `client_id`.
    pub aud: String,
    /// Subject: the user id as a string.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// When the user authenticated (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Unique token id (UUID v4).
    pub jti: String,
    /// Left half of the SHA-256 of the access token, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The user's e-mail (scope `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The client's nonce, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// `at_hash` of an access token: base64url of the left half of its SHA-256 (RS256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    let (left, _) = digest.split_at(digest.len() / 2);
    URL_SAFE_NO_PAD.encode(left)
}

/// Makes sure jsonwebtoken has a crypto provider (STACK.md gotcha 2): it picks aws-lc-rs by
/// itself when only that feature is enabled; if another crate enabled `rust_crypto` too, install
/// aws-lc-rs explicitly instead of letting the first signature panic.
fn ensure_crypto_provider() -> CoreResult<()> {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_some() {
        return Ok(());
    }
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    jsonwebtoken::crypto::CryptoProvider::try_get_default()
        .map(|_| ())
        .ok_or_else(|| CoreError::Internal("no jsonwebtoken crypto provider".into()))
}

/// Signs ID token claims with the active signing key (header `kid` = its thumbprint).
pub async fn sign(store: &dyn Store, claims: &IdTokenClaims) -> CoreResult<String> {
    ensure_crypto_provider()?;
    let key = active_key(store).await?;
    let encoding = EncodingKey::from_rsa_pem(key.private_key_pem.as_bytes())
        .map_err(|e| CoreError::Internal(format!("unusable signing key {}: {e}", key.kid)))?;
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &encoding)
        .map_err(|e| CoreError::Internal(format!("cannot sign an ID token: {e}")))
}

/// The JWKS: every signing key, active and retired, so tokens signed before a rotation verify.
pub async fn jwks(store: &dyn Store) -> CoreResult<Value> {
    let keys: Vec<Value> = store
        .list_signing_keys()
        .await?
        .into_iter()
        .filter_map(|k| match serde_json::from_str::<Value>(&k.public_jwk) {
            Ok(jwk) => Some(jwk),
            Err(e) => {
                tracing::error!(kid = %k.kid, error = %e, "stored public JWK is not JSON");
                None
            }
        })
        .collect();
    Ok(json!({ "keys": keys }))
}

/// The claims the server can put in ID tokens.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "aud",
    "sub",
    "iat",
    "exp",
    "auth_time",
    "jti",
    "at_hash",
    "nonce",
    "email",
];

/// The OpenID Connect discovery document (`/.well-known/openid-configuration`), derived from what
/// the server supports.
pub fn discovery_document(config: &Config) -> Value {
    let issuer = super::issuer(config);
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize/"),
        "token_endpoint": format!("{issuer}/token/"),
        "userinfo_endpoint": format!("{issuer}/userinfo/"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{issuer}/revoke_token/"),
        "introspection_endpoint": format!("{issuer}/introspect/"),
        "registration_endpoint": format!("{issuer}/register/"),
        "scopes_supported": super::SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": [super::pkce::S256],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_half_the_sha256() {
        // 16 bytes -> 22 base64url characters.
        let h = at_hash("9lhWXkDRVN6UTTnSGbsjmmljkjrUwC");
        assert_eq!(h.len(), 22);
        assert_ne!(h, at_hash("another"));
    }

    #[test]
    fn discovery_names_our_endpoints() {
        let config = Config {
            site_url: "https://jhe.example.org".into(),
            ..Config::default()
        };
        let doc = discovery_document(&config);
        assert_eq!(doc["issuer"], "https://jhe.example.org/o");
        assert_eq!(doc["token_endpoint"], "https://jhe.example.org/o/token/");
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    }
}
