//! FHIR Bulk Data export: kick-off (`202` + `Content-Location`), status polling, NDJSON files
//! for the requester only, line counts equal to what a search returns for the same caller,
//! nothing for a practitioner of another organisation, `_type`, `_since`, and cancellation.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::seeded::{MANAGER, OTHER_ORG, PATIENT};
use crate::support::{Backend, TestApp, bearer_for, bearer_get, plain_client, spawn_seeded_with};

async fn kick_off(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    plain_client()
        .get(app.url(path))
        .bearer_auth(token)
        .header("Prefer", "respond-async")
        .header("Accept", "application/fhir+json")
        .send()
        .await
        .unwrap()
}

/// Polls the status URL until the manifest is ready.
async fn manifest(status_url: &str, token: &str) -> Value {
    let start = Instant::now();
    loop {
        let response = plain_client()
            .get(status_url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::OK => return response.json().await.unwrap(),
            StatusCode::ACCEPTED => {
                assert!(response.headers().contains_key("x-progress"));
            }
            other => panic!("status {other}: {}", response.text().await.unwrap()),
        }
        assert!(start.elapsed() < Duration::from_secs(60), "export too slow");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn export(app: &TestApp, path: &str, token: &str) -> Value {
    let response = kick_off(app, path, token).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let location = response.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.contains("/fhir/r5/$export-status/"), "{location}");
    manifest(&location, token).await
}

/// `type` → (count, url) of a manifest.
fn files(manifest: &Value) -> Vec<(String, u64, String)> {
    manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().to_string(),
                o["count"].as_u64().unwrap(),
                o["url"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn count_of(manifest: &Value, type_: &str) -> u64 {
    files(manifest)
        .iter()
        .find(|(t, _, _)| t == type_)
        .map_or(0, |(_, c, _)| *c)
}

async fn lines(url: &str, token: &str) -> (u16, Vec<Value>) {
    let response = plain_client()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert_eq!(
        response.headers()["content-type"],
        "application/fhir+ndjson"
    );
    let text = response.text().await.unwrap();
    (
        status,
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

async fn total(app: &TestApp, path: &str, token: &str) -> u64 {
    let response = bearer_get(app, path, token).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["total"]
        .as_u64()
        .unwrap()
}

async fn bulk_export(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("jhe_exports_{}", uuid::Uuid::new_v4().simple()));
    let dir_for_config = dir.clone();
    let app = spawn_seeded_with(backend, move |c| c.export.dir = dir_for_config).await;
    let manager = bearer_for(&app, MANAGER).await;
    let patient = bearer_for(&app, PATIENT).await;
    let other = bearer_for(&app, OTHER_ORG).await;

    // A study export by its manager: what the same caller's searches return.
    let m = export(&app, "/fhir/r5/Group/30001/$export", &manager).await;
    assert_eq!(m["requiresAccessToken"], true);
    assert!(
        m["request"]
            .as_str()
            .unwrap()
            .ends_with("/fhir/r5/Group/30001/$export")
    );
    let observations = total(
        &app,
        "/fhir/r5/Observation?patient._has:Group:member:_id=30001&_count=1",
        &manager,
    )
    .await;
    assert!(observations > 0);
    assert_eq!(count_of(&m, "Observation"), observations);
    let patients = total(
        &app,
        "/fhir/r5/Patient?_has:Group:member:_id=30001&_count=1",
        &manager,
    )
    .await;
    assert_eq!(count_of(&m, "Patient"), patients);
    for (type_, count, url) in files(&m) {
        let (status, rows) = lines(&url, &manager).await;
        assert_eq!(status, 200);
        assert_eq!(rows.len() as u64, count, "{type_}");
        assert!(rows.iter().all(|r| r["resourceType"] == type_.as_str()));
        // The files are the requester's only.
        assert_eq!(lines(&url, &other).await.0, 404);
        assert_eq!(lines(&url, &patient).await.0, 404);
    }
    assert!(count_of(&m, "Consent") > 0);

    // Another organisation's practitioner: the study is refused, and a Patient export holds
    // nothing of its patients.
    let response = kick_off(&app, "/fhir/r5/Group/30001/$export", &other).await;
    assert_eq!(response.status(), 403);
    let theirs = export(&app, "/fhir/r5/Patient/$export", &other).await;
    assert_eq!(
        count_of(&theirs, "Observation"),
        total(&app, "/fhir/r5/Observation?_count=1", &other).await
    );
    for (_, _, url) in files(&theirs) {
        let (_, rows) = lines(&url, &other).await;
        assert!(
            rows.iter()
                .all(|r| r["subject"]["reference"] != "Patient/40001" && r["id"] != "40001"),
            "{rows:?}"
        );
    }

    // The patient's own export, restricted by _type.
    let own = export(
        &app,
        "/fhir/r5/Patient/$export?_type=Observation,Consent",
        &patient,
    )
    .await;
    assert_eq!(count_of(&own, "Patient"), 0);
    assert_eq!(
        count_of(&own, "Observation"),
        total(&app, "/fhir/r5/Observation?_count=1", &patient).await
    );
    assert_eq!(
        count_of(&own, "Consent"),
        total(&app, "/fhir/r5/Consent", &patient).await
    );

    // _since in the future: nothing changed since then.
    let later = export(
        &app,
        "/fhir/r5/Patient/$export?_type=Observation&_since=2999-01-01T00:00:00Z",
        &patient,
    )
    .await;
    assert_eq!(files(&later), Vec::new());

    // Bad parameters.
    assert_eq!(
        kick_off(&app, "/fhir/r5/Patient/$export?_type=Encounter", &patient)
            .await
            .status(),
        400
    );
    assert_eq!(
        kick_off(&app, "/fhir/r5/Group/99999/$export", &manager)
            .await
            .status(),
        404
    );

    // Cancel (delete): the status and the files are gone.
    let response = kick_off(&app, "/fhir/r5/Group/30001/$export", &manager).await;
    let location = response.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_string();
    let job = location.rsplit('/').next().unwrap().to_string();
    let other_cancel = plain_client()
        .delete(&location)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(other_cancel.status(), 404);
    let cancel = plain_client()
        .delete(&location)
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 202);
    let after = plain_client()
        .get(&location)
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!dir.join(&job).exists());
    // A finished one's files are deleted with it.
    let m = export(&app, "/fhir/r5/Group/30001/$export", &manager).await;
    let url = files(&m)[0].2.clone();
    let status_url = url.replace("$export-file", "$export-status");
    let status_url = status_url.rsplit_once('/').unwrap().0.to_string();
    let cancel = plain_client()
        .delete(&status_url)
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 202);
    assert_eq!(lines(&url, &manager).await.0, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn expired_jobs_are_gone(backend: Backend) {
    use jhe_core::store::ExportStore;
    let dir = std::env::temp_dir().join(format!("jhe_exports_{}", uuid::Uuid::new_v4().simple()));
    let dir_for_config = dir.clone();
    let app = spawn_seeded_with(backend, move |c| c.export.dir = dir_for_config).await;
    let patient = bearer_for(&app, PATIENT).await;
    let response = kick_off(&app, "/fhir/r5/Patient/$export", &patient).await;
    let location = response.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_string();
    let m = manifest(&location, &patient).await;
    let job = location.rsplit('/').next().unwrap();
    // Expire it in the database (as time passing would).
    let mut stored = app.db.store.get_export_job(job).await.unwrap().unwrap();
    app.db.store.delete_export_job(job).await.unwrap();
    stored.expires = chrono::Utc::now() - chrono::Duration::seconds(1);
    app.db.store.create_export_job(&stored).await.unwrap();
    let (_, _, url) = files(&m)[0].clone();
    assert_eq!(lines(&url, &patient).await.0, 404);
    assert!(app.db.store.get_export_job(job).await.unwrap().is_none());
    assert!(!dir.join(job).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

both_backends! {
    export_and_access => bulk_export;
    expiry => expired_jobs_are_gone;
}

struct NoBar;

impl jhe_core::services::bulk_export::ExportProgress for NoBar {
    fn progress(&self, _: jhe_core::services::bulk_export::ExportType, _: u64, _: Option<u64>) {}
}

/// `server export` (the service behind it): the same files as `$export` for the same account.
async fn command_line_export(backend: Backend) {
    use jhe_core::services::bulk_export::{ExportLevel, ExportParams, export_to_dir};
    let exports =
        std::env::temp_dir().join(format!("jhe_exports_{}", uuid::Uuid::new_v4().simple()));
    let exports_for_config = exports.clone();
    let app = spawn_seeded_with(backend, move |c| c.export.dir = exports_for_config).await;
    let manager = bearer_for(&app, MANAGER).await;
    let over_http = export(&app, "/fhir/r5/Group/30001/$export", &manager).await;
    let dir = exports.join("cli");
    let state = crate::support::state_of(&app);
    let written = export_to_dir(
        &state,
        "Mary@Example.com",
        ExportLevel::Study(30001),
        &ExportParams::parse(&[]).unwrap(),
        &dir,
        &NoBar,
    )
    .await
    .unwrap();
    assert!(!written.is_empty());
    for f in &written {
        let text = std::fs::read_to_string(dir.join(&f.file)).unwrap();
        assert_eq!(text.lines().count() as u64, f.count);
        assert_eq!(f.count, count_of(&over_http, &f.type_), "{}", f.type_);
    }
    assert_eq!(written.len(), files(&over_http).len());
    // Another organisation's manager may not export the study.
    let refused = export_to_dir(
        &state,
        "mark@example.com",
        ExportLevel::Study(30001),
        &ExportParams::parse(&[]).unwrap(),
        &exports.join("refused"),
        &NoBar,
    )
    .await;
    assert!(refused.is_err());
    let _ = std::fs::remove_dir_all(&exports);
}

both_backends! {
    command_line => command_line_export;
}
