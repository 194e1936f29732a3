//! The audit trail: each use case records exactly the expected FHIR `AuditEvent`s (who, what,
//! which patient, outcome) through the database sink; `GET /fhir/r5/AuditEvent` shows a patient
//! their own events and a superuser all; a failing sink does not fail the request; the NDJSON
//! sink writes one AuditEvent per line.

use jhe_core::store::{AuditQuery, AuditStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::seeded::{MANAGER, OTHER_ORG, PATIENT, SUPERUSER};
use crate::support::{
    Backend, TestApp, api_request, bearer_for, bearer_get, login_tokens, plain_client,
    spawn_seeded, spawn_seeded_with,
};

/// The events recorded after id `after`, flushed first.
async fn events_after(app: &TestApp, after: i64) -> Vec<Value> {
    app.audit.flush().await;
    app.db
        .store
        .list_audit_events(&AuditQuery {
            after_id: Some(after),
            limit: 10_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.resource)
        .collect()
}

async fn last_id(app: &TestApp) -> i64 {
    app.audit.flush().await;
    app.db
        .store
        .list_audit_events(&AuditQuery {
            limit: 100_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.id)
}

/// (code, action, agent user id, patient reference, outcome code) of an event.
fn summary(e: &Value) -> (String, String, String, String, String) {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    (
        s(&e["code"]["coding"][0]["code"]),
        s(&e["action"]),
        s(&e["agent"][0]["who"]["identifier"]["value"]),
        s(&e["patient"]["reference"]),
        s(&e["outcome"]["code"]["code"]),
    )
}

fn row(
    code: &str,
    action: &str,
    user: i64,
    patient: &str,
    outcome: &str,
) -> (String, String, String, String, String) {
    (
        code.into(),
        action.into(),
        user.to_string(),
        patient.into(),
        outcome.into(),
    )
}

async fn use_cases_are_audited(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let manager = bearer_for(&app, MANAGER).await;
    let patient = bearer_for(&app, PATIENT).await;
    let other = bearer_for(&app, OTHER_ORG).await;
    let superuser = bearer_for(&app, SUPERUSER).await;

    // FHIR search: one event per patient returned (BALP), with the query.
    let mark = last_id(&app).await;
    let response = bearer_get(
        &app,
        "/fhir/r5/Observation?patient=40001&_count=5",
        &manager,
    )
    .await;
    assert_eq!(response.status(), 200);
    let bundle: Value = response.json().await.unwrap();
    let first_id = bundle["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = events_after(&app, mark).await;
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![row("search-type", "R", MANAGER, "Patient/40001", "0")]
    );
    let e = &events[0];
    assert_eq!(e["resourceType"], "AuditEvent");
    assert_eq!(e["agent"][0]["who"]["display"], "mary@example.com");
    assert_eq!(e["agent"][0]["requestor"], true);
    assert_eq!(e["category"][0]["coding"][0]["code"], "rest");
    assert_eq!(e["outcome"]["detail"][0]["text"], "Observation");
    let query = e["entity"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|x| x["query"].as_str())
        .unwrap();
    use base64::Engine;
    let query = base64::engine::general_purpose::STANDARD
        .decode(query)
        .unwrap();
    assert_eq!(String::from_utf8(query).unwrap(), "patient=40001");

    // The same search through the Admin API is the same use case.
    let mark = last_id(&app).await;
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?patientId=40001&pageSize=5",
        Some(&manager),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        events_after(&app, mark)
            .await
            .iter()
            .map(summary)
            .collect::<Vec<_>>(),
        vec![row("search-type", "R", MANAGER, "Patient/40001", "0")]
    );

    // FHIR read by the patient; a read by another organisation's practitioner fails (404).
    let mark = last_id(&app).await;
    let path = format!("/fhir/r5/Observation/{first_id}");
    assert_eq!(bearer_get(&app, &path, &patient).await.status(), 200);
    assert_eq!(bearer_get(&app, &path, &other).await.status(), 404);
    let events = events_after(&app, mark).await;
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![
            row("read", "R", PATIENT, "Patient/40001", "0"),
            row("read", "R", OTHER_ORG, "", "4"),
        ]
    );
    assert_eq!(
        events[0]["entity"][0]["what"]["reference"],
        format!("Observation/{first_id}")
    );
    assert!(events[1].get("patient").is_none());

    // Patient read (FHIR) and consent view (FHIR).
    let mark = last_id(&app).await;
    assert_eq!(
        bearer_get(&app, "/fhir/r5/Patient/40001", &manager)
            .await
            .status(),
        200
    );
    assert_eq!(
        bearer_get(&app, "/fhir/r5/Consent", &patient)
            .await
            .status(),
        200
    );
    assert_eq!(
        events_after(&app, mark)
            .await
            .iter()
            .map(summary)
            .collect::<Vec<_>>(),
        vec![
            row("read", "R", MANAGER, "Patient/40001", "0"),
            row("search-type", "R", PATIENT, "Patient/40001", "0"),
        ]
    );

    // Consent changes say who recorded them: the patient, or which staff member; a refused
    // change is recorded as a failure.
    let body = |consented: bool| {
        json!({"studyScopeConsents": [{"studyId": 30001, "scopeConsents": [
            {"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:heart-rate:2.0", "consented": consented}]}]})
    };
    let mark = last_id(&app).await;
    let path = "/api/v1/patients/40001/consents";
    let (status, _) =
        api_request(&app, Method::PATCH, path, Some(&patient), Some(body(false))).await;
    assert_eq!(status, 200);
    let (status, _) =
        api_request(&app, Method::PATCH, path, Some(&manager), Some(body(true))).await;
    assert_eq!(status, 200);
    let (status, _) = api_request(&app, Method::PATCH, path, Some(&other), Some(body(false))).await;
    assert_eq!(status, 404);
    let events = events_after(&app, mark).await;
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![
            row("consent-change", "U", PATIENT, "Patient/40001", "0"),
            row("consent-change", "U", MANAGER, "Patient/40001", "0"),
            row("consent-change", "U", OTHER_ORG, "Patient/40001", "4"),
        ]
    );
    assert_eq!(
        events[0]["outcome"]["detail"][0]["text"],
        "update: study 30001 omh:heart-rate:2.0=deny"
    );
    assert_eq!(
        events[1]["outcome"]["detail"][0]["text"],
        "update: study 30001 omh:heart-rate:2.0=permit"
    );

    // Enrolment (already enrolled is fine, and still an enrolment request).
    let mark = last_id(&app).await;
    let (status, answer) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/patients",
        Some(&manager),
        Some(json!({"patientIds": [40001]})),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {answer}");
    let events = events_after(&app, mark).await;
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![row("enrolment", "C", MANAGER, "Patient/40001", "0")]
    );
    assert_eq!(
        events[0]["entity"][0]["what"]["reference"],
        "ResearchStudy/30001"
    );

    // Invitation link (whatever the answer, it is recorded with its outcome).
    let mark = last_id(&app).await;
    let response = bearer_get(&app, "/api/v1/patients/40001/invitation_link", &manager).await;
    let outcome = if response.status().is_success() {
        "0"
    } else {
        "4"
    };
    assert_eq!(
        events_after(&app, mark)
            .await
            .iter()
            .map(summary)
            .collect::<Vec<_>>(),
        vec![row(
            "invitation-link",
            "C",
            MANAGER,
            "Patient/40001",
            outcome
        )]
    );

    // Login through the portal flow and the token issued from it; a failed login; revocation.
    let mark = last_id(&app).await;
    let tokens = login_tokens(&app, MANAGER).await;
    let events = events_after(&app, mark).await;
    let issued: Vec<_> = events
        .iter()
        .map(summary)
        .filter(|s| s.0 == "token-issued")
        .collect();
    assert_eq!(issued, vec![row("token-issued", "E", MANAGER, "", "0")]);
    let client_id = crate::support::admin_ui_client_id(&app).await;
    let mark = last_id(&app).await;
    let revoke = plain_client()
        .post(app.url("/o/revoke_token/"))
        .form(&[
            ("token", tokens["access_token"].as_str().unwrap()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let events = events_after(&app, mark).await;
    assert_eq!(
        events.iter().map(summary).collect::<Vec<_>>(),
        vec![row("token-revoked", "E", MANAGER, "", "0")]
    );
    let mark = last_id(&app).await;
    let response = crate::accounts::login(&app, "mary@example.com", "wrong password").await;
    assert!(response.status().is_success() || response.status().is_redirection());
    let events = events_after(&app, mark).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["code"]["coding"][0]["code"], "110122");
    assert_eq!(events[0]["outcome"]["code"]["code"], "4");
    assert_eq!(events[0]["agent"][0]["who"]["display"], "mary@example.com");

    // Reading the trail: the patient sees the events about their own data, and only those;
    // a superuser sees all; a practitioner is refused.
    app.audit.flush().await;
    let about_peter = app
        .db
        .store
        .count_audit_events(&AuditQuery {
            patient_id: Some(40001),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let all = app
        .db
        .store
        .count_audit_events(&AuditQuery::default())
        .await
        .unwrap();
    assert!(about_peter > 5 && all > about_peter);
    let response = bearer_get(&app, "/fhir/r5/AuditEvent?_count=1000", &patient).await;
    assert_eq!(response.status(), 200);
    let own: Value = response.json().await.unwrap();
    assert_eq!(own["total"], about_peter);
    for entry in own["entry"].as_array().unwrap() {
        assert_eq!(entry["resource"]["patient"]["reference"], "Patient/40001");
        assert!(entry["resource"]["id"].is_string());
    }
    let response = bearer_get(&app, "/fhir/r5/AuditEvent?patient=40002", &patient).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["total"], 0);
    let response = bearer_get(&app, "/fhir/r5/AuditEvent", &manager).await;
    assert_eq!(response.status(), 403);
    let response = bearer_get(&app, "/fhir/r5/AuditEvent?_count=2", &superuser).await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert!(page["total"].as_u64().unwrap() >= all);
    assert_eq!(page["entry"].as_array().unwrap().len(), 2);
    let next = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let response = plain_client()
        .get(next)
        .bearer_auth(&superuser)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_ne!(
        second["entry"][0]["resource"]["id"],
        page["entry"][0]["resource"]["id"]
    );
    let response = bearer_get(&app, "/fhir/r5/AuditEvent?patient=40001", &superuser).await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["total"]
            .as_u64()
            .unwrap(),
        about_peter
    );

    // `_sort=-date`: newest first, and the `next` cursor walks on in that order.
    let ids_of = |page: &Value| -> Vec<i64> {
        page["entry"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|x| x["resource"]["id"].as_str().unwrap().parse().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    let ascending: Value = bearer_get(
        &app,
        "/fhir/r5/AuditEvent?patient=40001&_count=1000",
        &superuser,
    )
    .await
    .json()
    .await
    .unwrap();
    let mut expected = ids_of(&ascending);
    assert!(expected.windows(2).all(|w| w[0] < w[1]));
    expected.reverse();
    let mut walked = Vec::new();
    let mut url = app.url("/fhir/r5/AuditEvent?patient=40001&_sort=-date&_count=3");
    loop {
        let page: Value = plain_client()
            .get(&url)
            .bearer_auth(&superuser)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        walked.extend(ids_of(&page));
        match page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
        {
            Some(next) => url = next["url"].as_str().unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(walked, expected, "newest first across pages");
    let response = bearer_get(&app, "/fhir/r5/AuditEvent?_sort=code", &superuser).await;
    assert_eq!(response.status(), 400);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("Unsupported _sort for AuditEvent"),
        "{outcome}"
    );
}

async fn a_failing_sink_does_not_fail_requests(backend: Backend) {
    // The NDJSON file cannot be created (its directory does not exist) and there is no database
    // sink: requests still succeed, and flushing returns.
    let missing = std::env::temp_dir()
        .join(format!("jhe_no_such_dir_{}", uuid::Uuid::new_v4().simple()))
        .join("audit.ndjson");
    let app = spawn_seeded_with(backend, |c| {
        c.audit.database = false;
        c.audit.ndjson = true;
        c.audit.file = missing.clone();
    })
    .await;
    let manager = bearer_for(&app, MANAGER).await;
    let response = bearer_get(&app, "/fhir/r5/Observation?patient=40001", &manager).await;
    assert_eq!(response.status(), 200);
    let response = bearer_get(&app, "/fhir/r5/Patient/40001", &manager).await;
    assert_eq!(response.status(), 200);
    app.audit.flush().await;
    assert!(!missing.exists());
    assert_eq!(
        app.db
            .store
            .count_audit_events(&AuditQuery::default())
            .await
            .unwrap(),
        0
    );
}

async fn ndjson_sink_writes_audit_events(backend: Backend) {
    let file = std::env::temp_dir().join(format!(
        "jhe_audit_{}.ndjson",
        uuid::Uuid::new_v4().simple()
    ));
    let app = spawn_seeded_with(backend, |c| {
        c.audit.database = true;
        c.audit.ndjson = true;
        c.audit.file = file.clone();
    })
    .await;
    let manager = bearer_for(&app, MANAGER).await;
    for _ in 0..3 {
        let response = bearer_get(&app, "/fhir/r5/Patient/40001", &manager).await;
        assert_eq!(response.status(), 200);
    }
    app.audit.flush().await;
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line["resourceType"], "AuditEvent");
        assert_eq!(
            summary(line),
            row("read", "R", MANAGER, "Patient/40001", "0")
        );
    }
    // Both sinks got the same events.
    assert_eq!(
        app.db
            .store
            .count_audit_events(&AuditQuery::default())
            .await
            .unwrap(),
        3
    );
    let _ = std::fs::remove_file(&file);
}

both_backends! {
    use_cases => use_cases_are_audited;
    failing_sink => a_failing_sink_does_not_fail_requests;
    ndjson_sink => ndjson_sink_writes_audit_events;
}
