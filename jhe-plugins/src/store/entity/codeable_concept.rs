//! Entity for the `codeable_concepts` table: data types ("scopes"), e.g. `omh:heart-rate:2.0`.

use sea_orm::entity::prelude::*;

/// A row of `codeable_concepts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "codeable_concepts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub coding_system: String,
    #[sea_orm(column_type = "Text")]
    pub coding_code: String,
    /// Human-readable label.
    #[sea_orm(column_type = "Text")]
    pub text: String,
}

/// Relations of `codeable_concepts`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::study_scope_request::Entity")]
    StudyScopeRequest,
    #[sea_orm(has_many = "super::study_patient_scope_consent::Entity")]
    StudyPatientScopeConsent,
    #[sea_orm(has_many = "super::data_source_supported_scope::Entity")]
    DataSourceSupportedScope,
    #[sea_orm(has_many = "super::observation::Entity")]
    Observation,
}

impl Related<super::study_scope_request::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyScopeRequest.def()
    }
}

impl Related<super::study_patient_scope_consent::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyPatientScopeConsent.def()
    }
}

impl Related<super::data_source_supported_scope::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DataSourceSupportedScope.def()
    }
}

impl Related<super::observation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Observation.def()
    }
}

/// Through `study_scope_requests`.
impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_scope_request::Relation::Study.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::study_scope_request::Relation::CodeableConcept
                .def()
                .rev(),
        )
    }
}

/// Through `data_source_supported_scopes`.
impl Related<super::data_source::Entity> for Entity {
    fn to() -> RelationDef {
        super::data_source_supported_scope::Relation::DataSource.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::data_source_supported_scope::Relation::CodeableConcept
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}
