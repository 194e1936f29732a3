//! FHIR Bulk Data export jobs: `bulk_export_jobs`, the state of each `$export` kick-off, kept in
//! the database so that any replica can answer status polls, serve the files (from a shared
//! directory) and cancel. `down` drops the table.

use sea_orm_migration::prelude::*;

/// Creates `bulk_export_jobs`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BulkExportJobs {
    Table,
    Id,
    UserId,
    Request,
    Status,
    Progress,
    Output,
    Error,
    TransactionTime,
    Created,
    Expires,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BulkExportJobs::Table)
                    .col(
                        ColumnDef::new(BulkExportJobs::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BulkExportJobs::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(BulkExportJobs::Request).text().not_null())
                    .col(
                        ColumnDef::new(BulkExportJobs::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(BulkExportJobs::Progress).text().not_null())
                    .col(ColumnDef::new(BulkExportJobs::Output).text().not_null())
                    .col(ColumnDef::new(BulkExportJobs::Error).text().null())
                    .col(
                        ColumnDef::new(BulkExportJobs::TransactionTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BulkExportJobs::Created)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BulkExportJobs::Expires)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_bulk_export_jobs_expires")
                    .table(BulkExportJobs::Table)
                    .col(BulkExportJobs::Expires)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BulkExportJobs::Table).to_owned())
            .await
    }
}
