//! Entity for the `patients` table: patient record, optionally linked to a user (1:1).

use sea_orm::entity::prelude::*;

/// A row of `patients`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub jhe_user_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub identifier: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub name_family: String,
    #[sea_orm(column_type = "Text")]
    pub name_given: String,
    pub birth_date: Date,
    #[sea_orm(column_type = "Text")]
    pub telecom_phone: Option<String>,
    pub last_updated: DateTimeUtc,
}

/// Relations of `patients`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `jhe_user_id` → `users.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::JheUserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    #[sea_orm(has_many = "super::patient_organization::Entity")]
    PatientOrganization,
    #[sea_orm(has_many = "super::study_patient::Entity")]
    StudyPatient,
    #[sea_orm(has_many = "super::observation::Entity")]
    Observation,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::patient_organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PatientOrganization.def()
    }
}

impl Related<super::study_patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyPatient.def()
    }
}

impl Related<super::observation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Observation.def()
    }
}

/// Through `patient_organizations`.
impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        super::patient_organization::Relation::Organization.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::patient_organization::Relation::Patient.def().rev())
    }
}

/// Through `study_patients`.
impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_patient::Relation::Study.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::study_patient::Relation::Patient.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
