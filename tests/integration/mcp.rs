//! The MCP API at `/mcp`, through rmcp's own client over real HTTP (and its stdio handler over an
//! in-memory pipe): every tool on seeded and uploaded data, the paging envelope, argument
//! errors, who sees what (another organisation, a withdrawn consent, a patient's own token),
//! the 401 answers and discovery documents, and the DNS-rebinding guard.

use chrono::{DateTime, TimeZone, Utc};
use jhe_core::domain::NewObservation;
use jhe_core::store::{AccessScope, ObservationStore, StudyStore};
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, bearer_for, bearer_with_scope, seeded, spawn_seeded};

type Client = RunningService<RoleClient, ()>;

async fn connect(app: &TestApp, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(token),
    );
    ().serve(transport).await.expect("MCP initialize")
}

/// Calls a tool: `Ok(value)` for a result (its JSON text parsed), `Err(text)` for a tool error.
async fn call(client: &Client, name: &str, args: Value) -> Result<Value, String> {
    let result = client
        .call_tool(
            CallToolRequestParams::new(name.to_string())
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let text = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default();
    if result.is_error == Some(true) {
        Err(text)
    } else {
        Ok(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}")))
    }
}

async fn ok(client: &Client, name: &str, args: Value) -> Value {
    call(client, name, args)
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

async fn err(client: &Client, name: &str, args: Value) -> String {
    match call(client, name, args).await {
        Err(e) => e,
        Ok(v) => panic!("{name} should fail, got {v}"),
    }
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, day, hour, 0, 0).unwrap()
}

fn data_point(kind: &str, version: &str, body: Value) -> String {
    json!({
        "header": {
            "uuid": uuid::Uuid::new_v4().to_string(),
            "schema_id": {"namespace": "omh", "name": kind, "version": version},
            "source_creation_date_time": "2024-03-01T00:00:00Z",
            "modality": "sensed"
        },
        "body": body
    })
    .to_string()
}

/// Uploads (through the store, as a validated upload stores them) three heart-rate readings and
/// one blood-glucose reading of Peter (40001) in March 2024; returns the heart-rate ids oldest
/// first. Blood glucose is consented in no study: only Peter himself sees it.
async fn upload(app: &TestApp) -> Vec<i64> {
    let heart = |day: u32, value: i64| NewObservation {
        id: None,
        subject_patient_id: 40001,
        codeable_concept_id: 50004,
        data_source_id: None,
        value_attachment_data: data_point(
            "heart-rate",
            "2.0",
            json!({"heart_rate": {"value": value, "unit": "beats/min"},
                   "effective_time_frame": {"date_time": format!("2024-03-0{day}T08:00:00Z")}}),
        ),
        content_type: "application/json".into(),
        status: "final".into(),
        effective_start: Some(at(day, 8)),
        effective_end: None,
        identifiers: Vec::new(),
    };
    let glucose = NewObservation {
        codeable_concept_id: 50001,
        value_attachment_data: data_point(
            "blood-glucose",
            "4.0",
            json!({"blood_glucose": {"value": 99, "unit": "mg/dL"},
                   "effective_time_frame": {"date_time": "2024-03-03T08:00:00Z"}}),
        ),
        effective_start: Some(at(3, 8)),
        ..heart(3, 0)
    };
    let created = app
        .db
        .store
        .create_observations(vec![heart(1, 60), heart(2, 70), heart(5, 80), glucose])
        .await
        .unwrap();
    created.iter().take(3).map(|o| o.id).collect()
}

/// The stored effective start of a seeded observation, as the tools format instants.
async fn effective_of(app: &TestApp, id: i64) -> String {
    let o = app
        .db
        .store
        .get_observation(&AccessScope::system_for_tests(), id)
        .await
        .unwrap()
        .unwrap();
    jhe_core::fhir::datetime::format_instant(o.effective_start.unwrap())
}

async fn practitioner_sees_everything_consented(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let hr = upload(&app).await;
    let mary = connect(&app, &bearer_for(&app, seeded::MANAGER).await).await;

    // initialize: name and instructions.
    let info = mary.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "jhe-mcp");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(
        instructions.contains("get_patient_date_range"),
        "{instructions}"
    );
    assert!(
        instructions.contains("YYYY-MM-DD, inclusive"),
        "{instructions}"
    );

    // tools/list names every tool of the spec.
    let tools = mary.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)),
        "every tool is read-only"
    );
    let mut names: Vec<String> = tools.into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "count_patient_observations",
            "count_study_observations",
            "get_omh_schema",
            "get_patient_date_range",
            "get_patient_demographics",
            "get_patient_observations",
            "get_server_capabilities",
            "get_study_count",
            "get_study_metadata",
            "list_studies",
            "list_study_patients",
            "search_patients",
            "summarize_patient_observations",
        ]
    );

    // Studies.
    assert_eq!(ok(&mary, "get_study_count", json!({})).await, json!(2));
    assert_eq!(
        ok(&mary, "list_studies", json!({})).await,
        json!([
            {"study_id": "30002", "name": "Example Study on BP", "description": "Blood Pressure",
             "organization_id": "20003", "organization_name": "Example Lab"},
            {"study_id": "30001", "name": "Example Study on BP & HR",
             "description": "Blood Pressure & Heart Rate",
             "organization_id": "20003", "organization_name": "Example Lab"},
        ])
    );
    assert_eq!(
        ok(&mary, "get_study_metadata", json!({"study_id": "30001"})).await["name"],
        "Example Study on BP & HR"
    );
    assert_eq!(
        ok(&mary, "get_study_metadata", json!({"study_id": "39999"})).await,
        Value::Null
    );
    assert_eq!(
        ok(&mary, "list_study_patients", json!({"study_id": 30001})).await,
        json!([
            {"patient_id": "40001", "given_name": "Peter", "family_name": "Smith",
             "email": "peter@example.com"},
            {"patient_id": "40002", "given_name": "Pamela", "family_name": "Duarte",
             "email": "pamela@example.com"},
        ])
    );

    // Patients.
    assert_eq!(
        ok(
            &mary,
            "get_patient_demographics",
            json!({"patient_id": "40001"})
        )
        .await,
        json!({"patient_id": "40001", "given_name": "Peter", "family_name": "Smith",
               "birth_date": "1984-01-13"})
    );
    assert_eq!(
        ok(
            &mary,
            "get_patient_demographics",
            json!({"patient_id": "40003"})
        )
        .await,
        Value::Null,
        "a patient of another organisation"
    );
    let found = ok(&mary, "search_patients", json!({"family": "smi"})).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["returned"], 1);
    assert_eq!(found["has_more"], false);
    assert_eq!(found["patients"][0]["patient_id"], "40001");
    assert_eq!(found["patients"][0]["email"], "peter@example.com");
    assert_eq!(found["patients"][0]["birth_date"], "1984-01-13");
    let by_birth = ok(
        &mary,
        "search_patients",
        json!({"birthdate": "ge1990-01-01"}),
    )
    .await;
    assert_eq!(by_birth["total"], 1);
    assert_eq!(by_birth["patients"][0]["patient_id"], "40002");
    let paged = ok(
        &mary,
        "search_patients",
        json!({"name": "p", "limit": 1, "page": 2}),
    )
    .await;
    assert_eq!(
        (
            paged["total"].clone(),
            paged["page"].clone(),
            paged["page_size"].clone()
        ),
        (json!(2), json!(2), json!(1))
    );
    assert_eq!(paged["has_more"], false);
    assert_eq!(paged["patients"][0]["patient_id"], "40002");

    // Observations: Peter has seeded BP (60001) and HR (60002) now + 1 h, and the three
    // uploaded heart rates; his blood glucose is consented nowhere.
    let march = json!({"patient_id": "40001", "data_type": "heart-rate",
                       "start": "2024-03-01", "end": "2024-03-31", "order": "oldest", "limit": 2});
    let page1 = ok(&mary, "get_patient_observations", march.clone()).await;
    assert_eq!(
        page1,
        json!({"total": 3, "page": 1, "page_size": 2, "returned": 2, "has_more": true,
               "observations": [
                 {"observation_id": hr[0].to_string(), "patient_id": "40001", "type": "Heart Rate",
                  "effective_at": "2024-03-01T08:00:00Z", "value": 60, "unit": "beats/min"},
                 {"observation_id": hr[1].to_string(), "patient_id": "40001", "type": "Heart Rate",
                  "effective_at": "2024-03-02T08:00:00Z", "value": 70, "unit": "beats/min"}]})
    );
    let mut args = march.clone();
    args["page"] = json!(2);
    args["verbosity"] = json!("full");
    let page2 = ok(&mary, "get_patient_observations", args.clone()).await;
    assert_eq!(page2["returned"], 1);
    assert_eq!(page2["has_more"], false);
    assert_eq!(
        page2["observations"][0],
        json!({"observation_id": hr[2].to_string(), "patient_id": "40001",
               "code": "omh:heart-rate:2.0", "code_system": "https://w3id.org/openmhealth",
               "code_display": "Heart Rate", "effective_at": "2024-03-05T08:00:00Z",
               "omh_body": {"heart_rate": {"value": 80, "unit": "beats/min"},
                            "effective_time_frame": {"date_time": "2024-03-05T08:00:00Z"}}})
    );
    args["page"] = json!(3);
    assert!(
        err(&mary, "get_patient_observations", args)
            .await
            .starts_with("Invalid page"),
        "a page past the end is an error"
    );
    let newest = ok(
        &mary,
        "get_patient_observations",
        json!({"patient_id": "40001", "limit": 1}),
    )
    .await;
    assert_eq!(newest["total"], 5);
    let seeded_latest = effective_of(&app, 60002).await;
    assert_eq!(
        newest["observations"][0],
        json!({"observation_id": "60002", "patient_id": "40001", "type": "Heart Rate",
               "effective_at": seeded_latest, "value": 67.5, "unit": "beats/min"}),
        "newest first; the seeded BP and HR share an instant, ties by id descending"
    );

    // Counts (SQL COUNT).
    let count = |args: Value| {
        let mary = &mary;
        async move { ok(mary, "count_patient_observations", args).await }
    };
    assert_eq!(count(json!({"patient_id": "40001"})).await, json!(5));
    assert_eq!(
        count(json!({"patient_id": "40001", "data_type": "heart-rate"})).await,
        json!(4)
    );
    assert_eq!(
        count(json!({"patient_id": "40001", "start": "2024-03-02", "end": "2024-03-03"})).await,
        json!(1),
        "inclusive days: the 2 March heart rate only (blood glucose is not consented)"
    );
    assert_eq!(
        count(json!({"patient_id": "40001", "data_type": "rr-interval"})).await,
        json!(0)
    );
    assert_eq!(
        ok(
            &mary,
            "count_study_observations",
            json!({"study_id": "30001"})
        )
        .await,
        json!(8)
    );
    assert_eq!(
        ok(
            &mary,
            "count_study_observations",
            json!({"study_id": "30001", "by_patient": true})
        )
        .await,
        json!({"40001": 5, "40002": 3})
    );
    assert_eq!(
        ok(
            &mary,
            "count_study_observations",
            json!({"study_id": "30002", "data_type": "heart-rate", "by_patient": true})
        )
        .await,
        json!({"40001": 0, "40002": 0}),
        "study 30002 requests blood pressure only"
    );

    // Summaries (SQL GROUP BY).
    let seeded_bp = effective_of(&app, 60001).await;
    assert_eq!(
        ok(
            &mary,
            "summarize_patient_observations",
            json!({"patient_id": "40001"})
        )
        .await,
        json!({"truncated": false, "types": {
            "Blood pressure": {"count": 1, "earliest": seeded_bp, "latest": seeded_bp},
            "Heart Rate": {"count": 4, "earliest": "2024-03-01T08:00:00+00:00",
                           "latest": seeded_latest}}})
    );
    assert_eq!(
        ok(
            &mary,
            "summarize_patient_observations",
            json!({"patient_id": "40001", "start": "2024-03-01", "end": "2024-03-04"})
        )
        .await,
        json!({"truncated": false, "types": {
            "Heart Rate": {"count": 2, "earliest": "2024-03-01T08:00:00+00:00",
                           "latest": "2024-03-02T08:00:00+00:00"}}})
    );
    assert_eq!(
        ok(
            &mary,
            "get_patient_date_range",
            json!({"patient_id": "40001"})
        )
        .await,
        json!({"earliest": "2024-03-01T08:00:00+00:00", "latest": seeded_latest, "count": 5})
    );
    assert_eq!(
        ok(
            &mary,
            "get_patient_date_range",
            json!({"patient_id": "40004"})
        )
        .await,
        json!({"earliest": null, "latest": null, "count": 0})
    );

    // Schemas, resources and capabilities.
    let schema = ok(&mary, "get_omh_schema", json!({"name": "heart-rate"})).await;
    assert!(
        schema["$id"].as_str().unwrap().contains("heart-rate"),
        "{schema}"
    );
    let unknown = ok(&mary, "get_omh_schema", json!({"name": "nope"})).await;
    assert_eq!(unknown["error"], "Unknown schema name 'nope'");
    let known: Vec<String> = serde_json::from_value(unknown["known"].clone()).unwrap();
    assert!(known.contains(&"heart-rate".to_string()) && known.contains(&"header".to_string()));
    let resources = mary.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert!(uris.contains(&"omh://schema/heart-rate"), "{uris:?}");
    assert_eq!(uris.len(), known.len());
    let read = mary
        .read_resource(ReadResourceRequestParams::new("omh://schema/heart-rate"))
        .await
        .unwrap();
    let text = match read.contents.first().unwrap() {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), schema);
    let caps = ok(&mary, "get_server_capabilities", json!({})).await;
    assert_eq!(caps["available"], true);
    assert_eq!(caps["fhir_version"], "5.0.0");
    assert_eq!(
        caps["resources"]["Observation"]["interactions"],
        json!(["create", "read", "search"])
    );
    assert_eq!(
        caps["resources"]["Observation"]["search_params"]["date"],
        "date"
    );
    assert_eq!(
        caps["resources"]["Patient"]["search_params"]["birthdate"],
        "date"
    );

    // Argument errors, with the spec's messages.
    let e = err(
        &mary,
        "count_patient_observations",
        json!({"patient_id": "40001", "start": "2024-13-01"}),
    )
    .await;
    assert_eq!(
        e,
        "start must be an ISO date (YYYY-MM-DD); got '2024-13-01'"
    );
    let e = err(
        &mary,
        "count_patient_observations",
        json!({"patient_id": "40001", "end": "3 March"}),
    )
    .await;
    assert_eq!(e, "end must be an ISO date (YYYY-MM-DD); got '3 March'");
    let e = err(
        &mary,
        "count_patient_observations",
        json!({"patient_id": "40001", "data_type": "pulse"}),
    )
    .await;
    assert!(
        e.starts_with("Unknown data_type 'pulse'. Known: ['blood-glucose', "),
        "{e}"
    );
    assert_eq!(
        err(
            &mary,
            "get_patient_observations",
            json!({"patient_id": "40001", "verbosity": "loud"})
        )
        .await,
        "verbosity must be 'slim' or 'full', got 'loud'"
    );
    assert_eq!(
        err(
            &mary,
            "get_patient_observations",
            json!({"patient_id": "40001", "order": "random"})
        )
        .await,
        "order must be 'newest' or 'oldest', got 'random'"
    );
    assert_eq!(
        err(&mary, "search_patients", json!({"name": "  "})).await,
        "Provide at least one of: name, family, given, birthdate."
    );
    assert_eq!(
        err(&mary, "search_patients", json!({"birthdate": "1990"})).await,
        "birthdate must be YYYY-MM-DD with an optional ge/le/gt/lt prefix; got '1990'"
    );
    assert_eq!(
        err(&mary, "get_patient_demographics", json!({})).await,
        "patient_id is required"
    );
    assert_eq!(
        err(&mary, "get_study_metadata", json!({"study_id": "abc"})).await,
        "study_id must be a numeric id; got 'abc'"
    );
    mary.cancel().await.unwrap();
}

/// Every tool that names Peter (40001) or study 30001, for a caller who must see none of it.
async fn sees_nothing_of_peter(client: &Client, who: &str) {
    let p = json!({"patient_id": "40001"});
    assert_eq!(
        ok(client, "get_patient_demographics", p.clone()).await,
        Value::Null,
        "{who}"
    );
    assert_eq!(
        ok(client, "count_patient_observations", p.clone()).await,
        json!(0),
        "{who}"
    );
    assert_eq!(
        ok(client, "get_patient_observations", p.clone()).await["total"],
        0,
        "{who}"
    );
    assert_eq!(
        ok(client, "summarize_patient_observations", p.clone()).await,
        json!({"truncated": false, "types": {}}),
        "{who}"
    );
    assert_eq!(
        ok(client, "get_patient_date_range", p.clone()).await,
        json!({"earliest": null, "latest": null, "count": 0}),
        "{who}"
    );
    assert_eq!(
        ok(client, "search_patients", json!({"family": "Smith"})).await["total"],
        0,
        "{who}"
    );
}

async fn other_organisation_and_withdrawn_consent(backend: Backend) {
    let app = spawn_seeded(backend).await;
    upload(&app).await;

    // Mark manages another branch (20004–20007): its two studies, nothing of Example Lab.
    let mark = connect(&app, &bearer_for(&app, seeded::OTHER_ORG).await).await;
    sees_nothing_of_peter(&mark, "another organisation").await;
    assert_eq!(ok(&mark, "get_study_count", json!({})).await, json!(2));
    let ids: Vec<Value> = ok(&mark, "list_studies", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["study_id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!("30004"), json!("30003")],
        "by name: BT before RR"
    );
    let e = err(&mark, "get_study_metadata", json!({"study_id": "30001"})).await;
    assert!(e.contains("not have"), "{e}");
    assert!(
        err(&mark, "list_study_patients", json!({"study_id": "30001"}))
            .await
            .contains("not have")
    );
    assert!(
        err(
            &mark,
            "count_study_observations",
            json!({"study_id": "30001"})
        )
        .await
        .contains("not have")
    );
    mark.cancel().await.unwrap();

    // Peter withdraws his heart-rate consent in 30001: Mary keeps only his blood pressure.
    let enrolment = app
        .db
        .store
        .list_patient_studies(&AccessScope::system_for_tests(), 40001)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.study_id == 30001)
        .unwrap();
    app.db
        .store
        .upsert_consent(enrolment.id, 50004, false, Utc::now())
        .await
        .unwrap();
    let mary = connect(&app, &bearer_for(&app, seeded::MANAGER).await).await;
    let p = json!({"patient_id": "40001"});
    assert_eq!(
        ok(&mary, "count_patient_observations", p.clone()).await,
        json!(1)
    );
    assert_eq!(
        ok(
            &mary,
            "count_patient_observations",
            json!({"patient_id": "40001", "data_type": "heart-rate"})
        )
        .await,
        json!(0)
    );
    let types = ok(&mary, "summarize_patient_observations", p.clone()).await["types"].clone();
    assert_eq!(
        types.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["Blood pressure"]
    );
    assert_eq!(
        ok(&mary, "get_patient_date_range", p.clone()).await["count"],
        1
    );
    assert_eq!(
        ok(
            &mary,
            "get_patient_observations",
            json!({"patient_id": "40001", "start": "2024-03-01", "end": "2024-03-31"})
        )
        .await["total"],
        0
    );
    assert_eq!(
        ok(
            &mary,
            "count_study_observations",
            json!({"study_id": "30001", "by_patient": true})
        )
        .await,
        json!({"40001": 1, "40002": 3})
    );

    // Withdrawn for every type: nothing of Peter's data is left for Mary.
    app.db
        .store
        .upsert_consent(enrolment.id, 50002, false, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        ok(&mary, "count_patient_observations", p.clone()).await,
        json!(0)
    );
    assert_eq!(
        ok(&mary, "get_patient_date_range", p.clone()).await,
        json!({"earliest": null, "latest": null, "count": 0})
    );
    assert_eq!(
        ok(&mary, "summarize_patient_observations", p).await,
        json!({"truncated": false, "types": {}})
    );
    mary.cancel().await.unwrap();
}

async fn a_patient_sees_only_their_own(backend: Backend) {
    let app = spawn_seeded(backend).await;
    upload(&app).await;
    let peter = connect(&app, &bearer_for(&app, seeded::PATIENT).await).await;
    // All of his own data, consented or not: 2 seeded + 3 heart rates + 1 blood glucose.
    assert_eq!(
        ok(
            &peter,
            "count_patient_observations",
            json!({"patient_id": "40001"})
        )
        .await,
        json!(6)
    );
    assert_eq!(
        ok(
            &peter,
            "get_patient_demographics",
            json!({"patient_id": "40001"})
        )
        .await["family_name"],
        "Smith"
    );
    let glucose = ok(
        &peter,
        "get_patient_observations",
        json!({"patient_id": "40001", "data_type": "blood-glucose"}),
    )
    .await;
    assert_eq!(glucose["total"], 1);
    assert_eq!(glucose["observations"][0]["value"], 99);
    assert_eq!(glucose["observations"][0]["unit"], "mg/dL");
    // Nobody else's.
    let pamela = json!({"patient_id": "40002"});
    assert_eq!(
        ok(&peter, "get_patient_demographics", pamela.clone()).await,
        Value::Null
    );
    assert_eq!(
        ok(&peter, "count_patient_observations", pamela.clone()).await,
        json!(0)
    );
    assert_eq!(
        ok(&peter, "get_patient_date_range", pamela).await["count"],
        0
    );
    assert_eq!(ok(&peter, "get_study_count", json!({})).await, json!(0));
    assert_eq!(ok(&peter, "list_studies", json!({})).await, json!([]));
    peter.cancel().await.unwrap();

    // A token limited to the patient compartment's observations cannot list studies.
    let narrow = bearer_with_scope(&app, seeded::PATIENT, "openid patient/Observation.rs").await;
    let narrow = connect(&app, &narrow).await;
    assert_eq!(
        ok(
            &narrow,
            "count_patient_observations",
            json!({"patient_id": "40001"})
        )
        .await,
        json!(6)
    );
    let e = err(&narrow, "list_studies", json!({})).await;
    assert!(e.contains("scope"), "{e}");
    narrow.cancel().await.unwrap();
}

async fn authentication_and_discovery(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let site = app.address.clone();
    let challenge = format!(
        "Bearer error=\"invalid_token\", resource_metadata=\"{site}/.well-known/oauth-protected-resource\""
    );
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let post = |token: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(app.url("/mcp"))
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some("not-a-token"), Some("")] {
        let response = post(token).await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(
            response.headers()["www-authenticate"].to_str().unwrap(),
            challenge
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    // A revoked token is refused too.
    let expired = bearer_for(&app, seeded::MANAGER).await;
    {
        use jhe_core::store::OAuthStore;
        let hash = jhe_kdf::sha256_hex(&expired);
        let token = app.db.store.get_access_token(&hash).await.unwrap().unwrap();
        app.db.store.delete_access_token(token.id).await.unwrap();
    }
    assert_eq!(post(Some(&expired)).await.unwrap().status(), 401);
    // So is an expired one, saying so.
    let stale = jhe_kdf::random_token(30);
    {
        use jhe_core::store::OAuthStore;
        app.db
            .store
            .create_access_token(jhe_core::domain::NewAccessToken {
                token_hash: jhe_kdf::sha256_hex(&stale),
                user_id: Some(seeded::MANAGER),
                application_id: None,
                expires: Utc::now() - chrono::Duration::minutes(1),
                scope: "openid".into(),
                source_refresh_token_id: None,
                id_token_jti: None,
            })
            .await
            .unwrap();
    }
    let response = post(Some(&stale)).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        challenge
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": "The access token has expired."})
    );
    // A valid token initializes over plain HTTP.
    let valid = bearer_for(&app, seeded::MANAGER).await;
    let response = post(Some(&valid)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "jhe-mcp");

    // Stateless: another server process on the same database answers a tools/call that was
    // never initialized there (no session to find).
    let replica = crate::support::spawn_replica(&app).await;
    let response = reqwest::Client::new()
        .post(format!("{replica}/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .bearer_auth(&valid)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "get_study_count", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "2", "{body}");

    // DNS-rebinding guard: a foreign Host header is refused even with a valid token.
    let response = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("Host", "attacker.example")
        .header("Accept", "application/json, text/event-stream")
        .bearer_auth(&valid)
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // RFC 9728 and RFC 8414 documents.
    let prm: Value = app
        .get("/.well-known/oauth-protected-resource")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], site);
    assert_eq!(prm["authorization_servers"], json!([format!("{site}/o")]));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let prm_mcp: Value = app
        .get("/.well-known/oauth-protected-resource/mcp")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prm_mcp["resource"], format!("{site}/mcp"));
    let oidc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    for path in [
        "/.well-known/oauth-authorization-server/o",
        "/.well-known/oauth-authorization-server",
        "/o/.well-known/oauth-authorization-server",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc, oidc, "{path}: the same metadata as OpenID discovery");
        assert_eq!(doc["issuer"], format!("{site}/o"));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    }
}

/// For every seeded caller and patient, the SQL aggregates of the MCP tools agree with the FHIR
/// search total (`_summary=count`): the same access conditions, on both databases.
async fn aggregates_agree_with_fhir_for_every_caller(backend: Backend) {
    use crate::support::{Caller, CallerTokens, bearer_get};
    let app = spawn_seeded(backend).await;
    upload(&app).await;
    let tokens = CallerTokens::new(&app).await;
    let mut seen = Vec::new();
    for caller in Caller::ALL {
        let Some(token) = tokens.of(caller) else {
            continue;
        };
        let client = connect(&app, token).await;
        for patient in 40001..=40005 {
            let bundle: Value = bearer_get(
                &app,
                &format!("/fhir/r5/Observation?patient={patient}&_summary=count"),
                token,
            )
            .await
            .json()
            .await
            .unwrap();
            let fhir = bundle["total"].as_u64().unwrap();
            let p = json!({"patient_id": patient.to_string()});
            let count = ok(&client, "count_patient_observations", p.clone()).await;
            let range = ok(&client, "get_patient_date_range", p.clone()).await;
            let summary = ok(&client, "summarize_patient_observations", p.clone()).await;
            let summed: u64 = summary["types"]
                .as_object()
                .unwrap()
                .values()
                .map(|t| t["count"].as_u64().unwrap())
                .sum();
            assert_eq!(count, json!(fhir), "{caller:?} patient {patient}");
            assert_eq!(range["count"], json!(fhir), "{caller:?} patient {patient}");
            assert_eq!(summed, fhir, "{caller:?} patient {patient}");
            seen.push(fhir);
        }
        client.cancel().await.unwrap();
    }
    // Patients 40001–40005 for each caller.
    assert_eq!(
        seen,
        [
            0, 0, 0, 0, 0, // sam: a superuser reads only through its organisations (none)
            5, 3, 0, 0, 0, // mary
            5, 3, 0, 0, 0, // megan
            5, 3, 0, 0, 0, // victor
            0, 0, 1, 0, 1, // mark: 20006/20007 patients, consented types
            6, 0, 0, 0, 0, // peter: all of his own
        ]
    );
}

/// What an MCP client does on its own: discover the authorization server from the 401, register
/// itself (RFC 7591, loopback redirect only), run the authorization code flow with PKCE through
/// the consent page, and call tools with the token it got.
async fn dynamic_registration_then_tools(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let http = crate::support::plain_client();
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server/o")
        .await
        .json()
        .await
        .unwrap();
    let endpoint = metadata["registration_endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(endpoint, format!("{}/o/register/", app.address));
    let register = |body: Value| http.post(&endpoint).json(&body).send();

    // Refused: no redirect URI, a non-loopback one, a confidential client, a non-JSON body.
    for (body, code) in [
        (json!({"client_name": "x"}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://127.0.0.1:1/cb"],
                "token_endpoint_auth_method": "client_secret_post"}),
            "invalid_client_metadata",
        ),
    ] {
        let response = register(body.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            code,
            "{body}"
        );
    }
    let response = http.post(&endpoint).body("not json").send().await.unwrap();
    assert_eq!(response.status(), 400);

    let redirect_uri = "http://127.0.0.1:33418/callback";
    let response = register(
        json!({"client_name": "Desktop AI", "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let client: Value = response.json().await.unwrap();
    assert_eq!(client["redirect_uris"], json!([redirect_uri]));
    assert_eq!(client["token_endpoint_auth_method"], "none");
    let client_id = client["client_id"].as_str().unwrap().to_string();

    // Mary authorizes it on the consent page (never skipped for self-registered clients).
    let cookie = crate::support::login_session(&app, seeded::MANAGER).await;
    let (verifier, challenge) = crate::support::pkce_pair();
    let query = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "openid"),
    ];
    let page = crate::support::authorize(&app, Some(&cookie), &query).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Desktop AI (self-registered)"), "{html}");
    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.push(("csrfmiddlewaretoken", crate::support::TEST_CSRF));
    form.push(("allow", "Authorize"));
    let allowed = http
        .post(app.url("/o/authorize/"))
        .header("Cookie", format!("sessionid={cookie}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 302);
    let code = crate::support::location_query(&allowed)["code"].clone();
    let (status, _, tokens) = crate::support::token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let mary = connect(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(ok(&mary, "get_study_count", json!({})).await, json!(2));
    mary.cancel().await.unwrap();

    // One address registers at most 10 clients an hour (refused requests do not count).
    for n in 2..=10 {
        let response = register(json!({"redirect_uris": [redirect_uri]}))
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "registration {n}");
    }
    let response = register(json!({"redirect_uris": [redirect_uri]}))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
}

/// The stdio handler (what `server mcp --stdio` serves), over an in-memory pipe: the token is
/// resolved on every call, so a revoked token stops working at once.
async fn stdio_handler(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let token = bearer_for(&app, seeded::MANAGER).await;
    let state = {
        let server = jhe::assemble(app.config.clone(), app.db.store.clone()).unwrap();
        server.state().clone()
    };
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let handler = jhe_core::mcp::JheMcp::with_token(state.clone(), &token);
    tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client: Client = ().serve(client_io).await.unwrap();
    assert_eq!(ok(&client, "get_study_count", json!({})).await, json!(2));
    assert_eq!(
        ok(
            &client,
            "count_patient_observations",
            json!({"patient_id": "40002"})
        )
        .await,
        json!(3)
    );
    {
        use jhe_core::store::OAuthStore;
        let stored = app
            .db
            .store
            .get_access_token(&jhe_kdf::sha256_hex(&token))
            .await
            .unwrap()
            .unwrap();
        app.db.store.delete_access_token(stored.id).await.unwrap();
    }
    assert_eq!(
        err(&client, "get_study_count", json!({})).await,
        "The access token is invalid."
    );
    client.cancel().await.unwrap();

    // A personal access token from the portal's "Get a token" page (read-only) serves stdio.
    let manager = {
        use jhe_core::store::UserStore;
        let user = app
            .db
            .store
            .get_user(seeded::MANAGER)
            .await
            .unwrap()
            .unwrap();
        let practitioner = app
            .db
            .store
            .get_practitioner_by_user(seeded::MANAGER)
            .await
            .unwrap();
        crate::support::principal_of(user, practitioner, None)
    };
    let pat = jhe_core::services::personal_tokens::create(&state, &manager, "notebook", 30, false)
        .await
        .unwrap();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let handler = jhe_core::mcp::JheMcp::with_token(state.clone(), &pat.secret);
    tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client: Client = ().serve(client_io).await.unwrap();
    assert_eq!(ok(&client, "get_study_count", json!({})).await, json!(2));
    client.cancel().await.unwrap();
}

crate::both_backends! {
    practitioner_tools => practitioner_sees_everything_consented;
    other_org_and_withdrawn_consent => other_organisation_and_withdrawn_consent;
    patient_token => a_patient_sees_only_their_own;
    auth_and_discovery => authentication_and_discovery;
    stdio => stdio_handler;
    dynamic_registration => dynamic_registration_then_tools;
    aggregates_agree => aggregates_agree_with_fhir_for_every_caller;
}
