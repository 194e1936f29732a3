//! Serde models: the parts of incoming resources the server reads (after
//! [`structure`](super::structure) validation) and the exact shapes it answers with.
//!
//! Output structs declare their fields in the order the original server emitted them, so the
//! JSON keys come out in that order.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::datetime::format_instant;
use crate::domain::{CodeableConcept, Observation, ObservationIdentifier, Patient};

// ------------------------------------------------------------------------------------------
// Input
// ------------------------------------------------------------------------------------------

/// `Identifier` as read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdentifierIn {
    /// `system`.
    pub system: Option<String>,
    /// `value`.
    pub value: Option<String>,
}

/// `Coding` as read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CodingIn {
    /// `system`.
    pub system: Option<String>,
    /// `code`.
    pub code: Option<String>,
}

/// `CodeableConcept` as read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CodeableConceptIn {
    /// `coding`.
    #[serde(default)]
    pub coding: Vec<CodingIn>,
}

/// `Reference` as read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReferenceIn {
    /// `reference`, e.g. `Patient/40001`.
    pub reference: Option<String>,
}

/// `Attachment` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentIn {
    /// `contentType`.
    pub content_type: Option<String>,
    /// `data` (base64, or JSON text as the original also accepted).
    pub data: Option<String>,
}

/// `Period` as read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeriodIn {
    /// `start`.
    pub start: Option<String>,
    /// `end`.
    pub end: Option<String>,
}

/// The elements of an uploaded Observation the server uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationIn {
    /// `identifier`.
    #[serde(default)]
    pub identifier: Vec<IdentifierIn>,
    /// `status`.
    #[serde(default)]
    pub status: String,
    /// `code`.
    #[serde(default)]
    pub code: CodeableConceptIn,
    /// `subject`.
    pub subject: Option<ReferenceIn>,
    /// `device`.
    pub device: Option<ReferenceIn>,
    /// `valueAttachment`.
    pub value_attachment: Option<AttachmentIn>,
    /// `effectiveDateTime`.
    pub effective_date_time: Option<String>,
    /// `effectiveInstant`.
    pub effective_instant: Option<String>,
    /// `effectivePeriod`.
    pub effective_period: Option<PeriodIn>,
}

/// `Bundle.entry.request` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestIn {
    /// `method`.
    #[serde(default)]
    pub method: String,
    /// `url`.
    #[serde(default)]
    pub url: String,
    /// `ifNoneExist` (conditional create).
    pub if_none_exist: Option<String>,
}

// ------------------------------------------------------------------------------------------
// Output
// ------------------------------------------------------------------------------------------

/// `meta` with `lastUpdated` only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaOut {
    /// Last change, `…+00:00`.
    pub last_updated: String,
    /// Where the record lives (Patient output only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A reference `{"reference": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceOut {
    /// `Type/id`.
    pub reference: String,
}

/// An observation identifier as searched: `{"value", "system"}` (null system kept).
#[derive(Debug, Clone, Serialize)]
pub struct IdentifierOut {
    /// Value.
    pub value: String,
    /// System (`null` when absent).
    pub system: Option<String>,
}

/// Coding in search output: `{"code", "system"}`.
#[derive(Debug, Clone, Serialize)]
pub struct CodingOut {
    /// Code.
    pub code: String,
    /// System.
    pub system: String,
}

/// Coding in the minimal create answer: `{"system", "code"}`.
#[derive(Debug, Clone, Serialize)]
pub struct CodingSystemFirst {
    /// System.
    pub system: String,
    /// Code.
    pub code: String,
}

/// `{"coding": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct CodeOut<C> {
    /// Exactly one coding.
    pub coding: Vec<C>,
}

/// `valueAttachment` in search output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentOut {
    /// Standard base64 (padded, no line breaks) of the stored bytes.
    pub data: String,
    /// Content type as stored.
    pub content_type: String,
}

/// The search representation of an Observation (fhir-api.md §3.3), also returned by read and
/// by creates of practitioners.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationOut {
    /// `Observation`.
    pub resource_type: &'static str,
    /// Id as a string.
    pub id: String,
    /// `lastUpdated`.
    pub meta: MetaOut,
    /// Identifiers, each once; omitted when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<IdentifierOut>,
    /// Status as stored.
    pub status: String,
    /// `Patient/<id>`.
    pub subject: ReferenceOut,
    /// The concept.
    pub code: CodeOut<CodingOut>,
    /// The payload.
    pub value_attachment: AttachmentOut,
}

impl ObservationOut {
    /// Builds the representation of a stored observation.
    pub fn new(observation: &Observation, concept: &CodeableConcept) -> Self {
        let mut identifiers: Vec<&ObservationIdentifier> = Vec::new();
        for identifier in &observation.identifiers {
            if !identifiers.contains(&identifier) {
                identifiers.push(identifier);
            }
        }
        ObservationOut {
            resource_type: "Observation",
            id: observation.id.to_string(),
            meta: MetaOut {
                last_updated: format_instant(observation.last_updated),
                source: None,
            },
            identifier: identifiers
                .into_iter()
                .map(|i| IdentifierOut {
                    value: i.value.clone(),
                    system: i.system.clone(),
                })
                .collect(),
            status: observation.status.clone(),
            subject: ReferenceOut {
                reference: format!("Patient/{}", observation.subject_patient_id),
            },
            code: CodeOut {
                coding: vec![CodingOut {
                    code: concept.coding_code.clone(),
                    system: concept.coding_system.clone(),
                }],
            },
            value_attachment: AttachmentOut {
                data: base64::engine::general_purpose::STANDARD
                    .encode(observation.value_attachment_data.as_bytes()),
                content_type: observation.content_type.clone(),
            },
        }
    }
}

/// The minimal answer to a patient's create (fhir-api.md §1.4).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationCreatedOut {
    /// `Observation`.
    pub resource_type: &'static str,
    /// Id.
    pub id: String,
    /// Status as stored.
    pub status: String,
    /// `lastUpdated`.
    pub meta: MetaOut,
    /// `Patient/<id>`.
    pub subject: ReferenceOut,
    /// The concept (`system` first).
    pub code: CodeOut<CodingSystemFirst>,
}

impl ObservationCreatedOut {
    /// Builds the minimal representation.
    pub fn new(observation: &Observation, concept: &CodeableConcept) -> Self {
        ObservationCreatedOut {
            resource_type: "Observation",
            id: observation.id.to_string(),
            status: observation.status.clone(),
            meta: MetaOut {
                last_updated: format_instant(observation.last_updated),
                source: None,
            },
            subject: ReferenceOut {
                reference: format!("Patient/{}", observation.subject_patient_id),
            },
            code: CodeOut {
                coding: vec![CodingSystemFirst {
                    system: concept.coding_system.clone(),
                    code: concept.coding_code.clone(),
                }],
            },
        }
    }
}

/// Where JHE-native records live (`meta.source` of Patient output, as later upstream).
pub const JHE_SOURCE: &str = "https://jupyterhealth.org/jhe";

/// `identifier` of a Patient.
#[derive(Debug, Clone, Serialize)]
pub struct PatientIdentifierOut {
    /// The external identifier.
    pub value: String,
}

/// `name` of a Patient.
#[derive(Debug, Clone, Serialize)]
pub struct HumanNameOut {
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Given names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
}

/// `telecom` of a Patient.
#[derive(Debug, Clone, Serialize)]
pub struct ContactPointOut {
    /// `phone` or `email`.
    pub system: &'static str,
    /// Number or address.
    pub value: String,
    /// `mobile` (phone) or `home` (email).
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// The Patient representation (later-upstream shape, fhir-api.md §6.3).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientOut {
    /// `Patient`.
    pub resource_type: &'static str,
    /// Id as a string.
    pub id: String,
    /// `lastUpdated` and `source`.
    pub meta: MetaOut,
    /// The external identifier, when set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<PatientIdentifierOut>,
    /// Family and given name.
    pub name: Vec<HumanNameOut>,
    /// Date of birth.
    pub birth_date: String,
    /// Phone and e-mail address.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPointOut>,
}

impl PatientOut {
    /// Builds the representation; `email` is the patient user's address.
    pub fn new(patient: &Patient, email: Option<&str>) -> Self {
        let non_empty = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        };
        let mut telecom = Vec::new();
        if let Some(phone) = patient.telecom_phone.as_deref().and_then(non_empty) {
            telecom.push(ContactPointOut {
                system: "phone",
                value: phone,
                use_: "mobile",
            });
        }
        if let Some(email) = email.and_then(non_empty) {
            telecom.push(ContactPointOut {
                system: "email",
                value: email,
                use_: "home",
            });
        }
        PatientOut {
            resource_type: "Patient",
            id: patient.id.to_string(),
            meta: MetaOut {
                last_updated: format_instant(patient.last_updated),
                source: Some(JHE_SOURCE.to_string()),
            },
            identifier: patient
                .identifier
                .as_deref()
                .and_then(non_empty)
                .map(|value| vec![PatientIdentifierOut { value }])
                .unwrap_or_default(),
            name: vec![HumanNameOut {
                family: non_empty(&patient.name_family),
                given: non_empty(&patient.name_given).into_iter().collect(),
            }],
            birth_date: patient.birth_date.format("%Y-%m-%d").to_string(),
            telecom,
        }
    }
}

/// `{"fullUrl": …, "resource": …, "search": {"mode": "match"}}` for FHIR JSON, or the
/// original's `{"resource": …}` for plain JSON: jupyterhealth-client unwraps an entry only when
/// it has exactly one key.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchEntry<R> {
    /// Absolute URL of the resource (`<base>/<type>/<id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    /// The resource.
    pub resource: R,
    /// Why the entry is in the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchModeOut>,
}

/// `Bundle.entry.search` of a searchset entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SearchModeOut {
    /// `match`.
    pub mode: &'static str,
}

/// `{"relation", "url"}`.
#[derive(Debug, Clone, Serialize)]
pub struct LinkOut {
    /// `self`, `next` or `previous`.
    pub relation: &'static str,
    /// Absolute URL.
    pub url: String,
}

/// An empty JSON object.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Empty {}

/// A `searchset` Bundle (fhir-api.md §3.3): `resourceType, type, total, entry, link, meta`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchBundle<R> {
    /// `Bundle`.
    pub resource_type: &'static str,
    /// `searchset`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Matches in all; absent with `_total=none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// This page; `None` (absent) when empty, since FHIR JSON has no empty arrays — except for
    /// plain-JSON page requests, where it is `[]` (jupyterhealth-client indexes `entry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<Vec<SearchEntry<R>>>,
    /// `self`, then `next` / `previous` when they exist.
    pub link: Vec<LinkOut>,
    /// Always `{}`.
    pub meta: Empty,
}

/// One OperationOutcome issue.
#[derive(Debug, Clone, Serialize)]
pub struct IssueOut {
    /// `error`.
    pub severity: &'static str,
    /// Issue type.
    pub code: &'static str,
    /// Message.
    pub diagnostics: String,
    /// Element paths, when known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

/// An OperationOutcome with one issue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcomeOut {
    /// `OperationOutcome`.
    pub resource_type: &'static str,
    /// The issue.
    pub issue: Vec<IssueOut>,
}

impl OperationOutcomeOut {
    /// An outcome with one `error` issue.
    pub fn error(code: &'static str, diagnostics: String, expression: Vec<String>) -> Self {
        OperationOutcomeOut {
            resource_type: "OperationOutcome",
            issue: vec![IssueOut {
                severity: "error",
                code,
                diagnostics,
                expression,
            }],
        }
    }
}

/// `Bundle.entry.response`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryResponseOut {
    /// `"201 Created"`, `"409 Conflict"`, …
    pub status: &'static str,
    /// `Observation/<id>` of a stored entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Weak ETag of a stored entry, `W/"<lastUpdated in Unix nanoseconds>"` (there is no version
    /// history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `meta.lastUpdated` of a stored entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Why the entry failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OperationOutcomeOut>,
}

/// One entry of a batch/transaction response: `fullUrl`, `resource`, then `response`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseEntryOut {
    /// Absolute URL of the created (or matched) observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    /// The created (or matched) observation, minimal representation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ObservationCreatedOut>,
    /// Status and outcome.
    pub response: EntryResponseOut,
}

/// A `batch-response` / `transaction-response` Bundle.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBundleOut {
    /// `Bundle`.
    pub resource_type: &'static str,
    /// `batch-response` or `transaction-response`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// One entry per request entry, in order (absent for an empty request Bundle).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<ResponseEntryOut>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate, Utc};

    fn t() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T15:05:53.298020Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn observation_keys_in_the_original_order() {
        let concept = CodeableConcept {
            id: 1,
            coding_system: "https://w3id.org/openmhealth".into(),
            coding_code: "omh:heart-rate:2.0".into(),
            text: "HR".into(),
        };
        let identifier = ObservationIdentifier {
            system: None,
            value: "obs-2".into(),
        };
        let o = Observation {
            id: 60011,
            subject_patient_id: 40001,
            codeable_concept_id: 1,
            data_source_id: Some(70001),
            value_attachment_data: "{\"a\": 1}".into(),
            content_type: "application/json".into(),
            status: "final".into(),
            effective_start: None,
            effective_end: None,
            last_updated: t(),
            ow_key: None,
            identifiers: vec![identifier.clone(), identifier],
        };
        let json = serde_json::to_string(&ObservationOut::new(&o, &concept)).unwrap();
        assert_eq!(
            json,
            r#"{"resourceType":"Observation","id":"60011","meta":{"lastUpdated":"2026-11-28T15:05:53.298020+00:00"},"identifier":[{"value":"obs-2","system":null}],"status":"final","subject":{"reference":"Patient/40001"},"code":{"coding":[{"code":"omh:heart-rate:2.0","system":"https://w3id.org/openmhealth"}]},"valueAttachment":{"data":"eyJhIjogMX0=","contentType":"application/json"}}"#
        );
        let json = serde_json::to_string(&ObservationCreatedOut::new(&o, &concept)).unwrap();
        assert_eq!(
            json,
            r#"{"resourceType":"Observation","id":"60011","status":"final","meta":{"lastUpdated":"2026-11-28T15:05:53.298020+00:00"},"subject":{"reference":"Patient/40001"},"code":{"coding":[{"system":"https://w3id.org/openmhealth","code":"omh:heart-rate:2.0"}]}}"#
        );
    }

    #[test]
    fn patient_shape() {
        let p = Patient {
            id: 40001,
            jhe_user_id: Some(10006),
            identifier: Some("fhir-666".into()),
            name_family: "Smith".into(),
            name_given: "Peter".into(),
            birth_date: NaiveDate::from_ymd_opt(1984, 1, 13).unwrap(),
            telecom_phone: Some("+1-555".into()),
            last_updated: t(),
        };
        let json = serde_json::to_string(&PatientOut::new(&p, Some("peter@example.com"))).unwrap();
        assert_eq!(
            json,
            r#"{"resourceType":"Patient","id":"40001","meta":{"lastUpdated":"2026-11-28T15:05:53.298020+00:00","source":"https://jupyterhealth.org/jhe"},"identifier":[{"value":"fhir-666"}],"name":[{"family":"Smith","given":["Peter"]}],"birthDate":"1984-01-13","telecom":[{"system":"phone","value":"+1-555","use":"mobile"},{"system":"email","value":"peter@example.com","use":"home"}]}"#
        );
    }
}
