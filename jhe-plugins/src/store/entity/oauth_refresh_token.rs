//! Entity for the `oauth_refresh_tokens` table: oAuth 2 refresh tokens (hashed), grouped into rotation families.

use sea_orm::entity::prelude::*;

/// A row of `oauth_refresh_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 hex of the token.
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub token_hash: String,
    /// ON DELETE SET NULL.
    pub access_token_id: Option<i64>,
    pub application_id: i64,
    pub user_id: i64,
    /// NULL = active.
    pub revoked: Option<DateTimeUtc>,
    /// UUID shared by all rotations of one grant.
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub token_family: String,
    /// Granted scope (canonical SMART form).
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    pub created: DateTimeUtc,
    pub updated: DateTimeUtc,
}

/// Relations of `oauth_refresh_tokens`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `access_token_id` → `oauth_access_tokens.id` (ON DELETE SET NULL).
    #[sea_orm(
        belongs_to = "super::oauth_access_token::Entity",
        from = "Column::AccessTokenId",
        to = "super::oauth_access_token::Column::Id",
        on_delete = "SetNull"
    )]
    OauthAccessToken,
    /// `application_id` → `oauth_applications.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::oauth_application::Entity",
        from = "Column::ApplicationId",
        to = "super::oauth_application::Column::Id",
        on_delete = "Cascade"
    )]
    OauthApplication,
    /// `user_id` → `users.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::oauth_access_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthAccessToken.def()
    }
}

impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthApplication.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
