//! Entity for the `observations` table: observations (Open mHealth data points) of a patient.

use sea_orm::entity::prelude::*;

/// A row of `observations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "observations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject_patient_id: i64,
    pub codeable_concept_id: i64,
    /// ON DELETE SET NULL.
    pub data_source_id: Option<i64>,
    /// The decoded payload, byte-for-byte as received.
    #[sea_orm(column_type = "Text")]
    pub value_attachment_data: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub content_type: String,
    /// FHIR observation status; default `final`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub status: String,
    pub effective_start: Option<DateTimeUtc>,
    pub effective_end: Option<DateTimeUtc>,
    pub last_updated: DateTimeUtc,
    /// Open Wearables object key.
    #[sea_orm(column_type = "String(StringLen::N(512))")]
    pub ow_key: Option<String>,
}

/// Relations of `observations`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `subject_patient_id` → `patients.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::patient::Entity",
        from = "Column::SubjectPatientId",
        to = "super::patient::Column::Id",
        on_delete = "Cascade"
    )]
    Patient,
    /// `codeable_concept_id` → `codeable_concepts.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::codeable_concept::Entity",
        from = "Column::CodeableConceptId",
        to = "super::codeable_concept::Column::Id",
        on_delete = "Cascade"
    )]
    CodeableConcept,
    /// `data_source_id` → `data_sources.id` (ON DELETE SET NULL).
    #[sea_orm(
        belongs_to = "super::data_source::Entity",
        from = "Column::DataSourceId",
        to = "super::data_source::Column::Id",
        on_delete = "SetNull"
    )]
    DataSource,
    #[sea_orm(has_many = "super::observation_identifier::Entity")]
    ObservationIdentifier,
}

impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Patient.def()
    }
}

impl Related<super::codeable_concept::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CodeableConcept.def()
    }
}

impl Related<super::data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::DataSource.def()
    }
}

impl Related<super::observation_identifier::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ObservationIdentifier.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
