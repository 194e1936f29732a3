//! A patient's access history: who read or changed their data, when, and how it ended, from
//! the audit trail (the portal's "Access history" page). Reads through
//! [`audit::search`], so a patient sees exactly the events
//! `GET /fhir/r5/AuditEvent?patient=<self>` returns them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::Id;
use crate::error::{CoreError, CoreResult};
use crate::fhir::FhirError;
use crate::policy::Principal;
use crate::server::AppState;
use crate::services::audit;

/// Largest page.
pub const MAX_PAGE: u64 = 1000;

/// One event, for reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// The event's id (the cursor of the next page).
    pub id: Id,
    /// When it happened.
    pub when: Option<DateTime<Utc>>,
    /// Who acted: `You`, an e-mail address (with "(administrator)" for a superuser), or
    /// `anonymous`.
    pub who: String,
    /// Whether it was through an app (an OAuth client), not the portal or API directly.
    pub through_app: bool,
    /// What happened, in words (`Read`, `Searched`, `Consent changed`…).
    pub action: String,
    /// What it concerned (`Observation/12`, `Observation`, consent decisions…), when told.
    pub what: String,
    /// `true` when it succeeded.
    pub success: bool,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

/// A page of the history, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessHistory {
    /// The events.
    pub entries: Vec<AccessEntry>,
    /// Events about the patient in all.
    pub total: u64,
    /// The cursor of the next page, when more follow.
    pub next_after: Option<Id>,
}

fn action_label(code: &str) -> &'static str {
    match code {
        "read" => "Read",
        "search-type" => "Searched",
        "create" => "Added",
        "update" => "Changed",
        "delete" => "Deleted",
        "consent-change" => "Consent changed",
        "enrolment" => "Enrolled in a study",
        "unenrolment" => "Removed from a study",
        "invitation-link" => "Invitation link issued",
        "login" => "Logged in",
        "token-issued" => "Access granted to an app",
        "token-revoked" => "App access revoked",
        "export" => "Exported",
        _ => "Other",
    }
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    v.pointer(path).unwrap_or(&Value::Null)
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Reads one stored FHIR AuditEvent for a person.
fn entry_of(id: Id, resource: &Value, own_user_id: Id) -> AccessEntry {
    let code = at(resource, "/code/coding/0/code")
        .as_str()
        .unwrap_or_default();
    let agents = at(resource, "/agent")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let requestor = agents
        .iter()
        .find(|a| at(a, "/requestor").as_bool() == Some(true))
        .cloned()
        .unwrap_or(Value::Null);
    let user = at(&requestor, "/who/identifier/value")
        .as_str()
        .and_then(|v| v.parse::<Id>().ok());
    let who = if user == Some(own_user_id) {
        "You".to_string()
    } else {
        let name = text(at(&requestor, "/who/display")).unwrap_or_else(|| "anonymous".to_string());
        let superuser = at(&requestor, "/role").as_array().is_some_and(|r| {
            r.iter()
                .any(|x| at(x, "/text").as_str() == Some("superuser"))
        });
        if superuser {
            format!("{name} (administrator)")
        } else {
            name
        }
    };
    let success = at(resource, "/outcome/code/code").as_str() == Some("0");
    let details: Vec<String> = at(resource, "/outcome/detail")
        .as_array()
        .map(|d| d.iter().filter_map(|x| text(at(x, "/text"))).collect())
        .unwrap_or_default();
    let (failure, detail) = if success {
        (None, details.first().cloned())
    } else {
        (details.first().cloned(), details.get(1).cloned())
    };
    let entity = at(resource, "/entity").as_array().and_then(|list| {
        list.iter()
            .find(|e| at(e, "/role/coding/0/code").as_str() == Some("4"))
            .and_then(|e| text(at(e, "/what/reference")))
    });
    let what = match (entity, detail) {
        (Some(e), Some(d)) if d != e => format!("{e} ({d})"),
        (Some(e), _) => e,
        (None, Some(d)) => d,
        (None, None) => String::new(),
    };
    AccessEntry {
        id,
        when: at(resource, "/recorded")
            .as_str()
            .and_then(|r| DateTime::parse_from_rfc3339(r).ok())
            .map(|t| t.with_timezone(&Utc)),
        who,
        through_app: agents
            .iter()
            .any(|a| at(a, "/requestor").as_bool() == Some(false)),
        action: action_label(code).to_string(),
        what,
        success,
        failure,
    }
}

/// The logged-in patient's access history: events about their data after event `after` in
/// the order asked for (newest first with `newest_first`, else oldest first), at most `size`
/// (1 to [`MAX_PAGE`]).
///
/// # Errors
/// `404` for an account without a patient record; storage failures.
pub async fn own_history(
    state: &AppState,
    principal: &Principal,
    after: Option<Id>,
    size: u64,
    newest_first: bool,
) -> CoreResult<AccessHistory> {
    let Some(patient) = &principal.patient else {
        return Err(CoreError::NotFound(
            "Only patients have an access history: this account has no patient record.".into(),
        ));
    };
    let mut params = vec![
        ("patient".to_string(), patient.id.to_string()),
        ("_count".to_string(), size.clamp(1, MAX_PAGE).to_string()),
    ];
    if let Some(a) = after {
        params.push(("_cursor".to_string(), a.to_string()));
    }
    if newest_first {
        params.push(("_sort".to_string(), "-date".to_string()));
    }
    let page = audit::search(state, principal, &params)
        .await
        .map_err(|e| match e {
            FhirError::Core(c) => c,
            FhirError::Outcome(o) => CoreError::BadRequest(o.diagnostics),
        })?;
    let entries: Vec<AccessEntry> = page
        .items
        .iter()
        .map(|e| entry_of(e.id, &e.resource, principal.user.id))
        .collect();
    Ok(AccessHistory {
        next_after: if page.has_next {
            entries.last().map(|e| e.id)
        } else {
            None
        },
        entries,
        total: page.total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_read_as_sentences() {
        let resource = json!({
            "code": {"coding": [{"code": "read"}]},
            "recorded": "2025-01-02T03:04:05.000000Z",
            "agent": [
                {"who": {"display": "mary@example.com", "identifier": {"value": "7"}}, "requestor": true},
                {"who": {"identifier": {"value": "3"}}, "requestor": false}
            ],
            "entity": [{"what": {"reference": "Observation/12"}, "role": {"coding": [{"code": "4"}]}}],
            "outcome": {"code": {"code": "0"}}
        });
        let e = entry_of(1, &resource, 99);
        assert_eq!(e.who, "mary@example.com");
        assert_eq!(e.action, "Read");
        assert_eq!(e.what, "Observation/12");
        assert!(e.success && e.through_app);
        let own = entry_of(2, &resource, 7);
        assert_eq!(own.who, "You");
        let failed = json!({
            "code": {"coding": [{"code": "consent-change"}]},
            "agent": [{"who": {"display": "sam@example.com"}, "role": [{"text": "superuser"}], "requestor": true}],
            "outcome": {"code": {"code": "4"}, "detail": [{"text": "refused"}, {"text": "omh:heart-rate"}]}
        });
        let e = entry_of(3, &failed, 7);
        assert_eq!(e.who, "sam@example.com (administrator)");
        assert_eq!(e.failure.as_deref(), Some("refused"));
        assert_eq!(e.what, "omh:heart-rate");
        assert!(!e.success && !e.through_app && e.when.is_none());
    }
}
