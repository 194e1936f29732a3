//! Mailers: [`FileMailer`] (the default: every message becomes a `.eml` + `.json` file pair) and
//! [`SmtpMailer`] (an SMTP relay over TLS), chosen by [`mailer_from_config`].
//!
//! Both build the same RFC 5322 message with lettre: `From`, `To`, `Subject`, `Date`,
//! `Message-ID` and a `multipart/alternative` body holding the plain-text and the HTML part.
//! Neither ever logs a body: bodies hold secret links (invitations, password resets).

mod file;
mod smtp;

use std::sync::Arc;

use jhe_core::mailer::{Email, MailError, Mailer};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

pub use file::{FileMailer, StoredEmail};
pub use smtp::{DEFAULT_SMTP_TIMEOUT, SmtpMailer};

/// The mailer the configuration asks for: an [`SmtpMailer`] when `config.smtp` is set, else a
/// [`FileMailer`] writing to `config.mail_dir`.
///
/// Building an [`SmtpMailer`] needs a running Tokio runtime (see [`SmtpMailer::new`]); without
/// one this returns an error rather than panicking.
pub fn mailer_from_config(config: &jhe_core::Config) -> Result<Arc<dyn Mailer>, MailError> {
    match &config.smtp {
        Some(smtp) => {
            let mailer = SmtpMailer::new(smtp)?;
            tracing::info!(host = %smtp.host, port = smtp.port, "e-mail is sent over SMTP");
            Ok(Arc::new(mailer))
        }
        None => {
            tracing::info!(dir = %config.mail_dir.display(), "no SMTP configured; e-mail is written to files");
            Ok(Arc::new(FileMailer::new(config.mail_dir.clone())))
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
        let config = jhe_core::Config {
            mail_dir: dir.clone(),
            ..Default::default()
        };
        let mailer = mailer_from_config(&config).unwrap();
        mailer.send(&email("a@example.org")).await.unwrap();
        assert_eq!(FileMailer::new(&dir).messages().await.unwrap().len(), 1);
        let _ = tokio::fs::remove_dir_all(&dir).await;

        let config = jhe_core::Config {
            smtp: Some(jhe_core::config::SmtpConfig {
                host: "localhost".into(),
                port: 2525,
                user: None,
                password: None,
            }),
            ..Default::default()
        };
        assert!(mailer_from_config(&config).is_ok());
    }
}
