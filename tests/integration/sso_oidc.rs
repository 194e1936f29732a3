//! Logging in with an external OpenID Connect provider: a second jhe-rs instance (which is an
//! OpenID provider) on loopback, through the `OidcIdp` relying party of the first.

use std::sync::Arc;

use jhe_core::domain::NewOAuthClient;
use jhe_core::store::{ClientStore, SessionStore, UserStore};

use crate::both_backends;
use crate::support::*;

/// Mary at the provider (seed data).
const MARY: i64 = 10002;

struct Pair {
    op: TestApp,
    rp: TestApp,
    /// Where the relying party finds the provider (the provider itself, or a proxy before it).
    issuer_origin: String,
}

/// The provider (seeded, with a public client for the relying party) and the relying party
/// (empty database, the provider configured as `oidc-partner`).
async fn spawn_pair(
    backend: Backend,
    adjust_op: impl FnOnce(&mut jhe_core::Config),
    configure: impl FnOnce(jhe_plugins::OidcIdp) -> jhe_plugins::OidcIdp,
) -> Pair {
    let op = spawn_seeded_with(backend, adjust_op).await;
    let issuer_origin = op.address.clone();
    pair_with(backend, op, issuer_origin, configure).await
}

/// The relying party for provider `op`, reached at `issuer_origin`.
async fn pair_with(
    backend: Backend,
    op: TestApp,
    issuer_origin: String,
    configure: impl FnOnce(jhe_plugins::OidcIdp) -> jhe_plugins::OidcIdp,
) -> Pair {
    let oidc =
        jhe_plugins::OidcIdp::new("partner", &format!("{issuer_origin}/o"), "rp-client", None)
            .unwrap()
            .display_name("Partner Exchange");
    let rp = spawn_app_with_providers(backend, |_| {}, vec![Arc::new(configure(oidc))]).await;
    op.db
        .store
        .create_client(NewOAuthClient {
            id: None,
            client_id: "rp-client".into(),
            redirect_uris: rp.url("/sso/oidc-partner/callback/"),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            client_secret: String::new(),
            name: "Relying party".into(),
            user_id: None,
            skip_authorization: true,
            algorithm: "RS256".into(),
        })
        .await
        .unwrap();
    Pair {
        op,
        rp,
        issuer_origin,
    }
}

impl Pair {
    /// Starts the login at the relying party; returns the provider's authorization URL.
    async fn start(&self) -> String {
        let response = self
            .rp
            .client
            .get(self.rp.url("/sso/oidc-partner/login/?next=/portal/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.starts_with(&format!("{}/o/authorize", self.issuer_origin)),
            "{location}"
        );
        location
    }

    /// Mary, logged in at the provider, follows `authorize_url`; returns the callback URL.
    async fn at_provider(&self, authorize_url: &str) -> String {
        let cookie = login_session(&self.op, MARY).await;
        let response = plain_client()
            .get(authorize_url)
            .header("Cookie", format!("sessionid={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.starts_with(&self.rp.url("/sso/oidc-partner/callback/")),
            "{location}"
        );
        location
    }

    async fn back(&self, callback_url: &str) -> reqwest::Response {
        self.rp.client.get(callback_url).send().await.unwrap()
    }

    async fn refused(&self, callback_url: &str, status: u16, expected: &str) {
        let response = self.back(callback_url).await;
        assert_eq!(response.status(), status);
        let html = response.text().await.unwrap();
        assert!(html.contains("Single sign-on failed"), "{html}");
        assert!(html.contains(expected), "expected {expected:?} in {html}");
        assert!(
            self.rp
                .db
                .store
                .get_user_by_email("mary@example.com")
                .await
                .unwrap()
                .is_none(),
            "nothing created"
        );
    }
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn login_through_another_exchange(backend: Backend) {
    let pair = spawn_pair(backend, |_| {}, |p| p).await;
    let authorize = pair.start().await;
    let query = query_of(&authorize);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "rp-client");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "openid email profile");
    assert!(query["nonce"].len() >= 16);
    let callback = pair.at_provider(&authorize).await;
    let response = pair.back(&callback).await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()["location"], "/portal/");
    // Created just in time (the provider does not say the address is verified).
    let user = pair
        .rp
        .db
        .store
        .get_user_by_email("mary@example.com")
        .await
        .unwrap()
        .expect("created");
    assert_eq!(
        user.user_type,
        Some(jhe_core::domain::UserType::Practitioner)
    );
    assert!(!user.email_is_verified);
    let session = pair
        .rp
        .db
        .store
        .get_session(
            &jhe_kdf::sha256_hex(&session_cookie_of(&pair.rp)),
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.user_id, Some(user.id));
    // The callback cannot be used twice.
    let again = pair.back(&callback).await;
    assert_eq!(again.status(), 400);
    // A second login finds the same user through the subject link.
    let callback = pair.at_provider(&pair.start().await).await;
    assert_eq!(pair.back(&callback).await.status(), 302);
    let same = pair
        .rp
        .db
        .store
        .get_user_by_email("mary@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.id, user.id);
}

async fn nonce_mismatch_is_refused(backend: Backend) {
    let pair = spawn_pair(backend, |_| {}, |p| p).await;
    // Two logins started; the first one's request carries the second one's nonce.
    let first = pair.start().await;
    let second = pair.start().await;
    let other_nonce = query_of(&second)["nonce"].clone();
    let mut url = reqwest::Url::parse(&first).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "nonce" {
                (k, other_nonce.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let callback = pair.at_provider(url.as_str()).await;
    pair.refused(&callback, 403, "ID token is not valid: Invalid nonce")
        .await;
}

async fn expired_id_token_is_refused(backend: Backend) {
    // A provider whose ID tokens are already expired when issued.
    let pair = spawn_pair(backend, |c| c.lifetimes.id_token = -600, |p| p).await;
    let callback = pair.at_provider(&pair.start().await).await;
    pair.refused(&callback, 403, "ID token is not valid: Expired")
        .await;
}

async fn wrong_issuer_is_refused(backend: Backend) {
    // The provider calls itself `localhost`, the relying party expects `127.0.0.1`.
    let pair = spawn_pair(
        backend,
        |c| c.site_url = c.site_url.replace("127.0.0.1", "localhost"),
        |p| p,
    )
    .await;
    let response = pair
        .rp
        .client
        .get(pair.rp.url("/sso/oidc-partner/login/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Partner Exchange cannot be reached"),
        "{html}"
    );
    assert!(html.contains("issuer"), "{html}");
}

async fn provider_down_gives_a_clear_page(backend: Backend) {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let oidc = jhe_plugins::OidcIdp::new(
        "down",
        &format!("http://127.0.0.1:{port}/o"),
        "client",
        None,
    )
    .unwrap();
    let app = spawn_app_with_providers(backend, |_| {}, vec![Arc::new(oidc)]).await;
    let response = app.get("/sso/oidc-down/login/").await;
    assert_eq!(response.status(), 502);
    let html = response.text().await.unwrap();
    assert!(html.contains("down cannot be reached right now"), "{html}");
    // The login page still works and lists it.
    let page = app.get("/accounts/login/").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Continue with down"));
}

async fn provider_errors_and_domains(backend: Backend) {
    let pair = spawn_pair(backend, |_| {}, |p| p.domains(["partner.example"])).await;
    // An error answer of the provider (the person declined) is shown, not a 500.
    let authorize = pair.start().await;
    let state = query_of(&authorize)["state"].clone();
    let url = format!(
        "{}?error=access_denied&error_description=declined&state={state}",
        pair.rp.url("/sso/oidc-partner/callback/")
    );
    pair.refused(&url, 403, "refused the login (access_denied: declined)")
        .await;
    // Mary's address is not in the provider's domains.
    let callback = pair.at_provider(&pair.start().await).await;
    pair.refused(
        &callback,
        403,
        "Addresses at example.com cannot log in through Partner Exchange",
    )
    .await;
}

async fn provider_key_rotation_keeps_logins_working(backend: Backend) {
    use jhe_core::store::OAuthStore;
    let pair = spawn_pair(backend, |_| {}, |p| p).await;
    // The first login makes the relying party keep the provider's keys.
    let callback = pair.at_provider(&pair.start().await).await;
    assert_eq!(pair.back(&callback).await.status(), 302);
    // The provider signs with a new key from now on.
    let pem = jhe_core::services::keys::generate_private_key().unwrap();
    let (pkcs1, public) = jhe_core::services::keys::load_private_key(&pem).unwrap();
    pair.op
        .db
        .store
        .add_signing_key(
            jhe_core::domain::NewSigningKey {
                kid: public.kid.clone(),
                algorithm: "RS256".into(),
                private_key_pem: pkcs1,
                public_jwk: public.jwk.to_string(),
            },
            true,
        )
        .await
        .unwrap();
    // The ID token names a key the kept JWKS does not know: fetched again, and it verifies.
    let callback = pair.at_provider(&pair.start().await).await;
    let response = pair.back(&callback).await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
}

/// A man in the middle between the relying party and the provider: forwards every request to
/// `target` and flips one character of the signature of each ID token the token endpoint
/// returns. Serves on `acceptor` until the test ends.
fn spawn_tampering_proxy(acceptor: poem::listener::TcpAcceptor, target: String) {
    use poem::{Request, Response};
    let http = plain_client();
    let endpoint = poem::endpoint::make(move |req: Request| {
        let http = http.clone();
        let target = target.clone();
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
            let mut forward = http.request(method, format!("{target}{path}"));
            for (name, value) in req.headers() {
                if name.as_str() != "content-length" {
                    forward = forward.header(name.as_str(), value.as_bytes());
                }
            }
            let body = req.into_body().into_bytes().await.unwrap_or_default();
            let answer = forward.body(body.to_vec()).send().await.unwrap();
            let status = answer.status().as_u16();
            let headers = answer.headers().clone();
            let mut bytes = answer.bytes().await.unwrap().to_vec();
            if path.starts_with("/o/token")
                && let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes)
                && let Some(id_token) = json["id_token"].as_str()
            {
                let mut parts: Vec<String> = id_token.split('.').map(str::to_string).collect();
                let signature: Vec<char> = parts[2].chars().collect();
                let middle = signature.len() / 2;
                let flipped: String = signature
                    .iter()
                    .enumerate()
                    .map(|(i, c)| match (i == middle, *c) {
                        (true, 'A') => 'B',
                        (true, _) => 'A',
                        (false, c) => c,
                    })
                    .collect();
                parts[2] = flipped;
                json["id_token"] = parts.join(".").into();
                bytes = serde_json::to_vec(&json).unwrap();
            }
            let mut response =
                Response::builder().status(poem::http::StatusCode::from_u16(status).unwrap());
            for (name, value) in &headers {
                if name.as_str() != "content-length" && name.as_str() != "transfer-encoding" {
                    response = response.header(name.as_str(), value.as_bytes());
                }
            }
            response.body(bytes)
        }
    });
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await;
    });
}

async fn tampered_id_token_signature_is_refused(backend: Backend) {
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
    let proxy = format!("http://127.0.0.1:{port}");
    // The provider's public origin is the proxy (its issuer, endpoints and JWKS are reached
    // through it); its ID tokens arrive with a broken signature.
    let public = proxy.clone();
    let op = spawn_seeded_with(backend, move |c| c.site_url = public).await;
    spawn_tampering_proxy(acceptor, op.address.clone());
    let pair = pair_with(backend, op, proxy, |p| p).await;
    let callback = pair.at_provider(&pair.start().await).await;
    pair.refused(
        &callback,
        403,
        "ID token is not valid: Signature verification failed",
    )
    .await;
}

both_backends! {
    oidc_tampered_signature => tampered_id_token_signature_is_refused;
    oidc_key_rotation => provider_key_rotation_keeps_logins_working;
    oidc_login => login_through_another_exchange;
    oidc_nonce_mismatch => nonce_mismatch_is_refused;
    oidc_expired_id_token => expired_id_token_is_refused;
    oidc_wrong_issuer => wrong_issuer_is_refused;
    oidc_provider_down => provider_down_gives_a_clear_page;
    oidc_errors_and_domains => provider_errors_and_domains;
}
