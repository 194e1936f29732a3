//! [`AuditStore`]: the audit trail kept in the database (written by the database audit sink).

use async_trait::async_trait;
use serde_json::Value;

use super::StoreResult;
use crate::audit::AuditEvent;
use crate::domain::Id;

/// Which audit events to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events about this patient.
    pub patient_id: Option<Id>,
    /// Only events by this user.
    pub agent_user_id: Option<Id>,
    /// Only events of this kind ([`AuditKind::code`](crate::audit::AuditKind::code)).
    pub kind: Option<String>,
    /// Only events after this id in the order asked for (keyset paging): a larger id oldest
    /// first, a smaller one newest first.
    pub after_id: Option<Id>,
    /// Newest first (ordered by id, descending) instead of oldest first.
    pub newest_first: bool,
    /// At most this many.
    pub limit: u64,
}

/// A stored audit event: its id and the FHIR `AuditEvent` resource (with `id`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAuditEvent {
    /// Row id.
    pub id: Id,
    /// The resource.
    pub resource: Value,
}

/// The audit trail in the database.
#[async_trait]
pub trait AuditStore {
    /// Appends events (one statement for the batch).
    ///
    /// # Errors
    /// A storage failure.
    async fn insert_audit_events(&self, events: &[AuditEvent]) -> StoreResult<()>;

    /// Reads events, ordered by id (descending with [`AuditQuery::newest_first`]).
    ///
    /// # Errors
    /// A storage failure.
    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<StoredAuditEvent>>;

    /// How many events match (ignoring `after_id` and `limit`).
    ///
    /// # Errors
    /// A storage failure.
    async fn count_audit_events(&self, query: &AuditQuery) -> StoreResult<u64>;
}
