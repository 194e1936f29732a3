//! [`OAuthStore`]: authorization codes, tokens and signing keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::domain::{
    AccessToken, AuthorizationGrant, GrantRedemption, Id, NewAccessToken, NewAuthorizationGrant,
    NewRefreshToken, NewSigningKey, PersonalAccessToken, RefreshToken, SigningKey,
};
use jhe_core::store::{OAuthStore, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use super::entity::{
    oauth_access_token as at, oauth_grant as grant, oauth_refresh_token as rt,
    oauth_signing_key as key, personal_access_token as pat, session,
};
use super::{DbResultExt, SeaOrmStore};

fn grant_from(m: grant::Model) -> AuthorizationGrant {
    AuthorizationGrant {
        id: m.id,
        code_hash: m.code_hash,
        application_id: m.application_id,
        user_id: m.user_id,
        expires: m.expires,
        redirect_uri: m.redirect_uri,
        scope: m.scope,
        code_challenge: m.code_challenge,
        code_challenge_method: m.code_challenge_method,
        nonce: m.nonce,
        claims: m.claims,
        auth_time: m.auth_time,
        created: m.created,
        consumed: m.consumed,
        token_family: m.token_family,
    }
}

fn access_from(m: at::Model) -> AccessToken {
    AccessToken {
        id: m.id,
        token_hash: m.token_hash,
        user_id: m.user_id,
        application_id: m.application_id,
        expires: m.expires,
        scope: m.scope,
        source_refresh_token_id: m.source_refresh_token_id,
        id_token_jti: m.id_token_jti,
        created: m.created,
    }
}

fn personal_from(m: pat::Model, token: &at::Model) -> PersonalAccessToken {
    PersonalAccessToken {
        id: m.id,
        user_id: m.user_id,
        access_token_id: m.access_token_id,
        name: m.name,
        scope: token.scope.clone(),
        expires: token.expires,
        created: m.created,
    }
}

fn refresh_from(m: rt::Model) -> RefreshToken {
    RefreshToken {
        id: m.id,
        token_hash: m.token_hash,
        access_token_id: m.access_token_id,
        application_id: m.application_id,
        user_id: m.user_id,
        revoked: m.revoked,
        token_family: m.token_family,
        scope: m.scope,
        created: m.created,
    }
}

fn key_from(m: key::Model) -> SigningKey {
    SigningKey {
        id: m.id,
        kid: m.kid,
        algorithm: m.algorithm,
        private_key_pem: m.private_key_pem,
        public_jwk: m.public_jwk,
        active: m.active,
        created: m.created,
        retired: m.retired,
    }
}

/// Inserts an authorization grant; shared by the store and its units of work.
pub(crate) async fn insert_grant<C: ConnectionTrait>(
    db: &C,
    n: NewAuthorizationGrant,
) -> StoreResult<AuthorizationGrant> {
    let model = grant::ActiveModel {
        id: NotSet,
        code_hash: Set(n.code_hash),
        application_id: Set(n.application_id),
        user_id: Set(n.user_id),
        expires: Set(n.expires),
        redirect_uri: Set(n.redirect_uri),
        scope: Set(n.scope),
        code_challenge: Set(n.code_challenge),
        code_challenge_method: Set(n.code_challenge_method),
        nonce: Set(n.nonce),
        claims: Set(n.claims),
        auth_time: Set(n.auth_time),
        created: Set(Utc::now()),
        consumed: Set(None),
        token_family: Set(None),
    };
    Ok(grant_from(model.insert(db).await.db()?))
}

/// Deletes every authorization code of a user for a client; how many.
pub(crate) async fn remove_grants<C: ConnectionTrait>(
    db: &C,
    user_id: Id,
    application_id: Id,
) -> StoreResult<u64> {
    Ok(grant::Entity::delete_many()
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::ApplicationId.eq(application_id))
        .exec(db)
        .await
        .db()?
        .rows_affected)
}

#[async_trait]
impl OAuthStore for SeaOrmStore {
    async fn create_grant(&self, n: NewAuthorizationGrant) -> StoreResult<AuthorizationGrant> {
        insert_grant(&self.db, n).await
    }

    async fn take_grant(
        &self,
        code_hash: &str,
        token_family: &str,
        at_time: DateTime<Utc>,
    ) -> StoreResult<Option<GrantRedemption>> {
        let find = || async {
            grant::Entity::find()
                .filter(grant::Column::CodeHash.eq(code_hash))
                .one(&self.db)
                .await
                .db()
        };
        let Some(found) = find().await? else {
            return Ok(None);
        };
        if found.consumed.is_some() {
            return Ok(Some(GrantRedemption::Replayed(grant_from(found))));
        }
        // Only the request whose UPDATE marked the row may use the code.
        let marked = grant::Entity::update_many()
            .col_expr(grant::Column::Consumed, Expr::value(at_time))
            .col_expr(grant::Column::TokenFamily, Expr::value(token_family))
            .filter(grant::Column::Id.eq(found.id))
            .filter(grant::Column::Consumed.is_null())
            .exec(&self.db)
            .await
            .db()?
            .rows_affected;
        if marked == 1 {
            let mut taken = grant_from(found);
            taken.consumed = Some(at_time);
            taken.token_family = Some(token_family.to_string());
            return Ok(Some(GrantRedemption::Redeemed(taken)));
        }
        // Another request used it at the same moment.
        Ok(find()
            .await?
            .map(|m| GrantRedemption::Replayed(grant_from(m))))
    }

    async fn find_grant(
        &self,
        user_id: Id,
        application_id: Id,
    ) -> StoreResult<Option<AuthorizationGrant>> {
        Ok(grant::Entity::find()
            .filter(grant::Column::UserId.eq(user_id))
            .filter(grant::Column::ApplicationId.eq(application_id))
            .filter(grant::Column::Consumed.is_null())
            .order_by_desc(grant::Column::Id)
            .one(&self.db)
            .await
            .db()?
            .map(grant_from))
    }

    async fn delete_grants(&self, user_id: Id, application_id: Id) -> StoreResult<u64> {
        remove_grants(&self.db, user_id, application_id).await
    }

    async fn create_access_token(&self, n: NewAccessToken) -> StoreResult<AccessToken> {
        let now = Utc::now();
        let model = at::ActiveModel {
            id: NotSet,
            token_hash: Set(n.token_hash),
            user_id: Set(n.user_id),
            application_id: Set(n.application_id),
            expires: Set(n.expires),
            scope: Set(n.scope),
            source_refresh_token_id: Set(n.source_refresh_token_id),
            id_token_jti: Set(n.id_token_jti),
            created: Set(now),
            updated: Set(now),
        };
        Ok(access_from(model.insert(&self.db).await.db()?))
    }

    async fn get_access_token(&self, token_hash: &str) -> StoreResult<Option<AccessToken>> {
        Ok(at::Entity::find()
            .filter(at::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .db()?
            .map(access_from))
    }

    async fn delete_access_token(&self, id: Id) -> StoreResult<bool> {
        Ok(at::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn create_personal_access_token(
        &self,
        user_id: Id,
        access_token_id: Id,
        name: &str,
    ) -> StoreResult<PersonalAccessToken> {
        let token = at::Entity::find_by_id(access_token_id)
            .one(&self.db)
            .await
            .db()?
            .ok_or_else(|| {
                jhe_core::store::StoreError::NotFound(format!("access token {access_token_id}"))
            })?;
        let row = pat::ActiveModel {
            id: NotSet,
            user_id: Set(user_id),
            access_token_id: Set(access_token_id),
            name: Set(name.to_string()),
            created: Set(Utc::now()),
        }
        .insert(&self.db)
        .await
        .db()?;
        Ok(personal_from(row, &token))
    }

    async fn list_personal_access_tokens(
        &self,
        user_id: Id,
    ) -> StoreResult<Vec<PersonalAccessToken>> {
        let rows = pat::Entity::find()
            .filter(pat::Column::UserId.eq(user_id))
            .order_by_desc(pat::Column::Id)
            .find_also_related(at::Entity)
            .all(&self.db)
            .await
            .db()?;
        Ok(rows
            .into_iter()
            .filter_map(|(row, token)| token.map(|t| personal_from(row, &t)))
            .collect())
    }

    async fn delete_personal_access_token(&self, user_id: Id, id: Id) -> StoreResult<bool> {
        let txn = self.db.begin().await.db()?;
        let Some(row) = pat::Entity::find_by_id(id)
            .filter(pat::Column::UserId.eq(user_id))
            .one(&txn)
            .await
            .db()?
        else {
            return Ok(false);
        };
        pat::Entity::delete_by_id(row.id).exec(&txn).await.db()?;
        at::Entity::delete_by_id(row.access_token_id)
            .exec(&txn)
            .await
            .db()?;
        txn.commit().await.db()?;
        Ok(true)
    }

    async fn create_refresh_token(&self, n: NewRefreshToken) -> StoreResult<RefreshToken> {
        let now = Utc::now();
        let model = rt::ActiveModel {
            id: NotSet,
            token_hash: Set(n.token_hash),
            access_token_id: Set(n.access_token_id),
            application_id: Set(n.application_id),
            user_id: Set(n.user_id),
            revoked: Set(None),
            token_family: Set(n.token_family),
            scope: Set(n.scope),
            created: Set(now),
            updated: Set(now),
        };
        Ok(refresh_from(model.insert(&self.db).await.db()?))
    }

    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
        Ok(rt::Entity::find()
            .filter(rt::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await
            .db()?
            .map(refresh_from))
    }

    async fn revoke_refresh_token(&self, id: Id, at_time: DateTime<Utc>) -> StoreResult<bool> {
        let result = rt::Entity::update_many()
            .col_expr(rt::Column::Revoked, Expr::value(at_time))
            .col_expr(rt::Column::Updated, Expr::value(at_time))
            .filter(rt::Column::Id.eq(id))
            .filter(rt::Column::Revoked.is_null())
            .exec(&self.db)
            .await
            .db()?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_token_family(
        &self,
        token_family: &str,
        at_time: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let txn = self.db.begin().await.db()?;
        let tokens = rt::Entity::find()
            .filter(rt::Column::TokenFamily.eq(token_family))
            .all(&txn)
            .await
            .db()?;
        let access_ids: Vec<Id> = tokens.iter().filter_map(|t| t.access_token_id).collect();
        let revoked = rt::Entity::update_many()
            .col_expr(rt::Column::Revoked, Expr::value(at_time))
            .filter(rt::Column::TokenFamily.eq(token_family))
            .filter(rt::Column::Revoked.is_null())
            .exec(&txn)
            .await
            .db()?
            .rows_affected;
        if !access_ids.is_empty() {
            at::Entity::delete_many()
                .filter(at::Column::Id.is_in(access_ids))
                .exec(&txn)
                .await
                .db()?;
        }
        txn.commit().await.db()?;
        Ok(revoked)
    }

    async fn delete_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let a = at::Entity::delete_many()
            .filter(at::Column::Expires.lt(now))
            .exec(&self.db)
            .await
            .db()?
            .rows_affected;
        let g = grant::Entity::delete_many()
            .filter(grant::Column::Expires.lt(now))
            .exec(&self.db)
            .await
            .db()?
            .rows_affected;
        Ok(a + g)
    }

    async fn add_signing_key(&self, n: NewSigningKey, active: bool) -> StoreResult<SigningKey> {
        let now = Utc::now();
        let txn = self.db.begin().await.db()?;
        if active {
            key::Entity::update_many()
                .col_expr(key::Column::Active, Expr::value(false))
                .col_expr(key::Column::Retired, Expr::value(now))
                .filter(key::Column::Active.eq(true))
                .exec(&txn)
                .await
                .db()?;
        }
        let model = key::ActiveModel {
            id: NotSet,
            kid: Set(n.kid),
            algorithm: Set(n.algorithm),
            private_key_pem: Set(n.private_key_pem),
            public_jwk: Set(n.public_jwk),
            active: Set(active),
            created: Set(now),
            retired: Set(None),
        }
        .insert(&txn)
        .await
        .db()?;
        txn.commit().await.db()?;
        Ok(key_from(model))
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        Ok(key::Entity::find()
            .order_by_desc(key::Column::Active)
            .order_by_desc(key::Column::Id)
            .all(&self.db)
            .await
            .db()?
            .into_iter()
            .map(key_from)
            .collect())
    }

    async fn activate_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let now = Utc::now();
        let txn = self.db.begin().await.db()?;
        let exists = key::Entity::find()
            .filter(key::Column::Kid.eq(kid))
            .one(&txn)
            .await
            .db()?;
        if exists.is_none() {
            return Ok(false);
        }
        key::Entity::update_many()
            .col_expr(key::Column::Active, Expr::value(false))
            .col_expr(key::Column::Retired, Expr::value(now))
            .filter(key::Column::Active.eq(true))
            .filter(key::Column::Kid.ne(kid))
            .exec(&txn)
            .await
            .db()?;
        key::Entity::update_many()
            .col_expr(key::Column::Active, Expr::value(true))
            .col_expr(
                key::Column::Retired,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(key::Column::Kid.eq(kid))
            .exec(&txn)
            .await
            .db()?;
        txn.commit().await.db()?;
        Ok(true)
    }
}

/// Ends everything that authenticates `user_id`, inside the caller's transaction: deletes their
/// access tokens, authorization codes (invitation codes included) and browser sessions, and marks
/// their refresh tokens revoked at `at`.
pub(crate) async fn revoke_user_credentials<C: ConnectionTrait>(
    conn: &C,
    user_id: Id,
    at_time: DateTime<Utc>,
) -> StoreResult<()> {
    at::Entity::delete_many()
        .filter(at::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .db()?;
    rt::Entity::update_many()
        .col_expr(rt::Column::Revoked, Expr::value(at_time))
        .col_expr(rt::Column::Updated, Expr::value(at_time))
        .filter(rt::Column::UserId.eq(user_id))
        .filter(rt::Column::Revoked.is_null())
        .exec(conn)
        .await
        .db()?;
    grant::Entity::delete_many()
        .filter(grant::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .db()?;
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .exec(conn)
        .await
        .db()?;
    Ok(())
}
