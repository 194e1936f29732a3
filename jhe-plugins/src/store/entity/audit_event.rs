//! Entity for the `audit_events` table: the audit trail of the database audit sink.

use sea_orm::entity::prelude::*;

/// A row of `audit_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When the event happened.
    pub recorded: DateTimeUtc,
    /// What happened (`AuditKind::code`).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub kind: String,
    /// FHIR `AuditEvent.action` (`C`, `R`, `U`, `D`, `E`).
    #[sea_orm(column_type = "String(StringLen::N(1))")]
    pub action: String,
    /// FHIR outcome code (`0`, `4`, `8`, `12`).
    #[sea_orm(column_type = "String(StringLen::N(4))")]
    pub outcome: String,
    /// The acting user.
    pub agent_user_id: Option<i64>,
    /// The patient the event is about.
    pub patient_id: Option<i64>,
    /// The AuditEvent as JSON (without `id`).
    #[sea_orm(column_type = "Text")]
    pub resource: String,
}

/// Relations of `audit_events`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
