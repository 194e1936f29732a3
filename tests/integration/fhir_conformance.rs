//! FHIR conformance over HTTP: the CapabilityStatement (`metadata`) and the SMART configuration
//! answer without a token and validate against the official FHIR R5 JSON schema (vendored in
//! `tests/data/fhir/`); every advertised search parameter works; Bundles carry `fullUrl`,
//! `response.location` / `etag` and real resource types; bdl-7; no empty arrays — on both
//! databases.

use std::sync::OnceLock;

use jhe_core::domain::GrantedScopes;
use jsonschema::{Retrieve, Uri, Validator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fhir_search_sort::{store_all, stored_period};
use crate::fhir_upload::{HR, World, get, heart_rate_bytes, post, send, with_identifier};
use crate::support::Backend;

const OMH: &str = "https://w3id.org/openmhealth";

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

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fhir/fhir.schema.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

fn validator(definition: &str) -> Validator {
    jsonschema::options()
        .should_validate_formats(false)
        .with_retriever(FhirSchema(schema().clone()))
        .build(&json!({
            "$schema": "http://json-schema.org/draft-06/schema#",
            "$ref": format!("http://hl7.org/fhir/json-schema/5.0#/definitions/{definition}")
        }))
        .unwrap()
}

/// Asserts that `resource` is valid against the official R5 schema for its `resourceType`.
pub fn assert_valid_fhir(resource: &Value) {
    static VALIDATORS: OnceLock<std::sync::Mutex<Vec<(String, &'static Validator)>>> =
        OnceLock::new();
    let kind = resource["resourceType"].as_str().unwrap().to_string();
    let validators = VALIDATORS.get_or_init(Default::default);
    let v = {
        let mut list = validators.lock().unwrap();
        match list.iter().find(|(k, _)| *k == kind) {
            Some((_, v)) => *v,
            None => {
                let v: &'static Validator = Box::leak(Box::new(validator(&kind)));
                list.push((kind.clone(), v));
                v
            }
        }
    };
    let errors: Vec<String> = v
        .iter_errors(resource)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{kind} invalid: {errors:#?}\n{resource:#}"
    );
}

/// Fails on any empty array or object anywhere in `value` (FHIR JSON forbids them), except the
/// `meta: {}` of searchsets the original emits.
pub fn assert_no_empty_arrays(value: &Value, path: &str) {
    match value {
        Value::Array(items) => {
            assert!(!items.is_empty(), "empty array at {path}");
            for (i, item) in items.iter().enumerate() {
                assert_no_empty_arrays(item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                assert_no_empty_arrays(v, &format!("{path}.{k}"));
            }
        }
        _ => {}
    }
}

/// `GET` asking for FHIR JSON (`Accept: application/fhir+json`).
pub async fn fhir_get(w: &World, url: &str, token: &str) -> crate::fhir_upload::Answer {
    send(
        &w.app,
        reqwest::Method::GET,
        url,
        Some(token),
        None,
        &[("accept", "application/fhir+json")],
    )
    .await
}

async fn anonymous(w: &World, path: &str) -> (StatusCode, Value, String) {
    let a = send(&w.app, reqwest::Method::GET, path, None, None, &[]).await;
    (a.status, a.json, a.content_type)
}

async fn capability_statement(backend: Backend) {
    let w = World::new(backend).await;
    for base in ["/fhir/r5", "/FHIR/R5"] {
        let (status, cs, _) = anonymous(&w, &format!("{base}/metadata")).await;
        assert_eq!(status, StatusCode::OK, "{cs}");
        assert_valid_fhir(&cs);
        assert_no_empty_arrays(&cs, "CapabilityStatement");
        // What the schema leaves optional but the specification requires.
        assert_eq!(cs["resourceType"], "CapabilityStatement");
        assert_eq!(cs["status"], "active");
        assert_eq!(cs["kind"], "instance");
        assert_eq!(cs["fhirVersion"], "5.0.0");
        assert!(cs["date"].as_str().is_some());
        assert!(
            cs["format"]
                .as_array()
                .unwrap()
                .contains(&json!("application/fhir+json"))
        );
        assert!(
            cs["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("{base}/metadata"))
        );
        let rest = &cs["rest"][0];
        assert_eq!(rest["mode"], "server");
        let system: Vec<&str> = rest["interaction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].as_str().unwrap())
            .collect();
        assert_eq!(system, ["batch", "transaction"]);
        // Security: SMART-on-FHIR with the OAuth endpoints.
        let security = &rest["security"];
        assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
        let oauth = &security["extension"][0];
        assert_eq!(
            oauth["url"],
            "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
        );
        let uris: Vec<(&str, &str)> = oauth["extension"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["url"].as_str().unwrap(), e["valueUri"].as_str().unwrap()))
            .collect();
        assert!(uris.contains(&(
            "authorize",
            &*format!("{}/o/authorize/", w.app.config.site_url)
        )));
        assert!(uris.contains(&("token", &*format!("{}/o/token/", w.app.config.site_url))));
        // Exactly the resources and interactions that are served.
        let resources: Vec<(String, Vec<String>)> = rest["resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap().to_string(),
                    r["interaction"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["code"].as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            resources,
            vec![
                ("AuditEvent".to_string(), vec!["search-type".into()]),
                (
                    "Consent".to_string(),
                    vec!["read".into(), "search-type".into()]
                ),
                (
                    "Observation".to_string(),
                    vec!["read".into(), "create".into(), "search-type".into()]
                ),
                (
                    "Patient".to_string(),
                    vec!["read".into(), "search-type".into()]
                ),
            ]
        );
        // Bulk Data kick-offs are operations, not resources.
        let operations: Vec<&str> = rest["operation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["definition"].as_str().unwrap())
            .collect();
        assert_eq!(
            operations,
            vec![
                "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
                "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
            ]
        );
        for r in rest["resource"].as_array().unwrap() {
            for p in r["searchParam"].as_array().unwrap() {
                assert!(
                    ["token", "reference", "date", "string", "special"]
                        .contains(&p["type"].as_str().unwrap()),
                    "{p}"
                );
            }
        }
    }
    // With a token it answers the same; other methods are refused.
    let a = get(&w.app, "/fhir/r5/metadata", &w.prac_token).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = send(
        &w.app,
        reqwest::Method::DELETE,
        "/fhir/r5/metadata",
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{}", a.text);
    // The rest of the API still needs a token.
    let (status, _, _) = anonymous(&w, "/fhir/r5/Observation").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn smart_configuration(backend: Backend) {
    let w = World::new(backend).await;
    let site = w.app.config.site_url.trim_end_matches('/').to_string();
    for path in [
        "/.well-known/smart-configuration",
        "/fhir/r5/.well-known/smart-configuration",
        "/FHIR/R5/.well-known/smart-configuration",
    ] {
        let (status, doc, content_type) = anonymous(&w, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {doc}");
        assert!(content_type.starts_with("application/json"));
        // SMART App Launch 2 §"Metadata": the required fields.
        assert_eq!(doc["issuer"], format!("{site}/o"));
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{site}/o/authorize/")
        );
        assert_eq!(doc["token_endpoint"], format!("{site}/o/token/"));
        assert_eq!(doc["jwks_uri"], format!("{site}/o/.well-known/jwks.json"));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        let grants = doc["grant_types_supported"].as_array().unwrap();
        assert!(grants.contains(&json!("authorization_code")));
        let capabilities: Vec<&str> = doc["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for c in [
            "client-public",
            "permission-v2",
            "permission-patient",
            "permission-user",
        ] {
            assert!(capabilities.contains(&c), "{c}");
        }
        assert!(
            !capabilities.contains(&"launch-ehr"),
            "no EHR launch is implemented"
        );
        // Every advertised scope is one the server understands, and the patient-app and the
        // full-role scopes are among them.
        let scopes: Vec<&str> = doc["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let all = GrantedScopes::parse(&scopes.join(" ")).unwrap();
        assert!(all.covers(&GrantedScopes::patient_app()));
        assert!(all.covers(&GrantedScopes::full_role()));
        assert!(scopes.contains(&"openid") && scopes.contains(&"user/*.cruds"));
        assert!(
            !all.covers(&GrantedScopes::parse("system/Observation.r").unwrap()),
            "no system/ scopes are issued"
        );
        for s in &scopes {
            let one = GrantedScopes::parse(s).unwrap();
            assert!(one.opaque().next().is_none(), "{s} is not a known scope");
        }
        for s in [
            "patient/Observation.crs",
            "user/Observation.crs",
            "patient/Patient.rs",
            "openid",
        ] {
            assert!(all.covers(&GrantedScopes::parse(s).unwrap()), "{s}");
        }
        // The endpoints it names answer.
        let a = send(
            &w.app,
            reqwest::Method::GET,
            doc["jwks_uri"]
                .as_str()
                .unwrap()
                .replace(&site, &w.app.address)
                .as_str(),
            None,
            None,
            &[],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
    }
}

/// A sample value for each advertised search parameter (a parameter advertised without one
/// fails the test), and whether it must find the sample rows.
fn sample(w: &World, resource: &str, name: &str, obs_id: &str) -> String {
    let peter = w.peter.id;
    match (resource, name) {
        ("Observation", "_id") => obs_id.to_string(),
        ("Observation", "_lastUpdated") => "ge2020-01-01".into(),
        ("Observation", "code") => format!("{OMH}|{HR}"),
        ("Observation", "date") => "ge2025-03-01".into(),
        ("Observation", "patient") => peter.to_string(),
        ("Observation", "subject") => format!("Patient/{peter}"),
        ("Observation", "patient.identifier") => "ext-Peter".into(),
        ("Observation", "patient.organization") => w.lab.id.to_string(),
        ("Observation", "patient._has:Group:member:_id") => w.study.id.to_string(),
        ("Patient", "_id") => peter.to_string(),
        ("Patient", "identifier") => "http://example.org|ext-Peter".into(),
        ("Patient", "name") => "pet".into(),
        ("Patient", "family") => "Peter".into(),
        ("Patient", "given") => "GIV".into(),
        ("Patient", "birthdate") => "1990-02-03".into(),
        ("Patient", "email") => "Peter@Example.org".into(),
        ("Patient", "organization") => format!("Organization/{}", w.lab.id),
        ("Patient", "_has:Group:member:_id") => w.study.id.to_string(),
        ("Consent" | "AuditEvent", "patient") => format!("Patient/{peter}"),
        other => panic!("advertised search parameter without a test value: {other:?}"),
    }
}

/// Percent-encodes a query component.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Who searches a resource in the walk: the patient for their own consents and audit events, the
/// practitioner for the rest.
fn caller_for<'a>(w: &'a World, resource: &str) -> &'a str {
    match resource {
        "Consent" | "AuditEvent" => &w.peter_token,
        _ => &w.prac_token,
    }
}

async fn every_advertised_parameter_works(backend: Backend) {
    let w = World::new(backend).await;
    let stored = store_all(
        &w,
        vec![stored_period(
            &w,
            w.peter.id,
            HR,
            "2025-03-01T08:00:00Z",
            Some("2025-03-01T09:00:00Z"),
        )],
    )
    .await;
    let obs_id = stored[0].id.to_string();
    let (_, cs, _) = anonymous(&w, "/fhir/r5/metadata").await;
    let mut walked = 0;
    for r in cs["rest"][0]["resource"].as_array().unwrap() {
        let resource = r["type"].as_str().unwrap();
        for p in r["searchParam"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let value = sample(&w, resource, name, &obs_id);
            {
                let token = caller_for(&w, resource);
                let url = format!("/fhir/r5/{resource}?{}={}", enc(name), enc(&value));
                let a = fhir_get(&w, &url, token).await;
                assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text);
                assert_valid_fhir(&a.json);
                assert_no_empty_arrays(&a.json, &url);
                if resource == "AuditEvent" {
                    // Whether events were recorded yet depends on the sink's buffering.
                    walked += 1;
                    continue;
                }
                assert!(
                    a.json["total"].as_u64().unwrap() >= 1,
                    "{url} found nothing: {}",
                    a.text
                );
                let entry = &a.json["entry"][0];
                assert_eq!(entry["resource"]["resourceType"], resource);
                assert_eq!(
                    entry["fullUrl"],
                    format!(
                        "{}/fhir/r5/{resource}/{}",
                        w.app.address,
                        entry["resource"]["id"].as_str().unwrap()
                    )
                );
                walked += 1;
            }
        }
        // The result parameters too.
        let mut results = vec![
            "_count=1",
            "_summary=count",
            "_total=none",
            "_total=accurate",
            "_total=estimate",
        ];
        if resource == "Observation" {
            results.extend([
                "_sort=date",
                "_sort=-date",
                "_sort=_lastUpdated",
                "_sort=-_lastUpdated",
            ]);
        }
        for q in results {
            let url = format!("/fhir/r5/{resource}?{q}");
            let a = fhir_get(&w, &url, caller_for(&w, resource)).await;
            assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text);
            assert_valid_fhir(&a.json);
            assert_no_empty_arrays(&a.json, &url);
        }
    }
    assert_eq!(
        walked,
        9 + 9 + 1 + 1,
        "Observation, Patient, Consent and AuditEvent parameters"
    );
}

async fn empty_results_have_no_entry_array(backend: Backend) {
    let w = World::new(backend).await;
    store_all(
        &w,
        vec![stored_period(
            &w,
            w.peter.id,
            HR,
            "2025-03-01T08:00:00Z",
            None,
        )],
    )
    .await;
    for url in [
        "/fhir/r5/Observation?_count=0",
        "/fhir/r5/Observation?_summary=count",
        "/fhir/r5/Observation?patient=999999",
        "/fhir/r5/Patient?_count=0",
        "/fhir/r5/Patient?name=nobody",
    ] {
        let a = fhir_get(&w, url, &w.prac_token).await;
        assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text);
        assert_eq!(a.content_type, "application/fhir+json");
        assert!(a.json.get("entry").is_none(), "{url}: {}", a.text);
        assert!(!a.text.contains("[]"), "{url}: {}", a.text);
        assert_valid_fhir(&a.json);
        // Count-only requests have no entry in plain JSON either.
        if url.contains("_count=0") || url.contains("_summary") {
            let a = get(&w.app, url, &w.prac_token).await;
            assert!(a.json.get("entry").is_none(), "{url}: {}", a.text);
        }
    }
    let a = fhir_get(&w, "/fhir/r5/Patient?_summary=count", &w.prac_token).await;
    assert_eq!(a.json["total"], 2, "{}", a.text);
    assert!(a.json.get("entry").is_none());
    // Plain JSON (the original's format, read by jupyterhealth-client, which indexes
    // `bundle["entry"]` and unwraps one-key entries): an empty page keeps `"entry": []` and
    // entries are `{"resource": …}` only.
    let a = get(&w.app, "/fhir/r5/Observation?patient=999999", &w.prac_token).await;
    assert_eq!(a.json["entry"], json!([]), "{}", a.text);
    let a = get(&w.app, "/fhir/r5/Observation", &w.prac_token).await;
    let e = a.json["entry"][0].as_object().unwrap();
    assert_eq!(e.keys().collect::<Vec<_>>(), ["resource"], "{}", a.text);
    let a = fhir_get(&w, "/fhir/r5/Observation", &w.prac_token).await;
    let e = a.json["entry"][0].as_object().unwrap();
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        ["fullUrl", "resource", "search"]
    );
    assert_eq!(e["search"]["mode"], "match");
}

async fn bundle_responses(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let entry = |resource: Value, full_url: &str| {
        json!({"fullUrl": full_url, "resource": resource,
               "request": {"method": "POST", "url": "Observation"}})
    };
    let good = |i: i64| {
        with_identifier(
            w.observation(
                w.peter.id,
                HR,
                &heart_rate_bytes(60 + i, "2025-03-01T08:00:00Z"),
            ),
            "https://example.org/ids",
            &format!("conf-{i}"),
        )
    };
    // bdl-7: two entries with one fullUrl → 400, nothing stored (transaction and batch).
    for kind in ["transaction", "batch"] {
        let tx = json!({"resourceType": "Bundle", "type": kind, "entry": [
            entry(good(1), "urn:uuid:6b3c1a0e-0000-4000-8000-000000000001"),
            entry(good(2), "urn:uuid:6b3c1a0e-0000-4000-8000-000000000001"),
        ]});
        let a = post(app, "/fhir/r5/", &w.peter_token, &tx).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
        assert!(a.outcome().contains("bdl-7"), "{}", a.text);
        assert_eq!(a.json["issue"][0]["code"], "invariant");
        assert_eq!(
            a.json["issue"][0]["expression"][0],
            "Bundle.entry[1].fullUrl"
        );
        assert_eq!(w.stored().await, 0);
    }
    // Distinct fullUrls: stored; each response entry names the real type, its fullUrl,
    // location and etag.
    for (kind, offset) in [("transaction", 10), ("batch", 20)] {
        let tx = json!({"resourceType": "Bundle", "type": kind, "entry": [
            entry(good(offset), &format!("urn:uuid:6b3c1a0e-0000-4000-8000-0000000000{offset}")),
            entry(good(offset + 1), &format!("urn:uuid:6b3c1a0e-0000-4000-8000-0000000000{}", offset + 1)),
        ]});
        let a = post(app, "/FHIR/R5/", &w.peter_token, &tx).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.json["type"], format!("{kind}-response"));
        assert_valid_fhir(&a.json);
        assert_no_empty_arrays(&a.json, "response");
        for e in a.json["entry"].as_array().unwrap() {
            let id = e["resource"]["id"].as_str().unwrap();
            assert_eq!(e["resource"]["resourceType"], "Observation");
            assert_eq!(e["response"]["status"], "201 Created");
            assert_eq!(e["response"]["location"], format!("Observation/{id}"));
            assert_eq!(
                e["fullUrl"],
                format!("{}/FHIR/R5/Observation/{id}", app.address)
            );
            let etag = e["response"]["etag"].as_str().unwrap();
            assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");
            assert!(e["response"]["lastModified"].as_str().is_some());
            // The location reads the observation back.
            let read = get(
                app,
                &format!("/FHIR/R5/{}", e["response"]["location"].as_str().unwrap()),
                &w.peter_token,
            )
            .await;
            assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        }
    }
    assert_eq!(w.stored().await, 4);
    // A failed batch entry has no fullUrl/location/etag, only the outcome.
    let tx = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        entry(good(10), "urn:uuid:6b3c1a0e-0000-4000-8000-000000000099"),
    ]});
    let a = post(app, "/fhir/r5/", &w.peter_token, &tx).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let e = &a.json["entry"][0];
    assert_eq!(e["response"]["status"], "409 Conflict", "{}", a.text);
    assert!(e.get("fullUrl").is_none() && e["response"].get("location").is_none());
    assert!(e["response"].get("etag").is_none());
    assert_valid_fhir(&a.json);
}

both_backends! {
    metadata_is_a_valid_capability_statement => capability_statement;
    smart_configuration_lists_what_works => smart_configuration;
    every_advertised_search_parameter_works => every_advertised_parameter_works;
    empty_results_serialise_no_empty_arrays => empty_results_have_no_entry_array;
    bundle_responses_carry_location_etag_and_refuse_duplicate_full_urls => bundle_responses;
}
