//! Bounded queries per request (issue #14): the SQL statements a request runs do not grow with
//! its page size or with the number of patients a Bundle names (no query per row or per entry),
//! counted through sea-orm's statement hook on the server's store (`TestDb::statements`). A
//! query per row, per patient or per entry coming back makes these counts grow by ~90.

use jhe_core::domain::*;
use jhe_core::store::*;
use serde_json::{Value, json};

use crate::both_backends;
use crate::fhir_upload::{HR, World, get, heart_rate_bytes, post};
use crate::store_crud::{patient, user};
use crate::support::{Backend, TestApp};

/// Extra patients (with accounts) in the practitioner's organisation, enrolled in the study and
/// consenting to heart rate.
const PATIENTS: usize = 110;
/// Slack for statements the server runs outside the request (none are expected).
const SLACK: u64 = 2;

async fn statements_of<F, Fut, T>(app: &TestApp, request: F) -> (u64, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let before = app.db.statement_count();
    let out = request().await;
    (app.db.statement_count() - before, out)
}

fn bundle(w: &World, patients: &[Patient]) -> Value {
    let hr = heart_rate_bytes(72, "2025-01-01T10:00:00Z");
    let entries: Vec<Value> = patients
        .iter()
        .map(|p| {
            json!({
                "resource": w.observation(p.id, HR, &hr),
                "request": {"method": "POST", "url": "Observation"}
            })
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
}

fn created(answer: &Value) -> usize {
    answer["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| {
                    e["response"]["status"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("201"))
                })
                .count()
        })
        .unwrap_or(0)
}

async fn queries_do_not_grow_with_page_size(backend: Backend) {
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let hr = w
        .concepts
        .iter()
        .find(|c| c.coding_code == HR)
        .unwrap()
        .clone();
    let mut patients = Vec::new();
    for i in 0..PATIENTS {
        let u = user(s, &format!("n{i}@example.org"), Some(UserType::Patient)).await;
        let p = patient(s, Some(u.id), &format!("N{i:03}")).await;
        s.add_patient_organization(p.id, w.lab.id).await.unwrap();
        let e = s.enroll_patient(w.study.id, p.id).await.unwrap();
        s.upsert_consent(e.id, hr.id, true, chrono::Utc::now())
            .await
            .unwrap();
        patients.push(p);
    }
    let app = &w.app;
    let token = w.prac_token.as_str();

    // Uploads: a batch naming 10 patients costs what one naming 100 patients costs.
    let small = bundle(&w, &patients[..10]);
    let (few, answer) = statements_of(app, || post(app, "/fhir/r5/", token, &small)).await;
    assert_eq!(created(&answer.json), 10, "{}", answer.text);
    let large = bundle(&w, &patients[10..]);
    let (many, answer) = statements_of(app, || post(app, "/fhir/r5/", token, &large)).await;
    assert_eq!(created(&answer.json), PATIENTS - 10, "{}", answer.text);
    assert!(
        many <= few + SLACK,
        "a Bundle of {} patients ran {many} statements, one of 10 ran {few}",
        PATIENTS - 10
    );

    // Lists: page size 10 and 100 run the same number of statements.
    for (what, path) in [
        ("observation list", "/api/v1/observations?pageSize={n}"),
        ("patient list", "/api/v1/patients?pageSize={n}"),
        ("user list", "/api/v1/users?pageSize={n}"),
        ("FHIR search", "/fhir/r5/Observation?_count={n}"),
        ("FHIR patients", "/fhir/r5/Patient?_count={n}"),
    ] {
        let mut counts = Vec::new();
        for n in [10, 100] {
            let path = path.replace("{n}", &n.to_string());
            let (count, answer) = statements_of(app, || get(app, &path, token)).await;
            assert_eq!(answer.status.as_u16(), 200, "{path}: {}", answer.text);
            let rows = answer.json["results"]
                .as_array()
                .or_else(|| answer.json["entry"].as_array())
                .map_or(0, Vec::len);
            assert_eq!(rows, n, "{path} returns a full page");
            counts.push(count);
        }
        assert!(
            counts[1] <= counts[0] + SLACK,
            "{what}: {} statements for 100 rows, {} for 10",
            counts[1],
            counts[0]
        );
    }

    // `_total=none` on an offset page: no count and no second query for "is there more?".
    let (counted, answer) = statements_of(app, || {
        get(app, "/fhir/r5/Observation?_count=10&_page=2", token)
    })
    .await;
    assert_eq!(answer.json["total"], PATIENTS as u64);
    let (uncounted, answer) = statements_of(app, || {
        get(
            app,
            "/fhir/r5/Observation?_count=10&_page=2&_total=none",
            token,
        )
    })
    .await;
    assert_eq!(answer.json["entry"].as_array().map(Vec::len), Some(10));
    assert!(answer.json.get("total").is_none(), "{}", answer.text);
    let links = answer.json["link"].to_string();
    assert!(links.contains("\"next\""), "a next page follows: {links}");
    assert!(
        uncounted < counted,
        "_total=none ran {uncounted} statements, with the count {counted}"
    );
    // The first page's total is one statement on the maintained counts (no fold here: the
    // Bundles above left few delta rows per pair).
    let (first_counted, answer) =
        statements_of(app, || get(app, "/fhir/r5/Observation?_count=10", token)).await;
    assert_eq!(answer.json["total"], PATIENTS as u64);
    let (first_uncounted, _) = statements_of(app, || {
        get(app, "/fhir/r5/Observation?_count=10&_total=none", token)
    })
    .await;
    assert!(
        first_counted <= first_uncounted + 1,
        "the first page's count ran {} statements",
        first_counted - first_uncounted
    );
    // The last page knows it is the last without another query.
    let last = PATIENTS.div_ceil(10);
    let answer = get(
        app,
        &format!("/fhir/r5/Observation?_count=10&_page={last}&_total=none"),
        token,
    )
    .await;
    assert_eq!(
        answer.json["entry"].as_array().map(Vec::len),
        Some(PATIENTS - (last - 1) * 10)
    );
    assert!(!answer.json["link"].to_string().contains("\"next\""));
}

const ADMIN_LISTS: [&str; 3] = [
    "/api/v1/practitioners?pageSize=100",
    "/api/v1/data_sources?pageSize=100",
    "/api/v1/organizations?pageSize=100",
];

/// Statements and rows of each of [`ADMIN_LISTS`].
async fn admin_list_costs(app: &TestApp, token: &str) -> Vec<(u64, usize)> {
    let mut out = Vec::new();
    for path in ADMIN_LISTS {
        let (count, answer) = statements_of(app, || get(app, path, token)).await;
        assert_eq!(answer.status.as_u16(), 200, "{path}: {}", answer.text);
        out.push((count, answer.json["results"].as_array().map_or(0, Vec::len)));
    }
    out
}

/// The superuser's lists (practitioners, data sources, organisations): 12 more rows, the same
/// statements.
async fn admin_lists_do_not_grow_with_their_rows(backend: Backend) {
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let admin = s
        .create_user(NewUser {
            email: "root@example.org".into(),
            password: "!".into(),
            is_superuser: true,
            user_type: Some(UserType::Practitioner),
            ..Default::default()
        })
        .await
        .unwrap();
    let admin_practitioner = s
        .create_practitioner(NewPractitioner {
            jhe_user_id: admin.id,
            ..Default::default()
        })
        .await
        .unwrap();
    let app = &w.app;
    let token = crate::support::bearer_for(app, admin.id).await;
    let before = admin_list_costs(app, &token).await;
    for i in 0..12 {
        let u = user(
            s,
            &format!("p{i}@example.org"),
            Some(UserType::Practitioner),
        )
        .await;
        let p = s
            .create_practitioner(NewPractitioner {
                jhe_user_id: u.id,
                ..Default::default()
            })
            .await
            .unwrap();
        let org = crate::store_crud::org(s, &format!("Org {i:02}"), None).await;
        s.upsert_practitioner_organization(p.id, org.id, "member")
            .await
            .unwrap();
        s.upsert_practitioner_organization(admin_practitioner.id, org.id, "manager")
            .await
            .unwrap();
        let source = s
            .create_data_source(NewDataSource {
                id: None,
                name: Some(format!("Source {i:02}")),
                source_type: "personal_device".into(),
            })
            .await
            .unwrap();
        s.add_supported_scope(source.id, w.concepts[i % w.concepts.len()].id)
            .await
            .unwrap();
    }
    let after = admin_list_costs(app, &token).await;
    for ((path, (few, rows_before)), (many, rows_after)) in
        ADMIN_LISTS.iter().zip(before).zip(after)
    {
        assert!(
            rows_after >= rows_before + 12,
            "{path}: {rows_before} → {rows_after} rows"
        );
        assert!(
            many <= few + SLACK,
            "{path}: {many} statements for {rows_after} rows, {few} for {rows_before}"
        );
    }
}

/// Statements a single `POST /fhir/r5/Observation` by a patient's app may run, token cache off:
/// the token, account and profile lookups (4; a cached token skips them), the upload facts
/// (patients, consents, data source, its scopes, concept, stored identifiers: one statement)
/// and the insert (PostgreSQL: one statement for the row and its identifiers, no
/// `BEGIN`/`COMMIT`; SQLite: one per table in a transaction, one more). The audit trail is
/// written apart (not counted).
fn single_upload_statements_bound(backend: Backend) -> u64 {
    match backend {
        Backend::Postgres => 6,
        Backend::Sqlite => 7,
    }
}

async fn single_upload_costs(backend: Backend) {
    let bound = single_upload_statements_bound(backend);
    let w = World::new(backend).await;
    let app = &w.app;
    let hr = heart_rate_bytes(72, "2025-01-01T10:00:00Z");
    let mut costs = Vec::new();
    for i in 0..3 {
        // With an identifier, as devices send them: its lookup rides with the facts and its
        // row with the insert.
        let mut body = w.observation(w.peter.id, HR, &hr);
        body["identifier"] =
            json!([{"system": "https://device.example.org", "value": format!("reading-{i}")}]);
        let (n, answer) = statements_of(app, || {
            post(app, "/fhir/r5/Observation", &w.peter_token, &body)
        })
        .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        costs.push(n);
    }
    let n = costs.last().copied().unwrap_or(0);
    assert!(
        n <= bound,
        "a single upload ran {n} statements (runs: {costs:?}):\n{}",
        app.db
            .last_statements(usize::try_from(n).unwrap())
            .join("\n")
    );
}

both_backends! {
    single_upload_statements => single_upload_costs;
    bounded_queries => queries_do_not_grow_with_page_size;
    bounded_admin_queries => admin_lists_do_not_grow_with_their_rows;
}
