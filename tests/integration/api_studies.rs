//! `/api/v1/studies` and its sub-resources, `/api/v1/organizations/{id}/studies`: happy paths
//! with exact fields, validation and casing.

use jhe_core::domain::NewOAuthClient;
use jhe_core::store::{ClientStore, PatientStore, StudyStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, Caller, CallerTokens, api_request, spawn_seeded};

fn lab() -> Value {
    json!({"id": 20003, "name": "Example Lab", "type": "laboratory"})
}

fn study_30001() -> Value {
    json!({"id": 30001, "name": "Example Study on BP & HR", "description": "Blood Pressure & Heart Rate",
        "organization": lab(), "iconUrl": null})
}

fn raw_30001() -> Value {
    json!({"id": 30001, "name": "Example Study on BP & HR", "description": "Blood Pressure & Heart Rate",
        "iconUrl": null, "organization": 20003, "patients": [40001, 40002]})
}

async fn crud(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    let (status, body) = api_request(&app, Method::GET, "/api/v1/studies", mary, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 2);
    assert_eq!(
        body["results"],
        json!([{"id": 30002, "name": "Example Study on BP", "description": "Blood Pressure", "organization": lab(), "iconUrl": null},
            study_30001()])
    );
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies?organization_id=20003&page_size=1",
        mary,
        None,
    )
    .await;
    assert_eq!(body["count"], 2);
    assert_eq!(
        body["next"],
        format!(
            "{}/api/v1/studies?organization_id=20003&page=2&page_size=1",
            app.address
        )
    );
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies?organizationId=20008",
        mary,
        None,
    )
    .await;
    assert_eq!(body["count"], 0, "an organisation mary is not linked to");
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies?organizationId=99999",
        mary,
        None,
    )
    .await;
    assert_eq!(body["count"], 0);
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies",
        t.of(Caller::OtherOrg),
        None,
    )
    .await;
    let ids: Vec<i64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![30004, 30003], "BT before RR");

    let (status, body) = api_request(&app, Method::GET, "/api/v1/studies/30001", mary, None).await;
    assert_eq!((status, body), (200, study_30001()));
    let (status, body) = api_request(&app, Method::GET, "/api/v1/studies/39999", mary, None).await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "No Study matches the given query."}))
    );
    let (status, _) = api_request(&app, Method::GET, "/api/v1/studies/x", mary, None).await;
    assert_eq!(status, 400);

    // Create (201, write form), snake_case and camelCase.
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies",
        mary,
        Some(json!({"name": "S1", "description": "d", "organization": 20003, "icon_url": "https://x/icon.png"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(
        body,
        json!({"id": id, "name": "S1", "description": "d", "organization": 20003, "iconUrl": "https://x/icon.png"})
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies",
        mary,
        Some(json!({"name": 5, "organization": 20003})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies",
        mary,
        Some(json!({"description": "d", "organization": 20003})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"name": ["This field is required."]}))
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies",
        mary,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"organization": ["This field is required."]}))
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies",
        t.of(Caller::Superuser),
        Some(json!({"name": "x", "organization": 99999})),
    )
    .await;
    assert_eq!(status, 400);

    // Update.
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        &format!("/api/v1/studies/{id}"),
        mary,
        Some(json!({"description": "e", "iconUrl": null})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": id, "name": "S1", "description": "e", "organization": 20003, "iconUrl": null})
    );
    let (status, body) = api_request(
        &app,
        Method::PUT,
        &format!("/api/v1/studies/{id}"),
        mary,
        Some(json!({"description": "f"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"name": ["This field is required."]}))
    );
    let (status, body) = api_request(
        &app,
        Method::PUT,
        &format!("/api/v1/studies/{id}"),
        mary,
        Some(json!({"name": "S2", "description": "f", "organization": 20002})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": id, "name": "S2", "description": "f", "organization": 20002, "iconUrl": null})
    );
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        &format!("/api/v1/studies/{id}"),
        mary,
        Some(json!({"organization": 20006})),
    )
    .await;
    assert_eq!(status, 403, "moving to an organisation mary cannot manage");
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/studies/39999",
        mary,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);

    // Organisation studies (write form, by name).
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations/20003/studies",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"id": 30002, "name": "Example Study on BP", "description": "Blood Pressure", "organization": 20003, "iconUrl": null},
            {"id": 30001, "name": "Example Study on BP & HR", "description": "Blood Pressure & Heart Rate", "organization": 20003, "iconUrl": null}])
    );
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations/99999/studies",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Delete: 204, then 404.
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        &format!("/api/v1/studies/{id}"),
        mary,
        None,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, _) = api_request(
        &app,
        Method::GET,
        &format!("/api/v1/studies/{id}"),
        mary,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

async fn enrolments(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/patients",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<i64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![40001, 40002]);
    assert_eq!(body[0]["identifiers"], json!([]));
    assert_eq!(body[0]["telecomEmail"], "peter@example.com");

    // Percy joins Example Lab, then study 30002 (snake_case body).
    app.db
        .store
        .add_patient_organization(40003, 20003)
        .await
        .unwrap();
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30002/patients",
        mary,
        Some(json!({"patient_ids": [40003, 40001]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let first = &body["studyPatients"][0];
    assert_eq!(first["study"]["id"], 30002);
    assert_eq!(first["study"]["organization"], 20003);
    assert_eq!(first["study"]["patients"], json!([40001, 40002, 40003]));
    let mut patient = first["patient"].clone();
    assert!(patient["lastUpdated"].as_str().unwrap().ends_with('Z'));
    patient["lastUpdated"] = json!("T");
    assert_eq!(
        patient,
        json!({"id": 40003, "identifier": "", "nameFamily": "Hayes", "nameGiven": "Percy", "birthDate": "1987-09-21",
            "telecomPhone": "+1-415-555-0109", "lastUpdated": "T", "jheUser": 10009, "organizations": [20003, 20007]})
    );
    assert_eq!(
        body["studyPatients"][1]["patient"]["id"], 40001,
        "already enrolled is fine"
    );
    // Patients of another organisation: 400, nothing enrolled (all or nothing).
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/patients",
        mary,
        Some(json!({"patientIds": [40003, 40004]})),
    )
    .await;
    // 40004 is in no organisation of mary's: the same answer as an unknown id.
    assert_eq!(
        (status, body),
        (400, json!({"detail": "Patient 40004 does not exist."}))
    );
    let enrolled: Vec<i64> = app
        .db
        .store
        .list_study_patients(&jhe_core::store::AccessScope::system_for_tests(), 30001)
        .await
        .unwrap()
        .iter()
        .map(|e| e.patient_id)
        .collect();
    assert_eq!(enrolled, vec![40001, 40002]);
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/patients",
        mary,
        Some(json!({"patientIds": [49999]})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/patients",
        mary,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"patientIds": ["This field is required."]}))
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/39999/patients",
        mary,
        Some(json!({"patientIds": [40001]})),
    )
    .await;
    assert_eq!(status, 404);
    // Ids sent as strings (form controls) are accepted.
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/patients",
        mary,
        Some(json!({"patientIds": ["40003"]})),
    )
    .await;
    assert_eq!(status, 200);

    // Unenrol: one empty object per id, consents go with the enrolment.
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/studies/30001/patients",
        mary,
        Some(json!({"patientIds": [40002, 40003, 49999]})),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"studyPatients": [{}, {}, {}]}))
    );
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/patients",
        mary,
        None,
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    let (_, consents) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/40002/consents",
        mary,
        None,
    )
    .await;
    let studies: Vec<i64> = consents["studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(studies, vec![30002]);
}

async fn scopes_clients_and_data_sources(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    // Scope requests.
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/scope_requests",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let requests = body.as_array().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["study"], raw_30001());
    assert_eq!(
        requests[0]["scopeCode"],
        json!({"id": 50002, "codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-pressure:4.0", "text": "Blood pressure"})
    );
    assert_eq!(requests[1]["scopeCode"]["id"], 50004);
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/scope_requests",
        mary,
        Some(json!({"scope_code_id": 50001})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let request_id = body["id"].as_i64().unwrap();
    assert_eq!(
        body,
        json!({"id": request_id, "study": raw_30001(),
            "scopeCode": {"id": 50001, "codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-glucose:4.0", "text": "Blood glucose"}})
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/scope_requests",
        mary,
        Some(json!({"scopeCodeId": 50001})),
    )
    .await;
    assert_eq!(
        (status, body["id"].as_i64()),
        (200, Some(request_id)),
        "idempotent"
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/scope_requests",
        mary,
        Some(json!({"scopeCodeId": 59999})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/scope_requests",
        mary,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"scopeCodeId": ["This field is required."]}))
    );
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/studies/30001/scope_requests",
        mary,
        Some(json!({"scopeCodeId": 50001})),
    )
    .await;
    assert_eq!((status, body), (200, json!({})));
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/scope_requests",
        mary,
        None,
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 2);

    // Clients: `clientId` or `client_id` (kept as sent), never the secret.
    let client = app
        .db
        .store
        .create_client(NewOAuthClient {
            client_id: "chclient123".into(),
            redirect_uris: "https://app.example.org/cb".into(),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            client_secret: "pbkdf2_sha256$secret-hash".into(),
            name: "CommonHealth".into(),
            skip_authorization: true,
            algorithm: "RS256".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/clients",
        mary,
        Some(json!({"clientId": client.id})),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30002/clients",
        mary,
        Some(json!({"client_id": client.id})),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/clients",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut link = body[0].clone();
    assert!(!link.to_string().contains("secret"), "{link}");
    assert!(link["client"]["created"].as_str().unwrap().ends_with('Z'));
    link["client"]["created"] = json!("T");
    link["client"]["updated"] = json!("T");
    assert_eq!(
        link,
        json!({"id": link["id"], "study": raw_30001(), "client": {"id": client.id, "client_id": "chclient123",
            "redirectUris": "https://app.example.org/cb", "postLogoutRedirectUris": "", "clientType": "public",
            "authorizationGrantType": "authorization-code", "hashClientSecret": client.hash_client_secret, "name": "CommonHealth",
            "skipAuthorization": true, "created": "T", "updated": "T", "algorithm": "RS256", "allowedOrigins": "", "user": null}})
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/clients",
        mary,
        Some(json!({"clientId": 99999})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/studies/30001/clients",
        mary,
        Some(json!({"clientId": client.id})),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/clients",
        mary,
        None,
    )
    .await;
    assert_eq!(body, json!([]));

    // Data sources.
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/data_sources",
        mary,
        Some(json!({"data_source_id": 70001})),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/data_sources",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"id": body[0]["id"], "study": raw_30001(), "dataSource": {"id": 70001, "name": "CareX", "type": "personal_device"}}])
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies/30001/data_sources",
        mary,
        Some(json!({"dataSourceId": 79999})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/studies/30001/data_sources",
        mary,
        Some(json!({"dataSourceId": 70001})),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/30001/data_sources",
        mary,
        None,
    )
    .await;
    assert_eq!(body, json!([]));
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/studies/39999/data_sources",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

both_backends! {
    studies_crud => crud;
    studies_enrolments => enrolments;
    studies_scopes_clients_and_data_sources => scopes_clients_and_data_sources;
}
