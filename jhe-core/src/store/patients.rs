use async_trait::async_trait;

use super::{AccessScope, StoreResult};
use crate::domain::{Id, NewPatient, Page, PageRequest, Patient};

/// Narrows a patient list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientQuery {
    /// Only members of this organisation.
    pub organization_id: Option<Id>,
    /// Only patients enrolled in this study.
    pub study_id: Option<Id>,
    /// Only this patient.
    pub patient_id: Option<Id>,
    /// Only patients with this external identifier.
    pub identifier: Option<String>,
    /// Only patients whose family or given name starts with each of these (case-insensitive).
    pub name: Vec<String>,
    /// Only patients whose family name starts with each of these (case-insensitive).
    pub family: Vec<String>,
    /// Only patients whose given name starts with each of these (case-insensitive).
    pub given: Vec<String>,
    /// Only patients whose account has this e-mail address (case-insensitive).
    pub email: Option<String>,
    /// Only patients born on or after this day.
    pub birth_date_from: Option<chrono::NaiveDate>,
    /// Only patients born before this day.
    pub birth_date_before: Option<chrono::NaiveDate>,
}

/// Patients and their organisations.
#[async_trait]
pub trait PatientStore {
    /// Creates a patient.
    async fn create_patient(&self, new: NewPatient) -> StoreResult<Patient>;
    /// A patient by id, if visible through `scope` (`None` for both "not visible" and "not
    /// there").
    async fn get_patient(&self, scope: &AccessScope, id: Id) -> StoreResult<Option<Patient>>;
    /// Several patients by id: those visible through `scope`, ordered by id (one query, for
    /// list pages: no query per row).
    async fn get_patients(&self, scope: &AccessScope, ids: &[Id]) -> StoreResult<Vec<Patient>>;
    /// The patient records of several users, ordered by id (one query).
    async fn get_patients_by_users(&self, user_ids: &[Id]) -> StoreResult<Vec<Patient>>;
    /// The user ids of the patients visible through `scope` that belong to any of
    /// `organization_ids` (one query), ascending, distinct.
    async fn list_patient_user_ids_in_organizations(
        &self,
        scope: &AccessScope,
        organization_ids: &[Id],
    ) -> StoreResult<Vec<Id>>;
    /// The patient record of a user.
    async fn get_patient_by_user(&self, user_id: Id) -> StoreResult<Option<Patient>>;
    /// Writes every field (by id).
    async fn update_patient(&self, patient: &Patient) -> StoreResult<Patient>;
    /// Deletes a patient with enrolments, consents and observations.
    async fn delete_patient(&self, id: Id) -> StoreResult<bool>;
    /// Patients visible through `scope` matching `query`, ordered by id, distinct.
    async fn list_patients(
        &self,
        scope: &AccessScope,
        query: &PatientQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Patient>>;
    /// Adds a patient to an organisation (no-op if already there).
    async fn add_patient_organization(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<()>;
    /// Removes a patient from an organisation; `false` if not a member.
    async fn remove_patient_organization(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<bool>;
    /// Ids of the organisations of a patient, ascending.
    async fn list_patient_organization_ids(&self, patient_id: Id) -> StoreResult<Vec<Id>>;
    /// `(patient id, organisation id)` links of several patients in one query, ordered by
    /// patient then organisation (for list pages: no query per row).
    async fn list_organization_links_of_patients(
        &self,
        patient_ids: &[Id],
    ) -> StoreResult<Vec<(Id, Id)>>;
}
