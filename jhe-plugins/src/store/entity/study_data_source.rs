//! Entity for the `study_data_sources` table: data source used by a study.

use sea_orm::entity::prelude::*;

/// A row of `study_data_sources`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "study_data_sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub study_id: i64,
    pub data_source_id: i64,
}

/// Relations of `study_data_sources`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `study_id` → `studies.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::study::Entity",
        from = "Column::StudyId",
        to = "super::study::Column::Id",
        on_delete = "Cascade"
    )]
    Study,
    /// `data_source_id` → `data_sources.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::data_source::Entity",
        from = "Column::DataSourceId",
        to = "super::data_source::Column::Id",
        on_delete = "Cascade"
    )]
    DataSource,
}

impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Study.def()
    }
}

impl Related<super::data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DataSource.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
