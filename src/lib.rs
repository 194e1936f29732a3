//! # jhe
//!
//! The facade of jhe-rs: re-exports [`jhe_core`] and [`jhe_plugins`], and assembles the default
//! server used by `examples/server.rs` and the integration tests.

pub use jhe_core as core;
pub use jhe_plugins as plugins;

use jhe_core::domain::{NewUser, User, UserType};
use jhe_core::services::accounts::{ProfileDetails, create_user_with_profile};
use jhe_core::{Config, CoreError, CoreResult, JheServer};
use jhe_plugins::SeaOrmStore;

/// The default server: the given store with the standard plug-ins (password login; mail through
/// SMTP when `SMTP_HOST` is set, else to files under `JHE_MAIL_DIR`).
pub fn assemble(config: Config, store: SeaOrmStore) -> anyhow::Result<JheServer> {
    let mailer = jhe_plugins::mailer_from_config(&config)?;
    Ok(JheServer::builder()
        .config(config)
        .store(store)
        .policy(jhe_plugins::RbacConsentPolicy)
        .data_format(jhe_plugins::OmhFormat::bundled())
        .data_format(jhe_plugins::AttachmentFormat::default())
        .identity_provider(jhe_plugins::PasswordIdp)
        .shared_mailer(mailer)
        .build()?)
}

/// Creates a superuser account (with its empty practitioner profile).
pub async fn create_superuser(
    store: &SeaOrmStore,
    email: &str,
    password: &str,
) -> CoreResult<User> {
    if password.chars().count() < 8 {
        return Err(CoreError::BadRequest(
            "the password must have at least 8 characters".into(),
        ));
    }
    let hash = jhe_kdf::hash_password(password).map_err(|e| CoreError::Internal(e.to_string()))?;
    create_user_with_profile(
        store,
        NewUser {
            email: email.trim().to_string(),
            password: hash,
            is_superuser: true,
            is_staff: true,
            user_type: Some(UserType::Practitioner),
            ..Default::default()
        },
        ProfileDetails::default(),
    )
    .await
}
