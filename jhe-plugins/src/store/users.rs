//! [`UserStore`]: accounts, practitioner profiles and their organisation links.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::domain::{
    Id, NewPractitioner, NewUser, Page, PageRequest, Practitioner, PractitionerOrganization, User,
    UserType, normalize_email,
};
use jhe_core::store::{StoreResult, UserStore};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use super::entity::{practitioner, practitioner_organization as pro, user};
use super::oauth::revoke_user_credentials;
use super::{DbResultExt, SeaOrmStore, find_pair, limit_of};

pub(crate) fn user_from(m: user::Model) -> User {
    User {
        id: m.id,
        email: m.email,
        password: m.password,
        first_name: m.first_name,
        last_name: m.last_name,
        is_superuser: m.is_superuser,
        is_staff: m.is_staff,
        is_active: m.is_active,
        date_joined: m.date_joined,
        last_login: m.last_login,
        email_is_verified: m.email_is_verified,
        identifier: m.identifier,
        user_type: m.user_type.as_deref().and_then(UserType::parse),
    }
}

pub(crate) fn practitioner_from(m: practitioner::Model) -> Practitioner {
    Practitioner {
        id: m.id,
        jhe_user_id: m.jhe_user_id,
        identifier: m.identifier,
        name_family: m.name_family,
        name_given: m.name_given,
        telecom_phone: m.telecom_phone,
        last_updated: m.last_updated,
    }
}

pub(crate) fn link_from(m: pro::Model) -> PractitionerOrganization {
    PractitionerOrganization {
        id: m.id,
        practitioner_id: m.practitioner_id,
        organization_id: m.organization_id,
        role: m.role,
    }
}

/// `users.email` matches `email` regardless of case: `LOWER(email) = <normalised>`, served by the
/// unique index on `LOWER(email)`.
pub(crate) fn email_matches(email: &str) -> SimpleExpr {
    Expr::expr(Func::lower(Expr::col(user::Column::Email))).eq(normalize_email(email))
}

/// Inserts a user (e-mail normalised); shared by the store and its units of work.
pub(crate) async fn insert_user<C: ConnectionTrait>(db: &C, new: NewUser) -> StoreResult<User> {
    let model = user::ActiveModel {
        id: new.id.map(Set).unwrap_or(NotSet),
        password: Set(new.password),
        last_login: Set(None),
        is_superuser: Set(new.is_superuser),
        first_name: Set(new.first_name),
        last_name: Set(new.last_name),
        is_staff: Set(new.is_staff),
        is_active: Set(true),
        date_joined: Set(Utc::now()),
        email: Set(normalize_email(&new.email)),
        email_is_verified: Set(new.email_is_verified),
        identifier: Set(new.identifier),
        user_type: Set(new.user_type.map(|t| t.as_str().to_string())),
    };
    Ok(user_from(model.insert(db).await.db()?))
}

/// A user by e-mail, regardless of case.
pub(crate) async fn find_user_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> StoreResult<Option<User>> {
    Ok(user::Entity::find()
        .filter(email_matches(email))
        .one(db)
        .await
        .db()?
        .map(user_from))
}

/// Deletes a user (profiles, tokens, grants and sessions cascade).
pub(crate) async fn delete_user_row<C: ConnectionTrait>(db: &C, id: Id) -> StoreResult<bool> {
    Ok(user::Entity::delete_by_id(id)
        .exec(db)
        .await
        .db()?
        .rows_affected
        > 0)
}

/// Inserts a practitioner profile.
pub(crate) async fn insert_practitioner<C: ConnectionTrait>(
    db: &C,
    new: NewPractitioner,
) -> StoreResult<Practitioner> {
    let model = practitioner::ActiveModel {
        id: new.id.map(Set).unwrap_or(NotSet),
        jhe_user_id: Set(new.jhe_user_id),
        identifier: Set(new.identifier),
        name_family: Set(new.name_family),
        name_given: Set(new.name_given),
        telecom_phone: Set(new.telecom_phone),
        last_updated: Set(Utc::now()),
    };
    Ok(practitioner_from(model.insert(db).await.db()?))
}

/// Links a practitioner to an organisation with `role`, or sets the role of the existing link
/// (one `INSERT … ON CONFLICT DO UPDATE`, safe under concurrency).
pub(crate) async fn upsert_practitioner_link<C: ConnectionTrait>(
    db: &C,
    practitioner_id: Id,
    organization_id: Id,
    role: &str,
) -> StoreResult<PractitionerOrganization> {
    pro::Entity::insert(pro::ActiveModel {
        id: NotSet,
        practitioner_id: Set(practitioner_id),
        organization_id: Set(organization_id),
        role: Set(role.to_string()),
    })
    .on_conflict(
        OnConflict::columns([pro::Column::PractitionerId, pro::Column::OrganizationId])
            .update_column(pro::Column::Role)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .db()?;
    find_pair::<pro::Entity, _, _, _>(
        db,
        (pro::Column::PractitionerId, practitioner_id),
        (pro::Column::OrganizationId, organization_id),
    )
    .await?
    .map(link_from)
    .ok_or_else(|| jhe_core::store::StoreError::NotFound("practitioner organization".into()))
}

#[async_trait]
impl UserStore for SeaOrmStore {
    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        insert_user(&self.db, new).await
    }

    async fn get_user(&self, id: Id) -> StoreResult<Option<User>> {
        Ok(user::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(user_from))
    }

    async fn get_users(&self, ids: &[Id]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(user::Entity::find()
            .filter(user::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(user::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(user_from)
            .collect())
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        find_user_by_email(&self.db, email).await
    }

    async fn find_users_by_identifier(&self, identifier: &str) -> StoreResult<Vec<User>> {
        Ok(user::Entity::find()
            .filter(user::Column::Identifier.eq(identifier))
            .order_by_asc(user::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(user_from)
            .collect())
    }

    async fn update_user(&self, u: &User) -> StoreResult<User> {
        let model = user::ActiveModel {
            id: Set(u.id),
            password: Set(u.password.clone()),
            last_login: Set(u.last_login),
            is_superuser: Set(u.is_superuser),
            first_name: Set(u.first_name.clone()),
            last_name: Set(u.last_name.clone()),
            is_staff: Set(u.is_staff),
            is_active: Set(u.is_active),
            date_joined: Set(u.date_joined),
            email: Set(normalize_email(&u.email)),
            email_is_verified: Set(u.email_is_verified),
            identifier: Set(u.identifier.clone()),
            user_type: Set(u.user_type.map(|t| t.as_str().to_string())),
        };
        Ok(user_from(model.update(&self.db).await.db()?))
    }

    async fn set_password(&self, user_id: Id, password_hash: &str) -> StoreResult<bool> {
        let txn = self.db.begin().await.db()?;
        let updated = user::Entity::update_many()
            .col_expr(user::Column::Password, Expr::value(password_hash))
            .filter(user::Column::Id.eq(user_id))
            .exec(&txn)
            .await
            .db()?
            .rows_affected;
        if updated == 1 {
            revoke_user_credentials(&txn, user_id, Utc::now()).await?;
        }
        txn.commit().await.db()?;
        Ok(updated == 1)
    }

    async fn upgrade_password_hash(
        &self,
        user_id: Id,
        current_hash: &str,
        new_hash: &str,
    ) -> StoreResult<bool> {
        Ok(user::Entity::update_many()
            .col_expr(user::Column::Password, Expr::value(new_hash))
            .filter(user::Column::Id.eq(user_id))
            .filter(user::Column::Password.eq(current_hash))
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            == 1)
    }

    async fn set_user_active(&self, user_id: Id, active: bool) -> StoreResult<bool> {
        let txn = self.db.begin().await.db()?;
        let updated = user::Entity::update_many()
            .col_expr(user::Column::IsActive, Expr::value(active))
            .filter(user::Column::Id.eq(user_id))
            .exec(&txn)
            .await
            .db()?
            .rows_affected;
        if updated == 1 && !active {
            revoke_user_credentials(&txn, user_id, Utc::now()).await?;
        }
        txn.commit().await.db()?;
        Ok(updated == 1)
    }

    async fn touch_last_login(&self, user_id: Id, at: DateTime<Utc>) -> StoreResult<()> {
        user::Entity::update_many()
            .col_expr(user::Column::LastLogin, Expr::value(at))
            .filter(user::Column::Id.eq(user_id))
            .exec(&self.db)
            .await
            .db()?;
        Ok(())
    }

    async fn delete_user(&self, id: Id) -> StoreResult<bool> {
        delete_user_row(&self.db, id).await
    }

    async fn list_users(&self, email: Option<&str>, page: PageRequest) -> StoreResult<Page<User>> {
        let mut query = user::Entity::find();
        if let Some(email) = email {
            query = query.filter(email_matches(email));
        }
        self.page_of_users(query, page).await
    }

    async fn list_users_among(
        &self,
        ids: &[Id],
        email: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<User>> {
        if ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                total: 0,
                request: page,
            });
        }
        let mut query = user::Entity::find().filter(user::Column::Id.is_in(ids.iter().copied()));
        if let Some(email) = email {
            query = query.filter(email_matches(email));
        }
        self.page_of_users(query, page).await
    }

    async fn create_practitioner(&self, new: NewPractitioner) -> StoreResult<Practitioner> {
        insert_practitioner(&self.db, new).await
    }

    async fn get_practitioner(&self, id: Id) -> StoreResult<Option<Practitioner>> {
        Ok(practitioner::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(practitioner_from))
    }

    async fn get_practitioner_by_user(&self, user_id: Id) -> StoreResult<Option<Practitioner>> {
        Ok(practitioner::Entity::find()
            .filter(practitioner::Column::JheUserId.eq(user_id))
            .one(&self.db)
            .await
            .db()?
            .map(practitioner_from))
    }

    async fn update_practitioner(&self, p: &Practitioner) -> StoreResult<Practitioner> {
        let model = practitioner::ActiveModel {
            id: Set(p.id),
            jhe_user_id: Set(p.jhe_user_id),
            identifier: Set(p.identifier.clone()),
            name_family: Set(p.name_family.clone()),
            name_given: Set(p.name_given.clone()),
            telecom_phone: Set(p.telecom_phone.clone()),
            last_updated: Set(Utc::now()),
        };
        Ok(practitioner_from(model.update(&self.db).await.db()?))
    }

    async fn delete_practitioner(&self, id: Id) -> StoreResult<bool> {
        Ok(practitioner::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn list_practitioners(&self, page: PageRequest) -> StoreResult<Page<Practitioner>> {
        let query = practitioner::Entity::find();
        let total = query.clone().count(&self.db).await.db()?;
        let items = query
            .order_by_asc(practitioner::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: items.into_iter().map(practitioner_from).collect(),
            total,
            request: page,
        })
    }

    async fn upsert_practitioner_organization(
        &self,
        practitioner_id: Id,
        organization_id: Id,
        role: &str,
    ) -> StoreResult<PractitionerOrganization> {
        upsert_practitioner_link(&self.db, practitioner_id, organization_id, role).await
    }

    async fn delete_practitioner_organization(
        &self,
        practitioner_id: Id,
        organization_id: Id,
    ) -> StoreResult<bool> {
        self.delete_pair::<pro::Entity, _, _>(
            (pro::Column::PractitionerId, practitioner_id),
            (pro::Column::OrganizationId, organization_id),
        )
        .await
    }

    async fn list_practitioner_organizations(
        &self,
        practitioner_id: Id,
    ) -> StoreResult<Vec<PractitionerOrganization>> {
        Ok(pro::Entity::find()
            .filter(pro::Column::PractitionerId.eq(practitioner_id))
            .order_by_asc(pro::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(link_from)
            .collect())
    }

    async fn list_organization_practitioners(
        &self,
        organization_id: Id,
    ) -> StoreResult<Vec<PractitionerOrganization>> {
        Ok(pro::Entity::find()
            .filter(pro::Column::OrganizationId.eq(organization_id))
            .order_by_asc(pro::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(link_from)
            .collect())
    }

    async fn list_organization_links_of_practitioners(
        &self,
        practitioner_ids: &[Id],
    ) -> StoreResult<Vec<PractitionerOrganization>> {
        if practitioner_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(pro::Entity::find()
            .filter(pro::Column::PractitionerId.is_in(practitioner_ids.iter().copied()))
            .order_by_asc(pro::Column::PractitionerId)
            .order_by_asc(pro::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(link_from)
            .collect())
    }

    async fn list_practitioner_user_ids_in_organizations(
        &self,
        organization_ids: &[Id],
    ) -> StoreResult<Vec<Id>> {
        if organization_ids.is_empty() {
            return Ok(Vec::new());
        }
        let members = sea_orm::sea_query::Query::select()
            .column(pro::Column::PractitionerId)
            .from(pro::Entity)
            .and_where(
                Expr::col(pro::Column::OrganizationId).is_in(organization_ids.iter().copied()),
            )
            .to_owned();
        let mut ids: Vec<Id> = practitioner::Entity::find()
            .select_only()
            .column(practitioner::Column::JheUserId)
            .filter(practitioner::Column::Id.in_subquery(members))
            .into_tuple()
            .all(&self.db)
            .await
            .db()?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

impl SeaOrmStore {
    /// One page of `query`'s users ordered by last name then id, with the total count.
    async fn page_of_users(
        &self,
        query: sea_orm::Select<user::Entity>,
        page: PageRequest,
    ) -> StoreResult<Page<User>> {
        let total = query.clone().count(&self.db).await.db()?;
        let items = query
            .order_by_asc(user::Column::LastName)
            .order_by_asc(user::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: items.into_iter().map(user_from).collect(),
            total,
            request: page,
        })
    }
}
