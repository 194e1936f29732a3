//! `/api/v1/patients` (rest-api.md §4): list, create, read, change, remove from an organisation,
//! global lookup, add to an organisation, consents, consolidated clients and invitation links.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Union};

use super::ApiTags;
use super::clients::ClientJson;
use super::data_sources::{CodeableConceptJson, DataSourceJson};
use super::input::{IdInput, id_of, timestamp};
use super::shapes::{OrganizationJson, PatientJson, patient_json};
use crate::domain::{Id, Organization};
use crate::error::CoreError;
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::ApiResult;
use crate::server::AppState;
use crate::services::consents::{
    self, ConsentChange, ConsentOverview, ConsentStudy, DataSourceScopes, RecordedConsent,
    ScopeConsentInput, StudyConsentInput,
};
use crate::services::oauth::invitation::create_invitation_link;
use crate::services::patients::{self, PatientClient, PatientInput, PatientView};
use crate::store::PatientQuery;

/// Patients.
pub struct PatientsApi {
    pub(crate) state: Arc<AppState>,
}

/// A patient invitation link.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "camelCase")]
pub struct InvitationLinkJson {
    /// The client's invitation URL with `CODE` replaced by `<host>~<client_id>~<code>~<verifier>`.
    pub invitation_link: String,
}

fn truthy(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    })
}

/// The `Patient` object of a patient view (both `identifier` and `identifiers`).
pub fn patient_out(v: &PatientView) -> PatientJson {
    patient_json(&v.patient, v.email.clone(), &v.organizations)
}

fn data_source_out(d: DataSourceScopes) -> DataSourceJson {
    DataSourceJson {
        id: d.data_source.id,
        name: d.data_source.name,
        source_type: d.data_source.source_type,
        supported_scopes: d.supported_scopes.into_iter().map(Into::into).collect(),
    }
}

fn client_out(c: PatientClient) -> ClientJson {
    ClientJson {
        id: c.client.id,
        name: c.client.name,
        client_id: c.client.client_id,
        code_verifier: c.code_verifier,
        invitation_url: c.invitation_url,
        invitation_link: c.invitation_link,
    }
}

/// What `global_lookup` shows of a patient: that an account with the address exists and which
/// of the caller's own organisations the patient already belongs to; no personal data.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "PatientLookup", rename_all = "camelCase")]
pub struct PatientLookupOut {
    /// The patient record's id (what `global_add_organization` takes).
    pub id: Id,
    /// The looked-up address.
    pub telecom_email: String,
    /// The patient's organisations among the caller's own.
    pub organizations: Vec<OrganizationJson>,
}

impl From<patients::PatientLookup> for PatientLookupOut {
    fn from(v: patients::PatientLookup) -> Self {
        PatientLookupOut {
            id: v.id,
            telecom_email: v.email,
            organizations: v
                .organizations
                .iter()
                .map(OrganizationJson::nested)
                .collect(),
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

/// A scope with the patient's decision (`null` while pending).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ScopeConsent", rename_all = "camelCase")]
pub struct ScopeConsentOut {
    /// The scope.
    pub code: CodeableConceptJson,
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
    pub data_sources: Vec<DataSourceJson>,
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
    pub data_sources: Vec<DataSourceJson>,
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
    pub patient: PatientJson,
    /// Scopes consented in any study.
    pub consolidated_consented_scopes: Vec<CodeableConceptJson>,
    /// Studies with pending scopes.
    pub studies_pending_consent: Vec<StudyPendingConsentOut>,
    /// Studies with decisions.
    pub studies: Vec<StudyConsentOut>,
}

impl From<ConsentOverview> for PatientConsentsOut {
    fn from(o: ConsentOverview) -> Self {
        PatientConsentsOut {
            patient: patient_out(&o.patient),
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
                    data_sources: s
                        .data_sources
                        .iter()
                        .cloned()
                        .map(data_source_out)
                        .collect(),
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
                    data_sources: s
                        .data_sources
                        .iter()
                        .cloned()
                        .map(data_source_out)
                        .collect(),
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
    Overview(Box<PatientConsentsOut>),
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
    pub scope_code: CodeableConceptJson,
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

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Patients")]
impl PatientsApi {
    /// Creates the patient's invitation link for a client: a new single-use
    /// authorization code valid 14 days replaces any previous one. Only practitioners linked to
    /// one of the patient's organisations may do it. `send_email=true` also e-mails the link.
    #[oai(path = "/patients/:id/invitation_link", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn invitation_link(
        &self,
        auth: BearerAuth,
        /// Patient id.
        id: Path<String>,
        /// The client's numeric id (`Application.id`).
        application_id: Query<Option<String>>,
        /// Same as `application_id`.
        #[oai(name = "applicationId")]
        application_id_camel: Query<Option<String>>,
        /// `true` to e-mail the link to the patient.
        send_email: Query<Option<String>>,
        /// Same as `send_email`.
        #[oai(name = "sendEmail")]
        send_email_camel: Query<Option<String>>,
    ) -> ApiResult<Json<InvitationLinkJson>> {
        let Ok(patient_id) = id.0.parse::<Id>() else {
            return Err(CoreError::NotFound("No Patient matches the given query.".into()).into());
        };
        let application_id =
            match application_id.0.or(application_id_camel.0) {
                None => None,
                Some(raw) if raw.trim().is_empty() => None,
                Some(raw) => Some(raw.trim().parse::<Id>().map_err(|_| {
                    CoreError::BadRequest("application_id must be an integer".into())
                })?),
            };
        let send_email = truthy(send_email.0.as_deref().or(send_email_camel.0.as_deref()));
        let link = create_invitation_link(
            self.state.store.as_ref(),
            &self.state.config,
            self.state.mailer.as_ref(),
            &auth.0,
            &crate::services::guard::scope(&self.state, &auth.0).await,
            patient_id,
            application_id,
            send_email,
        )
        .await;
        let event = crate::audit::AuditEvent::by(&auth.0, crate::audit::AuditKind::InvitationLink)
            .patient(patient_id)
            .entity(format!("Patient/{patient_id}"))
            .detail(match application_id {
                Some(app) => format!("client {app}; e-mail sent: {send_email}"),
                None => format!("e-mail sent: {send_email}"),
            });
        crate::services::audit::record(
            &self.state,
            match &link {
                Ok(_) => event,
                Err(e) => event.failed(e.to_string()),
            },
        );
        let link = link?;
        Ok(Json(InvitationLinkJson {
            invitation_link: link,
        }))
    }

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
    ) -> ApiResult<Json<Paginated<PatientJson>>> {
        let page = page_request(page.as_deref(), page_size.as_deref(), None)?;
        let query = PatientQuery {
            organization_id: organization_id.0,
            study_id: study_id.0,
            patient_id: patient_id.0,
            identifier: patient_identifier_value.0,
            ..Default::default()
        };
        let found = patients::list(&self.state, &auth.0, query, page).await?;
        Ok(Json(envelope(req, &self.state.config, found, |v| {
            patient_out(&v)
        })?))
    }

    /// Creates a patient in `organizationId` (`patient.manage_for_organization` there). The
    /// account is found by `telecomEmail` or created; a user that already has a patient record
    /// is a 409. Answers 200.
    #[oai(path = "/patients", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<PatientIn>,
    ) -> ApiResult<Json<PatientJson>> {
        let organization_id = id_of(body.organization_id);
        let view = patients::create(&self.state, &auth.0, organization_id, body.0.into()).await?;
        Ok(Json(patient_out(&view)))
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
    async fn get(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<PatientJson>> {
        Ok(Json(patient_out(
            &patients::get(&self.state, &auth.0, id.0).await?,
        )))
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
    ) -> ApiResult<Json<PatientJson>> {
        let view = patients::update(
            &self.state,
            &auth.0,
            id.0,
            organization_id.0,
            body.0.into(),
            true,
        )
        .await?;
        Ok(Json(patient_out(&view)))
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
    ) -> ApiResult<Json<PatientJson>> {
        let view = patients::update(
            &self.state,
            &auth.0,
            id.0,
            organization_id.0,
            body.0.into(),
            false,
        )
        .await?;
        Ok(Json(patient_out(&view)))
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
        /// The e-mail address of the patient's account, as given to `global_lookup`; required to
        /// add a patient the caller cannot see yet.
        email: Query<Option<String>>,
    ) -> ApiResult<Json<PatientJson>> {
        let view = patients::add_organization(
            &self.state,
            &auth.0,
            id.0,
            organization_id.0,
            email.as_deref(),
        )
        .await?;
        Ok(Json(patient_out(&view)))
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
        Ok(Json(PatientConsentsResponse::Overview(Box::new(
            overview.into(),
        ))))
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
    ) -> ApiResult<Json<Vec<ClientJson>>> {
        let clients = patients::consolidated_clients(&self.state, &auth.0, id.0).await?;
        Ok(Json(clients.into_iter().map(client_out).collect()))
    }
}

impl PatientsApi {
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
