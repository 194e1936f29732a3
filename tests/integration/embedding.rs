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

/// An access token of `user_id` with the full role, inserted into `db` (not about OAuth).
async fn token_of(db: &TestDb, user_id: i64) -> String {
    use jhe_core::store::OAuthStore;
    let token = jhe_kdf::random_token(30);
    db.store
        .create_access_token(jhe_core::domain::NewAccessToken {
            token_hash: jhe_kdf::sha256_hex(&token),
            user_id: Some(user_id),
            application_id: None,
            expires: chrono::Utc::now() + chrono::Duration::hours(1),
            scope: jhe_core::domain::GrantedScopes::full_role().to_string(),
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await
        .unwrap();
    token
}

/// The standard parts, as an integrator assembles them.
fn standard(config: Config, store: jhe_plugins::SeaOrmStore) -> jhe_core::JheServerBuilder {
    JheServer::builder()
        .config(config)
        .store(store)
        .policy(jhe_plugins::RbacConsentPolicy)
        .data_format(jhe_plugins::OmhFormat::bundled())
        .identity_provider(jhe_plugins::PasswordIdp)
}

/// Nested under a prefix, the OpenAPI document names the prefix as its server (so Swagger UI's
/// "Try it out" calls the right URLs), the OAuth flow's URLs are under it, and the docs page
/// loads the document from under it. At the root, there is no `servers` entry.
async fn api_docs_follow_the_prefix(backend: Backend) {
    let app = run(backend, "/jhe", |config, store| {
        let server = standard(config, store).build().unwrap();
        poem::Route::new().nest("/jhe", server.into_endpoint())
    })
    .await;
    let base = format!("{}/jhe", app.origin);
    let doc: Value = reqwest::get(format!("{base}/api/schema/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["servers"][0]["url"], "/jhe", "{}", doc["servers"]);
    let flow = &doc["components"]["securitySchemes"]["OAuth2"]["flows"]["authorizationCode"];
    assert_eq!(flow["tokenUrl"], "/jhe/o/token/");
    assert_eq!(flow["authorizationUrl"], "/jhe/o/authorize/");
    // "Try it out": the server URL plus a documented path reaches the operation.
    let server = doc["servers"][0]["url"].as_str().unwrap();
    assert!(doc["paths"]["/health"]["get"].is_object());
    let health = reqwest::get(format!("{}{server}/health", app.origin))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let token = reqwest::Client::new()
        .post(format!(
            "{}{}",
            app.origin,
            flow["tokenUrl"].as_str().unwrap()
        ))
        .form(&[("grant_type", "authorization_code"), ("code", "nope")])
        .send()
        .await
        .unwrap();
    assert_ne!(token.status(), 404, "the token URL is routed");
    // The page loads the document from under the prefix.
    let page = reqwest::get(format!("{base}/api/docs")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"url: "/jhe/api/schema/openapi.json","#),
        "the docs page must load the prefixed document"
    );
    // At the root: no servers entry (the document's own origin).
    let root = run(backend, "", |config, store| {
        standard(config, store).build().unwrap().into_endpoint()
    })
    .await;
    let doc: Value = reqwest::get(format!("{}/api/schema/openapi.json", root.origin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["servers"],
        serde_json::json!([]),
        "relative to the document's origin"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["OAuth2"]["flows"]["authorizationCode"]["tokenUrl"],
        "/o/token/"
    );
}

/// `/metrics` is configured by the builder: off unless asked; on with a token, a scrape needs
/// it; nested under a prefix it is under the prefix too.
async fn metrics_are_configured_by_the_builder(backend: Backend) {
    use jhe_core::http::observe::MetricsConfig;
    let token = "builder-scrape-token-0123";
    let off = run(backend, "", |config, store| {
        standard(config, store).build().unwrap().into_endpoint()
    })
    .await;
    let scrape = reqwest::Client::new()
        .get(format!("{}/metrics", off.origin))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 404, "no /metrics unless the builder asks");
    let on = run(backend, "/jhe", |config, store| {
        let server = standard(config, store)
            .metrics(MetricsConfig {
                enabled: true,
                token: Some(token.into()),
            })
            .build()
            .unwrap();
        poem::Route::new().nest("/jhe", server.into_endpoint())
    })
    .await;
    let base = format!("{}/jhe", on.origin);
    assert_eq!(
        reqwest::get(format!("{base}/health"))
            .await
            .unwrap()
            .status(),
        200
    );
    let client = reqwest::Client::new();
    let anonymous = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "the token is required");
    let wrong = client
        .get(format!("{base}/metrics"))
        .bearer_auth("not-the-scrape-token-000")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scrape = client
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(text.contains("jhe_http_requests_total"), "{text}");
}

/// The CSV format of `examples/custom_data_format.rs`, end to end over HTTP: a server with the
/// format registered accepts a CSV export uploaded through FHIR, indexes its time span, answers
/// it back byte for byte, and refuses a malformed CSV with a 422 naming the line.
async fn a_custom_csv_format_uploads_through_fhir(backend: Backend) {
    use format_example::{HR_CSV, VENDOR_SYSTEM, VendorCsvFormat};
    use jhe_core::store::{ReferenceStore, StudyStore};
    let app = run(backend, "", |config, store| {
        JheServer::builder()
            .config(config)
            .store(store)
            .policy(jhe_plugins::RbacConsentPolicy)
            .data_format(jhe_plugins::OmhFormat::bundled())
            .data_format(VendorCsvFormat)
            .data_format(jhe_plugins::AttachmentFormat::default())
            .identity_provider(jhe_plugins::PasswordIdp)
            .build()
            .unwrap()
            .into_endpoint()
    })
    .await;
    // The study asks for the vendor's data type, data source 70001 declares it, Peter consents.
    let s = &app.db.store;
    let concept = s
        .create_concept(jhe_core::domain::NewCodeableConcept {
            id: None,
            coding_system: VENDOR_SYSTEM.into(),
            coding_code: HR_CSV.into(),
            text: "Heart rate export (CSV)".into(),
        })
        .await
        .unwrap();
    s.add_scope_request(30001, concept.id).await.unwrap();
    s.add_study_data_source(30001, 70001).await.unwrap();
    s.add_supported_scope(70001, concept.id).await.unwrap();
    let enrolment = s
        .list_patient_studies(&jhe_core::store::AccessScope::system_for_tests(), 40001)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.study_id == 30001)
        .expect("Peter is enrolled in study 30001");
    s.upsert_consent(enrolment.id, concept.id, true, chrono::Utc::now())
        .await
        .unwrap();
    let peter = token_of(&app.db, crate::support::seeded::PATIENT).await;
    let mary = token_of(&app.db, crate::support::seeded::MANAGER).await;
    let http = reqwest::Client::new();
    let upload = |csv: &[u8]| {
        let mut resource =
            crate::fhir_upload::observation(40001, 70001, VENDOR_SYSTEM, HR_CSV, csv);
        resource["valueAttachment"] =
            serde_json::json!({"contentType": "text/csv", "data": crate::fhir_upload::b64(csv)});
        http.post(format!("{}/fhir/r5/Observation", app.origin))
            .bearer_auth(&peter)
            .header("Content-Type", "application/fhir+json")
            .body(resource.to_string())
            .send()
    };
    let csv = b"timestamp,bpm\n2025-01-01T10:00:00Z,61\n2025-01-01T10:01:00Z,64\n";
    let created = upload(csv).await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    // Read back by the study's manager: the same bytes, as text/csv.
    let read: Value = http
        .get(format!("{}/fhir/r5/Observation/{id}", app.origin))
        .bearer_auth(&mary)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["valueAttachment"]["contentType"], "text/csv");
    assert_eq!(crate::fhir_upload::decoded(&read), csv);
    assert_eq!(read["code"]["coding"][0]["code"], HR_CSV);
    // Its time span is indexed: a date search finds it.
    let found: Value = http
        .get(format!(
            "{}/fhir/r5/Observation?patient=40001&date=2025-01-01&code=https%3A%2F%2Fvendor.example%2Fcodes%7Chr-csv",
            app.origin
        ))
        .bearer_auth(&mary)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1, "{found}");
    // A malformed CSV: a clear 4xx naming the problem, nothing stored.
    let refused = upload(b"timestamp,bpm\n2025-01-01T10:00:00Z,500\n")
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let outcome: Value = refused.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap_or("");
    assert!(
        diagnostics.contains("line 2") && diagnostics.contains("bpm"),
        "{outcome}"
    );
    let refused = upload(b"time,heart\n1,2\n").await.unwrap();
    assert_eq!(refused.status(), 422);
    let outcome: Value = refused.json().await.unwrap();
    assert!(outcome.to_string().contains("timestamp,bpm"), "{outcome}");
    let all: Value = http
        .get(format!(
            "{}/fhir/r5/Observation?patient=40001&code=https%3A%2F%2Fvendor.example%2Fcodes%7Chr-csv",
            app.origin
        ))
        .bearer_auth(&mary)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 1, "only the valid upload is stored: {all}");
}

/// An audit sink whose backpressure holds every answer until the test opens the gate.
struct GatedSink {
    entered: Arc<tokio::sync::Notify>,
    open: Arc<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl jhe_core::audit::AuditSink for GatedSink {
    fn record(&self, _event: jhe_core::audit::AuditEvent) {}

    async fn flush(&self) {}

    async fn backpressure(&self) {
        self.entered.notify_one();
        let _pass = self.open.acquire().await.unwrap();
    }
}

/// The server awaits its audit sink's backpressure before answering (the bounded audit queue).
async fn answers_wait_for_audit_backpressure(backend: Backend) {
    let entered = Arc::new(tokio::sync::Notify::new());
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let sink = GatedSink {
        entered: entered.clone(),
        open: open.clone(),
    };
    let app = run(backend, "", move |config, store| {
        JheServer::builder()
            .config(config)
            .store(store)
            .policy(jhe_plugins::RbacConsentPolicy)
            .data_format(jhe_plugins::OmhFormat::bundled())
            .identity_provider(jhe_plugins::PasswordIdp)
            .audit_sink(sink)
            .build()
            .unwrap()
            .into_endpoint()
    })
    .await;
    let url = format!("{}/health", app.origin);
    let mut request = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    // The request reached the sink's backpressure and is held there, unanswered.
    tokio::time::timeout(std::time::Duration::from_secs(10), entered.notified())
        .await
        .expect("the server never awaited the audit sink's backpressure");
    tokio::task::yield_now().await;
    assert!(
        finished_soon(&mut request).await.is_none(),
        "answered while the audit sink held it"
    );
    open.add_permits(1_000);
    assert_eq!(request.await.unwrap().unwrap(), 200);
}

/// `Some(output)` if `task` finishes within 200 ms.
async fn finished_soon<T>(task: &mut tokio::task::JoinHandle<T>) -> Option<T> {
    tokio::time::timeout(std::time::Duration::from_millis(200), task)
        .await
        .ok()
        .map(|r| r.unwrap())
}

both_backends! {
    embedded_audit_backpressure => answers_wait_for_audit_backpressure;
    embedded_api_docs_follow_the_prefix => api_docs_follow_the_prefix;
    embedded_metrics_from_the_builder => metrics_are_configured_by_the_builder;
    embedded_custom_csv_format => a_custom_csv_format_uploads_through_fhir;
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
