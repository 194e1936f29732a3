//! Entity for the `jhe_settings` table: typed key/value settings; unique on (key, setting_id) with NULL equal to NULL.

use sea_orm::entity::prelude::*;

/// A row of `jhe_settings`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jhe_settings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub key: String,
    /// Scope id; NULL = global; `oauth_applications.id` for `client.*` keys.
    pub setting_id: Option<i64>,
    /// `string`, `int`, `bool`, `float` or `json`.
    #[sea_orm(column_type = "String(StringLen::N(10))")]
    pub value_type: String,
    #[sea_orm(column_type = "Text")]
    pub value_string: Option<String>,
    pub value_int: Option<i64>,
    pub value_bool: Option<bool>,
    pub value_float: Option<f64>,
    /// JSON text.
    #[sea_orm(column_type = "Text")]
    pub value_json: Option<String>,
    pub last_updated: DateTimeUtc,
}

/// Relations of `jhe_settings`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
