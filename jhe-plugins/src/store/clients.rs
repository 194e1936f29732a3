//! [`ClientStore`]: OAuth client applications and their data sources.

use async_trait::async_trait;
use chrono::Utc;
use jhe_core::domain::{ClientDataSource, Id, NewOAuthClient, OAuthClient, Page, PageRequest};
use jhe_core::store::{ClientStore, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::{client_data_source as cds, oauth_application as app};
use super::{DbResultExt, SeaOrmStore, limit_of};

pub(crate) fn client_from(m: app::Model) -> OAuthClient {
    OAuthClient {
        id: m.id,
        client_id: m.client_id,
        redirect_uris: m.redirect_uris,
        post_logout_redirect_uris: m.post_logout_redirect_uris,
        client_type: m.client_type,
        authorization_grant_type: m.authorization_grant_type,
        client_secret: m.client_secret,
        hash_client_secret: m.hash_client_secret,
        name: m.name,
        user_id: m.user_id,
        skip_authorization: m.skip_authorization,
        algorithm: m.algorithm,
        allowed_origins: m.allowed_origins,
        created: m.created,
        updated: m.updated,
    }
}

#[async_trait]
impl ClientStore for SeaOrmStore {
    async fn create_client(&self, new: NewOAuthClient) -> StoreResult<OAuthClient> {
        let now = Utc::now();
        let model = app::ActiveModel {
            id: new.id.map(Set).unwrap_or(NotSet),
            client_id: Set(new.client_id),
            redirect_uris: Set(new.redirect_uris),
            post_logout_redirect_uris: Set(String::new()),
            client_type: Set(new.client_type),
            authorization_grant_type: Set(new.authorization_grant_type),
            client_secret: Set(new.client_secret),
            hash_client_secret: Set(true),
            name: Set(new.name),
            user_id: Set(new.user_id),
            skip_authorization: Set(new.skip_authorization),
            algorithm: Set(new.algorithm),
            allowed_origins: Set(String::new()),
            created: Set(now),
            updated: Set(now),
        };
        Ok(client_from(model.insert(&self.db).await.db()?))
    }

    async fn get_client(&self, id: Id) -> StoreResult<Option<OAuthClient>> {
        Ok(app::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(client_from))
    }

    async fn get_client_by_client_id(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        Ok(app::Entity::find()
            .filter(app::Column::ClientId.eq(client_id))
            .one(&self.db)
            .await
            .db()?
            .map(client_from))
    }

    async fn get_client_by_name(&self, name: &str) -> StoreResult<Option<OAuthClient>> {
        Ok(app::Entity::find()
            .filter(app::Column::Name.eq(name))
            .order_by_asc(app::Column::Id)
            .one(&self.db)
            .await
            .db()?
            .map(client_from))
    }

    async fn update_client(&self, c: &OAuthClient) -> StoreResult<OAuthClient> {
        let model = app::ActiveModel {
            id: Set(c.id),
            client_id: Set(c.client_id.clone()),
            redirect_uris: Set(c.redirect_uris.clone()),
            post_logout_redirect_uris: Set(c.post_logout_redirect_uris.clone()),
            client_type: Set(c.client_type.clone()),
            authorization_grant_type: Set(c.authorization_grant_type.clone()),
            client_secret: Set(c.client_secret.clone()),
            hash_client_secret: Set(c.hash_client_secret),
            name: Set(c.name.clone()),
            user_id: Set(c.user_id),
            skip_authorization: Set(c.skip_authorization),
            algorithm: Set(c.algorithm.clone()),
            allowed_origins: Set(c.allowed_origins.clone()),
            created: Set(c.created),
            updated: Set(Utc::now()),
        };
        Ok(client_from(model.update(&self.db).await.db()?))
    }

    async fn delete_client(&self, id: Id) -> StoreResult<bool> {
        Ok(app::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn list_clients(
        &self,
        exclude_name: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<OAuthClient>> {
        let mut query = app::Entity::find();
        if let Some(name) = exclude_name {
            query = query.filter(app::Column::Name.ne(name));
        }
        let total = query.clone().count(&self.db).await.db()?;
        let items = query
            .order_by_desc(app::Column::Created)
            .order_by_desc(app::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: items.into_iter().map(client_from).collect(),
            total,
            request: page,
        })
    }

    async fn add_client_data_source(
        &self,
        client_id: Id,
        data_source_id: Id,
    ) -> StoreResult<ClientDataSource> {
        let existing = self
            .find_pair::<cds::Entity, _, _>(
                (cds::Column::ClientId, client_id),
                (cds::Column::DataSourceId, data_source_id),
            )
            .await?;
        let m = match existing {
            Some(m) => m,
            None => cds::ActiveModel {
                id: NotSet,
                client_id: Set(client_id),
                data_source_id: Set(data_source_id),
            }
            .insert(&self.db)
            .await
            .db()?,
        };
        Ok(ClientDataSource {
            id: m.id,
            client_id: m.client_id,
            data_source_id: m.data_source_id,
        })
    }

    async fn remove_client_data_source(
        &self,
        client_id: Id,
        data_source_id: Id,
    ) -> StoreResult<bool> {
        self.delete_pair::<cds::Entity, _, _>(
            (cds::Column::ClientId, client_id),
            (cds::Column::DataSourceId, data_source_id),
        )
        .await
    }

    async fn list_client_data_sources(&self, client_id: Id) -> StoreResult<Vec<ClientDataSource>> {
        Ok(cds::Entity::find()
            .filter(cds::Column::ClientId.eq(client_id))
            .order_by_asc(cds::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(|m| ClientDataSource {
                id: m.id,
                client_id: m.client_id,
                data_source_id: m.data_source_id,
            })
            .collect())
    }
}
