//! Patient invitation links (auth.md §6, rest-api.md §4.11): created by a practitioner of the
//! patient's organisation, redeemed by the partner app at `/o/token/` like a mobile app would.

use jhe_core::domain::{NewOAuthClient, OAuthClient, SettingValue, keys};
use jhe_core::store::{ClientStore, OAuthStore, SettingStore, UserStore};
use serde_json::Value;

use crate::both_backends;
use crate::support::*;

pub const PATIENT_APP: &str =
    "openid email patient/Consent.cru patient/Observation.crs patient/Patient.rs";
const MARY: i64 = 10002;
const MEGAN: i64 = 10003;
const MARK: i64 = 10008;
const PETER: i64 = 10006;
const PETER_PATIENT: i64 = 40001;
const VERIFIER: &str = "abcVERIFIERabcVERIFIERabcVERIFIERabcVERIFIER1";
const INVITATION_URL: &str = "https://app.example.org/invite?code=CODE";

/// A partner app registered as the portal does it (`POST /api/v1/clients`).
pub async fn partner_client(app: &TestApp, client_id: &str, settings: bool) -> OAuthClient {
    let client = app
        .db
        .store
        .create_client(NewOAuthClient {
            id: None,
            client_id: client_id.into(),
            redirect_uris: callback_uri(app),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            client_secret: String::new(),
            name: "CommonHealth".into(),
            user_id: None,
            skip_authorization: true,
            algorithm: "RS256".into(),
        })
        .await
        .unwrap();
    if settings {
        for (key, value) in [
            (keys::CLIENT_CODE_VERIFIER, VERIFIER),
            (keys::CLIENT_INVITATION_URL, INVITATION_URL),
        ] {
            app.db
                .store
                .upsert_setting(key, Some(client.id), SettingValue::String(value.into()))
                .await
                .unwrap();
        }
    }
    client
}

async fn bearer(app: &TestApp, user: i64) -> String {
    login_tokens(app, user).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn request_link(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let response = bearer_get(
        app,
        &format!("/api/v1/patients/{PETER_PATIENT}/invitation_link{query}"),
        token,
    )
    .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub struct Invitation {
    pub host: String,
    pub client_id: String,
    pub code: String,
    pub verifier: String,
}

pub fn parse(link: &str) -> Invitation {
    let code = link
        .strip_prefix("https://app.example.org/invite?code=")
        .unwrap_or_else(|| panic!("{link}"));
    let parts: Vec<&str> = code.split('~').collect();
    assert_eq!(parts.len(), 4, "{link}");
    Invitation {
        host: parts[0].into(),
        client_id: parts[1].into(),
        code: parts[2].into(),
        verifier: parts[3].into(),
    }
}

/// What the mobile app does with the invitation code.
pub async fn redeem(app: &TestApp, invitation: &Invitation, redirect_uri: &str) -> (u16, Value) {
    let response = plain_client()
        .post(format!("http://{}/o/token/", invitation.host))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", invitation.code.as_str()),
            ("redirect_uri", redirect_uri),
            ("client_id", invitation.client_id.as_str()),
            ("code_verifier", invitation.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let _ = app;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn invitation_links_end_to_end(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "chclient123", true).await;
    let mary = bearer(&app, MARY).await;
    let query = format!("?application_id={}", client.id);
    let (status, body) = request_link(&app, &mary, &query).await;
    assert_eq!(status, 200, "{body}");
    let link = body["invitationLink"].as_str().unwrap();
    let invitation = parse(link);
    let port = app.address.rsplit(':').next().unwrap();
    assert_eq!(invitation.host, format!("127.0.0.1:{port}"));
    assert_eq!(invitation.client_id, "chclient123");
    assert_eq!(invitation.verifier, VERIFIER);
    assert_eq!(invitation.code.len(), 30);
    // The grant as stored.
    let grant = app
        .db
        .store
        .find_grant(PETER, client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.redirect_uri, callback_uri(&app));
    // The patient-app scope (the original granted `openid email`, i.e. the account's power).
    assert_eq!(grant.scope, PATIENT_APP);
    assert_eq!(grant.code_challenge_method, "S256");
    assert_eq!(grant.code_hash, jhe_kdf::sha256_hex(&invitation.code));
    let days = (grant.expires - chrono::Utc::now()).num_days();
    assert!((13..=14).contains(&days), "{days}");
    let peter = app.db.store.get_user(PETER).await.unwrap().unwrap();
    assert!(
        peter
            .last_login
            .is_some_and(|t| (chrono::Utc::now() - t).num_seconds() < 60)
    );

    // The app redeems the code.
    let (status, tokens) = redeem(&app, &invitation, &callback_uri(&app)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], PATIENT_APP);
    assert!(tokens["id_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap();
    let profile: Value = bearer_get(&app, "/api/v1/users/profile", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["id"], PETER);
    assert_eq!(profile["userType"], "patient");
    assert_eq!(profile["patient"]["id"], PETER_PATIENT);
    let mut keys: Vec<&String> = profile.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "isSuperuser", "patient", "userType"]);
    assert!(!profile.to_string().contains("peter@example.com"));
    // Single use; the second presentation revokes the tokens of the first.
    let (status, body) = redeem(&app, &invitation, &callback_uri(&app)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", access)
            .await
            .status(),
        401
    );

    // A new link (here with applicationId) invalidates the previous code.
    let (_, first) = request_link(&app, &mary, &query).await;
    let first = parse(first["invitationLink"].as_str().unwrap());
    let (status, second) =
        request_link(&app, &mary, &format!("?applicationId={}", client.id)).await;
    assert_eq!(status, 200);
    let second = parse(second["invitationLink"].as_str().unwrap());
    assert_ne!(first.code, second.code);
    let (status, body) = redeem(&app, &first, &callback_uri(&app)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A wrong redirect URI or verifier fails (and burns the code).
    let (status, body) = redeem(&app, &second, "http://elsewhere/auth/callback").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Another member of the patient's organisation may invite.
    let megan = bearer(&app, MEGAN).await;
    assert_eq!(request_link(&app, &megan, &query).await.0, 200);
    // A practitioner of another organisation may not; nor may the patient: both get the answer
    // of an unknown patient.
    let mark = bearer(&app, MARK).await;
    let (status, body) = request_link(&app, &mark, &query).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["detail"], "No Patient matches the given query.");
    let peter_token = bearer(&app, PETER).await;
    assert_eq!(request_link(&app, &peter_token, &query).await.0, 404);
    // Anonymous callers.
    let response = plain_client()
        .get(app.url(&format!(
            "/api/v1/patients/{PETER_PATIENT}/invitation_link{query}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

async fn invitation_errors(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let bare = partner_client(&app, "no-settings", false).await;
    let mary = bearer(&app, MARY).await;
    let (status, body) = request_link(&app, &mary, "").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["detail"],
        "Missing required query parameter: application_id"
    );
    let (status, body) = request_link(&app, &mary, "?application_id=999999").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = request_link(&app, &mary, "?application_id=abc").await;
    assert_eq!(status, 400);
    let (status, body) = request_link(&app, &mary, &format!("?application_id={}", bare.id)).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "Missing JheSetting: client.code_verifier");
    app.db
        .store
        .upsert_setting(
            keys::CLIENT_CODE_VERIFIER,
            Some(bare.id),
            SettingValue::String(VERIFIER.into()),
        )
        .await
        .unwrap();
    let (status, body) = request_link(&app, &mary, &format!("?application_id={}", bare.id)).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "Missing JheSetting: client.invitation_url");
    for patient in ["49999", "abc"] {
        let response = bearer_get(
            &app,
            &format!(
                "/api/v1/patients/{patient}/invitation_link?application_id={}",
                bare.id
            ),
            &mary,
        )
        .await;
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].is_string());
    }
}

async fn invitation_email_and_site_url(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "chclient123", true).await;
    // The link and the grant follow the `site.url` setting (port preserved).
    app.db
        .store
        .upsert_setting(
            keys::SITE_URL,
            None,
            SettingValue::String("http://localhost:9000/".into()),
        )
        .await
        .unwrap();
    let mary = bearer(&app, MARY).await;
    let (status, body) = request_link(
        &app,
        &mary,
        &format!("?application_id={}&send_email=true", client.id),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let link = body["invitationLink"].as_str().unwrap();
    let mut invitation = parse(link);
    assert_eq!(invitation.host, "localhost:9000");
    let grant = app
        .db
        .store
        .find_grant(PETER, client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.redirect_uri, "http://localhost:9000/auth/callback");
    let mails = jhe::plugins::FileMailer::new(&app.config.mail.dir)
        .messages()
        .await
        .unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "JHE Invitation");
    assert_eq!(mails[0].to, "peter@example.com");
    assert_eq!(mails[0].from, app.config.from_email);
    assert!(mails[0].text_body.contains(link), "{}", mails[0].text_body);
    assert!(mails[0].text_body.contains("Hi Peter"));
    // Redeemed at this server with the grant's redirect URI.
    let port = app.address.rsplit(':').next().unwrap();
    invitation.host = format!("127.0.0.1:{port}");
    let (status, tokens) = redeem(&app, &invitation, "http://localhost:9000/auth/callback").await;
    assert_eq!(status, 200, "{tokens}");
}

async fn expired_invitations_are_refused(backend: Backend) {
    let app = spawn_seeded_with(backend, |c| c.lifetimes.invitation_code = 0).await;
    let client = partner_client(&app, "chclient123", true).await;
    let mary = bearer(&app, MARY).await;
    let (status, body) = request_link(&app, &mary, &format!("?application_id={}", client.id)).await;
    assert_eq!(status, 200);
    let invitation = parse(body["invitationLink"].as_str().unwrap());
    let (status, body) = redeem(&app, &invitation, &callback_uri(&app)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

both_backends! {
    end_to_end => invitation_links_end_to_end;
    errors => invitation_errors;
    email_and_site_url => invitation_email_and_site_url;
    expired => expired_invitations_are_refused;
}
