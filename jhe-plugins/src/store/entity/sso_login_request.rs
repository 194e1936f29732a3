//! Entity for the `sso_login_requests` table: logins started at external identity providers.

use sea_orm::entity::prelude::*;

/// A row of `sso_login_requests`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_login_requests")]
pub struct Model {
    /// SHA-256 hex of the `state` / `RelayState` handle.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub provider: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub binding_hash: String,
    #[sea_orm(column_type = "String(StringLen::N(300))")]
    pub request_id: String,
    /// JSON text.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    pub created: DateTimeUtc,
    pub expires: DateTimeUtc,
}

/// Relations of `sso_login_requests`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
