//! The background sweeper of `serve`: deletes rows nobody can use any more, every
//! `JHE_SWEEP_INTERVAL_SECS` (default 300; `0` turns it off), and logs what it deleted.
//!
//! What goes: expired browser sessions; expired access tokens and authorization grants (codes);
//! refresh tokens past their lifetime plus one access-token lifetime (so no access token issued
//! from them is still valid); login attempts older than [`LOGIN_ATTEMPT_RETENTION_HOURS`] (the
//! lock-outs look back 15 minutes to one hour); expired single sign-on requests and replay
//! markers; expired Bulk Data export jobs with their files. It also folds the delta rows of
//! the maintained observation counts into one row per pair (PostgreSQL;
//! [`MaintenanceStore::compact_observation_counts`]), so first pages stay cheap.
//!
//! Every step is a plain `DELETE … WHERE <expired>`, so several replicas sweeping the same
//! database at once are safe: a row is deleted once, the others delete nothing. Folding the
//! counts is safe concurrently too (see `compact_observation_counts`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use jhe_core::store::{ExportStore, MaintenanceStore, OAuthStore, SessionStore};
use jhe_plugins::SeaOrmStore;
use jhe_plugins::store::entity::{
    login_attempt, oauth_refresh_token, sso_login_request, sso_used_id,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::ServerConfig;

/// How long login attempts are kept, in hours.
pub const LOGIN_ATTEMPT_RETENTION_HOURS: i64 = 24;

/// How many rows one sweep deleted, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Browser sessions.
    pub sessions: u64,
    /// Access tokens and authorization grants.
    pub tokens: u64,
    /// Refresh tokens.
    pub refresh_tokens: u64,
    /// Login attempts.
    pub login_attempts: u64,
    /// Single sign-on requests and replay markers.
    pub sso: u64,
    /// Bulk Data export jobs (their files removed too).
    pub export_jobs: u64,
    /// Observation-count rows written by folding delta rows (not deletions: not in
    /// [`SweepReport::total`]).
    pub counts_folded: u64,
}

impl SweepReport {
    /// Rows deleted in all (expired rows; folded counts are not counted).
    pub fn total(&self) -> u64 {
        self.sessions
            + self.tokens
            + self.refresh_tokens
            + self.login_attempts
            + self.sso
            + self.export_jobs
    }
}

/// One sweep at `now`.
///
/// # Errors
/// The first database error (the rows deleted before it stay deleted).
pub async fn sweep(
    store: &SeaOrmStore,
    config: &ServerConfig,
    now: DateTime<Utc>,
) -> anyhow::Result<SweepReport> {
    let db = store.connection();
    let mut report = SweepReport {
        sessions: store.delete_expired_sessions(now).await?,
        tokens: store.delete_expired_tokens(now).await?,
        ..SweepReport::default()
    };
    let lifetimes = config.lifetimes;
    if lifetimes.refresh_token > 0 {
        let cutoff = now
            - chrono::Duration::seconds(lifetimes.refresh_token)
            - chrono::Duration::seconds(lifetimes.access_token);
        report.refresh_tokens = oauth_refresh_token::Entity::delete_many()
            .filter(oauth_refresh_token::Column::Created.lt(cutoff))
            .exec(db)
            .await?
            .rows_affected;
    }
    report.login_attempts = login_attempt::Entity::delete_many()
        .filter(
            login_attempt::Column::AttemptedAt
                .lt(now - chrono::Duration::hours(LOGIN_ATTEMPT_RETENTION_HOURS)),
        )
        .exec(db)
        .await?
        .rows_affected;
    report.sso = sso_login_request::Entity::delete_many()
        .filter(sso_login_request::Column::Expires.lt(now))
        .exec(db)
        .await?
        .rows_affected
        + sso_used_id::Entity::delete_many()
            .filter(sso_used_id::Column::Expires.lt(now))
            .exec(db)
            .await?
            .rows_affected;
    for id in store.expired_export_jobs(now).await? {
        // Job ids are hex; anything else is never used as a path.
        if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let dir = config.export.dir.join(&id);
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, path = %dir.display(), "cannot remove export files");
            }
        }
        if store.delete_export_job(&id).await? {
            report.export_jobs += 1;
        }
    }
    report.counts_folded = store.compact_observation_counts().await?;
    Ok(report)
}

/// Starts the sweeper on the current Tokio runtime (a first sweep at once, then one every
/// `config.sweep_interval_secs`); `None` when the interval is 0.
pub fn spawn(store: SeaOrmStore, config: ServerConfig) -> Option<tokio::task::JoinHandle<()>> {
    if config.sweep_interval_secs == 0 {
        tracing::info!("sweeper off (JHE_SWEEP_INTERVAL_SECS=0)");
        return None;
    }
    let period = Duration::from_secs(config.sweep_interval_secs);
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match sweep(&store, &config, Utc::now()).await {
                Ok(report) if report.total() > 0 => tracing::info!(
                    sessions = report.sessions,
                    tokens = report.tokens,
                    refresh_tokens = report.refresh_tokens,
                    login_attempts = report.login_attempts,
                    sso = report.sso,
                    export_jobs = report.export_jobs,
                    counts_folded = report.counts_folded,
                    "swept expired rows"
                ),
                Ok(report) if report.counts_folded > 0 => tracing::debug!(
                    counts_folded = report.counts_folded,
                    "sweep: nothing expired; observation counts folded"
                ),
                Ok(_) => tracing::debug!("sweep: nothing expired"),
                Err(e) => tracing::warn!(error = %e, "sweep failed; retrying next time"),
            }
        }
    }))
}

/// Publishes the database pool's size and idle connections as the gauges
/// `jhe_db_pool_connections` and `jhe_db_pool_idle_connections`, every 15 seconds (a no-op
/// unless metrics are on).
pub fn spawn_pool_gauges(store: SeaOrmStore) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(15));
        loop {
            ticks.tick().await;
            let db = store.connection();
            let (size, idle) = match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    let pool = db.get_postgres_connection_pool();
                    (pool.size(), pool.num_idle())
                }
                sea_orm::DbBackend::Sqlite => {
                    let pool = db.get_sqlite_connection_pool();
                    (pool.size(), pool.num_idle())
                }
                _ => continue,
            };
            metrics::gauge!("jhe_db_pool_connections").set(f64::from(size));
            metrics::gauge!("jhe_db_pool_idle_connections")
                .set(f64::from(u32::try_from(idle).unwrap_or(u32::MAX)));
        }
    })
}
