//! Entity for the `personal_access_tokens` table: names and owners of the access tokens users
//! created on the portal's "Get a token" page.

use sea_orm::entity::prelude::*;

/// A row of `personal_access_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "personal_access_tokens")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The owner.
    pub user_id: i64,
    /// The `oauth_access_tokens` row holding the token (unique).
    #[sea_orm(unique)]
    pub access_token_id: i64,
    /// The name the user gave it.
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub name: String,
    /// Creation time.
    pub created: DateTimeUtc,
}

/// Relations of `personal_access_tokens`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `access_token_id` → `oauth_access_tokens.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::oauth_access_token::Entity",
        from = "Column::AccessTokenId",
        to = "super::oauth_access_token::Column::Id"
    )]
    AccessToken,
}

impl Related<super::oauth_access_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AccessToken.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
