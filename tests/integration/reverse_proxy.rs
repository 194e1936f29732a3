//! Behind a reverse proxy: forwarding headers are believed only from `TRUSTED_PROXIES` (loopback
//! by default, which is where the tests connect from), login throttling keys on the real client,
//! public links and `Secure` cookies follow the public origin.

use std::sync::Arc;

use jhe_core::config::TrustedProxies;
use jhe_core::services::seed::{NoProgress, seed};
use reqwest::header::SET_COOKIE;
use serde_json::Value;

use crate::accounts::csrf_token;
use crate::both_backends;
use crate::support::{Backend, TestApp, bearer_for, spawn_app_with};

both_backends! {
    reverse_proxy_throttling_keys_on_the_real_client => throttling_keys_on_the_real_client;
    reverse_proxy_untrusted_peers_cannot_spoof => untrusted_peers_cannot_spoof;
    reverse_proxy_links_and_cookies_follow_the_public_origin => links_and_cookies;
}

const SAM: i64 = 10001;

async fn seeded(backend: Backend, trusted: TrustedProxies) -> TestApp {
    let app = spawn_app_with(backend, |c| c.trusted_proxies = trusted).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    app
}

/// A browser behind the proxy: its own cookie jar, every request carrying `headers`.
struct Browser {
    http: reqwest::Client,
    headers: Vec<(&'static str, String)>,
}

impl Browser {
    fn new(headers: &[(&'static str, &str)]) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
                .build()
                .unwrap(),
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    fn with_headers(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
    }

    /// Logs in through the login form; returns the status and the session `Set-Cookie` values.
    async fn login(&self, app: &TestApp, email: &str, password: &str) -> (u16, Vec<String>) {
        let page = self
            .with_headers(self.http.get(app.url("/accounts/login/")))
            .send()
            .await
            .unwrap();
        let token = csrf_token(&page.text().await.unwrap());
        let response = self
            .with_headers(self.http.post(app.url("/accounts/login/")))
            .form(&[
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", email),
                ("password", password),
                ("next", ""),
            ])
            .send()
            .await
            .unwrap();
        let cookies = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        (response.status().as_u16(), cookies)
    }
}

/// 20 failures from one client (spread over accounts, so no account locks) lock that client
/// out; the next client behind the same proxy still logs in.
async fn throttling_keys_on_the_real_client(backend: Backend) {
    let app = seeded(backend, TrustedProxies::default()).await;
    let attacker = Browser::new(&[("x-forwarded-for", "198.51.100.1")]);
    for i in 0..20 {
        let (status, _) = attacker
            .login(&app, &format!("nobody{i}@example.com"), "wrong")
            .await;
        assert_eq!(status, 200, "attempt {i}: the form again with an error");
    }
    let (status, _) = attacker.login(&app, "mary@example.com", "Jhe1234!").await;
    assert_eq!(status, 429, "the attacking client is locked out");
    // RFC 7239 `Forwarded` names the same client: still locked.
    let same = Browser::new(&[("forwarded", "for=198.51.100.1;proto=http")]);
    assert_eq!(
        same.login(&app, "mary@example.com", "Jhe1234!").await.0,
        429
    );
    // Everyone else behind the proxy is not.
    let colleague = Browser::new(&[("x-forwarded-for", "198.51.100.2")]);
    assert_eq!(
        colleague
            .login(&app, "mary@example.com", "Jhe1234!")
            .await
            .0,
        302
    );
    let rfc = Browser::new(&[("forwarded", "for=\"[2001:db8::5]:4711\"")]);
    assert_eq!(
        rfc.login(&app, "megan@example.com", "Jhe1234!").await.0,
        302
    );
}

/// With no trusted proxy, forwarding headers change nothing: a client cannot escape throttling
/// by inventing addresses, nor choose the host of the links the server writes.
async fn untrusted_peers_cannot_spoof(backend: Backend) {
    let app = seeded(backend, TrustedProxies::none()).await;
    let token = bearer_for(&app, SAM).await;
    let body: Value = app
        .client
        .get(app.url("/api/v1/organizations?pageSize=1"))
        .bearer_auth(&token)
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = body["next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}/api/v1/organizations?", app.address)),
        "{next}"
    );
    let (status, cookies) = Browser::new(&[("x-forwarded-proto", "https")])
        .login(&app, "megan@example.com", "Jhe1234!")
        .await;
    assert_eq!(status, 302);
    assert!(cookies.iter().all(|c| !c.contains("Secure")), "{cookies:?}");
    for i in 0..20 {
        let liar = Browser::new(&[("x-forwarded-for", &format!("203.0.113.{i}"))]);
        assert_eq!(
            liar.login(&app, &format!("nobody{i}@example.com"), "wrong")
                .await
                .0,
            200
        );
    }
    let fresh = Browser::new(&[("x-forwarded-for", "203.0.113.200")]);
    assert_eq!(
        fresh.login(&app, "mary@example.com", "Jhe1234!").await.0,
        429,
        "every attempt counted under the real peer"
    );
}

/// Through a trusted proxy, links use the public scheme and host, and the session cookie is
/// `Secure` when the public origin is https.
async fn links_and_cookies(backend: Backend) {
    let app = seeded(backend, TrustedProxies::default()).await;
    let token = bearer_for(&app, SAM).await;
    for headers in [
        vec![
            ("x-forwarded-host", "jhe.example.org"),
            ("x-forwarded-proto", "https"),
        ],
        vec![(
            "forwarded",
            "for=198.51.100.4;host=jhe.example.org;proto=https",
        )],
    ] {
        let mut request = app
            .client
            .get(app.url("/api/v1/organizations?pageSize=1"))
            .bearer_auth(&token);
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        assert_eq!(
            body["next"], "https://jhe.example.org/api/v1/organizations?page=2&pageSize=1",
            "{headers:?}"
        );
    }
    let (status, cookies) = Browser::new(&[("x-forwarded-proto", "https")])
        .login(&app, "megan@example.com", "Jhe1234!")
        .await;
    assert_eq!(status, 302);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("sessionid=") && !c.contains("Max-Age=0"))
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    assert!(session.contains("; Secure"), "{session}");
    let (_, cookies) = Browser::new(&[])
        .login(&app, "mary@example.com", "Jhe1234!")
        .await;
    assert!(
        cookies.iter().all(|c| !c.contains("Secure")),
        "plain http: {cookies:?}"
    );
}
