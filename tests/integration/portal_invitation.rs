//! A patient created by staff has no password: the invitation link, opened in a browser at
//! `/portal/invitation/`, signs them in once and lands on the consent screen. The link works
//! once (on the web or in the app), expires, and never signs in a practitioner.

use chrono::{Duration, Utc};
use jhe_core::domain::{GrantedScopes, NewAuthorizationGrant};
use jhe_core::services::oauth::pkce::s256_challenge;
use jhe_core::store::OAuthStore;

use crate::both_backends;
use crate::invitation::{parse, partner_client, redeem, request_link};
use crate::support::*;

const VERIFIER: &str = "abcVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER1";

/// The `Set-Cookie` session key of a response.
fn session_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sessionid="))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .filter(|c| !c.is_empty())
}

/// The CSRF token of the first form of a page.
fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrfmiddlewaretoken" value=""#;
    let start = html.find(marker).expect("a form") + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

/// Opens the invitation page (anonymous) and presses *Continue* with `code`; returns the answer.
async fn open_and_continue(app: &TestApp, query_code: &str, code: &str) -> reqwest::Response {
    let client = plain_client();
    let encoded: String = url::form_urlencoded::byte_serialize(query_code.as_bytes()).collect();
    let page = client
        .get(app.url(&format!("/portal/invitation/?code={encoded}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = session_of(&page).expect("an anonymous session for the CSRF token");
    let html = page.text().await.unwrap();
    assert!(html.contains("Continue to my consents"), "{html}");
    // The code is only carried in the form; opening the page used nothing.
    client
        .post(app.url("/portal/invitation/"))
        .header("Cookie", format!("sessionid={cookie}"))
        .form(&[
            ("csrfmiddlewaretoken", csrf_of(&html)),
            ("code", code.to_string()),
        ])
        .send()
        .await
        .unwrap()
}

async fn a_grant(
    app: &TestApp,
    user_id: i64,
    application_id: i64,
    code: &str,
    expires: chrono::DateTime<Utc>,
) {
    app.db
        .store
        .create_grant(NewAuthorizationGrant {
            code_hash: jhe_kdf::sha256_hex(code),
            application_id,
            user_id,
            expires,
            redirect_uri: callback_uri(app),
            scope: GrantedScopes::patient_app().to_string(),
            code_challenge: s256_challenge(VERIFIER),
            code_challenge_method: "S256".into(),
            nonce: String::new(),
            claims: "{}".into(),
            auth_time: Some(Utc::now()),
        })
        .await
        .unwrap();
}

async fn invitation_signs_a_patient_in_once(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "chclient123", true).await;
    let mary = bearer_for(&app, seeded::MANAGER).await;
    let (status, body) = request_link(&app, &mary, &format!("?application_id={}", client.id)).await;
    assert_eq!(status, 200, "{body}");
    let link = body["invitationLink"].as_str().unwrap().to_string();

    // The whole link pasted (or carried in the page's query) works.
    let answer = open_and_continue(&app, &link, &link).await;
    assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
    assert_eq!(location(&answer), "/portal/consents/");
    let cookie = format!(
        "sessionid={}",
        session_of(&answer).expect("a login session")
    );
    let consents = plain_client()
        .get(app.url("/portal/consents/"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(consents.status(), 200);
    let html = consents.text().await.unwrap();
    assert!(html.contains("Example Study on BP &amp; HR"), "{html}");
    // The signed-in patient consents and withdraws like any patient.
    let answer = plain_client()
        .post(app.url("/portal/consents/"))
        .header("Cookie", &cookie)
        .form(&[
            ("csrfmiddlewaretoken", csrf_of(&html).as_str()),
            ("study", "30001"),
            ("system", "https://w3id.org/openmhealth"),
            ("code", "omh:heart-rate:2.0"),
            ("decision", "withdraw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let html = plain_client()
        .get(app.url("/portal/consents/"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Consent withdrawn"), "{html}");

    // Once: neither the web nor the app can use it again.
    let again = open_and_continue(&app, "", &link).await;
    assert_eq!(again.status(), 400);
    assert!(session_of(&again).is_none_or(|c| c != cookie));
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("invalid, expired or already used")
    );
    let (status, body) = redeem(&app, &parse(&link), &callback_uri(&app)).await;
    assert_eq!(status, 400, "{body}");

    // A new link from staff works again (the code alone this time).
    let (_, body) = request_link(&app, &mary, &format!("?application_id={}", client.id)).await;
    let link = body["invitationLink"].as_str().unwrap();
    let code = link.split_once("code=").unwrap().1;
    let answer = open_and_continue(&app, code, code).await;
    assert_eq!(location(&answer), "/portal/consents/");
}

async fn invitation_refusals(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "chclient123", true).await;
    let host = app.address.trim_start_matches("http://").to_string();
    let code_for = |code: &str, verifier: &str| format!("{host}~chclient123~{code}~{verifier}");

    // Expired.
    a_grant(
        &app,
        seeded::PATIENT,
        client.id,
        "expiredcode0000000000000000000",
        Utc::now() - Duration::seconds(1),
    )
    .await;
    let r = open_and_continue(
        &app,
        "",
        &code_for("expiredcode0000000000000000000", VERIFIER),
    )
    .await;
    assert_eq!(r.status(), 400);
    // A practitioner's account (even with an invitation-shaped code): never signed in.
    a_grant(
        &app,
        seeded::MANAGER,
        client.id,
        "staffcode00000000000000000000",
        Utc::now() + Duration::hours(1),
    )
    .await;
    let r = open_and_continue(
        &app,
        "",
        &code_for("staffcode00000000000000000000", VERIFIER),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("invalid, expired or already used")
    );
    // The wrong verifier, an unknown code, garbage.
    a_grant(
        &app,
        seeded::PATIENT,
        client.id,
        "patientcode000000000000000000",
        Utc::now() + Duration::hours(1),
    )
    .await;
    let other = "xyzVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER1";
    let r = open_and_continue(&app, "", &code_for("patientcode000000000000000000", other)).await;
    assert_eq!(r.status(), 400);
    let r = open_and_continue(&app, "", &code_for("unknowncode", VERIFIER)).await;
    assert_eq!(r.status(), 400);
    let r = open_and_continue(&app, "", "not an invitation").await;
    assert_eq!(r.status(), 400);
    // A valid code works (the checks above are not blanket refusals).
    a_grant(
        &app,
        seeded::PATIENT,
        client.id,
        "goodcode000000000000000000000",
        Utc::now() + Duration::hours(1),
    )
    .await;
    let r = open_and_continue(
        &app,
        "",
        &code_for("goodcode000000000000000000000", VERIFIER),
    )
    .await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/portal/consents/");

    // Without the CSRF token: refused.
    let r = plain_client()
        .post(app.url("/portal/invitation/"))
        .form(&[("code", code_for("goodcode000000000000000000000", VERIFIER))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

both_backends! {
    signs_in_once => invitation_signs_a_patient_in_once;
    refusals => invitation_refusals;
}
