//! FHIR Bulk Data export (`$export`): kick-off, status with progress, NDJSON files for the
//! requester only, expiry and cancellation.
//!
//! A job's state lives in the database ([`ExportStore`](crate::store::ExportStore)) and its files
//! in [`ExportConfig::dir`](crate::config::ExportConfig::dir)`/<job id>/`, so any replica on the
//! same database (and directory) answers status polls, downloads and cancellation. The export
//! itself runs in the background on the replica that accepted the kick-off and reads everything
//! through the requester's access scope: observations through the one shared search
//! ([`observation_search::search`]) page by page with the keyset cursor, patients and consents
//! page by page, writing each line as it goes, so memory stays bounded whatever the size.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::{CodeableConcept, Id, KeysetCursor, PageRequest};
use crate::fhir::consent::ConsentOut;
use crate::fhir::model::{ObservationOut, PatientOut};
use crate::fhir::{FhirError, FhirResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::audit;
use crate::services::fhir_consents::views_of;
use crate::services::guard::{require, scope};
use crate::services::observation_search::{self, SearchPaging};
use crate::store::{ExportJob, ExportStatus, ObservationQuery, PatientQuery};

/// Rows read per page.
const PAGE: u64 = 1000;

/// What an export covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportLevel {
    /// `Patient/$export`: every patient the caller may read.
    Patients,
    /// `Group/{study}/$export`: the patients enrolled in a study (and, for a practitioner, the
    /// data types consented to in that study).
    Study(Id),
}

/// A resource type an export can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportType {
    /// `Patient`.
    Patient,
    /// `Observation`.
    Observation,
    /// `Consent` (the scope consent decisions, as FHIR).
    Consent,
}

impl ExportType {
    /// The FHIR resource type.
    pub fn name(self) -> &'static str {
        match self {
            ExportType::Patient => "Patient",
            ExportType::Observation => "Observation",
            ExportType::Consent => "Consent",
        }
    }

    const ALL: [ExportType; 3] = [
        ExportType::Patient,
        ExportType::Observation,
        ExportType::Consent,
    ];
}

/// The parameters of a kick-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportParams {
    /// `_type` (all three when absent), in the order written.
    pub types: Vec<ExportType>,
    /// `_since`: only observations updated and consents decided at or after.
    pub since: Option<DateTime<Utc>>,
}

impl ExportParams {
    /// Parses `_type`, `_since` and `_outputFormat` (NDJSON only).
    ///
    /// # Errors
    /// `400` for an unknown type, a malformed `_since`, another output format, or an unsupported
    /// parameter.
    pub fn parse(params: &[(String, String)]) -> FhirResult<ExportParams> {
        let mut types = Vec::new();
        let mut since = None;
        for (name, value) in params {
            match name.as_str() {
                "_type" => {
                    for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        let Some(found) = ExportType::ALL.iter().find(|e| e.name() == t) else {
                            return Err(FhirError::bad_request(format!(
                                "Unsupported _type {t}: use Patient, Observation or Consent."
                            )));
                        };
                        if !types.contains(found) {
                            types.push(*found);
                        }
                    }
                }
                "_since" => {
                    since = Some(crate::fhir::datetime::start_of(value).ok_or_else(|| {
                        FhirError::bad_request(format!("Invalid _since \"{value}\"."))
                    })?);
                }
                "_outputFormat" => {
                    if !matches!(
                        value.as_str(),
                        "application/fhir+ndjson" | "application/ndjson" | "ndjson"
                    ) {
                        return Err(FhirError::bad_request(format!(
                            "Unsupported _outputFormat {value}: only application/fhir+ndjson."
                        )));
                    }
                }
                other => {
                    return Err(FhirError::bad_request(format!(
                        "Unsupported $export parameter: {other}."
                    )));
                }
            }
        }
        if types.is_empty() {
            types = ExportType::ALL.to_vec();
        } else {
            types.sort_by_key(|t| ExportType::ALL.iter().position(|a| a == t));
        }
        Ok(ExportParams { types, since })
    }
}

/// One written file of a finished job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Resource type.
    #[serde(rename = "type")]
    pub type_: String,
    /// File name in the job's directory.
    pub file: String,
    /// Lines (resources).
    pub count: u64,
}

/// What a status poll answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportState {
    /// Still running, with its progress text.
    InProgress(String),
    /// Done.
    Completed {
        /// The job.
        job: ExportJob,
        /// Its files (only non-empty ones).
        output: Vec<OutputFile>,
    },
    /// Failed, with why.
    Failed(String),
}

fn job_dir(state: &AppState, id: &str) -> PathBuf {
    state.config.export.dir.join(id)
}

fn valid_job_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn remove_dir(path: &Path) {
    if let Err(e) = tokio::fs::remove_dir_all(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, path = %path.display(), "cannot remove export files");
    }
}

/// Deletes jobs that expired, with their files.
async fn purge_expired(state: &AppState) -> FhirResult<()> {
    for id in state.store.expired_export_jobs(Utc::now()).await? {
        if valid_job_id(&id) {
            remove_dir(&job_dir(state, &id)).await;
        }
        state.store.delete_export_job(&id).await?;
    }
    Ok(())
}

/// The caller's job, or `404` (unknown, someone else's, or expired — expired ones are deleted).
async fn own_job(state: &AppState, principal: &Principal, id: &str) -> FhirResult<ExportJob> {
    let not_found = || FhirError::not_found(format!("Export job {id} is not known."));
    if !valid_job_id(id) {
        return Err(not_found());
    }
    let job = state
        .store
        .get_export_job(id)
        .await?
        .filter(|j| j.user_id == principal.user.id)
        .ok_or_else(not_found)?;
    if job.expires <= Utc::now() {
        remove_dir(&job_dir(state, id)).await;
        state.store.delete_export_job(id).await?;
        return Err(not_found());
    }
    Ok(job)
}

/// Kick-off: checks the request, stores the job and starts it in the background; returns the
/// job id. `request` is the kick-off URL (the manifest's `request`).
///
/// # Errors
/// `403` for a caller who may read no patient data or may not read the study, `404` for an
/// unknown study, storage and file-system failures.
pub async fn kick_off(
    state: &Arc<AppState>,
    principal: &Principal,
    level: ExportLevel,
    params: ExportParams,
    request: &str,
) -> FhirResult<String> {
    let access = scope(state, principal).await;
    if access.sees_nothing() {
        return Err(FhirError::forbidden("You may not read patient data."));
    }
    if let ExportLevel::Study(study_id) = level {
        let study = state
            .store
            .get_study(study_id)
            .await?
            .ok_or_else(|| FhirError::not_found(format!("Group/{study_id} is not known.")))?;
        require(
            state,
            principal,
            Action::ReadStudy {
                organization_id: study.organization_id,
            },
        )
        .await?;
    }
    purge_expired(state).await?;
    let now = Utc::now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let job = ExportJob {
        id: id.clone(),
        user_id: principal.user.id,
        request: request.to_string(),
        status: ExportStatus::InProgress,
        progress: "queued".into(),
        output: "[]".into(),
        error: None,
        transaction_time: now,
        created: now,
        expires: now + Duration::hours(state.config.export.ttl_hours),
    };
    let dir = job_dir(state, &id);
    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
        FhirError::Core(crate::CoreError::Internal(format!(
            "cannot create the export directory {}: {e}",
            dir.display()
        )))
    })?;
    state.store.create_export_job(&job).await?;
    audit::record(
        state,
        AuditEvent::by(principal, AuditKind::Export)
            .entity(match level {
                ExportLevel::Patients => "Patient".to_string(),
                ExportLevel::Study(s) => format!("Group/{s}"),
            })
            .detail(format!("kick-off {id}"))
            .query(request.to_string()),
    );
    let state = Arc::clone(state);
    let principal = principal.clone();
    let job_id = id.clone();
    tokio::spawn(async move {
        let result = run(&state, &principal, &job_id, level, &params, &dir, None).await;
        let finished = match result {
            Ok(Some(output)) => {
                let text = serde_json::to_string(&output).unwrap_or_else(|_| "[]".into());
                state
                    .store
                    .finish_export_job(&job_id, ExportStatus::Completed, &text, None)
                    .await
            }
            Ok(None) => Ok(false),
            Err(e) => {
                tracing::error!(job = %job_id, error = %e, "bulk export failed");
                state
                    .store
                    .finish_export_job(&job_id, ExportStatus::Failed, "[]", Some(&e.to_string()))
                    .await
            }
        };
        if !matches!(finished, Ok(true)) {
            // Cancelled (or its row is gone): no files stay behind.
            remove_dir(&dir).await;
        }
    });
    Ok(id)
}

/// Reports how far an export got (for a progress bar).
pub trait ExportProgress: Send + Sync {
    /// `written` resources of `type_` so far, of `total` when known.
    fn progress(&self, type_: ExportType, written: u64, total: Option<u64>);
}

/// Runs an export into `dir`: one `<Type>.ndjson` per requested type, written line by line.
/// Returns the files (non-empty ones), or `None` when the job was cancelled meanwhile (`job_id`
/// given: progress is stored and cancellation noticed between pages).
///
/// # Errors
/// Storage and file-system failures, and those of the observation search.
pub async fn run(
    state: &AppState,
    principal: &Principal,
    job_id: &str,
    level: ExportLevel,
    params: &ExportParams,
    dir: &Path,
    progress: Option<&dyn ExportProgress>,
) -> FhirResult<Option<Vec<OutputFile>>> {
    let access = scope(state, principal).await;
    let study_id = match level {
        ExportLevel::Patients => None,
        ExportLevel::Study(s) => Some(s),
    };
    let io = |e: std::io::Error| {
        FhirError::Core(crate::CoreError::Internal(format!(
            "cannot write export files: {e}"
        )))
    };
    let mut output = Vec::new();
    for type_ in &params.types {
        let file = format!("{}.ndjson", type_.name());
        let path = dir.join(&file);
        let mut out = BufWriter::new(tokio::fs::File::create(&path).await.map_err(io)?);
        let mut written: u64 = 0;
        let report = |written: u64, total: Option<u64>| async move {
            if let Some(p) = progress {
                p.progress(*type_, written, total);
            }
            if job_id.is_empty() {
                return Ok(true);
            }
            let text = match total {
                Some(t) => format!("{} {written}/{t}", type_.name()),
                None => format!("{} {written}", type_.name()),
            };
            state.store.update_export_progress(job_id, &text).await
        };
        match type_ {
            ExportType::Observation => {
                let mut concepts: HashMap<Id, CodeableConcept> = HashMap::new();
                let mut after: Option<KeysetCursor> = None;
                loop {
                    let criteria = ObservationQuery {
                        study_id,
                        updated_from: params.since,
                        ..ObservationQuery::default()
                    };
                    let found = observation_search::search(
                        state,
                        principal,
                        criteria,
                        SearchPaging {
                            count: PAGE,
                            page: 1,
                            after,
                        },
                    )
                    .await?;
                    for o in &found.page.items {
                        let concept = match concepts.get(&o.codeable_concept_id) {
                            Some(c) => c.clone(),
                            None => {
                                let Some(c) =
                                    state.store.get_concept(o.codeable_concept_id).await?
                                else {
                                    continue;
                                };
                                concepts.insert(c.id, c.clone());
                                c
                            }
                        };
                        let line = serde_json::to_vec(&ObservationOut::new(o, &concept))
                            .map_err(|e| io(std::io::Error::other(e)))?;
                        out.write_all(&line).await.map_err(io)?;
                        out.write_all(b"\n").await.map_err(io)?;
                        written += 1;
                    }
                    if !report(written, Some(found.page.total)).await? {
                        return Ok(None);
                    }
                    match found.next_cursor {
                        Some(c) if found.has_next => after = Some(c),
                        _ => break,
                    }
                }
            }
            ExportType::Patient | ExportType::Consent => {
                let query = PatientQuery {
                    study_id,
                    ..PatientQuery::default()
                };
                let mut page = 1;
                loop {
                    let found = state
                        .store
                        .list_patients(&access, &query, PageRequest::new(page, PAGE))
                        .await?;
                    for patient in &found.items {
                        if *type_ == ExportType::Patient {
                            let email = match patient.jhe_user_id {
                                Some(u) => state.store.get_user(u).await?.map(|u| u.email),
                                None => None,
                            };
                            let line =
                                serde_json::to_vec(&PatientOut::new(patient, email.as_deref()))
                                    .map_err(|e| io(std::io::Error::other(e)))?;
                            out.write_all(&line).await.map_err(io)?;
                            out.write_all(b"\n").await.map_err(io)?;
                            written += 1;
                        } else {
                            let consents = state
                                .store
                                .list_patient_consents(&access, patient.id)
                                .await?;
                            for view in views_of(state, &access, patient.id, consents).await? {
                                if study_id.is_some_and(|s| s != view.study.id)
                                    || params
                                        .since
                                        .is_some_and(|t| view.consent.consented_time < t)
                                {
                                    continue;
                                }
                                let line = serde_json::to_vec(&ConsentOut::new(&view))
                                    .map_err(|e| io(std::io::Error::other(e)))?;
                                out.write_all(&line).await.map_err(io)?;
                                out.write_all(b"\n").await.map_err(io)?;
                                written += 1;
                            }
                        }
                    }
                    if *type_ == ExportType::Patient {
                        audit::record_access(
                            state,
                            principal,
                            AuditKind::Search,
                            "Patient",
                            Some("$export"),
                            found.items.iter().map(|p| p.id),
                        );
                    }
                    if !report(written, None).await? {
                        return Ok(None);
                    }
                    if !found.has_next() {
                        break;
                    }
                    page += 1;
                }
            }
        }
        out.flush().await.map_err(io)?;
        if written == 0 {
            tokio::fs::remove_file(&path).await.map_err(io)?;
        } else {
            output.push(OutputFile {
                type_: type_.name().to_string(),
                file,
                count: written,
            });
        }
    }
    Ok(Some(output))
}

/// A status poll.
///
/// # Errors
/// `404` for an unknown, expired, cancelled or someone else's job; storage failures.
pub async fn status(state: &AppState, principal: &Principal, id: &str) -> FhirResult<ExportState> {
    let job = own_job(state, principal, id).await?;
    match job.status {
        ExportStatus::InProgress => Ok(ExportState::InProgress(job.progress)),
        ExportStatus::Completed => {
            let output: Vec<OutputFile> = serde_json::from_str(&job.output).unwrap_or_default();
            Ok(ExportState::Completed { job, output })
        }
        ExportStatus::Failed => Ok(ExportState::Failed(
            job.error.unwrap_or_else(|| "The export failed.".into()),
        )),
        ExportStatus::Cancelled => Err(FhirError::not_found(format!(
            "Export job {id} is not known."
        ))),
    }
}

/// The path of a finished job's file, for the requester only.
///
/// # Errors
/// `404` when the job or file is unknown, not finished, expired or someone else's.
pub async fn file(
    state: &AppState,
    principal: &Principal,
    id: &str,
    name: &str,
) -> FhirResult<PathBuf> {
    let not_found = || FhirError::not_found(format!("Export file {name} is not known."));
    let ExportState::Completed { output, .. } = status(state, principal, id).await? else {
        return Err(not_found());
    };
    if !output.iter().any(|o| o.file == name) {
        return Err(not_found());
    }
    audit::record(
        state,
        AuditEvent::by(principal, AuditKind::Export).detail(format!("download {id}/{name}")),
    );
    Ok(job_dir(state, id).join(name))
}

/// Cancels (or, when finished, deletes) a job and its files.
///
/// # Errors
/// `404` for an unknown or someone else's job; storage failures.
pub async fn cancel(state: &AppState, principal: &Principal, id: &str) -> FhirResult<()> {
    let job = own_job(state, principal, id).await?;
    // A running export notices at its next page (its progress update finds no row) and
    // removes what it wrote.
    state.store.delete_export_job(&job.id).await?;
    remove_dir(&job_dir(state, &job.id)).await;
    audit::record(
        state,
        AuditEvent::by(principal, AuditKind::Export).detail(format!("cancel {id}")),
    );
    Ok(())
}

/// The `server export` command: the same export as `$export`, written to `dir` at once, read
/// with the access of the account `email` (as a browser session of theirs would: their full
/// role, under the same access scope), reporting to `progress`. Returns the files written.
///
/// # Errors
/// `404` for an unknown or inactive account; those of `$export` (`403`, `404` for the study)
/// and of [`run`].
pub async fn export_to_dir(
    state: &AppState,
    email: &str,
    level: ExportLevel,
    params: &ExportParams,
    dir: &Path,
    progress: &dyn ExportProgress,
) -> FhirResult<Vec<OutputFile>> {
    let user = state
        .store
        .get_user_by_email(&email.trim().to_lowercase())
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| FhirError::not_found(format!("No active account {email}.")))?;
    let principal = Principal {
        practitioner: state.store.get_practitioner_by_user(user.id).await?,
        patient: state.store.get_patient_by_user(user.id).await?,
        user,
        via: crate::policy::AuthMethod::Session,
        scopes: crate::domain::GrantedScopes::full_role(),
    };
    if scope(state, &principal).await.sees_nothing() {
        return Err(FhirError::forbidden(format!(
            "{email} may not read patient data."
        )));
    }
    if let ExportLevel::Study(study_id) = level {
        let study = state
            .store
            .get_study(study_id)
            .await?
            .ok_or_else(|| FhirError::not_found(format!("Study {study_id} is not known.")))?;
        require(
            state,
            &principal,
            Action::ReadStudy {
                organization_id: study.organization_id,
            },
        )
        .await?;
    }
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        FhirError::Core(crate::CoreError::Internal(format!(
            "cannot create {}: {e}",
            dir.display()
        )))
    })?;
    audit::record(
        state,
        AuditEvent::by(&principal, AuditKind::Export)
            .entity(match level {
                ExportLevel::Patients => "Patient".to_string(),
                ExportLevel::Study(s) => format!("Group/{s}"),
            })
            .detail(format!("command line export to {}", dir.display())),
    );
    let output = run(state, &principal, "", level, params, dir, Some(progress))
        .await?
        .unwrap_or_default();
    state.audit.flush().await;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters() {
        let p = ExportParams::parse(&params(&[])).unwrap();
        assert_eq!(p.types, ExportType::ALL.to_vec());
        let p = ExportParams::parse(&params(&[
            ("_type", "Consent,Observation"),
            ("_since", "2024-01-01T00:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(p.types, vec![ExportType::Observation, ExportType::Consent]);
        assert!(p.since.is_some());
        assert!(ExportParams::parse(&params(&[("_type", "Encounter")])).is_err());
        assert!(ExportParams::parse(&params(&[("_since", "yesterday")])).is_err());
        assert!(ExportParams::parse(&params(&[("_outputFormat", "text/csv")])).is_err());
        assert!(valid_job_id("0123abcdef"));
        assert!(!valid_job_id("../etc"));
    }
}
