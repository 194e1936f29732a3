//! The `Policy` trait: who may do what, and which rows a caller may read (the sealed
//! [`AccessScope`] it issues).

mod scope;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use scope::{AccessScope, ObservationConsent, PatientVisibility, ScopeIssuer};

use crate::domain::{GrantedScopes, Id, Patient, Practitioner, User};
use crate::store::{Store, StoreResult};

/// How a request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMethod {
    /// `Authorization: Bearer` access token.
    Bearer {
        /// The client the token was issued to, if any.
        application_id: Option<Id>,
    },
    /// A browser session cookie.
    Session,
}

/// The authenticated caller of a request, whatever identity provider or credential proved it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    /// The account.
    pub user: User,
    /// Practitioner profile, if any.
    pub practitioner: Option<Practitioner>,
    /// Patient profile, if any.
    pub patient: Option<Patient>,
    /// How the caller authenticated.
    pub via: AuthMethod,
    /// What the credential was granted: a bearer token's scopes, or
    /// [`GrantedScopes::full_role`] for a browser session. The HTTP layer has already refused
    /// requests the scopes do not cover (`crate::http::scopes`); when
    /// [`GrantedScopes::is_patient_compartment_only`] holds, the caller must see only their own
    /// patient record's data whatever the account could otherwise do.
    pub scopes: GrantedScopes,
}

impl Principal {
    /// Superuser flag of the account.
    pub fn is_superuser(&self) -> bool {
        self.user.is_superuser
    }

    /// A practitioner: `user_type` says so or a practitioner profile exists.
    pub fn is_practitioner(&self) -> bool {
        self.practitioner.is_some()
            || self.user.user_type == Some(crate::domain::UserType::Practitioner)
    }

    /// A patient: `user_type` says so or a patient profile exists.
    pub fn is_patient(&self) -> bool {
        self.patient.is_some() || self.user.user_type == Some(crate::domain::UserType::Patient)
    }
}

/// Something a caller wants to do that the policy decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Create an organisation directly under ROOT.
    CreateTopLevelOrganization,
    /// Create a child organisation under `parent_id`.
    CreateOrganization {
        /// The parent.
        parent_id: Id,
    },
    /// Rename/delete an organisation or change its members.
    ManageOrganization {
        /// The organisation.
        organization_id: Id,
    },
    /// Create, change or remove patients of an organisation.
    ManagePatients {
        /// The organisation.
        organization_id: Id,
    },
    /// Create, change or delete studies of an organisation (and their sub-resources).
    ManageStudies {
        /// The organisation.
        organization_id: Id,
    },
    /// Read a study.
    ReadStudy {
        /// The study's organisation.
        organization_id: Id,
    },
    /// Record consent decisions of a patient in a study.
    RecordConsent {
        /// The patient.
        patient_id: Id,
        /// The study's organisation.
        study_organization_id: Id,
    },
    /// Upload observations about a patient.
    UploadObservation {
        /// The patient.
        patient_id: Id,
    },
    /// Create, change or delete OAuth clients.
    ManageClients,
    /// Create, change or delete data sources and their scopes.
    ManageDataSources,
    /// Read and change system settings.
    ManageSettings,
    /// Read and change practitioners.
    ManagePractitioners,
}

/// The outcome of [`Policy::authorize`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Refused, with a message for the caller.
    Deny(String),
}

impl Decision {
    /// Whether the action is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Decides what a principal may do, and which rows it may read.
#[async_trait]
pub trait Policy: Send + Sync {
    /// The read scope of a principal, handed to every store read of patient data. Built with
    /// `issuer`, the only way to make an [`AccessScope`]; called through [`access_scope`].
    async fn access_scope(&self, principal: &Principal, issuer: ScopeIssuer) -> AccessScope;

    /// Whether `principal` may perform `action`. May consult the store (roles, enrolments).
    async fn authorize(
        &self,
        principal: &Principal,
        action: &Action,
        store: &dyn Store,
    ) -> StoreResult<Decision>;

    /// [`authorize`](Policy::authorize) of [`Action::UploadObservation`] for several patients
    /// at once: one decision per id, in order. The default asks `authorize` per patient; a
    /// policy may answer with one store call (an upload Bundle naming many patients).
    async fn authorize_uploads(
        &self,
        principal: &Principal,
        patient_ids: &[Id],
        store: &dyn Store,
    ) -> StoreResult<Vec<Decision>> {
        let mut decisions = Vec::with_capacity(patient_ids.len());
        for patient_id in patient_ids {
            let action = Action::UploadObservation {
                patient_id: *patient_id,
            };
            decisions.push(self.authorize(principal, &action, store).await?);
        }
        Ok(decisions)
    }
}

/// The access scope `policy` issues to `principal`: the one way request code gets a scope.
///
/// Whatever the policy decides, a token limited to the patient compartment (SMART `patient/…`
/// scopes only, as invitation-link tokens of patient apps are) sees at most its own patient's
/// record and data.
pub async fn access_scope(policy: &dyn Policy, principal: &Principal) -> AccessScope {
    let scope = policy.access_scope(principal, ScopeIssuer::new()).await;
    if !principal.scopes.is_patient_compartment_only() {
        return scope;
    }
    match &principal.patient {
        Some(patient) if scope.own_patient() == Some(patient.id) => scope,
        Some(patient) => ScopeIssuer::new().own_patient(patient.id),
        None => ScopeIssuer::new().nothing(),
    }
}

/// A policy that refuses everything and shows nothing. The default until a real policy is set.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAllPolicy;

#[async_trait]
impl Policy for DenyAllPolicy {
    async fn access_scope(&self, _principal: &Principal, issuer: ScopeIssuer) -> AccessScope {
        issuer.nothing()
    }

    async fn authorize(
        &self,
        _principal: &Principal,
        _action: &Action,
        _store: &dyn Store,
    ) -> StoreResult<Decision> {
        Ok(Decision::Deny(
            "You do not have permission to perform this action.".into(),
        ))
    }
}
