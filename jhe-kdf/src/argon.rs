//! argon2 PHC strings: hashing new passwords and verifying stored ones.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::{KdfError, Verification};

/// Largest argon2 memory cost (`m`, in KiB) [`crate::verify_password`] agrees to compute:
/// 256 MiB. Stored hashes asking for more are treated as invalid rather than risking memory
/// exhaustion. The current default is 19 MiB (19456 KiB); Django's is 100 MiB.
pub const MAX_ARGON2_M_COST_KIB: u32 = 256 * 1024;

/// Largest argon2 time cost (`t`, passes over memory) [`crate::verify_password`] agrees to
/// compute. The current default is 2.
pub const MAX_ARGON2_T_COST: u32 = 32;

/// Largest argon2 parallelism (`p`, lanes) [`crate::verify_password`] agrees to compute.
/// The current default is 1; Django's is 8.
pub const MAX_ARGON2_P_COST: u32 = 64;

/// Hashes `password` with argon2id and the `argon2` crate's default parameters
/// (version 19, m = 19456 KiB, t = 2, p = 1, 32-byte output: the OWASP recommendation)
/// and a random 16-byte salt from the OS random number generator.
///
/// Returns the PHC string, e.g. `$argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>`.
///
/// # Errors
/// [`KdfError::Argon2`] if the OS random number generator fails (argon2 itself cannot fail with
/// the default parameters and a valid salt).
pub fn hash_password(password: &str) -> Result<String, KdfError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(KdfError::Argon2)
}

/// Verifies `password` against an argon2 PHC string (`$argon2id$…`, `$argon2i$…`, `$argon2d$…`).
pub(crate) fn verify_phc(password: &str, stored: &str) -> Verification {
    let Ok(hash) = PasswordHash::new(stored) else {
        return Verification::Invalid;
    };
    let Ok(algorithm) = Algorithm::new(hash.algorithm.as_str()) else {
        return Verification::Invalid;
    };
    // Salt and hash output are optional in the PHC grammar but required to verify anything.
    let (Some(_), Some(output)) = (&hash.salt, &hash.hash) else {
        return Verification::Invalid;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return Verification::Invalid;
    };
    if params.m_cost() > MAX_ARGON2_M_COST_KIB
        || params.t_cost() > MAX_ARGON2_T_COST
        || params.p_cost() > MAX_ARGON2_P_COST
    {
        return Verification::Invalid;
    }
    // An absent version means 0x10 in the reference implementation, but the argon2 crate would
    // compute it as 0x13; only accept what the crate computes faithfully.
    let Some(version) = hash.version.and_then(|v| Version::try_from(v).ok()) else {
        return Verification::Invalid;
    };

    // The hash's own algorithm, version and parameters are used, not the instance's.
    if Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_err()
    {
        return Verification::Invalid;
    }

    let needs_rehash = algorithm != Algorithm::Argon2id
        || version != Version::V0x13
        || params.m_cost() < Params::DEFAULT_M_COST
        || params.t_cost() < Params::DEFAULT_T_COST
        || params.p_cost() < Params::DEFAULT_P_COST
        || output.len() < Params::DEFAULT_OUTPUT_LEN;
    Verification::Valid { needs_rehash }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_password;
    use std::time::Instant;

    /// Reference vectors for the password "password" from the argon2 crate's test suite
    /// (adapted from phc-winner-argon2's `src/test.c`).
    const REF_ARGON2I: &str = "$argon2i$v=19$m=65536,t=1,p=1$c29tZXNhbHQAAAAAAAAAAA$+r0d29hqEB0yasKr55ZgICsQGSkl0v0kgwhd+U3wyRo";
    const REF_ARGON2ID: &str =
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    const REF_ARGON2D_V16_DATA: &str = "$argon2d$v=16$m=32,t=2,p=3,data=Dw8PDw8P$AAAAAAAAAAA$KnH4gniiaFnDvlA1xev3yovC4cnrrI6tnHOYtmja90o";

    #[test]
    fn hash_then_verify_roundtrip_with_timing() {
        let start = Instant::now();
        let Ok(hash) = hash_password("Jhe1234!") else {
            unreachable!("hashing with the OS RNG failed")
        };
        let hashed = start.elapsed();
        let verification = verify_password("Jhe1234!", &hash);
        let total = start.elapsed();
        eprintln!("argon2id hash: {hashed:?}, hash+verify: {total:?}");
        assert_eq!(
            verification,
            Verification::Valid {
                needs_rehash: false
            }
        );
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(verify_password("jhe1234!", &hash), Verification::Invalid);
        assert_eq!(verify_password("", &hash), Verification::Invalid);
    }

    #[test]
    fn salts_are_random() {
        let (Ok(a), Ok(b)) = (hash_password("same"), hash_password("same")) else {
            unreachable!("hashing with the OS RNG failed")
        };
        assert_ne!(a, b);
        assert!(verify_password("same", &a).is_valid());
        assert!(verify_password("same", &b).is_valid());
    }

    #[test]
    fn reference_vectors() {
        // argon2id, m=64 MiB t=2 p=1: stronger than the defaults, no rehash needed.
        assert_eq!(
            verify_password("password", REF_ARGON2ID),
            Verification::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            verify_password("sassword", REF_ARGON2ID),
            Verification::Invalid
        );
        // argon2i: valid but not argon2id, and t=1.
        assert_eq!(
            verify_password("password", REF_ARGON2I),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(
            verify_password("sassword", REF_ARGON2I),
            Verification::Invalid
        );
        // argon2d, version 0x10, associated data, tiny memory.
        assert_eq!(
            verify_password("password", REF_ARGON2D_V16_DATA),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(
            verify_password("sassword", REF_ARGON2D_V16_DATA),
            Verification::Invalid
        );
    }

    #[test]
    fn weaker_parameters_need_rehash() {
        let salt = b"0123456789abcdef";
        let cases: [(u32, u32, u32, Option<usize>, Version, bool); 6] = [
            (Params::DEFAULT_M_COST, 2, 1, None, Version::V0x13, false),
            (Params::DEFAULT_M_COST - 1, 2, 1, None, Version::V0x13, true),
            (Params::DEFAULT_M_COST, 1, 1, None, Version::V0x13, true),
            (Params::DEFAULT_M_COST, 2, 1, Some(16), Version::V0x13, true),
            (Params::DEFAULT_M_COST, 2, 1, None, Version::V0x10, true),
            (
                Params::DEFAULT_M_COST * 2,
                3,
                2,
                Some(64),
                Version::V0x13,
                false,
            ),
        ];
        for (m, t, p, out, version, expected) in cases {
            let Ok(params) = Params::new(m, t, p, out) else {
                unreachable!("invalid test params")
            };
            let Ok(hash) = Argon2::new(Algorithm::Argon2id, version, params)
                .hash_password_with_salt(b"pw", salt)
            else {
                unreachable!("hashing failed")
            };
            let hash = hash.to_string();
            assert_eq!(
                verify_password("pw", &hash),
                Verification::Valid {
                    needs_rehash: expected
                },
                "{hash}"
            );
            assert_eq!(verify_password("pW", &hash), Verification::Invalid);
        }
    }

    #[test]
    fn missing_version_is_invalid() {
        let stored =
            "$argon2id$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        assert_eq!(verify_password("password", stored), Verification::Invalid);
    }

    #[test]
    fn django_argon2_prefix_is_accepted_and_rehashed() {
        // Django's Argon2PasswordHasher stores "argon2" + the PHC string.
        let stored = format!("argon2{REF_ARGON2ID}");
        assert_eq!(
            verify_password("password", &stored),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(verify_password("sassword", &stored), Verification::Invalid);
        assert_eq!(
            verify_password("password", &format!("argon2x{REF_ARGON2ID}")),
            Verification::Invalid
        );
    }
}
