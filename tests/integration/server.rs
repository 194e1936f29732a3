//! The HTTP server itself: health, readiness, OpenAPI, security headers.

use crate::both_backends;
use crate::support::{Backend, spawn_app};

async fn health_answers_without_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "SAMEORIGIN");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let version = body["version"].as_str().unwrap();
    assert!(
        version.starts_with('v') && version[1..].split('.').count() == 3,
        "{version}"
    );
}

async fn ready_checks_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok", "database": "ok"}));
    // With the database gone, /ready says so (and /health still answers).
    app.db.store.connection().clone().close().await.unwrap();
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    assert_eq!(app.get("/health").await.status(), 200);
}

async fn openapi_document_is_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/schema/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/health"]["get"].is_object());
    assert!(doc["paths"]["/ready"]["get"].is_object());
    let docs = app.get("/api/docs/").await;
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );
}

async fn unknown_paths_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/no/such/path").await.status(), 404);
}

both_backends! {
    health => health_answers_without_the_database;
    ready => ready_checks_the_database;
    openapi => openapi_document_is_served;
    not_found => unknown_paths_are_404;
}

#[tokio::test]
async fn signing_key_is_generated_once_and_shared() {
    use jhe_core::store::OAuthStore;
    let app = spawn_app(Backend::Sqlite).await;
    let keys = app.db.store.list_signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].active);
    // A second server on the same database (a replica) reuses the key.
    let second = jhe::assemble(app.config.clone(), app.db.second_store().await).unwrap();
    second.prepare().await.unwrap();
    let again = app.db.store.list_signing_keys().await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].kid, keys[0].kid);
}

#[tokio::test]
async fn configured_signing_key_becomes_active() {
    use jhe_core::store::OAuthStore;
    let pem = jhe_core::services::keys::generate_private_key().unwrap();
    let (_, public) = jhe_core::services::keys::load_private_key(&pem).unwrap();
    let app = spawn_app(Backend::Sqlite).await;
    let generated = app.db.store.list_signing_keys().await.unwrap()[0]
        .kid
        .clone();
    let mut config = app.config.clone();
    config.oidc_rsa_private_key = Some(pem);
    let server = jhe::assemble(config, app.db.store.clone()).unwrap();
    server.prepare().await.unwrap();
    let keys = app.db.store.list_signing_keys().await.unwrap();
    assert_eq!(
        keys[0].kid, public.kid,
        "the configured key is active and listed first"
    );
    assert!(keys[0].active);
    let old = keys.iter().find(|k| k.kid == generated).unwrap();
    assert!(
        !old.active && old.retired.is_some(),
        "the generated key is retired but kept"
    );
}
