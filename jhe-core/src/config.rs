//! Configuration from the environment (12-factor); `.env` is honoured.
//!
//! Names follow the original JHE where it has them (`SITE_URL`, `DB_*`, `SECRET_KEY`,
//! `OIDC_RSA_PRIVATE_KEY`, `REGISTRATION_INVITE_CODE`, `SMTP_*`, `TRUSTED_TOKEN_IDP`) plus
//! `DATABASE_URL` and `JHE_*` for what is new.

use std::path::PathBuf;

use thiserror::Error;

pub use crate::http::forwarded::TrustedProxies;

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
    /// The configuration is unsafe for a server reachable beyond this machine (a non-loopback
    /// `SITE_URL`): the server refuses to start. The message says what to change.
    #[error("{0}")]
    Unsafe(String),
}

/// Where the audit trail goes (`JHE_AUDIT_SINK`, `JHE_AUDIT_FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Write audit events to the database (`JHE_AUDIT_SINK` contains `database`; the default).
    pub database: bool,
    /// Append audit events to [`file`](Self::file) as NDJSON (`JHE_AUDIT_SINK` contains `ndjson`).
    pub ndjson: bool,
    /// The NDJSON file (`JHE_AUDIT_FILE`, default `audit.ndjson`).
    pub file: PathBuf,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            database: true,
            ndjson: false,
            file: PathBuf::from("audit.ndjson"),
        }
    }
}

impl AuditConfig {
    /// Parses `JHE_AUDIT_SINK`: a comma-separated list of `database` and `ndjson`, or `none`.
    ///
    /// # Errors
    /// An unknown sink name.
    pub fn parse_sinks(&mut self, value: &str) -> Result<(), ConfigError> {
        self.database = false;
        self.ndjson = false;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "database" | "db" => self.database = true,
                "ndjson" | "file" => self.ndjson = true,
                "none" => {}
                other => {
                    return Err(ConfigError::Invalid {
                        name: "JHE_AUDIT_SINK",
                        reason: format!(
                            "unknown audit sink \"{other}\" (use database, ndjson or none)"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// FHIR Bulk Data export (`JHE_EXPORT_DIR`, `JHE_EXPORT_TTL_HOURS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// Where export files are written (`JHE_EXPORT_DIR`, default `exports`); replicas serving
    /// one database must share it.
    pub dir: PathBuf,
    /// How long a job and its files are kept after kick-off (`JHE_EXPORT_TTL_HOURS`, default 24).
    pub ttl_hours: i64,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            dir: PathBuf::from("exports"),
            ttl_hours: 24,
        }
    }
}

/// Shown instead of a secret in `Debug` output.
const REDACTED: &str = "[redacted]";

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
    /// Public origin used in redirect URIs, links and the OIDC issuer (`SITE_URL`), no trailing `/`.
    pub site_url: String,
    /// PEM RSA private key for ID tokens (`OIDC_RSA_PRIVATE_KEY`); generated and stored when absent.
    pub oidc_rsa_private_key: Option<String>,
    /// Secret for signed links (`SECRET_KEY`); derived from the signing key when absent.
    pub secret_key: Option<String>,
    /// Invite code seeded into `site.registration_invite_code` (`REGISTRATION_INVITE_CODE`, default `jhe`).
    pub registration_invite_code: String,
    /// Sender address (`DEFAULT_FROM_EMAIL`, default `support@jhe.org`).
    pub from_email: String,
    /// Trusted IdP for token exchange (`TRUSTED_TOKEN_IDP`).
    pub trusted_token_idp: Option<String>,
    /// OAuth lifetimes.
    pub lifetimes: TokenLifetimes,
    /// The audit trail's sinks.
    pub audit: AuditConfig,
    /// Bulk Data export.
    pub export: ExportConfig,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-*` headers are believed
    /// (`TRUSTED_PROXIES`; default loopback). See [`crate::http::forwarded`].
    pub trusted_proxies: TrustedProxies,
    /// Seconds a verified bearer token is remembered (`JHE_TOKEN_CACHE_SECS`, default
    /// [`DEFAULT_TOKEN_CACHE_SECS`] = no cache). Revocation on this process applies at once; one
    /// made through another replica applies here after at most this long. See
    /// [`crate::services::token_cache`].
    pub token_cache_secs: u64,
    /// Most tokens the cache holds (`JHE_TOKEN_CACHE_ENTRIES`, default
    /// [`DEFAULT_TOKEN_CACHE_ENTRIES`]).
    pub token_cache_entries: u64,
}

/// Default of `JHE_TOKEN_CACHE_SECS`: no bearer-token cache (every request verifies its token
/// in the database), so that revocation is immediate on every replica.
pub const DEFAULT_TOKEN_CACHE_SECS: u64 = 0;
/// Default of `JHE_TOKEN_CACHE_ENTRIES`.
pub const DEFAULT_TOKEN_CACHE_ENTRIES: u64 = 10_000;

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("site_url", &self.site_url)
            .field(
                "oidc_rsa_private_key",
                &self.oidc_rsa_private_key.as_ref().map(|_| REDACTED),
            )
            .field("secret_key", &self.secret_key.as_ref().map(|_| REDACTED))
            .field("registration_invite_code", &REDACTED)
            .field("from_email", &self.from_email)
            .field("trusted_token_idp", &self.trusted_token_idp)
            .field("lifetimes", &self.lifetimes)
            .field("audit", &self.audit)
            .field("export", &self.export)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("token_cache_secs", &self.token_cache_secs)
            .field("token_cache_entries", &self.token_cache_entries)
            .finish()
    }
}

/// Hides the password of a URL like `postgres://user:secret@host/db`. A URL that does not parse
/// is hidden whole (it might still hold a password).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => REDACTED.to_string(),
    }
}

/// Whether `url`'s host is a loopback address: `localhost`, `127.0.0.0/8` or `[::1]`
/// (an IPv4-mapped `[::ffff:127.x.y.z]` too). Anything that does not parse is not.
pub fn is_loopback_url(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(name)) => {
            name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// The default public origin.
pub const DEFAULT_SITE_URL: &str = "http://localhost:8000";

impl Default for Config {
    fn default() -> Self {
        Self {
            site_url: DEFAULT_SITE_URL.into(),
            oidc_rsa_private_key: None,
            secret_key: None,
            registration_invite_code: "jhe".into(),
            from_email: "support@jhe.org".into(),
            trusted_token_idp: None,
            lifetimes: TokenLifetimes::default(),
            audit: AuditConfig::default(),
            export: ExportConfig::default(),
            trusted_proxies: TrustedProxies::default(),
            token_cache_secs: DEFAULT_TOKEN_CACHE_SECS,
            token_cache_entries: DEFAULT_TOKEN_CACHE_ENTRIES,
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
        let get = |name: &str| setting(&lookup, name);
        let site_url = match get("SITE_URL") {
            Some(url) => {
                url::Url::parse(&url).map_err(|e| ConfigError::Invalid {
                    name: "SITE_URL",
                    reason: e.to_string(),
                })?;
                url.trim_end_matches('/').to_string()
            }
            None => DEFAULT_SITE_URL.into(),
        };
        let mut config = Config {
            site_url,
            ..Config::default()
        };
        if let Some(value) = lookup("TRUSTED_PROXIES") {
            config.trusted_proxies =
                TrustedProxies::parse(&value).map_err(|reason| ConfigError::Invalid {
                    name: "TRUSTED_PROXIES",
                    reason,
                })?;
        }
        config.oidc_rsa_private_key = get("OIDC_RSA_PRIVATE_KEY").map(|k| k.replace("\\n", "\n"));
        config.secret_key = get("SECRET_KEY");
        if let Some(code) = get("REGISTRATION_INVITE_CODE") {
            config.registration_invite_code = code;
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
        let count = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                Some(v) => v.parse::<u64>().map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("{v:?} is not a non-negative whole number"),
                }),
                None => Ok(default),
            }
        };
        config.token_cache_secs = count("JHE_TOKEN_CACHE_SECS", DEFAULT_TOKEN_CACHE_SECS)?;
        config.token_cache_entries = count("JHE_TOKEN_CACHE_ENTRIES", DEFAULT_TOKEN_CACHE_ENTRIES)?;
        if let Some(v) = get("JHE_AUDIT_SINK") {
            config.audit.parse_sinks(&v)?;
        }
        if let Some(v) = get("JHE_AUDIT_FILE") {
            config.audit.file = PathBuf::from(v);
        }
        if let Some(v) = get("JHE_EXPORT_DIR") {
            config.export.dir = PathBuf::from(v);
        }
        if let Some(v) = get("JHE_EXPORT_TTL_HOURS") {
            config.export.ttl_hours =
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|h| *h > 0)
                    .ok_or(ConfigError::Invalid {
                        name: "JHE_EXPORT_TTL_HOURS",
                        reason: "a positive number of hours".into(),
                    })?;
        }
        Ok(config)
    }

    /// Whether `SITE_URL` is a loopback address ([`is_loopback_url`]): a server only this machine
    /// reaches, where the demo defaults are acceptable.
    pub fn site_is_loopback(&self) -> bool {
        is_loopback_url(&self.site_url)
    }

    /// Refuses a non-loopback `SITE_URL` without `SECRET_KEY`: the secret of signed links
    /// (password reset, e-mail verification) would otherwise be derived from the signing key
    /// held in the database, so anyone who reads a database backup could forge reset links.
    ///
    /// # Errors
    /// [`ConfigError::Unsafe`] naming `SECRET_KEY` when it is missing on a non-loopback site.
    pub fn check_link_secret(&self) -> Result<(), ConfigError> {
        if self.secret_key.is_some() || self.site_is_loopback() {
            return Ok(());
        }
        Err(ConfigError::Unsafe(format!(
            "SECRET_KEY is not set and SITE_URL ({}) is not a loopback address: set SECRET_KEY \
             to a long random value (e.g. `openssl rand -hex 32`); link-signing secrets are \
             derived from the database-held signing key only for loopback sites",
            self.site_url
        )))
    }

    /// Whether link-signing secrets may be derived from the database-held signing key (no
    /// `SECRET_KEY`, loopback `SITE_URL`).
    pub fn may_derive_link_secret(&self) -> bool {
        self.check_link_secret().is_ok()
    }
}

/// Reads a boolean variable (`1/true/yes/on`, `0/false/no/off`, any case).
/// The value of setting `name` through `lookup`, trimmed; `None` when unset or empty (an empty
/// variable counts as unset everywhere settings are read).
pub fn setting(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Parses a boolean setting (`1`/`true`/`yes`/`on`, `0`/`false`/`no`/`off`).
///
/// # Errors
/// [`ConfigError::Invalid`] naming the variable for anything else.
pub fn parse_flag(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("{value:?} is not true or false"),
        }),
    }
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
        assert_eq!(c.site_url, "http://localhost:8000");
        assert_eq!(c.registration_invite_code, "jhe");
        assert_eq!(c.lifetimes.access_token, 1_209_600);
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
    fn trusted_proxies_default_to_loopback_and_reject_nonsense() {
        let c = config(&[]).unwrap();
        assert_eq!(c.trusted_proxies, TrustedProxies::default());
        let c = config(&[("TRUSTED_PROXIES", "10.0.0.0/8 192.168.0.1")]).unwrap();
        assert_eq!(c.trusted_proxies.networks().len(), 2);
        let c = config(&[("TRUSTED_PROXIES", "none")]).unwrap();
        assert!(c.trusted_proxies.networks().is_empty());
        let e = config(&[("TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err();
        assert!(e.to_string().contains("TRUSTED_PROXIES"), "{e}");
    }

    #[test]
    fn secrets_do_not_print_through_debug() {
        let c = config(&[
            ("SECRET_KEY", "qzx-key-qzx"),
            ("OIDC_RSA_PRIVATE_KEY", "pem-qzx"),
            ("REGISTRATION_INVITE_CODE", "invite-qzx"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("qzx"), "{printed}");
        assert!(!redact_url("postgres://u:pw@db:5432/jhe").contains("pw@"));
    }

    #[test]
    fn loopback_addresses() {
        for url in [
            "http://localhost:8000",
            "http://LOCALHOST",
            "http://127.0.0.1:9000",
            "http://127.8.9.10",
            "http://[::1]:8000",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://jhe.example.org",
            "http://10.0.0.1:8000",
            "http://0.0.0.0:8000",
            "http://[::]:8000",
            "http://localhost.example.org",
            "not a url",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn public_sites_need_a_secret_key() {
        assert!(config(&[]).unwrap().check_link_secret().is_ok());
        let public = config(&[("SITE_URL", "https://jhe.example.org")]).unwrap();
        let err = public.check_link_secret().unwrap_err();
        assert!(matches!(err, ConfigError::Unsafe(_)));
        assert!(err.to_string().contains("SECRET_KEY"), "{err}");
        assert!(!public.may_derive_link_secret());
        let keyed =
            config(&[("SITE_URL", "https://jhe.example.org"), ("SECRET_KEY", "k")]).unwrap();
        assert!(keyed.check_link_secret().is_ok());
    }

    #[test]
    fn bad_values_are_reported() {
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
