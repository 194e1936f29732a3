//! [`ObservationStore`]: observations and their identifiers.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::domain::{Id, NewObservation, Observation, ObservationIdentifier, Page, PageRequest};
use jhe_core::store::{
    AccessScope, ObservationOrder, ObservationQuery, ObservationStore, ObservationSummary,
    StoreResult, UploadFacts, UploadFactsRequest,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityName, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::access;
use super::entity::{
    observation as obs, observation_identifier as oid, patient, patient_organization as po,
    study_patient as sp, study_scope_request as ssr,
};
use super::{DbResultExt, SeaOrmStore, limit_of};

/// Identifiers per lookup query in `find_observation_identifiers`.
const LOOKUP_CHUNK: usize = 200;
/// The maintained counts (migration `m20261207_000010_observation_counts`).
const COUNTS: &str = "observation_counts";
/// PostgreSQL: a count that reads more than twice as many delta rows as pairs, plus this many,
/// folds the pairs it read (see [`SeaOrmStore::compact_counts`]).
const COMPACT_SLACK: i64 = 64;

/// Whether every condition of `q` is on the `(patient, data type)` pair (patient, patient
/// identifier, organisation, study, data types, and the consent rule of the scope), so that
/// `observation_counts` can answer its total. Ids, effective dates and `_lastUpdated` ranges
/// need the rows. (The destructuring makes a new field of the query a compile error here.)
fn answered_by_counts(q: &ObservationQuery) -> bool {
    let ObservationQuery {
        id,
        patient_id: _,
        patient_identifier: _,
        organization_id: _,
        study_id: _,
        codeable_concept_ids: _,
        effective_from,
        effective_before,
        effective_within_from,
        effective_within_before,
        updated_from,
        updated_before,
        after: _,
        order: _,
        skip_total: _,
        peek_next: _,
    } = q;
    id.is_none()
        && effective_from.is_none()
        && effective_before.is_none()
        && effective_within_from.is_none()
        && effective_within_before.is_none()
        && updated_from.is_none()
        && updated_before.is_none()
}

/// `SELECT … FROM observation_counts AS observations WHERE condition`: the alias makes the
/// search conditions written for `"observations"."subject_patient_id"` /
/// `"codeable_concept_id"` (consented pairs, patient, organisation, study, data types, the
/// correlated `EXISTS` of the consent rule) apply to the counts unchanged.
fn counts_select(condition: Condition) -> SelectStatement {
    Query::select()
        .from_as(Alias::new(COUNTS), Alias::new(obs::Entity.table_name()))
        .cond_where(condition)
        .to_owned()
}

pub(crate) fn observation_from(
    m: obs::Model,
    identifiers: Vec<ObservationIdentifier>,
) -> Observation {
    Observation {
        id: m.id,
        subject_patient_id: m.subject_patient_id,
        codeable_concept_id: m.codeable_concept_id,
        data_source_id: m.data_source_id,
        value_attachment_data: m.value_attachment_data,
        content_type: m.content_type,
        status: m.status,
        effective_start: m.effective_start,
        effective_end: m.effective_end,
        last_updated: m.last_updated,
        ow_key: m.ow_key,
        identifiers,
    }
}

fn identifier_condition(identifier: &ObservationIdentifier) -> Condition {
    let system = match &identifier.system {
        Some(s) => oid::Column::System.eq(s.as_str()),
        None => oid::Column::System.is_null(),
    };
    Condition::all()
        .add(system)
        .add(oid::Column::Value.eq(identifier.value.as_str()))
}

impl SeaOrmStore {
    async fn identifiers_of(
        &self,
        ids: &[Id],
    ) -> StoreResult<HashMap<Id, Vec<ObservationIdentifier>>> {
        let mut map: HashMap<Id, Vec<ObservationIdentifier>> = HashMap::new();
        if ids.is_empty() {
            return Ok(map);
        }
        let rows = oid::Entity::find()
            .filter(oid::Column::ObservationId.is_in(ids.iter().copied()))
            .order_by_asc(oid::Column::Id)
            .all(&self.db)
            .await
            .db()?;
        for row in rows {
            map.entry(row.observation_id)
                .or_default()
                .push(ObservationIdentifier {
                    system: row.system,
                    value: row.value,
                });
        }
        Ok(map)
    }

    /// The search condition: the caller's consented pairs resolved first
    /// ([`access::resolved_observation_condition`], one small query) and the criteria.
    async fn observation_condition(
        &self,
        scope: &AccessScope,
        q: &ObservationQuery,
    ) -> StoreResult<Condition> {
        let visible =
            access::resolved_observation_condition(&self.db, scope, q.study_id, q.patient_id)
                .await
                .db()?;
        let mut cond = Condition::all().add(visible);
        if let Some(id) = q.id {
            cond = cond.add(obs::Column::Id.eq(id));
        }
        if let Some(patient_id) = q.patient_id {
            cond = cond.add(obs::Column::SubjectPatientId.eq(patient_id));
        }
        if let Some(identifier) = &q.patient_identifier {
            cond = cond.add(
                obs::Column::SubjectPatientId.in_subquery(
                    Query::select()
                        .column(patient::Column::Id)
                        .from(patient::Entity)
                        .and_where(Expr::col(patient::Column::Identifier).eq(identifier.as_str()))
                        .to_owned(),
                ),
            );
        }
        if let Some(org) = q.organization_id {
            cond = cond.add(
                obs::Column::SubjectPatientId.in_subquery(
                    Query::select()
                        .column(po::Column::PatientId)
                        .from(po::Entity)
                        .and_where(Expr::col(po::Column::OrganizationId).eq(org))
                        .to_owned(),
                ),
            );
        }
        if let Some(study) = q.study_id {
            cond = cond
                .add(
                    obs::Column::SubjectPatientId.in_subquery(
                        Query::select()
                            .column(sp::Column::PatientId)
                            .from(sp::Entity)
                            .and_where(Expr::col(sp::Column::StudyId).eq(study))
                            .to_owned(),
                    ),
                )
                .add(
                    obs::Column::CodeableConceptId.in_subquery(
                        Query::select()
                            .column(ssr::Column::ScopeCodeId)
                            .from(ssr::Entity)
                            .and_where(Expr::col(ssr::Column::StudyId).eq(study))
                            .to_owned(),
                    ),
                );
        }
        if let Some(codes) = &q.codeable_concept_ids {
            cond = cond.add(obs::Column::CodeableConceptId.is_in(codes.iter().copied()));
        }
        // FHIR period semantics: the effective period is [effective_start, effective_end], or
        // the instant effective_start when there is no end; rows without a start match no date.
        let period_end = || {
            Expr::cust(
                r#"COALESCE("observations"."effective_end", "observations"."effective_start")"#,
            )
        };
        if let Some(from) = q.effective_from {
            cond = cond.add(period_end().gte(from));
        }
        if let Some(before) = q.effective_before {
            cond = cond.add(obs::Column::EffectiveStart.lt(before));
        }
        if let Some(from) = q.effective_within_from {
            cond = cond.add(obs::Column::EffectiveStart.gte(from));
        }
        if let Some(before) = q.effective_within_before {
            cond = cond
                .add(obs::Column::EffectiveStart.is_not_null())
                .add(period_end().lt(before));
        }
        if let Some(from) = q.updated_from {
            cond = cond.add(obs::Column::LastUpdated.gte(from));
        }
        if let Some(before) = q.updated_before {
            cond = cond.add(obs::Column::LastUpdated.lt(before));
        }
        Ok(cond)
    }

    /// The number of observations matching `condition` (a condition on the pair only, see
    /// [`answered_by_counts`]), read from the maintained counts: one row per pair on SQLite, a
    /// few delta rows per pair on PostgreSQL. When a PostgreSQL count reads many more rows than
    /// pairs (no sweeper ran for a while), it folds them ([`SeaOrmStore::compact_counts`]) so the
    /// next count is cheap again; a failed fold is logged and changes nothing.
    ///
    /// PostgreSQL 15, the pair's rows found through `ix_observation_counts_pair` (a scratch
    /// table of 20,000 delta rows, 3 of them for the pair; the load bench prints this plan at
    /// every size):
    ///
    /// ```text
    /// Aggregate (actual time=0.040..0.040 rows=1 loops=1)
    ///   Buffers: shared hit=8
    ///   ->  Bitmap Heap Scan on observation_counts observations (rows=3)
    ///         Recheck Cond: ((subject_patient_id = 5) AND (codeable_concept_id = 5))
    ///         ->  Bitmap Index Scan on ix_observation_counts_pair (rows=3)
    /// Execution Time: 0.078 ms
    /// ```
    async fn total_from_counts(&self, condition: Condition) -> StoreResult<u64> {
        let postgres = self.backend() == DbBackend::Postgres;
        let mut select = counts_select(condition.clone());
        select.expr(Expr::cust(
            r#"CAST(COALESCE(SUM("observations"."n"), 0) AS BIGINT)"#,
        ));
        if postgres {
            select.expr(Expr::cust("COUNT(*)")).expr(Expr::cust(
                r#"COUNT(DISTINCT ("observations"."subject_patient_id", "observations"."codeable_concept_id"))"#,
            ));
        }
        let Some(row) = self.db.query_one(&select).await.db()? else {
            return Ok(0);
        };
        let total: i64 = row.try_get_by_index(0).db()?;
        if postgres {
            let rows: i64 = row.try_get_by_index(1).db()?;
            let pairs: i64 = row.try_get_by_index(2).db()?;
            if rows > pairs.saturating_mul(2).saturating_add(COMPACT_SLACK)
                && let Err(e) = self.compact_counts(condition).await
            {
                tracing::warn!(error = %e, "folding observation counts failed; retried later");
            }
        }
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// PostgreSQL: folds the delta rows of the pairs matching `condition` that have more than
    /// one row into one row per pair (pairs summing to 0 lose their rows); returns the rows
    /// written. Nothing to do on SQLite (one row per pair already).
    ///
    /// One statement, `WITH folded AS (DELETE … RETURNING …) INSERT … SELECT SUM(n) … GROUP BY`,
    /// so the rows it deletes and the sums it writes commit together: a concurrent count sees
    /// either the deltas or their sum, never neither. Concurrent folds (two replicas' sweepers,
    /// searches) stay exact under READ COMMITTED: a DELETE returns only rows it actually deleted;
    /// when another fold deleted a row first, this one waits for it to commit, re-checks the row,
    /// finds it gone and skips it (it does not return or re-add it), so every delta is summed by
    /// exactly one fold. Rows written after the statement's snapshot (new uploads' deltas,
    /// another fold's sums) are not seen and stay as they are. The total of every pair is thus
    /// unchanged by any interleaving; at worst a pair keeps two rows until the next fold. Two
    /// folds locking rows in opposite orders can deadlock: PostgreSQL then rolls one back whole,
    /// which also changes nothing.
    pub(crate) async fn compact_counts(&self, condition: Condition) -> StoreResult<u64> {
        if self.backend() != DbBackend::Postgres {
            return Ok(0);
        }
        let pair = |column| (obs::Entity, column);
        let mut pairs = counts_select(condition);
        pairs
            .column(pair(obs::Column::SubjectPatientId))
            .column(pair(obs::Column::CodeableConceptId))
            .group_by_col(pair(obs::Column::SubjectPatientId))
            .group_by_col(pair(obs::Column::CodeableConceptId))
            .and_having(Expr::cust("COUNT(*) > 1"));
        let mut statement = self.backend().build(&pairs);
        statement.sql = format!(
            r#"WITH "folded" AS (
    DELETE FROM "observation_counts"
    WHERE ("subject_patient_id", "codeable_concept_id") IN ({})
    RETURNING "subject_patient_id", "codeable_concept_id", "n")
INSERT INTO "observation_counts" ("subject_patient_id", "codeable_concept_id", "n")
SELECT "subject_patient_id", "codeable_concept_id", CAST(SUM("n") AS BIGINT) FROM "folded"
GROUP BY "subject_patient_id", "codeable_concept_id"
HAVING SUM("n") <> 0"#,
            statement.sql
        );
        Ok(self.db.execute_raw(statement).await.db()?.rows_affected())
    }
}

#[async_trait]
impl ObservationStore for SeaOrmStore {
    async fn load_upload_facts(
        &self,
        scope: &AccessScope,
        request: &UploadFactsRequest,
    ) -> StoreResult<UploadFacts> {
        self.upload_facts(scope, request).await
    }

    async fn create_observations(&self, new: Vec<NewObservation>) -> StoreResult<Vec<Observation>> {
        self.insert_observations(&new).await
    }

    async fn get_observation(
        &self,
        scope: &AccessScope,
        id: Id,
    ) -> StoreResult<Option<Observation>> {
        if scope.sees_nothing() {
            return Ok(None);
        }
        let Some(row) = obs::Entity::find_by_id(id)
            .filter(access::observation_condition(scope, None))
            .one(&self.db)
            .await
            .db()?
        else {
            return Ok(None);
        };
        let mut identifiers = self.identifiers_of(&[id]).await?;
        Ok(Some(observation_from(
            row,
            identifiers.remove(&id).unwrap_or_default(),
        )))
    }

    async fn update_observation(&self, o: &Observation) -> StoreResult<Observation> {
        let model = obs::ActiveModel {
            id: Set(o.id),
            subject_patient_id: Set(o.subject_patient_id),
            codeable_concept_id: Set(o.codeable_concept_id),
            data_source_id: Set(o.data_source_id),
            value_attachment_data: Set(o.value_attachment_data.clone()),
            content_type: Set(o.content_type.clone()),
            status: Set(o.status.clone()),
            effective_start: Set(o.effective_start),
            effective_end: Set(o.effective_end),
            last_updated: Set(Utc::now()),
            ow_key: Set(o.ow_key.clone()),
        };
        let row = model.update(&self.db).await.db()?;
        let mut identifiers = self.identifiers_of(&[o.id]).await?;
        Ok(observation_from(
            row,
            identifiers.remove(&o.id).unwrap_or_default(),
        ))
    }

    async fn delete_observation(&self, id: Id) -> StoreResult<bool> {
        Ok(obs::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn search_observations(
        &self,
        scope: &AccessScope,
        q: &ObservationQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Observation>> {
        if scope.sees_nothing() {
            return Ok(Page {
                items: Vec::new(),
                total: 0,
                request: page,
            });
        }
        let condition = self.observation_condition(scope, q).await?;
        let total = if q.skip_total {
            0
        } else if answered_by_counts(q) {
            self.total_from_counts(condition.clone()).await?
        } else {
            obs::Entity::find()
                .filter(condition.clone())
                .count(&self.db)
                .await
                .db()?
        };
        let mut rows_query = obs::Entity::find().filter(condition);
        let after = q.after.filter(|_| q.order.supports_cursor());
        rows_query = match after {
            // Keyset: (last_updated, id) past the cursor in the sort direction, served by the
            // (subject_patient_id, last_updated, id) index; no OFFSET.
            Some(cursor) => {
                let row = Expr::tuple([
                    Expr::col((obs::Entity, obs::Column::LastUpdated)),
                    Expr::col((obs::Entity, obs::Column::Id)),
                ]);
                let at = Expr::tuple([Expr::val(cursor.last_updated), Expr::val(cursor.id)]);
                rows_query.filter(if q.order == ObservationOrder::LastUpdatedAsc {
                    row.gt(at)
                } else {
                    row.lt(at)
                })
            }
            None => rows_query.offset(page.offset()),
        };
        rows_query = match q.order {
            ObservationOrder::LastUpdatedDesc => rows_query
                .order_by_desc(obs::Column::LastUpdated)
                .order_by_desc(obs::Column::Id),
            ObservationOrder::LastUpdatedAsc => rows_query
                .order_by_asc(obs::Column::LastUpdated)
                .order_by_asc(obs::Column::Id),
            // Rows without an effective time last on both databases (their NULL orderings
            // differ).
            ObservationOrder::EffectiveAsc => rows_query
                .order_by_asc(Expr::col((obs::Entity, obs::Column::EffectiveStart)).is_null())
                .order_by_asc(obs::Column::EffectiveStart)
                .order_by_asc(obs::Column::Id),
            ObservationOrder::EffectiveDesc => rows_query
                .order_by_asc(Expr::col((obs::Entity, obs::Column::EffectiveStart)).is_null())
                .order_by_desc(obs::Column::EffectiveStart)
                .order_by_desc(obs::Column::Id),
        };
        let limit = limit_of(&page).saturating_add(u64::from(q.peek_next));
        let rows = rows_query.limit(limit).all(&self.db).await.db()?;
        let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
        let mut identifiers = self.identifiers_of(&ids).await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| {
                    let ids = identifiers.remove(&r.id).unwrap_or_default();
                    observation_from(r, ids)
                })
                .collect(),
            total,
            request: page,
        })
    }

    async fn summarize_observations(
        &self,
        scope: &AccessScope,
        q: &ObservationQuery,
    ) -> StoreResult<Vec<ObservationSummary>> {
        if scope.sees_nothing() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Id, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>)> =
            obs::Entity::find()
                .select_only()
                .column(obs::Column::CodeableConceptId)
                .column_as(obs::Column::Id.count(), "n")
                .column_as(obs::Column::EffectiveStart.min(), "earliest")
                .column_as(obs::Column::EffectiveStart.max(), "latest")
                .filter(self.observation_condition(scope, q).await?)
                .group_by(obs::Column::CodeableConceptId)
                .order_by_asc(obs::Column::CodeableConceptId)
                .into_tuple()
                .all(&self.db)
                .await
                .db()?;
        Ok(rows
            .into_iter()
            .map(
                |(codeable_concept_id, count, earliest, latest)| ObservationSummary {
                    codeable_concept_id,
                    count: u64::try_from(count).unwrap_or(0),
                    earliest,
                    latest,
                },
            )
            .collect())
    }

    async fn count_observations_by_patient(
        &self,
        scope: &AccessScope,
        q: &ObservationQuery,
    ) -> StoreResult<Vec<(Id, u64)>> {
        if scope.sees_nothing() {
            return Ok(Vec::new());
        }
        if answered_by_counts(q) {
            let patient = (obs::Entity, obs::Column::SubjectPatientId);
            let mut select = counts_select(self.observation_condition(scope, q).await?);
            select
                .column(patient)
                .expr(Expr::cust(r#"CAST(SUM("observations"."n") AS BIGINT)"#))
                .group_by_col(patient)
                .and_having(Expr::cust(r#"SUM("observations"."n") > 0"#))
                .order_by(patient, Order::Asc);
            let mut counts = Vec::new();
            for row in self.db.query_all(&select).await.db()? {
                let id: Id = row.try_get_by_index(0).db()?;
                let count: i64 = row.try_get_by_index(1).db()?;
                counts.push((id, u64::try_from(count).unwrap_or(0)));
            }
            return Ok(counts);
        }
        let rows: Vec<(Id, i64)> = obs::Entity::find()
            .select_only()
            .column(obs::Column::SubjectPatientId)
            .column_as(obs::Column::Id.count(), "n")
            .filter(self.observation_condition(scope, q).await?)
            .group_by(obs::Column::SubjectPatientId)
            .order_by_asc(obs::Column::SubjectPatientId)
            .into_tuple()
            .all(&self.db)
            .await
            .db()?;
        Ok(rows
            .into_iter()
            .map(|(patient, count)| (patient, u64::try_from(count).unwrap_or(0)))
            .collect())
    }

    async fn find_observation_identifiers(
        &self,
        identifiers: &[ObservationIdentifier],
    ) -> StoreResult<Vec<(ObservationIdentifier, Id)>> {
        let mut unique: Vec<&ObservationIdentifier> = identifiers.iter().collect();
        unique.sort_by(|a, b| (&a.system, &a.value).cmp(&(&b.system, &b.value)));
        unique.dedup();
        let mut found = Vec::new();
        for chunk in unique.chunks(LOOKUP_CHUNK) {
            // (COALESCE(system, ''), value) = (?, ?) OR …: each arm is a lookup in the unique
            // expression index of the migration (the literal '' keeps the expression identical).
            let mut any = Condition::any();
            for identifier in chunk {
                any = any.add(
                    Condition::all()
                        .add(
                            Expr::cust(r#"COALESCE("system", '')"#)
                                .eq(identifier.system.clone().unwrap_or_default()),
                        )
                        .add(oid::Column::Value.eq(identifier.value.as_str())),
                );
            }
            let rows = oid::Entity::find().filter(any).all(&self.db).await.db()?;
            found.extend(rows.into_iter().map(|row| {
                (
                    ObservationIdentifier {
                        system: row.system,
                        value: row.value,
                    },
                    row.observation_id,
                )
            }));
        }
        Ok(found)
    }

    async fn find_observation_by_identifier(
        &self,
        identifier: &ObservationIdentifier,
    ) -> StoreResult<Option<Id>> {
        Ok(oid::Entity::find()
            .filter(identifier_condition(identifier))
            .one(&self.db)
            .await
            .db()?
            .map(|m| m.observation_id))
    }
}
