//! How an integrator adds a data format: [`VendorCsvFormat`] accepts a wearable vendor's
//! heart-rate export, a CSV file, uploaded as a FHIR Observation whose `valueAttachment` has
//! `contentType: text/csv`. It is validated row by row, its time span is indexed (so FHIR
//! `date` searches find it) and it is stored as the attachment it came in.
//!
//! ```text
//! cargo run --example custom_data_format
//! ```
//!
//! The CSV (UTF-8, `,`-separated, a header line, then one reading per line):
//!
//! ```text
//! timestamp,bpm
//! 2025-01-01T10:00:00Z,61
//! 2025-01-01T10:01:00Z,64
//! ```
//!
//! `timestamp` is RFC 3339; `bpm` an integer from 20 to 300. The Observation's code is
//! `https://vendor.example/codes|hr-csv` (a `CodeableConcept` the data source must list
//! among its supported scopes, as for every opaque format).
//!
//! Formats are asked in order; the first whose `accepts` says yes validates. Put specific
//! formats (this one) before general ones (`AttachmentFormat`).

use jhe::core::chrono::{DateTime, Utc};
use jhe::core::domain::CodeableConcept;
use jhe::core::format::{DataFormat, FormatError, PayloadFacts};
use jhe::core::store::MaintenanceStore;
use jhe::core::{Config, JheServer};
use jhe::plugins::{AttachmentFormat, OmhFormat, PasswordIdp, RbacConsentPolicy, SeaOrmStore};

/// The coding system of the vendor's codes.
pub const VENDOR_SYSTEM: &str = "https://vendor.example/codes";
/// The code of a heart-rate CSV export.
pub const HR_CSV: &str = "hr-csv";
/// Largest accepted export (rows), so one upload cannot hold the server for long.
pub const MAX_ROWS: usize = 100_000;

/// A vendor's heart-rate CSV export (see the module).
#[derive(Debug, Clone, Copy, Default)]
pub struct VendorCsvFormat;

/// The media type without parameters, lower-case (`Text/CSV; charset=utf-8` → `text/csv`).
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl DataFormat for VendorCsvFormat {
    fn name(&self) -> &'static str {
        "vendor-hr-csv"
    }

    fn accepts(&self, content_type: &str, concept: &CodeableConcept) -> bool {
        essence(content_type) == "text/csv"
            && concept.coding_system == VENDOR_SYSTEM
            && concept.coding_code == HR_CSV
    }

    fn validate(
        &self,
        _concept: &CodeableConcept,
        payload: &[u8],
    ) -> Result<PayloadFacts, FormatError> {
        let text = std::str::from_utf8(payload)
            .map_err(|e| FormatError::Invalid(format!("the CSV is not UTF-8: {e}")))?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        match lines.next() {
            Some((_, header)) if header.trim() == "timestamp,bpm" => {}
            _ => {
                return Err(FormatError::Invalid(
                    "line 1: the header must be `timestamp,bpm`".into(),
                ));
            }
        }
        let mut first: Option<DateTime<Utc>> = None;
        let mut last: Option<DateTime<Utc>> = None;
        let mut rows = 0usize;
        for (index, line) in lines {
            let number = index + 1;
            rows += 1;
            if rows > MAX_ROWS {
                return Err(FormatError::Invalid(format!(
                    "more than {MAX_ROWS} readings"
                )));
            }
            let Some((when, bpm)) = line.trim().split_once(',') else {
                return Err(FormatError::Invalid(format!(
                    "line {number}: expected `timestamp,bpm`"
                )));
            };
            let when = DateTime::parse_from_rfc3339(when.trim())
                .map_err(|e| {
                    FormatError::Invalid(format!("line {number}: timestamp `{when}`: {e}"))
                })?
                .with_timezone(&Utc);
            match bpm.trim().parse::<u16>() {
                Ok(20..=300) => {}
                _ => {
                    return Err(FormatError::Invalid(format!(
                        "line {number}: bpm `{bpm}` is not an integer from 20 to 300"
                    )));
                }
            }
            first = Some(first.map_or(when, |f| f.min(when)));
            last = Some(last.map_or(when, |l| l.max(when)));
        }
        if rows == 0 {
            return Err(FormatError::Invalid("the CSV has no readings".into()));
        }
        Ok(PayloadFacts {
            effective_start: first,
            effective_end: last.filter(|l| Some(*l) != first),
        })
    }

    fn supported_codes(&self) -> Vec<String> {
        vec![format!("{VENDOR_SYSTEM}|{HR_CSV}")]
    }

    /// Like every opaque format: only a data source configured for the code may upload it.
    fn requires_declared_scope(&self) -> bool {
        true
    }
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let config = Config::from_env()?;
    let database_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://jhe.db?mode=rwc".into());
    let store = SeaOrmStore::connect(&database_url).await?;
    store.migrate().await?;
    let server = JheServer::builder()
        .config(config)
        .store(store)
        .policy(RbacConsentPolicy)
        .data_format(OmhFormat::bundled())
        .data_format(VendorCsvFormat)
        .data_format(AttachmentFormat::default())
        .identity_provider(PasswordIdp)
        .build()?;
    let bind = std::env::var("JHE_BIND").unwrap_or_else(|_| "127.0.0.1:8000".into());
    jhe::poem::Server::new(jhe::poem::listener::TcpListener::bind(bind))
        .run(server.into_endpoint())
        .await?;
    Ok(())
}
