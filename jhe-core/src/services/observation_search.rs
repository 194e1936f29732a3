//! Reading observations: the one search and the one read by id that every surface uses (the
//! Admin API's `/api/v1/observations`, FHIR `Observation` search and read, and later the portal,
//! MCP and exports).
//!
//! Both run under the caller's sealed [`AccessScope`]: a practitioner
//! sees an observation of patient X only if X shares an organisation with them and X consented
//! (`consented = true`, now) to its data type in a study of one of the practitioner's
//! organisations (with a study filter: in that study); a patient sees all of their own data;
//! superusers read only as members of their organisations. The store applies all of it in SQL.

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::{Id, KeysetCursor, Observation, Page, PageRequest};
use crate::error::{CoreError, CoreResult};
use crate::policy::AccessScope;
use crate::policy::Principal;
use crate::server::AppState;
use crate::services::audit;
use crate::services::guard::scope;
use crate::services::patients::linked_organization_ids;
use crate::store::{ObservationQuery, ObservationSummary};

/// `400` detail of a keyset cursor with an order it cannot page.
pub const CURSOR_NEEDS_LAST_UPDATED_ORDER: &str =
    "A cursor pages only the last-updated orders: use page numbers with a date order.";

/// `400` detail of a patient filter outside the study filter.
pub const PATIENT_NOT_IN_STUDY: &str = "The requested Patient is not part of the specified Study.";

/// Which page of a search to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchPaging {
    /// Rows per page; `0` asks for the total only.
    pub count: u64,
    /// 1-based page number (ignored for the rows when `after` is set).
    pub page: u64,
    /// Keyset position from a previous page's `next_cursor`: the cost of a page does not grow
    /// with its number.
    pub after: Option<KeysetCursor>,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationPage {
    /// The rows (in the criteria's order; by default newest `last_updated` first, ties by id
    /// descending) with the total count (`0` when the criteria skip the count).
    pub page: Page<Observation>,
    /// Whether more rows follow.
    pub has_next: bool,
    /// The keyset position after this page's last row, when more rows follow.
    pub next_cursor: Option<KeysetCursor>,
}

impl ObservationPage {
    fn empty(paging: SearchPaging) -> ObservationPage {
        ObservationPage {
            page: Page {
                items: Vec::new(),
                total: 0,
                request: PageRequest::new(paging.page, paging.count),
            },
            has_next: false,
            next_cursor: None,
        }
    }
}

/// Observations visible to the caller that match `criteria` (its `after` is taken from
/// `paging`), in `criteria.order`.
///
/// With `criteria.skip_total` the matches are not counted (`page.total` is `0`); whether a next
/// page exists is then found by reading one row past the page. A count-only request
/// (`paging.count == 0`) always counts. A keyset cursor with an order that does not support it
/// ([`crate::store::ObservationOrder::supports_cursor`]) is refused (`400`); next cursors are only given for
/// such orders.
///
/// A study filter needs the study to exist (`404`) and the caller to be allowed to read it
/// (`403`, [`studies::readable`](crate::services::studies::readable)); with a patient filter too, the patient must be enrolled in it
/// (`400` [`PATIENT_NOT_IN_STUDY`]). An organisation filter on an organisation the practitioner
/// is not linked to matches nothing.
///
/// # Errors
/// The above, and store failures.
pub async fn search(
    state: &AppState,
    principal: &Principal,
    criteria: ObservationQuery,
    paging: SearchPaging,
) -> CoreResult<ObservationPage> {
    let query = describe(&criteria);
    let result = search_unaudited(state, principal, criteria, paging).await;
    match &result {
        Ok(found) => audit::record_access(
            state,
            principal,
            AuditKind::Search,
            "Observation",
            Some(&query),
            found.page.items.iter().map(|o| o.subject_patient_id),
        ),
        Err(e) => audit::record(
            state,
            AuditEvent::by(principal, AuditKind::Search)
                .detail("Observation")
                .query(query)
                .failed(e.to_string()),
        ),
    }
    result
}

/// The criteria of a search as a query string, for the audit trail.
fn describe(c: &ObservationQuery) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            parts.push(format!("{name}={v}"));
        }
    };
    add("_id", c.id.map(|v| v.to_string()));
    add("patient", c.patient_id.map(|v| v.to_string()));
    add("patient.identifier", c.patient_identifier.clone());
    add("organization", c.organization_id.map(|v| v.to_string()));
    add("study", c.study_id.map(|v| v.to_string()));
    add(
        "code",
        c.codeable_concept_ids.as_ref().map(|ids| {
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }),
    );
    add(
        "date",
        c.effective_from.map(|t| format!("ge{}", t.to_rfc3339())),
    );
    add(
        "date",
        c.effective_before.map(|t| format!("lt{}", t.to_rfc3339())),
    );
    add(
        "_lastUpdated",
        c.updated_from.map(|t| format!("ge{}", t.to_rfc3339())),
    );
    add(
        "_lastUpdated",
        c.updated_before.map(|t| format!("lt{}", t.to_rfc3339())),
    );
    parts.join("&")
}

/// The checks every observation read with filters makes before the store is asked: a study
/// filter needs the study to exist (`404`) and be readable by the caller (`403`); with a patient
/// filter too, the patient must be enrolled in it (`400` [`PATIENT_NOT_IN_STUDY`]). `Ok(false)`
/// when the criteria can match nothing for this caller (an organisation filter on an
/// organisation the practitioner is not linked to).
async fn check_filters(
    state: &AppState,
    principal: &Principal,
    access: &AccessScope,
    criteria: &ObservationQuery,
) -> CoreResult<bool> {
    if let Some(study_id) = criteria.study_id {
        crate::services::studies::readable(state, principal, study_id).await?;
        if let Some(patient_id) = criteria.patient_id {
            let enrolled = state
                .store
                .list_patient_studies(access, patient_id)
                .await?
                .iter()
                .any(|e| e.study_id == study_id);
            if !enrolled {
                return Err(CoreError::BadRequest(PATIENT_NOT_IN_STUDY.into()));
            }
        }
    }
    if let Some(org) = criteria.organization_id
        && principal.practitioner.is_some()
        && !linked_organization_ids(state, principal)
            .await?
            .contains(&org)
    {
        return Ok(false);
    }
    Ok(true)
}

/// Per data type, how many observations visible to the caller match `criteria` and their
/// earliest and latest effective time (same rules and filter checks as [`search`]; computed in
/// SQL by [`ObservationStore::summarize_observations`](crate::store::ObservationStore::summarize_observations)).
///
/// # Errors
/// As [`search`].
pub async fn summarize(
    state: &AppState,
    principal: &Principal,
    criteria: ObservationQuery,
) -> CoreResult<Vec<ObservationSummary>> {
    let query = describe(&criteria);
    let result = async {
        let access = scope(state, principal).await;
        if !check_filters(state, principal, &access, &criteria).await? {
            return Ok(Vec::new());
        }
        Ok(state
            .store
            .summarize_observations(&access, &criteria)
            .await?)
    }
    .await;
    audit_aggregate(state, principal, &query, criteria.patient_id, &result);
    result
}

/// Per patient, how many observations visible to the caller match `criteria` (same rules and
/// filter checks as [`search`]; one `GROUP BY` query); patients without a match are absent.
///
/// # Errors
/// As [`search`].
pub async fn count_by_patient(
    state: &AppState,
    principal: &Principal,
    criteria: ObservationQuery,
) -> CoreResult<Vec<(Id, u64)>> {
    let query = describe(&criteria);
    let result = async {
        let access = scope(state, principal).await;
        if !check_filters(state, principal, &access, &criteria).await? {
            return Ok(Vec::new());
        }
        Ok(state
            .store
            .count_observations_by_patient(&access, &criteria)
            .await?)
    }
    .await;
    match &result {
        Ok(counts) => audit::record_access(
            state,
            principal,
            AuditKind::Search,
            "Observation",
            Some(&query),
            counts.iter().map(|(patient, _)| *patient),
        ),
        Err(e) => audit_failure(state, principal, &query, e),
    }
    result
}

fn audit_aggregate<T>(
    state: &AppState,
    principal: &Principal,
    query: &str,
    patient: Option<Id>,
    result: &CoreResult<T>,
) {
    match result {
        Ok(_) => audit::record_access(
            state,
            principal,
            AuditKind::Search,
            "Observation",
            Some(query),
            patient,
        ),
        Err(e) => audit_failure(state, principal, query, e),
    }
}

fn audit_failure(state: &AppState, principal: &Principal, query: &str, error: &CoreError) {
    audit::record(
        state,
        AuditEvent::by(principal, AuditKind::Search)
            .detail("Observation")
            .query(query)
            .failed(error.to_string()),
    );
}

async fn search_unaudited(
    state: &AppState,
    principal: &Principal,
    mut criteria: ObservationQuery,
    paging: SearchPaging,
) -> CoreResult<ObservationPage> {
    if paging.after.is_some() && !criteria.order.supports_cursor() {
        return Err(CoreError::BadRequest(
            CURSOR_NEEDS_LAST_UPDATED_ORDER.into(),
        ));
    }
    let access = scope(state, principal).await;
    if !check_filters(state, principal, &access, &criteria).await? {
        return Ok(ObservationPage::empty(paging));
    }
    let store = state.store.as_ref();
    if paging.count == 0 {
        criteria.skip_total = false;
        let page = store
            .search_observations(&access, &criteria, PageRequest::new(1, 1))
            .await?;
        return Ok(ObservationPage {
            page: Page {
                items: Vec::new(),
                total: page.total,
                request: PageRequest::new(1, 1),
            },
            has_next: false,
            next_cursor: None,
        });
    }
    let (page, has_next) = match paging.after {
        Some(cursor) => {
            // One row more than asked tells whether another page follows. The total counted
            // for the first page travels in the cursor: a later page reads only its rows.
            criteria.after = Some(cursor);
            let carried = cursor.total.filter(|_| !criteria.skip_total);
            if carried.is_some() {
                criteria.skip_total = true;
            }
            let size = usize::try_from(paging.count).unwrap_or(usize::MAX);
            let mut page = store
                .search_observations(
                    &access,
                    &criteria,
                    PageRequest::new(1, paging.count.saturating_add(1)),
                )
                .await?;
            let has_next = page.items.len() > size;
            page.items.truncate(size);
            if let Some(total) = carried {
                criteria.skip_total = false;
                page.total = total;
            }
            page.request = PageRequest::new(paging.page, paging.count);
            (page, has_next)
        }
        None => {
            criteria.after = None;
            let request = PageRequest::new(paging.page, paging.count);
            // Without a count, one row past the page tells whether another follows (same
            // query: LIMIT size + 1).
            criteria.peek_next = criteria.skip_total;
            let mut page = store
                .search_observations(&access, &criteria, request)
                .await?;
            let has_next = if criteria.peek_next {
                let size = usize::try_from(request.size).unwrap_or(usize::MAX);
                let more = page.items.len() > size;
                page.items.truncate(size);
                more
            } else {
                page.has_next()
            };
            criteria.peek_next = false;
            (page, has_next)
        }
    };
    let next_cursor = page
        .items
        .last()
        .filter(|_| has_next && criteria.order.supports_cursor())
        .map(|o| KeysetCursor {
            last_updated: o.last_updated,
            id: o.id,
            total: (!criteria.skip_total).then_some(page.total),
        });
    Ok(ObservationPage {
        page,
        has_next,
        next_cursor,
    })
}

/// One observation visible to the caller (same rule as [`search`]); `None` for both "not
/// visible" and "not there".
///
/// # Errors
/// Store failures.
pub async fn read(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<Option<Observation>> {
    let found = state
        .store
        .get_observation(&scope(state, principal).await, id)
        .await;
    let event = AuditEvent::by(principal, AuditKind::Read).entity(format!("Observation/{id}"));
    audit::record(
        state,
        match &found {
            Ok(Some(o)) => event.patient(o.subject_patient_id),
            Ok(None) => event.failed("not found"),
            Err(e) => event.failed(e.to_string()),
        },
    );
    Ok(found?)
}
