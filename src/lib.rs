//! # jhe
//!
//! The facade of jhe-rs: re-exports [`jhe_core`] and [`jhe_plugins`], and assembles the default
//! server used by `examples/server.rs` and the integration tests.

pub use jhe_core as core;
pub use jhe_plugins as plugins;
// What an embedding application needs next to the server (same versions as jhe-core).
pub use jhe_core::{async_trait, poem, poem_openapi, serde_json};

pub mod config;
pub mod connections;
pub mod memory;
pub mod startup;
pub mod sweeper;

use jhe_core::config::ConfigError;
use jhe_core::domain::{NewUser, User, UserType};
use jhe_core::services::accounts::{ProfileDetails, create_user_with_profile};
use jhe_core::services::seed::{
    self, DEMO_SUPERUSER_EMAIL, Progress, SEED_PASSWORD, SeedReport, demo_account_emails,
};
use jhe_core::store::{MaintenanceStore, Store};
use jhe_core::{CoreError, CoreResult, JheServer};
use jhe_plugins::SeaOrmStore;

pub use config::ServerConfig;

/// The default server: the given store with the standard plug-ins (password login; mail through
/// SMTP when `SMTP_HOST` is set, else to files under `JHE_MAIL_DIR`; the audit trail to the
/// database and/or an NDJSON file, as `JHE_AUDIT_SINK` says).
pub fn assemble(config: ServerConfig, store: SeaOrmStore) -> anyhow::Result<JheServer> {
    assemble_with_providers(config, store, Vec::new())
}

/// [`assemble`] plus more identity providers (after the password login and the SAML provider
/// configured by the environment, when the `saml` feature is on: see the README, "Single
/// sign-on").
///
/// # Errors
/// An invalid mail, audit or SAML configuration.
pub fn assemble_with_providers(
    config: ServerConfig,
    store: SeaOrmStore,
    providers: Vec<std::sync::Arc<dyn jhe_core::identity::IdentityProvider>>,
) -> anyhow::Result<JheServer> {
    let mailer = jhe_plugins::mailer_from_config(&config.mail)?;
    let audit =
        jhe_plugins::audit_sink_from_config(&config.audit, std::sync::Arc::new(store.clone()));
    let mut builder = JheServer::builder()
        .config(config.core)
        .store(store)
        .policy(jhe_plugins::RbacConsentPolicy)
        .data_format(jhe_plugins::OmhFormat::bundled())
        .data_format(jhe_plugins::AttachmentFormat::default())
        .identity_provider(jhe_plugins::PasswordIdp)
        .shared_mailer(mailer)
        .shared_audit_sink(audit)
        .template_dir(template_dir_from_env())
        .metrics(config.metrics.clone());
    #[cfg(feature = "saml")]
    if let Some(saml) = jhe_plugins::SamlIdp::from_env()? {
        builder = builder.identity_provider(saml);
    }
    for oidc in jhe_plugins::OidcIdp::all_from_env()? {
        builder = builder.identity_provider(oidc);
    }
    for provider in providers {
        builder = builder.shared_identity_provider(provider);
    }
    Ok(builder.build()?)
}

/// `JHE_TEMPLATE_DIR`: a directory whose files replace the embedded templates and portal static
/// files of the same name (see the README, "Embedding"); `None` when unset or empty.
pub fn template_dir_from_env() -> Option<std::path::PathBuf> {
    std::env::var_os("JHE_TEMPLATE_DIR")
        .filter(|dir| !dir.is_empty())
        .map(std::path::PathBuf::from)
}

/// What [`prepare_to_serve`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServePreparation {
    /// The demo data it loaded, when it seeded.
    pub seeded: Option<SeedReport>,
    /// Demo accounts that still have the published password (checked only for a non-loopback
    /// `SITE_URL`, where they are allowed by `JHE_ALLOW_DEMO_ACCOUNTS=true` only).
    pub demo_accounts: Vec<String>,
}

/// The start-up of `serve`, before the listener opens: applies migrations; refuses unsafe
/// configurations of a server reachable beyond this machine (non-loopback `SITE_URL` without
/// `SECRET_KEY`); seeds demo data only where [`ServerConfig::seeds_on_serve`] allows (an empty default
/// SQLite database, or `JHE_SEED_ON_EMPTY=true`), with a loud warning; and on a non-loopback
/// `SITE_URL` refuses to start while a demo account still has the published password, unless
/// `JHE_ALLOW_DEMO_ACCOUNTS=true`.
///
/// # Errors
/// A [`ConfigError::Unsafe`] (inside the `anyhow::Error`; `downcast_ref` it) when the server must
/// not start; store and seeding errors otherwise.
pub async fn prepare_to_serve(
    store: &SeaOrmStore,
    config: &ServerConfig,
    progress: &dyn Progress,
) -> anyhow::Result<ServePreparation> {
    config.check_link_secret()?;
    store.migrate().await?;
    let database_is_empty = store.is_empty().await?;
    if config.seeds_on_serve(database_is_empty)
        && !config.site_is_loopback()
        && !config.allow_demo_accounts
    {
        return Err(ConfigError::Unsafe(format!(
            "refusing to seed demo accounts (shared published password) on a server whose \
             SITE_URL ({}) is not a loopback address; run the `seed` command deliberately, or \
             set JHE_ALLOW_DEMO_ACCOUNTS=true for a throw-away demo",
            config.site_url
        ))
        .into());
    }
    let seeded = seed_on_serve(store, config, progress).await?;
    follow_site_url(store, config).await?;
    let mut preparation = ServePreparation {
        seeded,
        demo_accounts: Vec::new(),
    };
    if !config.site_is_loopback() {
        preparation.demo_accounts = seed::accounts_with_published_password(store).await?;
        refuse_published_demo_accounts(config, &preparation.demo_accounts)?;
        if !preparation.demo_accounts.is_empty() {
            tracing::warn!(
                accounts = %preparation.demo_accounts.join(", "),
                site = %config.site_url,
                "JHE_ALLOW_DEMO_ACCOUNTS=true: serving a non-loopback SITE_URL with demo accounts \
                 that share the published password"
            );
        }
    }
    Ok(preparation)
}

/// Points the portal's OAuth client (the seeded "JHE Admin UI") at the current `SITE_URL`:
/// when its redirect URIs are the seeded default — exactly one `<origin>/auth/callback` — and
/// the origin is not this `SITE_URL`, it becomes `<SITE_URL>/auth/callback`, so the same
/// database served on another address keeps portal logins working. Redirect URIs an
/// administrator changed to anything else are left alone. Returns whether it changed them.
///
/// # Errors
/// A store error.
pub async fn follow_site_url(store: &dyn Store, config: &ServerConfig) -> CoreResult<bool> {
    let Some(mut client) = store
        .get_client_by_name(jhe_core::domain::ADMIN_UI_CLIENT_NAME)
        .await?
    else {
        return Ok(false);
    };
    let wanted = format!("{}/auth/callback", config.site_url);
    let current = client.redirect_uris.trim();
    let seeded_default = !current.contains(char::is_whitespace)
        && url::Url::parse(current).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.path() == "/auth/callback"
                && u.query().is_none()
                && u.fragment().is_none()
        });
    if !seeded_default || current == wanted {
        return Ok(false);
    }
    tracing::info!(
        from = %current,
        to = %wanted,
        "the portal client's redirect URI follows SITE_URL"
    );
    client.redirect_uris = wanted;
    store.update_client(&client).await?;
    Ok(true)
}

/// Whether `email` looks like an e-mail address (`local@domain.tld`, no spaces): what
/// `create-superuser` accepts.
pub fn is_plausible_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Why a server must not start with these demo accounts: `Ok` on a loopback `SITE_URL`, with
/// `JHE_ALLOW_DEMO_ACCOUNTS=true`, or when `accounts` (from
/// [`seed::accounts_with_published_password`]) is empty.
///
/// # Errors
/// [`ConfigError::Unsafe`] naming the accounts and what to do.
pub fn refuse_published_demo_accounts(
    config: &ServerConfig,
    accounts: &[String],
) -> Result<(), ConfigError> {
    if accounts.is_empty() || config.allow_demo_accounts || config.site_is_loopback() {
        return Ok(());
    }
    Err(ConfigError::Unsafe(format!(
        "SITE_URL ({}) is not a loopback address, and these demo accounts still have the \
         published password {SEED_PASSWORD:?}: {}. Change their passwords or delete them \
         (or start on a fresh database without seeding); set JHE_ALLOW_DEMO_ACCOUNTS=true only \
         for a throw-away demo",
        config.site_url,
        accounts.join(", ")
    )))
}

/// What `serve` does about demo data: seeds the database when
/// [`ServerConfig::seeds_on_serve`] says so (an empty default SQLite database, or
/// `JHE_SEED_ON_EMPTY=true`), logging a warning that names the demo accounts and their shared,
/// published password. `None` when it did not seed.
///
/// # Errors
/// A store error, or whatever [`seed::seed`] fails with.
pub async fn seed_on_serve(
    store: &dyn Store,
    config: &ServerConfig,
    progress: &dyn Progress,
) -> CoreResult<Option<SeedReport>> {
    if !config.seeds_on_serve(store.is_empty().await?) {
        return Ok(None);
    }
    tracing::warn!(
        accounts = %demo_account_emails().join(", "),
        superuser = DEMO_SUPERUSER_EMAIL,
        "EMPTY DATABASE: SEEDING DEMO DATA. Every demo account shares the published password \
         {SEED_PASSWORD:?}; keep this server on localhost (a non-loopback SITE_URL refuses to \
         start while they exist)"
    );
    seed::seed(store, config, false, progress).await.map(Some)
}

/// Creates a superuser account (with its empty practitioner profile).
pub async fn create_superuser(
    store: &SeaOrmStore,
    email: &str,
    password: &str,
) -> CoreResult<User> {
    if !is_plausible_email(email) {
        return Err(CoreError::BadRequest(format!(
            "{email:?} is not an e-mail address"
        )));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superuser_emails_are_checked() {
        assert!(is_plausible_email("admin@example.org"));
        assert!(!is_plausible_email("notanemail"));
        assert!(!is_plausible_email("a@b"));
        assert!(!is_plausible_email("a b@example.org"));
        assert!(!is_plausible_email("@example.org"));
        assert!(!is_plausible_email("a@example..org"));
    }

    #[test]
    fn demo_accounts_refuse_only_public_sites() {
        let accounts = vec![DEMO_SUPERUSER_EMAIL.to_string()];
        let local = ServerConfig::default();
        assert!(refuse_published_demo_accounts(&local, &accounts).is_ok());
        let public = ServerConfig {
            core: jhe_core::Config {
                site_url: "https://jhe.example.org".into(),
                ..jhe_core::Config::default()
            },
            ..ServerConfig::default()
        };
        assert!(refuse_published_demo_accounts(&public, &[]).is_ok());
        let err = refuse_published_demo_accounts(&public, &accounts).unwrap_err();
        assert!(err.to_string().contains(DEMO_SUPERUSER_EMAIL), "{err}");
        assert!(err.to_string().contains("JHE_ALLOW_DEMO_ACCOUNTS"), "{err}");
        let allowed = ServerConfig {
            allow_demo_accounts: true,
            ..public
        };
        assert!(refuse_published_demo_accounts(&allowed, &accounts).is_ok());
    }
}
