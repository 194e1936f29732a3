//! Entity for the `practitioners` table: practitioner profile of a user (1:1).

use sea_orm::entity::prelude::*;

/// A row of `practitioners`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practitioners")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub jhe_user_id: i64,
    #[sea_orm(column_type = "Text")]
    pub identifier: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub name_family: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub name_given: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub telecom_phone: Option<String>,
    pub last_updated: DateTimeUtc,
}

/// Relations of `practitioners`.
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
    #[sea_orm(has_many = "super::practitioner_organization::Entity")]
    PractitionerOrganization,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::practitioner_organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PractitionerOrganization.def()
    }
}

/// Through `practitioner_organizations`.
impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        super::practitioner_organization::Relation::Organization.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::practitioner_organization::Relation::Practitioner
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}
