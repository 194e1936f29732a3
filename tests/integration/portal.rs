//! The web portal at `/portal/` over real HTTP with a session cookie: navigation and login
//! redirects, organisations, studies, patients, observations and charts, role-aware pages,
//! refused actions, CSRF, and the patient consent screen taking effect at once.

use crate::both_backends;
use crate::support::{
    Backend, TEST_CSRF, TestApp, location, login_session, plain_client, seeded, spawn_seeded,
};

/// A logged-in browser without JavaScript: a session cookie, no redirects followed.
pub(crate) struct Browser<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) cookie: String,
    pub(crate) client: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub(crate) async fn of(app: &'a TestApp, user_id: i64) -> Browser<'a> {
        Browser {
            app,
            cookie: format!("sessionid={}", login_session(app, user_id).await),
            client: plain_client(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.app.url(path))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrfmiddlewaretoken", TEST_CSRF)];
        form.extend_from_slice(fields);
        self.client
            .post(self.app.url(path))
            .header("Cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form and follows the redirect; returns the landing page's path and HTML.
    pub(crate) async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> (String, String) {
        let r = self.post(path, fields).await;
        assert_eq!(r.status(), 302, "POST {path}: {}", r.text().await.unwrap());
        let to = location(&r);
        let html = self.page(&to).await;
        (to, html)
    }
}

/// The id in a `/portal/<kind>/<id>/` path.
fn id_in(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

async fn navigation_and_login(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let anonymous = plain_client();
    let r = anonymous.get(app.url("/portal")).send().await.unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(location(&r), "/portal/");
    let r = anonymous
        .get(app.url("/portal/patients/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        location(&r),
        "/accounts/login/?next=%2Fportal%2Fpatients%2F"
    );
    // Screens without the trailing slash move to the slash form (as the original's).
    let r = anonymous
        .get(app.url("/portal/patients?org=20003"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(location(&r), "/portal/patients/?org=20003");
    // The settings script of the original stays.
    let r = anonymous
        .get(app.url("/portal/client_settings.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Assets come from the binary.
    for asset in ["/portal/static/portal.css", "/portal/static/portal.js"] {
        let r = anonymous.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }

    let mary = Browser::of(&app, seeded::MANAGER).await;
    assert_eq!(
        location(&mary.get("/portal/").await),
        "/portal/organizations/"
    );
    let peter = Browser::of(&app, seeded::PATIENT).await;
    assert_eq!(location(&peter.get("/portal/").await), "/portal/consents/");
    let html = peter.page("/portal/profile/").await;
    assert!(html.contains("peter@example.com"));
    assert!(html.contains(">patient<"));
    // Every "Data Portal" link of the site leads somewhere.
    assert_eq!(mary.get("/portal/nothing-here/").await.status(), 404);
    let home = mary.page("/").await;
    assert!(home.contains(r#"href="/portal/""#));
}

async fn a_manager_works_through_the_portal(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let mary = Browser::of(&app, seeded::MANAGER).await;

    // Organisations: the tree of mary's top-level organisation, her role, no top-level create.
    let html = mary.page("/portal/organizations/").await;
    assert!(html.contains("Example Research Institute"));
    assert!(html.contains("Example School of Data Science"));
    assert!(html.contains(r#"<a href="/portal/organizations/20003/">Example Lab</a>"#));
    assert!(!html.contains("Create a top-level organization"));
    let html = mary.page("/portal/organizations/20003/").await;
    assert!(html.contains("megan@example.com"));
    assert!(html.contains("Add a practitioner"));
    assert!(html.contains("Create a child organization"));

    // Create a child organisation, add and remove a practitioner.
    let (to, html) = mary
        .submit(
            "/portal/organizations/",
            &[
                ("part_of", "20003"),
                ("name", "Portal Child"),
                ("type", "dept"),
            ],
        )
        .await;
    assert!(to.starts_with("/portal/organizations/"));
    assert!(
        html.contains("Organization &quot;Portal Child&quot; created."),
        "{html}"
    );
    assert!(html.contains("Your role</dt><dd>manager"));
    let child = id_in(&to);
    let (_, html) = mary
        .submit(
            &format!("/portal/organizations/{child}/members"),
            &[("email", "tom@example.com"), ("role", "viewer")],
        )
        .await;
    assert!(html.contains("tom@example.com is now a viewer of this organization."));
    assert!(html.contains("<td>tom@example.com</td>"));
    assert!(html.contains(r#"<option value="viewer" selected>viewer</option>"#));
    // The role changes in place.
    let (_, html) = mary
        .submit(
            &format!("/portal/organizations/{child}/members"),
            &[("email", "tom@example.com"), ("role", "member")],
        )
        .await;
    assert!(html.contains("tom@example.com is now a member of this organization."));
    assert!(!html.contains(r#"<option value="viewer" selected>viewer</option>"#));
    let (_, html) = mary
        .submit(
            &format!("/portal/organizations/{child}/members"),
            &[("email", "nobody@example.org"), ("role", "viewer")],
        )
        .await;
    assert!(html.contains("No user has the e-mail nobody@example.org."));
    let (_, html) = mary
        .submit(
            &format!("/portal/organizations/{child}/edit"),
            &[("name", "Portal Child 2"), ("type", "team")],
        )
        .await;
    assert!(html.contains("<h1>Portal Child 2</h1>"));
    let (to, _) = mary
        .submit(&format!("/portal/organizations/{child}/delete"), &[])
        .await;
    assert_eq!(to, "/portal/organizations/");
    assert_eq!(
        mary.get(&format!("/portal/organizations/{child}/"))
            .await
            .status(),
        404
    );

    // A study with a requested scope.
    let (to, html) = mary
        .submit(
            "/portal/studies/",
            &[
                ("organization", "20003"),
                ("name", "Portal Study"),
                ("description", "Made in the portal"),
            ],
        )
        .await;
    assert!(html.contains("<h1>Portal Study</h1>"), "{html}");
    let study = id_in(&to);
    let (_, html) = mary
        .submit(
            &format!("/portal/studies/{study}/link"),
            &[("kind", "scope"), ("target", "50004")],
        )
        .await;
    assert!(html.contains("Heart Rate (omh:heart-rate:2.0)"));
    let (_, html) = mary
        .submit(
            &format!("/portal/studies/{study}/link"),
            &[("kind", "data_source"), ("target", "70001")],
        )
        .await;
    assert!(html.contains("CareX"));

    // A patient: look up by e-mail, create, then enrol with the multi-select form.
    let html = mary
        .page("/portal/patients/new?org=20003&email=peter@example.com")
        .await;
    assert!(
        html.contains("Patient with E-mail peter@example.com is already a member of Example Lab.")
    );
    let html = mary
        .page("/portal/patients/new?org=20003&email=new.patient@example.org")
        .await;
    assert!(html.contains("Create the patient"));
    let (to, html) = mary
        .submit(
            "/portal/patients/",
            &[
                ("org", "20003"),
                ("telecom_email", "new.patient@example.org"),
                ("name_family", "Newman"),
                ("name_given", "Nora"),
                ("birth_date", "1991-02-03"),
            ],
        )
        .await;
    assert!(html.contains("<h1>Nora Newman</h1>"), "{html}");
    let patient = id_in(&to);
    let list = mary.page("/portal/patients/?org=20003").await;
    assert!(list.contains("Newman"));
    assert!(list.contains("Smith"));
    assert!(
        list.contains("1&ndash;3 of 3") || list.contains("1–3 of 3"),
        "{list}"
    );
    let pick = format!("patient_{patient}");
    let (_, html) = mary
        .submit(
            "/portal/patients/study",
            &[
                ("org", "20003"),
                ("study", &study),
                ("action", "add"),
                (&pick, "on"),
            ],
        )
        .await;
    assert!(html.contains("1 patient(s) added to the study."));
    let html = mary.page(&format!("/portal/studies/{study}/")).await;
    assert!(html.contains("Newman, Nora"));
    let html = mary.page(&format!("/portal/patients/{patient}/")).await;
    assert!(html.contains("Portal Study"));
    assert!(html.contains(r#"Heart Rate <span class="badge">pending</span>"#));
    // An invitation link with its QR code, for a client of one of the patient's studies.
    let partner = crate::invitation::partner_client(&app, "portal-partner", true).await;
    let partner_id = partner.id.to_string();
    let (_, html) = mary
        .submit(
            "/portal/studies/30001/link",
            &[("kind", "client"), ("target", &partner_id)],
        )
        .await;
    assert!(html.contains("CommonHealth"));
    let html = mary.page("/portal/patients/40001/").await;
    assert!(html.contains(&format!(r#"name="client" value="{partner_id}""#)));
    let r = mary
        .post(
            "/portal/patients/40001/invitation",
            &[("client", &partner_id)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("app.example.org&#x2f;invite?code="), "{html}");
    assert!(html.contains("<svg"), "QR code");
    assert!(html.contains(r#"data-copy="invitation-link""#));

    // Observations: the table, the charts and the study overview.
    let html = mary.page("/portal/observations/?org=20003").await;
    assert!(html.contains("systolic blood pressure 115 mmHg"), "{html}");
    assert!(html.contains("heart rate 67.5 beats&#x2f;min"));
    let html = mary.page("/portal/patients/40001/charts").await;
    assert!(html.contains("<svg"));
    assert!(html.contains("mmHg"));
    assert!(html.contains("beats/min"));
    let html = mary.page("/portal/studies/30001/overview").await;
    assert!(html.contains("Smith, Peter"), "{html}");

    // Without the CSRF token nothing happens.
    let r = plain_client()
        .post(app.url("/portal/organizations/"))
        .header("Cookie", &mary.cookie)
        .form(&[("name", "x"), ("type", "dept"), ("part_of", "20003")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn a_viewer_sees_no_actions_and_is_refused(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let victor = Browser::of(&app, seeded::VIEWER).await;
    let html = victor.page("/portal/organizations/20003/").await;
    assert!(html.contains("megan@example.com"));
    for action in [
        "Add a practitioner",
        "Edit organization",
        "Remove",
        "Create a child",
    ] {
        assert!(!html.contains(action), "viewer sees {action}");
    }
    let html = victor.page("/portal/patients/?org=20003").await;
    assert!(html.contains("Smith"));
    assert!(!html.contains("Add a patient"));
    assert!(!html.contains(r#"type="checkbox""#));
    let html = victor.page("/portal/studies/30001/").await;
    assert!(!html.contains("Edit study"));
    assert!(!html.contains("Remove"));
    // A hand-made request is refused with the policy's message.
    let (_, html) = victor
        .submit(
            "/portal/organizations/20003/members",
            &[("email", "mark@example.com"), ("role", "manager")],
        )
        .await;
    assert!(html.contains("message-error"), "{html}");
    assert!(!html.contains("mark@example.com"));
    // Not visible is not found.
    assert_eq!(victor.get("/portal/patients/40003/").await.status(), 404);
}

async fn withdrawn_consent_hides_data_at_once(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let mary = Browser::of(&app, seeded::MANAGER).await;
    let peter = Browser::of(&app, seeded::PATIENT).await;
    let html = mary
        .page("/portal/observations/?org=20003&study=30001&patient=40001")
        .await;
    assert!(html.contains("heart rate 67.5 beats&#x2f;min"), "{html}");
    let html = mary.page("/portal/patients/40001/charts").await;
    assert!(html.contains(">Heart Rate</h2>"));

    let consents = peter.page("/portal/consents/").await;
    assert!(consents.contains("Example Study on BP &amp; HR"));
    assert!(consents.contains("Withdraw consent for Heart Rate in Example Study on BP &amp; HR"));
    let (to, html) = peter
        .submit(
            "/portal/consents/",
            &[
                ("study", "30001"),
                ("system", "https://w3id.org/openmhealth"),
                ("code", "omh:heart-rate:2.0"),
                ("decision", "withdraw"),
            ],
        )
        .await;
    assert_eq!(to, "/portal/consents/");
    assert!(html.contains("Consent withdrawn"), "{html}");

    let html = mary
        .page("/portal/observations/?org=20003&study=30001&patient=40001")
        .await;
    assert!(!html.contains("heart rate 67.5"), "{html}");
    assert!(html.contains("systolic blood pressure 115 mmHg"));
    let html = mary.page("/portal/patients/40001/charts").await;
    assert!(!html.contains(">Heart Rate</h2>"));
    assert!(html.contains(">Blood pressure</h2>"));
}

/// Charts and the study overview cover every observation in range, not the newest 1,000: 1,500
/// heart-rate values in January 2031 are drawn as min/mean/max buckets, and counted in full.
async fn charts_cover_the_whole_range(backend: Backend) {
    use jhe_core::domain::NewObservation;
    use jhe_core::store::{ObservationStore, ReferenceStore};
    let app = spawn_seeded(backend).await;
    let hr = app
        .db
        .store
        .find_concept("https://w3id.org/openmhealth", "omh:heart-rate:2.0")
        .await
        .unwrap()
        .expect("heart rate");
    let start = chrono::DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let new: Vec<NewObservation> = (0..1500_i64)
        .map(|i| {
            let at = start + chrono::Duration::minutes(10 * i);
            let when = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            NewObservation {
                id: None,
                subject_patient_id: 40001,
                codeable_concept_id: hr.id,
                data_source_id: Some(70001),
                value_attachment_data: String::from_utf8(crate::fhir_upload::heart_rate_bytes(
                    50 + i % 50,
                    &when,
                ))
                .unwrap(),
                content_type: "application/json".into(),
                status: "final".into(),
                effective_start: Some(at),
                effective_end: None,
                identifiers: Vec::new(),
            }
        })
        .collect();
    for chunk in new.chunks(500) {
        app.db
            .store
            .create_observations(chunk.to_vec())
            .await
            .unwrap();
    }
    let mary = Browser::of(&app, seeded::MANAGER).await;
    let html = mary
        .page(&format!(
            "/portal/patients/40001/charts?scope={}&from=2031-01-01&to=2031-01-31",
            hr.id
        ))
        .await;
    assert!(html.contains("Heart Rate: 1500 values"), "{html}");
    assert!(html.contains("1500 values in this range"), "{html}");
    assert!(html.contains("heart rate mean"), "{html}");
    assert!(html.contains("heart rate max"), "{html}");
    // A narrower range: fewer values, still all of them (one day = 144).
    let html = mary
        .page(&format!(
            "/portal/patients/40001/charts?scope={}&from=2031-01-02&to=2031-01-02",
            hr.id
        ))
        .await;
    assert!(html.contains("Heart Rate: 144 values"), "{html}");
    // The overview counts every observation of the patient (the seed's and the 1,500).
    let html = mary.page("/portal/studies/30001/overview").await;
    let total_before: usize = 1500;
    let marker = "<td>";
    let totals: Vec<usize> = html
        .split("</tr>")
        .filter(|row| row.contains("/portal/patients/40001/charts"))
        .filter_map(|row| row.rsplit(marker).next())
        .filter_map(|cell| cell.split('<').next()?.trim().parse().ok())
        .collect();
    assert_eq!(totals.len(), 1, "{html}");
    assert!(totals[0] > total_before, "{totals:?}");
}

/// An organisation with 1,001 child organisations lists every one (no cap at 1,000).
async fn every_child_organization_shows(backend: Backend) {
    use jhe_core::domain::NewOrganization;
    use jhe_core::store::OrganizationStore;
    let app = spawn_seeded(backend).await;
    for i in 0..1001 {
        app.db
            .store
            .create_organization(NewOrganization {
                id: None,
                name: format!("Ward {i:04}"),
                org_type: "dept".into(),
                part_of: Some(20003),
            })
            .await
            .unwrap();
    }
    let sam = Browser::of(&app, seeded::SUPERUSER).await;
    let html = sam.page("/portal/organizations/20003/").await;
    let missing: Vec<i32> = (0..1001)
        .filter(|i| !html.contains(&format!("Ward {i:04}")))
        .collect();
    assert!(missing.is_empty(), "children not listed: {missing:?}");
}

/// The value of the input `id` in a page.
fn input_value(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}" class="token" value=""#);
    let start = html.find(&marker).expect("the input") + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

async fn a_token_for_a_notebook(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let mary = Browser::of(&app, seeded::MANAGER).await;
    let html = mary.page("/portal/token/").await;
    assert!(html.contains("You have no tokens yet."));
    let r = mary
        .post(
            "/portal/token/",
            &[("name", "analysis notebook"), ("expires", "30")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("it is shown only once"));
    assert!(html.contains("JupyterHealthClient()"));
    let token = input_value(&html, "new-token");
    assert_eq!(token.len(), 30, "{token}");
    assert!(html.contains("<td>analysis notebook</td><td>read-only</td>"));
    // The token works on the API, read-only.
    let profile = plain_client()
        .get(app.url("/api/v1/users/profile"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200);
    let body: serde_json::Value = profile.json().await.unwrap();
    assert_eq!(body["email"], "mary@example.com");
    let write = plain_client()
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "x", "type": "dept", "partOf": 20003}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
    // Shown once: the list never shows it again.
    let html = mary.page("/portal/token/").await;
    assert!(!html.contains(&token));
    // Revoked: it stops working at once.
    assert!(html.contains(r#"value="Revoke""#) || html.contains(">Revoke</button>"));
    let stored = {
        use jhe_core::store::OAuthStore;
        app.db
            .store
            .list_personal_access_tokens(seeded::MANAGER)
            .await
            .unwrap()
    };
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "analysis notebook");
    assert_eq!(stored[0].scope, "openid email user/*.rs");
    let id = stored[0].id.to_string();
    // Another user cannot revoke it.
    let megan = Browser::of(&app, seeded::MEMBER).await;
    let (_, html) = megan
        .submit(&format!("/portal/token/{id}/revoke"), &[])
        .await;
    assert!(html.contains("No token matches the given query."));
    let (_, html) = mary
        .submit(&format!("/portal/token/{id}/revoke"), &[])
        .await;
    assert!(html.contains("Token revoked"), "{html}");
    let profile = plain_client()
        .get(app.url("/api/v1/users/profile"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 401);
    // Patients get no token page.
    let peter = Browser::of(&app, seeded::PATIENT).await;
    assert_eq!(peter.get("/portal/token/").await.status(), 403);
}

async fn administration_pages(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let sam = Browser::of(&app, seeded::SUPERUSER).await;
    let mary = Browser::of(&app, seeded::MANAGER).await;
    // Superuser-only pages.
    let html = sam.page("/portal/practitioners/").await;
    assert!(html.contains("mary@example.com"));
    assert!(html.contains(r#"href="/portal/settings/""#));
    let html = sam.page("/portal/settings/").await;
    assert!(html.contains("Create a setting"));
    let (_, html) = sam
        .submit(
            "/portal/settings/",
            &[("key", "portal.test"), ("type", "int"), ("value", "42")],
        )
        .await;
    assert!(html.contains("Setting created."), "{html}");
    assert!(html.contains("<td>portal.test</td>"));
    let setting = {
        use jhe_core::store::SettingStore;
        app.db
            .store
            .get_setting("portal.test", None)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(setting.value, jhe_core::domain::SettingValue::Int(42));
    let (_, html) = sam
        .submit(
            &format!("/portal/settings/{}/edit", setting.id),
            &[("type", "int"), ("value", "43")],
        )
        .await;
    assert!(html.contains("Setting saved."), "{html}");
    assert!(html.contains(r#"value="43""#));
    for path in ["/portal/practitioners/", "/portal/settings/"] {
        let r = mary.get(path).await;
        assert_eq!(r.status(), 403, "{path}");
        assert!(
            !mary
                .page("/portal/organizations/")
                .await
                .contains(&format!(r#"href="{path}""#))
        );
    }
    // Data sources: superusers manage them, practitioners read them.
    let (_, html) = sam
        .submit(
            "/portal/data-sources/",
            &[("name", "Portal Watch"), ("type", "personal_device")],
        )
        .await;
    assert!(html.contains("Portal Watch"));
    let html = mary.page("/portal/data-sources/").await;
    assert!(html.contains("Portal Watch"));
    assert!(html.contains("CareX"));
    assert!(!html.contains("Create a data source"));
    // Clients.
    let (_, html) = sam
        .submit(
            "/portal/clients/",
            &[
                ("name", "Portal App"),
                ("invitation_url", "https://portal-app.example.org/i?c=CODE"),
            ],
        )
        .await;
    assert!(html.contains("Client created."), "{html}");
    assert!(html.contains("Portal App"));
    let client = {
        use jhe_core::store::ClientStore;
        app.db
            .store
            .get_client_by_name("Portal App")
            .await
            .unwrap()
            .unwrap()
    };
    let (_, html) = sam
        .submit(
            &format!("/portal/clients/{}/edit", client.id),
            &[
                ("name", "Portal App 2"),
                ("invitation_url", "https://portal-app.example.org/j?c=CODE"),
            ],
        )
        .await;
    assert!(html.contains("Client saved."), "{html}");
    assert!(html.contains("<h1>Portal App 2</h1>"));
    // Practitioners see clients but cannot change them.
    let html = mary.page(&format!("/portal/clients/{}/", client.id)).await;
    assert!(html.contains("Portal App 2"));
    assert!(!html.contains("Edit client"));

    // Clients and data sources are paged like every list that can grow (20 rows by default).
    for i in 0..20 {
        let (_, html) = sam
            .submit(
                "/portal/clients/",
                &[
                    ("name", &format!("Paged App {i}")),
                    ("invitation_url", "https://paged.example.org/j?c=CODE"),
                ],
            )
            .await;
        assert!(html.contains("Client created."), "{html}");
        let (_, html) = sam
            .submit(
                "/portal/data-sources/",
                &[
                    ("name", &format!("Paged Source {i}")),
                    ("type", "personal_device"),
                ],
            )
            .await;
        assert!(html.contains("created"), "{html}");
    }
    for (path, label) in [
        ("/portal/clients/", "Client list pages"),
        ("/portal/data-sources/", "Data source list pages"),
    ] {
        let first = sam.page(path).await;
        assert!(first.contains(label), "{path}: {first}");
        assert!(first.contains("Page 1 of 2"), "{path}");
        let next = "?page=2&amp;pageSize=20\" rel=\"next\"";
        assert!(first.contains(next), "{path}: a next link");
        let second = sam.page(&format!("{path}?page=2&pageSize=20")).await;
        assert!(second.contains("Page 2 of 2"), "{path}");
        assert!(
            second.contains("21&ndash;"),
            "{path}: rows 21 on, on page 2"
        );
    }
}

/// The "Enrol a patient" picker lists the first 100 patients of the organisation, says how
/// many there are, and finds the others by name.
async fn the_patient_picker_searches(backend: Backend) {
    use jhe_core::domain::NewPatient;
    use jhe_core::store::{PatientStore, StudyStore};
    let app = spawn_seeded(backend).await;
    let org = app
        .db
        .store
        .get_study(30001)
        .await
        .unwrap()
        .unwrap()
        .organization_id;
    for i in 0..120 {
        let patient = app
            .db
            .store
            .create_patient(NewPatient {
                id: None,
                jhe_user_id: None,
                identifier: None,
                name_family: format!("Picker{i:03}"),
                name_given: "Pat".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
                telecom_phone: None,
            })
            .await
            .unwrap();
        app.db
            .store
            .add_patient_organization(patient.id, org)
            .await
            .unwrap();
    }
    let mary = Browser::of(&app, seeded::MANAGER).await;
    let html = mary.page("/portal/studies/30001/").await;
    assert!(html.contains("Showing 100 of"), "{html}");
    assert!(html.contains("search by name or e-mail address"), "{html}");
    let html = mary
        .page("/portal/studies/30001/?patient_q=picker119")
        .await;
    assert!(html.contains("Picker119, Pat"), "{html}");
    assert!(!html.contains("Picker000, Pat"), "{html}");
    assert!(!html.contains("Showing 100 of"), "{html}");
    let html = mary.page("/portal/studies/30001/?patient_q=Nobody").await;
    assert!(html.contains("left to enrol matches"), "{html}");
}

both_backends! {
    admin => administration_pages;
    token => a_token_for_a_notebook;
    navigation => navigation_and_login;
    manager => a_manager_works_through_the_portal;
    viewer => a_viewer_sees_no_actions_and_is_refused;
    consent => withdrawn_consent_hides_data_at_once;
    charts_whole_range => charts_cover_the_whole_range;
    all_children => every_child_organization_shows;
    patient_picker_search => the_patient_picker_searches;
}
