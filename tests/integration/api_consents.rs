//! `/api/v1/patients/{id}/consents`: the overview, reset, and recording / changing / deleting
//! decisions (all working, unlike the original), all-or-nothing.

use jhe_core::store::{ReferenceStore, StudyStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, Caller, CallerTokens, api_request, spawn_seeded};

fn bp() -> Value {
    json!({"id": 50002, "codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-pressure:4.0", "text": "Blood pressure"})
}

fn hr() -> Value {
    json!({"id": 50004, "codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:heart-rate:2.0", "text": "Heart Rate"})
}

fn lab() -> Value {
    json!({"id": 20003, "name": "Example Lab", "type": "laboratory"})
}

fn is_timestamp(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 27
            && s.ends_with('Z')
            && s.as_bytes()[19] == b'.'
            && chrono::DateTime::parse_from_rfc3339(s).is_ok()
    })
}

fn consent_body(study: i64, code: &str, consented: bool) -> Value {
    json!({"studyScopeConsents": [{"studyId": study, "scopeConsents": [
        {"codingSystem": "https://w3id.org/openmhealth", "codingCode": code, "consented": consented}]}]})
}

async fn overview_and_reset(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    app.db
        .store
        .add_study_data_source(30001, 70001)
        .await
        .unwrap();
    app.db
        .store
        .add_supported_scope(70001, 50004)
        .await
        .unwrap();
    app.db
        .store
        .add_supported_scope(70001, 50002)
        .await
        .unwrap();

    let path = "/api/v1/patients/40001/consents";
    let (status, mut body) =
        api_request(&app, Method::GET, path, t.of(Caller::Patient), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["patient"]["id"], 40001);
    assert_eq!(body["patient"]["telecomEmail"], "peter@example.com");
    assert_eq!(body["consolidatedConsentedScopes"], json!([bp(), hr()]));
    assert_eq!(
        body["studiesPendingConsent"],
        json!([{"id": 30002, "name": "Example Study on BP", "description": "Blood Pressure", "iconUrl": null,
            "organization": lab(), "dataSources": [],
            "pendingScopeConsents": [{"code": bp(), "consented": null, "consentedTime": null}]}])
    );
    let decided = body["studies"][0]["scopeConsents"].as_array_mut().unwrap();
    for d in decided.iter_mut() {
        assert!(is_timestamp(&d["consentedTime"]), "{d}");
        d["consentedTime"] = json!("T");
    }
    assert_eq!(
        body["studies"],
        json!([{"id": 30001, "name": "Example Study on BP & HR", "description": "Blood Pressure & Heart Rate", "iconUrl": null,
            "organization": lab(),
            "dataSources": [{"id": 70001, "name": "CareX", "type": "personal_device", "supportedScopes": [bp(), hr()]}],
            "scopeConsents": [
                {"code": bp(), "consented": true, "consentedTime": "T"},
                {"code": hr(), "consented": true, "consentedTime": "T"}]}])
    );
    // Practitioners sharing the organisation (any role) read the same.
    for caller in [Caller::Manager, Caller::Member, Caller::Viewer] {
        let (status, other) = api_request(&app, Method::GET, path, t.of(caller), None).await;
        assert_eq!(status, 200, "{caller:?}");
        assert_eq!(other["consolidatedConsentedScopes"], json!([bp(), hr()]));
    }
    // Anyone who cannot see the patient gets the answer of an unknown id (no oracle over ids):
    // a practitioner of another organisation, a superuser without a shared organisation,
    // another patient.
    let pamela = crate::support::bearer_for(&app, 10007).await;
    for token in [
        t.of(Caller::OtherOrg),
        t.of(Caller::Superuser),
        Some(pamela.as_str()),
    ] {
        let (status, body) = api_request(&app, Method::GET, path, token, None).await;
        assert_eq!(
            (status, body),
            (
                404,
                json!({"detail": "No Patient matches the given query."})
            )
        );
    }
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/49999/consents",
        t.of(Caller::Manager),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Reset: a viewer may read but not wipe decisions; the patient may.
    let reset = "/api/v1/patients/40001/consents?reset=true";
    let (status, _) = api_request(&app, Method::GET, reset, t.of(Caller::Viewer), None).await;
    assert_eq!(status, 403);
    let (status, _) = api_request(&app, Method::GET, reset, t.of(Caller::OtherOrg), None).await;
    assert_eq!(status, 404);
    let (status, body) = api_request(&app, Method::GET, reset, t.of(Caller::Patient), None).await;
    assert_eq!((status, body), (200, json!({"resetCount": 2})));
    let (_, body) = api_request(&app, Method::GET, path, t.of(Caller::Patient), None).await;
    assert_eq!(body["consolidatedConsentedScopes"], json!([]));
    assert_eq!(body["studies"], json!([]));
    let pending: Vec<i64> = body["studiesPendingConsent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(pending, vec![30001, 30002]);
    let (status, body) = api_request(&app, Method::GET, reset, t.of(Caller::Manager), None).await;
    assert_eq!((status, body), (200, json!({"resetCount": 0})));
}

async fn record_change_delete(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let peter = t.of(Caller::Patient);
    let path = "/api/v1/patients/40001/consents";

    // Record peter's pending BP decision in 30002.
    let (status, body) = api_request(
        &app,
        Method::POST,
        path,
        peter,
        Some(consent_body(30002, "omh:blood-pressure:4.0", true)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let row = &body["studyScopeConsents"][0];
    let consent_id = row["id"].as_i64().unwrap();
    let enrolment = row["studyPatient"]["id"].as_i64().unwrap();
    assert!(is_timestamp(&row["consentedTime"]));
    assert_eq!(
        body,
        json!({"studyScopeConsents": [{"id": consent_id, "studyPatient": {"id": enrolment, "study": 30002, "patient": 40001},
            "scopeCode": bp(), "consented": true, "consentedTime": row["consentedTime"]}]})
    );
    // The same again, snake_case: an upsert (no 500), same row.
    let snake = json!({"study_scope_consents": [{"study_id": 30002, "scope_consents": [
        {"coding_system": "https://w3id.org/openmhealth", "coding_code": "omh:blood-pressure:4.0", "consented": true}]}]});
    let (status, again) = api_request(&app, Method::POST, path, peter, Some(snake)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["studyScopeConsents"][0]["id"], consent_id);
    let (_, overview) = api_request(&app, Method::GET, path, peter, None).await;
    assert_eq!(overview["studiesPendingConsent"], json!([]));

    // PATCH changes an existing decision.
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        path,
        t.of(Caller::Member),
        Some(consent_body(30002, "omh:blood-pressure:4.0", false)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["studyScopeConsents"][0]["id"], consent_id);
    assert_eq!(body["studyScopeConsents"][0]["consented"], false);
    let (_, overview) = api_request(&app, Method::GET, path, peter, None).await;
    let study = overview["studies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == 30002)
        .unwrap()
        .clone();
    assert_eq!(study["scopeConsents"][0]["consented"], false);

    // DELETE removes it (pending again) and answers the deleted row.
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        path,
        peter,
        Some(consent_body(30002, "omh:blood-pressure:4.0", false)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["studyScopeConsents"][0]["id"], consent_id);
    let (_, overview) = api_request(&app, Method::GET, path, peter, None).await;
    assert_eq!(overview["studiesPendingConsent"][0]["id"], 30002);
    // Deleting again is a no-op.
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        path,
        peter,
        Some(consent_body(30002, "omh:blood-pressure:4.0", false)),
    )
    .await;
    assert_eq!((status, body), (200, json!({"studyScopeConsents": []})));
    // PATCH of a pending decision: 400.
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        path,
        peter,
        Some(consent_body(30002, "omh:blood-pressure:4.0", true)),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // One decision time for the whole request.
    let both = json!({"studyScopeConsents": [{"studyId": 30001, "scopeConsents": [
        {"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-pressure:4.0", "consented": false},
        {"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:heart-rate:2.0", "consented": true}]}]});
    let (status, body) = api_request(&app, Method::POST, path, peter, Some(both)).await;
    assert_eq!(status, 200, "{body}");
    let rows = body["studyScopeConsents"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["consentedTime"], rows[1]["consentedTime"]);
    assert_eq!(
        (rows[0]["consented"].clone(), rows[1]["consented"].clone()),
        (json!(false), json!(true))
    );

    // Refusals, each writing nothing.
    let cases = [
        (
            consent_body(30004, "omh:body-temperature:4.0", true),
            "not enrolled",
        ),
        (
            consent_body(30002, "omh:unknown:1.0", true),
            "unknown scope",
        ),
        (
            consent_body(30002, "omh:heart-rate:2.0", true),
            "scope the study does not request",
        ),
        (
            consent_body(39999, "omh:blood-pressure:4.0", true),
            "unknown study",
        ),
        (
            json!({"studyScopeConsents": [{"studyId": 30002, "scopeConsents": [{"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-pressure:4.0"}]}]}),
            "missing consented",
        ),
        (
            json!({"studyScopeConsents": [{"scopeConsents": []}]}),
            "missing studyId",
        ),
        (json!({}), "missing studyScopeConsents"),
        (
            json!({"studyScopeConsents": [
            {"studyId": 30002, "scopeConsents": [{"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-pressure:4.0", "consented": true}]},
            {"studyId": 30001, "scopeConsents": [{"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:nothing:1.0", "consented": true}]}]}),
            "second entry invalid",
        ),
    ];
    for (body, why) in cases {
        let (status, answer) = api_request(&app, Method::POST, path, peter, Some(body)).await;
        assert_eq!(status, 400, "{why}: {answer}");
    }
    let (_, overview) = api_request(&app, Method::GET, path, peter, None).await;
    assert_eq!(
        overview["studiesPendingConsent"][0]["id"], 30002,
        "all or nothing"
    );
    let (status, body) = api_request(&app, Method::POST, path, peter, Some(json!({}))).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"studyScopeConsents": ["This field is required."]})
        )
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients/49999/consents",
        peter,
        Some(consent_body(30002, "omh:blood-pressure:4.0", true)),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api_request(
        &app,
        Method::POST,
        path,
        peter,
        Some(json!({"studyScopeConsents": "nope"})),
    )
    .await;
    assert_eq!(status, 400);
}

both_backends! {
    consents_overview_and_reset => overview_and_reset;
    consents_record_change_delete => record_change_delete;
}
