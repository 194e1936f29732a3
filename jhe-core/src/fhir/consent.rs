//! The FHIR R5 `Consent` representation of one scope consent decision
//! ([`ConsentView`]).
//!
//! One decision is one Consent: `subject` and `grantor` the patient, `grantee` the study's
//! organisation, the study in the core `workflow-researchStudy` extension, `decision`
//! `permit`/`deny`, and the data type in `provision.code` (access to Observations).

use chrono::SecondsFormat;
use serde::Serialize;

use crate::services::fhir_consents::ConsentView;

/// The core extension naming the research study a resource belongs to.
pub const RESEARCH_STUDY_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy";

/// `{"reference": …}` with an optional display.
#[derive(Debug, Clone, Serialize)]
pub struct RefOut {
    /// `Type/id`.
    pub reference: String,
    /// Human label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A Coding.
#[derive(Debug, Clone, Serialize)]
pub struct CodingOut {
    /// Code system.
    pub system: String,
    /// Code.
    pub code: String,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A CodeableConcept.
#[derive(Debug, Clone, Serialize)]
pub struct ConceptOut {
    /// Codings.
    pub coding: Vec<CodingOut>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An extension with a Reference value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceExtensionOut {
    /// Extension URL.
    pub url: &'static str,
    /// The value.
    pub value_reference: RefOut,
}

/// `meta` with `lastUpdated`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentMetaOut {
    /// Last change (the decision time).
    pub last_updated: String,
}

/// `Consent.provision`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionOut {
    /// `access`.
    pub action: Vec<ConceptOut>,
    /// `Observation`.
    pub resource_type: Vec<CodingOut>,
    /// The data type decided on.
    pub code: Vec<ConceptOut>,
}

/// A FHIR R5 Consent resource.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentOut {
    /// `Consent`.
    pub resource_type: &'static str,
    /// The decision's id.
    pub id: String,
    /// Last change.
    pub meta: ConsentMetaOut,
    /// The research study.
    pub extension: Vec<ReferenceExtensionOut>,
    /// `active`.
    pub status: &'static str,
    /// Patient consent (LOINC 59284-0).
    pub category: Vec<ConceptOut>,
    /// The patient.
    pub subject: RefOut,
    /// Date of the decision.
    pub date: String,
    /// The patient, who decided.
    pub grantor: Vec<RefOut>,
    /// The study's organisation.
    pub grantee: Vec<RefOut>,
    /// `permit` or `deny`.
    pub decision: &'static str,
    /// What is permitted or denied.
    pub provision: Vec<ProvisionOut>,
}

impl ConsentOut {
    /// The Consent of one decision.
    pub fn new(view: &ConsentView) -> Self {
        let patient = format!("Patient/{}", view.enrolment.patient_id);
        ConsentOut {
            resource_type: "Consent",
            id: view.consent.id.to_string(),
            meta: ConsentMetaOut {
                last_updated: view
                    .consent
                    .consented_time
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            },
            extension: vec![ReferenceExtensionOut {
                url: RESEARCH_STUDY_EXTENSION,
                value_reference: RefOut {
                    reference: format!("ResearchStudy/{}", view.study.id),
                    display: Some(view.study.name.clone()).filter(|n| !n.trim().is_empty()),
                },
            }],
            status: "active",
            category: vec![ConceptOut {
                coding: vec![CodingOut {
                    system: "http://loinc.org".into(),
                    code: "59284-0".into(),
                    display: Some("Patient Consent".into()),
                }],
                text: None,
            }],
            subject: RefOut {
                reference: patient.clone(),
                display: None,
            },
            date: view.consent.consented_time.format("%Y-%m-%d").to_string(),
            grantor: vec![RefOut {
                reference: patient,
                display: None,
            }],
            grantee: vec![RefOut {
                reference: format!("Organization/{}", view.study.organization_id),
                display: None,
            }],
            decision: if view.consent.consented {
                "permit"
            } else {
                "deny"
            },
            provision: vec![ProvisionOut {
                action: vec![ConceptOut {
                    coding: vec![CodingOut {
                        system: "http://terminology.hl7.org/CodeSystem/consentaction".into(),
                        code: "access".into(),
                        display: Some("Access".into()),
                    }],
                    text: None,
                }],
                resource_type: vec![CodingOut {
                    system: "http://hl7.org/fhir/fhir-types".into(),
                    code: "Observation".into(),
                    display: None,
                }],
                code: vec![ConceptOut {
                    coding: vec![CodingOut {
                        system: view.code.coding_system.clone(),
                        code: view.code.coding_code.clone(),
                        display: None,
                    }],
                    text: Some(view.code.text.clone()).filter(|t| !t.trim().is_empty()),
                }],
            }],
        }
    }
}
