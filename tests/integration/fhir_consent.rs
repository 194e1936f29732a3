//! Consent as FHIR: `GET /fhir/r5/Consent?patient=` and `GET /fhir/r5/Consent/{id}`, a
//! read-only R5 view of the scope consent decisions, through the caller's access scope.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, Caller, CallerTokens, api_request, bearer_get, spawn_seeded};

async fn get(app: &crate::support::TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = bearer_get(app, path, token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn resources(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|a| a.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

async fn consent_view(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let t = CallerTokens::new(&app).await;
    let patient = t.of(Caller::Patient).unwrap();
    let manager = t.of(Caller::Manager).unwrap();
    let other = t.of(Caller::OtherOrg).unwrap();

    // What the Admin API says the patient decided.
    let (status, overview) = api_request(
        &app,
        Method::GET,
        "/api/v1/patients/40001/consents",
        Some(manager),
        None,
    )
    .await;
    assert_eq!(status, 200, "{overview}");
    let decided: usize = overview["studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scopeConsents"].as_array().unwrap().len())
        .sum();
    assert!(decided >= 2, "{overview}");

    // The patient's own, without naming the patient; the manager's, naming them.
    let (status, own) = get(&app, "/fhir/r5/Consent", patient).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["resourceType"], "Bundle");
    assert_eq!(own["type"], "searchset");
    assert_eq!(own["total"], decided);
    let (status, managed) = get(&app, "/fhir/r5/Consent?patient=Patient/40001", manager).await;
    assert_eq!(status, 200, "{managed}");
    assert_eq!(resources(&managed), resources(&own));

    let all = resources(&own);
    for c in &all {
        assert_eq!(c["resourceType"], "Consent");
        assert_eq!(c["status"], "active");
        assert_eq!(c["subject"], json!({"reference": "Patient/40001"}));
        assert_eq!(c["grantor"], json!([{"reference": "Patient/40001"}]));
        assert_eq!(c["decision"], "permit");
        assert_eq!(
            c["extension"][0]["url"],
            "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"
        );
        assert!(
            c["extension"][0]["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .starts_with("ResearchStudy/")
        );
        assert!(
            c["grantee"][0]["reference"]
                .as_str()
                .unwrap()
                .starts_with("Organization/")
        );
        assert_eq!(c["provision"][0]["resourceType"][0]["code"], "Observation");
        assert_eq!(
            c["provision"][0]["action"][0]["coding"][0]["code"],
            "access"
        );
        assert!(c["date"].as_str().unwrap().len() == 10, "{c}");
    }
    let codes: Vec<&str> = all
        .iter()
        .map(|c| {
            c["provision"][0]["code"][0]["coding"][0]["code"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(codes.contains(&"omh:blood-pressure:4.0"), "{codes:?}");
    assert!(codes.contains(&"omh:heart-rate:2.0"), "{codes:?}");

    // Read by id: the patient and the manager; another organisation's practitioner and an
    // unknown id look the same.
    let id = all[0]["id"].as_str().unwrap();
    let path = format!("/fhir/r5/Consent/{id}");
    let (status, one) = get(&app, &path, patient).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one, all[0]);
    assert_eq!(get(&app, &path, manager).await.0, 200);
    let (status, hidden) = get(&app, &path, other).await;
    assert_eq!(status, 404, "{hidden}");
    assert_eq!(hidden["resourceType"], "OperationOutcome");
    assert_eq!(get(&app, "/fhir/r5/Consent/999999", patient).await.0, 404);
    assert_eq!(get(&app, "/fhir/r5/Consent/abc", patient).await.0, 404);

    // Another organisation's practitioner sees no decisions of the patient.
    let (status, none) = get(&app, "/fhir/r5/Consent?patient=40001", other).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["total"], 0);
    // A patient naming someone else gets nothing either.
    let (status, none) = get(&app, "/fhir/r5/Consent?patient=40002", patient).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["total"], 0);

    // A practitioner must name the patient; unknown parameters are refused.
    let (status, outcome) = get(&app, "/fhir/r5/Consent", manager).await;
    assert_eq!(status, 400, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(
        get(&app, "/fhir/r5/Consent?patient=40001&category=x", manager)
            .await
            .0,
        400
    );
    // Read-only.
    let response = crate::support::plain_client()
        .delete(app.url(&path))
        .bearer_auth(patient)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    // A refusal shows as `deny`, and the view follows the decision at once.
    let code = all[0]["provision"][0]["code"][0]["coding"][0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    let study: i64 = all[0]["extension"][0]["valueReference"]["reference"]
        .as_str()
        .unwrap()
        .trim_start_matches("ResearchStudy/")
        .parse()
        .unwrap();
    let body = json!({"studyScopeConsents": [{"studyId": study, "scopeConsents": [
        {"codingSystem": "https://w3id.org/openmhealth", "codingCode": code, "consented": false}]}]});
    let (status, changed) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40001/consents",
        Some(patient),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let (_, after) = get(&app, &path, patient).await;
    assert_eq!(after["decision"], "deny", "{after}");
}

both_backends! {
    consent_as_fhir => consent_view;
}
