//! Entity for the `study_patients` table: enrolment of a patient in a study.

use sea_orm::entity::prelude::*;

/// A row of `study_patients`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "study_patients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub study_id: i64,
    pub patient_id: i64,
}

/// Relations of `study_patients`.
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
    /// `patient_id` → `patients.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::patient::Entity",
        from = "Column::PatientId",
        to = "super::patient::Column::Id",
        on_delete = "Cascade"
    )]
    Patient,
    #[sea_orm(has_many = "super::study_patient_scope_consent::Entity")]
    StudyPatientScopeConsent,
}

impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Study.def()
    }
}

impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Patient.def()
    }
}

impl Related<super::study_patient_scope_consent::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyPatientScopeConsent.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
