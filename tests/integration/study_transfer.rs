//! Study export and import between instances over the Admin API: a 10,000-observation study
//! exported by its manager holds what her searches return; a practitioner of another
//! organisation gets nothing; the export imported into a fresh database gives the same search
//! results and the same consents to the corresponding practitioner there; a second import
//! creates nothing; bad exports are refused with 400 and non-superusers with 403; an uploaded
//! study icon travels with the study and is served by the importing instance.

use std::collections::BTreeMap;

use chrono::Utc;
use jhe_core::domain::*;
use jhe_core::store::*;
use serde_json::Value;

use crate::both_backends;
use crate::fhir_upload::heart_rate_bytes;
use crate::support::seeded::{MANAGER, OTHER_ORG, PATIENT};
use crate::support::{
    Backend, TestApp, bearer_for, bearer_get, plain_client, spawn_app, spawn_seeded,
};

/// Seeded study of the Example Lab (mary manages it): patients 40001 and 40002, both consented
/// to blood pressure (50002) and heart rate (50004).
const STUDY: i64 = 30001;
const OBSERVATIONS: usize = 10_000;

/// Peak resident set size of this process (the servers run in it), in kB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn export(app: &TestApp, study: i64, token: &str) -> (u16, String) {
    let response = plain_client()
        .post(app.url(&format!("/api/v1/studies/{study}/export")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    }
    (status, response.text().await.unwrap())
}

async fn import(app: &TestApp, body: String, token: &str) -> (u16, Value) {
    let response = plain_client()
        .post(app.url("/api/v1/studies/import"))
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn records(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_kind<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["kind"] == kind).collect()
}

/// The records of an export with instance-specific values replaced: patient refs by the
/// patient's e-mail, content-id identifiers (added on import) removed; sorted.
fn normalised(records: &[Value]) -> BTreeMap<String, Vec<String>> {
    let emails: BTreeMap<i64, String> = of_kind(records, "patient")
        .iter()
        .map(|p| {
            (
                p["ref"].as_i64().unwrap(),
                p["email"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in records {
        let mut r = r.clone();
        let kind = r["kind"].as_str().unwrap().to_string();
        match kind.as_str() {
            "manifest" => continue,
            "patient" => {
                r["ref"] = Value::Null;
            }
            "consent" | "observation" => {
                let p = r["patient"].as_i64().unwrap();
                r["patient"] = Value::String(emails[&p].clone());
                if let Some(ids) = r["identifiers"].as_array_mut() {
                    ids.retain(|i| i["system"] != "urn:jhe:content-id");
                }
            }
            "study" => {
                // A new organisation is created at the top level.
                r["organization"]["parent"] = Value::Null;
            }
            _ => {}
        }
        out.entry(kind).or_default().push(r.to_string());
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

async fn search_total(app: &TestApp, path: &str, token: &str) -> u64 {
    let response = bearer_get(app, path, token).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["total"]
        .as_u64()
        .unwrap()
}

/// Ten thousand heart-rate observations of patient 40001 (half with identifiers, half without),
/// and a few of patient 40002.
async fn add_observations(app: &TestApp) {
    let store = &app.db.store;
    let hr = store
        .find_concept(OMH_SYSTEM, "omh:heart-rate:2.0")
        .await
        .unwrap()
        .unwrap();
    for chunk in 0..OBSERVATIONS / 1000 {
        let batch = (0..1000)
            .map(|j| {
                let i = chunk * 1000 + j;
                let when = format!("2025-03-{:02}T{:02}:{:02}:00Z", 1 + i % 28, i % 24, i % 60);
                let patient = if i % 100 == 0 { 40002 } else { 40001 };
                NewObservation {
                    id: None,
                    subject_patient_id: patient,
                    codeable_concept_id: hr.id,
                    data_source_id: None,
                    value_attachment_data: String::from_utf8(heart_rate_bytes(
                        40 + (i % 100) as i64,
                        &when,
                    ))
                    .unwrap(),
                    content_type: "application/json".into(),
                    status: "final".into(),
                    effective_start: Some(
                        chrono::DateTime::parse_from_rfc3339(&when)
                            .unwrap()
                            .with_timezone(&Utc),
                    ),
                    effective_end: None,
                    identifiers: if i % 2 == 0 {
                        vec![ObservationIdentifier {
                            system: Some("urn:test:transfer".into()),
                            value: format!("obs-{i}"),
                        }]
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        store.create_observations(batch).await.unwrap();
    }
}

/// A user of `app` by e-mail with a practitioner profile, `role` in `organization`.
async fn practitioner(app: &TestApp, email: &str, organization: i64, role: &str) -> i64 {
    let store = &app.db.store;
    let user = store
        .create_user(NewUser {
            email: email.into(),
            password: jhe_kdf::unusable_password(),
            user_type: Some(UserType::Practitioner),
            ..Default::default()
        })
        .await
        .unwrap();
    let practitioner = store
        .create_practitioner(NewPractitioner {
            jhe_user_id: user.id,
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .upsert_practitioner_organization(practitioner.id, organization, role)
        .await
        .unwrap();
    user.id
}

async fn round_trip(backend: Backend) {
    let source = spawn_seeded(backend).await;
    add_observations(&source).await;
    let manager = bearer_for(&source, MANAGER).await;
    let other = bearer_for(&source, OTHER_ORG).await;
    let patient = bearer_for(&source, PATIENT).await;

    // Nobody outside the study's organisation gets anything.
    for token in [&other, &patient] {
        let (status, body) = export(&source, STUDY, token).await;
        assert!(status == 403 || status == 404, "{status}: {body}");
    }
    let (status, _) = export(&source, 999_999, &manager).await;
    assert_eq!(status, 404);

    // The manager's export holds what her searches return.
    let before = peak_rss_kb();
    let (status, text) = export(&source, STUDY, &manager).await;
    assert_eq!(status, 200, "{text}");
    let after = peak_rss_kb();
    println!(
        "study export of {} bytes: peak RSS {before} kB before, {after} kB after",
        text.len()
    );
    let exported = records(&text);
    assert_eq!(exported[0]["kind"], "manifest");
    assert_eq!(exported[0]["format"], "jhe-study-export");
    assert_eq!(exported[0]["version"], 1);
    let observations = search_total(
        &source,
        &format!("/fhir/r5/Observation?patient._has:Group:member:_id={STUDY}&_count=1"),
        &manager,
    )
    .await;
    assert!(observations >= OBSERVATIONS as u64, "{observations}");
    assert_eq!(of_kind(&exported, "observation").len() as u64, observations);
    let patients = search_total(
        &source,
        &format!("/fhir/r5/Patient?_has:Group:member:_id={STUDY}&_count=1"),
        &manager,
    )
    .await;
    assert_eq!(of_kind(&exported, "patient").len() as u64, patients);
    for (kind, count) in exported[0]["counts"].as_object().unwrap() {
        assert_eq!(
            of_kind(&exported, kind).len() as u64,
            count.as_u64().unwrap(),
            "{kind}"
        );
    }
    assert_eq!(of_kind(&exported, "study").len(), 1);
    assert!(!of_kind(&exported, "consent").is_empty());
    assert!(!of_kind(&exported, "scopeRequest").is_empty());
    assert!(
        of_kind(&exported, "client")
            .iter()
            .all(|c| c.get("clientSecret").is_none())
    );

    // Into a fresh database: only a superuser imports.
    let target = spawn_app(backend).await;
    let admin = target
        .db
        .store
        .create_user(NewUser {
            email: "admin@example.org".into(),
            password: jhe_kdf::unusable_password(),
            is_superuser: true,
            is_staff: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let admin = bearer_for(&target, admin.id).await;
    let nobody = target
        .db
        .store
        .create_user(NewUser {
            email: "nobody@example.org".into(),
            password: jhe_kdf::unusable_password(),
            ..Default::default()
        })
        .await
        .unwrap();
    let nobody = bearer_for(&target, nobody.id).await;
    let (status, _) = import(&target, text.clone(), &nobody).await;
    assert_eq!(status, 403);

    let (status, report) = import(&target, text.clone(), &admin).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"]["observation"], observations);
    assert_eq!(report["created"]["patient"], patients);
    assert_eq!(report["created"]["study"], 1);
    assert!(report["createdTotal"].as_u64().unwrap() > observations);
    let study = report["studyId"].as_i64().unwrap();
    let organization = report["organizationId"].as_i64().unwrap();

    // Idempotent: a second import creates nothing.
    let (status, again) = import(&target, text.clone(), &admin).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["createdTotal"], 0, "{again}");
    assert_eq!(again["existing"]["observation"], observations);
    assert_eq!(again["studyId"], study);

    // The corresponding practitioner there sees the same data and the same consents.
    let mary = practitioner(&target, "mary@example.com", organization, "manager").await;
    let mary = bearer_for(&target, mary).await;
    assert_eq!(
        search_total(
            &target,
            &format!("/fhir/r5/Observation?patient._has:Group:member:_id={study}&_count=1"),
            &mary,
        )
        .await,
        observations
    );
    let (status, text_b) = export(&target, study, &mary).await;
    assert_eq!(status, 200, "{text_b}");
    let reexported = records(&text_b);
    assert_eq!(normalised(&exported), normalised(&reexported));
    for r in of_kind(&reexported, "observation") {
        if r["identifiers"].as_array().unwrap().len() == 1
            && r["identifiers"][0]["system"] == "urn:jhe:content-id"
        {
            assert_eq!(r["identifiers"][0]["value"], r["contentId"]);
        }
    }
    println!("peak RSS at the end: {} kB", peak_rss_kb());
}

async fn refusals(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let admin = bearer_for(&app, crate::support::seeded::SUPERUSER).await;
    let manifest = |version: u32| {
        format!(
            r#"{{"kind":"manifest","format":"jhe-study-export","version":{version},"exportedAt":"2025-01-01T00:00:00Z","exportedBy":"a@b.c","source":"x","study":"S","organization":"O","counts":{{"study":1}}}}"#
        )
    };
    let study = r#"{"kind":"study","organization":{"name":"Imported Lab","type":"laboratory","parent":null},"name":"S","description":"d","iconUrl":null}"#;
    let cases = [
        (format!("{}\n{study}\n", manifest(2)), "version"),
        (format!("{study}\n"), "manifest"),
        (format!("{}\n", manifest(1)), "incomplete"),
        (
            format!(
                "{}\n{study}\n{{\"kind\":\"consent\",\"patient\":5,\"coding\":{{\"system\":\"s\",\"code\":\"c\"}},\"consented\":true,\"time\":\"2025-01-01T00:00:00Z\"}}\n",
                manifest(1)
            ),
            "ref 5",
        ),
        ("not json\n".to_string(), "Line 1"),
    ];
    for (body, expected) in cases {
        let (status, answer) = import(&app, body.clone(), &admin).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(expected), "{answer}");
    }
    // The minimal valid export: a study without patients, twice.
    let body = format!(
        "{}\n{}\n",
        manifest(1),
        study.replace(r#""name":"S""#, r#""name":"T""#)
    );
    let (status, first) = import(&app, body.clone(), &admin).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["created"]["study"], 1);
    let (_, second) = import(&app, body, &admin).await;
    assert_eq!(second["createdTotal"], 0, "{second}");
}

/// The lines of `records`, each changed by `edit` (the study record only).
fn with_study(records: &[Value], edit: impl Fn(&mut Value)) -> String {
    let mut out = String::new();
    for r in records {
        let mut r = r.clone();
        if r["kind"] == "study" {
            edit(&mut r);
        }
        out.push_str(&r.to_string());
        out.push('\n');
    }
    out
}

/// An uploaded icon travels with the study: the export carries it, a fresh database serves it
/// from its own address, a repeated import leaves it, a corrupt icon refuses the file before
/// anything is written, and a plain `iconUrl` (no upload) is kept.
async fn icon_transfer(backend: Backend) {
    use crate::study_icons::PNG;
    let source = spawn_seeded(backend).await;
    let manager = bearer_for(&source, MANAGER).await;
    let response = plain_client()
        .put(source.url(&format!("/api/v1/studies/{STUDY}/icon")))
        .bearer_auth(&manager)
        .header("Content-Type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let source_url = response.json::<Value>().await.unwrap()["iconUrl"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, text) = export(&source, STUDY, &manager).await;
    assert_eq!(status, 200, "{text}");
    let exported = records(&text);
    let study_record = of_kind(&exported, "study")[0].clone();
    assert_eq!(study_record["iconUrl"], source_url.as_str());
    assert_eq!(study_record["icon"]["contentType"], "image/png");
    assert!(study_record["icon"]["data"].is_string());

    // Into a fresh database: the icon is served there, from there.
    let target = spawn_app(backend).await;
    let admin = target
        .db
        .store
        .create_user(NewUser {
            email: "admin@example.org".into(),
            password: jhe_kdf::unusable_password(),
            is_superuser: true,
            is_staff: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let admin = bearer_for(&target, admin.id).await;
    let (status, report) = import(&target, text.clone(), &admin).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"]["study"], 1);
    let study = report["studyId"].as_i64().unwrap();
    let imported = target.db.store.get_study(study).await.unwrap().unwrap();
    let icon_url = imported.icon_url.clone().unwrap();
    let prefix = format!("{}/api/v1/studies/{study}/icon?v=", target.config.site_url);
    assert!(icon_url.starts_with(&prefix), "{icon_url}");
    assert_eq!(
        icon_url.rsplit_once("?v=").map(|(_, v)| v),
        source_url.rsplit_once("?v=").map(|(_, v)| v),
        "the same image, the same version"
    );
    let r = plain_client().get(&icon_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let stored = target
        .db
        .store
        .get_study_icon(study)
        .await
        .unwrap()
        .unwrap();

    // A second import leaves the study and its icon as they are.
    let (status, again) = import(&target, text.clone(), &admin).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["createdTotal"], 0, "{again}");
    assert_eq!(again["studyId"], study);
    let after = target.db.store.get_study(study).await.unwrap().unwrap();
    assert_eq!(after.icon_url, imported.icon_url);
    let stored_again = target
        .db
        .store
        .get_study_icon(study)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_again.content_hash, stored.content_hash);
    assert_eq!(stored_again.updated_at, stored.updated_at);

    // A corrupt icon refuses the file, naming the study record; nothing is written.
    for (data, expected) in [
        (
            Value::String("%%% not base64 %%%".into()),
            "not valid base64",
        ),
        // `<svg/>` in base64.
        (Value::String("PHN2Zy8+".into()), "SVG"),
    ] {
        let body = with_study(&exported, |r| {
            r["organization"]["name"] = Value::String("Corrupt Lab".into());
            r["name"] = Value::String("Corrupt".into());
            r["icon"]["data"] = data.clone();
        });
        let (status, answer) = import(&target, body, &admin).await;
        assert_eq!(status, 400, "{answer}");
        let answer = answer.to_string();
        assert!(answer.contains("study record's icon"), "{answer}");
        assert!(answer.contains(expected), "{answer}");
    }
    let organizations = target
        .db
        .store
        .list_organizations(None, PageRequest::new(1, 1000))
        .await
        .unwrap();
    assert!(
        organizations.items.iter().all(|o| o.name != "Corrupt Lab"),
        "nothing half-imported"
    );

    // A plain iconUrl (no uploaded image) is kept as it is.
    let body = with_study(&exported, |r| {
        r["name"] = Value::String("Plain".into());
        r["iconUrl"] = Value::String("https://cdn.example.org/plain.png".into());
        if let Some(o) = r.as_object_mut() {
            o.remove("icon");
        }
    });
    let (status, report) = import(&target, body, &admin).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"]["study"], 1, "{report}");
    let plain = report["studyId"].as_i64().unwrap();
    let plain_study = target.db.store.get_study(plain).await.unwrap().unwrap();
    assert_eq!(
        plain_study.icon_url.as_deref(),
        Some("https://cdn.example.org/plain.png")
    );
    assert!(
        target
            .db
            .store
            .get_study_icon(plain)
            .await
            .unwrap()
            .is_none()
    );
}

both_backends! {
    study_transfer_round_trip => round_trip;
    study_transfer_refusals => refusals;
    study_transfer_icon => icon_transfer;
}
