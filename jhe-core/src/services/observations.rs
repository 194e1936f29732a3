//! FHIR use cases: uploading Observations (one, a `batch` or a `transaction` Bundle,
//! conditional creates), searching and reading Observations and Patients.
//!
//! Uploads follow the validation order of fhir-api.md §1.2 (first failure wins, same
//! messages); each failure carries the status the Bundle mapping gives it (400 / 403 / 409 /
//! 422). Lookups are cached per request and identifiers are checked in bulk, so a Bundle of
//! 10 000 entries costs a handful of queries plus the multi-row inserts of
//! [`ObservationStore::create_observations`](crate::store::ObservationStore::create_observations).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use crate::audit::{AuditEvent, AuditKind};
use crate::domain::{
    CodeableConcept, DataSource, Id, MAX_IDENTIFIER_BYTES, MAX_IDENTIFIERS_PER_RESOURCE,
    NewObservation, Observation, ObservationIdentifier, control_character_path,
    has_forbidden_control,
};
use crate::error::CoreError;
use crate::fhir::attachment::{decode_base64, decode_json_data, is_json_content_type};
use crate::fhir::datetime::range_of;
use crate::fhir::model::{ObservationIn, RequestIn};
use crate::fhir::search::{ObservationSearch, SortOrder, TotalMode, single};
use crate::fhir::structure::{camelize_keys, validate_bundle_shell, validate_resource};
use crate::fhir::{FhirError, FhirResult, FhirStatus, Outcome};
use crate::policy::{Action, Decision, Principal};
use crate::server::AppState;
use crate::services::audit;
use crate::services::guard::scope;
use crate::services::observation_search::{self, SearchPaging};
use crate::store::{
    AccessScope, ObservationOrder, ObservationQuery, StoreError, UploadFactsRequest,
};

/// Step 2 of fhir-api.md §1.2.
pub const SUBJECT_REQUIRED: &str =
    "Subject is required and must be a reference to a Patient ID and start with 'Patient/'";
/// Step 6.
pub const DEVICE_REQUIRED: &str =
    "Device is required and must be a reference to a Data Source ID and start with 'Device/'";
/// Step 8.
pub const ONE_CODE: &str = "Exactly one Code must be provided.";
/// Step 11.
pub const DATA_NOT_BASE64_JSON: &str = "valueAttachment.data must be Base 64 Encoded Binary JSON.";
/// Step 11 for attachments that are not JSON.
pub const DATA_NOT_BASE64: &str = "valueAttachment.data must be Base 64 Encoded Binary.";
/// Bundle entries of another resource type.
pub const ONLY_OBSERVATION: &str = "Only Observation resourceType supported.";
/// Bundle entries with another method.
pub const ONLY_POST: &str = "Only POST/Create method supported.";
/// Data source types that may upload (the original also accepts the non-enum `device`).
pub const UPLOAD_SOURCE_TYPES: &[&str] = &["personal_device", "device"];

/// An observation created (or found by a conditional create), with its concept.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The stored row.
    pub observation: Observation,
    /// Its data type.
    pub concept: CodeableConcept,
    /// `true` when created by this request, `false` when a conditional create matched it.
    pub created: bool,
}

/// How a Bundle is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// Entry by entry: good entries are stored, bad ones reported.
    Batch,
    /// All or nothing, in one database transaction.
    Transaction,
}

/// The result of a Bundle: one result per entry, in order.
#[derive(Debug)]
pub struct BundleOutcome {
    /// Batch or transaction.
    pub kind: BundleKind,
    /// Per entry: stored, or why not.
    pub entries: Vec<Result<Stored, Outcome>>,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Matches in all; `None` when the search skipped the count (`_total=none`).
    pub total: Option<u64>,
    /// The 1-based page number.
    pub page: u64,
    /// Whether a next page exists.
    pub has_next: bool,
    /// Keyset cursor of the next page (`_cursor`), when known.
    pub next_cursor: Option<String>,
}

impl<T> SearchPage<T> {
    pub(crate) fn empty(page: u64) -> Self {
        SearchPage {
            items: Vec::new(),
            total: Some(0),
            page,
            has_next: false,
            next_cursor: None,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Upload
// ------------------------------------------------------------------------------------------

/// Refuses, with a 400 for this resource only, what no database should be asked to store: a
/// control character anywhere (FHIR strings may not hold them; PostgreSQL refuses NUL where
/// SQLite keeps it), more than [`MAX_IDENTIFIERS_PER_RESOURCE`] identifiers, or an identifier
/// `system`/`value` over [`MAX_IDENTIFIER_BYTES`].
fn check_text(resource: &Value) -> FhirResult<()> {
    if let Some(path) = control_character_path(resource) {
        return Err(FhirError::bad_request(format!(
            "Observation.{path} contains a control character; FHIR strings may not."
        )));
    }
    let Some(items) = resource.get("identifier").and_then(Value::as_array) else {
        return Ok(());
    };
    if items.len() > MAX_IDENTIFIERS_PER_RESOURCE {
        return Err(FhirError::bad_request(format!(
            "Observation.identifier has {} entries; at most {MAX_IDENTIFIERS_PER_RESOURCE} are accepted.",
            items.len()
        )));
    }
    for (i, item) in items.iter().enumerate() {
        for field in ["system", "value"] {
            if item
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| s.len() > MAX_IDENTIFIER_BYTES)
            {
                return Err(FhirError::bad_request(format!(
                    "Observation.identifier[{i}].{field} is longer than {MAX_IDENTIFIER_BYTES} bytes."
                )));
            }
        }
    }
    Ok(())
}

/// An identifier as the unique index sees it: `(system or "", value)`.
type IdKey = (String, String);

fn key_of(system: Option<&str>, value: &str) -> IdKey {
    (system.unwrap_or("").to_string(), value.to_string())
}

/// The identifier of a key (an empty system is no system, as in [`key_of`]).
fn identifier_of((system, value): IdKey) -> ObservationIdentifier {
    ObservationIdentifier {
        system: (!system.is_empty()).then_some(system),
        value,
    }
}

fn identifier_exists(system: Option<&str>, value: &str) -> FhirError {
    FhirError::conflict(format!(
        "Identifier already exists: system={} value={value}",
        system.filter(|s| !s.is_empty()).unwrap_or("None")
    ))
}

/// Which observation a conditional create matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// A stored observation.
    Stored(Id),
    /// An observation created by an earlier entry of the same Bundle.
    Entry(usize),
}

/// What an entry will do once everything is validated.
enum Plan {
    New {
        new: Box<NewObservation>,
        concept: CodeableConcept,
        /// The entry's `If-None-Exist`, looked up again if a concurrent upload wins the race.
        if_none_exist: Option<String>,
    },
    Existing {
        target: Target,
        criterion: IdKey,
    },
}

/// The values of one FHIR search parameter: split at unescaped commas (`a,b` = a OR b),
/// with `\,`, `\|` and `\\` unescaped. `None` for a dangling or unknown escape.
fn split_search_values(value: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let (mut system, mut current) = (None::<String>, String::new());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ (',' | '|' | '$' | '\\')) => current.push(e),
                _ => return None,
            },
            '|' if system.is_none() => system = Some(std::mem::take(&mut current)),
            ',' => out.push((std::mem::take(&mut current), system.take())),
            c => current.push(c),
        }
    }
    out.push((current, system));
    Some(out)
}

/// `If-None-Exist: identifier=<system>|<value>[,<system>|<value>…][&identifier=…]` → the
/// criteria: every group must match (`&` = AND), any key of a group may (`,` = OR), as FHIR
/// search does. Every other form is a 400: other parameters, modifiers, missing systems or
/// values, control characters, over-long identifiers.
fn parse_if_none_exist(text: &str) -> FhirResult<Vec<Vec<IdKey>>> {
    let invalid = || {
        FhirError::bad_request(
            "If-None-Exist supports only identifier=<system>|<value> criteria (|<value> for no system; a comma separates alternatives).",
        )
    };
    let query = text.trim();
    let query = query.split_once('?').map_or(query, |(_, q)| q);
    let mut groups = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name != "identifier" {
            return Err(invalid());
        }
        if has_forbidden_control(&value) {
            return Err(FhirError::bad_request(
                "If-None-Exist contains a control character.",
            ));
        }
        let mut group = Vec::new();
        for (value, system) in split_search_values(&value).ok_or_else(invalid)? {
            let Some(system) = system else {
                return Err(invalid());
            };
            if value.is_empty() {
                return Err(invalid());
            }
            if value.len() > MAX_IDENTIFIER_BYTES || system.len() > MAX_IDENTIFIER_BYTES {
                return Err(FhirError::bad_request(format!(
                    "If-None-Exist names an identifier longer than {MAX_IDENTIFIER_BYTES} bytes."
                )));
            }
            group.push(key_of(Some(&system), &value));
        }
        groups.push(group);
    }
    if groups.is_empty() || groups.len() > MAX_IDENTIFIERS_PER_RESOURCE {
        return Err(invalid());
    }
    Ok(groups)
}

/// Identifier keys named by a (camelCase) Observation's `identifier` elements, read leniently
/// before validation (for the bulk lookup).
/// Identifiers the resource will be refused for ([`check_text`]) are left out, so that one bad
/// entry never fails the lookup of a whole Bundle.
fn raw_identifier_keys(resource: &Value, out: &mut Vec<IdKey>) {
    if let Some(items) = resource.get("identifier").and_then(Value::as_array)
        && items.len() <= MAX_IDENTIFIERS_PER_RESOURCE
    {
        for item in items {
            let system = item.get("system").and_then(Value::as_str);
            if let Some(value) = item.get("value").and_then(Value::as_str)
                && [Some(value), system]
                    .into_iter()
                    .flatten()
                    .all(|s| s.len() <= MAX_IDENTIFIER_BYTES && !has_forbidden_control(s))
            {
                out.push(key_of(system, value));
            }
        }
    }
}

/// Records the result of entry `i`.
fn set(results: &mut [Option<Result<Stored, Outcome>>], i: usize, result: Result<Stored, Outcome>) {
    if let Some(slot) = results.get_mut(i) {
        *slot = Some(result);
    }
}

/// The upload pipeline of one request, with its caches.
struct Uploader<'a> {
    state: &'a AppState,
    principal: &'a Principal,
    scope: AccessScope,
    /// Whether each patient named is visible through the scope.
    patients: HashMap<Id, bool>,
    decisions: HashMap<Id, Decision>,
    consented: HashMap<Id, HashSet<Id>>,
    sources: HashMap<Id, Option<DataSource>>,
    concepts: HashMap<(String, String), Option<CodeableConcept>>,
    concepts_by_id: HashMap<Id, CodeableConcept>,
    supported: HashMap<Id, HashSet<Id>>,
    /// Stored identifiers among those the request names.
    stored: HashMap<IdKey, Id>,
    /// Identifiers of entries of this request that passed validation.
    pending: HashMap<IdKey, usize>,
}

impl<'a> Uploader<'a> {
    async fn new(state: &'a AppState, principal: &'a Principal) -> Uploader<'a> {
        Uploader {
            state,
            principal,
            scope: scope(state, principal).await,
            patients: HashMap::new(),
            decisions: HashMap::new(),
            consented: HashMap::new(),
            sources: HashMap::new(),
            concepts: HashMap::new(),
            concepts_by_id: HashMap::new(),
            supported: HashMap::new(),
            stored: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Looks up, in bulk, the identifiers `keys` name (after a lost race; the upload's own
    /// identifiers come with its facts, see [`Uploader::prefetch_facts`]).
    async fn prefetch(&mut self, keys: Vec<IdKey>) -> FhirResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let identifiers: Vec<ObservationIdentifier> = keys.into_iter().map(identifier_of).collect();
        for (identifier, id) in self
            .state
            .store
            .find_observation_identifiers(&identifiers)
            .await?
        {
            self.stored
                .insert(key_of(identifier.system.as_deref(), &identifier.value), id);
        }
        Ok(())
    }

    /// Loads, in one store call, the facts every resource names (patients, consents, data
    /// sources, supported scopes, concepts, and the stored ones among `keys`, the identifiers
    /// the resources and `If-None-Exist` criteria name), read leniently before validation;
    /// the per-entry steps then find them cached. Facts a resource names in a form validation
    /// will refuse are simply not loaded.
    async fn prefetch_facts<'v>(
        &mut self,
        resources: impl IntoIterator<Item = &'v Value>,
        keys: Vec<IdKey>,
    ) -> FhirResult<()> {
        let mut request = UploadFactsRequest {
            identifiers: keys.into_iter().map(identifier_of).collect(),
            ..UploadFactsRequest::default()
        };
        let reference = |resource: &Value, field: &str| {
            resource
                .get(field)
                .and_then(|r| r.get("reference"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        for resource in resources {
            if let Some(id) = reference(resource, "subject")
                .and_then(|r| r.strip_prefix("Patient/").and_then(|id| id.parse().ok()))
                && !self.patients.contains_key(&id)
            {
                request.patient_ids.push(id);
            }
            if let Some(id) = reference(resource, "device").and_then(|r| {
                r.starts_with("Device/")
                    .then(|| r.split('/').nth(1).and_then(|id| id.parse().ok()))
                    .flatten()
            }) && !self.sources.contains_key(&id)
            {
                request.data_source_ids.push(id);
            }
            if let Some([coding]) = resource
                .get("code")
                .and_then(|c| c.get("coding"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                && let (Some(system), Some(code)) = (
                    coding.get("system").and_then(Value::as_str),
                    coding.get("code").and_then(Value::as_str),
                )
            {
                let key = (system.to_string(), code.to_string());
                if !self.concepts.contains_key(&key) {
                    request.concepts.push(key);
                }
            }
        }
        for list in [&mut request.patient_ids, &mut request.data_source_ids] {
            list.sort_unstable();
            list.dedup();
        }
        request.concepts.sort_unstable();
        request.concepts.dedup();
        request
            .identifiers
            .sort_unstable_by(|a, b| (&a.system, &a.value).cmp(&(&b.system, &b.value)));
        request.identifiers.dedup();
        if request == UploadFactsRequest::default() {
            return Ok(());
        }
        let facts = self
            .state
            .store
            .load_upload_facts(&self.scope, &request)
            .await?;
        let undecided: Vec<Id> = request
            .patient_ids
            .iter()
            .copied()
            .filter(|id| !self.decisions.contains_key(id))
            .collect();
        let decisions = self
            .state
            .policy
            .authorize_uploads(self.principal, &undecided, self.state.store.as_ref())
            .await?;
        self.decisions.extend(undecided.into_iter().zip(decisions));
        let mut consented: HashMap<Id, HashSet<Id>> = HashMap::new();
        for (patient, concept) in facts.consented {
            consented.entry(patient).or_default().insert(concept);
        }
        for (identifier, id) in facts.identifiers {
            self.stored
                .insert(key_of(identifier.system.as_deref(), &identifier.value), id);
        }
        let visible: HashSet<Id> = facts.patient_ids.into_iter().collect();
        for id in request.patient_ids {
            let seen = visible.contains(&id);
            if seen {
                self.consented
                    .insert(id, consented.remove(&id).unwrap_or_default());
            }
            self.patients.insert(id, seen);
        }
        let mut supported: HashMap<Id, HashSet<Id>> = HashMap::new();
        for (source, concept) in facts.supported {
            supported.entry(source).or_default().insert(concept);
        }
        let mut sources: HashMap<Id, DataSource> =
            facts.data_sources.into_iter().map(|d| (d.id, d)).collect();
        for id in request.data_source_ids {
            self.supported
                .insert(id, supported.remove(&id).unwrap_or_default());
            self.sources.insert(id, sources.remove(&id));
        }
        let mut concepts: HashMap<(String, String), CodeableConcept> = facts
            .concepts
            .into_iter()
            .map(|c| ((c.coding_system.clone(), c.coding_code.clone()), c))
            .collect();
        for key in request.concepts {
            let concept = concepts.remove(&key);
            if let Some(c) = &concept {
                self.concepts_by_id.insert(c.id, c.clone());
            }
            self.concepts.insert(key, concept);
        }
        Ok(())
    }

    async fn patient_visible(&mut self, id: Id) -> FhirResult<bool> {
        if let Some(seen) = self.patients.get(&id) {
            return Ok(*seen);
        }
        let seen = self
            .state
            .store
            .get_patient(&self.scope, id)
            .await?
            .is_some();
        self.patients.insert(id, seen);
        Ok(seen)
    }

    async fn decision(&mut self, patient_id: Id) -> FhirResult<Decision> {
        if let Some(d) = self.decisions.get(&patient_id) {
            return Ok(d.clone());
        }
        let d = self
            .state
            .policy
            .authorize(
                self.principal,
                &Action::UploadObservation { patient_id },
                self.state.store.as_ref(),
            )
            .await?;
        self.decisions.insert(patient_id, d.clone());
        Ok(d)
    }

    async fn consented(&mut self, patient_id: Id) -> FhirResult<&HashSet<Id>> {
        if !self.consented.contains_key(&patient_id) {
            let scopes: HashSet<Id> = self
                .state
                .store
                .list_patient_consents(&self.scope, patient_id)
                .await?
                .into_iter()
                .filter(|c| c.consented)
                .map(|c| c.scope_code_id)
                .collect();
            self.consented.insert(patient_id, scopes);
        }
        Ok(self.consented.entry(patient_id).or_default())
    }

    async fn source(&mut self, id: Id) -> FhirResult<Option<DataSource>> {
        if let Some(s) = self.sources.get(&id) {
            return Ok(s.clone());
        }
        let s = self.state.store.get_data_source(id).await?;
        self.sources.insert(id, s.clone());
        Ok(s)
    }

    async fn supported(&mut self, data_source_id: Id) -> FhirResult<&HashSet<Id>> {
        if !self.supported.contains_key(&data_source_id) {
            let scopes = self
                .state
                .store
                .list_supported_scopes(data_source_id)
                .await?
                .into_iter()
                .map(|s| s.scope_code_id)
                .collect();
            self.supported.insert(data_source_id, scopes);
        }
        Ok(self.supported.entry(data_source_id).or_default())
    }

    async fn concept(&mut self, system: &str, code: &str) -> FhirResult<Option<CodeableConcept>> {
        let key = (system.to_string(), code.to_string());
        if let Some(c) = self.concepts.get(&key) {
            return Ok(c.clone());
        }
        let c = self.state.store.find_concept(system, code).await?;
        if let Some(c) = &c {
            self.concepts_by_id.insert(c.id, c.clone());
        }
        self.concepts.insert(key, c.clone());
        Ok(c)
    }

    async fn concept_by_id(&mut self, id: Id) -> FhirResult<CodeableConcept> {
        if let Some(c) = self.concepts_by_id.get(&id) {
            return Ok(c.clone());
        }
        let c = self.state.store.get_concept(id).await?.ok_or_else(|| {
            FhirError::Core(CoreError::Internal(format!("concept {id} is missing")))
        })?;
        self.concepts_by_id.insert(id, c.clone());
        Ok(c)
    }

    /// The conditional create: `None` when nothing matches (create), the match, or 412.
    fn conditional(&self, text: &str) -> FhirResult<Option<(Target, IdKey)>> {
        let criteria = parse_if_none_exist(text)?;
        let targets_of = |key: &IdKey| {
            let stored = self.stored.get(key).map(|id| Target::Stored(*id));
            let pending = self.pending.get(key).map(|entry| Target::Entry(*entry));
            [stored, pending].into_iter().flatten()
        };
        let mut matched: Option<BTreeSet<Target>> = None;
        for group in &criteria {
            let targets: BTreeSet<Target> = group.iter().flat_map(targets_of).collect();
            matched = Some(match matched {
                None => targets,
                Some(m) => m.intersection(&targets).copied().collect(),
            });
        }
        let matched = matched.unwrap_or_default();
        match matched.len() {
            0 => Ok(None),
            1 => Ok(matched.into_iter().next().and_then(|target| {
                // The criterion that names the match (for the answer's diagnostics).
                let criterion = criteria
                    .iter()
                    .flatten()
                    .find(|key| targets_of(key).any(|t| t == target))
                    .cloned()?;
                Some((target, criterion))
            })),
            _ => Err(FhirError::new(
                FhirStatus::PreconditionFailed,
                "If-None-Exist matches more than one Observation.",
            )),
        }
    }

    /// Validates one (camelCase) Observation, fhir-api.md §1.2 steps 1–12, without storing it.
    async fn prepare(
        &mut self,
        index: usize,
        resource: &Value,
        if_none_exist: Option<&str>,
    ) -> FhirResult<Plan> {
        // 0. Text the databases can store alike: no control characters, bounded identifiers.
        check_text(resource)?;
        // 1. Structure.
        validate_resource(resource, Some("Observation"))
            .map_err(|issues| FhirError::structure("Observation", &issues))?;
        let obs = ObservationIn::deserialize(resource)
            .map_err(|e| FhirError::bad_request(format!("Invalid Observation: {e}")))?;
        // 2. Subject.
        let subject = obs
            .subject
            .as_ref()
            .and_then(|s| s.reference.as_deref())
            .filter(|r| r.starts_with("Patient/"))
            .ok_or_else(|| FhirError::bad_request(SUBJECT_REQUIRED))?;
        // 3. The patient exists.
        let patient_text = subject.split_once('/').map_or("", |(_, id)| id);
        let not_found =
            || FhirError::bad_request(format!("Patient id={patient_text} can not be found."));
        let patient_id: Id = patient_text.parse().map_err(|_| not_found())?;
        // A patient outside the caller's scope gets the same answer whether or not it exists.
        if !self.patient_visible(patient_id).await? {
            return Err(match self.decision(patient_id).await? {
                Decision::Deny(message) => FhirError::forbidden(message),
                Decision::Allow => not_found(),
            });
        }
        // 4. The caller may upload for this patient.
        if let Decision::Deny(message) = self.decision(patient_id).await? {
            return Err(FhirError::forbidden(message));
        }
        // Conditional create: an existing match is returned instead.
        if let Some(text) = if_none_exist
            && let Some((target, criterion)) = self.conditional(text)?
        {
            return Ok(Plan::Existing { target, criterion });
        }
        // 5. Identifiers are new.
        let mut identifiers = Vec::with_capacity(obs.identifier.len());
        let mut keys = Vec::with_capacity(obs.identifier.len());
        for (i, identifier) in obs.identifier.iter().enumerate() {
            let Some(value) = identifier.value.as_deref() else {
                return Err(FhirError::bad_request(format!(
                    "Observation.identifier[{i}].value is required."
                )));
            };
            let system = identifier.system.as_deref();
            let key = key_of(system, value);
            if self.stored.contains_key(&key)
                || self.pending.contains_key(&key)
                || keys.contains(&key)
            {
                return Err(identifier_exists(system, value));
            }
            keys.push(key);
            identifiers.push(ObservationIdentifier {
                system: identifier.system.clone(),
                value: value.to_string(),
            });
        }
        // 6. Device reference.
        let device = obs
            .device
            .as_ref()
            .and_then(|d| d.reference.as_deref())
            .filter(|r| r.starts_with("Device/"))
            .ok_or_else(|| FhirError::bad_request(DEVICE_REQUIRED))?;
        // 7. A personal-device data source (`Device/70001/_history/1` names 70001).
        let source_text = device.split('/').nth(1).unwrap_or("");
        let no_source = || {
            FhirError::bad_request(format!(
                "Device Data Source id={source_text} can not be found."
            ))
        };
        let source_id: Id = source_text.parse().map_err(|_| no_source())?;
        let source = self
            .source(source_id)
            .await?
            .filter(|s| UPLOAD_SOURCE_TYPES.contains(&s.source_type.as_str()))
            .ok_or_else(no_source)?;
        // 8. Exactly one coding.
        let [coding] = obs.code.coding.as_slice() else {
            return Err(FhirError::bad_request(ONE_CODE));
        };
        // 9. A known concept.
        let system = coding.system.as_deref();
        let code = coding.code.as_deref();
        let concept = match (system, code) {
            (Some(system), Some(code)) => self.concept(system, code).await?,
            _ => None,
        }
        .ok_or_else(|| {
            FhirError::bad_request(format!(
                "Code not found: system={} code={}",
                system.unwrap_or("None"),
                code.unwrap_or("None")
            ))
        })?;
        // 10. Consented by the patient in some study.
        if !self.consented(patient_id).await?.contains(&concept.id) {
            return Err(FhirError::forbidden(format!(
                "Observation data with coding_system={} coding_code={} has not been consented for any studies by this Patient.",
                concept.coding_system, concept.coding_code
            )));
        }
        // 11. Decode the attachment.
        let attachment = obs.value_attachment.as_ref();
        let data = attachment
            .and_then(|a| a.data.as_deref())
            .ok_or_else(|| FhirError::bad_request(DATA_NOT_BASE64_JSON))?;
        let content_type = attachment
            .and_then(|a| a.content_type.as_deref())
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("application/json")
            .to_string();
        let bytes = if is_json_content_type(&content_type) {
            decode_json_data(data).ok_or_else(|| FhirError::bad_request(DATA_NOT_BASE64_JSON))?
        } else {
            decode_base64(data).ok_or_else(|| FhirError::bad_request(DATA_NOT_BASE64))?
        };
        // 12. The data format validates it.
        let state = self.state;
        let Some(format) = state
            .formats
            .iter()
            .find(|f| f.accepts(&content_type, &concept))
        else {
            return Err(FhirError::unprocessable(format!(
                "No data format accepts content type '{content_type}' for code {}|{}.",
                concept.coding_system, concept.coding_code
            )));
        };
        if format.requires_declared_scope()
            && !self.supported(source.id).await?.contains(&concept.id)
        {
            return Err(FhirError::unprocessable(format!(
                "Data source id={} does not list {}|{} among its supported scopes.",
                source.id, concept.coding_system, concept.coding_code
            )));
        }
        let mut facts = format
            .validate(&concept, &bytes)
            .map_err(|e| FhirError::unprocessable(e.to_string()))?;
        if facts.effective_start.is_none() && facts.effective_end.is_none() {
            let period = obs.effective_period.as_ref();
            facts.effective_start = obs
                .effective_date_time
                .as_deref()
                .or(obs.effective_instant.as_deref())
                .or(period.and_then(|p| p.start.as_deref()))
                .and_then(range_of)
                .map(|(start, _)| start);
            facts.effective_end = period
                .and_then(|p| p.end.as_deref())
                .and_then(range_of)
                .map(|(_, end)| end);
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            FhirError::unprocessable("The attachment is not UTF-8 text and cannot be stored.")
        })?;
        for key in keys {
            self.pending.insert(key, index);
        }
        Ok(Plan::New {
            new: Box::new(NewObservation {
                id: None,
                subject_patient_id: patient_id,
                codeable_concept_id: concept.id,
                data_source_id: Some(source.id),
                value_attachment_data: text,
                content_type,
                status: obs.status,
                effective_start: facts.effective_start,
                effective_end: facts.effective_end,
                identifiers,
            }),
            concept,
            if_none_exist: if_none_exist.map(str::to_string),
        })
    }

    /// After the entry `index` lost a unique-key race: the observation a concurrent upload
    /// stored under the entry's `If-None-Exist` criteria, if any — the entry then answers it
    /// (200), as it would have without the race.
    async fn rematch(
        &mut self,
        index: usize,
        if_none_exist: Option<&str>,
    ) -> FhirResult<Option<Stored>> {
        let Some(text) = if_none_exist else {
            return Ok(None);
        };
        // The entry's own claim on its identifiers is void: it was not stored.
        self.pending.retain(|_, entry| *entry != index);
        self.prefetch(parse_if_none_exist(text)?.into_iter().flatten().collect())
            .await?;
        let Ok(Some((Target::Stored(id), _))) = self.conditional(text) else {
            return Ok(None);
        };
        let Some(observation) = self.state.store.get_observation(&self.scope, id).await? else {
            return Ok(None);
        };
        let concept = self.concept_by_id(observation.codeable_concept_id).await?;
        Ok(Some(Stored {
            observation,
            concept,
            created: false,
        }))
    }

    /// The 409 of a create that collided with a concurrent one: names the identifier.
    async fn collision(&self, new: &NewObservation) -> FhirError {
        if let Ok(found) = self
            .state
            .store
            .find_observation_identifiers(&new.identifiers)
            .await
            && let Some((identifier, _)) = found.first()
        {
            return identifier_exists(identifier.system.as_deref(), &identifier.value);
        }
        FhirError::conflict("Identifier already exists.")
    }

    /// Stores the planned entries: all in one atomic multi-row insert; for a batch whose
    /// insert collides with a concurrent upload, entry by entry instead.
    async fn store(
        &mut self,
        plans: Vec<FhirResult<Plan>>,
        atomic: bool,
    ) -> FhirResult<Vec<Result<Stored, Outcome>>> {
        let mut results: Vec<Option<Result<Stored, Outcome>>> = Vec::with_capacity(plans.len());
        let mut news = Vec::new();
        let mut new_index = Vec::new();
        let mut existing = Vec::new();
        for (i, plan) in plans.into_iter().enumerate() {
            match plan {
                Ok(Plan::New {
                    new,
                    concept,
                    if_none_exist,
                }) => {
                    news.push(*new);
                    new_index.push((i, concept, if_none_exist));
                    results.push(None);
                }
                Ok(Plan::Existing { target, criterion }) => {
                    existing.push((i, target, criterion));
                    results.push(None);
                }
                Err(FhirError::Outcome(o)) => results.push(Some(Err(o))),
                Err(e) => return Err(e),
            }
        }
        // A batch keeps its rows for the entry-by-entry fallback; a transaction does not need
        // them (one row: for naming the colliding identifier).
        let count = news.len();
        let batch = if atomic && count > 1 {
            std::mem::take(&mut news)
        } else {
            news.clone()
        };
        match self.state.store.create_observations(batch).await {
            Ok(created) => {
                for ((i, concept, _), observation) in new_index.into_iter().zip(created) {
                    set(
                        &mut results,
                        i,
                        Ok(Stored {
                            observation,
                            concept,
                            created: true,
                        }),
                    );
                }
            }
            Err(StoreError::Conflict(_)) if atomic => {
                let first = news.first().cloned();
                return Err(match first {
                    Some(n) if count == 1 => self.collision(&n).await,
                    _ => FhirError::conflict(
                        "An identifier of the Bundle was stored concurrently; nothing was stored.",
                    ),
                });
            }
            Err(StoreError::Conflict(_)) => {
                for ((i, concept, if_none_exist), new) in new_index.into_iter().zip(news) {
                    let outcome = match self
                        .state
                        .store
                        .create_observations(vec![new.clone()])
                        .await
                    {
                        Ok(mut created) if !created.is_empty() => Ok(Stored {
                            observation: created.remove(0),
                            concept,
                            created: true,
                        }),
                        Ok(_) => {
                            return Err(FhirError::Core(CoreError::Internal(
                                "the store created nothing".into(),
                            )));
                        }
                        Err(StoreError::Conflict(_)) => {
                            match self.rematch(i, if_none_exist.as_deref()).await? {
                                Some(stored) => Ok(stored),
                                None => match self.collision(&new).await {
                                    FhirError::Outcome(o) => Err(o),
                                    other => return Err(other),
                                },
                            }
                        }
                        Err(e) => return Err(e.into()),
                    };
                    set(&mut results, i, outcome);
                }
            }
            Err(e) => return Err(e.into()),
        }
        for (i, target, (system, value)) in existing {
            let found = match target {
                Target::Stored(id) => self.state.store.get_observation(&self.scope, id).await?,
                Target::Entry(j) => match results.get(j) {
                    Some(Some(Ok(s))) => Some(s.observation.clone()),
                    _ => None,
                },
            };
            set(
                &mut results,
                i,
                match found {
                    Some(observation) => {
                        let concept = self.concept_by_id(observation.codeable_concept_id).await?;
                        Ok(Stored {
                            observation,
                            concept,
                            created: false,
                        })
                    }
                    None => match identifier_exists(Some(&system), &value) {
                        FhirError::Outcome(o) => Err(o),
                        other => return Err(other),
                    },
                },
            );
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Outcome {
                        status: FhirStatus::Unprocessable,
                        code: "processing",
                        diagnostics: "The entry was not processed.".into(),
                        expression: Vec::new(),
                    })
                })
            })
            .collect())
    }
}

fn camelized(mut value: Value, root: &str) -> FhirResult<Value> {
    camelize_keys(&mut value, root).map_err(|issues| FhirError::structure(root, &issues))?;
    Ok(value)
}

/// `POST Observation`: validates and stores one Observation (or, with `If-None-Exist`,
/// returns the observation it names when one exists).
pub async fn create_observation(
    state: &AppState,
    principal: &Principal,
    resource: Value,
    if_none_exist: Option<&str>,
) -> FhirResult<Stored> {
    let result = create_unaudited(state, principal, resource, if_none_exist).await;
    match &result {
        Ok(stored) => audit_stored(state, principal, std::slice::from_ref(stored), 0),
        Err(e) => audit::record_failure(
            state,
            principal,
            AuditKind::Create,
            "Observation",
            &e.to_string(),
        ),
    }
    result
}

/// The audit events of stored observations: one `create` per patient of the new rows (naming the
/// observation when there is one, else how many), one failure for `failed` rejected entries.
fn audit_stored(state: &AppState, principal: &Principal, stored: &[Stored], failed: usize) {
    let created = stored.iter().filter(|s| s.created).count();
    crate::http::observe::record_observations_ingested(u64::try_from(created).unwrap_or(u64::MAX));
    let mut per_patient: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    for s in stored.iter().filter(|s| s.created) {
        per_patient
            .entry(s.observation.subject_patient_id)
            .or_default()
            .push(s.observation.id);
    }
    let mut events: Vec<AuditEvent> = per_patient
        .into_iter()
        .map(|(patient, ids)| {
            let event = AuditEvent::by(principal, AuditKind::Create).patient(patient);
            match ids.as_slice() {
                [one] => event
                    .entity(format!("Observation/{one}"))
                    .detail("Observation"),
                many => event.detail(format!("{} Observations", many.len())),
            }
        })
        .collect();
    if failed > 0 {
        events.push(
            AuditEvent::by(principal, AuditKind::Create)
                .detail("Observation")
                .failed(format!("{failed} entries rejected")),
        );
    }
    state.audit.record_batch(events);
}

async fn create_unaudited(
    state: &AppState,
    principal: &Principal,
    resource: Value,
    if_none_exist: Option<&str>,
) -> FhirResult<Stored> {
    let resource = camelized(resource, "Observation")?;
    match create_once(state, principal, &resource, if_none_exist).await {
        // A conditional create that lost a race with an identical one (the unique index
        // refused the insert): the winner's row is there now, so look the match up again and
        // answer it (200) rather than 409. At most once: a second conflict is a real one.
        Err(e)
            if if_none_exist.is_some()
                && e.outcome()
                    .is_some_and(|o| o.status == FhirStatus::Conflict) =>
        {
            create_once(state, principal, &resource, if_none_exist).await
        }
        other => other,
    }
}

/// One attempt of [`create_observation`] on a camelCase resource.
async fn create_once(
    state: &AppState,
    principal: &Principal,
    resource: &Value,
    if_none_exist: Option<&str>,
) -> FhirResult<Stored> {
    let mut uploader = Uploader::new(state, principal).await;
    let mut keys = Vec::new();
    raw_identifier_keys(resource, &mut keys);
    if let Some(text) = if_none_exist {
        keys.extend(parse_if_none_exist(text)?.into_iter().flatten());
    }
    uploader.prefetch_facts([resource], keys).await?;
    let plan = uploader.prepare(0, resource, if_none_exist).await;
    let mut results = uploader.store(vec![plan], true).await?;
    match results.pop() {
        Some(Ok(stored)) => Ok(stored),
        Some(Err(outcome)) => Err(FhirError::Outcome(outcome)),
        None => Err(FhirError::Core(CoreError::Internal(
            "no result for the observation".into(),
        ))),
    }
}

/// Checks a Bundle entry's `request` and `resource` before the Observation rules.
fn entry_request(entry: &Value) -> FhirResult<RequestIn> {
    let resource = entry
        .get("resource")
        .ok_or_else(|| FhirError::bad_request("Bundle.entry.resource is required."))?;
    let request = entry
        .get("request")
        .ok_or_else(|| FhirError::bad_request("Bundle.entry.request is required."))?;
    let request = RequestIn::deserialize(request)
        .map_err(|e| FhirError::bad_request(format!("Invalid Bundle.entry.request: {e}")))?;
    if resource.get("resourceType").and_then(Value::as_str) != Some("Observation") {
        return Err(FhirError::bad_request(ONLY_OBSERVATION));
    }
    if request.method != "POST" {
        return Err(FhirError::bad_request(ONLY_POST));
    }
    let path = request.url.split(['?', '#']).next().unwrap_or("");
    if path.trim_end_matches('/').rsplit('/').next() != Some("Observation") {
        return Err(FhirError::bad_request(
            "Bundle.entry.request.url must be 'Observation'.",
        ));
    }
    Ok(request)
}

/// Most entries one `batch` or `transaction` Bundle may hold (`413` beyond).
pub const MAX_BUNDLE_ENTRIES: usize = 10_000;

/// `POST /` with a Bundle: `batch` (each entry on its own) or `transaction` (all or nothing).
pub async fn process_bundle(
    state: &AppState,
    principal: &Principal,
    bundle: Value,
) -> FhirResult<BundleOutcome> {
    let result = bundle_unaudited(state, principal, bundle).await;
    match &result {
        Ok(outcome) => {
            let stored: Vec<Stored> = outcome
                .entries
                .iter()
                .filter_map(|e| e.as_ref().ok().cloned())
                .collect();
            let failed = outcome.entries.iter().filter(|e| e.is_err()).count();
            audit_stored(state, principal, &stored, failed);
        }
        Err(e) => audit::record_failure(
            state,
            principal,
            AuditKind::Create,
            "Observation",
            &e.to_string(),
        ),
    }
    result
}

async fn bundle_unaudited(
    state: &AppState,
    principal: &Principal,
    bundle: Value,
) -> FhirResult<BundleOutcome> {
    let mut bundle = camelized(bundle, "Bundle")?;
    validate_bundle_shell(&bundle).map_err(|issues| FhirError::structure("Bundle", &issues))?;
    let kind = match bundle.get("type").and_then(Value::as_str) {
        Some("batch") => BundleKind::Batch,
        Some("transaction") => BundleKind::Transaction,
        other => {
            return Err(FhirError::bad_request(format!(
                "Bundle.type must be 'batch' or 'transaction' (found '{}').",
                other.unwrap_or("")
            )));
        }
    };
    let entries = match bundle.get_mut("entry").map(Value::take) {
        Some(Value::Array(entries)) => entries,
        _ => Vec::new(),
    };
    if entries.len() > MAX_BUNDLE_ENTRIES {
        return Err(FhirError::new(
            FhirStatus::PayloadTooLarge,
            format!(
                "The Bundle has {} entries; at most {MAX_BUNDLE_ENTRIES} are accepted: split it.",
                entries.len()
            ),
        ));
    }
    check_full_urls_unique(&entries)?;
    let mut uploader = Uploader::new(state, principal).await;
    // Requests first, then one bulk lookup of every identifier named anywhere.
    let requests: Vec<FhirResult<RequestIn>> = entries.iter().map(entry_request).collect();
    let mut keys = Vec::new();
    for (entry, request) in entries.iter().zip(&requests) {
        if let (Some(resource), Ok(request)) = (entry.get("resource"), request) {
            raw_identifier_keys(resource, &mut keys);
            if let Some(Ok(criteria)) = request.if_none_exist.as_deref().map(parse_if_none_exist) {
                keys.extend(criteria.into_iter().flatten());
            }
        }
    }
    uploader
        .prefetch_facts(
            entries
                .iter()
                .zip(&requests)
                .filter(|(_, request)| request.is_ok())
                .filter_map(|(entry, _)| entry.get("resource")),
            keys,
        )
        .await?;
    let mut plans = Vec::with_capacity(entries.len());
    for (i, (entry, request)) in entries.iter().zip(requests).enumerate() {
        let plan = match (request, entry.get("resource")) {
            (Ok(request), Some(resource)) => {
                uploader
                    .prepare(i, resource, request.if_none_exist.as_deref())
                    .await
            }
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(FhirError::bad_request("Bundle.entry.resource is required.")),
        };
        if kind == BundleKind::Transaction
            && let Err(e) = plan
        {
            return Err(in_entry(e, i));
        }
        plans.push(plan);
    }
    let entries = uploader
        .store(plans, kind == BundleKind::Transaction)
        .await?;
    Ok(BundleOutcome { kind, entries })
}

/// FHIR invariant bdl-7: the `fullUrl`s of a Bundle's entries are unique (the request entries
/// carry no `meta.versionId` that could tell equal ones apart). A Bundle breaking it is refused
/// (`400`), nothing is stored.
fn check_full_urls_unique(entries: &[Value]) -> FhirResult<()> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        if let Some(url) = entry.get("fullUrl").and_then(Value::as_str)
            && let Some(first) = seen.insert(url, i)
        {
            let mut e = FhirError::bad_request(format!(
                "bdl-7: Bundle.entry[{i}].fullUrl '{url}' repeats Bundle.entry[{first}].fullUrl: fullUrl must be unique in a Bundle."
            ));
            if let FhirError::Outcome(o) = &mut e {
                o.code = "invariant";
                o.expression.push(format!("Bundle.entry[{i}].fullUrl"));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Prefixes an entry's error with its position (transactions report the first failure).
fn in_entry(error: FhirError, index: usize) -> FhirError {
    match error {
        FhirError::Outcome(mut o) => {
            o.diagnostics = format!("Bundle.entry[{index}]: {}", o.diagnostics);
            o.expression.insert(0, format!("Bundle.entry[{index}]"));
            FhirError::Outcome(o)
        }
        other => other,
    }
}

// ------------------------------------------------------------------------------------------
// Search and read
// ------------------------------------------------------------------------------------------

/// `GET Observation`: the observations visible to the caller that match, newest upload first
/// (the shared [`observation_search::search`]).
pub async fn search_observations(
    state: &AppState,
    principal: &Principal,
    search: &ObservationSearch,
) -> FhirResult<SearchPage<(Observation, CodeableConcept)>> {
    let paging = search.paging;
    let mut q = ObservationQuery::default();
    let mut nothing = search.matches_nothing;
    match single(&search.patient_ids) {
        Ok(p) => q.patient_id = p,
        Err(_) => nothing = true,
    }
    match single(&search.study_ids) {
        Ok(s) => q.study_id = s,
        Err(_) => nothing = true,
    }
    match single(&search.patient_identifiers) {
        Ok(i) => q.patient_identifier = i,
        Err(_) => nothing = true,
    }
    match single(&search.organization_ids) {
        Ok(o) => q.organization_id = o,
        Err(_) => nothing = true,
    }
    match single(&search.ids) {
        Ok(i) => q.id = i,
        Err(_) => nothing = true,
    }
    let mut concepts: HashMap<Id, CodeableConcept> = HashMap::new();
    if !search.codes.is_empty() {
        let matching: Vec<CodeableConcept> = state
            .store
            .list_concepts()
            .await?
            .into_iter()
            .filter(|c| {
                search.codes.iter().all(|alternatives| {
                    alternatives
                        .iter()
                        .any(|t| t.matches(&c.coding_system, &c.coding_code))
                })
            })
            .collect();
        if matching.is_empty() {
            nothing = true;
        }
        q.codeable_concept_ids = Some(matching.iter().map(|c| c.id).collect());
        concepts.extend(matching.into_iter().map(|c| (c.id, c)));
    }
    q.effective_from = search.date.from;
    q.effective_before = search.date.before;
    q.effective_within_from = search.date.within_from;
    q.effective_within_before = search.date.within_before;
    (q.updated_from, q.updated_before) = search.last_updated.instant();
    q.order = match search.sort {
        SortOrder::LastUpdatedDesc => ObservationOrder::LastUpdatedDesc,
        SortOrder::LastUpdatedAsc => ObservationOrder::LastUpdatedAsc,
        SortOrder::DateAsc => ObservationOrder::EffectiveAsc,
        SortOrder::DateDesc => ObservationOrder::EffectiveDesc,
    };
    let skip_total = paging.total == TotalMode::None && paging.count > 0;
    q.skip_total = skip_total;
    if nothing {
        return Ok(SearchPage::empty(paging.page));
    }
    let found = observation_search::search(
        state,
        principal,
        q,
        SearchPaging {
            count: paging.count,
            page: paging.page,
            after: paging.cursor,
        },
    )
    .await?;
    if paging.count > 0 && paging.cursor.is_none() && paging.page > 1 && found.page.items.is_empty()
    {
        return Err(FhirError::not_found("Invalid page."));
    }
    // The page's data types in one query (none when the code filter loaded them already).
    let mut missing: Vec<Id> = found
        .page
        .items
        .iter()
        .map(|o| o.codeable_concept_id)
        .filter(|id| !concepts.contains_key(id))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        concepts.extend(
            state
                .store
                .get_concepts(&missing)
                .await?
                .into_iter()
                .map(|c| (c.id, c)),
        );
    }
    let mut items = Vec::with_capacity(found.page.items.len());
    for observation in found.page.items {
        let concept = concepts
            .get(&observation.codeable_concept_id)
            .cloned()
            .ok_or_else(|| {
                FhirError::Core(CoreError::Internal(format!(
                    "concept {} is missing",
                    observation.codeable_concept_id
                )))
            })?;
        items.push((observation, concept));
    }
    Ok(SearchPage {
        items,
        total: (!skip_total).then_some(found.page.total),
        page: paging.page,
        has_next: found.has_next,
        next_cursor: found.next_cursor.and_then(|c| c.to_token()),
    })
}

/// `GET Observation/{id}`: one observation, under the same visibility as search
/// ([`observation_search::read`]).
pub async fn read_observation(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> FhirResult<(Observation, CodeableConcept)> {
    let not_found = || FhirError::not_found(format!("Observation/{id} is not known."));
    let id: Id = id.parse().map_err(|_| not_found())?;
    let observation = observation_search::read(state, principal, id)
        .await?
        .ok_or_else(not_found)?;
    let concept = state
        .store
        .get_concept(observation.codeable_concept_id)
        .await?
        .ok_or_else(not_found)?;
    Ok((observation, concept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_exist_criteria() {
        assert_eq!(
            parse_if_none_exist("identifier=https%3A%2F%2Fex.org%7Cobs-1").unwrap(),
            vec![vec![key_of(Some("https://ex.org"), "obs-1")]]
        );
        assert_eq!(
            parse_if_none_exist("Observation?identifier=|v&identifier=s|w").unwrap(),
            vec![vec![key_of(None, "v")], vec![key_of(Some("s"), "w")]]
        );
        assert_eq!(
            parse_if_none_exist("identifier=S|a,S|b").unwrap(),
            vec![vec![key_of(Some("S"), "a"), key_of(Some("S"), "b")]]
        );
        assert_eq!(
            parse_if_none_exist("identifier=S|a\\,b,T|c\\|d").unwrap(),
            vec![vec![key_of(Some("S"), "a,b"), key_of(Some("T"), "c|d")]]
        );
        for bad in [
            "",
            "identifier=v",
            "code=a|b",
            "identifier=s|",
            "identifier=S|a,b",
            "identifier=S|a,",
            "identifier:exact=S|a",
            "identifier=S|a%00",
            "identifier=S|a\\",
            "identifier=S|a\\x",
            "_id=1",
        ] {
            assert!(parse_if_none_exist(bad).is_err(), "{bad}");
        }
        let long = "x".repeat(MAX_IDENTIFIER_BYTES + 1);
        assert!(parse_if_none_exist(&format!("identifier=S|{long}")).is_err());
    }

    proptest::proptest! {
        #[test]
        fn if_none_exist_never_panics(text in "\\PC{0,80}") {
            let _ = parse_if_none_exist(&text);
        }

        #[test]
        fn if_none_exist_round_trips_escaped_values(
            pairs in proptest::collection::vec(("[a-z:/.]{1,12}", "[a-z0-9,|\\\\]{1,12}"), 1..4)
        ) {
            let escape = |s: &str| s.replace('\\', "\\\\").replace(',', "\\,").replace('|', "\\|");
            let value = pairs
                .iter()
                .map(|(s, v)| format!("{}|{}", escape(s), escape(v)))
                .collect::<Vec<_>>()
                .join(",");
            let text = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("identifier", &value)
                .finish();
            let parsed = parse_if_none_exist(&text).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let expected: Vec<IdKey> = pairs.iter().map(|(s, v)| key_of(Some(s), v)).collect();
            proptest::prop_assert_eq!(parsed, vec![expected]);
        }
    }

    #[test]
    fn duplicate_identifier_message() {
        let e = identifier_exists(None, "zzz");
        assert_eq!(
            e.outcome().map(|o| o.diagnostics.as_str()),
            Some("Identifier already exists: system=None value=zzz")
        );
    }
}
