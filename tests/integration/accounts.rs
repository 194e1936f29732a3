//! Accounts over real HTTP: sign-up with the invite code, e-mail verification, login/logout,
//! password reset and change, CSRF, rate limiting, the portal's settings script.

use jhe_core::domain::{NewUser, UserType};
use jhe_core::services::seed::{NoProgress, seed};
use jhe_core::store::*;
use jhe_plugins::FileMailer;

use crate::both_backends;
use crate::support::{Backend, TestApp, location, spawn_app};

/// The CSRF token of a rendered form.
pub fn csrf_token(html: &str) -> String {
    let marker = r#"name="csrfmiddlewaretoken" value=""#;
    let start = html.find(marker).expect("form has a CSRF token") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub async fn get_form(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    csrf_token(&response.text().await.unwrap())
}

pub async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// Logs in through the real login form (the client keeps the session cookie).
pub async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let token = get_form(app, "/accounts/login/").await;
    post_form(
        app,
        "/accounts/login/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("username", email),
            ("password", password),
            ("next", ""),
        ],
    )
    .await
}

/// The path of the first link in the newest mail to `to` that contains `needle`.
pub async fn link_from_mail(app: &TestApp, to: &str, needle: &str) -> String {
    let mails = FileMailer::new(&app.config.mail.dir)
        .messages()
        .await
        .unwrap();
    let mail = mails
        .iter()
        .rev()
        .find(|m| m.to == to)
        .expect("a mail was written");
    let start = mail.text_body.find(needle).expect("mail has the link");
    let link: String = mail.text_body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    link.replace(&app.address, "")
}

async fn signup_verify_logout_login(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    let token = get_form(&app, "/accounts/signup/").await;
    let r = post_form(
        &app,
        "/accounts/signup/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("joincode", "jhe"),
            ("email", "new.person@example.org"),
            ("password", "Secr3t#pass"),
            ("password2", "Secr3t#pass"),
        ],
    )
    .await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/portal/", "sign-up lands on the portal");
    // Logged in at once.
    let profile = app.get("/accounts/profile/").await;
    assert_eq!(profile.status(), 200);
    assert!(
        profile
            .text()
            .await
            .unwrap()
            .contains("new.person@example.org")
    );
    let user = app
        .db
        .store
        .get_user_by_email("new.person@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user_type, Some(UserType::Practitioner));
    assert!(
        app.db
            .store
            .get_practitioner_by_user(user.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(user.password.starts_with("$argon2id$"));
    assert!(!user.email_is_verified);

    // Follow the verification link from the mail the file mailer wrote.
    let link = link_from_mail(
        &app,
        "new.person@example.org",
        "/accounts/verify_email_confirm/",
    )
    .await;
    let r = app.get(&link).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/accounts/verify_email_complete/");
    assert!(
        app.db
            .store
            .get_user(user.id)
            .await
            .unwrap()
            .unwrap()
            .email_is_verified
    );
    assert_eq!(app.get(&link).await.status(), 400, "a used link is invalid");

    let r = app.get("/accounts/logout/").await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        app.get("/accounts/profile/").await.status(),
        302,
        "logged out"
    );

    let r = login(&app, "new.person@example.org", "Secr3t#pass").await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/portal/");
    assert_eq!(app.get("/accounts/profile/").await.status(), 200);
}

async fn signup_refusals(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    let token = get_form(&app, "/accounts/signup/").await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("joincode", "wrong"),
                ("email", "x@example.org"),
                ("password", "Secr3t#pass"),
            ],
            "Your Invite Code is invalid.",
        ),
        (
            &[
                ("joincode", "jhe"),
                ("email", "mary@example.com"),
                ("password", "Secr3t#pass"),
            ],
            "This Email already exists",
        ),
        (
            &[
                ("joincode", "jhe"),
                ("email", "y@example.org"),
                ("password", "abc"),
            ],
            "too short",
        ),
        (
            &[
                ("joincode", "jhe"),
                ("email", "not-an-email"),
                ("password", "Secr3t#pass"),
            ],
            "valid email",
        ),
        (
            &[
                ("joincode", "jhe"),
                ("email", "z@example.org"),
                ("password", "Secr3t#pass"),
                ("password2", "other"),
            ],
            "didn&#x27;t match",
        ),
    ];
    for (fields, message) in cases {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrfmiddlewaretoken", &token));
        let r = post_form(&app, "/accounts/signup/", &form).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains(message), "expected {message:?} in the page");
    }
    assert!(
        app.db
            .store
            .get_user_by_email("x@example.org")
            .await
            .unwrap()
            .is_none()
    );
    // Without the invite-code setting, every code is refused.
    let setting = app
        .db
        .store
        .get_setting("site.registration_invite_code", None)
        .await
        .unwrap()
        .unwrap();
    app.db.store.delete_setting(setting.id).await.unwrap();
    let r = post_form(
        &app,
        "/accounts/signup/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("joincode", "jhe"),
            ("email", "q@example.org"),
            ("password", "Secr3t#pass"),
        ],
    )
    .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Your Invite Code is invalid.")
    );
}

async fn csrf_is_required(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    let _ = get_form(&app, "/accounts/login/").await;
    for fields in [
        vec![("username", "mary@example.com"), ("password", "Jhe1234!")],
        vec![
            ("csrfmiddlewaretoken", "forged"),
            ("username", "mary@example.com"),
            ("password", "Jhe1234!"),
        ],
    ] {
        let r = post_form(&app, "/accounts/login/", &fields).await;
        assert_eq!(r.status(), 403);
    }
    // A fresh client without any session cookie is refused too.
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = bare
        .post(app.url("/accounts/signup/"))
        .form(&[
            ("joincode", "jhe"),
            ("email", "a@b.org"),
            ("password", "Secr3t#pass"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        app.db
            .store
            .get_user_by_email("a@b.org")
            .await
            .unwrap()
            .is_none()
    );
}

async fn failed_logins_are_rate_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    for _ in 0..5 {
        let r = login(&app, "mary@example.com", "wrong").await;
        assert_eq!(r.status(), 200);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Please enter a correct email and password.")
        );
    }
    // Now even the right password is refused for a while, with a clear message.
    let r = login(&app, "mary@example.com", "Jhe1234!").await;
    assert_eq!(r.status(), 429);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Too many failed login attempts")
    );
    // Other accounts are not affected.
    assert_eq!(
        login(&app, "megan@example.com", "Jhe1234!").await.status(),
        302
    );
}

async fn password_reset_and_change(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    let token = get_form(&app, "/accounts/password_reset/").await;
    let r = post_form(
        &app,
        "/accounts/password_reset/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("email", "megan@example.com"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/accounts/password_reset/done/");
    // Unknown addresses look the same (no account enumeration) and send nothing.
    let r = post_form(
        &app,
        "/accounts/password_reset/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("email", "nobody@example.com"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/accounts/password_reset/done/");
    let link = link_from_mail(&app, "megan@example.com", "/accounts/reset/").await;
    let page = app.get(&link).await;
    assert_eq!(page.status(), 200);
    let token = csrf_token(&page.text().await.unwrap());
    let r = post_form(
        &app,
        &link,
        &[
            ("csrfmiddlewaretoken", &token),
            ("new_password1", "N3w#password"),
            ("new_password2", "N3w#password"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/accounts/reset/done/");
    assert_eq!(
        app.get(&link).await.status(),
        400,
        "the link dies once used"
    );
    assert_eq!(
        login(&app, "megan@example.com", "Jhe1234!").await.status(),
        200,
        "old password refused"
    );
    assert_eq!(
        login(&app, "megan@example.com", "N3w#password")
            .await
            .status(),
        302
    );

    let token = get_form(&app, "/accounts/password_change/").await;
    let r = post_form(
        &app,
        "/accounts/password_change/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("old_password", "wrong"),
            ("new_password1", "An0ther#pass"),
            ("new_password2", "An0ther#pass"),
        ],
    )
    .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("old password was entered incorrectly")
    );
    let r = post_form(
        &app,
        "/accounts/password_change/",
        &[
            ("csrfmiddlewaretoken", &token),
            ("old_password", "N3w#password"),
            ("new_password1", "An0ther#pass"),
            ("new_password2", "An0ther#pass"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/accounts/password_change/done/");
    assert_eq!(
        app.get("/accounts/profile/").await.status(),
        200,
        "still logged in after the change"
    );
}

async fn django_hashes_verify_and_upgrade(backend: Backend) {
    let app = spawn_app(backend).await;
    let django = jhe_kdf::make_django_pbkdf2("Jhe1234!", "Hrxk93CVKgRSGJdyusw4go", 870_000);
    let user = app
        .db
        .store
        .create_user(NewUser {
            email: "imported@example.org".into(),
            password: django,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        login(&app, "imported@example.org", "Jhe1234!")
            .await
            .status(),
        302
    );
    let upgraded = app.db.store.get_user(user.id).await.unwrap().unwrap();
    assert!(
        upgraded.password.starts_with("$argon2id$"),
        "rehashed on login"
    );
    assert!(upgraded.last_login.is_some());
}

async fn login_redirects_only_within_the_site(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    let on_site = format!("{}/portal/?a=1", app.config.site_url.trim_end_matches('/'));
    for (next, expected) in [
        ("/o/authorize/?client_id=x", "/o/authorize/?client_id=x"),
        ("https://evil.example/", "/portal/"),
        ("//evil.example/", "/portal/"),
        // Browsers drop tabs and newlines: `/\t/evil.example` is `//evil.example`.
        ("/\t/evil.example", "/portal/"),
        ("/\r\n/evil.example", "/portal/"),
        ("/\n/evil.example", "/portal/"),
        ("/\\evil.example", "/portal/"),
        ("\\\\evil.example", "/portal/"),
        ("javascript:alert(1)", "/portal/"),
        ("https://evil.example@localhost/", "/portal/"),
        (on_site.as_str(), "/portal/?a=1"),
    ] {
        let token = get_form(&app, "/accounts/login/").await;
        let r = post_form(
            &app,
            "/accounts/login/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("username", "mary@example.com"),
                ("password", "Jhe1234!"),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(location(&r), expected);
    }
    // Pages that need a login send the browser to the login form and back.
    app.get("/accounts/logout/").await;
    let r = app.get("/accounts/password_change/").await;
    assert_eq!(
        location(&r),
        "/accounts/login/?next=%2Faccounts%2Fpassword_change%2F"
    );
}

async fn portal_settings_and_callback(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/portal/client_settings.js").await;
    assert!(
        r.text().await.unwrap().contains(r#"client_id: "None","#),
        "no client before seeding"
    );
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    let client = app
        .db
        .store
        .get_client_by_name("JHE Admin UI")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        client.redirect_uris,
        format!("{}/auth/callback", app.address)
    );
    let r = app.get("/portal/client_settings.js").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let script = r.text().await.unwrap();
    assert!(script.contains(&format!(r#"client_id: "{}","#, client.client_id)));
    let health: serde_json::Value = app.get("/health").await.json().await.unwrap();
    assert!(script.contains(&format!(
        r#"JHE_VERSION: "{}""#,
        health["version"].as_str().unwrap()
    )));
    let r = app.get("/auth/callback?code=abc&state=xyz").await;
    assert_eq!(r.status(), 301);
    assert_eq!(location(&r), "/auth/callback/?code=abc&state=xyz");
    let r = app.get("/auth/callback/?code=abc&state=xyz").await;
    assert_eq!(r.status(), 200);
    assert!(
        app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("Welcome to JupyterHealth Exchange")
    );
}

async fn sessions_are_shared_between_replicas(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.db.store, &app.config, false, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        login(&app, "mary@example.com", "Jhe1234!").await.status(),
        302
    );
    let replica = crate::support::spawn_replica(&app).await;
    // The same session cookie, sent to the other server process.
    let session_cookie = crate::support::session_cookie_of(&app);
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{replica}/accounts/profile/"))
        .header("Cookie", format!("sessionid={session_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("mary@example.com"));
}

both_backends! {
    signup_flow => signup_verify_logout_login;
    signup_errors => signup_refusals;
    csrf => csrf_is_required;
    rate_limit => failed_logins_are_rate_limited;
    passwords => password_reset_and_change;
    django_hashes => django_hashes_verify_and_upgrade;
    safe_redirects => login_redirects_only_within_the_site;
    portal => portal_settings_and_callback;
    replica_sessions => sessions_are_shared_between_replicas;
}
