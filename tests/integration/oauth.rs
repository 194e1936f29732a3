//! The OAuth 2.0 / OpenID Connect authorization server: authorization code + PKCE, tokens,
//! refresh rotation, revocation, introspection, userinfo, discovery, JWKS, bearer authentication.

use jhe_core::domain::{NewOAuthClient, OAuthClient};
use jhe_core::store::{ClientStore, OAuthStore};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::*;

const MARY: i64 = 10002;
const PETER: i64 = 10006;

pub async fn create_client(app: &TestApp, new: NewOAuthClient) -> OAuthClient {
    app.db.store.create_client(new).await.unwrap()
}

fn public_client(client_id: &str, redirect_uri: &str, skip: bool) -> NewOAuthClient {
    NewOAuthClient {
        id: None,
        client_id: client_id.into(),
        redirect_uris: redirect_uri.into(),
        client_type: "public".into(),
        authorization_grant_type: "authorization-code".into(),
        client_secret: String::new(),
        name: format!("Client {client_id}"),
        user_id: None,
        skip_authorization: skip,
        algorithm: "RS256".into(),
    }
}

pub fn confidential_client(
    client_id: &str,
    secret: &str,
    grant: &str,
    owner: Option<i64>,
) -> NewOAuthClient {
    NewOAuthClient {
        id: None,
        client_id: client_id.into(),
        redirect_uris: "https://conf.example.org/cb".into(),
        client_type: "confidential".into(),
        authorization_grant_type: grant.into(),
        client_secret: jhe_kdf::hash_password(secret).unwrap(),
        name: format!("Confidential {client_id}"),
        user_id: owner,
        skip_authorization: true,
        algorithm: "RS256".into(),
    }
}

/// A code for `user` through the Admin UI client; returns (code, verifier, client_id, redirect).
pub async fn code_for(app: &TestApp, user: i64) -> (String, String, String, String) {
    let cookie = login_session(app, user).await;
    let client_id = admin_ui_client_id(app).await;
    let redirect_uri = callback_uri(app);
    let (verifier, challenge) = pkce_pair();
    let response = authorize(
        app,
        Some(&cookie),
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            ("state", "xyz"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let code = location_query(&response).remove("code").unwrap();
    (code, verifier, client_id, redirect_uri)
}

fn assert_oauth_error(
    status: reqwest::StatusCode,
    body: &Value,
    expected_status: u16,
    error: &str,
) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
}

async fn authorization_code_flow(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let cookie = login_session(&app, MARY).await;
    let client_id = admin_ui_client_id(&app).await;
    let redirect_uri = callback_uri(&app);
    let (verifier, challenge) = pkce_pair();
    // The portal's request (oidc-client-ts): response_mode=query, scope openid, a nonce.
    let response = authorize(
        &app,
        Some(&cookie),
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", "openid email"),
            ("state", "portal-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("response_mode", "query"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{redirect_uri}?code=")),
        "{location}"
    );
    let query = location_query(&response);
    assert_eq!(query["state"], "portal-state");
    let code = &query["code"];
    assert_eq!(code.len(), 30);
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()));

    let (status, headers, tokens) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 1_209_600);
    assert_eq!(tokens["scope"], "openid email user/*.cruds");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(access.len(), 30);
    assert_eq!(refresh.len(), 30);
    assert!(tokens["id_token"].as_str().unwrap().split('.').count() == 3);
    // Stored hashed, never in clear.
    let stored = app
        .db
        .store
        .get_access_token(&jhe_kdf::sha256_hex(&access))
        .await
        .unwrap()
        .expect("stored by hash");
    assert_eq!(stored.user_id, Some(MARY));
    assert!(
        app.db
            .store
            .get_access_token(&access)
            .await
            .unwrap()
            .is_none()
    );

    // The bearer token authenticates the API.
    let profile = bearer_get(&app, "/api/v1/users/profile", &access).await;
    assert_eq!(profile.status(), 200);
    let profile: Value = profile.json().await.unwrap();
    assert_eq!(
        profile,
        json!({"id": MARY, "email": "mary@example.com", "firstName": "Mary", "lastName": "Swanson",
               "patient": null, "userType": "practitioner", "isSuperuser": false})
    );

    // Refresh: rotation.
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
    assert_eq!(refreshed["scope"], "openid email user/*.cruds");
    assert!(
        refreshed["id_token"].is_string(),
        "an ID token on refresh too"
    );
    let access2 = refreshed["access_token"].as_str().unwrap().to_string();
    let refresh2 = refreshed["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(access2, access);
    assert_ne!(refresh2, refresh);
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &access)
            .await
            .status(),
        401,
        "the rotated access token is gone"
    );
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &access2)
            .await
            .status(),
        200
    );
    // The old refresh token is rejected, and its reuse revokes the whole chain.
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", &access2)
            .await
            .status(),
        401,
        "reuse of a rotated refresh token revokes the family"
    );
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh2),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_grant");

    // Revocation (RFC 7009) of a fresh pair.
    let tokens = login_tokens(&app, MARY).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", access)
            .await
            .status(),
        200
    );
    let revoke = plain_client()
        .post(app.url("/o/revoke_token/"))
        .form(&[("token", access), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    assert_eq!(revoke.text().await.unwrap(), "");
    let rejected = bearer_get(&app, "/api/v1/users/profile", access).await;
    assert_eq!(rejected.status(), 401);
    assert_eq!(
        rejected.headers()["www-authenticate"],
        "Bearer realm=\"api\",error=\"invalid_token\",error_description=\"The access token is invalid.\""
    );
    let revoke = plain_client()
        .post(app.url("/o/revoke_token"))
        .form(&[
            ("token", refresh),
            ("token_type_hint", "refresh_token"),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let (status, _, body) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    // Unknown tokens: 200; unknown client: 401 invalid_client.
    let unknown = plain_client()
        .post(app.url("/o/revoke_token/"))
        .form(&[("token", "nope"), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 200);
    let bad_client = plain_client()
        .post(app.url("/o/revoke_token/"))
        .form(&[("token", "nope"), ("client_id", "who")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_client.status(), 401);
    let body: Value = bad_client.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

async fn anonymous_users_go_to_the_login_page(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client_id = admin_ui_client_id(&app).await;
    let (_, challenge) = pkce_pair();
    let redirect_uri = callback_uri(&app);
    let response = authorize(
        &app,
        None,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/accounts/login/?next="), "{location}");
    let next = location_query(&response).remove("next").unwrap();
    assert!(
        next.starts_with("/o/authorize/?response_type=code&client_id="),
        "{next}"
    );
    assert!(next.contains(&challenge));
    // prompt=none reports login_required to the client instead.
    let response = authorize(
        &app,
        None,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    assert_eq!(location_query(&response)["error"], "login_required");
}

async fn authorization_errors(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let cookie = login_session(&app, MARY).await;
    let client_id = admin_ui_client_id(&app).await;
    let redirect_uri = callback_uri(&app);
    let (_, challenge) = pkce_pair();
    let base = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client_id.clone()),
            ("redirect_uri".into(), redirect_uri.clone()),
            ("state".into(), "st8".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        pairs
    };
    async fn call(app: &TestApp, cookie: &str, pairs: &[(String, String)]) -> reqwest::Response {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        authorize(app, Some(cookie), &refs).await
    }

    // Missing challenge: redirected with the original's message.
    let response = call(&app, &cookie, &base(&[])).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!(
            "{redirect_uri}?error=invalid_request&error_description=Code+challenge+required.&state=st8"
        )
    );
    // plain is refused: only S256.
    let response = call(
        &app,
        &cookie,
        &base(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", "plain"),
        ]),
    )
    .await;
    let q = location_query(&response);
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("S256"), "{q:?}");
    assert_eq!(q["state"], "st8");
    // No method at all (RFC 7636 default "plain") is refused too.
    let response = call(&app, &cookie, &base(&[("code_challenge", &challenge)])).await;
    assert_eq!(location_query(&response)["error"], "invalid_request");
    // Unknown scope.
    let response = call(
        &app,
        &cookie,
        &base(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid telepathy"),
        ]),
    )
    .await;
    assert_eq!(location_query(&response)["error"], "invalid_scope");
    // Unsupported response type.
    let response = call(
        &app,
        &cookie,
        &base(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("response_type", "token"),
        ]),
    )
    .await;
    assert_eq!(
        location_query(&response)["error"],
        "unsupported_response_type"
    );
    // Redirect URI mismatch and unknown client: an error page, never a redirect.
    for extra in [
        vec![("redirect_uri", "https://evil.example.org/cb")],
        vec![("redirect_uri", "")],
        vec![("client_id", "no-such-client")],
    ] {
        let mut pairs = base(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        let response = call(&app, &cookie, &pairs).await;
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("Authorization error"), "{html}");
    }

    // Token endpoint: PKCE, reuse, redirect URI, expiry.
    let token = |code: String, verifier: Option<String>, redirect: String| {
        let client_id = client_id.clone();
        let app = &app;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code),
                ("redirect_uri", redirect),
                ("client_id", client_id),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_request(app, &refs).await
        }
    };
    // Wrong verifier: invalid_grant, and the code is burnt.
    let (code, verifier, _, _) = code_for(&app, MARY).await;
    let (s, _, b) = token(code.clone(), Some(pkce_pair().0), redirect_uri.clone()).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    let (s, _, b) = token(code, Some(verifier), redirect_uri.clone()).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    // Missing verifier: invalid_request.
    let (code, _, _, _) = code_for(&app, MARY).await;
    let (s, _, b) = token(code, None, redirect_uri.clone()).await;
    assert_oauth_error(s, &b, 400, "invalid_request");
    // Malformed verifier.
    let (code, _, _, _) = code_for(&app, MARY).await;
    let (s, _, b) = token(code, Some("short".into()), redirect_uri.clone()).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    // Reused code.
    let (code, verifier, _, _) = code_for(&app, MARY).await;
    let (s, _, _) = token(code.clone(), Some(verifier.clone()), redirect_uri.clone()).await;
    assert_eq!(s, 200);
    let (s, _, b) = token(code, Some(verifier), redirect_uri.clone()).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    // Redirect URI mismatch at the token endpoint.
    let (code, verifier, _, _) = code_for(&app, MARY).await;
    let (s, _, b) = token(code, Some(verifier), format!("{redirect_uri}/other")).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    // A code of another client.
    let other = create_client(&app, public_client("other-app", &redirect_uri, true)).await;
    let (code, verifier, _, _) = code_for(&app, MARY).await;
    let (s, _, b) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &other.client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
}

async fn expired_codes_are_refused(backend: Backend) {
    let app = spawn_seeded_with(backend, |c| c.lifetimes.authorization_code = 0).await;
    let (code, verifier, client_id, redirect_uri) = code_for(&app, MARY).await;
    let (s, _, b) = token_request(
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
    assert_oauth_error(s, &b, 400, "invalid_grant");
}

async fn token_endpoint_never_fails_with_500(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let client_id = admin_ui_client_id(&app).await;
    let http = plain_client();
    let post = |body: reqwest::Body, content_type: &'static str| {
        let request = http
            .post(app.url("/o/token/"))
            .header("Content-Type", content_type)
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let garbage: Vec<(reqwest::Body, &str)> = vec![
        (reqwest::Body::from(""), "application/x-www-form-urlencoded"),
        (
            reqwest::Body::from(vec![0xff_u8, 0xfe, 0x00, 0x25, 0x26, 0x3d]),
            "application/x-www-form-urlencoded",
        ),
        (
            reqwest::Body::from("{\"grant_type\": \"authorization_code\"}"),
            "application/json",
        ),
        (
            reqwest::Body::from("%%%&&&==="),
            "application/x-www-form-urlencoded",
        ),
        (
            reqwest::Body::from("a".repeat(200_000)),
            "application/x-www-form-urlencoded",
        ),
    ];
    for (body, content_type) in garbage {
        let (status, body) = post(body, content_type).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("client_id", &client_id)], 400, "invalid_request"),
        (
            vec![("grant_type", "magic"), ("client_id", &client_id)],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "%ZZ\u{0}")],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "unknown"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "authorization_code")],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![("grant_type", "refresh_token"), ("client_id", &client_id)],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
                ("client_id", &client_id),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("client_id", &client_id),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", &client_id),
                ("username", "mary@example.com"),
                ("password", "Jhe1234!"),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "implicit"), ("client_id", &client_id)],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &client_id),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "CLIENT_CREDENTIALS"),
                ("client_id", &client_id),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
            ],
            400,
            "unauthorized_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
            ],
            400,
            "invalid_request",
        ),
    ];
    for (form, status, error) in cases {
        let (s, headers, body) = token_request(&app, &form).await;
        assert_oauth_error(s, &body, status, error);
        assert_eq!(headers["cache-control"], "no-store");
    }
    // A malformed Basic header is a failed client authentication.
    let response = http
        .post(app.url("/o/token/"))
        .header("Authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // Without the trailing slash too.
    let response = http
        .post(app.url("/o/token"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn confidential_clients_and_introspection(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let script = create_client(
        &app,
        confidential_client(
            "mary-script",
            "s3cret-value",
            "client-credentials",
            Some(MARY),
        ),
    )
    .await;
    let http = plain_client();
    // client_credentials with HTTP Basic: the token acts for the client's owner.
    let response = http
        .post(app.url("/o/token/"))
        .basic_auth(&script.client_id, Some("s3cret-value"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert!(tokens.get("refresh_token").is_none());
    assert!(tokens.get("id_token").is_none());
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let profile: Value = bearer_get(&app, "/api/v1/users/profile", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["id"], MARY);
    // client_secret_post works as well.
    let (s, _, _) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &script.client_id),
            ("client_secret", "s3cret-value"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    // Wrong or missing secret: 401 invalid_client.
    let response = http
        .post(app.url("/o/token/"))
        .basic_auth(&script.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let (s, _, b) = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &script.client_id),
        ],
    )
    .await;
    assert_oauth_error(s, &b, 401, "invalid_client");
    // A confidential authorization-code client may not use client_credentials.
    let web = create_client(
        &app,
        confidential_client("web-app", "other-secret", "authorization-code", Some(MARY)),
    )
    .await;
    let response = http
        .post(app.url("/o/token/"))
        .basic_auth(&web.client_id, Some("other-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");

    // Introspection: confidential clients may; anonymous callers and ordinary bearers may not.
    let portal = login_tokens(&app, PETER).await;
    let peter_access = portal["access_token"].as_str().unwrap();
    for (path, method) in [("/o/introspect/", "POST"), ("/o/introspect", "GET")] {
        let request = if method == "POST" {
            http.post(app.url(path)).form(&[("token", peter_access)])
        } else {
            http.get(app.url(path)).query(&[("token", peter_access)])
        };
        let response = request
            .basic_auth(&script.client_id, Some("s3cret-value"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["scope"], "openid email user/*.cruds");
        assert!(
            body.get("username").is_none(),
            "another client's token: no e-mail for this resource server: {body}"
        );
        assert_eq!(body["sub"], PETER.to_string());
        assert_eq!(body["client_id"], admin_ui_client_id(&app).await);
        assert!(body["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    }
    for token in ["unknown-token", ""] {
        let body: Value = http
            .post(app.url("/o/introspect/"))
            .basic_auth(&script.client_id, Some("s3cret-value"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body, json!({"active": false}));
    }
    let anonymous = http
        .post(app.url("/o/introspect/"))
        .form(&[("token", peter_access)])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    assert_eq!(anonymous.text().await.unwrap(), "");
    let bearer = http
        .post(app.url("/o/introspect/"))
        .bearer_auth(peter_access)
        .form(&[("token", peter_access)])
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 403, "bearer tokens may not introspect");
    // A client introspecting a token issued to itself learns the user's e-mail as `username`.
    let own = http
        .post(app.url("/o/token/"))
        .basic_auth(&script.client_id, Some("s3cret-value"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let body: Value = http
        .post(app.url("/o/introspect/"))
        .basic_auth(&script.client_id, Some("s3cret-value"))
        .form(&[("token", own["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["username"], "mary@example.com");
    assert_eq!(body["client_id"], script.client_id.as_str());
    // A public client may not introspect, even with its own client_id.
    let public = http
        .post(app.url("/o/introspect/"))
        .form(&[
            ("token", peter_access),
            ("client_id", admin_ui_client_id(&app).await.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 403);
    let wrong = http
        .post(app.url("/o/introspect/"))
        .basic_auth(&script.client_id, Some("nope"))
        .form(&[("token", peter_access)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    // Revoked tokens are inactive.
    let portal_client = admin_ui_client_id(&app).await;
    http.post(app.url("/o/revoke_token/"))
        .form(&[
            ("token", peter_access),
            ("client_id", portal_client.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = http
        .post(app.url("/o/introspect/"))
        .basic_auth(&script.client_id, Some("s3cret-value"))
        .form(&[("token", peter_access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"active": false}));
}

async fn userinfo_and_bearer_errors(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = login_tokens(&app, MARY).await;
    let access = tokens["access_token"].as_str().unwrap();
    let http = plain_client();
    for (path, post) in [
        ("/o/userinfo/", false),
        ("/o/userinfo/", true),
        ("/o/userinfo", false),
    ] {
        let request = if post {
            http.post(app.url(path))
        } else {
            http.get(app.url(path))
        };
        let response = request.bearer_auth(access).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"sub": MARY.to_string(), "email": "mary@example.com"})
        );
    }
    for auth in [Some("not-a-token"), None] {
        let mut request = http.get(app.url("/o/userinfo/"));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": "invalid_token", "error_description": "The access token provided is expired, revoked, malformed, or invalid for other reasons."})
        );
    }
    // The API's 401 shapes (rest-api.md §0.2).
    let missing = http
        .get(app.url("/api/v1/users/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"api\""
    );
    let body: Value = missing.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    for bad in ["garbage", "", "x".repeat(2000).as_str()] {
        let response = http
            .get(app.url("/api/v1/users/profile"))
            .header("Authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"api\",error=\"invalid_token\",error_description=\"The access token is invalid.\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"detail": "The access token is invalid."}));
    }
    // Session cookies do not authenticate the API.
    let cookie = login_session(&app, MARY).await;
    let response = http
        .get(app.url("/api/v1/users/profile"))
        .header("Cookie", format!("sessionid={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // An inactive user's tokens stop working.
    use jhe_core::store::UserStore;
    let mut mary = app.db.store.get_user(MARY).await.unwrap().unwrap();
    mary.is_active = false;
    app.db.store.update_user(&mary).await.unwrap();
    assert_eq!(
        bearer_get(&app, "/api/v1/users/profile", access)
            .await
            .status(),
        401
    );
}

async fn patient_profile_is_stripped(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let tokens = login_tokens(&app, PETER).await;
    let profile: Value = bearer_get(
        &app,
        "/api/v1/users/profile",
        tokens["access_token"].as_str().unwrap(),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        profile,
        json!({"id": PETER, "patient": {"id": 40001, "jheUserId": PETER, "identifier": "",
               "organizations": [{"id": 20003, "name": "Example Lab", "type": "laboratory", "partOf": 20002,
                                  "currentUserRole": null, "children": []}]},
               "userType": "patient", "isSuperuser": false})
    );
}

async fn discovery_jwks_and_routes(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let issuer = format!("{}/o", app.address);
    let mut documents = Vec::new();
    for path in [
        "/o/.well-known/openid-configuration",
        "/o/.well-known/openid-configuration/",
        "/.well-known/openid-configuration",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        documents.push(response.json::<Value>().await.unwrap());
    }
    assert!(documents.iter().all(|d| d == &documents[0]));
    let doc = &documents[0];
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{issuer}/authorize/")
    );
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token/"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["scopes_supported"], json!(["openid", "email"]));
    let jwks: Value = app
        .get("/o/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["e"], "AQAB");
    // A rotated key stays published.
    let pem = jhe_core::services::keys::generate_private_key().unwrap();
    let mut config = app.config.clone();
    config.oidc_rsa_private_key = Some(pem);
    jhe::assemble(config, app.db.store.clone())
        .unwrap()
        .prepare()
        .await
        .unwrap();
    let jwks: Value = app
        .get("/o/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    // Token exchange answers POST only.
    let response = app.get("/o/token-exchange").await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.text().await.unwrap(), "");
    // Every endpoint exists with and without its trailing slash.
    let http = plain_client();
    for path in [
        "/o/token",
        "/o/token/",
        "/o/revoke_token",
        "/o/revoke_token/",
    ] {
        let status = http
            .post(app.url(path))
            .form(&[("a", "b")])
            .send()
            .await
            .unwrap()
            .status();
        assert!(status == 400 || status == 401, "{path}: {status}");
    }
    for path in ["/o/introspect", "/o/introspect/"] {
        assert_eq!(
            http.post(app.url(path)).send().await.unwrap().status(),
            403,
            "{path}"
        );
    }
    for path in ["/o/authorize", "/o/authorize/"] {
        assert_eq!(
            http.get(app.url(path)).send().await.unwrap().status(),
            400,
            "{path}"
        );
    }
    // The OpenAPI document declares the OAuth 2.0 scheme and uses it on /api/v1.
    let openapi: Value = app
        .get("/api/schema/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let scheme = &openapi["components"]["securitySchemes"]["OAuth2"];
    assert_eq!(scheme["type"], "oauth2");
    assert_eq!(
        scheme["flows"]["authorizationCode"]["authorizationUrl"],
        "/o/authorize/"
    );
    assert_eq!(
        scheme["flows"]["authorizationCode"]["tokenUrl"],
        "/o/token/"
    );
    assert!(scheme["flows"]["authorizationCode"]["scopes"]["openid"].is_string());
    let mut api_operations = 0;
    for (path, item) in openapi["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            api_operations += 1;
            if (method.as_str(), path.as_str()) == ("get", "/api/v1/studies/{id}/icon") {
                // The one public operation: an `<img>` in an app sends no token.
                assert!(operation.get("security").is_none());
                continue;
            }
            assert!(
                operation["security"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.get("OAuth2").is_some())),
                "{path} must require OAuth2"
            );
        }
    }
    assert!(api_operations >= 2);
}

async fn consent_page_for_third_party_clients(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let redirect_uri = "https://thirdparty.example.org/cb";
    let client = create_client(&app, public_client("third-party", redirect_uri, false)).await;
    let cookie = login_session(&app, MARY).await;
    let (verifier, challenge) = pkce_pair();
    let query = [
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("state", "tp"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "openid"),
    ];
    let page = authorize(&app, Some(&cookie), &query).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Authorize Client third-party"), "{html}");
    assert!(html.contains(TEST_CSRF));
    assert!(html.contains(&challenge));
    let http = plain_client();
    let submit = |csrf: &'static str, allow: &'static str| {
        let mut form: Vec<(&str, &str)> = query.to_vec();
        form.push(("csrfmiddlewaretoken", csrf));
        form.push(("allow", allow));
        http.post(app.url("/o/authorize/"))
            .header("Cookie", format!("sessionid={cookie}"))
            .form(&form)
            .send()
    };
    let forged = submit("forged", "Authorize").await.unwrap();
    assert_eq!(forged.status(), 403);
    let denied = submit(TEST_CSRF, "").await.unwrap();
    assert_eq!(denied.status(), 302);
    let q = location_query(&denied);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "tp");
    let allowed = submit(TEST_CSRF, "Authorize").await.unwrap();
    assert_eq!(allowed.status(), 302);
    let q = location_query(&allowed);
    assert_eq!(q["state"], "tp");
    let (s, _, tokens) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", redirect_uri),
            ("client_id", &client.client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(s, 200, "{tokens}");
    assert_eq!(tokens["scope"], "openid user/*.cruds");
    // prompt=none cannot show the consent page.
    let mut none = query.to_vec();
    none.push(("prompt", "none"));
    let response = authorize(&app, Some(&cookie), &none).await;
    assert_eq!(location_query(&response)["error"], "consent_required");
    // A session without a CSRF secret gets one.
    let state = state_of(&app);
    let (fresh, _) = jhe_core::http::session::create(&state, Some(MARY), json!({}))
        .await
        .unwrap();
    let page = authorize(&app, Some(&fresh), &query).await;
    assert_eq!(page.status(), 200);
    let session = jhe_core::store::SessionStore::get_session(
        &app.db.store,
        &jhe_kdf::sha256_hex(&fresh),
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .unwrap();
    let secret = session.data["csrf"].as_str().unwrap().to_string();
    assert!(page.text().await.unwrap().contains(&secret));
}

async fn tokens_work_on_every_replica(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let replica = spawn_replica(&app).await;
    let tokens = login_tokens(&app, MARY).await;
    let access = tokens["access_token"].as_str().unwrap();
    let response = plain_client()
        .get(format!("{replica}/api/v1/users/profile"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["id"], MARY);
    // A code issued by one server is redeemed on the other; the refresh works on the first.
    let (code, verifier, client_id, redirect_uri) = code_for(&app, MARY).await;
    let response = plain_client()
        .post(format!("{replica}/o/token/"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let (s, _, _) = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(s, 200);
    // Both publish the same keys.
    let a: Value = app
        .get("/o/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let b: Value = plain_client()
        .get(format!("{replica}/o/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a, b);
}

both_backends! {
    authorization_code_flow_end_to_end => authorization_code_flow;
    login_redirect => anonymous_users_go_to_the_login_page;
    authorize_and_token_errors => authorization_errors;
    expired_codes => expired_codes_are_refused;
    token_endpoint_garbage => token_endpoint_never_fails_with_500;
    confidential_clients => confidential_clients_and_introspection;
    userinfo_and_api_401 => userinfo_and_bearer_errors;
    patient_profile => patient_profile_is_stripped;
    discovery_and_routes => discovery_jwks_and_routes;
    consent_page => consent_page_for_third_party_clients;
    replicas_share_tokens => tokens_work_on_every_replica;
}

mod relying_party {
    //! The server seen by a standard OpenID Connect relying party (the `openidconnect` crate):
    //! discovery, JWKS, the code flow with PKCE and nonce, ID token verification.

    use std::future::Future;
    use std::pin::Pin;

    use openidconnect::core::{CoreClient, CoreIdToken, CoreProviderMetadata, CoreResponseType};
    use openidconnect::{
        AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, HttpRequest,
        HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
        TokenResponse,
    };

    use super::MARY;
    use crate::support::*;

    #[derive(Debug)]
    struct HttpError(String);
    impl std::fmt::Display for HttpError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for HttpError {}

    /// openidconnect's async HTTP client, over reqwest 0.13 (its bundled reqwest is disabled).
    fn http_client(
        client: reqwest::Client,
    ) -> impl Fn(HttpRequest) -> Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>
    {
        move |request: HttpRequest| {
            let client = client.clone();
            Box::pin(async move {
                let (parts, body) = request.into_parts();
                let mut builder = client.request(parts.method, parts.uri.to_string());
                for (name, value) in parts.headers.iter() {
                    builder = builder.header(name, value);
                }
                let response = builder
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| HttpError(e.to_string()))?;
                let mut out = openidconnect::http::Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    out = out.header(name, value);
                }
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| HttpError(e.to_string()))?;
                out.body(bytes.to_vec())
                    .map_err(|e| HttpError(e.to_string()))
            })
        }
    }

    async fn id_tokens_verify_as_a_relying_party(backend: Backend) {
        let app = spawn_seeded(backend).await;
        let http = http_client(plain_client());
        let issuer = IssuerUrl::new(format!("{}/o", app.address)).unwrap();
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
            .await
            .expect("discovery verifies");
        let client_id = admin_ui_client_id(&app).await;
        let client =
            CoreClient::from_provider_metadata(metadata, ClientId::new(client_id.clone()), None)
                .set_redirect_uri(RedirectUrl::new(callback_uri(&app)).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        let cookie = login_session(&app, MARY).await;
        let response = plain_client()
            .get(auth_url.as_str())
            .header("Cookie", format!("sessionid={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let query = location_query(&response);
        assert_eq!(&query["state"], csrf.secret());
        let token_response = client
            .exchange_code(AuthorizationCode::new(query["code"].clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = token_response.id_token().expect("an ID token");
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &nonce)
            .expect("the ID token verifies");
        assert_eq!(claims.issuer(), &issuer);
        assert_eq!(claims.subject().as_str(), MARY.to_string());
        assert_eq!(claims.audiences()[0].as_str(), client_id);
        assert_eq!(claims.email().map(|e| e.as_str()), Some("mary@example.com"));
        assert!(claims.auth_time().is_some());
        assert!(claims.expiration() > chrono::Utc::now());
        let expected_hash = AccessTokenHash::from_token(
            token_response.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected_hash));
        // A wrong nonce fails.
        assert!(
            id_token
                .claims(&verifier, &Nonce::new("other".into()))
                .is_err()
        );

        // Tampering breaks the signature: Megan's genuine header and claims under Mary's
        // signature.
        let megan = login_tokens(&app, 10003).await;
        let megan_jwt = megan["id_token"].as_str().unwrap();
        let any_nonce = |_: Option<&Nonce>| -> Result<(), String> { Ok(()) };
        let genuine: CoreIdToken = megan_jwt.parse().unwrap();
        assert!(genuine.claims(&verifier, any_nonce).is_ok());
        let mary_jwt = id_token.to_string();
        let signed_by_mary = mary_jwt.rsplit('.').next().unwrap();
        let (megan_content, _) = megan_jwt.rsplit_once('.').unwrap();
        let forged: CoreIdToken = format!("{megan_content}.{signed_by_mary}").parse().unwrap();
        assert!(
            forged.claims(&verifier, any_nonce).is_err(),
            "tampered JWT rejected"
        );
        // A token for another audience is rejected.
        let other = CoreClient::from_provider_metadata(
            CoreProviderMetadata::discover_async(issuer, &http)
                .await
                .unwrap(),
            ClientId::new("someone-else".into()),
            None,
        );
        assert!(id_token.claims(&other.id_token_verifier(), &nonce).is_err());
    }

    crate::both_backends! {
        id_token => id_tokens_verify_as_a_relying_party;
    }
}
