//! The audit trail: who read or changed which patient's data, consent changes, enrolments,
//! invitation links, logins and tokens, as FHIR R5 `AuditEvent` resources (IHE BALP shape
//! where it fits).
//!
//! The services record an [`AuditEvent`] through the [`AuditSink`] of the
//! [`AppState`](crate::AppState) at the point where they hold the caller's access scope, so
//! every front end (REST, FHIR, later the portal and MCP) that calls the same service function
//! is audited the same way. Recording is infallible and must not slow the request: sinks buffer
//! and write in batches, and log their own errors instead of returning them.

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::domain::Id;
use crate::policy::{AuthMethod, Principal};

/// The code system of jhe-rs's own audit event codes (consent changes, enrolments, tokens…).
pub const JHE_AUDIT_CODE_SYSTEM: &str = "https://jupyterhealth.org/fhir/CodeSystem/audit-event";
/// The identifier system of user accounts in audit agents.
pub const USER_IDENTIFIER_SYSTEM: &str = "urn:jhe:user";
/// The identifier system of OAuth clients in audit agents.
pub const CLIENT_IDENTIFIER_SYSTEM: &str = "urn:jhe:oauth-client";

const AUDIT_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const OUTCOME: &str = "http://terminology.hl7.org/CodeSystem/audit-event-outcome";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// A read of one resource by id.
    Read,
    /// A search (or list) of resources.
    Search,
    /// A resource was created.
    Create,
    /// A resource was changed.
    Update,
    /// A resource was deleted.
    Delete,
    /// Consent decisions were recorded, changed, deleted or reset.
    ConsentChange,
    /// A patient was enrolled in a study.
    Enrolment,
    /// A patient was removed from a study.
    Unenrolment,
    /// An invitation link was created for a patient.
    InvitationLink,
    /// Someone logged in (or failed to).
    Login,
    /// Tokens were issued at the token endpoint.
    TokenIssued,
    /// A token was revoked.
    TokenRevoked,
    /// Data was exported (bulk export, study export).
    Export,
}

impl AuditKind {
    /// The short code stored with the event (and used in queries).
    pub fn code(self) -> &'static str {
        match self {
            AuditKind::Read => "read",
            AuditKind::Search => "search-type",
            AuditKind::Create => "create",
            AuditKind::Update => "update",
            AuditKind::Delete => "delete",
            AuditKind::ConsentChange => "consent-change",
            AuditKind::Enrolment => "enrolment",
            AuditKind::Unenrolment => "unenrolment",
            AuditKind::InvitationLink => "invitation-link",
            AuditKind::Login => "login",
            AuditKind::TokenIssued => "token-issued",
            AuditKind::TokenRevoked => "token-revoked",
            AuditKind::Export => "export",
        }
    }

    /// FHIR `AuditEvent.action`: `C`, `R`, `U`, `D` or `E`.
    pub fn action(self) -> &'static str {
        match self {
            AuditKind::Read | AuditKind::Search => "R",
            AuditKind::Create | AuditKind::Enrolment | AuditKind::InvitationLink => "C",
            AuditKind::Update | AuditKind::ConsentChange => "U",
            AuditKind::Delete | AuditKind::Unenrolment => "D",
            AuditKind::Login
            | AuditKind::TokenIssued
            | AuditKind::TokenRevoked
            | AuditKind::Export => "E",
        }
    }

    fn category(self) -> Value {
        match self {
            AuditKind::Login | AuditKind::TokenIssued | AuditKind::TokenRevoked => {
                coding(DCM, "110114", "User Authentication")
            }
            AuditKind::Export => coding(DCM, "110106", "Export"),
            _ => coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        }
    }

    fn code_concept(self) -> Value {
        match self {
            AuditKind::Read
            | AuditKind::Search
            | AuditKind::Create
            | AuditKind::Update
            | AuditKind::Delete => coding(RESTFUL_INTERACTION, self.code(), self.code()),
            AuditKind::Login => coding(DCM, "110122", "Login"),
            _ => coding(JHE_AUDIT_CODE_SYSTEM, self.code(), self.code()),
        }
    }
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [{"system": system, "code": code, "display": display}]})
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    /// It worked.
    Success,
    /// It was refused or failed (FHIR outcome `4`, minor failure), with why.
    Failure(String),
}

impl AuditOutcome {
    /// The FHIR `audit-event-outcome` code (`0` or `4`).
    pub fn code(&self) -> &'static str {
        match self {
            AuditOutcome::Success => "0",
            AuditOutcome::Failure(_) => "4",
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditAgent {
    /// The user account, when known.
    pub user_id: Option<Id>,
    /// The account's e-mail address, when known.
    pub display: Option<String>,
    /// `Practitioner/<id>` or `Patient/<id>` of the account's profile.
    pub reference: Option<String>,
    /// The OAuth client the request came through, when any.
    pub client_id: Option<Id>,
    /// Whether the account is a superuser.
    pub superuser: bool,
}

impl AuditAgent {
    /// The agent of an authenticated caller.
    pub fn of(principal: &Principal) -> AuditAgent {
        let reference = match (&principal.practitioner, &principal.patient) {
            (Some(p), _) => Some(format!("Practitioner/{}", p.id)),
            (None, Some(p)) => Some(format!("Patient/{}", p.id)),
            (None, None) => None,
        };
        AuditAgent {
            user_id: Some(principal.user.id),
            display: Some(principal.user.email.clone()),
            reference,
            client_id: match principal.via {
                AuthMethod::Bearer { application_id } => application_id,
                AuthMethod::Session => None,
            },
            superuser: principal.user.is_superuser,
        }
    }
}

/// One audit event, as the services record it; [`AuditEvent::to_fhir`] gives the FHIR R5
/// `AuditEvent` resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened.
    pub recorded: DateTime<Utc>,
    /// What happened.
    pub kind: AuditKind,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Who acted.
    pub agent: AuditAgent,
    /// The patient whose data it concerns.
    pub patient_id: Option<Id>,
    /// The resource it concerns (`Observation/12`, `ResearchStudy/30001`…).
    pub entity: Option<String>,
    /// A search's query string (FHIR `entity.query`, base64 in the resource).
    pub query: Option<String>,
    /// More about it (e.g. `Observation` for a search, the consent decisions made).
    pub detail: Option<String>,
}

impl AuditEvent {
    /// A successful event of `kind` by `principal`, now.
    pub fn by(principal: &Principal, kind: AuditKind) -> AuditEvent {
        AuditEvent::by_agent(AuditAgent::of(principal), kind)
    }

    /// A successful event of `kind` by `agent`, now.
    pub fn by_agent(agent: AuditAgent, kind: AuditKind) -> AuditEvent {
        AuditEvent {
            recorded: Utc::now(),
            kind,
            outcome: AuditOutcome::Success,
            agent,
            patient_id: None,
            entity: None,
            query: None,
            detail: None,
        }
    }

    /// About `patient_id`.
    pub fn patient(mut self, patient_id: Id) -> Self {
        self.patient_id = Some(patient_id);
        self
    }

    /// About the resource `reference` (`Type/id`).
    pub fn entity(mut self, reference: impl Into<String>) -> Self {
        self.entity = Some(reference.into());
        self
    }

    /// With a search query.
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    /// With a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Failed, with why.
    pub fn failed(mut self, why: impl Into<String>) -> Self {
        self.outcome = AuditOutcome::Failure(why.into());
        self
    }

    /// The FHIR R5 `AuditEvent` resource (without `id`; a store adds its own).
    pub fn to_fhir(&self) -> Value {
        let mut agent = Map::new();
        let mut who = Map::new();
        if let Some(r) = &self.agent.reference {
            who.insert("reference".into(), json!(r));
        }
        if let Some(id) = self.agent.user_id {
            who.insert(
                "identifier".into(),
                json!({"system": USER_IDENTIFIER_SYSTEM, "value": id.to_string()}),
            );
        }
        if let Some(d) = &self.agent.display {
            who.insert("display".into(), json!(d));
        }
        if who.is_empty() {
            who.insert("display".into(), json!("anonymous"));
        }
        agent.insert(
            "type".into(),
            coding(
                "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "IRCP",
                "information recipient",
            ),
        );
        if self.agent.superuser {
            agent.insert("role".into(), json!([{"text": "superuser"}]));
        }
        agent.insert("who".into(), Value::Object(who));
        agent.insert("requestor".into(), json!(true));
        let mut agents = vec![Value::Object(agent)];
        if let Some(client) = self.agent.client_id {
            agents.push(json!({
                "type": coding("http://dicom.nema.org/resources/ontology/DCM", "110150", "Application"),
                "who": {"identifier": {"system": CLIENT_IDENTIFIER_SYSTEM, "value": client.to_string()}},
                "requestor": false,
            }));
        }
        let mut entities = Vec::new();
        if let Some(what) = &self.entity {
            let mut entity = Map::new();
            entity.insert("what".into(), json!({"reference": what}));
            entity.insert("role".into(), coding(OBJECT_ROLE, "4", "Domain Resource"));
            entities.push(Value::Object(entity));
        }
        if let Some(query) = &self.query {
            entities.push(json!({
                "role": coding(OBJECT_ROLE, "24", "Query"),
                "query": base64::engine::general_purpose::STANDARD.encode(query.as_bytes()),
            }));
        }
        if let Some(patient) = self.patient_id {
            entities.push(json!({
                "what": {"reference": format!("Patient/{patient}")},
                "role": coding(OBJECT_ROLE, "1", "Patient"),
            }));
        }
        let mut outcome = Map::new();
        outcome.insert(
            "code".into(),
            json!({"system": OUTCOME, "code": self.outcome.code()}),
        );
        let mut details = Vec::new();
        if let AuditOutcome::Failure(why) = &self.outcome {
            details.push(json!({"text": why}));
        }
        if let Some(d) = &self.detail {
            details.push(json!({"text": d}));
        }
        if !details.is_empty() {
            outcome.insert("detail".into(), Value::Array(details));
        }
        let mut resource = Map::new();
        resource.insert("resourceType".into(), json!("AuditEvent"));
        resource.insert("category".into(), json!([self.kind.category()]));
        resource.insert("code".into(), self.kind.code_concept());
        resource.insert("action".into(), json!(self.kind.action()));
        resource.insert(
            "recorded".into(),
            json!(self.recorded.to_rfc3339_opts(SecondsFormat::Micros, true)),
        );
        resource.insert("outcome".into(), Value::Object(outcome));
        if let Some(patient) = self.patient_id {
            resource.insert(
                "patient".into(),
                json!({"reference": format!("Patient/{patient}")}),
            );
        }
        resource.insert("agent".into(), Value::Array(agents));
        resource.insert(
            "source".into(),
            json!({
                "observer": {"display": "jhe-rs"},
                "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")],
            }),
        );
        if !entities.is_empty() {
            resource.insert("entity".into(), Value::Array(entities));
        }
        Value::Object(resource)
    }
}

/// Where audit events go. Infallible: a sink logs its own errors and never fails the request
/// that recorded the event. `record` must return at once (buffer, write later in batches).
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records one event.
    fn record(&self, event: AuditEvent);

    /// Records several events (one per patient of a search, for example).
    fn record_batch(&self, events: Vec<AuditEvent>) {
        for event in events {
            self.record(event);
        }
    }

    /// Waits until every event recorded so far is written (or its failure logged).
    async fn flush(&self);

    /// Waits while this sink's backlog of unwritten events is above its bound, so that a server
    /// recording events faster than the sink can write them slows its requests down instead of
    /// queueing without limit in memory. The server awaits it after each request, before
    /// answering. Default: returns at once (a sink without a queue).
    async fn backpressure(&self) {}
}

/// A sink that only logs each event at `debug` level: the default of a server assembled without
/// one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAuditSink;

#[async_trait]
impl AuditSink for LogAuditSink {
    fn record(&self, event: AuditEvent) {
        tracing::debug!(
            target: "jhe::audit",
            kind = event.kind.code(),
            outcome = event.outcome.code(),
            user = ?event.agent.user_id,
            patient = ?event.patient_id,
            entity = ?event.entity,
            "audit event"
        );
    }

    async fn flush(&self) {}
}

/// Sends every event to each of several sinks.
pub struct FanoutAuditSink {
    sinks: Vec<std::sync::Arc<dyn AuditSink>>,
}

impl FanoutAuditSink {
    /// The sinks, in order.
    pub fn new(sinks: Vec<std::sync::Arc<dyn AuditSink>>) -> Self {
        FanoutAuditSink { sinks }
    }
}

#[async_trait]
impl AuditSink for FanoutAuditSink {
    fn record(&self, event: AuditEvent) {
        if let Some((last, rest)) = self.sinks.split_last() {
            for sink in rest {
                sink.record(event.clone());
            }
            last.record(event);
        }
    }

    fn record_batch(&self, events: Vec<AuditEvent>) {
        if let Some((last, rest)) = self.sinks.split_last() {
            for sink in rest {
                sink.record_batch(events.clone());
            }
            last.record_batch(events);
        }
    }

    async fn flush(&self) {
        for sink in &self.sinks {
            sink.flush().await;
        }
    }

    async fn backpressure(&self) {
        for sink in &self.sinks {
            sink.backpressure().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_shape() {
        let event = AuditEvent::by_agent(
            AuditAgent {
                user_id: Some(10002),
                display: Some("mary@example.com".into()),
                reference: Some("Practitioner/1".into()),
                client_id: Some(5),
                superuser: false,
            },
            AuditKind::Search,
        )
        .patient(40001)
        .query("patient=40001");
        let r = event.to_fhir();
        assert_eq!(r["resourceType"], "AuditEvent");
        assert_eq!(r["action"], "R");
        assert_eq!(r["code"]["coding"][0]["code"], "search-type");
        assert_eq!(r["patient"]["reference"], "Patient/40001");
        assert_eq!(r["agent"][0]["who"]["identifier"]["value"], "10002");
        assert_eq!(r["agent"][1]["who"]["identifier"]["value"], "5");
        assert_eq!(r["outcome"]["code"]["code"], "0");
        assert_eq!(r["entity"][0]["query"], "cGF0aWVudD00MDAwMQ==");
        let failed = AuditEvent::by_agent(AuditAgent::default(), AuditKind::Login).failed("bad");
        let r = failed.to_fhir();
        assert_eq!(r["outcome"]["code"]["code"], "4");
        assert_eq!(r["outcome"]["detail"][0]["text"], "bad");
        assert_eq!(r["agent"][0]["who"]["display"], "anonymous");
        assert!(r.get("entity").is_none());
    }
}
