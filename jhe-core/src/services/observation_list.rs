//! The portal's observation list (`/api/v1/observations`, rest-api.md §6): the shared
//! [`observation_search`] with each row's patient and data type, newest first.
//!
//! Closes the original's gaps: only consented data types show (with a study filter: consented in
//! that study), and a study filter needs the right to read the study.

use std::collections::BTreeMap;

use crate::domain::{CodeableConcept, Id, KeysetCursor, Observation, Page, PageRequest, Patient};
use crate::error::{CoreError, CoreResult};
use crate::policy::Principal;
use crate::server::AppState;
use crate::services::guard::scope;
use crate::services::observation_search::{self, SearchPaging};
use crate::services::studies::NO_PRACTITIONER;
use crate::store::{AccessScope, ObservationQuery};

/// Filters of the list; all given ones must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ObservationFilter {
    /// Keyset position: only rows after this one in the list order (the page's offset is then
    /// ignored, so the cost of a page does not grow with its number).
    pub after: Option<KeysetCursor>,
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

/// The rows of `observations` with their patients and data types: two queries whatever the page
/// size (patients visible through `filter`, concepts), no query per row.
async fn rows(
    state: &AppState,
    filter: &AccessScope,
    observations: Vec<Observation>,
) -> CoreResult<Vec<ObservationRow>> {
    let mut patient_ids: Vec<Id> = observations.iter().map(|o| o.subject_patient_id).collect();
    patient_ids.sort_unstable();
    patient_ids.dedup();
    let mut concept_ids: Vec<Id> = observations.iter().map(|o| o.codeable_concept_id).collect();
    concept_ids.sort_unstable();
    concept_ids.dedup();
    let patients: BTreeMap<Id, Patient> = state
        .store
        .get_patients(filter, &patient_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let concepts: BTreeMap<Id, CodeableConcept> = state
        .store
        .get_concepts(&concept_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok(observations
        .into_iter()
        .filter_map(|observation| {
            let patient = patients.get(&observation.subject_patient_id)?.clone();
            let concept = concepts.get(&observation.codeable_concept_id)?.clone();
            Some(ObservationRow {
                observation,
                patient,
                concept,
            })
        })
        .collect())
}

/// A page of the list with the keyset position of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRows {
    /// The rows and the total count.
    pub page: Page<ObservationRow>,
    /// Whether more rows follow.
    pub has_next: bool,
    /// Where the next page starts, when more rows follow.
    pub next_cursor: Option<KeysetCursor>,
}

/// The observations the calling practitioner may see ([`observation_search::search`]), newest
/// `lastUpdated` first, with their patients and data types. Callers without a practitioner
/// profile get `404`.
///
/// # Errors
/// `404` for non-practitioners, and those of [`observation_search::search`].
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: ObservationFilter,
    page: PageRequest,
) -> CoreResult<ObservationRows> {
    require_practitioner(principal)?;
    let criteria = ObservationQuery {
        id: filter.observation_id,
        patient_id: filter.patient_id,
        organization_id: filter.organization_id,
        study_id: filter.study_id,
        ..Default::default()
    };
    let paging = SearchPaging {
        count: page.size,
        page: page.page,
        after: filter.after,
    };
    let found = observation_search::search(state, principal, criteria, paging).await?;
    let access = scope(state, principal).await;
    Ok(ObservationRows {
        page: Page {
            total: found.page.total,
            request: found.page.request,
            items: rows(state, &access, found.page.items).await?,
        },
        has_next: found.has_next,
        next_cursor: found.next_cursor,
    })
}

/// One observation the calling practitioner may see, else `404`.
///
/// # Errors
/// `404`, and store failures.
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<ObservationRow> {
    require_practitioner(principal)?;
    let observation = observation_search::read(state, principal, id)
        .await?
        .ok_or_else(|| CoreError::NotFound("Not found.".into()))?;
    rows(state, &scope(state, principal).await, vec![observation])
        .await?
        .pop()
        .ok_or_else(|| CoreError::NotFound("Not found.".into()))
}
