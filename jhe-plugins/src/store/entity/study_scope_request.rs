//! Entity for the `study_scope_requests` table: data type requested by a study.

use sea_orm::entity::prelude::*;

/// A row of `study_scope_requests`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "study_scope_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub study_id: i64,
    pub scope_code_id: i64,
    /// Default `rs`; never interpreted.
    #[sea_orm(column_type = "Text")]
    pub scope_actions: Option<String>,
}

/// Relations of `study_scope_requests`.
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
    /// `scope_code_id` → `codeable_concepts.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::codeable_concept::Entity",
        from = "Column::ScopeCodeId",
        to = "super::codeable_concept::Column::Id",
        on_delete = "Cascade"
    )]
    CodeableConcept,
}

impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Study.def()
    }
}

impl Related<super::codeable_concept::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CodeableConcept.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
