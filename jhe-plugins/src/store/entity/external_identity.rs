//! Entity for the `external_identities` table: provider subjects linked to local users.

use sea_orm::entity::prelude::*;

/// A row of `external_identities`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "external_identities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub provider: String,
    #[sea_orm(column_type = "String(StringLen::N(300))")]
    pub subject: String,
    pub user_id: i64,
    pub created: DateTimeUtc,
}

/// Relations of `external_identities`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
