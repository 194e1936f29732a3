//! `/api/v1/organizations`: shapes, hierarchy, members and the permission matrix.

use jhe_core::store::PatientStore;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::*;

use Caller::*;

async fn shapes_and_reads(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = CallerTokens::new(&app).await;
    let mary = tokens.of(Manager);

    let (status, page) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations?pageSize=3",
        mary,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["count"], 9, "every organisation, ROOT included");
    assert_eq!(page["results"].as_array().unwrap().len(), 3);
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(
        page["next"],
        format!("{}/api/v1/organizations?page=2&pageSize=3", app.address)
    );
    let (_, page3) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations?page=3&pageSize=3",
        mary,
        None,
    )
    .await;
    assert_eq!(page3["next"], Value::Null);
    assert_eq!(
        page3["previous"],
        format!("{}/api/v1/organizations?page=2&pageSize=3", app.address)
    );
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations?page=9&pageSize=3",
        mary,
        None,
    )
    .await;
    assert_eq!((status, body), (404, json!({"detail": "Invalid page."})));

    let (_, top) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations?part_of=0",
        mary,
        None,
    )
    .await;
    let names: Vec<&str> = top["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Example Research Institute", "Example University"]);
    assert_eq!(top["results"][0]["currentUserRole"], "manager");

    let (status, lab) =
        api_request(&app, Method::GET, "/api/v1/organizations/20003", mary, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        lab,
        json!({"id": 20003, "name": "Example Lab", "type": "laboratory", "partOf": 20002, "currentUserRole": "manager", "children": []})
    );
    let (_, as_sam) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations/20003",
        tokens.of(Superuser),
        None,
    )
    .await;
    assert_eq!(as_sam["currentUserRole"], "super_user");
    let (_, as_mark) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations/20003",
        tokens.of(OtherOrg),
        None,
    )
    .await;
    assert_eq!(as_mark["currentUserRole"], Value::Null);

    let (status, body) =
        api_request(&app, Method::GET, "/api/v1/organizations/99999", mary, None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "No Organization matches the given query."})
        )
    );
    let (status, body) =
        api_request(&app, Method::GET, "/api/v1/organizations/abc", mary, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].is_string());

    let (_, tree) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations/20004/tree",
        mary,
        None,
    )
    .await;
    assert_eq!(tree["children"][0]["name"], "Example Department");
    let division = &tree["children"][0]["children"][0];
    assert_eq!(division["name"], "Heart Research Division");
    let labs: Vec<&str> = division["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(labs, ["Example Lab Alpha", "Example Lab Beta"]);

    let (_, users) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations/20003/users",
        mary,
        None,
    )
    .await;
    let roles: Vec<(i64, &str)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_i64().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles.len(), 4);
    assert!(roles.contains(&(10004, "viewer")) && roles.contains(&(10002, "manager")));
    assert_eq!(
        users[0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["email", "firstName", "id", "lastName", "role"]
    );

    let (_, types) =
        api_request(&app, Method::GET, "/api/v1/organizations/types", mary, None).await;
    let keys: Vec<&String> = types.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 18);
    assert_eq!(types["laboratory"], "Laboratory");
}

async fn create_update_delete(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = CallerTokens::new(&app).await;
    let mary = tokens.of(Manager);
    // Snake_case and camelCase bodies are the same request.
    let (status, child) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        mary,
        Some(json!({"name": "Sub", "type": "team", "part_of": 20003})),
    )
    .await;
    assert_eq!(status, 201, "{child}");
    assert_eq!(child["partOf"], 20003);
    let id = child["id"].as_i64().unwrap();
    let (_, again) = api_request(
        &app,
        Method::GET,
        &format!("/api/v1/organizations/{id}"),
        mary,
        None,
    )
    .await;
    assert_eq!(
        again["currentUserRole"], "manager",
        "the creator manages the new organisation"
    );
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        mary,
        Some(json!({"name": "X", "type": "nonsense", "partOf": 20003})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"type": ["\"nonsense\" is not a valid choice."]})
        )
    );
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        mary,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403, "permission is checked before validation");
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        mary,
        Some(json!({"name": "X", "type": "team", "partOf": 999})),
    )
    .await;
    assert_eq!(status, 403);

    let (status, renamed) = api_request(
        &app,
        Method::PATCH,
        &format!("/api/v1/organizations/{id}"),
        mary,
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["type"], "team");
    let (status, _) = api_request(
        &app,
        Method::PUT,
        &format!("/api/v1/organizations/{id}"),
        mary,
        Some(json!({"name": "Only name"})),
    )
    .await;
    assert_eq!(status, 400, "PUT needs every field");
    // 20002 is an ancestor of the new organisation: putting it under it would make a cycle.
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/organizations/20002",
        tokens.of(Superuser),
        Some(json!({"partOf": id})),
    )
    .await;
    assert_eq!(status, 400, "no cycles in the hierarchy: {body}");
    assert!(body["partOf"][0].as_str().unwrap().contains("descendants"));

    // A parent with children is not deleted; without them it is.
    let (_, grandchild) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        mary,
        Some(json!({"name": "Leaf", "type": "team", "partOf": id})),
    )
    .await;
    let (status, body) = api_request(
        &app,
        Method::DELETE,
        &format!("/api/v1/organizations/{id}"),
        mary,
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let leaf = grandchild["id"].as_i64().unwrap();
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            &format!("/api/v1/organizations/{leaf}"),
            mary,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api_request(
            &app,
            Method::DELETE,
            &format!("/api/v1/organizations/{id}"),
            mary,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api_request(
            &app,
            Method::GET,
            &format!("/api/v1/organizations/{id}"),
            mary,
            None
        )
        .await
        .0,
        404
    );

    // Superusers create top-level organisations (partOf 0) and ones without parent (null).
    let sam = tokens.of(Superuser);
    let (status, top) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        sam,
        Some(json!({"name": "Top", "type": "edu", "partOf": 0})),
    )
    .await;
    assert_eq!((status, top["partOf"].clone()), (201, json!(0)));
    let (status, loose) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        sam,
        Some(json!({"name": "Loose", "type": "edu"})),
    )
    .await;
    assert_eq!((status, loose["partOf"].clone()), (201, Value::Null));
}

async fn members(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = CallerTokens::new(&app).await;
    let mary = tokens.of(Manager);
    // Promote megan in Example Lab (mary manages its parent).
    let (status, link) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations/20003/user",
        mary,
        Some(json!({"jheUserId": 10003, "organizationPartitionerRole": "manager"})),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["role"], "manager");
    let (status, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations/20003/user",
        mary,
        Some(json!({"jheUserId": 10003, "organizationPartitionerRole": "boss"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations/20003/user",
        mary,
        Some(json!({"jheUserId": 99999})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations/20003/user",
        mary,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400);
    // A viewer cannot promote themself (tested in the original too).
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations/20003/user",
        tokens.of(Viewer),
        Some(json!({"jheUserId": 10004, "organizationPartitionerRole": "manager"})),
    )
    .await;
    assert_eq!(status, 403);
    // Patients join through their user id, if the caller can already see them (pamela, of
    // Example Lab); percy (Example Lab Alpha only) cannot be pulled in by id.
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations/20002/user",
        mary,
        Some(json!({"jheUserId": 10007, "userType": "patient"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/organizations/20002/remove_user",
        mary,
        Some(json!({"jheUserId": 10007, "userType": "patient"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations/20003/user",
        mary,
        Some(json!({"jheUserId": 10009, "userType": "patient"})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.db
            .store
            .list_patient_organization_ids(40003)
            .await
            .unwrap(),
        vec![20007]
    );
    let (status, _) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/organizations/20003/remove_user",
        mary,
        Some(json!({"jhe_user_id": 10004})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, users) = api_request(
        &app,
        Method::GET,
        "/api/v1/organizations/20003/users",
        mary,
        None,
    )
    .await;
    assert!(users.as_array().unwrap().iter().all(|u| u["id"] != 10004));
}

/// Who may do what on organisations (rbac-consent.md §5.4): managing Example Lab (20003) takes a
/// manager role on its parent (20002), which only mary holds.
async fn permission_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = CallerTokens::new(&app).await;
    let read_ok = [
        (Superuser, 200),
        (Manager, 200),
        (Member, 200),
        (Viewer, 200),
        (OtherOrg, 200),
        (Patient, 200),
        (Anonymous, 401),
    ];
    for path in [
        "/api/v1/organizations",
        "/api/v1/organizations/20003",
        "/api/v1/organizations/20003/tree",
        "/api/v1/organizations/20003/users",
        "/api/v1/organizations/types",
    ] {
        for (caller, expected) in read_ok {
            let (status, body) =
                api_request(&app, Method::GET, path, tokens.of(caller), None).await;
            assert_eq!(status, expected, "GET {path} as {caller:?}: {body}");
        }
    }
    let matrix: &[(Caller, u16, u16, u16, u16)] = &[
        // caller, create child of 20003, create top-level, patch 20003, add member to 20003
        (Superuser, 201, 201, 200, 200),
        (Manager, 201, 403, 200, 200),
        (Member, 403, 403, 403, 403),
        (Viewer, 403, 403, 403, 403),
        (OtherOrg, 403, 403, 403, 403),
        (Patient, 403, 403, 403, 403),
        (Anonymous, 401, 401, 401, 401),
    ];
    for &(caller, child, top, patch, member) in matrix {
        let token = tokens.of(caller);
        let (status, _) = api_request(
            &app,
            Method::POST,
            "/api/v1/organizations",
            token,
            Some(json!({"name": "C", "type": "team", "partOf": 20003})),
        )
        .await;
        assert_eq!(status, child, "create child as {caller:?}");
        let (status, _) = api_request(
            &app,
            Method::POST,
            "/api/v1/organizations",
            token,
            Some(json!({"name": "T", "type": "edu", "partOf": 0})),
        )
        .await;
        assert_eq!(status, top, "create top-level as {caller:?}");
        let (status, _) = api_request(
            &app,
            Method::PATCH,
            "/api/v1/organizations/20003",
            token,
            Some(json!({"name": "Example Lab"})),
        )
        .await;
        assert_eq!(status, patch, "patch as {caller:?}");
        let (status, _) = api_request(
            &app,
            Method::POST,
            "/api/v1/organizations/20003/user",
            token,
            Some(json!({"jheUserId": 10003, "organizationPartitionerRole": "member"})),
        )
        .await;
        assert_eq!(status, member, "add member as {caller:?}");
    }
    // Tom manages Example Lab Beta (20008) but not its parent: he may create a child of it but not rename it.
    let tom = bearer_for(&app, 10005).await;
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            "/api/v1/organizations/20008",
            Some(&tom),
            Some(json!({"name": "Beta"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        api_request(
            &app,
            Method::POST,
            "/api/v1/organizations",
            Some(&tom),
            Some(json!({"name": "Beta child", "type": "team", "partOf": 20008}))
        )
        .await
        .0,
        201
    );
    // Mark manages 20006, the parent of 20008: he may rename it.
    assert_eq!(
        api_request(
            &app,
            Method::PATCH,
            "/api/v1/organizations/20008",
            tokens.of(OtherOrg),
            Some(json!({"name": "Example Lab Beta"}))
        )
        .await
        .0,
        200
    );
}

both_backends! {
    reads => shapes_and_reads;
    writes => create_update_delete;
    membership => members;
    matrix => permission_matrix;
}
