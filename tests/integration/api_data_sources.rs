//! `/api/v1/data_sources`: reads for everyone authenticated, writes (supported scopes included)
//! for `data_source.manage` only, `supportedScopes` filled in.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::seeded::{MANAGER, MEMBER, OTHER_ORG, PATIENT, SUPERUSER, VIEWER};
use crate::support::{Backend, TestApp, api_request, bearer_for, spawn_seeded};

fn heart_rate() -> Value {
    json!({"id": 50004, "codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:heart-rate:2.0", "text": "Heart Rate"})
}

fn seeded_source(id: i64, name: &str) -> Value {
    json!({"id": id, "name": name, "type": "personal_device", "supportedScopes": []})
}

async fn count(app: &TestApp, token: &str) -> u64 {
    let (status, body) =
        api_request(app, Method::GET, "/api/v1/data_sources", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["count"].as_u64().unwrap()
}

async fn crud_happy_path(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());

    let (status, list) = api_request(&app, Method::GET, "/api/v1/data_sources", t, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list,
        json!({"count": 3, "next": null, "previous": null, "results": [
            seeded_source(70001, "CareX"), seeded_source(70002, "Dexcom"), seeded_source(70003, "iHealth")
        ]})
    );

    let (status, created) = api_request(
        &app,
        Method::POST,
        "/api/v1/data_sources",
        t,
        Some(json!({"name": "Withings", "type": "medical_device"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert!(id > 70003);
    assert_eq!(
        created,
        json!({"id": id, "name": "Withings", "type": "medical_device", "supportedScopes": []})
    );
    let path = format!("/api/v1/data_sources/{id}");
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (200, created.clone())
    );

    let (status, patched) = api_request(
        &app,
        Method::PATCH,
        &path,
        t,
        Some(json!({"name": "Withings 2"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched,
        json!({"id": id, "name": "Withings 2", "type": "medical_device", "supportedScopes": []})
    );
    let (status, put) = api_request(
        &app,
        Method::PUT,
        &path,
        t,
        Some(json!({"name": "Withings 3", "type": "personal_device"})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        put,
        json!({"id": id, "name": "Withings 3", "type": "personal_device", "supportedScopes": []})
    );

    // Supported scopes: add (idempotent), list, shown on the data source, remove.
    let scopes = format!("{path}/supported_scopes");
    let (status, link) = api_request(
        &app,
        Method::POST,
        &scopes,
        t,
        Some(json!({"scopeCodeId": 50004})),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let link_id = link["id"].as_i64().unwrap();
    assert_eq!(
        link,
        json!({"id": link_id,
               "dataSource": {"id": id, "name": "Withings 3", "type": "personal_device"},
               "scopeCode": heart_rate()})
    );
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            &scopes,
            t,
            Some(json!({"scopeCodeId": 50004}))
        )
        .await,
        (200, link.clone())
    );
    assert_eq!(
        api_request(&app, Method::GET, &scopes, t, None).await,
        (200, json!([link]))
    );
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (
            200,
            json!({"id": id, "name": "Withings 3", "type": "personal_device", "supportedScopes": [heart_rate()]})
        )
    );
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            &scopes,
            t,
            Some(json!({"scopeCodeId": 50004}))
        )
        .await,
        (200, json!({}))
    );
    assert_eq!(
        api_request(&app, Method::GET, &scopes, t, None).await,
        (200, json!([]))
    );

    let (status, body) = api_request(&app, Method::DELETE, &path, t, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (
            404,
            json!({"detail": "No DataSource matches the given query."})
        )
    );
    assert_eq!(count(&app, &sam).await, 3);
}

async fn all_scopes_are_ordered_by_text(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let peter = bearer_for(&app, PATIENT).await;
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/data_sources/all_scopes",
        Some(&peter),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let all = body.as_array().unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(all[3], heart_rate());
    let texts: Vec<String> = all
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect();
    let mut bytewise = texts.clone();
    bytewise.sort();
    let mut folded = texts.clone();
    folded.sort_by_key(|t| t.to_lowercase());
    // The database's collation decides between "RR Interval" and "Respiratory rate".
    assert!(texts == bytewise || texts == folded, "{texts:?}");
    assert_eq!(texts[0], "Blood glucose");
}

async fn validation_and_errors(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    let post = |body: Value| {
        let app = &app;
        async move { api_request(app, Method::POST, "/api/v1/data_sources", t, Some(body)).await }
    };
    assert_eq!(
        post(json!({})).await,
        (400, json!({"name": ["This field is required."]}))
    );
    assert_eq!(
        post(json!({"name": null})).await,
        (400, json!({"name": ["This field is required."]}))
    );
    assert_eq!(
        post(json!({"name": "  "})).await,
        (400, json!({"name": ["This field may not be blank."]}))
    );
    assert_eq!(
        post(json!({"name": "X", "type": "device"})).await,
        (400, json!({"type": ["\"device\" is not a valid choice."]}))
    );
    assert_eq!(
        post(json!({"name": "X\u{0}"})).await,
        (400, json!({"name": ["Null characters are not allowed."]}))
    );
    assert_eq!(
        count(&app, &sam).await,
        3,
        "no invalid request created anything"
    );
    let (status, body) = post(json!({"name": "Y"})).await;
    assert_eq!(status, 201);
    assert_eq!(body["type"], "personal_device");

    // Unknown and malformed ids.
    for method in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
        let body =
            (method != Method::GET && method != Method::DELETE).then(|| json!({"name": "Z"}));
        assert_eq!(
            api_request(&app, method.clone(), "/api/v1/data_sources/79999", t, body).await,
            (
                404,
                json!({"detail": "No DataSource matches the given query."})
            ),
            "{method}"
        );
        let body =
            (method != Method::GET && method != Method::DELETE).then(|| json!({"name": "Z"}));
        let (status, detail) =
            api_request(&app, method.clone(), "/api/v1/data_sources/abc", t, body).await;
        assert_eq!(status, 400, "{method}: {detail}");
        assert_eq!(detail, json!({"detail": "\"abc\" is not a valid id."}));
    }
    assert_eq!(
        api_request(
            &app,
            Method::GET,
            "/api/v1/data_sources/79999/supported_scopes",
            t,
            None
        )
        .await,
        (
            404,
            json!({"detail": "No DataSource matches the given query."})
        )
    );

    // Supported scopes: the concept is required and must exist; ids may come as strings.
    let scopes = "/api/v1/data_sources/70001/supported_scopes";
    assert_eq!(
        api_request(&app, Method::POST, scopes, t, Some(json!({}))).await,
        (400, json!({"scopeCodeId": ["This field is required."]}))
    );
    assert_eq!(
        api_request(&app, Method::DELETE, scopes, t, Some(json!({}))).await,
        (400, json!({"scopeCodeId": ["This field is required."]}))
    );
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            scopes,
            t,
            Some(json!({"scopeCodeId": 59999}))
        )
        .await,
        (
            400,
            json!({"scopeCodeId": ["Invalid pk \"59999\" - object does not exist."]})
        )
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        scopes,
        t,
        Some(json!({"scopeCodeId": "abc"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api_request(
        &app,
        Method::POST,
        scopes,
        t,
        Some(json!({"scopeCodeId": "50001"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scopeCode"]["id"], 50001);
    // Removing a scope that is not there succeeds.
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            scopes,
            t,
            Some(json!({"scopeCodeId": 50007}))
        )
        .await,
        (200, json!({}))
    );
    // A page past the end.
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/data_sources?page=9", t, None).await,
        (404, json!({"detail": "Invalid page."}))
    );
}

async fn snake_and_camel_case_requests_agree(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    let scopes = "/api/v1/data_sources/70002/supported_scopes";
    let (status, camel) = api_request(
        &app,
        Method::POST,
        scopes,
        t,
        Some(json!({"scopeCodeId": 50002})),
    )
    .await;
    assert_eq!(status, 200, "{camel}");
    let (status, snake) = api_request(
        &app,
        Method::POST,
        scopes,
        t,
        Some(json!({"scope_code_id": 50002})),
    )
    .await;
    assert_eq!((status, &snake), (200, &camel));
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            scopes,
            t,
            Some(json!({"scope_code_id": 50002}))
        )
        .await,
        (200, json!({}))
    );
    // Paging parameters in either spelling.
    let (_, a) = api_request(
        &app,
        Method::GET,
        "/api/v1/data_sources?page_size=2",
        t,
        None,
    )
    .await;
    let (_, b) = api_request(
        &app,
        Method::GET,
        "/api/v1/data_sources?pageSize=2",
        t,
        None,
    )
    .await;
    assert_eq!(a["results"], b["results"]);
    assert_eq!(a["results"].as_array().unwrap().len(), 2);
    assert!(
        a["next"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/data_sources?page=2&page_size=2")
    );
    assert!(
        b["next"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/data_sources?page=2&pageSize=2")
    );
}

async fn permission_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let mut callers: Vec<(&str, Option<String>)> = vec![("superuser", Some(sam.clone()))];
    for (name, id) in [
        ("manager", MANAGER),
        ("member", MEMBER),
        ("viewer", VIEWER),
        ("other organisation", OTHER_ORG),
        ("patient", PATIENT),
    ] {
        callers.push((name, Some(bearer_for(&app, id).await)));
    }
    callers.push(("anonymous", None));

    // (method, path, body, status for the superuser, whether everyone authenticated may)
    let cases: Vec<(Method, &str, Option<Value>, u16, bool)> = vec![
        (Method::GET, "/api/v1/data_sources", None, 200, true),
        (Method::GET, "/api/v1/data_sources/70001", None, 200, true),
        (
            Method::GET,
            "/api/v1/data_sources/all_scopes",
            None,
            200,
            true,
        ),
        (
            Method::GET,
            "/api/v1/data_sources/70001/supported_scopes",
            None,
            200,
            true,
        ),
        (
            Method::POST,
            "/api/v1/data_sources",
            Some(json!({"name": "New"})),
            201,
            false,
        ),
        (
            Method::PATCH,
            "/api/v1/data_sources/70002",
            Some(json!({"name": "Dexcom"})),
            200,
            false,
        ),
        (
            Method::PUT,
            "/api/v1/data_sources/70002",
            Some(json!({"name": "Dexcom", "type": "personal_device"})),
            200,
            false,
        ),
        (
            Method::POST,
            "/api/v1/data_sources/70001/supported_scopes",
            Some(json!({"scopeCodeId": 50001})),
            200,
            false,
        ),
        (
            Method::DELETE,
            "/api/v1/data_sources/70001/supported_scopes",
            Some(json!({"scopeCodeId": 50001})),
            200,
            false,
        ),
        (
            Method::DELETE,
            "/api/v1/data_sources/70003",
            None,
            204,
            false,
        ),
    ];
    // Everyone else first, so that the superuser's delete comes last.
    for (who, token) in callers.iter().rev() {
        for (method, path, body, superuser_status, open) in &cases {
            let (status, answer) =
                api_request(&app, method.clone(), path, token.as_deref(), body.clone()).await;
            let expected = match (token, *who) {
                (None, _) => 401,
                (_, "superuser") => *superuser_status,
                _ if *open => 200,
                _ => 403,
            };
            assert_eq!(status, expected, "{who}: {method} {path} → {answer}");
            if status == 401 || status == 403 {
                assert!(answer["detail"].is_string(), "{answer}");
            }
        }
        if *who != "superuser" {
            // Refused writes changed nothing.
            let (_, list) =
                api_request(&app, Method::GET, "/api/v1/data_sources", Some(&sam), None).await;
            assert_eq!(list["count"], 3, "{who}");
            assert_eq!(list["results"][0], seeded_source(70001, "CareX"), "{who}");
        }
    }
}

async fn closed_gap_supported_scopes_need_manage(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let mary = bearer_for(&app, MANAGER).await;
    let scopes = "/api/v1/data_sources/70001/supported_scopes";
    let denied = json!({"detail": "You do not have permission to perform this action."});
    // The original lets any authenticated user add and remove supported scopes.
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            scopes,
            Some(&mary),
            Some(json!({"scopeCodeId": 50004}))
        )
        .await,
        (403, denied.clone())
    );
    assert_eq!(
        api_request(&app, Method::GET, scopes, Some(&sam), None).await,
        (200, json!([]))
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        scopes,
        Some(&sam),
        Some(json!({"scopeCodeId": 50004})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            scopes,
            Some(&mary),
            Some(json!({"scopeCodeId": 50004}))
        )
        .await,
        (403, denied)
    );
    let (_, left) = api_request(&app, Method::GET, scopes, Some(&mary), None).await;
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
}

async fn delete_keeps_observations(backend: Backend) {
    use jhe_core::domain::{NewObservation, PageRequest};
    use jhe_core::store::{AccessScope, ObservationQuery, ObservationStore};

    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let store = &app.db.store;
    let seeded = store
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery::default(),
            PageRequest::new(1, 1),
        )
        .await
        .unwrap()
        .items
        .remove(0);
    let created = store
        .create_observations(vec![NewObservation {
            id: None,
            subject_patient_id: seeded.subject_patient_id,
            codeable_concept_id: seeded.codeable_concept_id,
            data_source_id: Some(70003),
            value_attachment_data: seeded.value_attachment_data.clone(),
            content_type: seeded.content_type.clone(),
            status: "final".into(),
            effective_start: seeded.effective_start,
            effective_end: seeded.effective_end,
            identifiers: Vec::new(),
        }])
        .await
        .unwrap()
        .remove(0);
    let (status, _) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/data_sources/70003",
        Some(&sam),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let kept = store
        .get_observation(&AccessScope::system_for_tests(), created.id)
        .await
        .unwrap()
        .expect("the observation stays");
    assert_eq!(kept.data_source_id, None);
    assert_eq!(kept.value_attachment_data, seeded.value_attachment_data);
}

async fn repeated_reads_are_identical(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let megan = bearer_for(&app, MEMBER).await;
    for path in [
        "/api/v1/data_sources",
        "/api/v1/data_sources/70001",
        "/api/v1/data_sources/all_scopes",
        "/api/v1/data_sources/70001/supported_scopes",
    ] {
        let first = api_request(&app, Method::GET, path, Some(&megan), None).await;
        assert_eq!(first.0, 200, "{path}");
        assert_eq!(
            api_request(&app, Method::GET, path, Some(&megan), None).await,
            first,
            "{path}"
        );
    }
}

both_backends! {
    data_sources_crud_happy_path => crud_happy_path;
    data_sources_all_scopes_ordered_by_text => all_scopes_are_ordered_by_text;
    data_sources_validation_and_errors => validation_and_errors;
    data_sources_snake_and_camel_case_agree => snake_and_camel_case_requests_agree;
    data_sources_permission_matrix => permission_matrix;
    data_sources_closed_gap_supported_scopes_need_manage => closed_gap_supported_scopes_need_manage;
    data_sources_delete_keeps_observations => delete_keeps_observations;
    data_sources_repeated_reads_are_identical => repeated_reads_are_identical;
}
