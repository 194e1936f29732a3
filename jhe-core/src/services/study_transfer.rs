//! Study export and import between instances (`server export-study` / `server import-study`,
//! `POST /api/v1/studies/{id}/export`, `POST /api/v1/studies/import`).
//!
//! # Format (`jhe-study-export`, version [`FORMAT_VERSION`])
//!
//! An export is a directory of UTF-8 files, every line one JSON object tagged with `"kind"`:
//!
//! | file | kind | content |
//! | --- | --- | --- |
//! | `manifest.json` | `manifest` | format name and version, when and by whom, counts per kind |
//! | `study.ndjson` | `study` | the study and its organisation (name, type, parent name), its `iconUrl`, and its uploaded icon when it has one (`icon`) |
//! | `data_sources.ndjson` | `dataSource` | data sources linked to the study, with supported scopes |
//! | `scope_requests.ndjson` | `scopeRequest` | requested data types (coding system and code) |
//! | `clients.ndjson` | `client` | OAuth clients linked to the study (never their secrets) |
//! | `patients.ndjson` | `patient` | enrolled patients: `ref` (the source id), account e-mail, identifier, names |
//! | `consents.ndjson` | `consent` | consent decisions (patient `ref`, coding, granted or refused, when) |
//! | `observations.ndjson` | `observation` | patient `ref`, coding, data source name, payload as stored, identifiers, `contentId` |
//!
//! A study with an uploaded icon carries the image in its record, `"icon": {"contentType":
//! "image/png", "data": "<standard base64>"}` ([`IconRecord`]); the field is absent otherwise.
//! It was added within version 1: files without it read as before, and readers that predate it
//! ignore it (records do not refuse unknown fields), so [`FORMAT_VERSION`] stays 1.
//!
//! The single-file form (the Admin API's) is the manifest line followed by every line of the
//! files in the order above. Everything is read through the exporting account's access scope,
//! exactly like a search: observations come from [`observation_search::search`] with the study
//! filter, page by page with the keyset cursor, and are written line by line.
//!
//! # Import
//!
//! Only a superuser imports. Every row is matched by natural keys before anything is created:
//! the organisation by name, the study by name within it, data sources by name and type,
//! clients by OAuth `client_id`, data types by coding system and code, patients by account
//! e-mail, else identifier, else names and birth date within the organisation, consents by
//! enrolment and data type (the later decision wins), observations by their identifiers or, when
//! they have none, by their content id (stored as an identifier of system
//! [`CONTENT_ID_SYSTEM`]). A second import of the same export creates nothing.
//!
//! A study the import creates gets the record's `icon` stored on this instance (checked like an
//! upload, [`studies::check_icon`]) and its `iconUrl` pointing here
//! ([`studies::uploaded_icon_url`]); without `icon`, the record's `iconUrl` is kept as it is. A
//! study that exists already is left as it is, icon included. An icon that is not valid base64,
//! not an accepted image, or not of its declared type refuses the export before anything is
//! written. Observations are
//! stored in batches of [`BATCH`] (each batch atomically), so memory stays bounded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::{
    CodeableConcept, Id, KeysetCursor, MAX_IDENTIFIERS_PER_RESOURCE, NewCodeableConcept,
    NewDataSource, NewOAuthClient, NewObservation, NewOrganization, NewPatient, NewStudy, NewUser,
    ObservationIdentifier, PageRequest, Patient, ROOT_ORGANIZATION_ID, UserType,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::audit;
use crate::services::guard::{require, scope};
use crate::services::observation_search::{self, SearchPaging};
use crate::services::studies;
use crate::store::{AccessScope, ObservationQuery, PatientQuery};

/// The `format` of a manifest.
pub const FORMAT: &str = "jhe-study-export";
/// The format version written; an import refuses any other.
pub const FORMAT_VERSION: u32 = 1;
/// The identifier system of an observation's content id (an imported observation without
/// identifiers gets one, so a second import finds it).
pub const CONTENT_ID_SYSTEM: &str = "urn:jhe:content-id";
/// Rows read per page on export, observations stored per batch on import.
pub const BATCH: u64 = 1000;
/// Longest line an import accepts (bytes).
pub const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// The files of an export directory, in the order they are written and read (after
/// `manifest.json`).
pub const FILES: [&str; 7] = [
    "study.ndjson",
    "data_sources.ndjson",
    "scope_requests.ndjson",
    "clients.ndjson",
    "patients.ndjson",
    "consents.ndjson",
    "observations.ndjson",
];

/// The first record: what the export holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// E-mail of the exporting account (whose access scope applied).
    pub exported_by: String,
    /// `SITE_URL` of the exporting instance.
    pub source: String,
    /// Name of the study.
    pub study: String,
    /// Name of its organisation.
    pub organization: String,
    /// Records per kind (`study`, `dataSource`, `scopeRequest`, `client`, `patient`, `consent`,
    /// `observation`).
    pub counts: BTreeMap<String, u64>,
}

/// A coding (data type) by system and code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodingRecord {
    /// Coding system, e.g. `https://w3id.org/openmhealth`.
    pub system: String,
    /// Code, e.g. `omh:heart-rate:2.0`.
    pub code: String,
    /// Label.
    #[serde(default)]
    pub text: String,
}

/// The study's organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationRecord {
    /// Name (the natural key).
    pub name: String,
    /// Type key.
    #[serde(rename = "type")]
    pub org_type: String,
    /// Name of the parent organisation (informational; an imported organisation that does not
    /// exist yet is created at the top level).
    pub parent: Option<String>,
}

/// The study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudyRecord {
    /// Its organisation.
    pub organization: OrganizationRecord,
    /// Name (the natural key within the organisation).
    pub name: String,
    /// Description.
    pub description: String,
    /// Icon URL (on the exporting instance when the icon was uploaded there).
    pub icon_url: Option<String>,
    /// The uploaded icon, when the study has one (absent from older exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<IconRecord>,
}

/// A study's uploaded icon image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IconRecord {
    /// MIME type: `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// The image bytes, standard base64 (with padding).
    pub data: String,
}

impl IconRecord {
    /// The record of an icon image.
    pub fn new(content_type: &str, bytes: &[u8]) -> IconRecord {
        IconRecord {
            content_type: content_type.to_string(),
            data: BASE64.encode(bytes),
        }
    }

    /// The image bytes, checked as an upload is ([`studies::check_icon`]) and against the
    /// declared content type.
    ///
    /// # Errors
    /// `400` naming the study record: not base64, refused image, or another type than declared.
    pub fn decode(&self) -> CoreResult<Vec<u8>> {
        let bytes = BASE64.decode(self.data.trim()).map_err(|e| {
            CoreError::BadRequest(format!("The study record's icon is not valid base64: {e}."))
        })?;
        let detected = studies::check_icon(&bytes).map_err(|e| match e {
            CoreError::BadRequest(m) => {
                CoreError::BadRequest(format!("The study record's icon is refused: {m}"))
            }
            other => other,
        })?;
        if detected != self.content_type {
            return Err(CoreError::BadRequest(format!(
                "The study record's icon is declared {} but is {detected}.",
                self.content_type
            )));
        }
        Ok(bytes)
    }
}

/// A data source linked to the study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceRecord {
    /// Name.
    pub name: Option<String>,
    /// Type key.
    #[serde(rename = "type")]
    pub source_type: String,
    /// Data types it supports.
    pub supported_scopes: Vec<CodingRecord>,
}

/// A data type the study requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeRequestRecord {
    /// The data type.
    pub coding: CodingRecord,
}

/// An OAuth client linked to the study (its secret is never exported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRecord {
    /// OAuth `client_id` (the natural key).
    pub client_id: String,
    /// Name.
    pub name: String,
    /// Space-separated redirect URIs.
    pub redirect_uris: String,
    /// `public` or `confidential`.
    pub client_type: String,
    /// Grant type.
    pub grant_type: String,
    /// Skip the consent screen.
    pub skip_authorization: bool,
    /// ID token signing algorithm.
    pub algorithm: String,
}

/// An enrolled patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientRecord {
    /// The patient's id in the exporting instance: what consents and observations refer to.
    #[serde(rename = "ref")]
    pub reference: Id,
    /// E-mail of the patient's account.
    pub email: Option<String>,
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: String,
    /// Given name.
    pub name_given: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Phone.
    pub telecom_phone: Option<String>,
}

/// A consent decision of an enrolled patient on a data type of the study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRecord {
    /// The patient's `ref`.
    pub patient: Id,
    /// The data type.
    pub coding: CodingRecord,
    /// Granted or refused.
    pub consented: bool,
    /// When decided.
    pub time: DateTime<Utc>,
}

/// An observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationRecord {
    /// The patient's `ref`.
    pub patient: Id,
    /// The data type.
    pub coding: CodingRecord,
    /// Name of the data source, if any.
    pub data_source: Option<String>,
    /// Content type of the payload.
    pub content_type: String,
    /// FHIR status.
    pub status: String,
    /// Start of the effective time.
    pub effective_start: Option<DateTime<Utc>>,
    /// End of the effective period.
    pub effective_end: Option<DateTime<Utc>>,
    /// External identifiers.
    pub identifiers: Vec<ObservationIdentifier>,
    /// SHA-256 (hex) of the patient's natural key, the coding, the effective start and the
    /// payload: the key of an observation without identifiers.
    pub content_id: String,
    /// The payload exactly as stored.
    pub data: String,
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Record {
    /// `manifest.json`.
    Manifest(Manifest),
    /// `study.ndjson`.
    Study(StudyRecord),
    /// `data_sources.ndjson`.
    DataSource(DataSourceRecord),
    /// `scope_requests.ndjson`.
    ScopeRequest(ScopeRequestRecord),
    /// `clients.ndjson`.
    Client(ClientRecord),
    /// `patients.ndjson`.
    Patient(PatientRecord),
    /// `consents.ndjson`.
    Consent(ConsentRecord),
    /// `observations.ndjson`.
    Observation(Box<ObservationRecord>),
}

impl Record {
    /// The `kind` tag (the key of [`Manifest::counts`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Manifest(_) => "manifest",
            Record::Study(_) => "study",
            Record::DataSource(_) => "dataSource",
            Record::ScopeRequest(_) => "scopeRequest",
            Record::Client(_) => "client",
            Record::Patient(_) => "patient",
            Record::Consent(_) => "consent",
            Record::Observation(_) => "observation",
        }
    }

    fn file_index(&self) -> usize {
        match self {
            Record::Manifest(_) | Record::Study(_) => 0,
            Record::DataSource(_) => 1,
            Record::ScopeRequest(_) => 2,
            Record::Client(_) => 3,
            Record::Patient(_) => 4,
            Record::Consent(_) => 5,
            Record::Observation(_) => 6,
        }
    }
}

/// What an import did, per kind: how many rows it created and how many it found already there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// The study's id in this instance.
    pub study_id: Id,
    /// Its organisation's id in this instance.
    pub organization_id: Id,
    /// Rows created (or, for consents, changed) per kind (`organization`, `study`, `dataSource`,
    /// `scopeRequest`, `client`, `patient`, `enrolment`, `consent`, `observation`).
    pub created: BTreeMap<String, u64>,
    /// Rows found already there per kind.
    pub existing: BTreeMap<String, u64>,
}

impl ImportReport {
    /// Everything created or changed (`0` for a repeated import).
    pub fn created_total(&self) -> u64 {
        self.created.values().sum()
    }

    fn count(&mut self, kind: &str, created: bool) {
        let map = if created {
            &mut self.created
        } else {
            &mut self.existing
        };
        *map.entry(kind.to_string()).or_insert(0) += 1;
    }
}

/// Reports how far an export or import got (for a progress bar).
pub trait TransferProgress: Send + Sync {
    /// `done` records of `kind` so far, of `total` when known.
    fn progress(&self, kind: &str, done: u64, total: Option<u64>);
}

fn io_error(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("study transfer file error: {e}"))
}

fn json_error(e: serde_json::Error) -> CoreError {
    CoreError::Internal(format!("study transfer serialisation error: {e}"))
}

/// The content id of an observation (see [`ObservationRecord::content_id`]).
pub fn content_id(
    patient_key: &str,
    coding: &CodingRecord,
    effective_start: Option<DateTime<Utc>>,
    data: &str,
) -> String {
    let mut hash = Sha256::new();
    for part in [
        patient_key,
        &coding.system,
        &coding.code,
        &effective_start.map(|t| t.to_rfc3339()).unwrap_or_default(),
        data,
    ] {
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn patient_key(email: Option<&str>, identifier: Option<&str>, p: &PatientRecord) -> String {
    match (email, identifier) {
        (Some(e), _) => format!("email:{}", e.to_lowercase()),
        (None, Some(i)) => format!("identifier:{i}"),
        (None, None) => format!("name:{}|{}|{}", p.name_family, p.name_given, p.birth_date),
    }
}

/// The principal of an active account, as a browser session of theirs would be (full role),
/// for the command line.
///
/// # Errors
/// `404` for an unknown or inactive account; storage failures.
pub async fn principal_for(state: &AppState, email: &str) -> CoreResult<Principal> {
    let user = state
        .store
        .get_user_by_email(&email.trim().to_lowercase())
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| CoreError::NotFound(format!("No active account {email}.")))?;
    Ok(Principal {
        practitioner: state.store.get_practitioner_by_user(user.id).await?,
        patient: state.store.get_patient_by_user(user.id).await?,
        user,
        via: crate::policy::AuthMethod::Session,
        scopes: crate::domain::GrantedScopes::full_role(),
    })
}

struct Writer {
    out: BufWriter<tokio::fs::File>,
    count: u64,
}

impl Writer {
    async fn create(path: PathBuf) -> CoreResult<Writer> {
        Ok(Writer {
            out: BufWriter::new(tokio::fs::File::create(&path).await.map_err(io_error)?),
            count: 0,
        })
    }

    async fn write(&mut self, record: &Record) -> CoreResult<()> {
        let line = serde_json::to_vec(record).map_err(json_error)?;
        self.out.write_all(&line).await.map_err(io_error)?;
        self.out.write_all(b"\n").await.map_err(io_error)?;
        self.count += 1;
        Ok(())
    }

    async fn finish(mut self) -> CoreResult<u64> {
        self.out.flush().await.map_err(io_error)?;
        Ok(self.count)
    }
}

/// Caches concepts by id.
#[derive(Default)]
struct Concepts(HashMap<Id, CodingRecord>);

impl Concepts {
    async fn get(&mut self, state: &AppState, id: Id) -> CoreResult<Option<CodingRecord>> {
        if let Some(c) = self.0.get(&id) {
            return Ok(Some(c.clone()));
        }
        let Some(c) = state.store.get_concept(id).await? else {
            return Ok(None);
        };
        let coding = coding_of(&c);
        self.0.insert(id, coding.clone());
        Ok(Some(coding))
    }
}

fn coding_of(c: &CodeableConcept) -> CodingRecord {
    CodingRecord {
        system: c.coding_system.clone(),
        code: c.coding_code.clone(),
        text: c.text.clone(),
    }
}

/// Exports study `study_id` into `dir` (created if missing) as read through `principal`'s
/// access scope; returns the manifest (also written as `dir/manifest.json`).
///
/// # Errors
/// `404` for an unknown study, `403` when the caller may not read it or no patient data at all,
/// file-system and storage failures.
pub async fn export_study(
    state: &AppState,
    principal: &Principal,
    study_id: Id,
    dir: &Path,
    progress: Option<&dyn TransferProgress>,
) -> CoreResult<Manifest> {
    let study = state
        .store
        .get_study(study_id)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("Study {study_id} is not known.")))?;
    require(
        state,
        principal,
        Action::ReadStudy {
            organization_id: study.organization_id,
        },
    )
    .await?;
    let access = scope(state, principal).await;
    if access.sees_nothing() {
        return Err(CoreError::Forbidden(
            "You may not read patient data.".into(),
        ));
    }
    let organization = state
        .store
        .get_organization(study.organization_id)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("Study {study_id} is not known.")))?;
    let parent = match organization.part_of {
        Some(p) if p != ROOT_ORGANIZATION_ID => {
            state.store.get_organization(p).await?.map(|o| o.name)
        }
        _ => None,
    };
    tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
    audit::record(
        state,
        AuditEvent::by(principal, AuditKind::Export)
            .entity(format!("Group/{study_id}"))
            .detail("study export".to_string()),
    );
    let mut concepts = Concepts::default();
    let mut counts = BTreeMap::new();

    let mut w = Writer::create(dir.join(FILES[0])).await?;
    w.write(&Record::Study(StudyRecord {
        organization: OrganizationRecord {
            name: organization.name.clone(),
            org_type: organization.org_type.clone(),
            parent,
        },
        name: study.name.clone(),
        description: study.description.clone(),
        icon_url: study.icon_url.clone(),
        icon: state
            .store
            .get_study_icon(study_id)
            .await?
            .map(|i| IconRecord::new(&i.content_type, &i.data)),
    }))
    .await?;
    counts.insert("study".to_string(), w.finish().await?);

    let mut w = Writer::create(dir.join(FILES[1])).await?;
    let mut source_names: HashMap<Id, Option<String>> = HashMap::new();
    for link in state.store.list_study_data_sources(study_id).await? {
        let Some(source) = state.store.get_data_source(link.data_source_id).await? else {
            continue;
        };
        let mut supported = Vec::new();
        for s in state.store.list_supported_scopes(source.id).await? {
            if let Some(c) = concepts.get(state, s.scope_code_id).await? {
                supported.push(c);
            }
        }
        source_names.insert(source.id, source.name.clone());
        w.write(&Record::DataSource(DataSourceRecord {
            name: source.name,
            source_type: source.source_type,
            supported_scopes: supported,
        }))
        .await?;
    }
    counts.insert("dataSource".to_string(), w.finish().await?);

    let mut w = Writer::create(dir.join(FILES[2])).await?;
    for request in state.store.list_scope_requests(study_id).await? {
        if let Some(coding) = concepts.get(state, request.scope_code_id).await? {
            w.write(&Record::ScopeRequest(ScopeRequestRecord { coding }))
                .await?;
        }
    }
    counts.insert("scopeRequest".to_string(), w.finish().await?);

    let mut w = Writer::create(dir.join(FILES[3])).await?;
    for link in state.store.list_study_clients(study_id).await? {
        if let Some(c) = state.store.get_client(link.client_id).await? {
            w.write(&Record::Client(ClientRecord {
                client_id: c.client_id,
                name: c.name,
                redirect_uris: c.redirect_uris,
                client_type: c.client_type,
                grant_type: c.authorization_grant_type,
                skip_authorization: c.skip_authorization,
                algorithm: c.algorithm,
            }))
            .await?;
        }
    }
    counts.insert("client".to_string(), w.finish().await?);

    // Patients and their consents, page by page; the natural key of each patient is kept for
    // the content ids of their observations (one short string per enrolled patient).
    let mut patients = Writer::create(dir.join(FILES[4])).await?;
    let mut consents = Writer::create(dir.join(FILES[5])).await?;
    let mut keys: HashMap<Id, String> = HashMap::new();
    let query = PatientQuery {
        study_id: Some(study_id),
        ..PatientQuery::default()
    };
    let mut page = 1;
    loop {
        let found = state
            .store
            .list_patients(&access, &query, PageRequest::new(page, BATCH))
            .await?;
        for patient in &found.items {
            let email = match patient.jhe_user_id {
                Some(u) => state.store.get_user(u).await?.map(|u| u.email),
                None => None,
            };
            let record = PatientRecord {
                reference: patient.id,
                email,
                identifier: patient.identifier.clone(),
                name_family: patient.name_family.clone(),
                name_given: patient.name_given.clone(),
                birth_date: patient.birth_date,
                telecom_phone: patient.telecom_phone.clone(),
            };
            keys.insert(
                patient.id,
                patient_key(
                    record.email.as_deref(),
                    record.identifier.as_deref(),
                    &record,
                ),
            );
            patients.write(&Record::Patient(record)).await?;
            let enrolments: HashSet<Id> = state
                .store
                .list_patient_studies(&access, patient.id)
                .await?
                .into_iter()
                .filter(|e| e.study_id == study_id)
                .map(|e| e.id)
                .collect();
            for consent in state
                .store
                .list_patient_consents(&access, patient.id)
                .await?
            {
                if !enrolments.contains(&consent.study_patient_id) {
                    continue;
                }
                if let Some(coding) = concepts.get(state, consent.scope_code_id).await? {
                    consents
                        .write(&Record::Consent(ConsentRecord {
                            patient: patient.id,
                            coding,
                            consented: consent.consented,
                            time: consent.consented_time,
                        }))
                        .await?;
                }
            }
        }
        audit::record_access(
            state,
            principal,
            AuditKind::Search,
            "Patient",
            Some("study export"),
            found.items.iter().map(|p| p.id),
        );
        if let Some(p) = progress {
            p.progress("patient", patients.count, Some(found.total));
        }
        if !found.has_next() {
            break;
        }
        page += 1;
    }
    counts.insert("patient".to_string(), patients.finish().await?);
    counts.insert("consent".to_string(), consents.finish().await?);

    let mut w = Writer::create(dir.join(FILES[6])).await?;
    let mut after: Option<KeysetCursor> = None;
    loop {
        let found = observation_search::search(
            state,
            principal,
            ObservationQuery {
                study_id: Some(study_id),
                ..ObservationQuery::default()
            },
            SearchPaging {
                count: BATCH,
                page: 1,
                after,
            },
        )
        .await?;
        for o in &found.page.items {
            let Some(coding) = concepts.get(state, o.codeable_concept_id).await? else {
                continue;
            };
            let data_source = match o.data_source_id {
                None => None,
                Some(id) => match source_names.get(&id) {
                    Some(name) => name.clone(),
                    None => {
                        let name = state.store.get_data_source(id).await?.and_then(|s| s.name);
                        source_names.insert(id, name.clone());
                        name
                    }
                },
            };
            let key = keys
                .get(&o.subject_patient_id)
                .cloned()
                .unwrap_or_else(|| format!("id:{}", o.subject_patient_id));
            w.write(&Record::Observation(Box::new(ObservationRecord {
                patient: o.subject_patient_id,
                content_id: content_id(&key, &coding, o.effective_start, &o.value_attachment_data),
                coding,
                data_source,
                content_type: o.content_type.clone(),
                status: o.status.clone(),
                effective_start: o.effective_start,
                effective_end: o.effective_end,
                identifiers: o.identifiers.clone(),
                data: o.value_attachment_data.clone(),
            })))
            .await?;
        }
        if let Some(p) = progress {
            p.progress("observation", w.count, Some(found.page.total));
        }
        match found.next_cursor {
            Some(c) if found.has_next => after = Some(c),
            _ => break,
        }
    }
    counts.insert("observation".to_string(), w.finish().await?);

    let manifest = Manifest {
        format: FORMAT.to_string(),
        version: FORMAT_VERSION,
        exported_at: Utc::now(),
        exported_by: principal.user.email.clone(),
        source: state.config.site_url.clone(),
        study: study.name,
        organization: organization.name,
        counts,
    };
    let text =
        serde_json::to_vec_pretty(&Record::Manifest(manifest.clone())).map_err(json_error)?;
    tokio::fs::write(dir.join("manifest.json"), text)
        .await
        .map_err(io_error)?;
    Ok(manifest)
}

/// Exports study `study_id` as one file at `path` (the manifest line, then every line of the
/// directory form in order); the directory is built next to it and removed.
///
/// # Errors
/// Those of [`export_study`].
pub async fn export_study_archive(
    state: &AppState,
    principal: &Principal,
    study_id: Id,
    path: &Path,
) -> CoreResult<Manifest> {
    let dir = path.with_extension("parts");
    let result = async {
        let manifest = export_study(state, principal, study_id, &dir, None).await?;
        let mut out = BufWriter::new(tokio::fs::File::create(path).await.map_err(io_error)?);
        let line = serde_json::to_vec(&Record::Manifest(manifest.clone())).map_err(json_error)?;
        out.write_all(&line).await.map_err(io_error)?;
        out.write_all(b"\n").await.map_err(io_error)?;
        for file in FILES {
            let mut input = tokio::fs::File::open(dir.join(file))
                .await
                .map_err(io_error)?;
            tokio::io::copy(&mut input, &mut out)
                .await
                .map_err(io_error)?;
        }
        out.flush().await.map_err(io_error)?;
        Ok(manifest)
    }
    .await;
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot remove study export parts");
    }
    result
}

/// Reads one line of at most [`MAX_LINE_BYTES`]; `None` at the end.
async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> CoreResult<Option<()>> {
    buf.clear();
    let n = (&mut *reader)
        .take(MAX_LINE_BYTES + 1)
        .read_until(b'\n', buf)
        .await
        .map_err(|e| CoreError::BadRequest(format!("Cannot read the export: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > MAX_LINE_BYTES {
        return Err(CoreError::BadRequest(format!(
            "A line of the export is longer than {MAX_LINE_BYTES} bytes."
        )));
    }
    Ok(Some(()))
}

fn parse_record(line: &[u8], number: u64) -> CoreResult<Option<Record>> {
    let text = std::str::from_utf8(line)
        .map_err(|_| CoreError::BadRequest(format!("Line {number} is not UTF-8.")))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.contains("\\u0000") {
        return Err(CoreError::BadRequest(format!(
            "Line {number} contains a NUL character."
        )));
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| CoreError::BadRequest(format!("Line {number} is not a valid record: {e}")))
}

/// Imports an export in its single-file form from `reader` (see [`export_study_archive`]).
///
/// # Errors
/// As [`import_study_dir`].
pub async fn import_study_stream<R: AsyncBufRead + Unpin + Send>(
    state: &AppState,
    principal: &Principal,
    reader: &mut R,
    progress: Option<&dyn TransferProgress>,
) -> CoreResult<ImportReport> {
    let mut importer = Importer::new(state, principal, progress).await?;
    let mut buf = Vec::new();
    let mut number = 0;
    while next_line(reader, &mut buf).await?.is_some() {
        number += 1;
        if let Some(record) = parse_record(&buf, number)? {
            importer.accept(record).await?;
        }
    }
    importer.finish().await
}

/// Imports an export directory (`manifest.json` and the files of [`FILES`]; missing files are
/// empty) as `principal`, who must be a superuser. Returns what was created and what was there.
///
/// # Errors
/// `403` for anyone but a superuser; `400` for another format or version, records out of order,
/// a record naming an unknown patient, counts that differ from the manifest, or invalid data
/// (a study icon that is not base64 or not an accepted image, refused before any write);
/// `409` when a patient's e-mail belongs to an account that is not a patient's; storage and
/// file-system failures. What was imported before an error stays (a repeated import continues).
pub async fn import_study_dir(
    state: &AppState,
    principal: &Principal,
    dir: &Path,
    progress: Option<&dyn TransferProgress>,
) -> CoreResult<ImportReport> {
    let mut importer = Importer::new(state, principal, progress).await?;
    let manifest = tokio::fs::read(dir.join("manifest.json"))
        .await
        .map_err(|e| CoreError::BadRequest(format!("Cannot read manifest.json: {e}")))?;
    match parse_record(&manifest, 1)? {
        Some(record) => importer.accept(record).await?,
        None => return Err(CoreError::BadRequest("manifest.json is empty.".into())),
    }
    for file in FILES {
        let path = dir.join(file);
        let input = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(e)),
        };
        let mut reader = BufReader::new(input);
        let mut buf = Vec::new();
        let mut number = 0;
        while next_line(&mut reader, &mut buf).await?.is_some() {
            number += 1;
            let record = parse_record(&buf, number)
                .map_err(|e| CoreError::BadRequest(format!("{file}: {e}")))?;
            if let Some(record) = record {
                importer.accept(record).await?;
            }
        }
    }
    importer.finish().await
}

/// The state of an import.
struct Importer<'a> {
    state: &'a AppState,
    principal: &'a Principal,
    progress: Option<&'a dyn TransferProgress>,
    access: AccessScope,
    manifest: Option<Manifest>,
    seen: BTreeMap<String, u64>,
    last_file: usize,
    report: ImportReport,
    study_id: Option<Id>,
    organization_id: Id,
    enrolled: HashSet<Id>,
    /// `ref` → (patient id, enrolment id, natural key).
    patients: HashMap<Id, (Id, Id, String)>,
    concepts: HashMap<(String, String), Id>,
    sources: HashMap<String, Id>,
    batch: Vec<(NewObservation, Vec<ObservationIdentifier>)>,
}

impl<'a> Importer<'a> {
    async fn new(
        state: &'a AppState,
        principal: &'a Principal,
        progress: Option<&'a dyn TransferProgress>,
    ) -> CoreResult<Importer<'a>> {
        if !principal.user.is_superuser {
            return Err(CoreError::Forbidden(
                "Only a superuser may import a study.".into(),
            ));
        }
        Ok(Importer {
            state,
            principal,
            progress,
            // Matching needs what the database holds whoever can read it (a superuser reads
            // patient data only as a member of an organisation): the system scope, for this
            // superuser-only use case alone.
            access: AccessScope::system(),
            manifest: None,
            seen: BTreeMap::new(),
            last_file: 0,
            report: ImportReport::default(),
            study_id: None,
            organization_id: 0,
            enrolled: HashSet::new(),
            patients: HashMap::new(),
            concepts: HashMap::new(),
            sources: HashMap::new(),
            batch: Vec::new(),
        })
    }

    fn study(&self) -> CoreResult<Id> {
        self.study_id.ok_or_else(|| {
            CoreError::BadRequest("The study record must come before the others.".into())
        })
    }

    async fn accept(&mut self, record: Record) -> CoreResult<()> {
        let kind = record.kind();
        if self.manifest.is_none() && !matches!(record, Record::Manifest(_)) {
            return Err(CoreError::BadRequest(
                "The export must start with its manifest.".into(),
            ));
        }
        let index = record.file_index();
        if index < self.last_file {
            return Err(CoreError::BadRequest(format!(
                "A {kind} record comes after records it must precede."
            )));
        }
        self.last_file = index;
        if !matches!(record, Record::Manifest(_)) {
            *self.seen.entry(kind.to_string()).or_insert(0) += 1;
        }
        match record {
            Record::Manifest(m) => {
                if self.manifest.is_some() {
                    return Err(CoreError::BadRequest("A second manifest.".into()));
                }
                if m.format != FORMAT || m.version != FORMAT_VERSION {
                    return Err(CoreError::BadRequest(format!(
                        "Unsupported export format {} version {}: this server reads {FORMAT} version {FORMAT_VERSION}.",
                        m.format, m.version
                    )));
                }
                self.manifest = Some(m);
            }
            Record::Study(s) => self.import_study(s).await?,
            Record::DataSource(d) => self.import_data_source(d).await?,
            Record::ScopeRequest(r) => {
                let study = self.study()?;
                let concept = self.concept(&r.coding).await?;
                let existing = self
                    .state
                    .store
                    .list_scope_requests(study)
                    .await?
                    .iter()
                    .any(|q| q.scope_code_id == concept);
                if !existing {
                    self.state.store.add_scope_request(study, concept).await?;
                }
                self.report.count("scopeRequest", !existing);
            }
            Record::Client(c) => self.import_client(c).await?,
            Record::Patient(p) => self.import_patient(p).await?,
            Record::Consent(c) => self.import_consent(c).await?,
            Record::Observation(o) => {
                self.study()?;
                self.queue_observation(*o).await?;
                if u64::try_from(self.batch.len()).unwrap_or(u64::MAX) >= BATCH {
                    self.flush_observations().await?;
                }
            }
        }
        Ok(())
    }

    async fn finish(mut self) -> CoreResult<ImportReport> {
        self.flush_observations().await?;
        let manifest = self
            .manifest
            .take()
            .ok_or_else(|| CoreError::BadRequest("The export is empty.".into()))?;
        for (kind, expected) in &manifest.counts {
            let read = self.seen.get(kind).copied().unwrap_or(0);
            if read != *expected {
                return Err(CoreError::BadRequest(format!(
                    "The manifest announces {expected} {kind} records, the export holds {read}: it is incomplete."
                )));
            }
        }
        self.study()?;
        audit::record(
            self.state,
            AuditEvent::by(self.principal, AuditKind::Create)
                .entity(format!("Group/{}", self.report.study_id))
                .detail(format!(
                    "study import from {} ({} created)",
                    manifest.source,
                    self.report.created_total()
                )),
        );
        Ok(self.report)
    }

    async fn concept(&mut self, coding: &CodingRecord) -> CoreResult<Id> {
        let key = (coding.system.clone(), coding.code.clone());
        if let Some(id) = self.concepts.get(&key) {
            return Ok(*id);
        }
        let id = match self
            .state
            .store
            .find_concept(&coding.system, &coding.code)
            .await?
        {
            Some(c) => c.id,
            None => {
                self.state
                    .store
                    .create_concept(NewCodeableConcept {
                        id: None,
                        coding_system: coding.system.clone(),
                        coding_code: coding.code.clone(),
                        text: if coding.text.is_empty() {
                            coding.code.clone()
                        } else {
                            coding.text.clone()
                        },
                    })
                    .await?
                    .id
            }
        };
        self.concepts.insert(key, id);
        Ok(id)
    }

    async fn import_study(&mut self, s: StudyRecord) -> CoreResult<()> {
        if self.study_id.is_some() {
            return Err(CoreError::BadRequest("A second study record.".into()));
        }
        if s.name.trim().is_empty() || s.organization.name.trim().is_empty() {
            return Err(CoreError::BadRequest(
                "The study and its organisation need names.".into(),
            ));
        }
        if !crate::domain::is_organization_type(&s.organization.org_type) {
            return Err(CoreError::BadRequest(format!(
                "Unknown organisation type {}.",
                s.organization.org_type
            )));
        }
        // The icon is checked before anything is written.
        let icon = s.icon.as_ref().map(IconRecord::decode).transpose()?;
        // The organisation by name (the same type preferred).
        let mut found = None;
        let mut page = 1;
        loop {
            let orgs = self
                .state
                .store
                .list_organizations(None, PageRequest::new(page, BATCH))
                .await?;
            for o in &orgs.items {
                if o.name == s.organization.name
                    && o.id != ROOT_ORGANIZATION_ID
                    && (found.is_none() || o.org_type == s.organization.org_type)
                {
                    found = Some(o.id);
                }
            }
            if !orgs.has_next() {
                break;
            }
            page += 1;
        }
        let organization_id = match found {
            Some(id) => {
                self.report.count("organization", false);
                id
            }
            None => {
                self.report.count("organization", true);
                let root = self
                    .state
                    .store
                    .get_organization(ROOT_ORGANIZATION_ID)
                    .await?
                    .map(|r| r.id);
                self.state
                    .store
                    .create_organization(NewOrganization {
                        id: None,
                        name: s.organization.name.clone(),
                        org_type: s.organization.org_type.clone(),
                        part_of: root,
                    })
                    .await?
                    .id
            }
        };
        let mut study = None;
        let mut page = 1;
        loop {
            let studies = self
                .state
                .store
                .list_studies(Some(&[organization_id]), PageRequest::new(page, BATCH))
                .await?;
            if let Some(found) = studies.items.iter().find(|x| x.name == s.name) {
                study = Some(found.id);
                break;
            }
            if !studies.has_next() {
                break;
            }
            page += 1;
        }
        let study_id = match study {
            Some(id) => {
                self.report.count("study", false);
                id
            }
            None => {
                self.report.count("study", true);
                let created = self
                    .state
                    .store
                    .create_study(NewStudy {
                        id: None,
                        name: s.name,
                        description: s.description,
                        organization_id,
                        // An uploaded icon is served here instead (below).
                        icon_url: if icon.is_some() { None } else { s.icon_url },
                    })
                    .await?;
                let id = created.id;
                if let Some(bytes) = icon {
                    self.store_icon(created, bytes).await?;
                }
                id
            }
        };
        self.enrolled = self
            .state
            .store
            .list_study_patients(&self.access, study_id)
            .await?
            .iter()
            .map(|e| e.patient_id)
            .collect();
        self.study_id = Some(study_id);
        self.organization_id = organization_id;
        self.report.study_id = study_id;
        self.report.organization_id = organization_id;
        Ok(())
    }

    /// Stores the icon of a study the import just created, with its `iconUrl` pointing to this
    /// instance; on failure the study goes again, so a repeated import creates it with its icon.
    async fn store_icon(&self, created: crate::domain::Study, bytes: Vec<u8>) -> CoreResult<()> {
        let id = created.id;
        let result = async {
            let (icon, url) = studies::prepare_icon(self.state, id, bytes).await?;
            let study = crate::domain::Study {
                icon_url: Some(url),
                ..created
            };
            self.state
                .store
                .update_study_and_icon(&study, Some(Some(&icon)))
                .await?;
            Ok(())
        }
        .await;
        if result.is_err()
            && let Err(e) = self.state.store.delete_study(id).await
        {
            tracing::warn!(error = %e, study = id, "cannot remove a study whose icon import failed");
        }
        result
    }

    async fn data_source(
        &mut self,
        name: Option<&str>,
        source_type: &str,
    ) -> CoreResult<Option<Id>> {
        let key = format!("{source_type}\u{1f}{}", name.unwrap_or_default());
        if let Some(id) = self.sources.get(&key) {
            return Ok(Some(*id));
        }
        let mut page = 1;
        loop {
            let found = self
                .state
                .store
                .list_data_sources(PageRequest::new(page, BATCH))
                .await?;
            if let Some(s) = found.items.iter().find(|s| {
                s.name.as_deref() == name
                    && (source_type.is_empty() || s.source_type == source_type)
            }) {
                self.sources.insert(key, s.id);
                return Ok(Some(s.id));
            }
            if !found.has_next() {
                return Ok(None);
            }
            page += 1;
        }
    }

    async fn import_data_source(&mut self, d: DataSourceRecord) -> CoreResult<()> {
        let study = self.study()?;
        if !crate::domain::is_data_source_type(&d.source_type) {
            return Err(CoreError::BadRequest(format!(
                "Unknown data source type {}.",
                d.source_type
            )));
        }
        let (id, mut created) = match self.data_source(d.name.as_deref(), &d.source_type).await? {
            Some(id) => (id, false),
            None => {
                let s = self
                    .state
                    .store
                    .create_data_source(NewDataSource {
                        id: None,
                        name: d.name.clone(),
                        source_type: d.source_type.clone(),
                    })
                    .await?;
                self.sources.insert(
                    format!("{}\u{1f}{}", d.source_type, d.name.unwrap_or_default()),
                    s.id,
                );
                (s.id, true)
            }
        };
        let supported: HashSet<Id> = self
            .state
            .store
            .list_supported_scopes(id)
            .await?
            .iter()
            .map(|s| s.scope_code_id)
            .collect();
        for coding in &d.supported_scopes {
            let concept = self.concept(coding).await?;
            if !supported.contains(&concept) {
                self.state.store.add_supported_scope(id, concept).await?;
                created = true;
            }
        }
        let linked = self
            .state
            .store
            .list_study_data_sources(study)
            .await?
            .iter()
            .any(|l| l.data_source_id == id);
        if !linked {
            self.state.store.add_study_data_source(study, id).await?;
            created = true;
        }
        self.report.count("dataSource", created);
        Ok(())
    }

    async fn import_client(&mut self, c: ClientRecord) -> CoreResult<()> {
        let study = self.study()?;
        if c.client_id.trim().is_empty() {
            return Err(CoreError::BadRequest("A client without client_id.".into()));
        }
        let (id, mut created) = match self
            .state
            .store
            .get_client_by_client_id(&c.client_id)
            .await?
        {
            Some(existing) => (existing.id, false),
            None => {
                let new = self
                    .state
                    .store
                    .create_client(NewOAuthClient {
                        id: None,
                        client_id: c.client_id,
                        redirect_uris: c.redirect_uris,
                        client_type: c.client_type,
                        authorization_grant_type: c.grant_type,
                        client_secret: String::new(),
                        name: c.name,
                        user_id: None,
                        skip_authorization: c.skip_authorization,
                        algorithm: c.algorithm,
                    })
                    .await?;
                (new.id, true)
            }
        };
        let linked = self
            .state
            .store
            .list_study_clients(study)
            .await?
            .iter()
            .any(|l| l.client_id == id);
        if !linked {
            self.state.store.add_study_client(study, id).await?;
            created = true;
        }
        self.report.count("client", created);
        Ok(())
    }

    /// The existing patient a record names, if any.
    async fn find_patient(&self, p: &PatientRecord) -> CoreResult<Option<Patient>> {
        if let Some(email) = &p.email {
            let Some(user) = self.state.store.get_user_by_email(email).await? else {
                return Ok(None);
            };
            return Ok(self.state.store.get_patient_by_user(user.id).await?);
        }
        let query = match &p.identifier {
            Some(identifier) => PatientQuery {
                identifier: Some(identifier.clone()),
                ..PatientQuery::default()
            },
            None => PatientQuery {
                organization_id: Some(self.organization_id),
                family: vec![p.name_family.clone()],
                given: vec![p.name_given.clone()],
                birth_date_from: Some(p.birth_date),
                birth_date_before: p.birth_date.succ_opt(),
                ..PatientQuery::default()
            },
        };
        let found = self
            .state
            .store
            .list_patients(&self.access, &query, PageRequest::new(1, BATCH))
            .await?;
        Ok(found.items.into_iter().find(|x| {
            p.identifier.is_some()
                || (x.identifier.is_none()
                    && x.name_family == p.name_family
                    && x.name_given == p.name_given
                    && x.birth_date == p.birth_date)
        }))
    }

    async fn import_patient(&mut self, p: PatientRecord) -> CoreResult<()> {
        let study = self.study()?;
        if self.patients.contains_key(&p.reference) {
            return Err(CoreError::BadRequest(format!(
                "Patient ref {} appears twice.",
                p.reference
            )));
        }
        if p.name_family.trim().is_empty() && p.name_given.trim().is_empty() {
            return Err(CoreError::BadRequest(format!(
                "Patient ref {} has no name.",
                p.reference
            )));
        }
        let email = p.email.as_ref().map(|e| e.trim().to_lowercase());
        if let Some(e) = &email
            && (!e.contains('@') || e.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(CoreError::BadRequest(format!(
                "Patient ref {} has an invalid e-mail address.",
                p.reference
            )));
        }
        let key = patient_key(email.as_deref(), p.identifier.as_deref(), &p);
        let patient = match self.find_patient(&p).await? {
            Some(found) => {
                let organizations = self
                    .state
                    .store
                    .list_patient_organization_ids(found.id)
                    .await?;
                let member = organizations.contains(&self.organization_id);
                if !member {
                    self.state
                        .store
                        .add_patient_organization(found.id, self.organization_id)
                        .await?;
                }
                self.report.count("patient", !member);
                found
            }
            None => {
                // Every check before the first write; then the account, the record and the
                // membership in one unit of work.
                let existing_user = match &email {
                    Some(e) => self.state.store.get_user_by_email(e).await?,
                    None => None,
                };
                if let Some(user) = &existing_user
                    && !crate::services::patients::is_patient_only_account(self.state, user).await?
                {
                    return Err(CoreError::Conflict(
                        crate::services::patients::ACCOUNT_NOT_PATIENT.into(),
                    ));
                }
                let uow = self.state.store.begin().await?;
                let user_id = match (existing_user, &email) {
                    (Some(user), _) => Some(user.id),
                    (None, Some(e)) => Some(
                        uow.create_user(NewUser {
                            email: e.clone(),
                            password: jhe_kdf::unusable_password(),
                            user_type: Some(UserType::Patient),
                            ..Default::default()
                        })
                        .await?
                        .id,
                    ),
                    (None, None) => None,
                };
                let patient = uow
                    .create_patient(NewPatient {
                        id: None,
                        jhe_user_id: user_id,
                        identifier: p.identifier.clone(),
                        name_family: p.name_family.clone(),
                        name_given: p.name_given.clone(),
                        birth_date: p.birth_date,
                        telecom_phone: p.telecom_phone.clone(),
                    })
                    .await?;
                uow.add_patient_organization(patient.id, self.organization_id)
                    .await?;
                uow.commit().await?;
                self.report.count("patient", true);
                patient
            }
        };
        let enrolment = self.state.store.enroll_patient(study, patient.id).await?;
        let new_enrolment = self.enrolled.insert(patient.id);
        self.report.count("enrolment", new_enrolment);
        if new_enrolment {
            audit::record(
                self.state,
                AuditEvent::by(self.principal, AuditKind::Enrolment)
                    .patient(patient.id)
                    .entity(format!("Group/{study}"))
                    .detail("study import".to_string()),
            );
        }
        self.patients
            .insert(p.reference, (patient.id, enrolment.id, key));
        if let Some(progress) = self.progress {
            progress.progress("patient", self.patients.len() as u64, None);
        }
        Ok(())
    }

    fn patient_of(&self, reference: Id) -> CoreResult<(Id, Id, String)> {
        self.patients.get(&reference).cloned().ok_or_else(|| {
            CoreError::BadRequest(format!(
                "A record names patient ref {reference}, which the export does not list."
            ))
        })
    }

    async fn import_consent(&mut self, c: ConsentRecord) -> CoreResult<()> {
        let (patient_id, enrolment_id, _) = self.patient_of(c.patient)?;
        let concept = self.concept(&c.coding).await?;
        let current = self
            .state
            .store
            .list_patient_consents(&self.access, patient_id)
            .await?
            .into_iter()
            .find(|x| x.study_patient_id == enrolment_id && x.scope_code_id == concept);
        // The later decision wins; the same decision is already there.
        let keep = current.is_some_and(|x| x.consented_time >= c.time);
        if !keep {
            self.state
                .store
                .upsert_consent(enrolment_id, concept, c.consented, c.time)
                .await?;
            audit::record(
                self.state,
                AuditEvent::by(self.principal, AuditKind::ConsentChange)
                    .patient(patient_id)
                    .detail(format!(
                        "study import: {} {} {}",
                        c.coding.system,
                        c.coding.code,
                        if c.consented { "granted" } else { "refused" }
                    )),
            );
        }
        self.report.count("consent", !keep);
        Ok(())
    }

    async fn queue_observation(&mut self, o: ObservationRecord) -> CoreResult<()> {
        let (patient_id, _, key) = self.patient_of(o.patient)?;
        if o.identifiers.len() > MAX_IDENTIFIERS_PER_RESOURCE {
            return Err(CoreError::BadRequest(format!(
                "An observation has more than {MAX_IDENTIFIERS_PER_RESOURCE} identifiers."
            )));
        }
        if o.content_type.trim().is_empty() || o.status.trim().is_empty() {
            return Err(CoreError::BadRequest(
                "An observation without content type or status.".into(),
            ));
        }
        let concept = self.concept(&o.coding).await?;
        let data_source_id = match &o.data_source {
            Some(name) => self.data_source(Some(name), "").await?,
            None => None,
        };
        let identifiers = if o.identifiers.is_empty() {
            vec![ObservationIdentifier {
                system: Some(CONTENT_ID_SYSTEM.to_string()),
                value: content_id(&key, &o.coding, o.effective_start, &o.data),
            }]
        } else {
            o.identifiers
        };
        self.batch.push((
            NewObservation {
                id: None,
                subject_patient_id: patient_id,
                codeable_concept_id: concept,
                data_source_id,
                value_attachment_data: o.data,
                content_type: o.content_type,
                status: o.status,
                effective_start: o.effective_start,
                effective_end: o.effective_end,
                identifiers: identifiers.clone(),
            },
            identifiers,
        ));
        Ok(())
    }

    /// Stores the queued observations that are not there yet (one atomic multi-row insert).
    async fn flush_observations(&mut self) -> CoreResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let all: Vec<ObservationIdentifier> = batch
            .iter()
            .flat_map(|(_, ids)| ids.iter().cloned())
            .collect();
        let mut taken: HashSet<ObservationIdentifier> = self
            .state
            .store
            .find_observation_identifiers(&all)
            .await?
            .into_iter()
            .map(|(identifier, _)| identifier)
            .collect();
        let mut new = Vec::new();
        let mut patients = Vec::new();
        for (observation, ids) in batch {
            if ids.iter().any(|i| taken.contains(i)) {
                self.report.count("observation", false);
                continue;
            }
            taken.extend(ids);
            patients.push(observation.subject_patient_id);
            new.push(observation);
        }
        if !new.is_empty() {
            let created = self.state.store.create_observations(new).await?;
            for _ in &created {
                self.report.count("observation", true);
            }
            audit::record_access(
                self.state,
                self.principal,
                AuditKind::Create,
                "Observation",
                Some("study import"),
                patients,
            );
        }
        if let Some(progress) = self.progress {
            let done = self.report.created.get("observation").copied().unwrap_or(0)
                + self
                    .report
                    .existing
                    .get("observation")
                    .copied()
                    .unwrap_or(0);
            progress.progress(
                "observation",
                done,
                self.manifest
                    .as_ref()
                    .and_then(|m| m.counts.get("observation").copied()),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_tagged_and_round_trip() {
        let record = Record::Consent(ConsentRecord {
            patient: 7,
            coding: CodingRecord {
                system: "s".into(),
                code: "c".into(),
                text: String::new(),
            },
            consented: true,
            time: Utc::now(),
        });
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.starts_with(r#"{"kind":"consent","#), "{text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
        assert!(parse_record(b"{\"kind\":\"nope\"}", 1).is_err());
        assert!(parse_record(b"  \n", 1).unwrap().is_none());
    }

    #[test]
    fn study_records_carry_an_optional_icon() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        let mut study = StudyRecord {
            organization: OrganizationRecord {
                name: "Lab".into(),
                org_type: "laboratory".into(),
                parent: None,
            },
            name: "S".into(),
            description: "d".into(),
            icon_url: Some("https://elsewhere.example/icon.png".into()),
            icon: None,
        };
        // Without an icon: no `icon` key, and a line of an older export reads the same.
        let text = serde_json::to_string(&Record::Study(study.clone())).unwrap();
        assert!(!text.contains("\"icon\""), "{text}");
        assert_eq!(
            parse_record(text.as_bytes(), 1).unwrap(),
            Some(Record::Study(study.clone()))
        );
        // With one: base64 inside, the same bytes back after the upload check.
        study.icon = Some(IconRecord::new("image/png", &png));
        let text = serde_json::to_string(&Record::Study(study.clone())).unwrap();
        assert!(
            text.contains(
                r#""icon":{"contentType":"image/png","data":"iVBORw0KGgoAAAANSUhEUg=="}"#
            ),
            "{text}"
        );
        let Some(Record::Study(back)) = parse_record(text.as_bytes(), 1).unwrap() else {
            panic!("{text}");
        };
        assert_eq!(back, study);
        assert_eq!(back.icon.unwrap().decode().unwrap(), png);
        // Corrupt icons are refused, naming the study record.
        for (icon, expected) in [
            (
                IconRecord {
                    content_type: "image/png".into(),
                    data: "not base64!".into(),
                },
                "not valid base64",
            ),
            (IconRecord::new("image/png", b"<svg></svg>"), "SVG"),
            (IconRecord::new("image/png", b""), "empty"),
            (IconRecord::new("image/jpeg", &png), "declared image/jpeg"),
        ] {
            let err = icon.decode().unwrap_err().to_string();
            assert!(err.contains("study record's icon"), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn content_ids_separate_their_parts() {
        let coding = CodingRecord {
            system: "s".into(),
            code: "c".into(),
            text: String::new(),
        };
        let a = content_id("ab", &coding, None, "c");
        let b = content_id("a", &coding, None, "bc");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(a, content_id("ab", &coding, None, "c"));
    }
}
