//! Criterion benches of payload checks: Open mHealth validation of each sample data point
//! (`jhe-plugins/schemas/omh/examples/data-points`), and parsing + structure validation of an uploaded
//! FHIR Observation (the per-entry work of a Bundle).
//!
//! ```text
//! cargo bench --bench formats
//! ```

#![allow(clippy::indexing_slicing, clippy::string_slice)] // bench code, not served

use std::hint::black_box;
use std::path::PathBuf;

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use jhe_core::domain::{CodeableConcept, OMH_SYSTEM};
use jhe_core::fhir::attachment::decode_json_data;
use jhe_core::fhir::model::ObservationIn;
use jhe_core::fhir::structure::{camelize_keys, validate_resource};
use jhe_core::format::DataFormat;
use jhe_plugins::OmhFormat;
use serde::Deserialize;
use serde_json::{Value, json};

/// `(code, bytes)` of every sample of ours.
fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("jhe-plugins/schemas/omh/examples/data-points");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("{} is missing: no samples to bench", dir.display());
        return out;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let sid = &doc["header"]["schema_id"];
        let code = format!(
            "{}:{}:{}",
            sid["namespace"].as_str().unwrap_or(""),
            sid["name"].as_str().unwrap_or(""),
            sid["version"].as_str().unwrap_or("")
        );
        out.push((code, bytes));
    }
    out
}

fn concept(code: &str) -> CodeableConcept {
    CodeableConcept {
        id: 1,
        coding_system: OMH_SYSTEM.into(),
        coding_code: code.into(),
        text: String::new(),
    }
}

fn omh_validation(c: &mut Criterion) {
    let format = OmhFormat::bundled();
    let samples = samples();
    let mut group = c.benchmark_group("omh_validate");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(2));
    for (code, bytes) in &samples {
        let concept = concept(code);
        if let Err(e) = format.validate(&concept, bytes) {
            eprintln!("{code}: the sample does not validate ({e}); skipped");
            continue;
        }
        group.bench_function(code.as_str(), |b| {
            b.iter(|| format.validate(black_box(&concept), black_box(bytes)))
        });
    }
    group.finish();
    c.bench_function("omh_compile_bundled", |b| b.iter(OmhFormat::bundled));
}

fn fhir_observation(c: &mut Criterion) {
    let format = OmhFormat::bundled();
    let payload = samples()
        .into_iter()
        .find(|(code, _)| code == "omh:heart-rate:2.0")
        .map(|(_, bytes)| bytes)
        .unwrap_or_else(|| br#"{"header": {}, "body": {}}"#.to_vec());
    let resource = json!({
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "https://commonhealth.org", "value": "0d7c1b6e-3e3c-4f3a-9d8e-1a2b3c4d5e6f"}],
        "code": {"coding": [{"system": OMH_SYSTEM, "code": "omh:heart-rate:2.0"}]},
        "subject": {"reference": "Patient/40001"},
        "device": {"reference": "Device/70001"},
        "effectiveDateTime": "2025-01-01T10:00:00Z",
        "valueAttachment": {
            "contentType": "application/json",
            "data": base64::engine::general_purpose::STANDARD.encode(&payload)
        }
    });
    let body = serde_json::to_vec(&resource).unwrap_or_default();
    let hr = concept("omh:heart-rate:2.0");
    let mut group = c.benchmark_group("fhir_observation");
    group.measurement_time(std::time::Duration::from_secs(3));
    group.bench_function("parse_and_validate_structure", |b| {
        b.iter(|| {
            let mut value: Value = serde_json::from_slice(black_box(&body)).unwrap_or_default();
            let camel = camelize_keys(&mut value, "Observation").is_ok();
            let valid = validate_resource(&value, Some("Observation")).is_ok();
            let read = ObservationIn::deserialize(&value).is_ok();
            (camel, valid, read)
        })
    });
    group.bench_function("full_payload_check", |b| {
        b.iter(|| {
            let mut value: Value = serde_json::from_slice(black_box(&body)).unwrap_or_default();
            let _ = camelize_keys(&mut value, "Observation");
            let _ = validate_resource(&value, Some("Observation"));
            let data = value["valueAttachment"]["data"].as_str().unwrap_or("");
            decode_json_data(data).map(|bytes| format.validate(&hr, &bytes).is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, omh_validation, fhir_observation);
criterion_main!(benches);
