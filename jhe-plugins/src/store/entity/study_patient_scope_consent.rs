//! Entity for the `study_patient_scope_consents` table: a patient's consent decision for one data type of a study; no row means pending.

use sea_orm::entity::prelude::*;

/// A row of `study_patient_scope_consents`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "study_patient_scope_consents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub study_patient_id: i64,
    pub scope_code_id: i64,
    /// Default `rs`; never interpreted.
    #[sea_orm(column_type = "Text")]
    pub scope_actions: Option<String>,
    /// `true` = granted, `false` = refused.
    pub consented: bool,
    pub consented_time: DateTimeUtc,
}

/// Relations of `study_patient_scope_consents`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `study_patient_id` → `study_patients.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::study_patient::Entity",
        from = "Column::StudyPatientId",
        to = "super::study_patient::Column::Id",
        on_delete = "Cascade"
    )]
    StudyPatient,
    /// `scope_code_id` → `codeable_concepts.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::codeable_concept::Entity",
        from = "Column::ScopeCodeId",
        to = "super::codeable_concept::Column::Id",
        on_delete = "Cascade"
    )]
    CodeableConcept,
}

impl Related<super::study_patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyPatient.def()
    }
}

impl Related<super::codeable_concept::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CodeableConcept.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
