//! The demo data: the original's users, ids and relations; idempotent; `--flush` resets.

use jhe_core::Config;
use jhe_core::domain::{NewUser, PageRequest, UserType};
use jhe_core::services::seed::{NoProgress, SEED_PASSWORD, seed};
use jhe_core::store::*;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Backend, TestDb};

/// Everything seeding writes, as comparable JSON; `stable` drops per-run random values.
async fn snapshot(store: &dyn Store, stable: bool) -> Value {
    let all = PageRequest::all();
    let users = store.list_users(None, all).await.unwrap().items;
    let mut links = Vec::new();
    for p in store.list_practitioners(all).await.unwrap().items {
        for l in store.list_practitioner_organizations(p.id).await.unwrap() {
            links.push(json!([p.id, p.jhe_user_id, l.organization_id, l.role]));
        }
    }
    let patients = store
        .list_patients(
            &AccessScope::system_for_tests(),
            &PatientQuery::default(),
            all,
        )
        .await
        .unwrap()
        .items;
    let mut patient_rows = Vec::new();
    for p in &patients {
        patient_rows.push(json!([
            p.id,
            p.jhe_user_id,
            p.name_given,
            p.name_family,
            p.birth_date,
            p.identifier,
            store.list_patient_organization_ids(p.id).await.unwrap(),
            store
                .list_patient_studies(&jhe_core::store::AccessScope::system_for_tests(), p.id)
                .await
                .unwrap()
                .iter()
                .map(|s| s.study_id)
                .collect::<Vec<_>>(),
            store
                .list_patient_consents(&jhe_core::store::AccessScope::system_for_tests(), p.id)
                .await
                .unwrap()
                .iter()
                .map(|c| (c.scope_code_id, c.consented))
                .collect::<Vec<_>>(),
        ]));
    }
    let mut studies = Vec::new();
    for s in store.list_studies(None, all).await.unwrap().items {
        let requests: Vec<_> = store
            .list_scope_requests(s.id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.scope_code_id)
            .collect();
        studies.push(json!([
            s.id,
            s.name,
            s.description,
            s.organization_id,
            requests
        ]));
    }
    let observations: Vec<Value> = store
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery::default(),
            all,
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| {
            let payload: Value = serde_json::from_str(&o.value_attachment_data).unwrap();
            if stable {
                json!([
                    o.id,
                    o.subject_patient_id,
                    o.codeable_concept_id,
                    o.status,
                    payload["header"]["schema_id"]
                ])
            } else {
                json!([
                    o.id,
                    o.subject_patient_id,
                    o.codeable_concept_id,
                    o.status,
                    payload
                ])
            }
        })
        .collect();
    let settings: Vec<Value> = store
        .list_settings(all)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| json!([s.key, s.setting_id, s.value.to_json()]))
        .collect();
    let clients: Vec<Value> = store
        .list_clients(None, all)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| {
            json!([
                c.id,
                c.name,
                c.redirect_uris,
                c.client_type,
                c.skip_authorization,
                if stable {
                    Value::Null
                } else {
                    c.client_id.into()
                }
            ])
        })
        .collect();
    json!({
        "users": users.iter().map(|u| json!([u.id, u.email, u.first_name, u.last_name, u.identifier, u.user_type, u.is_superuser])).collect::<Vec<_>>(),
        "organizations": store.list_organizations(None, all).await.unwrap().items.iter().map(|o| json!([o.id, o.name, o.org_type, o.part_of])).collect::<Vec<_>>(),
        "practitioner_links": links,
        "patients": patient_rows,
        "studies": studies,
        "concepts": store.list_concepts().await.unwrap().iter().map(|c| json!([c.id, c.coding_code, c.text])).collect::<Vec<_>>(),
        "data_sources": store.list_data_sources(all).await.unwrap().items.iter().map(|d| json!([d.id, d.name, d.source_type])).collect::<Vec<_>>(),
        "observations": observations,
        "settings": settings,
        "clients": clients,
    })
}

async fn seed_matches_the_original_and_is_idempotent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = Config::default();
    let first = seed(&db.store, &config, false, &NoProgress).await.unwrap();
    assert!(first.created > 50 && first.existing == 0, "{first:?}");
    let before = snapshot(&db.store, false).await;

    // Spot checks against the spec's seed table.
    let mary = db
        .store
        .get_user_by_email("mary@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (mary.id, mary.first_name.as_str(), mary.identifier.as_str()),
        (10002, "Mary", "fhir-222")
    );
    assert_eq!(mary.user_type, Some(UserType::Practitioner));
    assert!(jhe_kdf::verify_password(SEED_PASSWORD, &mary.password).is_valid());
    let sam = db.store.get_user(10001).await.unwrap().unwrap();
    assert!(sam.is_superuser && sam.is_staff);
    let peter = db.store.get_patient_by_user(10006).await.unwrap().unwrap();
    assert_eq!(peter.id, 40001);
    assert_eq!(
        db.store.list_patient_organization_ids(40005).await.unwrap(),
        vec![20006, 20008]
    );
    let root = db.store.get_organization(0).await.unwrap().unwrap();
    assert_eq!((root.name.as_str(), root.part_of), ("ROOT", None));
    assert_eq!(before["observations"].as_array().unwrap().len(), 9);
    assert_eq!(before["users"].as_array().unwrap().len(), 11);
    assert_eq!(before["organizations"].as_array().unwrap().len(), 9);
    assert_eq!(before["practitioner_links"].as_array().unwrap().len(), 12);
    // peter's BP consent in study 30002 stays pending: 9 consents in all.
    let consents: usize = before["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[8].as_array().unwrap().len())
        .sum();
    assert_eq!(consents, 9);
    let admin = db.store.get_client(1).await.unwrap().unwrap();
    assert_eq!(admin.name, "JHE Admin UI");
    assert_eq!(admin.redirect_uris, "http://localhost:8000/auth/callback");
    assert_eq!(admin.client_id.len(), 40);

    // Seeding again changes nothing.
    let second = seed(&db.store, &config, false, &NoProgress).await.unwrap();
    assert_eq!(second.created, 0, "{second:?}");
    assert_eq!(snapshot(&db.store, false).await, before);

    // Generated ids continue after the seeded ones, as the original's restarted sequences.
    let user = db
        .store
        .create_user(NewUser {
            email: "new@example.org".into(),
            password: "!".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(user.id, 10012);
}

async fn flush_resets_to_the_demo_data(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = Config::default();
    seed(&db.store, &config, false, &NoProgress).await.unwrap();
    let stable = snapshot(&db.store, true).await;
    db.store
        .create_user(NewUser {
            email: "extra@example.org".into(),
            password: "!".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    seed(&db.store, &config, true, &NoProgress).await.unwrap();
    assert!(
        db.store
            .get_user_by_email("extra@example.org")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(snapshot(&db.store, true).await, stable);
}

async fn admin_client_follows_site_url(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = Config::default();
    seed(&db.store, &config, false, &NoProgress).await.unwrap();
    config.site_url = "https://jhe.example.org".into();
    seed(&db.store, &config, false, &NoProgress).await.unwrap();
    let admin = db
        .store
        .get_client_by_name("JHE Admin UI")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.redirect_uris, "https://jhe.example.org/auth/callback");
}

both_backends! {
    idempotent => seed_matches_the_original_and_is_idempotent;
    flush => flush_resets_to_the_demo_data;
    site_url => admin_client_follows_site_url;
}
