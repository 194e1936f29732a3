//! `/api/v1/clients`: OAuth client applications. Closed gaps: writes need `client.manage`,
//! practitioners read without code verifiers, patients may not list, secrets never leave.

use jhe_core::domain::keys;
use jhe_core::store::{ClientStore, SettingStore, StudyStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::seeded::{MANAGER, MEMBER, OTHER_ORG, PATIENT, SUPERUSER, VIEWER};
use crate::support::{Backend, TestApp, api_request, bearer_for, spawn_seeded};

const VERIFIER: &str = "abcVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER01";
const VERIFIER_2: &str = "zyxwvutsrqponmlkjihgfedcba-0123456789._~ABCDE";
const INVITE: &str = "https://app.example.org/invite?code=CODE";

fn new_client(client_id: &str) -> Value {
    json!({"name": "CommonHealth", "clientId": client_id, "invitationUrl": INVITE, "codeVerifier": VERIFIER})
}

async fn create(app: &TestApp, token: &str, client_id: &str) -> Value {
    let (status, body) = api_request(
        app,
        Method::POST,
        "/api/v1/clients",
        Some(token),
        Some(new_client(client_id)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Fails when any key of `value` (recursively) mentions a secret.
fn assert_no_secret(value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                assert!(!k.to_lowercase().contains("secret"), "{k} in {value}");
                assert_no_secret(v);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_no_secret),
        _ => {}
    }
}

async fn crud_happy_path(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());

    // The portal's own client is never listed.
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/clients", t, None).await,
        (
            200,
            json!({"count": 0, "next": null, "previous": null, "results": []})
        )
    );

    let created = create(&app, &sam, "chclient123").await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created,
        json!({"id": id, "name": "CommonHealth", "clientId": "chclient123", "codeVerifier": VERIFIER,
               "invitationUrl": INVITE, "invitationLink": null})
    );
    let stored = app.db.store.get_client(id).await.unwrap().unwrap();
    assert_eq!(stored.client_type, "public");
    assert_eq!(stored.authorization_grant_type, "authorization-code");
    assert!(stored.skip_authorization);
    assert_eq!(
        stored.redirect_uris,
        format!("{}/auth/callback", app.address)
    );
    assert_eq!(stored.algorithm, "RS256");
    assert_eq!(stored.client_secret, "", "no usable secret");
    assert_eq!(stored.user_id, None);
    let setting = |key: &'static str| {
        let store = app.db.store.clone();
        async move {
            store
                .get_setting(key, Some(id))
                .await
                .unwrap()
                .and_then(|s| s.value.as_str().map(str::to_string))
        }
    };
    assert_eq!(
        setting(keys::CLIENT_CODE_VERIFIER).await.as_deref(),
        Some(VERIFIER)
    );
    assert_eq!(
        setting(keys::CLIENT_INVITATION_URL).await.as_deref(),
        Some(INVITE)
    );

    let path = format!("/api/v1/clients/{id}");
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (200, created.clone())
    );
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/clients", t, None).await,
        (
            200,
            json!({"count": 1, "next": null, "previous": null, "results": [created.clone()]})
        )
    );

    // PATCH: "" deletes a setting, an absent key leaves it.
    let (status, patched) = api_request(
        &app,
        Method::PATCH,
        &path,
        t,
        Some(json!({"name": "CH2", "invitationUrl": ""})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched,
        json!({"id": id, "name": "CH2", "clientId": "chclient123", "codeVerifier": VERIFIER,
               "invitationUrl": null, "invitationLink": null})
    );
    assert_eq!(setting(keys::CLIENT_INVITATION_URL).await, None);
    // null deletes too.
    let (status, patched) = api_request(
        &app,
        Method::PATCH,
        &path,
        t,
        Some(json!({"codeVerifier": null})),
    )
    .await;
    assert_eq!((status, &patched["codeVerifier"]), (200, &Value::Null));
    assert_eq!(setting(keys::CLIENT_CODE_VERIFIER).await, None);
    // The portal sends all four.
    let (status, patched) = api_request(
        &app,
        Method::PATCH,
        &path,
        t,
        Some(json!({"name": "CH3", "clientId": "ch-new", "invitationUrl": "https://x.example/i/CODE", "codeVerifier": VERIFIER_2})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched,
        json!({"id": id, "name": "CH3", "clientId": "ch-new", "codeVerifier": VERIFIER_2,
               "invitationUrl": "https://x.example/i/CODE", "invitationLink": null})
    );
    let (status, put) =
        api_request(&app, Method::PUT, &path, t, Some(json!({"name": "CH4"}))).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["name"], "CH4");
    assert_eq!(put["codeVerifier"], VERIFIER_2);
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (200, put.clone())
    );

    // Data sources of the client.
    let ds = format!("{path}/data_sources");
    assert_eq!(
        api_request(&app, Method::GET, &ds, t, None).await,
        (200, json!([]))
    );
    let (status, link) = api_request(
        &app,
        Method::POST,
        &ds,
        t,
        Some(json!({"dataSourceId": 70001})),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let link_id = link["id"].as_i64().unwrap();
    assert_eq!(
        link,
        json!({"id": link_id, "client_id": id.to_string(), "dataSourceId": 70001})
    );
    assert_eq!(
        api_request(&app, Method::GET, &ds, t, None).await,
        (
            200,
            json!([{"id": 70001, "name": "CareX", "type": "personal_device", "supportedScopes": []}])
        )
    );
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            &ds,
            t,
            Some(json!({"dataSourceId": 70001}))
        )
        .await,
        (200, json!({}))
    );
    assert_eq!(
        api_request(&app, Method::GET, &ds, t, None).await,
        (200, json!([]))
    );

    // A newer client is listed first.
    let second = create(&app, &sam, "second-client").await;
    let (_, list) = api_request(&app, Method::GET, "/api/v1/clients", t, None).await;
    assert_eq!(list["count"], 2);
    assert_eq!(list["results"][0], second);
    assert_eq!(list["results"][1], put);

    // Delete cascades: study and data source links, settings.
    app.db.store.add_study_client(30001, id).await.unwrap();
    app.db
        .store
        .add_client_data_source(id, 70002)
        .await
        .unwrap();
    let (status, body) = api_request(&app, Method::DELETE, &path, t, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (
            404,
            json!({"detail": "No Application matches the given query."})
        )
    );
    assert!(app.db.store.get_client(id).await.unwrap().is_none());
    assert!(
        !app.db
            .store
            .list_study_clients(30001)
            .await
            .unwrap()
            .iter()
            .any(|l| l.client_id == id)
    );
    assert!(
        app.db
            .store
            .list_client_data_sources(id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(setting(keys::CLIENT_CODE_VERIFIER).await, None);
    assert_eq!(setting(keys::CLIENT_INVITATION_URL).await, None);
}

async fn validation_and_errors(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    let post = |body: Value| {
        let app = &app;
        async move { api_request(app, Method::POST, "/api/v1/clients", t, Some(body)).await }
    };
    // All four required, reported together under the original's keys.
    assert_eq!(
        post(json!({})).await,
        (
            400,
            json!({"name": ["This field is required."], "clientId": ["This field is required."],
                   "invitation_url": ["This field is required."], "code_verifier": ["This field is required."]})
        )
    );
    assert_eq!(
        post(
            json!({"name": "", "clientId": "x", "invitationUrl": INVITE, "codeVerifier": VERIFIER})
        )
        .await,
        (400, json!({"name": ["This field is required."]}))
    );
    let (status, body) = post(
        json!({"name": "N", "clientId": "x", "invitationUrl": INVITE, "codeVerifier": "short"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["code_verifier"].is_array(), "{body}");
    let (status, body) = post(json!({"name": "N", "clientId": "has space", "invitationUrl": INVITE, "codeVerifier": VERIFIER})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["clientId"].is_array(), "{body}");
    let (status, body) = post(json!({"name": "N", "clientId": "x".repeat(101), "invitationUrl": INVITE, "codeVerifier": VERIFIER})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["clientId"].is_array(), "{body}");
    // Nothing was created by the refused requests.
    let (_, list) = api_request(&app, Method::GET, "/api/v1/clients", t, None).await;
    assert_eq!(list["count"], 0);

    create(&app, &sam, "dup").await;
    let duplicate = json!({"clientId": ["Application with this client id already exists."]});
    assert_eq!(post(new_client("dup")).await, (400, duplicate.clone()));
    // The portal's own client_id is taken too, although that client is invisible.
    let admin_ui = crate::support::admin_ui_client_id(&app).await;
    assert_eq!(post(new_client(&admin_ui)).await, (400, duplicate.clone()));
    let other = create(&app, &sam, "other").await;
    let other_path = format!("/api/v1/clients/{}", other["id"]);
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            &other_path,
            t,
            Some(json!({"clientId": "dup"}))
        )
        .await,
        (400, duplicate)
    );
    assert_eq!(
        api_request(
            &app,
            Method::PUT,
            &other_path,
            t,
            Some(json!({"clientId": "other"}))
        )
        .await,
        (400, json!({"name": ["This field is required."]}))
    );

    // The portal's own client, unknown and malformed ids.
    let admin_ui_id = app
        .db
        .store
        .get_client_by_client_id(&admin_ui)
        .await
        .unwrap()
        .unwrap()
        .id;
    let not_found = json!({"detail": "No Application matches the given query."});
    for path in [
        format!("/api/v1/clients/{admin_ui_id}"),
        "/api/v1/clients/99999".to_string(),
    ] {
        assert_eq!(
            api_request(&app, Method::GET, &path, t, None).await,
            (404, not_found.clone()),
            "{path}"
        );
        assert_eq!(
            api_request(&app, Method::PATCH, &path, t, Some(json!({"name": "x"}))).await,
            (404, not_found.clone())
        );
        assert_eq!(
            api_request(&app, Method::DELETE, &path, t, None).await,
            (404, not_found.clone())
        );
        assert_eq!(
            api_request(&app, Method::GET, &format!("{path}/data_sources"), t, None).await,
            (404, not_found.clone())
        );
    }
    assert!(
        app.db
            .store
            .get_client(admin_ui_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/clients/abc", t, None).await,
        (400, json!({"detail": "\"abc\" is not a valid id."}))
    );

    // Data source links: the id is required and must exist.
    let ds = format!("{other_path}/data_sources");
    assert_eq!(
        api_request(&app, Method::POST, &ds, t, Some(json!({}))).await,
        (400, json!({"dataSourceId": ["This field is required."]}))
    );
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            &ds,
            t,
            Some(json!({"dataSourceId": 79999}))
        )
        .await,
        (
            400,
            json!({"dataSourceId": ["Invalid pk \"79999\" - object does not exist."]})
        )
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        &ds,
        t,
        Some(json!({"dataSourceId": "70002"})),
    )
    .await;
    assert_eq!(
        (status, &body["dataSourceId"]),
        (200, &json!(70002)),
        "{body}"
    );
}

async fn snake_and_camel_case_requests_agree(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    let camel = create(&app, &sam, "camel").await;
    let (status, snake) = api_request(
        &app,
        Method::POST,
        "/api/v1/clients",
        t,
        Some(json!({"name": "CommonHealth", "client_id": "snake", "invitation_url": INVITE, "code_verifier": VERIFIER})),
    )
    .await;
    assert_eq!(status, 201, "{snake}");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("id");
        v.as_object_mut().unwrap().remove("clientId");
        v
    };
    assert_eq!(strip(snake.clone()), strip(camel));
    assert_eq!(snake["clientId"], "snake");
    let path = format!("/api/v1/clients/{}", snake["id"]);
    let (status, a) = api_request(
        &app,
        Method::PATCH,
        &path,
        t,
        Some(json!({"invitation_url": "https://a/CODE"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, b) = api_request(
        &app,
        Method::PATCH,
        &path,
        t,
        Some(json!({"invitationUrl": "https://a/CODE"})),
    )
    .await;
    assert_eq!((status, &b), (200, &a));
    let ds = format!("{path}/data_sources");
    let (_, a) = api_request(
        &app,
        Method::POST,
        &ds,
        t,
        Some(json!({"data_source_id": 70003})),
    )
    .await;
    let (_, b) = api_request(
        &app,
        Method::POST,
        &ds,
        t,
        Some(json!({"dataSourceId": 70003})),
    )
    .await;
    assert_eq!(a, b);
    assert_eq!(a["dataSourceId"], 70003);
}

async fn permission_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let existing = create(&app, &sam, "existing").await;
    let id = existing["id"].as_i64().unwrap();
    let mut callers: Vec<(&str, Option<String>)> = Vec::new();
    for (name, uid) in [
        ("manager", MANAGER),
        ("member", MEMBER),
        ("viewer", VIEWER),
        ("other organisation", OTHER_ORG),
        ("patient", PATIENT),
    ] {
        callers.push((name, Some(bearer_for(&app, uid).await)));
    }
    callers.push(("anonymous", None));
    callers.push(("superuser", Some(sam.clone())));

    let one = format!("/api/v1/clients/{id}");
    let ds = format!("{one}/data_sources");
    // (method, path, body, superuser status, practitioners may)
    let cases: Vec<(Method, String, Option<Value>, u16, bool)> = vec![
        (Method::GET, "/api/v1/clients".into(), None, 200, true),
        (Method::GET, one.clone(), None, 200, true),
        (Method::GET, ds.clone(), None, 200, true),
        (
            Method::POST,
            "/api/v1/clients".into(),
            Some(new_client("made-by-sam")),
            201,
            false,
        ),
        (
            Method::PATCH,
            one.clone(),
            Some(json!({"name": "Renamed"})),
            200,
            false,
        ),
        (
            Method::PUT,
            one.clone(),
            Some(json!({"name": "Renamed"})),
            200,
            false,
        ),
        (
            Method::POST,
            ds.clone(),
            Some(json!({"dataSourceId": 70001})),
            200,
            false,
        ),
        (
            Method::DELETE,
            ds.clone(),
            Some(json!({"dataSourceId": 70001})),
            200,
            false,
        ),
        (Method::DELETE, one.clone(), None, 204, false),
    ];
    for (who, token) in &callers {
        for (method, path, body, superuser_status, practitioners) in &cases {
            let (status, answer) =
                api_request(&app, method.clone(), path, token.as_deref(), body.clone()).await;
            let expected = match *who {
                "anonymous" => 401,
                "superuser" => *superuser_status,
                "patient" => 403,
                _ if *practitioners => 200,
                _ => 403,
            };
            assert_eq!(status, expected, "{who}: {method} {path} → {answer}");
            assert_no_secret(&answer);
            if *who != "superuser" && status == 200 {
                // Practitioners never see code verifiers.
                let rows = answer.get("results").cloned().unwrap_or(answer.clone());
                for row in rows
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| vec![rows.clone()])
                {
                    if row.get("codeVerifier").is_some() {
                        assert_eq!(row["codeVerifier"], Value::Null, "{who}: {row}");
                    }
                }
            }
        }
        if *who != "superuser" {
            let (_, now) = api_request(&app, Method::GET, &one, Some(&sam), None).await;
            assert_eq!(now, existing, "{who} changed nothing");
        }
    }
}

/// A seeded app with one client; tokens of sam, mary and peter; the client and its path.
async fn gap_setup(backend: Backend) -> (TestApp, [String; 3], Value, String) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let mary = bearer_for(&app, MANAGER).await;
    let peter = bearer_for(&app, PATIENT).await;
    let existing = create(&app, &sam, "existing").await;
    let one = format!("/api/v1/clients/{}", existing["id"]);
    (app, [sam, mary, peter], existing, one)
}

/// Closed gap: the original lets any authenticated user create, change and delete clients.
async fn closed_gap_writes_need_manage(backend: Backend) {
    let (app, [sam, mary, _], existing, one) = gap_setup(backend).await;
    let denied = json!({"detail": "You do not have permission to perform this action."});

    // Client writes by a practitioner: refused, and nothing happens.
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            "/api/v1/clients",
            Some(&mary),
            Some(new_client("marys"))
        )
        .await,
        (403, denied.clone())
    );
    assert!(
        app.db
            .store
            .get_client_by_client_id("marys")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            &one,
            Some(&mary),
            Some(json!({"name": "Mine", "codeVerifier": ""}))
        )
        .await,
        (403, denied.clone())
    );
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            &format!("{one}/data_sources"),
            Some(&mary),
            Some(json!({"dataSourceId": 70001}))
        )
        .await,
        (403, denied.clone())
    );
    assert_eq!(
        api_request(&app, Method::DELETE, &one, Some(&mary), None).await,
        (403, denied.clone())
    );
    assert_eq!(
        api_request(&app, Method::GET, &one, Some(&sam), None).await,
        (200, existing.clone())
    );
}

/// Closed gap: the original shows every client's code verifier to anyone authenticated.
async fn closed_gap_no_verifiers_or_secrets_for_practitioners(backend: Backend) {
    let (app, [sam, mary, peter], existing, one) = gap_setup(backend).await;
    let denied = json!({"detail": "You do not have permission to perform this action."});
    // Practitioners read clients (to attach them to studies) without the code verifier.
    let mut hidden = existing.clone();
    hidden["codeVerifier"] = Value::Null;
    assert_eq!(
        api_request(&app, Method::GET, &one, Some(&mary), None).await,
        (200, hidden.clone())
    );
    let (status, list) = api_request(&app, Method::GET, "/api/v1/clients", Some(&mary), None).await;
    assert_eq!((status, &list["results"]), (200, &json!([hidden])));
    assert!(!list.to_string().contains(VERIFIER));

    // Patients may not list clients.
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/clients", Some(&peter), None).await,
        (403, denied.clone())
    );
    assert_eq!(
        api_request(&app, Method::GET, &one, Some(&peter), None).await,
        (403, denied)
    );

    // Nobody ever sees a secret, not even a superuser looking at a confidential client.
    let mut confidential = app
        .db
        .store
        .get_client(existing["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    confidential.client_type = "confidential".into();
    confidential.client_secret = jhe_kdf::hash_password("s3cret-value").unwrap();
    app.db.store.update_client(&confidential).await.unwrap();
    for token in [&sam, &mary] {
        let (_, body) = api_request(&app, Method::GET, &one, Some(token), None).await;
        assert_no_secret(&body);
        assert!(
            !body.to_string().contains("s3cret")
                && !body.to_string().contains(&confidential.client_secret)
        );
        let (_, body) = api_request(&app, Method::GET, "/api/v1/clients", Some(token), None).await;
        assert_no_secret(&body);
    }
}

both_backends! {
    clients_crud_happy_path => crud_happy_path;
    clients_validation_and_errors => validation_and_errors;
    clients_snake_and_camel_case_agree => snake_and_camel_case_requests_agree;
    clients_permission_matrix => permission_matrix;
    clients_closed_gap_writes_need_manage => closed_gap_writes_need_manage;
    clients_closed_gap_no_verifiers_or_secrets => closed_gap_no_verifiers_or_secrets_for_practitioners;
}
