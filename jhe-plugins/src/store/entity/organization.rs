//! Entity for the `organizations` table: organisations, a tree through `part_of_id` (ROOT has id 0).

use sea_orm::entity::prelude::*;

/// A row of `organizations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Organisation type key, e.g. `root`, `prov`, `dept`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub r#type: String,
    /// Parent organisation (ON DELETE RESTRICT).
    pub part_of_id: Option<i64>,
}

/// Relations of `organizations`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `part_of_id` → `organizations.id` (ON DELETE RESTRICT).
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::PartOfId",
        to = "Column::Id",
        on_delete = "Restrict"
    )]
    PartOf,
    #[sea_orm(has_many = "super::practitioner_organization::Entity")]
    PractitionerOrganization,
    #[sea_orm(has_many = "super::patient_organization::Entity")]
    PatientOrganization,
    #[sea_orm(has_many = "super::study::Entity")]
    Study,
}

impl Related<super::practitioner_organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PractitionerOrganization.def()
    }
}

impl Related<super::patient_organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PatientOrganization.def()
    }
}

impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Study.def()
    }
}

/// Through `patient_organizations`.
impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        super::patient_organization::Relation::Patient.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::patient_organization::Relation::Organization
                .def()
                .rev(),
        )
    }
}

/// Through `practitioner_organizations`.
impl Related<super::practitioner::Entity> for Entity {
    fn to() -> RelationDef {
        super::practitioner_organization::Relation::Practitioner.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::practitioner_organization::Relation::Organization
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}
