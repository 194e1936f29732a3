//! What jupyterhealth-client 0.5.0 (the notebooks' client) needs from the FHIR API, as the Python
//! compatibility suite (`tests/compat`) drives it (client-usage.md §2.2–2.3): a patient's app
//! uploads through `/fhir/r5/` (one create, one batch Bundle); the client reads back through the
//! upper-case base `/FHIR/R5/Observation` with `patient`, a `system|code` filter (or the study
//! filter `patient._has:Group:member:_id`) and `_count`, then requests each `next` link verbatim
//! until there is none. Every resource needs a string `id`, `subject.reference`, one coding and a
//! JSON `valueAttachment` whose base64 data decodes to exactly what was uploaded.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{
    Backend, TestApp, api_request, bearer_for, plain_client, seeded, spawn_seeded,
};

const PETER: i64 = 40001;
const STUDY: i64 = 30001;
const OMH: &str = "https://w3id.org/openmhealth";
const HEART_RATE: &str = "omh:heart-rate:2.0";
/// Peter's seeded heart-rate observation.
const SEEDED_HEART_RATE: &str = "60002";
/// Uploads of the test (1 single create + a Bundle of the rest): with the seeded one, 3 pages of 10.
const UPLOADS: usize = 25;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, ignoring whitespace (the server may wrap lines, Python's decoder skips them).
fn base64_decode(text: &str) -> Vec<u8> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let value = B64
            .iter()
            .position(|&x| x == c)
            .unwrap_or_else(|| panic!("not base64: {text}")) as u32;
        acc = acc << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The n-th heart-rate Observation of Peter's app, and its Open mHealth data point.
fn observation(n: usize) -> (Value, Value) {
    let time = format!("2025-01-01T00:{n:02}:00Z");
    let payload = json!({
        "header": {"uuid": format!("00000000-0000-4000-8000-{n:012}"),
            "schema_id": {"namespace": "omh", "name": "heart-rate", "version": "2.0"},
            "source_creation_date_time": time, "modality": "sensed"},
        "body": {"heart_rate": {"value": 60.5 + n as f64, "unit": "beats/min"},
            "effective_time_frame": {"date_time": time}},
    });
    let resource = json!({
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "https://compat.example.org/ids", "value": format!("compat-{n}")}],
        "code": {"coding": [{"system": OMH, "code": HEART_RATE}]},
        "subject": {"reference": format!("Patient/{PETER}")},
        "device": {"reference": "Device/70001"},
        "valueAttachment": {"contentType": "application/json",
            "data": base64_encode(payload.to_string().as_bytes())},
    });
    (resource, payload)
}

fn id_of(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

/// Peter's app uploads `UPLOADS` heart-rate observations; returns FHIR id → uploaded data point.
async fn upload(app: &TestApp, token: &str) -> HashMap<String, Value> {
    let mut sent = HashMap::new();
    let (resource, payload) = observation(0);
    let (status, created) = api_request(
        app,
        Method::POST,
        "/fhir/r5/Observation",
        Some(token),
        Some(resource),
    )
    .await;
    assert_eq!(status, 201, "POST /fhir/r5/Observation: {created}");
    sent.insert(id_of(&created["id"]), payload);

    let (entries, payloads): (Vec<Value>, Vec<Value>) = (1..UPLOADS)
        .map(|n| {
            let (resource, payload) = observation(n);
            let entry =
                json!({"resource": resource, "request": {"method": "POST", "url": "Observation"}});
            (entry, payload)
        })
        .unzip();
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
    let (status, answer) =
        api_request(app, Method::POST, "/fhir/r5/", Some(token), Some(bundle)).await;
    assert_eq!(status, 200, "POST /fhir/r5/: {answer}");
    let results = answer["entry"].as_array().expect("batch-response entries");
    assert_eq!(results.len(), UPLOADS - 1, "{answer}");
    for (entry, payload) in results.iter().zip(payloads) {
        let status = entry["response"]["status"].as_str().unwrap_or_default();
        assert!(status.starts_with("201"), "{entry}");
        sent.insert(id_of(&entry["resource"]["id"]), payload);
    }
    assert_eq!(sent.len(), UPLOADS, "each upload has its own id");
    sent
}

/// The client's `_fhir_list_api_request`: the first URL, then every `next` link verbatim. Returns
/// the resources and the number of pages.
async fn read_all(app: &TestApp, token: &str, first: &str) -> (Vec<Value>, usize) {
    let (mut url, mut resources, mut pages) = (app.url(first), Vec::new(), 0);
    loop {
        pages += 1;
        assert!(pages <= 20, "too many pages: {url}");
        let response = plain_client()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {url}: {text}");
        let bundle: Value = serde_json::from_str(&text).unwrap();
        let entries = bundle["entry"]
            .as_array()
            .unwrap_or_else(|| panic!("no entry: {text}"));
        resources.extend(entries.iter().map(|e| e["resource"].clone()));
        let links = bundle["link"]
            .as_array()
            .unwrap_or_else(|| panic!("no link: {text}"));
        let next = links
            .iter()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str());
        match next {
            Some(next) => {
                assert!(
                    next.starts_with(&app.url("/FHIR/R5/Observation?")),
                    "{next}"
                );
                url = next.to_string();
            }
            None => return (resources, pages),
        }
    }
}

/// Checks every resource the way `tidy_observation` reads it; returns the ids.
fn check(resources: &[Value], sent: &HashMap<String, Value>) -> Vec<String> {
    let mut ids = Vec::new();
    for o in resources {
        let id = o["id"]
            .as_str()
            .unwrap_or_else(|| panic!("id is a string: {o}"))
            .to_string();
        assert_eq!(o["resourceType"], "Observation", "{o}");
        assert_eq!(o["subject"]["reference"], format!("Patient/{PETER}"), "{o}");
        assert_eq!(o["code"]["coding"][0]["system"], OMH, "{o}");
        assert_eq!(o["code"]["coding"][0]["code"], HEART_RATE, "{o}");
        let attachment = &o["valueAttachment"];
        assert!(
            attachment["contentType"]
                .as_str()
                .unwrap_or_default()
                .contains("json"),
            "{o}"
        );
        let data: Value =
            serde_json::from_slice(&base64_decode(attachment["data"].as_str().unwrap())).unwrap();
        if let Some(payload) = sent.get(&id) {
            assert_eq!(&data, payload, "observation {id}");
        }
        ids.push(id);
    }
    ids.sort();
    ids
}

async fn notebook_reads_back_what_an_app_uploaded(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let peter = bearer_for(&app, seeded::PATIENT).await;
    let mary = bearer_for(&app, seeded::MANAGER).await;
    let sent = upload(&app, &peter).await;
    let mut expected: Vec<String> = sent.keys().cloned().collect();
    expected.push(SEEDED_HEART_RATE.into());
    expected.sort();

    // list_observations(patient_id=40001, code=Code.HEART_RATE) with _default_page_size = 10.
    let code = "https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Aheart-rate%3A2.0";
    let first = format!("/FHIR/R5/Observation?patient={PETER}&code={code}&_count=10");
    let (resources, pages) = read_all(&app, &mary, &first).await;
    assert_eq!(check(&resources, &sent), expected);
    assert_eq!(pages, 3, "26 observations, 10 a page");

    // list_observations(patient_id=40001, study_id=30001, code=…), one page of up to 1000.
    let first = format!(
        "/FHIR/R5/Observation?patient._has%3AGroup%3Amember%3A_id={STUDY}&patient={PETER}&code={code}&_count=1000"
    );
    let (resources, pages) = read_all(&app, &mary, &first).await;
    assert_eq!(check(&resources, &sent), expected);
    assert_eq!(pages, 1);
}

both_backends! {
    notebook_client_reads_uploads => notebook_reads_back_what_an_app_uploaded;
}
