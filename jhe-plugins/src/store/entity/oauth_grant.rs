//! Entity for the `oauth_grants` table: oAuth 2 authorization codes.

use sea_orm::entity::prelude::*;

/// A row of `oauth_grants`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 hex of the code.
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub code_hash: String,
    pub application_id: i64,
    pub user_id: i64,
    pub expires: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub code_challenge: String,
    /// `""`, `plain` or `S256`.
    #[sea_orm(column_type = "String(StringLen::N(10))")]
    pub code_challenge_method: String,
    #[sea_orm(column_type = "Text")]
    pub nonce: String,
    /// JSON text; default `{}`.
    #[sea_orm(column_type = "Text")]
    pub claims: String,
    pub auth_time: Option<DateTimeUtc>,
    pub created: DateTimeUtc,
    /// When the code was exchanged; NULL while unused.
    pub consumed: Option<DateTimeUtc>,
    /// Rotation family of the tokens issued from the code.
    #[sea_orm(column_type = "String(StringLen::N(36))")]
    pub token_family: Option<String>,
}

/// Relations of `oauth_grants`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
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
