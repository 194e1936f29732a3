//! The portal in a real headless browser: Debian's `chromium` driven through `chromedriver`
//! (WebDriver, with `fantoccini`) against the real server on a random port.
//!
//! - The README use case, clicked through: sign-up, a superuser adds the new researcher to an
//!   organisation, the researcher creates a study (scope, data source, client), a patient (look-up
//!   by e-mail first) and an invitation link; the patient (no password) opens it in the browser
//!   and consents on the consent screen (the link then works no more); the patient's app redeems
//!   a fresh link and uploads observations over FHIR; the researcher sees them in the table and
//!   as a chart.
//! - A viewer sees no action buttons.
//! - A patient withdrawing consent in the browser makes the data disappear from the
//!   practitioner's table and chart.
//! - The "Get a token" page's token works on `GET /api/v1/users/profile`.
//! - The API docs (`/api/docs`, Swagger UI): *Authorize* with OAuth2 opens the login flow
//!   (authorization code + PKCE S256 with the docs' client) and the token it gets answers
//!   `GET /api/v1/users/profile`; a token pasted under BearerToken is taken as is.
//!
//! Screenshots of each main screen at 1280 and 390 px wide go to `target/portal-screenshots/`.
//! Every page is checked for browser console errors. The tests need `/usr/bin/chromedriver`
//! and `/usr/bin/chromium` (Debian packages `chromium-driver` and `chromium`; `.ci/run`
//! installs them) and fail with a clear message when they are missing. They are about the UI,
//! not storage, so they run on SQLite only.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, spawn_seeded};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "Jhe1234!";

/// A running chromedriver, stopped when dropped.
struct Driver {
    process: Child,
    port: u16,
    _profile: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A directory removed when dropped (a fresh browser profile).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts chromedriver and a browser session; panics with what to install when missing.
async fn browser() -> (Driver, Client) {
    for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: the portal's browser tests need Debian's `{package}` \
             (apt-get install -y chromium chromium-driver; .ci/run installs it)"
        );
    }
    let port = free_port();
    let process = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = TempDir(
        std::env::temp_dir().join(format!("jhe-chromium-{}", uuid::Uuid::new_v4().simple())),
    );
    let driver = Driver {
        process,
        port,
        _profile: profile,
    };
    let status = format!("http://127.0.0.1:{port}/status");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(&status).await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "chromedriver did not start on port {port}");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", driver._profile.0.display()),
            ],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    // Both rustls providers are linked (STACK.md gotcha 2): pick one before fantoccini's TLS.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = ClientBuilder::rustls()
        .expect("TLS connector")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a chromium session");
    (driver, client)
}

/// The browser console's errors since the last call (chromedriver's log endpoint).
async fn console_errors(driver: &Driver, client: &Client) -> Vec<String> {
    let Some(session) = client.session_id().await.expect("session id") else {
        return vec!["no WebDriver session".into()];
    };
    let logs: Value = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/session/{session}/se/log",
            driver.port
        ))
        .json(&json!({"type": "browser"}))
        .send()
        .await
        .expect("browser log")
        .json()
        .await
        .expect("browser log JSON");
    logs["value"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["level"] == "SEVERE")
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The visible form controls of the page without an accessible name (a `<label>`, or
/// `aria-label`).
const UNLABELLED: &str = "return [...document.querySelectorAll('input, select, textarea')]\
    .filter(e => e.type !== 'hidden' && !e.closest('[hidden]'))\
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))\
    .map(e => e.outerHTML.slice(0, 120))";

/// axe-core, vendored from npm (MPL-2.0; `tests/data/axe-core/`), injected into the pages.
const AXE: &str = include_str!("../data/axe-core/axe.min.js");

/// Runs axe-core's `color-contrast` rule (WCAG 2 AA) on the page: the offending elements with
/// axe's summary, or a line saying axe failed.
const CONTRAST: &str = "const done = arguments[arguments.length - 1];\
    axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']}})\
    .then(r => done(r.violations.flatMap(v => v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary))))\
    .catch(e => done(['axe failed: ' + e]));";

/// The page's colour-contrast violations (WCAG 2 AA), by axe-core.
async fn contrast_violations(client: &Client) -> serde_json::Value {
    client.execute(AXE, vec![]).await.expect("inject axe-core");
    client
        .execute_async(CONTRAST, vec![])
        .await
        .expect("axe-core run")
}

/// Opens a page and checks it loaded without console errors, with a label on every control
/// and with enough colour contrast (WCAG 2 AA, axe-core).
async fn open(driver: &Driver, client: &Client, app: &TestApp, path: &str) {
    client.goto(&app.url(path)).await.expect("navigate");
    let errors = console_errors(driver, client).await;
    assert!(errors.is_empty(), "console errors on {path}: {errors:?}");
    let unlabelled = client
        .execute(UNLABELLED, vec![])
        .await
        .expect("label check");
    assert_eq!(unlabelled, json!([]), "controls without a label on {path}");
    let contrast = contrast_violations(client).await;
    assert_eq!(
        contrast,
        json!([]),
        "colour contrast below WCAG AA on {path}"
    );
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/portal-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Screenshots of one of our pages at 1280 and 390 px wide (the full page height), after
/// checking its colour contrast (WCAG 2 AA, axe-core).
async fn shoot(client: &Client, name: &str) {
    let contrast = contrast_violations(client).await;
    assert_eq!(
        contrast,
        json!([]),
        "colour contrast below WCAG AA on {name}"
    );
    shoot_as_is(client, name).await;
}

/// Screenshots of the current page without the contrast check: for the Swagger UI of
/// `/api/docs`, whose own (third-party) method badges are below WCAG AA.
async fn shoot_as_is(client: &Client, name: &str) {
    for width in [1280u32, 390] {
        client.set_window_size(width, 900).await.expect("resize");
        let height = client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|h| h.as_u64())
            .unwrap_or(900)
            .clamp(600, 4000);
        client
            .set_window_size(width, u32::try_from(height).unwrap_or(900))
            .await
            .expect("resize");
        // No horizontal scrolling of the page itself at phone width (tables scroll inside).
        if width == 390 {
            let overflow = client
                .execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                    vec![],
                )
                .await
                .expect("width")
                .as_i64()
                .unwrap_or(0);
            if overflow > 0 {
                let culprits = client
                    .execute(
                        "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap')).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id)",
                        vec![],
                    )
                    .await
                    .unwrap_or_default();
                panic!("{name} scrolls sideways at 390 px by {overflow} px: {culprits}");
            }
        }
        let png = client.screenshot().await.expect("screenshot");
        std::fs::write(screenshot_dir().join(format!("{name}-{width}.png")), png)
            .expect("write screenshot");
    }
    client.set_window_size(1280, 900).await.expect("resize");
}

async fn path_of(client: &Client) -> String {
    let url = client.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

async fn text_of(client: &Client) -> String {
    let found = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("main"))
        .await;
    match found {
        Ok(main) => main.text().await.expect("text"),
        Err(e) => {
            let url = path_of(client).await;
            let source = client.source().await.unwrap_or_default();
            panic!("no <main> on {url} ({e}): {source}");
        }
    }
}

/// Marks the current document, so that [`wait_for_new_page`] can tell when another replaced it.
async fn mark_page(client: &Client) {
    client
        .execute("window.__jheOldPage = true; return true", vec![])
        .await
        .expect("mark the page");
}

/// Waits until a new document (after a form submission or click) has loaded.
async fn wait_for_new_page(client: &Client) {
    for _ in 0..200 {
        let loaded = client
            .execute(
                "return !window.__jheOldPage && document.readyState === 'complete'",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if loaded {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no new page after 10 s at {}", path_of(client).await);
}

/// Clicks an element that submits a form or follows a link, and waits for the next page.
async fn click_and_wait(client: &Client, css: &str) {
    mark_page(client).await;
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
    wait_for_new_page(client).await;
}

/// Fills the form matched by `css` (name → value) and submits it with its (first) submit button.
async fn fill_and_submit(client: &Client, css: &str, fields: &[(&str, &str)]) {
    let form = client.form(Locator::Css(css)).await.expect(css);
    for (name, value) in fields {
        form.set_by_name(name, value).await.expect(name);
    }
    mark_page(client).await;
    form.submit_with(Locator::Css("button[type=submit]"))
        .await
        .expect("submit");
    wait_for_new_page(client).await;
}

async fn log_in(driver: &Driver, client: &Client, app: &TestApp, email: &str, password: &str) {
    open(driver, client, app, "/accounts/logout/").await;
    open(driver, client, app, "/accounts/login/").await;
    fill_and_submit(
        client,
        "form[method=post]",
        &[("username", email), ("password", password)],
    )
    .await;
}

async fn use_case_from_sign_up_to_chart(app: &TestApp, driver: &Driver, client: &Client) {
    // 1. A researcher signs up and lands on the portal.
    open(driver, client, app, "/accounts/signup/").await;
    fill_and_submit(
        client,
        "form[method=post]",
        &[
            ("joincode", "jhe"),
            ("email", "rita@example.org"),
            ("password", "Secr3t#pass"),
            ("password2", "Secr3t#pass"),
        ],
    )
    .await;
    assert!(
        path_of(client).await.starts_with("/portal/"),
        "{}",
        path_of(client).await
    );
    assert!(console_errors(driver, client).await.is_empty());

    // 2. The superuser adds her to Example Lab as a manager.
    log_in(driver, client, app, "sam@example.com", PASSWORD).await;
    open(driver, client, app, "/portal/organizations/20003/").await;
    fill_and_submit(
        client,
        "form[action$='/members']:has(#member-email)",
        &[("email", "rita@example.org"), ("role", "manager")],
    )
    .await;
    assert!(
        text_of(client)
            .await
            .contains("rita@example.org is now a manager of this organization.")
    );

    // 3. She creates a study with a scope, a data source and a client.
    log_in(driver, client, app, "rita@example.org", "Secr3t#pass").await;
    assert_eq!(path_of(client).await, "/portal/organizations/");
    shoot(client, "organizations").await;
    // Keyboard: the first Tab reaches the skip link, which shows a visible focus ring.
    client
        .find(Locator::Css("body"))
        .await
        .expect("body")
        .send_keys(&char::from(fantoccini::key::Key::Tab).to_string())
        .await
        .expect("tab");
    let focus = client
        .execute(
            "const e = document.activeElement; const s = getComputedStyle(e); \
             return [e.className, s.outlineStyle, s.outlineWidth]",
            vec![],
        )
        .await
        .expect("focus");
    assert_eq!(focus[0], "skip-link", "{focus}");
    assert_ne!(focus[1], "none", "visible focus: {focus}");
    open(driver, client, app, "/portal/studies/?org=20003").await;
    fill_and_submit(
        client,
        "form[action='/portal/studies/']",
        &[
            ("organization", "20003"),
            ("name", "Heart Study"),
            ("description", "Resting heart rate at home"),
        ],
    )
    .await;
    let study_path = path_of(client).await;
    assert!(
        text_of(client)
            .await
            .contains("Study \"Heart Study\" created.")
    );
    let partner = crate::invitation::partner_client(app, "heart-app", true).await;
    for (select, value) in [
        ("add-scope", "50004".to_string()),
        ("add-data_source", "70001".to_string()),
        ("add-client", partner.id.to_string()),
    ] {
        fill_and_submit(
            client,
            &format!("form:has(#{select})"),
            &[("target", &value)],
        )
        .await;
        assert!(text_of(client).await.contains("Added."), "{select}");
    }
    open(driver, client, app, &study_path).await;
    shoot(client, "study").await;

    // 4. A patient: look up by e-mail, create, enrol from the patient list.
    open(driver, client, app, "/portal/patients/new?org=20003").await;
    fill_and_submit(
        client,
        "form[method=get]",
        &[("email", "hannah@example.org")],
    )
    .await;
    fill_and_submit(
        client,
        "form[action='/portal/patients/']",
        &[
            ("name_family", "Hart"),
            ("name_given", "Hannah"),
            ("birth_date", "1988-04-05"),
        ],
    )
    .await;
    let patient_path = path_of(client).await;
    let patient_id: i64 = patient_path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("patient id");
    open(driver, client, app, "/portal/patients/?org=20003").await;
    client
        .find(Locator::Css(&format!("#pick-{patient_id}")))
        .await
        .expect("checkbox")
        .click()
        .await
        .expect("tick");
    let study_id = study_path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let form = client
        .form(Locator::Css("form[action='/portal/patients/study']"))
        .await
        .expect("enrol form");
    form.set_by_name("study", &study_id).await.expect("study");
    mark_page(client).await;
    form.submit_with(Locator::Css("button[value=add]"))
        .await
        .expect("submit");
    wait_for_new_page(client).await;
    assert!(
        text_of(client)
            .await
            .contains("1 patient(s) added to the study.")
    );
    shoot(client, "patients").await;

    // 5. The invitation link, with its QR code.
    open(driver, client, app, &patient_path).await;
    fill_and_submit(client, "form[action$='/invitation']", &[]).await;
    let first_link: String = client
        .find(Locator::Id("invitation-link"))
        .await
        .expect("link")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(
        client.find(Locator::Css(".qr svg")).await.is_ok(),
        "QR code"
    );
    assert!(console_errors(driver, client).await.is_empty());
    shoot(client, "patient").await;

    let web_link: String = client
        .find(Locator::Id("invitation-web-link"))
        .await
        .expect("web link")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();

    // 6. The patient (no password) opens the invitation in the browser and consents there.
    let web_path = web_link
        .split_once("/portal/")
        .map(|(_, rest)| format!("/portal/{rest}"))
        .expect("a portal link");
    open(driver, client, app, &web_path).await;
    shoot(client, "invitation").await;
    click_and_wait(
        client,
        "form[action='/portal/invitation/'] button[type=submit]",
    )
    .await;
    assert_eq!(path_of(client).await, "/portal/consents/");
    click_and_wait(
        client,
        "button[aria-label='Consent to share Heart Rate with Heart Study']",
    )
    .await;
    assert!(text_of(client).await.contains("Consent recorded"));
    // The link worked once: opening it again is refused.
    open(driver, client, app, &web_path).await;
    click_and_wait(
        client,
        "form[action='/portal/invitation/'] button[type=submit]",
    )
    .await;
    assert!(text_of(client).await.contains("already used"));
    // The refusal answers 400, which the browser logs as a failed load; nothing else may be.
    let refused = console_errors(driver, client).await;
    assert!(
        refused.iter().all(|e| e.contains("status of 400")),
        "{refused:?}"
    );

    let (status, _) = crate::invitation::redeem(
        app,
        &crate::invitation::parse(&first_link),
        &crate::support::callback_uri(app),
    )
    .await;
    assert_eq!(status, 400, "the app cannot reuse the link used on the web");

    // The patient's app gets a fresh link from the researcher, redeems it, uploads over FHIR.
    log_in(driver, client, app, "rita@example.org", "Secr3t#pass").await;
    open(driver, client, app, &patient_path).await;
    fill_and_submit(client, "form[action$='/invitation']", &[]).await;
    let link: String = client
        .find(Locator::Id("invitation-link"))
        .await
        .expect("link")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    let invitation = crate::invitation::parse(&link);
    let (status, tokens) =
        crate::invitation::redeem(app, &invitation, &crate::support::callback_uri(app)).await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().expect("token").to_string();
    for (value, when) in [
        (61, "2026-11-01T08:00:00Z"),
        (64, "2026-11-02T08:00:00Z"),
        (59, "2026-11-03T08:00:00Z"),
        (66, "2026-11-04T08:00:00Z"),
    ] {
        let resource = crate::fhir_upload::observation(
            patient_id,
            70001,
            "https://w3id.org/openmhealth",
            "omh:heart-rate:2.0",
            &crate::fhir_upload::heart_rate_bytes(value, when),
        );
        let answer = crate::fhir_upload::post(app, "/fhir/r5/Observation", &token, &resource).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }

    // 7. The researcher sees them: table, chart, study overview.
    open(
        driver,
        client,
        app,
        &format!("/portal/observations/?org=20003&study={study_id}"),
    )
    .await;
    let table = text_of(client).await;
    assert!(table.contains("heart rate 66 beats/min"), "{table}");
    assert!(table.contains("Hart, Hannah"));
    shoot(client, "observations").await;
    open(
        driver,
        client,
        app,
        &format!("/portal/patients/{patient_id}/charts"),
    )
    .await;
    let chart = client
        .find(Locator::Css(".chart svg"))
        .await
        .expect("a chart");
    let labels = chart.html(false).await.expect("chart markup");
    assert!(labels.contains("beats/min"), "axis label: {labels}");
    assert!(labels.contains("heart rate"), "legend: {labels}");
    shoot(client, "charts").await;
    open(
        driver,
        client,
        app,
        &format!("/portal/studies/{study_id}/overview"),
    )
    .await;
    assert!(text_of(client).await.contains("Hart, Hannah"));
}

async fn a_viewer_sees_no_actions(app: &TestApp, driver: &Driver, client: &Client) {
    log_in(driver, client, app, "victor@example.com", PASSWORD).await;
    for path in [
        "/portal/organizations/20003/",
        "/portal/patients/?org=20003",
        "/portal/studies/30001/",
        "/portal/patients/40001/",
    ] {
        open(driver, client, app, path).await;
        let posts = client
            .find_all(Locator::Css("main form[method=post]"))
            .await
            .expect("forms");
        // The only form a viewer may use is an invitation link (practitioners invite).
        for form in posts {
            let action = form.attr("action").await.ok().flatten().unwrap_or_default();
            assert!(
                action.ends_with("/invitation"),
                "{path}: viewer sees {action}"
            );
        }
    }
}

async fn withdrawal_hides_data(app: &TestApp, driver: &Driver, client: &Client) {
    log_in(driver, client, app, "mary@example.com", PASSWORD).await;
    open(
        driver,
        client,
        app,
        "/portal/observations/?org=20003&study=30001&patient=40001",
    )
    .await;
    assert!(text_of(client).await.contains("heart rate 67.5 beats/min"));
    open(driver, client, app, "/portal/patients/40001/charts").await;
    assert!(text_of(client).await.contains("Heart Rate"));

    log_in(driver, client, app, "peter@example.com", PASSWORD).await;
    assert_eq!(path_of(client).await, "/portal/consents/");
    shoot(client, "consents").await;
    click_and_wait(
        client,
        "button[aria-label='Withdraw consent for Heart Rate in Example Study on BP & HR']",
    )
    .await;
    assert!(text_of(client).await.contains("Consent withdrawn"));

    log_in(driver, client, app, "mary@example.com", PASSWORD).await;
    open(
        driver,
        client,
        app,
        "/portal/observations/?org=20003&study=30001&patient=40001",
    )
    .await;
    let table = text_of(client).await;
    assert!(!table.contains("heart rate 67.5"), "{table}");
    assert!(table.contains("systolic blood pressure 115 mmHg"));
    open(driver, client, app, "/portal/patients/40001/charts").await;
    let charts = text_of(client).await;
    assert!(!charts.contains("Heart Rate"), "{charts}");
    assert!(charts.contains("Blood pressure"));
}

async fn token_page_gives_a_working_token(app: &TestApp, driver: &Driver, client: &Client) {
    log_in(driver, client, app, "megan@example.com", PASSWORD).await;
    open(driver, client, app, "/portal/token/").await;
    fill_and_submit(
        client,
        "form[action='/portal/token/']",
        &[("name", "my notebook"), ("expires", "7")],
    )
    .await;
    let token = client
        .find(Locator::Id("new-token"))
        .await
        .expect("the token")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(console_errors(driver, client).await.is_empty());
    shoot(client, "token").await;
    let profile = reqwest::Client::new()
        .get(app.url("/api/v1/users/profile"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("profile");
    assert_eq!(profile.status(), 200);
    let body: Value = profile.json().await.expect("json");
    assert_eq!(body["email"], "megan@example.com");
}

/// A study icon uploaded through the edit form's file input (the browser sends the file), shown
/// as the preview and in the list; then the Debug screen: an invitation code redeemed, the
/// patient's profile called.
async fn study_icon_and_debug_screen(app: &TestApp, driver: &Driver, client: &Client) {
    log_in(driver, client, app, "mary@example.com", PASSWORD).await;
    open(driver, client, app, "/portal/studies/30001/").await;
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/study-icon.png");
    client
        .find(Locator::Id("e-icon-file"))
        .await
        .expect("the icon file input")
        .send_keys(&file.display().to_string())
        .await
        .expect("choose the file");
    click_and_wait(
        client,
        "form[action='/portal/studies/30001/edit'] button[type=submit]",
    )
    .await;
    let text = text_of(client).await;
    assert!(text.contains("Study saved."), "{text}");
    let loaded = client
        .execute(
            "const i = document.getElementById('icon-preview'); return i && i.complete ? i.naturalWidth : 0",
            vec![],
        )
        .await
        .expect("the preview");
    assert_eq!(loaded, json!(32), "the uploaded icon is shown");
    assert!(console_errors(driver, client).await.is_empty());
    shoot(client, "study-icon").await;
    open(driver, client, app, "/portal/studies/?org=20003").await;
    shoot(client, "studies-with-icon").await;

    // The Debug screen.
    let partner = crate::invitation::partner_client(app, "chclient123", true).await;
    let code = crate::portal_debug::fresh_code(app, partner.id).await;
    open(driver, client, app, "/portal/debug/").await;
    fill_and_submit(
        client,
        "form[action='/portal/debug/exchange']",
        &[("code", &code)],
    )
    .await;
    let text = text_of(client).await;
    assert!(
        text.contains("Tokens issued for peter@example.com"),
        "{text}"
    );
    click_and_wait(
        client,
        "form[action^='/portal/debug/call'] input[value=profile] + button",
    )
    .await;
    let text = text_of(client).await;
    assert!(text.contains("GET /api/v1/users/profile → 200"), "{text}");
    assert!(console_errors(driver, client).await.is_empty());
    shoot(client, "debug").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_browser() {
    let app = spawn_seeded(Backend::Sqlite).await;
    let (driver, client) = browser().await;
    use_case_from_sign_up_to_chart(&app, &driver, &client).await;
    a_viewer_sees_no_actions(&app, &driver, &client).await;
    withdrawal_hides_data(&app, &driver, &client).await;
    token_page_gives_a_working_token(&app, &driver, &client).await;
    study_icon_and_debug_screen(&app, &driver, &client).await;
    let errors = console_errors(&driver, &client).await;
    let _ = client.close().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// Swagger UI at `/api/docs`: the OAuth2 *Authorize* button runs the real flow in a pop-up
/// (the login page, `/o/authorize/` with PKCE S256, our redirect page, `/o/token/`), and a
/// pasted token is used as the bearer token.
async fn api_docs_authorize(app: &TestApp, driver: &Driver, client: &Client) {
    open(driver, client, app, "/accounts/logout/").await;
    client.goto(&app.url("/api/docs")).await.expect("docs");
    let authorize = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("button.authorize"))
        .await
        .expect("the Authorize button");
    authorize.click().await.expect("open the dialog");
    let oauth = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//div[contains(@class,'auth-container')][.//h4[contains(., 'OAuth2')]]",
        ))
        .await
        .expect("the OAuth2 section");
    // The client id is filled in; every scope ticked; no secret for a public client.
    let client_id = oauth
        .find(Locator::Css("input[data-name=clientId]"))
        .await
        .expect("client_id field")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(client_id.as_deref(), Some("jhe-api-docs"));
    let main = client.window().await.expect("main window");
    oauth
        .find(Locator::Css("button.authorize"))
        .await
        .expect("the dialog's Authorize")
        .click()
        .await
        .expect("authorize");
    // The pop-up: the login page, then back through /o/authorize/ to our redirect page.
    let mut popup = None;
    for _ in 0..100 {
        let windows = client.windows().await.expect("windows");
        if let Some(w) = windows.into_iter().find(|w| *w != main) {
            popup = Some(w);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let popup = popup.expect("Authorize opens a pop-up");
    client.switch_to_window(popup).await.expect("to the pop-up");
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form[method=post]"))
        .await
        .expect("the login form in the pop-up");
    let login = client
        .form(Locator::Css("form[method=post]"))
        .await
        .expect("login form");
    login
        .set_by_name("username", "mary@example.com")
        .await
        .expect("username");
    login
        .set_by_name("password", PASSWORD)
        .await
        .expect("password");
    // The pop-up may close before the submission is acknowledged.
    let _ = login.submit_with(Locator::Css("button[type=submit]")).await;
    // The pop-up closes itself once it has handed the code back.
    for _ in 0..100 {
        if client.windows().await.expect("windows").len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client
        .switch_to_window(main)
        .await
        .expect("back to the docs");
    let mut token = Value::Null;
    for _ in 0..100 {
        token = client
            .execute(
                "const a = window.ui.authSelectors.authorized().toJS(); \
                 return a.OAuth2 && a.OAuth2.token ? a.OAuth2.token.access_token : null",
                vec![],
            )
            .await
            .expect("authorized state");
        if token.is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = token
        .as_str()
        .expect("Swagger UI holds an OAuth2 access token")
        .to_string();
    let profile = crate::support::bearer_get(app, "/api/v1/users/profile", &token).await;
    assert_eq!(profile.status(), 200);
    let body: Value = profile.json().await.expect("json");
    assert_eq!(body["email"], "mary@example.com");

    // A pasted token (e.g. from the portal's token page) under BearerToken.
    let bearer = client
        .find(Locator::XPath(
            "//div[contains(@class,'auth-container')][.//h4[contains(., 'BearerToken')]]//input",
        ))
        .await
        .expect("the BearerToken field");
    bearer.send_keys(&token).await.expect("paste the token");
    client
        .find(Locator::XPath(
            "//div[contains(@class,'auth-container')][.//h4[contains(., 'BearerToken')]]//button[contains(@class,'authorize')]",
        ))
        .await
        .expect("BearerToken's Authorize")
        .click()
        .await
        .expect("authorize");
    let pasted = client
        .execute(
            "const a = window.ui.authSelectors.authorized().toJS(); \
             return a.BearerToken ? a.BearerToken.value : null",
            vec![],
        )
        .await
        .expect("authorized state");
    assert_eq!(pasted, json!(token));
    shoot_as_is(client, "api-docs-authorized").await;
    let errors = console_errors(driver, client).await;
    assert!(errors.is_empty(), "console errors on /api/docs: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_in_a_browser() {
    let app = spawn_seeded(Backend::Sqlite).await;
    let (driver, client) = browser().await;
    api_docs_authorize(&app, &driver, &client).await;
    let _ = client.close().await;
}
