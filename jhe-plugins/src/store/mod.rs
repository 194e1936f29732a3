//! `SeaOrmStore`: the [`Store`](jhe_core::store::Store) of jhe-rs on PostgreSQL and SQLite.
//!
//! One sub-module per aggregate implements the matching narrow trait of `jhe_core::store`.
//! Reads of patient data apply the caller's [`AccessScope`](jhe_core::store::AccessScope) in
//! SQL (see `access`).

mod access;
mod audit;
mod clients;
#[allow(missing_docs)]
pub mod entity;
mod export;
mod maintenance;
mod oauth;
mod observation_insert;
mod observations;
mod organizations;
mod patients;
mod reference;
mod sessions;
mod settings;
mod sso;
mod studies;
mod unit_of_work;
mod upload_facts;
mod users;

use std::sync::Arc;
use std::time::Duration;

use jhe_core::domain::Id;
use jhe_core::store::{StoreError, StoreResult};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, QueryFilter, RuntimeErr, SqlErr,
};

/// The sea-orm store. Cheap to clone (a connection pool).
#[derive(Clone, Debug)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
    /// SQLite: the queue of the store's frequent writers (uploads, the audit trail). SQLite
    /// lets one connection write at a time; a writer that finds the database locked sleeps in
    /// SQLite's busy handler (1, 2, 5, 10, 15, 20, 25 ms…), which put about 80 ms on the p99 of
    /// eight concurrent uploads. Queued here they take turns first come first served, without
    /// sleeping while the database is free. Unused on PostgreSQL.
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl SeaOrmStore {
    /// Connects to `sqlite://…` or `postgres://…`. SQLite files are created if missing and run in
    /// WAL mode with a busy timeout, foreign keys on.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let is_sqlite = url.starts_with("sqlite:");
        let url = if is_sqlite && !url.contains("mode=") && !url.contains(":memory:") {
            if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            }
        } else {
            url.to_string()
        };
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(if is_sqlite { 8 } else { 20 })
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        if is_sqlite {
            options.map_sqlx_sqlite_opts(|o| {
                o.foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            });
        }
        let db = Database::connect(options).await.map_err(map_err)?;
        Ok(Self::from_connection(db))
    }

    /// Wraps an existing sea-orm connection.
    pub fn from_connection(db: DatabaseConnection) -> Self {
        Self {
            db,
            writers: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// SQLite: a turn in the writers' queue (see the field `writers`), held until dropped;
    /// `None` on PostgreSQL, where writers do not exclude each other.
    pub(crate) async fn writer_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend() {
            DbBackend::Sqlite => Some(self.writers.lock().await),
            _ => None,
        }
    }

    /// The underlying connection (for integrators' own queries and tests).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The row of a link table holding both values (e.g. study and patient).
    pub(crate) async fn find_pair<E, A, B>(
        &self,
        a: (E::Column, A),
        b: (E::Column, B),
    ) -> StoreResult<Option<E::Model>>
    where
        E: EntityTrait,
        A: Into<sea_orm::Value>,
        B: Into<sea_orm::Value>,
    {
        find_pair::<E, _, _, _>(&self.db, a, b).await
    }

    /// Deletes the rows of a link table holding both values; whether there were any.
    pub(crate) async fn delete_pair<E, A, B>(
        &self,
        a: (E::Column, A),
        b: (E::Column, B),
    ) -> StoreResult<bool>
    where
        E: EntityTrait,
        A: Into<sea_orm::Value>,
        B: Into<sea_orm::Value>,
    {
        delete_pair::<E, _, _, _>(&self.db, a, b).await
    }
}

/// The row of a link table holding both values, on any connection or transaction.
pub(crate) async fn find_pair<E, A, B, C>(
    db: &C,
    a: (E::Column, A),
    b: (E::Column, B),
) -> StoreResult<Option<E::Model>>
where
    E: EntityTrait,
    A: Into<sea_orm::Value>,
    B: Into<sea_orm::Value>,
    C: ConnectionTrait,
{
    E::find()
        .filter(a.0.eq(a.1))
        .filter(b.0.eq(b.1))
        .one(db)
        .await
        .db()
}

/// Deletes the rows of a link table holding both values; whether there were any.
pub(crate) async fn delete_pair<E, A, B, C>(
    db: &C,
    a: (E::Column, A),
    b: (E::Column, B),
) -> StoreResult<bool>
where
    E: EntityTrait,
    A: Into<sea_orm::Value>,
    B: Into<sea_orm::Value>,
    C: ConnectionTrait,
{
    Ok(E::delete_many()
        .filter(a.0.eq(a.1))
        .filter(b.0.eq(b.1))
        .exec(db)
        .await
        .db()?
        .rows_affected
        > 0)
}

/// Inserts a row of a link table unless a row with the same pair exists
/// (`INSERT … ON CONFLICT (a, b) DO NOTHING`), then returns the row either way. Concurrent adds
/// of the same pair all succeed and leave one row.
pub(crate) async fn insert_link<M, C>(
    db: &C,
    model: M,
    a: (<M::Entity as EntityTrait>::Column, Id),
    b: (<M::Entity as EntityTrait>::Column, Id),
) -> StoreResult<<M::Entity as EntityTrait>::Model>
where
    M: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    <M::Entity as EntityTrait>::insert(model)
        .on_conflict_do_nothing_on([a.0, b.0])
        .exec_without_returning(db)
        .await
        .db()?;
    find_pair::<M::Entity, _, _, _>(db, a, b)
        .await?
        .ok_or_else(|| StoreError::NotFound("link".into()))
}

/// Unique rules of the schema: the names a driver uses for them (PostgreSQL constraint or index
/// names, SQLite `table.column` lists or index names), and the rule as clients are told it.
/// More specific patterns come first.
const UNIQUE_RULES: &[(&[&str], &str)] = &[
    (
        &["ux_users_email_lower", "users_email_key", "users.email"],
        "a user with this e-mail already exists",
    ),
    (
        &["ux_observation_identifiers_system_value"],
        "observation identifier already exists",
    ),
    (
        &[
            "oauth_applications_client_id_key",
            "oauth_applications.client_id",
        ],
        "an application with this client id already exists",
    ),
    (
        &["practitioners_jhe_user_id_key", "practitioners.jhe_user_id"],
        "this user already has a practitioner profile",
    ),
    (
        &["patients_jhe_user_id_key", "patients.jhe_user_id"],
        "this user already has a patient record",
    ),
    (
        &[
            "ux_practitioner_organizations",
            "practitioner_organizations.practitioner_id",
        ],
        "the practitioner is already a member of this organization",
    ),
    (
        &[
            "ux_patient_organizations",
            "patient_organizations.patient_id",
        ],
        "the patient is already in this organization",
    ),
    (
        &["ux_study_patients", "study_patients.study_id"],
        "the patient is already enrolled in this study",
    ),
    (
        &["ux_codeable_concepts", "codeable_concepts.coding_system"],
        "a scope code with this system and code already exists",
    ),
    (
        &["ux_study_scope_requests", "study_scope_requests.study_id"],
        "the study already requests this scope",
    ),
    (
        &[
            "ux_study_patient_scope_consents",
            "study_patient_scope_consents.study_patient_id",
        ],
        "a consent for this scope already exists",
    ),
    (
        &[
            "ux_data_source_supported_scopes",
            "data_source_supported_scopes.data_source_id",
        ],
        "the data source already supports this scope",
    ),
    (
        &["ux_study_data_sources", "study_data_sources.study_id"],
        "the data source is already linked to this study",
    ),
    (
        &["ux_study_clients", "study_clients.study_id"],
        "the client is already linked to this study",
    ),
    (
        &["ux_client_data_sources", "client_data_sources.client_id"],
        "the data source is already linked to this client",
    ),
    (
        &["ux_jhe_settings_key_setting_id"],
        "this setting already exists",
    ),
    (
        &["oauth_signing_keys_kid_key", "oauth_signing_keys.kid"],
        "a signing key with this key id already exists",
    ),
    (&["_pkey", ".id"], "a record with this id already exists"),
];

/// The rule a uniqueness violation broke, from the driver's message (never shown to clients).
pub(crate) fn unique_rule(driver_text: &str) -> &'static str {
    UNIQUE_RULES
        .iter()
        .find(|(patterns, _)| patterns.iter().any(|p| driver_text.contains(p)))
        .map(|(_, rule)| *rule)
        .unwrap_or("the change conflicts with existing data")
}

/// What clients are told about a broken foreign key.
pub(crate) const REFERENCE_RULE: &str =
    "a referenced record does not exist, or the record is still referenced";

/// The rule a client broke when the database refuses one of its values: PostgreSQL SQLSTATE
/// class 22 (data exception: a NUL byte, text too long, a number out of range) and 54000
/// (program limit: an index row over ~2.7 kB). Retrying such a request can never succeed, so
/// it must not be reported as an unavailable database.
fn rejected_value_rule(err: &DbErr) -> Option<&'static str> {
    let (DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let code = e.as_database_error()?.code()?;
    if code == "54000" {
        Some("a value is too long to be stored")
    } else if code.starts_with("22") {
        Some("a value contains characters or a number the database cannot store")
    } else {
        None
    }
}

/// Maps a sea-orm error to the store's error kinds. `Conflict` and `Constraint` carry the rule
/// that was broken (shown to clients); the driver's message is only logged.
pub(crate) fn map_err(err: DbErr) -> StoreError {
    let unique = |text: String| {
        let rule = unique_rule(&text);
        tracing::debug!(driver = %text, rule, "uniqueness rule violated");
        StoreError::Conflict(rule.to_string())
    };
    let reference = |text: String| {
        tracing::debug!(driver = %text, "foreign key violated");
        StoreError::Constraint(REFERENCE_RULE.to_string())
    };
    if let Some(rule) = rejected_value_rule(&err) {
        tracing::info!(driver = %err, rule, "the database rejected a value");
        return StoreError::Rejected(rule.to_string());
    }
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => unique(msg),
        Some(SqlErr::ForeignKeyConstraintViolation(msg)) => reference(msg),
        _ => match err {
            DbErr::RecordNotFound(msg) => {
                tracing::debug!(driver = %msg, "record not found");
                StoreError::NotFound("record".into())
            }
            DbErr::RecordNotUpdated => StoreError::NotFound("record".into()),
            other => {
                let text = other.to_string();
                // SQLite reports some constraint failures without a structured code.
                if text.contains("UNIQUE constraint failed") || text.contains("duplicate key") {
                    unique(text)
                } else if text.contains("FOREIGN KEY constraint failed")
                    || text.contains("violates foreign key")
                {
                    reference(text)
                } else {
                    StoreError::Backend(text)
                }
            }
        },
    }
}

/// `?`-friendly conversion of sea-orm results.
pub(crate) trait DbResultExt<T> {
    fn db(self) -> StoreResult<T>;
}

impl<T> DbResultExt<T> for Result<T, DbErr> {
    fn db(self) -> StoreResult<T> {
        self.map_err(map_err)
    }
}

pub(crate) fn limit_of(page: &jhe_core::domain::PageRequest) -> u64 {
    page.size.min(i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_messages_map_to_rules() {
        assert_eq!(
            unique_rule("UNIQUE constraint failed: users.email"),
            "a user with this e-mail already exists"
        );
        assert_eq!(
            unique_rule(r#"duplicate key value violates unique constraint "ux_users_email_lower""#),
            "a user with this e-mail already exists"
        );
        assert_eq!(
            unique_rule(
                "UNIQUE constraint failed: index 'ux_observation_identifiers_system_value'"
            ),
            "observation identifier already exists"
        );
        assert_eq!(
            unique_rule(r#"duplicate key value violates unique constraint "users_pkey""#),
            "a record with this id already exists"
        );
        assert_eq!(
            unique_rule("something else"),
            "the change conflicts with existing data"
        );
    }

    #[test]
    fn mapped_errors_carry_no_driver_text() {
        let err = map_err(DbErr::Custom(
            "error returned from database: UNIQUE constraint failed: users.email".into(),
        ));
        match err {
            StoreError::Conflict(rule) => {
                assert_eq!(rule, "a user with this e-mail already exists");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let err = map_err(DbErr::Custom(
            "error returned from database: FOREIGN KEY constraint failed".into(),
        ));
        assert!(matches!(err, StoreError::Constraint(ref m) if !m.contains("FOREIGN KEY")));
    }
}
