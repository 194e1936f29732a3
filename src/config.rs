//! The default server's settings: the library's [`Config`] plus what only a server process
//! needs — the database URL, the listen address, the mail transport and the demo-data policy.
//! `ServerConfig` dereferences to [`Config`], so `server_config.site_url` reads the core field.

use std::ops::{Deref, DerefMut};

use jhe_core::Config;
use jhe_core::config::{ConfigError, parse_flag, redact_url};
use jhe_core::http::observe::MetricsConfig;
use jhe_plugins::MailConfig;

/// The default SQLite database of the default server.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://jhe.db?mode=rwc";
/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// Default of `JHE_SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may finish after SIGTERM.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// Default of `JHE_SWEEP_INTERVAL_SECS`: how often expired rows are deleted (0 = never).
pub const DEFAULT_SWEEP_INTERVAL_SECS: u64 = 300;
/// Default of `JHE_DB_CONNECT_TIMEOUT_SECS`: how long the first database connection may take.
pub const DEFAULT_DB_CONNECT_TIMEOUT_SECS: u64 = 5;

/// The log format (`JHE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines; colours only when standard error is a terminal (`text`, default).
    #[default]
    Text,
    /// One JSON object per line (`json`).
    Json,
}

impl LogFormat {
    /// Parses `text` or `json` (any case).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `JHE_LOG_FORMAT` for anything else.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::Invalid {
                name: "JHE_LOG_FORMAT",
                reason: format!("{other:?} is not text or json"),
            }),
        }
    }
}

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
    /// Seconds in-flight requests may take to finish after SIGTERM/SIGINT
    /// (`JHE_SHUTDOWN_TIMEOUT_SECS`, default [`DEFAULT_SHUTDOWN_TIMEOUT_SECS`]).
    pub shutdown_timeout_secs: u64,
    /// Seconds between two sweeps of expired rows (`JHE_SWEEP_INTERVAL_SECS`, default
    /// [`DEFAULT_SWEEP_INTERVAL_SECS`]; `0` turns the sweeper off).
    pub sweep_interval_secs: u64,
    /// Seconds the first database connection may take before start-up gives up
    /// (`JHE_DB_CONNECT_TIMEOUT_SECS`, default [`DEFAULT_DB_CONNECT_TIMEOUT_SECS`]).
    pub db_connect_timeout_secs: u64,
    /// Log format (`JHE_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// `/metrics` (`JHE_METRICS`, `JHE_METRICS_TOKEN`).
    pub metrics: MetricsConfig,
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
            shutdown_timeout_secs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            sweep_interval_secs: DEFAULT_SWEEP_INTERVAL_SECS,
            db_connect_timeout_secs: DEFAULT_DB_CONNECT_TIMEOUT_SECS,
            log_format: LogFormat::default(),
            metrics: MetricsConfig::default(),
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
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("sweep_interval_secs", &self.sweep_interval_secs)
            .field("db_connect_timeout_secs", &self.db_connect_timeout_secs)
            .field("log_format", &self.log_format)
            .field("metrics", &self.metrics)
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
            config.bind = normalize_bind(&bind).map_err(|reason| ConfigError::Invalid {
                name: "JHE_BIND",
                reason,
            })?;
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
        let seconds = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                Some(v) => v.parse::<u64>().map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("{v:?} is not a whole number of seconds"),
                }),
                None => Ok(default),
            }
        };
        config.shutdown_timeout_secs =
            seconds("JHE_SHUTDOWN_TIMEOUT_SECS", DEFAULT_SHUTDOWN_TIMEOUT_SECS)?;
        config.sweep_interval_secs =
            seconds("JHE_SWEEP_INTERVAL_SECS", DEFAULT_SWEEP_INTERVAL_SECS)?;
        config.db_connect_timeout_secs = seconds(
            "JHE_DB_CONNECT_TIMEOUT_SECS",
            DEFAULT_DB_CONNECT_TIMEOUT_SECS,
        )?
        .max(1);
        if let Some(v) = get("JHE_LOG_FORMAT") {
            config.log_format = LogFormat::parse(&v)?;
        }
        config.metrics = MetricsConfig::from_lookup(&lookup)?;
        Ok(config)
    }

    /// Reads every setting like [`from_lookup`](Self::from_lookup), but does not stop at the
    /// first unusable variable: each one is reported and left at its default, so an operator
    /// sees every problem at once.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigError>) {
        let mut hidden: Vec<&'static str> = Vec::new();
        let mut problems = Vec::new();
        loop {
            let filtered = |name: &str| {
                if hidden.contains(&name) {
                    None
                } else {
                    lookup(name)
                }
            };
            match Self::from_lookup(filtered) {
                Ok(config) => return (config, problems),
                Err(error) => {
                    let name = match &error {
                        ConfigError::Invalid { name, .. } => Some(*name),
                        ConfigError::Unsafe(_) => None,
                    };
                    problems.push(error);
                    match name {
                        Some(name) if !hidden.contains(&name) => hidden.push(name),
                        _ => return (ServerConfig::default(), problems),
                    }
                }
            }
        }
    }

    /// Uses `bind` (the `--bind` option) as the listen address; without `SITE_URL` set, the
    /// public origin follows it.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for an address that is not `host:port` or a port.
    pub fn set_bind(&mut self, bind: &str, site_url_is_set: bool) -> Result<(), ConfigError> {
        self.bind = normalize_bind(bind).map_err(|reason| ConfigError::Invalid {
            name: "JHE_BIND",
            reason: format!("--bind {bind}: {reason}"),
        })?;
        if !site_url_is_set {
            self.core.site_url = site_url_for_bind(&self.bind);
        }
        Ok(())
    }

    /// The effective settings as `(variable, value)` pairs, secrets masked (`SECRET_KEY`,
    /// `OIDC_RSA_PRIVATE_KEY`, `REGISTRATION_INVITE_CODE`, `SMTP_PASSWORD`, `JHE_METRICS_TOKEN`
    /// and passwords inside `DATABASE_URL`).
    pub fn effective_settings(&self) -> Vec<(&'static str, String)> {
        let masked = |set: bool| {
            if set {
                "******** (set)".to_string()
            } else {
                "(not set)".to_string()
            }
        };
        let l = &self.core.lifetimes;
        let smtp = self.mail.smtp.as_ref();
        let mut sinks = Vec::new();
        if self.core.audit.database {
            sinks.push("database");
        }
        if self.core.audit.ndjson {
            sinks.push("ndjson");
        }
        vec![
            ("SITE_URL", self.core.site_url.clone()),
            ("JHE_BIND", self.bind.clone()),
            ("DATABASE_URL", redact_url(&self.database_url)),
            (
                "SECRET_KEY",
                if self.core.secret_key.is_some() {
                    masked(true)
                } else {
                    "(not set: derived from the signing key; loopback sites only)".into()
                },
            ),
            (
                "OIDC_RSA_PRIVATE_KEY",
                if self.core.oidc_rsa_private_key.is_some() {
                    masked(true)
                } else {
                    "(not set: generated once and kept in the database)".into()
                },
            ),
            ("REGISTRATION_INVITE_CODE", masked(true)),
            ("DEFAULT_FROM_EMAIL", self.core.from_email.clone()),
            (
                "TRUSTED_TOKEN_IDP",
                self.core
                    .trusted_token_idp
                    .clone()
                    .unwrap_or_else(|| "(not set)".into()),
            ),
            (
                "TRUSTED_PROXIES",
                self.core
                    .trusted_proxies
                    .networks()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("JHE_ACCESS_TOKEN_LIFETIME", l.access_token.to_string()),
            ("JHE_REFRESH_TOKEN_LIFETIME", l.refresh_token.to_string()),
            ("JHE_ID_TOKEN_LIFETIME", l.id_token.to_string()),
            (
                "JHE_AUTHORIZATION_CODE_LIFETIME",
                l.authorization_code.to_string(),
            ),
            (
                "JHE_INVITATION_CODE_LIFETIME",
                l.invitation_code.to_string(),
            ),
            ("JHE_SESSION_LIFETIME", l.session.to_string()),
            (
                "JHE_AUDIT_SINK",
                if sinks.is_empty() {
                    "none".into()
                } else {
                    sinks.join(",")
                },
            ),
            ("JHE_AUDIT_FILE", self.core.audit.file.display().to_string()),
            ("JHE_EXPORT_DIR", self.core.export.dir.display().to_string()),
            (
                "JHE_EXPORT_TTL_HOURS",
                self.core.export.ttl_hours.to_string(),
            ),
            (
                "SMTP_HOST",
                smtp.map_or_else(
                    || "(not set: mail goes to files)".into(),
                    |s| s.host.clone(),
                ),
            ),
            (
                "SMTP_PORT",
                smtp.map_or_else(|| "-".into(), |s| s.port.to_string()),
            ),
            (
                "SMTP_USER",
                smtp.and_then(|s| s.user.clone())
                    .unwrap_or_else(|| "(not set)".into()),
            ),
            (
                "SMTP_PASSWORD",
                masked(smtp.is_some_and(|s| s.password.is_some())),
            ),
            ("JHE_MAIL_DIR", self.mail.dir.display().to_string()),
            (
                "JHE_SEED_ON_EMPTY",
                match self.seed_on_empty {
                    SeedOnEmpty::DefaultDatabaseOnly => "(default database only)".into(),
                    SeedOnEmpty::Always => "true".into(),
                    SeedOnEmpty::Never => "false".into(),
                },
            ),
            (
                "JHE_ALLOW_DEMO_ACCOUNTS",
                self.allow_demo_accounts.to_string(),
            ),
            (
                "JHE_LOG_FORMAT",
                match self.log_format {
                    LogFormat::Text => "text".into(),
                    LogFormat::Json => "json".into(),
                },
            ),
            (
                "JHE_METRICS",
                if self.metrics.enabled { "on" } else { "off" }.into(),
            ),
            ("JHE_METRICS_TOKEN", masked(self.metrics.token.is_some())),
            (
                "JHE_SHUTDOWN_TIMEOUT_SECS",
                self.shutdown_timeout_secs.to_string(),
            ),
            (
                "JHE_SWEEP_INTERVAL_SECS",
                self.sweep_interval_secs.to_string(),
            ),
            (
                "JHE_DB_CONNECT_TIMEOUT_SECS",
                self.db_connect_timeout_secs.to_string(),
            ),
        ]
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

/// The listen address of a `--bind`/`JHE_BIND` value: a bare port (`8125` or `:8125`) means
/// `127.0.0.1:<port>`; otherwise `host:port` (IPv6 in brackets) with a numeric port.
///
/// # Errors
/// Why the value is not a listen address.
pub fn normalize_bind(value: &str) -> Result<String, String> {
    let value = value.trim();
    let port_only = value.strip_prefix(':').unwrap_or(value);
    if !port_only.is_empty() && port_only.bytes().all(|b| b.is_ascii_digit()) {
        let port: u16 = port_only
            .parse()
            .map_err(|_| format!("{value:?}: the port must be 0-65535"))?;
        return Ok(format!("127.0.0.1:{port}"));
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(format!(
            "{value:?} is not host:port (e.g. 127.0.0.1:8000, 0.0.0.0:8000) or a port"
        ));
    };
    if host.is_empty() {
        return Err(format!("{value:?} has no host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{value:?}: write IPv6 addresses in brackets, e.g. [::1]:8000"
        ));
    }
    port.parse::<u16>()
        .map_err(|_| format!("{value:?}: {port:?} is not a port number (0-65535)"))?;
    Ok(value.to_string())
}

/// The public origin derived from a listen address: `http://localhost:8000` for the default,
/// `http://<host>:<port>` otherwise (unspecified hosts become `localhost`).
pub fn site_url_for_bind(bind: &str) -> String {
    if bind == DEFAULT_BIND {
        return jhe_core::config::DEFAULT_SITE_URL.into();
    }
    let bind = normalize_bind(bind).unwrap_or_else(|_| bind.to_string());
    let (host, port) = match bind.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (bind.as_str(), "80"),
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
    fn a_bare_port_binds_to_loopback() {
        assert_eq!(normalize_bind("8125").unwrap(), "127.0.0.1:8125");
        assert_eq!(normalize_bind(":8125").unwrap(), "127.0.0.1:8125");
        assert_eq!(normalize_bind("0.0.0.0:80").unwrap(), "0.0.0.0:80");
        assert_eq!(normalize_bind("[::1]:8000").unwrap(), "[::1]:8000");
        assert!(normalize_bind("99999").is_err());
        assert!(normalize_bind("localhost").is_err());
        assert!(normalize_bind("host:http").is_err());
        assert!(normalize_bind("::1:80").is_err());
        assert_eq!(site_url_for_bind("8125"), "http://127.0.0.1:8125");
        let c = config(&[("JHE_BIND", "8125")]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8125");
        assert_eq!(c.site_url, "http://127.0.0.1:8125");
        let mut c = config(&[]).unwrap();
        c.set_bind("9001", false).unwrap();
        assert_eq!(
            (c.bind.as_str(), c.site_url.as_str()),
            ("127.0.0.1:9001", "http://127.0.0.1:9001")
        );
    }

    #[test]
    fn load_reports_every_bad_variable() {
        let map: HashMap<String, String> = [
            ("SMTP_HOST", "x"),
            ("SMTP_PORT", "abc"),
            ("JHE_ACCESS_TOKEN_LIFETIME", "soon"),
            ("JHE_LOG_FORMAT", "xml"),
            ("JHE_METRICS", "perhaps"),
            ("JHE_BIND", "nowhere"),
            ("SITE_URL", "https://jhe.example.org"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (c, problems) = ServerConfig::load(|k| map.get(k).cloned());
        let names: Vec<String> = problems
            .iter()
            .map(|p| match p {
                ConfigError::Invalid { name, .. } => name.to_string(),
                other => other.to_string(),
            })
            .collect();
        for expected in [
            "SMTP_PORT",
            "JHE_ACCESS_TOKEN_LIFETIME",
            "JHE_LOG_FORMAT",
            "JHE_METRICS",
            "JHE_BIND",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert_eq!(
            c.site_url, "https://jhe.example.org",
            "good settings are kept"
        );
    }

    #[test]
    fn effective_settings_mask_secrets() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:dbpass-qzx@db/jhe"),
            ("SECRET_KEY", "qzx-key-qzx"),
            ("SMTP_HOST", "smtp.example.org"),
            ("SMTP_PASSWORD", "smtp-qzx"),
            ("REGISTRATION_INVITE_CODE", "invite-qzx"),
            ("JHE_METRICS_TOKEN", "qzx-metrics-token-qzx"),
        ])
        .unwrap();
        let printed = format!("{:?}", c.effective_settings());
        assert!(!printed.contains("qzx"), "{printed}");
        assert!(printed.contains("smtp.example.org"), "{printed}");
        assert!(printed.contains("postgres://u:***@db/jhe"), "{printed}");
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
