//! `/api/v1/studies` and `/api/v1/organizations/{id}/studies` (rest-api.md §5).
//!
//! Reading needs a direct link to the study's organisation; changing the study or any of its
//! sub-resources (patients, scope requests, clients, data sources) needs
//! `study.manage_for_organization` there.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{MaybeUndefined, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::data_sources::{CodeableConceptJson, DataSourceSummaryJson};
use super::input::{IdInput, id_of, timestamp};
use super::patients::{StudyOrganizationOut, patient_out};
use super::shapes::PatientJson;
use crate::domain::{Id, OAuthClient, Patient, Study};
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::{ApiResult, NoContent};
use crate::server::AppState;
use crate::services::studies::{self, Enrolled, StudyInput, StudyRecord, StudyView};

/// A study, read form (organisation nested).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "Study", rename_all = "camelCase")]
pub struct StudyOut {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The organisation running the study.
    pub organization: StudyOrganizationOut,
    /// Icon.
    pub icon_url: Option<String>,
}

impl From<StudyView> for StudyOut {
    fn from(v: StudyView) -> Self {
        StudyOut {
            id: v.study.id,
            name: v.study.name,
            description: v.study.description,
            organization: (&v.organization).into(),
            icon_url: v.study.icon_url,
        }
    }
}

/// A study, write form (organisation as id).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyWriteForm", rename_all = "camelCase")]
pub struct StudyWriteOut {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Organisation id.
    pub organization: Id,
    /// Icon.
    pub icon_url: Option<String>,
}

impl From<Study> for StudyWriteOut {
    fn from(s: Study) -> Self {
        StudyWriteOut {
            id: s.id,
            name: s.name,
            description: s.description,
            organization: s.organization_id,
            icon_url: s.icon_url,
        }
    }
}

/// A JSON string, not coerced from numbers or booleans (`"name": 5` is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictString(pub String);

impl Type for StrictString {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for StrictString {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            serde_json::Value::String(s) => Ok(StrictString(s)),
            _ => Err(ParseError::custom("Not a valid string.")),
        }
    }
}

impl ToJSON for StrictString {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// Fields of a study to create or change.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StudyInput", rename_all = "camelCase")]
pub struct StudyIn {
    /// Name (required on create and PUT; must be a string).
    pub name: Option<StrictString>,
    /// Description.
    pub description: Option<String>,
    /// Organisation id (required on create).
    pub organization: Option<IdInput>,
    /// Icon URL (`null` clears it).
    pub icon_url: MaybeUndefined<String>,
}

impl From<StudyIn> for StudyInput {
    fn from(b: StudyIn) -> Self {
        StudyInput {
            name: b.name.map(|n| n.0),
            description: b.description,
            organization: id_of(b.organization),
            icon_url: match b.icon_url {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
        }
    }
}

/// A study as nested in link objects: its columns, organisation as id, enrolled patient ids.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyRaw", rename_all = "camelCase")]
pub struct StudyRawOut {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Icon.
    pub icon_url: Option<String>,
    /// Organisation id.
    pub organization: Id,
    /// Enrolled patient ids.
    pub patients: Vec<Id>,
}

impl From<&StudyRecord> for StudyRawOut {
    fn from(r: &StudyRecord) -> Self {
        StudyRawOut {
            id: r.study.id,
            name: r.study.name.clone(),
            description: r.study.description.clone(),
            icon_url: r.study.icon_url.clone(),
            organization: r.study.organization_id,
            patients: r.patient_ids.clone(),
        }
    }
}

/// A patient as nested in an enrolment: its columns, account as id, organisation ids.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "PatientRaw", rename_all = "camelCase")]
pub struct PatientRawOut {
    /// Id.
    pub id: Id,
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: String,
    /// Given name.
    pub name_given: String,
    /// Date of birth.
    pub birth_date: String,
    /// Phone.
    pub telecom_phone: Option<String>,
    /// Last change.
    pub last_updated: String,
    /// The account id.
    pub jhe_user: Option<Id>,
    /// Organisation ids.
    pub organizations: Vec<Id>,
}

fn patient_raw(p: &Patient, organizations: Vec<Id>) -> PatientRawOut {
    PatientRawOut {
        id: p.id,
        identifier: p.identifier.clone(),
        name_family: p.name_family.clone(),
        name_given: p.name_given.clone(),
        birth_date: p.birth_date.format("%Y-%m-%d").to_string(),
        telecom_phone: p.telecom_phone.clone(),
        last_updated: timestamp(&p.last_updated),
        jhe_user: p.jhe_user_id,
        organizations,
    }
}

/// A new (or existing) enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyPatient", rename_all = "camelCase")]
pub struct StudyPatientOut {
    /// Enrolment id.
    pub id: Id,
    /// The study.
    pub study: StudyRawOut,
    /// The patient.
    pub patient: PatientRawOut,
}

impl From<Enrolled> for StudyPatientOut {
    fn from(e: Enrolled) -> Self {
        StudyPatientOut {
            id: e.enrolment.id,
            study: (&e.study).into(),
            patient: patient_raw(&e.patient, e.patient_organization_ids),
        }
    }
}

/// `{"studyPatients": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyPatients", rename_all = "camelCase")]
pub struct StudyPatientsOut {
    /// The enrolments.
    pub study_patients: Vec<StudyPatientOut>,
}

/// `{"studyPatients": [{}, …]}`: one empty object per patient id given.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyPatientsRemoved", rename_all = "camelCase")]
pub struct StudyPatientsRemovedOut {
    /// Empty objects.
    pub study_patients: Vec<serde_json::Value>,
}

/// Patients to enrol or unenrol.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StudyPatientsInput", rename_all = "camelCase")]
pub struct PatientIdsIn {
    /// Patient ids.
    pub patient_ids: Option<Vec<IdInput>>,
}

/// A requested scope.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyScopeRequest", rename_all = "camelCase")]
pub struct StudyScopeRequestOut {
    /// Id.
    pub id: Id,
    /// The study.
    pub study: StudyRawOut,
    /// The scope.
    pub scope_code: CodeableConceptJson,
}

/// The scope to request or drop.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StudyScopeRequestInput", rename_all = "camelCase")]
pub struct ScopeCodeIdIn {
    /// Codeable concept id.
    pub scope_code_id: Option<IdInput>,
}

/// An OAuth client as nested in a study link (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyClientApplication", rename_all = "camelCase")]
pub struct ClientRawOut {
    /// Numeric id.
    pub id: Id,
    /// OAuth `client_id` (the key keeps its snake_case spelling).
    #[oai(rename = "client_id")]
    pub client_id: String,
    /// Redirect URIs.
    pub redirect_uris: String,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: String,
    /// `public` or `confidential`.
    pub client_type: String,
    /// Grant type.
    pub authorization_grant_type: String,
    /// Whether the secret is stored hashed.
    pub hash_client_secret: bool,
    /// Name.
    pub name: String,
    /// Skip the consent screen.
    pub skip_authorization: bool,
    /// Created.
    pub created: String,
    /// Updated.
    pub updated: String,
    /// ID token algorithm.
    pub algorithm: String,
    /// CORS origins.
    pub allowed_origins: String,
    /// Owner id.
    pub user: Option<Id>,
}

impl From<OAuthClient> for ClientRawOut {
    fn from(c: OAuthClient) -> Self {
        ClientRawOut {
            id: c.id,
            client_id: c.client_id,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            client_type: c.client_type,
            authorization_grant_type: c.authorization_grant_type,
            hash_client_secret: c.hash_client_secret,
            name: c.name,
            skip_authorization: c.skip_authorization,
            created: timestamp(&c.created),
            updated: timestamp(&c.updated),
            algorithm: c.algorithm,
            allowed_origins: c.allowed_origins,
            user: c.user_id,
        }
    }
}

/// A client of a study.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyClient", rename_all = "camelCase")]
pub struct StudyClientOut {
    /// Link id.
    pub id: Id,
    /// The study.
    pub study: StudyRawOut,
    /// The client.
    pub client: ClientRawOut,
}

/// The client to link or unlink, by numeric id (`clientId` or `client_id`).
#[derive(Debug, Clone, Object)]
#[oai(rename = "StudyClientInput")]
pub struct ClientIdIn {
    /// Numeric client id (`Application.id`).
    #[oai(rename = "clientId")]
    pub client_id_camel: Option<IdInput>,
    /// Same as `clientId`.
    #[oai(rename = "client_id")]
    pub client_id: Option<IdInput>,
}

/// A data source of a study.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyDataSource", rename_all = "camelCase")]
pub struct StudyDataSourceOut {
    /// Link id.
    pub id: Id,
    /// The study.
    pub study: StudyRawOut,
    /// The data source.
    pub data_source: DataSourceSummaryJson,
}

/// The data source to link or unlink.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StudyDataSourceInput", rename_all = "camelCase")]
pub struct DataSourceIdIn {
    /// Data source id.
    pub data_source_id: Option<IdInput>,
}

#[derive(ApiResponse)]
enum CreatedStudy {
    /// Created.
    #[oai(status = 201)]
    Created(Json<StudyWriteOut>),
}

/// `200` with an empty body.
#[derive(ApiResponse)]
pub enum EmptyOk {
    /// Done.
    #[oai(status = 200)]
    Ok,
}

fn ids_of(ids: Option<Vec<IdInput>>) -> Option<Vec<Id>> {
    ids.map(|ids| ids.into_iter().map(|i| i.0).collect())
}

fn empty_object() -> Json<serde_json::Value> {
    Json(serde_json::Value::Object(serde_json::Map::new()))
}

/// Studies and their sub-resources.
pub struct StudiesApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Studies")]
impl StudiesApi {
    /// Studies of the organisations the caller is directly linked to, ordered by name.
    /// Callers without a practitioner profile get 404.
    #[oai(path = "/studies", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        /// Only studies of this organisation.
        #[oai(name = "organizationId")]
        organization_id: Query<Option<Id>>,
        /// 1-based page number.
        page: Query<Option<String>>,
        /// Rows per page (default 20, at most 1000).
        #[oai(name = "pageSize")]
        page_size: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<StudyOut>>> {
        let page = page_request(page.as_deref(), page_size.as_deref(), None)?;
        let found = studies::list(&self.state, &auth.0, organization_id.0, page).await?;
        Ok(Json(envelope(
            req,
            &self.state.config,
            found,
            StudyOut::from,
        )?))
    }

    /// Creates a study in `organization` (`study.manage_for_organization` there).
    #[oai(path = "/studies", method = "post")]
    async fn create(&self, auth: BearerAuth, body: Json<StudyIn>) -> ApiResult<CreatedStudy> {
        let study = studies::create(&self.state, &auth.0, body.0.into()).await?;
        Ok(CreatedStudy::Created(Json(study.into())))
    }

    /// One study; the caller must be linked to its organisation.
    #[oai(path = "/studies/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<StudyOut>> {
        Ok(Json(studies::get(&self.state, &auth.0, id.0).await?.into()))
    }

    /// Replaces a study (`name` required; `study.manage_for_organization` on its organisation).
    #[oai(path = "/studies/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<StudyIn>,
    ) -> ApiResult<Json<StudyWriteOut>> {
        let study = studies::update(&self.state, &auth.0, id.0, body.0.into(), true).await?;
        Ok(Json(study.into()))
    }

    /// Changes some fields of a study (permission as PUT).
    #[oai(path = "/studies/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<StudyIn>,
    ) -> ApiResult<Json<StudyWriteOut>> {
        let study = studies::update(&self.state, &auth.0, id.0, body.0.into(), false).await?;
        Ok(Json(study.into()))
    }

    /// Deletes a study with its enrolments, consents, scope requests and links.
    #[oai(path = "/studies/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<NoContent> {
        studies::delete(&self.state, &auth.0, id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// Patients enrolled in the study, ordered by id (caller linked to the study's
    /// organisation).
    #[oai(path = "/studies/:id/patients", method = "get")]
    async fn patients(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<Vec<PatientJson>>> {
        let found = studies::patients(&self.state, &auth.0, id.0).await?;
        Ok(Json(found.iter().map(patient_out).collect()))
    }

    /// Enrols patients of the study's organisation (already enrolled is fine); all or none.
    #[oai(path = "/studies/:id/patients", method = "post")]
    async fn enroll(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<PatientIdsIn>,
    ) -> ApiResult<Json<StudyPatientsOut>> {
        let enrolled =
            studies::enroll(&self.state, &auth.0, id.0, ids_of(body.0.patient_ids)).await?;
        Ok(Json(StudyPatientsOut {
            study_patients: enrolled.into_iter().map(Into::into).collect(),
        }))
    }

    /// Removes enrolments (and their consents); absent ones are ignored.
    #[oai(path = "/studies/:id/patients", method = "delete")]
    async fn unenroll(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<PatientIdsIn>,
    ) -> ApiResult<Json<StudyPatientsRemovedOut>> {
        let n = studies::unenroll(&self.state, &auth.0, id.0, ids_of(body.0.patient_ids)).await?;
        Ok(Json(StudyPatientsRemovedOut {
            study_patients: vec![serde_json::Value::Object(serde_json::Map::new()); n],
        }))
    }

    /// The scopes the study requests, ordered by id.
    #[oai(path = "/studies/:id/scope_requests", method = "get")]
    async fn scope_requests(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<Vec<StudyScopeRequestOut>>> {
        let (study, requests) = studies::scope_requests(&self.state, &auth.0, id.0).await?;
        let study = StudyRawOut::from(&study);
        Ok(Json(
            requests
                .into_iter()
                .map(|(r, c)| StudyScopeRequestOut {
                    id: r.id,
                    study: study.clone(),
                    scope_code: c.into(),
                })
                .collect(),
        ))
    }

    /// Requests a scope (idempotent).
    #[oai(path = "/studies/:id/scope_requests", method = "post")]
    async fn add_scope_request(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<ScopeCodeIdIn>,
    ) -> ApiResult<Json<StudyScopeRequestOut>> {
        let (study, request, concept) =
            studies::add_scope_request(&self.state, &auth.0, id.0, id_of(body.0.scope_code_id))
                .await?;
        Ok(Json(StudyScopeRequestOut {
            id: request.id,
            study: (&study).into(),
            scope_code: concept.into(),
        }))
    }

    /// Drops a requested scope; answers `{}`.
    #[oai(path = "/studies/:id/scope_requests", method = "delete")]
    async fn remove_scope_request(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<ScopeCodeIdIn>,
    ) -> ApiResult<Json<serde_json::Value>> {
        studies::remove_scope_request(&self.state, &auth.0, id.0, id_of(body.0.scope_code_id))
            .await?;
        Ok(empty_object())
    }

    /// The OAuth clients of the study, ordered by id (client secrets are never shown).
    #[oai(path = "/studies/:id/clients", method = "get")]
    async fn clients(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<Vec<StudyClientOut>>> {
        let (study, links) = studies::clients(&self.state, &auth.0, id.0).await?;
        let study = StudyRawOut::from(&study);
        Ok(Json(
            links
                .into_iter()
                .map(|(l, c)| StudyClientOut {
                    id: l.id,
                    study: study.clone(),
                    client: c.into(),
                })
                .collect(),
        ))
    }

    /// Links an OAuth client (`{"clientId": <numeric id>}`); empty 200.
    #[oai(path = "/studies/:id/clients", method = "post")]
    async fn add_client(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<ClientIdIn>,
    ) -> ApiResult<EmptyOk> {
        let client_id = id_of(body.client_id_camel.or(body.client_id));
        studies::add_client(&self.state, &auth.0, id.0, client_id).await?;
        Ok(EmptyOk::Ok)
    }

    /// Unlinks an OAuth client; empty 200.
    #[oai(path = "/studies/:id/clients", method = "delete")]
    async fn remove_client(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<ClientIdIn>,
    ) -> ApiResult<EmptyOk> {
        let client_id = id_of(body.client_id_camel.or(body.client_id));
        studies::remove_client(&self.state, &auth.0, id.0, client_id).await?;
        Ok(EmptyOk::Ok)
    }

    /// The data sources of the study, ordered by id.
    #[oai(path = "/studies/:id/data_sources", method = "get")]
    async fn data_sources(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<Vec<StudyDataSourceOut>>> {
        let (study, links) = studies::data_sources(&self.state, &auth.0, id.0).await?;
        let study = StudyRawOut::from(&study);
        Ok(Json(
            links
                .into_iter()
                .map(|(l, d)| StudyDataSourceOut {
                    id: l.id,
                    study: study.clone(),
                    data_source: d.into(),
                })
                .collect(),
        ))
    }

    /// Links a data source (`{"dataSourceId": …}`); empty 200.
    #[oai(path = "/studies/:id/data_sources", method = "post")]
    async fn add_data_source(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<DataSourceIdIn>,
    ) -> ApiResult<EmptyOk> {
        studies::add_data_source(&self.state, &auth.0, id.0, id_of(body.0.data_source_id)).await?;
        Ok(EmptyOk::Ok)
    }

    /// Unlinks a data source; empty 200.
    #[oai(path = "/studies/:id/data_sources", method = "delete")]
    async fn remove_data_source(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<DataSourceIdIn>,
    ) -> ApiResult<EmptyOk> {
        studies::remove_data_source(&self.state, &auth.0, id.0, id_of(body.0.data_source_id))
            .await?;
        Ok(EmptyOk::Ok)
    }

    /// The studies of an organisation (write form), ordered by name. The caller must be linked
    /// to the organisation (or a superuser).
    #[oai(path = "/organizations/:id/studies", method = "get")]
    async fn of_organization(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
    ) -> ApiResult<Json<Vec<StudyWriteOut>>> {
        let found = studies::of_organization(&self.state, &auth.0, id.0).await?;
        Ok(Json(found.into_iter().map(Into::into).collect()))
    }
}
