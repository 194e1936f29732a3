//! The FHIR Patient use cases: `GET Patient` (search) and `GET Patient/{id}` (read), through
//! the caller's access scope, audited. The resource mapping is in [`crate::http::fhir`].

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::{Id, PageRequest, Patient};
use crate::fhir::search::{PatientSearch, TotalMode, single};
use crate::fhir::{FhirError, FhirResult};
use crate::policy::Principal;
use crate::server::AppState;
use crate::services::audit;
use crate::services::guard::scope;
use crate::services::observations::SearchPage;
use crate::store::PatientQuery;

async fn with_email(state: &AppState, patient: Patient) -> FhirResult<(Patient, Option<String>)> {
    let email = match patient.jhe_user_id {
        Some(user_id) => state.store.get_user(user_id).await?.map(|u| u.email),
        None => None,
    };
    Ok((patient, email))
}

/// `GET Patient`: the patients visible to the caller that match, by id, each with the e-mail
/// address of their account.
pub async fn search_patients(
    state: &AppState,
    principal: &Principal,
    search: &PatientSearch,
) -> FhirResult<SearchPage<(Patient, Option<String>)>> {
    let result = search_patients_unaudited(state, principal, search).await;
    match &result {
        Ok(page) => audit::record_access(
            state,
            principal,
            AuditKind::Search,
            "Patient",
            None,
            page.items.iter().map(|(p, _)| p.id),
        ),
        Err(e) => audit::record_failure(
            state,
            principal,
            AuditKind::Search,
            "Patient",
            &e.to_string(),
        ),
    }
    result
}

async fn search_patients_unaudited(
    state: &AppState,
    principal: &Principal,
    search: &PatientSearch,
) -> FhirResult<SearchPage<(Patient, Option<String>)>> {
    let filter = scope(state, principal).await;
    let paging = search.paging;
    let mut q = PatientQuery::default();
    let mut nothing = search.matches_nothing;
    match single(&search.study_ids) {
        Ok(Some(study_id)) => {
            q.study_id = Some(
                crate::services::studies::readable(state, principal, study_id)
                    .await?
                    .id,
            )
        }
        Ok(None) => {}
        Err(_) => nothing = true,
    }
    match single(&search.identifiers) {
        Ok(i) => q.identifier = i,
        Err(_) => nothing = true,
    }
    match single(&search.ids) {
        Ok(i) => q.patient_id = i,
        Err(_) => nothing = true,
    }
    match single(&search.organization_ids) {
        Ok(o) => q.organization_id = o,
        Err(_) => nothing = true,
    }
    q.name = search.names.clone();
    q.family = search.families.clone();
    q.given = search.givens.clone();
    match single(&search.emails) {
        Ok(e) => q.email = e,
        Err(_) => nothing = true,
    }
    // A birth date is a day: the day's start is compared (day precision).
    let (born_from, born_before) = search.birthdate.instant();
    q.birth_date_from = born_from.map(|t| {
        let day = t.date_naive();
        if t.time() == chrono::NaiveTime::MIN {
            day
        } else {
            day.succ_opt().unwrap_or(day)
        }
    });
    q.birth_date_before = born_before.map(|t| {
        let day = t.date_naive();
        if t.time() == chrono::NaiveTime::MIN {
            day
        } else {
            day.succ_opt().unwrap_or(day)
        }
    });
    if nothing {
        return Ok(SearchPage::empty(paging.page));
    }
    let size = paging.count.max(1);
    let page = state
        .store
        .list_patients(&filter, &q, PageRequest::new(paging.page, size))
        .await?;
    if paging.count == 0 {
        return Ok(SearchPage {
            items: Vec::new(),
            total: Some(page.total),
            page: 1,
            has_next: false,
            next_cursor: None,
        });
    }
    if paging.page > 1 && page.items.is_empty() {
        return Err(FhirError::not_found("Invalid page."));
    }
    let has_next = page.has_next();
    // The page's e-mail addresses in one query (no query per row).
    let user_ids: Vec<Id> = page.items.iter().filter_map(|p| p.jhe_user_id).collect();
    let emails: std::collections::HashMap<Id, String> = state
        .store
        .get_users(&user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let items = page
        .items
        .into_iter()
        .map(|patient| {
            let email = patient.jhe_user_id.and_then(|u| emails.get(&u).cloned());
            (patient, email)
        })
        .collect();
    Ok(SearchPage {
        items,
        total: (paging.total != TotalMode::None).then_some(page.total),
        page: paging.page,
        has_next,
        next_cursor: None,
    })
}

/// `GET Patient/{id}`.
pub async fn read_patient(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> FhirResult<(Patient, Option<String>)> {
    let not_found = || FhirError::not_found(format!("Patient/{id} is not known."));
    let id: Id = id.parse().map_err(|_| not_found())?;
    let found = crate::services::patients::read(state, principal, id).await;
    let event = AuditEvent::by(principal, AuditKind::Read).entity(format!("Patient/{id}"));
    audit::record(
        state,
        match &found {
            Ok(Some(p)) => event.patient(p.id),
            Ok(None) => event.failed("not found"),
            Err(e) => event.failed(e.to_string()),
        },
    );
    let patient = found?.ok_or_else(not_found)?;
    with_email(state, patient).await
}
