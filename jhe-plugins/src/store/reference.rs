//! [`ReferenceStore`]: codeable concepts and data sources.

use async_trait::async_trait;
use jhe_core::domain::{
    CodeableConcept, DataSource, DataSourceSupportedScope, Id, NewCodeableConcept, NewDataSource,
    Page, PageRequest,
};
use jhe_core::store::{ReferenceStore, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::{
    codeable_concept as cc, data_source as ds, data_source_supported_scope as dss,
};
use super::{DbResultExt, SeaOrmStore, limit_of};

pub(crate) fn concept_from(m: cc::Model) -> CodeableConcept {
    CodeableConcept {
        id: m.id,
        coding_system: m.coding_system,
        coding_code: m.coding_code,
        text: m.text,
    }
}

pub(crate) fn data_source_from(m: ds::Model) -> DataSource {
    DataSource {
        id: m.id,
        name: m.name,
        source_type: m.r#type,
    }
}

#[async_trait]
impl ReferenceStore for SeaOrmStore {
    async fn create_concept(&self, new: NewCodeableConcept) -> StoreResult<CodeableConcept> {
        let model = cc::ActiveModel {
            id: new.id.map(Set).unwrap_or(NotSet),
            coding_system: Set(new.coding_system),
            coding_code: Set(new.coding_code),
            text: Set(new.text),
        };
        Ok(concept_from(model.insert(&self.db).await.db()?))
    }

    async fn get_concept(&self, id: Id) -> StoreResult<Option<CodeableConcept>> {
        Ok(cc::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(concept_from))
    }

    async fn get_concepts(&self, ids: &[Id]) -> StoreResult<Vec<CodeableConcept>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(cc::Entity::find()
            .filter(cc::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(cc::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(concept_from)
            .collect())
    }

    async fn find_concept(&self, system: &str, code: &str) -> StoreResult<Option<CodeableConcept>> {
        Ok(self
            .find_pair::<cc::Entity, _, _>(
                (cc::Column::CodingSystem, system),
                (cc::Column::CodingCode, code),
            )
            .await?
            .map(concept_from))
    }

    async fn update_concept(&self, c: &CodeableConcept) -> StoreResult<CodeableConcept> {
        let model = cc::ActiveModel {
            id: Set(c.id),
            coding_system: Set(c.coding_system.clone()),
            coding_code: Set(c.coding_code.clone()),
            text: Set(c.text.clone()),
        };
        Ok(concept_from(model.update(&self.db).await.db()?))
    }

    async fn delete_concept(&self, id: Id) -> StoreResult<bool> {
        Ok(cc::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn list_concepts(&self) -> StoreResult<Vec<CodeableConcept>> {
        Ok(cc::Entity::find()
            .order_by_asc(cc::Column::Text)
            .order_by_asc(cc::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(concept_from)
            .collect())
    }

    async fn create_data_source(&self, new: NewDataSource) -> StoreResult<DataSource> {
        let model = ds::ActiveModel {
            id: new.id.map(Set).unwrap_or(NotSet),
            name: Set(new.name),
            r#type: Set(new.source_type),
        };
        Ok(data_source_from(model.insert(&self.db).await.db()?))
    }

    async fn get_data_source(&self, id: Id) -> StoreResult<Option<DataSource>> {
        Ok(ds::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(data_source_from))
    }

    async fn update_data_source(&self, d: &DataSource) -> StoreResult<DataSource> {
        let model = ds::ActiveModel {
            id: Set(d.id),
            name: Set(d.name.clone()),
            r#type: Set(d.source_type.clone()),
        };
        Ok(data_source_from(model.update(&self.db).await.db()?))
    }

    async fn delete_data_source(&self, id: Id) -> StoreResult<bool> {
        Ok(ds::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn list_data_sources(&self, page: PageRequest) -> StoreResult<Page<DataSource>> {
        let query = ds::Entity::find();
        let total = query.clone().count(&self.db).await.db()?;
        let items = query
            .order_by_asc(ds::Column::Name)
            .order_by_asc(ds::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: items.into_iter().map(data_source_from).collect(),
            total,
            request: page,
        })
    }

    async fn add_supported_scope(
        &self,
        data_source_id: Id,
        scope_code_id: Id,
    ) -> StoreResult<DataSourceSupportedScope> {
        let existing = self
            .find_pair::<dss::Entity, _, _>(
                (dss::Column::DataSourceId, data_source_id),
                (dss::Column::ScopeCodeId, scope_code_id),
            )
            .await?;
        let m = match existing {
            Some(m) => m,
            None => dss::ActiveModel {
                id: NotSet,
                data_source_id: Set(data_source_id),
                scope_code_id: Set(scope_code_id),
            }
            .insert(&self.db)
            .await
            .db()?,
        };
        Ok(DataSourceSupportedScope {
            id: m.id,
            data_source_id: m.data_source_id,
            scope_code_id: m.scope_code_id,
        })
    }

    async fn remove_supported_scope(
        &self,
        data_source_id: Id,
        scope_code_id: Id,
    ) -> StoreResult<bool> {
        self.delete_pair::<dss::Entity, _, _>(
            (dss::Column::DataSourceId, data_source_id),
            (dss::Column::ScopeCodeId, scope_code_id),
        )
        .await
    }

    async fn list_supported_scopes_of(
        &self,
        data_source_ids: &[Id],
    ) -> StoreResult<Vec<DataSourceSupportedScope>> {
        if data_source_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(dss::Entity::find()
            .filter(dss::Column::DataSourceId.is_in(data_source_ids.iter().copied()))
            .order_by_asc(dss::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(|m| DataSourceSupportedScope {
                id: m.id,
                data_source_id: m.data_source_id,
                scope_code_id: m.scope_code_id,
            })
            .collect())
    }

    async fn list_supported_scopes(
        &self,
        data_source_id: Id,
    ) -> StoreResult<Vec<DataSourceSupportedScope>> {
        self.list_supported_scopes_of(&[data_source_id]).await
    }
}
