//! Token exchange (`POST /o/token-exchange`, auth.md §7) against a real second HTTP server playing
//! the trusted identity provider.

use jhe_core::domain::{SettingValue, keys};
use jhe_core::store::{SettingStore, UserStore};
use poem::http::StatusCode;
use poem::web::Json;
use poem::{Request, Response, Route, handler};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::*;

const MARY: i64 = 10002;
const PETER: i64 = 10006;
const TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

fn bearer_of(req: &Request) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string()
}

fn base_of(req: &Request) -> String {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let prefix = req.uri().path().split('/').nth(1).unwrap_or_default();
    format!("http://{host}/{prefix}")
}

/// `/userinfo-idp/...`: an IdP with a userinfo endpoint.
#[handler]
fn userinfo_discovery(req: &Request) -> Json<Value> {
    let base = base_of(req);
    Json(json!({"issuer": base, "userinfo_endpoint": format!("{base}/userinfo")}))
}

#[handler]
fn userinfo(req: &Request) -> Response {
    let body = match bearer_of(req).as_str() {
        "practitioner-token" => json!({"sub": "ext-mary", "name": "Mary"}),
        "patient-token" => json!({"sub": "ext-peter"}),
        "nosub-token" => json!({"name": "nobody"}),
        _ => {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .finish();
        }
    };
    Response::builder()
        .content_type("application/json")
        .body(body.to_string())
}

/// `/introspection-idp/...`: an IdP with only an introspection endpoint (SMART style).
#[handler]
fn introspection_discovery(req: &Request) -> Json<Value> {
    let base = base_of(req);
    Json(json!({"issuer": base, "introspection_endpoint": format!("{base}/introspect")}))
}

#[handler]
async fn introspect(req: &Request, body: String) -> Json<Value> {
    let token = body.strip_prefix("token=").unwrap_or_default().to_string();
    assert_eq!(
        bearer_of(req),
        token,
        "the subject token is also sent as bearer"
    );
    Json(match token.as_str() {
        "practitioner-token" => json!({"active": true, "fhirUser": "Practitioner/ext-mary"}),
        _ => json!({"active": false}),
    })
}

#[handler]
fn broken() -> Response {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .finish()
}

#[handler]
fn nothing() -> Json<Value> {
    Json(json!({"issuer": "x"}))
}

/// Starts the fake identity provider; returns its origin.
async fn spawn_idp() -> String {
    use poem::listener::{Acceptor, Listener};
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .unwrap();
    let app = Route::new()
        .at(
            "/userinfo-idp/.well-known/openid-configuration",
            poem::get(userinfo_discovery),
        )
        .at("/userinfo-idp/userinfo", poem::get(userinfo))
        .at(
            "/introspection-idp/.well-known/openid-configuration",
            poem::get(introspection_discovery),
        )
        .at("/introspection-idp/introspect", poem::post(introspect))
        .at(
            "/broken-idp/.well-known/openid-configuration",
            poem::get(broken),
        )
        .at(
            "/empty-idp/.well-known/openid-configuration",
            poem::get(nothing),
        );
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    format!("http://127.0.0.1:{port}")
}

async fn exchange(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let response = plain_client()
        .post(app.url("/o/token-exchange"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    (status, response.json().await.unwrap())
}

fn form<'a>(audience: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", GRANT_TYPE),
        ("subject_token", token),
        ("subject_token_type", TOKEN_TYPE),
        ("requested_token_type", TOKEN_TYPE),
        ("audience", audience),
    ]
}

async fn set_identifier(app: &TestApp, user_id: i64, identifier: &str) {
    let mut user = app.db.store.get_user(user_id).await.unwrap().unwrap();
    user.identifier = identifier.into();
    app.db.store.update_user(&user).await.unwrap();
}

async fn token_exchange_with_a_trusted_idp(backend: Backend) {
    let idp = spawn_idp().await;
    let trusted = format!("{idp}/userinfo-idp");
    let app = spawn_seeded_with(backend, |c| c.trusted_token_idp = Some(trusted.clone())).await;
    set_identifier(&app, MARY, "ext-mary").await;
    set_identifier(&app, PETER, "ext-peter").await;
    let site = app.address.clone();

    // Success: the token works on the API.
    let (status, body) = exchange(&app, &form(&site, "practitioner-token")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    // The practitioner's full role, as a portal login (the original said `openid`).
    assert_eq!(body["scope"], "openid user/*.cruds");
    assert_eq!(body["expires_in"], 1_209_600);
    assert!(body.get("refresh_token").is_none());
    let access = body["access_token"].as_str().unwrap();
    let profile: Value = bearer_get(&app, "/api/v1/users/profile", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["id"], MARY);
    // An explicit scope=openid and a trailing slash on the audience are fine.
    let slashed = format!("{site}/");
    let mut with_scope = form(&slashed, "practitioner-token");
    with_scope.push(("scope", "openid"));
    assert_eq!(exchange(&app, &with_scope).await.0, 200);

    // Missing arguments, in the original's order.
    let (status, body) = exchange(&app, &[]).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "Missing required argument: audience"}))
    );
    let (status, body) = exchange(&app, &[("audience", site.as_str())]).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "Missing required argument: requested_token_type"})
        )
    );
    let mut missing = form(&site, "practitioner-token");
    missing.retain(|(k, _)| *k != "grant_type");
    assert_eq!(
        exchange(&app, &missing).await,
        (
            400,
            json!({"error": "Missing required argument: grant_type"})
        )
    );
    // Wrong values.
    let mut wrong = form(&site, "practitioner-token");
    wrong[0] = ("grant_type", "authorization_code");
    assert_eq!(
        exchange(&app, &wrong).await,
        (
            400,
            json!({"error": format!("grant_type must be {GRANT_TYPE}, not authorization_code")})
        )
    );
    let mut wrong = form(&site, "practitioner-token");
    wrong[2] = ("subject_token_type", "id_token");
    assert_eq!(
        exchange(&app, &wrong).await,
        (
            400,
            json!({"error": format!("subject_token_type must be {TOKEN_TYPE}, not id_token")})
        )
    );
    assert_eq!(
        exchange(&app, &form("https://jhe", "practitioner-token")).await,
        (
            400,
            json!({"error": format!("audience must be {site}, not https://jhe")})
        )
    );
    let mut wrong = form(&site, "practitioner-token");
    wrong.push(("scope", "email"));
    assert_eq!(
        exchange(&app, &wrong).await,
        (
            400,
            json!({"error": "Only 'openid' scope is supported, not email"})
        )
    );

    // The IdP does not know the token.
    assert_eq!(
        exchange(&app, &form(&site, "stolen-token")).await,
        (
            400,
            json!({"error": format!("Token not found in {trusted}")})
        )
    );
    // The IdP's user is a patient here: no practitioner.
    assert_eq!(
        exchange(&app, &form(&site, "patient-token")).await,
        (
            404,
            json!({"error": "Practitioner not found for ext-peter"})
        )
    );
    // No `sub` in the userinfo.
    let (status, _) = exchange(&app, &form(&site, "nosub-token")).await;
    assert_eq!(status, 500);

    // The setting overrides the environment: an introspection-only IdP.
    let introspection = format!("{idp}/introspection-idp");
    app.db
        .store
        .upsert_setting(
            keys::TRUSTED_TOKEN_IDP,
            None,
            SettingValue::String(introspection.clone()),
        )
        .await
        .unwrap();
    let (status, body) = exchange(&app, &form(&site, "practitioner-token")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        exchange(&app, &form(&site, "other-token")).await,
        (
            400,
            json!({"error": format!("Token not found in {introspection}")})
        )
    );
    // An IdP that fails or offers no endpoint.
    for (idp_path, message) in [
        ("broken-idp", "Error retrieving user info for access token"),
        ("empty-idp", "Error retrieving user info for access token"),
    ] {
        app.db
            .store
            .upsert_setting(
                keys::TRUSTED_TOKEN_IDP,
                None,
                SettingValue::String(format!("{idp}/{idp_path}")),
            )
            .await
            .unwrap();
        assert_eq!(
            exchange(&app, &form(&site, "practitioner-token")).await,
            (500, json!({"error": message}))
        );
    }
    // An unreachable IdP is reported the same way, not as a crash.
    app.db
        .store
        .upsert_setting(
            keys::TRUSTED_TOKEN_IDP,
            None,
            SettingValue::String("http://127.0.0.1:9".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        exchange(&app, &form(&site, "practitioner-token")).await.0,
        500
    );
    // GET is not allowed.
    assert_eq!(app.get("/o/token-exchange").await.status(), 405);
}

async fn token_exchange_not_configured(backend: Backend) {
    let app = spawn_app(backend).await;
    let site = app.address.clone();
    assert_eq!(
        exchange(&app, &form(&site, "practitioner-token")).await,
        (400, json!({"error": "Token exchange is not configured."}))
    );
}

both_backends! {
    with_trusted_idp => token_exchange_with_a_trusted_idp;
    not_configured => token_exchange_not_configured;
}
