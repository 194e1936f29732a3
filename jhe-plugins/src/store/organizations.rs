//! [`OrganizationStore`].

use async_trait::async_trait;
use jhe_core::domain::{Id, NewOrganization, Organization, Page, PageRequest};
use jhe_core::store::{OrganizationStore, StoreError, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::organization;
use super::{DbResultExt, SeaOrmStore, limit_of};

fn organization_from(m: organization::Model) -> Organization {
    Organization {
        id: m.id,
        name: m.name,
        org_type: m.r#type,
        part_of: m.part_of_id,
    }
}

#[async_trait]
impl OrganizationStore for SeaOrmStore {
    async fn create_organization(&self, new: NewOrganization) -> StoreResult<Organization> {
        let model = organization::ActiveModel {
            id: new.id.map(Set).unwrap_or(NotSet),
            name: Set(new.name),
            r#type: Set(new.org_type),
            part_of_id: Set(new.part_of),
        };
        Ok(organization_from(model.insert(&self.db).await.db()?))
    }

    async fn get_organization(&self, id: Id) -> StoreResult<Option<Organization>> {
        Ok(organization::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(organization_from))
    }

    async fn update_organization(&self, o: &Organization) -> StoreResult<Organization> {
        let model = organization::ActiveModel {
            id: Set(o.id),
            name: Set(o.name.clone()),
            r#type: Set(o.org_type.clone()),
            part_of_id: Set(o.part_of),
        };
        Ok(organization_from(model.update(&self.db).await.db()?))
    }

    async fn delete_organization(&self, id: Id) -> StoreResult<bool> {
        let children = organization::Entity::find()
            .filter(organization::Column::PartOfId.eq(id))
            .count(&self.db)
            .await
            .db()?;
        if children > 0 {
            return Err(StoreError::Constraint(format!(
                "organization {id} still has {children} child organization(s)"
            )));
        }
        Ok(organization::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn list_organizations(
        &self,
        part_of: Option<Id>,
        page: PageRequest,
    ) -> StoreResult<Page<Organization>> {
        let mut query = organization::Entity::find();
        if let Some(parent) = part_of {
            query = query.filter(organization::Column::PartOfId.eq(parent));
        }
        let total = query.clone().count(&self.db).await.db()?;
        let items = query
            .order_by_asc(organization::Column::Name)
            .order_by_asc(organization::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: items.into_iter().map(organization_from).collect(),
            total,
            request: page,
        })
    }

    async fn get_organizations(&self, ids: &[Id]) -> StoreResult<Vec<Organization>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(organization::Entity::find()
            .filter(organization::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(organization::Column::Name)
            .order_by_asc(organization::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(organization_from)
            .collect())
    }
}
