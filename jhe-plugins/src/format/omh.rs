//! [`OmhFormat`]: Open mHealth / IEEE 1752 data points (`{"header": …, "body": …}`) checked
//! against the crate's JSON schemas (`jhe-plugins/schemas/omh/`, see its README).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Months, NaiveDate, NaiveTime, Utc};
use jhe_core::domain::{CodeableConcept, IEEE_SYSTEM, OMH_SYSTEM};
use jhe_core::fhir::attachment::is_json_content_type;
use jhe_core::format::{DataFormat, FormatError, PayloadFacts};
use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

mod bundle {
    include!(concat!(env!("OUT_DIR"), "/omh_bundle.rs"));
}

/// `$id` prefix of IEEE 1752 files.
pub const IEEE_PREFIX: &str = "https://w3id.org/ieee/ieee-1752-schema/";
/// `$id` prefix of Open mHealth files.
pub const OMH_PREFIX: &str = "https://w3id.org/openmhealth/schemas/omh/";

/// At most this many schema errors are reported for one data point.
const MAX_ERRORS: usize = 5;

/// The body schema file of a code: `omh:heart-rate:2.0` → `schema-omh_heart-rate_2-0.json`.
pub fn schema_file_of(code: &str) -> String {
    format!("schema-{}.json", code.replace(':', "_").replace('.', "-"))
}

/// The code of a body schema file: `schema-omh_heart-rate_2-0.json` → `omh:heart-rate:2.0`.
pub fn code_of_schema_file(file: &str) -> Option<String> {
    let stem = file.strip_prefix("schema-")?.strip_suffix(".json")?;
    let mut parts = stem.splitn(3, '_');
    let (namespace, name, version) = (parts.next()?, parts.next()?, parts.next()?);
    Some(format!("{namespace}:{name}:{}", version.replace('-', ".")))
}

/// Resolves `$ref`s from memory only: by full URI, else by the last path segment (a bare
/// file name). Anything else is `Unresolvable`; nothing is ever fetched.
#[derive(Debug, Clone)]
pub struct LocalRetriever {
    documents: Arc<HashMap<String, Value>>,
    by_file_name: bool,
}

impl LocalRetriever {
    /// A retriever over `documents` (keys: URIs and/or bare file names). With `by_file_name`,
    /// a URI not found as such is looked up by its last path segment.
    pub fn new(documents: HashMap<String, Value>, by_file_name: bool) -> Self {
        Self {
            documents: Arc::new(documents),
            by_file_name,
        }
    }

    /// The document registered under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.documents.get(key)
    }

    fn lookup(&self, uri: &str) -> Option<&Value> {
        let uri = uri.split('#').next().unwrap_or(uri);
        if let Some(doc) = self.documents.get(uri) {
            return Some(doc);
        }
        // Relative references of schemas without `$id` resolve against the default base.
        if let Some(bare) = uri.strip_prefix("json-schema:///")
            && let Some(doc) = self.documents.get(bare)
        {
            return Some(doc);
        }
        if self.by_file_name {
            let name = uri.rsplit('/').next().unwrap_or(uri);
            return self.documents.get(name);
        }
        None
    }
}

/// `Unresolvable: <uri>`.
#[derive(Debug)]
struct Unresolvable(String);

impl std::fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unresolvable: {}", self.0)
    }
}

impl std::error::Error for Unresolvable {}

impl Retrieve for LocalRetriever {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        self.lookup(uri.as_str())
            .cloned()
            .ok_or_else(|| Box::new(Unresolvable(uri.as_str().to_string())) as _)
    }
}

/// Compiles a schema with a retriever; formats are annotations only (as on the original).
pub fn compile(schema: &Value, retriever: &LocalRetriever) -> Result<Validator, String> {
    jsonschema::options()
        .should_validate_formats(false)
        .with_retriever(retriever.clone())
        .build(schema)
        .map_err(|e| e.to_string())
}

/// Validates `instance` and describes its first errors (at most five) as `<part><path>: <message>`.
pub fn check(validator: &Validator, instance: &Value, part: &str) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .take(MAX_ERRORS)
        .map(|e| format!("{part}{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

struct Compiled {
    header: Validator,
    /// Body validators by schema file name (a schema that failed to compile keeps its error).
    bodies: HashMap<String, Result<Validator, String>>,
}

/// The Open mHealth data format: validates the decoded `valueAttachment` JSON of observations
/// whose concept is in the Open mHealth (or IEEE 1752) coding system. The `header` is checked
/// against `header-1.0.json`, the `body` against the schema named by the code
/// (`omh:blood-glucose:4.0` → `data/schema-omh_blood-glucose_4-0.json`). Schemas are compiled
/// once, when the format is built; `$ref`s resolve from the bundled files only.
pub struct OmhFormat {
    compiled: Result<Compiled, String>,
    /// The header and body schemas as loaded, by code (`ieee:header:1.0`, `omh:heart-rate:2.0`).
    raw: Vec<(String, Value)>,
    systems: Vec<String>,
}

impl std::fmt::Debug for OmhFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmhFormat")
            .field("codes", &self.supported_codes())
            .field("ready", &self.compiled.is_ok())
            .finish()
    }
}

impl OmhFormat {
    /// The schemas shipped in the crate's `schemas/omh/` (embedded at build time).
    ///
    /// Never fails: should a bundled schema not compile (a build defect, covered by tests),
    /// the error is logged and every validation reports it.
    pub fn bundled() -> Self {
        Self::try_bundled().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the bundled Open mHealth schemas do not compile");
            Self {
                compiled: Err(e.to_string()),
                raw: Vec::new(),
                systems: default_systems(),
            }
        })
    }

    /// Like [`bundled`](Self::bundled), reporting a schema that does not compile.
    pub fn try_bundled() -> Result<Self, FormatError> {
        let files = bundle::BUNDLED
            .iter()
            .map(|(path, text)| {
                serde_json::from_str::<Value>(text)
                    .map(|v| (path.to_string(), v))
                    .map_err(|e| FormatError::Invalid(format!("{path}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_files(files)
    }

    /// The schemas of a directory laid out like `schemas/omh/` (`header-1.0.json`,
    /// `utility/*.json`, `data/schema-*.json`), replacing the bundled ones.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, FormatError> {
        let dir = dir.as_ref();
        let mut files = Vec::new();
        let read = |path: &Path| -> Result<Value, FormatError> {
            let text = std::fs::read_to_string(path)
                .map_err(|e| FormatError::Unsupported(format!("{}: {e}", path.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| FormatError::Invalid(format!("{}: {e}", path.display())))
        };
        files.push((
            "header-1.0.json".to_string(),
            read(&dir.join("header-1.0.json"))?,
        ));
        for sub in ["utility", "data"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                if path.extension().is_some_and(|e| e == "json") {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default();
                    files.push((format!("{sub}/{name}"), read(&path)?));
                }
            }
        }
        Self::from_files(files)
    }

    /// Builds the format from `(relative path, schema)` pairs.
    fn from_files(files: Vec<(String, Value)>) -> Result<Self, FormatError> {
        let mut documents = HashMap::new();
        let mut data = Vec::new();
        let mut header = None;
        let mut raw = Vec::new();
        for (path, schema) in files {
            let name = path.rsplit('/').next().unwrap_or(&path).to_string();
            if let Some(id) = schema.get("$id").and_then(Value::as_str) {
                documents.insert(id.to_string(), schema.clone());
            }
            if path.starts_with("data/") {
                if let Some(code) = code_of_schema_file(&name) {
                    raw.push((code, schema.clone()));
                }
                data.push((name.clone(), schema.clone()));
            } else {
                // Utility files and the header: by bare name and under both prefixes.
                documents.insert(format!("{IEEE_PREFIX}{name}"), schema.clone());
                documents.insert(format!("{OMH_PREFIX}{name}"), schema.clone());
            }
            if name == "header-1.0.json" {
                raw.push(("ieee:header:1.0".to_string(), schema.clone()));
                header = Some(schema.clone());
            }
            documents.insert(name, schema);
        }
        let header = header.ok_or_else(|| {
            FormatError::Unsupported("the Open mHealth schemas lack header-1.0.json".into())
        })?;
        let retriever = LocalRetriever::new(documents, true);
        let header = compile(&header, &retriever)
            .map_err(|e| FormatError::Invalid(format!("header-1.0.json: {e}")))?;
        let mut bodies = HashMap::new();
        for (name, schema) in data {
            let compiled = compile(&schema, &retriever).map_err(|e| format!("{name}: {e}"));
            bodies.insert(name, compiled);
        }
        raw.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            compiled: Ok(Compiled { header, bodies }),
            raw,
            systems: default_systems(),
        })
    }

    /// The coding systems whose concepts this format handles (default: Open mHealth
    /// `https://w3id.org/openmhealth` and IEEE 1752 `https://w3id.org/ieee1752`).
    pub fn with_systems(mut self, systems: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.systems = systems.into_iter().map(Into::into).collect();
        self
    }

    /// Body schemas that failed to compile, with their errors (empty for a healthy set).
    pub fn schema_errors(&self) -> Vec<String> {
        match &self.compiled {
            Ok(c) => {
                let mut errors: Vec<String> = c
                    .bodies
                    .values()
                    .filter_map(|b| b.as_ref().err().cloned())
                    .collect();
                errors.sort();
                errors
            }
            Err(e) => vec![e.clone()],
        }
    }

    /// Validates a data point (already parsed) for `code`.
    pub fn validate_document(&self, code: &str, document: &Value) -> Result<(), FormatError> {
        let compiled = self
            .compiled
            .as_ref()
            .map_err(|e| FormatError::Unsupported(e.clone()))?;
        let file = schema_file_of(code);
        let body_validator = match compiled.bodies.get(&file) {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(FormatError::Unsupported(e.clone())),
            None => {
                return Err(FormatError::Unsupported(format!(
                    "No Open mHealth schema for code {code} ({file})."
                )));
            }
        };
        let Some(object) = document.as_object() else {
            return Err(FormatError::Invalid(
                "The Open mHealth data point must be a JSON object with header and body.".into(),
            ));
        };
        let null = Value::Null;
        check(
            &compiled.header,
            object.get("header").unwrap_or(&null),
            "header",
        )
        .map_err(FormatError::Invalid)?;
        check(body_validator, object.get("body").unwrap_or(&null), "body")
            .map_err(FormatError::Invalid)?;
        Ok(())
    }
}

fn default_systems() -> Vec<String> {
    vec![OMH_SYSTEM.to_string(), IEEE_SYSTEM.to_string()]
}

impl DataFormat for OmhFormat {
    fn name(&self) -> &'static str {
        "omh"
    }

    fn accepts(&self, content_type: &str, concept: &CodeableConcept) -> bool {
        self.systems.contains(&concept.coding_system) && is_json_content_type(content_type)
    }

    fn validate(
        &self,
        concept: &CodeableConcept,
        payload: &[u8],
    ) -> Result<PayloadFacts, FormatError> {
        let document: Value = serde_json::from_slice(payload)
            .map_err(|e| FormatError::Invalid(format!("The data point is not JSON: {e}")))?;
        self.validate_document(&concept.coding_code, &document)?;
        Ok(effective_time(document.get("body")))
    }

    fn schemas(&self) -> Vec<(String, Value)> {
        self.raw.clone()
    }

    fn supported_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = match &self.compiled {
            Ok(c) => c
                .bodies
                .iter()
                .filter(|(_, v)| v.is_ok())
                .filter_map(|(file, _)| code_of_schema_file(file))
                .collect(),
            Err(_) => Vec::new(),
        };
        codes.sort();
        codes
    }
}

fn parse_time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    value
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `{"value": 8, "unit": "h"}` added to (`sign` 1) or taken from (`sign` -1) a time.
fn shift(t: DateTime<Utc>, duration: &Value, sign: i32) -> Option<DateTime<Utc>> {
    let value = duration.get("value")?.as_f64()?;
    let unit = duration.get("unit")?.as_str()?;
    let nanos_per_unit = match unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "sec" => 1e9,
        "min" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        "wk" => 604_800e9,
        "Mo" | "yr" => {
            let months = if unit == "yr" { value * 12.0 } else { value };
            if months.fract() != 0.0 || !(0.0..=12_000.0).contains(&months) {
                return None;
            }
            let months = Months::new(months as u32);
            return if sign >= 0 {
                t.checked_add_months(months)
            } else {
                t.checked_sub_months(months)
            };
        }
        _ => return None,
    };
    let nanos = value * nanos_per_unit * f64::from(sign);
    if !nanos.is_finite() || nanos.abs() > 1e18 {
        return None;
    }
    t.checked_add_signed(Duration::nanoseconds(nanos as i64))
}

/// The effective time of a body: `effective_time_frame.date_time`, or the start and end of
/// `effective_time_frame.time_interval` (computed from a duration when one end is missing; a
/// `date` interval is that UTC day). Unparseable values give no facts (the schemas do not
/// enforce `format: date-time`).
pub fn effective_time(body: Option<&Value>) -> PayloadFacts {
    let mut facts = PayloadFacts::default();
    let Some(frame) = body.and_then(|b| b.get("effective_time_frame")) else {
        return facts;
    };
    if let Some(t) = parse_time(frame.get("date_time")) {
        facts.effective_start = Some(t);
        return facts;
    }
    let Some(interval) = frame.get("time_interval") else {
        return facts;
    };
    let mut start = parse_time(interval.get("start_date_time"));
    let mut end = parse_time(interval.get("end_date_time"));
    if let Some(duration) = interval.get("duration") {
        match (start, end) {
            (Some(s), None) => end = shift(s, duration, 1),
            (None, Some(e)) => start = shift(e, duration, -1),
            _ => {}
        }
    }
    if start.is_none()
        && end.is_none()
        && let Some(day) = interval
            .get("date")
            .and_then(Value::as_str)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    {
        let midnight = day.and_time(NaiveTime::MIN).and_utc();
        start = Some(midnight);
        end = midnight.checked_add_signed(Duration::days(1));
    }
    facts.effective_start = start;
    facts.effective_end = end;
    facts
}

#[cfg(test)]
mod tests;
