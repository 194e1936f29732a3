//! Entity for the `observation_identifiers` table: identifiers of an observation; (system, value) is globally unique, NULL system equal to NULL.

use sea_orm::entity::prelude::*;

/// A row of `observation_identifiers`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "observation_identifiers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub observation_id: i64,
    #[sea_orm(column_type = "Text")]
    pub system: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub value: String,
}

/// Relations of `observation_identifiers`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `observation_id` → `observations.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::observation::Entity",
        from = "Column::ObservationId",
        to = "super::observation::Column::Id",
        on_delete = "Cascade"
    )]
    Observation,
}

impl Related<super::observation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Observation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
