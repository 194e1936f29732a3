//! Signed, expiring links for e-mail verification and password reset.
//!
//! A token is `<base36 timestamp>-<hex HMAC-SHA256>` over the purpose, the user id, the timestamp
//! and a state string that changes once the link has been used (the verification flag, the
//! password hash), so a link works once and for a limited time, and needs no database row.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::domain::{Id, User};
use crate::error::CoreResult;
use crate::store::Store;

/// How long a link stays valid (3 days, as Django's `PASSWORD_RESET_TIMEOUT`).
pub const LINK_LIFETIME_SECS: i64 = 3 * 24 * 3600;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the e-mail address.
    VerifyEmail,
    /// Set a new password.
    ResetPassword,
}

impl Purpose {
    fn state(self, user: &User) -> String {
        match self {
            Purpose::VerifyEmail => format!("verify|{}|{}", user.email, user.email_is_verified),
            Purpose::ResetPassword => format!(
                "reset|{}|{}|{}",
                user.email,
                user.password,
                user.last_login.map(|t| t.timestamp()).unwrap_or_default()
            ),
        }
    }
}

/// The secret signing links: `SECRET_KEY`, else (loopback `SITE_URL` only) derived from the
/// active ID-token signing key, so every local replica agrees without extra configuration.
///
/// # Errors
/// [`CoreError::Internal`](crate::error::CoreError::Internal) without `SECRET_KEY` on a non-loopback site (the server refuses to
/// start in that case, see [`Config::check_link_secret`]); store errors.
pub async fn secret(store: &dyn Store, config: &Config) -> CoreResult<Vec<u8>> {
    if let Some(key) = &config.secret_key {
        return Ok(key.as_bytes().to_vec());
    }
    if let Err(refusal) = config.check_link_secret() {
        return Err(crate::error::CoreError::Internal(refusal.to_string()));
    }
    let key = crate::services::keys::ensure_signing_key(store, config).await?;
    Ok(Sha256::digest(format!("jhe-link-secret:{}", key.private_key_pem).as_bytes()).to_vec())
}

fn mac(secret: &[u8], purpose: Purpose, user: &User, timestamp: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{}|{}|{}", user.id, timestamp, purpose.state(user)).as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS.get((n % 36) as usize).copied().unwrap_or(b'0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A token for `user`, made at `now` (unix seconds).
pub fn make_token(secret: &[u8], purpose: Purpose, user: &User, now: i64) -> String {
    format!(
        "{}-{}",
        base36(now.max(0) as u64),
        mac(secret, purpose, user, now)
    )
}

/// Whether `token` is valid for `user` at `now`.
pub fn check_token(secret: &[u8], purpose: Purpose, user: &User, token: &str, now: i64) -> bool {
    let Some((ts, sig)) = token.split_once('-') else {
        return false;
    };
    let Ok(timestamp) = i64::from_str_radix(ts, 36) else {
        return false;
    };
    if timestamp > now + 60 || now - timestamp > LINK_LIFETIME_SECS {
        return false;
    }
    let expected = mac(secret, purpose, user, timestamp);
    !expected.is_empty()
        && subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), sig.as_bytes()).into()
}

/// URL-safe base64 (no padding) of the decimal user id, e.g. `MTAwMTU` for 10015.
pub fn uidb64(id: Id) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

/// Decodes [`uidb64`].
pub fn parse_uidb64(value: &str) -> Option<Id> {
    let bytes = URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 10015,
            email: "a@example.org".into(),
            password: "hash".into(),
            first_name: String::new(),
            last_name: String::new(),
            is_superuser: false,
            is_staff: false,
            is_active: true,
            date_joined: chrono::Utc::now(),
            last_login: None,
            email_is_verified: false,
            identifier: String::new(),
            user_type: None,
        }
    }

    #[test]
    fn uid_encoding_matches_django() {
        assert_eq!(uidb64(10015), "MTAwMTU");
        assert_eq!(parse_uidb64("MTAwMTU"), Some(10015));
        assert_eq!(parse_uidb64("!!"), None);
    }

    #[test]
    fn tokens_expire_and_die_when_the_state_changes() {
        let secret = b"s3cret";
        let mut u = user();
        let now = 1_800_000_000;
        let token = make_token(secret, Purpose::VerifyEmail, &u, now);
        assert!(check_token(
            secret,
            Purpose::VerifyEmail,
            &u,
            &token,
            now + 10
        ));
        assert!(
            !check_token(secret, Purpose::ResetPassword, &u, &token, now + 10),
            "purpose is bound"
        );
        assert!(
            !check_token(b"other", Purpose::VerifyEmail, &u, &token, now),
            "secret is bound"
        );
        assert!(!check_token(
            secret,
            Purpose::VerifyEmail,
            &u,
            &token,
            now + LINK_LIFETIME_SECS + 1
        ));
        u.email_is_verified = true;
        assert!(
            !check_token(secret, Purpose::VerifyEmail, &u, &token, now),
            "used links die"
        );
        let reset = make_token(secret, Purpose::ResetPassword, &u, now);
        u.password = "new hash".into();
        assert!(!check_token(
            secret,
            Purpose::ResetPassword,
            &u,
            &reset,
            now
        ));
        assert!(!check_token(
            secret,
            Purpose::VerifyEmail,
            &u,
            "garbage",
            now
        ));
        assert!(!check_token(secret, Purpose::VerifyEmail, &u, "zz-", now));
    }
}
