//! [`PatientStore`].

use async_trait::async_trait;
use chrono::Utc;
use jhe_core::domain::{Id, NewPatient, Page, PageRequest, Patient};
use jhe_core::store::{AccessScope, PatientQuery, PatientStore, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::access::patient_condition;
use super::entity::{patient, patient_organization as po, study_patient as sp, user};
use super::{DbResultExt, SeaOrmStore, delete_pair, insert_link, limit_of};

pub(crate) fn patient_from(m: patient::Model) -> Patient {
    Patient {
        id: m.id,
        jhe_user_id: m.jhe_user_id,
        identifier: m.identifier,
        name_family: m.name_family,
        name_given: m.name_given,
        birth_date: m.birth_date,
        telecom_phone: m.telecom_phone,
        last_updated: m.last_updated,
    }
}

/// Inserts a patient; shared by the store and its units of work.
pub(crate) async fn insert_patient<C: ConnectionTrait>(
    db: &C,
    new: NewPatient,
) -> StoreResult<Patient> {
    let model = patient::ActiveModel {
        id: new.id.map(Set).unwrap_or(NotSet),
        jhe_user_id: Set(new.jhe_user_id),
        identifier: Set(new.identifier),
        name_family: Set(new.name_family),
        name_given: Set(new.name_given),
        birth_date: Set(new.birth_date),
        telecom_phone: Set(new.telecom_phone),
        last_updated: Set(Utc::now()),
    };
    Ok(patient_from(model.insert(db).await.db()?))
}

/// Deletes a patient (enrolments, consents and observations cascade).
pub(crate) async fn delete_patient_row<C: ConnectionTrait>(db: &C, id: Id) -> StoreResult<bool> {
    Ok(patient::Entity::delete_by_id(id)
        .exec(db)
        .await
        .db()?
        .rows_affected
        > 0)
}

/// Adds a patient to an organisation (`INSERT … ON CONFLICT DO NOTHING`: idempotent, also
/// under concurrency).
pub(crate) async fn insert_patient_organization<C: ConnectionTrait>(
    db: &C,
    patient_id: Id,
    organization_id: Id,
) -> StoreResult<()> {
    insert_link(
        db,
        po::ActiveModel {
            id: NotSet,
            patient_id: Set(patient_id),
            organization_id: Set(organization_id),
        },
        (po::Column::PatientId, patient_id),
        (po::Column::OrganizationId, organization_id),
    )
    .await
    .map(|_| ())
}

/// Removes a patient from an organisation; `false` if not a member.
pub(crate) async fn delete_patient_organization<C: ConnectionTrait>(
    db: &C,
    patient_id: Id,
    organization_id: Id,
) -> StoreResult<bool> {
    delete_pair::<po::Entity, _, _, _>(
        db,
        (po::Column::PatientId, patient_id),
        (po::Column::OrganizationId, organization_id),
    )
    .await
}

/// Ids of the organisations of a patient, ascending.
pub(crate) async fn patient_organization_ids<C: ConnectionTrait>(
    db: &C,
    patient_id: Id,
) -> StoreResult<Vec<Id>> {
    Ok(po::Entity::find()
        .filter(po::Column::PatientId.eq(patient_id))
        .order_by_asc(po::Column::OrganizationId)
        .all(db)
        .await
        .db()?
        .into_iter()
        .map(|m| m.organization_id)
        .collect())
}

#[async_trait]
impl PatientStore for SeaOrmStore {
    async fn create_patient(&self, new: NewPatient) -> StoreResult<Patient> {
        insert_patient(&self.db, new).await
    }

    async fn get_patient(&self, scope: &AccessScope, id: Id) -> StoreResult<Option<Patient>> {
        if scope.sees_nothing() {
            return Ok(None);
        }
        Ok(patient::Entity::find_by_id(id)
            .filter(patient_condition(patient::Column::Id, scope))
            .one(&self.db)
            .await
            .db()?
            .map(patient_from))
    }

    async fn get_patients(&self, scope: &AccessScope, ids: &[Id]) -> StoreResult<Vec<Patient>> {
        if scope.sees_nothing() || ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(patient::Entity::find()
            .filter(patient::Column::Id.is_in(ids.iter().copied()))
            .filter(patient_condition(patient::Column::Id, scope))
            .order_by_asc(patient::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(patient_from)
            .collect())
    }

    async fn get_patients_by_users(&self, user_ids: &[Id]) -> StoreResult<Vec<Patient>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(patient::Entity::find()
            .filter(patient::Column::JheUserId.is_in(user_ids.iter().copied()))
            .order_by_asc(patient::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(patient_from)
            .collect())
    }

    async fn list_patient_user_ids_in_organizations(
        &self,
        scope: &AccessScope,
        organization_ids: &[Id],
    ) -> StoreResult<Vec<Id>> {
        if scope.sees_nothing() || organization_ids.is_empty() {
            return Ok(Vec::new());
        }
        let members = Query::select()
            .column(po::Column::PatientId)
            .from(po::Entity)
            .and_where(
                Expr::col(po::Column::OrganizationId).is_in(organization_ids.iter().copied()),
            )
            .to_owned();
        let rows: Vec<Option<Id>> = patient::Entity::find()
            .select_only()
            .column(patient::Column::JheUserId)
            .filter(patient::Column::Id.in_subquery(members))
            .filter(patient_condition(patient::Column::Id, scope))
            .into_tuple()
            .all(&self.db)
            .await
            .db()?;
        let mut ids: Vec<Id> = rows.into_iter().flatten().collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    async fn get_patient_by_user(&self, user_id: Id) -> StoreResult<Option<Patient>> {
        Ok(patient::Entity::find()
            .filter(patient::Column::JheUserId.eq(user_id))
            .one(&self.db)
            .await
            .db()?
            .map(patient_from))
    }

    async fn update_patient(&self, p: &Patient) -> StoreResult<Patient> {
        let model = patient::ActiveModel {
            id: Set(p.id),
            jhe_user_id: Set(p.jhe_user_id),
            identifier: Set(p.identifier.clone()),
            name_family: Set(p.name_family.clone()),
            name_given: Set(p.name_given.clone()),
            birth_date: Set(p.birth_date),
            telecom_phone: Set(p.telecom_phone.clone()),
            last_updated: Set(Utc::now()),
        };
        Ok(patient_from(model.update(&self.db).await.db()?))
    }

    async fn delete_patient(&self, id: Id) -> StoreResult<bool> {
        delete_patient_row(&self.db, id).await
    }

    async fn list_patients(
        &self,
        scope: &AccessScope,
        q: &PatientQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Patient>> {
        if scope.sees_nothing() {
            return Ok(Page {
                items: Vec::new(),
                total: 0,
                request: page,
            });
        }
        let mut cond = Condition::all().add(patient_condition(patient::Column::Id, scope));
        if let Some(org) = q.organization_id {
            cond = cond.add(
                patient::Column::Id.in_subquery(
                    Query::select()
                        .column(po::Column::PatientId)
                        .from(po::Entity)
                        .and_where(Expr::col(po::Column::OrganizationId).eq(org))
                        .to_owned(),
                ),
            );
        }
        if let Some(study) = q.study_id {
            cond = cond.add(
                patient::Column::Id.in_subquery(
                    Query::select()
                        .column(sp::Column::PatientId)
                        .from(sp::Entity)
                        .and_where(Expr::col(sp::Column::StudyId).eq(study))
                        .to_owned(),
                ),
            );
        }
        if let Some(id) = q.patient_id {
            cond = cond.add(patient::Column::Id.eq(id));
        }
        if let Some(identifier) = &q.identifier {
            cond = cond.add(patient::Column::Identifier.eq(identifier.as_str()));
        }
        // FHIR string search: starts with, case-insensitive (LOWER on both sides, the same on
        // SQLite and PostgreSQL; LIKE wildcards in the value are escaped).
        let starts_with = |column: patient::Column, value: &str| {
            let escaped = value
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            Expr::expr(Func::lower(Expr::col((patient::Entity, column))))
                .like(LikeExpr::new(format!("{escaped}%")).escape('\\'))
        };
        for name in &q.name {
            cond = cond.add(
                Condition::any()
                    .add(starts_with(patient::Column::NameFamily, name))
                    .add(starts_with(patient::Column::NameGiven, name)),
            );
        }
        for family in &q.family {
            cond = cond.add(starts_with(patient::Column::NameFamily, family));
        }
        for given in &q.given {
            cond = cond.add(starts_with(patient::Column::NameGiven, given));
        }
        if let Some(email) = &q.email {
            cond = cond.add(
                patient::Column::JheUserId.in_subquery(
                    Query::select()
                        .column(user::Column::Id)
                        .from(user::Entity)
                        .and_where(
                            Expr::expr(Func::lower(Expr::col((user::Entity, user::Column::Email))))
                                .eq(email.to_lowercase()),
                        )
                        .to_owned(),
                ),
            );
        }
        if let Some(from) = q.birth_date_from {
            cond = cond.add(patient::Column::BirthDate.gte(from));
        }
        if let Some(before) = q.birth_date_before {
            cond = cond.add(patient::Column::BirthDate.lt(before));
        }
        let query = patient::Entity::find().filter(cond);
        let total = query.clone().count(&self.db).await.db()?;
        let items = query
            .order_by_asc(patient::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: items.into_iter().map(patient_from).collect(),
            total,
            request: page,
        })
    }

    async fn add_patient_organization(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<()> {
        insert_patient_organization(&self.db, patient_id, organization_id).await
    }

    async fn remove_patient_organization(
        &self,
        patient_id: Id,
        organization_id: Id,
    ) -> StoreResult<bool> {
        delete_patient_organization(&self.db, patient_id, organization_id).await
    }

    async fn list_patient_organization_ids(&self, patient_id: Id) -> StoreResult<Vec<Id>> {
        patient_organization_ids(&self.db, patient_id).await
    }

    async fn list_organization_links_of_patients(
        &self,
        patient_ids: &[Id],
    ) -> StoreResult<Vec<(Id, Id)>> {
        if patient_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(po::Entity::find()
            .filter(po::Column::PatientId.is_in(patient_ids.iter().copied()))
            .order_by_asc(po::Column::PatientId)
            .order_by_asc(po::Column::OrganizationId)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(|m| (m.patient_id, m.organization_id))
            .collect())
    }
}
