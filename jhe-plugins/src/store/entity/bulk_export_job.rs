//! Entity for the `bulk_export_jobs` table: FHIR Bulk Data export jobs.

use sea_orm::entity::prelude::*;

/// A row of `bulk_export_jobs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bulk_export_jobs")]
pub struct Model {
    /// Random job id (32 hex digits).
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub id: String,
    /// The requester.
    pub user_id: i64,
    /// The kick-off request URL.
    #[sea_orm(column_type = "Text")]
    pub request: String,
    /// `in-progress`, `completed`, `failed` or `cancelled`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub status: String,
    /// Progress text (`X-Progress`).
    #[sea_orm(column_type = "Text")]
    pub progress: String,
    /// The manifest's `output` as JSON.
    #[sea_orm(column_type = "Text")]
    pub output: String,
    /// Why it failed.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// The manifest's `transactionTime`.
    pub transaction_time: DateTimeUtc,
    /// Kick-off time.
    pub created: DateTimeUtc,
    /// When the job and its files are deleted.
    pub expires: DateTimeUtc,
}

/// Relations of `bulk_export_jobs`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
