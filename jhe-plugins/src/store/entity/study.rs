//! Entity for the `studies` table: studies, owned by an organisation.

use sea_orm::entity::prelude::*;

/// A row of `studies`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "studies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub organization_id: i64,
    #[sea_orm(column_type = "Text")]
    pub icon_url: Option<String>,
}

/// Relations of `studies`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `organization_id` → `organizations.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Cascade"
    )]
    Organization,
    #[sea_orm(has_many = "super::study_patient::Entity")]
    StudyPatient,
    #[sea_orm(has_many = "super::study_scope_request::Entity")]
    StudyScopeRequest,
    #[sea_orm(has_many = "super::study_data_source::Entity")]
    StudyDataSource,
    #[sea_orm(has_many = "super::study_client::Entity")]
    StudyClient,
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl Related<super::study_patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyPatient.def()
    }
}

impl Related<super::study_scope_request::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyScopeRequest.def()
    }
}

impl Related<super::study_data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyDataSource.def()
    }
}

impl Related<super::study_client::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyClient.def()
    }
}

/// Through `study_patients`.
impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_patient::Relation::Patient.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::study_patient::Relation::Study.def().rev())
    }
}

/// Through `study_scope_requests`.
impl Related<super::codeable_concept::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_scope_request::Relation::CodeableConcept.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::study_scope_request::Relation::Study.def().rev())
    }
}

/// Through `study_data_sources`.
impl Related<super::data_source::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_data_source::Relation::DataSource.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::study_data_source::Relation::Study.def().rev())
    }
}

/// Through `study_clients`.
impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_client::Relation::OauthApplication.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::study_client::Relation::Study.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
