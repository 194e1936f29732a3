//! Uniqueness rules, cascades, atomic batches, access filters and concurrent writers.

use chrono::Utc;
use jhe_core::domain::*;
use jhe_core::store::*;

use crate::both_backends;
use crate::store_crud::{concept, observation, org, patient, user};
use crate::support::{Backend, TestDb, principal_of, scope_of};

fn conflict<T: std::fmt::Debug>(r: StoreResult<T>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

async fn uniqueness_rules(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let u = user(s, "a@example.org", None).await;
    assert!(conflict(
        s.create_user(NewUser {
            email: "a@example.org".into(),
            password: "!".into(),
            ..Default::default()
        })
        .await
    ));
    s.create_practitioner(NewPractitioner {
        jhe_user_id: u.id,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(conflict(
        s.create_practitioner(NewPractitioner {
            jhe_user_id: u.id,
            ..Default::default()
        })
        .await
    ));
    patient(s, Some(u.id), "One").await;
    assert!(conflict(
        s.create_patient(NewPatient {
            id: None,
            jhe_user_id: Some(u.id),
            identifier: None,
            name_family: "Two".into(),
            name_given: "G".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
            telecom_phone: None
        })
        .await
    ));
    concept(s, "omh:heart-rate:2.0").await;
    assert!(conflict(
        s.create_concept(NewCodeableConcept {
            id: None,
            coding_system: OMH_SYSTEM.into(),
            coding_code: "omh:heart-rate:2.0".into(),
            text: "again".into()
        })
        .await
    ));
    let client = NewOAuthClient {
        client_id: "same".into(),
        client_type: "public".into(),
        authorization_grant_type: "authorization-code".into(),
        name: "A".into(),
        ..Default::default()
    };
    s.create_client(client.clone()).await.unwrap();
    assert!(conflict(s.create_client(client).await));
    // A missing setting_id counts as a value: two global rows with one key cannot exist.
    s.create_setting("k", None, SettingValue::Int(1))
        .await
        .unwrap();
    assert!(conflict(
        s.create_setting("k", None, SettingValue::Int(2)).await
    ));
    s.create_setting("k", Some(1), SettingValue::Int(2))
        .await
        .unwrap();
    assert!(conflict(
        s.create_setting("k", Some(1), SettingValue::Int(3)).await
    ));
    // Explicit duplicate ids collide.
    assert!(conflict(
        s.create_organization(NewOrganization {
            id: Some(5),
            name: "x".into(),
            org_type: "other".into(),
            part_of: None
        })
        .await
        .and(
            s.create_organization(NewOrganization {
                id: Some(5),
                name: "y".into(),
                org_type: "other".into(),
                part_of: None
            })
            .await
        )
    ));
}

async fn observation_identifiers_are_global_and_batches_atomic(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let p = patient(s, None, "Doe").await;
    let c = concept(s, "omh:heart-rate:2.0").await;
    let with_system = ObservationIdentifier {
        system: Some("sys".into()),
        value: "v1".into(),
    };
    let without_system = ObservationIdentifier {
        system: None,
        value: "v2".into(),
    };
    s.create_observations(vec![observation(
        p.id,
        c.id,
        vec![with_system.clone(), without_system.clone()],
    )])
    .await
    .unwrap();
    // Same (system, value) again — also with a NULL system — is refused, and the whole batch with it.
    for dup in [with_system.clone(), without_system.clone()] {
        let batch = vec![
            observation(
                p.id,
                c.id,
                vec![ObservationIdentifier {
                    system: Some("sys".into()),
                    value: "fresh".into(),
                }],
            ),
            observation(p.id, c.id, vec![dup]),
        ];
        assert!(conflict(s.create_observations(batch).await));
    }
    let fresh = ObservationIdentifier {
        system: Some("sys".into()),
        value: "fresh".into(),
    };
    assert!(
        s.find_observation_by_identifier(&fresh)
            .await
            .unwrap()
            .is_none(),
        "a failed batch stores nothing"
    );
    let all = s
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.total, 1);
    // Same value under another system is fine.
    s.create_observations(vec![observation(
        p.id,
        c.id,
        vec![ObservationIdentifier {
            system: Some("other".into()),
            value: "v1".into(),
        }],
    )])
    .await
    .unwrap();
    // A large batch goes through in multi-row chunks.
    let many: Vec<NewObservation> = (0..1200)
        .map(|i| {
            observation(
                p.id,
                c.id,
                vec![ObservationIdentifier {
                    system: Some("bulk".into()),
                    value: format!("b{i}"),
                }],
            )
        })
        .collect();
    let created = s.create_observations(many).await.unwrap();
    assert_eq!(created.len(), 1200);
    let ids: std::collections::HashSet<Id> = created.iter().map(|o| o.id).collect();
    assert_eq!(ids.len(), 1200);
    assert_eq!(
        s.find_observation_by_identifier(&ObservationIdentifier {
            system: Some("bulk".into()),
            value: "b777".into()
        })
        .await
        .unwrap(),
        Some(created[777].id)
    );
}

async fn cascades(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let o = org(s, "Lab", None).await;
    let pu = user(s, "prac@example.org", Some(UserType::Practitioner)).await;
    let prac = s
        .create_practitioner(NewPractitioner {
            jhe_user_id: pu.id,
            ..Default::default()
        })
        .await
        .unwrap();
    s.upsert_practitioner_organization(prac.id, o.id, "manager")
        .await
        .unwrap();
    let patient_user = user(s, "pat@example.org", Some(UserType::Patient)).await;
    let p = patient(s, Some(patient_user.id), "Doe").await;
    s.add_patient_organization(p.id, o.id).await.unwrap();
    let c = concept(s, "omh:heart-rate:2.0").await;
    let study = s
        .create_study(NewStudy {
            id: None,
            name: "S".into(),
            description: String::new(),
            organization_id: o.id,
            icon_url: None,
        })
        .await
        .unwrap();
    let e = s.enroll_patient(study.id, p.id).await.unwrap();
    s.add_scope_request(study.id, c.id).await.unwrap();
    s.upsert_consent(e.id, c.id, true, Utc::now())
        .await
        .unwrap();
    let ds = s
        .create_data_source(NewDataSource {
            id: None,
            name: Some("D".into()),
            source_type: "personal_device".into(),
        })
        .await
        .unwrap();
    let mut new = observation(p.id, c.id, vec![]);
    new.data_source_id = Some(ds.id);
    let obs = s.create_observations(vec![new]).await.unwrap().remove(0);

    // Deleting a data source keeps the observation and clears its link.
    s.delete_data_source(ds.id).await.unwrap();
    let kept = s
        .get_observation(&AccessScope::system_for_tests(), obs.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.data_source_id, None);

    // Deleting the study removes enrolments and consents, not the patient.
    s.delete_study(study.id).await.unwrap();
    assert!(
        s.list_patient_studies(&jhe_core::store::AccessScope::system_for_tests(), p.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.list_patient_consents(&jhe_core::store::AccessScope::system_for_tests(), p.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.get_patient(&AccessScope::system_for_tests(), p.id)
            .await
            .unwrap()
            .is_some()
    );

    // Deleting the organisation removes memberships, not people.
    s.delete_organization(o.id).await.unwrap();
    assert!(
        s.list_patient_organization_ids(p.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.list_practitioner_organizations(prac.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.get_practitioner(prac.id).await.unwrap().is_some());

    // Deleting a user removes the profile and, through the patient, the observations; tokens and sessions too.
    let app = s
        .create_client(NewOAuthClient {
            client_id: "a".into(),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            name: "A".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    s.create_access_token(NewAccessToken {
        token_hash: "h".into(),
        user_id: Some(patient_user.id),
        application_id: Some(app.id),
        expires: Utc::now(),
        scope: "openid".into(),
        source_refresh_token_id: None,
        id_token_jti: None,
    })
    .await
    .unwrap();
    s.put_session(&Session {
        id: "s".into(),
        user_id: Some(patient_user.id),
        data: serde_json::json!({}),
        expires: Utc::now() + chrono::Duration::hours(1),
        created: Utc::now(),
        updated: Utc::now(),
    })
    .await
    .unwrap();
    s.delete_user(patient_user.id).await.unwrap();
    assert!(
        s.get_patient(&AccessScope::system_for_tests(), p.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.get_observation(&AccessScope::system_for_tests(), obs.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.get_access_token("h").await.unwrap().is_none());
    assert!(s.get_session("s", Utc::now()).await.unwrap().is_none());
    s.delete_user(pu.id).await.unwrap();
    assert!(s.get_practitioner(prac.id).await.unwrap().is_none());

    // Deleting a client removes its grants' and tokens' rows and study links.
    assert!(s.delete_client(app.id).await.unwrap());
}

async fn access_filters_apply_in_the_query(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let lab = org(s, "Lab", None).await;
    let other = org(s, "Other", None).await;
    let pu = user(s, "prac@example.org", None).await;
    let prac = s
        .create_practitioner(NewPractitioner {
            jhe_user_id: pu.id,
            ..Default::default()
        })
        .await
        .unwrap();
    s.upsert_practitioner_organization(prac.id, lab.id, "viewer")
        .await
        .unwrap();
    let mine = patient(s, None, "Mine").await;
    let theirs = patient(s, None, "Theirs").await;
    let both = patient(s, None, "Both").await;
    s.add_patient_organization(mine.id, lab.id).await.unwrap();
    s.add_patient_organization(theirs.id, other.id)
        .await
        .unwrap();
    s.add_patient_organization(both.id, lab.id).await.unwrap();
    s.add_patient_organization(both.id, other.id).await.unwrap();
    let hr = concept(s, "omh:heart-rate:2.0").await;
    let bp = concept(s, "omh:blood-pressure:4.0").await;
    for p in [&mine, &theirs, &both] {
        s.create_observations(vec![
            observation(p.id, hr.id, vec![]),
            observation(p.id, bp.id, vec![]),
        ])
        .await
        .unwrap();
    }
    // Scopes come only from the policy, as in the handlers.
    let filter = scope_of(&principal_of(pu.clone(), Some(prac.clone()), None)).await;
    let patients = s
        .list_patients(&filter, &PatientQuery::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        patients.total, 2,
        "distinct patients sharing an organisation"
    );
    assert_eq!(
        patients.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![mine.id, both.id]
    );
    assert!(s.get_patient(&filter, theirs.id).await.unwrap().is_none());
    let count = |q: ObservationQuery| {
        let filter = filter.clone();
        async move {
            s.search_observations(&filter, &q, PageRequest::default())
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(
        count(ObservationQuery::default()).await,
        0,
        "a practitioner sees no observation without a consent"
    );
    let own = scope_of(&principal_of(pu.clone(), None, Some(theirs.clone()))).await;
    assert_eq!(
        s.search_observations(&own, &ObservationQuery::default(), PageRequest::default())
            .await
            .unwrap()
            .total,
        2,
        "a patient sees all of their own data"
    );
    let nobody = scope_of(&principal_of(pu.clone(), None, None)).await;
    assert_eq!(
        s.search_observations(
            &nobody,
            &ObservationQuery::default(),
            PageRequest::default()
        )
        .await
        .unwrap()
        .total,
        0
    );

    // Studies: HR and BP in the practitioner's organisation, BP in the other one.
    let study = |name: &str, organization_id: i64| NewStudy {
        id: None,
        name: name.into(),
        description: String::new(),
        organization_id,
        icon_url: None,
    };
    let hr_study = s.create_study(study("HR", lab.id)).await.unwrap();
    let bp_study = s.create_study(study("BP", lab.id)).await.unwrap();
    let elsewhere = s
        .create_study(study("BP elsewhere", other.id))
        .await
        .unwrap();
    s.add_scope_request(hr_study.id, hr.id).await.unwrap();
    s.add_scope_request(bp_study.id, bp.id).await.unwrap();
    s.add_scope_request(elsewhere.id, bp.id).await.unwrap();
    let e_mine = s.enroll_patient(hr_study.id, mine.id).await.unwrap();
    let e_both_hr = s.enroll_patient(hr_study.id, both.id).await.unwrap();
    let e_both_else = s.enroll_patient(elsewhere.id, both.id).await.unwrap();
    let in_hr_study = ObservationQuery {
        study_id: Some(hr_study.id),
        ..Default::default()
    };
    assert_eq!(
        count(in_hr_study.clone()).await,
        0,
        "enrolled, not consented"
    );

    // A consent given in another organisation's study shows nothing here.
    s.upsert_consent(e_both_else.id, bp.id, true, Utc::now())
        .await
        .unwrap();
    assert_eq!(count(ObservationQuery::default()).await, 0);

    // Consent in the practitioner's study: exactly that patient's data type.
    s.upsert_consent(e_mine.id, hr.id, true, Utc::now())
        .await
        .unwrap();
    let page = s
        .search_observations(&filter, &in_hr_study, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].subject_patient_id, mine.id);
    assert_eq!(page.items[0].codeable_concept_id, hr.id);
    let mine_hr = page.items[0].id;
    assert!(s.get_observation(&filter, mine_hr).await.unwrap().is_some());
    assert_eq!(count(ObservationQuery::default()).await, 1);
    assert_eq!(
        count(ObservationQuery {
            study_id: Some(bp_study.id),
            ..Default::default()
        })
        .await,
        0,
        "a study filter needs the consent in that study"
    );

    // Withdrawal hides the data at once, on search and by id.
    s.upsert_consent(e_mine.id, hr.id, false, Utc::now())
        .await
        .unwrap();
    assert_eq!(count(ObservationQuery::default()).await, 0);
    assert!(s.get_observation(&filter, mine_hr).await.unwrap().is_none());

    // Paging: every row exactly once, newest first.
    let e_both_bp = s.enroll_patient(bp_study.id, both.id).await.unwrap();
    s.upsert_consent(e_both_hr.id, hr.id, true, Utc::now())
        .await
        .unwrap();
    s.upsert_consent(e_both_bp.id, bp.id, true, Utc::now())
        .await
        .unwrap();
    let all = ObservationQuery {
        patient_id: Some(both.id),
        ..Default::default()
    };
    let p1 = s
        .search_observations(&filter, &all, PageRequest::new(1, 1))
        .await
        .unwrap();
    let p2 = s
        .search_observations(&filter, &all, PageRequest::new(2, 1))
        .await
        .unwrap();
    assert_eq!(p1.total, 2);
    assert!(p1.has_next() && !p2.has_next() && p2.has_previous());
    assert_ne!(p1.items[0].id, p2.items[0].id);
    assert!(p1.items[0].id > p2.items[0].id);

    // Enrolments and consents follow the same patient visibility.
    assert!(
        s.list_patient_consents(&filter, theirs.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.list_patient_consents(&filter, both.id)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        s.list_study_patients(&filter, elsewhere.id)
            .await
            .unwrap()
            .len(),
        1,
        "only the enrolled patient the practitioner can see"
    );
    assert!(
        s.list_patient_studies(&nobody, both.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_writers_lose_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let p = patient(&db.store, None, "Doe").await;
    let c = concept(&db.store, "omh:heart-rate:2.0").await;
    let second = db.second_store().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            for j in 0..10 {
                store
                    .create_user(NewUser {
                        email: format!("u{i}-{j}@example.org"),
                        password: "!".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                store
                    .create_observations(vec![observation(
                        p.id,
                        c.id,
                        vec![ObservationIdentifier {
                            system: None,
                            value: format!("{i}-{j}"),
                        }],
                    )])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        db.store
            .list_users(None, PageRequest::all())
            .await
            .unwrap()
            .total,
        160
    );
    let all = db
        .store
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery::default(),
            PageRequest::all(),
        )
        .await
        .unwrap();
    assert_eq!(all.total, 160);
    assert_eq!(all.items.len(), 160);
}

both_backends! {
    unique => uniqueness_rules;
    identifiers => observation_identifiers_are_global_and_batches_atomic;
    cascade => cascades;
    access => access_filters_apply_in_the_query;
    concurrency => concurrent_writers_lose_nothing;
}
