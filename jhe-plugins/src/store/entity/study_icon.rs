//! Entity for the `study_icons` table: the image uploaded as a study's icon.

use sea_orm::entity::prelude::*;

/// A row of `study_icons`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "study_icons")]
pub struct Model {
    /// The study (primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub study_id: i64,
    /// MIME type of the image.
    #[sea_orm(column_type = "String(StringLen::N(100))")]
    pub content_type: String,
    /// The image.
    #[sea_orm(column_type = "Blob")]
    pub data: Vec<u8>,
    /// SHA-256 of `data`, hex.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub content_hash: String,
    /// When it was stored.
    pub updated_at: DateTimeUtc,
}

/// Relations of `study_icons`.
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
}

impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Study.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
