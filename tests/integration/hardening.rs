//! Issue 10 (hardening): hostile inputs get a clear 4xx, nothing panics — on both databases.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::fhir_upload::{HR, World, get, heart_rate_bytes, post, send, with_identifier};
use crate::support::{Backend, Caller, CallerTokens, api_request, spawn_seeded};

/// A page number whose offset overflows a signed 64-bit integer (×20 rows).
const HUGE_PAGE: &str = "461168601842738792";

async fn huge_page_numbers_are_not_found(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let sam = t.of(Caller::Superuser);
    for list in [
        "/api/v1/patients",
        "/api/v1/organizations",
        "/api/v1/studies",
        "/api/v1/observations",
        "/api/v1/data_sources",
        "/api/v1/clients",
        "/api/v1/users",
    ] {
        for page in [HUGE_PAGE, "18446744073709551615", "1000000001"] {
            let (status, body) =
                api_request(&app, Method::GET, &format!("{list}?page={page}"), sam, None).await;
            assert_eq!(status, 404, "{list}?page={page}: {body}");
            assert_eq!(body["detail"], "Invalid page.", "{list}");
        }
        // The largest accepted page is simply empty (or, for fixed lists, not found).
        let (status, body) = api_request(
            &app,
            Method::GET,
            &format!("{list}?page=1000000000"),
            sam,
            None,
        )
        .await;
        assert!(status == 200 || status == 404, "{list}: {status} {body}");
    }
}

async fn multibyte_dates_are_bad_requests(backend: Backend) {
    let w = World::new(backend).await;
    let peter = w.peter.id;
    for value in [
        "123%C3%A945",
        "%C3%A9%C3%A9%C3%A9-1",
        "2025-%C3%A91",
        "ge%C3%A9",
    ] {
        for name in ["date", "_lastUpdated"] {
            let a = get(
                &w.app,
                &format!("/fhir/r5/Observation?patient={peter}&{name}={value}"),
                &w.prac_token,
            )
            .await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{name}={value}: {}",
                a.text
            );
            a.outcome();
        }
    }
    let a = get(
        &w.app,
        &format!("/fhir/r5/Observation?patient={peter}&_page={HUGE_PAGE}"),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
}

async fn date_bounds_agree_on_both_databases(backend: Backend) {
    let w = World::new(backend).await;
    let peter = w.peter.id;
    let resource = w.observation(peter, HR, &heart_rate_bytes(70, "2025-01-01T10:00:00Z"));
    let a = post(&w.app, "/fhir/r5/Observation", &w.peter_token, &resource).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    for (query, expected) in [
        ("date=le9999", 1),
        ("date=lt9999", 1),
        ("date=le9999-12-31", 1),
        ("date=le9999-12-31T23:59:59Z", 1),
        ("date=ge9999", 0),
        ("date=gt9999", 0),
        ("date=9999", 0),
        ("date=ge0000", 1),
        ("date=gt0000", 1),
        ("date=lt0000", 0),
        ("_lastUpdated=le9999", 1),
        ("_lastUpdated=gt9999", 0),
        ("date=le2025-01-01T11:00:00%2B14:00", 0),
        ("date=le2025-01-01T00:00:00-12:00", 1),
    ] {
        let a = get(
            &w.app,
            &format!("/fhir/r5/Observation?patient={peter}&{query}"),
            &w.prac_token,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text);
        assert_eq!(a.json["total"], expected, "{query}");
    }
    for query in [
        "date=le2025-01-01T00:00:00%2B14:01",
        "date=le2025-01-01T00:00:00-15:00",
        "date=le2025-01-01T00:00%2B23:59",
    ] {
        let a = get(
            &w.app,
            &format!("/fhir/r5/Observation?patient={peter}&{query}"),
            &w.prac_token,
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.text);
    }
}

const IDS: &str = "https://example.org/ids";

fn observation_with_id(w: &World, value: &str, i: i64) -> Value {
    with_identifier(
        w.observation(
            w.peter.id,
            HR,
            &heart_rate_bytes(60 + i, "2025-03-01T08:00:00Z"),
        ),
        IDS,
        value,
    )
}

async fn conditional_post(
    w: &World,
    resource: &Value,
    if_none_exist: &str,
) -> crate::fhir_upload::Answer {
    send(
        &w.app,
        Method::POST,
        "/fhir/r5/Observation",
        Some(&w.peter_token),
        Some(serde_json::to_vec(resource).unwrap()),
        &[("If-None-Exist", if_none_exist)],
    )
    .await
}

async fn control_characters_are_bad_requests(backend: Backend) {
    let w = World::new(backend).await;
    let peter = w.peter.id;
    // Search values: 400, never "503 please retry".
    for query in [
        format!("Observation?patient={peter}&patient.identifier=%00"),
        format!("Observation?patient={peter}&identifier=a%00b"),
        format!("Observation?patient={peter}&code=%1B"),
        "Patient?identifier=%00".to_string(),
        format!(
            "Observation?patient={peter}&identifier={}",
            "x".repeat(5000)
        ),
    ] {
        let a = get(&w.app, &format!("/fhir/r5/{query}"), &w.prac_token).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.text);
        a.outcome();
    }
    // Uploads: a NUL, an over-long identifier, too many identifiers.
    let mut too_many = observation_with_id(&w, "many-0", 0);
    too_many["identifier"] = json!(
        (0..101)
            .map(|i| json!({"system": IDS, "value": format!("many-{i}")}))
            .collect::<Vec<_>>()
    );
    for resource in [
        observation_with_id(&w, "a\u{0}b", 1),
        observation_with_id(&w, &"x".repeat(3000), 2),
        too_many,
    ] {
        let a = post(&w.app, "/fhir/r5/Observation", &w.peter_token, &resource).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
        a.outcome();
    }
    let a = conditional_post(&w, &observation_with_id(&w, "ok-1", 3), "identifier=S|a%00").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    // A batch keeps its valid entries.
    let entry = |resource: Value| json!({"resource": resource, "request": {"method": "POST", "url": "Observation"}});
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        entry(observation_with_id(&w, "batch-1", 4)),
        entry(observation_with_id(&w, "nul\u{0}", 5)),
        entry(observation_with_id(&w, &"y".repeat(3000), 6)),
        entry(observation_with_id(&w, "batch-2", 7)),
    ]});
    let a = post(&w.app, "/fhir/r5/", &w.peter_token, &batch).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let statuses: Vec<&str> = a.json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "201 Created",
            "400 Bad Request",
            "400 Bad Request",
            "201 Created"
        ],
        "{}",
        a.text
    );
    assert_eq!(w.stored().await, 2);
    // The REST API: query values and JSON bodies.
    let (status, body) = api_request(
        &w.app,
        Method::GET,
        "/api/v1/observations?organization_id=%00",
        Some(&w.prac_token),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api_request(
        &w.app,
        Method::PATCH,
        &format!("/api/v1/patients/{peter}"),
        Some(&w.prac_token),
        Some(json!({"nameFamily": "Smith\u{0}"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"nameFamily": ["Null characters are not allowed."]})
    );
    let (status, body) = api_request(
        &w.app,
        Method::PATCH,
        &format!("/api/v1/patients/{peter}"),
        Some(&w.prac_token),
        Some(json!({"name_given": "Smith\u{1b}"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"nameGiven": ["Control characters are not allowed."]})
    );
}

async fn if_none_exist_follows_search_syntax(backend: Backend) {
    let w = World::new(backend).await;
    let mut created = Vec::new();
    for (i, id) in ["a", "b"].into_iter().enumerate() {
        let a = post(
            &w.app,
            "/fhir/r5/Observation",
            &w.peter_token,
            &observation_with_id(&w, id, i as i64),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        created.push(a.json["id"].clone());
    }
    let new = observation_with_id(&w, "c", 9);
    let ids = "https%3A%2F%2Fexample.org%2Fids";
    // Both alternatives exist: several matches.
    let a = conditional_post(&w, &new, &format!("identifier={ids}|a,{ids}|b")).await;
    assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{}", a.text);
    // One alternative exists: that match.
    let a = conditional_post(&w, &new, &format!("identifier={ids}|zzz,{ids}|b")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["id"], created[1], "{}", a.text);
    // AND of two groups that name different observations: no match, so create.
    assert_eq!(w.stored().await, 2);
    let a = conditional_post(&w, &new, &format!("identifier={ids}|a&identifier={ids}|b")).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(w.stored().await, 3);
    // Unsupported forms are refused, not read as literal values.
    for bad in [
        format!("identifier={ids}|a,b"),
        format!("identifier:exact={ids}|a"),
        "_id=1".to_string(),
        format!("identifier={ids}|a\\"),
    ] {
        let a = conditional_post(&w, &observation_with_id(&w, "d", 10), &bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text);
    }
    assert_eq!(w.stored().await, 3);
}

/// A value the database refuses is the client's fault (400), not an unavailable database
/// (503 "please retry"): PostgreSQL refuses NUL and over-long index rows, SQLite keeps them.
async fn refused_values_are_not_backend_failures(backend: Backend) {
    use jhe_core::domain::ObservationIdentifier;
    use jhe_core::store::{ObservationStore, StoreError};
    let w = World::new(backend).await;
    for value in ["a\u{0}b".to_string(), "z".repeat(10_000)] {
        let new = jhe_core::domain::NewObservation {
            id: None,
            subject_patient_id: w.peter.id,
            codeable_concept_id: w.concept(HR).id,
            data_source_id: Some(w.device.id),
            value_attachment_data: String::from_utf8(heart_rate_bytes(70, "2025-01-01T10:00:00Z"))
                .unwrap(),
            content_type: "application/json".into(),
            status: "final".into(),
            effective_start: None,
            effective_end: None,
            identifiers: vec![ObservationIdentifier {
                system: Some(IDS.into()),
                value: value.clone(),
            }],
        };
        match w.app.db.store.create_observations(vec![new]).await {
            Ok(_) => {}
            Err(StoreError::Rejected(rule)) => {
                assert_eq!(backend, Backend::Postgres);
                assert!(!rule.contains("ERROR"), "no driver text: {rule}");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let status = jhe_core::http::error::status_of(&jhe_core::CoreError::Store(
        StoreError::Rejected("a value is too long to be stored".into()),
    ));
    assert_eq!(status.as_u16(), 400);
}

/// RFC 6750: no credentials, an invalid token and an expired one are told apart (body and
/// `WWW-Authenticate`), on the REST API and on FHIR.
async fn token_failures_say_which(backend: Backend) {
    use jhe_core::store::OAuthStore;
    let app = spawn_seeded(backend).await;
    let expired = jhe_kdf::random_token(30);
    app.db
        .store
        .create_access_token(jhe_core::domain::NewAccessToken {
            token_hash: jhe_kdf::sha256_hex(&expired),
            user_id: Some(crate::support::seeded::SUPERUSER),
            application_id: None,
            expires: chrono::Utc::now() - chrono::Duration::seconds(5),
            scope: jhe_core::domain::GrantedScopes::full_role().to_string(),
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await
        .unwrap();
    let cases = [
        (
            None,
            "Authentication credentials were not provided.",
            "Bearer realm=\"api\"",
        ),
        (
            Some("not-a-token"),
            "The access token is invalid.",
            "Bearer realm=\"api\",error=\"invalid_token\",error_description=\"The access token is invalid.\"",
        ),
        (
            Some(expired.as_str()),
            "The access token has expired.",
            "Bearer realm=\"api\",error=\"invalid_token\",error_description=\"The access token has expired.\"",
        ),
    ];
    for (token, detail, challenge) in cases {
        for path in ["/api/v1/users/profile", "/fhir/r5/Patient"] {
            let mut request = crate::support::plain_client().get(app.url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{path} {token:?}");
            assert_eq!(response.headers()["www-authenticate"], challenge, "{path}");
            let body: Value = response.json().await.unwrap();
            if path.starts_with("/fhir") {
                assert_eq!(body["issue"][0]["diagnostics"], detail, "{body}");
            } else {
                assert_eq!(body, json!({"detail": detail}));
            }
        }
    }
}

/// Eight identical conditional creates at once: one creates (201), the others get that match
/// (200) — none gets 409 after losing the race on the unique index.
async fn concurrent_conditional_creates_answer_the_match(backend: Backend) {
    let w = World::new(backend).await;
    let resource = observation_with_id(&w, "race-1", 1);
    let header = "identifier=https%3A%2F%2Fexample.org%2Fids%7Crace-1";
    for round in 0..3 {
        let resource = with_identifier(resource.clone(), IDS, &format!("race-{round}"));
        let header = header.replace("race-1", &format!("race-{round}"));
        let answers = futures_join_all(
            (0..8)
                .map(|_| conditional_post(&w, &resource, &header))
                .collect(),
        )
        .await;
        let created = answers
            .iter()
            .filter(|a| a.status == StatusCode::CREATED)
            .count();
        for a in &answers {
            assert!(
                a.status == StatusCode::CREATED || a.status == StatusCode::OK,
                "round {round}: {} {}",
                a.status,
                a.text
            );
        }
        assert_eq!(created, 1, "round {round}");
        let ids: std::collections::HashSet<String> =
            answers.iter().map(|a| a.json["id"].to_string()).collect();
        assert_eq!(ids.len(), 1, "every answer names the same observation");
    }
    assert_eq!(w.stored().await, 3);
}

/// The same race inside `batch` Bundles: the conditional entry of every Bundle but one answers
/// the winner's observation (200), and the other entries of those Bundles are stored all the
/// same (issue 10: nothing of a batch is lost to a race).
async fn concurrent_conditional_batch_entries_answer_the_match(backend: Backend) {
    let w = World::new(backend).await;
    let raced = observation_with_id(&w, "batch-race", 1);
    let criterion = "identifier=https%3A%2F%2Fexample.org%2Fids%7Cbatch-race";
    let bundles: Vec<Value> = (0..8)
        .map(|i| {
            json!({"resourceType": "Bundle", "type": "batch", "entry": [
                {"resource": raced, "request": {"method": "POST", "url": "Observation", "ifNoneExist": criterion}},
                {"resource": observation_with_id(&w, &format!("batch-own-{i}"), i), "request": {"method": "POST", "url": "Observation"}},
            ]})
        })
        .collect();
    let answers = futures_join_all(
        bundles
            .iter()
            .map(|b| post(&w.app, "/fhir/r5", &w.peter_token, b))
            .collect(),
    )
    .await;
    let mut raced_ids = std::collections::HashSet::new();
    let mut raced_created = 0;
    for a in &answers {
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let entries = a.json["entry"].as_array().unwrap();
        let raced_status = entries[0]["response"]["status"].as_str().unwrap();
        assert!(
            raced_status.starts_with("201") || raced_status.starts_with("200"),
            "{}",
            a.text
        );
        raced_created += usize::from(raced_status.starts_with("201"));
        raced_ids.insert(entries[0]["resource"]["id"].to_string());
        assert!(
            entries[1]["response"]["status"]
                .as_str()
                .unwrap()
                .starts_with("201"),
            "{}",
            a.text
        );
    }
    assert_eq!(raced_created, 1);
    assert_eq!(
        raced_ids.len(),
        1,
        "every Bundle names the same observation"
    );
    assert_eq!(w.stored().await, 9);
}

/// Runs the futures concurrently (spawned, so they really race on the server).
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    // Poll all of them together.
    let results = std::sync::Mutex::new(Vec::new());
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results.lock().unwrap().push((i, v));
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    out.extend(results.into_iter().map(|(_, v)| v));
    out
}

/// Bundles, FHIR bodies and `/api/v1` bodies are bounded; an anonymous body is not parsed.
async fn bodies_and_bundles_are_bounded(backend: Backend) {
    let w = World::new(backend).await;
    let entry = json!({"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Observation"}});
    let too_many = json!({"resourceType": "Bundle", "type": "batch",
        "entry": vec![entry; jhe_core::services::observations::MAX_BUNDLE_ENTRIES + 1]});
    let a = post(&w.app, "/fhir/r5/", &w.prac_token, &too_many).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text);
    assert!(a.outcome().contains("at most 10000"), "{}", a.text);
    assert_eq!(w.stored().await, 0);
    // A FHIR body over the cap is refused before parsing.
    let huge = vec![b' '; jhe_core::http::fhir::MAX_BODY_BYTES + 1];
    let a = send(
        &w.app,
        Method::POST,
        "/fhir/r5/Observation",
        Some(&w.prac_token),
        Some(huge),
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text);
    // /api/v1: without a valid token, 64 KiB at most, else the 401.
    let big = json!({"name_family": "x".repeat(100 * 1024)});
    for token in [None, Some("not-a-token")] {
        let (status, body) = api_request(
            &w.app,
            Method::POST,
            "/api/v1/patients",
            token,
            Some(big.clone()),
        )
        .await;
        assert_eq!(status, 413, "{body}");
        let (status, body) = api_request(
            &w.app,
            Method::POST,
            "/api/v1/patients",
            token,
            Some(json!({"name_family": "x"})),
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    let bigger =
        json!({"name_family": "x".repeat(jhe_core::http::rest::casing::MAX_API_BODY_BYTES)});
    let (status, body) = api_request(
        &w.app,
        Method::POST,
        "/api/v1/patients",
        Some(&w.prac_token),
        Some(bigger),
    )
    .await;
    assert_eq!(status, 413, "{body}");
}

/// Every text field of the Admin API has a length cap (the README's "Limits"): one character
/// over it is a 400 naming the field, on every write path; the cap itself is accepted.
async fn admin_text_fields_are_capped(backend: Backend) {
    use jhe_core::domain::{
        MAX_DESCRIPTION_CHARS, MAX_IDENTIFIER_BYTES, MAX_NAME_CHARS, MAX_PERSON_NAME_CHARS,
        MAX_PHONE_CHARS, MAX_URL_CHARS,
    };
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let sam = t.of(Caller::Superuser);
    let over = |n: usize| "\u{e9}".repeat(n + 1);
    let mary = t.of(Caller::Manager);
    let cases: Vec<(Method, &str, Value, &str, usize)> = vec![
        (
            Method::POST,
            "/api/v1/organizations",
            json!({"name": over(MAX_NAME_CHARS), "type": "other", "partOf": 20001}),
            "name",
            MAX_NAME_CHARS,
        ),
        (
            Method::PATCH,
            "/api/v1/organizations/20003",
            json!({"name": over(MAX_NAME_CHARS)}),
            "name",
            MAX_NAME_CHARS,
        ),
        (
            Method::POST,
            "/api/v1/studies",
            json!({"name": over(MAX_NAME_CHARS), "description": "d", "organization": 20003}),
            "name",
            MAX_NAME_CHARS,
        ),
        (
            Method::PATCH,
            "/api/v1/studies/30001",
            json!({"description": over(MAX_DESCRIPTION_CHARS)}),
            "description",
            MAX_DESCRIPTION_CHARS,
        ),
        (
            Method::PATCH,
            "/api/v1/studies/30001",
            json!({"iconUrl": format!("https://x.org/{}", over(MAX_URL_CHARS))}),
            "iconUrl",
            MAX_URL_CHARS,
        ),
        (
            Method::POST,
            "/api/v1/data_sources",
            json!({"name": over(MAX_NAME_CHARS), "type": "personal_device"}),
            "name",
            MAX_NAME_CHARS,
        ),
        (
            Method::POST,
            "/api/v1/patients",
            json!({"organizationId": 20003, "nameFamily": over(MAX_PERSON_NAME_CHARS), "nameGiven": "G", "birthDate": "2000-01-01", "telecomEmail": "capped@example.org"}),
            "nameFamily",
            MAX_PERSON_NAME_CHARS,
        ),
        (
            Method::PATCH,
            "/api/v1/patients/40001?organizationId=20003",
            json!({"identifier": over(MAX_IDENTIFIER_BYTES)}),
            "identifier",
            MAX_IDENTIFIER_BYTES,
        ),
        (
            Method::PATCH,
            "/api/v1/patients/40001?organizationId=20003",
            json!({"telecomPhone": over(MAX_PHONE_CHARS)}),
            "telecomPhone",
            MAX_PHONE_CHARS,
        ),
        (
            Method::PATCH,
            "/api/v1/users/10001",
            json!({"firstName": over(MAX_PERSON_NAME_CHARS)}),
            "firstName",
            MAX_PERSON_NAME_CHARS,
        ),
        (
            Method::PATCH,
            "/api/v1/practitioners/80002",
            json!({"nameFamily": over(MAX_PERSON_NAME_CHARS)}),
            "nameFamily",
            MAX_PERSON_NAME_CHARS,
        ),
        (
            Method::POST,
            "/api/v1/clients",
            json!({"name": over(MAX_NAME_CHARS), "clientId": "capped-client", "invitation_url": "https://x.org/i", "code_verifier": "v".repeat(43)}),
            "name",
            MAX_NAME_CHARS,
        ),
        (
            Method::POST,
            "/api/v1/jhe_settings",
            json!({"key": over(MAX_NAME_CHARS), "valueType": "string", "value": "v"}),
            "key",
            MAX_NAME_CHARS,
        ),
    ];
    for (method, path, body, field, max) in cases {
        // Patients are visible through an organisation: mary manages 40001's.
        let token = if path.starts_with("/api/v1/patients/") {
            mary
        } else {
            sam
        };
        let (status, answer) = api_request(&app, method.clone(), path, token, Some(body)).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(
            answer[field][0],
            format!("Ensure this field has no more than {max} characters."),
            "{method} {path}: {answer}"
        );
    }
    // At the cap: accepted, and stored whole.
    let at_cap = "\u{e9}".repeat(MAX_NAME_CHARS);
    let (status, org) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        sam,
        Some(json!({"name": at_cap, "type": "other", "partOf": 20001})),
    )
    .await;
    assert_eq!(status, 201, "{org}");
    assert_eq!(org["name"], at_cap);
}

both_backends! {
    huge_page_numbers => huge_page_numbers_are_not_found;
    admin_text_caps => admin_text_fields_are_capped;
    multibyte_dates => multibyte_dates_are_bad_requests;
    date_bounds => date_bounds_agree_on_both_databases;
    control_characters => control_characters_are_bad_requests;
    if_none_exist_syntax => if_none_exist_follows_search_syntax;
    refused_values => refused_values_are_not_backend_failures;
    token_failures => token_failures_say_which;
    concurrent_conditional_creates => concurrent_conditional_creates_answer_the_match;
    concurrent_conditional_batch_entries => concurrent_conditional_batch_entries_answer_the_match;
    bounded_bodies => bodies_and_bundles_are_bounded;
}

/// The listener closes idle connections and serves at most `max` at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_connections_limited() {
    use poem::listener::{Acceptor, Listener};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    #[poem::handler]
    fn ok() -> &'static str {
        "ok"
    }
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let acceptor =
        jhe::connections::LimitedAcceptor::new(acceptor, 1, std::time::Duration::from_millis(400));
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(poem::Route::new().at("/", ok)));
    // An idle socket holds the only slot…
    let started = std::time::Instant::now();
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // …so a request waits until the idle one is closed (not forever).
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        second.read_to_string(&mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(350));
    // The idle socket was closed by the server.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), idle.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
}
