//! Our FHIR structure validation (`jhe_core::fhir::structure`) against the official HL7 FHIR R5
//! JSON schema (vendored at `tests/data/fhir/fhir.schema.json`), on a corpus of valid and broken
//! Observations, Patients, Bundles and OperationOutcomes:
//!
//! * every resource of the valid corpus passes both;
//! * every resource the official schema rejects, we reject too;
//! * where we are stricter than the schema (it does not require primitive elements such as
//!   `status`, leaves the observation-status value set open, and does not check choice
//!   exclusivity, empty arrays, integers against decimals, or the time zone a time needs), the
//!   case is listed in [`STRICTER`] and checked as such.
//!
//! The schema is vendored in the repository; a test that cannot read it fails.

use std::path::PathBuf;

use jhe_core::fhir::structure::{validate_bundle_shell, validate_resource};
use jsonschema::{Retrieve, Uri, Validator};
use serde_json::{Value, json};

struct FhirSchema(Value);

impl Retrieve for FhirSchema {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri
            .as_str()
            .starts_with("http://hl7.org/fhir/json-schema/5.0")
        {
            Ok(self.0.clone())
        } else {
            Err(format!("Unresolvable: {}", uri.as_str()).into())
        }
    }
}

fn official(schema: &Value, resource_type: &str) -> Validator {
    jsonschema::options()
        .should_validate_formats(false)
        .with_retriever(FhirSchema(schema.clone()))
        .build(&json!({
            "$schema": "http://json-schema.org/draft-06/schema#",
            "$ref": format!("http://hl7.org/fhir/json-schema/5.0#/definitions/{resource_type}")
        }))
        .unwrap()
}

fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "60010",
        "meta": {"lastUpdated": "2025-01-01T10:00:00Z", "profile": ["http://example.org/p"]},
        "status": "final",
        "identifier": [{"system": "https://commonhealth.org", "value": "u-u-i-d"}],
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "https://w3id.org/openmhealth", "code": "omh:heart-rate:2.0"}], "text": "HR"},
        "subject": {"reference": "Patient/40001"},
        "device": {"reference": "Device/70001"},
        "effectiveDateTime": "2025-01-01T10:00:00+01:00",
        "valueAttachment": {"contentType": "application/json", "data": "eyJhIjoxfQ==", "size": "8"},
        "note": [{"text": "ok", "authorString": "me"}],
        "extension": [{"url": "http://example.org/x", "valueQuantity": {"value": 1.5, "unit": "h"}}],
        "_status": {"extension": [{"url": "http://example.org/y", "valueBoolean": true}]}
    })
}

fn variants() -> Vec<(&'static str, Value)> {
    let base = observation();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let remove = |key: &'static str| {
        with(&move |v: &mut Value| drop(v.as_object_mut().map(|m| m.remove(key))))
    };
    vec![
        ("unknown element", with(&|v| v["foo"] = json!(1))),
        (
            "unknown nested element",
            with(&|v| v["subject"]["bar"] = json!("x")),
        ),
        ("code missing", remove("code")),
        (
            "code is a string",
            with(&|v| v["code"] = json!("omh:heart-rate:2.0")),
        ),
        (
            "identifier not an array",
            with(&|v| v["identifier"] = json!({"value": "x"})),
        ),
        (
            "identifier item not an object",
            with(&|v| v["identifier"] = json!(["x"])),
        ),
        ("status is a number", with(&|v| v["status"] = json!(5))),
        (
            "status with spaces at the ends",
            with(&|v| v["status"] = json!(" final")),
        ),
        (
            "coding system is a number",
            with(&|v| v["code"]["coding"][0]["system"] = json!(5)),
        ),
        (
            "effectiveDateTime not a date",
            with(&|v| v["effectiveDateTime"] = json!("yesterday")),
        ),
        (
            "effectiveDateTime month 13",
            with(&|v| v["effectiveDateTime"] = json!("2025-13-01")),
        ),
        (
            "issued is a date only",
            with(&|v| v["issued"] = json!("2025-01-01")),
        ),
        (
            "valueAttachment.data is an object",
            with(&|v| v["valueAttachment"]["data"] = json!({"a": 1})),
        ),
        (
            "valueAttachment.size is a number",
            with(&|v| v["valueAttachment"]["size"] = json!(1.5)),
        ),
        // Stricter than the official schema (continued):
        (
            "valueInteger is a float",
            with(&|v| {
                v.as_object_mut().map(|m| m.remove("valueAttachment"));
                v["valueInteger"] = json!(1.5);
            }),
        ),
        (
            "valueBoolean is a string",
            with(&|v| {
                v.as_object_mut().map(|m| m.remove("valueAttachment"));
                v["valueBoolean"] = json!("true");
            }),
        ),
        (
            "unknown choice type",
            with(&|v| v["effectiveString"] = json!("x")),
        ),
        ("id with a slash", with(&|v| v["id"] = json!("a/b"))),
        (
            "meta.lastUpdated without zone",
            with(&|v| v["meta"]["lastUpdated"] = json!("2025-01-01T10:00:00")),
        ),
        (
            "extension without url",
            with(&|v| v["extension"] = json!([{"valueString": "x"}])),
        ),
        (
            "note without text",
            with(&|v| v["note"] = json!([{"authorString": "me"}])),
        ),
        ("empty string", with(&|v| v["code"]["text"] = json!(""))),
        ("null element", with(&|v| v["subject"] = Value::Null)),
        (
            "resourceType Patient",
            with(&|v| v["resourceType"] = json!("Patient")),
        ),
        (
            "identifier.use not in the value set",
            with(&|v| v["identifier"][0]["use"] = json!("bogus")),
        ),
        // Stricter than the official schema:
        ("status missing", remove("status")),
        (
            "status not in the value set",
            with(&|v| v["status"] = json!("bogus")),
        ),
        (
            "two effective[x]",
            with(&|v| v["effectivePeriod"] = json!({"start": "2025-01-01"})),
        ),
        ("empty array", with(&|v| v["category"] = json!([]))),
        (
            "dateTime with a time but no zone",
            with(&|v| v["effectiveDateTime"] = json!("2025-01-01T10:00:00")),
        ),
    ]
}

/// Cases the official schema accepts and we reject, by design.
const STRICTER: &[&str] = &[
    // Required primitive elements (the schema cannot require `status` because `_status` may
    // stand in for it).
    "status missing",
    "extension without url",
    "note without text",
    // The observation-status value set (a plain `code` in the schema).
    "status not in the value set",
    // Choice exclusivity, empty arrays, integer vs decimal, a time without a zone.
    "two effective[x]",
    "empty array",
    "valueInteger is a float",
    "dateTime with a time but no zone",
];

#[test]
fn our_structure_rules_agree_with_the_official_schema() {
    // Vendored in the repository; a test that cannot read it fails, it never skips.
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/fhir/fhir.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} must be readable: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    let observation_schema = official(&schema, "Observation");
    let patient_schema = official(&schema, "Patient");
    let bundle_schema = official(&schema, "Bundle");
    let outcome_schema = official(&schema, "OperationOutcome");

    // The valid corpus passes both.
    let patient = json!({
        "resourceType": "Patient", "id": "40001",
        "meta": {"lastUpdated": "2026-11-28T15:05:53.298020+00:00", "source": "https://jupyterhealth.org/jhe"},
        "identifier": [{"value": "fhir-666"}],
        "name": [{"family": "Smith", "given": ["Peter"]}],
        "birthDate": "1984-01-13", "gender": "male",
        "telecom": [{"system": "phone", "value": "+1-555", "use": "mobile"},
                    {"system": "email", "value": "peter@example.com", "use": "home"}],
        "contact": [{"name": {"text": "Pam"}, "relationship": [{"text": "sister"}]}],
        "deceasedBoolean": false
    });
    let bundle = json!({
        "resourceType": "Bundle", "type": "batch",
        "entry": [{"resource": observation(), "request": {"method": "POST", "url": "Observation",
                   "ifNoneExist": "identifier=https://commonhealth.org|u-u-i-d"}}]
    });
    let outcome = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": "x", "expression": ["Observation.foo"]}]});
    for (label, validator, resource, kind) in [
        (
            "observation",
            &observation_schema,
            observation(),
            "Observation",
        ),
        ("patient", &patient_schema, patient.clone(), "Patient"),
        ("bundle", &bundle_schema, bundle.clone(), "Bundle"),
        ("outcome", &outcome_schema, outcome, "OperationOutcome"),
    ] {
        let errors: Vec<String> = validator
            .iter_errors(&resource)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "official schema rejects our valid {label}: {errors:?}"
        );
        assert_eq!(validate_resource(&resource, Some(kind)), Ok(()), "{label}");
    }
    assert_eq!(validate_bundle_shell(&bundle), Ok(()));

    // Broken Observations: whatever the official schema rejects, we reject.
    let mut checked = 0;
    let mut problems = Vec::new();
    for (label, resource) in variants() {
        let theirs = observation_schema.is_valid(&resource);
        let ours = validate_resource(&resource, Some("Observation")).is_ok();
        let expected = if STRICTER.contains(&label) {
            (true, false)
        } else {
            (false, false)
        };
        if (theirs, ours) != expected {
            problems.push(format!(
                "{label}: official valid={theirs}, ours valid={ours}, expected {expected:?}"
            ));
        }
        checked += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // A few Patient and Bundle breakages.
    let mut bad_patient = patient;
    bad_patient["birthDate"] = json!("13/01/1984");
    assert!(!patient_schema.is_valid(&bad_patient));
    assert!(validate_resource(&bad_patient, Some("Patient")).is_err());
    let mut bad_bundle = bundle;
    // Stricter: the schema leaves the request method and the Bundle type open codes.
    bad_bundle["entry"][0]["request"]["method"] = json!("FETCH");
    assert!(bundle_schema.is_valid(&bad_bundle));
    assert!(validate_bundle_shell(&bad_bundle).is_err());
    bad_bundle["entry"][0]["request"] = json!({"method": "POST", "url": "Observation", "x": 1});
    assert!(!bundle_schema.is_valid(&bad_bundle));
    assert!(validate_bundle_shell(&bad_bundle).is_err());
    assert!(checked >= 30);
}

/// A JSON value of the wrong type for a property of the official schema: an object where an
/// array is required, a boolean where a string is (not a number: we deliberately also accept
/// R5's string-typed `integer64` as a JSON integer), a string where anything else is.
fn wrong_value(schema: &Value, property: &Value) -> Value {
    if property.get("type").and_then(Value::as_str) == Some("array") {
        return json!({});
    }
    let target = property
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next());
    let json_type = match target {
        Some(name) => schema["definitions"][name]
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("object"),
        None => property
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string"),
    };
    if json_type == "string" {
        json!(true)
    } else {
        json!("not-this-type")
    }
}

/// Partial objects of schema definition `name`, each with one broken element: a value of the
/// wrong JSON type for every element, an unknown element, and (recursively) the same inside its
/// backbone elements (`Timing_Repeat` inside `Timing`). `covered` collects the definitions seen.
fn broken_objects(
    schema: &Value,
    name: &str,
    covered: &mut std::collections::BTreeSet<String>,
) -> Vec<(String, Value)> {
    covered.insert(name.to_string());
    let Some(properties) = schema["definitions"][name]["properties"].as_object() else {
        return Vec::new();
    };
    let mut out = vec![(format!("{name}.bogusElement"), json!({"bogusElement": 1}))];
    for (element, element_schema) in properties {
        if element.starts_with('_') || element == "id" || element == "resourceType" {
            continue;
        }
        out.push((
            format!("{name}.{element}"),
            json!({ element.as_str(): wrong_value(schema, element_schema) }),
        ));
        let many = element_schema.get("type").and_then(Value::as_str) == Some("array");
        let backbone = element_schema
            .get("$ref")
            .or_else(|| element_schema.get("items").and_then(|i| i.get("$ref")))
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .filter(|t| t.contains('_') && !covered.contains(*t))
            .map(str::to_string);
        if let Some(backbone) = backbone {
            for (label, inner) in broken_objects(schema, &backbone, covered) {
                let wrapped = if many { json!([inner]) } else { inner };
                out.push((label, json!({ element.as_str(): wrapped })));
            }
        }
    }
    out
}

/// Every generated type — each complex type an extension can carry, and each supported
/// resource, with their backbone elements — refuses what the official schema refuses: a value
/// of the wrong JSON type for every element, and an unknown element.
#[test]
fn every_generated_type_refuses_what_the_official_schema_refuses() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/fhir/fhir.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} must be readable: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    let mut covered = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    let mut cases = 0;
    let mut check = |kind: &str, label: &str, resource: Value, validator: &Validator| {
        let theirs = validator.is_valid(&resource);
        let ours = validate_resource(&resource, Some(kind)).is_ok();
        if theirs || ours {
            problems.push(format!(
                "{label}: official valid={theirs}, ours valid={ours}"
            ));
        }
        cases += 1;
    };

    let observation_schema = official(&schema, "Observation");
    let extension = schema["definitions"]["Extension"]["properties"]
        .as_object()
        .unwrap()
        .clone();
    for (key, property) in &extension {
        let Some(type_name) = property
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .filter(|_| key.starts_with("value"))
        else {
            continue;
        };
        for (label, value) in broken_objects(&schema, type_name, &mut covered) {
            let mut resource = observation();
            resource["extension"] = json!([{"url": "http://example.org/x", key.as_str(): value}]);
            check("Observation", &label, resource, &observation_schema);
        }
    }
    let patient = json!({"resourceType": "Patient", "id": "40001"});
    let outcome = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing"}]});
    let bundle = json!({"resourceType": "Bundle", "type": "collection"});
    for (kind, valid) in [
        ("Observation", observation()),
        ("Patient", patient),
        ("OperationOutcome", outcome),
        ("Bundle", bundle),
    ] {
        let validator = official(&schema, kind);
        for (label, partial) in broken_objects(&schema, kind, &mut covered) {
            let mut resource = valid.clone();
            if let (Some(target), Some(fields)) = (resource.as_object_mut(), partial.as_object()) {
                for (k, v) in fields {
                    target.insert(k.clone(), v.clone());
                }
            }
            check(kind, &label, resource, &validator);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        covered.len() >= 55,
        "{} types covered: {covered:?}",
        covered.len()
    );
    assert!(cases >= 500, "{cases} cases");
}
