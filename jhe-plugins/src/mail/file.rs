//! [`FileMailer`]: writes every message to a directory instead of sending it.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::mailer::{Email, MailError, Mailer};
use serde::{Deserialize, Serialize};

use super::build_message;

/// The `.json` twin of a message written by [`FileMailer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEmail {
    /// Recipient address.
    pub to: String,
    /// Sender address.
    pub from: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text_body: String,
    /// HTML body.
    pub html_body: String,
    /// When the message was written.
    pub sent_at: DateTime<Utc>,
}

/// Writes each message as `<dir>/<UTC timestamp>-<random>.eml` (the RFC 5322 text) plus a
/// sibling `.json` ([`StoredEmail`]) that tests read with [`messages`](Self::messages).
///
/// The default mailer when no SMTP relay is configured. The directory is created on the first
/// message. Only the recipient and subject are logged: bodies hold secret links.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    /// A mailer writing to `dir` (created when the first message is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory messages are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every message written so far (read from the `.json` files), oldest first. An absent
    /// directory means no messages.
    pub async fn messages(&self) -> Result<Vec<StoredEmail>, MailError> {
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("read", &self.dir, &e)),
        };
        let mut found = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io_error("read", &self.dir, &e))?
        {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| io_error("read", &path, &e))?;
            let stored: StoredEmail = serde_json::from_slice(&bytes)
                .map_err(|e| MailError(format!("invalid mail file {}: {e}", path.display())))?;
            found.push((stored, path));
        }
        // File names start with the timestamp, so they break ties of equal `sent_at`.
        found.sort_by(|(a, a_path), (b, b_path)| {
            a.sent_at.cmp(&b.sent_at).then_with(|| a_path.cmp(b_path))
        });
        Ok(found.into_iter().map(|(stored, _)| stored).collect())
    }
}

fn io_error(action: &str, path: &Path, e: &std::io::Error) -> MailError {
    MailError(format!("could not {action} {}: {e}", path.display()))
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        // Build first: an invalid address must not leave files behind.
        let message = build_message(email)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_error("create", &self.dir, &e))?;
        let sent_at = Utc::now();
        let stem = format!(
            "{}-{}",
            sent_at.format("%Y%m%dT%H%M%S%.6fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let eml = self.dir.join(format!("{stem}.eml"));
        tokio::fs::write(&eml, message.formatted())
            .await
            .map_err(|e| io_error("write", &eml, &e))?;
        let stored = StoredEmail {
            to: email.to.clone(),
            from: email.from.clone(),
            subject: email.subject.clone(),
            text_body: email.text_body.clone(),
            html_body: email.html_body.clone(),
            sent_at,
        };
        let json = serde_json::to_vec_pretty(&stored)
            .map_err(|e| MailError(format!("could not encode the message: {e}")))?;
        // Write under a temporary name and rename, so `messages()` never sees half a file.
        let partial = self.dir.join(format!("{stem}.json.partial"));
        let final_json = self.dir.join(format!("{stem}.json"));
        tokio::fs::write(&partial, json)
            .await
            .map_err(|e| io_error("write", &partial, &e))?;
        tokio::fs::rename(&partial, &final_json)
            .await
            .map_err(|e| io_error("rename", &partial, &e))?;
        tracing::info!(to = %email.to, subject = %email.subject, file = %eml.display(), "e-mail written to file");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            Self(std::env::temp_dir().join(format!("jhe-mail-test-{}", uuid::Uuid::new_v4())))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn email(to: &str, subject: &str) -> Email {
        Email {
            to: to.into(),
            from: "support@jhe.org".into(),
            subject: subject.into(),
            html_body: "<p>Open <a href=\"http://localhost:8000/invite?code=abc\">this</a></p>"
                .into(),
            text_body: "Open http://localhost:8000/invite?code=abc".into(),
        }
    }

    async fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut entries = tokio::fs::read_dir(dir).await.unwrap();
        while let Some(e) = entries.next_entry().await.unwrap() {
            out.push(e.path());
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn writes_eml_and_json_and_reads_them_back() {
        let tmp = TempDir::new();
        // A nested, missing directory is created.
        let dir = tmp.0.join("nested").join("mail");
        let mailer = FileMailer::new(&dir);
        assert_eq!(mailer.dir(), dir.as_path());
        assert!(mailer.messages().await.unwrap().is_empty());

        let before = Utc::now();
        mailer
            .send(&email("alice@example.org", "First"))
            .await
            .unwrap();
        mailer
            .send(&email("bob@example.org", "Second"))
            .await
            .unwrap();
        let after = Utc::now();

        let paths = files(&dir).await;
        assert_eq!(paths.len(), 4, "{paths:?}");
        let ext = |p: &PathBuf| p.extension().and_then(|e| e.to_str()).unwrap().to_string();
        assert_eq!(paths.iter().filter(|p| ext(p) == "eml").count(), 2);
        assert_eq!(paths.iter().filter(|p| ext(p) == "json").count(), 2);
        for p in &paths {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            assert!(paths.contains(&dir.join(format!("{stem}.eml"))));
            assert!(paths.contains(&dir.join(format!("{stem}.json"))));
        }

        let messages = mailer.messages().await.unwrap();
        assert_eq!(messages.len(), 2);
        let first = &messages[0];
        assert_eq!(first.to, "alice@example.org");
        assert_eq!(first.from, "support@jhe.org");
        assert_eq!(first.subject, "First");
        assert_eq!(
            first.text_body,
            "Open http://localhost:8000/invite?code=abc"
        );
        assert_eq!(
            first.html_body,
            "<p>Open <a href=\"http://localhost:8000/invite?code=abc\">this</a></p>"
        );
        assert!(before <= first.sent_at && first.sent_at <= after);
        assert_eq!(messages[1].to, "bob@example.org");
        assert_eq!(messages[1].subject, "Second");
        assert!(messages[0].sent_at <= messages[1].sent_at);
    }

    #[tokio::test]
    async fn eml_holds_headers_and_both_parts() {
        let tmp = TempDir::new();
        let mailer = FileMailer::new(&tmp.0);
        mailer
            .send(&email("alice@example.org", "Your invitation"))
            .await
            .unwrap();
        let eml = files(&tmp.0)
            .await
            .into_iter()
            .find(|p| p.extension().and_then(|e| e.to_str()) == Some("eml"))
            .unwrap();
        let text = tokio::fs::read_to_string(&eml).await.unwrap();
        assert!(text.contains("Subject: Your invitation"), "{text}");
        assert!(text.contains("From: support@jhe.org"), "{text}");
        assert!(text.contains("To: alice@example.org"), "{text}");
        assert!(text.contains("Date: "), "{text}");
        assert!(text.contains("Message-ID: <"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Content-Type: text/plain"), "{text}");
        assert!(text.contains("Content-Type: text/html"), "{text}");
        assert!(
            text.contains("Open http://localhost:8000/invite?code=abc"),
            "{text}"
        );
        assert!(text.contains("<p>Open <a href="), "{text}");
    }

    #[tokio::test]
    async fn invalid_recipient_is_an_error_and_writes_nothing() {
        let tmp = TempDir::new();
        let mailer = FileMailer::new(&tmp.0);
        for bad in ["not an address", "a@b@c", "", "<broken"] {
            let err = mailer.send(&email(bad, "x")).await.unwrap_err();
            assert!(err.0.contains("To"), "{err}");
        }
        assert!(!tmp.0.exists());
        assert!(mailer.messages().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn corrupt_json_is_reported() {
        let tmp = TempDir::new();
        tokio::fs::create_dir_all(&tmp.0).await.unwrap();
        tokio::fs::write(tmp.0.join("x.json"), b"{").await.unwrap();
        assert!(FileMailer::new(&tmp.0).messages().await.is_err());
    }
}
