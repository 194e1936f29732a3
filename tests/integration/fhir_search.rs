//! FHIR searches over HTTP: paging through 10 000 observations, study and consent rules,
//! every search parameter, links, Patient search and read — on both databases.

use std::collections::HashSet;

use chrono::Utc;
use jhe_core::domain::*;
use jhe_core::store::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fhir_upload::{BP, HR, World, data_point, decoded, get, heart_rate_bytes, post, send};
use crate::support::Backend;

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().unwrap().to_string())
}

fn relations(bundle: &Value) -> Vec<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["relation"].as_str().unwrap().to_string())
        .collect()
}

fn stored_observation(
    w: &World,
    patient: Id,
    code: &str,
    payload: Vec<u8>,
    when: &str,
) -> NewObservation {
    NewObservation {
        id: None,
        subject_patient_id: patient,
        codeable_concept_id: w.concept(code).id,
        data_source_id: Some(w.device.id),
        value_attachment_data: String::from_utf8(payload).unwrap(),
        content_type: "application/json".into(),
        status: "final".into(),
        effective_start: Some(
            chrono::DateTime::parse_from_rfc3339(when)
                .unwrap()
                .with_timezone(&Utc),
        ),
        effective_end: None,
        identifiers: Vec::new(),
    }
}

async fn paging_through_ten_thousand(backend: Backend) {
    let w = World::new(backend).await;
    let many: Vec<NewObservation> = (0..10_000)
        .map(|i| {
            stored_observation(
                &w,
                w.peter.id,
                HR,
                heart_rate_bytes(40 + i % 100, "2025-03-01T08:00:00Z"),
                "2025-03-01T08:00:00Z",
            )
        })
        .collect();
    let created = w.app.db.store.create_observations(many).await.unwrap();
    assert_eq!(created.len(), 10_000);
    let expected: HashSet<String> = created.iter().map(|o| o.id.to_string()).collect();

    let first = format!(
        "{}/FHIR/R5/Observation?patient={}&_count=20",
        w.app.address, w.peter.id
    );
    let mut url = first.clone();
    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut third_page = Vec::new();
    loop {
        let page = get(&w.app, &url, &w.prac_token).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.text);
        assert_eq!(page.json["total"], 10_000);
        assert_eq!(link(&page.json, "self").as_deref(), Some(url.as_str()));
        pages += 1;
        let page_ids = ids(&page.json);
        if pages == 3 {
            third_page = page_ids.clone();
        }
        for id in page_ids {
            assert!(seen.insert(id), "an observation came twice");
        }
        match link(&page.json, "next") {
            Some(next) => {
                assert!(
                    next.contains("/FHIR/R5/Observation?_count=20&_cursor="),
                    "{next}"
                );
                assert!(next.contains(&format!("&_page={}&", pages + 1)), "{next}");
                url = next;
            }
            None => {
                assert_eq!(relations(&page.json), vec!["self", "previous"]);
                break;
            }
        }
    }
    assert_eq!(pages, 500);
    assert_eq!(seen, expected, "every observation exactly once");

    // `_page` alone (no cursor) still works, and agrees with the cursor path.
    let page3 = get(&w.app, &format!("{first}&_page=3"), &w.prac_token).await;
    assert_eq!(ids(&page3.json), third_page);
    let previous = link(&page3.json, "previous").unwrap();
    assert!(
        previous.ends_with(&format!("&_page=2&patient={}", w.peter.id)),
        "{previous}"
    );
    let page2 = get(&w.app, &previous, &w.prac_token).await;
    assert_eq!(
        link(&page2.json, "previous").unwrap(),
        format!(
            "{}/FHIR/R5/Observation?_count=20&patient={}",
            w.app.address, w.peter.id
        ),
        "the previous link of page 2 has no _page"
    );
    let beyond = get(&w.app, &format!("{first}&_page=501"), &w.prac_token).await;
    assert_eq!(beyond.status, StatusCode::NOT_FOUND);
    assert_eq!(beyond.outcome(), "Invalid page.");
    // Newest first, ties by id descending.
    let top = get(&w.app, &format!("{first}&_count=1"), &w.prac_token).await;
    let max = created.iter().map(|o| o.id).max().unwrap();
    assert_eq!(ids(&top.json), vec![max.to_string()]);
}

async fn studies_and_consent(backend: Backend) {
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let bp_bytes = serde_json::to_vec(&data_point(
        BP,
        json!({"systolic_blood_pressure": {"value": 120, "unit": "mmHg"},
               "diastolic_blood_pressure": {"value": 80, "unit": "mmHg"},
               "effective_time_frame": {"date_time": "2025-03-01T08:00:00Z"}}),
    ))
    .unwrap();
    // Pamela: 2 HR (consented), 3 BP (declined in the study) — BP stored directly, as if
    // uploaded before she declined.
    let mut rows = Vec::new();
    for _ in 0..2 {
        rows.push(stored_observation(
            &w,
            w.pamela.id,
            HR,
            heart_rate_bytes(70, "2025-03-01T08:00:00Z"),
            "2025-03-01T08:00:00Z",
        ));
    }
    for _ in 0..3 {
        rows.push(stored_observation(
            &w,
            w.pamela.id,
            BP,
            bp_bytes.clone(),
            "2025-03-01T08:00:00Z",
        ));
    }
    s.create_observations(rows).await.unwrap();
    // A BP-only study where Pamela's consent is pending.
    let bp_study = s
        .create_study(NewStudy {
            id: None,
            name: "BP".into(),
            description: String::new(),
            organization_id: w.lab.id,
            icon_url: None,
        })
        .await
        .unwrap();
    s.add_scope_request(bp_study.id, w.concept(BP).id)
        .await
        .unwrap();
    s.enroll_patient(bp_study.id, w.pamela.id).await.unwrap();

    let total = |bundle: &Value| bundle["total"].as_u64().unwrap();
    let q = |params: &str| format!("/fhir/r5/Observation?{params}");
    let study = w.study.id;
    for name in [
        "patient._has:Group:member:_id",
        "_has:Group:member:_id",
        "patient._has:_group:member:_id",
    ] {
        let a = get(
            &w.app,
            &q(&format!("{name}={study}&patient={}", w.pamela.id)),
            &w.prac_token,
        )
        .await;
        assert_eq!(
            total(&a.json),
            2,
            "{name}: consented HR only, declined BP hidden"
        );
    }
    let a = get(
        &w.app,
        &q(&format!("patient._has:Group:member:_id={}", bp_study.id)),
        &w.prac_token,
    )
    .await;
    assert_eq!(
        total(&a.json),
        0,
        "pending consent is not shared (the original leaks it)"
    );
    let a = get(
        &w.app,
        &q(&format!("patient={}", w.pamela.id)),
        &w.prac_token,
    )
    .await;
    assert_eq!(total(&a.json), 2, "without a study: consented scopes only");
    // Pamela herself sees all her data.
    let a = get(
        &w.app,
        &q(&format!("patient={}", w.pamela.id)),
        &w.pamela_token,
    )
    .await;
    assert_eq!(total(&a.json), 5);
    let a = get(
        &w.app,
        &q(&format!("patient={}", w.pamela.id)),
        &w.peter_token,
    )
    .await;
    assert_eq!(total(&a.json), 0, "another patient's data is invisible");
    // Study authorization.
    let a = get(
        &w.app,
        &q(&format!("patient._has:Group:member:_id={study}")),
        &w.outsider_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.outcome(),
        "Current User does not have authorization to access this Study."
    );
    let a = get(
        &w.app,
        &q("patient._has:Group:member:_id=999999"),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    a.outcome();
    let nobody = crate::store_crud::patient(s, None, "Nobody").await;
    s.add_patient_organization(nobody.id, w.lab.id)
        .await
        .unwrap();
    let a = get(
        &w.app,
        &q(&format!(
            "patient._has:Group:member:_id={study}&patient={}",
            nobody.id
        )),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.outcome(),
        "The requested Patient is not part of the specified Study."
    );
    // The outsider sees nothing of the lab's patients.
    let a = get(
        &w.app,
        &q(&format!("patient={}", w.pamela.id)),
        &w.outsider_token,
    )
    .await;
    assert_eq!(total(&a.json), 0);
}

async fn parameters_and_links(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let peter = w.peter.id;
    let w = &w;
    let upload = |code: &str, bytes: Vec<u8>| {
        let resource = w.observation(peter, code, &bytes);
        async move { post(app, "/fhir/r5/Observation", &w.peter_token, &resource).await }
    };
    let mut hr_ids = Vec::new();
    for day in ["2025-01-01", "2025-01-02", "2025-01-03"] {
        let a = upload(HR, heart_rate_bytes(70, &format!("{day}T10:00:00Z"))).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        hr_ids.push(a.json["id"].as_str().unwrap().to_string());
    }
    let bp = serde_json::to_vec(&data_point(
        BP,
        json!({"systolic_blood_pressure": {"value": 120, "unit": "mmHg"},
               "diastolic_blood_pressure": {"value": 80, "unit": "mmHg"},
               "effective_time_frame": {"time_interval": {"start_date_time": "2025-01-02T12:00:00Z", "duration": {"value": 30, "unit": "min"}}}}),
    ))
    .unwrap();
    assert_eq!(upload(BP, bp).await.status, StatusCode::CREATED);

    let count = |query: String| {
        let token = w.prac_token.clone();
        async move {
            let a = get(
                app,
                &format!("/FHIR/R5/Observation?patient={peter}&{query}"),
                &token,
            )
            .await;
            assert_eq!(a.status, StatusCode::OK, "{query}: {}", a.text);
            a.json["total"].as_u64().unwrap()
        }
    };
    let omh = "https%3A%2F%2Fw3id.org%2Fopenmhealth";
    for (query, expected) in [
        (format!("code={omh}%7C{HR}"), 3),
        (format!("code={HR}"), 3),
        (format!("code=%7C{HR}"), 0),
        (format!("code={omh}%7C"), 4),
        (format!("code={omh}%7Comh%3Aheart-rate%3A2.%25"), 0),
        ("code=%25%7C%25".to_string(), 0),
        (format!("code={HR},{BP}"), 4),
        (format!("code={HR}&code={BP}"), 0),
        ("date=2025-01-02".into(), 2),
        ("date=ge2025-01-02&date=lt2025-01-03".into(), 2),
        ("date=gt2025-01-02".into(), 1),
        ("date=le2025-01-02".into(), 3),
        ("date=lt2025-01-02".into(), 1),
        ("date=eq2025-01-02T10:00:00Z".into(), 1),
        // FHIR period semantics: eq needs the 30-minute blood-pressure period inside the
        // second, ge/le need it to overlap (the original compared the start only).
        ("date=2025-01-02T12%3A00%3A00%2B00%3A00".into(), 0),
        (
            "date=ge2025-01-02T12%3A10%3A00Z&date=le2025-01-02T12%3A10%3A00Z".into(),
            1,
        ),
        ("date=2025".into(), 4),
        ("date=2024".into(), 0),
        (
            format!(
                "_lastUpdated=ge{}",
                (Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
            4,
        ),
        ("_lastUpdated=lt2000-01-01".into(), 0),
        (format!("_id={}", hr_ids[1]), 1),
        ("_id=abc".into(), 0),
        ("patient.identifier=any%7Cext-Peter".into(), 4),
        ("patient.identifier=ext-Pamela".into(), 0),
        (format!("subject=Patient/{peter}"), 4),
        (format!("patient.organization={}", w.lab.id), 4),
        (format!("patient.organization={}", w.other.id), 0),
        ("unknown=ignored".into(), 4),
    ] {
        assert_eq!(count(query.clone()).await, expected, "{query}");
    }
    let a = get(
        app,
        &format!("/fhir/r5/Observation?patient={peter}&date=yesterday"),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.outcome().contains("Invalid date parameter"));
    let a = get(
        app,
        &format!("/fhir/r5/Observation?patient={peter}&_cursor=bogus"),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // Summary: total only.
    let a = get(
        app,
        &format!("/fhir/r5/Observation?patient={peter}&_count=0"),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.json["total"], 4);
    assert!(a.json.get("entry").is_none(), "no empty arrays: {}", a.text);

    // Links: absolute, through the proxy's scheme and host, keeping the client's prefix.
    let a = send(
        app,
        reqwest::Method::GET,
        &format!("/FHIR/R5/Observation?patient={peter}&_count=2&code={omh}%7C{HR}"),
        Some(&w.prac_token),
        None,
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "jhe.example.org"),
        ],
    )
    .await;
    assert_eq!(
        link(&a.json, "self").unwrap(),
        format!(
            "https://jhe.example.org/FHIR/R5/Observation?patient={peter}&_count=2&code={omh}%7C{HR}"
        )
    );
    let next = link(&a.json, "next").unwrap();
    assert!(next.starts_with("https://jhe.example.org/FHIR/R5/Observation?_count=2&_cursor="));
    assert!(
        next.ends_with(&format!(
            "&_page=2&code={omh}%7Comh%3Aheart-rate%3A2.0&patient={peter}"
        )),
        "{next}"
    );
    assert_eq!(ids(&a.json), vec![hr_ids[2].clone(), hr_ids[1].clone()]);
    let next_local = next.replace("https://jhe.example.org", &w.app.address);
    let b = get(app, &next_local, &w.prac_token).await;
    assert_eq!(link(&b.json, "self").unwrap(), next_local);
    assert_eq!(ids(&b.json), vec![hr_ids[0].clone()]);
    assert_eq!(relations(&b.json), vec!["self", "previous"]);
    assert_eq!(b.json["total"], 3);

    // Search entries carry the stored bytes.
    let a = get(
        app,
        &format!("/fhir/r5/Observation?_id={}", hr_ids[0]),
        &w.prac_token,
    )
    .await;
    let bytes = decoded(&a.json["entry"][0]["resource"]);
    assert!(
        String::from_utf8(bytes)
            .unwrap()
            .contains("2025-01-01T10:00:00Z")
    );
    // POST _search with a form body.
    let a = app
        .client
        .post(app.url("/fhir/r5/Observation/_search"))
        .bearer_auth(&w.prac_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("patient={peter}&code={HR}"))
        .send()
        .await
        .unwrap();
    let a: Value = a.json().await.unwrap();
    assert_eq!(a["total"], 3);
}

async fn patients(backend: Backend) {
    let w = World::new(backend).await;
    let app = &w.app;
    let study = w.study.id;
    let a = get(
        app,
        &format!("/fhir/r5/Patient?_has:Group:member:_id={study}"),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["total"], 2);
    let peter = &a.json["entry"][0]["resource"];
    assert_eq!(peter["resourceType"], "Patient");
    assert_eq!(peter["id"], w.peter.id.to_string());
    assert_eq!(
        peter["name"],
        json!([{"family": "Peter", "given": ["Given"]}])
    );
    assert_eq!(peter["birthDate"], "1990-02-03");
    assert_eq!(peter["identifier"], json!([{"value": "ext-Peter"}]));
    assert_eq!(
        peter["telecom"],
        json!([{"system": "email", "value": "peter@example.org", "use": "home"}])
    );
    assert_eq!(peter["meta"]["source"], "https://jupyterhealth.org/jhe");
    let a = get(
        app,
        "/FHIR/R5/Patient?identifier=http%3A%2F%2Fexample.org%7Cext-Pamela",
        &w.prac_token,
    )
    .await;
    assert_eq!(ids(&a.json), vec![w.pamela.id.to_string()]);
    let a = get(
        app,
        &format!("/FHIR/R5/Patient?_has:Group:member:_id={study}&_count=1"),
        &w.prac_token,
    )
    .await;
    assert_eq!(relations(&a.json), vec!["self", "next"]);
    let b = get(app, &link(&a.json, "next").unwrap(), &w.prac_token).await;
    assert_eq!(relations(&b.json), vec!["self", "previous"]);
    assert_eq!(ids(&b.json), vec![w.pamela.id.to_string()]);
    let a = get(
        app,
        &format!("/fhir/r5/Patient/{}", w.pamela.id),
        &w.prac_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["id"], w.pamela.id.to_string());
    let a = get(
        app,
        &format!("/fhir/r5/Patient/{}", w.pamela.id),
        &w.outsider_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    a.outcome();
    let a = get(app, "/fhir/r5/Patient/abc", &w.prac_token).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = get(
        app,
        &format!("/fhir/r5/Patient?_has:Group:member:_id={study}"),
        &w.outsider_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A patient sees only themself.
    let a = get(app, "/fhir/r5/Patient", &w.peter_token).await;
    assert_eq!(ids(&a.json), vec![w.peter.id.to_string()]);
    let a = get(
        app,
        &format!("/fhir/r5/Patient/{}", w.pamela.id),
        &w.peter_token,
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

both_backends! {
    fhir_search_paging_10000 => paging_through_ten_thousand;
    fhir_search_studies_and_consent => studies_and_consent;
    fhir_search_parameters_and_links => parameters_and_links;
    fhir_search_patients => patients;
}
