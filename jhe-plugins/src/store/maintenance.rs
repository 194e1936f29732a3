//! [`MaintenanceStore`]: ping, migrations, flush, id sequences and folding the observation
//! counts.

use async_trait::async_trait;
use jhe_core::store::{MaintenanceStore, StoreResult};
use jhe_migrations::{Migrator, MigratorTrait};
use sea_orm::{Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, Statement};

use super::entity::user;
use super::{DbResultExt, SeaOrmStore};

/// Every table with a generated `id`, children before parents (the order `flush` deletes in).
const TABLES: &[&str] = &[
    "audit_events",
    "external_identities",
    "login_attempts",
    "oauth_refresh_tokens",
    "oauth_access_tokens",
    "oauth_grants",
    "oauth_signing_keys",
    "observation_identifiers",
    "observations",
    "study_patient_scope_consents",
    "study_patients",
    "study_scope_requests",
    "study_data_sources",
    "study_clients",
    "client_data_sources",
    "data_source_supported_scopes",
    "patient_organizations",
    "practitioner_organizations",
    "studies",
    "jhe_settings",
    "oauth_applications",
    "data_sources",
    "codeable_concepts",
    "patients",
    "practitioners",
    "organizations",
    "users",
];

impl SeaOrmStore {
    async fn execute(&self, sql: String) -> StoreResult<()> {
        self.db
            .execute_raw(Statement::from_string(self.backend(), sql))
            .await
            .db()?;
        Ok(())
    }
}

#[async_trait]
impl MaintenanceStore for SeaOrmStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await.db()
    }

    async fn migrate(&self) -> StoreResult<()> {
        Migrator::up(&self.db, None).await.db()
    }

    async fn migrate_down(&self) -> StoreResult<()> {
        Migrator::down(&self.db, None).await.db()
    }

    async fn flush(&self) -> StoreResult<()> {
        self.execute("DELETE FROM sessions".into()).await?;
        self.execute("DELETE FROM bulk_export_jobs".into()).await?;
        self.execute("DELETE FROM sso_login_requests".into())
            .await?;
        self.execute("DELETE FROM sso_used_ids".into()).await?;
        self.execute("DELETE FROM study_icons".into()).await?;
        self.execute("UPDATE organizations SET part_of_id = NULL".into())
            .await?;
        for table in TABLES {
            self.execute(format!("DELETE FROM {table}")).await?;
        }
        // Maintained by triggers; on PostgreSQL the deletes above left zero-sum delta rows.
        self.execute("DELETE FROM observation_counts".into())
            .await?;
        Ok(())
    }

    async fn sync_id_sequences(&self, minimums: &[(&str, i64)]) -> StoreResult<()> {
        for table in TABLES {
            let minimum = minimums
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, m)| *m)
                .unwrap_or(1)
                .max(1);
            match self.backend() {
                DbBackend::Postgres => {
                    self.execute(format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                         GREATEST(COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, {minimum}), false)"
                    ))
                    .await?
                }
                DbBackend::Sqlite => {
                    // AUTOINCREMENT continues after max(rowid, sqlite_sequence.seq).
                    self.execute(format!(
                        "DELETE FROM sqlite_sequence WHERE name = '{table}' AND seq < {}",
                        minimum - 1
                    ))
                    .await?;
                    self.execute(format!(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', {} \
                         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}') \
                         AND COALESCE((SELECT MAX(id) FROM {table}), 0) < {}",
                        minimum - 1,
                        minimum - 1
                    ))
                    .await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        Ok(user::Entity::find().count(&self.db).await.db()? == 0)
    }

    async fn compact_observation_counts(&self) -> StoreResult<u64> {
        self.compact_counts(Condition::all()).await
    }

    fn backend_name(&self) -> &'static str {
        match self.backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }
}
