//! [`StudyStore`]: studies, enrolments, scope requests, consents and study links.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::domain::{
    Id, NewStudy, Page, PageRequest, Study, StudyClient, StudyDataSource, StudyIcon, StudyPatient,
    StudyPatientScopeConsent, StudyScopeRequest,
};
use jhe_core::store::{AccessScope, StoreResult, StudyStore};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::OnConflict;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use super::access::patient_condition;
use super::entity::{
    study, study_client as sc, study_data_source as sds, study_icon, study_patient as sp,
    study_patient_scope_consent as spc, study_scope_request as ssr,
};
use super::{DbResultExt, SeaOrmStore, delete_pair, find_pair, insert_link, limit_of};

fn study_from(m: study::Model) -> Study {
    Study {
        id: m.id,
        name: m.name,
        description: m.description,
        organization_id: m.organization_id,
        icon_url: m.icon_url,
    }
}

fn icon_from(m: study_icon::Model) -> StudyIcon {
    StudyIcon {
        study_id: m.study_id,
        content_type: m.content_type,
        data: m.data,
        content_hash: m.content_hash,
        updated_at: m.updated_at,
    }
}

pub(crate) fn enrolment_from(m: sp::Model) -> StudyPatient {
    StudyPatient {
        id: m.id,
        study_id: m.study_id,
        patient_id: m.patient_id,
    }
}

fn request_from(m: ssr::Model) -> StudyScopeRequest {
    StudyScopeRequest {
        id: m.id,
        study_id: m.study_id,
        scope_code_id: m.scope_code_id,
        scope_actions: m.scope_actions,
    }
}

pub(crate) fn consent_from(m: spc::Model) -> StudyPatientScopeConsent {
    StudyPatientScopeConsent {
        id: m.id,
        study_patient_id: m.study_patient_id,
        scope_code_id: m.scope_code_id,
        scope_actions: m.scope_actions,
        consented: m.consented,
        consented_time: m.consented_time,
    }
}

/// Enrols a patient (`INSERT … ON CONFLICT DO NOTHING`, then the enrolment either way).
pub(crate) async fn insert_enrolment<C: ConnectionTrait>(
    db: &C,
    study_id: Id,
    patient_id: Id,
) -> StoreResult<StudyPatient> {
    insert_link(
        db,
        sp::ActiveModel {
            id: NotSet,
            study_id: Set(study_id),
            patient_id: Set(patient_id),
        },
        (sp::Column::StudyId, study_id),
        (sp::Column::PatientId, patient_id),
    )
    .await
    .map(enrolment_from)
}

/// Removes an enrolment (its consents cascade); `false` if there was none.
pub(crate) async fn delete_enrolment<C: ConnectionTrait>(
    db: &C,
    study_id: Id,
    patient_id: Id,
) -> StoreResult<bool> {
    delete_pair::<sp::Entity, _, _, _>(
        db,
        (sp::Column::StudyId, study_id),
        (sp::Column::PatientId, patient_id),
    )
    .await
}

/// Records a consent decision (`INSERT … ON CONFLICT DO UPDATE`, safe under concurrency).
pub(crate) async fn upsert_consent_row<C: ConnectionTrait>(
    db: &C,
    study_patient_id: Id,
    scope_code_id: Id,
    consented: bool,
    at: DateTime<Utc>,
) -> StoreResult<StudyPatientScopeConsent> {
    spc::Entity::insert(spc::ActiveModel {
        id: NotSet,
        study_patient_id: Set(study_patient_id),
        scope_code_id: Set(scope_code_id),
        scope_actions: Set(Some("rs".into())),
        consented: Set(consented),
        consented_time: Set(at),
    })
    .on_conflict(
        OnConflict::columns([spc::Column::StudyPatientId, spc::Column::ScopeCodeId])
            .update_columns([spc::Column::Consented, spc::Column::ConsentedTime])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .db()?;
    find_pair::<spc::Entity, _, _, _>(
        db,
        (spc::Column::StudyPatientId, study_patient_id),
        (spc::Column::ScopeCodeId, scope_code_id),
    )
    .await?
    .map(consent_from)
    .ok_or_else(|| jhe_core::store::StoreError::NotFound("consent".into()))
}

/// Deletes a consent decision (back to pending); `false` if absent.
pub(crate) async fn delete_consent_row<C: ConnectionTrait>(
    db: &C,
    study_patient_id: Id,
    scope_code_id: Id,
) -> StoreResult<bool> {
    delete_pair::<spc::Entity, _, _, _>(
        db,
        (spc::Column::StudyPatientId, study_patient_id),
        (spc::Column::ScopeCodeId, scope_code_id),
    )
    .await
}

/// Deletes every consent of a patient; how many.
pub(crate) async fn delete_consents_of_patient<C: ConnectionTrait>(
    db: &C,
    patient_id: Id,
) -> StoreResult<u64> {
    Ok(spc::Entity::delete_many()
        .filter(
            spc::Column::StudyPatientId.in_subquery(
                Query::select()
                    .column(sp::Column::Id)
                    .from(sp::Entity)
                    .and_where(Expr::col(sp::Column::PatientId).eq(patient_id))
                    .to_owned(),
            ),
        )
        .exec(db)
        .await
        .db()?
        .rows_affected)
}

#[async_trait]
impl StudyStore for SeaOrmStore {
    async fn create_study(&self, new: NewStudy) -> StoreResult<Study> {
        let model = study::ActiveModel {
            id: new.id.map(Set).unwrap_or(NotSet),
            name: Set(new.name),
            description: Set(new.description),
            organization_id: Set(new.organization_id),
            icon_url: Set(new.icon_url),
        };
        Ok(study_from(model.insert(&self.db).await.db()?))
    }

    async fn get_study(&self, id: Id) -> StoreResult<Option<Study>> {
        Ok(study::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(study_from))
    }

    async fn update_study(&self, s: &Study) -> StoreResult<Study> {
        Ok(study_from(study_model(s).update(&self.db).await.db()?))
    }

    async fn delete_study(&self, id: Id) -> StoreResult<bool> {
        Ok(study::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn list_studies(
        &self,
        organization_ids: Option<&[Id]>,
        page: PageRequest,
    ) -> StoreResult<Page<Study>> {
        let mut query = study::Entity::find();
        if let Some(ids) = organization_ids {
            query = query.filter(study::Column::OrganizationId.is_in(ids.iter().copied()));
        }
        let total = query.clone().count(&self.db).await.db()?;
        let items = query
            .order_by_asc(study::Column::Name)
            .order_by_asc(study::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: items.into_iter().map(study_from).collect(),
            total,
            request: page,
        })
    }

    async fn enroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<StudyPatient> {
        insert_enrolment(&self.db, study_id, patient_id).await
    }

    async fn unenroll_patient(&self, study_id: Id, patient_id: Id) -> StoreResult<bool> {
        delete_enrolment(&self.db, study_id, patient_id).await
    }

    async fn list_study_patients(
        &self,
        scope: &AccessScope,
        study_id: Id,
    ) -> StoreResult<Vec<StudyPatient>> {
        if scope.sees_nothing() {
            return Ok(Vec::new());
        }
        Ok(sp::Entity::find()
            .filter(sp::Column::StudyId.eq(study_id))
            .filter(patient_condition(sp::Column::PatientId, scope))
            .order_by_asc(sp::Column::PatientId)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(enrolment_from)
            .collect())
    }

    async fn list_patient_studies(
        &self,
        scope: &AccessScope,
        patient_id: Id,
    ) -> StoreResult<Vec<StudyPatient>> {
        if scope.sees_nothing() {
            return Ok(Vec::new());
        }
        Ok(sp::Entity::find()
            .filter(sp::Column::PatientId.eq(patient_id))
            .filter(patient_condition(sp::Column::PatientId, scope))
            .order_by_asc(sp::Column::StudyId)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(enrolment_from)
            .collect())
    }

    async fn add_scope_request(
        &self,
        study_id: Id,
        scope_code_id: Id,
    ) -> StoreResult<StudyScopeRequest> {
        insert_link(
            &self.db,
            ssr::ActiveModel {
                id: NotSet,
                study_id: Set(study_id),
                scope_code_id: Set(scope_code_id),
                scope_actions: Set(Some("rs".into())),
            },
            (ssr::Column::StudyId, study_id),
            (ssr::Column::ScopeCodeId, scope_code_id),
        )
        .await
        .map(request_from)
    }

    async fn remove_scope_request(&self, study_id: Id, scope_code_id: Id) -> StoreResult<bool> {
        self.delete_pair::<ssr::Entity, _, _>(
            (ssr::Column::StudyId, study_id),
            (ssr::Column::ScopeCodeId, scope_code_id),
        )
        .await
    }

    async fn list_scope_requests(&self, study_id: Id) -> StoreResult<Vec<StudyScopeRequest>> {
        Ok(ssr::Entity::find()
            .filter(ssr::Column::StudyId.eq(study_id))
            .order_by_asc(ssr::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(request_from)
            .collect())
    }

    async fn upsert_consent(
        &self,
        study_patient_id: Id,
        scope_code_id: Id,
        consented: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<StudyPatientScopeConsent> {
        upsert_consent_row(&self.db, study_patient_id, scope_code_id, consented, at).await
    }

    async fn delete_consent(&self, study_patient_id: Id, scope_code_id: Id) -> StoreResult<bool> {
        delete_consent_row(&self.db, study_patient_id, scope_code_id).await
    }

    async fn list_patient_consents(
        &self,
        scope: &AccessScope,
        patient_id: Id,
    ) -> StoreResult<Vec<StudyPatientScopeConsent>> {
        if scope.sees_nothing() {
            return Ok(Vec::new());
        }
        let mut enrolments = Query::select()
            .column(sp::Column::Id)
            .from(sp::Entity)
            .and_where(Expr::col(sp::Column::PatientId).eq(patient_id))
            .to_owned();
        enrolments.cond_where(patient_condition(sp::Column::PatientId, scope));
        Ok(spc::Entity::find()
            .filter(spc::Column::StudyPatientId.in_subquery(enrolments))
            .order_by_asc(spc::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(consent_from)
            .collect())
    }

    async fn get_consent(
        &self,
        scope: &AccessScope,
        id: Id,
    ) -> StoreResult<Option<(StudyPatientScopeConsent, StudyPatient)>> {
        if scope.sees_nothing() {
            return Ok(None);
        }
        let Some(consent) = spc::Entity::find_by_id(id).one(&self.db).await.db()? else {
            return Ok(None);
        };
        let Some(enrolment) = sp::Entity::find()
            .filter(sp::Column::Id.eq(consent.study_patient_id))
            .filter(patient_condition(sp::Column::PatientId, scope))
            .one(&self.db)
            .await
            .db()?
        else {
            return Ok(None);
        };
        Ok(Some((consent_from(consent), enrolment_from(enrolment))))
    }

    async fn delete_patient_consents(&self, patient_id: Id) -> StoreResult<u64> {
        delete_consents_of_patient(&self.db, patient_id).await
    }

    async fn add_study_data_source(
        &self,
        study_id: Id,
        data_source_id: Id,
    ) -> StoreResult<StudyDataSource> {
        let m = insert_link(
            &self.db,
            sds::ActiveModel {
                id: NotSet,
                study_id: Set(study_id),
                data_source_id: Set(data_source_id),
            },
            (sds::Column::StudyId, study_id),
            (sds::Column::DataSourceId, data_source_id),
        )
        .await?;
        Ok(StudyDataSource {
            id: m.id,
            study_id: m.study_id,
            data_source_id: m.data_source_id,
        })
    }

    async fn remove_study_data_source(
        &self,
        study_id: Id,
        data_source_id: Id,
    ) -> StoreResult<bool> {
        self.delete_pair::<sds::Entity, _, _>(
            (sds::Column::StudyId, study_id),
            (sds::Column::DataSourceId, data_source_id),
        )
        .await
    }

    async fn list_study_data_sources(&self, study_id: Id) -> StoreResult<Vec<StudyDataSource>> {
        Ok(sds::Entity::find()
            .filter(sds::Column::StudyId.eq(study_id))
            .order_by_asc(sds::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(|m| StudyDataSource {
                id: m.id,
                study_id: m.study_id,
                data_source_id: m.data_source_id,
            })
            .collect())
    }

    async fn add_study_client(&self, study_id: Id, client_id: Id) -> StoreResult<StudyClient> {
        let m = insert_link(
            &self.db,
            sc::ActiveModel {
                id: NotSet,
                study_id: Set(study_id),
                client_id: Set(client_id),
            },
            (sc::Column::StudyId, study_id),
            (sc::Column::ClientId, client_id),
        )
        .await?;
        Ok(StudyClient {
            id: m.id,
            study_id: m.study_id,
            client_id: m.client_id,
        })
    }

    async fn remove_study_client(&self, study_id: Id, client_id: Id) -> StoreResult<bool> {
        self.delete_pair::<sc::Entity, _, _>(
            (sc::Column::StudyId, study_id),
            (sc::Column::ClientId, client_id),
        )
        .await
    }

    async fn list_study_clients(&self, study_id: Id) -> StoreResult<Vec<StudyClient>> {
        Ok(sc::Entity::find()
            .filter(sc::Column::StudyId.eq(study_id))
            .order_by_asc(sc::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(|m| StudyClient {
                id: m.id,
                study_id: m.study_id,
                client_id: m.client_id,
            })
            .collect())
    }

    async fn put_study_icon(&self, icon: &StudyIcon) -> StoreResult<()> {
        put_icon(&self.db, icon).await
    }

    async fn get_study_icon(&self, study_id: Id) -> StoreResult<Option<StudyIcon>> {
        Ok(study_icon::Entity::find_by_id(study_id)
            .one(&self.db)
            .await
            .db()?
            .map(icon_from))
    }

    async fn delete_study_icon(&self, study_id: Id) -> StoreResult<bool> {
        delete_icon(&self.db, study_id).await
    }

    async fn update_study_and_icon(
        &self,
        s: &Study,
        icon: Option<Option<&StudyIcon>>,
    ) -> StoreResult<Study> {
        let txn = self.db.begin().await.db()?;
        match icon {
            Some(Some(icon)) => put_icon(&txn, icon).await?,
            Some(None) => {
                delete_icon(&txn, s.id).await?;
            }
            None => {}
        }
        let updated = study_from(study_model(s).update(&txn).await.db()?);
        txn.commit().await.db()?;
        Ok(updated)
    }
}

/// The row of an existing study, every column set (for an update).
fn study_model(s: &Study) -> study::ActiveModel {
    study::ActiveModel {
        id: Set(s.id),
        name: Set(s.name.clone()),
        description: Set(s.description.clone()),
        organization_id: Set(s.organization_id),
        icon_url: Set(s.icon_url.clone()),
    }
}

/// Inserts or replaces a study's icon on `db` (the store or a transaction).
async fn put_icon<C: ConnectionTrait>(db: &C, icon: &StudyIcon) -> StoreResult<()> {
    study_icon::Entity::insert(study_icon::ActiveModel {
        study_id: Set(icon.study_id),
        content_type: Set(icon.content_type.clone()),
        data: Set(icon.data.clone()),
        content_hash: Set(icon.content_hash.clone()),
        updated_at: Set(icon.updated_at),
    })
    .on_conflict(
        OnConflict::column(study_icon::Column::StudyId)
            .update_columns([
                study_icon::Column::ContentType,
                study_icon::Column::Data,
                study_icon::Column::ContentHash,
                study_icon::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .db()?;
    Ok(())
}

/// Deletes a study's icon on `db`; `false` if there was none.
async fn delete_icon<C: ConnectionTrait>(db: &C, study_id: Id) -> StoreResult<bool> {
    Ok(study_icon::Entity::delete_by_id(study_id)
        .exec(db)
        .await
        .db()?
        .rows_affected
        > 0)
}
