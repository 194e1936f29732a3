//! The data formats through the HTTP API: every Open mHealth sample uploads and reads back
//! byte for byte; opaque attachments need a data source configured for their data type.

use std::path::{Path, PathBuf};

use jhe_core::domain::*;
use jhe_core::store::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fhir_upload::{World, b64, decoded, get, observation, post};
use crate::support::Backend;

fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn code_of(doc: &Value) -> String {
    let sid = &doc["header"]["schema_id"];
    format!(
        "{}:{}:{}",
        sid["namespace"].as_str().unwrap(),
        sid["name"].as_str().unwrap(),
        sid["version"].as_str().unwrap()
    )
}

async fn upload_and_compare(w: &World, label: &str, bytes: &[u8]) {
    let doc: Value = serde_json::from_slice(bytes).unwrap();
    let code = code_of(&doc);
    let a = post(
        &w.app,
        "/fhir/r5/Observation",
        &w.peter_token,
        &w.observation(w.peter.id, &code, bytes),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{label}: {}", a.text);
    let id = a.json["id"].as_str().unwrap();
    let r = get(&w.app, &format!("/FHIR/R5/Observation/{id}"), &w.prac_token).await;
    assert_eq!(
        decoded(&r.json),
        bytes,
        "{label}: the stored bytes come back"
    );
    assert_eq!(r.json["code"]["coding"][0]["code"], code);
}

async fn every_sample_uploads(backend: Backend) {
    let w = World::new(backend).await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("tests/data/omh/examples/data-points");
    assert!(
        shared.is_dir(),
        "{} must exist (the vendored reference data)",
        shared.display()
    );
    let mut uploaded = 0;
    for path in sample_files(&shared) {
        let bytes = std::fs::read(&path).unwrap();
        let label = path.display().to_string();
        if path.ends_with("omh_blood-glucose_4-0.json") {
            // Its unit `mg/dl` is outside the schema's enum (`mg/dL`): the published schema
            // rejects it too (schemas/README.md). The same point with `mg/dL` is accepted.
            let a = post(
                &w.app,
                "/fhir/r5/Observation",
                &w.peter_token,
                &w.observation(w.peter.id, "omh:blood-glucose:4.0", &bytes),
            )
            .await;
            assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
            assert!(
                a.outcome().contains("body/blood_glucose/unit"),
                "{}",
                a.text
            );
            let fixed = String::from_utf8(bytes).unwrap().replace("mg/dl", "mg/dL");
            upload_and_compare(&w, &label, fixed.as_bytes()).await;
        } else {
            upload_and_compare(&w, &label, &bytes).await;
        }
        uploaded += 1;
    }
    assert_eq!(uploaded, 7);
    for path in sample_files(&root.join("jhe-plugins/schemas/omh/examples/data-points")) {
        let bytes = std::fs::read(&path).unwrap();
        upload_and_compare(&w, &path.display().to_string(), &bytes).await;
        uploaded += 1;
    }
    assert_eq!(uploaded, 7 + 17);
}

async fn attachments(backend: Backend) {
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let loinc = s
        .create_concept(NewCodeableConcept {
            id: None,
            coding_system: "http://loinc.org".into(),
            coding_code: "8867-4".into(),
            text: "Heart rate (CSV)".into(),
        })
        .await
        .unwrap();
    s.add_scope_request(w.study.id, loinc.id).await.unwrap();
    let enrolment = s
        .list_patient_studies(
            &jhe_core::store::AccessScope::system_for_tests(),
            w.peter.id,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.study_id == w.study.id)
        .unwrap();
    s.upsert_consent(enrolment.id, loinc.id, true, chrono::Utc::now())
        .await
        .unwrap();
    let csv = b"time,bpm\r\n2025-03-01T08:00:00Z,71\r\n";
    let resource = |content_type: &str, data: String| {
        let mut r = observation(w.peter.id, w.device.id, "http://loinc.org", "8867-4", csv);
        r["valueAttachment"] = json!({"contentType": content_type, "data": data});
        r["effectiveDateTime"] = json!("2025-03-01T08:00:00Z");
        r
    };
    // The device does not declare the data type yet.
    let a = post(
        &w.app,
        "/fhir/r5/Observation",
        &w.peter_token,
        &resource("text/csv", b64(csv)),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(a.outcome().contains("supported scopes"));
    s.add_supported_scope(w.device.id, loinc.id).await.unwrap();
    let a = post(
        &w.app,
        "/fhir/r5/Observation",
        &w.peter_token,
        &resource("text/csv", b64(csv)),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let id = a.json["id"].as_str().unwrap().to_string();
    let r = get(&w.app, &format!("/fhir/r5/Observation/{id}"), &w.prac_token).await;
    assert_eq!(r.json["valueAttachment"]["contentType"], "text/csv");
    assert_eq!(decoded(&r.json), csv);
    // The effective time comes from effectiveDateTime.
    let r = get(
        &w.app,
        &format!(
            "/fhir/r5/Observation?patient={}&date=2025-03-01&code=http%3A%2F%2Floinc.org%7C8867-4",
            w.peter.id
        ),
        &w.prac_token,
    )
    .await;
    assert_eq!(r.json["total"], 1, "{}", r.text);
    // Binary payloads, bad base64, and OMH codes with another content type are refused.
    let a = post(
        &w.app,
        "/fhir/r5/Observation",
        &w.peter_token,
        &resource("text/csv", b64(&[0xff, 0xfe, 0x00])),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    a.outcome();
    let a = post(
        &w.app,
        "/fhir/r5/Observation",
        &w.peter_token,
        &resource("text/csv", "@@@".into()),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.outcome(),
        "valueAttachment.data must be Base 64 Encoded Binary."
    );
    let mut omh_csv = w.observation(w.peter.id, "omh:heart-rate:2.0", csv);
    omh_csv["valueAttachment"]["contentType"] = json!("text/csv");
    let a = post(&w.app, "/fhir/r5/Observation", &w.peter_token, &omh_csv).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.outcome()
            .starts_with("No data format accepts content type 'text/csv'")
    );
    let a = post(
        &w.app,
        "/fhir/r5/Observation",
        &w.peter_token,
        &resource("not a type", b64(csv)),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(a.outcome().starts_with("No data format accepts"));
    let stored = s
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(stored.total, 1);
}

both_backends! {
    formats_every_sample_uploads => every_sample_uploads;
    formats_attachments => attachments;
}
