//! [`TransactionalStore`] for [`SeaOrmStore`]: a [`UnitOfWork`] over a sea-orm
//! [`DatabaseTransaction`], writing through the same functions as the store's own methods.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::domain::{
    AuthorizationGrant, Id, NewAuthorizationGrant, NewPatient, NewPractitioner, NewUser, Patient,
    Practitioner, PractitionerOrganization, StudyPatient, StudyPatientScopeConsent, User,
};
use jhe_core::store::{StoreResult, TransactionalStore, UnitOfWork};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, TransactionTrait};

use super::entity::{study, study_patient as sp, user};
use super::{DbResultExt, SeaOrmStore, oauth, patients, studies, users};

/// A unit of work of [`SeaOrmStore`]: one open transaction. Dropped without
/// [`commit`](UnitOfWork::commit), the transaction rolls back.
pub struct SeaOrmUnitOfWork {
    txn: DatabaseTransaction,
}

impl std::fmt::Debug for SeaOrmUnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaOrmUnitOfWork").finish_non_exhaustive()
    }
}

#[async_trait]
impl TransactionalStore for SeaOrmStore {
    async fn begin(&self) -> StoreResult<Box<dyn UnitOfWork>> {
        let txn = self.db.begin().await.db()?;
        Ok(Box::new(SeaOrmUnitOfWork { txn }))
    }
}

#[async_trait]
impl UnitOfWork for SeaOrmUnitOfWork {
    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        users::insert_user(&self.txn, new).await
    }

    async fn get_user(&self, id: Id) -> StoreResult<Option<User>> {
        Ok(user::Entity::find_by_id(id)
            .one(&self.txn)
            .await
            .db()?
            .map(users::user_from))
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        users::find_user_by_email(&self.txn, email).await
    }

    async fn delete_user(&self, id: Id) -> StoreResult<bool> {
        users::delete_user_row(&self.txn, id).await
    }

    async fn create_practitioner(&self, new: NewPractitioner) -> StoreResult<Practitioner> {
        users::insert_practitioner(&self.txn, new).await
    }

    async fn upsert_practitioner_organization(
        &self,
        practitioner_id: Id,
        organization_id: Id,
        role: &str,
    ) -> StoreResult<PractitionerOrganization> {
        users::upsert_practitioner_link(&self.txn, practitioner_id, organization_id, role).await
    }

    async fn create_patient(&self, new: NewPatient) -> StoreResult<Patient> {
        patients::insert_patient(&self.txn, new).await
    }

    async fn delete_patient(&self, id: Id) -> StoreResult<bool> {
        patients::delete_patient_row(&self.txn, id).await
    }

    async fn add_patient_organization(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<()> {
        patients::insert_patient_organization(&self.txn, patient_id, organization_id).await
    }

    async fn remove_patient_organization(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<bool> {
        patients::delete_patient_organization(&self.txn, patient_id, organization_id).await
    }

    async fn list_patient_organization_ids(&self, patient_id: Id) -> StoreResult<Vec<Id>> {
        patients::patient_organization_ids(&self.txn, patient_id).await
    }

    async fn enroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<StudyPatient> {
        studies::insert_enrolment(&self.txn, study_id, patient_id).await
    }

    async fn unenroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<bool> {
        studies::delete_enrolment(&self.txn, study_id, patient_id).await
    }

    async fn unenroll_patient_from_organization_studies(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<u64> {
        Ok(sp::Entity::delete_many()
            .filter(sp::Column::PatientId.eq(patient_id))
            .filter(
                sp::Column::StudyId.in_subquery(
                    Query::select()
                        .column(study::Column::Id)
                        .from(study::Entity)
                        .and_where(Expr::col(study::Column::OrganizationId).eq(organization_id))
                        .to_owned(),
                ),
            )
            .exec(&self.txn)
            .await
            .db()?
            .rows_affected)
    }

    async fn upsert_consent(
        &self,
        study_patient_id: Id,
        scope_code_id: Id,
        consented: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<StudyPatientScopeConsent> {
        studies::upsert_consent_row(&self.txn, study_patient_id, scope_code_id, consented, at).await
    }

    async fn delete_consent(&self, study_patient_id: Id, scope_code_id: Id) -> StoreResult<bool> {
        studies::delete_consent_row(&self.txn, study_patient_id, scope_code_id).await
    }

    async fn delete_patient_consents(&self, patient_id: Id) -> StoreResult<u64> {
        studies::delete_consents_of_patient(&self.txn, patient_id).await
    }

    async fn create_grant(&self, new: NewAuthorizationGrant) -> StoreResult<AuthorizationGrant> {
        oauth::insert_grant(&self.txn, new).await
    }

    async fn delete_grants(&self, user_id: Id, application_id: Id) -> StoreResult<u64> {
        oauth::remove_grants(&self.txn, user_id, application_id).await
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.txn.commit().await.db()
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        self.txn.rollback().await.db()
    }
}
