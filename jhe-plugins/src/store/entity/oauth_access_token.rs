//! Entity for the `oauth_access_tokens` table: oAuth 2 access tokens (hashed).

use sea_orm::entity::prelude::*;

/// A row of `oauth_access_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_access_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 hex of the token.
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub token_hash: String,
    pub user_id: Option<i64>,
    pub application_id: Option<i64>,
    pub expires: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// Refresh token this token was issued from (no foreign key).
    pub source_refresh_token_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub id_token_jti: Option<String>,
    pub created: DateTimeUtc,
    pub updated: DateTimeUtc,
}

/// Relations of `oauth_access_tokens`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `user_id` → `users.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    /// `application_id` → `oauth_applications.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::oauth_application::Entity",
        from = "Column::ApplicationId",
        to = "super::oauth_application::Column::Id",
        on_delete = "Cascade"
    )]
    OauthApplication,
    #[sea_orm(has_many = "super::oauth_refresh_token::Entity")]
    OauthRefreshToken,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthApplication.def()
    }
}

impl Related<super::oauth_refresh_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthRefreshToken.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
