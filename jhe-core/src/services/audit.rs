//! Recording the audit trail from the use cases, and reading it back
//! (`GET [base]/AuditEvent`).
//!
//! The use-case functions record their events here, where they hold the caller and the access
//! scope, so REST, FHIR and any later front end calling them are audited alike. Reading: a
//! patient reads the events about their own data; a superuser reads all; anyone else is refused.

use std::collections::BTreeMap;

use crate::audit::{AuditAgent, AuditEvent, AuditKind};
use crate::domain::Id;
use crate::fhir::{FhirError, FhirResult};
use crate::policy::Principal;
use crate::server::AppState;
use crate::services::guard::scope;
use crate::store::{AuditQuery, StoredAuditEvent};

/// Records one event (never fails; the sink logs its own errors).
pub fn record(state: &AppState, event: AuditEvent) {
    state.audit.record(event);
}

/// Records a read or search of `resource_type` by `principal` that returned rows of
/// `patients`: one event per distinct patient (IHE BALP), in order of first appearance, or one
/// without a patient when nothing was returned.
pub fn record_access(
    state: &AppState,
    principal: &Principal,
    kind: AuditKind,
    resource_type: &str,
    query: Option<&str>,
    patients: impl IntoIterator<Item = Id>,
) {
    let mut counts: BTreeMap<Id, (usize, u64)> = BTreeMap::new();
    for (order, patient) in patients.into_iter().enumerate() {
        counts.entry(patient).or_insert((order, 0)).1 += 1;
    }
    let mut ordered: Vec<(Id, usize)> = counts.iter().map(|(p, (o, _))| (*p, *o)).collect();
    ordered.sort_by_key(|(_, o)| *o);
    let base = || {
        let event = AuditEvent::by(principal, kind).detail(resource_type.to_string());
        match query {
            Some(q) => event.query(q.to_string()),
            None => event,
        }
    };
    if ordered.is_empty() {
        record(state, base());
        return;
    }
    let events = ordered
        .into_iter()
        .map(|(patient, _)| base().patient(patient))
        .collect();
    state.audit.record_batch(events);
}

/// Records a failed use case of `kind` by `principal` (refused, not found, invalid).
pub fn record_failure(
    state: &AppState,
    principal: &Principal,
    kind: AuditKind,
    what: &str,
    why: &str,
) {
    record(
        state,
        AuditEvent::by(principal, kind)
            .detail(what.to_string())
            .failed(why.to_string()),
    );
}

/// A page of audit events.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The events, in the order asked for (oldest first by default).
    pub items: Vec<StoredAuditEvent>,
    /// Matches in all.
    pub total: u64,
    /// Whether more follow (`_cursor` = the last id).
    pub has_next: bool,
}

/// Default and largest page size of an AuditEvent search.
const DEFAULT_COUNT: u64 = 100;
const MAX_COUNT: u64 = 1000;

/// `GET [base]/AuditEvent`: `patient` (a patient must name themself or leave it out), `agent`
/// (a user id; superusers only), `code` (an event kind, e.g. `read`, `consent-change`),
/// `_sort` (`date`, the default, oldest first; `-date` newest first; `_lastUpdated` and `_id`
/// order the same way), `_count` (≤ 1000) and `_cursor` (the last id of the previous page, in
/// the same order).
///
/// # Errors
/// `403` for callers who are neither a superuser nor a patient reading their own events
/// (a patient-compartment token of a superuser reads as that patient), `400` for malformed or
/// unsupported parameters, storage failures.
pub async fn search(
    state: &AppState,
    principal: &Principal,
    params: &[(String, String)],
) -> FhirResult<AuditPage> {
    let mut query = AuditQuery {
        limit: DEFAULT_COUNT,
        ..AuditQuery::default()
    };
    let id_of = |value: &str, prefix: &str| -> FhirResult<Id> {
        let v = value.trim();
        let bare = v.rsplit_once(&format!("{prefix}/")).map_or(v, |(_, id)| id);
        bare.parse()
            .map_err(|_| FhirError::bad_request(format!("Invalid {prefix} reference \"{value}\".")))
    };
    for (name, value) in params {
        match name.as_str() {
            "patient" | "entity:Patient" => query.patient_id = Some(id_of(value, "Patient")?),
            "agent" => query.agent_user_id = Some(id_of(value, "User")?),
            "code" => {
                let code = value.rsplit_once('|').map_or(value.as_str(), |(_, c)| c);
                query.kind = Some(code.trim().to_string());
            }
            "_count" => {
                query.limit = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| FhirError::bad_request("_count must be a number."))?
                    .min(MAX_COUNT);
            }
            "_cursor" => query.after_id = Some(id_of(value, "AuditEvent")?),
            "_sort" => {
                query.newest_first = match value.trim() {
                    "date" | "_lastUpdated" | "_id" => false,
                    "-date" | "-_lastUpdated" | "-_id" => true,
                    other => {
                        return Err(FhirError::bad_request(format!(
                            "Unsupported _sort for AuditEvent: \"{other}\" (date, -date)."
                        )));
                    }
                };
            }
            n if n.starts_with('_') => {}
            other => {
                return Err(FhirError::bad_request(format!(
                    "Unsupported search parameter for AuditEvent: {other}."
                )));
            }
        }
    }
    let superuser = principal.is_superuser() && !principal.scopes.is_patient_compartment_only();
    if !superuser {
        let access = scope(state, principal).await;
        let Some(own) = access.own_patient() else {
            return Err(FhirError::forbidden(
                "Only a patient (about their own data) or a superuser may read audit events.",
            ));
        };
        if query.patient_id.is_some_and(|p| p != own) || query.agent_user_id.is_some() {
            return Ok(AuditPage {
                items: Vec::new(),
                total: 0,
                has_next: false,
            });
        }
        query.patient_id = Some(own);
    }
    let total = state.store.count_audit_events(&query).await?;
    if query.limit == 0 {
        return Ok(AuditPage {
            items: Vec::new(),
            total,
            has_next: total > 0,
        });
    }
    let wanted = query.limit;
    query.limit = wanted.saturating_add(1);
    let mut items = state.store.list_audit_events(&query).await?;
    let has_next = items.len() as u64 > wanted;
    items.truncate(usize::try_from(wanted).unwrap_or(usize::MAX));
    Ok(AuditPage {
        items,
        total,
        has_next,
    })
}

/// Who holds `token` (an access or refresh token), for the audit trail; an empty agent when
/// the token is unknown.
pub async fn token_holder(state: &AppState, token: &str) -> AuditAgent {
    if token.is_empty() || token.len() > 512 {
        return AuditAgent::default();
    }
    let hash = crate::services::oauth::tokens::hash(token);
    let (user_id, client_id) = match state.store.get_access_token(&hash).await {
        Ok(Some(access)) => (access.user_id, access.application_id),
        _ => match state.store.get_refresh_token(&hash).await {
            Ok(Some(refresh)) => (Some(refresh.user_id), Some(refresh.application_id)),
            _ => (None, None),
        },
    };
    let user = match user_id {
        Some(id) => state.store.get_user(id).await.ok().flatten(),
        None => None,
    };
    AuditAgent {
        user_id,
        display: user.as_ref().map(|u| u.email.clone()),
        reference: None,
        client_id,
        superuser: user.is_some_and(|u| u.is_superuser),
    }
}

/// Records tokens issued at the token endpoint (`access_token` just issued) or their refusal.
pub async fn record_token_issue(state: &AppState, grant: &str, result: Result<&str, String>) {
    let event = match result {
        Ok(access_token) => AuditEvent::by_agent(
            token_holder(state, access_token).await,
            AuditKind::TokenIssued,
        ),
        Err(why) => AuditEvent::by_agent(AuditAgent::default(), AuditKind::TokenIssued).failed(why),
    };
    record(state, event.detail(format!("grant_type={grant}")));
}
