//! [`SmtpMailer`]: sends through an SMTP relay over TLS.
//!
//! # TLS crypto provider
//!
//! The workspace compiles rustls with both `ring` and `aws-lc-rs` (other dependencies pull in
//! `ring`), and rustls panics when it has to pick a process-wide default provider in that case.
//! lettre, built with its `aws-lc-rs` feature, does not need one: it uses the installed default
//! if there is one and otherwise builds its `ClientConfig` explicitly with
//! `rustls::crypto::aws_lc_rs::default_provider()` (`smtp_transport_builds_without_a_default_provider`
//! checks this). Should a panic like "no process-level CryptoProvider available" ever appear
//! anyway (e.g. after a lettre upgrade or feature change), the binary must install the provider
//! early in `main`, before any TLS client is built:
//!
//! ```ignore
//! let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
//! ```

use std::time::Duration;

use super::SmtpConfig;
use async_trait::async_trait;
use jhe_core::mailer::{Email, MailError, Mailer};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::build_message;

/// The timeout of each SMTP connection attempt and command used by [`SmtpMailer::new`].
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends e-mail through an SMTP relay (lettre, pooled connections).
///
/// Port 465 uses implicit TLS (SMTPS); any other port connects in plain text and requires
/// STARTTLS before credentials or mail are sent. Certificates are checked against the
/// webpki roots.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
    port: u16,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the relay in `config`, with [`DEFAULT_SMTP_TIMEOUT`].
    ///
    /// Must be called inside a Tokio runtime (the connection pool spawns its clean-up task on
    /// it); outside one this returns an error. Nothing is sent or connected here.
    pub fn new(config: &SmtpConfig) -> Result<Self, MailError> {
        Self::with_timeout(config, DEFAULT_SMTP_TIMEOUT)
    }

    /// Like [`new`](Self::new) with another timeout for connecting and for each SMTP command.
    pub fn with_timeout(config: &SmtpConfig, timeout: Duration) -> Result<Self, MailError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailError(
                "the SMTP mailer must be created inside a Tokio runtime".into(),
            ));
        }
        let builder = if config.port == 465 {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
        }
        .map_err(|e| MailError(format!("invalid SMTP relay {:?}: {e}", config.host)))?;
        let mut builder = builder.port(config.port).timeout(Some(timeout));
        if let Some(user) = &config.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                config.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            host: config.host.clone(),
            port: config.port,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = build_message(email)?;
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(to = %email.to, subject = %email.subject, "e-mail sent over SMTP");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(to = %email.to, subject = %email.subject, error = %e, "SMTP send failed");
                Err(MailError(format!(
                    "SMTP relay {}:{}: {e}",
                    self.host, self.port
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str, port: u16, user: Option<&str>) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port,
            user: user.map(Into::into),
            password: user.map(|_| "secret".into()),
        }
    }

    fn email() -> Email {
        Email {
            to: "alice@example.org".into(),
            from: "support@jhe.org".into(),
            subject: "Hello".into(),
            html_body: "<p>Hi</p>".into(),
            text_body: "Hi".into(),
        }
    }

    /// Building the TLS parameters is where rustls would panic if it had to choose a default
    /// provider with both ring and aws-lc-rs compiled in; nothing in this test binary installs
    /// one, so this proves lettre picks aws-lc-rs itself. No network is touched.
    #[tokio::test]
    async fn smtp_transport_builds_without_a_default_provider() {
        let starttls = SmtpMailer::new(&config("localhost", 2525, None)).unwrap();
        assert_eq!((starttls.host.as_str(), starttls.port), ("localhost", 2525));
        let implicit = SmtpMailer::new(&config("localhost", 465, Some("user"))).unwrap();
        assert_eq!(implicit.port, 465);
        let submission = SmtpMailer::new(&config("smtp.example.org", 587, Some("u"))).unwrap();
        let debug = format!("{submission:?}");
        assert!(
            debug.contains("smtp.example.org") && !debug.contains("secret"),
            "{debug}"
        );
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        assert!(SmtpMailer::new(&config("localhost", 2525, None)).is_err());
    }

    #[tokio::test]
    async fn closed_port_fails_quickly() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mailer =
            SmtpMailer::with_timeout(&config("127.0.0.1", port, None), Duration::from_secs(5))
                .unwrap();
        let result = tokio::time::timeout(Duration::from_secs(15), mailer.send(&email()))
            .await
            .expect("send must not hang");
        let err = result.unwrap_err();
        assert!(err.0.contains(&format!("127.0.0.1:{port}")), "{err}");
    }

    #[tokio::test]
    async fn invalid_recipient_is_an_error() {
        let mailer = SmtpMailer::new(&config("localhost", 2525, None)).unwrap();
        let mut bad = email();
        bad.to = "nope".into();
        assert!(mailer.send(&bad).await.is_err());
    }
}
