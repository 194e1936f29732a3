//! Generates `r5_tables.rs` — the element tables `structure` validates with — from the official
//! FHIR R5 JSON schema vendored at `tests/data/fhir/fhir.schema.json`, and checks that the
//! committed file is exactly what the schema gives, so the tables cannot drift from R5.
//!
//! Regenerate after changing the schema or the overrides in `structure.rs`:
//!
//! ```sh
//! JHE_BLESS_FHIR_TABLES=1 cargo test -p jhe-core --lib fhir::tables_gen
//! ```
//!
//! From the schema: the types reachable from the supported resources, their elements in order,
//! element types, `0..*` (arrays), required complex elements (`required`), and choice elements
//! (`value[x]`: the variants share a name prefix and a description). Not in the schema, kept as
//! overrides in `structure.rs`: required primitive elements (the schema cannot require them
//! because `_x` may stand in), required choices, and the required value sets the API relies on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::structure::{
    OPAQUE_RESOURCE_ELEMENTS, REQUIRED_CHOICES, REQUIRED_PRIMITIVES, ROOT_TYPES, VALUE_SETS,
};

/// FHIR primitive type names (as the schema's definitions spell them) and their `Prim` variants.
const PRIMITIVES: &[(&str, &str)] = &[
    ("base64Binary", "Base64"),
    ("boolean", "Boolean"),
    ("canonical", "Canonical"),
    ("code", "Code(None)"),
    ("date", "Date"),
    ("dateTime", "DateTime"),
    ("decimal", "Decimal"),
    ("id", "Id"),
    ("instant", "Instant"),
    ("integer", "Integer"),
    ("integer64", "Integer64"),
    ("markdown", "Markdown"),
    ("oid", "Oid"),
    ("positiveInt", "PositiveInt"),
    ("string", "String"),
    ("time", "Time"),
    ("unsignedInt", "UnsignedInt"),
    ("uri", "Uri"),
    ("url", "Url"),
    ("uuid", "Uuid"),
    ("xhtml", "Xhtml"),
];

/// Elements every type inherits (written by hand in `structure.rs` as the base tables).
fn is_base_element(def: &Map<String, Value>, name: &str) -> bool {
    let resource = is_resource(def);
    match name {
        "id" | "extension" | "modifierExtension" => true,
        "meta" | "implicitRules" | "language" | "text" | "contained" => resource,
        _ => false,
    }
}

/// Whether a definition is a resource (it has a `resourceType` property).
fn is_resource(def: &Map<String, Value>) -> bool {
    def.get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key("resourceType"))
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `Observation_ReferenceRange` → `OBSERVATION_REFERENCE_RANGE`.
fn ident(def_name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for ch in def_name.chars() {
        if ch == '_' {
            out.push('_');
            previous_lower = false;
            continue;
        }
        if ch.is_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = ch.is_lowercase() || ch.is_ascii_digit();
        out.extend(ch.to_uppercase());
    }
    out
}

/// The type a property refers to (`$ref` or `items.$ref`), and whether it is an array.
fn reference(property: &Value) -> (Option<String>, bool) {
    let many = property.get("type").and_then(Value::as_str) == Some("array");
    let target = property
        .get("$ref")
        .or_else(|| property.get("items").and_then(|i| i.get("$ref")))
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_string);
    (target, many)
}

/// The primitive a choice variant without `$ref` names by its suffix (`effectiveDateTime` →
/// `dateTime`): the longest primitive name it ends with.
fn inline_primitive(key: &str) -> Option<&'static str> {
    PRIMITIVES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| key.len() > name.len() && key.ends_with(&upper_first(name)))
        .max_by_key(|name| name.len())
}

/// One element as the generator sees it.
struct Element {
    name: String,
    many: bool,
    /// The schema's `enum` (a required value set of a `code`), when it has one.
    codes: Option<Vec<String>>,
    /// `(suffix, type name)`; one entry with an empty suffix for a plain element.
    variants: Vec<(String, String)>,
}

/// The elements of one definition, choices grouped.
fn elements(def: &Map<String, Value>) -> Vec<Element> {
    let Some(properties) = def.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    // Candidate choice variants: (prefix, description) → [(suffix, type)].
    let mut candidates: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    // (key, type, array, enum codes)
    type Typed = (String, Option<String>, bool, Option<Vec<String>>);
    let mut typed: Vec<Typed> = Vec::new();
    for (key, property) in properties {
        if key.starts_with('_') || key == "resourceType" || is_base_element(def, key) {
            continue;
        }
        let (target, many) = reference(property);
        let codes: Option<Vec<String>> = property
            .get("enum")
            .or_else(|| property.get("items").and_then(|i| i.get("enum")))
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            });
        let target = target
            .or_else(|| codes.as_ref().map(|_| "code".to_string()))
            .or_else(|| inline_primitive(key).map(str::to_string));
        if let Some(t) = &target {
            let suffix = upper_first(t);
            if key.len() > suffix.len() && key.ends_with(&suffix) {
                let prefix = key.trim_end_matches(&suffix).to_string();
                let description = property
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                candidates
                    .entry((prefix, description))
                    .or_default()
                    .push((suffix, t.clone()));
            }
        }
        typed.push((key.clone(), target, many, codes));
    }
    let choices: Vec<(String, Vec<(String, String)>)> = candidates
        .into_iter()
        .filter(|(_, variants)| variants.len() > 1)
        .map(|((prefix, _), variants)| (prefix, variants))
        .collect();
    let mut out: Vec<Element> = Vec::new();
    let mut emitted: BTreeSet<String> = BTreeSet::new();
    for (key, target, many, codes) in typed {
        if let Some((prefix, variants)) = choices
            .iter()
            .find(|(prefix, variants)| variants.iter().any(|(s, _)| format!("{prefix}{s}") == key))
        {
            if emitted.insert(prefix.clone()) {
                out.push(Element {
                    name: prefix.clone(),
                    many: false,
                    codes: None,
                    variants: variants.clone(),
                });
            }
            continue;
        }
        if let Some(target) = target {
            out.push(Element {
                name: key,
                many,
                codes,
                variants: vec![(String::new(), target)],
            });
        }
    }
    out
}

/// The Rust expression of a type.
fn ty(
    owner: &str,
    element: &str,
    type_name: &str,
    codes: Option<&[String]>,
    idents: &BTreeMap<String, String>,
) -> Result<String, String> {
    if OPAQUE_RESOURCE_ELEMENTS.contains(&(owner, element)) {
        return Ok("Ty::OpaqueResource".into());
    }
    if type_name == "ResourceList" {
        return Ok("Ty::Resource".into());
    }
    if let Some((_, prim)) = PRIMITIVES.iter().find(|(n, _)| *n == type_name) {
        let set = VALUE_SETS
            .iter()
            .find(|(o, e, _)| *o == owner && *e == element);
        match (codes, set) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{owner}.{element}: the schema has the value set; drop the override"
                ));
            }
            (Some(codes), None) => {
                let list: Vec<String> = codes.iter().map(|c| format!("{c:?}")).collect();
                return Ok(format!("p(Prim::Code(Some(&[{}])))", list.join(", ")));
            }
            (None, Some((_, _, set))) => return Ok(format!("p(Prim::Code(Some({set})))")),
            (None, None) => {}
        }
        return Ok(format!("p(Prim::{prim})"));
    }
    idents
        .get(type_name)
        .map(|i| format!("c(&{i})"))
        .ok_or_else(|| format!("{owner}.{element}: type {type_name} is not generated"))
}

/// The generated Rust source.
fn generate(schema: &Value) -> Result<String, String> {
    let definitions = schema
        .get("definitions")
        .and_then(Value::as_object)
        .ok_or("the schema has no definitions")?;
    let def = |name: &str| {
        definitions
            .get(name)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("definition {name} is missing"))
    };
    // Breadth-first from the supported resources; backbone elements are named by their path.
    let mut display: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut queue: VecDeque<String> = ROOT_TYPES.iter().map(|r| r.to_string()).collect();
    for root in ROOT_TYPES {
        display.insert(root.to_string(), root.to_string());
    }
    while let Some(name) = queue.pop_front() {
        if order.contains(&name) {
            continue;
        }
        order.push(name.clone());
        let this = def(&name)?;
        let parent = display.get(&name).cloned().unwrap_or_else(|| name.clone());
        for element in elements(this) {
            for (_, target) in &element.variants {
                let generated = definitions
                    .get(target)
                    .and_then(Value::as_object)
                    .is_some_and(|d| d.contains_key("properties"))
                    && target != "ResourceList"
                    && target != "Element";
                if !generated || display.contains_key(target) {
                    continue;
                }
                let shown = if target.contains('_') {
                    format!("{parent}.{}", element.name)
                } else {
                    target.clone()
                };
                display.insert(target.clone(), shown);
                queue.push_back(target.clone());
            }
        }
    }
    order.sort();
    let idents: BTreeMap<String, String> = order.iter().map(|n| (n.clone(), ident(n))).collect();

    let mut out = String::new();
    out.push_str(
        "// @generated by `jhe_core::fhir::tables_gen` from the official FHIR R5 JSON schema\n\
         // (tests/data/fhir/fhir.schema.json). Do not edit: change the overrides in\n\
         // `structure.rs` and run `JHE_BLESS_FHIR_TABLES=1 cargo test -p jhe-core --lib fhir::tables_gen`.\n",
    );
    for name in &order {
        let this = def(name)?;
        let required: BTreeSet<&str> = this
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = this.get("properties").and_then(Value::as_object);
        let base = if is_resource(this) {
            if properties.is_some_and(|p| p.contains_key("text")) {
                "DomainResource"
            } else {
                "Resource"
            }
        } else if properties.is_some_and(|p| p.contains_key("modifierExtension")) {
            "Backbone"
        } else {
            "Element"
        };
        let shown = display.get(name).cloned().unwrap_or_else(|| name.clone());
        let _ = writeln!(out, "\nstatic {}: Def = Def {{", idents[name]);
        let _ = writeln!(out, "    name: {shown:?},");
        let _ = writeln!(out, "    base: Base::{base},");
        out.push_str("    elements: &[\n");
        for element in elements(this) {
            let key = element.name.as_str();
            let is_required = required.contains(key)
                || REQUIRED_PRIMITIVES.contains(&(name.as_str(), key))
                || REQUIRED_CHOICES.contains(&(name.as_str(), key));
            let card = match (is_required, element.many) {
                (false, false) => "Opt",
                (true, false) => "Req",
                (false, true) => "Many",
                (true, true) => "ReqMany",
            };
            if element.variants.len() == 1 && element.variants[0].0.is_empty() {
                let t = ty(
                    name,
                    key,
                    &element.variants[0].1,
                    element.codes.as_deref(),
                    &idents,
                )?;
                let _ = writeln!(out, "        el({key:?}, {t}, {card}),");
            } else {
                let _ = writeln!(
                    out,
                    "        choice(\n            {key:?},\n            {card},\n            &["
                );
                for (suffix, target) in &element.variants {
                    let t = ty(name, key, target, None, &idents)?;
                    let _ = writeln!(out, "                ({suffix:?}, {t}),");
                }
                out.push_str("            ],\n        ),\n");
            }
        }
        out.push_str("    ],\n};\n");
    }
    // Overrides that name something the schema does not have are mistakes.
    for (owner, element) in REQUIRED_PRIMITIVES.iter().chain(REQUIRED_CHOICES) {
        let known = order.iter().any(|n| n == owner)
            && elements(def(owner)?).iter().any(|e| e.name == *element);
        if !known {
            return Err(format!(
                "override {owner}.{element} names no generated element"
            ));
        }
    }
    for (owner, element, _) in VALUE_SETS {
        let known = order.iter().any(|n| n == owner)
            && elements(def(owner)?).iter().any(|e| e.name == *element);
        if !known {
            return Err(format!(
                "value set override {owner}.{element} names no element"
            ));
        }
    }
    Ok(out)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_tables_are_what_the_r5_schema_gives() {
    let schema_path = manifest_dir().join("../tests/data/fhir/fhir.schema.json");
    let text = std::fs::read_to_string(&schema_path)
        .unwrap_or_else(|e| panic!("{} must be readable: {e}", schema_path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    let generated = generate(&schema).unwrap();
    let target = manifest_dir().join("src/fhir/r5_tables.rs");
    if std::env::var("JHE_BLESS_FHIR_TABLES").is_ok_and(|v| v == "1") {
        std::fs::write(&target, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&target).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from what the R5 schema gives; regenerate with \
         JHE_BLESS_FHIR_TABLES=1 cargo test -p jhe-core --lib fhir::tables_gen",
        target.display()
    );
}

#[test]
fn names_and_choices() {
    assert_eq!(
        ident("Observation_ReferenceRange"),
        "OBSERVATION_REFERENCE_RANGE"
    );
    assert_eq!(ident("CodeableConcept"), "CODEABLE_CONCEPT");
    assert_eq!(ident("Bundle_Entry"), "BUNDLE_ENTRY");
    assert_eq!(inline_primitive("effectiveDateTime"), Some("dateTime"));
    assert_eq!(inline_primitive("valueInteger64"), Some("integer64"));
    assert_eq!(inline_primitive("valueTime"), Some("time"));
    assert_eq!(lower_first("Entry"), "entry");
}
