//! [`AuditStore`]: the `audit_events` table.

use async_trait::async_trait;
use jhe_core::audit::AuditEvent;
use jhe_core::store::{AuditQuery, AuditStore, StoreError, StoreResult, StoredAuditEvent};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Statement,
};
use serde_json::{Value, json};

use super::entity::audit_event as ae;
use super::{DbResultExt, SeaOrmStore};

fn filtered(query: &AuditQuery) -> Select<ae::Entity> {
    let mut select = ae::Entity::find();
    if let Some(p) = query.patient_id {
        select = select.filter(ae::Column::PatientId.eq(p));
    }
    if let Some(u) = query.agent_user_id {
        select = select.filter(ae::Column::AgentUserId.eq(u));
    }
    if let Some(k) = &query.kind {
        select = select.filter(ae::Column::Kind.eq(k.clone()));
    }
    select
}

/// PostgreSQL: the events of a batch as one JSON parameter unpacked by `json_to_recordset`, so
/// a batch of any size is one statement with one prepared text (no 8 parameters per row to
/// bind and parse).
const POSTGRES_INSERT: &str = r#"INSERT INTO "audit_events"
    ("recorded", "kind", "action", "outcome", "agent_user_id", "patient_id", "resource")
SELECT "recorded", "kind", "action", "outcome", "agent_user_id", "patient_id", "resource"
FROM json_to_recordset(CAST($1 AS json)) AS "e"("recorded" timestamptz, "kind" text,
    "action" text, "outcome" text, "agent_user_id" bigint, "patient_id" bigint, "resource" text)"#;

/// Events per statement on PostgreSQL.
const POSTGRES_CHUNK: usize = 500;

impl SeaOrmStore {
    async fn insert_audit_events_postgres(&self, events: &[AuditEvent]) -> StoreResult<()> {
        // Chunks bound the memory of one statement's JSON (the writer's batches reach 2,000).
        for chunk in events.chunks(POSTGRES_CHUNK) {
            let mut rows = Vec::with_capacity(chunk.len() * 1024);
            rows.push(b'[');
            for (i, e) in chunk.iter().enumerate() {
                if i > 0 {
                    rows.push(b',');
                }
                let row = json!({
                    "recorded": e.recorded,
                    "kind": e.kind.code(),
                    "action": e.kind.action(),
                    "outcome": e.outcome.code(),
                    "agent_user_id": e.agent.user_id,
                    "patient_id": e.patient_id,
                    // A nested object: PostgreSQL gives a `text` column its JSON text.
                    "resource": e.to_fhir(),
                });
                serde_json::to_writer(&mut rows, &row)
                    .map_err(|e| StoreError::Backend(format!("audit event as JSON: {e}")))?;
            }
            rows.push(b']');
            let rows = String::from_utf8(rows)
                .map_err(|e| StoreError::Backend(format!("audit events as JSON: {e}")))?;
            let statement =
                Statement::from_sql_and_values(DbBackend::Postgres, POSTGRES_INSERT, [rows.into()]);
            self.db.execute_raw(statement).await.db()?;
        }
        Ok(())
    }
}

#[async_trait]
impl AuditStore for SeaOrmStore {
    async fn insert_audit_events(&self, events: &[AuditEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        if self.backend() == DbBackend::Postgres {
            return self.insert_audit_events_postgres(events).await;
        }
        let _turn = self.writer_turn().await;
        // Bounded statement size: SQLite allows 32 766 parameters, 8 per row.
        for chunk in events.chunks(1000) {
            let rows = chunk.iter().map(|e| ae::ActiveModel {
                id: NotSet,
                recorded: Set(e.recorded),
                kind: Set(e.kind.code().to_string()),
                action: Set(e.kind.action().to_string()),
                outcome: Set(e.outcome.code().to_string()),
                agent_user_id: Set(e.agent.user_id),
                patient_id: Set(e.patient_id),
                resource: Set(e.to_fhir().to_string()),
            });
            ae::Entity::insert_many(rows)
                .exec_without_returning(&self.db)
                .await
                .db()?;
        }
        Ok(())
    }

    async fn list_audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<StoredAuditEvent>> {
        let mut select = filtered(query);
        select = match (query.after_id, query.newest_first) {
            (Some(after), false) => select.filter(ae::Column::Id.gt(after)),
            (Some(after), true) => select.filter(ae::Column::Id.lt(after)),
            (None, _) => select,
        };
        select = if query.newest_first {
            select.order_by_desc(ae::Column::Id)
        } else {
            select.order_by_asc(ae::Column::Id)
        };
        let rows = select.limit(query.limit).all(&self.db).await.db()?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut resource: Value =
                    serde_json::from_str(&row.resource).unwrap_or(Value::Null);
                if let Value::Object(map) = &mut resource {
                    map.insert("id".into(), Value::from(row.id.to_string()));
                }
                StoredAuditEvent {
                    id: row.id,
                    resource,
                }
            })
            .collect())
    }

    async fn count_audit_events(&self, query: &AuditQuery) -> StoreResult<u64> {
        filtered(query).count(&self.db).await.db()
    }
}
