//! HTTP load bench: boots the real server (the default assembly) on a loopback port, on SQLite
//! and on PostgreSQL, seeds one consenting patient with 10k / 100k / 1M observations (multi-row
//! INSERTs, with a progress bar) and 1,000 patients visible to the practitioner, and drives each
//! workload at fixed concurrency for a fixed time with an in-process async client (reqwest).
//! Prints a table (requests/s, items/s, p50/p90/p99 latency, RSS) plus the raw multi-row INSERT
//! rate measured while seeding, and writes the rows as JSON to `target/bench/http_load.json`.
//! Fails if any request did not answer as expected.
//!
//! ```text
//! cargo bench --bench http_load
//! JHE_BENCH_SIZES=10000,100000 JHE_BENCH_BACKENDS=postgres cargo bench --bench http_load
//! ```
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `JHE_BENCH_BACKENDS` | `sqlite,postgres` | which databases to run on |
//! | `JHE_BENCH_POSTGRES_URL` | `postgres://postgres@127.0.0.1:5432/postgres` | server to create a scratch database `jhe_bench_…` on (dropped at the end) |
//! | `JHE_BENCH_SIZES` | `10000,100000,1000000` | observations of the patient, grown in steps |
//! | `JHE_BENCH_SECONDS` | `5` | duration of each workload |
//! | `JHE_BENCH_CONCURRENCY` | `8` | requests in flight (Bundles: a quarter of it) |
//! | `JHE_BENCH_TOKEN_CACHE_SECS` | `5` | the server's `JHE_TOKEN_CACHE_SECS` (`0` = no token cache) |
//! | `JHE_BENCH_AUDIT_SINK` | `database` | the server's `JHE_AUDIT_SINK` (`database`, `ndjson` or `none`) |
//! | `JHE_BENCH_WORKLOADS` | all | comma-separated parts of workload names to run (e.g. `upload,patients`) |
//!
//! On PostgreSQL the plan of the keyset page query is printed at each size
//! (`EXPLAIN (ANALYZE, BUFFERS)`, the query shape of `jhe-plugins/src/store/access.rs`).
//! The server runs in a child process (this bench binary started again with
//! `JHE_BENCH_SERVE_URL` / `JHE_BENCH_SERVE_BIND`), so the RSS column is the server's alone and
//! a profiler can be attached to it (`perf record -p <pid>`; the pid is printed).

#![allow(clippy::indexing_slicing, clippy::string_slice)] // bench code, not served

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use jhe_core::Config;
use jhe_core::domain::*;
use jhe_core::store::*;
use jhe_plugins::SeaOrmStore;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const CODE: &str = "omh:heart-rate:2.0";
/// Rows per seeding INSERT.
const SEED_CHUNK: u64 = 1000;
/// Patients visible to the practitioner for the admin list.
const LIST_PATIENTS: u64 = 1000;
/// Process id of the server child (0 before it starts).
static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Whether the workload `name` is selected by `JHE_BENCH_WORKLOADS` (all when unset).
fn wanted(name: &str) -> bool {
    let selected = env_list("JHE_BENCH_WORKLOADS", "");
    selected.is_empty()
        || selected
            .iter()
            .any(|part| name.to_lowercase().contains(&part.to_lowercase()))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

struct Fixture {
    org: Id,
    patient: Id,
    concept: Id,
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
            expires: chrono::Utc::now() + chrono::Duration::hours(6),
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
    let concept = match store.find_concept(OMH_SYSTEM, CODE).await? {
        Some(c) => c,
        None => {
            store
                .create_concept(NewCodeableConcept {
                    id: None,
                    coding_system: OMH_SYSTEM.into(),
                    coding_code: CODE.into(),
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
    // More patients in the organisation, for the admin list (1,000 visible in all).
    for i in 1..LIST_PATIENTS {
        let p = store
            .create_patient(NewPatient {
                id: None,
                jhe_user_id: None,
                identifier: Some(format!("bench-{tag}-{i}")),
                name_family: format!("Family{i}"),
                name_given: "Given".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).context("date")?,
                telecom_phone: None,
            })
            .await?;
        store.add_patient_organization(p.id, org.id).await?;
    }
    Ok(Fixture {
        org: org.id,
        patient: patient.id,
        concept: concept.id,
        device: device.id,
        practitioner_token: token_for(store, pu.id, GrantedScopes::full_role()).await?,
        patient_token: token_for(store, patient_user.id, GrantedScopes::patient_app()).await?,
    })
}

fn payload(i: u64, when: &str) -> String {
    json!({
        "header": {"uuid": uuid::Uuid::new_v4().to_string(),
                   "schema_id": {"namespace": "omh", "name": "heart-rate", "version": "2.0"},
                   "source_creation_date_time": when, "modality": "sensed"},
        "body": {"heart_rate": {"value": 50 + i % 80, "unit": "beats/min"},
                 "effective_time_frame": {"date_time": when}}
    })
    .to_string()
}

fn observation(f: &Fixture, i: u64) -> Value {
    let minute = i % 60;
    let hour = (i / 60) % 24;
    let day = 1 + (i / 1440) % 28;
    let when = format!("2026-02-{day:02}T{hour:02}:{minute:02}:00Z");
    json!({
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "https://bench.jhe.org", "value": uuid::Uuid::new_v4().to_string()}],
        "code": {"coding": [{"system": OMH_SYSTEM, "code": CODE}]},
        "subject": {"reference": format!("Patient/{}", f.patient)},
        "device": {"reference": format!("Device/{}", f.device)},
        "valueAttachment": {"contentType": "application/json",
                            "data": base64::engine::general_purpose::STANDARD.encode(payload(i, &when))}
    })
}

/// Grows the patient's observations from `from` to `to` with multi-row INSERTs (bound values,
/// as the store writes them); returns the rows/s of those INSERTs (the raw reference rate).
async fn grow(store: &SeaOrmStore, f: &Fixture, from: u64, to: u64) -> anyhow::Result<f64> {
    let db = store.connection();
    let backend = db.get_database_backend();
    let base = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")?.to_utc();
    let started = Instant::now();
    let mut done = from;
    while done < to {
        let n = SEED_CHUNK.min(to - done);
        let mut insert = Query::insert();
        insert.into_table(Alias::new("observations")).columns([
            Alias::new("subject_patient_id"),
            Alias::new("codeable_concept_id"),
            Alias::new("data_source_id"),
            Alias::new("value_attachment_data"),
            Alias::new("content_type"),
            Alias::new("status"),
            Alias::new("effective_start"),
            Alias::new("last_updated"),
        ]);
        for i in done..done + n {
            let at = base + chrono::Duration::seconds(i64::try_from(i)?);
            insert.values_panic([
                f.patient.into(),
                f.concept.into(),
                f.device.into(),
                payload(i, &at.to_rfc3339()).into(),
                "application/json".into(),
                "final".into(),
                at.into(),
                at.into(),
            ]);
        }
        db.execute(&insert).await?;
        let before = (done - from) * 40 / (to - from).max(1);
        done += n;
        let width = 40;
        if (done - from) * 40 / (to - from).max(1) == before && done < to {
            continue;
        }
        let filled = usize::try_from((done - from) * width / (to - from).max(1))?;
        print!(
            "\r  seeding [{}{}] {done}/{to}",
            "#".repeat(filled),
            " ".repeat(usize::try_from(width)? - filled)
        );
        let _ = std::io::stdout().flush();
    }
    let rate = (to - from) as f64 / started.elapsed().as_secs_f64().max(1e-9);
    println!("  ({rate:.0} rows/s)");
    if backend == sea_orm::DbBackend::Postgres {
        // The INSERTs left one delta row of `observation_counts` each (its triggers count them);
        // the server's sweeper (or the first page's count) would fold them: do it now, so the
        // first page is measured as it runs in steady state.
        store.compact_observation_counts().await?;
        // Autovacuum would analyze the freshly filled tables (observations, the 1,000 patients
        // and their links) within a minute; do it now rather than measure plans made for
        // empty tables.
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    Ok(rate)
}

/// A keyset cursor `depth` rows into the patient's observations (newest first).
async fn cursor_at(
    store: &SeaOrmStore,
    f: &Fixture,
    depth: u64,
    total: u64,
) -> anyhow::Result<String> {
    let db = store.connection();
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            if backend == sea_orm::DbBackend::Postgres {
                "SELECT last_updated, id FROM observations WHERE subject_patient_id = $1 \
                 ORDER BY last_updated DESC, id DESC LIMIT 1 OFFSET $2"
            } else {
                "SELECT last_updated, id FROM observations WHERE subject_patient_id = ? \
                 ORDER BY last_updated DESC, id DESC LIMIT 1 OFFSET ?"
            },
            [f.patient.into(), i64::try_from(depth)?.into()],
        ))
        .await?
        .context("no row at that depth")?;
    let at: chrono::DateTime<chrono::Utc> = row.try_get_by_index(0)?;
    let id: i64 = row.try_get_by_index(1)?;
    let cursor = KeysetCursor {
        last_updated: at,
        id,
        total: Some(total),
    };
    cursor.to_token().context("cursor")
}

/// Prints `EXPLAIN (ANALYZE, BUFFERS)` of a keyset page of the consented search (PostgreSQL).
async fn explain(store: &SeaOrmStore, f: &Fixture, token: &str) -> anyhow::Result<()> {
    let cursor = KeysetCursor::parse(token).context("cursor")?;
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM observations \
         WHERE subject_patient_id IN ({p}) AND codeable_concept_id IN ({c}) \
         AND subject_patient_id = {p} \
         AND (last_updated, id) < ('{at}'::timestamptz, {id}) \
         ORDER BY last_updated DESC, id DESC LIMIT 101",
        p = f.patient,
        c = f.concept,
        at = cursor.last_updated.to_rfc3339(),
        id = cursor.id,
    );
    let rows = store
        .connection()
        .query_all_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await?;
    println!("  plan of a deep keyset page:");
    for row in rows {
        let line: String = row.try_get_by_index(0)?;
        println!("    {line}");
    }
    // The first page's total: the maintained counts of the consented pairs
    // (`jhe-plugins/src/store/observations.rs`, `total_from_counts`).
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT CAST(COALESCE(SUM(observations.n), 0) AS BIGINT) \
         FROM observation_counts AS observations \
         WHERE subject_patient_id IN ({p}) AND codeable_concept_id IN ({c}) \
         AND subject_patient_id = {p}",
        p = f.patient,
        c = f.concept,
    );
    let rows = store
        .connection()
        .query_all_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await?;
    println!("  plan of the first page's total:");
    for row in rows {
        let line: String = row.try_get_by_index(0)?;
        println!("    {line}");
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Resident set size of the server process in MB (of this process when no child runs).
fn rss_mb() -> f64 {
    let pid = SERVER_PID.load(Ordering::Relaxed);
    let path = if pid == 0 {
        "/proc/self/status".to_string()
    } else {
        format!("/proc/{pid}/status")
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Runs `request(n)` (returning the items it handled) from `concurrency` tasks for `seconds`.
/// Starts each workload on a quiet database: the audit trail of the previous workload is
/// written (the row count of `audit_events` holds still for 300 ms, at most 60 s), its
/// autovacuum is done and a checkpoint taken (PostgreSQL; SQLite: a WAL checkpoint), so that
/// no workload pays for the previous one's writes (a patient list records 100 events).
async fn settle(store: &SeaOrmStore) -> anyhow::Result<()> {
    let db = store.connection();
    let count = || async {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM audit_events",
            ))
            .await?
            .context("no count")?;
        anyhow::Ok(row.try_get_by_index::<i64>(0)?)
    };
    let started = Instant::now();
    let mut last = count().await?;
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = count().await?;
        if now == last {
            break;
        }
        last = now;
    }
    // Nor for its autovacuum or its dirty pages (PostgreSQL), or its WAL (SQLite).
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        while started.elapsed() < Duration::from_secs(120) {
            let busy = db
                .query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
                ))
                .await?
                .context("no count")?
                .try_get_by_index::<i64>(0)?;
            if busy == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        db.execute_unprepared("CHECKPOINT").await?;
    } else {
        db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
            .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn drive<F, Fut>(
    store: &SeaOrmStore,
    backend: &str,
    size: u64,
    workload: &str,
    concurrency: usize,
    seconds: u64,
    request: F,
) -> anyhow::Result<Value>
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, String>> + Send,
{
    if !wanted(workload) {
        return Ok(Value::Null);
    }
    settle(store).await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counter = Arc::new(AtomicU64::new(0));
    let items = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (request, counter, items) = (request.clone(), counter.clone(), items.clone());
        let (latencies, failures) = (latencies.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match request(n).await {
                    Ok(k) => {
                        items.fetch_add(k, Ordering::Relaxed);
                    }
                    Err(e) => failures.lock().await.push(e),
                }
                mine.push(t.elapsed());
            }
            latencies.lock().await.extend(mine);
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut latencies = std::mem::take(&mut *latencies.lock().await);
    latencies.sort();
    let failures = failures.lock().await;
    if let Some(first) = failures.first() {
        bail!(
            "{workload}: {} requests failed, e.g. {first}",
            failures.len()
        );
    }
    let row = json!({
        "backend": backend,
        "observations": size,
        "workload": workload,
        "concurrency": concurrency,
        "requests": latencies.len(),
        "req_per_s": latencies.len() as f64 / elapsed,
        "items_per_s": items.load(Ordering::Relaxed) as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50),
        "p90_ms": percentile(&latencies, 0.90),
        "p99_ms": percentile(&latencies, 0.99),
        "rss_mb": rss_mb(),
    });
    println!(
        "{:<10} {:>8} {:<34} {:>3} {:>9.1} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>7.0}",
        backend,
        size,
        workload,
        concurrency,
        row["req_per_s"].as_f64().unwrap_or(0.0),
        row["items_per_s"].as_f64().unwrap_or(0.0),
        row["p50_ms"].as_f64().unwrap_or(0.0),
        row["p90_ms"].as_f64().unwrap_or(0.0),
        row["p99_ms"].as_f64().unwrap_or(0.0),
        row["rss_mb"].as_f64().unwrap_or(0.0),
    );
    Ok(row)
}

fn header() {
    println!(
        "{:<10} {:>8} {:<34} {:>3} {:>9} {:>10} {:>8} {:>8} {:>8} {:>7}",
        "backend",
        "obs",
        "workload",
        "c",
        "req/s",
        "items/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "RSS MB"
    );
}

/// GETs `url` and counts the items of the answer (`entry` of a Bundle, `results` of a page).
async fn get_items(client: &reqwest::Client, url: &str, token: &str) -> Result<u64, String> {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {body}"));
    }
    let n = body["entry"]
        .as_array()
        .or_else(|| body["results"].as_array())
        .map_or(1, Vec::len);
    Ok(n as u64)
}

async fn post_json(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: String,
    expect_created: u64,
) -> Result<u64, String> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {body}"));
    }
    let created = match body["entry"].as_array() {
        Some(entries) => entries
            .iter()
            .filter(|e| e["response"]["status"] == "201 Created")
            .count() as u64,
        None => 1,
    };
    if created != expect_created {
        return Err(format!("{url}: {created} of {expect_created} created"));
    }
    Ok(created)
}

/// The patient's observation count, through FHIR `_summary=count`.
async fn count(client: &reqwest::Client, origin: &str, f: &Fixture) -> anyhow::Result<u64> {
    let body: Value = client
        .get(format!(
            "{origin}/fhir/r5/Observation?patient={}&_summary=count",
            f.patient
        ))
        .bearer_auth(&f.practitioner_token)
        .send()
        .await?
        .json()
        .await?;
    body["total"].as_u64().context("total")
}

/// The server configuration the bench runs with.
fn server_config(url: &str, bind: &str) -> jhe::ServerConfig {
    jhe::ServerConfig {
        core: Config {
            site_url: format!("http://{bind}"),
            // The bearer-token cache, as a single-replica deployment would run it.
            token_cache_secs: std::env::var("JHE_BENCH_TOKEN_CACHE_SECS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(5),
            audit: {
                let sinks = env_list("JHE_BENCH_AUDIT_SINK", "database");
                jhe_core::config::AuditConfig {
                    database: sinks.iter().any(|s| s == "database"),
                    ndjson: sinks.iter().any(|s| s == "ndjson"),
                    file: std::env::temp_dir().join("jhe_bench_audit.ndjson"),
                }
            },
            ..Config::default()
        },
        database_url: url.to_string(),
        bind: bind.to_string(),
        mail: jhe::plugins::MailConfig {
            smtp: None,
            dir: std::env::temp_dir().join("jhe_bench_mail"),
        },
        ..jhe::ServerConfig::default()
    }
}

/// The child process: serves the default assembly on `bind` until killed.
async fn serve_child(url: &str, bind: &str) -> anyhow::Result<()> {
    let store = SeaOrmStore::connect(url).await?;
    let server = jhe::assemble(server_config(url, bind), store)?;
    server.prepare().await?;
    poem::Server::new(poem::listener::TcpListener::bind(bind.to_string()))
        .run(server.into_endpoint())
        .await?;
    Ok(())
}

/// Migrates the database, starts the server in a child process and waits until it answers.
async fn start_server(url: &str) -> anyhow::Result<(SeaOrmStore, String, tokio::process::Child)> {
    let store = SeaOrmStore::connect(url).await?;
    store.migrate().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    drop(listener);
    let origin = format!("http://{address}");
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .env("JHE_BENCH_SERVE_URL", url)
        .env("JHE_BENCH_SERVE_BIND", address.to_string())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    SERVER_PID.store(pid, Ordering::Relaxed);
    println!("server process {pid} on {origin}");
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client.get(format!("{origin}/health")).send().await.is_ok() {
            return Ok((store, origin, child));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the server child did not answer /health within 10 s")
}

async fn run_backend(
    backend: &str,
    url: &str,
    sizes: &[u64],
    concurrency: usize,
    seconds: u64,
    rows: &mut Vec<Value>,
    reference: &mut Vec<Value>,
) -> anyhow::Result<()> {
    let (store, origin, mut server) = start_server(url).await?;
    println!("\n== {backend}: seeding the fixture and {LIST_PATIENTS} patients");
    let f = Arc::new(seed(&store).await?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let mut have = 0u64;
    for (step, &size) in sizes.iter().enumerate() {
        println!("\n== {backend}: {size} observations");
        let rate = grow(&store, &f, have, size).await?;
        reference.push(json!({"backend": backend, "observations": size,
                              "raw_multi_row_insert_rows_per_s": rate}));
        have = size;
        // Uploads add rows; count what is there now.
        let total = count(&client, &origin, &f).await?;
        let deep = cursor_at(&store, &f, total.saturating_sub(150), total).await?;
        if backend == "postgres" {
            explain(&store, &f, &deep).await?;
        }
        header();
        let run =
            |workload: &'static str, c: usize, make: Arc<dyn Fn(u64) -> String + Send + Sync>| {
                let (client, token) = (client.clone(), f.practitioner_token.clone());
                let store = store.clone();
                async move {
                    drive(&store, backend, size, workload, c, seconds, move |n| {
                        let (client, token, url) = (client.clone(), token.clone(), make(n));
                        async move { get_items(&client, &url, &token).await }
                    })
                    .await
                }
            };
        let o = origin.clone();
        rows.push(
            run(
                "GET /health",
                concurrency,
                Arc::new(move |_| format!("{o}/health")),
            )
            .await?,
        );
        let (o, p) = (origin.clone(), f.patient);
        rows.push(
            run(
                "FHIR search, first page (100)",
                concurrency,
                Arc::new(move |_| format!("{o}/fhir/r5/Observation?patient={p}&_count=100")),
            )
            .await?,
        );
        let (o, d) = (origin.clone(), deep.clone());
        rows.push(
            run(
                "FHIR search, last page, next link",
                concurrency,
                Arc::new(move |_| {
                    format!("{o}/fhir/r5/Observation?patient={p}&_count=100&_cursor={d}")
                }),
            )
            .await?,
        );
        let o = origin.clone();
        let last_page = total.div_ceil(100);
        rows.push(
            run(
                "FHIR search, last page, _page",
                concurrency,
                Arc::new(move |_| {
                    format!("{o}/fhir/r5/Observation?patient={p}&_count=100&_page={last_page}")
                }),
            )
            .await?,
        );
        let (o, d) = (origin.clone(), deep.clone());
        rows.push(
            run(
                "Admin observations, last page, next",
                concurrency,
                Arc::new(move |_| {
                    format!("{o}/api/v1/observations?patientId={p}&pageSize=100&cursor={d}")
                }),
            )
            .await?,
        );
        if step == 0 {
            let (o, org) = (origin.clone(), f.org);
            rows.push(
                run(
                    "Admin patients (100 of 1000)",
                    concurrency,
                    Arc::new(move |n| {
                        format!(
                            "{o}/api/v1/patients?organizationId={org}&pageSize=100&page={}",
                            1 + n % 10
                        )
                    }),
                )
                .await?,
            );
            let (client2, o, fx) = (client.clone(), origin.clone(), f.clone());
            rows.push(
                drive(
                    &store,
                    backend,
                    size,
                    "FHIR upload, single",
                    concurrency,
                    seconds,
                    move |n| {
                        let (client, url, token) = (
                            client2.clone(),
                            format!("{o}/fhir/r5/Observation"),
                            fx.patient_token.clone(),
                        );
                        let body = observation(&fx, n).to_string();
                        async move { post_json(&client, &url, &token, body, 1).await }
                    },
                )
                .await?,
            );
            let (client2, o, fx) = (client.clone(), origin.clone(), f.clone());
            rows.push(
                drive(
                    &store,
                    backend,
                    size,
                    "FHIR upload, 100-entry Bundle",
                    (concurrency / 4).max(1),
                    seconds,
                    move |n| {
                        let entries: Vec<Value> = (0..100)
                            .map(|k| {
                                json!({"resource": observation(&fx, n * 100 + k),
                                            "request": {"method": "POST", "url": "Observation"}})
                            })
                            .collect();
                        let body =
                            json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
                                .to_string();
                        let (client, url, token) = (
                            client2.clone(),
                            format!("{o}/fhir/r5/"),
                            fx.patient_token.clone(),
                        );
                        async move { post_json(&client, &url, &token, body, 100).await }
                    },
                )
                .await?,
            );
            // The uploads' rows count towards the next size.
            have = count(&client, &origin, &f).await?;
        }
    }
    let end_rss = rss_mb();
    println!("\n{backend}: server RSS after the run: {end_rss:.0} MB");
    reference.push(json!({"backend": backend, "server_rss_mb_end": end_rss}));
    server.kill().await.ok();
    SERVER_PID.store(0, Ordering::Relaxed);
    store.connection().clone().close().await.ok();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // As the default server does, before any thread starts (the child is the server).
    jhe::memory::limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench_main())
}

async fn bench_main() -> anyhow::Result<()> {
    if let (Ok(url), Ok(bind)) = (
        std::env::var("JHE_BENCH_SERVE_URL"),
        std::env::var("JHE_BENCH_SERVE_BIND"),
    ) {
        return serve_child(&url, &bind).await;
    }
    let backends = env_list("JHE_BENCH_BACKENDS", "sqlite,postgres");
    let mut sizes: Vec<u64> = env_list("JHE_BENCH_SIZES", "10000,100000,1000000")
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    sizes.sort_unstable();
    let concurrency = usize::try_from(env_number("JHE_BENCH_CONCURRENCY", 8))?;
    let seconds = env_number("JHE_BENCH_SECONDS", 5);
    println!(
        "jhe-rs {} HTTP load bench: sizes {sizes:?}, concurrency {concurrency}, {seconds}s per workload",
        jhe_core::http::version()
    );
    let mut rows = Vec::new();
    let mut reference = Vec::new();
    for backend in &backends {
        match backend.as_str() {
            "sqlite" => {
                let path = std::env::temp_dir()
                    .join(format!("jhe_bench_{}.db", uuid::Uuid::new_v4().simple()));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let result = run_backend(
                    "sqlite",
                    &url,
                    &sizes,
                    concurrency,
                    seconds,
                    &mut rows,
                    &mut reference,
                )
                .await;
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                result?;
            }
            "postgres" => {
                let admin_url = std::env::var("JHE_BENCH_POSTGRES_URL")
                    .ok()
                    .filter(|u| !u.trim().is_empty())
                    .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let name = format!("jhe_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(&admin_url).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                // The scratch database on the same server, with the same parameters.
                let (base, params) = admin_url
                    .split_once('?')
                    .map_or((admin_url.as_str(), ""), |(b, p)| (b, p));
                let url = match base.rsplit_once('/') {
                    Some((server, _)) if params.is_empty() => format!("{server}/{name}"),
                    Some((server, _)) => format!("{server}/{name}?{params}"),
                    None => bail!("JHE_BENCH_POSTGRES_URL has no database part"),
                };
                let result = run_backend(
                    "postgres",
                    &url,
                    &sizes,
                    concurrency,
                    seconds,
                    &mut rows,
                    &mut reference,
                )
                .await;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                result?;
            }
            other => bail!("unknown backend {other}: use sqlite and/or postgres"),
        }
    }
    println!("\nraw multi-row INSERT reference (rows/s, while seeding):");
    for r in reference.iter().filter(|r| r.get("observations").is_some()) {
        println!(
            "  {:<10} up to {:>8}: {:>9.0}",
            r["backend"].as_str().unwrap_or(""),
            r["observations"],
            r["raw_multi_row_insert_rows_per_s"].as_f64().unwrap_or(0.0)
        );
    }
    for r in reference
        .iter()
        .filter(|r| r.get("server_rss_mb_end").is_some())
    {
        println!(
            "server RSS after the {} run: {:.0} MB",
            r["backend"].as_str().unwrap_or(""),
            r["server_rss_mb_end"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "RSS of this (client) process at the end: {:.0} MB",
        rss_mb()
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("http_load.json");
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&json!({
            "version": jhe_core::http::version(),
            "concurrency": concurrency,
            "seconds": seconds,
            "rows": rows.iter().filter(|r| !r.is_null()).collect::<Vec<_>>(),
            "raw_insert_reference": reference,
            "client_rss_mb_end": rss_mb(),
        }))?,
    )?;
    println!("written to {}", out.display());
    Ok(())
}
