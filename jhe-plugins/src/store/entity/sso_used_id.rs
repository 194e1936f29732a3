//! Entity for the `sso_used_ids` table: one-time ids (SAML assertion ids) already accepted.

use sea_orm::entity::prelude::*;

/// A row of `sso_used_ids`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_used_ids")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(400))"
    )]
    pub key: String,
    pub expires: DateTimeUtc,
}

/// Relations of `sso_used_ids`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
