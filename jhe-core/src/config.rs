//! Configuration from the environment (12-factor); `.env` is honoured.
//!
//! Names follow the original JHE where it has them (`SITE_URL`, `DB_*`, `SECRET_KEY`,
//! `OIDC_RSA_PRIVATE_KEY`, `REGISTRATION_INVITE_CODE`, `SMTP_*`, `TRUSTED_TOKEN_IDP`) plus
//! `DATABASE_URL` and `JHE_*` for what is new.

use std::path::PathBuf;

use thiserror::Error;

/// Why the configuration is unusable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable has a value that cannot be used.
    #[error("invalid value for {name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// SMTP relay settings (`SMTP_HOST`, `SMTP_PORT`, `SMTP_USER`, `SMTP_PASSWORD`).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name.
    pub host: String,
    /// Port (587 by default, STARTTLS).
    pub port: u16,
    /// User name.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Lifetimes of OAuth artefacts, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Access tokens (`JHE_ACCESS_TOKEN_LIFETIME`, default 1 209 600 = 14 days).
    pub access_token: i64,
    /// Refresh tokens (`JHE_REFRESH_TOKEN_LIFETIME`, default 2 592 000 = 30 days, counted from
    /// each rotation; `0` = never expire, as the original).
    pub refresh_token: i64,
    /// ID tokens (`JHE_ID_TOKEN_LIFETIME`, default 36 000).
    pub id_token: i64,
    /// Authorization codes of the browser flow (`JHE_AUTHORIZATION_CODE_LIFETIME`, default 60).
    pub authorization_code: i64,
    /// Authorization codes embedded in patient invitation links
    /// (`JHE_INVITATION_CODE_LIFETIME`, default 1 209 600 = 14 days).
    pub invitation_code: i64,
    /// Browser sessions (`JHE_SESSION_LIFETIME`, default 1 209 600).
    pub session: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_token: 1_209_600,
            refresh_token: 2_592_000,
            id_token: 36_000,
            authorization_code: 60,
            invitation_code: 1_209_600,
            session: 1_209_600,
        }
    }
}

/// The server configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Database URL (`DATABASE_URL`, or built from `DB_HOST`/`DB_PORT`/`DB_NAME`/`DB_USER`/
    /// `DB_PASSWORD`; default `sqlite://jhe.db?mode=rwc`).
    pub database_url: String,
    /// Public origin used in redirect URIs, links and the OIDC issuer (`SITE_URL`), no trailing `/`.
    pub site_url: String,
    /// Listen address (`JHE_BIND`, default `127.0.0.1:8000`).
    pub bind: String,
    /// PEM RSA private key for ID tokens (`OIDC_RSA_PRIVATE_KEY`); generated and stored when absent.
    pub oidc_rsa_private_key: Option<String>,
    /// Secret for signed links (`SECRET_KEY`); derived from the signing key when absent.
    pub secret_key: Option<String>,
    /// Invite code seeded into `site.registration_invite_code` (`REGISTRATION_INVITE_CODE`, default `jhe`).
    pub registration_invite_code: String,
    /// SMTP relay; `None` writes mail to files under [`mail_dir`](Self::mail_dir).
    pub smtp: Option<SmtpConfig>,
    /// Directory of the file mailer (`JHE_MAIL_DIR`, default `mail`).
    pub mail_dir: PathBuf,
    /// Sender address (`DEFAULT_FROM_EMAIL`, default `support@jhe.org`).
    pub from_email: String,
    /// Trusted IdP for token exchange (`TRUSTED_TOKEN_IDP`).
    pub trusted_token_idp: Option<String>,
    /// OAuth lifetimes.
    pub lifetimes: TokenLifetimes,
    /// Seed demo data when the database is empty at `serve` (`JHE_SEED_ON_EMPTY`, default true).
    pub seed_on_empty: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("site_url", &self.site_url)
            .field("bind", &self.bind)
            .field(
                "oidc_rsa_private_key",
                &self.oidc_rsa_private_key.as_ref().map(|_| "***"),
            )
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .field("registration_invite_code", &"***")
            .field("smtp", &self.smtp)
            .field("mail_dir", &self.mail_dir)
            .field("from_email", &self.from_email)
            .field("trusted_token_idp", &self.trusted_token_idp)
            .field("lifetimes", &self.lifetimes)
            .field("seed_on_empty", &self.seed_on_empty)
            .finish()
    }
}

/// Hides the password of a URL like `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// The default SQLite database of the default server.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://jhe.db?mode=rwc";
/// The default public origin.
pub const DEFAULT_SITE_URL: &str = "http://localhost:8000";
/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.into(),
            site_url: DEFAULT_SITE_URL.into(),
            bind: DEFAULT_BIND.into(),
            oidc_rsa_private_key: None,
            secret_key: None,
            registration_invite_code: "jhe".into(),
            smtp: None,
            mail_dir: PathBuf::from("mail"),
            from_email: "support@jhe.org".into(),
            trusted_token_idp: None,
            lifetimes: TokenLifetimes::default(),
            seed_on_empty: true,
        }
    }
}

impl Config {
    /// Reads `.env` (if present) and then the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable lookup (testable without touching the process
    /// environment). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut config = Config::default();
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
        config.site_url = match get("SITE_URL") {
            Some(url) => {
                url::Url::parse(&url).map_err(|e| ConfigError::Invalid {
                    name: "SITE_URL",
                    reason: e.to_string(),
                })?;
                url.trim_end_matches('/').to_string()
            }
            None => site_url_for_bind(&config.bind),
        };
        config.oidc_rsa_private_key = get("OIDC_RSA_PRIVATE_KEY").map(|k| k.replace("\\n", "\n"));
        config.secret_key = get("SECRET_KEY");
        if let Some(code) = get("REGISTRATION_INVITE_CODE") {
            config.registration_invite_code = code;
        }
        if let Some(host) = get("SMTP_HOST") {
            let port = match get("SMTP_PORT") {
                Some(p) => p.parse().map_err(|_| ConfigError::Invalid {
                    name: "SMTP_PORT",
                    reason: format!("{p:?} is not a port number"),
                })?,
                None => 587,
            };
            config.smtp = Some(SmtpConfig {
                host,
                port,
                user: get("SMTP_USER"),
                password: get("SMTP_PASSWORD"),
            });
        }
        if let Some(dir) = get("JHE_MAIL_DIR") {
            config.mail_dir = PathBuf::from(dir);
        }
        if let Some(from) = get("DEFAULT_FROM_EMAIL") {
            config.from_email = from;
        }
        config.trusted_token_idp = get("TRUSTED_TOKEN_IDP");
        let seconds = |name: &'static str, default: i64| -> Result<i64, ConfigError> {
            match get(name) {
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or(ConfigError::Invalid {
                        name,
                        reason: format!("{v:?} is not a number of seconds"),
                    }),
                None => Ok(default),
            }
        };
        let d = TokenLifetimes::default();
        config.lifetimes = TokenLifetimes {
            access_token: seconds("JHE_ACCESS_TOKEN_LIFETIME", d.access_token)?,
            refresh_token: seconds("JHE_REFRESH_TOKEN_LIFETIME", d.refresh_token)?,
            id_token: seconds("JHE_ID_TOKEN_LIFETIME", d.id_token)?,
            authorization_code: seconds("JHE_AUTHORIZATION_CODE_LIFETIME", d.authorization_code)?,
            invitation_code: seconds("JHE_INVITATION_CODE_LIFETIME", d.invitation_code)?,
            session: seconds("JHE_SESSION_LIFETIME", d.session)?,
        };
        if let Some(v) = get("JHE_SEED_ON_EMPTY") {
            config.seed_on_empty = matches!(v.to_lowercase().as_str(), "1" | "true" | "yes" | "on");
        }
        Ok(config)
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

/// The public origin derived from a listen address: `http://localhost:8000` for the default,
/// `http://<host>:<port>` otherwise (unspecified hosts become `localhost`).
pub fn site_url_for_bind(bind: &str) -> String {
    if bind == DEFAULT_BIND {
        return DEFAULT_SITE_URL.into();
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

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://jhe.db?mode=rwc");
        assert_eq!(c.site_url, "http://localhost:8000");
        assert_eq!(c.bind, "127.0.0.1:8000");
        assert_eq!(c.registration_invite_code, "jhe");
        assert_eq!(c.lifetimes.access_token, 1_209_600);
        assert!(c.smtp.is_none());
    }

    #[test]
    fn refresh_tokens_expire_after_30_days_unless_set() {
        assert_eq!(config(&[]).unwrap().lifetimes.refresh_token, 2_592_000);
        let never = config(&[("JHE_REFRESH_TOKEN_LIFETIME", "0")]).unwrap();
        assert_eq!(never.lifetimes.refresh_token, 0);
        let hour = config(&[("JHE_REFRESH_TOKEN_LIFETIME", "3600")]).unwrap();
        assert_eq!(hour.lifetimes.refresh_token, 3600);
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
    fn bad_values_are_reported() {
        assert!(matches!(
            config(&[("SMTP_HOST", "x"), ("SMTP_PORT", "abc")]),
            Err(ConfigError::Invalid {
                name: "SMTP_PORT",
                ..
            })
        ));
        assert!(matches!(
            config(&[("JHE_ACCESS_TOKEN_LIFETIME", "-1")]),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            config(&[("SITE_URL", "not a url")]),
            Err(ConfigError::Invalid {
                name: "SITE_URL",
                ..
            })
        ));
    }
}
