//! How an integrator adds a rule to the standard authorisation policy: [`FrozenRecordsPolicy`]
//! wraps `RbacConsentPolicy` (roles in organisations, patient consent) and additionally
//! refuses uploads to the records of patients under a legal hold, whoever sends them.
//!
//! ```text
//! JHE_FROZEN_PATIENTS=40001,40002 cargo run --example custom_policy
//! ```
//!
//! A policy answers two questions (the `Policy` trait): *may this caller do this action*
//! (`authorize`), and *which rows may this caller read* (`access_scope`, a sealed
//! `AccessScope` that every read of patient data goes through). Wrapping keeps the standard
//! answers and only narrows them: a wrapper can refuse more, it should never allow what the
//! inner policy refused. A refusal's message is shown to the caller (a 403, or an
//! OperationOutcome on FHIR).

use std::collections::BTreeSet;

use jhe::async_trait::async_trait;
use jhe::core::domain::Id;
use jhe::core::policy::{AccessScope, Action, Decision, Policy, Principal, ScopeIssuer};
use jhe::core::store::{MaintenanceStore, Store, StoreResult};
use jhe::core::{Config, JheServer};
use jhe::plugins::{OmhFormat, PasswordIdp, RbacConsentPolicy, SeaOrmStore};

/// `RbacConsentPolicy`, plus: nobody uploads observations to a frozen patient's record.
#[derive(Debug, Clone, Default)]
pub struct FrozenRecordsPolicy {
    inner: RbacConsentPolicy,
    frozen: BTreeSet<Id>,
}

impl FrozenRecordsPolicy {
    /// Freezes the records of these patients (ids of `Patient` resources).
    pub fn new(frozen: impl IntoIterator<Item = Id>) -> Self {
        Self {
            inner: RbacConsentPolicy,
            frozen: frozen.into_iter().collect(),
        }
    }

    /// The patients of `JHE_FROZEN_PATIENTS` (comma-separated ids; unparsable entries are
    /// ignored with a warning).
    pub fn from_env() -> Self {
        let list = std::env::var("JHE_FROZEN_PATIENTS").unwrap_or_default();
        Self::new(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .filter_map(|s| {
                    s.parse()
                        .map_err(|_| {
                            tracing::warn!(entry = s, "JHE_FROZEN_PATIENTS: not a patient id")
                        })
                        .ok()
                }),
        )
    }
}

#[async_trait]
impl Policy for FrozenRecordsPolicy {
    /// Reading is unchanged: what the standard policy lets the caller see.
    async fn access_scope(&self, principal: &Principal, issuer: ScopeIssuer) -> AccessScope {
        self.inner.access_scope(principal, issuer).await
    }

    /// The standard decision, except uploads to frozen records.
    async fn authorize(
        &self,
        principal: &Principal,
        action: &Action,
        store: &dyn Store,
    ) -> StoreResult<Decision> {
        if let Action::UploadObservation { patient_id } = action
            && self.frozen.contains(patient_id)
        {
            return Ok(Decision::Deny(format!(
                "The record of patient {patient_id} is frozen (legal hold): no new observations."
            )));
        }
        self.inner.authorize(principal, action, store).await
    }
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let config = Config::from_env()?;
    let database_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://jhe.db?mode=rwc".into());
    let store = SeaOrmStore::connect(&database_url).await?;
    store.migrate().await?;
    let server = JheServer::builder()
        .config(config)
        .store(store)
        .policy(FrozenRecordsPolicy::from_env())
        .data_format(OmhFormat::bundled())
        .identity_provider(PasswordIdp)
        .build()?;
    let bind = std::env::var("JHE_BIND").unwrap_or_else(|_| "127.0.0.1:8000".into());
    jhe::poem::Server::new(jhe::poem::listener::TcpListener::bind(bind))
        .run(server.into_endpoint())
        .await?;
    Ok(())
}
