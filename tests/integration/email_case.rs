//! E-mail addresses are one account regardless of case: stored normalised, looked up
//! case-insensitively, duplicates refused on every path that creates accounts.

use jhe_core::domain::{NewUser, PageRequest, SettingValue, keys};
use jhe_core::identity::{Credentials, IdentityProvider};
use jhe_core::services::signup::{SignupForm, signup};
use jhe_core::store::*;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::{Backend, TestDb, api_request, bearer_for, seeded, spawn_seeded, state_of};

both_backends! {
    store_normalises_and_refuses_case_variants => store_normalises_and_refuses_case_variants;
    users_api_refuses_case_variants => users_api_refuses_case_variants;
    patient_create_refuses_case_variants => patient_create_refuses_case_variants;
    signup_refuses_case_variants => signup_refuses_case_variants;
    login_accepts_any_case => login_accepts_any_case;
}

async fn store_normalises_and_refuses_case_variants(backend: Backend) {
    let db = TestDb::new(backend).await;
    let user = db
        .store
        .create_user(NewUser {
            email: " Case.X@Example.org ".into(),
            password: "!".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(user.email, "case.x@example.org");
    let found = db
        .store
        .get_user_by_email("CASE.X@example.ORG")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(user.id));
    let listed = db
        .store
        .list_users(Some("Case.X@EXAMPLE.org"), PageRequest::all())
        .await
        .unwrap();
    assert_eq!(listed.total, 1);

    // The unique index refuses the variant even without a service-level check, and the error
    // names the rule, not the driver's text.
    let err = db
        .store
        .create_user(NewUser {
            email: "case.x@example.org".into(),
            password: "!".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict(rule) => assert_eq!(rule, "a user with this e-mail already exists"),
        other => panic!("expected a conflict, got {other:?}"),
    }

    // A write with mixed case is stored normalised too.
    let mut user = user;
    user.email = "Case.X@Example.ORG".into();
    let user = db.store.update_user(&user).await.unwrap();
    assert_eq!(user.email, "case.x@example.org");
}

async fn users_api_refuses_case_variants(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, seeded::SUPERUSER).await;
    let create = |email: &str| json!({"email": email, "firstName": "Case", "lastName": "X"});
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/users",
        Some(&sam),
        Some(create("Case.X@Example.org")),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    assert_eq!(body["email"], "case.x@example.org");

    // A case variant is the same address: refused exactly like the same address.
    let (exact_status, exact_body) = api_request(
        &app,
        Method::POST,
        "/api/v1/users",
        Some(&sam),
        Some(create("case.x@example.org")),
    )
    .await;
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/users",
        Some(&sam),
        Some(create("CASE.X@example.ORG")),
    )
    .await;
    assert!(exact_status >= 400, "{exact_status} {exact_body}");
    assert_eq!((status, &body), (exact_status, &exact_body));
    assert!(body.to_string().contains("already exists"), "{body}");

    // Lookups by e-mail ignore case.
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/users?email=CASE.X%40EXAMPLE.ORG",
        Some(&sam),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1, "{body}");
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/search_by_email?email=Case.X%40example.org",
        Some(&sam),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "case.x@example.org", "{body}");

    // Changing only the case of one's own address is not a collision.
    let (_, me) = api_request(
        &app,
        Method::GET,
        "/api/v1/users?email=case.x%40example.org",
        Some(&sam),
        None,
    )
    .await;
    let id = me["results"][0]["id"].as_i64().unwrap();
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(&sam),
        Some(json!({"email": "Case.X@example.org"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "case.x@example.org");
}

async fn patient_create_refuses_case_variants(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let mary = bearer_for(&app, seeded::MANAGER).await;
    let patient = |email: &str| {
        json!({"organizationId": 20003, "nameFamily": "Case", "nameGiven": "Y",
            "birthDate": "1990-02-03", "telecomEmail": email})
    };
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        Some(&mary),
        Some(patient("Case.Y@Example.org")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let user_id = body["jheUserId"].as_i64().unwrap();
    assert_eq!(
        app.db.store.get_user(user_id).await.unwrap().unwrap().email,
        "case.y@example.org"
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        Some(&mary),
        Some(patient("case.y@example.org")),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("already exists"));
    let users = app
        .db
        .store
        .list_users(Some("case.y@example.org"), PageRequest::all())
        .await
        .unwrap();
    assert_eq!(users.total, 1);
}

async fn signup_refuses_case_variants(backend: Backend) {
    let db_app = crate::support::spawn_app(backend).await;
    db_app
        .db
        .store
        .create_setting(
            keys::REGISTRATION_INVITE_CODE,
            None,
            SettingValue::String("jhe".into()),
        )
        .await
        .unwrap();
    let state = state_of(&db_app);
    let form = |email: &str| SignupForm {
        joincode: "jhe".into(),
        email: email.into(),
        password: "Str0ng#passw0rd".into(),
        password2: Some("Str0ng#passw0rd".into()),
    };
    let user = signup(&state, &form("Case.Z@Example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.email, "case.z@example.org");
    let refused = signup(&state, &form("case.z@example.org"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused, vec!["This Email already exists".to_string()]);
    let refused = signup(&state, &form("CASE.Z@EXAMPLE.ORG"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused, vec!["This Email already exists".to_string()]);
}

async fn login_accepts_any_case(backend: Backend) {
    let db = TestDb::new(backend).await;
    let hash = jhe_kdf::hash_password("Str0ng#passw0rd").unwrap();
    db.store
        .create_user(NewUser {
            email: "Case.L@Example.org".into(),
            password: hash,
            ..Default::default()
        })
        .await
        .unwrap();
    for email in [
        "Case.L@Example.org",
        "case.l@example.org",
        "CASE.L@EXAMPLE.ORG",
    ] {
        let result = jhe_plugins::PasswordIdp
            .authenticate(
                &Credentials::Password {
                    email: email.into(),
                    password: "Str0ng#passw0rd".into(),
                },
                &db.store,
            )
            .await;
        assert!(result.is_ok(), "{email}: {:?}", result.err());
    }
}
