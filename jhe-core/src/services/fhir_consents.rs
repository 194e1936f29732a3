//! Consent as FHIR: a read-only view of a patient's scope consent decisions as R5 `Consent`
//! resources (`GET [base]/Consent?patient=`, `GET [base]/Consent/{id}`), read through the
//! caller's access scope like every other read of patient data.

use std::collections::BTreeMap;

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::{CodeableConcept, Id, Study, StudyPatient, StudyPatientScopeConsent};
use crate::fhir::{FhirError, FhirResult};
use crate::policy::{AccessScope, Principal};
use crate::server::AppState;
use crate::services::guard::scope;

/// One consent decision with what its FHIR view names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentView {
    /// The decision.
    pub consent: StudyPatientScopeConsent,
    /// The enrolment it belongs to.
    pub enrolment: StudyPatient,
    /// The study.
    pub study: Study,
    /// The scope (data type) decided on.
    pub code: CodeableConcept,
}

/// Whether a `patient` / `subject` search value names a patient id (`40001`, `Patient/40001`).
fn patient_id_of(value: &str) -> Option<Id> {
    let value = value.trim();
    let bare = value.rsplit_once("Patient/").map_or(value, |(_, id)| id);
    bare.parse().ok()
}

/// The views of `consents` (all of one patient), skipping any whose study or scope vanished.
///
/// # Errors
/// A storage failure.
pub(crate) async fn views_of(
    state: &AppState,
    scope: &AccessScope,
    patient_id: Id,
    consents: Vec<StudyPatientScopeConsent>,
) -> FhirResult<Vec<ConsentView>> {
    let enrolments = state.store.list_patient_studies(scope, patient_id).await?;
    let mut studies: BTreeMap<Id, Study> = BTreeMap::new();
    let mut concepts: BTreeMap<Id, CodeableConcept> = BTreeMap::new();
    let mut out = Vec::with_capacity(consents.len());
    for consent in consents {
        let Some(enrolment) = enrolments
            .iter()
            .find(|e| e.id == consent.study_patient_id)
            .copied()
        else {
            continue;
        };
        if let Some(view) = view_of(state, &mut studies, &mut concepts, consent, enrolment).await? {
            out.push(view);
        }
    }
    Ok(out)
}

async fn view_of(
    state: &AppState,
    studies: &mut BTreeMap<Id, Study>,
    concepts: &mut BTreeMap<Id, CodeableConcept>,
    consent: StudyPatientScopeConsent,
    enrolment: StudyPatient,
) -> FhirResult<Option<ConsentView>> {
    let study = match studies.get(&enrolment.study_id) {
        Some(s) => s.clone(),
        None => match state.store.get_study(enrolment.study_id).await? {
            Some(s) => {
                studies.insert(s.id, s.clone());
                s
            }
            None => return Ok(None),
        },
    };
    let code = match concepts.get(&consent.scope_code_id) {
        Some(c) => c.clone(),
        None => match state.store.get_concept(consent.scope_code_id).await? {
            Some(c) => {
                concepts.insert(c.id, c.clone());
                c
            }
            None => return Ok(None),
        },
    };
    Ok(Some(ConsentView {
        consent,
        enrolment,
        study,
        code,
    }))
}

/// `GET [base]/Consent`: the consent decisions of the patient named by `patient` (or `subject`),
/// ordered by id. A patient caller may leave it out (their own); anyone else must name one. A
/// patient the caller cannot see has no visible consents (an empty result, as for an unknown
/// id).
///
/// # Errors
/// `400` for a missing or malformed `patient`, or an unsupported parameter; storage failures.
pub async fn search(
    state: &AppState,
    principal: &Principal,
    params: &[(String, String)],
) -> FhirResult<Vec<ConsentView>> {
    let scope = scope(state, principal).await;
    let mut patient: Option<Id> = None;
    let mut conflicting = false;
    for (name, value) in params {
        match name.as_str() {
            "patient" | "subject" | "patient._id" | "subject:Patient" => {
                let Some(id) = patient_id_of(value) else {
                    return Err(FhirError::bad_request(format!(
                        "Invalid patient reference \"{value}\"."
                    )));
                };
                if patient.is_some_and(|p| p != id) {
                    conflicting = true;
                }
                patient = Some(id);
            }
            n if n.starts_with('_') => {}
            other => {
                return Err(FhirError::bad_request(format!(
                    "Unsupported search parameter for Consent: {other}."
                )));
            }
        }
    }
    let Some(patient_id) = patient.or(scope.own_patient()) else {
        return Err(FhirError::bad_request(
            "A Consent search needs the patient parameter (patient=Patient/<id>).",
        ));
    };
    if conflicting {
        return Ok(Vec::new());
    }
    let consents = state
        .store
        .list_patient_consents(&scope, patient_id)
        .await?;
    let views = views_of(state, &scope, patient_id, consents).await?;
    crate::services::audit::record_access(
        state,
        principal,
        AuditKind::Search,
        "Consent",
        Some(&format!("patient={patient_id}")),
        views.iter().map(|v| v.enrolment.patient_id),
    );
    Ok(views)
}

/// `GET [base]/Consent/{id}`: one decision, `404` when unknown or not visible to the caller.
///
/// # Errors
/// `404` when the id is unknown or not visible; storage failures.
pub async fn read(state: &AppState, principal: &Principal, id: &str) -> FhirResult<ConsentView> {
    let not_found = || FhirError::not_found(format!("Consent/{id} is not known."));
    let id: Id = id.parse().map_err(|_| not_found())?;
    let scope = scope(state, principal).await;
    let found = state.store.get_consent(&scope, id).await?;
    let event = AuditEvent::by(principal, AuditKind::Read).entity(format!("Consent/{id}"));
    crate::services::audit::record(
        state,
        match &found {
            Some((_, enrolment)) => event.patient(enrolment.patient_id),
            None => event.failed("not found"),
        },
    );
    let Some((consent, enrolment)) = found else {
        return Err(not_found());
    };
    view_of(
        state,
        &mut BTreeMap::new(),
        &mut BTreeMap::new(),
        consent,
        enrolment,
    )
    .await?
    .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::patient_id_of;

    #[test]
    fn patient_references() {
        assert_eq!(patient_id_of("40001"), Some(40001));
        assert_eq!(patient_id_of("Patient/40001"), Some(40001));
        assert_eq!(patient_id_of("https://x/fhir/r5/Patient/7"), Some(7));
        assert_eq!(patient_id_of("abc"), None);
    }
}
