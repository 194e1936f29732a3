//! The default server's settings: the library's [`Config`] plus what only a server process
//! needs — the database URL, the listen address, the mail transport and the demo-data policy.
//! `ServerConfig` dereferences to [`Config`], so `server_config.site_url` reads the core field.

use std::ops::{Deref, DerefMut};

use jhe_core::Config;
use jhe_core::config::{ConfigError, parse_flag, redact_url};
use jhe_plugins::MailConfig;

/// The default SQLite database of the default server.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://jhe.db?mode=rwc";
/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// When `serve` loads the demo data into an empty database (`JHE_SEED_ON_EMPTY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeedOnEmpty {
    /// `JHE_SEED_ON_EMPTY` unset: seed only an empty SQLite database at the default location
    /// (`DATABASE_URL` unset, [`DEFAULT_DATABASE_URL`]) — the README's first command. Any other
    /// database, PostgreSQL included, is seeded by an operator with the `seed` command.
    #[default]
    DefaultDatabaseOnly,
    /// `JHE_SEED_ON_EMPTY=true`: seed whatever empty database `serve` finds (demos, test suites).
    Always,
    /// `JHE_SEED_ON_EMPTY=false`: never seed on `serve`.
    Never,
}

/// The default server's configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// What the library needs (site URL, keys, lifetimes, audit, export, proxies…).
    pub core: Config,
    /// Database URL (`DATABASE_URL`, or built from `DB_HOST`/`DB_PORT`/`DB_NAME`/`DB_USER`/
    /// `DB_PASSWORD`; default [`DEFAULT_DATABASE_URL`]).
    pub database_url: String,
    /// Listen address (`JHE_BIND`, default [`DEFAULT_BIND`]).
    pub bind: String,
    /// Where e-mail goes (`SMTP_*`, `JHE_MAIL_DIR`).
    pub mail: MailConfig,
    /// When `serve` seeds demo data into an empty database (`JHE_SEED_ON_EMPTY`).
    pub seed_on_empty: SeedOnEmpty,
    /// Start even though demo accounts with the published password exist while `SITE_URL` is
    /// not a loopback address (`JHE_ALLOW_DEMO_ACCOUNTS=true`; default false).
    pub allow_demo_accounts: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            core: Config::default(),
            database_url: DEFAULT_DATABASE_URL.into(),
            bind: DEFAULT_BIND.into(),
            mail: MailConfig::default(),
            seed_on_empty: SeedOnEmpty::default(),
            allow_demo_accounts: false,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("core", &self.core)
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("mail", &self.mail)
            .field("seed_on_empty", &self.seed_on_empty)
            .field("allow_demo_accounts", &self.allow_demo_accounts)
            .finish()
    }
}

impl Deref for ServerConfig {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.core
    }
}

impl DerefMut for ServerConfig {
    fn deref_mut(&mut self) -> &mut Config {
        &mut self.core
    }
}

impl ServerConfig {
    /// Reads `.env` (if present) and then the process environment.
    ///
    /// # Errors
    /// The first variable with an unusable value.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup` (empty values count as unset). Without `SITE_URL`
    /// the public origin follows the listen address ([`site_url_for_bind`]).
    ///
    /// # Errors
    /// The first variable with an unusable value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| jhe_core::config::setting(&lookup, name);
        let mut config = ServerConfig {
            core: Config::from_lookup(&lookup)?,
            mail: MailConfig::from_lookup(&lookup)?,
            ..ServerConfig::default()
        };
        if let Some(url) = get("DATABASE_URL") {
            config.database_url = url;
        } else if let Some(name) = get("DB_NAME") {
            let host = get("DB_HOST").unwrap_or_else(|| "localhost".into());
            let port = get("DB_PORT").unwrap_or_else(|| "5432".into());
            let user = get("DB_USER").unwrap_or_else(|| "postgres".into());
            let credentials = match get("DB_PASSWORD") {
                Some(password) => format!("{user}:{password}"),
                None => user,
            };
            config.database_url = format!("postgres://{credentials}@{host}:{port}/{name}");
        }
        if let Some(bind) = get("JHE_BIND") {
            config.bind = bind;
        }
        if get("SITE_URL").is_none() {
            config.core.site_url = site_url_for_bind(&config.bind);
        }
        if let Some(v) = get("JHE_SEED_ON_EMPTY") {
            config.seed_on_empty = if parse_flag("JHE_SEED_ON_EMPTY", &v)? {
                SeedOnEmpty::Always
            } else {
                SeedOnEmpty::Never
            };
        }
        if let Some(v) = get("JHE_ALLOW_DEMO_ACCOUNTS") {
            config.allow_demo_accounts = parse_flag("JHE_ALLOW_DEMO_ACCOUNTS", &v)?;
        }
        Ok(config)
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// Whether the database is the default one ([`DEFAULT_DATABASE_URL`], i.e. `DATABASE_URL`
    /// and `DB_NAME` unset): the demo SQLite file of the README's first command.
    pub fn uses_default_database(&self) -> bool {
        self.database_url == DEFAULT_DATABASE_URL
    }

    /// Whether `serve` loads the demo data, given whether the database is empty: only into an
    /// empty database, and (unless `JHE_SEED_ON_EMPTY` says otherwise) only into the default one.
    pub fn seeds_on_serve(&self, database_is_empty: bool) -> bool {
        database_is_empty
            && match self.seed_on_empty {
                SeedOnEmpty::DefaultDatabaseOnly => self.uses_default_database(),
                SeedOnEmpty::Always => true,
                SeedOnEmpty::Never => false,
            }
    }
}

/// The public origin derived from a listen address: `http://localhost:8000` for the default,
/// `http://<host>:<port>` otherwise (unspecified hosts become `localhost`).
pub fn site_url_for_bind(bind: &str) -> String {
    if bind == DEFAULT_BIND {
        return jhe_core::config::DEFAULT_SITE_URL.into();
    }
    let (host, port) = match bind.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (bind, "80"),
    };
    let host = match host {
        "0.0.0.0" | "[::]" | "::" | "" => "localhost",
        h => h,
    };
    format!("http://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServerConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://jhe.db?mode=rwc");
        assert_eq!(c.site_url, "http://localhost:8000");
        assert_eq!(c.bind, "127.0.0.1:8000");
        assert!(c.mail.smtp.is_none());
    }

    #[test]
    fn site_url_follows_bind_unless_set() {
        assert_eq!(
            config(&[("JHE_BIND", "0.0.0.0:9000")]).unwrap().site_url,
            "http://localhost:9000"
        );
        assert_eq!(
            config(&[("JHE_BIND", "127.0.0.1:9001")]).unwrap().site_url,
            "http://127.0.0.1:9001"
        );
        let c = config(&[
            ("JHE_BIND", "0.0.0.0:9000"),
            ("SITE_URL", "https://jhe.example.org/"),
        ])
        .unwrap();
        assert_eq!(c.site_url, "https://jhe.example.org");
    }

    #[test]
    fn db_variables_build_a_postgres_url() {
        let c = config(&[
            ("DB_NAME", "jhe"),
            ("DB_HOST", "db"),
            ("DB_USER", "u"),
            ("DB_PASSWORD", "p"),
        ])
        .unwrap();
        assert_eq!(c.database_url, "postgres://u:p@db:5432/jhe");
        assert!(c.is_postgres());
        assert!(
            !format!("{c:?}").contains(":p@"),
            "debug output must not show the password"
        );
    }

    #[test]
    fn secrets_do_not_print_through_debug() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:dbpass-qzx@db/jhe"),
            ("SECRET_KEY", "qzx-key-qzx"),
            ("SMTP_HOST", "smtp.example.org"),
            ("SMTP_PASSWORD", "smtp-qzx"),
            ("REGISTRATION_INVITE_CODE", "invite-qzx"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("qzx"), "{printed}");
        assert!(printed.contains("smtp.example.org"));
    }

    #[test]
    fn seeding_on_serve_follows_the_database_and_the_flag() {
        let default = config(&[]).unwrap();
        assert_eq!(default.seed_on_empty, SeedOnEmpty::DefaultDatabaseOnly);
        assert!(default.uses_default_database());
        assert!(default.seeds_on_serve(true));
        assert!(!default.seeds_on_serve(false));
        let pg = config(&[("DATABASE_URL", "postgres://postgres@127.0.0.1/jhe")]).unwrap();
        assert!(!pg.seeds_on_serve(true));
        let other_sqlite = config(&[("DATABASE_URL", "sqlite://other.db?mode=rwc")]).unwrap();
        assert!(!other_sqlite.seeds_on_serve(true));
        let db_vars = config(&[("DB_NAME", "jhe")]).unwrap();
        assert!(!db_vars.seeds_on_serve(true));
        let forced = config(&[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/jhe"),
            ("JHE_SEED_ON_EMPTY", "true"),
        ])
        .unwrap();
        assert!(forced.seeds_on_serve(true));
        assert!(!forced.seeds_on_serve(false));
        let never = config(&[("JHE_SEED_ON_EMPTY", "false")]).unwrap();
        assert!(!never.seeds_on_serve(true));
        assert!(config(&[("JHE_SEED_ON_EMPTY", "maybe")]).is_err());
        assert!(
            config(&[("JHE_ALLOW_DEMO_ACCOUNTS", "TRUE")])
                .unwrap()
                .allow_demo_accounts
        );
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(matches!(
            config(&[("SMTP_HOST", "x"), ("SMTP_PORT", "abc")]),
            Err(ConfigError::Invalid {
                name: "SMTP_PORT",
                ..
            })
        ));
    }
}
