//! The audit trail: `audit_events`, one row per FHIR R5 `AuditEvent` the database audit sink
//! records.
//!
//! The indexed columns are what reads filter on (the patient the event is about, the acting
//! user, the time, the kind); `resource` holds the whole AuditEvent as JSON text (without its
//! `id`, which is the row's). No foreign keys: an audit event outlives the users and patients it
//! names. `down` drops the table.

use sea_orm_migration::prelude::*;

/// Creates `audit_events`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Recorded,
    Kind,
    Action,
    Outcome,
    AgentUserId,
    PatientId,
    Resource,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Recorded)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Kind).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEvents::Action).string_len(1).not_null())
                    .col(
                        ColumnDef::new(AuditEvents::Outcome)
                            .string_len(4)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::AgentUserId)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::PatientId).big_integer().null())
                    .col(ColumnDef::new(AuditEvents::Resource).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_patient_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::PatientId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_recorded")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Recorded)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
