//! The maintained observation counts (`observation_counts`, kept by database triggers) that
//! answer `total` on the first page of an observation search: exact after every kind of write
//! (single uploads, Bundles, deletes, a patient's cascade, raw SQL), under every filter the
//! counts answer (and the date filters that fall back to a real count), after folding the
//! PostgreSQL delta rows, and under concurrent uploads of one patient — on both databases.

use std::collections::BTreeMap;

use chrono::Utc;
use jhe_core::domain::*;
use jhe_core::store::*;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::both_backends;
use crate::fhir_upload::{BP, HR, World, data_point, get, heart_rate_bytes, post};
use crate::support::{Backend, TestDb};

both_backends! {
    totals_follow_every_write => totals_follow_every_write;
    concurrent_uploads_are_counted_exactly => concurrent_uploads_are_counted_exactly;
    folding_keeps_totals => folding_keeps_totals;
    consent_fallback_counts_too => consent_fallback_counts_too;
}

async fn pairs(db: &TestDb, sql: &str) -> BTreeMap<(i64, i64), i64> {
    let conn = db.store.connection();
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            (
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                ),
                r.try_get_by_index(2).unwrap(),
            )
        })
        .collect()
}

/// The maintained counts equal a real `COUNT(*)` of `observations`, pair by pair.
pub async fn assert_counts_exact(db: &TestDb, context: &str) {
    let real = pairs(
        db,
        "SELECT subject_patient_id, codeable_concept_id, COUNT(*) FROM observations \
         GROUP BY subject_patient_id, codeable_concept_id",
    )
    .await;
    let kept = pairs(
        db,
        "SELECT subject_patient_id, codeable_concept_id, CAST(SUM(n) AS BIGINT) \
         FROM observation_counts GROUP BY subject_patient_id, codeable_concept_id \
         HAVING SUM(n) <> 0",
    )
    .await;
    assert_eq!(kept, real, "{context}: maintained counts against COUNT(*)");
}

/// Rows of `observation_counts` (one per pair on SQLite; delta rows on PostgreSQL).
pub async fn count_rows(db: &TestDb) -> i64 {
    let conn = db.store.connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) FROM observation_counts",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

async fn execute(db: &TestDb, sql: String) {
    let conn = db.store.connection();
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
}

async fn total(w: &World, token: &str, query: &str) -> u64 {
    let path = if query.is_empty() {
        "/fhir/r5/Observation?_count=1".to_string()
    } else {
        format!("/fhir/r5/Observation?_count=1&{query}")
    };
    let a = get(&w.app, &path, token).await;
    assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text);
    a.json["total"].as_u64().unwrap()
}

/// The first page's total (from the maintained counts) and the same search with a
/// `_lastUpdated` condition every row meets (a real count) both equal `expected`.
async fn assert_total(w: &World, token: &str, query: &str, expected: u64) {
    assert_eq!(
        total(w, token, query).await,
        expected,
        "{query}: maintained counts"
    );
    assert_eq!(
        total(
            w,
            token,
            format!("{query}&_lastUpdated=ge2000-01-01").trim_start_matches('&')
        )
        .await,
        expected,
        "{query}: real count"
    );
}

fn blood_pressure() -> Vec<u8> {
    serde_json::to_vec(&data_point(
        BP,
        json!({"systolic_blood_pressure": {"value": 120, "unit": "mmHg"},
               "diastolic_blood_pressure": {"value": 80, "unit": "mmHg"},
               "effective_time_frame": {"date_time": "2025-03-01T08:00:00Z"}}),
    ))
    .unwrap()
}

fn batch(resources: Vec<Value>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({"resource": r, "request": {"method": "POST", "url": "Observation"}}))
        .collect();
    json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
}

async fn totals_follow_every_write(backend: Backend) {
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let db = &w.app.db;
    let (peter, pamela) = (w.peter.id, w.pamela.id);
    let (hr, bp) = (w.concept(HR).id, w.concept(BP).id);
    let prac = w.prac_token.as_str();

    // Single uploads.
    let mut peter_ids = Vec::new();
    for i in 0..3 {
        let resource = w.observation(peter, HR, &heart_rate_bytes(60 + i, "2025-02-01T10:00:00Z"));
        let a = post(&w.app, "/fhir/r5/Observation", &w.peter_token, &resource).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        peter_ids.push(a.json["id"].as_str().unwrap().parse::<Id>().unwrap());
    }
    assert_total(&w, prac, &format!("patient={peter}"), 3).await;
    assert_counts_exact(db, "single uploads").await;

    // Bundles: 4 HR and 2 BP of Peter's, 2 HR of Pamela's.
    let mut resources: Vec<Value> = (0..4)
        .map(|i| w.observation(peter, HR, &heart_rate_bytes(70 + i, "2025-02-02T10:00:00Z")))
        .collect();
    resources.push(w.observation(peter, BP, &blood_pressure()));
    resources.push(w.observation(peter, BP, &blood_pressure()));
    let a = post(&w.app, "/fhir/r5/", &w.peter_token, &batch(resources)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let resources: Vec<Value> = (0..2)
        .map(|i| {
            w.observation(
                pamela,
                HR,
                &heart_rate_bytes(80 + i, "2025-02-03T10:00:00Z"),
            )
        })
        .collect();
    let a = post(&w.app, "/fhir/r5/", &w.pamela_token, &batch(resources)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_counts_exact(db, "bundles").await;

    // Every filter the counts answer.
    let study = w.study.id;
    assert_total(&w, prac, &format!("patient={peter}"), 9).await;
    assert_total(&w, prac, &format!("patient={peter}&code={HR}"), 7).await;
    assert_total(&w, prac, &format!("patient={peter}&code={BP}"), 2).await;
    assert_total(&w, prac, &format!("patient={peter}&code={HR},{BP}"), 9).await;
    assert_total(
        &w,
        prac,
        &format!("patient._has:Group:member:_id={study}"),
        11,
    )
    .await;
    assert_total(
        &w,
        prac,
        &format!("patient._has:Group:member:_id={study}&patient={pamela}"),
        2,
    )
    .await;
    assert_total(&w, prac, &format!("patient.organization={}", w.lab.id), 11).await;
    assert_total(&w, prac, &format!("patient.organization={}", w.other.id), 0).await;
    assert_total(&w, prac, "patient.identifier=any%7Cext-Peter", 9).await;
    assert_total(&w, prac, "", 11).await;
    assert_total(&w, &w.outsider_token, "", 0).await;
    assert_total(&w, &w.pamela_token, &format!("patient={pamela}"), 2).await;
    assert_total(&w, &w.peter_token, &format!("patient={pamela}"), 0).await;
    // Date filters need the rows (a real count).
    assert_eq!(
        total(&w, prac, &format!("patient={peter}&date=2025")).await,
        9
    );
    assert_eq!(
        total(&w, prac, &format!("patient={peter}&date=ge2025-02-02")).await,
        6
    );
    assert_eq!(
        total(&w, prac, &format!("patient={peter}&date=2024")).await,
        0
    );
    assert_eq!(
        total(&w, prac, &format!("_id={}", peter_ids[0])).await,
        1,
        "an id needs the rows"
    );

    // A deleted observation.
    assert!(s.delete_observation(peter_ids[0]).await.unwrap());
    assert_total(&w, prac, &format!("patient={peter}"), 8).await;
    assert_counts_exact(db, "delete").await;

    // Consent withdrawn: the pairs the practitioner sees change, the counts stay.
    let enrolment = s.enroll_patient(study, pamela).await.unwrap();
    s.upsert_consent(enrolment.id, hr, false, Utc::now())
        .await
        .unwrap();
    assert_total(&w, prac, &format!("patient={pamela}"), 0).await;
    assert_total(&w, prac, "", 8).await;
    assert_total(&w, &w.pamela_token, &format!("patient={pamela}"), 2).await;
    s.upsert_consent(enrolment.id, hr, true, Utc::now())
        .await
        .unwrap();
    assert_total(&w, prac, "", 10).await;

    // Raw SQL (import tools, the bench seeder): a multi-row INSERT and a change of data type.
    execute(
        db,
        format!(
            "INSERT INTO observations (subject_patient_id, codeable_concept_id, \
             value_attachment_data, content_type, status, last_updated) VALUES \
             ({pamela}, {hr}, '{{}}', 'application/json', 'final', '2025-04-01T00:00:00+00:00'), \
             ({pamela}, {hr}, '{{}}', 'application/json', 'final', '2025-04-01T00:00:00+00:00'), \
             ({peter}, {bp}, '{{}}', 'application/json', 'final', '2025-04-01T00:00:00+00:00')"
        ),
    )
    .await;
    execute(
        db,
        format!(
            "UPDATE observations SET codeable_concept_id = {bp} WHERE id = {}",
            peter_ids[1]
        ),
    )
    .await;
    // An update that keeps the pair changes nothing.
    execute(
        db,
        format!(
            "UPDATE observations SET status = 'amended' WHERE id = {}",
            peter_ids[2]
        ),
    )
    .await;
    assert_counts_exact(db, "raw SQL").await;
    assert_total(&w, prac, &format!("patient={peter}&code={HR}"), 5).await;
    assert_total(&w, prac, &format!("patient={peter}&code={BP}"), 4).await;
    assert_total(&w, prac, &format!("patient={pamela}"), 4).await;

    // Folding (PostgreSQL) changes no total and leaves one row per pair.
    let folded = s.compact_observation_counts().await.unwrap();
    if backend == Backend::Sqlite {
        assert_eq!(folded, 0, "nothing to fold on SQLite");
    }
    assert_eq!(count_rows(db).await, 3, "one row per pair");
    assert_counts_exact(db, "folded").await;
    assert_total(&w, prac, "", 13).await;

    // Deleting a patient deletes its observations by cascade, and their counts.
    assert!(s.delete_patient(pamela).await.unwrap());
    assert_counts_exact(db, "patient deleted").await;
    assert_total(&w, prac, "", 9).await;
    assert_eq!(w.stored().await, 9);
    s.compact_observation_counts().await.unwrap();
    assert_eq!(
        count_rows(db).await,
        2,
        "the deleted patient's pairs are gone"
    );
}

async fn concurrent_uploads_are_counted_exactly(backend: Backend) {
    const TASKS: usize = 8;
    const UPLOADS: usize = 20;
    let w = World::new(backend).await;
    let url = w.app.url("/fhir/r5/Observation");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // On PostgreSQL, folds run all along (as several replicas' sweepers and searches would).
    let folder = {
        let store = w.app.db.store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut folds = 0u32;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let (a, b) = tokio::join!(
                    store.compact_observation_counts(),
                    store.compact_observation_counts()
                );
                // A deadlock between two folds rolls one back whole: allowed, changes nothing.
                for r in [a, b] {
                    if r.is_ok() {
                        folds += 1;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            folds
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let client = w.app.client.clone();
        let url = url.clone();
        let token = w.peter_token.clone();
        let bodies: Vec<Vec<u8>> = (0..UPLOADS)
            .map(|i| {
                let value = i64::try_from(t * UPLOADS + i).unwrap();
                serde_json::to_vec(&w.observation(
                    w.peter.id,
                    HR,
                    &heart_rate_bytes(value, "2025-02-01T10:00:00Z"),
                ))
                .unwrap()
            })
            .collect();
        tasks.spawn(async move {
            for body in bodies {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/fhir+json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let folds = folder.await.unwrap();
    assert!(folds > 0, "the folds ran");
    let expected = u64::try_from(TASKS * UPLOADS).unwrap();
    assert_counts_exact(&w.app.db, "concurrent uploads and folds").await;
    assert_total(
        &w,
        &w.prac_token,
        &format!("patient={}", w.peter.id),
        expected,
    )
    .await;
    w.app.db.store.compact_observation_counts().await.unwrap();
    assert_eq!(count_rows(&w.app.db).await, 1);
    assert_total(
        &w,
        &w.prac_token,
        &format!("patient={}", w.peter.id),
        expected,
    )
    .await;
}

/// Store level: every statement adds a delta row on PostgreSQL; a search that reads many folds
/// them, so does the sweeper; `compact_observation_counts` folds, concurrently too, without
/// changing a total.
async fn folding_keeps_totals(backend: Backend) {
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let db = &w.app.db;
    let peter = w.peter.id;
    let one = |i: i64| NewObservation {
        id: None,
        subject_patient_id: peter,
        codeable_concept_id: w.concept(HR).id,
        data_source_id: Some(w.device.id),
        value_attachment_data: String::from_utf8(heart_rate_bytes(i, "2025-02-01T10:00:00Z"))
            .unwrap(),
        content_type: "application/json".into(),
        status: "final".into(),
        effective_start: None,
        effective_end: None,
        identifiers: Vec::new(),
    };
    // 100 statements of one row each.
    for i in 0..100 {
        s.create_observations(vec![one(i)]).await.unwrap();
    }
    let postgres = backend == Backend::Postgres;
    assert_eq!(count_rows(db).await, if postgres { 100 } else { 1 });
    // The first page reads 100 rows for one pair: it folds them.
    let query = format!("patient={peter}");
    assert_eq!(total(&w, &w.prac_token, &query).await, 100);
    assert_eq!(count_rows(db).await, 1, "the search folded the deltas");
    // A few deltas are not worth a fold.
    for i in 0..10 {
        s.create_observations(vec![one(i)]).await.unwrap();
    }
    assert_eq!(total(&w, &w.prac_token, &query).await, 110);
    assert_eq!(count_rows(db).await, if postgres { 11 } else { 1 });
    // The default server's sweeper folds them.
    let report = jhe::sweeper::sweep(s, &w.app.config, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        report.counts_folded,
        u64::from(postgres),
        "one pair folded into one row"
    );
    assert_eq!(count_rows(db).await, 1);
    assert_eq!(
        s.compact_observation_counts().await.unwrap(),
        0,
        "nothing left to fold"
    );
    // Folds racing each other and the writes.
    let writes = async {
        for i in 0..30 {
            s.create_observations(vec![one(i), one(i + 1)])
                .await
                .unwrap();
        }
    };
    let folds = async {
        for _ in 0..10 {
            let _ = tokio::join!(
                s.compact_observation_counts(),
                s.compact_observation_counts(),
                s.compact_observation_counts()
            );
        }
    };
    tokio::join!(writes, folds);
    assert_counts_exact(db, "racing folds").await;
    assert_eq!(total(&w, &w.prac_token, &query).await, 170);
    s.compact_observation_counts().await.unwrap();
    assert_eq!(count_rows(db).await, 1);
    // Deleting everything leaves no row after a fold.
    execute(
        db,
        format!("DELETE FROM observations WHERE subject_patient_id = {peter}"),
    )
    .await;
    s.compact_observation_counts().await.unwrap();
    assert_eq!(count_rows(db).await, 0);
    assert_eq!(total(&w, &w.prac_token, &query).await, 0);
}

/// Past 2,000 consented pairs the consent rule is a correlated `EXISTS` on
/// `"observations"."subject_patient_id"` / `"codeable_concept_id"`: the same condition applies to
/// the counts (declined and unconsented pairs stay out of the total).
async fn consent_fallback_counts_too(backend: Backend) {
    const EXTRA: usize = 115; // × 18 requested codes: over 2,000 consented pairs
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let db = &w.app.db;
    let (hr, bp) = (w.concept(HR).id, w.concept(BP).id);
    let mut extra = Vec::new();
    for i in 0..EXTRA {
        let p = crate::store_crud::patient(s, None, &format!("X{i:03}")).await;
        s.add_patient_organization(p.id, w.lab.id).await.unwrap();
        s.enroll_patient(w.study.id, p.id).await.unwrap();
        extra.push(p.id);
    }
    let first = extra[0];
    execute(
        db,
        format!(
            "INSERT INTO study_patient_scope_consents \
             (study_patient_id, scope_code_id, consented, consented_time) \
             SELECT sp.id, ssr.scope_code_id, TRUE, '2025-01-01T00:00:00+00:00' \
             FROM study_patients sp CROSS JOIN study_scope_requests ssr \
             WHERE sp.study_id = {study} AND ssr.study_id = {study} AND sp.patient_id >= {first}",
            study = w.study.id
        ),
    )
    .await;
    // Not enrolled: never visible to the practitioner.
    let outside = crate::store_crud::patient(s, None, "Outside").await;
    s.add_patient_organization(outside.id, w.lab.id)
        .await
        .unwrap();
    let row = |patient: Id, concept: Id| {
        format!(
            "({patient}, {concept}, '{{}}', 'application/json', 'final', \
             '2025-04-01T00:00:00+00:00')"
        )
    };
    let mut values: Vec<String> = extra.iter().map(|p| row(*p, hr)).collect();
    values.extend((0..5).map(|_| row(w.peter.id, hr)));
    values.extend((0..2).map(|_| row(w.pamela.id, hr)));
    values.extend((0..3).map(|_| row(w.pamela.id, bp))); // declined
    values.extend((0..4).map(|_| row(outside.id, hr)));
    execute(
        db,
        format!(
            "INSERT INTO observations (subject_patient_id, codeable_concept_id, \
             value_attachment_data, content_type, status, last_updated) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
    assert_counts_exact(db, "fallback fixture").await;
    let prac = w.prac_token.as_str();
    let visible = u64::try_from(EXTRA).unwrap() + 5 + 2;
    assert_total(&w, prac, "", visible).await;
    assert_total(&w, prac, &format!("code={HR}"), visible).await;
    assert_total(&w, prac, &format!("code={BP}"), 0).await;
    assert_total(
        &w,
        prac,
        &format!("patient._has:Group:member:_id={}", w.study.id),
        visible,
    )
    .await;
    assert_total(&w, prac, &format!("patient={}", w.pamela.id), 2).await;
    assert_total(&w, prac, &format!("patient={}", outside.id), 0).await;
    assert_eq!(w.stored().await, visible + 3 + 4);
}
