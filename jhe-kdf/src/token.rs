//! Random tokens, unusable-password markers and SHA-256 fingerprints.

use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};

use crate::{KdfError, UNUSABLE_PASSWORD_PREFIX};

/// The 62 characters `[A-Za-z0-9]` random tokens are drawn from.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Number of random characters after the `!` of an unusable password (Django's
/// `UNUSABLE_PASSWORD_SUFFIX_LENGTH`).
const UNUSABLE_PASSWORD_SUFFIX_LENGTH: usize = 40;

/// Fills a string with `len` uniformly distributed characters of [`ALPHABET`], rejecting random
/// bytes ≥ 248 (= 4 × 62) to avoid modulo bias.
fn alphanumeric<R: TryRngCore>(rng: &mut R, len: usize) -> Result<String, R::Error> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.try_fill_bytes(&mut buf)?;
        for &byte in &buf {
            if out.len() == len {
                break;
            }
            if let Some(&c) = ALPHABET.get(usize::from(byte) % 62).filter(|_| byte < 248) {
                out.push(char::from(c));
            }
        }
    }
    Ok(out)
}

/// Returns `len` random characters from `[A-Za-z0-9]` (≈ 5.95 bits each) drawn from the
/// operating system's random number generator. Meant for opaque OAuth access/refresh tokens,
/// authorization codes and similar secrets; store them with [`sha256_hex`].
///
/// # Panics
/// If the OS random number generator fails, which does not happen on supported platforms once
/// the system is booted. Use [`try_random_token`] to handle that case as an error.
#[must_use]
pub fn random_token(len: usize) -> String {
    match alphanumeric(&mut OsRng.unwrap_err(), len) {
        Ok(token) => token,
        Err(never) => match never {},
    }
}

/// Like [`random_token`] but reports a failure of the OS random number generator as an error.
///
/// # Errors
/// [`KdfError::Rng`] if the OS random number generator fails.
pub fn try_random_token(len: usize) -> Result<String, KdfError> {
    Ok(alphanumeric(&mut OsRng, len)?)
}

/// Returns a Django-style unusable password: `!` followed by 40 random `[A-Za-z0-9]`
/// characters. [`crate::verify_password`] never accepts it, whatever the password.
///
/// # Panics
/// If the OS random number generator fails (see [`random_token`]).
#[must_use]
pub fn unusable_password() -> String {
    let mut out = String::with_capacity(1 + UNUSABLE_PASSWORD_SUFFIX_LENGTH);
    out.push_str(UNUSABLE_PASSWORD_PREFIX);
    out.push_str(&random_token(UNUSABLE_PASSWORD_SUFFIX_LENGTH));
    out
}

/// SHA-256 of the UTF-8 bytes of `input`, as 64 lowercase hexadecimal characters. Used to store
/// opaque tokens so that a database leak does not reveal usable tokens.
#[must_use]
pub fn sha256_hex(input: &str) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn random_token_shape() {
        for len in [0, 1, 32, 63, 64, 65, 200] {
            let token = random_token(len);
            assert_eq!(token.len(), len);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
        }
        let Ok(token) = try_random_token(30) else {
            unreachable!("OS RNG failed")
        };
        assert_eq!(token.len(), 30);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn random_tokens_differ_and_cover_alphabet() {
        let tokens: HashSet<String> = (0..100).map(|_| random_token(32)).collect();
        assert_eq!(tokens.len(), 100);
        let chars: HashSet<char> = tokens.iter().flat_map(|t| t.chars()).collect();
        // 3200 draws from 62 symbols: all of them show up with overwhelming probability.
        assert_eq!(chars.len(), 62);
    }

    #[test]
    fn alphanumeric_rejects_biased_bytes() {
        /// A fake RNG that yields a fixed repeating byte sequence.
        struct Fixed(Vec<u8>, usize);
        impl rand::RngCore for Fixed {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dst: &mut [u8]) {
                for b in dst {
                    *b = self.0.get(self.1 % self.0.len()).copied().unwrap_or(0);
                    self.1 += 1;
                }
            }
        }
        let mut rng = Fixed(vec![255, 248, 0, 61, 62, 247], 0);
        let Ok(s) = alphanumeric(&mut rng, 8);
        // 255 and 248 are skipped; 0 -> 'A', 61 -> '9', 62 -> 'A', 247 -> 247 % 62 = 61 -> '9'.
        assert_eq!(s, "A9A9A9A9");
    }

    #[test]
    #[allow(clippy::string_slice)]
    fn unusable_password_shape() {
        let p = unusable_password();
        assert_eq!(p.len(), 41);
        assert!(p.starts_with('!'));
        assert!(p[1..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(p, unusable_password());
    }

    #[test]
    fn sha256_hex_vectors() {
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
