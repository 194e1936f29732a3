//! Django's `pbkdf2_sha256` password hashes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::Verification;

/// Algorithm name and separator that start a Django PBKDF2-HMAC-SHA256 hash.
pub(crate) const PBKDF2_SHA256_PREFIX: &str = "pbkdf2_sha256$";

/// Largest PBKDF2 iteration count [`crate::verify_password`] agrees to compute. Django 6.0 uses
/// 1,200,000 for new hashes; anything above this bound is treated as invalid to avoid a
/// denial of service through a crafted stored hash.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Builds a Django `pbkdf2_sha256` password hash, byte-for-byte what Django's
/// `make_password(password, salt=salt, hasher="pbkdf2_sha256")` produces with the given
/// iteration count: `pbkdf2_sha256$<iterations>$<salt>$<base64(PBKDF2-HMAC-SHA256, 32 bytes)>`.
///
/// The password and salt are used as UTF-8 bytes. Used in tests and to import accounts.
/// Django refuses empty salts, salts containing `$` and 0 iterations; this function does not
/// check, but [`crate::verify_password`] rejects such strings (and iteration counts above
/// [`MAX_PBKDF2_ITERATIONS`]).
pub fn make_django_pbkdf2(password: &str, salt: &str, iterations: u32) -> String {
    let derived =
        pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt.as_bytes(), iterations);
    format!(
        "{PBKDF2_SHA256_PREFIX}{iterations}${salt}${}",
        STANDARD.encode(derived)
    )
}

/// Verifies `password` against `stored`, which starts with [`PBKDF2_SHA256_PREFIX`].
///
/// Like Django's `PBKDF2PasswordHasher.verify`, the hash is recomputed with the stored salt and
/// iteration count, re-encoded, and the whole string compared in constant time, so only
/// canonical encodings match.
pub(crate) fn verify_pbkdf2_sha256(password: &str, stored: &str) -> Verification {
    let Some(rest) = stored.strip_prefix(PBKDF2_SHA256_PREFIX) else {
        return Verification::Invalid;
    };
    let mut parts = rest.splitn(3, '$');
    let (Some(iterations), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next())
    else {
        return Verification::Invalid;
    };
    if salt.is_empty() || hash.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return Verification::Invalid;
    }
    let Ok(iterations) = iterations.parse::<u32>() else {
        return Verification::Invalid;
    };
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return Verification::Invalid;
    }
    let expected = make_django_pbkdf2(password, salt, iterations);
    if bool::from(expected.as_bytes().ct_eq(stored.as_bytes())) {
        Verification::Valid { needs_rehash: true }
    } else {
        Verification::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_password;
    use std::time::Instant;

    /// Django's `make_password("Jhe1234!", salt="Hrxk93CVKgRSGJdyusw4go",
    /// hasher="pbkdf2_sha256")` at 870000 iterations. The hash part was computed with
    /// `python3 -c "import hashlib,base64;print(base64.b64encode(hashlib.pbkdf2_hmac('sha256',
    /// b'Jhe1234!',b'Hrxk93CVKgRSGJdyusw4go',870000)).decode())"`.
    const SEED_HASH: &str =
        "pbkdf2_sha256$870000$Hrxk93CVKgRSGJdyusw4go$ZagzBWJ36ucEpQJ1lKXYssj86VoNYr0fyY3rgb6dan0=";

    #[test]
    fn make_matches_django_vector() {
        assert_eq!(
            make_django_pbkdf2("Jhe1234!", "Hrxk93CVKgRSGJdyusw4go", 870_000),
            SEED_HASH
        );
    }

    #[test]
    fn verify_django_vector_with_timing() {
        let start = Instant::now();
        let verification = verify_password("Jhe1234!", SEED_HASH);
        eprintln!(
            "pbkdf2_sha256 870000-iteration verify: {:?}",
            start.elapsed()
        );
        assert_eq!(verification, Verification::Valid { needs_rehash: true });
    }

    #[test]
    fn wrong_password_is_invalid() {
        assert_eq!(
            verify_password("jhe1234!", SEED_HASH),
            Verification::Invalid
        );
    }

    #[test]
    fn small_vectors_from_python_hashlib() {
        // base64(hashlib.pbkdf2_hmac('sha256', b'', b'salt', 1))
        assert_eq!(
            make_django_pbkdf2("", "salt", 1),
            "pbkdf2_sha256$1$salt$8TXCeZO6+Ydzxc20ClcGzmo0XN5hsACmeFhlDNajJNc="
        );
        // base64(hashlib.pbkdf2_hmac('sha256', 'pässwörd'.encode(), b'abcDEF123', 1000))
        let stored = "pbkdf2_sha256$1000$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=";
        assert_eq!(make_django_pbkdf2("pässwörd", "abcDEF123", 1000), stored);
        assert_eq!(
            verify_password("pässwörd", stored),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(verify_password("passwort", stored), Verification::Invalid);
        assert_eq!(
            verify_password(
                "",
                "pbkdf2_sha256$1$salt$8TXCeZO6+Ydzxc20ClcGzmo0XN5hsACmeFhlDNajJNc="
            ),
            Verification::Valid { needs_rehash: true }
        );
    }

    #[test]
    fn non_canonical_encodings_are_invalid() {
        let good = "pbkdf2_sha256$1000$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=";
        for bad in [
            // leading zero / sign in the iteration count
            "pbkdf2_sha256$01000$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=",
            "pbkdf2_sha256$+1000$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=",
            // missing padding, trailing data, different salt, different iteration count
            "pbkdf2_sha256$1000$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w",
            "pbkdf2_sha256$1000$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=$",
            "pbkdf2_sha256$1000$abcDEF124$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=",
            "pbkdf2_sha256$1001$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=",
            "PBKDF2_SHA256$1000$abcDEF123$VEMLqqTNCOr/Lgy7oinANegwLaLy4S3XIbh6CnM/g2w=",
        ] {
            assert_eq!(
                verify_password("pässwörd", bad),
                Verification::Invalid,
                "{bad}"
            );
        }
        assert!(verify_password("pässwörd", good).is_valid());
    }
}
