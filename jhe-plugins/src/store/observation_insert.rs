//! Writing new observations and their identifiers
//! ([`ObservationStore::create_observations`]).
//!
//! - **PostgreSQL**: one statement whatever the number of rows. The rows and the identifiers
//!   are bound as two JSON parameters and unpacked with `json_to_recordset`; a data-modifying
//!   `WITH` inserts both (ids drawn from the table's sequence first, so each identifier row
//!   knows its observation's id) and returns the stored rows. One statement is atomic without
//!   `BEGIN`/`COMMIT`, so a single upload costs one round trip instead of four, and the
//!   statement text is the same for one row and for ten thousand (one prepared statement, no
//!   bind-parameter limit).
//! - **SQLite**: multi-row `INSERT … RETURNING` of the rows and of their identifiers in one
//!   transaction (the database is in process: statements cost no round trip).
//!
//! [`ObservationStore::create_observations`]: jhe_core::store::ObservationStore::create_observations

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use jhe_core::domain::{NewObservation, Observation};
use jhe_core::store::{StoreError, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Statement, TransactionTrait,
};
use serde_json::json;

use super::entity::{observation as obs, observation_identifier as oid};
use super::{DbResultExt, SeaOrmStore, map_err};

/// Rows per multi-row INSERT on SQLite (well under its bind-parameter limit).
const CHUNK: usize = 500;

/// The PostgreSQL statement (module doc). `$1`: the rows, a JSON array of objects with the
/// columns below plus `ord` (their position); `$2`: `last_updated`; `$3`: the identifiers, a
/// JSON array of `{ord, system, value}`. Answers the stored rows with their `ord`.
const POSTGRES_INSERT: &str = r#"WITH "input" AS (
    SELECT COALESCE("t"."fixed_id", nextval(pg_get_serial_sequence('observations', 'id'))) AS "id", "t".*
    FROM json_to_recordset(CAST($1 AS json)) AS "t"(
        "ord" bigint, "fixed_id" bigint, "subject_patient_id" bigint, "codeable_concept_id" bigint,
        "data_source_id" bigint, "value_attachment_data" text, "content_type" text,
        "status" text, "effective_start" timestamptz, "effective_end" timestamptz)
), "inserted" AS (
    INSERT INTO "observations" ("id", "subject_patient_id", "codeable_concept_id",
        "data_source_id", "value_attachment_data", "content_type", "status",
        "effective_start", "effective_end", "last_updated")
    SELECT "id", "subject_patient_id", "codeable_concept_id", "data_source_id",
        "value_attachment_data", "content_type", "status", "effective_start", "effective_end", $2
    FROM "input" ORDER BY "ord"
    RETURNING *
), "identifiers" AS (
    INSERT INTO "observation_identifiers" ("observation_id", "system", "value")
    SELECT "input"."id", "k"."system", "k"."value"
    FROM json_to_recordset(CAST($3 AS json)) AS "k"("ord" bigint, "system" text, "value" text)
    JOIN "input" ON "input"."ord" = "k"."ord"
)
SELECT "input"."ord" AS "ord", "inserted".*
FROM "inserted" JOIN "input" ON "input"."id" = "inserted"."id""#;

/// A stored row and the identifiers it was written with.
fn observation_from(m: obs::Model, new: &NewObservation) -> Observation {
    super::observations::observation_from(m, new.identifiers.clone())
}

impl SeaOrmStore {
    /// Stores `new` atomically (module doc).
    pub(crate) async fn insert_observations(
        &self,
        new: &[NewObservation],
    ) -> StoreResult<Vec<Observation>> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        // Microseconds: what both databases keep, so the answer shows what a read returns.
        let now = Utc::now().trunc_subsecs(6);
        match self.backend() {
            DbBackend::Postgres => self.insert_postgres(new, now).await,
            _ => self.insert_sqlite(new, now).await,
        }
    }

    async fn insert_postgres(
        &self,
        new: &[NewObservation],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Observation>> {
        let rows: Vec<_> = new
            .iter()
            .enumerate()
            .map(|(ord, n)| {
                json!({
                    "ord": ord,
                    "fixed_id": n.id,
                    "subject_patient_id": n.subject_patient_id,
                    "codeable_concept_id": n.codeable_concept_id,
                    "data_source_id": n.data_source_id,
                    "value_attachment_data": n.value_attachment_data,
                    "content_type": n.content_type,
                    "status": n.status,
                    "effective_start": n.effective_start,
                    "effective_end": n.effective_end,
                })
            })
            .collect();
        let identifiers: Vec<_> = new
            .iter()
            .enumerate()
            .flat_map(|(ord, n)| {
                n.identifiers
                    .iter()
                    .map(move |i| json!({"ord": ord, "system": i.system, "value": i.value}))
            })
            .collect();
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            POSTGRES_INSERT,
            [
                json!(rows).to_string().into(),
                now.into(),
                json!(identifiers).to_string().into(),
            ],
        );
        let answered = self
            .db
            .query_all_raw(statement)
            .await
            .map_err(identifier_conflict)?;
        if answered.len() != new.len() {
            return Err(StoreError::Backend(format!(
                "inserted {} observations but the database returned {}",
                new.len(),
                answered.len()
            )));
        }
        let mut by_ord: HashMap<usize, obs::Model> = HashMap::with_capacity(answered.len());
        for row in &answered {
            let ord: i64 = row.try_get("", "ord").db()?;
            let model = obs::Model::from_query_result(row, "").db()?;
            by_ord.insert(usize::try_from(ord).unwrap_or(usize::MAX), model);
        }
        new.iter()
            .enumerate()
            .map(|(ord, n)| {
                by_ord
                    .remove(&ord)
                    .map(|m| observation_from(m, n))
                    .ok_or_else(|| {
                        StoreError::Backend(format!("the database did not return row {ord}"))
                    })
            })
            .collect()
    }

    async fn insert_sqlite(
        &self,
        new: &[NewObservation],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Observation>> {
        let _turn = self.writer_turn().await;
        let txn = self.db.begin().await.db()?;
        let mut created = Vec::with_capacity(new.len());
        for chunk in new.chunks(CHUNK) {
            let models: Vec<obs::ActiveModel> = chunk
                .iter()
                .map(|n| obs::ActiveModel {
                    id: n.id.map(Set).unwrap_or(NotSet),
                    subject_patient_id: Set(n.subject_patient_id),
                    codeable_concept_id: Set(n.codeable_concept_id),
                    data_source_id: Set(n.data_source_id),
                    value_attachment_data: Set(n.value_attachment_data.clone()),
                    content_type: Set(n.content_type.clone()),
                    status: Set(n.status.clone()),
                    effective_start: Set(n.effective_start),
                    effective_end: Set(n.effective_end),
                    last_updated: Set(now),
                    ow_key: Set(None),
                })
                .collect();
            let rows = obs::Entity::insert_many(models)
                .exec_with_returning(&txn)
                .await
                .map_err(map_err)?;
            if rows.len() != chunk.len() {
                return Err(StoreError::Backend(format!(
                    "inserted {} observations but the database returned {}",
                    chunk.len(),
                    rows.len()
                )));
            }
            let mut identifiers = Vec::new();
            for (row, n) in rows.iter().zip(chunk) {
                for identifier in &n.identifiers {
                    identifiers.push(oid::ActiveModel {
                        id: NotSet,
                        observation_id: Set(row.id),
                        system: Set(identifier.system.clone()),
                        value: Set(identifier.value.clone()),
                    });
                }
            }
            for part in identifiers.chunks(CHUNK) {
                oid::Entity::insert_many(part.to_vec())
                    .exec(&txn)
                    .await
                    .map_err(identifier_conflict)?;
            }
            for (row, n) in rows.into_iter().zip(chunk) {
                created.push(observation_from(row, n));
            }
        }
        txn.commit().await.db()?;
        Ok(created)
    }
}

/// A unique violation of the identifiers' index is a duplicate identifier.
fn identifier_conflict(e: sea_orm::DbErr) -> StoreError {
    let identifiers = e.to_string().contains("observation_identifiers");
    match map_err(e) {
        StoreError::Conflict(_) if identifiers => {
            StoreError::Conflict("observation identifier already exists".into())
        }
        other => other,
    }
}
