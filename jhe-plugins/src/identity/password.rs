//! `PasswordIdp`: local e-mail + password accounts.

use async_trait::async_trait;
use jhe_core::identity::{Authenticated, Credentials, IdentityProvider, IdpError};
use jhe_core::services::kdf;
use jhe_core::store::Store;
use jhe_kdf::Verification;

/// Logs people in with the e-mail and password stored in JHE (argon2id; Django `pbkdf2_sha256`
/// hashes of imported users verify too and are upgraded to argon2id at the next login).
#[derive(Debug, Clone, Default)]
pub struct PasswordIdp;

#[async_trait]
impl IdentityProvider for PasswordIdp {
    fn id(&self) -> &'static str {
        "password"
    }

    fn display_name(&self) -> &str {
        "Email and password"
    }

    async fn authenticate(
        &self,
        credentials: &Credentials,
        store: &dyn Store,
    ) -> Result<Authenticated, IdpError> {
        let Credentials::Password { email, password } = credentials else {
            return Err(IdpError::Unsupported);
        };
        let email = email.trim();
        // Stores compare addresses regardless of case: any case of the address logs in.
        let user = store.get_user_by_email(email).await?;
        let Some(mut user) = user else {
            // Spend comparable time on unknown accounts, so timing does not reveal them.
            static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
            let dummy = DUMMY
                .get_or_init(|| async {
                    kdf::hash_password("not a password")
                        .await
                        .unwrap_or_default()
                })
                .await;
            let _ = kdf::verify_password(password, dummy).await;
            return Err(IdpError::InvalidCredentials);
        };
        match kdf::verify_password(password, &user.password).await {
            Verification::Invalid => Err(IdpError::InvalidCredentials),
            Verification::Valid { .. } if !user.is_active => Err(IdpError::Inactive),
            Verification::Valid { needs_rehash } => {
                // Only if the hash is still the one just verified: a password changed meanwhile
                // is never overwritten, and tokens and sessions are kept (same password).
                if needs_rehash
                    && let Ok(hash) = kdf::hash_password(password).await
                    && store
                        .upgrade_password_hash(user.id, &user.password, &hash)
                        .await?
                {
                    user.password = hash;
                    tracing::info!(user_id = user.id, "password hash upgraded to argon2id");
                }
                Ok(Authenticated::User(Box::new(user)))
            }
        }
    }
}
