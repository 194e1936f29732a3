//! `RbacConsentPolicy`: the role and consent rules of JupyterHealth Exchange
//! (`manager` / `member` / `viewer` per organisation, superusers, patients who see only
//! themselves), with the original's security gaps closed.

use async_trait::async_trait;
use jhe_core::domain::{Id, ROOT_ORGANIZATION_ID, role_has_permission};
use jhe_core::policy::{
    AccessScope, Action, Decision, Policy, Principal, ScopeIssuer, access_scope,
};
use jhe_core::store::{Store, StoreResult};

/// Permission strings of `ROLE_PERMISSIONS`.
mod perm {
    pub const MANAGE_PRACTITIONERS: &str = "organization.manage_for_practitioners";
    pub const MANAGE_PATIENTS: &str = "patient.manage_for_organization";
    pub const MANAGE_STUDIES: &str = "study.manage_for_organization";
}

/// The standard policy. Organisation membership is direct (the hierarchy grants nothing on
/// children), as in the original.
#[derive(Debug, Clone, Copy, Default)]
pub struct RbacConsentPolicy;

const NOT_ALLOWED: &str = "You do not have permission to perform this action.";

fn deny(message: &str) -> Decision {
    Decision::Deny(message.to_string())
}

impl RbacConsentPolicy {
    /// The caller's role string on exactly this organisation, if any.
    async fn role_on(
        principal: &Principal,
        organization_id: Id,
        store: &dyn Store,
    ) -> StoreResult<Option<String>> {
        let Some(practitioner) = &principal.practitioner else {
            return Ok(None);
        };
        Ok(store
            .list_practitioner_organizations(practitioner.id)
            .await?
            .into_iter()
            .find(|l| l.organization_id == organization_id)
            .map(|l| l.role))
    }

    async fn can(
        principal: &Principal,
        organization_id: Id,
        permission: &str,
        store: &dyn Store,
    ) -> StoreResult<bool> {
        if principal.is_superuser() {
            return Ok(true);
        }
        Ok(Self::role_on(principal, organization_id, store)
            .await?
            .is_some_and(|role| role_has_permission(&role, permission)))
    }

    /// Whether the patient is visible in the caller's access scope (for a practitioner: shares
    /// an organisation with them). The rule itself lives once, in the store's SQL.
    async fn sees_patient(
        &self,
        principal: &Principal,
        patient_id: Id,
        store: &dyn Store,
    ) -> StoreResult<bool> {
        let scope = access_scope(self, principal).await;
        Ok(store.get_patient(&scope, patient_id).await?.is_some())
    }

    fn is_own_patient(principal: &Principal, patient_id: Id) -> bool {
        principal
            .patient
            .as_ref()
            .is_some_and(|p| p.id == patient_id)
    }
}

#[async_trait]
impl Policy for RbacConsentPolicy {
    /// A practitioner (superusers included: they read patient data only as a member of an
    /// organisation would) sees the patients of their organisations and, of those, the data
    /// types consented to in their organisations' studies; a patient sees their own record and
    /// data; anyone else sees nothing.
    async fn access_scope(&self, principal: &Principal, issuer: ScopeIssuer) -> AccessScope {
        if let Some(practitioner) = &principal.practitioner {
            issuer.practitioner(practitioner.id)
        } else if let Some(patient) = &principal.patient {
            issuer.own_patient(patient.id)
        } else {
            issuer.nothing()
        }
    }

    async fn authorize(
        &self,
        principal: &Principal,
        action: &Action,
        store: &dyn Store,
    ) -> StoreResult<Decision> {
        let allowed = |ok: bool| {
            if ok {
                Decision::Allow
            } else {
                deny(NOT_ALLOWED)
            }
        };
        Ok(match action {
            Action::CreateTopLevelOrganization => allowed(principal.is_superuser()),
            Action::CreateOrganization { parent_id } => {
                if *parent_id == ROOT_ORGANIZATION_ID {
                    allowed(principal.is_superuser())
                } else {
                    allowed(
                        Self::can(principal, *parent_id, perm::MANAGE_PRACTITIONERS, store).await?,
                    )
                }
            }
            Action::ManageOrganization { organization_id } => {
                // Managing an organisation takes the role on its parent, unless it is top-level.
                let target = match store.get_organization(*organization_id).await? {
                    Some(org) => match org.part_of {
                        Some(parent) if parent != ROOT_ORGANIZATION_ID => parent,
                        _ => org.id,
                    },
                    None => *organization_id,
                };
                allowed(Self::can(principal, target, perm::MANAGE_PRACTITIONERS, store).await?)
            }
            Action::ManagePatients { organization_id } => {
                allowed(Self::can(principal, *organization_id, perm::MANAGE_PATIENTS, store).await?)
            }
            Action::ManageStudies { organization_id } => {
                allowed(Self::can(principal, *organization_id, perm::MANAGE_STUDIES, store).await?)
            }
            Action::ReadStudy { organization_id } => {
                if Self::role_on(principal, *organization_id, store)
                    .await?
                    .is_some()
                {
                    Decision::Allow
                } else {
                    deny("Current User does not have authorization to access this Study.")
                }
            }
            Action::RecordConsent {
                patient_id,
                study_organization_id,
            } => {
                if principal.is_superuser() || Self::is_own_patient(principal, *patient_id) {
                    Decision::Allow
                } else if principal.practitioner.is_some() {
                    let in_study_org = store
                        .list_patient_organization_ids(*patient_id)
                        .await?
                        .contains(study_organization_id);
                    match Self::role_on(principal, *study_organization_id, store).await? {
                        Some(role) if in_study_org && (role == "manager" || role == "member") => {
                            Decision::Allow
                        }
                        Some(_) if in_study_org => deny("Practitioner role is not valid."),
                        _ => deny("Practitioner doesn't have right now for patient."),
                    }
                } else if principal.patient.is_some() {
                    deny("The Patient does not match the current patient user.")
                } else {
                    deny("Only Patient users can update their own consents.")
                }
            }
            Action::UploadObservation { patient_id } => {
                if principal.practitioner.is_some() {
                    if self.sees_patient(principal, *patient_id, store).await? {
                        Decision::Allow
                    } else {
                        deny("Current user doesn't have access to the Patient.")
                    }
                } else if principal.patient.is_none() {
                    deny("Current user is not a Patient.")
                } else if Self::is_own_patient(principal, *patient_id) {
                    Decision::Allow
                } else {
                    deny("The Subject Patient does not match the current user.")
                }
            }
            Action::ManageClients
            | Action::ManageDataSources
            | Action::ManageSettings
            | Action::ManagePractitioners => allowed(principal.is_superuser()),
        })
    }

    /// One query for a practitioner (the visible subset of the patients), none otherwise.
    async fn authorize_uploads(
        &self,
        principal: &Principal,
        patient_ids: &[Id],
        store: &dyn Store,
    ) -> StoreResult<Vec<Decision>> {
        if principal.practitioner.is_none() || patient_ids.is_empty() {
            let mut decisions = Vec::with_capacity(patient_ids.len());
            for patient_id in patient_ids {
                let action = Action::UploadObservation {
                    patient_id: *patient_id,
                };
                decisions.push(self.authorize(principal, &action, store).await?);
            }
            return Ok(decisions);
        }
        let scope = access_scope(self, principal).await;
        let visible: std::collections::HashSet<Id> = store
            .get_patients(&scope, patient_ids)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        Ok(patient_ids
            .iter()
            .map(|id| {
                if visible.contains(id) {
                    Decision::Allow
                } else {
                    deny("Current user doesn't have access to the Patient.")
                }
            })
            .collect())
    }
}
