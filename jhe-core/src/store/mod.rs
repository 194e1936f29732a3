//! The `Store` trait: persistence of every entity, split into one narrow trait per aggregate.
//!
//! A backend implements each sub-trait; [`Store`] is implemented automatically for any type that
//! implements all of them. Every read of patient-linked rows takes an [`AccessScope`] first (only
//! a [`Policy`](crate::policy::Policy) issues one), so that forgetting the caller's access or the
//! consent rule does not compile; the backend applies all of it in SQL.

mod audit;
mod clients;
mod error;
mod export;
mod oauth;
mod observations;
mod organizations;
mod patients;
mod reference;
mod settings;
mod sso;
mod studies;
mod unit_of_work;
mod users;

pub use crate::policy::{AccessScope, ObservationConsent, PatientVisibility};
pub use audit::*;
pub use clients::*;
pub use error::*;
pub use export::*;
pub use oauth::*;
pub use observations::*;
pub use organizations::*;
pub use patients::*;
pub use reference::*;
pub use settings::*;
pub use sso::*;
pub use studies::*;
pub use unit_of_work::*;
pub use users::*;

use async_trait::async_trait;

/// Housekeeping that is not about one aggregate.
#[async_trait]
pub trait MaintenanceStore {
    /// Checks that the database answers (`/ready`).
    async fn ping(&self) -> StoreResult<()>;
    /// Applies pending schema migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Reverts every migration (drops the schema).
    async fn migrate_down(&self) -> StoreResult<()>;
    /// Deletes every row of every table (`seed --flush`).
    async fn flush(&self) -> StoreResult<()>;
    /// After rows were inserted with explicit ids: makes sure generated ids continue after the
    /// largest id of each table (and at least at `minimums`, e.g. `("users", 10001)`).
    async fn sync_id_sequences(&self, minimums: &[(&str, i64)]) -> StoreResult<()>;
    /// Whether the database holds no users yet (first start).
    async fn is_empty(&self) -> StoreResult<bool>;
    /// A short name of the backend (`sqlite`, `postgres`).
    fn backend_name(&self) -> &'static str;
    /// Folds bookkeeping rows of maintained aggregates (the PostgreSQL backend's delta rows of
    /// observation counts) into one row each; returns the rows written. Safe to run from several
    /// processes at once. The default does nothing (a backend without such rows).
    async fn compact_observation_counts(&self) -> StoreResult<u64> {
        Ok(0)
    }
}

/// All persistence jhe-core needs (multi-step writes go through a [`UnitOfWork`] from
/// [`TransactionalStore::begin`]). Implemented for every type implementing the sub-traits.
pub trait Store:
    UserStore
    + AuditStore
    + ExportStore
    + OrganizationStore
    + PatientStore
    + StudyStore
    + ReferenceStore
    + ClientStore
    + ObservationStore
    + SettingStore
    + OAuthStore
    + SessionStore
    + SsoStore
    + MaintenanceStore
    + TransactionalStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: UserStore
        + AuditStore
        + ExportStore
        + OrganizationStore
        + PatientStore
        + StudyStore
        + ReferenceStore
        + ClientStore
        + ObservationStore
        + SettingStore
        + OAuthStore
        + SessionStore
        + SsoStore
        + MaintenanceStore
        + TransactionalStore
        + Send
        + Sync
{
}
