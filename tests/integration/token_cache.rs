//! The bearer-token cache (`JHE_TOKEN_CACHE_SECS`, issue #14): a cached token skips the
//! database, yet revocation on this process applies to the very next request, expiry is honoured
//! exactly, and with the cache off (the default) every request verifies in the database.

use jhe_core::store::OAuthStore;
use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

const PROFILE: &str = "/api/v1/users/profile";

async fn status(app: &TestApp, token: &str) -> u16 {
    bearer_get(app, PROFILE, token).await.status().as_u16()
}

/// Statements run by one authenticated request.
async fn statements(app: &TestApp, token: &str) -> (u16, u64) {
    let before = app.db.statement_count();
    let status = status(app, token).await;
    (status, app.db.statement_count() - before)
}

/// A token of `user_id` expiring `seconds` from now.
async fn token_expiring(app: &TestApp, user_id: i64, seconds: i64) -> String {
    let token = jhe_kdf::random_token(30);
    app.db
        .store
        .create_access_token(jhe_core::domain::NewAccessToken {
            token_hash: jhe_kdf::sha256_hex(&token),
            user_id: Some(user_id),
            application_id: None,
            expires: chrono::Utc::now() + chrono::Duration::seconds(seconds),
            scope: jhe_core::domain::GrantedScopes::full_role().to_string(),
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await
        .unwrap();
    token
}

async fn cached_tokens_skip_the_database_and_revocation_is_immediate(backend: Backend) {
    let app = spawn_seeded_with(backend, |c| c.token_cache_secs = 300).await;
    let mary = bearer_for(&app, seeded::MANAGER).await;
    let (first, cold) = statements(&app, &mary).await;
    assert_eq!(first, 200);
    let (second, warm) = statements(&app, &mary).await;
    assert_eq!(second, 200);
    assert!(
        warm < cold,
        "a cached token verifies without the token, user and profile queries ({warm} vs {cold})"
    );

    // RFC 7009 revocation through /o/revoke_token/: the next request is refused.
    let client_id = admin_ui_client_id(&app).await;
    let tokens = login_tokens(&app, seeded::MANAGER).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(status(&app, access).await, 200);
    assert_eq!(status(&app, access).await, 200);
    let revoke = plain_client()
        .post(app.url("/o/revoke_token/"))
        .form(&[("token", access), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    assert_eq!(
        status(&app, access).await,
        401,
        "revoked, even though cached"
    );

    // Deactivating the account (Admin API): its cached token stops at once.
    let superuser = bearer_for(&app, seeded::SUPERUSER).await;
    let megan = bearer_for(&app, seeded::MEMBER).await;
    assert_eq!(status(&app, &megan).await, 200);
    let (code, body) = api_request(
        &app,
        Method::PATCH,
        &format!("/api/v1/users/{}", seeded::MEMBER),
        Some(&superuser),
        Some(json!({"isActive": false})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(status(&app, &megan).await, 401);

    // Deleting the account: likewise.
    let victor = bearer_for(&app, seeded::VIEWER).await;
    assert_eq!(status(&app, &victor).await, 200);
    let (code, body) = api_request(
        &app,
        Method::DELETE,
        &format!("/api/v1/users/{}", seeded::VIEWER),
        Some(&superuser),
        None,
    )
    .await;
    assert!(code == 204 || code == 200, "{code} {body}");
    assert_eq!(status(&app, &victor).await, 401);

    // Expiry is checked on every hit, not when the cache entry ages out.
    let short = token_expiring(&app, seeded::MANAGER, 2).await;
    assert_eq!(status(&app, &short).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let expired = bearer_get(&app, PROFILE, &short).await;
    assert_eq!(expired.status(), 401);
    assert!(
        expired.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("expired"),
        "{:?}",
        expired.headers()["www-authenticate"]
    );
}

async fn without_the_cache_every_request_verifies(backend: Backend) {
    let app = spawn_seeded(backend).await;
    assert_eq!(app.config.core.token_cache_secs, 0, "off by default");
    let mary = bearer_for(&app, seeded::MANAGER).await;
    let (first, cold) = statements(&app, &mary).await;
    let (second, again) = statements(&app, &mary).await;
    assert_eq!((first, second), (200, 200));
    assert_eq!(
        again, cold,
        "the token is verified in the database every time"
    );
    let client_id = admin_ui_client_id(&app).await;
    let tokens = login_tokens(&app, seeded::MANAGER).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(status(&app, access).await, 200);
    let revoke = plain_client()
        .post(app.url("/o/revoke_token/"))
        .form(&[("token", access), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    assert_eq!(status(&app, access).await, 401);
}

both_backends! {
    token_cache_on => cached_tokens_skip_the_database_and_revocation_is_immediate;
    token_cache_off => without_the_cache_every_request_verifies;
}
