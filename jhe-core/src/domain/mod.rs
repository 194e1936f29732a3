//! Domain types of JupyterHealth Exchange.
//!
//! These types know nothing about HTTP or SQL: stores map them to rows, handlers map them to JSON.

/// Implements `Debug` for a struct, printing `[redacted]` for its secret fields.
///
/// Every field must be listed (the struct is destructured exhaustively), so a field added
/// later does not compile until someone decides whether it is secret.
macro_rules! debug_redacted {
    ($ty:ident { $($field:ident),* $(,)? } redact { $($secret:ident),+ $(,)? }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let Self { $($field,)* $($secret,)+ } = self;
                $(let _ = $secret;)+
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), $field))*
                    $(.field(stringify!($secret), &$crate::domain::Redacted))+
                    .finish()
            }
        }
    };
}
pub(crate) use debug_redacted;

/// Prints `[redacted]` in `Debug` output, in place of a secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

mod concept;
mod data_source;
mod oauth;
mod observation;
mod organization;
mod paging;
mod patient;
mod practitioner;
mod setting;
mod smart_scope;
mod study;
mod text;
mod user;

pub use concept::*;
pub use data_source::*;
pub use oauth::*;
pub use observation::*;
pub use organization::*;
pub use paging::*;
pub use patient::*;
pub use practitioner::*;
pub use setting::*;
pub use smart_scope::*;
pub use study::*;
pub use text::*;
pub use user::*;

/// Database identifier of every entity (64-bit, as in the original).
pub type Id = i64;

#[cfg(test)]
mod redaction_tests {
    use super::*;
    use chrono::Utc;

    const SECRET: &str = "s3cr3t-value-that-must-not-print";

    #[test]
    fn secrets_do_not_print_through_debug() {
        let now = Utc::now();
        let user = User {
            id: 1,
            email: "a@example.org".into(),
            password: SECRET.into(),
            first_name: String::new(),
            last_name: String::new(),
            is_superuser: false,
            is_staff: false,
            is_active: true,
            date_joined: now,
            last_login: None,
            email_is_verified: false,
            identifier: String::new(),
            user_type: None,
        };
        let new_user = NewUser {
            password: SECRET.into(),
            ..Default::default()
        };
        let key = SigningKey {
            id: 1,
            kid: "kid".into(),
            algorithm: "RS256".into(),
            private_key_pem: SECRET.into(),
            public_jwk: "{}".into(),
            active: true,
            created: now,
            retired: None,
        };
        let new_key = NewSigningKey {
            kid: "kid".into(),
            algorithm: "RS256".into(),
            private_key_pem: SECRET.into(),
            public_jwk: "{}".into(),
        };
        let grant = NewAuthorizationGrant {
            code_hash: SECRET.into(),
            application_id: 1,
            user_id: 1,
            expires: now,
            redirect_uri: "http://localhost/cb".into(),
            scope: "openid".into(),
            code_challenge: String::new(),
            code_challenge_method: "S256".into(),
            nonce: String::new(),
            claims: String::new(),
            auth_time: None,
        };
        let access = NewAccessToken {
            token_hash: SECRET.into(),
            user_id: Some(1),
            application_id: None,
            expires: now,
            scope: "openid".into(),
            source_refresh_token_id: None,
            id_token_jti: None,
        };
        let refresh = NewRefreshToken {
            token_hash: SECRET.into(),
            access_token_id: None,
            application_id: 1,
            user_id: 1,
            token_family: "f".into(),
            scope: "openid".into(),
        };
        let client = NewOAuthClient {
            client_secret: SECRET.into(),
            ..Default::default()
        };
        for printed in [
            format!("{user:?}"),
            format!("{new_user:?}"),
            format!("{key:?}"),
            format!("{new_key:?}"),
            format!("{grant:?}"),
            format!("{access:?}"),
            format!("{refresh:?}"),
            format!("{client:?}"),
        ] {
            assert!(!printed.contains(SECRET), "{printed}");
            assert!(printed.contains("[redacted]"), "{printed}");
        }
        assert!(format!("{user:?}").contains("a@example.org"));
    }
}
