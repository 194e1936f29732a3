//! [`SessionStore`]: browser sessions and login attempts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::domain::{Id, Session};
use jhe_core::store::{SessionStore, StoreError, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use super::entity::{login_attempt as la, session};
use super::{DbResultExt, SeaOrmStore};

fn session_from(m: session::Model) -> StoreResult<Session> {
    Ok(Session {
        data: serde_json::from_str(&m.data)
            .map_err(|e| StoreError::Backend(format!("session data is not JSON: {e}")))?,
        id: m.id,
        user_id: m.user_id,
        expires: m.expires,
        created: m.created,
        updated: m.updated,
    })
}

#[async_trait]
impl SessionStore for SeaOrmStore {
    async fn put_session(&self, s: &Session) -> StoreResult<()> {
        let existing = session::Entity::find_by_id(s.id.clone())
            .one(&self.db)
            .await
            .db()?;
        let model = session::ActiveModel {
            id: Set(s.id.clone()),
            user_id: Set(s.user_id),
            data: Set(s.data.to_string()),
            expires: Set(s.expires),
            created: Set(s.created),
            updated: Set(Utc::now()),
        };
        if existing.is_some() {
            model.update(&self.db).await.db()?;
        } else {
            model.insert(&self.db).await.db()?;
        }
        Ok(())
    }

    async fn get_session(&self, id: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>> {
        session::Entity::find_by_id(id.to_string())
            .filter(session::Column::Expires.gt(now))
            .one(&self.db)
            .await
            .db()?
            .map(session_from)
            .transpose()
    }

    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        Ok(session::Entity::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn delete_user_sessions(&self, user_id: Id) -> StoreResult<u64> {
        Ok(session::Entity::delete_many()
            .filter(session::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .db()?
            .rows_affected)
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(session::Entity::delete_many()
            .filter(session::Column::Expires.lte(now))
            .exec(&self.db)
            .await
            .db()?
            .rows_affected)
    }

    async fn record_login_attempt(
        &self,
        key: &str,
        succeeded: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        la::ActiveModel {
            id: NotSet,
            key: Set(key.to_string()),
            attempted_at: Set(at),
            succeeded: Set(succeeded),
        }
        .insert(&self.db)
        .await
        .db()?;
        Ok(())
    }

    async fn count_failed_logins(&self, key: &str, since: DateTime<Utc>) -> StoreResult<u64> {
        let last_success = la::Entity::find()
            .filter(la::Column::Key.eq(key))
            .filter(la::Column::Succeeded.eq(true))
            .filter(la::Column::AttemptedAt.gte(since))
            .order_by_desc(la::Column::AttemptedAt)
            .one(&self.db)
            .await
            .db()?;
        let from = last_success
            .map(|m| m.attempted_at)
            .unwrap_or(since)
            .max(since);
        la::Entity::find()
            .filter(la::Column::Key.eq(key))
            .filter(la::Column::Succeeded.eq(false))
            .filter(la::Column::AttemptedAt.gte(from))
            .count(&self.db)
            .await
            .db()
    }
}
