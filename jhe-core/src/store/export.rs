//! [`ExportStore`]: FHIR Bulk Data export jobs, kept in the database so that every replica can
//! answer for them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::Id;

/// The state of an export job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    /// Running.
    InProgress,
    /// Done: the files are ready.
    Completed,
    /// Failed (see [`ExportJob::error`]).
    Failed,
    /// Cancelled by the requester.
    Cancelled,
}

impl ExportStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::InProgress => "in-progress",
            ExportStatus::Completed => "completed",
            ExportStatus::Failed => "failed",
            ExportStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name (unknown names read as failed).
    pub fn parse(value: &str) -> ExportStatus {
        match value {
            "in-progress" => ExportStatus::InProgress,
            "completed" => ExportStatus::Completed,
            "cancelled" => ExportStatus::Cancelled,
            _ => ExportStatus::Failed,
        }
    }
}

/// One export job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportJob {
    /// Random id (32 hex digits), also the name of its file directory.
    pub id: String,
    /// The requester: the only user who may poll, download or cancel.
    pub user_id: Id,
    /// The kick-off request URL (`request` of the manifest).
    pub request: String,
    /// State.
    pub status: ExportStatus,
    /// Progress text (`X-Progress`).
    pub progress: String,
    /// The manifest's `output` array as JSON text.
    pub output: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The manifest's `transactionTime`: data changed after it may be missing.
    pub transaction_time: DateTime<Utc>,
    /// Kick-off time.
    pub created: DateTime<Utc>,
    /// When the job and its files are deleted.
    pub expires: DateTime<Utc>,
}

/// Export jobs.
#[async_trait]
pub trait ExportStore {
    /// Stores a new job.
    ///
    /// # Errors
    /// A storage failure (a duplicate id is a conflict).
    async fn create_export_job(&self, job: &ExportJob) -> StoreResult<()>;

    /// A job by id.
    ///
    /// # Errors
    /// A storage failure.
    async fn get_export_job(&self, id: &str) -> StoreResult<Option<ExportJob>>;

    /// Writes progress (only while the job is in progress; `false` when it no longer is, e.g.
    /// cancelled by another replica).
    ///
    /// # Errors
    /// A storage failure.
    async fn update_export_progress(&self, id: &str, progress: &str) -> StoreResult<bool>;

    /// Ends a job in progress with `status`, its output and error; `false` when it was no longer
    /// in progress.
    ///
    /// # Errors
    /// A storage failure.
    async fn finish_export_job(
        &self,
        id: &str,
        status: ExportStatus,
        output: &str,
        error: Option<&str>,
    ) -> StoreResult<bool>;

    /// Deletes a job; `false` if absent.
    ///
    /// # Errors
    /// A storage failure.
    async fn delete_export_job(&self, id: &str) -> StoreResult<bool>;

    /// The ids of jobs that expired before `now`.
    ///
    /// # Errors
    /// A storage failure.
    async fn expired_export_jobs(&self, now: DateTime<Utc>) -> StoreResult<Vec<String>>;
}
