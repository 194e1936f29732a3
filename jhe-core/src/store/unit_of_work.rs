//! Units of work: several writes that succeed or fail together (one database transaction).
//!
//! A use case that writes more than one row opens a unit of work with
//! [`TransactionalStore::begin`], writes through it, and calls [`UnitOfWork::commit`]. If it
//! returns early (`?`) or fails half-way, the unit of work is dropped without commit and every
//! write it made is rolled back: nothing is left behind and no hand-written undo is needed.
//!
//! ```rust,ignore
//! let uow = store.begin().await?;
//! let user = uow.create_user(new_user).await?;              // an error here rolls back…
//! uow.create_practitioner(profile_for(&user)).await?;        // …and here too
//! uow.commit().await?;                                       // both rows, or none
//! ```
//!
//! Rules of use:
//! - Do the reads and checks a use case needs **before** `begin` (through the [`Store`]), and
//!   keep the unit of work short: on SQLite it holds the database's single write lock from its
//!   first write until commit or drop.
//! - Never write through the [`Store`] while a unit of work is open in the same task: on SQLite
//!   that write waits for the lock the unit of work holds (up to the busy timeout).
//! - Reads through the unit of work see its own uncommitted writes; reads through the
//!   [`Store`] do not.
//!
//! [`Store`]: super::Store

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{
    AuthorizationGrant, Id, NewAuthorizationGrant, NewPatient, NewPractitioner, NewUser, Patient,
    Practitioner, PractitionerOrganization, StudyPatient, StudyPatientScopeConsent, User,
};

/// A store that can open units of work (part of [`Store`](super::Store)).
#[async_trait]
pub trait TransactionalStore {
    /// Begins a unit of work (a database transaction).
    ///
    /// # Errors
    /// [`StoreError::Backend`](super::StoreError::Backend) when no transaction can be started.
    async fn begin(&self) -> StoreResult<Box<dyn UnitOfWork>>;
}

/// The writes of one transaction. Each method behaves like the [`Store`](super::Store) method of
/// the same name, but nothing becomes visible to others until [`commit`](UnitOfWork::commit);
/// dropping the unit of work without commit rolls every write back.
///
/// Every method fails with the [`StoreError`](super::StoreError) the matching store method
/// would (`Conflict` for a broken uniqueness rule, `Constraint` for a missing reference,
/// `Backend` for database failures). After an error, do not keep writing: drop the unit of work
/// (PostgreSQL refuses further statements in a failed transaction).
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Creates a user (e-mail normalised); `Conflict` if the e-mail exists in any case.
    async fn create_user(&self, new: NewUser) -> StoreResult<User>;
    /// A user by id (sees this unit of work's writes).
    async fn get_user(&self, id: Id) -> StoreResult<Option<User>>;
    /// A user by e-mail, regardless of case (sees this unit of work's writes).
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Deletes a user (profiles, tokens, grants and sessions cascade).
    async fn delete_user(&self, id: Id) -> StoreResult<bool>;

    /// Creates a practitioner profile.
    async fn create_practitioner(&self, new: NewPractitioner) -> StoreResult<Practitioner>;
    /// Links a practitioner to an organisation with `role`, or changes the role of the link.
    async fn upsert_practitioner_organization(
        &self,
        practitioner_id: Id,
        organization_id: Id,
        role: &str,
    ) -> StoreResult<PractitionerOrganization>;

    /// Creates a patient.
    async fn create_patient(&self, new: NewPatient) -> StoreResult<Patient>;
    /// Deletes a patient with enrolments, consents and observations.
    async fn delete_patient(&self, id: Id) -> StoreResult<bool>;
    /// Adds a patient to an organisation (idempotent, `INSERT … ON CONFLICT DO NOTHING`).
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
    /// Ids of the organisations of a patient, ascending (sees this unit of work's writes).
    async fn list_patient_organization_ids(&self, patient_id: Id) -> StoreResult<Vec<Id>>;

    /// Enrols a patient in a study (idempotent: returns the existing enrolment).
    async fn enroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<StudyPatient>;
    /// Removes an enrolment and its consents; `false` if there was none.
    async fn unenroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<bool>;
    /// Removes the patient's enrolments (and their consents) in every study of an organisation;
    /// how many.
    async fn unenroll_patient_from_organization_studies(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<u64>;

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
    /// Deletes every consent of a patient; how many.
    async fn delete_patient_consents(&self, patient_id: Id) -> StoreResult<u64>;

    /// Stores an authorization code (grant).
    async fn create_grant(&self, new: NewAuthorizationGrant) -> StoreResult<AuthorizationGrant>;
    /// Deletes every authorization code of a user for a client; how many.
    async fn delete_grants(&self, user_id: Id, application_id: Id) -> StoreResult<u64>;

    /// Makes every write of this unit of work durable and visible, at once.
    ///
    /// # Errors
    /// A store error when the database refuses the commit; nothing is written then.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
    /// Discards every write (what dropping the unit of work does, but waiting for the database).
    ///
    /// # Errors
    /// A store error when the database cannot be told; the writes are discarded anyway.
    async fn rollback(self: Box<Self>) -> StoreResult<()>;
}
