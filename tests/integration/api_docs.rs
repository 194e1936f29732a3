//! `/api/docs`, the interactive API documentation you can try: Swagger UI (assets embedded)
//! that logs in through the real OAuth flow (authorization code + PKCE S256) with the docs'
//! own public client, whose redirect URI follows `SITE_URL`, and also takes a pasted token.
//! The browser half (a real headless chromium) is in `portal_browser.rs`.

use serde_json::Value;

use crate::accounts::login;
use crate::both_backends;
use crate::support::*;

const DOCS_CLIENT_ID: &str = "jhe-api-docs";

fn docs_redirect_uri(app: &TestApp) -> String {
    format!("{}/api/docs/oauth2-redirect.html", app.address)
}

/// The docs page is served from us (no CDN) and registers its client with the right redirect URI.
async fn docs_page_registers_its_client(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/api/docs", "/api/docs/"] {
        let page = app.get(path).await;
        assert_eq!(page.status(), 200, "{path}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("SwaggerUIBundle"),
            "{path}: Swagger UI embedded"
        );
        assert!(
            !html.contains("<script src=\"http"),
            "{path}: no script from elsewhere"
        );
        assert!(!html.contains("cdn"), "{path}: no CDN");
        assert!(
            html.contains(&format!("clientId: \"{DOCS_CLIENT_ID}\"")),
            "{path}"
        );
        assert!(
            html.contains("usePkceWithAuthorizationCodeGrant: true"),
            "{path}"
        );
        assert!(
            html.contains(&format!(
                "oauth2RedirectUrl: \"{}\"",
                docs_redirect_uri(&app)
            )),
            "{path}"
        );
    }
    use jhe_core::store::ClientStore;
    let client = app
        .db
        .store
        .get_client_by_client_id(DOCS_CLIENT_ID)
        .await
        .unwrap()
        .expect("the docs client is registered");
    assert_eq!(client.redirect_uris, docs_redirect_uri(&app));
    assert_eq!(client.client_type, "public");
    assert_eq!(client.name, jhe_core::domain::API_DOCS_CLIENT_NAME);

    // The redirect page is ours and hands the code to the opener.
    let redirect = app.get("/api/docs/oauth2-redirect.html").await;
    assert_eq!(redirect.status(), 200);
    assert!(
        redirect
            .text()
            .await
            .unwrap()
            .contains("swaggerUIRedirectOauth2")
    );
}

/// A database first served under another `SITE_URL`: the next docs page fixes the redirect URI.
async fn redirect_uri_follows_site_url(backend: Backend) {
    let app = spawn_seeded(backend).await;
    use jhe_core::store::ClientStore;
    assert_eq!(app.get("/api/docs").await.status(), 200);
    let mut client = app
        .db
        .store
        .get_client_by_client_id(DOCS_CLIENT_ID)
        .await
        .unwrap()
        .unwrap();
    client.redirect_uris = "http://localhost:1/api/docs/oauth2-redirect.html".into();
    app.db.store.update_client(&client).await.unwrap();
    assert_eq!(app.get("/api/docs/").await.status(), 200);
    let client = app
        .db
        .store
        .get_client_by_client_id(DOCS_CLIENT_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.redirect_uris, docs_redirect_uri(&app));
    // The name is reserved in the Admin API.
    let sam = bearer_for(&app, seeded::SUPERUSER).await;
    let (status, body) = api_request(
        &app,
        reqwest::Method::POST,
        "/api/v1/clients",
        Some(&sam),
        Some(serde_json::json!({"name": "JHE API docs", "clientId": "x-docs", "invitationUrl": "https://x.example/i?code=CODE", "codeVerifier": jhe_kdf::random_token(43)})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["name"].to_string().contains("reserved"), "{body}");
}

/// The docs client's flow, as Swagger UI runs it: PKCE is required, the code is exchanged for
/// a token that the API accepts; another redirect URI is refused.
async fn docs_client_flow_requires_pkce(backend: Backend) {
    let app = spawn_seeded(backend).await;
    assert_eq!(app.get("/api/docs").await.status(), 200);
    assert_eq!(
        login(&app, "mary@example.com", "Jhe1234!").await.status(),
        302
    );
    let cookie = session_cookie_of(&app);
    let redirect_uri = docs_redirect_uri(&app);
    let base = [
        ("response_type", "code"),
        ("client_id", DOCS_CLIENT_ID),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", "openid email"),
        ("state", "docs"),
    ];
    // Without PKCE: an error, never a code.
    let r = authorize(&app, Some(&cookie), &base).await;
    let query = if r.status() == 302 {
        location_query(&r)
    } else {
        Default::default()
    };
    assert!(
        !query.contains_key("code"),
        "a code without PKCE: {query:?}"
    );
    // Another redirect URI: refused.
    let (verifier, challenge) = pkce_pair();
    let mut elsewhere = base.to_vec();
    elsewhere[2] = ("redirect_uri", "http://evil.example/cb");
    elsewhere.push(("code_challenge", &challenge));
    elsewhere.push(("code_challenge_method", "S256"));
    let r = authorize(&app, Some(&cookie), &elsewhere).await;
    assert_eq!(r.status(), 400);
    // With PKCE S256: a code, redeemed for a working token.
    let mut good = base.to_vec();
    good.push(("code_challenge", &challenge));
    good.push(("code_challenge_method", "S256"));
    let r = authorize(&app, Some(&cookie), &good).await;
    assert_eq!(r.status(), 302);
    assert!(location(&r).starts_with(&redirect_uri), "{}", location(&r));
    let query = location_query(&r);
    assert_eq!(query["state"], "docs");
    let (status, _, tokens) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", &redirect_uri),
            ("client_id", DOCS_CLIENT_ID),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
    let profile: Value = bearer_get(&app, "/api/v1/users/profile", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["email"], "mary@example.com");
}

both_backends! {
    docs_page => docs_page_registers_its_client;
    site_url => redirect_uri_follows_site_url;
    pkce => docs_client_flow_requires_pkce;
}
