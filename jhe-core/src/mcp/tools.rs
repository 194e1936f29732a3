//! The tools of mcp.md §4, each a thin adapter over the service functions that REST and FHIR
//! use, run with the caller's [`Principal`] (and so the caller's sealed access scope). Each tool
//! first checks the token's scopes against the route it mirrors ([`crate::http::scopes`]), so a
//! token limited to, say, `patient/Observation.rs` reaches exactly what it would over FHIR.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{NaiveTime, TimeDelta};
use poem::http::Method;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use super::args::{
    Args, ToolError, ToolResult, opt_bool, opt_date, opt_str, paging, parse_iso_date, req_id,
};
use super::records;
use crate::domain::{CodeableConcept, IEEE_SYSTEM, Id, OMH_SYSTEM, PageRequest};
use crate::error::CoreError;
use crate::fhir::search::PatientSearch;
use crate::policy::Principal;
use crate::server::AppState;
use crate::services::observation_search::{self, SearchPaging};
use crate::services::{fhir_patients as fhir_service, patients, studies};
use crate::store::{ObservationOrder, ObservationQuery};

/// The FHIR base path the Observation and Patient tools mirror (for scope checks).
const FHIR: &str = "/fhir/r5";

/// Refuses a call the token's scopes would not allow on the route the tool mirrors.
fn need(principal: &Principal, path: &str) -> ToolResult<()> {
    crate::http::scopes::enforce(&principal.scopes, &Method::GET, path, None)?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The Open mHealth registry
// ------------------------------------------------------------------------------------------

/// One schema the server's data formats check payloads against.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaEntry {
    /// The schema id / code, e.g. `omh:heart-rate:2.0`.
    pub code: String,
    /// Its short name, the second `:` segment (`heart-rate`).
    pub short_name: String,
    /// The FHIR coding system of the code: `https://w3id.org/ieee1752` for `ieee:` ids,
    /// `https://w3id.org/openmhealth` otherwise.
    pub system: &'static str,
    /// The JSON schema.
    pub schema: Value,
}

/// The schemas of every registered data format (honest capabilities: what the server checks,
/// not a hard-coded list), ordered by code.
pub fn registry(state: &AppState) -> Vec<SchemaEntry> {
    let mut entries: BTreeMap<String, SchemaEntry> = BTreeMap::new();
    for format in &state.formats {
        for (code, schema) in format.schemas() {
            let Some(short_name) = code.split(':').nth(1).map(str::to_string) else {
                continue;
            };
            let system = if code.starts_with("ieee:") {
                IEEE_SYSTEM
            } else {
                OMH_SYSTEM
            };
            entries.entry(code.clone()).or_insert(SchemaEntry {
                code,
                short_name,
                system,
                schema,
            });
        }
    }
    entries.into_values().collect()
}

/// The sorted, distinct short names of the registry.
pub fn short_names(registry: &[SchemaEntry]) -> Vec<String> {
    let mut names: Vec<String> = registry.iter().map(|e| e.short_name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// `['a', 'b']`: the list as the original (Python) wrote it in messages.
fn python_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The version of a code as numbers (`omh:step-count:3.0` → `[3, 0]`), for "the latest".
fn version_of(code: &str) -> Vec<u64> {
    code.rsplit(':')
        .next()
        .unwrap_or_default()
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// The newest schema of a short name.
pub fn schema_of<'a>(registry: &'a [SchemaEntry], short_name: &str) -> Option<&'a SchemaEntry> {
    registry
        .iter()
        .filter(|e| e.short_name == short_name)
        .max_by_key(|e| version_of(&e.code))
}

/// The concepts a `data_type` argument names: every stored concept whose system and code are
/// one of the registry's codes with that short name (all versions). Unknown names fail with
/// `Unknown data_type '<x>'. Known: [...]`.
async fn concepts_of(state: &AppState, data_type: &str) -> ToolResult<Vec<Id>> {
    let registry = registry(state);
    let codes: Vec<(&str, &str)> = registry
        .iter()
        .filter(|e| e.short_name == data_type)
        .map(|e| (e.system, e.code.as_str()))
        .collect();
    if codes.is_empty() {
        return Err(ToolError(format!(
            "Unknown data_type '{data_type}'. Known: {}",
            python_list(&short_names(&registry))
        )));
    }
    Ok(state
        .store
        .list_concepts()
        .await?
        .into_iter()
        .filter(|c| {
            codes
                .iter()
                .any(|(system, code)| c.coding_system == *system && c.coding_code == *code)
        })
        .map(|c| c.id)
        .collect())
}

async fn concept_map(state: &AppState) -> ToolResult<HashMap<Id, CodeableConcept>> {
    Ok(state
        .store
        .list_concepts()
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect())
}

/// The observation criteria of the common arguments (`data_type`, `start`, `end`, inclusive
/// days compared in UTC, the server's time zone); `None` when they can match nothing (a known
/// data type no observation was ever stored with).
async fn criteria(
    state: &AppState,
    args: &Args,
    patient_id: Option<Id>,
    study_id: Option<Id>,
) -> ToolResult<Option<ObservationQuery>> {
    let start = opt_date(args, "start")?;
    let end = opt_date(args, "end")?;
    let mut query = ObservationQuery {
        patient_id,
        study_id,
        ..Default::default()
    };
    if let Some(data_type) = opt_str(args, "data_type")?.filter(|d| !d.trim().is_empty()) {
        let ids = concepts_of(state, data_type.trim()).await?;
        if ids.is_empty() {
            return Ok(None);
        }
        query.codeable_concept_ids = Some(ids);
    }
    // FHIR `date=ge<start>` / `date=le<end>` at day precision: the effective period ends on or
    // after the start day and starts before the day after the end day.
    query.effective_from = start.map(|d| d.and_time(NaiveTime::MIN).and_utc());
    query.effective_before = end
        .and_then(|d| d.checked_add_signed(TimeDelta::days(1)))
        .map(|d| d.and_time(NaiveTime::MIN).and_utc());
    Ok(Some(query))
}

// ------------------------------------------------------------------------------------------
// Definitions
// ------------------------------------------------------------------------------------------

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn integer(description: &str, default: i64) -> Value {
    json!({"type": "integer", "description": description, "default": default})
}

fn schema(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut object = JsonObject::new();
    object.insert("type".into(), json!("object"));
    object.insert("properties".into(), properties);
    if !required.is_empty() {
        object.insert("required".into(), json!(required));
    }
    Arc::new(object)
}

const DATA_TYPE: &str =
    "Open mHealth short name, e.g. 'heart-rate' or 'blood-glucose' (see get_omh_schema).";
const START: &str = "First day, YYYY-MM-DD (inclusive, UTC).";
const END: &str = "Last day, YYYY-MM-DD (inclusive, UTC).";

/// Every tool with its input schema, annotated read-only, idempotent and closed-world (they
/// only read the exchange's own data).
pub fn definitions() -> Vec<Tool> {
    tool_list()
        .into_iter()
        .map(|tool| {
            tool.annotate(
                ToolAnnotations::new()
                    .read_only(true)
                    .destructive(false)
                    .idempotent(true)
                    .open_world(false),
            )
        })
        .collect()
}

fn tool_list() -> Vec<Tool> {
    let patient = string("Patient id, e.g. '40001'.");
    let study = string("Study id, e.g. '30001'.");
    vec![
        Tool::new(
            "get_study_count",
            "How many studies you can read. Returns an integer.",
            schema(json!({}), &[]),
        ),
        Tool::new(
            "list_studies",
            "Every study you can read: [{study_id, name, description, organization_id, organization_name}].",
            schema(json!({}), &[]),
        ),
        Tool::new(
            "get_study_metadata",
            "One study {study_id, name, description, organization_id, organization_name}, or null if it does not exist.",
            schema(json!({"study_id": study}), &["study_id"]),
        ),
        Tool::new(
            "list_study_patients",
            "The patients enrolled in a study that you can see: [{patient_id, given_name, family_name, email}].",
            schema(json!({"study_id": study}), &["study_id"]),
        ),
        Tool::new(
            "get_patient_demographics",
            "{patient_id, given_name, family_name, birth_date} of a patient, or null if not visible to you.",
            schema(json!({"patient_id": patient}), &["patient_id"]),
        ),
        Tool::new(
            "search_patients",
            "Find patients by name (case-insensitive prefix of family or given name), family, given or birthdate (YYYY-MM-DD, optional ge/le/gt/lt prefix). Paged envelope with 'patients'.",
            schema(
                json!({
                    "name": string("Family or given name starts with this."),
                    "family": string("Family name starts with this."),
                    "given": string("Given name starts with this."),
                    "birthdate": string("YYYY-MM-DD with an optional ge/le/gt/lt prefix."),
                    "limit": integer("Page size, 1..1000.", 50),
                    "page": integer("1-based page number.", 1),
                }),
                &[],
            ),
        ),
        Tool::new(
            "get_patient_observations",
            "One page of a patient's observations you may see, as slim records {observation_id, patient_id, type, effective_at, value, unit} or full records {observation_id, patient_id, code, code_system, code_display, effective_at, omh_body}. Paged envelope with 'observations'. Use the count and summary tools first for large histories.",
            schema(
                json!({
                    "patient_id": patient,
                    "data_type": string(DATA_TYPE),
                    "start": string(START),
                    "end": string(END),
                    "verbosity": {"type": "string", "enum": ["slim", "full"], "default": "slim"},
                    "order": {"type": "string", "enum": ["newest", "oldest"], "default": "newest",
                              "description": "By effective time."},
                    "limit": integer("Page size, 1..1000.", 50),
                    "page": integer("1-based page number.", 1),
                }),
                &["patient_id"],
            ),
        ),
        Tool::new(
            "count_patient_observations",
            "How many observations of a patient you may see (optionally of one data type, within dates). Returns an integer.",
            schema(
                json!({"patient_id": patient, "data_type": string(DATA_TYPE),
                       "start": string(START), "end": string(END)}),
                &["patient_id"],
            ),
        ),
        Tool::new(
            "count_study_observations",
            "How many observations in a study you may see (consented data types of its patients); with by_patient=true an object {patient_id: count} for every patient of the study.",
            schema(
                json!({"study_id": study, "data_type": string(DATA_TYPE),
                       "start": string(START), "end": string(END),
                       "by_patient": {"type": "boolean", "default": false}}),
                &["study_id"],
            ),
        ),
        Tool::new(
            "summarize_patient_observations",
            "Per data type, the count and earliest/latest effective time of a patient's observations: {truncated, types: {<type>: {count, earliest, latest}}}.",
            schema(
                json!({"patient_id": patient, "start": string(START), "end": string(END)}),
                &["patient_id"],
            ),
        ),
        Tool::new(
            "get_patient_date_range",
            "{earliest, latest, count} of a patient's observations (effective times).",
            schema(json!({"patient_id": patient}), &["patient_id"]),
        ),
        Tool::new(
            "get_omh_schema",
            "The JSON schema of an Open mHealth data type by short name (e.g. 'heart-rate').",
            schema(
                json!({"name": string("Short name, e.g. 'heart-rate'.")}),
                &["name"],
            ),
        ),
        Tool::new(
            "get_server_capabilities",
            "What the exchange's FHIR API supports: resources, interactions and search parameters.",
            schema(json!({}), &[]),
        ),
    ]
}

// ------------------------------------------------------------------------------------------
// Dispatch
// ------------------------------------------------------------------------------------------

/// Runs tool `name` for `principal`. `Ok(None)` when no tool has that name.
///
/// # Errors
/// A [`ToolError`] with the message the caller should read.
pub async fn call(
    state: &AppState,
    principal: &Principal,
    name: &str,
    args: &Args,
) -> ToolResult<Option<Value>> {
    let value = match name {
        "get_study_count" => get_study_count(state, principal).await?,
        "list_studies" => Value::Array(list_studies(state, principal).await?),
        "get_study_metadata" => get_study_metadata(state, principal, args).await?,
        "list_study_patients" => list_study_patients(state, principal, args).await?,
        "get_patient_demographics" => get_patient_demographics(state, principal, args).await?,
        "search_patients" => search_patients(state, principal, args).await?,
        "get_patient_observations" => get_patient_observations(state, principal, args).await?,
        "count_patient_observations" => count_patient_observations(state, principal, args).await?,
        "count_study_observations" => count_study_observations(state, principal, args).await?,
        "summarize_patient_observations" => summarize(state, principal, args).await?,
        "get_patient_date_range" => date_range(state, principal, args).await?,
        "get_omh_schema" => get_omh_schema(state, args)?,
        "get_server_capabilities" => server_capabilities(state),
        _ => return Ok(None),
    };
    Ok(Some(value))
}

// ------------------------------------------------------------------------------------------
// Studies
// ------------------------------------------------------------------------------------------

async fn studies_page(
    state: &AppState,
    principal: &Principal,
) -> ToolResult<crate::domain::Page<studies::StudyView>> {
    need(principal, "/api/v1/studies")?;
    match studies::list(state, principal, None, PageRequest::all()).await {
        Ok(page) => Ok(page),
        // Callers without a practitioner profile (patients) read no studies.
        Err(CoreError::NotFound(_)) if principal.practitioner.is_none() => {
            Ok(crate::domain::Page {
                items: Vec::new(),
                total: 0,
                request: PageRequest::all(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn get_study_count(state: &AppState, principal: &Principal) -> ToolResult<Value> {
    Ok(json!(studies_page(state, principal).await?.total))
}

async fn list_studies(state: &AppState, principal: &Principal) -> ToolResult<Vec<Value>> {
    Ok(studies_page(state, principal)
        .await?
        .items
        .iter()
        .map(records::study)
        .collect())
}

async fn get_study_metadata(
    state: &AppState,
    principal: &Principal,
    args: &Args,
) -> ToolResult<Value> {
    let id = req_id(args, "study_id")?;
    need(principal, "/api/v1/studies/1")?;
    match studies::get(state, principal, id).await {
        Ok(view) => Ok(records::study(&view)),
        Err(CoreError::NotFound(_)) => Ok(Value::Null),
        Err(e) => Err(e.into()),
    }
}

async fn list_study_patients(
    state: &AppState,
    principal: &Principal,
    args: &Args,
) -> ToolResult<Value> {
    let id = req_id(args, "study_id")?;
    need(principal, "/api/v1/studies/1/patients")?;
    let found = studies::patients(state, principal, id).await?;
    Ok(Value::Array(
        found
            .iter()
            .map(|v| {
                json!({
                    "patient_id": v.patient.id.to_string(),
                    "given_name": v.patient.name_given,
                    "family_name": v.patient.name_family,
                    "email": v.email,
                })
            })
            .collect(),
    ))
}

// ------------------------------------------------------------------------------------------
// Patients
// ------------------------------------------------------------------------------------------

async fn get_patient_demographics(
    state: &AppState,
    principal: &Principal,
    args: &Args,
) -> ToolResult<Value> {
    let id = req_id(args, "patient_id")?;
    need(principal, "/api/v1/patients/1")?;
    match patients::get(state, principal, id).await {
        Ok(view) => Ok(records::demographics(&view.patient)),
        Err(CoreError::NotFound(_)) => Ok(Value::Null),
        Err(e) => Err(e.into()),
    }
}

/// `YYYY-MM-DD`, optionally prefixed `ge`/`le`/`gt`/`lt`.
fn valid_birthdate(raw: &str) -> bool {
    let day = ["ge", "le", "gt", "lt"]
        .iter()
        .find_map(|p| raw.strip_prefix(p))
        .unwrap_or(raw);
    parse_iso_date(day).is_some()
}

async fn search_patients(
    state: &AppState,
    principal: &Principal,
    args: &Args,
) -> ToolResult<Value> {
    let mut params: Vec<(String, String)> = Vec::new();
    for name in ["name", "family", "given", "birthdate"] {
        if let Some(value) = opt_str(args, name)?.filter(|v| !v.trim().is_empty()) {
            let value = value.trim().to_string();
            if name == "birthdate" && !valid_birthdate(&value) {
                return Err(ToolError(format!(
                    "birthdate must be YYYY-MM-DD with an optional ge/le/gt/lt prefix; got '{value}'"
                )));
            }
            params.push((name.to_string(), value));
        }
    }
    if params.is_empty() {
        return Err(ToolError(
            "Provide at least one of: name, family, given, birthdate.".into(),
        ));
    }
    let (limit, page) = paging(args)?;
    need(principal, &format!("{FHIR}/Patient"))?;
    params.push(("_count".into(), limit.to_string()));
    params.push(("_page".into(), page.to_string()));
    let search = PatientSearch::parse(&params)?;
    let found = fhir_service::search_patients(state, principal, &search).await?;
    let hits: Vec<Value> = found
        .items
        .iter()
        .map(|(p, email)| records::patient_hit(p, email.as_deref()))
        .collect();
    Ok(records::envelope(
        found.total.unwrap_or(hits.len() as u64),
        page,
        limit,
        "patients",
        hits,
    ))
}

// ------------------------------------------------------------------------------------------
// Observations
// ------------------------------------------------------------------------------------------

async fn get_patient_observations(
    state: &AppState,
    principal: &Principal,
    args: &Args,
) -> ToolResult<Value> {
    let patient_id = req_id(args, "patient_id")?;
    let verbosity = opt_str(args, "verbosity")?.unwrap_or_else(|| "slim".into());
    let full = match verbosity.as_str() {
        "slim" => false,
        "full" => true,
        other => {
            return Err(ToolError(format!(
                "verbosity must be 'slim' or 'full', got '{other}'"
            )));
        }
    };
    let order = match opt_str(args, "order")?.as_deref().unwrap_or("newest") {
        "newest" => ObservationOrder::EffectiveDesc,
        "oldest" => ObservationOrder::EffectiveAsc,
        other => {
            return Err(ToolError(format!(
                "order must be 'newest' or 'oldest', got '{other}'"
            )));
        }
    };
    let (limit, page) = paging(args)?;
    let query = criteria(state, args, Some(patient_id), None).await?;
    need(principal, &format!("{FHIR}/Observation"))?;
    let Some(mut query) = query else {
        return Ok(records::envelope(
            0,
            page,
            limit,
            "observations",
            Vec::new(),
        ));
    };
    query.order = order;
    let found = observation_search::search(
        state,
        principal,
        query,
        SearchPaging {
            count: limit,
            page,
            after: None,
        },
    )
    .await?;
    if page > 1 && found.page.items.is_empty() {
        return Err(ToolError(format!(
            "Invalid page: page {page} of {limit} is past the end ({} observations).",
            found.page.total
        )));
    }
    let concepts = concept_map(state).await?;
    let items: Vec<Value> = found
        .page
        .items
        .iter()
        .filter_map(|o| {
            let concept = concepts.get(&o.codeable_concept_id)?;
            Some(if full {
                records::full_observation(o, concept)
            } else {
                records::slim_observation(o, concept)
            })
        })
        .collect();
    Ok(records::envelope(
        found.page.total,
        page,
        limit,
        "observations",
        items,
    ))
}

/// The number of matching observations (an SQL `COUNT`).
async fn count(
    state: &AppState,
    principal: &Principal,
    query: Option<ObservationQuery>,
) -> ToolResult<u64> {
    let Some(query) = query else {
        return Ok(0);
    };
    Ok(observation_search::search(
        state,
        principal,
        query,
        SearchPaging {
            count: 0,
            page: 1,
            after: None,
        },
    )
    .await?
    .page
    .total)
}

async fn count_patient_observations(
    state: &AppState,
    principal: &Principal,
    args: &Args,
) -> ToolResult<Value> {
    let patient_id = req_id(args, "patient_id")?;
    let query = criteria(state, args, Some(patient_id), None).await?;
    need(principal, &format!("{FHIR}/Observation"))?;
    Ok(json!(count(state, principal, query).await?))
}

async fn count_study_observations(
    state: &AppState,
    principal: &Principal,
    args: &Args,
) -> ToolResult<Value> {
    let study_id = req_id(args, "study_id")?;
    let by_patient = opt_bool(args, "by_patient", false)?;
    let query = criteria(state, args, None, Some(study_id)).await?;
    need(principal, &format!("{FHIR}/Observation"))?;
    if !by_patient {
        return Ok(json!(count(state, principal, query).await?));
    }
    need(principal, "/api/v1/studies/1/patients")?;
    // Every visible patient of the study, with 0 where nothing matches.
    let enrolled = studies::patients(state, principal, study_id).await?;
    let counts: HashMap<Id, u64> = match query {
        Some(query) => observation_search::count_by_patient(state, principal, query)
            .await?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let mut out = serde_json::Map::new();
    for view in enrolled {
        let n = counts.get(&view.patient.id).copied().unwrap_or(0);
        out.insert(view.patient.id.to_string(), json!(n));
    }
    Ok(Value::Object(out))
}

/// Per data-type label: (count, earliest, latest).
type Summary = BTreeMap<
    String,
    (
        u64,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
>;

async fn summary(
    state: &AppState,
    principal: &Principal,
    query: Option<ObservationQuery>,
) -> ToolResult<Summary> {
    let mut out = Summary::new();
    let Some(query) = query else {
        return Ok(out);
    };
    let rows = observation_search::summarize(state, principal, query).await?;
    let concepts = concept_map(state).await?;
    for row in rows {
        let label = concepts
            .get(&row.codeable_concept_id)
            .map(records::type_label)
            .unwrap_or_else(|| "unknown".into());
        let entry = out.entry(label).or_insert((0, None, None));
        entry.0 = entry.0.saturating_add(row.count);
        entry.1 = match (entry.1, row.earliest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        entry.2 = match (entry.2, row.latest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(out)
}

fn instant(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    json!(t.map(crate::fhir::datetime::format_instant))
}

async fn summarize(state: &AppState, principal: &Principal, args: &Args) -> ToolResult<Value> {
    let patient_id = req_id(args, "patient_id")?;
    let query = criteria(state, args, Some(patient_id), None).await?;
    need(principal, &format!("{FHIR}/Observation"))?;
    let types: serde_json::Map<String, Value> = summary(state, principal, query)
        .await?
        .into_iter()
        .map(|(label, (count, earliest, latest))| {
            (
                label,
                json!({"count": count, "earliest": instant(earliest), "latest": instant(latest)}),
            )
        })
        .collect();
    // Computed by the database over every match: never truncated.
    Ok(json!({"truncated": false, "types": types}))
}

async fn date_range(state: &AppState, principal: &Principal, args: &Args) -> ToolResult<Value> {
    let patient_id = req_id(args, "patient_id")?;
    let query = criteria(state, args, Some(patient_id), None).await?;
    need(principal, &format!("{FHIR}/Observation"))?;
    let mut total = 0u64;
    let (mut earliest, mut latest) = (None, None);
    for (count, first, last) in summary(state, principal, query).await?.into_values() {
        total = total.saturating_add(count);
        earliest = match (earliest, first) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
        latest = match (latest, last) {
            (Some(a), Some(b)) => Some(std::cmp::max(a, b)),
            (a, b) => a.or(b),
        };
    }
    Ok(json!({"earliest": instant(earliest), "latest": instant(latest), "count": total}))
}

// ------------------------------------------------------------------------------------------
// Local knowledge
// ------------------------------------------------------------------------------------------

fn get_omh_schema(state: &AppState, args: &Args) -> ToolResult<Value> {
    let name = opt_str(args, "name")?.unwrap_or_default();
    let registry = registry(state);
    Ok(match schema_of(&registry, name.trim()) {
        Some(entry) => entry.schema.clone(),
        None => json!({
            "error": format!("Unknown schema name '{name}'"),
            "known": short_names(&registry),
        }),
    })
}

/// The FHIR CapabilityStatement, condensed: per resource type its interactions (sorted,
/// `search-type` shown as `search`) and search parameters with their types.
fn server_capabilities(state: &AppState) -> Value {
    let base = format!("{}{FHIR}", state.config.site_url.trim_end_matches('/'));
    let statement = crate::http::fhir::conformance::capability_statement(&state.config, &base);
    let mut resources = serde_json::Map::new();
    let listed = statement
        .pointer("/rest/0/resource")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for resource in listed {
        let Some(type_) = resource.get("type").and_then(Value::as_str) else {
            continue;
        };
        let mut interactions: Vec<String> = resource
            .get("interaction")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|i| i.get("code").and_then(Value::as_str))
                    .map(|c| if c == "search-type" { "search" } else { c }.to_string())
                    .collect()
            })
            .unwrap_or_default();
        interactions.sort();
        let params: serde_json::Map<String, Value> = resource
            .get("searchParam")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|p| {
                        Some((
                            p.get("name")?.as_str()?.to_string(),
                            p.get("type").cloned().unwrap_or(Value::Null),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        resources.insert(
            type_.to_string(),
            json!({"interactions": interactions, "search_params": params}),
        );
    }
    json!({
        "available": true,
        "fhir_version": statement.get("fhirVersion").cloned().unwrap_or(Value::Null),
        "resources": resources,
    })
}
