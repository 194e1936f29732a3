//! The portal's observation list (`/api/v1/observations`, rest-api.md §6): observations of
//! patients sharing an organisation with the calling practitioner, filtered in SQL through the
//! caller's sealed [`AccessScope`], newest first.
//!
//! Closes the original's gap: with a study filter the caller must be allowed to read the study,
//! and only scopes the patient consented to in that study are returned.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::{DateTime, Utc};

use crate::domain::{CodeableConcept, Id, Observation, Page, PageRequest, Patient};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::guard::require;
use crate::services::guard::scope;
use crate::services::patients::linked_organization_ids;
use crate::services::studies::{NO_PRACTITIONER, get_or_404 as study_or_404};
use crate::store::{AccessScope, ObservationQuery};

/// Filters of the list; all given ones must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObservationFilter {
    /// Keyset position: only rows after this `(last_updated, id)` in the list order (the page's
    /// offset is then ignored, so the cost of a page does not grow with its number).
    pub after: Option<(DateTime<Utc>, Id)>,
    /// Patients of this organisation (which the caller must be linked to).
    pub organization_id: Option<Id>,
    /// Patients enrolled in this study, codes it requests and the patient consented to.
    pub study_id: Option<Id>,
    /// This patient.
    pub patient_id: Option<Id>,
    /// This observation.
    pub observation_id: Option<Id>,
}

/// An observation with its patient and data type.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRow {
    /// The observation.
    pub observation: Observation,
    /// Its patient.
    pub patient: Patient,
    /// Its data type.
    pub concept: CodeableConcept,
}

fn require_practitioner(principal: &Principal) -> CoreResult<()> {
    if principal.practitioner.is_none() {
        return Err(CoreError::NotFound(NO_PRACTITIONER.into()));
    }
    Ok(())
}

async fn rows(
    state: &AppState,
    filter: &AccessScope,
    observations: Vec<Observation>,
) -> CoreResult<Vec<ObservationRow>> {
    let mut patients: BTreeMap<Id, Patient> = BTreeMap::new();
    let mut concepts: BTreeMap<Id, CodeableConcept> = BTreeMap::new();
    let mut out = Vec::with_capacity(observations.len());
    for observation in observations {
        let pid = observation.subject_patient_id;
        let patient = match patients.entry(pid) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => match state.store.get_patient(filter, pid).await? {
                Some(p) => e.insert(p),
                None => continue,
            },
        };
        let patient = patient.clone();
        let cid = observation.codeable_concept_id;
        let concept = match concepts.entry(cid) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => match state.store.get_concept(cid).await? {
                Some(c) => e.insert(c),
                None => continue,
            },
        };
        out.push(ObservationRow {
            patient,
            concept: concept.clone(),
            observation,
        });
    }
    Ok(out)
}

/// The observations the calling practitioner may see, newest `lastUpdated` first. Callers without
/// a practitioner profile get `404`; an organisation the caller is not linked to gives an empty
/// page; a study the caller may not read is a `403`.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: ObservationFilter,
    page: PageRequest,
) -> CoreResult<Page<ObservationRow>> {
    require_practitioner(principal)?;
    let mut query = ObservationQuery {
        id: filter.observation_id,
        patient_id: filter.patient_id,
        organization_id: filter.organization_id,
        after: filter.after,
        ..Default::default()
    };
    if let Some(study_id) = filter.study_id {
        let study = study_or_404(state, study_id).await?;
        require(
            state,
            principal,
            Action::ReadStudy {
                organization_id: study.organization_id,
            },
        )
        .await?;
        query.study_id = Some(study_id);
    }
    if let Some(org) = filter.organization_id
        && !linked_organization_ids(state, principal)
            .await?
            .contains(&org)
    {
        return Ok(Page {
            items: Vec::new(),
            total: 0,
            request: page,
        });
    }
    let access = scope(state, principal).await;
    let found = state
        .store
        .search_observations(&access, &query, page)
        .await?;
    Ok(Page {
        total: found.total,
        request: found.request,
        items: rows(state, &access, found.items).await?,
    })
}

/// One observation the calling practitioner may see, else `404`.
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<ObservationRow> {
    require_practitioner(principal)?;
    let access = scope(state, principal).await;
    let observation = state
        .store
        .get_observation(&access, id)
        .await?
        .ok_or_else(|| CoreError::NotFound("Not found.".into()))?;
    rows(state, &access, vec![observation])
        .await?
        .pop()
        .ok_or_else(|| CoreError::NotFound("Not found.".into()))
}
