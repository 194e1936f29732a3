//! Password hashing and opaque-token helpers for jhe-rs.
//!
//! * New passwords are hashed with **argon2id** ([`hash_password`]) and stored as a PHC string
//!   (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), using the `argon2` crate defaults
//!   (the OWASP-recommended parameters).
//! * [`verify_password`] also accepts the legacy Django hashes found in databases created by the
//!   Python JupyterHealth Exchange (`pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`, and
//!   Django's `argon2$argon2id$…` variant) and reports via [`Verification::Valid`]'s
//!   `needs_rehash` flag that the caller should store a fresh [`hash_password`] result after a
//!   successful login.
//! * [`random_token`] and [`sha256_hex`] back opaque OAuth tokens and codes, which are handed to
//!   clients in clear and stored hashed.
//!
//! All KDF work happens in non-generic, non-inline functions of this crate so that the
//! workspace's `[profile.dev.package.jhe-kdf] opt-level = 3` applies to the hot loops even in
//! debug builds (see STACK.md, gotcha 6).

#![warn(missing_docs)]

mod argon;
mod django;
mod token;

pub use argon::{MAX_ARGON2_M_COST_KIB, MAX_ARGON2_P_COST, MAX_ARGON2_T_COST, hash_password};
pub use django::{MAX_PBKDF2_ITERATIONS, make_django_pbkdf2};
pub use token::{random_token, sha256_hex, try_random_token, unusable_password};

/// Prefix Django uses to mark a password as unusable (no password can ever match it).
pub const UNUSABLE_PASSWORD_PREFIX: &str = "!";

/// Errors returned by the fallible functions of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KdfError {
    /// Argon2 hashing failed (in practice only if the OS random number generator fails to
    /// produce a salt).
    #[error("argon2 password hashing failed: {0}")]
    Argon2(argon2::password_hash::Error),
    /// The operating system's random number generator failed.
    #[error("OS random number generator failed: {0}")]
    Rng(#[from] rand::rand_core::OsError),
}

/// Outcome of [`verify_password`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verification {
    /// The password matches the stored hash.
    Valid {
        /// `true` when the stored hash is not an argon2id PHC string with parameters at least as
        /// strong as the current defaults (e.g. a legacy Django `pbkdf2_sha256` hash): the caller
        /// should replace it with [`hash_password`]'s output.
        needs_rehash: bool,
    },
    /// The password does not match, the stored value is unusable (`!…`, empty), malformed, uses
    /// an unsupported algorithm, or asks for an unreasonable amount of work.
    Invalid,
}

impl Verification {
    /// `true` for [`Verification::Valid`], whatever `needs_rehash` says.
    #[must_use]
    pub fn is_valid(self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

/// Checks `password` against a stored password hash.
///
/// Accepted formats of `stored`:
/// * argon2 PHC strings (`$argon2id$…`, also `$argon2i$…` / `$argon2d$…`);
///   `needs_rehash` is `true` unless it is argon2id version 19 with `m`, `t`, `p` and output
///   length all at least the current defaults;
/// * Django `pbkdf2_sha256$<iterations>$<salt>$<base64 sha256>`, compared in constant time
///   exactly like Django does (the whole re-encoded string must match); `needs_rehash` is always
///   `true`;
/// * Django `argon2$argon2…` (Django's `Argon2PasswordHasher` format, a PHC string prefixed with
///   `argon2`); `needs_rehash` is always `true` so it migrates to the bare PHC format.
///
/// Everything else yields [`Verification::Invalid`]: unusable passwords (starting with `!`),
/// the empty string, malformed or unknown formats, pbkdf2 iteration counts of 0 or above
/// [`MAX_PBKDF2_ITERATIONS`], and argon2 parameters above [`MAX_ARGON2_M_COST_KIB`],
/// [`MAX_ARGON2_T_COST`] or [`MAX_ARGON2_P_COST`]. This function never panics.
pub fn verify_password(password: &str, stored: &str) -> Verification {
    if stored.is_empty() || stored.starts_with(UNUSABLE_PASSWORD_PREFIX) {
        return Verification::Invalid;
    }
    if stored.starts_with('$') {
        return argon::verify_phc(password, stored);
    }
    if let Some(phc) = stored.strip_prefix("argon2")
        && phc.starts_with("$argon2")
    {
        return match argon::verify_phc(password, phc) {
            Verification::Valid { .. } => Verification::Valid { needs_rehash: true },
            Verification::Invalid => Verification::Invalid,
        };
    }
    if stored.starts_with(django::PBKDF2_SHA256_PREFIX) {
        return django::verify_pbkdf2_sha256(password, stored);
    }
    Verification::Invalid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_and_empty_are_invalid() {
        assert_eq!(verify_password("", ""), Verification::Invalid);
        assert_eq!(verify_password("x", ""), Verification::Invalid);
        assert_eq!(verify_password("", "!"), Verification::Invalid);
        let unusable = unusable_password();
        assert_eq!(verify_password("", &unusable), Verification::Invalid);
        assert_eq!(verify_password(&unusable, &unusable), Verification::Invalid);
        assert_eq!(verify_password("!", &unusable), Verification::Invalid);
        // A '!'-prefixed copy of a valid hash is still unusable.
        let hash = make_django_pbkdf2("pw", "salt", 1);
        assert!(verify_password("pw", &hash).is_valid());
        assert_eq!(
            verify_password("pw", &format!("!{hash}")),
            Verification::Invalid
        );
    }

    #[test]
    fn malformed_strings_are_invalid_without_panicking() {
        let cases = [
            "$",
            "$$$$",
            "$argon2id",
            "$argon2id$",
            "$argon2id$v=19",
            "$argon2id$v=19$m=19456,t=2,p=1",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$!!!!",
            "$argon2id$v=99$m=19456,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=1,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=19456,t=2,p=0$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=-5,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=99999999999999999999,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=19456,t=2,p=1$$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$CTFh",
            "$argon2x$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$pbkdf2-sha256$i=1000$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "argon2",
            "argon2$",
            "argon2$argon2id",
            "argon2$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$CTFh",
            "argon2argon2id$v=19",
            "pbkdf2_sha256",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$$$",
            "pbkdf2_sha256$abc$salt$hash",
            "pbkdf2_sha256$-1$salt$hash",
            "pbkdf2_sha256$0$salt$hash",
            "pbkdf2_sha256$1$$hash",
            "pbkdf2_sha256$1$salt",
            "pbkdf2_sha256$1$salt$",
            "pbkdf2_sha256$99999999999999999999999$salt$hash",
            "pbkdf2_sha1$1$salt$hash",
            "md5$salt$hash",
            "plaintext",
            "ñ$ü$€$😀",
            "\0",
        ];
        for stored in cases {
            for password in ["", "password", "x"] {
                assert_eq!(
                    verify_password(password, stored),
                    Verification::Invalid,
                    "{stored:?} with {password:?}"
                );
            }
        }
    }

    #[test]
    fn absurd_work_factors_are_rejected_before_hashing() {
        // These would take minutes or gigabytes if actually computed; they must be rejected
        // immediately.
        let start = std::time::Instant::now();
        let pbkdf2 = format!(
            "pbkdf2_sha256${}$salt$ZagzBWJ36ucEpQJ1lKXYssj86VoNYr0fyY3rgb6dan0=",
            MAX_PBKDF2_ITERATIONS + 1
        );
        assert_eq!(verify_password("x", &pbkdf2), Verification::Invalid);
        let pbkdf2 = "pbkdf2_sha256$4294967295$salt$ZagzBWJ36ucEpQJ1lKXYssj86VoNYr0fyY3rgb6dan0=";
        assert_eq!(verify_password("x", pbkdf2), Verification::Invalid);
        let big_m = format!(
            "$argon2id$v=19$m={},t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            MAX_ARGON2_M_COST_KIB + 1
        );
        assert_eq!(verify_password("x", &big_m), Verification::Invalid);
        let big_m = "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        assert_eq!(verify_password("x", big_m), Verification::Invalid);
        let big_t = format!(
            "$argon2id$v=19$m=19456,t={},p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            MAX_ARGON2_T_COST + 1
        );
        assert_eq!(verify_password("x", &big_t), Verification::Invalid);
        let big_p = format!(
            "$argon2id$v=19$m=262144,t=1,p={}$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            MAX_ARGON2_P_COST + 1
        );
        assert_eq!(verify_password("x", &big_p), Verification::Invalid);
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }

    #[test]
    fn error_display() {
        let err = KdfError::Argon2(argon2::password_hash::Error::Crypto);
        assert!(
            err.to_string()
                .starts_with("argon2 password hashing failed")
        );
    }
}
