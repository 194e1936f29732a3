//! What `serve` checks before it touches anything, and how it opens the database so that a
//! failure says where and why.
//!
//! [`check`] finds every problem of a configuration at once (the `check-config` command prints
//! them; `serve` refuses to start on them): an unusable `OIDC_RSA_PRIVATE_KEY`, a missing
//! `SECRET_KEY` on a public site, a database URL of an unknown kind, a SQLite file that cannot
//! be created, mail/export/audit directories that cannot be written. [`connect`] opens the
//! database with a short connect timeout and names the host (password masked) and the driver's
//! reason when it cannot.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::anyhow;
use jhe_core::config::redact_url;
use jhe_plugins::SeaOrmStore;

use crate::ServerConfig;

/// Every problem of `config` that would stop or break a server, one message each, naming the
/// setting (and the path or value) and the reason. Empty when the configuration is usable.
/// Reads the file system but changes nothing.
pub fn check(config: &ServerConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(pem) = &config.oidc_rsa_private_key
        && let Err(e) = jhe_core::services::keys::load_private_key(pem)
    {
        problems.push(format!(
            "OIDC_RSA_PRIVATE_KEY: not a usable RSA private key in PEM form ({e}); unset it to \
             have one generated and kept in the database"
        ));
    }
    if let Err(e) = config.check_link_secret() {
        problems.push(e.to_string());
    }
    if let Err(e) = url::Url::parse(&config.site_url)
        .map_err(|e| e.to_string())
        .and_then(|u| match u.scheme() {
            "http" | "https" => Ok(()),
            other => Err(format!("the scheme must be http or https, not {other:?}")),
        })
    {
        problems.push(format!("SITE_URL ({}): {e}", config.site_url));
    }
    if let Err(e) = config
        .bind
        .parse::<std::net::SocketAddr>()
        .map(|_| ())
        .or_else(|_| {
            // Host names (e.g. localhost:8000) are resolved when binding.
            crate::config::normalize_bind(&config.bind).map(|_| ())
        })
    {
        problems.push(format!("JHE_BIND: {e}"));
    }
    if config.is_postgres() {
        if let Err(e) = sea_orm::sqlx::postgres::PgConnectOptions::from_str(&config.database_url) {
            problems.push(format!(
                "DATABASE_URL ({}): not a usable PostgreSQL URL: {e}",
                redact_url(&config.database_url)
            ));
        }
    } else if let Some(path) = sqlite_path(&config.database_url) {
        if let Some(path) = path
            && let Err(e) = check_sqlite_file(&path)
        {
            problems.push(format!("DATABASE_URL: {e}"));
        }
    } else {
        problems.push(format!(
            "DATABASE_URL ({}): use postgres://… or sqlite://…",
            redact_url(&config.database_url)
        ));
    }
    if config.mail.smtp.is_none()
        && let Err(e) = check_dir(&config.mail.dir)
    {
        problems.push(format!("JHE_MAIL_DIR: {e}"));
    }
    if let Err(e) = check_dir(&config.export.dir) {
        problems.push(format!("JHE_EXPORT_DIR: {e}"));
    }
    if config.audit.ndjson {
        let dir = match config.audit.file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Err(e) = check_dir(&dir) {
            problems.push(format!(
                "JHE_AUDIT_FILE ({}): {e}",
                config.audit.file.display()
            ));
        }
    }
    problems
}

/// Problems of the single sign-on providers configured in the process environment
/// (`JHE_OIDC_*`, and `JHE_SAML_*` when the `saml` feature is on).
pub fn check_identity_providers() -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = jhe_plugins::OidcIdp::all_from_env() {
        problems.push(format!("OpenID Connect single sign-on: {e}"));
    }
    #[cfg(feature = "saml")]
    if let Err(e) = jhe_plugins::SamlIdp::from_env() {
        problems.push(format!("SAML single sign-on: {e}"));
    }
    problems
}

/// The file of a SQLite URL: `Some(Some(path))` for a file, `Some(None)` for an in-memory
/// database, `None` when the URL is not SQLite.
pub fn sqlite_path(url: &str) -> Option<Option<PathBuf>> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return Some(None);
    }
    Some(Some(PathBuf::from(path)))
}

/// Whether a SQLite database file can be opened (it exists and is writable) or created (its
/// directory exists and is writable). SQLite itself only says "unable to open database file".
fn check_sqlite_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(format!(
                "{} is a directory, not a SQLite file",
                path.display()
            ));
        }
        Ok(_) => {
            return std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map(|_| ())
                .map_err(|e| format!("cannot open the SQLite database {}: {e}", path.display()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => writable(&dir)
            .map_err(|e| format!("cannot create the SQLite database {}: {e}", path.display())),
        Ok(_) => Err(format!(
            "cannot create the SQLite database {}: {} is not a directory",
            path.display(),
            dir.display()
        )),
        Err(e) => Err(format!(
            "cannot create the SQLite database {}: directory {}: {e}",
            path.display(),
            dir.display()
        )),
    }
}

/// Whether files can be written into `dir`, or (when it does not exist yet) whether it can be
/// created: its nearest existing ancestor is a writable directory.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    let mut existing = dir.to_path_buf();
    loop {
        match std::fs::metadata(&existing) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => return Err(format!("{} is not a directory", existing.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                existing = match existing.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
            }
            Err(e) => return Err(format!("{}: {e}", existing.display())),
        }
    }
    writable(&existing)
}

/// Creates and removes a probe file in `dir`.
fn writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".jhe-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot write in {}: {e}", dir.display())),
    }
}

/// Opens the database of `config`. PostgreSQL is first reached with one connection limited to
/// `JHE_DB_CONNECT_TIMEOUT_SECS`, so an unreachable server fails within seconds; SQLite files
/// are checked first ([`check`]'s rules).
///
/// # Errors
/// A message naming the host and port (or the file) and the driver's reason, the URL's password
/// masked.
pub async fn connect(config: &ServerConfig) -> anyhow::Result<SeaOrmStore> {
    let shown = redact_url(&config.database_url);
    if config.is_postgres() {
        use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
        let options = sea_orm::sqlx::postgres::PgConnectOptions::from_str(&config.database_url)
            .map_err(|e| anyhow!("DATABASE_URL ({shown}) is not a usable PostgreSQL URL: {e}"))?;
        let host = format!("{}:{}", options.get_host(), options.get_port());
        let seconds = config.db_connect_timeout_secs;
        match tokio::time::timeout(Duration::from_secs(seconds), options.connect()).await {
            Err(_) => {
                return Err(anyhow!(
                    "cannot connect to the database at {host} ({shown}): no answer within \
                     {seconds} s (JHE_DB_CONNECT_TIMEOUT_SECS)"
                ));
            }
            Ok(Err(e)) => {
                return Err(anyhow!(
                    "cannot connect to the database at {host} ({shown}): {e}"
                ));
            }
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
            }
        }
    } else if let Some(Some(path)) = sqlite_path(&config.database_url)
        && let Err(e) = check_sqlite_file(&path)
    {
        return Err(anyhow!("DATABASE_URL: {e}"));
    }
    SeaOrmStore::connect(&config.database_url)
        .await
        .map_err(|e| anyhow!("cannot open the database {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://jhe.db?mode=rwc"),
            Some(Some(PathBuf::from("jhe.db")))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/jhe/jhe.db"),
            Some(Some(PathBuf::from("/var/lib/jhe/jhe.db")))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), Some(None));
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn problems_name_the_setting_and_the_path() {
        let missing = std::env::temp_dir().join(format!("jhe_missing_{}/deeper", uuid_like()));
        let config = ServerConfig {
            database_url: format!("sqlite://{}/jhe.db?mode=rwc", missing.display()),
            core: jhe_core::Config {
                oidc_rsa_private_key: Some("-----BEGIN PRIVATE KEY-----\nnope\n".into()),
                ..jhe_core::Config::default()
            },
            ..ServerConfig::default()
        };
        let problems = check(&config);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("OIDC_RSA_PRIVATE_KEY")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(
                |p| p.starts_with("DATABASE_URL") && p.contains(&missing.display().to_string())
            ),
            "{problems:?}"
        );
        let fine = ServerConfig {
            database_url: "sqlite::memory:".into(),
            ..ServerConfig::default()
        };
        assert_eq!(check(&fine), Vec::<String>::new());
    }

    fn uuid_like() -> String {
        format!(
            "{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        )
    }
}
