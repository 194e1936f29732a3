//! `/api/v1/users`: profile, visibility, self-service changes and the closed gaps of the
//! original (no self-promotion, no user writes by others).

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::*;

use Caller::*;

async fn profiles_and_visibility(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = CallerTokens::new(&app).await;
    let (_, mary) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/profile",
        tokens.of(Manager),
        None,
    )
    .await;
    assert_eq!(
        mary,
        json!({"id": 10002, "email": "mary@example.com", "firstName": "Mary", "lastName": "Swanson", "patient": null, "userType": "practitioner", "isSuperuser": false})
    );
    let (_, peter) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/profile",
        tokens.of(Patient),
        None,
    )
    .await;
    let keys: Vec<&String> = peter.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "isSuperuser", "patient", "userType"]);
    let text = peter.to_string();
    assert!(
        !text.contains("Peter") && !text.contains("peter@") && !text.contains("birthDate"),
        "no PHI: {text}"
    );

    // Superusers list everyone; a patient only themself; a practitioner the people of their organisations.
    let (_, all) = api_request(
        &app,
        Method::GET,
        "/api/v1/users?pageSize=100",
        tokens.of(Superuser),
        None,
    )
    .await;
    assert_eq!(all["count"], 11);
    let (_, own) = api_request(&app, Method::GET, "/api/v1/users", tokens.of(Patient), None).await;
    assert_eq!(own["count"], 1);
    assert_eq!(own["results"][0]["id"], 10006);
    let (_, megan_sees) = api_request(
        &app,
        Method::GET,
        "/api/v1/users?pageSize=100",
        tokens.of(Member),
        None,
    )
    .await;
    let ids: Vec<i64> = megan_sees["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&10006) && ids.contains(&10002), "{ids:?}");
    assert!(
        !ids.contains(&10010) && !ids.contains(&10008),
        "no one from other organisations: {ids:?}"
    );

    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/10002",
        tokens.of(Manager),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/10003",
        tokens.of(Manager),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/10003",
        tokens.of(Superuser),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let (_, orgs) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/organizations",
        tokens.of(Manager),
        None,
    )
    .await;
    assert_eq!(orgs.as_array().unwrap().len(), 3);
    assert_eq!(orgs[0]["currentUserRole"], Value::Null);
    let (_, none) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/organizations",
        tokens.of(Patient),
        None,
    )
    .await;
    assert_eq!(none, json!([]));

    let (status, found) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/search_by_email?email=megan@example.com",
        tokens.of(Manager),
        None,
    )
    .await;
    assert_eq!((status, found["id"].clone()), (200, json!(10003)));
    let (_, missing) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/search_by_email?email=nobody@example.com",
        tokens.of(Manager),
        None,
    )
    .await;
    assert_eq!(
        missing,
        json!({"email": "", "firstName": "", "lastName": "", "userType": null, "isSuperuser": false})
    );
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/search_by_email?email=megan@example.com",
        tokens.of(Patient),
        None,
    )
    .await;
    assert_eq!(status, 403, "patients cannot look up users");
}

/// The original lets any user change or delete anyone and make themself superuser; here users
/// change only their own names and e-mail, and only superusers manage accounts.
async fn closed_gaps(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = CallerTokens::new(&app).await;
    let peter = tokens.of(Patient);
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/users/10006",
        peter,
        Some(json!({"isSuperuser": true})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/users/10006",
        peter,
        Some(json!({"userType": "practitioner"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/users/10002",
        peter,
        Some(json!({"firstName": "Hacked"})),
    )
    .await;
    assert_eq!(status, 403, "no changes to others");
    let (status, _) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/users/10002",
        tokens.of(Manager),
        None,
    )
    .await;
    assert_eq!(status, 403, "practitioners cannot delete users");
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/users",
        tokens.of(Manager),
        Some(json!({"email": "new@example.org"})),
    )
    .await;
    assert_eq!(status, 403, "practitioners cannot create users");
    let (_, sam_view) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/10006",
        tokens.of(Superuser),
        None,
    )
    .await;
    assert_eq!(sam_view["isSuperuser"], false);
    assert_eq!(
        api_request(&app, Method::GET, "/api/v1/jhe_settings", peter, None)
            .await
            .0,
        403,
        "still not a superuser"
    );

    // What users may do: change their own names (snake or camel keys).
    let (status, me) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/users/10006",
        peter,
        Some(json!({"first_name": "Pete"})),
    )
    .await;
    assert_eq!((status, me["firstName"].clone()), (200, json!("Pete")));

    // Superusers manage accounts.
    let sam = tokens.of(Superuser);
    let (status, created) = api_request(
        &app,
        Method::POST,
        "/api/v1/users",
        sam,
        Some(json!({"email": "nina@example.org", "firstName": "Nina", "userType": "practitioner"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, promoted) = api_request(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        sam,
        Some(json!({"isSuperuser": true})),
    )
    .await;
    assert_eq!(
        (status, promoted["isSuperuser"].clone()),
        (200, json!(true))
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/users",
        sam,
        Some(json!({"email": "nina@example.org"})),
    )
    .await;
    assert_eq!(status, 400, "duplicate e-mail");
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            &format!("/api/v1/users/{id}"),
            sam,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api_request(&app, Method::GET, &format!("/api/v1/users/{id}"), sam, None)
            .await
            .0,
        404
    );
}

async fn permission_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = CallerTokens::new(&app).await;
    let table: &[(Caller, u16, u16, u16)] = &[
        // caller, GET /users, GET /users/profile, POST /users
        (Superuser, 200, 200, 201),
        (Manager, 200, 200, 403),
        (Member, 200, 200, 403),
        (Viewer, 200, 200, 403),
        (OtherOrg, 200, 200, 403),
        (Patient, 200, 200, 403),
        (Anonymous, 401, 401, 401),
    ];
    for (i, &(caller, list, profile, create)) in table.iter().enumerate() {
        let token = tokens.of(caller);
        assert_eq!(
            api_request(&app, Method::GET, "/api/v1/users", token, None)
                .await
                .0,
            list,
            "{caller:?}"
        );
        assert_eq!(
            api_request(&app, Method::GET, "/api/v1/users/profile", token, None)
                .await
                .0,
            profile,
            "{caller:?}"
        );
        let body = json!({"email": format!("u{i}@example.org")});
        assert_eq!(
            api_request(&app, Method::POST, "/api/v1/users", token, Some(body))
                .await
                .0,
            create,
            "{caller:?}"
        );
    }
    let (status, body) = api_request(&app, Method::GET, "/api/v1/users", None, None).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
}

both_backends! {
    visibility => profiles_and_visibility;
    gaps => closed_gaps;
    matrix => permission_matrix;
}
