//! `/api/v1/patients`: list, create, read, change, remove, global lookup, add to an organisation,
//! consolidated clients — happy paths with exact fields, validation, casing, closed gaps.

use chrono::{Duration, Utc};
use jhe_core::domain::{NewAuthorizationGrant, NewOAuthClient, SettingValue, keys};
use jhe_core::store::{OAuthStore, PatientStore, SettingStore, StudyStore, UserStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, Caller, CallerTokens, api_request, spawn_seeded};

fn example_lab() -> Value {
    json!({"id":20003,"name":"Example Lab","type":"laboratory","partOf":20002,"currentUserRole":null,"children":[]})
}

fn peter() -> Value {
    json!({
        "id": 40001, "jheUserId": 10006, "identifier": "",
        "identifiers": [],
        "nameFamily": "Smith", "nameGiven": "Peter", "birthDate": "1984-01-13",
        "telecomPhone": "+1-205-822-1761", "telecomEmail": "peter@example.com",
        "organizations": [example_lab()]
    })
}

async fn list_and_read(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    let (status, body) = api_request(&app, Method::GET, "/api/v1/patients", mary, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 2);
    assert_eq!(body["next"], Value::Null);
    assert_eq!(body["previous"], Value::Null);
    assert_eq!(body["results"][0], peter());
    assert_eq!(body["results"][1]["id"], 40002);

    // Paging with absolute links keeping the client's spelling.
    let (_, page1) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients?page_size=1",
        mary,
        None,
    )
    .await;
    assert_eq!(page1["count"], 2);
    assert_eq!(page1["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        page1["next"],
        format!("{}/api/v1/patients?page=2&page_size=1", app.address)
    );
    let (_, page2) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients?pageSize=1&page=2",
        mary,
        None,
    )
    .await;
    assert_eq!(page2["results"][0]["id"], 40002);
    assert_eq!(
        page2["previous"],
        format!("{}/api/v1/patients?pageSize=1", app.address)
    );
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients?page=3&pageSize=1",
        mary,
        None,
    )
    .await;
    assert_eq!((status, body), (404, json!({"detail": "Invalid page."})));

    // Filters, camelCase and snake_case alike.
    let mut pamela = app
        .db
        .store
        .get_patient(&jhe_core::store::AccessScope::system_for_tests(), 40002)
        .await
        .unwrap()
        .unwrap();
    pamela.identifier = Some("ehr-pamela".into());
    app.db.store.update_patient(&pamela).await.unwrap();
    for path in [
        "/api/v1/patients?organizationId=20003&studyId=30001&patientId=40001",
        "/api/v1/patients?organization_id=20003&study_id=30001&patient_id=40001",
    ] {
        let (status, body) = api_request(&app, Method::GET, path, mary, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["count"], 1, "{path}");
        assert_eq!(body["results"][0], peter(), "{path}");
    }
    for path in [
        "/api/v1/patients?patientIdentifierValue=ehr-pamela",
        "/api/v1/patients?patient_identifier_value=ehr-pamela",
    ] {
        let (status, body) = api_request(&app, Method::GET, path, mary, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["count"], 1, "{path}");
        assert_eq!(body["results"][0]["id"], 40002, "{path}");
        assert_eq!(
            body["results"][0]["identifiers"],
            json!([{"id": 40002, "system": null, "value": "ehr-pamela"}])
        );
    }
    // An organisation the caller is not linked to: empty, even though mark's patients exist.
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients?organizationId=20007",
        mary,
        None,
    )
    .await;
    assert_eq!(body["count"], 0);
    // Malformed filters are 400, never 500.
    for path in [
        "/api/v1/patients?organizationId=abc",
        "/api/v1/patients?studyId=1.5",
        "/api/v1/patients?patient_id=x",
    ] {
        let (status, body) = api_request(&app, Method::GET, path, mary, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }

    // Detail.
    let (status, body) = api_request(&app, Method::GET, "/api/v1/patients/40001", mary, None).await;
    assert_eq!((status, body), (200, peter()));
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/40001",
        t.of(Caller::Patient),
        None,
    )
    .await;
    assert_eq!((status, body), (200, peter()));
    let (status, body) = api_request(&app, Method::GET, "/api/v1/patients/49999", mary, None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "No Patient matches the given query."})
        )
    );
    let (status, _) = api_request(&app, Method::GET, "/api/v1/patients/abc", mary, None).await;
    assert_eq!(status, 400);
}

async fn create_patient(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let megan = t.of(Caller::Member);

    // snake_case body.
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(
            json!({"organization_id": 20003, "identifier": "ext-1", "name_family": "Doe",
            "name_given": "Jane", "birth_date": "1990-02-03", "telecom_email": "jane@example.org",
            "telecom_phone": "555"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_i64().unwrap();
    let user_id = body["jheUserId"].as_i64().unwrap();
    assert_eq!(
        body,
        json!({"id": id, "jheUserId": user_id, "identifier": "ext-1",
            "identifiers": [{"id": id, "system": null, "value": "ext-1"}],
            "nameFamily": "Doe", "nameGiven": "Jane", "birthDate": "1990-02-03",
            "telecomPhone": "555", "telecomEmail": "jane@example.org",
            "organizations": [example_lab()]})
    );
    let user = app.db.store.get_user(user_id).await.unwrap().unwrap();
    assert_eq!(user.email, "jane@example.org");
    assert!(user.password.starts_with('!'), "no usable password");

    // Account capture: a patient record is never linked to a practitioner's or superuser's
    // account (whoever may invite the patient could then mint tokens for that account).
    for email in ["mary@example.com", "sam@example.com"] {
        let (status, body) = api_request(
            &app,
            Method::POST,
            "/api/v1/patients",
            megan,
            Some(
                json!({"organizationId": 20003, "nameFamily": "Swanson", "nameGiven": "Mary",
                "birthDate": "1970-01-01", "telecomEmail": email}),
            ),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                409,
                json!({"detail": jhe_core::services::patients::ACCOUNT_NOT_PATIENT})
            ),
            "{email}"
        );
    }
    assert!(
        app.db
            .store
            .get_patient_by_user(10002)
            .await
            .unwrap()
            .is_none(),
        "mary's account has no patient record"
    );
    // camelCase body; reusing an existing patient-only account without a patient record.
    let orphan = app
        .db
        .store
        .create_user(jhe_core::domain::NewUser {
            email: "orphan@example.org".into(),
            password: "!".into(),
            user_type: Some(jhe_core::domain::UserType::Patient),
            ..Default::default()
        })
        .await
        .unwrap();
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(
            json!({"organizationId": 20003, "nameFamily": "Orphan", "nameGiven": "Olive",
            "birthDate": "1970-01-01", "telecomEmail": "orphan@example.org"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["jheUserId"], orphan.id);
    assert_eq!(body["identifier"], "");
    assert_eq!(body["identifiers"], json!([]));

    // Validation: every field error at once, nothing written.
    let users_before = app
        .db
        .store
        .list_users(None, jhe_core::domain::PageRequest::all())
        .await
        .unwrap()
        .total;
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(json!({"organizationId": 20003})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"birthDate": ["This field is required."], "nameFamily": ["This field is required."],
            "nameGiven": ["This field is required."], "telecomEmail": ["This field is required."]})
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(
            json!({"organizationId": 20003, "nameFamily": "X", "nameGiven": "Y",
            "birthDate": "03/02/1990", "telecomEmail": "not-an-email"}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["telecomEmail"],
        json!(["Enter a valid email address."])
    );
    assert!(body["birthDate"].is_array());
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(json!({"nameFamily": "X", "nameGiven": "Y", "birthDate": "1990-01-01", "telecomEmail": "x@example.org"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"organizationId": ["This field is required."]}))
    );
    // A user who already has a patient record: 409 JSON, nothing written.
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(
            json!({"organizationId": 20003, "nameFamily": "Smith", "nameGiven": "Peter",
            "birthDate": "1984-01-13", "telecomEmail": "peter@example.com"}),
        ),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("already exists"));
    let users_after = app
        .db
        .store
        .list_users(None, jhe_core::domain::PageRequest::all())
        .await
        .unwrap()
        .total;
    assert_eq!(users_before, users_after);
    // Malformed JSON and wrong types are 400.
    let response = crate::support::plain_client()
        .post(app.url("/api/v1/patients"))
        .bearer_auth(megan.unwrap())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(json!({"organizationId": 20003, "nameFamily": 5})),
    )
    .await;
    assert_eq!(status, 400);
    // An organisation that does not exist: no role there.
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        megan,
        Some(json!({"organizationId": 99999, "nameFamily": "X", "nameGiven": "Y", "birthDate": "1990-01-01", "telecomEmail": "y@example.org"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        t.of(Caller::Superuser),
        Some(json!({"organizationId": 99999, "nameFamily": "X", "nameGiven": "Y", "birthDate": "1990-01-01", "telecomEmail": "y@example.org"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["organizationId"].is_array());
}

async fn update_and_remove(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    let (status, body) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40001?organization_id=20003",
        mary,
        Some(json!({"telecom_phone": "+1-000", "identifier": "ehr-1"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut expected = peter();
    expected["telecomPhone"] = json!("+1-000");
    expected["identifier"] = json!("ehr-1");
    expected["identifiers"] = json!([{"id": 40001, "system": null, "value": "ehr-1"}]);
    assert_eq!(body, expected);

    // PUT needs names and birth date.
    let (status, body) = api_request(
        &app,
        Method::PUT,
        "/api/v1/patients/40001?organizationId=20003",
        mary,
        Some(json!({"nameFamily": "Smith"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"birthDate": ["This field is required."], "nameGiven": ["This field is required."]})
    );
    let (status, body) = api_request(
        &app,
        Method::PUT,
        "/api/v1/patients/40001?organizationId=20003",
        mary,
        Some(json!({"nameFamily": "Smyth", "nameGiven": "Pete", "birthDate": "1984-01-14"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["nameFamily"],
            &body["nameGiven"],
            &body["birthDate"],
            &body["identifier"],
            &body["telecomPhone"]
        ),
        (
            &json!("Smyth"),
            &json!("Pete"),
            &json!("1984-01-14"),
            &json!(""),
            &Value::Null
        )
    );
    // Without organizationId a practitioner is refused; a superuser who shares no organisation
    // with the patient cannot see it at all.
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40001",
        mary,
        Some(json!({"nameGiven": "P"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40001",
        t.of(Caller::Superuser),
        Some(json!({"nameGiven": "P"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/49999?organizationId=20003",
        mary,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);

    // Remove from an organisation: pat (40005) is in 20006 and 20008. Mark manages 20006.
    let mark = t.of(Caller::OtherOrg);
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/patients/40005?organizationId=20006",
        mark,
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    assert_eq!(
        app.db
            .store
            .list_patient_organization_ids(40005)
            .await
            .unwrap(),
        vec![20008]
    );
    let studies: Vec<i64> = app
        .db
        .store
        .list_patient_studies(&jhe_core::store::AccessScope::system_for_tests(), 40005)
        .await
        .unwrap()
        .iter()
        .map(|e| e.study_id)
        .collect();
    assert_eq!(
        studies,
        vec![30005],
        "the enrolment in 20006's study 30003 is gone"
    );
    assert!(app.db.store.get_user(10011).await.unwrap().is_some());

    // Removing peter from his only organisation deletes the patient, observations and account.
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/patients/40001?organizationId=20003",
        mary,
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    assert!(
        app.db
            .store
            .get_patient(&jhe_core::store::AccessScope::system_for_tests(), 40001)
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.db.store.get_user(10006).await.unwrap().is_none());
    let (status, _) = api_request(&app, Method::GET, "/api/v1/patients/40001", mary, None).await;
    assert_eq!(status, 404);

    // A patient record linked to a practitioner's account (possible in data from the original):
    // removing it keeps the account.
    let legacy = app
        .db
        .store
        .create_patient(jhe_core::domain::NewPatient {
            id: None,
            jhe_user_id: Some(10003),
            identifier: None,
            name_family: "Ruiz".into(),
            name_given: "Megan".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            telecom_phone: None,
        })
        .await
        .unwrap();
    app.db
        .store
        .add_patient_organization(legacy.id, 20003)
        .await
        .unwrap();
    let (status, _) = api_request(
        &app,
        Method::DELETE,
        &format!("/api/v1/patients/{}?organizationId=20003", legacy.id),
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(app.db.store.get_user(10003).await.unwrap().is_some());

    // Superuser who cannot see the patient: 404; practitioner without organizationId: 403.
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/patients/40002",
        t.of(Caller::Superuser),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "No Patient matches the given query."})
        )
    );
    let (status, _) = api_request(&app, Method::DELETE, "/api/v1/patients/40002", mary, None).await;
    assert_eq!(status, 403);
}

async fn lookup_and_add_organization(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);

    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/global_lookup?email=percy@example.com",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Only that the patient exists and which of mary's organisations they are in (none): no
    // names, no other organisations.
    assert_eq!(
        body,
        json!([{"id": 40003, "telecomEmail": "percy@example.com", "organizations": []}])
    );
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/global_lookup?email=nobody@example.com",
        mary,
        None,
    )
    .await;
    assert_eq!(body, json!([]));
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/global_lookup?email=mary@example.com",
        mary,
        None,
    )
    .await;
    assert_eq!(body, json!([]), "practitioners are not patients");
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/global_lookup",
        mary,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"detail": "email parameter required"}))
    );

    // A sequential id is not enough to pull a patient of another organisation in: the address
    // of the lookup must come with it (404 otherwise, as for an unknown id).
    for path in [
        "/api/v1/patients/40003/global_add_organization?organization_id=20003",
        "/api/v1/patients/40003/global_add_organization?organization_id=20003&email=peter@example.com",
    ] {
        let (status, _) = api_request(&app, Method::PATCH, path, mary, None).await;
        assert_eq!(status, 404, "{path}");
    }
    assert_eq!(
        app.db
            .store
            .list_patient_organization_ids(40003)
            .await
            .unwrap(),
        vec![20007]
    );
    // A viewer (no patient.manage_for_organization) may neither look up nor add.
    let viewer = t.of(Caller::Viewer);
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/global_lookup?email=percy@example.com",
        viewer,
        None,
    )
    .await;
    assert_eq!(status, 403);

    // Add percy to Example Lab (idempotent).
    for _ in 0..2 {
        let (status, body) = api_request(
            &app,
            Method::PATCH,
            "/api/v1/patients/40003/global_add_organization?organization_id=20003&email=percy@example.com",
            mary,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], 40003);
        let ids: Vec<i64> = body["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![20003, 20007], "ordered by name");
    }
    let (status, _) = api_request(&app, Method::GET, "/api/v1/patients/40003", mary, None).await;
    assert_eq!(status, 200, "now shared");
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40003/global_add_organization?organizationId=99999",
        mary,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "No Organization matches the given query."})
        )
    );
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40003/global_add_organization",
        mary,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"detail": "organizationId parameter required"}))
    );
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/49999/global_add_organization?organizationId=20003",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

async fn consolidated_clients(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let store = &app.db.store;
    use jhe_core::store::ClientStore;
    let client = store
        .create_client(NewOAuthClient {
            client_id: "chclient123".into(),
            redirect_uris: format!("{}/auth/callback", app.address),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            name: "CommonHealth".into(),
            skip_authorization: true,
            algorithm: "RS256".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let verifier = "abcVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER";
    store
        .upsert_setting(
            keys::CLIENT_CODE_VERIFIER,
            Some(client.id),
            SettingValue::String(verifier.into()),
        )
        .await
        .unwrap();
    store
        .upsert_setting(
            keys::CLIENT_INVITATION_URL,
            Some(client.id),
            SettingValue::String("https://app.example.org/invite?code=CODE".into()),
        )
        .await
        .unwrap();
    store.add_study_client(30001, client.id).await.unwrap();
    store.add_study_client(30002, client.id).await.unwrap();

    let path = "/api/v1/patients/40001/consolidated_clients";
    let (status, body) = api_request(&app, Method::GET, path, t.of(Caller::Patient), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!([{"id": client.id, "name": "CommonHealth", "clientId": "chclient123", "codeVerifier": null,
            "invitationUrl": "https://app.example.org/invite?code=CODE", "invitationLink": null}])
    );
    // A superuser sees the patient only through a shared organisation.
    let (status, _) = api_request(&app, Method::GET, path, t.of(Caller::Superuser), None).await;
    assert_eq!(status, 404);
    use jhe_core::store::UserStore;
    let sam = store
        .get_practitioner_by_user(10001)
        .await
        .unwrap()
        .unwrap();
    store
        .upsert_practitioner_organization(sam.id, 20003, "viewer")
        .await
        .unwrap();
    // The code verifier shows only to those who may manage clients (as in the client list).
    let (_, body) = api_request(&app, Method::GET, path, t.of(Caller::Superuser), None).await;
    assert_eq!(body[0]["codeVerifier"], verifier);

    store
        .create_grant(NewAuthorizationGrant {
            code_hash: jhe_kdf::sha256_hex("INVITE42"),
            application_id: client.id,
            user_id: 10006,
            expires: Utc::now() + Duration::days(14),
            redirect_uri: format!("{}/auth/callback", app.address),
            scope: "openid email".into(),
            code_challenge: String::new(),
            code_challenge_method: "S256".into(),
            nonce: String::new(),
            claims: "{}".into(),
            auth_time: None,
        })
        .await
        .unwrap();
    // Invitation codes are stored hashed: a live invitation cannot be shown again (the original
    // re-rendered the plain code).
    let (status, body) = api_request(&app, Method::GET, path, t.of(Caller::Manager), None).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["invitationLink"], Value::Null);
    assert!(!body.to_string().contains("INVITE42"));
    // Pamela is enrolled too but has no invitation.
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/40002/consolidated_clients",
        t.of(Caller::Manager),
        None,
    )
    .await;
    assert_eq!(body[0]["invitationLink"], Value::Null);
    // Percy's studies have no clients.
    let (_, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/40003/consolidated_clients",
        t.of(Caller::OtherOrg),
        None,
    )
    .await;
    assert_eq!(body, json!([]));
    // Not visible and unknown: both 404.
    let (status, _) = api_request(&app, Method::GET, path, t.of(Caller::OtherOrg), None).await;
    assert_eq!(status, 404);
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/49999/consolidated_clients",
        t.of(Caller::Manager),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// Odd input across the patient, consent, study and observation endpoints: 4xx JSON, never 5xx.
async fn odd_input(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let mary = t.of(Caller::Manager);
    let long_email = format!("{}@example.org", "a".repeat(300));
    let consent = |study: Value, code: &str| {
        json!({"studyScopeConsents": [{"studyId": study, "scopeConsents": [
            {"codingSystem": "https://w3id.org/openmhealth", "codingCode": code, "consented": true}]}]})
    };
    let cases: Vec<(Method, String, Option<Value>, u16)> = vec![
        (
            Method::GET,
            "/api/v1/patients?patientIdentifierValue=%00".into(),
            None,
            400, // control characters are refused (issue 10)
        ),
        (
            Method::GET,
            "/api/v1/patients/global_lookup?email=%00".into(),
            None,
            400, // control characters are refused (issue 10)
        ),
        (
            Method::GET,
            "/api/v1/patients/99999999999999999999".into(),
            None,
            400,
        ),
        (Method::GET, "/api/v1/patients/-1".into(), None, 404),
        (Method::GET, "/api/v1/patients?page=0".into(), None, 404),
        (
            Method::GET,
            "/api/v1/patients?pageSize=-5".into(),
            None,
            200,
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            Some(
                json!({"organizationId": 20003, "nameFamily": "a\u{0}b", "nameGiven": "x", "birthDate": "1990-01-01", "telecomEmail": "nul@example.org"}),
            ),
            400,
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            Some(
                json!({"organizationId": 20003, "nameFamily": "a", "nameGiven": "x", "birthDate": "1990-01-01", "telecomEmail": long_email}),
            ),
            400,
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            Some(
                json!({"organizationId": 20003, "nameFamily": "a", "nameGiven": "x", "birthDate": "0000-01-01", "telecomEmail": "y@example.org"}),
            ),
            400,
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            Some(json!({"organizationId": "abc"})),
            400,
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            Some(json!([1, 2])),
            400,
        ),
        (
            Method::PATCH,
            "/api/v1/patients/40001?organizationId=20003".into(),
            Some(json!({"telecomPhone": "\u{0}"})),
            400,
        ),
        (
            Method::POST,
            "/api/v1/patients/40001/consents".into(),
            Some(consent(json!(30002), "omh:\u{0}")),
            400,
        ),
        (
            Method::POST,
            "/api/v1/patients/40001/consents".into(),
            Some(consent(json!("abc"), "omh:blood-pressure:4.0")),
            400,
        ),
        (
            Method::POST,
            "/api/v1/patients/40001/consents".into(),
            Some(consent(json!(-1), "omh:blood-pressure:4.0")),
            400,
        ),
        (
            Method::POST,
            "/api/v1/studies".into(),
            Some(json!({"name": "\u{0}", "organization": 20003})),
            400,
        ),
        (
            Method::POST,
            "/api/v1/studies".into(),
            Some(json!({"name": ["x"], "organization": 20003})),
            400,
        ),
        (
            Method::POST,
            "/api/v1/studies/30001/patients".into(),
            Some(json!({"patientIds": "x"})),
            400,
        ),
        (
            Method::POST,
            "/api/v1/studies/30001/patients".into(),
            Some(json!({"patientIds": [1e30]})),
            400,
        ),
        (
            Method::POST,
            "/api/v1/studies/30001/scope_requests".into(),
            Some(json!({"scopeCodeId": null})),
            400,
        ),
        (
            Method::GET,
            "/api/v1/observations?page=abc".into(),
            None,
            404,
        ),
        (
            Method::GET,
            "/api/v1/observations?observationId=99999999999999999999".into(),
            None,
            400,
        ),
        (Method::GET, "/api/v1/observations/abc".into(), None, 400),
    ];
    for (method, path, body, expected) in cases {
        let (status, answer) = api_request(&app, method.clone(), &path, mary, body.clone()).await;
        assert_eq!(status, expected, "{method} {path} {body:?}: {answer}");
    }
    // Not JSON at all, or no body.
    for (method, path) in [
        (Method::POST, "/api/v1/patients"),
        (Method::POST, "/api/v1/patients/40001/consents"),
        (Method::DELETE, "/api/v1/studies/30001/patients"),
        (Method::POST, "/api/v1/studies"),
    ] {
        for content_type in [Some("text/plain"), Some("application/json"), None] {
            let mut request = crate::support::plain_client()
                .request(method.clone(), app.url(path))
                .bearer_auth(mary.unwrap());
            if let Some(ct) = content_type {
                request = request.header("content-type", ct).body("{oops");
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "{method} {path} {content_type:?}: {status}"
            );
            let body: Value = response.json().await.unwrap();
            assert!(body["detail"].is_string(), "{body}");
        }
    }
}

both_backends! {
    patients_odd_input => odd_input;
    patients_list_and_read => list_and_read;
    patients_create => create_patient;
    patients_update_and_remove => update_and_remove;
    patients_lookup_and_add_organization => lookup_and_add_organization;
    patients_consolidated_clients => consolidated_clients;
}
