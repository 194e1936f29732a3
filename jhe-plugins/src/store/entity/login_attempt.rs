//! Entity for the `login_attempts` table: login attempts, for throttling.

use sea_orm::entity::prelude::*;

/// A row of `login_attempts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// e.g. `account:<email>` or `ip:<addr>`.
    #[sea_orm(column_type = "String(StringLen::N(300))")]
    pub key: String,
    pub attempted_at: DateTimeUtc,
    pub succeeded: bool,
}

/// Relations of `login_attempts`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
