//! The portal's Debug screen (`/portal/debug/`): staff redeem a patient's invitation code like
//! the patient's app, then call the app's API requests with that token, in-process.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::invitation::{partner_client, request_link};
use crate::portal::Browser;
use crate::support::*;

/// The page's text with minijinja's HTML escapes undone (to look for JSON in it).
pub fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A fresh invitation code of peter (patient 40001) for the partner app `chclient123`.
pub async fn fresh_code(app: &TestApp, client_id: i64) -> String {
    let mary = bearer_for(app, seeded::MANAGER).await;
    let (status, body) = request_link(app, &mary, &format!("?application_id={client_id}")).await;
    assert_eq!(status, 200, "{body}");
    let link = body["invitationLink"].as_str().unwrap();
    link.split_once("code=").unwrap().1.to_string()
}

/// Sends a request through the Debug screen; returns the page's text (unescaped).
async fn call(browser: &Browser<'_>, fields: &[(&str, &str)]) -> String {
    let r = browser.post("/portal/debug/call", fields).await;
    assert_eq!(r.status(), 200);
    unescape(&r.text().await.unwrap())
}

fn consent_body(consented: bool) -> String {
    json!({"studyScopeConsents": [{"studyId": 30002, "scopeConsents": [
        {"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:blood-pressure:4.0", "consented": consented}]}]})
    .to_string()
}

/// peter's decision on blood pressure in study 30002, read through the API as mary.
async fn bp_decision(app: &TestApp) -> Option<bool> {
    let mary = bearer_for(app, seeded::MANAGER).await;
    let (status, body) = api_request(
        app,
        Method::GET,
        "/api/v1/patients/40001/consents",
        Some(&mary),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["studies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == 30002)
        .and_then(|s| {
            s["scopeConsents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["code"]["codingCode"] == "omh:blood-pressure:4.0")
                .or_else(|| s["scopeConsents"].as_array().unwrap().first())
        })
        .and_then(|c| c["consented"].as_bool())
}

async fn staff_redeem_and_call(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "chclient123", true).await;
    let code = fresh_code(&app, client.id).await;
    let mary = Browser::of(&app, seeded::MANAGER).await;

    let html = mary.page("/portal/debug/").await;
    assert!(html.contains("Redeem an invitation code"));
    assert!(html.contains(r#"href="/portal/debug/" aria-current="page""#));
    assert!(html.contains("No patient token yet"));

    // Redeem: the tokens of peter's app.
    let (_, html) = mary
        .submit("/portal/debug/exchange", &[("code", &code)])
        .await;
    let html = unescape(&html);
    assert!(
        html.contains("Tokens issued for peter@example.com"),
        "{html}"
    );
    assert!(html.contains("patient 40001"));
    assert!(html.contains("patient/Observation.crs"), "{html}");
    assert!(html.contains("Refresh token"));
    // The consents form offers peter's first pending decision as its example.
    assert!(html.contains("\"studyId\": 30002"), "{html}");
    // The token is kept in the session, not in a form field.
    assert!(!html.contains(r#"name="access_token""#));
    assert!(!html.contains(r#"type="hidden" name="token""#));
    // The token shown is a working token of peter.
    let token: String = html
        .split(r#"id="d-access">"#)
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    let r = bearer_get(&app, "/api/v1/users/profile", &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["patient"]["id"], 40001);

    // Profile.
    let html = call(&mary, &[("which", "profile")]).await;
    assert!(
        html.contains("GET /api/v1/users/profile</code> &rarr; <strong>200"),
        "{html}"
    );
    // A patient's stripped profile, naming patient 40001.
    assert!(html.contains("\"patient\": {"), "{html}");
    assert!(html.contains("\"id\": 40001"), "{html}");

    // Consents: read, record, change; checked through the API.
    let path = "/api/v1/patients/40001/consents";
    let html = call(
        &mary,
        &[
            ("which", "consents"),
            ("method", "GET"),
            ("path", path),
            ("body", ""),
        ],
    )
    .await;
    assert!(html.contains("<strong>200"), "{html}");
    assert!(html.contains("\"studiesPendingConsent\""), "{html}");
    assert_eq!(bp_decision(&app).await, None);
    let html = call(
        &mary,
        &[
            ("which", "consents"),
            ("method", "POST"),
            ("path", path),
            ("body", &consent_body(true)),
        ],
    )
    .await;
    assert!(
        html.contains("POST /api/v1/patients/40001/consents</code> &rarr; <strong>200"),
        "{html}"
    );
    assert_eq!(bp_decision(&app).await, Some(true));
    // The form keeps what was sent.
    assert!(html.contains("<option selected>POST</option>"), "{html}");
    let html = call(
        &mary,
        &[
            ("which", "consents"),
            ("method", "PATCH"),
            ("path", path),
            ("body", &consent_body(false)),
        ],
    )
    .await;
    assert!(html.contains("<strong>200"), "{html}");
    assert_eq!(bp_decision(&app).await, Some(false));
    // A broken JSON body is the API's own 400.
    let html = call(
        &mary,
        &[
            ("which", "consents"),
            ("method", "POST"),
            ("path", path),
            ("body", "{nope"),
        ],
    )
    .await;
    assert!(html.contains("<strong>400"), "{html}");

    // Observations, over FHIR and the Admin API.
    let html = call(
        &mary,
        &[
            ("which", "observations"),
            ("path", "/fhir/r5/Observation?patient=40001&_count=5"),
        ],
    )
    .await;
    assert!(html.contains("<strong>200"), "{html}");
    assert!(html.contains("\"resourceType\": \"Bundle\""), "{html}");
    let html = call(
        &mary,
        &[
            ("which", "observations"),
            ("path", "/api/v1/observations?patientId=40001"),
        ],
    )
    .await;
    assert!(html.contains("&rarr; <strong>"), "{html}");

    // Anything else is refused, and nothing is sent.
    for path in [
        "/api/v1/users",
        "/fhir/r5/Patient",
        "/fhir/r5/Observation/../Patient",
    ] {
        let html = call(&mary, &[("which", "observations"), ("path", path)]).await;
        assert!(
            html.contains("The Debug screen only calls"),
            "{path}: {html}"
        );
        assert!(!html.contains("&rarr; <strong>"), "{path}");
    }
    let html = call(
        &mary,
        &[
            ("which", "consents"),
            ("method", "PUT"),
            ("path", path),
            ("body", "{}"),
        ],
    )
    .await;
    assert!(html.contains("is not offered here"), "{html}");

    // The same code again: used up, a clear message (and the token of its first exchange is
    // revoked, as at /o/token/).
    let (_, html) = mary
        .submit("/portal/debug/exchange", &[("code", &code)])
        .await;
    assert!(
        unescape(&html).contains("The token endpoint refused the code"),
        "{html}"
    );
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &token)
            .await
            .status(),
        401
    );

    // Forget the token.
    let (_, html) = mary.submit("/portal/debug/forget", &[]).await;
    assert!(html.contains("The patient token is forgotten."));
    assert!(html.contains("No patient token yet"));
    let r = mary
        .post("/portal/debug/call", &[("which", "profile")])
        .await;
    assert_eq!(r.status(), 302);
    let html = mary.page(&location(&r)).await;
    assert!(html.contains("Redeem an invitation code first"), "{html}");
}

async fn bad_codes_and_refused_callers(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "chclient123", true).await;
    let sam = Browser::of(&app, seeded::SUPERUSER).await;
    let port = app.address.rsplit(':').next().unwrap();
    let unknown_client =
        format!("127.0.0.1:{port}~nobody~abc~abcVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER1");
    let unknown_code = format!(
        "127.0.0.1:{port}~chclient123~notacode~abcVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER1"
    );
    for (code, says) in [
        ("nonsense", "This is not an invitation code"),
        ("a~b", "This is not an invitation code"),
        (
            "other.example.org~chclient123~abc~abcVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER1",
            "for another exchange",
        ),
        (
            unknown_client.as_str(),
            "No client application has the client_id",
        ),
        (unknown_code.as_str(), "The token endpoint refused the code"),
    ] {
        let (to, html) = sam
            .submit("/portal/debug/exchange", &[("code", code)])
            .await;
        assert_eq!(to, "/portal/debug/");
        assert!(unescape(&html).contains(says), "{code}: {html}");
        assert!(html.contains("No patient token yet"));
    }

    // A patient and an anonymous visitor are refused; a valid code stays unused.
    let code = fresh_code(&app, client.id).await;
    let peter = Browser::of(&app, seeded::PATIENT).await;
    assert_eq!(peter.get("/portal/debug/").await.status(), 403);
    let r = peter
        .post("/portal/debug/exchange", &[("code", &code)])
        .await;
    assert_eq!(r.status(), 403);
    let r = peter
        .post("/portal/debug/call", &[("which", "profile")])
        .await;
    assert_eq!(r.status(), 403);
    let html = peter.page("/portal/profile/").await;
    assert!(
        !html.contains("/portal/debug/"),
        "no Debug link for a patient"
    );
    let anonymous = plain_client();
    let r = anonymous
        .get(app.url("/portal/debug/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(location(&r).starts_with("/accounts/login/"));
    let r = anonymous
        .post(app.url("/portal/debug/exchange"))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    // Without the CSRF token, staff are refused too.
    let r = sam
        .client
        .post(app.url("/portal/debug/exchange"))
        .header("Cookie", &sam.cookie)
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The code still works for the app.
    let (_, html) = sam
        .submit("/portal/debug/exchange", &[("code", &code)])
        .await;
    assert!(
        html.contains("Tokens issued for peter@example.com"),
        "{html}"
    );
}

both_backends! {
    staff_redeem_and_call => staff_redeem_and_call;
    bad_codes_and_refused_callers => bad_codes_and_refused_callers;
}
