//! Permission matrices of the patient, consent, study and observation endpoints for every seeded
//! role and an anonymous caller (lists and counts must not leak rows of other organisations or
//! unconsented scopes), and one test per security gap of the original that jhe-rs closes.

use jhe_core::domain::NewOAuthClient;
use jhe_core::store::{ClientStore, PatientStore, StudyStore, UserStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, Caller, CallerTokens, TestApp, api_request, spawn_seeded};

use Caller::*;

const UNAUTHENTICATED: &str = "Authentication credentials were not provided.";

/// Expected status per caller, in [`Caller::ALL`] order.
type Row = [u16; 7];

fn expected(row: &Row, caller: Caller) -> u16 {
    let index = Caller::ALL.iter().position(|c| *c == caller).unwrap();
    row[index]
}

/// Sends the request for every caller and checks the status (and the 401 body).
async fn check(
    app: &TestApp,
    t: &CallerTokens,
    method: Method,
    path: &str,
    body: Option<Value>,
    row: &Row,
) -> Vec<(Caller, Value)> {
    let mut out = Vec::new();
    for caller in Caller::ALL {
        let (status, answer) =
            api_request(app, method.clone(), path, t.of(caller), body.clone()).await;
        assert_eq!(
            status,
            expected(row, caller),
            "{method} {path} as {caller:?}: {answer}"
        );
        if status == 401 {
            assert_eq!(answer, json!({"detail": UNAUTHENTICATED}));
        }
        out.push((caller, answer));
    }
    out
}

fn result_ids(body: &Value) -> Vec<i64> {
    body["results"]
        .as_array()
        .map(|r| r.iter().map(|o| o["id"].as_i64().unwrap()).collect())
        .unwrap_or_default()
}

//                         sup  mgr  mem  view other pat  anon
const READ_ALL: Row = [200, 200, 200, 200, 200, 200, 401];
/// Not visible and not there look the same: superusers see patients only through organisations.
const SHARED_ORG_READ: Row = [404, 200, 200, 200, 404, 200, 401];
/// Changing a patient of Example Lab: only callers who can see the patient get past `404`.
const MANAGE_VISIBLE: Row = [404, 200, 200, 403, 404, 404, 401];
/// The e-mail lookup: practitioners who may manage patients of some organisation.
const LOOKUP: Row = [200, 200, 200, 403, 200, 403, 401];
const MANAGE: Row = [200, 200, 200, 403, 403, 403, 401];
const STUDY_READ: Row = [403, 200, 200, 200, 403, 403, 401];

async fn patient_reads(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;

    let answers = check(&app, &t, Method::GET, "/api/v1/patients", None, &READ_ALL).await;
    for (caller, body) in &answers {
        let expected: Vec<i64> = match caller {
            Manager | Member | Viewer => vec![40001, 40002],
            OtherOrg => vec![40003, 40005],
            Superuser | Patient => vec![],
            Anonymous => continue,
        };
        assert_eq!(result_ids(body), expected, "{caller:?}");
        assert_eq!(body["count"], expected.len(), "{caller:?}");
    }
    // Filters cannot widen the view.
    for path in [
        "/api/v1/patients?organizationId=20008",
        "/api/v1/patients?studyId=30005",
        "/api/v1/patients?patientId=40004",
    ] {
        for (caller, body) in check(&app, &t, Method::GET, path, None, &READ_ALL).await {
            if caller != Anonymous {
                assert_eq!(body["count"], 0, "{path} as {caller:?}");
            }
        }
    }

    check(
        &app,
        &t,
        Method::GET,
        "/api/v1/patients/40001",
        None,
        &SHARED_ORG_READ,
    )
    .await;
    check(
        &app,
        &t,
        Method::GET,
        "/api/v1/patients/40001/consents",
        None,
        &SHARED_ORG_READ,
    )
    .await;
    check(
        &app,
        &t,
        Method::GET,
        "/api/v1/patients/40001/consolidated_clients",
        None,
        &SHARED_ORG_READ,
    )
    .await;
    let answers = check(
        &app,
        &t,
        Method::GET,
        "/api/v1/patients/global_lookup?email=peter@example.com",
        None,
        &LOOKUP,
    )
    .await;
    for (caller, body) in answers {
        if expected(&LOOKUP, caller) == 200 {
            assert_eq!(body[0]["id"], 40001);
            for field in ["birthDate", "telecomPhone", "nameFamily", "nameGiven"] {
                assert!(body[0].get(field).is_none(), "{field} as {caller:?}");
            }
        }
    }
}

async fn patient_writes(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;

    // Create in Example Lab: a distinct e-mail per caller; refusals write nothing.
    for caller in Caller::ALL {
        let email = format!("new-{caller:?}@example.org").to_lowercase();
        let (status, body) = api_request(
            &app,
            Method::POST,
            "/api/v1/patients",
            t.of(caller),
            Some(
                json!({"organizationId": 20003, "nameFamily": "N", "nameGiven": "P",
                "birthDate": "2000-01-01", "telecomEmail": email}),
            ),
        )
        .await;
        assert_eq!(status, expected(&MANAGE, caller), "{caller:?}: {body}");
        let user = app.db.store.get_user_by_email(&email).await.unwrap();
        assert_eq!(user.is_some(), status == 200, "{caller:?}");
    }

    // Change.
    check(
        &app,
        &t,
        Method::PATCH,
        "/api/v1/patients/40002?organizationId=20003",
        Some(json!({"telecomPhone": "+1-555"})),
        &MANAGE_VISIBLE,
    )
    .await;

    // Remove from the organisation: a fresh patient per caller; refused ones stay.
    for caller in Caller::ALL {
        let (_, created) = api_request(
            &app,
            Method::POST,
            "/api/v1/patients",
            t.of(Superuser),
            Some(json!({"organizationId": 20003, "nameFamily": "D", "nameGiven": "P",
                "birthDate": "2000-01-01", "telecomEmail": format!("del-{caller:?}@example.org").to_lowercase()})),
        )
        .await;
        let id = created["id"].as_i64().unwrap();
        let (status, body) = api_request(
            &app,
            Method::DELETE,
            &format!("/api/v1/patients/{id}?organizationId=20003"),
            t.of(caller),
            None,
        )
        .await;
        assert_eq!(
            status,
            expected(&MANAGE_VISIBLE, caller),
            "{caller:?}: {body}"
        );
        let exists = app
            .db
            .store
            .get_patient(&jhe_core::store::AccessScope::system_for_tests(), id)
            .await
            .unwrap()
            .is_some();
        assert_eq!(exists, status != 200, "{caller:?}");
    }

    // Add to an organisation: refusals first (percy must stay out of 20003), then the allowed.
    let path = "/api/v1/patients/40003/global_add_organization?organizationId=20003&email=percy@example.com";
    // Superusers too must be members of the organisation they add patients to.
    //                 sup  mgr  mem  view other pat  anon
    let add: Row = [403, 200, 200, 403, 403, 403, 401];
    for caller in Caller::ALL.iter().rev() {
        let (status, body) = api_request(&app, Method::PATCH, path, t.of(*caller), None).await;
        assert_eq!(status, expected(&add, *caller), "{caller:?}: {body}");
        let member = app
            .db
            .store
            .list_patient_organization_ids(40003)
            .await
            .unwrap()
            .contains(&20003);
        assert_eq!(
            member,
            // Reverse order: once the member added percy, he stays.
            matches!(caller, Member | Manager | Superuser),
            "{caller:?}"
        );
    }

    // Record consents for peter in 30002: refusals first (BP stays pending), then the allowed.
    let consent = json!({"studyScopeConsents": [{"studyId": 30002, "scopeConsents": [
        {"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-pressure:4.0", "consented": true}]}]});
    let messages = [
        (Anonymous, 401, UNAUTHENTICATED),
        (OtherOrg, 404, "No Patient matches the given query."),
        (Superuser, 404, "No Patient matches the given query."),
        (Viewer, 403, "Practitioner role is not valid."),
    ];
    for (caller, status, detail) in messages {
        let (s, body) = api_request(
            &app,
            Method::POST,
            "/api/v1/patients/40001/consents",
            t.of(caller),
            Some(consent.clone()),
        )
        .await;
        assert_eq!((s, body), (status, json!({"detail": detail})), "{caller:?}");
    }
    let pamela = crate::support::bearer_for(&app, 10007).await;
    let (s, body) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients/40001/consents",
        Some(&pamela),
        Some(consent.clone()),
    )
    .await;
    assert_eq!(
        (s, body),
        (
            404,
            json!({"detail": "No Patient matches the given query."})
        )
    );
    assert_eq!(
        app.db
            .store
            .list_patient_consents(&jhe_core::store::AccessScope::system_for_tests(), 40001)
            .await
            .unwrap()
            .len(),
        2,
        "nothing written"
    );
    for caller in [Patient, Member, Manager] {
        for method in [Method::POST, Method::PATCH] {
            let (s, body) = api_request(
                &app,
                method.clone(),
                "/api/v1/patients/40001/consents",
                t.of(caller),
                Some(consent.clone()),
            )
            .await;
            assert_eq!(s, 200, "{method} as {caller:?}: {body}");
        }
    }
    assert_eq!(
        app.db
            .store
            .list_patient_consents(&jhe_core::store::AccessScope::system_for_tests(), 40001)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn study_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;

    //                      sup  mgr  mem  view other pat  anon
    let list: Row = [200, 200, 200, 200, 200, 404, 401];
    for (caller, body) in check(&app, &t, Method::GET, "/api/v1/studies", None, &list).await {
        let expected: Vec<i64> = match caller {
            Manager | Member | Viewer => vec![30002, 30001],
            OtherOrg => vec![30004, 30003],
            Superuser => vec![],
            Patient => {
                assert_eq!(
                    body,
                    json!({"detail": "No Practitioner matches the given query."})
                );
                continue;
            }
            Anonymous => continue,
        };
        assert_eq!(result_ids(&body), expected, "{caller:?}");
        assert_eq!(body["count"], expected.len(), "{caller:?}");
    }
    check(
        &app,
        &t,
        Method::GET,
        "/api/v1/studies/30001",
        None,
        &STUDY_READ,
    )
    .await;
    //                         sup  mgr  mem  view other pat  anon
    let org_studies: Row = [200, 200, 200, 200, 403, 403, 401];
    check(
        &app,
        &t,
        Method::GET,
        "/api/v1/organizations/20003/studies",
        None,
        &org_studies,
    )
    .await;

    // Create, change, delete.
    //                    sup  mgr  mem  view other pat  anon
    let created: Row = [201, 201, 201, 403, 403, 403, 401];
    check(
        &app,
        &t,
        Method::POST,
        "/api/v1/studies",
        Some(json!({"name": "M", "description": "", "organization": 20003})),
        &created,
    )
    .await;
    check(
        &app,
        &t,
        Method::PATCH,
        "/api/v1/studies/30001",
        Some(json!({"description": "changed"})),
        &MANAGE,
    )
    .await;
    check(
        &app,
        &t,
        Method::PUT,
        "/api/v1/studies/30002",
        Some(json!({"name": "Example Study on BP", "description": "x"})),
        &MANAGE,
    )
    .await;
    let deleted: Row = [204, 204, 204, 403, 403, 403, 401];
    for caller in Caller::ALL {
        let (_, study) = api_request(
            &app,
            Method::POST,
            "/api/v1/studies",
            t.of(Superuser),
            Some(json!({"name": "D", "organization": 20003})),
        )
        .await;
        let id = study["id"].as_i64().unwrap();
        let (status, body) = api_request(
            &app,
            Method::DELETE,
            &format!("/api/v1/studies/{id}"),
            t.of(caller),
            None,
        )
        .await;
        assert_eq!(status, expected(&deleted, caller), "{caller:?}: {body}");
        assert_eq!(
            app.db.store.get_study(id).await.unwrap().is_some(),
            status != 204
        );
    }

    // Sub-resources: reads need a link to the study's organisation, writes the manage right.
    let client = app
        .db
        .store
        .create_client(NewOAuthClient {
            client_id: "matrix-client".into(),
            redirect_uris: "https://x/cb".into(),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            name: "Matrix".into(),
            algorithm: "RS256".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for sub in ["patients", "scope_requests", "clients", "data_sources"] {
        check(
            &app,
            &t,
            Method::GET,
            &format!("/api/v1/studies/30001/{sub}"),
            None,
            &STUDY_READ,
        )
        .await;
    }
    let writes = [
        ("patients", json!({"patientIds": [40002]})),
        ("scope_requests", json!({"scopeCodeId": 50001})),
        ("clients", json!({"clientId": client.id})),
        ("data_sources", json!({"dataSourceId": 70001})),
    ];
    // Enrolling needs to see the patient: a superuser outside the organisation cannot.
    //                       sup  mgr  mem  view other pat  anon
    let enrol: Row = [400, 200, 200, 403, 403, 403, 401];
    for (sub, body) in writes {
        let path = format!("/api/v1/studies/30002/{sub}");
        let row = if sub == "patients" { &enrol } else { &MANAGE };
        check(&app, &t, Method::POST, &path, Some(body.clone()), row).await;
        check(&app, &t, Method::DELETE, &path, Some(body), &MANAGE).await;
    }
}

async fn observation_matrix(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;

    //                      sup  mgr  mem  view other pat  anon
    let list: Row = [200, 200, 200, 200, 200, 404, 401];
    for (caller, body) in check(&app, &t, Method::GET, "/api/v1/observations", None, &list).await {
        let expected: Vec<i64> = match caller {
            Manager | Member | Viewer => vec![60005, 60004, 60003, 60002, 60001],
            // Pat's O2 reading (60009) is consented only in 20008's study, where mark has no
            // link: hidden although mark shares 20006 with pat.
            OtherOrg => vec![60008, 60006],
            Superuser => vec![],
            Patient => {
                assert_eq!(
                    body,
                    json!({"detail": "No Practitioner matches the given query."})
                );
                continue;
            }
            Anonymous => continue,
        };
        assert_eq!(result_ids(&body), expected, "{caller:?}");
        assert_eq!(body["count"], expected.len(), "{caller:?}");
    }
    //                          sup  mgr  mem  view other pat  anon
    let by_study: Row = [403, 200, 200, 200, 403, 404, 401];
    for (caller, body) in check(
        &app,
        &t,
        Method::GET,
        "/api/v1/observations?studyId=30001",
        None,
        &by_study,
    )
    .await
    {
        if expected(&by_study, caller) == 200 {
            assert_eq!(result_ids(&body), vec![60005, 60004, 60003, 60002, 60001]);
        }
    }
    //                        sup  mgr  mem  view other pat  anon
    let detail: Row = [404, 200, 200, 200, 404, 404, 401];
    check(
        &app,
        &t,
        Method::GET,
        "/api/v1/observations/60001",
        None,
        &detail,
    )
    .await;
    // Other organisations' rows never appear, whatever the filter.
    for query in [
        "patientId=40004",
        "observationId=60007",
        "organizationId=20008",
    ] {
        let (_, body) = api_request(
            &app,
            Method::GET,
            &format!("/api/v1/observations?{query}"),
            t.of(Manager),
            None,
        )
        .await;
        assert_eq!(body["count"], 0, "{query}");
    }
}

// ---- One test per closed gap of the original ----

/// The original lets any practitioner read any patient. An invisible patient and an unknown id
/// answer the same.
async fn gap_patient_detail_needs_a_shared_organization(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    for path in ["/api/v1/patients/40001", "/api/v1/patients/49999"] {
        let (status, body) = api_request(&app, Method::GET, path, t.of(OtherOrg), None).await;
        assert_eq!(
            (status, body),
            (
                404,
                json!({"detail": "No Patient matches the given query."})
            ),
            "{path}"
        );
    }
}

/// The original lets anyone add any patient to any organisation.
async fn gap_global_add_organization_needs_the_manage_right(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    for caller in [Viewer, OtherOrg, Patient] {
        let (status, _) = api_request(
            &app,
            Method::PATCH,
            "/api/v1/patients/40003/global_add_organization?organizationId=20003",
            t.of(caller),
            None,
        )
        .await;
        assert_eq!(status, 403, "{caller:?}");
    }
    assert_eq!(
        app.db
            .store
            .list_patient_organization_ids(40003)
            .await
            .unwrap(),
        vec![20007]
    );
}

/// The original lets anyone change a patient through any organisation they manage.
async fn gap_patient_changes_go_through_the_patients_organization(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    // Mark manages 20007, but peter is not a member there.
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40001?organizationId=20007",
        t.of(OtherOrg),
        Some(json!({"nameFamily": "Hacked"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = api_request(
        &app,
        Method::DELETE,
        "/api/v1/patients/40001?organizationId=20007",
        t.of(OtherOrg),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let peter = app
        .db
        .store
        .get_patient(&jhe_core::store::AccessScope::system_for_tests(), 40001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peter.name_family, "Smith");
}

/// The original checks nothing on study sub-resources (any user, patients included).
async fn gap_study_sub_resources_need_the_manage_right(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    app.db
        .store
        .add_patient_organization(40003, 20003)
        .await
        .unwrap();
    for caller in [Patient, Viewer, OtherOrg] {
        for (sub, body) in [
            ("patients", json!({"patientIds": [40003]})),
            ("scope_requests", json!({"scopeCodeId": 50001})),
            ("data_sources", json!({"dataSourceId": 70001})),
        ] {
            let (status, _) = api_request(
                &app,
                Method::POST,
                &format!("/api/v1/studies/30001/{sub}"),
                t.of(caller),
                Some(body),
            )
            .await;
            assert_eq!(status, 403, "{sub} as {caller:?}");
        }
        let (status, _) = api_request(
            &app,
            Method::DELETE,
            "/api/v1/studies/30001/patients",
            t.of(caller),
            Some(json!({"patientIds": [40001]})),
        )
        .await;
        assert_eq!(status, 403, "unenrol as {caller:?}");
        let (status, _) = api_request(
            &app,
            Method::GET,
            "/api/v1/studies/30001/patients",
            t.of(caller),
            None,
        )
        .await;
        assert_eq!(
            status,
            if caller == Viewer { 200 } else { 403 },
            "read as {caller:?}"
        );
    }
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
    assert_eq!(
        app.db.store.list_scope_requests(30001).await.unwrap().len(),
        2
    );
    assert!(
        app.db
            .store
            .list_study_data_sources(30001)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The original checks neither the caller's right on the study nor consent in the REST list.
async fn gap_observation_study_filter_checks_study_and_consent(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    // Mark shares 20006 with pat, but study 30005 belongs to 20008, where he has no link.
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?studyId=30005",
        t.of(OtherOrg),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"detail": "Current User does not have authorization to access this Study."})
        )
    );
    // Peter's BP is pending in 30002: only pamela's consented BP rows come back.
    let (status, body) = api_request(
        &app,
        Method::GET,
        "/api/v1/observations?studyId=30002",
        t.of(Manager),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(result_ids(&body), vec![60005, 60003]);
    assert_eq!(body["count"], 2);
}

/// The original lets any practitioner sharing an organisation (viewers included) wipe a patient's
/// consents with `?reset=true`.
async fn gap_consent_reset_needs_the_right_to_record(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let (status, _) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/40001/consents?reset=true",
        t.of(Viewer),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.db
            .store
            .list_patient_consents(&jhe_core::store::AccessScope::system_for_tests(), 40001)
            .await
            .unwrap()
            .len(),
        2
    );
}

both_backends! {
    matrix_patient_reads => patient_reads;
    matrix_patient_writes => patient_writes;
    matrix_studies => study_matrix;
    matrix_observations => observation_matrix;
    gap_patient_detail => gap_patient_detail_needs_a_shared_organization;
    gap_global_add_organization => gap_global_add_organization_needs_the_manage_right;
    gap_patient_changes => gap_patient_changes_go_through_the_patients_organization;
    gap_study_sub_resources => gap_study_sub_resources_need_the_manage_right;
    gap_observation_study_filter => gap_observation_study_filter_checks_study_and_consent;
    gap_consent_reset => gap_consent_reset_needs_the_right_to_record;
}
