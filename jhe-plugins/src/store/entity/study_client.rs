//! Entity for the `study_clients` table: oAuth client (app) used by a study.

use sea_orm::entity::prelude::*;

/// A row of `study_clients`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "study_clients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub study_id: i64,
    /// `oauth_applications.id` (not the OAuth `client_id` string).
    pub client_id: i64,
}

/// Relations of `study_clients`.
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
    /// `client_id` → `oauth_applications.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::oauth_application::Entity",
        from = "Column::ClientId",
        to = "super::oauth_application::Column::Id",
        on_delete = "Cascade"
    )]
    OauthApplication,
}

impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Study.def()
    }
}

impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthApplication.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
