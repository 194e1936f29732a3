//! The `Mailer` trait: how e-mail leaves the server.

use async_trait::async_trait;
use thiserror::Error;

/// An e-mail message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Sender address.
    pub from: String,
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html_body: String,
    /// Plain-text body.
    pub text_body: String,
}

/// Why a message could not be sent.
#[derive(Debug, Error)]
#[error("could not send e-mail: {0}")]
pub struct MailError(pub String);

/// Sends e-mail (SMTP, files, …).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// Logs that a message would have been sent (recipient and subject only: bodies hold secrets).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        tracing::warn!(to = %email.to, subject = %email.subject, "no mailer configured; e-mail not delivered");
        Ok(())
    }
}
