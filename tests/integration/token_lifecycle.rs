//! Token scopes and token lifecycle over HTTP, on both databases: what ends a token (password
//! change and reset, deactivation, a replayed code, the refresh lifetime), what a patient app's
//! token may do, narrower requested scopes, and the route → scope table.

use chrono::{Duration, Utc};
use jhe_core::domain::{GrantedScopes, OMH_SYSTEM};
use jhe_core::store::{OAuthStore, UserStore};
use reqwest::Method;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::accounts::{csrf_token, get_form, link_from_mail, login, post_form};
use crate::both_backends;
use crate::fhir_upload::{heart_rate_bytes, observation};
use crate::invitation::{PATIENT_APP, parse, partner_client, redeem, request_link};
use crate::oauth::{code_for, confidential_client, create_client};
use crate::support::*;

const SAM: i64 = 10001;
const MARY: i64 = 10002;
const MEGAN: i64 = 10003;
const PETER: i64 = 10006;
const PETER_PATIENT: i64 = 40001;
const FULL: &str = "openid email user/*.cruds";

/// The refresh grant with `refresh_token` for the portal client (and an optional scope).
async fn refresh(app: &TestApp, refresh_token: &str, scope: Option<&str>) -> (u16, Value) {
    let client_id = admin_ui_client_id(app).await;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id.as_str()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (status, _, body) = token_request(app, &form).await;
    (status.as_u16(), body)
}

async fn profile_status(app: &TestApp, token: &str) -> u16 {
    bearer_get(app, "/api/v1/users/profile", token)
        .await
        .status()
        .as_u16()
}

/// Whether a browser session cookie still logs its holder in.
async fn session_alive(app: &TestApp, cookie: &str) -> bool {
    let response = plain_client()
        .get(app.url("/accounts/password_change/"))
        .header("Cookie", format!("sessionid={cookie}"))
        .send()
        .await
        .unwrap();
    response.status() == 200
}

/// A portal login of `user`: its access and refresh tokens, and another browser's session.
struct Credentials {
    access: String,
    refresh: String,
    session: String,
}

impl Credentials {
    async fn of(app: &TestApp, user: i64) -> Credentials {
        let tokens = login_tokens(app, user).await;
        let credentials = Credentials {
            access: tokens["access_token"].as_str().unwrap().into(),
            refresh: tokens["refresh_token"].as_str().unwrap().into(),
            session: login_session(app, user).await,
        };
        assert_eq!(profile_status(app, &credentials.access).await, 200);
        assert!(session_alive(app, &credentials.session).await);
        credentials
    }

    /// Every credential is dead: 401 on the API, `invalid_grant` on refresh, logged out.
    async fn assert_revoked(&self, app: &TestApp, why: &str) {
        assert_eq!(
            profile_status(app, &self.access).await,
            401,
            "{why}: access"
        );
        let (status, body) = refresh(app, &self.refresh, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{why}: refresh {body}"
        );
        assert!(!session_alive(app, &self.session).await, "{why}: session");
    }
}

async fn password_change_revokes_tokens_and_sessions(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let other = Credentials::of(&app, MEGAN).await;
    let bystander = Credentials::of(&app, MARY).await;
    // Megan changes her password in this browser.
    assert_eq!(
        login(&app, "megan@example.com", "Jhe1234!").await.status(),
        302
    );
    let token = get_form(&app, "/accounts/password_change/").await;
    let response = post_form(
        &app,
        "/accounts/password_change/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("old_password", "Jhe1234!"),
            ("new_password1", "An0ther#pass"),
            ("new_password2", "An0ther#pass"),
        ],
    )
    .await;
    assert_eq!(location(&response), "/accounts/password_change/done/");
    other.assert_revoked(&app, "password change").await;
    // This browser keeps a fresh session; other users keep theirs.
    assert_eq!(app.get("/accounts/password_change/").await.status(), 200);
    assert_eq!(profile_status(&app, &bystander.access).await, 200);
    assert!(session_alive(&app, &bystander.session).await);
}

async fn password_reset_revokes_tokens_and_sessions(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let before = Credentials::of(&app, MEGAN).await;
    let token = get_form(&app, "/accounts/password_reset/").await;
    post_form(
        &app,
        "/accounts/password_reset/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("email", "megan@example.com"),
        ],
    )
    .await;
    let link = link_from_mail(&app, "megan@example.com", "/accounts/reset/").await;
    let page = app.get(&link).await;
    let token = csrf_token(&page.text().await.unwrap());
    let response = post_form(
        &app,
        &link,
        &[
            ("csrfmiddlewaretoken", &token),
            ("new_password1", "N3w#password"),
            ("new_password2", "N3w#password"),
        ],
    )
    .await;
    assert_eq!(location(&response), "/accounts/reset/done/");
    before.assert_revoked(&app, "password reset").await;
    // New logins work.
    let after = Credentials::of(&app, MEGAN).await;
    assert_eq!(profile_status(&app, &after.access).await, 200);
}

async fn deactivation_revokes_tokens_and_sessions(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = bearer_for(&app, SAM).await;
    let mary = Credentials::of(&app, MARY).await;
    let path = format!("/api/v1/users/{MARY}");
    // Only superusers may change the flag, and not on their own account.
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        &path,
        Some(&mary.access),
        Some(json!({"isActive": false})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{SAM}"),
        Some(&sam),
        Some(json!({"isActive": false})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(profile_status(&app, &mary.access).await, 200);

    let (status, body) = api_request(
        &app,
        Method::PATCH,
        &path,
        Some(&sam),
        Some(json!({"isActive": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !app.db
            .store
            .get_user(MARY)
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    mary.assert_revoked(&app, "deactivation").await;
    // Reactivating the account does not bring the old credentials back.
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        &path,
        Some(&sam),
        Some(json!({"isActive": true})),
    )
    .await;
    assert_eq!(status, 200);
    mary.assert_revoked(&app, "reactivation").await;
    assert_eq!(
        profile_status(&app, &Credentials::of(&app, MARY).await.access).await,
        200
    );
}

async fn replayed_code_revokes_its_tokens(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let (code, verifier, client_id, redirect_uri) = code_for(&app, MARY).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, _, first) = token_request(&app, &form).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    // Rotate once: the family's current tokens must die too.
    let (status, rotated) = refresh(&app, refresh_token, None).await;
    assert_eq!(status, 200, "{rotated}");
    let rotated_access = rotated["access_token"].as_str().unwrap();
    let rotated_refresh = rotated["refresh_token"].as_str().unwrap();
    let other = Credentials::of(&app, MARY).await;

    let (status, _, body) = token_request(&app, &form).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(profile_status(&app, access).await, 401);
    assert_eq!(profile_status(&app, rotated_access).await, 401);
    let (status, body) = refresh(&app, rotated_refresh, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Tokens of other logins are not affected.
    assert_eq!(profile_status(&app, &other.access).await, 200);
    assert_eq!(refresh(&app, &other.refresh, None).await.0, 200);
}

/// Moves the `created` time of a refresh token back by `age`.
async fn age_refresh_token(app: &TestApp, token: &str, age: Duration) {
    let db = app.db.store.connection();
    let mut update = Query::update();
    update
        .table(Alias::new("oauth_refresh_tokens"))
        .value(Alias::new("created"), Expr::val(Utc::now() - age))
        .and_where(Expr::col(Alias::new("token_hash")).eq(jhe_kdf::sha256_hex(token)));
    assert_eq!(db.execute(&update).await.unwrap().rows_affected(), 1);
}

async fn refresh_tokens_expire_after_the_default_lifetime(backend: Backend) {
    let app = spawn_seeded(backend).await;
    assert_eq!(app.config.lifetimes.refresh_token, 30 * 24 * 3600);
    let young = login_tokens(&app, MARY).await;
    let young = young["refresh_token"].as_str().unwrap();
    age_refresh_token(&app, young, Duration::days(29)).await;
    let (status, rotated) = refresh(&app, young, None).await;
    assert_eq!(status, 200, "{rotated}");
    // Each rotation starts a new lifetime.
    let rotated = rotated["refresh_token"].as_str().unwrap();
    age_refresh_token(&app, rotated, Duration::days(31)).await;
    let (status, body) = refresh(&app, rotated, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_description"], "The refresh token has expired.");
}

async fn refresh_token_lifetime_is_configurable(backend: Backend) {
    let app = spawn_seeded_with(backend, |c| c.lifetimes.refresh_token = 3600).await;
    let tokens = login_tokens(&app, MARY).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    age_refresh_token(&app, token, Duration::minutes(61)).await;
    assert_eq!(refresh(&app, token, None).await.0, 400);
    // 0 keeps the original's behaviour: never expire.
    let app = spawn_seeded_with(backend, |c| c.lifetimes.refresh_token = 0).await;
    let tokens = login_tokens(&app, MARY).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    age_refresh_token(&app, token, Duration::days(3650)).await;
    assert_eq!(refresh(&app, token, None).await.0, 200);
}

/// Posts one heart-rate Observation of `patient` with `token`; returns status and body.
async fn upload(app: &TestApp, token: &str, patient: i64) -> (u16, Value) {
    let resource = observation(
        patient,
        70001,
        OMH_SYSTEM,
        "omh:heart-rate:2.0",
        &heart_rate_bytes(61, "2025-03-01T08:00:00Z"),
    );
    let response = plain_client()
        .post(app.url("/fhir/r5/Observation"))
        .bearer_auth(token)
        .header("Content-Type", "application/fhir+json")
        .json(&resource)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Introspects `token` as a confidential client.
async fn introspect(app: &TestApp, token: &str) -> Value {
    let script = create_client(
        app,
        confidential_client(
            &format!("introspector-{}", uuid::Uuid::new_v4().simple()),
            "s3cret-value",
            "client-credentials",
            Some(MARY),
        ),
    )
    .await;
    plain_client()
        .post(app.url("/o/introspect/"))
        .basic_auth(&script.client_id, Some("s3cret-value"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn invitation_tokens_stay_in_the_patient_compartment(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "heartapp", true).await;
    let mary = bearer_for(&app, MARY).await;
    let (status, body) = request_link(&app, &mary, &format!("?application_id={}", client.id)).await;
    assert_eq!(status, 200, "{body}");
    let invitation = parse(body["invitationLink"].as_str().unwrap());
    let (status, tokens) = redeem(&app, &invitation, &callback_uri(&app)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], PATIENT_APP);
    let token = tokens["access_token"].as_str().unwrap();
    let introspected = introspect(&app, token).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["scope"], PATIENT_APP);

    // What the app is for: who am I, my consents, record a decision, upload, read back.
    assert_eq!(profile_status(&app, token).await, 200);
    let consents = format!("/api/v1/patients/{PETER_PATIENT}/consents");
    let (status, overview) = api_request(&app, Method::GET, &consents, Some(token), None).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["studiesPendingConsent"][0]["id"], 30002);
    let decision = json!({"studyScopeConsents": [{"studyId": 30002, "scopeConsents": [
        {"codingSystem": OMH_SYSTEM, "codingCode": "omh:blood-pressure:4.0", "consented": true}]}]});
    let (status, body) =
        api_request(&app, Method::POST, &consents, Some(token), Some(decision)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = upload(&app, token, PETER_PATIENT).await;
    assert_eq!(status, 201, "{body}");
    let (status, bundle) = api_request(
        &app,
        Method::GET,
        &format!("/fhir/r5/Observation?patient={PETER_PATIENT}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{bundle}");
    assert!(bundle["total"].as_u64().unwrap() >= 1, "{bundle}");

    // Nothing else: 403 naming the scope the route needs.
    for (method, path, body, needed) in [
        (
            Method::GET,
            "/api/v1/clients".to_string(),
            None,
            "user/Client.s",
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{PETER}"),
            Some(json!({"email": "thief@example.org"})),
            "user/User.u",
        ),
        (
            Method::GET,
            format!("{consents}?reset=true"),
            None,
            "patient/Consent.d user/Consent.d",
        ),
        (
            Method::GET,
            format!(
                "/api/v1/patients/{PETER_PATIENT}/invitation_link?application_id={}",
                client.id
            ),
            None,
            "user/Patient.u",
        ),
        (
            Method::GET,
            "/api/v1/jhe_settings".into(),
            None,
            "user/JheSetting.s",
        ),
        (Method::GET, "/api/v1/studies".into(), None, "user/Study.s"),
    ] {
        let (status, answer) = api_request(&app, method.clone(), &path, Some(token), body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needed), "{method} {path}: {answer}");
    }
    // The refused calls changed nothing.
    let (_, overview) = api_request(&app, Method::GET, &consents, Some(token), None).await;
    assert_eq!(overview["studiesPendingConsent"], json!([]), "{overview}");
    let peter = app.db.store.get_user(PETER).await.unwrap().unwrap();
    assert_eq!(peter.email, "peter@example.com");
    // The original's invitation token was the account's full power; a practitioner's full-role
    // token still reaches the same routes.
    let (status, _) = api_request(&app, Method::GET, "/api/v1/clients", Some(&mary), None).await;
    assert_eq!(status, 200);
    // Refreshing keeps the scope.
    let client_id = client.client_id.clone();
    let (status, _, refreshed) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], PATIENT_APP);
    // It cannot be widened either.
    let (status, _, refused) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
            ("client_id", &client_id),
            ("scope", "openid user/*.cruds"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"], "invalid_scope");
}

async fn narrower_scopes_are_honoured(backend: Backend) {
    let app = spawn_seeded(backend).await;
    // At the token endpoint: the code's full role narrowed to reading observations.
    let (code, verifier, client_id, redirect_uri) = code_for(&app, MARY).await;
    let (status, _, tokens) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
            ("scope", "user/Observation.rs"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "user/Observation.rs");
    assert!(tokens.get("id_token").is_none(), "no openid, no ID token");
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, token).await["scope"],
        "user/Observation.rs"
    );
    let (status, _) =
        api_request(&app, Method::GET, "/fhir/r5/Observation", Some(token), None).await;
    assert_eq!(status, 200);
    let (status, _) =
        api_request(&app, Method::GET, "/api/v1/observations", Some(token), None).await;
    assert_eq!(status, 200);
    let (status, body) = api_request(&app, Method::GET, "/api/v1/clients", Some(token), None).await;
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("user/Client.s"));
    assert_eq!(profile_status(&app, token).await, 403);
    // On FHIR the refusal is an OperationOutcome, with the RFC 6750 header.
    let response = plain_client()
        .post(app.url("/FHIR/R5/Observation"))
        .bearer_auth(token)
        .json(&json!({"resourceType": "Observation"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"patient/Observation.c user/Observation.c\""),
        "{challenge}"
    );
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "forbidden");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("patient/Observation.c")
    );
    // The refresh token keeps the narrowed scope and cannot widen it.
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&app, refresh_token, Some("openid user/Observation.rs")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = refresh(&app, refresh_token, Some("user/Observation.s")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "user/Observation.s");
    let (status, body) = refresh(&app, body["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["scope"], "user/Observation.rs",
        "narrowing one access token leaves the chain's scope (RFC 6749 §6)"
    );

    // At the authorization endpoint: the grant is the full role narrowed to the request.
    let cookie = login_session(&app, MARY).await;
    let (verifier, challenge) = pkce_pair();
    let response = authorize(
        &app,
        Some(&cookie),
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            (
                "scope",
                "openid user/Patient.read user/Observation.rs patient/Consent.r",
            ),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let code = location_query(&response).remove("code").unwrap();
    let (status, _, tokens) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        tokens["scope"], "openid user/Observation.rs user/Patient.rs",
        "patient/ scopes do not come out of a user's role"
    );
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(profile_status(&app, token).await, 200);
    let (status, _) = api_request(&app, Method::GET, "/api/v1/patients", Some(token), None).await;
    assert_eq!(status, 200);
    let (status, _) = api_request(&app, Method::GET, "/api/v1/studies", Some(token), None).await;
    assert_eq!(status, 403);
    // A portal login (`openid email`) keeps the full role.
    assert_eq!(login_tokens(&app, MARY).await["scope"], FULL);
}

async fn store_writes_are_targeted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let user = crate::store_crud::user(s, "t@example.org", None).await;
    let stale = s.get_user(user.id).await.unwrap().unwrap();
    assert!(s.set_password(user.id, "new-hash").await.unwrap());
    // A login recording its time cannot restore the old hash.
    let at = Utc::now();
    s.touch_last_login(user.id, at).await.unwrap();
    let fresh = s.get_user(user.id).await.unwrap().unwrap();
    assert_eq!(fresh.password, "new-hash");
    assert!(
        fresh
            .last_login
            .is_some_and(|t| (t - at).num_milliseconds().abs() < 1000)
    );
    // A rehash from a stale read is refused; one from the current hash applies.
    assert!(
        !s.upgrade_password_hash(user.id, &stale.password, "rehashed")
            .await
            .unwrap()
    );
    assert!(
        s.upgrade_password_hash(user.id, "new-hash", "rehashed")
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_user(user.id).await.unwrap().unwrap().password,
        "rehashed"
    );
    assert!(!s.set_password(999_999, "x").await.unwrap());
    assert!(!s.set_user_active(999_999, false).await.unwrap());
    assert!(s.set_user_active(user.id, false).await.unwrap());
    assert!(!s.get_user(user.id).await.unwrap().unwrap().is_active);
}

/// Invitation codes are stored only as a hash: no column of the grant holds the code.
async fn invitation_codes_are_stored_hashed(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client = partner_client(&app, "heartapp", true).await;
    let mary = bearer_for(&app, MARY).await;
    let (_, body) = request_link(&app, &mary, &format!("?application_id={}", client.id)).await;
    let invitation = parse(body["invitationLink"].as_str().unwrap());
    let db = app.db.store.connection();
    let backend_kind = db.get_database_backend();
    let columns_sql = match backend {
        Backend::Sqlite => "SELECT name AS c FROM pragma_table_info('oauth_grants')".to_string(),
        Backend::Postgres => "SELECT column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'oauth_grants'"
            .to_string(),
    };
    let columns: Vec<String> = db
        .query_all_raw(Statement::from_string(backend_kind, columns_sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "c").unwrap())
        .collect();
    assert!(columns.contains(&"code_hash".to_string()), "{columns:?}");
    for column in &columns {
        let sql = format!(
            r#"SELECT COUNT(*) AS n FROM "oauth_grants" WHERE CAST("{column}" AS TEXT) LIKE '%{}%'"#,
            invitation.code
        );
        let row = db
            .query_one_raw(Statement::from_string(backend_kind, sql))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get::<i64>("", "n").unwrap(),
            0,
            "{column} holds the code"
        );
    }
    let grant = app
        .db
        .store
        .find_grant(PETER, client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.code_hash, jhe_kdf::sha256_hex(&invitation.code));
}

/// Every `/api/v1` operation of the OpenAPI document has its own row in the scope table (none
/// falls back to the `user/*` default), and each row is a documented operation or a FHIR route.
#[test]
fn every_documented_route_has_a_scope() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut documented = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") {
            continue; // `/health`, `/ready`: no bearer token
        }
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let concrete = path.replace("{id}", "7");
            let row = jhe_core::http::scopes::route_scope(
                &Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                None,
            );
            let row = row.unwrap_or_else(|| panic!("{method} {path} has no scope row"));
            assert_eq!(row.path, path.as_str(), "{method} {path}");
            documented.push((method, path.clone()));
        }
    }
    for row in jhe_core::http::scopes::ROUTES {
        assert!(
            row.path.starts_with("/fhir/r5")
                || documented.contains(&(row.method.to_string(), row.path.to_string())),
            "{} {} is not a documented operation",
            row.method,
            row.path
        );
    }
    // The two named defaults are what the routes they govern need.
    assert!(GrantedScopes::full_role().has_openid());
    assert!(GrantedScopes::patient_app().is_patient_compartment_only());
}

both_backends! {
    password_change => password_change_revokes_tokens_and_sessions;
    password_reset => password_reset_revokes_tokens_and_sessions;
    deactivation => deactivation_revokes_tokens_and_sessions;
    replayed_code => replayed_code_revokes_its_tokens;
    refresh_default_lifetime => refresh_tokens_expire_after_the_default_lifetime;
    refresh_configured_lifetime => refresh_token_lifetime_is_configurable;
    invitation_scope => invitation_tokens_stay_in_the_patient_compartment;
    narrower_scopes => narrower_scopes_are_honoured;
    targeted_writes => store_writes_are_targeted;
    hashed_invitation_codes => invitation_codes_are_stored_hashed;
}
