//! `SeaOrmStore`: the [`Store`](jhe_core::store::Store) of jhe-rs on PostgreSQL and SQLite.
//!
//! One sub-module per aggregate implements the matching narrow trait of `jhe_core::store`.
//! Reads of patient data apply the caller's [`AccessScope`](jhe_core::store::AccessScope) in
//! SQL (see `access`).

mod access;
mod clients;
#[allow(missing_docs)]
pub mod entity;
mod maintenance;
mod oauth;
mod observations;
mod organizations;
mod patients;
mod reference;
mod sessions;
mod settings;
mod studies;
mod users;

use std::time::Duration;

use jhe_core::store::{StoreError, StoreResult};
use sea_orm::{
    ColumnTrait, ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QueryFilter, SqlErr,
};

/// The sea-orm store. Cheap to clone (a connection pool).
#[derive(Clone, Debug)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
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
        Ok(Self { db })
    }

    /// Wraps an existing sea-orm connection.
    pub fn from_connection(db: DatabaseConnection) -> Self {
        Self { db }
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
        E::find()
            .filter(a.0.eq(a.1))
            .filter(b.0.eq(b.1))
            .one(&self.db)
            .await
            .db()
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
        Ok(E::delete_many()
            .filter(a.0.eq(a.1))
            .filter(b.0.eq(b.1))
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }
}

/// Maps a sea-orm error to the store's error kinds.
pub(crate) fn map_err(err: DbErr) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => StoreError::Conflict(msg),
        Some(SqlErr::ForeignKeyConstraintViolation(msg)) => StoreError::Constraint(msg),
        _ => match err {
            DbErr::RecordNotFound(msg) => StoreError::NotFound(msg),
            DbErr::RecordNotUpdated => StoreError::NotFound("row".into()),
            other => {
                let text = other.to_string();
                // SQLite reports some constraint failures without a structured code.
                if text.contains("UNIQUE constraint failed") || text.contains("duplicate key") {
                    StoreError::Conflict(text)
                } else if text.contains("FOREIGN KEY constraint failed")
                    || text.contains("violates foreign key")
                {
                    StoreError::Constraint(text)
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
