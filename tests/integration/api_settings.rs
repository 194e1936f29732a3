//! `/api/v1/jhe_settings`: superusers only; typed values; `(key, settingId)` unique, null
//! included; `test_superuser_access` of the original (rbac-consent.md §6).

use jhe_core::domain::SettingValue;
use jhe_core::store::SettingStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::seeded::{MANAGER, MEMBER, OTHER_ORG, PATIENT, SUPERUSER, VIEWER};
use crate::support::{Backend, TestApp, api_request, bearer_for, spawn_seeded};

const SETTINGS: &str = "/api/v1/jhe_settings";

fn is_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    let b = s.as_bytes();
    s.len() == 27
        && s.ends_with('Z')
        && b[10] == b'T'
        && b[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// The object without its `lastUpdated` (checked separately).
fn without_time(mut v: Value) -> Value {
    assert!(is_timestamp(&v["lastUpdated"]), "{v}");
    v.as_object_mut().unwrap().remove("lastUpdated");
    v
}

async fn keys_of(app: &TestApp, token: &str) -> Vec<(String, Value)> {
    let (status, list) = api_request(app, Method::GET, SETTINGS, Some(token), None).await;
    assert_eq!(status, 200, "{list}");
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_string(),
                s["settingId"].clone(),
            )
        })
        .collect()
}

async fn crud_happy_path(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());

    let (status, list) = api_request(&app, Method::GET, SETTINGS, t, None).await;
    assert_eq!(status, 200, "{list}");
    let rows = list["results"].as_array().unwrap();
    assert_eq!(list["count"].as_u64(), Some(rows.len() as u64));
    assert_eq!(
        (list["next"].clone(), list["previous"].clone()),
        (Value::Null, Value::Null)
    );
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by id");
    let site = rows.iter().find(|r| r["key"] == "site.url").unwrap();
    assert_eq!(
        without_time(site.clone()),
        json!({"id": site["id"], "key": "site.url", "settingId": null, "valueType": "string", "resolvedValue": app.address})
    );
    let saml = rows.iter().find(|r| r["key"] == "auth.sso.saml2").unwrap();
    assert_eq!(
        (saml["valueType"].clone(), saml["resolvedValue"].clone()),
        (json!("int"), json!(0))
    );

    // The body of the original's test.
    let (status, created) = api_request(
        &app,
        Method::POST,
        SETTINGS,
        t,
        Some(json!({"key": "new.setting", "settingId": 999, "valueType": "string", "value": "hello"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        without_time(created.clone()),
        json!({"id": id, "key": "new.setting", "settingId": 999, "valueType": "string", "resolvedValue": "hello"})
    );
    let path = format!("{SETTINGS}/{id}");
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (200, created.clone())
    );

    // PUT replaces: the omitted settingId becomes null.
    let (status, put) = api_request(
        &app,
        Method::PUT,
        &path,
        t,
        Some(json!({"key": "new.setting", "valueType": "int", "value": "12"})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        without_time(put),
        json!({"id": id, "key": "new.setting", "settingId": null, "valueType": "int", "resolvedValue": 12})
    );
    // PATCH a value: the type stays.
    let (status, patched) =
        api_request(&app, Method::PATCH, &path, t, Some(json!({"value": 13.0}))).await;
    assert_eq!(
        (status, patched["resolvedValue"].clone()),
        (200, json!(13)),
        "{patched}"
    );
    for (value_type, value, resolved) in [
        ("bool", json!("yes"), json!(true)),
        ("bool", json!(0), json!(false)),
        ("float", json!("2.5"), json!(2.5)),
        ("string", json!(42), json!("42")),
        ("int", json!(true), json!(1)),
        ("json", json!([1, {"a": null}]), json!([1, {"a": null}])),
    ] {
        let (status, patched) = api_request(
            &app,
            Method::PATCH,
            &path,
            t,
            Some(json!({"valueType": value_type, "value": value})),
        )
        .await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(
            (
                patched["valueType"].clone(),
                patched["resolvedValue"].clone()
            ),
            (json!(value_type), resolved)
        );
    }
    let (status, patched) = api_request(
        &app,
        Method::PATCH,
        &path,
        t,
        Some(json!({"key": "renamed", "settingId": 7})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["key"].clone(), patched["settingId"].clone()),
        (json!("renamed"), json!(7))
    );
    assert_eq!(patched["resolvedValue"], json!([1, {"a": null}]));

    let (status, body) = api_request(&app, Method::DELETE, &path, t, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(
        api_request(&app, Method::GET, &path, t, None).await,
        (
            404,
            json!({"detail": "No JheSetting matches the given query."})
        )
    );

    // pageSize is ignored (fixed page of 1000).
    let (status, paged) = api_request(
        &app,
        Method::GET,
        &format!("{SETTINGS}?pageSize=2"),
        t,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(paged["next"], Value::Null);
    assert_eq!(
        paged["results"].as_array().unwrap().len() as u64,
        paged["count"].as_u64().unwrap()
    );
    assert!(paged["count"].as_u64().unwrap() > 2);
}

async fn json_values_are_returned_verbatim(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    // A value written inside the server keeps its snake_case keys in responses (the original
    // would camelise them).
    let stored = app
        .db
        .store
        .create_setting(
            "ui.layout",
            None,
            SettingValue::Json(json!({"side_bar": {"is_open": true}})),
        )
        .await
        .unwrap();
    let (status, body) = api_request(
        &app,
        Method::GET,
        &format!("{SETTINGS}/{}", stored.id),
        Some(&sam),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["resolvedValue"],
        json!({"side_bar": {"is_open": true}})
    );
    // Through the API the value is kept verbatim too (the request-key normalisation skips
    // `value`): what is sent is what is stored and returned.
    for sent in [
        json!({"side_bar": {"is_open": 1}}),
        json!({"sideBar": {"isOpen": 1}}),
    ] {
        let (status, body) = api_request(
            &app,
            Method::PUT,
            &format!("{SETTINGS}/{}", stored.id),
            Some(&sam),
            Some(json!({"key": "ui.layout", "valueType": "json", "value": sent})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["resolvedValue"], sent);
    }
}

async fn validation_and_errors(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    let post = |body: Value| {
        let app = &app;
        async move { api_request(app, Method::POST, SETTINGS, t, Some(body)).await }
    };
    let before = keys_of(&app, &sam).await;
    assert_eq!(
        post(json!({"key": "k", "valueType": "string"})).await,
        (400, json!({"value": "This field is required."}))
    );
    assert_eq!(
        post(json!({"key": "k", "valueType": "string", "value": null})).await,
        (400, json!({"value": "This field is required."}))
    );
    for (value_type, value, message) in [
        ("int", json!("abc"), "Invalid int"),
        ("int", json!(1.5), "Invalid int"),
        ("float", json!("x"), "Invalid float"),
        ("bool", json!("maybe"), "Invalid bool"),
        ("bool", json!(2), "Invalid bool"),
    ] {
        assert_eq!(
            post(json!({"key": "k", "valueType": value_type, "value": value})).await,
            (400, json!({"value": message})),
            "{value_type} {value}"
        );
    }
    assert_eq!(
        post(json!({"key": "k", "valueType": "xml", "value": "1"})).await,
        (
            400,
            json!({"valueType": ["\"xml\" is not a valid choice."]})
        )
    );
    assert_eq!(
        post(json!({"valueType": "string", "value": "1"})).await,
        (400, json!({"key": ["This field is required."]}))
    );
    assert_eq!(
        post(json!({"key": "k", "value": "1"})).await,
        (400, json!({"valueType": ["This field is required."]}))
    );
    assert_eq!(
        post(json!({"key": " ", "valueType": "string", "value": "1"})).await,
        (400, json!({"key": ["This field may not be blank."]}))
    );
    assert_eq!(
        post(json!({"key": "k", "valueType": "string", "value": "a\u{0}b"})).await,
        (400, json!({"value": "Null characters are not allowed."}))
    );
    // A second global row with one key (the original accepts it and then breaks).
    let not_unique =
        json!({"nonFieldErrors": ["The fields key, setting_id must make a unique set."]});
    assert_eq!(
        post(json!({"key": "site.url", "valueType": "string", "value": "http://evil.example"}))
            .await,
        (400, not_unique.clone())
    );
    assert_eq!(
        keys_of(&app, &sam).await,
        before,
        "refused requests created nothing"
    );

    // Scoped keys are unique per scope; ids may come as strings.
    let (status, scoped) =
        post(json!({"key": "site.url", "settingId": "5", "valueType": "string", "value": "x"}))
            .await;
    assert_eq!((status, &scoped["settingId"]), (201, &json!(5)), "{scoped}");
    assert_eq!(
        post(json!({"key": "site.url", "settingId": 5, "valueType": "string", "value": "y"})).await,
        (400, not_unique.clone())
    );
    let path = format!("{SETTINGS}/{}", scoped["id"]);
    // Moving it onto the global row collides.
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            &path,
            t,
            Some(json!({"settingId": null}))
        )
        .await,
        (400, not_unique)
    );
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            &path,
            t,
            Some(json!({"valueType": "int"}))
        )
        .await,
        (400, json!({"value": "Required when changing value_type."}))
    );
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            &path,
            t,
            Some(json!({"valueType": "int", "value": "x"}))
        )
        .await,
        (400, json!({"value": "Invalid int"}))
    );
    assert_eq!(
        api_request(&app, Method::PUT, &path, t, Some(json!({"value": "x"}))).await,
        (
            400,
            json!({"key": ["This field is required."], "valueType": ["This field is required."]})
        )
    );
    assert_eq!(
        api_request(
            &app,
            Method::PUT,
            &path,
            t,
            Some(json!({"key": "site.url", "settingId": 5, "valueType": "string"}))
        )
        .await,
        (400, json!({"value": "Required when changing value_type."}))
    );
    let (status, unchanged) = api_request(&app, Method::GET, &path, t, None).await;
    assert_eq!(status, 200);
    assert_eq!(unchanged, scoped, "refused changes left the row alone");

    // Unknown and malformed ids.
    for method in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
        let body = (method == Method::PATCH || method == Method::PUT)
            .then(|| json!({"key": "a", "valueType": "string", "value": "v"}));
        assert_eq!(
            api_request(
                &app,
                method.clone(),
                &format!("{SETTINGS}/999999"),
                t,
                body.clone()
            )
            .await,
            (
                404,
                json!({"detail": "No JheSetting matches the given query."})
            ),
            "{method}"
        );
        let (status, detail) =
            api_request(&app, method.clone(), &format!("{SETTINGS}/x1"), t, body).await;
        assert_eq!(status, 400, "{method}: {detail}");
        assert_eq!(detail, json!({"detail": "\"x1\" is not a valid id."}));
    }
}

async fn snake_and_camel_case_requests_agree(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let t = Some(sam.as_str());
    let (status, camel) = api_request(
        &app,
        Method::POST,
        SETTINGS,
        t,
        Some(json!({"key": "a", "settingId": 1, "valueType": "int", "value": 3})),
    )
    .await;
    assert_eq!(status, 201, "{camel}");
    let (status, snake) = api_request(
        &app,
        Method::POST,
        SETTINGS,
        t,
        Some(json!({"key": "b", "setting_id": 1, "value_type": "int", "value": 3})),
    )
    .await;
    assert_eq!(status, 201, "{snake}");
    let strip = |v: &Value| {
        let mut v = without_time(v.clone());
        v.as_object_mut().unwrap().remove("id");
        v.as_object_mut().unwrap().remove("key");
        v
    };
    assert_eq!(strip(&camel), strip(&snake));
    let path = format!("{SETTINGS}/{}", snake["id"]);
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            &path,
            t,
            Some(json!({"value_type": "bool"}))
        )
        .await,
        (400, json!({"value": "Required when changing value_type."}))
    );
}

/// The superuser cases of the original's `test_superuser_access` (rbac-consent.md §6).
async fn superuser_access(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let body =
        json!({"key": "new.setting", "settingId": 999, "valueType": "string", "value": "hello"});

    // Superuser: every settings method and the practitioner reads succeed.
    let (status, list) = api_request(&app, Method::GET, SETTINGS, Some(&sam), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        api_request(&app, Method::GET, SETTINGS, Some(&sam), None).await,
        (200, list),
        "repeated requests are identical"
    );
    let (status, created) =
        api_request(&app, Method::POST, SETTINGS, Some(&sam), Some(body.clone())).await;
    assert_eq!(status, 201, "{created}");
    let one = format!("{SETTINGS}/{}", created["id"]);
    assert_eq!(
        api_request(&app, Method::GET, &one, Some(&sam), None)
            .await
            .0,
        200
    );
    assert_eq!(
        api_request(&app, Method::PUT, &one, Some(&sam), Some(json!({"key": "new.setting", "settingId": 999, "valueType": "string", "value": "updated"}))).await.0,
        200
    );
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            &one,
            Some(&sam),
            Some(json!({"value": "patched"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/practitioners", Some(&sam), None)
            .await
            .0,
        200
    );
    assert_eq!(
        api_request(
            &app,
            Method::GET,
            "/api/v1/practitioners/80002",
            Some(&sam),
            None
        )
        .await
        .0,
        200
    );

    // Practitioner and patient: 403 everywhere; anonymous: 401.
    let denied = json!({"detail": "You do not have permission to perform this action."});
    let unauthenticated = json!({"detail": "Authentication credentials were not provided."});
    let mary = bearer_for(&app, MANAGER).await;
    let peter = bearer_for(&app, PATIENT).await;
    let denied_body =
        json!({"key": "denied.setting", "settingId": 999, "valueType": "string", "value": "x"});
    let practitioner_body = json!({"organizationId": 20003, "telecomEmail": "denied@example.com", "nameFamily": "D", "nameGiven": "E"});
    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, SETTINGS.into(), None),
        (Method::POST, SETTINGS.into(), Some(denied_body.clone())),
        (Method::GET, one.clone(), None),
        (Method::PUT, one.clone(), Some(denied_body.clone())),
        (Method::PATCH, one.clone(), Some(json!({"value": "x"}))),
        (Method::DELETE, one.clone(), None),
        (Method::GET, "/api/v1/practitioners".into(), None),
        (
            Method::POST,
            "/api/v1/practitioners".into(),
            Some(practitioner_body),
        ),
        (Method::GET, "/api/v1/practitioners/80002".into(), None),
        (
            Method::PATCH,
            "/api/v1/practitioners/80002".into(),
            Some(json!({"nameFamily": "X"})),
        ),
        (
            Method::PUT,
            "/api/v1/practitioners/80002".into(),
            Some(json!({"nameFamily": "X"})),
        ),
        (Method::DELETE, "/api/v1/practitioners/80003".into(), None),
    ];
    for (method, path, body) in &requests {
        for token in [&mary, &peter] {
            let first = api_request(&app, method.clone(), path, Some(token), body.clone()).await;
            assert_eq!(first, (403, denied.clone()), "{method} {path}");
            assert_eq!(
                api_request(&app, method.clone(), path, Some(token), body.clone()).await,
                first,
                "repeated"
            );
        }
        let response = crate::support::plain_client()
            .request(method.clone(), app.url(path))
            .json(body.as_ref().unwrap_or(&Value::Null))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"api\""
        );
        assert_eq!(response.json::<Value>().await.unwrap(), unauthenticated);
    }
    // The denied POSTs created nothing and changed nothing.
    let keys = keys_of(&app, &sam).await;
    assert!(!keys.iter().any(|(k, _)| k == "denied.setting"), "{keys:?}");
    let (_, still) = api_request(&app, Method::GET, &one, Some(&sam), None).await;
    assert_eq!(still["resolvedValue"], "patched");
    assert_eq!(
        api_request(
            &app,
            Method::GET,
            "/api/v1/practitioners/80003",
            Some(&sam),
            None
        )
        .await
        .0,
        200
    );
    use jhe_core::store::UserStore;
    assert!(
        app.db
            .store
            .get_user_by_email("denied@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // Finally the superuser deletes.
    assert_eq!(
        api_request(&app, Method::DELETE, &one, Some(&sam), None).await,
        (204, Value::Null)
    );
}

async fn permission_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SUPERUSER).await;
    let (_, created) = api_request(
        &app,
        Method::POST,
        SETTINGS,
        Some(&sam),
        Some(json!({"key": "m", "valueType": "int", "value": 1})),
    )
    .await;
    let one = format!("{SETTINGS}/{}", created["id"]);
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
    let cases: Vec<(Method, String, Option<Value>, u16)> = vec![
        (Method::GET, SETTINGS.into(), None, 200),
        (
            Method::POST,
            SETTINGS.into(),
            Some(json!({"key": "n", "valueType": "int", "value": 1})),
            201,
        ),
        (Method::GET, one.clone(), None, 200),
        (
            Method::PUT,
            one.clone(),
            Some(json!({"key": "m", "valueType": "int", "value": 2})),
            200,
        ),
        (Method::PATCH, one.clone(), Some(json!({"value": 3})), 200),
        (Method::DELETE, one.clone(), None, 204),
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
    }
}

both_backends! {
    settings_crud_happy_path => crud_happy_path;
    settings_json_values_verbatim => json_values_are_returned_verbatim;
    settings_validation_and_errors => validation_and_errors;
    settings_snake_and_camel_case_agree => snake_and_camel_case_requests_agree;
    settings_superuser_access => superuser_access;
    settings_permission_matrix => permission_matrix;
}
