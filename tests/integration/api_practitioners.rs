//! `/api/v1/practitioners`: superusers only; `POST` creates (the original fails with 500).
//! Also checks that the OpenAPI document describes the Admin endpoints of this area.

use jhe_core::store::UserStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::seeded::{MANAGER, MEMBER, OTHER_ORG, PATIENT, SUPERUSER, VIEWER};
use crate::support::{Backend, api_request, bearer_for, spawn_seeded};

fn org(id: i64, name: &str, org_type: &str, part_of: i64) -> Value {
    json!({"id": id, "name": name, "type": org_type, "partOf": part_of, "currentUserRole": null, "children": []})
}

fn mary() -> Value {
    json!({
        "id": 80002, "jheUserId": 10002, "identifier": "", "nameFamily": "Swanson", "nameGiven": "Mary",
        "telecomPhone": "+1-770-135-4993", "telecomEmail": "mary@example.com",
        "organizations": [
            org(20003, "Example Lab", "laboratory", 20002),
            org(20001, "Example Research Institute", "edu", 0),
            org(20002, "Example School of Data Science", "team", 20001),
        ]
    })
}

async fn crud_happy_path(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());

    let (status, list) = api_request(&app, Method::GET, "/api/v1/practitioners", t, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["count"], 6);
    assert_eq!(
        (list["next"].clone(), list["previous"].clone()),
        (Value::Null, Value::Null)
    );
    let results = list["results"].as_array().unwrap();
    let ids: Vec<i64> = results.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![80001, 80002, 80003, 80004, 80005, 80006]);
    assert_eq!(
        results[0],
        json!({"id": 80001, "jheUserId": 10001, "identifier": "", "nameFamily": null, "nameGiven": null,
               "telecomPhone": null, "telecomEmail": "sam@example.com", "organizations": []})
    );
    assert_eq!(results[1], mary());
    // pageSize is ignored.
    let (_, paged) = api_request(
        &app,
        Method::GET,
        "/api/v1/practitioners?pageSize=2",
        t,
        None,
    )
    .await;
    assert_eq!(paged, list);
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/practitioners/80002", t, None).await,
        (200, mary())
    );

    // PATCH (with the portal's ignored organizationId and an unknown field).
    let (status, patched) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/practitioners/80002?organizationId=20003",
        t,
        Some(json!({"nameFamily": "Swanson-Smith", "birthDate": "2000-01-01"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    let mut expected = mary();
    expected["nameFamily"] = json!("Swanson-Smith");
    assert_eq!(patched, expected);
    let (status, put) = api_request(
        &app,
        Method::PUT,
        "/api/v1/practitioners/80002",
        t,
        Some(json!({"identifier": "EXT-1", "nameFamily": "S", "nameGiven": "M", "telecomPhone": "+1-555-0100"})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    expected["identifier"] = json!("EXT-1");
    expected["nameFamily"] = json!("S");
    expected["nameGiven"] = json!("M");
    expected["telecomPhone"] = json!("+1-555-0100");
    assert_eq!(put, expected);
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/practitioners/80002", t, None).await,
        (200, expected)
    );

    // A patient's or a superuser's account is never turned into a practitioner (409, nothing
    // written).
    for email in ["peter@example.com", "sam@example.com"] {
        let (status, body) = api_request(
            &app,
            Method::POST,
            "/api/v1/practitioners",
            t,
            Some(json!({"organizationId": 20003, "telecomEmail": email, "nameFamily": "X", "nameGiven": "Y"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                409,
                json!({"detail": jhe_core::services::users::ACCOUNT_NOT_PRACTITIONER})
            ),
            "{email}"
        );
    }
    assert!(
        app.db
            .store
            .get_practitioner_by_user(10006)
            .await
            .unwrap()
            .is_none()
    );

    // POST creates the account and the practitioner, linked to the organisation as member.
    let (status, created) = api_request(
        &app,
        Method::POST,
        "/api/v1/practitioners",
        t,
        Some(json!({"organizationId": 20003, "telecomEmail": "newdoc@example.com", "nameFamily": "Doe", "nameGiven": "Jane"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    let user = app
        .db
        .store
        .get_user_by_email("newdoc@example.com")
        .await
        .unwrap()
        .expect("an account");
    assert_eq!(
        created,
        json!({"id": id, "jheUserId": user.id, "identifier": "", "nameFamily": "Doe", "nameGiven": "Jane",
               "telecomPhone": null, "telecomEmail": "newdoc@example.com",
               "organizations": [org(20003, "Example Lab", "laboratory", 20002)]})
    );
    assert_eq!(
        user.user_type,
        Some(jhe_core::domain::UserType::Practitioner)
    );
    let links = app
        .db
        .store
        .list_practitioner_organizations(id)
        .await
        .unwrap();
    assert_eq!(
        links
            .iter()
            .map(|l| (l.organization_id, l.role.as_str()))
            .collect::<Vec<_>>(),
        vec![(20003, "member")]
    );
    let path = format!("/api/v1/practitioners/{id}");
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (200, created)
    );

    // DELETE removes the profile and its links; the account stays.
    assert_eq!(
        api_request(&app, Method::DELETE, &path, t, None).await,
        (204, Value::Null)
    );
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (
            404,
            json!({"detail": "No Practitioner matches the given query."})
        )
    );
    assert!(app.db.store.get_user(user.id).await.unwrap().is_some());
    assert!(
        app.db
            .store
            .list_practitioner_organizations(id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn validation_and_errors(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            "/api/v1/practitioners",
            t,
            Some(json!({"organizationId": 20003, "telecomEmail": "x@example.com"}))
        )
        .await,
        (
            400,
            json!({"nameFamily": ["This field is required."], "nameGiven": ["This field is required."]})
        )
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/practitioners",
        t,
        Some(json!({"organizationId": 20003, "telecomEmail": "not-an-email", "nameFamily": "A", "nameGiven": "B"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["telecomEmail"].is_array(), "{body}");
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            "/api/v1/practitioners/80002",
            t,
            Some(json!({"nameGiven": "M\u{0}"}))
        )
        .await,
        (
            400,
            json!({"nameGiven": ["Null characters are not allowed."]})
        )
    );
    assert!(
        app.db
            .store
            .get_user_by_email("x@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let not_found = json!({"detail": "No Practitioner matches the given query."});
    for method in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
        let body =
            (method == Method::PATCH || method == Method::PUT).then(|| json!({"nameFamily": "X"}));
        assert_eq!(
            api_request(
                &app,
                method.clone(),
                "/api/v1/practitioners/89999",
                t,
                body.clone()
            )
            .await,
            (404, not_found.clone()),
            "{method}"
        );
        let (status, detail) =
            api_request(&app, method.clone(), "/api/v1/practitioners/8000x", t, body).await;
        assert_eq!(status, 400, "{method}: {detail}");
        assert_eq!(detail, json!({"detail": "\"8000x\" is not a valid id."}));
    }
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/practitioners?page=2", t, None).await,
        (404, json!({"detail": "Invalid page."}))
    );
}

async fn snake_and_camel_case_requests_agree(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    let (status, snake) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/practitioners/80003",
        t,
        Some(json!({"name_family": "Q", "telecom_phone": "1"})),
    )
    .await;
    assert_eq!(status, 200, "{snake}");
    let (status, camel) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/practitioners/80003",
        t,
        Some(json!({"nameFamily": "Q", "telecomPhone": "1"})),
    )
    .await;
    assert_eq!((status, &camel), (200, &snake));
    assert_eq!(
        (snake["nameFamily"].clone(), snake["telecomPhone"].clone()),
        (json!("Q"), json!("1"))
    );
    let (status, created) = api_request(
        &app,
        Method::POST,
        "/api/v1/practitioners",
        t,
        Some(json!({"organization_id": "20003", "telecom_email": "snake@example.com", "name_family": "S", "name_given": "N"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["telecomEmail"], "snake@example.com");
    assert_eq!(created["organizations"][0]["id"], 20003);
}

async fn permission_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
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
    let cases: Vec<(Method, &str, Option<Value>, u16)> = vec![
        (Method::GET, "/api/v1/practitioners", None, 200),
        (Method::GET, "/api/v1/practitioners/80004", None, 200),
        (
            Method::POST,
            "/api/v1/practitioners",
            Some(
                json!({"organizationId": 20003, "telecomEmail": "matrix@example.com", "nameFamily": "M", "nameGiven": "X"}),
            ),
            200,
        ),
        (
            Method::PATCH,
            "/api/v1/practitioners/80004",
            Some(json!({"identifier": "V"})),
            200,
        ),
        (
            Method::PUT,
            "/api/v1/practitioners/80004",
            Some(json!({"identifier": "V"})),
            200,
        ),
        (Method::DELETE, "/api/v1/practitioners/80004", None, 204),
    ];
    for (who, token) in &callers {
        for (method, path, body, superuser_status) in &cases {
            let (status, answer) =
                api_request(&app, method.clone(), path, token.as_deref(), body.clone()).await;
            let expected = match *who {
                "anonymous" => 401,
                "superuser" => *superuser_status,
                _ => 403,
            };
            assert_eq!(status, expected, "{who}: {method} {path} → {answer}");
        }
        if *who != "superuser" {
            assert!(
                app.db
                    .store
                    .get_user_by_email("matrix@example.com")
                    .await
                    .unwrap()
                    .is_none(),
                "{who}"
            );
            assert!(
                app.db
                    .store
                    .get_practitioner(80004)
                    .await
                    .unwrap()
                    .is_some_and(|p| p.identifier.as_deref() == Some(""))
            );
        }
    }
}

async fn openapi_documents_the_endpoints(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let (status, doc) =
        api_request(&app, Method::GET, "/api/schema/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/practitioners", &["get", "post"][..]),
        (
            "/api/v1/practitioners/{id}",
            &["get", "put", "patch", "delete"][..],
        ),
        ("/api/v1/data_sources", &["get", "post"][..]),
        ("/api/v1/data_sources/all_scopes", &["get"][..]),
        (
            "/api/v1/data_sources/{id}",
            &["get", "put", "patch", "delete"][..],
        ),
        (
            "/api/v1/data_sources/{id}/supported_scopes",
            &["get", "post", "delete"][..],
        ),
        ("/api/v1/clients", &["get", "post"][..]),
        (
            "/api/v1/clients/{id}",
            &["get", "put", "patch", "delete"][..],
        ),
        (
            "/api/v1/clients/{id}/data_sources",
            &["get", "post", "delete"][..],
        ),
        ("/api/v1/jhe_settings", &["get", "post"][..]),
        (
            "/api/v1/jhe_settings/{id}",
            &["get", "put", "patch", "delete"][..],
        ),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is documented"));
        for method in methods {
            let op = &item[*method];
            assert!(op.is_object(), "{method} {path}");
            assert!(
                op["security"].is_array(),
                "{method} {path} declares its security"
            );
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Practitioner",
        "DataSource",
        "CodeableConcept",
        "Client",
        "ClientDataSource",
        "JheSetting",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert!(
        !schemas["Client"]
            .to_string()
            .to_lowercase()
            .contains("secret")
    );
}

both_backends! {
    practitioners_crud_happy_path => crud_happy_path;
    practitioners_validation_and_errors => validation_and_errors;
    practitioners_snake_and_camel_case_agree => snake_and_camel_case_requests_agree;
    practitioners_permission_matrix => permission_matrix;
    practitioners_openapi_documents_the_endpoints => openapi_documents_the_endpoints;
}
