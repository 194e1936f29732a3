//! [`AccessScope`] → SQL conditions: the one place where "who may see which patient" and "which
//! observations are consented" become queries.

use jhe_core::domain::Id;
use jhe_core::store::{AccessScope, ObservationConsent, PatientVisibility};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};

use super::entity::{
    observation as obs, patient_organization as po, practitioner_organization as pro, study,
    study_patient as sp, study_patient_scope_consent as spc,
};

/// Ids of the patients who share at least one organisation with a practitioner (direct
/// membership, any role).
pub(crate) fn patients_of_practitioner(practitioner_id: Id) -> SelectStatement {
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

/// A condition that never holds.
fn never() -> Condition {
    Condition::all().add(Expr::val(1).eq(0))
}

/// A condition on a patient-id column that keeps only rows of patients visible through `scope`.
pub(crate) fn patient_condition<C: ColumnTrait>(column: C, scope: &AccessScope) -> Condition {
    match scope.patients() {
        PatientVisibility::All => Condition::all(),
        PatientVisibility::SharedOrganizations { practitioner_id } => {
            Condition::all().add(column.in_subquery(patients_of_practitioner(practitioner_id)))
        }
        PatientVisibility::OwnPatient { patient_id } => Condition::all().add(column.eq(patient_id)),
        // `PatientVisibility` is non-exhaustive: anything this backend does not know sees nothing.
        _ => never(),
    }
}

/// The full read condition on `observation` rows: the patient is visible and, under a
/// practitioner's scope, the observation's data type was consented to (`consented = true`) by
/// its patient in a study of one of the practitioner's organisations (in `study_id`, when the
/// search is narrowed to a study).
///
/// The consent test is a correlated `EXISTS` that the `(study_patient_id, scope_code_id)`
/// unique index and the membership indexes answer, so it costs a few index probes per row.
pub(crate) fn observation_condition(scope: &AccessScope, study_id: Option<Id>) -> Condition {
    let visible = patient_condition(obs::Column::SubjectPatientId, scope);
    match scope.observations() {
        ObservationConsent::NotRequired => visible,
        ObservationConsent::ConsentedInPractitionerStudies { practitioner_id } => {
            let mut consented = Query::select()
                .expr(Expr::val(1))
                .from(spc::Entity)
                .inner_join(
                    sp::Entity,
                    Expr::col((sp::Entity, sp::Column::Id))
                        .equals((spc::Entity, spc::Column::StudyPatientId)),
                )
                .inner_join(
                    study::Entity,
                    Expr::col((study::Entity, study::Column::Id))
                        .equals((sp::Entity, sp::Column::StudyId)),
                )
                .inner_join(
                    pro::Entity,
                    Expr::col((pro::Entity, pro::Column::OrganizationId))
                        .equals((study::Entity, study::Column::OrganizationId)),
                )
                .and_where(
                    Expr::col((sp::Entity, sp::Column::PatientId))
                        .equals((obs::Entity, obs::Column::SubjectPatientId)),
                )
                .and_where(
                    Expr::col((spc::Entity, spc::Column::ScopeCodeId))
                        .equals((obs::Entity, obs::Column::CodeableConceptId)),
                )
                .and_where(Expr::col((spc::Entity, spc::Column::Consented)).eq(true))
                .and_where(
                    Expr::col((pro::Entity, pro::Column::PractitionerId)).eq(practitioner_id),
                )
                .to_owned();
            if let Some(study_id) = study_id {
                consented.and_where(Expr::col((sp::Entity, sp::Column::StudyId)).eq(study_id));
            }
            visible.add(Expr::exists(consented))
        }
        _ => never(),
    }
}
