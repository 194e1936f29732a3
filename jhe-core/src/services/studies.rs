//! Studies and their sub-resources (rest-api.md §5): enrolled patients, requested scopes, OAuth
//! clients and data sources.
//!
//! Reading a study needs a direct link to its organisation ([`Action::ReadStudy`]); changing it or
//! any of its sub-resources needs `study.manage_for_organization` there
//! ([`Action::ManageStudies`]). The original checks nothing on the sub-resources.

use crate::audit::{AuditEvent, AuditKind};
use std::collections::BTreeMap;

use crate::domain::{
    CodeableConcept, DataSource, Id, NewStudy, OAuthClient, Organization, Page, PageRequest,
    Patient, Study, StudyClient, StudyDataSource, StudyPatient, StudyScopeRequest, TextRule,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::fields::FieldErrors;
use crate::services::guard::{allowed, require, scope};
use crate::services::patients::{self, PatientView};
use crate::store::PatientQuery;

/// `404` detail of a missing study.
pub const NO_STUDY: &str = "No Study matches the given query.";
/// `404` detail for callers without a practitioner profile.
pub const NO_PRACTITIONER: &str = "No Practitioner matches the given query.";

/// A study with its organisation (the read form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyView {
    /// The study.
    pub study: Study,
    /// Its organisation.
    pub organization: Organization,
}

/// A study with the ids of its enrolled patients (the "raw" nested form of link objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyRecord {
    /// The study.
    pub study: Study,
    /// Enrolled patients, by id.
    pub patient_ids: Vec<Id>,
}

/// Fields of a study to create or change; absent fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyInput {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Organisation id.
    pub organization: Option<Id>,
    /// Icon URL: `None` absent, `Some(None)` cleared.
    pub icon_url: Option<Option<String>>,
}

/// A new enrolment with the study and patient as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    /// The enrolment.
    pub enrolment: StudyPatient,
    /// The study.
    pub study: StudyRecord,
    /// The patient.
    pub patient: Patient,
    /// The patient's organisations, by id.
    pub patient_organization_ids: Vec<Id>,
}

/// Fetches a study or `404`.
pub async fn get_or_404(state: &AppState, id: Id) -> CoreResult<Study> {
    state
        .store
        .get_study(id)
        .await?
        .ok_or_else(|| CoreError::NotFound(NO_STUDY.into()))
}

async fn with_organization(state: &AppState, study: Study) -> CoreResult<StudyView> {
    let organization =
        crate::services::organizations::get_or_404(state, study.organization_id).await?;
    Ok(StudyView {
        study,
        organization,
    })
}

/// The study if the caller may read it ([`Action::ReadStudy`]): `404` when it does not exist,
/// `403` when the caller is not linked to its organisation. Every study filter (Admin API,
/// FHIR `_has:Group:member:_id`) checks through this.
///
/// # Errors
/// The above, and store failures.
pub async fn readable(state: &AppState, principal: &Principal, id: Id) -> CoreResult<Study> {
    let study = get_or_404(state, id).await?;
    require(
        state,
        principal,
        Action::ReadStudy {
            organization_id: study.organization_id,
        },
    )
    .await?;
    Ok(study)
}

async fn manageable(state: &AppState, principal: &Principal, id: Id) -> CoreResult<Study> {
    let study = get_or_404(state, id).await?;
    require(
        state,
        principal,
        Action::ManageStudies {
            organization_id: study.organization_id,
        },
    )
    .await?;
    Ok(study)
}

/// The study with the ids of its enrolled patients that the caller can see.
pub async fn record(
    state: &AppState,
    principal: &Principal,
    study: Study,
) -> CoreResult<StudyRecord> {
    let patient_ids = state
        .store
        .list_study_patients(&scope(state, principal).await, study.id)
        .await?
        .into_iter()
        .map(|e| e.patient_id)
        .collect();
    Ok(StudyRecord { study, patient_ids })
}

/// Studies of the organisations the caller may read studies of (direct links), optionally of one
/// of them, ordered by name. Callers without a practitioner profile get `404`.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    organization_id: Option<Id>,
    page: PageRequest,
) -> CoreResult<Page<StudyView>> {
    if principal.practitioner.is_none() {
        return Err(CoreError::NotFound(NO_PRACTITIONER.into()));
    }
    let mut orgs = Vec::new();
    for org in patients::linked_organization_ids(state, principal).await? {
        if organization_id.is_some_and(|o| o != org) {
            continue;
        }
        if allowed(
            state,
            principal,
            Action::ReadStudy {
                organization_id: org,
            },
        )
        .await?
        {
            orgs.push(org);
        }
    }
    let found = state.store.list_studies(Some(&orgs), page).await?;
    // The page's organisations in one query (no query per row).
    let mut org_ids: Vec<Id> = found.items.iter().map(|s| s.organization_id).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    let names: BTreeMap<Id, _> = state
        .store
        .get_organizations(&org_ids)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let mut items = Vec::with_capacity(found.items.len());
    for study in found.items {
        let organization = names.get(&study.organization_id).cloned().ok_or_else(|| {
            CoreError::NotFound("No Organization matches the given query.".into())
        })?;
        items.push(StudyView {
            study,
            organization,
        });
    }
    Ok(Page {
        items,
        total: found.total,
        request: found.request,
    })
}

/// One study (read form).
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<StudyView> {
    let study = readable(state, principal, id).await?;
    with_organization(state, study).await
}

/// Checks the text fields of `input`; returns the trimmed name when one was given.
fn check_text(input: &StudyInput, name_required: bool) -> CoreResult<Option<String>> {
    let mut errors = FieldErrors::new();
    let name = errors.text("name", input.name.as_deref(), TextRule::NAME, name_required);
    errors.text(
        "description",
        input.description.as_deref(),
        TextRule::DESCRIPTION,
        false,
    );
    errors.text(
        "iconUrl",
        input.icon_url.as_ref().and_then(|u| u.as_deref()),
        TextRule::URL,
        false,
    );
    errors.into_result()?;
    Ok(name)
}

async fn check_organization(state: &AppState, organization_id: Id) -> CoreResult<()> {
    if state
        .store
        .get_organization(organization_id)
        .await?
        .is_none()
    {
        return Err(CoreError::field(
            "organization",
            format!("Invalid pk \"{organization_id}\" - object does not exist."),
        ));
    }
    Ok(())
}

/// Creates a study in `input.organization` (needs `study.manage_for_organization` there).
pub async fn create(
    state: &AppState,
    principal: &Principal,
    input: StudyInput,
) -> CoreResult<Study> {
    let Some(organization_id) = input.organization else {
        return Err(CoreError::field("organization", "This field is required."));
    };
    require(state, principal, Action::ManageStudies { organization_id }).await?;
    check_organization(state, organization_id).await?;
    let name = check_text(&input, true)?.unwrap_or_default();
    Ok(state
        .store
        .create_study(NewStudy {
            id: None,
            name,
            description: input.description.unwrap_or_default(),
            organization_id,
            icon_url: input.icon_url.flatten().filter(|u| !u.trim().is_empty()),
        })
        .await?)
}

/// Changes a study (needs `study.manage_for_organization` on its organisation, and on the new one
/// when it moves). `full` (PUT) requires the name.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Id,
    input: StudyInput,
    full: bool,
) -> CoreResult<Study> {
    let mut study = manageable(state, principal, id).await?;
    let name = check_text(&input, full)?;
    if let Some(org) = input.organization
        && org != study.organization_id
    {
        require(
            state,
            principal,
            Action::ManageStudies {
                organization_id: org,
            },
        )
        .await?;
        check_organization(state, org).await?;
        study.organization_id = org;
    }
    if let Some(name) = name {
        study.name = name;
    }
    if let Some(description) = input.description {
        study.description = description;
    }
    let mut icon_change = None;
    if let Some(icon) = input.icon_url {
        let icon = icon.filter(|u| !u.trim().is_empty());
        if icon != study.icon_url && !icon.as_deref().is_some_and(|u| is_icon_url(u, id)) {
            // A plain URL (or none) replaces an uploaded icon: the image goes with it.
            icon_change = Some(None);
        }
        study.icon_url = icon;
    }
    Ok(state
        .store
        .update_study_and_icon(&study, icon_change)
        .await?)
}

/// Largest icon image accepted, in bytes (256 KiB).
pub const MAX_ICON_BYTES: usize = 256 * 1024;

/// `404` detail of a study without an uploaded icon.
pub const NO_ICON: &str = "This study has no uploaded icon.";

/// What a refused icon upload tells the user to do instead.
const ICON_FORMATS: &str = "upload a PNG, JPEG or WebP image of at most 256 KiB";

/// The MIME type of an icon recognised by its first bytes (magic numbers): PNG, JPEG or WebP;
/// `None` for anything else (SVG included, which can carry scripts).
pub fn icon_content_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.get(0..4) == Some(b"RIFF".as_slice())
        && bytes.get(8..12) == Some(b"WEBP".as_slice())
    {
        Some("image/webp")
    } else {
        None
    }
}

/// Checks an uploaded icon: its MIME type, or a `400` saying what is accepted.
///
/// # Errors
/// `BadRequest` for an empty, oversized, SVG or unrecognised image.
pub fn check_icon(bytes: &[u8]) -> CoreResult<&'static str> {
    if bytes.is_empty() {
        return Err(CoreError::BadRequest(format!(
            "The icon is empty: {ICON_FORMATS}."
        )));
    }
    if bytes.len() > MAX_ICON_BYTES {
        return Err(CoreError::BadRequest(format!(
            "The icon is too large ({} bytes; at most {MAX_ICON_BYTES} bytes, 256 KiB): {ICON_FORMATS}.",
            bytes.len()
        )));
    }
    if let Some(kind) = icon_content_type(bytes) {
        return Ok(kind);
    }
    let head = String::from_utf8_lossy(bytes.get(..512).unwrap_or(bytes)).to_ascii_lowercase();
    if head.contains("<svg") || head.trim_start().starts_with("<?xml") {
        return Err(CoreError::BadRequest(format!(
            "SVG icons are not accepted (they can contain scripts): {ICON_FORMATS}."
        )));
    }
    Err(CoreError::BadRequest(format!(
        "The icon is not a PNG, JPEG or WebP image: {ICON_FORMATS}."
    )))
}

/// The path of a study's uploaded icon (under the site URL).
pub fn icon_path(study_id: Id) -> String {
    format!("/api/v1/studies/{study_id}/icon")
}

/// Whether `url` is the address of the study's uploaded icon (any version).
fn is_icon_url(url: &str, study_id: Id) -> bool {
    let path = icon_path(study_id);
    url.split_once('?')
        .map_or(url, |(base, _)| base)
        .ends_with(&path)
}

/// The SHA-256 of bytes, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The absolute address of study `study_id`'s uploaded icon under the site URL, versioned by
/// the image's SHA-256 (hex) `content_hash`: `<SITE_URL>/api/v1/studies/{id}/icon?v=<first 16
/// hex digits>`.
///
/// # Errors
/// Storage failures (reading the `SITE_URL` setting).
pub async fn uploaded_icon_url(
    state: &AppState,
    study_id: Id,
    content_hash: &str,
) -> CoreResult<String> {
    let version: String = content_hash.chars().take(16).collect();
    let site = crate::services::settings::site_url(state.store.as_ref(), &state.config).await?;
    Ok(format!("{site}{}?v={version}", icon_path(study_id)))
}

/// Checks an icon image for study `study_id` ([`check_icon`]) and prepares it for storing: the
/// icon row and the study's `icon_url` that serves it ([`uploaded_icon_url`]). Stores nothing.
///
/// # Errors
/// `400` refused image, storage failures.
pub async fn prepare_icon(
    state: &AppState,
    study_id: Id,
    bytes: Vec<u8>,
) -> CoreResult<(crate::domain::StudyIcon, String)> {
    let content_type = check_icon(&bytes)?;
    let content_hash = sha256_hex(&bytes);
    let url = uploaded_icon_url(state, study_id, &content_hash).await?;
    let icon = crate::domain::StudyIcon {
        study_id,
        content_type: content_type.to_string(),
        data: bytes,
        content_hash,
        updated_at: chrono::Utc::now(),
    };
    Ok((icon, url))
}

/// Uploads a study's icon (same permission as editing the study): PNG, JPEG or WebP recognised
/// by their magic bytes, at most [`MAX_ICON_BYTES`]. The study's `icon_url` becomes the
/// absolute address of the served image under the site URL with its version
/// (`…/api/v1/studies/{id}/icon?v=<hash>`), so every client reading `iconUrl` gets a working
/// link that changes with the image.
///
/// # Errors
/// `404` unknown study, `403` not allowed, `400` refused image (nothing is stored).
pub async fn set_icon(
    state: &AppState,
    principal: &Principal,
    id: Id,
    bytes: Vec<u8>,
) -> CoreResult<Study> {
    let mut study = manageable(state, principal, id).await?;
    let (icon, url) = prepare_icon(state, id, bytes).await?;
    study.icon_url = Some(url);
    // The image and the study's `iconUrl` change together (one transaction).
    Ok(state
        .store
        .update_study_and_icon(&study, Some(Some(&icon)))
        .await?)
}

/// Removes a study's icon (same permission as editing the study): the uploaded image, and the
/// `icon_url` (whatever it was).
///
/// # Errors
/// `404` unknown study, `403` not allowed.
pub async fn remove_icon(state: &AppState, principal: &Principal, id: Id) -> CoreResult<Study> {
    let mut study = manageable(state, principal, id).await?;
    study.icon_url = None;
    // The image and the study's `iconUrl` go together (one transaction).
    Ok(state
        .store
        .update_study_and_icon(&study, Some(None))
        .await?)
}

/// A study's uploaded icon, for anyone (an `<img>` in an app has no token; study icons are not
/// patient data).
///
/// # Errors
/// `404` when the study has no uploaded icon.
pub async fn icon(state: &AppState, id: Id) -> CoreResult<crate::domain::StudyIcon> {
    state
        .store
        .get_study_icon(id)
        .await?
        .ok_or_else(|| CoreError::NotFound(NO_ICON.into()))
}

/// Deletes a study with its enrolments, consents, requests and links.
pub async fn delete(state: &AppState, principal: &Principal, id: Id) -> CoreResult<()> {
    manageable(state, principal, id).await?;
    state.store.delete_study(id).await?;
    Ok(())
}

/// The studies of an organisation (write form), ordered by name. The caller needs to be linked
/// to the organisation or allowed to manage its studies (superusers).
pub async fn of_organization(
    state: &AppState,
    principal: &Principal,
    organization_id: Id,
) -> CoreResult<Vec<Study>> {
    crate::services::organizations::get_or_404(state, organization_id).await?;
    if !allowed(state, principal, Action::ReadStudy { organization_id }).await?
        && !allowed(state, principal, Action::ManageStudies { organization_id }).await?
    {
        return Err(CoreError::Forbidden(
            "Current User does not have authorization to access this Study.".into(),
        ));
    }
    Ok(state
        .store
        .list_studies(Some(&[organization_id]), PageRequest::all())
        .await?
        .items)
}

/// Patients enrolled in the study, ordered by id (only those visible to the caller).
pub async fn patients(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<Vec<PatientView>> {
    readable(state, principal, id).await?;
    let found = state
        .store
        .list_patients(
            &scope(state, principal).await,
            &PatientQuery {
                study_id: Some(id),
                ..Default::default()
            },
            PageRequest::all(),
        )
        .await?;
    patients::views(state, found.items).await
}

fn required_id(id: Option<Id>, field: &str) -> CoreResult<Id> {
    id.ok_or_else(|| CoreError::field(field, "This field is required."))
}

fn required_ids(ids: Option<Vec<Id>>, field: &str) -> CoreResult<Vec<Id>> {
    match ids {
        Some(ids) if !ids.is_empty() => Ok(ids),
        _ => Err(CoreError::field(field, "This field is required.")),
    }
}

/// Enrols patients (each must belong to the study's organisation; already enrolled is fine).
/// Every patient is checked before the first enrolment.
pub async fn enroll(
    state: &AppState,
    principal: &Principal,
    id: Id,
    patient_ids: Option<Vec<Id>>,
) -> CoreResult<Vec<Enrolled>> {
    let study = manageable(state, principal, id).await?;
    let ids = required_ids(patient_ids, "patientIds")?;
    let access = scope(state, principal).await;
    let mut checked = Vec::with_capacity(ids.len());
    for pid in ids {
        let Some(patient) = state.store.get_patient(&access, pid).await? else {
            return Err(CoreError::BadRequest(format!(
                "Patient {pid} does not exist."
            )));
        };
        let orgs = state.store.list_patient_organization_ids(pid).await?;
        if !orgs.contains(&study.organization_id) {
            return Err(CoreError::BadRequest(
                "Patient and study must be from the same Organization".into(),
            ));
        }
        checked.push((patient, orgs));
    }
    // Every enrolment of the request, or none.
    let mut enrolments = Vec::with_capacity(checked.len());
    let uow = state.store.begin().await?;
    for (patient, orgs) in checked {
        let enrolment = uow.enroll_patient(id, patient.id).await?;
        enrolments.push((enrolment, patient, orgs));
    }
    uow.commit().await?;
    state.audit.record_batch(
        enrolments
            .iter()
            .map(|(_, patient, _)| {
                AuditEvent::by(principal, AuditKind::Enrolment)
                    .patient(patient.id)
                    .entity(format!("ResearchStudy/{id}"))
            })
            .collect(),
    );
    let record = record(state, principal, study).await?;
    Ok(enrolments
        .into_iter()
        .map(|(enrolment, patient, orgs)| Enrolled {
            enrolment,
            study: record.clone(),
            patient,
            patient_organization_ids: orgs,
        })
        .collect())
}

/// Removes enrolments (and their consents); absent ones, and patients the caller cannot see,
/// are ignored. Returns how many ids were
/// given.
pub async fn unenroll(
    state: &AppState,
    principal: &Principal,
    id: Id,
    patient_ids: Option<Vec<Id>>,
) -> CoreResult<usize> {
    manageable(state, principal, id).await?;
    let ids = required_ids(patient_ids, "patientIds")?;
    // Only patients the caller can see are unenrolled; others count as absent.
    let access = scope(state, principal).await;
    let mut visible = Vec::with_capacity(ids.len());
    for pid in &ids {
        if state.store.get_patient(&access, *pid).await?.is_some() {
            visible.push(*pid);
        }
    }
    let uow = state.store.begin().await?;
    for pid in &visible {
        uow.unenroll_patient(id, *pid).await?;
    }
    uow.commit().await?;
    state.audit.record_batch(
        visible
            .iter()
            .map(|pid| {
                AuditEvent::by(principal, AuditKind::Unenrolment)
                    .patient(*pid)
                    .entity(format!("ResearchStudy/{id}"))
            })
            .collect(),
    );
    Ok(ids.len())
}

/// The scopes the study requests, ordered by id, with the study.
pub async fn scope_requests(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<(StudyRecord, Vec<(StudyScopeRequest, CodeableConcept)>)> {
    let study = readable(state, principal, id).await?;
    let mut out = Vec::new();
    for request in state.store.list_scope_requests(id).await? {
        if let Some(c) = state.store.get_concept(request.scope_code_id).await? {
            out.push((request, c));
        }
    }
    Ok((record(state, principal, study).await?, out))
}

async fn concept_or_400(state: &AppState, id: Option<Id>) -> CoreResult<CodeableConcept> {
    let id = required_id(id, "scopeCodeId")?;
    state.store.get_concept(id).await?.ok_or_else(|| {
        CoreError::field(
            "scopeCodeId",
            format!("Invalid pk \"{id}\" - object does not exist."),
        )
    })
}

/// Adds a requested scope (idempotent).
pub async fn add_scope_request(
    state: &AppState,
    principal: &Principal,
    id: Id,
    scope_code_id: Option<Id>,
) -> CoreResult<(StudyRecord, StudyScopeRequest, CodeableConcept)> {
    let study = manageable(state, principal, id).await?;
    let concept = concept_or_400(state, scope_code_id).await?;
    let request = state.store.add_scope_request(id, concept.id).await?;
    Ok((record(state, principal, study).await?, request, concept))
}

/// Removes a requested scope (absent is fine).
pub async fn remove_scope_request(
    state: &AppState,
    principal: &Principal,
    id: Id,
    scope_code_id: Option<Id>,
) -> CoreResult<()> {
    manageable(state, principal, id).await?;
    let scope_code_id = required_id(scope_code_id, "scopeCodeId")?;
    state.store.remove_scope_request(id, scope_code_id).await?;
    Ok(())
}

/// The OAuth clients of the study, ordered by link id, with the study.
pub async fn clients(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<(StudyRecord, Vec<(StudyClient, OAuthClient)>)> {
    let study = readable(state, principal, id).await?;
    let mut out = Vec::new();
    for link in state.store.list_study_clients(id).await? {
        if let Some(c) = state.store.get_client(link.client_id).await? {
            out.push((link, c));
        }
    }
    Ok((record(state, principal, study).await?, out))
}

/// Links an OAuth client (by numeric id) to the study (idempotent).
pub async fn add_client(
    state: &AppState,
    principal: &Principal,
    id: Id,
    client_id: Option<Id>,
) -> CoreResult<()> {
    manageable(state, principal, id).await?;
    let client_id = required_id(client_id, "clientId")?;
    if state.store.get_client(client_id).await?.is_none() {
        return Err(CoreError::field(
            "clientId",
            format!("Invalid pk \"{client_id}\" - object does not exist."),
        ));
    }
    state.store.add_study_client(id, client_id).await?;
    Ok(())
}

/// Unlinks an OAuth client (absent is fine).
pub async fn remove_client(
    state: &AppState,
    principal: &Principal,
    id: Id,
    client_id: Option<Id>,
) -> CoreResult<()> {
    manageable(state, principal, id).await?;
    let client_id = required_id(client_id, "clientId")?;
    state.store.remove_study_client(id, client_id).await?;
    Ok(())
}

/// The data sources of the study, ordered by link id, with the study.
pub async fn data_sources(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<(StudyRecord, Vec<(StudyDataSource, DataSource)>)> {
    let study = readable(state, principal, id).await?;
    let mut out = Vec::new();
    for link in state.store.list_study_data_sources(id).await? {
        if let Some(d) = state.store.get_data_source(link.data_source_id).await? {
            out.push((link, d));
        }
    }
    Ok((record(state, principal, study).await?, out))
}

/// Links a data source to the study (idempotent).
pub async fn add_data_source(
    state: &AppState,
    principal: &Principal,
    id: Id,
    data_source_id: Option<Id>,
) -> CoreResult<()> {
    manageable(state, principal, id).await?;
    let data_source_id = required_id(data_source_id, "dataSourceId")?;
    if state.store.get_data_source(data_source_id).await?.is_none() {
        return Err(CoreError::field(
            "dataSourceId",
            format!("Invalid pk \"{data_source_id}\" - object does not exist."),
        ));
    }
    state
        .store
        .add_study_data_source(id, data_source_id)
        .await?;
    Ok(())
}

/// Unlinks a data source (absent is fine).
pub async fn remove_data_source(
    state: &AppState,
    principal: &Principal,
    id: Id,
    data_source_id: Option<Id>,
) -> CoreResult<()> {
    manageable(state, principal, id).await?;
    let data_source_id = required_id(data_source_id, "dataSourceId")?;
    state
        .store
        .remove_study_data_source(id, data_source_id)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_are_recognised_by_their_magic_bytes() {
        assert_eq!(
            check_icon(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").ok(),
            Some("image/png")
        );
        assert_eq!(
            check_icon(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).ok(),
            Some("image/jpeg")
        );
        assert_eq!(
            check_icon(b"RIFF\x10\0\0\0WEBPVP8 ").ok(),
            Some("image/webp")
        );
        for refused in [
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".as_slice(),
            b"  <?xml version='1.0'?><svg/>",
            b"GIF89a....",
            b"hello",
            b"",
        ] {
            let err = check_icon(refused).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains("PNG, JPEG or WebP")),
                "{err:?}"
            );
        }
        let svg = check_icon(b"<svg/>").err().map(|e| e.to_string());
        assert!(svg.is_some_and(|e| e.starts_with("SVG icons are not accepted")));
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_ICON_BYTES + 1, 0);
        let err = check_icon(&big).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("256 KiB")));
    }

    #[test]
    fn only_the_served_address_counts_as_the_uploaded_icon() {
        assert!(is_icon_url(
            "https://jhe.example.org/api/v1/studies/7/icon?v=abc",
            7
        ));
        assert!(!is_icon_url(
            "https://jhe.example.org/api/v1/studies/8/icon?v=abc",
            7
        ));
        assert!(!is_icon_url("https://cdn.example.org/logo.png", 7));
    }
}
