//! Entity for the `practitioner_organizations` table: membership of a practitioner in an organisation, with a role.

use sea_orm::entity::prelude::*;

/// A row of `practitioner_organizations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practitioner_organizations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub practitioner_id: i64,
    pub organization_id: i64,
    /// `member`, `manager` or `viewer` (not enforced).
    #[sea_orm(column_type = "String(StringLen::N(10))")]
    pub role: String,
}

/// Relations of `practitioner_organizations`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `practitioner_id` → `practitioners.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::practitioner::Entity",
        from = "Column::PractitionerId",
        to = "super::practitioner::Column::Id",
        on_delete = "Cascade"
    )]
    Practitioner,
    /// `organization_id` → `organizations.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Cascade"
    )]
    Organization,
}

impl Related<super::practitioner::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Practitioner.def()
    }
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
