//! Operations of the default server, in process on both databases: the sweeper of expired rows
//! (safe when replicas sweep at once), the portal client following `SITE_URL`, request ids.

use chrono::{Duration, Utc};
use jhe::ServerConfig;
use jhe_core::domain::{ADMIN_UI_CLIENT_NAME, Session};
use jhe_core::services::seed::{NoProgress, seed};
use jhe_core::store::{ClientStore, SessionStore, SsoStore};

use crate::both_backends;
use crate::support::{Backend, TestDb, spawn_app};

both_backends! {
    sweeper_deletes_only_expired_rows => sweeper_deletes_only_expired_rows;
    portal_client_follows_site_url => portal_client_follows_site_url;
    request_ids_are_answered => request_ids_are_answered;
}

fn config_for(db: &TestDb) -> ServerConfig {
    ServerConfig {
        database_url: db.url.clone(),
        mail: jhe::plugins::MailConfig {
            smtp: None,
            dir: std::env::temp_dir().join("jhe_mail_operations"),
        },
        ..ServerConfig::default()
    }
}

fn session(id: &str, expires: chrono::DateTime<Utc>) -> Session {
    let now = Utc::now();
    Session {
        id: id.into(),
        user_id: None,
        data: serde_json::json!({}),
        expires,
        created: now,
        updated: now,
    }
}

async fn sweeper_deletes_only_expired_rows(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let now = Utc::now();
    let store = &db.store;
    store
        .put_session(&session("expired-session", now - Duration::hours(1)))
        .await
        .unwrap();
    store
        .put_session(&session("live-session", now + Duration::hours(1)))
        .await
        .unwrap();
    store
        .record_login_attempt("account:old@example.org", false, now - Duration::days(2))
        .await
        .unwrap();
    store
        .record_login_attempt("account:new@example.org", false, now)
        .await
        .unwrap();
    // Markers claimed two hours ago: one has expired since, one is still live.
    let then = now - Duration::hours(2);
    assert!(
        store
            .claim_once("saml:new", now + Duration::hours(1), then)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_once("saml:old", now - Duration::minutes(1), then)
            .await
            .unwrap()
    );

    // Two replicas sweeping at the same moment: each row goes once, nothing fails.
    let (a, b) = tokio::join!(
        jhe::sweeper::sweep(store, &config, now),
        jhe::sweeper::sweep(store, &config, now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sessions + b.sessions, 1, "{a:?} {b:?}");
    assert_eq!(a.login_attempts + b.login_attempts, 1, "{a:?} {b:?}");
    assert_eq!(a.sso + b.sso, 1, "{a:?} {b:?}");
    let again = jhe::sweeper::sweep(store, &config, now).await.unwrap();
    assert_eq!(again.total(), 0, "{again:?}");

    assert!(
        store
            .get_session("live-session", now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .count_failed_logins("account:new@example.org", now - Duration::minutes(5))
            .await
            .unwrap(),
        1
    );
    assert!(
        !store
            .claim_once("saml:new", now + Duration::hours(1), now)
            .await
            .unwrap(),
        "a live replay marker survives the sweep"
    );
}

async fn portal_client_follows_site_url(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = config_for(&db);
    seed(&db.store, &first, false, &NoProgress).await.unwrap();
    let redirect = || async {
        db.store
            .get_client_by_name(ADMIN_UI_CLIENT_NAME)
            .await
            .unwrap()
            .unwrap()
            .redirect_uris
    };
    assert_eq!(redirect().await, "http://localhost:8000/auth/callback");

    // The same database served on another port: the seeded redirect URI follows.
    let mut moved = first.clone();
    moved.set_bind("8125", false).unwrap();
    jhe::prepare_to_serve(&db.store, &moved, &NoProgress)
        .await
        .unwrap();
    assert_eq!(redirect().await, "http://127.0.0.1:8125/auth/callback");

    // Redirect URIs an administrator chose are left alone.
    let mut client = db
        .store
        .get_client_by_name(ADMIN_UI_CLIENT_NAME)
        .await
        .unwrap()
        .unwrap();
    client.redirect_uris =
        "https://portal.example.org/auth/callback https://other.example.org/cb".into();
    db.store.update_client(&client).await.unwrap();
    assert!(!jhe::follow_site_url(&db.store, &first).await.unwrap());
    assert_eq!(
        redirect().await,
        "https://portal.example.org/auth/callback https://other.example.org/cb"
    );
}

async fn request_ids_are_answered(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(format!("{}/health", app.address))
        .header("X-Request-Id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc.123");
    // An unusable id (too long) is replaced by a generated one.
    let response = app
        .client
        .get(format!("{}/health", app.address))
        .header("X-Request-Id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    // Errors carry one too.
    let response = app.get("/no/such/path").await;
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-request-id"));
}
