//! Embedding the server: the builder refuses incomplete servers, the whole app works nested
//! under a path prefix in another poem application (login → token → FHIR upload → search →
//! portal), integrators add their own APIs, routes, policy and data format, and templates can
//! be overridden. The example programs' types are exercised here (included by `#[path]`).

use std::sync::Arc;

use jhe_core::services::seed::{DEMO_SUPERUSER_EMAIL, NoProgress, SEED_PASSWORD, seed};
use jhe_core::{BuildError, Config, JheServer};
use serde_json::Value;

use crate::both_backends;
use crate::support::{Backend, TestDb, pkce_pair};

#[allow(dead_code)]
#[path = "../../examples/embed_in_poem_app.rs"]
mod embed_example;

#[allow(dead_code)]
#[path = "../../examples/custom_policy.rs"]
mod policy_example;

#[allow(dead_code)]
#[path = "../../examples/custom_data_format.rs"]
mod format_example;

/// A poem application serving on a random loopback port.
struct Running {
    origin: String,
    db: TestDb,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// A browser: keeps cookies, does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Binds a port, seeds a fresh database with `config(origin)`, and serves what `app` makes.
async fn run<E: poem::Endpoint + 'static>(
    backend: Backend,
    site_path: &str,
    app: impl FnOnce(Config, jhe_plugins::SeaOrmStore) -> E,
) -> Running {
    use poem::listener::{Acceptor, Listener};
    let db = TestDb::new(backend).await;
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let origin = format!("http://127.0.0.1:{port}");
    let config = Config {
        site_url: format!("{origin}{site_path}"),
        ..Config::default()
    };
    seed(&db.store, &config, false, &NoProgress).await.unwrap();
    let endpoint = app(config, db.store.clone());
    let handle = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await;
    });
    Running { origin, db, handle }
}

/// The value of the login form's CSRF field.
fn csrf_token(html: &str) -> String {
    let marker = r#"name="csrfmiddlewaretoken" value=""#;
    html.split_once(marker)
        .and_then(|(_, rest)| rest.split('"').next())
        .expect("the form has a CSRF token")
        .to_string()
}

/// Logs in through the real login form at `{base}/accounts/login/`; returns the `Location`.
async fn log_in(client: &reqwest::Client, base: &str, email: &str) -> String {
    let page = client
        .get(format!("{base}/accounts/login/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let response = client
        .post(format!("{base}/accounts/login/"))
        .form(&[
            ("csrfmiddlewaretoken", csrf_token(&html).as_str()),
            ("username", email),
            ("password", SEED_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "{email} logs in");
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Every path-valued link of a page is under `prefix`.
fn assert_links_under(html: &str, prefix: &str) {
    for attribute in ["href=\"", "src=\"", "action=\""] {
        for (_, rest) in html.match_indices(attribute).map(|(i, _)| html.split_at(i)) {
            let value = rest.trim_start_matches(attribute);
            if value.starts_with('/') && !value.starts_with("//") {
                assert!(
                    value.starts_with(&format!("{prefix}/")),
                    "a link outside {prefix}: {}",
                    value.chars().take(60).collect::<String>()
                );
            }
        }
    }
}

async fn the_whole_app_works_under_a_prefix(backend: Backend) {
    let app = run(backend, "/jhe", |config, store| {
        embed_example::application(embed_example::exchange(config, store).unwrap())
    })
    .await;
    let base = format!("{}/jhe", app.origin);
    let http = browser();

    // The integrator's own page and routes.
    let home = http.get(format!("{}/", app.origin)).send().await.unwrap();
    assert!(home.text().await.unwrap().contains("Example Clinic"));
    let whoami = http
        .get(format!("{base}/clinic/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    assert!(whoami.text().await.unwrap().contains(&base));
    let hours: Value = http
        .get(format!("{base}/clinic/opening-hours"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hours["days"], "Mon-Fri");
    let document: Value = http
        .get(format!("{base}/api/schema/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["paths"]["/clinic/opening-hours"]["get"].is_object());
    assert!(document["paths"]["/api/v1/patients"].is_object());

    // Portal login as the superuser: the form, its redirect and the portal are under /jhe.
    let login_page = http
        .get(format!("{base}/accounts/login/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_links_under(&login_page, "/jhe");
    assert!(login_page.contains("action=\"/jhe"), "{login_page}");
    let location = log_in(&http, &base, DEMO_SUPERUSER_EMAIL).await;
    assert!(location.starts_with("/jhe/"), "{location}");
    let home = http.get(format!("{base}/portal/")).send().await.unwrap();
    assert_eq!(home.status(), 302);
    assert_eq!(home.headers()["location"], "/jhe/portal/organizations/");
    let portal = http
        .get(format!("{base}/portal/organizations/"))
        .send()
        .await
        .unwrap();
    assert_eq!(portal.status(), 200);
    let portal = portal.text().await.unwrap();
    assert_links_under(&portal, "/jhe");
    assert!(portal.contains("href=\"/jhe/portal/"), "{portal}");
    let patients = http
        .get(format!("{base}/portal/patients/"))
        .send()
        .await
        .unwrap();
    assert_eq!(patients.status(), 200);
    assert_links_under(&patients.text().await.unwrap(), "/jhe");
    let script = http
        .get(format!("{base}/portal/static/portal.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    let settings = http
        .get(format!("{base}/portal/client_settings.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(settings.contains(r#"window.location.origin + "/jhe/auth/callback""#));
    // A page that needs a login redirects to the prefixed login page.
    let anonymous = browser()
        .get(format!("{base}/portal/"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 302);
    let to_login = anonymous.headers()["location"].to_str().unwrap();
    assert!(to_login.starts_with("/jhe/accounts/login/"), "{to_login}");

    // OAuth discovery names the prefixed endpoints.
    let discovery: Value = http
        .get(format!("{base}/o/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], format!("{base}/o"));
    assert!(
        discovery["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&base)
    );

    // Peter (a patient) logs in and gets a token through the portal client's PKCE flow (the
    // signing key is made by the server itself: nobody called `prepare()`).
    let peter = browser();
    log_in(&peter, &base, "peter@example.com").await;
    let client_id = {
        use jhe_core::store::ClientStore;
        app.db
            .store
            .get_client_by_name(jhe_core::domain::ADMIN_UI_CLIENT_NAME)
            .await
            .unwrap()
            .unwrap()
            .client_id
    };
    let redirect_uri = format!("{base}/auth/callback");
    let (verifier, challenge) = pkce_pair();
    let authorized = peter
        .get(format!("{base}/o/authorize/"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid email"),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(authorized.status(), 302);
    let callback = authorized.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(callback.starts_with(&redirect_uri), "{callback}");
    let code = reqwest::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let tokens: Value = peter
        .post(format!("{base}/o/token/"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().expect("an access token");
    assert!(tokens["id_token"].as_str().is_some(), "{tokens}");

    // FHIR upload and search, with prefixed Location and Bundle links.
    let payload = crate::fhir_upload::heart_rate_bytes(72, "2025-03-01T08:00:00Z");
    let observation = crate::fhir_upload::observation(
        40001,
        70001,
        jhe_core::domain::OMH_SYSTEM,
        crate::fhir_upload::HR,
        &payload,
    );
    let created = peter
        .post(format!("{base}/fhir/r5/Observation"))
        .bearer_auth(token)
        .json(&observation)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{base}/fhir/r5/Observation/")),
        "{location}"
    );
    let bundle: Value = peter
        .get(format!("{base}/fhir/r5/Observation"))
        .query(&[("patient", "40001"), ("_count", "1")])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert!(bundle["total"].as_u64().unwrap() >= 1);
    for link in bundle["link"].as_array().unwrap() {
        assert!(
            link["url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{base}/fhir/r5/Observation")),
            "{link}"
        );
    }
    let read = peter
        .get(&location)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    // The Admin API's paging links too.
    let page: Value = peter
        .get(format!("{base}/api/v1/observations"))
        .query(&[("patientId", "40001"), ("pageSize", "1")])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if let Some(next) = page["next"].as_str() {
        assert!(
            next.starts_with(&format!("{base}/api/v1/observations")),
            "{next}"
        );
    }

    // Nothing of the Exchange answers outside its prefix.
    let outside = http
        .get(format!("{}/fhir/r5/metadata", app.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
}

async fn a_custom_policy_adds_its_rule(backend: Backend) {
    let app = run(backend, "", |config, store| {
        JheServer::builder()
            .config(config)
            .store(store)
            .policy(policy_example::FrozenRecordsPolicy::new([40001]))
            .data_format(jhe_plugins::OmhFormat::bundled())
            .identity_provider(jhe_plugins::PasswordIdp)
            .build()
            .unwrap()
            .into_endpoint()
    })
    .await;
    let peter = {
        use jhe_core::store::OAuthStore;
        let token = jhe_kdf::random_token(30);
        app.db
            .store
            .create_access_token(jhe_core::domain::NewAccessToken {
                token_hash: jhe_kdf::sha256_hex(&token),
                user_id: Some(crate::support::seeded::PATIENT),
                application_id: None,
                expires: chrono::Utc::now() + chrono::Duration::hours(1),
                scope: jhe_core::domain::GrantedScopes::full_role().to_string(),
                source_refresh_token_id: None,
                id_token_jti: None,
            })
            .await
            .unwrap();
        token
    };
    let payload = crate::fhir_upload::heart_rate_bytes(70, "2025-03-01T08:00:00Z");
    let observation = crate::fhir_upload::observation(
        40001,
        70001,
        jhe_core::domain::OMH_SYSTEM,
        crate::fhir_upload::HR,
        &payload,
    );
    let refused = reqwest::Client::new()
        .post(format!("{}/fhir/r5/Observation", app.origin))
        .bearer_auth(&peter)
        .json(&observation)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let outcome: Value = refused.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert!(outcome.to_string().contains("frozen"), "{outcome}");
    // Reading is the standard policy's: Peter still sees his record.
    let read = reqwest::Client::new()
        .get(format!("{}/fhir/r5/Patient/40001", app.origin))
        .bearer_auth(&peter)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
}

async fn templates_can_be_overridden(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("jhe_brand_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("portal/static")).unwrap();
    std::fs::write(
        dir.join("home.html"),
        "{% extends \"base.html\" %}{% block content %}<p>Welcome to Example Health</p><a href=\"/portal/\">Portal</a>{% endblock %}",
    )
    .unwrap();
    std::fs::write(dir.join("portal/static/logo.svg"), "<svg id=\"brand\"/>").unwrap();
    let template_dir = dir.clone();
    let app = run(backend, "/branded", move |config, store| {
        let server = JheServer::builder()
            .config(config)
            .store(store)
            .policy(jhe_plugins::RbacConsentPolicy)
            .data_format(jhe_plugins::OmhFormat::bundled())
            .identity_provider(jhe_plugins::PasswordIdp)
            .template_dir(Some(template_dir))
            .build()
            .unwrap();
        poem::Route::new().nest("/branded", server.into_endpoint())
    })
    .await;
    let base = format!("{}/branded", app.origin);
    let home = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("Welcome to Example Health"), "{html}");
    assert!(html.contains("href=\"/branded/portal/\""), "{html}");
    let logo = reqwest::get(format!("{base}/portal/static/logo.svg"))
        .await
        .unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert_eq!(logo.text().await.unwrap(), "<svg id=\"brand\"/>");
    // Not overridden: the embedded stylesheet; outside the directory: nothing.
    let css = reqwest::get(format!("{base}/portal/static/portal.css"))
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    let escape = reqwest::get(format!("{base}/portal/static/..%2Fhome.html"))
        .await
        .unwrap();
    assert_eq!(escape.status(), 404);
    std::fs::remove_dir_all(dir).ok();
}

both_backends! {
    embedded_under_a_prefix => the_whole_app_works_under_a_prefix;
    embedded_custom_policy => a_custom_policy_adds_its_rule;
    embedded_template_override => templates_can_be_overridden;
}

#[tokio::test]
async fn build_refuses_an_incomplete_server() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = || Arc::new(db.store.clone()) as Arc<dyn jhe_core::store::Store>;
    let err = |r: Result<JheServer, BuildError>| r.err();
    assert_eq!(
        err(JheServer::builder()
            .policy(jhe_plugins::RbacConsentPolicy)
            .build()),
        Some(BuildError::MissingStore)
    );
    assert_eq!(
        err(JheServer::builder()
            .shared_store(store())
            .data_format(jhe_plugins::OmhFormat::bundled())
            .identity_provider(jhe_plugins::PasswordIdp)
            .build()),
        Some(BuildError::MissingPolicy)
    );
    assert_eq!(
        err(JheServer::builder()
            .shared_store(store())
            .policy(jhe_plugins::RbacConsentPolicy)
            .identity_provider(jhe_plugins::PasswordIdp)
            .build()),
        Some(BuildError::MissingDataFormat)
    );
    let missing_login = err(JheServer::builder()
        .shared_store(store())
        .policy(jhe_plugins::RbacConsentPolicy)
        .data_format(jhe_plugins::OmhFormat::bundled())
        .build());
    assert_eq!(missing_login, Some(BuildError::MissingIdentityProvider));
    assert!(
        missing_login
            .unwrap()
            .to_string()
            .contains(".identity_provider(")
    );
    assert!(
        JheServer::builder()
            .shared_store(store())
            .policy(jhe_plugins::RbacConsentPolicy)
            .data_format(jhe_plugins::OmhFormat::bundled())
            .identity_provider(jhe_plugins::PasswordIdp)
            .build()
            .is_ok()
    );
}

#[test]
fn the_vendor_csv_format_validates_and_indexes() {
    use format_example::{HR_CSV, VENDOR_SYSTEM, VendorCsvFormat};
    use jhe_core::format::{DataFormat, FormatError};
    let concept = jhe_core::domain::CodeableConcept {
        id: 1,
        coding_system: VENDOR_SYSTEM.into(),
        coding_code: HR_CSV.into(),
        text: "Heart rate export".into(),
    };
    let format = VendorCsvFormat;
    assert!(format.accepts("Text/CSV; charset=utf-8", &concept));
    assert!(!format.accepts("application/json", &concept));
    let facts = format
        .validate(
            &concept,
            b"timestamp,bpm\n2025-01-01T10:01:00Z,64\n2025-01-01T10:00:00Z,61\n",
        )
        .unwrap();
    assert_eq!(
        facts.effective_start.unwrap().to_rfc3339(),
        "2025-01-01T10:00:00+00:00"
    );
    assert_eq!(
        facts.effective_end.unwrap().to_rfc3339(),
        "2025-01-01T10:01:00+00:00"
    );
    let refusals: [(&[u8], &str); 5] = [
        (b"time,bpm\n", "line 1"),
        (b"timestamp,bpm\n2025-01-01T10:00:00Z,500\n", "line 2"),
        (b"timestamp,bpm\nyesterday,60\n", "line 2"),
        (b"timestamp,bpm\n", "no readings"),
        (b"\xff\xfe", "UTF-8"),
    ];
    for (csv, place) in refusals {
        match format.validate(&concept, csv) {
            Err(FormatError::Invalid(message)) => assert!(message.contains(place), "{message}"),
            other => panic!("{csv:?} must be refused: {other:?}"),
        }
    }
}
