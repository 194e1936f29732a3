//! End-to-end journeys over real HTTP, as people and apps go through them.

use jhe_plugins::FileMailer;
use serde_json::{Value, json};

use crate::accounts::{csrf_token, login};
use crate::both_backends;
use crate::support::*;

/// `/o/authorize` with the browser's session (cookie jar of `app.client`) and PKCE, then the code
/// exchange — what the portal does after a login.
async fn portal_tokens(app: &TestApp) -> Value {
    let client_id = admin_ui_client_id(app).await;
    let (verifier, challenge) = pkce_pair();
    let redirect_uri = callback_uri(app);
    let r = app
        .client
        .get(app.url("/o/authorize/"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid email"),
            ("state", "s1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let query = location_query(&r);
    assert_eq!(query["state"], "s1");
    let (status, _, body) = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Sign up → verify the e-mail → log out → log in → authorize with PKCE → token → API → refresh
/// (the old refresh token is then rejected) → revoke (the token is then rejected).
async fn practitioner_journey(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let token = csrf_token(&app.get("/accounts/signup/").await.text().await.unwrap());
    let r = app
        .client
        .post(app.url("/accounts/signup/"))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("joincode", "jhe"),
            ("email", "rita@example.org"),
            ("password", "Res3arch#x"),
            ("password2", "Res3arch#x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let mails = FileMailer::new(&app.config.mail.dir)
        .messages()
        .await
        .unwrap();
    let mail = mails.iter().find(|m| m.to == "rita@example.org").unwrap();
    assert_eq!(mail.subject, "JHE E-mail Verification");
    let start = mail
        .text_body
        .find("/accounts/verify_email_confirm/")
        .unwrap();
    let link: String = mail.text_body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert_eq!(
        location(&app.get(&link).await),
        "/accounts/verify_email_complete/"
    );
    assert_eq!(app.get("/accounts/logout/").await.status(), 302);
    assert_eq!(
        login(&app, "rita@example.org", "Res3arch#x").await.status(),
        302
    );

    let tokens = portal_tokens(&app).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let profile: Value = bearer_get(&app, "/api/v1/users/profile", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["email"], "rita@example.org");
    assert_eq!(profile["userType"], "practitioner");

    let client_id = admin_ui_client_id(&app).await;
    let (status, _, refreshed) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let new_access = refreshed["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &new_access)
            .await
            .status(),
        200
    );
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &access)
            .await
            .status(),
        401,
        "rotation retires the old access token"
    );
    // The old refresh token is now rejected; presenting it again revokes the whole token family.
    let (status, _, again) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &new_access)
            .await
            .status(),
        401,
        "reuse revokes the family"
    );

    // A fresh login, then RFC 7009 revocation.
    let new_access = portal_tokens(&app).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &new_access)
            .await
            .status(),
        200
    );
    let r = plain_client()
        .post(app.url("/o/revoke_token/"))
        .form(&[
            ("token", new_access.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &new_access)
            .await
            .status(),
        401
    );
}

/// The README's use case: sign up → organisation → study → patient → data sources and scope
/// requests → add the patient to the study → consent → invitation link → the patient's app
/// redeems it.
async fn readme_use_case(backend: Backend) {
    use reqwest::Method;
    let app = spawn_seeded(backend).await;
    // A researcher signs up (logged in at once) and gets a token for the API.
    let token = csrf_token(&app.get("/accounts/signup/").await.text().await.unwrap());
    app.client
        .post(app.url("/accounts/signup/"))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("joincode", "jhe"),
            ("email", "rita@example.org"),
            ("password", "Res3arch#x"),
        ])
        .send()
        .await
        .unwrap();
    let rita = portal_tokens(&app).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, profile) = api_request(
        &app,
        Method::GET,
        "/api/v1/users/profile",
        Some(&rita),
        None,
    )
    .await;
    let rita_id = profile["id"].as_i64().unwrap();

    // The superuser creates a top-level organisation and makes her its manager.
    let sam = bearer_for(&app, seeded::SUPERUSER).await;
    let (status, org) = api_request(
        &app,
        Method::POST,
        "/api/v1/organizations",
        Some(&sam),
        Some(json!({"name": "Cardio Lab", "type": "laboratory", "partOf": 0})),
    )
    .await;
    assert_eq!(status, 201, "{org}");
    let org_id = org["id"].as_i64().unwrap();
    let (status, _) = api_request(
        &app,
        Method::POST,
        &format!("/api/v1/organizations/{org_id}/user"),
        Some(&sam),
        Some(json!({"jheUserId": rita_id, "organizationPartitionerRole": "manager"})),
    )
    .await;
    assert_eq!(status, 200);

    // She creates a study and a patient.
    let (status, study) = api_request(
        &app,
        Method::POST,
        "/api/v1/studies",
        Some(&rita),
        Some(json!({"name": "HR study", "description": "Heart rate", "organization": org_id})),
    )
    .await;
    assert_eq!(status, 201, "{study}");
    let study_id = study["id"].as_i64().unwrap();
    let (status, patient) = api_request(
        &app,
        Method::POST,
        "/api/v1/patients",
        Some(&rita),
        Some(json!({"organizationId": org_id, "nameFamily": "Doe", "nameGiven": "Jane", "birthDate": "1990-02-03", "telecomEmail": "jane@example.org", "identifier": "ext-1"})),
    )
    .await;
    assert_eq!(status, 200, "{patient}");
    let patient_id = patient["id"].as_i64().unwrap();
    assert_eq!(patient["identifiers"][0]["value"], "ext-1");

    // The superuser registers the device and the app; she attaches them and the scope to the study.
    let (status, device) = api_request(
        &app,
        Method::POST,
        "/api/v1/data_sources",
        Some(&sam),
        Some(json!({"name": "Polar H10", "type": "personal_device"})),
    )
    .await;
    assert_eq!(status, 201, "{device}");
    let device_id = device["id"].as_i64().unwrap();
    let (status, _) = api_request(
        &app,
        Method::POST,
        &format!("/api/v1/data_sources/{device_id}/supported_scopes"),
        Some(&sam),
        Some(json!({"scopeCodeId": 50004})),
    )
    .await;
    assert_eq!(status, 200);
    let verifier = jhe_kdf::random_token(43);
    let (status, client) = api_request(
        &app,
        Method::POST,
        "/api/v1/clients",
        Some(&sam),
        Some(json!({"name": "HeartApp", "clientId": "heartapp", "invitationUrl": "https://heart.example.org/invite?code=CODE", "codeVerifier": verifier})),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    let app_id = client["id"].as_i64().unwrap();
    for (path, body) in [
        ("data_sources", json!({"dataSourceId": device_id})),
        ("scope_requests", json!({"scopeCodeId": 50004})),
        ("clients", json!({"clientId": app_id})),
        ("patients", json!({"patientIds": [patient_id]})),
    ] {
        let (status, answer) = api_request(
            &app,
            Method::POST,
            &format!("/api/v1/studies/{study_id}/{path}"),
            Some(&rita),
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{path}: {answer}");
    }

    // Consent on the patient's behalf, then the invitation link.
    let (status, consents) = api_request(
        &app,
        Method::POST,
        &format!("/api/v1/patients/{patient_id}/consents"),
        Some(&rita),
        Some(json!({"studyScopeConsents": [{"studyId": study_id, "scopeConsents": [{"codingSystem": "https://w3id.org/openmhealth", "codingCode": "omh:heart-rate:2.0", "consented": true}]}]})),
    )
    .await;
    assert_eq!(status, 200, "{consents}");
    let (status, link) = api_request(
        &app,
        Method::GET,
        &format!("/api/v1/patients/{patient_id}/invitation_link?application_id={app_id}"),
        Some(&rita),
        None,
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let link = link["invitationLink"].as_str().unwrap();
    let code = link
        .strip_prefix("https://heart.example.org/invite?code=")
        .unwrap();
    let parts: Vec<&str> = code.split('~').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[1], "heartapp");
    assert_eq!(parts[3], verifier);

    // The patient's app redeems it and sees the consent.
    let redirect_uri = callback_uri(&app);
    let (status, _, tokens) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", parts[2]),
            ("redirect_uri", &redirect_uri),
            ("client_id", parts[1]),
            ("code_verifier", parts[3]),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let jane = tokens["access_token"].as_str().unwrap();
    let (_, profile) =
        api_request(&app, Method::GET, "/api/v1/users/profile", Some(jane), None).await;
    assert_eq!(profile["patient"]["id"], patient_id);
    let (status, mine) = api_request(
        &app,
        Method::GET,
        &format!("/api/v1/patients/{patient_id}/consents"),
        Some(jane),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        mine["consolidatedConsentedScopes"][0]["codingCode"],
        "omh:heart-rate:2.0"
    );
}

both_backends! {
    practitioner => practitioner_journey;
    use_case => readme_use_case;
}
