use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AccessScope, StoreResult};
use crate::domain::{
    Id, NewStudy, Page, PageRequest, Study, StudyClient, StudyDataSource, StudyIcon, StudyPatient,
    StudyPatientScopeConsent, StudyScopeRequest,
};

/// Studies, enrolments, scope requests and consents.
#[async_trait]
pub trait StudyStore {
    /// Creates a study.
    async fn create_study(&self, new: NewStudy) -> StoreResult<Study>;
    /// A study by id.
    async fn get_study(&self, id: Id) -> StoreResult<Option<Study>>;
    /// Writes every field (by id).
    async fn update_study(&self, study: &Study) -> StoreResult<Study>;
    /// Deletes a study with its enrolments, consents, requests and links.
    async fn delete_study(&self, id: Id) -> StoreResult<bool>;
    /// Studies of the given organisations (all when `None`), ordered by name then id.
    async fn list_studies(
        &self,
        organization_ids: Option<&[Id]>,
        page: PageRequest,
    ) -> StoreResult<Page<Study>>;

    /// Enrols a patient (idempotent: returns the existing enrolment).
    async fn enroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<StudyPatient>;
    /// Removes an enrolment and its consents; `false` if there was none.
    async fn unenroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<bool>;
    /// Enrolments of a study whose patients are visible through `scope`, ordered by patient id.
    async fn list_study_patients(
        &self,
        scope: &AccessScope,
        study_id: Id,
    ) -> StoreResult<Vec<StudyPatient>>;
    /// Enrolments of a patient visible through `scope` (none otherwise), ordered by study id.
    async fn list_patient_studies(
        &self,
        scope: &AccessScope,
        patient_id: Id,
    ) -> StoreResult<Vec<StudyPatient>>;

    /// Adds a requested scope (idempotent).
    async fn add_scope_request(
        &self,
        study_id: Id,
        scope_code_id: Id,
    ) -> StoreResult<StudyScopeRequest>;
    /// Removes a requested scope; `false` if absent.
    async fn remove_scope_request(&self, study_id: Id, scope_code_id: Id) -> StoreResult<bool>;
    /// Requested scopes of a study, ordered by id.
    async fn list_scope_requests(&self, study_id: Id) -> StoreResult<Vec<StudyScopeRequest>>;

    /// Records (inserts or updates) a consent decision of an enrolment.
    async fn upsert_consent(
        &self,
        study_patient_id: Id,
        scope_code_id: Id,
        consented: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<StudyPatientScopeConsent>;
    /// Deletes a consent decision (back to pending); `false` if absent.
    async fn delete_consent(&self, study_patient_id: Id, scope_code_id: Id) -> StoreResult<bool>;
    /// All consent decisions of a patient visible through `scope` (none otherwise; every
    /// enrolment), ordered by id.
    async fn list_patient_consents(
        &self,
        scope: &AccessScope,
        patient_id: Id,
    ) -> StoreResult<Vec<StudyPatientScopeConsent>>;
    /// One consent decision by id with its enrolment, when its patient is visible through
    /// `scope` (`None` otherwise, exactly like an unknown id).
    ///
    /// # Errors
    /// A storage failure.
    async fn get_consent(
        &self,
        scope: &AccessScope,
        id: Id,
    ) -> StoreResult<Option<(StudyPatientScopeConsent, StudyPatient)>>;
    /// Deletes every consent of a patient; returns how many.
    async fn delete_patient_consents(&self, patient_id: Id) -> StoreResult<u64>;

    /// Links a data source to a study (idempotent).
    async fn add_study_data_source(
        &self,
        study_id: Id,
        data_source_id: Id,
    ) -> StoreResult<StudyDataSource>;
    /// Unlinks a data source; `false` if absent.
    async fn remove_study_data_source(&self, study_id: Id, data_source_id: Id)
    -> StoreResult<bool>;
    /// Data source links of a study, ordered by id.
    async fn list_study_data_sources(&self, study_id: Id) -> StoreResult<Vec<StudyDataSource>>;

    /// Links an OAuth client to a study (idempotent).
    async fn add_study_client(&self, study_id: Id, client_id: Id) -> StoreResult<StudyClient>;
    /// Unlinks a client; `false` if absent.
    async fn remove_study_client(&self, study_id: Id, client_id: Id) -> StoreResult<bool>;
    /// Client links of a study, ordered by id.
    async fn list_study_clients(&self, study_id: Id) -> StoreResult<Vec<StudyClient>>;

    /// Stores (inserts or replaces) a study's icon.
    async fn put_study_icon(&self, icon: &StudyIcon) -> StoreResult<()>;
    /// A study's icon, if one was uploaded.
    async fn get_study_icon(&self, study_id: Id) -> StoreResult<Option<StudyIcon>>;
    /// Deletes a study's icon; `false` if there was none.
    async fn delete_study_icon(&self, study_id: Id) -> StoreResult<bool>;
    /// Updates a study and its uploaded icon together (one transaction: both or neither):
    /// `icon` `Some(Some(i))` stores `i` (inserts or replaces), `Some(None)` deletes the stored
    /// icon, `None` leaves it as it is. Returns the updated study.
    ///
    /// # Errors
    /// `Backend` for database failures (nothing is changed then).
    async fn update_study_and_icon(
        &self,
        study: &Study,
        icon: Option<Option<&StudyIcon>>,
    ) -> StoreResult<Study>;
}
