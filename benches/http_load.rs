//! HTTP load bench of the FHIR API: boots the real server (the default assembly) on a
//! loopback port, seeds a lab with a practitioner and a consenting patient, uploads N
//! observations through batch Bundles, then runs searches and reads with bounded concurrency
//! for a bounded time. Prints requests per second and latency percentiles, and fails if any
//! request did not answer as expected.
//!
//! ```text
//! cargo bench --bench http_load
//! JHE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/jhe_bench cargo bench --bench http_load
//! ```
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `JHE_BENCH_DATABASE_URL` | a temporary SQLite file | database (migrated; fixtures get unique names) |
//! | `JHE_BENCH_OBSERVATIONS` | `5000` | observations uploaded |
//! | `JHE_BENCH_BUNDLE` | `500` | entries per batch Bundle |
//! | `JHE_BENCH_CONCURRENCY` | `8` | requests in flight |
//! | `JHE_BENCH_SECONDS` | `10` | duration of the search phase |

#![allow(clippy::indexing_slicing, clippy::string_slice)] // bench code, not served

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use jhe_core::Config;
use jhe_core::domain::*;
use jhe_core::store::*;
use jhe_plugins::SeaOrmStore;
use serde_json::{Value, json};
use tokio::sync::Mutex;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

struct Fixture {
    patient: Id,
    study: Id,
    device: Id,
    practitioner_token: String,
    patient_token: String,
}

async fn token_for(
    store: &SeaOrmStore,
    user_id: Id,
    scopes: GrantedScopes,
) -> anyhow::Result<String> {
    let token = jhe_kdf::random_token(30);
    store
        .create_access_token(NewAccessToken {
            token_hash: jhe_kdf::sha256_hex(&token),
            user_id: Some(user_id),
            application_id: None,
            expires: chrono::Utc::now() + chrono::Duration::hours(2),
            scope: scopes.to_string(),
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await?;
    Ok(token)
}

async fn seed(store: &SeaOrmStore) -> anyhow::Result<Fixture> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let org = store
        .create_organization(NewOrganization {
            id: None,
            name: format!("Bench lab {tag}"),
            org_type: "laboratory".into(),
            part_of: None,
        })
        .await?;
    let user = |email: String, user_type| NewUser {
        email,
        password: "!".into(),
        user_type: Some(user_type),
        ..Default::default()
    };
    let pu = store
        .create_user(user(
            format!("prac-{tag}@bench.org"),
            UserType::Practitioner,
        ))
        .await?;
    let practitioner = store
        .create_practitioner(NewPractitioner {
            jhe_user_id: pu.id,
            ..Default::default()
        })
        .await?;
    store
        .upsert_practitioner_organization(practitioner.id, org.id, "member")
        .await?;
    let patient_user = store
        .create_user(user(format!("pat-{tag}@bench.org"), UserType::Patient))
        .await?;
    let patient = store
        .create_patient(NewPatient {
            id: None,
            jhe_user_id: Some(patient_user.id),
            identifier: Some(format!("bench-{tag}")),
            name_family: "Bench".into(),
            name_given: "Patient".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).context("date")?,
            telecom_phone: None,
        })
        .await?;
    store.add_patient_organization(patient.id, org.id).await?;
    let concept = match store.find_concept(OMH_SYSTEM, "omh:heart-rate:2.0").await? {
        Some(c) => c,
        None => {
            store
                .create_concept(NewCodeableConcept {
                    id: None,
                    coding_system: OMH_SYSTEM.into(),
                    coding_code: "omh:heart-rate:2.0".into(),
                    text: "Heart rate".into(),
                })
                .await?
        }
    };
    let study = store
        .create_study(NewStudy {
            id: None,
            name: format!("Bench {tag}"),
            description: String::new(),
            organization_id: org.id,
            icon_url: None,
        })
        .await?;
    store.add_scope_request(study.id, concept.id).await?;
    let enrolment = store.enroll_patient(study.id, patient.id).await?;
    store
        .upsert_consent(enrolment.id, concept.id, true, chrono::Utc::now())
        .await?;
    let device = store
        .create_data_source(NewDataSource {
            id: None,
            name: Some("Bench phone".into()),
            source_type: "personal_device".into(),
        })
        .await?;
    Ok(Fixture {
        patient: patient.id,
        study: study.id,
        device: device.id,
        practitioner_token: token_for(store, pu.id, GrantedScopes::full_role()).await?,
        patient_token: token_for(store, patient_user.id, GrantedScopes::patient_app()).await?,
    })
}

fn observation(f: &Fixture, i: u64) -> Value {
    let minute = i % 60;
    let hour = (i / 60) % 24;
    let day = 1 + (i / 1440) % 28;
    let when = format!("2025-02-{day:02}T{hour:02}:{minute:02}:00Z");
    let point = json!({
        "header": {"uuid": uuid::Uuid::new_v4().to_string(),
                   "schema_id": {"namespace": "omh", "name": "heart-rate", "version": "2.0"},
                   "source_creation_date_time": when, "modality": "sensed"},
        "body": {"heart_rate": {"value": 50 + i % 80, "unit": "beats/min"},
                 "effective_time_frame": {"date_time": when}}
    });
    json!({
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "https://bench.jhe.org", "value": uuid::Uuid::new_v4().to_string()}],
        "code": {"coding": [{"system": OMH_SYSTEM, "code": "omh:heart-rate:2.0"}]},
        "subject": {"reference": format!("Patient/{}", f.patient)},
        "device": {"reference": format!("Device/{}", f.device)},
        "valueAttachment": {"contentType": "application/json",
                            "data": base64::engine::general_purpose::STANDARD.encode(point.to_string())}
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(label: &str, requests: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{label:<28} {requests:>7} requests in {:>6.2}s  {:>8.1} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64().max(1e-9),
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = env_number("JHE_BENCH_OBSERVATIONS", 5000);
    let bundle_size = env_number("JHE_BENCH_BUNDLE", 500);
    let concurrency = env_number("JHE_BENCH_CONCURRENCY", 8) as usize;
    let seconds = env_number("JHE_BENCH_SECONDS", 10);

    let temp = std::env::temp_dir().join(format!("jhe_bench_{}.db", uuid::Uuid::new_v4().simple()));
    let url = std::env::var("JHE_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", temp.display()));
    let store = SeaOrmStore::connect(&url).await?;
    store.migrate().await?;
    let fixture = seed(&store).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    drop(listener);
    let origin = format!("http://{address}");
    let config = jhe::ServerConfig {
        core: Config {
            site_url: origin.clone(),
            ..Config::default()
        },
        database_url: url.clone(),
        bind: address.to_string(),
        mail: jhe::plugins::MailConfig {
            smtp: None,
            dir: std::env::temp_dir().join("jhe_bench_mail"),
        },
        ..jhe::ServerConfig::default()
    };
    let server = jhe::assemble(config, store.clone())?;
    server.prepare().await?;
    let endpoint = server.into_endpoint();
    let bind = address.to_string();
    tokio::spawn(async move {
        let _ = poem::Server::new(poem::listener::TcpListener::bind(bind))
            .run(endpoint)
            .await;
    });
    let client = reqwest::Client::builder().build()?;
    for _ in 0..100 {
        if client.get(format!("{origin}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "jhe-rs {} FHIR load bench on {} ({} observations, Bundles of {bundle_size}, concurrency {concurrency}, {seconds}s)",
        jhe_core::http::version(),
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        total
    );

    // 1. Upload through batch Bundles (as the patient's app would).
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut uploaded = 0u64;
    let mut i = 0u64;
    while i < total {
        let n = bundle_size.min(total - i);
        let entries: Vec<Value> = (i..i + n)
            .map(|k| json!({"resource": observation(&fixture, k), "request": {"method": "POST", "url": "Observation"}}))
            .collect();
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
        let t = Instant::now();
        let response = client
            .post(format!("{origin}/fhir/r5/"))
            .bearer_auth(&fixture.patient_token)
            .header("content-type", "application/fhir+json")
            .body(bundle.to_string())
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        latencies.push(t.elapsed());
        if !status.is_success() {
            bail!("upload Bundle answered {status}: {body}");
        }
        let created = body["entry"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter(|e| e["response"]["status"] == "201 Created")
                    .count()
            })
            .unwrap_or(0) as u64;
        if created != n {
            bail!("only {created} of {n} entries were created: {body}");
        }
        uploaded += created;
        i += n;
    }
    let elapsed = started.elapsed();
    report("upload (Bundles)", latencies.len(), elapsed, latencies);
    println!(
        "{:<28} {uploaded:>7} observations          {:>8.1} obs/s",
        "",
        uploaded as f64 / elapsed.as_secs_f64().max(1e-9)
    );

    // PostgreSQL plans from table statistics; autovacuum would analyze the freshly filled
    // table within a minute, so do it now rather than measure plans for an empty table.
    if !url.starts_with("sqlite") {
        use sea_orm::ConnectionTrait;
        store.connection().execute_unprepared("ANALYZE").await?;
        println!("(ANALYZE run after the upload, as autovacuum would)");
    }

    // 2. Searches and reads, bounded concurrency, bounded time.
    let ids_page: Value = client
        .get(format!(
            "{origin}/fhir/r5/Observation?patient={}&_count=100",
            fixture.patient
        ))
        .bearer_auth(&fixture.practitioner_token)
        .send()
        .await?
        .json()
        .await?;
    let ids: Vec<String> = ids_page["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        bail!("the search found nothing: {ids_page}");
    }
    let queries: Vec<(String, Option<u64>)> = vec![
        (
            format!("/FHIR/R5/Observation?patient={}&_count=20", fixture.patient),
            Some(total),
        ),
        (
            format!(
                "/FHIR/R5/Observation?patient._has:Group:member:_id={}&_count=100",
                fixture.study
            ),
            Some(total),
        ),
        (
            format!(
                "/fhir/r5/Observation?patient={}&code=https%3A%2F%2Fw3id.org%2Fopenmhealth%7Comh%3Aheart-rate%3A2.0&date=ge2025-02-02&date=lt2025-02-03&_count=50",
                fixture.patient
            ),
            None,
        ),
        (
            format!(
                "/fhir/r5/Observation?patient={}&_count=20&_page=5",
                fixture.patient
            ),
            Some(total),
        ),
        (
            format!("/fhir/r5/Patient?_has:Group:member:_id={}", fixture.study),
            Some(1),
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let origin = origin.clone();
        let token = fixture.practitioner_token.clone();
        let queries = queries.clone();
        let ids = ids.clone();
        let latencies = latencies.clone();
        let failures = failures.clone();
        workers.push(tokio::spawn(async move {
            let mut n = worker;
            while Instant::now() < deadline {
                n += 1;
                let (path, expected_total) = if n % 6 == 5 {
                    (format!("/fhir/r5/Observation/{}", ids[n % ids.len()]), None)
                } else {
                    queries[n % queries.len()].clone()
                };
                let t = Instant::now();
                let result = client
                    .get(format!("{origin}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let outcome = match result {
                    Ok(response) => {
                        let status = response.status();
                        match response.json::<Value>().await {
                            Ok(body) if status.is_success() => match expected_total {
                                Some(expected) if body["total"].as_u64() != Some(expected) => {
                                    Err(format!(
                                        "{path}: total {} instead of {expected}",
                                        body["total"]
                                    ))
                                }
                                _ => Ok(()),
                            },
                            Ok(body) => Err(format!("{path}: {status} {body}")),
                            Err(e) => Err(format!("{path}: {e}")),
                        }
                    }
                    Err(e) => Err(format!("{path}: {e}")),
                };
                let elapsed = t.elapsed();
                latencies.lock().await.push(elapsed);
                if let Err(e) = outcome {
                    failures.lock().await.push(e);
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().await);
    let requests = latencies.len();
    report("search + read (mixed)", requests, elapsed, latencies);
    // 3. Paging depth: does a deep page cost more than the first? Walk every `next` link (keyset
    //    cursor) of a patient's observations, on the FHIR API and on the Admin API, and compare
    //    the first pages with the last ones; then the same with plain page numbers (offset).
    for (label, first, next_of) in [
        (
            "FHIR next links (cursor)",
            format!(
                "{origin}/fhir/r5/Observation?patient={}&_count=20",
                fixture.patient
            ),
            "fhir",
        ),
        (
            "Admin API next links (cursor)",
            format!(
                "{origin}/api/v1/observations?patientId={}&pageSize=20",
                fixture.patient
            ),
            "api",
        ),
    ] {
        let mut url = Some(first);
        let mut timings = Vec::new();
        while let Some(current) = url.take() {
            let t = Instant::now();
            let body: Value = client
                .get(&current)
                .bearer_auth(&fixture.practitioner_token)
                .send()
                .await?
                .json()
                .await?;
            timings.push(t.elapsed());
            url = if next_of == "fhir" {
                body["link"].as_array().and_then(|links| {
                    links
                        .iter()
                        .find(|l| l["relation"] == "next")
                        .and_then(|l| l["url"].as_str().map(str::to_string))
                })
            } else {
                body["next"].as_str().map(str::to_string)
            };
        }
        let pages = timings.len();
        let mean = |d: &[Duration]| d.iter().sum::<Duration>() / (d.len().max(1) as u32);
        let head = mean(&timings[..pages.min(5)]);
        let tail = mean(&timings[pages.saturating_sub(5)..]);
        println!(
            "{label}: {pages} pages; first 5 pages {head:.2?} each, last 5 pages {tail:.2?} each"
        );
    }
    let last_page = total.div_ceil(20);
    for page in [1, last_page] {
        let t = Instant::now();
        let status = client
            .get(format!(
                "{origin}/fhir/r5/Observation?patient={}&_count=20&_page={page}",
                fixture.patient
            ))
            .bearer_auth(&fixture.practitioner_token)
            .send()
            .await?
            .status();
        if !status.is_success() {
            bail!("_page={page} answered {status}");
        }
        println!("FHIR _page={page} (offset): {:.2?}", t.elapsed());
    }

    let failures = failures.lock().await;
    let _ = std::fs::remove_file(&temp);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", temp.display()));
    }
    if !failures.is_empty() {
        bail!(
            "{} of {requests} requests failed, e.g. {}",
            failures.len(),
            failures.first().cloned().unwrap_or_default()
        );
    }
    println!("every request succeeded");
    Ok(())
}
