//! Safe defaults of `serve`: demo data only in the default SQLite database, no public server
//! with the published demo password or without `SECRET_KEY`.
//!
//! Most cases call [`jhe::prepare_to_serve`], the exact start-up `serve` runs, on both
//! databases. The default-location case and the exit status run the built server binary
//! (`target/debug/examples/server`, built by `cargo test --workspace`).

use std::time::Duration;

use jhe::ServerConfig;
use jhe::config::SeedOnEmpty;
use jhe_core::config::ConfigError;
use jhe_core::services::seed::{
    DEMO_SUPERUSER_EMAIL, NoProgress, SEED_PASSWORD, demo_account_emails, seed,
};
use jhe_core::store::{MaintenanceStore, UserStore};
use jhe_plugins::SeaOrmStore;

use crate::both_backends;
use crate::support::binary::{command, free_port, scratch_dir};
use crate::support::{Backend, TestDb};

const PUBLIC_SITE: &str = "https://jhe.example.org";

/// The configuration `serve` would build for an explicitly configured database.
fn config_for(db: &TestDb) -> ServerConfig {
    ServerConfig {
        database_url: db.url.clone(),
        mail: jhe::plugins::MailConfig {
            smtp: None,
            dir: std::env::temp_dir().join("jhe_mail_safe_defaults"),
        },
        ..ServerConfig::default()
    }
}

fn refusal(result: anyhow::Result<jhe::ServePreparation>) -> String {
    let error = result.expect_err("the server must refuse to start");
    match error.downcast_ref::<ConfigError>() {
        Some(ConfigError::Unsafe(message)) => message.clone(),
        other => panic!("expected ConfigError::Unsafe, got {other:?} ({error:#})"),
    }
}

both_backends! {
    explicit_database_is_never_seeded => explicit_database_is_never_seeded;
    seed_on_empty_true_forces_seeding => seed_on_empty_true_forces_seeding;
    public_site_without_secret_key_refuses => public_site_without_secret_key_refuses;
    public_site_with_demo_password_refuses => public_site_with_demo_password_refuses;
    public_site_refuses_to_seed => public_site_refuses_to_seed;
    binary_serves_explicit_database_without_seeding => binary_serves_explicit_database_without_seeding;
    binary_refuses_public_site_with_demo_accounts => binary_refuses_public_site_with_demo_accounts;
}

async fn explicit_database_is_never_seeded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    assert_eq!(config.seed_on_empty, SeedOnEmpty::DefaultDatabaseOnly);
    let prepared = jhe::prepare_to_serve(&db.store, &config, &NoProgress)
        .await
        .unwrap();
    assert_eq!(prepared.seeded, None);
    assert!(
        db.store.is_empty().await.unwrap(),
        "serve seeded {backend:?}"
    );
    assert!(
        db.store
            .get_user_by_email(DEMO_SUPERUSER_EMAIL)
            .await
            .unwrap()
            .is_none()
    );
}

async fn seed_on_empty_true_forces_seeding(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = ServerConfig {
        seed_on_empty: SeedOnEmpty::Always,
        ..config_for(&db)
    };
    let prepared = jhe::prepare_to_serve(&db.store, &config, &NoProgress)
        .await
        .unwrap();
    assert!(prepared.seeded.is_some());
    assert!(
        db.store
            .get_user_by_email(DEMO_SUPERUSER_EMAIL)
            .await
            .unwrap()
            .is_some()
    );
    // Not empty any more: a second start does not seed again.
    let again = jhe::prepare_to_serve(&db.store, &config, &NoProgress)
        .await
        .unwrap();
    assert_eq!(again.seeded, None);
}

async fn public_site_without_secret_key_refuses(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut public = config_for(&db);
    public.site_url = PUBLIC_SITE.into();
    let message = refusal(jhe::prepare_to_serve(&db.store, &public, &NoProgress).await);
    assert!(message.contains("SECRET_KEY"), "{message}");
    let mut keyed = public;
    keyed.secret_key = Some("a-long-random-secret-key-for-tests".into());
    jhe::prepare_to_serve(&db.store, &keyed, &NoProgress)
        .await
        .unwrap();
}

async fn public_site_with_demo_password_refuses(backend: Backend) {
    let db = TestDb::new(backend).await;
    let local = config_for(&db);
    seed(&db.store, &local, false, &NoProgress).await.unwrap();
    // Loopback: the demo is fine.
    jhe::prepare_to_serve(&db.store, &local, &NoProgress)
        .await
        .unwrap();

    let mut public = local;
    public.site_url = PUBLIC_SITE.into();
    public.secret_key = Some("a-long-random-secret-key-for-tests".into());
    let message = refusal(jhe::prepare_to_serve(&db.store, &public, &NoProgress).await);
    assert!(message.contains(DEMO_SUPERUSER_EMAIL), "{message}");
    assert!(message.contains("mary@example.com"), "{message}");
    assert!(message.contains("JHE_ALLOW_DEMO_ACCOUNTS"), "{message}");

    let allowed = ServerConfig {
        allow_demo_accounts: true,
        ..public.clone()
    };
    let prepared = jhe::prepare_to_serve(&db.store, &allowed, &NoProgress)
        .await
        .unwrap();
    assert_eq!(prepared.demo_accounts.len(), demo_account_emails().len());

    // Once every demo account has another password, the public server starts.
    let hash = jhe_kdf::hash_password("An0ther-passw0rd!").unwrap();
    for email in demo_account_emails() {
        let mut user = db.store.get_user_by_email(email).await.unwrap().unwrap();
        user.password = hash.clone();
        db.store.update_user(&user).await.unwrap();
    }
    let prepared = jhe::prepare_to_serve(&db.store, &public, &NoProgress)
        .await
        .unwrap();
    assert!(prepared.demo_accounts.is_empty());
    assert_ne!(SEED_PASSWORD, "An0ther-passw0rd!");
}

async fn public_site_refuses_to_seed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut public = ServerConfig {
        seed_on_empty: SeedOnEmpty::Always,
        ..config_for(&db)
    };
    public.site_url = PUBLIC_SITE.into();
    public.secret_key = Some("a-long-random-secret-key-for-tests".into());
    let message = refusal(jhe::prepare_to_serve(&db.store, &public, &NoProgress).await);
    assert!(message.contains("seed"), "{message}");
    assert!(db.store.is_empty().await.unwrap());
}

// ---- the built binary ----

/// Starts `serve` on a free port and waits until `/health` answers; returns the child and
/// everything it logged until then.
async fn serve_until_healthy(dir: &std::path::Path, vars: &[(&str, &str)]) -> String {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut command = command(dir, vars);
    command.args(["serve", "--bind", &bind]);
    let mut child = command.spawn().expect("start the server binary");
    let client = reqwest::Client::new();
    let url = format!("http://{bind}/health");
    let mut healthy = false;
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited early with {status}");
        }
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().ok();
    let output = child.wait_with_output().await.expect("server output");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(healthy, "the server never answered /health:\n{log}");
    log
}

/// The README's first command: no `DATABASE_URL`, so `jhe.db` in the working directory is
/// created, migrated and seeded, with a warning naming the demo accounts and their password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_seeds_the_default_sqlite_database() {
    let dir = scratch_dir();
    let log = serve_until_healthy(&dir, &[]).await;
    assert!(log.contains("SEEDING DEMO DATA"), "{log}");
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains(SEED_PASSWORD), "{log}");
    assert!(log.contains(DEMO_SUPERUSER_EMAIL), "{log}");
    let db_path = dir.join("jhe.db");
    assert!(db_path.exists(), "no jhe.db in {}", dir.display());
    let store = SeaOrmStore::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    assert!(
        store
            .get_user_by_email(DEMO_SUPERUSER_EMAIL)
            .await
            .unwrap()
            .is_some()
    );
    store.connection().clone().close().await.ok();
    std::fs::remove_dir_all(&dir).ok();
}

async fn binary_serves_explicit_database_without_seeding(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = scratch_dir();
    let log = serve_until_healthy(&dir, &[("DATABASE_URL", &db.url)]).await;
    assert!(!log.contains("SEEDING DEMO DATA"), "{log}");
    assert!(db.store.is_empty().await.unwrap(), "serve seeded:\n{log}");
    std::fs::remove_dir_all(&dir).ok();
}

async fn binary_refuses_public_site_with_demo_accounts(backend: Backend) {
    let db = TestDb::new(backend).await;
    seed(&db.store, &config_for(&db), false, &NoProgress)
        .await
        .unwrap();
    let dir = scratch_dir();
    let base = [("DATABASE_URL", db.url.as_str()), ("SITE_URL", PUBLIC_SITE)];

    // No SECRET_KEY: refused first, with a clear message and exit status 2, no panic.
    let bind = format!("127.0.0.1:{}", free_port());
    let output = command(&dir, &base)
        .args(["serve", "--bind", &bind])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert!(stderr.contains("SECRET_KEY"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");

    // With SECRET_KEY: refused for the demo accounts.
    let mut keyed = base.to_vec();
    keyed.push(("SECRET_KEY", "a-long-random-secret-key-for-tests"));
    let output = command(&dir, &keyed)
        .args(["serve", "--bind", &bind])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(DEMO_SUPERUSER_EMAIL), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // JHE_ALLOW_DEMO_ACCOUNTS=true: it starts.
    keyed.push(("JHE_ALLOW_DEMO_ACCOUNTS", "true"));
    let log = serve_until_healthy(&dir, &keyed).await;
    assert!(log.contains("JHE_ALLOW_DEMO_ACCOUNTS=true"), "{log}");
    std::fs::remove_dir_all(&dir).ok();
}
