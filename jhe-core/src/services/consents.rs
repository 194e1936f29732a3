//! A patient's consent decisions (rest-api.md §4.8–4.9, rbac-consent.md §5): the overview of
//! pending and decided scopes per enrolled study, recording, changing and deleting decisions,
//! and the reset.
//!
//! Every change is checked in full (authorisation per study, enrolment, scopes) before the first
//! write, and one decision time is used for the whole request.

use crate::audit::{AuditEvent, AuditKind};
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::domain::{
    CodeableConcept, DataSource, Id, Organization, Study, StudyPatient, StudyPatientScopeConsent,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::guard::{require, scope};
use crate::services::patients::{self, PatientView};

/// A data source of a study with the scopes it supports (ordered by text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSourceScopes {
    /// The data source.
    pub data_source: DataSource,
    /// Its supported scopes.
    pub supported_scopes: Vec<CodeableConcept>,
}

/// The decision (or its absence) on one requested scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDecision {
    /// The scope.
    pub code: CodeableConcept,
    /// `None` while pending.
    pub consented: Option<bool>,
    /// When decided.
    pub consented_time: Option<DateTime<Utc>>,
}

/// An enrolled study with its data sources and some of its scopes (pending or decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentStudy {
    /// The study.
    pub study: Study,
    /// Its organisation.
    pub organization: Organization,
    /// Its data sources, ordered by name.
    pub data_sources: Vec<DataSourceScopes>,
    /// The scopes of this list (pending ones, or decided ones).
    pub scopes: Vec<ScopeDecision>,
}

/// `GET /patients/{id}/consents`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentOverview {
    /// The patient.
    pub patient: PatientView,
    /// Scopes consented (`true`) in any enrolment, by id.
    pub consolidated_consented_scopes: Vec<CodeableConcept>,
    /// Enrolled studies with at least one requested scope without decision.
    pub studies_pending_consent: Vec<ConsentStudy>,
    /// Enrolled studies with at least one decision.
    pub studies: Vec<ConsentStudy>,
}

/// One scope of a change request, named by coding system and code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeConsentInput {
    /// Coding system.
    pub coding_system: Option<String>,
    /// Code.
    pub coding_code: Option<String>,
    /// The decision (required to record or change).
    pub consented: Option<bool>,
}

/// The scopes of one study in a change request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyConsentInput {
    /// The study.
    pub study_id: Option<Id>,
    /// Its scopes.
    pub scope_consents: Vec<ScopeConsentInput>,
}

/// What a change request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    /// Record decisions (insert or update): `POST`.
    Record,
    /// Change existing decisions: `PATCH`.
    Update,
    /// Delete decisions (back to pending): `DELETE`.
    Delete,
}

/// A decision as stored, with its enrolment and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedConsent {
    /// The decision.
    pub consent: StudyPatientScopeConsent,
    /// The enrolment.
    pub enrolment: StudyPatient,
    /// The scope.
    pub code: CodeableConcept,
}

async fn concept(
    state: &AppState,
    cache: &mut BTreeMap<Id, CodeableConcept>,
    id: Id,
) -> CoreResult<Option<CodeableConcept>> {
    if let Some(c) = cache.get(&id) {
        return Ok(Some(c.clone()));
    }
    let found = state.store.get_concept(id).await?;
    if let Some(c) = &found {
        cache.insert(id, c.clone());
    }
    Ok(found)
}

async fn data_sources_of(
    state: &AppState,
    cache: &mut BTreeMap<Id, CodeableConcept>,
    study_id: Id,
) -> CoreResult<Vec<DataSourceScopes>> {
    let mut out = Vec::new();
    for link in state.store.list_study_data_sources(study_id).await? {
        let Some(data_source) = state.store.get_data_source(link.data_source_id).await? else {
            continue;
        };
        let mut supported_scopes = Vec::new();
        for s in state.store.list_supported_scopes(data_source.id).await? {
            if let Some(c) = concept(state, cache, s.scope_code_id).await? {
                supported_scopes.push(c);
            }
        }
        supported_scopes.sort_by(|a, b| a.text.cmp(&b.text).then(a.id.cmp(&b.id)));
        out.push(DataSourceScopes {
            data_source,
            supported_scopes,
        });
    }
    out.sort_by(|a, b| {
        a.data_source
            .name
            .cmp(&b.data_source.name)
            .then(a.data_source.id.cmp(&b.data_source.id))
    });
    Ok(out)
}

/// The consent overview of a patient (studies ordered by id, scopes by request order).
pub async fn overview(
    state: &AppState,
    principal: &Principal,
    patient_id: Id,
) -> CoreResult<ConsentOverview> {
    let scope = scope(state, principal).await;
    let found = patients::visible_or_404(state, principal, patient_id).await;
    let event = AuditEvent::by(principal, AuditKind::Read)
        .entity(format!("Patient/{patient_id}"))
        .detail("Consent");
    crate::services::audit::record(
        state,
        match &found {
            Ok(_) => event.patient(patient_id),
            Err(e) => event.failed(e.to_string()),
        },
    );
    let patient = found?;
    let consents = state
        .store
        .list_patient_consents(&scope, patient_id)
        .await?;
    let mut cache = BTreeMap::new();
    let mut consolidated = BTreeSet::new();
    for c in &consents {
        if c.consented {
            consolidated.insert(c.scope_code_id);
        }
    }
    let mut consolidated_consented_scopes = Vec::new();
    for id in consolidated {
        if let Some(c) = concept(state, &mut cache, id).await? {
            consolidated_consented_scopes.push(c);
        }
    }
    let mut studies_pending_consent = Vec::new();
    let mut studies = Vec::new();
    for enrolment in state.store.list_patient_studies(&scope, patient_id).await? {
        let Some(study) = state.store.get_study(enrolment.study_id).await? else {
            continue;
        };
        let Some(organization) = state.store.get_organization(study.organization_id).await? else {
            continue;
        };
        let mut pending = Vec::new();
        let mut decided = Vec::new();
        for request in state.store.list_scope_requests(study.id).await? {
            let Some(code) = concept(state, &mut cache, request.scope_code_id).await? else {
                continue;
            };
            match consents.iter().find(|c| {
                c.study_patient_id == enrolment.id && c.scope_code_id == request.scope_code_id
            }) {
                Some(c) => decided.push(ScopeDecision {
                    code,
                    consented: Some(c.consented),
                    consented_time: Some(c.consented_time),
                }),
                None => pending.push(ScopeDecision {
                    code,
                    consented: None,
                    consented_time: None,
                }),
            }
        }
        // Decisions on scopes the study no longer requests still show.
        let shown: Vec<Id> = decided.iter().map(|d| d.code.id).collect();
        for c in consents
            .iter()
            .filter(|c| c.study_patient_id == enrolment.id && !shown.contains(&c.scope_code_id))
        {
            if let Some(code) = concept(state, &mut cache, c.scope_code_id).await? {
                decided.push(ScopeDecision {
                    code,
                    consented: Some(c.consented),
                    consented_time: Some(c.consented_time),
                });
            }
        }
        if pending.is_empty() && decided.is_empty() {
            continue;
        }
        let data_sources = data_sources_of(state, &mut cache, study.id).await?;
        if !pending.is_empty() {
            studies_pending_consent.push(ConsentStudy {
                study: study.clone(),
                organization: organization.clone(),
                data_sources: data_sources.clone(),
                scopes: pending,
            });
        }
        if !decided.is_empty() {
            studies.push(ConsentStudy {
                study,
                organization,
                data_sources,
                scopes: decided,
            });
        }
    }
    Ok(ConsentOverview {
        patient: patients::view(state, patient).await?,
        consolidated_consented_scopes,
        studies_pending_consent,
        studies,
    })
}

/// Deletes every consent decision of the patient; returns how many. The patient must be visible
/// to the caller (`404` otherwise). The patient themself may do it; a practitioner needs the right to record consents in every study the patient is enrolled
/// in (so a viewer cannot wipe decisions).
pub async fn reset(state: &AppState, principal: &Principal, patient_id: Id) -> CoreResult<u64> {
    patients::visible_or_404(state, principal, patient_id).await?;
    let scope = scope(state, principal).await;
    for enrolment in state.store.list_patient_studies(&scope, patient_id).await? {
        if let Some(study) = state.store.get_study(enrolment.study_id).await? {
            require(
                state,
                principal,
                Action::RecordConsent {
                    patient_id,
                    study_organization_id: study.organization_id,
                },
            )
            .await?;
        }
    }
    let deleted = state.store.delete_patient_consents(patient_id).await?;
    crate::services::audit::record(
        state,
        AuditEvent::by(principal, AuditKind::ConsentChange)
            .patient(patient_id)
            .detail(format!("reset: {deleted} decisions deleted")),
    );
    Ok(deleted)
}

/// One checked change, ready to write.
struct Planned {
    enrolment: StudyPatient,
    code: CodeableConcept,
    consented: bool,
}

/// Records, changes or deletes decisions of a patient (rest-api.md §4.9). Checked per study:
/// the caller needs [`Action::RecordConsent`] for the study's organisation; the patient must be
/// enrolled; each scope must exist (and, to record or change, be requested by the study);
/// `consented` is required to record or change; changing needs an existing decision. Nothing is
/// written unless every entry passes. Returns the decisions as stored (deleted ones as they
/// were).
pub async fn change(
    state: &AppState,
    principal: &Principal,
    patient_id: Id,
    op: ConsentChange,
    entries: Option<Vec<StudyConsentInput>>,
) -> CoreResult<Vec<RecordedConsent>> {
    let result = change_unaudited(state, principal, patient_id, op, entries).await;
    let verb = match op {
        ConsentChange::Record => "record",
        ConsentChange::Update => "update",
        ConsentChange::Delete => "delete",
    };
    let event = AuditEvent::by(principal, AuditKind::ConsentChange).patient(patient_id);
    crate::services::audit::record(
        state,
        match &result {
            Ok(recorded) => {
                let decisions: Vec<String> = recorded
                    .iter()
                    .map(|r| {
                        format!(
                            "study {} {}={}",
                            r.enrolment.study_id,
                            r.code.coding_code,
                            if op == ConsentChange::Delete {
                                "deleted"
                            } else if r.consent.consented {
                                "permit"
                            } else {
                                "deny"
                            }
                        )
                    })
                    .collect();
                event.detail(format!("{verb}: {}", decisions.join(", ")))
            }
            Err(e) => event.detail(verb).failed(e.to_string()),
        },
    );
    result
}

async fn change_unaudited(
    state: &AppState,
    principal: &Principal,
    patient_id: Id,
    op: ConsentChange,
    entries: Option<Vec<StudyConsentInput>>,
) -> CoreResult<Vec<RecordedConsent>> {
    patients::visible_or_404(state, principal, patient_id).await?;
    let scope = scope(state, principal).await;
    let Some(entries) = entries else {
        return Err(CoreError::field(
            "studyScopeConsents",
            "This field is required.",
        ));
    };
    let enrolments = state.store.list_patient_studies(&scope, patient_id).await?;
    let existing = state
        .store
        .list_patient_consents(&scope, patient_id)
        .await?;
    let mut plan = Vec::new();
    for entry in &entries {
        let Some(study_id) = entry.study_id else {
            return Err(CoreError::field("studyId", "This field is required."));
        };
        let Some(study) = state.store.get_study(study_id).await? else {
            return Err(CoreError::BadRequest(format!(
                "Study {study_id} does not exist."
            )));
        };
        require(
            state,
            principal,
            Action::RecordConsent {
                patient_id,
                study_organization_id: study.organization_id,
            },
        )
        .await?;
        let Some(enrolment) = enrolments.iter().find(|e| e.study_id == study_id) else {
            return Err(CoreError::BadRequest(format!(
                "The Patient is not enrolled in Study {study_id}."
            )));
        };
        let requested: Vec<Id> = state
            .store
            .list_scope_requests(study_id)
            .await?
            .into_iter()
            .map(|r| r.scope_code_id)
            .collect();
        for scope in &entry.scope_consents {
            let (Some(system), Some(code)) = (
                scope.coding_system.as_deref().map(str::trim),
                scope.coding_code.as_deref().map(str::trim),
            ) else {
                return Err(CoreError::BadRequest(
                    "Each scope consent needs codingSystem and codingCode.".into(),
                ));
            };
            let known = if system.contains('\0') || code.contains('\0') {
                None
            } else {
                state.store.find_concept(system, code).await?
            };
            let Some(concept) = known else {
                return Err(CoreError::BadRequest(format!(
                    "Unknown scope: coding_system={system} coding_code={code}."
                )));
            };
            let consented = match op {
                ConsentChange::Delete => scope.consented.unwrap_or(false),
                ConsentChange::Record | ConsentChange::Update => {
                    let Some(consented) = scope.consented else {
                        return Err(CoreError::field("consented", "This field is required."));
                    };
                    if !requested.contains(&concept.id) {
                        return Err(CoreError::BadRequest(format!(
                            "Study {study_id} does not request the scope {code}."
                        )));
                    }
                    consented
                }
            };
            if op == ConsentChange::Update
                && !existing
                    .iter()
                    .any(|c| c.study_patient_id == enrolment.id && c.scope_code_id == concept.id)
            {
                return Err(CoreError::BadRequest(format!(
                    "No consent for {code} in Study {study_id} to change; record it with POST."
                )));
            }
            plan.push(Planned {
                enrolment: *enrolment,
                code: concept,
                consented,
            });
        }
    }

    // Every decision of the request in one transaction: all of them, or none.
    let now = Utc::now();
    let mut out = Vec::with_capacity(plan.len());
    let uow = state.store.begin().await?;
    for p in plan {
        match op {
            ConsentChange::Record | ConsentChange::Update => {
                let consent = uow
                    .upsert_consent(p.enrolment.id, p.code.id, p.consented, now)
                    .await?;
                out.push(RecordedConsent {
                    consent,
                    enrolment: p.enrolment,
                    code: p.code,
                });
            }
            ConsentChange::Delete => {
                let before = existing
                    .iter()
                    .find(|c| c.study_patient_id == p.enrolment.id && c.scope_code_id == p.code.id)
                    .cloned();
                if uow.delete_consent(p.enrolment.id, p.code.id).await?
                    && let Some(consent) = before
                {
                    out.push(RecordedConsent {
                        consent,
                        enrolment: p.enrolment,
                        code: p.code,
                    });
                }
            }
        }
    }
    uow.commit().await?;
    Ok(out)
}
