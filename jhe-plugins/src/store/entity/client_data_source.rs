//! Entity for the `client_data_sources` table: data source supported by an OAuth client.

use sea_orm::entity::prelude::*;

/// A row of `client_data_sources`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_data_sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `oauth_applications.id` (not the OAuth `client_id` string).
    pub client_id: i64,
    pub data_source_id: i64,
}

/// Relations of `client_data_sources`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `client_id` → `oauth_applications.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::oauth_application::Entity",
        from = "Column::ClientId",
        to = "super::oauth_application::Column::Id",
        on_delete = "Cascade"
    )]
    OauthApplication,
    /// `data_source_id` → `data_sources.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::data_source::Entity",
        from = "Column::DataSourceId",
        to = "super::data_source::Column::Id",
        on_delete = "Cascade"
    )]
    DataSource,
}

impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthApplication.def()
    }
}

impl Related<super::data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DataSource.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
