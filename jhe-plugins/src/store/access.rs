//! [`AccessFilter`] → SQL conditions.

use jhe_core::store::AccessFilter;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};

use super::entity::{patient_organization as po, practitioner_organization as pro};

/// Ids of the patients who share at least one organisation with a practitioner.
pub(crate) fn patients_of_practitioner(practitioner_id: i64) -> SelectStatement {
    Query::select()
        .column((po::Entity, po::Column::PatientId))
        .from(po::Entity)
        .inner_join(
            pro::Entity,
            Expr::col((pro::Entity, pro::Column::OrganizationId))
                .equals((po::Entity, po::Column::OrganizationId)),
        )
        .and_where(Expr::col((pro::Entity, pro::Column::PractitionerId)).eq(practitioner_id))
        .to_owned()
}

/// A condition on a patient-id column that keeps only rows visible through `filter`.
pub(crate) fn patient_condition<C: ColumnTrait>(column: C, filter: &AccessFilter) -> Condition {
    match filter {
        AccessFilter::Unrestricted => Condition::all(),
        AccessFilter::PractitionerOrganizations { practitioner_id } => {
            Condition::all().add(column.in_subquery(patients_of_practitioner(*practitioner_id)))
        }
        AccessFilter::OwnPatient { patient_id } => Condition::all().add(column.eq(*patient_id)),
        AccessFilter::Nothing => Condition::all().add(Expr::val(1).eq(0)),
    }
}
