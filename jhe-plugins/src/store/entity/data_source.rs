//! Entity for the `data_sources` table: devices and apps that produce data.

use sea_orm::entity::prelude::*;

/// A row of `data_sources`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub name: Option<String>,
    /// `personal_device` (default) or `medical_device`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub r#type: String,
}

/// Relations of `data_sources`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::data_source_supported_scope::Entity")]
    DataSourceSupportedScope,
    #[sea_orm(has_many = "super::study_data_source::Entity")]
    StudyDataSource,
    #[sea_orm(has_many = "super::client_data_source::Entity")]
    ClientDataSource,
    #[sea_orm(has_many = "super::observation::Entity")]
    Observation,
}

impl Related<super::data_source_supported_scope::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DataSourceSupportedScope.def()
    }
}

impl Related<super::study_data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyDataSource.def()
    }
}

impl Related<super::client_data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ClientDataSource.def()
    }
}

impl Related<super::observation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Observation.def()
    }
}

/// Through `data_source_supported_scopes`.
impl Related<super::codeable_concept::Entity> for Entity {
    fn to() -> RelationDef {
        super::data_source_supported_scope::Relation::CodeableConcept.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::data_source_supported_scope::Relation::DataSource
                .def()
                .rev(),
        )
    }
}

/// Through `study_data_sources`.
impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_data_source::Relation::Study.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::study_data_source::Relation::DataSource.def().rev())
    }
}

/// Through `client_data_sources`.
impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        super::client_data_source::Relation::OauthApplication.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::client_data_source::Relation::DataSource.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
