//! [`SsoStore`]: started external logins, one-time ids and external identity links.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::domain::Id;
use jhe_core::store::{PendingSsoLogin, SsoStore, StoreError, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};

use super::entity::{external_identity as xi, sso_login_request as req, sso_used_id as used};
use super::{DbResultExt, SeaOrmStore};

#[async_trait]
impl SsoStore for SeaOrmStore {
    async fn put_sso_login(&self, p: &PendingSsoLogin) -> StoreResult<()> {
        // Housekeeping: started logins nobody finished.
        req::Entity::delete_many()
            .filter(req::Column::Expires.lte(Utc::now()))
            .exec(&self.db)
            .await
            .db()?;
        req::ActiveModel {
            id: Set(p.id.clone()),
            provider: Set(p.provider.clone()),
            binding_hash: Set(p.binding_hash.clone()),
            request_id: Set(p.request_id.clone()),
            data: Set(p.data.to_string()),
            created: Set(p.created),
            expires: Set(p.expires),
        }
        .insert(&self.db)
        .await
        .db()?;
        Ok(())
    }

    async fn take_sso_login(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PendingSsoLogin>> {
        let Some(row) = req::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .db()?
        else {
            return Ok(None);
        };
        // Whoever deletes the row owns it: a second replica racing for it deletes nothing.
        let deleted = req::Entity::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .db()?
            .rows_affected;
        if deleted == 0 || row.expires <= now {
            return Ok(None);
        }
        Ok(Some(PendingSsoLogin {
            data: serde_json::from_str(&row.data).map_err(|e| {
                StoreError::Backend(format!("sso login request data is not JSON: {e}"))
            })?,
            id: row.id,
            provider: row.provider,
            binding_hash: row.binding_hash,
            request_id: row.request_id,
            created: row.created,
            expires: row.expires,
        }))
    }

    async fn claim_once(
        &self,
        key: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        used::Entity::delete_many()
            .filter(used::Column::Expires.lte(now))
            .exec(&self.db)
            .await
            .db()?;
        let inserted = used::ActiveModel {
            key: Set(key.to_string()),
            expires: Set(expires),
        }
        .insert(&self.db)
        .await
        .db();
        match inserted {
            Ok(_) => Ok(true),
            // The primary key already holds it: a replay (on any replica).
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn get_external_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<Id>> {
        Ok(xi::Entity::find()
            .filter(xi::Column::Provider.eq(provider))
            .filter(xi::Column::Subject.eq(subject))
            .one(&self.db)
            .await
            .db()?
            .map(|m| m.user_id))
    }

    async fn link_external_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: Id,
    ) -> StoreResult<()> {
        let inserted = xi::ActiveModel {
            id: NotSet,
            provider: Set(provider.to_string()),
            subject: Set(subject.to_string()),
            user_id: Set(user_id),
            created: Set(Utc::now()),
        }
        .insert(&self.db)
        .await
        .db();
        match inserted {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
