//! Create / read / update / delete of every entity, on both databases.

use chrono::{Duration, NaiveDate, Utc};
use jhe_core::domain::*;
use jhe_core::store::*;

use crate::both_backends;
use crate::support::{Backend, TestDb};

pub async fn user(store: &dyn Store, email: &str, user_type: Option<UserType>) -> User {
    store
        .create_user(NewUser {
            email: email.into(),
            password: "!".into(),
            user_type,
            ..Default::default()
        })
        .await
        .unwrap()
}

pub async fn org(store: &dyn Store, name: &str, part_of: Option<Id>) -> Organization {
    store
        .create_organization(NewOrganization {
            id: None,
            name: name.into(),
            org_type: "laboratory".into(),
            part_of,
        })
        .await
        .unwrap()
}

pub async fn patient(store: &dyn Store, user_id: Option<Id>, family: &str) -> Patient {
    store
        .create_patient(NewPatient {
            id: None,
            jhe_user_id: user_id,
            identifier: Some(format!("ext-{family}")),
            name_family: family.into(),
            name_given: "Given".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 2, 3).unwrap(),
            telecom_phone: None,
        })
        .await
        .unwrap()
}

pub async fn concept(store: &dyn Store, code: &str) -> CodeableConcept {
    store
        .create_concept(NewCodeableConcept {
            id: None,
            coding_system: OMH_SYSTEM.into(),
            coding_code: code.into(),
            text: code.into(),
        })
        .await
        .unwrap()
}

pub fn observation(
    patient_id: Id,
    concept_id: Id,
    identifiers: Vec<ObservationIdentifier>,
) -> NewObservation {
    NewObservation {
        id: None,
        subject_patient_id: patient_id,
        codeable_concept_id: concept_id,
        data_source_id: None,
        value_attachment_data: r#"{"body": {"x": 1},  "header": {}}"#.into(),
        content_type: "application/json".into(),
        status: "final".into(),
        effective_start: Some(Utc::now()),
        effective_end: None,
        identifiers,
    }
}

async fn users_and_practitioners(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let mut u = user(s, "ann@example.org", Some(UserType::Practitioner)).await;
    assert_eq!(s.get_user(u.id).await.unwrap().unwrap(), u);
    assert_eq!(
        s.get_user_by_email("ann@example.org")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    u.first_name = "Ann".into();
    u.identifier = "ext-1".into();
    u.last_login = Some(Utc::now());
    u.email_is_verified = true;
    let updated = s.update_user(&u).await.unwrap();
    assert_eq!(updated.first_name, "Ann");
    assert!(updated.email_is_verified);
    assert_eq!(s.find_users_by_identifier("ext-1").await.unwrap().len(), 1);
    assert_eq!(
        s.list_users(Some("ann@example.org"), PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );

    let p = s
        .create_practitioner(NewPractitioner {
            jhe_user_id: u.id,
            name_family: Some("Lee".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        s.get_practitioner_by_user(u.id).await.unwrap().unwrap().id,
        p.id
    );
    let mut p2 = p.clone();
    p2.telecom_phone = Some("555".into());
    assert_eq!(
        s.update_practitioner(&p2)
            .await
            .unwrap()
            .telecom_phone
            .as_deref(),
        Some("555")
    );
    assert_eq!(
        s.list_practitioners(PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );

    let o = org(s, "Lab", None).await;
    let link = s
        .upsert_practitioner_organization(p.id, o.id, "viewer")
        .await
        .unwrap();
    let again = s
        .upsert_practitioner_organization(p.id, o.id, "manager")
        .await
        .unwrap();
    assert_eq!(
        link.id, again.id,
        "upsert changes the role of the same link"
    );
    assert_eq!(
        s.list_organization_practitioners(o.id).await.unwrap()[0].role,
        "manager"
    );
    assert!(
        s.delete_practitioner_organization(p.id, o.id)
            .await
            .unwrap()
    );
    assert!(
        !s.delete_practitioner_organization(p.id, o.id)
            .await
            .unwrap()
    );

    assert!(s.delete_practitioner(p.id).await.unwrap());
    assert!(s.get_practitioner(p.id).await.unwrap().is_none());
    assert!(s.delete_user(u.id).await.unwrap());
    assert!(s.get_user(u.id).await.unwrap().is_none());
    assert!(!s.delete_user(u.id).await.unwrap());
}

async fn organizations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let root = s
        .create_organization(NewOrganization {
            id: Some(0),
            name: "ROOT".into(),
            org_type: "root".into(),
            part_of: None,
        })
        .await
        .unwrap();
    assert_eq!(root.id, 0);
    let b = org(s, "B lab", Some(0)).await;
    let a = org(s, "A lab", Some(0)).await;
    let child = org(s, "Child", Some(a.id)).await;
    let top = s
        .list_organizations(Some(0), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        top.items
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        ["A lab", "B lab"]
    );
    let mut renamed = b.clone();
    renamed.name = "Z lab".into();
    renamed.org_type = "edu".into();
    assert_eq!(
        s.update_organization(&renamed).await.unwrap().org_type,
        "edu"
    );
    assert_eq!(
        s.get_organizations(&[a.id, child.id]).await.unwrap().len(),
        2
    );
    // A parent with children cannot be deleted.
    assert!(matches!(
        s.delete_organization(a.id).await,
        Err(StoreError::Constraint(_))
    ));
    assert!(s.delete_organization(child.id).await.unwrap());
    assert!(s.delete_organization(a.id).await.unwrap());
    assert!(s.get_organization(a.id).await.unwrap().is_none());
}

async fn patients(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let u = user(s, "pat@example.org", Some(UserType::Patient)).await;
    let mut p = patient(s, Some(u.id), "Doe").await;
    assert_eq!(
        s.get_patient(&AccessScope::system_for_tests(), p.id)
            .await
            .unwrap()
            .unwrap(),
        p
    );
    assert_eq!(s.get_patient_by_user(u.id).await.unwrap().unwrap().id, p.id);
    p.telecom_phone = Some("+1".into());
    p.birth_date = NaiveDate::from_ymd_opt(1980, 1, 1).unwrap();
    let updated = s.update_patient(&p).await.unwrap();
    assert_eq!(updated.birth_date, p.birth_date);
    let o = org(s, "Clinic", None).await;
    s.add_patient_organization(p.id, o.id).await.unwrap();
    s.add_patient_organization(p.id, o.id).await.unwrap();
    assert_eq!(
        s.list_patient_organization_ids(p.id).await.unwrap(),
        vec![o.id]
    );
    let q = PatientQuery {
        organization_id: Some(o.id),
        ..Default::default()
    };
    assert_eq!(
        s.list_patients(&AccessScope::system_for_tests(), &q, PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
    let q = PatientQuery {
        identifier: Some("ext-Doe".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_patients(&AccessScope::system_for_tests(), &q, PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
    assert!(s.remove_patient_organization(p.id, o.id).await.unwrap());
    assert!(s.delete_patient(p.id).await.unwrap());
    assert!(
        s.get_patient(&AccessScope::system_for_tests(), p.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn studies_enrolments_and_consents(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let o = org(s, "Lab", None).await;
    let study = s
        .create_study(NewStudy {
            id: None,
            name: "S".into(),
            description: "d".into(),
            organization_id: o.id,
            icon_url: None,
        })
        .await
        .unwrap();
    let mut changed = study.clone();
    changed.icon_url = Some("https://x/icon.png".into());
    assert_eq!(
        s.update_study(&changed).await.unwrap().icon_url.as_deref(),
        Some("https://x/icon.png")
    );
    assert_eq!(
        s.list_studies(Some(&[o.id]), PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        s.list_studies(Some(&[]), PageRequest::default())
            .await
            .unwrap()
            .total,
        0
    );

    let p = patient(s, None, "Doe").await;
    let c = concept(s, "omh:heart-rate:2.0").await;
    let e = s.enroll_patient(study.id, p.id).await.unwrap();
    assert_eq!(
        s.enroll_patient(study.id, p.id).await.unwrap().id,
        e.id,
        "enrolment is idempotent"
    );
    assert_eq!(
        s.list_study_patients(&jhe_core::store::AccessScope::system_for_tests(), study.id)
            .await
            .unwrap()
            .len(),
        1
    );
    let r = s.add_scope_request(study.id, c.id).await.unwrap();
    assert_eq!(r.scope_actions.as_deref(), Some("rs"));
    assert_eq!(s.list_scope_requests(study.id).await.unwrap().len(), 1);
    let t = Utc::now();
    let consent = s.upsert_consent(e.id, c.id, true, t).await.unwrap();
    let changed = s
        .upsert_consent(e.id, c.id, false, t + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(consent.id, changed.id);
    assert!(!changed.consented);
    assert_eq!(
        s.list_patient_consents(&jhe_core::store::AccessScope::system_for_tests(), p.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s.delete_consent(e.id, c.id).await.unwrap());
    s.upsert_consent(e.id, c.id, true, t).await.unwrap();
    assert_eq!(s.delete_patient_consents(p.id).await.unwrap(), 1);

    let ds = s
        .create_data_source(NewDataSource {
            id: None,
            name: Some("Dev".into()),
            source_type: "personal_device".into(),
        })
        .await
        .unwrap();
    s.add_study_data_source(study.id, ds.id).await.unwrap();
    s.add_study_data_source(study.id, ds.id).await.unwrap();
    assert_eq!(s.list_study_data_sources(study.id).await.unwrap().len(), 1);
    assert!(s.remove_study_data_source(study.id, ds.id).await.unwrap());
    let client = s
        .create_client(NewOAuthClient {
            client_id: "app".into(),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            name: "App".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    s.add_study_client(study.id, client.id).await.unwrap();
    assert_eq!(
        s.list_study_clients(study.id).await.unwrap()[0].client_id,
        client.id
    );
    assert!(s.remove_study_client(study.id, client.id).await.unwrap());
    assert!(s.remove_scope_request(study.id, c.id).await.unwrap());
    assert!(s.unenroll_patient(study.id, p.id).await.unwrap());
    assert!(s.delete_study(study.id).await.unwrap());
    assert!(s.get_study(study.id).await.unwrap().is_none());
}

async fn concepts_and_data_sources(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let c = concept(s, "omh:blood-glucose:4.0").await;
    assert_eq!(
        s.find_concept(OMH_SYSTEM, "omh:blood-glucose:4.0")
            .await
            .unwrap()
            .unwrap()
            .id,
        c.id
    );
    assert!(
        s.find_concept("other", "omh:blood-glucose:4.0")
            .await
            .unwrap()
            .is_none()
    );
    let mut c2 = c.clone();
    c2.text = "Blood glucose".into();
    assert_eq!(s.update_concept(&c2).await.unwrap().text, "Blood glucose");
    assert_eq!(s.list_concepts().await.unwrap().len(), 1);

    let ds = s
        .create_data_source(NewDataSource {
            id: None,
            name: Some("Dexcom".into()),
            source_type: "personal_device".into(),
        })
        .await
        .unwrap();
    let mut ds2 = ds.clone();
    ds2.source_type = "medical_device".into();
    assert_eq!(
        s.update_data_source(&ds2).await.unwrap().source_type,
        "medical_device"
    );
    s.add_supported_scope(ds.id, c.id).await.unwrap();
    s.add_supported_scope(ds.id, c.id).await.unwrap();
    assert_eq!(s.list_supported_scopes(ds.id).await.unwrap().len(), 1);
    assert!(s.remove_supported_scope(ds.id, c.id).await.unwrap());
    assert_eq!(
        s.list_data_sources(PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
    assert!(s.delete_data_source(ds.id).await.unwrap());
    assert!(s.delete_concept(c.id).await.unwrap());
    assert!(s.get_concept(c.id).await.unwrap().is_none());
}

async fn clients(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let new = |client_id: &str, name: &str| NewOAuthClient {
        client_id: client_id.into(),
        redirect_uris: "http://localhost:8000/auth/callback".into(),
        client_type: "public".into(),
        authorization_grant_type: "authorization-code".into(),
        name: name.into(),
        skip_authorization: true,
        algorithm: "RS256".into(),
        ..Default::default()
    };
    let admin = s
        .create_client(new("admin-ui", "JHE Admin UI"))
        .await
        .unwrap();
    let app = s
        .create_client(new("chclient123", "CommonHealth"))
        .await
        .unwrap();
    assert!(app.allows_redirect_uri("http://localhost:8000/auth/callback"));
    assert!(!app.allows_redirect_uri("http://localhost:8000/auth/callback/evil"));
    assert_eq!(
        s.get_client_by_client_id("chclient123")
            .await
            .unwrap()
            .unwrap()
            .id,
        app.id
    );
    assert_eq!(
        s.get_client_by_name("JHE Admin UI")
            .await
            .unwrap()
            .unwrap()
            .id,
        admin.id
    );
    let listed = s
        .list_clients(Some("JHE Admin UI"), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![app.id]
    );
    let mut changed = app.clone();
    changed.name = "CH".into();
    let updated = s.update_client(&changed).await.unwrap();
    assert_eq!(updated.name, "CH");
    assert!(updated.updated >= app.updated);
    let ds = s
        .create_data_source(NewDataSource {
            id: None,
            name: Some("Dev".into()),
            source_type: "personal_device".into(),
        })
        .await
        .unwrap();
    s.add_client_data_source(app.id, ds.id).await.unwrap();
    assert_eq!(s.list_client_data_sources(app.id).await.unwrap().len(), 1);
    assert!(s.remove_client_data_source(app.id, ds.id).await.unwrap());
    assert!(s.delete_client(app.id).await.unwrap());
    assert!(s.get_client(app.id).await.unwrap().is_none());
}

async fn observations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let p = patient(s, None, "Doe").await;
    let c = concept(s, "omh:heart-rate:2.0").await;
    let ident = ObservationIdentifier {
        system: Some("https://example.org/ids".into()),
        value: "obs-1".into(),
    };
    let created = s
        .create_observations(vec![observation(p.id, c.id, vec![ident.clone()])])
        .await
        .unwrap();
    let o = &created[0];
    let read = s
        .get_observation(&AccessScope::system_for_tests(), o.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.value_attachment_data, r#"{"body": {"x": 1},  "header": {}}"#,
        "payload kept byte for byte"
    );
    assert_eq!(read.identifiers, vec![ident.clone()]);
    assert_eq!(
        s.find_observation_by_identifier(&ident).await.unwrap(),
        Some(o.id)
    );
    let mut changed = read.clone();
    changed.status = "amended".into();
    assert_eq!(
        s.update_observation(&changed).await.unwrap().status,
        "amended"
    );
    let page = s
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery {
                patient_id: Some(p.id),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert!(s.delete_observation(o.id).await.unwrap());
    assert!(
        s.get_observation(&AccessScope::system_for_tests(), o.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.find_observation_by_identifier(&ident)
            .await
            .unwrap()
            .is_none(),
        "identifiers cascade"
    );
}

async fn settings(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let a = s
        .create_setting("site.url", None, SettingValue::String("http://x".into()))
        .await
        .unwrap();
    let b = s
        .create_setting(
            "client.code_verifier",
            Some(2),
            SettingValue::String("v".into()),
        )
        .await
        .unwrap();
    s.create_setting("n", None, SettingValue::Int(5))
        .await
        .unwrap();
    s.create_setting("f", None, SettingValue::Float(1.5))
        .await
        .unwrap();
    s.create_setting("b", None, SettingValue::Bool(true))
        .await
        .unwrap();
    s.create_setting(
        "j",
        None,
        SettingValue::Json(serde_json::json!({"a_b": [1, 2]})),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_setting("site.url", None).await.unwrap().unwrap().id,
        a.id
    );
    assert_eq!(
        s.get_setting("client.code_verifier", Some(2))
            .await
            .unwrap()
            .unwrap()
            .id,
        b.id
    );
    assert!(
        s.get_setting("client.code_verifier", None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.get_setting("j", None).await.unwrap().unwrap().value,
        SettingValue::Json(serde_json::json!({"a_b": [1, 2]}))
    );
    assert_eq!(
        s.get_setting("f", None).await.unwrap().unwrap().value,
        SettingValue::Float(1.5)
    );
    let upserted = s
        .upsert_setting("site.url", None, SettingValue::String("http://y".into()))
        .await
        .unwrap();
    assert_eq!(upserted.id, a.id);
    let mut retyped = upserted.clone();
    retyped.value = SettingValue::Int(3);
    assert_eq!(
        s.update_setting(&retyped).await.unwrap().value,
        SettingValue::Int(3)
    );
    assert_eq!(
        s.get_setting_by_id(a.id).await.unwrap().unwrap().value,
        SettingValue::Int(3)
    );
    assert_eq!(
        s.list_settings(PageRequest::default()).await.unwrap().total,
        6
    );
    assert!(
        s.delete_setting_by_key("client.code_verifier", Some(2))
            .await
            .unwrap()
    );
    assert!(s.delete_setting(a.id).await.unwrap());
    assert!(s.get_setting_by_id(a.id).await.unwrap().is_none());
}

async fn oauth_artefacts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let u = user(s, "u@example.org", None).await;
    let app = s
        .create_client(NewOAuthClient {
            client_id: "app".into(),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            name: "App".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let grant = NewAuthorizationGrant {
        code_hash: jhe_kdf::sha256_hex("code-1"),
        application_id: app.id,
        user_id: u.id,
        expires: Utc::now() + Duration::seconds(60),
        redirect_uri: "http://localhost:8000/auth/callback".into(),
        scope: "openid email".into(),
        code_challenge: "c".into(),
        code_challenge_method: "S256".into(),
        nonce: String::new(),
        claims: "{}".into(),
        auth_time: Some(Utc::now()),
    };
    s.create_grant(grant.clone()).await.unwrap();
    assert_eq!(
        s.find_grant(u.id, app.id).await.unwrap().unwrap().scope,
        "openid email"
    );
    let now = Utc::now();
    let taken = s
        .take_grant(&jhe_kdf::sha256_hex("code-1"), "family-1", now)
        .await
        .unwrap();
    let Some(GrantRedemption::Redeemed(taken)) = taken else {
        panic!("first presentation redeems: {taken:?}");
    };
    assert_eq!(taken.token_family.as_deref(), Some("family-1"));
    assert!(taken.consumed.is_some());
    let again = s
        .take_grant(&jhe_kdf::sha256_hex("code-1"), "family-2", Utc::now())
        .await
        .unwrap();
    let Some(GrantRedemption::Replayed(again)) = again else {
        panic!("codes are single-use: {again:?}");
    };
    assert_eq!(
        again.token_family.as_deref(),
        Some("family-1"),
        "a replay names the first exchange's family"
    );
    assert!(
        s.find_grant(u.id, app.id).await.unwrap().is_none(),
        "a used code is not the current grant"
    );
    assert!(
        s.take_grant(&jhe_kdf::sha256_hex("unknown"), "f", now)
            .await
            .unwrap()
            .is_none()
    );
    s.create_grant(NewAuthorizationGrant {
        code_hash: jhe_kdf::sha256_hex("code-2"),
        ..grant.clone()
    })
    .await
    .unwrap();
    assert_eq!(s.delete_grants(u.id, app.id).await.unwrap(), 2);

    let access = s
        .create_access_token(NewAccessToken {
            token_hash: jhe_kdf::sha256_hex("tok"),
            user_id: Some(u.id),
            application_id: Some(app.id),
            expires: Utc::now() + Duration::days(14),
            scope: "openid".into(),
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await
        .unwrap();
    assert_eq!(
        s.get_access_token(&jhe_kdf::sha256_hex("tok"))
            .await
            .unwrap()
            .unwrap()
            .id,
        access.id
    );
    let refresh = s
        .create_refresh_token(NewRefreshToken {
            token_hash: jhe_kdf::sha256_hex("ref"),
            access_token_id: Some(access.id),
            application_id: app.id,
            user_id: u.id,
            token_family: uuid::Uuid::new_v4().to_string(),
            scope: "openid user/*.cruds".into(),
        })
        .await
        .unwrap();
    assert!(
        s.revoke_refresh_token(refresh.id, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !s.revoke_refresh_token(refresh.id, Utc::now())
            .await
            .unwrap(),
        "revocation happens once"
    );
    assert!(
        s.get_refresh_token(&jhe_kdf::sha256_hex("ref"))
            .await
            .unwrap()
            .unwrap()
            .revoked
            .is_some()
    );
    s.revoke_token_family(&refresh.token_family, Utc::now())
        .await
        .unwrap();
    assert!(
        s.get_access_token(&jhe_kdf::sha256_hex("tok"))
            .await
            .unwrap()
            .is_none(),
        "family revocation drops access tokens"
    );
    assert!(!s.delete_access_token(access.id).await.unwrap());

    let k1 = s
        .add_signing_key(
            NewSigningKey {
                kid: "k1".into(),
                algorithm: "RS256".into(),
                private_key_pem: "pem".into(),
                public_jwk: "{}".into(),
            },
            true,
        )
        .await
        .unwrap();
    s.add_signing_key(
        NewSigningKey {
            kid: "k2".into(),
            algorithm: "RS256".into(),
            private_key_pem: "pem".into(),
            public_jwk: "{}".into(),
        },
        true,
    )
    .await
    .unwrap();
    let keys = s.list_signing_keys().await.unwrap();
    assert_eq!(keys[0].kid, "k2");
    assert!(
        keys.iter()
            .any(|k| k.kid == "k1" && !k.active && k.retired.is_some())
    );
    assert!(s.activate_signing_key(&k1.kid).await.unwrap());
    assert_eq!(s.list_signing_keys().await.unwrap()[0].kid, "k1");
    assert!(!s.activate_signing_key("nope").await.unwrap());
}

async fn sessions_and_login_attempts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let u = user(s, "u@example.org", None).await;
    let now = Utc::now();
    let mut session = Session {
        id: jhe_kdf::sha256_hex("cookie"),
        user_id: Some(u.id),
        data: serde_json::json!({"csrf": "x"}),
        expires: now + Duration::hours(1),
        created: now,
        updated: now,
    };
    s.put_session(&session).await.unwrap();
    assert_eq!(
        s.get_session(&session.id, now).await.unwrap().unwrap().data["csrf"],
        "x"
    );
    session.data = serde_json::json!({"csrf": "y"});
    s.put_session(&session).await.unwrap();
    assert_eq!(
        s.get_session(&session.id, now).await.unwrap().unwrap().data["csrf"],
        "y"
    );
    assert!(
        s.get_session(&session.id, now + Duration::hours(2))
            .await
            .unwrap()
            .is_none(),
        "expired sessions are not returned"
    );
    assert_eq!(
        s.delete_expired_sessions(now + Duration::hours(2))
            .await
            .unwrap(),
        1
    );
    s.put_session(&session).await.unwrap();
    assert_eq!(s.delete_user_sessions(u.id).await.unwrap(), 1);
    s.put_session(&session).await.unwrap();
    assert!(s.delete_session(&session.id).await.unwrap());

    let since = now - Duration::minutes(15);
    s.record_login_attempt("account:u@example.org", false, now)
        .await
        .unwrap();
    s.record_login_attempt("account:u@example.org", false, now)
        .await
        .unwrap();
    assert_eq!(
        s.count_failed_logins("account:u@example.org", since)
            .await
            .unwrap(),
        2
    );
    s.record_login_attempt("account:u@example.org", true, now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        s.count_failed_logins("account:u@example.org", since)
            .await
            .unwrap(),
        0,
        "a success resets the count"
    );
}

async fn study_icons(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = &db.store;
    let o = org(s, "Lab", None).await;
    let study = s
        .create_study(NewStudy {
            id: None,
            name: "S".into(),
            description: "d".into(),
            organization_id: o.id,
            icon_url: None,
        })
        .await
        .unwrap();
    assert!(s.get_study_icon(study.id).await.unwrap().is_none());
    let at = chrono::DateTime::from_timestamp(1_765_000_000, 0).unwrap();
    let icon = StudyIcon {
        study_id: study.id,
        content_type: "image/png".into(),
        // Every byte value survives (blob / bytea).
        data: (0..=255u8).collect(),
        content_hash: "a".repeat(64),
        updated_at: at,
    };
    s.put_study_icon(&icon).await.unwrap();
    assert_eq!(
        s.get_study_icon(study.id).await.unwrap(),
        Some(icon.clone())
    );
    // A second upload replaces the first.
    let replaced = StudyIcon {
        content_type: "image/webp".into(),
        data: vec![1, 2, 3],
        content_hash: "b".repeat(64),
        updated_at: at + Duration::seconds(5),
        ..icon
    };
    s.put_study_icon(&replaced).await.unwrap();
    assert_eq!(
        s.get_study_icon(study.id).await.unwrap(),
        Some(replaced.clone())
    );
    assert!(s.delete_study_icon(study.id).await.unwrap());
    assert!(!s.delete_study_icon(study.id).await.unwrap());
    assert!(s.get_study_icon(study.id).await.unwrap().is_none());
    // The study and its icon change together.
    let with_url = Study {
        icon_url: Some("https://jhe.example/api/v1/studies/1/icon?v=ab".into()),
        ..study.clone()
    };
    let updated = s
        .update_study_and_icon(&with_url, Some(Some(&replaced)))
        .await
        .unwrap();
    assert_eq!(updated.icon_url, with_url.icon_url);
    assert_eq!(
        s.get_study_icon(study.id).await.unwrap(),
        Some(replaced.clone())
    );
    let renamed = Study {
        name: "Renamed".into(),
        ..updated.clone()
    };
    assert_eq!(
        s.update_study_and_icon(&renamed, None).await.unwrap().name,
        "Renamed"
    );
    assert!(s.get_study_icon(study.id).await.unwrap().is_some(), "kept");
    let cleared = Study {
        icon_url: None,
        ..renamed
    };
    assert_eq!(
        s.update_study_and_icon(&cleared, Some(None))
            .await
            .unwrap()
            .icon_url,
        None
    );
    assert!(s.get_study_icon(study.id).await.unwrap().is_none());
    // Deleting the study deletes its icon.
    s.put_study_icon(&replaced).await.unwrap();
    assert!(s.delete_study(study.id).await.unwrap());
    assert!(s.get_study_icon(study.id).await.unwrap().is_none());
}

both_backends! {
    icons => study_icons;
    users => users_and_practitioners;
    orgs => organizations;
    patient_records => patients;
    studies => studies_enrolments_and_consents;
    reference => concepts_and_data_sources;
    oauth_clients => clients;
    observation_rows => observations;
    setting_rows => settings;
    oauth => oauth_artefacts;
    sessions => sessions_and_login_attempts;
}
