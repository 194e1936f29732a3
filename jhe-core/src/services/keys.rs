//! ID-token signing keys: RS256, kept in the database so that every replica signs with the same
//! key; rotation keeps retired public keys published.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::BigNumRef;
use openssl::rsa::Rsa;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::domain::{NewSigningKey, SigningKey};
use crate::error::{CoreError, CoreResult};
use crate::store::Store;

/// The public half of an RSA key as a JWK, and its RFC 7638 thumbprint (`kid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// RFC 7638 SHA-256 thumbprint, base64url.
    pub kid: String,
    /// The JWK (`kty`, `alg`, `use`, `kid`, `n`, `e`).
    pub jwk: serde_json::Value,
}

fn b64_bn(n: &BigNumRef) -> String {
    URL_SAFE_NO_PAD.encode(n.to_vec())
}

/// Reads a PEM RSA private key (PKCS#1 or PKCS#8) and returns it as PKCS#1 PEM plus its JWK.
pub fn load_private_key(pem: &str) -> CoreResult<(String, PublicJwk)> {
    let rsa = Rsa::private_key_from_pem(pem.as_bytes()).map_err(|e| {
        CoreError::Internal(format!(
            "OIDC_RSA_PRIVATE_KEY is not a PEM RSA private key: {e}"
        ))
    })?;
    if rsa.size() < 256 {
        return Err(CoreError::Internal(
            "OIDC_RSA_PRIVATE_KEY must be at least 2048 bits".into(),
        ));
    }
    let pkcs1 = rsa
        .private_key_to_pem()
        .map_err(|e| CoreError::Internal(format!("cannot encode the RSA key: {e}")))?;
    let pkcs1 = String::from_utf8(pkcs1).map_err(|e| CoreError::Internal(e.to_string()))?;
    let n = b64_bn(rsa.n());
    let e = b64_bn(rsa.e());
    // RFC 7638: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let jwk =
        serde_json::json!({"alg": "RS256", "use": "sig", "kid": kid, "e": e, "kty": "RSA", "n": n});
    Ok((pkcs1, PublicJwk { kid, jwk }))
}

/// Generates a new 2048-bit RSA key as PKCS#1 PEM.
pub fn generate_private_key() -> CoreResult<String> {
    let rsa = Rsa::generate(2048)
        .map_err(|e| CoreError::Internal(format!("cannot generate an RSA key: {e}")))?;
    let pem = rsa
        .private_key_to_pem()
        .map_err(|e| CoreError::Internal(format!("cannot encode the RSA key: {e}")))?;
    String::from_utf8(pem).map_err(|e| CoreError::Internal(e.to_string()))
}

/// Makes sure an active signing key exists and returns it.
///
/// With `OIDC_RSA_PRIVATE_KEY` set, that key is stored (once) and made active. Otherwise the
/// active key of the database is used, and on first start a key is generated, stored and a
/// warning logged (set `OIDC_RSA_PRIVATE_KEY` in production to control the key yourself).
pub async fn ensure_signing_key(store: &dyn Store, config: &Config) -> CoreResult<SigningKey> {
    let existing = store.list_signing_keys().await?;
    if let Some(pem) = &config.oidc_rsa_private_key {
        let (pkcs1, public) = load_private_key(pem)?;
        if let Some(key) = existing.iter().find(|k| k.kid == public.kid) {
            if !key.active {
                store.activate_signing_key(&key.kid).await?;
            }
        } else {
            store
                .add_signing_key(
                    NewSigningKey {
                        kid: public.kid.clone(),
                        algorithm: "RS256".into(),
                        private_key_pem: pkcs1,
                        public_jwk: public.jwk.to_string(),
                    },
                    true,
                )
                .await?;
        }
        return active_key(store).await;
    }
    if existing.iter().any(|k| k.active) {
        return active_key(store).await;
    }
    tracing::warn!(
        "OIDC_RSA_PRIVATE_KEY is not set: generated an RS256 signing key and stored it in the database"
    );
    let pem = generate_private_key()?;
    let (pkcs1, public) = load_private_key(&pem)?;
    store
        .add_signing_key(
            NewSigningKey {
                kid: public.kid,
                algorithm: "RS256".into(),
                private_key_pem: pkcs1,
                public_jwk: public.jwk.to_string(),
            },
            true,
        )
        .await?;
    active_key(store).await
}

/// The active signing key.
pub async fn active_key(store: &dyn Store) -> CoreResult<SigningKey> {
    store
        .list_signing_keys()
        .await?
        .into_iter()
        .find(|k| k.active)
        .ok_or_else(|| CoreError::Internal("no active signing key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_with_a_stable_thumbprint() {
        let pem = generate_private_key().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let (pkcs1, a) = load_private_key(&pem).unwrap();
        let (_, b) = load_private_key(&pkcs1).unwrap();
        assert_eq!(a.kid, b.kid);
        assert_eq!(a.jwk["e"], "AQAB");
        assert_eq!(a.jwk["kid"], a.kid.as_str());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(load_private_key("not a key").is_err());
    }
}
