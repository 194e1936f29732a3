//! PKCE (RFC 7636), S256 only: `code_challenge = BASE64URL-NOPAD(SHA256(code_verifier))`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only supported challenge method.
pub const S256: &str = "S256";

/// Whether `s` is 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1 for verifiers; also the
/// shape of every S256 challenge, which is exactly 43 characters).
fn is_unreserved(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether a `code_verifier` has the RFC 7636 form (43–128 unreserved characters).
pub fn is_valid_verifier(verifier: &str) -> bool {
    is_unreserved(verifier, 43, 128)
}

/// Whether an S256 `code_challenge` has the right form (43 base64url characters).
pub fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The S256 challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` matches an S256 `challenge` (constant-time comparison).
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    let computed = s256_challenge(verifier);
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256_challenge(verifier), challenge);
        assert!(verify_s256(verifier, challenge));
        assert!(!verify_s256(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            challenge
        ));
        assert!(is_valid_verifier(verifier));
        assert!(is_valid_challenge(challenge));
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(!is_valid_verifier("short"));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}!", "a".repeat(50))));
        assert!(!is_valid_challenge("plain-challenge"));
        assert!(!is_valid_challenge(&"a".repeat(44)));
    }
}
