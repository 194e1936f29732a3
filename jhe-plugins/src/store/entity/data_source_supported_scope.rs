//! Entity for the `data_source_supported_scopes` table: data type a data source can produce.

use sea_orm::entity::prelude::*;

/// A row of `data_source_supported_scopes`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_source_supported_scopes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub data_source_id: i64,
    pub scope_code_id: i64,
}

/// Relations of `data_source_supported_scopes`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `data_source_id` → `data_sources.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::data_source::Entity",
        from = "Column::DataSourceId",
        to = "super::data_source::Column::Id",
        on_delete = "Cascade"
    )]
    DataSource,
    /// `scope_code_id` → `codeable_concepts.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::codeable_concept::Entity",
        from = "Column::ScopeCodeId",
        to = "super::codeable_concept::Column::Id",
        on_delete = "Cascade"
    )]
    CodeableConcept,
}

impl Related<super::data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DataSource.def()
    }
}

impl Related<super::codeable_concept::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CodeableConcept.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
