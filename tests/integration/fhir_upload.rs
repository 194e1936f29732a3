//! FHIR uploads over HTTP: single creates, Bundles (batch, transaction), conditional creates,
//! and the OperationOutcome of every refusal, on both databases and both base paths.

use base64::Engine;
use jhe_core::domain::*;
use jhe_core::store::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::store_crud::{org, patient, user};
use crate::support::{Backend, TestApp, bearer_for, spawn_app};

pub const HR: &str = "omh:heart-rate:2.0";
pub const BP: &str = "omh:blood-pressure:4.0";
/// Every code the shared samples and ours use.
pub const CODES: &[&str] = &[
    "omh:blood-glucose:4.0",
    BP,
    "omh:body-temperature:4.0",
    HR,
    "omh:oxygen-saturation:2.0",
    "omh:respiratory-rate:2.0",
    "omh:rr-interval:1.0",
    "ieee:sleep-stage-summary:1.0",
    "ieee:food-entry:0.1",
    "omh:body-weight:2.0",
    "omh:body-height:1.0",
    "omh:body-mass-index:1.0",
    "omh:step-count:2.0",
    "omh:step-count:3.0",
    "omh:physical-activity:1.2",
    "omh:sleep-episode:1.1",
    "omh:sleep-duration:2.0",
];

/// A lab with a practitioner and two patients enrolled in a study requesting every code:
/// Peter consented to everything, Pamela to heart rate only (blood pressure declined). A
/// practitioner of another organisation, a personal device and a medical device.
pub struct World {
    pub app: TestApp,
    pub lab: Organization,
    pub other: Organization,
    pub prac_token: String,
    pub outsider_token: String,
    pub peter: Patient,
    pub peter_token: String,
    pub pamela: Patient,
    pub pamela_token: String,
    pub device: DataSource,
    pub medical: DataSource,
    pub study: Study,
    pub concepts: Vec<CodeableConcept>,
}

impl World {
    pub async fn new(backend: Backend) -> World {
        let app = spawn_app(backend).await;
        let s = &app.db.store;
        let lab = org(s, "Lab", None).await;
        let other = org(s, "Other", None).await;
        let pu = user(s, "prac@example.org", Some(UserType::Practitioner)).await;
        let practitioner = s
            .create_practitioner(NewPractitioner {
                jhe_user_id: pu.id,
                ..Default::default()
            })
            .await
            .unwrap();
        s.upsert_practitioner_organization(practitioner.id, lab.id, "viewer")
            .await
            .unwrap();
        let ou = user(s, "outsider@example.org", Some(UserType::Practitioner)).await;
        let outsider = s
            .create_practitioner(NewPractitioner {
                jhe_user_id: ou.id,
                ..Default::default()
            })
            .await
            .unwrap();
        s.upsert_practitioner_organization(outsider.id, other.id, "manager")
            .await
            .unwrap();
        let peter_user = user(s, "peter@example.org", Some(UserType::Patient)).await;
        let peter = patient(s, Some(peter_user.id), "Peter").await;
        let pamela_user = user(s, "pamela@example.org", Some(UserType::Patient)).await;
        let pamela = patient(s, Some(pamela_user.id), "Pamela").await;
        for p in [&peter, &pamela] {
            s.add_patient_organization(p.id, lab.id).await.unwrap();
        }
        let study = s
            .create_study(NewStudy {
                id: None,
                name: "Everything".into(),
                description: String::new(),
                organization_id: lab.id,
                icon_url: None,
            })
            .await
            .unwrap();
        let ep = s.enroll_patient(study.id, peter.id).await.unwrap();
        let ea = s.enroll_patient(study.id, pamela.id).await.unwrap();
        let mut concepts = Vec::new();
        for code in CODES {
            let c = crate::store_crud::concept(s, code).await;
            s.add_scope_request(study.id, c.id).await.unwrap();
            s.upsert_consent(ep.id, c.id, true, chrono::Utc::now())
                .await
                .unwrap();
            if *code == HR {
                s.upsert_consent(ea.id, c.id, true, chrono::Utc::now())
                    .await
                    .unwrap();
            }
            if *code == BP {
                s.upsert_consent(ea.id, c.id, false, chrono::Utc::now())
                    .await
                    .unwrap();
            }
            concepts.push(c);
        }
        let device = s
            .create_data_source(NewDataSource {
                id: None,
                name: Some("Phone".into()),
                source_type: "personal_device".into(),
            })
            .await
            .unwrap();
        let medical = s
            .create_data_source(NewDataSource {
                id: None,
                name: Some("Clinic".into()),
                source_type: "medical_device".into(),
            })
            .await
            .unwrap();
        let prac_token = bearer_for(&app, pu.id).await;
        let outsider_token = bearer_for(&app, ou.id).await;
        let peter_token = bearer_for(&app, peter_user.id).await;
        let pamela_token = bearer_for(&app, pamela_user.id).await;
        World {
            app,
            lab,
            other,
            prac_token,
            outsider_token,
            peter,
            peter_token,
            pamela,
            pamela_token,
            device,
            medical,
            study,
            concepts,
        }
    }

    pub fn concept(&self, code: &str) -> &CodeableConcept {
        self.concepts
            .iter()
            .find(|c| c.coding_code == code)
            .unwrap()
    }

    /// An Observation of `patient` from the personal device with `payload` as its data.
    pub fn observation(&self, patient: Id, code: &str, payload: &[u8]) -> Value {
        observation(patient, self.device.id, OMH_SYSTEM, code, payload)
    }

    /// Number of stored observations (all patients).
    pub async fn stored(&self) -> u64 {
        self.app
            .db
            .store
            .search_observations(
                &AccessScope::system_for_tests(),
                &ObservationQuery::default(),
                PageRequest::new(1, 1),
            )
            .await
            .unwrap()
            .total
    }
}

/// A data point of `code` with `body`.
pub fn data_point(code: &str, body: Value) -> Value {
    let mut parts = code.splitn(3, ':');
    let (namespace, name, version) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    json!({
        "header": {
            "uuid": uuid::Uuid::new_v4().to_string(),
            "schema_id": {"namespace": namespace, "name": name, "version": version},
            "source_creation_date_time": "2025-01-01T10:00:00Z",
            "modality": "sensed"
        },
        "body": body
    })
}

/// A heart-rate data point, pretty-printed with its keys in an unusual order (so that a
/// server re-serialising it would not return the same bytes).
pub fn heart_rate_bytes(value: i64, when: &str) -> Vec<u8> {
    format!(
        "{{\n  \"body\": {{\"heart_rate\": {{\"value\": {value}, \"unit\": \"beats/min\"}},\n    \"effective_time_frame\": {{\"date_time\": \"{when}\"}}}},\n  \"header\": {{\"uuid\": \"{}\", \"schema_id\": {{\"version\": \"2.0\", \"namespace\": \"omh\", \"name\": \"heart-rate\"}},\n    \"source_creation_date_time\": \"{when}\"}}\n}}\n",
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn observation(patient: Id, device: Id, system: &str, code: &str, payload: &[u8]) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "device": {"reference": format!("Device/{device}")},
        "valueAttachment": {"contentType": "application/json", "data": b64(payload)}
    })
}

pub fn with_identifier(mut resource: Value, system: &str, value: &str) -> Value {
    resource["identifier"] = json!([{"system": system, "value": value}]);
    resource
}

/// An HTTP answer: status, content type, raw body and parsed JSON (Null if not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub location: Option<String>,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// The OperationOutcome's first diagnostics, asserting the outcome shape.
    pub fn outcome(&self) -> String {
        assert_eq!(self.content_type, "application/fhir+json", "{}", self.text);
        assert_eq!(
            self.json["resourceType"], "OperationOutcome",
            "{}",
            self.text
        );
        assert_eq!(self.json["issue"][0]["severity"], "error");
        assert!(self.json["issue"][0]["code"].is_string());
        self.json["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

pub async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path_or_url: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> Answer {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_string()
    } else {
        app.url(path_or_url)
    };
    let mut request = app.client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/fhir+json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        location,
        text,
        json,
    }
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> Answer {
    send(
        app,
        reqwest::Method::POST,
        path,
        Some(token),
        Some(serde_json::to_vec(body).unwrap()),
        &[],
    )
    .await
}

pub async fn get(app: &TestApp, path_or_url: &str, token: &str) -> Answer {
    send(
        app,
        reqwest::Method::GET,
        path_or_url,
        Some(token),
        None,
        &[],
    )
    .await
}

/// Whether the keys (`"key":`, or a longer needle such as `resourceType":"Bundle`) first
/// appear in `text` in the given order.
pub fn in_order(text: &str, keys: &[&str]) -> bool {
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            let needle = if k.contains('"') {
                format!("\"{k}")
            } else {
                format!("\"{k}\":")
            };
            text.find(&needle)
                .unwrap_or_else(|| panic!("{needle} in {text}"))
        })
        .collect();
    positions.windows(2).all(|w| w[0] < w[1])
}

pub fn decoded(resource: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(resource["valueAttachment"]["data"].as_str().unwrap())
        .unwrap()
}

async fn upload_and_read_back(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    for prefix in ["/fhir/r5", "/FHIR/R5"] {
        let bytes = heart_rate_bytes(71, "2025-03-01T08:00:00Z");
        let resource = with_identifier(
            w.observation(w.peter.id, HR, &bytes),
            "https://commonhealth.org",
            &format!("{prefix}-obs-1"),
        );
        let a = post(
            app,
            &format!("{prefix}/Observation"),
            &w.peter_token,
            &resource,
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        assert_eq!(a.content_type, "application/json");
        // The minimal answer of a patient's create, keys in the original's order.
        assert!(
            in_order(
                &a.text,
                &["resourceType", "id", "status", "meta", "subject", "code"]
            ),
            "{}",
            a.text
        );
        assert!(a.json.get("valueAttachment").is_none());
        assert_eq!(
            a.json["subject"]["reference"],
            format!("Patient/{}", w.peter.id)
        );
        assert!(
            a.json["meta"]["lastUpdated"]
                .as_str()
                .unwrap()
                .ends_with("+00:00")
        );
        let id = a.json["id"].as_str().unwrap().to_string();
        assert!(
            a.location
                .as_deref()
                .unwrap()
                .ends_with(&format!("{prefix}/Observation/{id}"))
        );

        // Search as the practitioner: the same bytes come back.
        let s = get(
            app,
            &format!("{prefix}/Observation?patient={}&_id={id}", w.peter.id),
            &w.prac_token,
        )
        .await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.text);
        assert_eq!(s.json["total"], 1);
        let resource = &s.json["entry"][0]["resource"];
        assert_eq!(decoded(resource), bytes);
        assert_eq!(
            resource["valueAttachment"]["contentType"],
            "application/json"
        );
        assert_eq!(
            resource["identifier"],
            json!([{"value": format!("{prefix}-obs-1"), "system": "https://commonhealth.org"}])
        );
        assert!(
            in_order(
                &s.text,
                &[
                    "resourceType\":\"Bundle",
                    "type\":\"searchset",
                    "total",
                    "entry",
                    "link",
                    "meta\":{}",
                ],
            ),
            "{}",
            s.text
        );
        let entry_text = &s.text[s.text.find("\"resource\":").unwrap()..];
        assert!(
            in_order(
                entry_text,
                &[
                    "resourceType\":\"Observation",
                    "id",
                    "meta",
                    "identifier",
                    "status",
                    "subject",
                    "code",
                    "valueAttachment",
                ],
            ),
            "{}",
            s.text
        );

        // Read by id, as the patient (later-upstream: patients read their own data).
        let r = get(app, &format!("{prefix}/Observation/{id}"), &w.peter_token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(decoded(&r.json), bytes);
        let r = get(
            app,
            &format!("{prefix}/Observation/{id}"),
            &w.outsider_token,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        r.outcome();
    }

    // A practitioner's create answers with the full representation.
    let bytes = heart_rate_bytes(80, "2025-03-02T08:00:00Z");
    let a = post(
        app,
        "/fhir/r5/Observation",
        &w.prac_token,
        &w.observation(w.pamela.id, HR, &bytes),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(decoded(&a.json), bytes);
    // Accept: application/fhir+json is honoured; snake_case element names are accepted.
    let mut snake = w.observation(
        w.peter.id,
        HR,
        &heart_rate_bytes(60, "2025-03-03T08:00:00Z"),
    );
    let attachment = snake
        .as_object_mut()
        .unwrap()
        .remove("valueAttachment")
        .unwrap();
    snake["value_attachment"] =
        json!({"content_type": "application/json", "data": attachment["data"]});
    let a = send(
        app,
        reqwest::Method::POST,
        "/FHIR/R5/Observation",
        Some(&w.peter_token),
        Some(serde_json::to_vec(&snake).unwrap()),
        &[("accept", "application/fhir+json")],
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.content_type, "application/fhir+json");
    assert_eq!(w.stored().await, 4);
}

async fn refusals(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let hr = heart_rate_bytes(70, "2025-03-01T08:00:00Z");
    let bp = serde_json::to_vec(&data_point(
        BP,
        json!({"systolic_blood_pressure": {"value": 120, "unit": "mmHg"},
               "diastolic_blood_pressure": {"value": 80, "unit": "mmHg"},
               "effective_time_frame": {"date_time": "2025-03-01T08:00:00Z"}}),
    ))
    .unwrap();
    let cases: Vec<(&str, &str, Value, StatusCode, String)> = vec![
        (
            "unconsented scope (declined)",
            &w.pamela_token,
            w.observation(w.pamela.id, BP, &bp),
            StatusCode::FORBIDDEN,
            format!(
                "Observation data with coding_system={OMH_SYSTEM} coding_code={BP} has not been consented for any studies by this Patient."
            ),
        ),
        (
            "another patient",
            &w.peter_token,
            w.observation(w.pamela.id, HR, &hr),
            StatusCode::FORBIDDEN,
            "The Subject Patient does not match the current user.".into(),
        ),
        (
            "practitioner of another organisation",
            &w.outsider_token,
            w.observation(w.peter.id, HR, &hr),
            StatusCode::FORBIDDEN,
            "Current user doesn't have access to the Patient.".into(),
        ),
        (
            // An unknown patient answers like one the caller cannot see (no oracle over ids).
            "unknown patient",
            &w.prac_token,
            w.observation(999_999, HR, &hr),
            StatusCode::FORBIDDEN,
            "Current user doesn't have access to the Patient.".into(),
        ),
        (
            "unknown code",
            &w.peter_token,
            w.observation(w.peter.id, "omh:unknown:1.0", &hr),
            StatusCode::BAD_REQUEST,
            format!("Code not found: system={OMH_SYSTEM} code=omh:unknown:1.0"),
        ),
        (
            "medical device",
            &w.peter_token,
            observation(w.peter.id, w.medical.id, OMH_SYSTEM, HR, &hr),
            StatusCode::BAD_REQUEST,
            format!("Device Data Source id={} can not be found.", w.medical.id),
        ),
    ];
    for (label, token, resource, status, message) in cases {
        let a = post(app, "/fhir/r5/Observation", token, &resource).await;
        assert_eq!(a.status, status, "{label}: {}", a.text);
        assert_eq!(a.outcome(), message, "{label}");
    }

    let mut missing_subject = w.observation(w.peter.id, HR, &hr);
    missing_subject.as_object_mut().unwrap().remove("subject");
    let mut missing_device = w.observation(w.peter.id, HR, &hr);
    missing_device.as_object_mut().unwrap().remove("device");
    let mut wrong_base64 = w.observation(w.peter.id, HR, &hr);
    wrong_base64["valueAttachment"]["data"] = json!("***not base64***");
    let mut not_json = w.observation(w.peter.id, HR, &hr);
    not_json["valueAttachment"]["data"] = json!(b64(b"not json at all"));
    let mut no_attachment = w.observation(w.peter.id, HR, &hr);
    no_attachment
        .as_object_mut()
        .unwrap()
        .remove("valueAttachment");
    let mut two_codes = w.observation(w.peter.id, HR, &hr);
    two_codes["code"]["coding"] =
        json!([{"system": OMH_SYSTEM, "code": HR}, {"system": OMH_SYSTEM, "code": BP}]);
    let mut wrong_type = w.observation(w.peter.id, HR, &hr);
    wrong_type["resourceType"] = json!("Patient");
    let mut unknown_element = w.observation(w.peter.id, HR, &hr);
    unknown_element["foo"] = json!(1);
    let mut huge = w.observation(w.peter.id, HR, &hr);
    huge["valueInteger"] = json!(1e300);
    let mut bad_status = w.observation(w.peter.id, HR, &hr);
    bad_status["status"] = json!(5);
    let mut object_data = w.observation(w.peter.id, HR, &hr);
    object_data["valueAttachment"]["data"] = json!({"header": {}});
    let mut bad_date = w.observation(w.peter.id, HR, &hr);
    bad_date["effectiveDateTime"] = json!("yesterday");
    let mut schema_error = w.observation(w.peter.id, HR, &hr);
    schema_error["valueAttachment"]["data"] = json!(b64(&serde_json::to_vec(&data_point(
        HR,
        json!({"heart_rate": {"value": "fast", "unit": "beats/min"},
                   "effective_time_frame": {"date_time": "2025-01-01T00:00:00Z"}})
    ))
    .unwrap()));
    let mut no_header = w.observation(w.peter.id, HR, &hr);
    no_header["valueAttachment"]["data"] = json!(b64(br#"{"body": {}}"#));
    let structural = |path: &'static str| move |m: &str| m.contains(path);
    type Check = Box<dyn Fn(&str) -> bool>;
    let cases: Vec<(&str, Value, StatusCode, Check)> = vec![
        (
            "missing subject",
            missing_subject,
            StatusCode::BAD_REQUEST,
            Box::new(|m: &str| {
                m == "Subject is required and must be a reference to a Patient ID and start with 'Patient/'"
            }),
        ),
        (
            "missing device",
            missing_device,
            StatusCode::BAD_REQUEST,
            Box::new(|m: &str| {
                m == "Device is required and must be a reference to a Data Source ID and start with 'Device/'"
            }),
        ),
        (
            "wrong base64",
            wrong_base64,
            StatusCode::BAD_REQUEST,
            Box::new(|m: &str| m == "valueAttachment.data must be Base 64 Encoded Binary JSON."),
        ),
        (
            "base64 of something that is not JSON",
            not_json,
            StatusCode::BAD_REQUEST,
            Box::new(|m: &str| m == "valueAttachment.data must be Base 64 Encoded Binary JSON."),
        ),
        (
            "no valueAttachment",
            no_attachment,
            StatusCode::BAD_REQUEST,
            Box::new(|m: &str| m == "valueAttachment.data must be Base 64 Encoded Binary JSON."),
        ),
        (
            "two codes",
            two_codes,
            StatusCode::BAD_REQUEST,
            Box::new(|m: &str| m == "Exactly one Code must be provided."),
        ),
        (
            "wrong resourceType",
            wrong_type,
            StatusCode::BAD_REQUEST,
            Box::new(structural(
                "Observation.resourceType: expected 'Observation'",
            )),
        ),
        (
            "unknown element",
            unknown_element,
            StatusCode::BAD_REQUEST,
            Box::new(structural("Observation.foo: unknown element")),
        ),
        (
            "huge number",
            huge,
            StatusCode::BAD_REQUEST,
            Box::new(structural("Observation.valueInteger")),
        ),
        (
            "status of the wrong type",
            bad_status,
            StatusCode::BAD_REQUEST,
            Box::new(structural("Observation.status: must be a string")),
        ),
        (
            "object as data",
            object_data,
            StatusCode::BAD_REQUEST,
            Box::new(structural("Observation.valueAttachment.data")),
        ),
        (
            "invalid dateTime",
            bad_date,
            StatusCode::BAD_REQUEST,
            Box::new(structural(
                "Observation.effectiveDateTime: 'yesterday' is not a valid dateTime",
            )),
        ),
        (
            "OMH schema error",
            schema_error,
            StatusCode::UNPROCESSABLE_ENTITY,
            Box::new(|m: &str| m.starts_with("body/heart_rate/value: ")),
        ),
        (
            "missing header",
            no_header,
            StatusCode::UNPROCESSABLE_ENTITY,
            Box::new(|m: &str| m.starts_with("header: null is not of type")),
        ),
    ];
    for (label, resource, status, check) in cases {
        let a = post(app, "/FHIR/R5/Observation", &w.peter_token, &resource).await;
        assert_eq!(a.status, status, "{label}: {}", a.text);
        let message = a.outcome();
        assert!(check(&message), "{label}: {message}");
    }

    // Bodies that are not resources at all.
    let raw: Vec<(&str, &[u8], StatusCode)> = vec![
        (
            "broken JSON",
            b"{\"resourceType\": \"Observation\",",
            StatusCode::BAD_REQUEST,
        ),
        ("empty body", b"", StatusCode::BAD_REQUEST),
        ("a JSON array", b"[1, 2]", StatusCode::BAD_REQUEST),
        (
            "a number too large",
            b"{\"resourceType\": \"Observation\", \"status\": 1e999}",
            StatusCode::BAD_REQUEST,
        ),
        ("deep nesting", &[b'['; 10_000], StatusCode::BAD_REQUEST),
        ("not UTF-8", &[0xff, 0xfe, 0x00], StatusCode::BAD_REQUEST),
    ];
    for (label, body, status) in raw {
        let a = send(
            app,
            reqwest::Method::POST,
            "/fhir/r5/Observation",
            Some(&w.peter_token),
            Some(body.to_vec()),
            &[],
        )
        .await;
        assert_eq!(a.status, status, "{label}: {}", a.text);
        a.outcome();
    }
    let a = send(
        app,
        reqwest::Method::POST,
        "/fhir/r5/Observation",
        Some(&w.peter_token),
        None,
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    a.outcome();

    // Authentication, methods, unknown types.
    for (token, path) in [
        (None, "/fhir/r5/Observation?patient=1"),
        (Some("wrong-token"), "/FHIR/R5/Observation?patient=1"),
        (None, "/fhir/r5/"),
        (None, "/FHIR/R5/Patient"),
    ] {
        let a = send(app, reqwest::Method::GET, path, token, None, &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        a.outcome();
    }
    let a = send(
        app,
        reqwest::Method::DELETE,
        "/fhir/r5/Observation/1",
        Some(&w.prac_token),
        None,
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    a.outcome();
    let a = get(app, "/fhir/r5/", &w.prac_token).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    let a = get(app, "/fhir/r5/Medication", &w.prac_token).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.outcome(), "Unsupported FHIR resource type: Medication.");

    // Duplicate identifiers, null system equal to null system.
    let first = json!([{"value": "zzz"}]);
    let mut resource = w.observation(w.peter.id, HR, &hr);
    resource["identifier"] = first;
    let a = post(app, "/fhir/r5/Observation", &w.peter_token, &resource).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = post(app, "/fhir/r5/Observation", &w.peter_token, &resource).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        a.outcome(),
        "Identifier already exists: system=None value=zzz"
    );
    assert_eq!(w.stored().await, 1, "only the first upload is stored");
}

async fn bundles(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let entry = |resource: Value| json!({"resource": resource, "request": {"method": "POST", "url": "Observation"}});
    let good = |i: i64| {
        with_identifier(
            w.observation(
                w.peter.id,
                HR,
                &heart_rate_bytes(60 + i, "2025-03-01T08:00:00Z"),
            ),
            "https://example.org/ids",
            &format!("obs-{i}"),
        )
    };

    // A transaction with one bad entry stores nothing.
    let bad = w.observation(w.peter.id, "omh:unknown:1.0", b"{}");
    let tx = json!({"resourceType": "Bundle", "type": "transaction",
                    "entry": [entry(good(1)), entry(good(2)), entry(bad), entry(good(3))]});
    let a = post(app, "/fhir/r5/", &w.peter_token, &tx).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    assert_eq!(
        a.outcome(),
        format!("Bundle.entry[2]: Code not found: system={OMH_SYSTEM} code=omh:unknown:1.0")
    );
    assert_eq!(w.stored().await, 0);
    // …and a duplicate identifier inside the transaction is a 409, nothing stored either.
    let tx = json!({"resourceType": "Bundle", "type": "transaction",
                    "entry": [entry(good(1)), entry(good(1))]});
    let a = post(app, "/FHIR/R5", &w.peter_token, &tx).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    a.outcome();
    assert_eq!(w.stored().await, 0);
    // A good transaction stores everything.
    let tx = json!({"resourceType": "Bundle", "type": "transaction",
                    "entry": [entry(good(1)), entry(good(2))]});
    let a = post(app, "/FHIR/R5/", &w.peter_token, &tx).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["type"], "transaction-response");
    assert_eq!(a.json["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(
        a.json["entry"][0]["resource"]["resourceType"],
        "Observation"
    );
    assert_eq!(w.stored().await, 2);

    // A batch stores the good entries and reports the bad ones, in order.
    let mut put = entry(good(10));
    put["request"]["method"] = json!("PUT");
    let patient_entry = json!({"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}});
    let mut bad_b64 = good(12);
    bad_b64["valueAttachment"]["data"] = json!("%%%");
    let mut bad_structure = good(13);
    bad_structure["foo"] = json!(1);
    let pamela_bp = w.observation(
        w.pamela.id,
        BP,
        &serde_json::to_vec(&data_point(
            BP,
            json!({"systolic_blood_pressure": {"value": 120, "unit": "mmHg"},
                   "diastolic_blood_pressure": {"value": 80, "unit": "mmHg"},
                   "effective_time_frame": {"date_time": "2025-03-01T08:00:00Z"}}),
        ))
        .unwrap(),
    );
    let mut schema_error = good(14);
    schema_error["valueAttachment"]["data"] = json!(b64(br#"{"header": {}, "body": {}}"#));
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        entry(good(20)),                                 // 201
        entry(good(1)),                                  // 409: stored by the transaction
        entry(good(20)),                                 // 409: earlier in this batch
        put,                                             // 400 method
        patient_entry,                                   // 400 resource type
        entry(bad_b64),                                  // 400 base64
        entry(bad_structure),                            // 400 structure
        json!({"resource": good(15)}),                   // 400 no request
        entry(pamela_bp),                                // 403 consent (as the practitioner)
        entry(schema_error),                             // 422 schema
        entry(good(21)),                                 // 201
    ]});
    let a = post(app, "/fhir/r5/", &w.prac_token, &batch).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["type"], "batch-response");
    let statuses: Vec<&str> = a.json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec![
            "201 Created",
            "409 Conflict",
            "409 Conflict",
            "400 Bad Request",
            "400 Bad Request",
            "400 Bad Request",
            "400 Bad Request",
            "400 Bad Request",
            "403 Forbidden",
            "422 Unprocessable Entity",
            "201 Created",
        ],
        "{}",
        a.text
    );
    let diagnostics = |i: usize| {
        a.json["entry"][i]["response"]["outcome"]["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        diagnostics(1),
        "Identifier already exists: system=https://example.org/ids value=obs-1"
    );
    assert_eq!(diagnostics(3), "Only POST/Create method supported.");
    assert_eq!(diagnostics(4), "Only Observation resourceType supported.");
    assert!(a.json["entry"][0].get("response").is_some());
    assert!(a.json["entry"][0]["response"].get("outcome").is_none());
    let entry_text = &a.text[a.text.find("\"entry\":[").unwrap()..];
    assert!(entry_text.find("\"resource\"").unwrap() < entry_text.find("\"response\"").unwrap());
    assert_eq!(w.stored().await, 4);

    // Conditional create: the retry stores nothing new.
    let resource = good(30);
    let header = [(
        "if-none-exist",
        "identifier=https%3A%2F%2Fexample.org%2Fids%7Cobs-30",
    )];
    let body = serde_json::to_vec(&resource).unwrap();
    let a = send(
        app,
        reqwest::Method::POST,
        "/fhir/r5/Observation",
        Some(&w.peter_token),
        Some(body.clone()),
        &header,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let id = a.json["id"].clone();
    let a = send(
        app,
        reqwest::Method::POST,
        "/fhir/r5/Observation",
        Some(&w.peter_token),
        Some(body),
        &header,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["id"], id);
    assert_eq!(w.stored().await, 5);
    // …also inside a batch, and twice in one batch.
    let conditional = |i: i64| {
        let mut e = entry(good(i));
        e["request"]["ifNoneExist"] = json!(format!("identifier=https://example.org/ids|obs-{i}"));
        e
    };
    let batch = json!({"resourceType": "Bundle", "type": "batch",
                       "entry": [conditional(30), conditional(31), conditional(31)]});
    let a = post(app, "/fhir/r5/", &w.peter_token, &batch).await;
    let statuses: Vec<&str> = a.json["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["200 OK", "201 Created", "200 OK"],
        "{}",
        a.text
    );
    assert_eq!(
        a.json["entry"][1]["resource"]["id"],
        a.json["entry"][2]["resource"]["id"]
    );
    assert_eq!(w.stored().await, 6);
    let a = post(app, "/fhir/r5/", &w.peter_token, &batch).await;
    assert!(
        a.json["entry"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["response"]["status"] == "200 OK"),
        "{}",
        a.text
    );
    assert_eq!(w.stored().await, 6);

    // Bundle-level errors.
    for (label, body, status) in [
        (
            "searchset",
            json!({"resourceType": "Bundle", "type": "searchset"}),
            StatusCode::BAD_REQUEST,
        ),
        ("an Observation", good(40), StatusCode::BAD_REQUEST),
        (
            "entry not a list",
            json!({"resourceType": "Bundle", "type": "batch", "entry": {}}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let a = post(app, "/fhir/r5/", &w.peter_token, &body).await;
        assert_eq!(a.status, status, "{label}: {}", a.text);
        a.outcome();
    }
    let empty = post(
        app,
        "/fhir/r5",
        &w.peter_token,
        &json!({"resourceType": "Bundle", "type": "batch"}),
    )
    .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.json.get("entry").is_none(),
        "no empty arrays: {}",
        empty.text
    );
}

async fn large_batch(backend: Backend) {
    let w = World::new(backend).await;
    let entries: Vec<Value> = (0..1500)
        .map(|i| {
            json!({"resource": with_identifier(
                w.observation(w.peter.id, HR, &heart_rate_bytes(50 + i % 100, "2025-03-01T08:00:00Z")),
                "https://example.org/bulk", &format!("b{i}")),
                "request": {"method": "POST", "url": "Observation"}})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": entries});
    let a = post(&w.app, "/fhir/r5/", &w.peter_token, &bundle).await;
    assert_eq!(a.status, StatusCode::OK);
    let entries = a.json["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 1500);
    assert!(
        entries
            .iter()
            .all(|e| e["response"]["status"] == "201 Created")
    );
    assert_eq!(w.stored().await, 1500);
}

/// A conditional create hands back the observation it matched only to a caller who may read it:
/// after the patient withdrew consent, a practitioner gets no content (the original returns the
/// matched observation without a consent check).
async fn conditional_create_respects_consent(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let hr = heart_rate_bytes(61, "2025-01-01T10:00:00Z");
    let resource = with_identifier(
        w.observation(w.peter.id, HR, &hr),
        "https://example.org/ids",
        "cc-1",
    );
    let a = post(app, "/fhir/r5/Observation", &w.peter_token, &resource).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let body = serde_json::to_vec(&resource).unwrap();
    let again = |token: String| {
        let body = body.clone();
        async move {
            send(
                app,
                reqwest::Method::POST,
                "/fhir/r5/Observation",
                Some(&token),
                Some(body),
                &[("If-None-Exist", "identifier=https://example.org/ids|cc-1")],
            )
            .await
        }
    };
    // While consented, the practitioner gets the match back.
    let a = again(w.prac_token.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.json.get("valueAttachment").is_some());
    // Peter withdraws heart rate.
    let enrolment = app
        .db
        .store
        .list_patient_studies(&AccessScope::system_for_tests(), w.peter.id)
        .await
        .unwrap()[0];
    app.db
        .store
        .upsert_consent(enrolment.id, w.concept(HR).id, false, chrono::Utc::now())
        .await
        .unwrap();
    let a = again(w.prac_token.clone()).await;
    assert_ne!(a.status, StatusCode::OK, "{}", a.text);
    assert!(!a.text.contains(&b64(&hr)), "no content leaks: {}", a.text);
    assert!(a.json.get("valueAttachment").is_none());
    // The patient still gets their own observation back.
    let a = again(w.peter_token.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(w.stored().await, 1);
}

both_backends! {
    fhir_upload_conditional_consent => conditional_create_respects_consent;
    fhir_upload_read_back => upload_and_read_back;
    fhir_upload_refusals => refusals;
    fhir_upload_bundles => bundles;
    fhir_upload_large_batch => large_batch;
}
