//! `/api/v1/patients` (rest-api.md §4): list, create, read, change, remove from an organisation,
//! global lookup, add to an organisation, consents and consolidated clients. The invitation link
//! lives in [`super::patients`].

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Union};

use super::ApiTags;
use super::input::{IdInput, id_of, timestamp};
use crate::domain::{CodeableConcept, Id, Organization};
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::ApiResult;
use crate::server::AppState;
use crate::services::consents::{
    self, ConsentChange, ConsentOverview, ConsentStudy, DataSourceScopes, RecordedConsent,
    ScopeConsentInput, StudyConsentInput,
};
use crate::services::patients::{self, PatientClient, PatientInput, PatientView};
use crate::store::PatientQuery;

/// An organisation nested in another object (`currentUserRole` is always `null`).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "NestedOrganization", rename_all = "camelCase")]
pub struct NestedOrganizationOut {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Type key.
    #[oai(rename = "type")]
    pub org_type: String,
    /// Parent (`0` for top-level organisations).
    pub part_of: Option<Id>,
    /// Always `null` when nested.
    pub current_user_role: Option<String>,
    /// Always `[]` when nested.
    pub children: Vec<serde_json::Value>,
}

impl From<&Organization> for NestedOrganizationOut {
    fn from(o: &Organization) -> Self {
        NestedOrganizationOut {
            id: o.id,
            name: o.name.clone(),
            org_type: o.org_type.clone(),
            part_of: o.part_of,
            current_user_role: None,
            children: Vec::new(),
        }
    }
}

/// One external identifier of a patient (jupyterhealth-client ≥ 0.3 reads `identifiers`).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "PatientIdentifier", rename_all = "camelCase")]
pub struct PatientIdentifierOut {
    /// Synthetic id (the patient's id).
    pub id: Id,
    /// Identifier system (`null`: unknown).
    pub system: Option<String>,
    /// The identifier.
    pub value: String,
}

/// A patient: both the original's `identifier` string and the later `identifiers` list.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "Patient", rename_all = "camelCase")]
pub struct PatientOut {
    /// Id.
    pub id: Id,
    /// The patient's account.
    pub jhe_user_id: Option<Id>,
    /// External identifier (`""` when none).
    pub identifier: String,
    /// The external identifier as a list (`[]` when none).
    pub identifiers: Vec<PatientIdentifierOut>,
    /// Family name.
    pub name_family: String,
    /// Given name.
    pub name_given: String,
    /// Date of birth (`YYYY-MM-DD`).
    pub birth_date: String,
    /// Phone.
    pub telecom_phone: Option<String>,
    /// The account's e-mail.
    pub telecom_email: Option<String>,
    /// The patient's organisations.
    pub organizations: Vec<NestedOrganizationOut>,
}

fn identifiers(id: Id, identifier: &str) -> Vec<PatientIdentifierOut> {
    if identifier.is_empty() {
        Vec::new()
    } else {
        vec![PatientIdentifierOut {
            id,
            system: None,
            value: identifier.to_string(),
        }]
    }
}

impl From<&PatientView> for PatientOut {
    fn from(v: &PatientView) -> Self {
        let p = &v.patient;
        let identifier = p.identifier.clone().unwrap_or_default();
        PatientOut {
            id: p.id,
            jhe_user_id: p.jhe_user_id,
            identifiers: identifiers(p.id, &identifier),
            identifier,
            name_family: p.name_family.clone(),
            name_given: p.name_given.clone(),
            birth_date: p.birth_date.format("%Y-%m-%d").to_string(),
            telecom_phone: p.telecom_phone.clone(),
            telecom_email: v.email.clone(),
            organizations: v.organizations.iter().map(Into::into).collect(),
        }
    }
}

impl From<PatientView> for PatientOut {
    fn from(v: PatientView) -> Self {
        PatientOut::from(&v)
    }
}

/// What `global_lookup` shows of a patient: enough to recognise and add them (no birth date or
/// phone).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "PatientLookup", rename_all = "camelCase")]
pub struct PatientLookupOut {
    /// Id.
    pub id: Id,
    /// The patient's account.
    pub jhe_user_id: Option<Id>,
    /// External identifier (`""` when none).
    pub identifier: String,
    /// The external identifier as a list.
    pub identifiers: Vec<PatientIdentifierOut>,
    /// Family name.
    pub name_family: String,
    /// Given name.
    pub name_given: String,
    /// The account's e-mail (the looked-up address).
    pub telecom_email: Option<String>,
    /// The patient's organisations.
    pub organizations: Vec<NestedOrganizationOut>,
}

impl From<PatientView> for PatientLookupOut {
    fn from(v: PatientView) -> Self {
        let full = PatientOut::from(&v);
        PatientLookupOut {
            id: full.id,
            jhe_user_id: full.jhe_user_id,
            identifier: full.identifier,
            identifiers: full.identifiers,
            name_family: full.name_family,
            name_given: full.name_given,
            telecom_email: full.telecom_email,
            organizations: full.organizations,
        }
    }
}

/// Fields of a patient to create or change (camelCase or snake_case).
#[derive(Debug, Clone, Default, Object)]
#[oai(rename = "PatientInput", rename_all = "camelCase")]
pub struct PatientIn {
    /// The organisation to create the patient in (create only).
    pub organization_id: Option<IdInput>,
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name (required on create and PUT).
    pub name_family: Option<String>,
    /// Given name (required on create and PUT).
    pub name_given: Option<String>,
    /// Date of birth `YYYY-MM-DD` (required on create and PUT).
    pub birth_date: Option<String>,
    /// Phone.
    pub telecom_phone: Option<String>,
    /// E-mail of the patient's account (required on create: an existing account is reused;
    /// ignored on update).
    pub telecom_email: Option<String>,
}

impl From<PatientIn> for PatientInput {
    fn from(b: PatientIn) -> Self {
        PatientInput {
            identifier: b.identifier,
            name_family: b.name_family,
            name_given: b.name_given,
            birth_date: b.birth_date,
            telecom_phone: b.telecom_phone,
            telecom_email: b.telecom_email,
        }
    }
}

/// `{"success": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "Success")]
pub struct SuccessOut {
    /// Always `true`.
    pub success: bool,
}

/// A data type ("scope"), the `CodeableConcept` shape.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ScopeCode", rename_all = "camelCase")]
pub struct ScopeCodeOut {
    /// Id.
    pub id: Id,
    /// Coding system.
    pub coding_system: String,
    /// Code.
    pub coding_code: String,
    /// Label.
    pub text: String,
}

impl From<CodeableConcept> for ScopeCodeOut {
    fn from(c: CodeableConcept) -> Self {
        ScopeCodeOut {
            id: c.id,
            coding_system: c.coding_system,
            coding_code: c.coding_code,
            text: c.text,
        }
    }
}

/// The organisation of a study, short form.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyOrganization", rename_all = "camelCase")]
pub struct StudyOrganizationOut {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Type key.
    #[oai(rename = "type")]
    pub org_type: String,
}

impl From<&Organization> for StudyOrganizationOut {
    fn from(o: &Organization) -> Self {
        StudyOrganizationOut {
            id: o.id,
            name: o.name.clone(),
            org_type: o.org_type.clone(),
        }
    }
}

/// A data source of a study with its supported scopes.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ConsentDataSource", rename_all = "camelCase")]
pub struct ConsentDataSourceOut {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: Option<String>,
    /// Type key.
    #[oai(rename = "type")]
    pub source_type: String,
    /// Supported scopes, ordered by text.
    pub supported_scopes: Vec<ScopeCodeOut>,
}

impl From<DataSourceScopes> for ConsentDataSourceOut {
    fn from(d: DataSourceScopes) -> Self {
        ConsentDataSourceOut {
            id: d.data_source.id,
            name: d.data_source.name,
            source_type: d.data_source.source_type,
            supported_scopes: d.supported_scopes.into_iter().map(Into::into).collect(),
        }
    }
}

/// A scope with the patient's decision (`null` while pending).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ScopeConsent", rename_all = "camelCase")]
pub struct ScopeConsentOut {
    /// The scope.
    pub code: ScopeCodeOut,
    /// Granted, refused, or `null` (pending).
    pub consented: Option<bool>,
    /// When decided.
    pub consented_time: Option<String>,
}

/// An enrolled study with scopes still waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyPendingConsent", rename_all = "camelCase")]
pub struct StudyPendingConsentOut {
    /// Study id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Icon.
    pub icon_url: Option<String>,
    /// The study's organisation.
    pub organization: StudyOrganizationOut,
    /// The study's data sources.
    pub data_sources: Vec<ConsentDataSourceOut>,
    /// Scopes without decision.
    pub pending_scope_consents: Vec<ScopeConsentOut>,
}

/// An enrolled study with the patient's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyConsent", rename_all = "camelCase")]
pub struct StudyConsentOut {
    /// Study id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Icon.
    pub icon_url: Option<String>,
    /// The study's organisation.
    pub organization: StudyOrganizationOut,
    /// The study's data sources.
    pub data_sources: Vec<ConsentDataSourceOut>,
    /// Decided scopes.
    pub scope_consents: Vec<ScopeConsentOut>,
}

fn scope_consents(s: &ConsentStudy) -> Vec<ScopeConsentOut> {
    s.scopes
        .iter()
        .map(|d| ScopeConsentOut {
            code: d.code.clone().into(),
            consented: d.consented,
            consented_time: d.consented_time.as_ref().map(timestamp),
        })
        .collect()
}

/// The consent overview of a patient.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "PatientConsents", rename_all = "camelCase")]
pub struct PatientConsentsOut {
    /// The patient.
    pub patient: PatientOut,
    /// Scopes consented in any study.
    pub consolidated_consented_scopes: Vec<ScopeCodeOut>,
    /// Studies with pending scopes.
    pub studies_pending_consent: Vec<StudyPendingConsentOut>,
    /// Studies with decisions.
    pub studies: Vec<StudyConsentOut>,
}

impl From<ConsentOverview> for PatientConsentsOut {
    fn from(o: ConsentOverview) -> Self {
        PatientConsentsOut {
            patient: PatientOut::from(&o.patient),
            consolidated_consented_scopes: o
                .consolidated_consented_scopes
                .into_iter()
                .map(Into::into)
                .collect(),
            studies_pending_consent: o
                .studies_pending_consent
                .iter()
                .map(|s| StudyPendingConsentOut {
                    id: s.study.id,
                    name: s.study.name.clone(),
                    description: s.study.description.clone(),
                    icon_url: s.study.icon_url.clone(),
                    organization: (&s.organization).into(),
                    data_sources: s.data_sources.iter().cloned().map(Into::into).collect(),
                    pending_scope_consents: scope_consents(s),
                })
                .collect(),
            studies: o
                .studies
                .iter()
                .map(|s| StudyConsentOut {
                    id: s.study.id,
                    name: s.study.name.clone(),
                    description: s.study.description.clone(),
                    icon_url: s.study.icon_url.clone(),
                    organization: (&s.organization).into(),
                    data_sources: s.data_sources.iter().cloned().map(Into::into).collect(),
                    scope_consents: scope_consents(s),
                })
                .collect(),
        }
    }
}

/// `{"resetCount": n}`: how many decisions `?reset=true` deleted.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ConsentsReset", rename_all = "camelCase")]
pub struct ConsentsResetOut {
    /// Deleted decisions.
    pub reset_count: u64,
}

/// The consent overview, or the result of a reset.
#[derive(Debug, Clone, PartialEq, Union)]
#[oai(rename = "PatientConsentsResponse")]
pub enum PatientConsentsResponse {
    /// Overview.
    Overview(PatientConsentsOut),
    /// Reset.
    Reset(ConsentsResetOut),
}

/// One scope decision to record, change or delete.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ScopeConsentInput", rename_all = "camelCase")]
pub struct ScopeConsentIn {
    /// Coding system, e.g. `https://w3id.org/openmhealth`.
    pub coding_system: Option<String>,
    /// Code, e.g. `omh:blood-pressure:4.0`.
    pub coding_code: Option<String>,
    /// The decision (required to record or change).
    pub consented: Option<bool>,
}

/// The decisions of one study.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StudyScopeConsentsInput", rename_all = "camelCase")]
pub struct StudyScopeConsentsIn {
    /// The study.
    pub study_id: Option<IdInput>,
    /// Its scopes.
    #[oai(default)]
    pub scope_consents: Vec<ScopeConsentIn>,
}

/// Body of `POST|PATCH|DELETE /patients/{id}/consents`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PatientConsentsInput", rename_all = "camelCase")]
pub struct PatientConsentsIn {
    /// Decisions per study.
    pub study_scope_consents: Option<Vec<StudyScopeConsentsIn>>,
}

impl PatientConsentsIn {
    fn into_entries(self) -> Option<Vec<StudyConsentInput>> {
        self.study_scope_consents.map(|entries| {
            entries
                .into_iter()
                .map(|e| StudyConsentInput {
                    study_id: id_of(e.study_id),
                    scope_consents: e
                        .scope_consents
                        .into_iter()
                        .map(|s| ScopeConsentInput {
                            coding_system: s.coding_system,
                            coding_code: s.coding_code,
                            consented: s.consented,
                        })
                        .collect(),
                })
                .collect()
        })
    }
}

/// An enrolment, by ids.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyPatientRef", rename_all = "camelCase")]
pub struct StudyPatientRefOut {
    /// Enrolment id.
    pub id: Id,
    /// Study id.
    pub study: Id,
    /// Patient id.
    pub patient: Id,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyScopeConsent", rename_all = "camelCase")]
pub struct StudyScopeConsentOut {
    /// Id.
    pub id: Id,
    /// The enrolment.
    pub study_patient: StudyPatientRefOut,
    /// The scope.
    pub scope_code: ScopeCodeOut,
    /// The decision.
    pub consented: bool,
    /// When decided.
    pub consented_time: String,
}

impl From<RecordedConsent> for StudyScopeConsentOut {
    fn from(r: RecordedConsent) -> Self {
        StudyScopeConsentOut {
            id: r.consent.id,
            study_patient: StudyPatientRefOut {
                id: r.enrolment.id,
                study: r.enrolment.study_id,
                patient: r.enrolment.patient_id,
            },
            scope_code: r.code.into(),
            consented: r.consent.consented,
            consented_time: timestamp(&r.consent.consented_time),
        }
    }
}

/// The decisions written (or deleted) by a change.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyScopeConsents", rename_all = "camelCase")]
pub struct StudyScopeConsentsOut {
    /// The decisions.
    pub study_scope_consents: Vec<StudyScopeConsentOut>,
}

/// A client of the patient's studies (the `Client` object, with the patient's invitation link).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "PatientClient", rename_all = "camelCase")]
pub struct PatientClientOut {
    /// Numeric id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// OAuth `client_id`.
    pub client_id: String,
    /// Setting `client.code_verifier`.
    pub code_verifier: Option<String>,
    /// Setting `client.invitation_url`.
    pub invitation_url: Option<String>,
    /// The patient's current invitation link for this client, if any.
    pub invitation_link: Option<String>,
}

impl From<PatientClient> for PatientClientOut {
    fn from(c: PatientClient) -> Self {
        PatientClientOut {
            id: c.client.id,
            name: c.client.name,
            client_id: c.client.client_id,
            code_verifier: c.code_verifier,
            invitation_url: c.invitation_url,
            invitation_link: c.invitation_link,
        }
    }
}

fn truthy(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    })
}

/// Patients (everything but the invitation link).
pub struct PatientsAdminApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Patients")]
impl PatientsAdminApi {
    /// Patients sharing an organisation with the caller, ordered by id. Patients and
    /// practitioners without organisations get an empty page.
    #[oai(path = "/patients", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        /// Only members of this organisation (which the caller must be linked to).
        #[oai(name = "organizationId")]
        organization_id: Query<Option<Id>>,
        /// Only patients enrolled in this study.
        #[oai(name = "studyId")]
        study_id: Query<Option<Id>>,
        /// Only this patient.
        #[oai(name = "patientId")]
        patient_id: Query<Option<Id>>,
        /// Only patients with this external identifier.
        #[oai(name = "patientIdentifierValue")]
        patient_identifier_value: Query<Option<String>>,
        /// 1-based page number.
        page: Query<Option<String>>,
        /// Rows per page (default 20, at most 1000).
        #[oai(name = "pageSize")]
        page_size: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<PatientOut>>> {
        let page = page_request(page.as_deref(), page_size.as_deref(), None)?;
        let query = PatientQuery {
            organization_id: organization_id.0,
            study_id: study_id.0,
            patient_id: patient_id.0,
            identifier: patient_identifier_value.0,
        };
        let found = patients::list(&self.state, &auth.0, query, page).await?;
        Ok(Json(envelope(
            req,
            &self.state.config.site_url,
            found,
            PatientOut::from,
        )?))
    }

    /// Creates a patient in `organizationId` (`patient.manage_for_organization` there). The
    /// account is found by `telecomEmail` or created; a user that already has a patient record
    /// is a 409. Answers 200 (as the original).
    #[oai(path = "/patients", method = "post")]
    async fn create(&self, auth: BearerAuth, body: Json<PatientIn>) -> ApiResult<Json<PatientOut>> {
        let organization_id = id_of(body.organization_id);
        let view = patients::create(&self.state, &auth.0, organization_id, body.0.into()).await?;
        Ok(Json(view.into()))
    }

    /// The patients whose account has this exact e-mail (0 or 1), for practitioners adding an
    /// existing patient to their organisation: id, names, identifiers, e-mail and organisations
    /// (no birth date or phone).
    #[oai(path = "/patients/global_lookup", method = "get")]
    async fn global_lookup(
        &self,
        auth: BearerAuth,
        /// The e-mail address (exact).
        email: Query<Option<String>>,
    ) -> ApiResult<Json<Vec<PatientLookupOut>>> {
        let found = patients::global_lookup(&self.state, &auth.0, email.as_deref()).await?;
        Ok(Json(found.into_iter().map(Into::into).collect()))
    }

    /// One patient: the patient themself, a practitioner sharing an organisation with them, or a
    /// superuser.
    #[oai(path = "/patients/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<PatientOut>> {
        Ok(Json(patients::get(&self.state, &auth.0, id.0).await?.into()))
    }

    /// Replaces a patient's fields (`nameFamily`, `nameGiven`, `birthDate` required). Needs
    /// `patient.manage_for_organization` on `organizationId`, one of the patient's organisations
    /// (superusers may omit it).
    #[oai(path = "/patients/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        /// The organisation through which the patient is managed.
        #[oai(name = "organizationId")]
        organization_id: Query<Option<Id>>,
        body: Json<PatientIn>,
    ) -> ApiResult<Json<PatientOut>> {
        let view = patients::update(
            &self.state,
            &auth.0,
            id.0,
            organization_id.0,
            body.0.into(),
            true,
        )
        .await?;
        Ok(Json(view.into()))
    }

    /// Changes some of a patient's fields (permission as PUT).
    #[oai(path = "/patients/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        /// The organisation through which the patient is managed.
        #[oai(name = "organizationId")]
        organization_id: Query<Option<Id>>,
        body: Json<PatientIn>,
    ) -> ApiResult<Json<PatientOut>> {
        let view = patients::update(
            &self.state,
            &auth.0,
            id.0,
            organization_id.0,
            body.0.into(),
            false,
        )
        .await?;
        Ok(Json(view.into()))
    }

    /// Removes the patient from `organizationId` (with the consents and enrolments of its
    /// studies); a patient left without organisations is deleted with its observations and its
    /// account (unless the account is a practitioner's).
    #[oai(path = "/patients/:id", method = "delete")]
    async fn delete(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        /// The organisation to remove the patient from.
        #[oai(name = "organizationId")]
        organization_id: Query<Option<Id>>,
    ) -> ApiResult<Json<SuccessOut>> {
        patients::remove_from_organization(&self.state, &auth.0, id.0, organization_id.0).await?;
        Ok(Json(SuccessOut { success: true }))
    }

    /// Adds an existing patient to `organizationId` (idempotent); needs
    /// `patient.manage_for_organization` there.
    #[oai(path = "/patients/:id/global_add_organization", method = "patch")]
    async fn global_add_organization(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        /// The organisation to add the patient to.
        #[oai(name = "organizationId")]
        organization_id: Query<Option<Id>>,
    ) -> ApiResult<Json<PatientOut>> {
        let view =
            patients::add_organization(&self.state, &auth.0, id.0, organization_id.0).await?;
        Ok(Json(view.into()))
    }

    /// The patient's consents per enrolled study (pending and decided). With `reset=true`,
    /// deletes every decision instead and answers `{"resetCount": n}` (the patient, or a
    /// practitioner who may record consents in every study of the patient).
    #[oai(path = "/patients/:id/consents", method = "get")]
    async fn consents(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        /// `true` to delete every decision.
        reset: Query<Option<String>>,
    ) -> ApiResult<Json<PatientConsentsResponse>> {
        if truthy(reset.as_deref()) {
            let reset_count = consents::reset(&self.state, &auth.0, id.0).await?;
            return Ok(Json(PatientConsentsResponse::Reset(ConsentsResetOut {
                reset_count,
            })));
        }
        let overview = consents::overview(&self.state, &auth.0, id.0).await?;
        Ok(Json(PatientConsentsResponse::Overview(overview.into())))
    }

    /// Records consent decisions (inserting or updating). Per study: the patient themself, a
    /// superuser, or a manager/member of the study's organisation; the patient must be enrolled
    /// and the scopes requested by the study. Nothing is written unless every entry is valid.
    #[oai(path = "/patients/:id/consents", method = "post")]
    async fn record_consents(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<PatientConsentsIn>,
    ) -> ApiResult<Json<StudyScopeConsentsOut>> {
        self.change(auth, id.0, ConsentChange::Record, body.0).await
    }

    /// Changes existing decisions (as POST, but each must exist).
    #[oai(path = "/patients/:id/consents", method = "patch")]
    async fn update_consents(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<PatientConsentsIn>,
    ) -> ApiResult<Json<StudyScopeConsentsOut>> {
        self.change(auth, id.0, ConsentChange::Update, body.0).await
    }

    /// Deletes decisions (the scopes become pending again); answers the deleted ones.
    #[oai(path = "/patients/:id/consents", method = "delete")]
    async fn delete_consents(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<PatientConsentsIn>,
    ) -> ApiResult<Json<StudyScopeConsentsOut>> {
        self.change(auth, id.0, ConsentChange::Delete, body.0).await
    }

    /// The clients of every study the patient is enrolled in, with the patient's current
    /// invitation link for each (`null` without an unexpired invitation).
    #[oai(path = "/patients/:id/consolidated_clients", method = "get")]
    async fn consolidated_clients(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<Vec<PatientClientOut>>> {
        let clients = patients::consolidated_clients(&self.state, &auth.0, id.0).await?;
        Ok(Json(clients.into_iter().map(Into::into).collect()))
    }
}

impl PatientsAdminApi {
    async fn change(
        &self,
        auth: BearerAuth,
        id: Id,
        op: ConsentChange,
        body: PatientConsentsIn,
    ) -> ApiResult<Json<StudyScopeConsentsOut>> {
        let changed = consents::change(&self.state, &auth.0, id, op, body.into_entries()).await?;
        Ok(Json(StudyScopeConsentsOut {
            study_scope_consents: changed.into_iter().map(Into::into).collect(),
        }))
    }
}
