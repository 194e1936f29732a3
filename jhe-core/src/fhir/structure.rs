//! Structure validation of incoming FHIR R5 JSON (Observation, Patient, Bundle).
//!
//! The element tables (`r5_tables.rs`) are generated from the official FHIR R5 JSON schema by
//! `fhir::tables_gen` — every type reachable from the supported resources — and a test fails when
//! the committed tables differ from what the vendored schema gives, so they cannot drift from R5.
//! What the schema cannot say is kept here as overrides: required primitive elements, required
//! choices and the required value sets of resource elements.
//!
//! A table of element definitions per type drives one walker over the JSON tree: known elements
//! only, JSON types, cardinalities (arrays for `0..*`, required elements), the value sets the
//! API relies on (observation status, bundle type, request method, …), choice-type exclusivity
//! (`effective[x]`, `value[x]`…), primitive formats (dateTime, instant, date, id, code, …) and
//! primitive extensions (`_status`). Every problem names its element path
//! (`Observation.identifier[0].system`).
//!
//! Not checked (as in the original, whose pydantic models did not check them either): FHIRPath
//! invariants, profiles, terminology bindings other than the listed required value sets,
//! XHTML content of `Narrative.div`, and whether `base64Binary` values are base64 (the upload
//! rules decode `valueAttachment.data` themselves, with their own message).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

/// One structural problem: the element path and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureIssue {
    /// FHIRPath-style location, e.g. `Observation.code.coding[0].system`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for StructureIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// At most this many issues are collected (the rest would only repeat the first ones).
pub const MAX_ISSUES: usize = 20;

/// Resource types whose structure is known here.
pub const KNOWN_RESOURCES: &[&str] = &["Bundle", "Observation", "OperationOutcome", "Patient"];

// ------------------------------------------------------------------------------------------
// Definitions
// ------------------------------------------------------------------------------------------

/// Primitive FHIR types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    String,
    Markdown,
    Xhtml,
    Code(Option<&'static [&'static str]>),
    Id,
    Uri,
    Url,
    Canonical,
    Oid,
    Uuid,
    Boolean,
    Integer,
    Integer64,
    PositiveInt,
    UnsignedInt,
    Decimal,
    DateTime,
    Date,
    Time,
    Instant,
    /// `base64Binary`: checked as a string only.
    Base64,
}

/// The type of an element.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Prim(Prim),
    Complex(&'static Def),
    /// A contained / entry resource: any known resource type.
    Resource,
    /// A resource checked later (Bundle entries): an object with a string `resourceType`.
    OpaqueResource,
}

/// How many times an element may occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    /// 0..1
    Opt,
    /// 1..1
    Req,
    /// 0..*
    Many,
    /// 1..*
    ReqMany,
}

impl Card {
    fn required(self) -> bool {
        matches!(self, Card::Req | Card::ReqMany)
    }
    fn many(self) -> bool {
        matches!(self, Card::Many | Card::ReqMany)
    }
}

/// One element of a type. `choices` non-empty makes it a choice element `name[x]`.
#[derive(Debug, Clone, Copy)]
struct El {
    name: &'static str,
    ty: Ty,
    card: Card,
    choices: &'static [(&'static str, Ty)],
}

/// The elements every type inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// Element: `id`, `extension`.
    Element,
    /// BackboneElement / BackboneType: `id`, `extension`, `modifierExtension`.
    Backbone,
    /// DomainResource: `id`, `meta`, `implicitRules`, `language`, `text`, `contained`,
    /// `extension`, `modifierExtension`.
    DomainResource,
    /// Resource (Bundle): `id`, `meta`, `implicitRules`, `language`.
    Resource,
}

/// A complex type or resource.
#[derive(Debug)]
struct Def {
    name: &'static str,
    base: Base,
    elements: &'static [El],
}

const fn el(name: &'static str, ty: Ty, card: Card) -> El {
    El {
        name,
        ty,
        card,
        choices: &[],
    }
}

const fn choice(name: &'static str, card: Card, choices: &'static [(&'static str, Ty)]) -> El {
    El {
        name,
        ty: Ty::Prim(Prim::String),
        card,
        choices,
    }
}

const fn p(prim: Prim) -> Ty {
    Ty::Prim(prim)
}

const fn c(def: &'static Def) -> Ty {
    Ty::Complex(def)
}

use Card::{Many, Opt, Req, ReqMany};

const STRING: Ty = p(Prim::String);
const CODE: Ty = p(Prim::Code(None));
const ID: Ty = p(Prim::Id);
const URI: Ty = p(Prim::Uri);

/// `http://hl7.org/fhir/observation-status` (R5).
pub const OBSERVATION_STATUSES: &[&str] = &[
    "registered",
    "specimen-in-process",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
    "cannot-be-obtained",
];

/// `http://hl7.org/fhir/bundle-type` (R5).
pub const BUNDLE_TYPES: &[&str] = &[
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
    "subscription-notification",
];

/// `http://hl7.org/fhir/http-verb`.
pub const HTTP_VERBS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];

const GENDER: &[&str] = &["male", "female", "other", "unknown"];
const LINK_TYPE: &[&str] = &["replaced-by", "replaces", "refer", "seealso"];
const TRIGGERED_BY_TYPE: &[&str] = &["reflex", "repeat", "re-run"];
const SEARCH_MODE: &[&str] = &["match", "include", "outcome"];
const ISSUE_SEVERITY: &[&str] = &["fatal", "error", "warning", "information", "success"];

// ------------------------------------------------------------------------------------------
// What the R5 JSON schema cannot say (inputs of `tables_gen`, which writes `r5_tables.rs`)
// ------------------------------------------------------------------------------------------

/// The resources validated here; the generated tables hold every type reachable from them.
/// Extension, Meta and Narrative are reached through the base elements (written by hand below).
#[cfg(test)]
pub(super) const ROOT_TYPES: &[&str] = &[
    "Observation",
    "Patient",
    "Bundle",
    "OperationOutcome",
    "Extension",
    "Meta",
    "Narrative",
];

/// Required (`1..1`, `1..*`) primitive elements, as `(schema definition, element)`. The schema
/// cannot require them, because the `_x` sibling may carry the value's extensions instead.
#[cfg(test)]
pub(super) const REQUIRED_PRIMITIVES: &[(&str, &str)] = &[
    ("Annotation", "text"),
    ("Bundle", "type"),
    ("Bundle_Link", "relation"),
    ("Bundle_Link", "url"),
    ("Bundle_Request", "method"),
    ("Bundle_Request", "url"),
    ("Bundle_Response", "status"),
    ("DataRequirement", "type"),
    ("DataRequirement_Sort", "direction"),
    ("DataRequirement_Sort", "path"),
    ("Extension", "url"),
    ("Narrative", "div"),
    ("Narrative", "status"),
    ("Observation", "status"),
    ("Observation_TriggeredBy", "type"),
    ("OperationOutcome_Issue", "code"),
    ("OperationOutcome_Issue", "severity"),
    ("ParameterDefinition", "type"),
    ("ParameterDefinition", "use"),
    ("Patient_Link", "type"),
    ("RelatedArtifact", "type"),
    ("SampledData", "dimensions"),
    ("SampledData", "intervalUnit"),
    ("TriggerDefinition", "type"),
];

/// Required choice elements (`value[x]` with min 1).
#[cfg(test)]
pub(super) const REQUIRED_CHOICES: &[(&str, &str)] = &[("UsageContext", "value")];

/// Required value sets the schema does not carry as an `enum` (it has them for data types, not
/// for resource elements): `(schema definition, element, constant)`.
#[cfg(test)]
pub(super) const VALUE_SETS: &[(&str, &str, &str)] = &[
    ("Bundle", "type", "BUNDLE_TYPES"),
    ("Bundle_Request", "method", "HTTP_VERBS"),
    ("Bundle_Search", "mode", "SEARCH_MODE"),
    ("Observation", "status", "OBSERVATION_STATUSES"),
    ("Observation_TriggeredBy", "type", "TRIGGERED_BY_TYPE"),
    ("OperationOutcome_Issue", "severity", "ISSUE_SEVERITY"),
    ("Patient", "gender", "GENDER"),
    ("Patient_Contact", "gender", "GENDER"),
    ("Patient_Link", "type", "LINK_TYPE"),
];

/// Elements holding a resource checked later (`Bundle.entry.resource`: see `Ty::OpaqueResource`).
#[cfg(test)]
pub(super) const OPAQUE_RESOURCE_ELEMENTS: &[(&str, &str)] = &[("Bundle_Entry", "resource")];

// The element tables of every supported type, generated from the official R5 JSON schema.
include!("r5_tables.rs");

const ELEMENT_BASE: &[El] = &[el("id", STRING, Opt), el("extension", c(&EXTENSION), Many)];
const BACKBONE_BASE: &[El] = &[
    el("id", STRING, Opt),
    el("extension", c(&EXTENSION), Many),
    el("modifierExtension", c(&EXTENSION), Many),
];
const RESOURCE_BASE: &[El] = &[
    el("id", ID, Opt),
    el("meta", c(&META), Opt),
    el("implicitRules", URI, Opt),
    el("language", CODE, Opt),
];
const DOMAIN_RESOURCE_BASE: &[El] = &[
    el("id", ID, Opt),
    el("meta", c(&META), Opt),
    el("implicitRules", URI, Opt),
    el("language", CODE, Opt),
    el("text", c(&NARRATIVE), Opt),
    el("contained", Ty::Resource, Many),
    el("extension", c(&EXTENSION), Many),
    el("modifierExtension", c(&EXTENSION), Many),
];

impl Base {
    fn elements(self) -> &'static [El] {
        match self {
            Base::Element => ELEMENT_BASE,
            Base::Backbone => BACKBONE_BASE,
            Base::Resource => RESOURCE_BASE,
            Base::DomainResource => DOMAIN_RESOURCE_BASE,
        }
    }
}

fn resource_def(resource_type: &str) -> Option<&'static Def> {
    match resource_type {
        "Observation" => Some(&OBSERVATION),
        "Patient" => Some(&PATIENT),
        "Bundle" => Some(&BUNDLE),
        "OperationOutcome" => Some(&OPERATION_OUTCOME),
        _ => None,
    }
}

// ------------------------------------------------------------------------------------------
// Primitive formats (the regular expressions of the FHIR R5 specification)
// ------------------------------------------------------------------------------------------

const YEAR: &str = "([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)";
const TZ: &str = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))";
const CLOCK: &str = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?";

fn anchored(pattern: &str) -> Option<Regex> {
    match Regex::new(&format!("^(?:{pattern})$")) {
        Ok(re) => Some(re),
        Err(e) => {
            tracing::error!(error = %e, pattern, "invalid FHIR primitive pattern");
            None
        }
    }
}

static DATE_TIME_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    anchored(&format!(
        "{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T{CLOCK}{TZ})?)?)?"
    ))
});
static DATE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    anchored(&format!(
        "{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
    ))
});
static INSTANT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    anchored(&format!(
        "{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T{CLOCK}{TZ}"
    ))
});
static TIME_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(CLOCK));
static ID_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(r"[A-Za-z0-9\-\.]{1,64}"));
static CODE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(r"[^\s]+( [^\s]+)*"));
static URI_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(r"\S*"));
static OID_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| anchored(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"));
static UUID_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    anchored(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
});
static INTEGER64_RE: LazyLock<Option<Regex>> = LazyLock::new(|| anchored(r"[0]|[-+]?[1-9][0-9]*"));

fn matches(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(s))
}

/// Whether `s` is a valid FHIR `dateTime` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a full
/// date and time with seconds and a time zone).
pub fn is_fhir_date_time(s: &str) -> bool {
    matches(&DATE_TIME_RE, s)
}

/// Whether `s` is a valid FHIR `instant` (full date, time with seconds, time zone).
pub fn is_fhir_instant(s: &str) -> bool {
    matches(&INSTANT_RE, s)
}

/// Whether `s` is a valid FHIR `date` (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`).
pub fn is_fhir_date(s: &str) -> bool {
    matches(&DATE_RE, s)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a primitive value; `Err` is the message.
fn check_primitive(prim: Prim, v: &Value) -> Result<(), String> {
    let number = |v: &Value| -> Result<(), String> {
        match v {
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(()),
            other => Err(format!("must be a number, not {}", json_type(other))),
        }
    };
    let int_in = |v: &Value, min: i64, what: &str| -> Result<(), String> {
        match v.as_i64() {
            Some(n) if n >= min && n <= i64::from(i32::MAX) => Ok(()),
            _ if v.is_number() => Err(format!("must be {what} (32-bit)")),
            _ => Err(format!("must be {what}, not {}", json_type(v))),
        }
    };
    if matches!(prim, Prim::Boolean) {
        return if v.is_boolean() {
            Ok(())
        } else {
            Err(format!("must be a boolean, not {}", json_type(v)))
        };
    }
    match prim {
        Prim::Integer => return int_in(v, i64::from(i32::MIN), "an integer"),
        Prim::PositiveInt => return int_in(v, 1, "a positive integer"),
        Prim::UnsignedInt => return int_in(v, 0, "a non-negative integer"),
        Prim::Decimal => return number(v),
        Prim::Integer64 if v.is_number() => {
            // R5 writes integer64 as a JSON string; a JSON integer is accepted too.
            return if v.is_i64() {
                Ok(())
            } else {
                Err("must be a 64-bit integer".into())
            };
        }
        _ => {}
    }
    let Some(s) = v.as_str() else {
        return Err(format!("must be a string, not {}", json_type(v)));
    };
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    let ok = match prim {
        Prim::String | Prim::Markdown | Prim::Xhtml | Prim::Base64 => true,
        Prim::Code(None) => matches(&CODE_RE, s),
        Prim::Code(Some(values)) => {
            if values.contains(&s) {
                true
            } else {
                return Err(format!(
                    "'{}' is not one of: {}",
                    truncate(s, 64),
                    values.join(", ")
                ));
            }
        }
        Prim::Id => matches(&ID_RE, s),
        Prim::Uri | Prim::Url | Prim::Canonical => matches(&URI_RE, s),
        Prim::Oid => matches(&OID_RE, s),
        Prim::Uuid => matches(&UUID_RE, s),
        Prim::DateTime => matches(&DATE_TIME_RE, s),
        Prim::Date => matches(&DATE_RE, s),
        Prim::Time => matches(&TIME_RE, s),
        Prim::Instant => matches(&INSTANT_RE, s),
        Prim::Integer64 => matches(&INTEGER64_RE, s) && s.parse::<i64>().is_ok(),
        Prim::Boolean | Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt | Prim::Decimal => {
            true
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a valid {}",
            truncate(s, 64),
            prim_name(prim)
        ))
    }
}

fn prim_name(prim: Prim) -> &'static str {
    match prim {
        Prim::String => "string",
        Prim::Markdown => "markdown",
        Prim::Xhtml => "xhtml",
        Prim::Code(_) => "code",
        Prim::Id => "id",
        Prim::Uri => "uri",
        Prim::Url => "url",
        Prim::Canonical => "canonical",
        Prim::Oid => "oid",
        Prim::Uuid => "uuid",
        Prim::Boolean => "boolean",
        Prim::Integer => "integer",
        Prim::Integer64 => "integer64",
        Prim::PositiveInt => "positiveInt",
        Prim::UnsignedInt => "unsignedInt",
        Prim::Decimal => "decimal",
        Prim::DateTime => "dateTime",
        Prim::Date => "date",
        Prim::Time => "time",
        Prim::Instant => "instant",
        Prim::Base64 => "base64Binary",
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

// ------------------------------------------------------------------------------------------
// The walker
// ------------------------------------------------------------------------------------------

struct Walker {
    issues: Vec<StructureIssue>,
    /// Whether `Bundle.entry.resource` is only checked for a `resourceType`.
    opaque_entries: bool,
}

impl Walker {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(StructureIssue {
                path: path.to_string(),
                message: message.into(),
            });
        }
    }

    fn full(&self) -> bool {
        self.issues.len() >= MAX_ISSUES
    }

    /// Finds the definition of key `key` among the elements: `(element, type, choice base)`.
    fn lookup(elements: &[&'static [El]], key: &str) -> Option<(El, Ty)> {
        for group in elements {
            for e in group.iter() {
                if e.choices.is_empty() {
                    if e.name == key {
                        return Some((*e, e.ty));
                    }
                } else if let Some(suffix) = key.strip_prefix(e.name)
                    && let Some((_, ty)) = e.choices.iter().find(|(s, _)| *s == suffix)
                {
                    return Some((*e, *ty));
                }
            }
        }
        None
    }

    fn resource(&mut self, value: &Value, path: &str, expected: Option<&str>) {
        let Some(obj) = value.as_object() else {
            self.push(
                path,
                format!("must be a resource object, not {}", json_type(value)),
            );
            return;
        };
        let resource_type = match obj.get("resourceType") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => {
                self.push(
                    &format!("{path}.resourceType"),
                    format!("must be a string, not {}", json_type(other)),
                );
                return;
            }
            None => {
                self.push(
                    &format!("{path}.resourceType"),
                    "required element is missing",
                );
                return;
            }
        };
        if let Some(expected) = expected
            && resource_type != expected
        {
            self.push(
                &format!("{path}.resourceType"),
                format!(
                    "expected '{expected}', found '{}'",
                    truncate(resource_type, 64)
                ),
            );
            return;
        }
        let Some(def) = resource_def(resource_type) else {
            self.push(
                &format!("{path}.resourceType"),
                format!(
                    "resource type '{}' is not supported here",
                    truncate(resource_type, 64)
                ),
            );
            return;
        };
        self.object(obj, def, path, true);
    }

    fn object(&mut self, obj: &Map<String, Value>, def: &'static Def, path: &str, resource: bool) {
        let groups: [&'static [El]; 2] = [def.base.elements(), def.elements];
        let mut seen_choice: Vec<(&'static str, String)> = Vec::new();
        for (key, value) in obj {
            if self.full() {
                return;
            }
            if resource && key == "resourceType" {
                continue;
            }
            let child = format!("{path}.{key}");
            if let Some(primitive) = key.strip_prefix('_') {
                match Self::lookup(&groups, primitive) {
                    Some((e, Ty::Prim(_))) => self.primitive_extension(value, e.card, &child),
                    Some(_) => self.push(
                        &child,
                        "extensions with '_' apply to primitive elements only",
                    ),
                    None => self.push(&child, "unknown element"),
                }
                continue;
            }
            let Some((e, ty)) = Self::lookup(&groups, key) else {
                let hint = groups
                    .iter()
                    .flat_map(|g| g.iter())
                    .find(|e| !e.choices.is_empty() && key.starts_with(e.name))
                    .map(|e| {
                        format!(
                            " ({}[x] allows {})",
                            e.name,
                            e.choices
                                .iter()
                                .map(|(s, _)| format!("{}{s}", e.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .unwrap_or_default();
                self.push(&child, format!("unknown element{hint}"));
                continue;
            };
            if !e.choices.is_empty() {
                if let Some((_, first)) = seen_choice.iter().find(|(n, _)| *n == e.name) {
                    self.push(
                        &child,
                        format!(
                            "only one of {}[x] may be present (also found {first})",
                            e.name
                        ),
                    );
                    continue;
                }
                seen_choice.push((e.name, key.clone()));
            }
            self.element(value, e.card, ty, &child);
        }
        for group in groups {
            for e in group.iter() {
                if !e.card.required() {
                    continue;
                }
                let present = if e.choices.is_empty() {
                    obj.contains_key(e.name)
                } else {
                    seen_choice.iter().any(|(n, _)| *n == e.name)
                };
                if !present {
                    let name = if e.choices.is_empty() {
                        e.name.to_string()
                    } else {
                        format!("{}[x]", e.name)
                    };
                    self.push(&format!("{path}.{name}"), "required element is missing");
                }
            }
        }
    }

    fn element(&mut self, value: &Value, card: Card, ty: Ty, path: &str) {
        if card.many() {
            match value {
                Value::Array(items) => {
                    if items.is_empty() {
                        self.push(path, "must not be an empty array (leave the element out)");
                    }
                    for (i, item) in items.iter().enumerate() {
                        if self.full() {
                            return;
                        }
                        self.single(item, ty, &format!("{path}[{i}]"));
                    }
                }
                other => self.push(
                    path,
                    format!("must be an array (0..*), not {}", json_type(other)),
                ),
            }
        } else if value.is_array() {
            self.push(path, "must be a single value, not an array (0..1)");
        } else {
            self.single(value, ty, path);
        }
    }

    fn single(&mut self, value: &Value, ty: Ty, path: &str) {
        if value.is_null() {
            self.push(path, "null is not allowed (leave the element out)");
            return;
        }
        match ty {
            Ty::Prim(prim) => {
                if let Err(message) = check_primitive(prim, value) {
                    self.push(path, message);
                }
            }
            Ty::Complex(def) => match value.as_object() {
                Some(obj) => self.object(obj, def, path, false),
                None => self.push(
                    path,
                    format!("must be an object ({}), not {}", def.name, json_type(value)),
                ),
            },
            Ty::Resource => self.resource(value, path, None),
            Ty::OpaqueResource => {
                if self.opaque_entries {
                    match value.get("resourceType") {
                        Some(Value::String(_)) if value.is_object() => {}
                        _ if !value.is_object() => self.push(
                            path,
                            format!("must be a resource object, not {}", json_type(value)),
                        ),
                        _ => self.push(
                            &format!("{path}.resourceType"),
                            "required element is missing or not a string",
                        ),
                    }
                } else {
                    self.resource(value, path, None);
                }
            }
        }
    }

    fn primitive_extension(&mut self, value: &Value, card: Card, path: &str) {
        let check = |w: &mut Walker, v: &Value, p: &str| match v.as_object() {
            Some(obj) => {
                static ELEMENT: Def = Def {
                    name: "Element",
                    base: Base::Element,
                    elements: &[],
                };
                w.object(obj, &ELEMENT, p, false);
            }
            None => w.push(p, format!("must be an object, not {}", json_type(v))),
        };
        if card.many() {
            match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if !item.is_null() {
                            check(self, item, &format!("{path}[{i}]"));
                        }
                    }
                }
                None => self.push(path, "must be an array"),
            }
        } else {
            check(self, value, path);
        }
    }
}

/// Validates a resource of type `expected` (or any known type when `None`). `Bundle` entries'
/// resources are validated too.
pub fn validate_resource(value: &Value, expected: Option<&str>) -> Result<(), Vec<StructureIssue>> {
    run(value, expected, false)
}

/// Validates a Bundle without its entries' resources (only that each is an object with a
/// `resourceType`), so that a batch can report each entry's problems separately.
pub fn validate_bundle_shell(value: &Value) -> Result<(), Vec<StructureIssue>> {
    run(value, Some("Bundle"), true)
}

fn run(
    value: &Value,
    expected: Option<&str>,
    opaque_entries: bool,
) -> Result<(), Vec<StructureIssue>> {
    let root = value
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| expected.is_none() || expected == Some(*t))
        .or(expected)
        .unwrap_or("Resource");
    let mut walker = Walker {
        issues: Vec::new(),
        opaque_entries,
    };
    walker.resource(value, root, expected);
    if walker.issues.is_empty() {
        Ok(())
    } else {
        Err(walker.issues)
    }
}

/// Renames snake_case element names to camelCase in place, as the original server did before
/// validating (`value_attachment` → `valueAttachment`), so both spellings are accepted. Names
/// starting with `_` (primitive extensions) are left alone. A name whose camelCase form is also
/// present is reported.
pub fn camelize_keys(value: &mut Value, path: &str) -> Result<(), Vec<StructureIssue>> {
    let mut issues = Vec::new();
    camelize(value, path, &mut issues);
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

fn to_camel(key: &str) -> Option<String> {
    if key.starts_with('_') || !key.contains('_') {
        return None;
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for ch in key.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    Some(out)
}

fn camelize(value: &mut Value, path: &str, issues: &mut Vec<StructureIssue>) {
    match value {
        Value::Object(map) => {
            let renames: Vec<(String, String)> = map
                .keys()
                .filter_map(|k| to_camel(k).map(|c| (k.clone(), c)))
                .collect();
            for (from, to) in renames {
                if map.contains_key(&to) {
                    if issues.len() < MAX_ISSUES {
                        issues.push(StructureIssue {
                            path: format!("{path}.{from}"),
                            message: format!("duplicates element {to}"),
                        });
                    }
                    continue;
                }
                if let Some(v) = map.remove(&from) {
                    map.insert(to, v);
                }
            }
            for (k, v) in map.iter_mut() {
                camelize(v, &format!("{path}.{k}"), issues);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                camelize(item, &format!("{path}[{i}]"), issues);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observation() -> Value {
        json!({
            "resourceType": "Observation",
            "status": "final",
            "identifier": [{"system": "https://commonhealth.org", "value": "u-u-i-d"}],
            "code": {"coding": [{"system": "https://w3id.org/openmhealth", "code": "omh:heart-rate:2.0"}]},
            "subject": {"reference": "Patient/40001"},
            "device": {"reference": "Device/70001"},
            "effectiveDateTime": "2025-01-01T10:00:00Z",
            "valueAttachment": {"contentType": "application/json", "data": "e30="}
        })
    }

    fn paths(r: Result<(), Vec<StructureIssue>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.path)
            .collect()
    }

    #[test]
    fn a_valid_observation_passes() {
        assert_eq!(
            validate_resource(&observation(), Some("Observation")),
            Ok(())
        );
    }

    #[test]
    fn problems_name_their_path() {
        let mut o = observation();
        o["foo"] = json!(1);
        o["code"]["coding"][0]["system"] = json!(5);
        o["identifier"] = json!({"value": "x"});
        o["status"] = json!("bogus");
        o["effectivePeriod"] = json!({"start": "2025-01-01"});
        o["subject"]["bar"] = json!("x");
        o["valueAttachment"]["data"] = json!({"a": 1});
        let p = paths(validate_resource(&o, Some("Observation")));
        for expected in [
            "Observation.foo",
            "Observation.code.coding[0].system",
            "Observation.identifier",
            "Observation.status",
            "Observation.subject.bar",
            "Observation.valueAttachment.data",
        ] {
            assert!(p.iter().any(|x| x == expected), "{expected} in {p:?}");
        }
        assert!(
            p.iter()
                .any(|x| x == "Observation.effectivePeriod" || x == "Observation.effectiveDateTime"),
            "{p:?}"
        );
    }

    /// The drift the hand-typed tables had from R5, closed by generating them from the schema.
    #[test]
    fn r5_extension_types_timing_and_patient_contact() {
        for (key, value) in [
            (
                "valueAvailability",
                json!({"availableTime": [{"allDay": true}]}),
            ),
            ("valueContactDetail", json!({"name": "Desk"})),
            ("valueDataRequirement", json!({"type": "Observation"})),
            ("valueDosage", json!({"text": "once a day"})),
            (
                "valueExpression",
                json!({"language": "text/fhirpath", "expression": "1"}),
            ),
            (
                "valueExtendedContactDetail",
                json!({"name": [{"text": "Desk"}]}),
            ),
            (
                "valueParameterDefinition",
                json!({"use": "in", "type": "string"}),
            ),
            ("valueRatioRange", json!({"denominator": {"value": 1}})),
            ("valueRelatedArtifact", json!({"type": "citation"})),
            (
                "valueTriggerDefinition",
                json!({"type": "named-event", "name": "x"}),
            ),
            (
                "valueUsageContext",
                json!({"code": {"code": "focus"}, "valueQuantity": {"value": 1}}),
            ),
        ] {
            let mut o = observation();
            o["extension"] = json!([{"url": "http://example.org/x", key: value}]);
            assert_eq!(validate_resource(&o, Some("Observation")), Ok(()), "{key}");
        }
        // Required inside the new types is still checked.
        let mut o = observation();
        o["extension"] = json!([{"url": "http://example.org/x", "valueUsageContext": {"code": {"code": "focus"}}}]);
        assert_eq!(
            paths(validate_resource(&o, Some("Observation"))),
            vec!["Observation.extension[0].valueUsageContext.value[x]"]
        );
        let mut o = observation();
        o["effectiveTiming"] = json!({"repeat": {
            "modifierExtension": [{"url": "http://example.org/m", "valueBoolean": true}],
            "frequency": 1, "period": 1, "periodUnit": "d"}});
        o.as_object_mut().unwrap().remove("effectiveDateTime");
        assert_eq!(validate_resource(&o, Some("Observation")), Ok(()));
        for key in ["role", "additionalName", "additionalAddress"] {
            let patient = json!({"resourceType": "Patient",
                "contact": [{"name": {"text": "Pam"}, key: [{}]}]});
            assert_eq!(
                paths(validate_resource(&patient, Some("Patient"))),
                vec![format!("Patient.contact[0].{key}")],
                "{key} is not an R5 element"
            );
        }
    }

    #[test]
    fn required_elements_and_resource_type() {
        let p = paths(validate_resource(
            &json!({"resourceType": "Observation"}),
            Some("Observation"),
        ));
        assert_eq!(p, vec!["Observation.code", "Observation.status"]);
        let p = paths(validate_resource(
            &json!({"resourceType": "Patient"}),
            Some("Observation"),
        ));
        assert_eq!(p, vec!["Observation.resourceType"]);
        let p = paths(validate_resource(&json!([1]), Some("Observation")));
        assert_eq!(p, vec!["Observation"]);
    }

    #[test]
    fn date_times_follow_the_fhir_pattern() {
        for ok in [
            "2025",
            "2025-01",
            "2025-01-31",
            "2025-01-31T10:00:00Z",
            "2025-01-31T10:00:00.123456+02:00",
        ] {
            assert!(is_fhir_date_time(ok), "{ok}");
        }
        for bad in [
            "yesterday",
            "2025-13-01",
            "2025-01-31T10:00:00",
            "2025-01-31T10:00Z",
            "0000",
            "2025-01-31 10:00:00Z",
        ] {
            assert!(!is_fhir_date_time(bad), "{bad}");
        }
        assert!(is_fhir_instant("2025-01-31T10:00:00Z"));
        assert!(!is_fhir_instant("2025-01-31"));
    }

    #[test]
    fn numbers_and_primitive_extensions() {
        let mut o = observation();
        o.as_object_mut().map(|m| m.remove("valueAttachment"));
        o["valueInteger"] = json!(1e300);
        o["_status"] = json!({"extension": [{"url": "http://x", "valueString": "y"}]});
        let p = paths(validate_resource(&o, Some("Observation")));
        assert_eq!(p, vec!["Observation.valueInteger"]);
    }

    #[test]
    fn patients_and_bundles() {
        let patient = json!({
            "resourceType": "Patient", "id": "40001",
            "name": [{"family": "Smith", "given": ["Peter"]}],
            "birthDate": "1984-01-13", "gender": "male",
            "telecom": [{"system": "email", "value": "p@example.org", "use": "home"}]
        });
        assert_eq!(validate_resource(&patient, Some("Patient")), Ok(()));
        let mut bad = patient.clone();
        bad["gender"] = json!("m");
        bad["birthDate"] = json!("13/01/1984");
        assert_eq!(
            paths(validate_resource(&bad, Some("Patient"))),
            vec!["Patient.birthDate", "Patient.gender"]
        );
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": observation(), "request": {"method": "POST", "url": "Observation"}},
            {"resource": {"resourceType": "Observation", "foo": 1}, "request": {"method": "POST", "url": "Observation"}}
        ]});
        assert_eq!(validate_bundle_shell(&bundle), Ok(()));
        let p = paths(validate_resource(&bundle, Some("Bundle")));
        assert!(
            p.contains(&"Bundle.entry[1].resource.foo".to_string()),
            "{p:?}"
        );
        let p = paths(validate_bundle_shell(
            &json!({"resourceType": "Bundle", "type": "bogus", "entry": {}}),
        ));
        assert_eq!(p, vec!["Bundle.entry", "Bundle.type"]);
    }

    #[test]
    fn snake_case_names_are_camelized() {
        let mut v = json!({"resource_type": "Observation", "value_attachment": {"content_type": "x"}, "_status": {}});
        camelize_keys(&mut v, "Observation").unwrap();
        assert_eq!(
            v,
            json!({"resourceType": "Observation", "valueAttachment": {"contentType": "x"}, "_status": {}})
        );
        let mut dup = json!({"resourceType": "Observation", "resource_type": "x"});
        assert!(camelize_keys(&mut dup, "Observation").is_err());
    }
}
