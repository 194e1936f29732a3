//! Mailers: [`FileMailer`] (the default: every message becomes a `.eml` + `.json` file pair) and
//! [`SmtpMailer`] (an SMTP relay over TLS), chosen by [`mailer_from_config`].
//!
//! Both build the same RFC 5322 message with lettre: `From`, `To`, `Subject`, `Date`,
//! `Message-ID` and a `multipart/alternative` body holding the plain-text and the HTML part.
//! Neither ever logs a body: bodies hold secret links (invitations, password resets).

mod file;
mod smtp;

use std::path::PathBuf;
use std::sync::Arc;

use jhe_core::config::ConfigError;
use jhe_core::mailer::{Email, MailError, Mailer};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

pub use file::{FileMailer, StoredEmail};
pub use smtp::{DEFAULT_SMTP_TIMEOUT, SmtpMailer};

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
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Where e-mail goes: an SMTP relay, or (without one) `.eml` files in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// SMTP relay; `None` writes mail to files under [`dir`](Self::dir).
    pub smtp: Option<SmtpConfig>,
    /// Directory of the file mailer (`JHE_MAIL_DIR`, default `mail`).
    pub dir: PathBuf,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp: None,
            dir: PathBuf::from("mail"),
        }
    }
}

impl MailConfig {
    /// Reads `SMTP_HOST`, `SMTP_PORT` (default 587), `SMTP_USER`, `SMTP_PASSWORD` and
    /// `JHE_MAIL_DIR` through `lookup` (empty values count as unset).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a `SMTP_PORT` that is not a port number.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| jhe_core::config::setting(&lookup, name);
        let mut config = MailConfig::default();
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
            config.dir = PathBuf::from(dir);
        }
        Ok(config)
    }
}

/// The mailer the configuration asks for: an [`SmtpMailer`] when `config.smtp` is set, else a
/// [`FileMailer`] writing to `config.dir`.
///
/// Building an [`SmtpMailer`] needs a running Tokio runtime (see [`SmtpMailer::new`]); without
/// one this returns an error rather than panicking.
///
/// # Errors
/// An SMTP relay that cannot be set up (bad host name, no runtime).
pub fn mailer_from_config(config: &MailConfig) -> Result<Arc<dyn Mailer>, MailError> {
    match &config.smtp {
        Some(smtp) => {
            let mailer = SmtpMailer::new(smtp)?;
            tracing::info!(host = %smtp.host, port = smtp.port, "e-mail is sent over SMTP");
            Ok(Arc::new(mailer))
        }
        None => {
            tracing::info!(dir = %config.dir.display(), "no SMTP configured; e-mail is written to files");
            Ok(Arc::new(FileMailer::new(config.dir.clone())))
        }
    }
}

/// Parses one address (`user@example.org` or `Name <user@example.org>`).
fn mailbox(role: &str, address: &str) -> Result<Mailbox, MailError> {
    address
        .parse::<Mailbox>()
        .map_err(|e| MailError(format!("invalid {role} address {address:?}: {e}")))
}

/// Builds the RFC 5322 message shared by every mailer.
pub(crate) fn build_message(email: &Email) -> Result<Message, MailError> {
    Message::builder()
        .from(mailbox("From", &email.from)?)
        .to(mailbox("To", &email.to)?)
        .subject(email.subject.clone())
        .date_now()
        .message_id(None)
        .multipart(MultiPart::alternative_plain_html(
            email.text_body.clone(),
            email.html_body.clone(),
        ))
        .map_err(|e| MailError(format!("could not build the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str) -> Email {
        Email {
            to: to.into(),
            from: "JHE <support@jhe.org>".into(),
            subject: "Hello".into(),
            html_body: "<p>Hi</p>".into(),
            text_body: "Hi".into(),
        }
    }

    #[test]
    fn message_has_all_headers() {
        let message = build_message(&email("a@example.org")).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        for header in [
            "From: JHE <support@jhe.org>",
            "To: a@example.org",
            "Subject: Hello",
            "Date: ",
            "Message-ID: <",
            "Content-Type: multipart/alternative",
            "Content-Type: text/plain",
            "Content-Type: text/html",
        ] {
            assert!(text.contains(header), "missing {header:?} in\n{text}");
        }
    }

    #[test]
    fn invalid_addresses_are_errors() {
        assert!(build_message(&email("not an address")).is_err());
        let mut bad_from = email("a@example.org");
        bad_from.from = "@@".into();
        assert!(build_message(&bad_from).is_err());
    }

    #[tokio::test]
    async fn config_selects_the_mailer() {
        let dir = std::env::temp_dir().join(format!("jhe-mail-cfg-{}", uuid::Uuid::new_v4()));
        let config = MailConfig {
            dir: dir.clone(),
            ..Default::default()
        };
        let mailer = mailer_from_config(&config).unwrap();
        mailer.send(&email("a@example.org")).await.unwrap();
        assert_eq!(FileMailer::new(&dir).messages().await.unwrap().len(), 1);
        let _ = tokio::fs::remove_dir_all(&dir).await;

        let config = MailConfig {
            smtp: Some(SmtpConfig {
                host: "localhost".into(),
                port: 2525,
                user: None,
                password: None,
            }),
            ..Default::default()
        };
        assert!(mailer_from_config(&config).is_ok());
    }

    #[test]
    fn settings_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = MailConfig::from_lookup(vars(&[])).unwrap();
        assert_eq!(c, MailConfig::default());
        let c = MailConfig::from_lookup(vars(&[
            ("SMTP_HOST", "smtp.example.org"),
            ("SMTP_PASSWORD", "smtp-qzx"),
            ("JHE_MAIL_DIR", "/tmp/m"),
        ]))
        .unwrap();
        let smtp = c.smtp.clone().unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.example.org", 587));
        assert_eq!(c.dir, std::path::PathBuf::from("/tmp/m"));
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("qzx") && printed.contains("smtp.example.org"),
            "{printed}"
        );
        assert!(matches!(
            MailConfig::from_lookup(vars(&[("SMTP_HOST", "x"), ("SMTP_PORT", "abc")])),
            Err(ConfigError::Invalid {
                name: "SMTP_PORT",
                ..
            })
        ));
    }
}
