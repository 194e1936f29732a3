//! `/api/v1/observations`: the portal's list (practitioners only, filtered in SQL, newest first),
//! exact items with the Open mHealth payload untouched, filters in both casings, paging.

use chrono::Utc;
use jhe_core::domain::NewObservation;
use jhe_core::store::{AccessScope, ObservationStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, Caller, CallerTokens, api_request, spawn_seeded};

fn ids(body: &Value) -> Vec<i64> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

async fn list_and_detail(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    let (status, body) = api_request(&app, Method::GET, "/api/v1/observations", mary, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 5);
    assert_eq!(ids(&body), vec![60005, 60004, 60003, 60002, 60001]);

    // One item, exactly; the payload is the stored JSON with its snake_case keys.
    let stored = app
        .db
        .store
        .get_observation(&AccessScope::system_for_tests(), 60003)
        .await
        .unwrap()
        .unwrap();
    let payload: Value = serde_json::from_str(&stored.value_attachment_data).unwrap();
    assert!(payload["body"]["effective_time_frame"]["date_time"].is_string());
    assert!(payload["header"]["schema_id"].is_object());
    let item = body["results"][2].clone();
    let last_updated = item["lastUpdated"].as_str().unwrap().to_string();
    assert!(
        last_updated.ends_with('Z') && last_updated.len() == 27,
        "{last_updated}"
    );
    assert_eq!(
        item,
        json!({"id": 60003, "subjectPatientId": 40002, "patientNameFamily": "Duarte", "patientNameGiven": "Pamela",
            "codeableConceptId": 50002, "codingSystem": "https://w3id.org/openmhealth",
            "codingCode": "omh:blood-pressure:4.0", "codingText": "Blood pressure",
            "lastUpdated": last_updated, "valueAttachmentData": payload})
    );

    // Newest first: a new observation comes before the seeded ones.
    let created = app
        .db
        .store
        .create_observations(vec![NewObservation {
            id: None,
            subject_patient_id: 40001,
            codeable_concept_id: 50004,
            data_source_id: None,
            value_attachment_data: r#"{"header":{"schema_id":{"name":"heart-rate"}},"body":{"heart_rate":{"value":70,"unit":"beats/min"}}}"#.into(),
            content_type: "application/json".into(),
            status: "final".into(),
            effective_start: Some(Utc::now()),
            effective_end: None,
            identifiers: Vec::new(),
        }])
        .await
        .unwrap();
    let new_id = created[0].id;
    let (_, body) = api_request(&app, Method::GET, "/api/v1/observations", mary, None).await;
    assert_eq!(body["count"], 6);
    assert_eq!(body["results"][0]["id"], new_id);
    assert_eq!(
        body["results"][0]["valueAttachmentData"]["body"]["heart_rate"]["value"],
        70
    );

    // Filters in both casings give the same rows.
    for (camel, snake, expected) in [
        (
            "organizationId=20003",
            "organization_id=20003",
            vec![new_id, 60005, 60004, 60003, 60002, 60001],
        ),
        (
            "patientId=40001",
            "patient_id=40001",
            vec![new_id, 60002, 60001],
        ),
        ("observationId=60004", "observation_id=60004", vec![60004]),
        (
            "studyId=30001&patientId=40002",
            "study_id=30001&patient_id=40002",
            vec![60005, 60004, 60003],
        ),
    ] {
        let (s1, b1) = api_request(
            &app,
            Method::GET,
            &format!("/api/v1/observations?{camel}"),
            mary,
            None,
        )
        .await;
        let (s2, b2) = api_request(
            &app,
            Method::GET,
            &format!("/api/v1/observations?{snake}"),
            mary,
            None,
        )
        .await;
        assert_eq!((s1, s2), (200, 200), "{camel}: {b1} / {b2}");
        assert_eq!(ids(&b1), expected, "{camel}");
        assert_eq!(b1["results"], b2["results"], "{snake}");
    }
    // An organisation mary is not linked to: empty.
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?organizationId=20007",
        mary,
        None,
    )
    .await;
    assert_eq!(body["count"], 0);
    // Malformed filters: 400.
    for query in [
        "patientId=abc",
        "studyId=",
        "observation_id=1e3",
        "organizationId=x",
    ] {
        let (status, _) = api_request(
            &app,
            Method::GET,
            &format!("/api/v1/observations?{query}"),
            mary,
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}");
    }
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?studyId=39999",
        mary,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "No Study matches the given query."}))
    );

    // Paging keeps the filters and the client's spelling; `next` carries a keyset cursor.
    let (_, page1) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?page_size=2&organization_id=20003",
        mary,
        None,
    )
    .await;
    assert_eq!(page1["count"], 6);
    assert_eq!(ids(&page1), vec![new_id, 60005]);
    let next = page1["next"].as_str().unwrap().to_string();
    let prefix = format!("{}/api/v1/observations?cursor=", app.address);
    assert!(next.starts_with(&prefix), "{next}");
    assert!(
        next.ends_with("&organization_id=20003&page=2&page_size=2"),
        "{next}"
    );
    // Following the links verbatim walks every row once, in order.
    let mut seen = ids(&page1);
    let mut link = Some(next);
    let mut pages = 1;
    while let Some(url) = link {
        let response = crate::support::plain_client()
            .get(&url)
            .bearer_auth(mary.unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["count"], 6);
        assert!(
            body["previous"]
                .as_str()
                .is_some_and(|p| !p.contains("cursor")),
            "{body}"
        );
        seen.extend(ids(&body));
        link = body["next"].as_str().map(str::to_string);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec![new_id, 60005, 60004, 60003, 60002, 60001]);
    // A plain page number still works (by offset).
    let (_, page3) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?page_size=2&organization_id=20003&page=3",
        mary,
        None,
    )
    .await;
    assert_eq!(ids(&page3), vec![60002, 60001]);
    assert_eq!(page3["next"], Value::Null);
    assert_eq!(
        page3["previous"],
        format!(
            "{}/api/v1/observations?organization_id=20003&page=2&page_size=2",
            app.address
        )
    );
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?pageSize=2&page=4",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?cursor=garbage",
        mary,
        None,
    )
    .await;
    assert_eq!((status, body), (400, json!({"detail": "Invalid cursor."})));

    // Detail.
    let (status, body) =
        api_request(&app, Method::GET, "/api/v1/observations/60003", mary, None).await;
    assert_eq!((status, body), (200, item));
    for (caller, path) in [
        (Caller::OtherOrg, "/api/v1/observations/60003"),
        (Caller::Manager, "/api/v1/observations/60009"),
        (Caller::Manager, "/api/v1/observations/69999"),
    ] {
        let (status, body) = api_request(&app, Method::GET, path, t.of(caller), None).await;
        assert_eq!(
            (status, body),
            (404, json!({"detail": "Not found."})),
            "{caller:?} {path}"
        );
    }
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations/60001",
        t.of(Caller::Patient),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "No Practitioner matches the given query."})
        )
    );
}

/// `next` links page by keyset and carry the first page's count, so a later page does not
/// count again; plain page numbers (offset) still work and agree with the links.
async fn keyset_links_carry_the_count(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);
    let get = |url: String| {
        let token = mary.unwrap().to_string();
        async move {
            let response = crate::support::plain_client()
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{url}");
            response.json::<Value>().await.unwrap()
        }
    };
    let first = get(format!("{}/api/v1/observations?pageSize=2", app.address)).await;
    assert_eq!(first["count"], 5);
    let next = first["next"].as_str().unwrap().to_string();
    assert!(next.contains("cursor="), "{next}");
    assert!(next.contains("_5&"), "the link carries the count: {next}");
    let page2 = get(format!(
        "{}/api/v1/observations?pageSize=2&page=2",
        app.address
    ))
    .await;
    assert_eq!(ids(&page2), vec![60003, 60002]);

    // A row added after the first page: the walk keeps the first page's count and still sees
    // only older rows (newest first), while a fresh first page counts again.
    app.db
        .store
        .create_observations(vec![NewObservation {
            id: None,
            subject_patient_id: 40002,
            codeable_concept_id: 50002,
            data_source_id: None,
            value_attachment_data: "{}".into(),
            content_type: "application/json".into(),
            status: "final".into(),
            effective_start: Some(Utc::now()),
            effective_end: None,
            identifiers: Vec::new(),
        }])
        .await
        .unwrap();
    let second = get(next).await;
    assert_eq!(second["count"], 5);
    assert_eq!(
        ids(&second),
        ids(&page2),
        "the link and the page number agree"
    );
    let third = get(second["next"].as_str().unwrap().to_string()).await;
    assert_eq!(
        (third["count"].clone(), ids(&third)),
        (json!(5), vec![60001])
    );
    assert_eq!(third["next"], Value::Null);
    // Page numbers count every time (offset paging, as the original).
    let by_offset = get(format!(
        "{}/api/v1/observations?pageSize=2&page=3",
        app.address
    ))
    .await;
    assert_eq!(
        (by_offset["count"].clone(), ids(&by_offset)),
        (json!(6), vec![60002, 60001])
    );
    let fresh = get(format!("{}/api/v1/observations?pageSize=2", app.address)).await;
    assert_eq!(fresh["count"], 6);
}

both_backends! {
    observations_list_and_detail => list_and_detail;
    observations_keyset_links_carry_the_count => keyset_links_carry_the_count;
}
