//! Units of work: multi-step writes are all-or-nothing, and idempotent link adds stay
//! idempotent under concurrency. Failures are injected with a database trigger, the same way on
//! SQLite and PostgreSQL.

use jhe_core::domain::{NewUser, SettingValue, keys};
use jhe_core::services::seed::{NoProgress, seed};
use jhe_core::services::signup::{SignupForm, signup};
use jhe_core::store::*;
use sea_orm::ConnectionTrait;

use crate::both_backends;
use crate::support::{
    Backend, TestDb, api_request, bearer_for, seeded, spawn_app, spawn_seeded, state_of,
};

/// Makes every `event` (INSERT, DELETE) on `table` fail, until [`allow`].
async fn refuse(db: &TestDb, event: &str, table: &str) {
    let conn = db.store.connection();
    let name = format!("refuse_{}_{table}", event.to_lowercase());
    match db.backend {
        Backend::Sqlite => {
            conn.execute_unprepared(&format!(
                "CREATE TRIGGER {name} BEFORE {event} ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            ))
            .await
            .unwrap();
        }
        Backend::Postgres => {
            conn.execute_unprepared(&format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
            ))
            .await
            .unwrap();
            conn.execute_unprepared(&format!(
                "CREATE TRIGGER {name} BEFORE {event} ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {name}()"
            ))
            .await
            .unwrap();
        }
    }
}

/// Removes what [`refuse`] installed.
async fn allow(db: &TestDb, event: &str, table: &str) {
    let conn = db.store.connection();
    let name = format!("refuse_{}_{table}", event.to_lowercase());
    match db.backend {
        Backend::Sqlite => conn
            .execute_unprepared(&format!("DROP TRIGGER {name}"))
            .await
            .unwrap(),
        Backend::Postgres => conn
            .execute_unprepared(&format!(
                "DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}()"
            ))
            .await
            .unwrap(),
    };
}

both_backends! {
    commit_publishes_and_drop_rolls_back => commit_publishes_and_drop_rolls_back;
    signup_whose_profile_fails_leaves_no_user => signup_whose_profile_fails_leaves_no_user;
    create_superuser_whose_profile_fails_leaves_no_user => create_superuser_whose_profile_fails_leaves_no_user;
    remove_from_organization_is_all_or_nothing => remove_from_organization_is_all_or_nothing;
    concurrent_link_adds_do_not_fail => concurrent_link_adds_do_not_fail;
    consent_changes_are_all_or_nothing => consent_changes_are_all_or_nothing;
}

/// A consent request changing two studies whose second write fails changes nothing (the API
/// promises all-or-nothing; each decision used to be written on its own).
async fn consent_changes_are_all_or_nothing(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let all = AccessScope::system_for_tests();
    let store = &app.db.store;
    let enrolments = store.list_patient_studies(&all, 40001).await.unwrap();
    let in_30002 = enrolments.iter().find(|e| e.study_id == 30002).unwrap().id;
    let before = store.list_patient_consents(&all, 40001).await.unwrap();
    // Writes of decisions in study 30002 fail.
    let conn = app.db.store.connection();
    match app.db.backend {
        Backend::Sqlite => conn
            .execute_unprepared(&format!(
                "CREATE TRIGGER refuse_30002 BEFORE INSERT ON study_patient_scope_consents \
                 WHEN NEW.study_patient_id = {in_30002} \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            ))
            .await
            .unwrap(),
        Backend::Postgres => conn
            .execute_unprepared(&format!(
                "CREATE FUNCTION refuse_30002() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN IF NEW.study_patient_id = {in_30002} THEN \
                 RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_30002 BEFORE INSERT ON study_patient_scope_consents \
                 FOR EACH ROW EXECUTE FUNCTION refuse_30002()"
            ))
            .await
            .unwrap(),
    };
    let omh = "https://w3id.org/openmhealth";
    let body = serde_json::json!({"studyScopeConsents": [
        {"studyId": 30001, "scopeConsents": [{"codingSystem": omh, "codingCode": "omh:heart-rate:2.0", "consented": false}]},
        {"studyId": 30002, "scopeConsents": [{"codingSystem": omh, "codingCode": "omh:blood-pressure:4.0", "consented": true}]}]});
    let peter = bearer_for(&app, seeded::PATIENT).await;
    let (status, answer) = api_request(
        &app,
        reqwest::Method::POST,
        "/api/v1/patients/40001/consents",
        Some(&peter),
        Some(body.clone()),
    )
    .await;
    assert!(status >= 500, "{status} {answer}");
    assert!(!answer.to_string().contains("injected failure"), "{answer}");
    assert_eq!(
        store.list_patient_consents(&all, 40001).await.unwrap(),
        before,
        "the first study's change was rolled back"
    );
}

async fn commit_publishes_and_drop_rolls_back(backend: Backend) {
    let db = TestDb::new(backend).await;
    let new = |email: &str| NewUser {
        email: email.into(),
        password: "!".into(),
        ..Default::default()
    };

    let uow = db.store.begin().await.unwrap();
    let user = uow.create_user(new("dropped@example.org")).await.unwrap();
    // The unit of work sees its own write; the store does not, yet.
    assert!(uow.get_user(user.id).await.unwrap().is_some());
    assert!(db.store.get_user(user.id).await.unwrap().is_none());
    drop(uow);
    assert!(
        db.store
            .get_user_by_email("dropped@example.org")
            .await
            .unwrap()
            .is_none()
    );

    let uow = db.store.begin().await.unwrap();
    uow.create_user(new("rolled@example.org")).await.unwrap();
    uow.rollback().await.unwrap();
    assert!(
        db.store
            .get_user_by_email("rolled@example.org")
            .await
            .unwrap()
            .is_none()
    );

    let uow = db.store.begin().await.unwrap();
    let user = uow.create_user(new("kept@example.org")).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(
        db.store.get_user(user.id).await.unwrap().unwrap().email,
        "kept@example.org"
    );
}

async fn signup_whose_profile_fails_leaves_no_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.db
        .store
        .create_setting(
            keys::REGISTRATION_INVITE_CODE,
            None,
            SettingValue::String("jhe".into()),
        )
        .await
        .unwrap();
    let state = state_of(&app);
    let form = SignupForm {
        joincode: "jhe".into(),
        email: "new.researcher@example.org".into(),
        password: "Str0ng#passw0rd".into(),
        password2: Some("Str0ng#passw0rd".into()),
    };

    refuse(&app.db, "INSERT", "practitioners").await;
    assert!(signup(&state, &form).await.is_err());
    assert!(
        app.db
            .store
            .get_user_by_email("new.researcher@example.org")
            .await
            .unwrap()
            .is_none(),
        "the user of a failed sign-up was left behind"
    );

    allow(&app.db, "INSERT", "practitioners").await;
    let user = signup(&state, &form).await.unwrap().unwrap();
    assert!(
        app.db
            .store
            .get_practitioner_by_user(user.id)
            .await
            .unwrap()
            .is_some()
    );
}

async fn create_superuser_whose_profile_fails_leaves_no_user(backend: Backend) {
    let db = TestDb::new(backend).await;
    refuse(&db, "INSERT", "practitioners").await;
    assert!(
        jhe::create_superuser(&db.store, "root@example.org", "Str0ng#passw0rd")
            .await
            .is_err()
    );
    assert!(db.store.is_empty().await.unwrap());
    allow(&db, "INSERT", "practitioners").await;
    let user = jhe::create_superuser(&db.store, "root@example.org", "Str0ng#passw0rd")
        .await
        .unwrap();
    assert!(user.is_superuser);
}

async fn remove_from_organization_is_all_or_nothing(backend: Backend) {
    let app = spawn_seeded(backend).await;
    // Mary manages Example Lab, peter's organisation.
    let token = bearer_for(&app, seeded::MANAGER).await;
    let store = &app.db.store;
    // Peter (patient 40001, user 10006) is only in 20003 and enrolled in two of its studies.
    let studies_before = store
        .list_patient_studies(&jhe_core::store::AccessScope::system_for_tests(), 40001)
        .await
        .unwrap();
    assert_eq!(studies_before.len(), 2);

    // The last step (deleting peter's account) fails: nothing of the removal may remain.
    refuse(&app.db, "DELETE", "users").await;
    let (status, body) = api_request(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/patients/40001?organizationId=20003",
        Some(&token),
        None,
    )
    .await;
    assert!(status >= 500, "{status} {body}");
    assert!(
        !body.to_string().contains("injected failure"),
        "driver text in the answer: {body}"
    );
    assert_eq!(
        store.list_patient_organization_ids(40001).await.unwrap(),
        vec![20003]
    );
    assert_eq!(
        store
            .list_patient_studies(&jhe_core::store::AccessScope::system_for_tests(), 40001)
            .await
            .unwrap(),
        studies_before
    );
    assert!(
        !store
            .list_patient_consents(&jhe_core::store::AccessScope::system_for_tests(), 40001)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get_user(seeded::PATIENT).await.unwrap().is_some());

    allow(&app.db, "DELETE", "users").await;
    let (status, body) = api_request(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/patients/40001?organizationId=20003",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        store
            .list_patient_studies(&jhe_core::store::AccessScope::system_for_tests(), 40001)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get_user(seeded::PATIENT).await.unwrap().is_none());
}

async fn concurrent_link_adds_do_not_fail(backend: Backend) {
    let db = TestDb::new(backend).await;
    seed(&db.store, &jhe_core::Config::default(), false, &NoProgress)
        .await
        .unwrap();
    // Patient 40003 is in 20007 only and enrolled in 30004 only.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = db.second_store().await;
        tasks.push(tokio::spawn(async move {
            store.add_patient_organization(40003, 20003).await?;
            store.enroll_patient(30001, 40003).await?;
            store.add_scope_request(30001, 50001).await?;
            store.add_study_data_source(30001, 70003).await?;
            store.add_study_client(30001, 1).await?;
            StoreResult::Ok(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        db.store.list_patient_organization_ids(40003).await.unwrap(),
        vec![20003, 20007]
    );
    let enrolled: Vec<_> = db
        .store
        .list_study_patients(&jhe_core::store::AccessScope::system_for_tests(), 30001)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.patient_id == 40003)
        .collect();
    assert_eq!(enrolled.len(), 1);
    let requests = db.store.list_scope_requests(30001).await.unwrap();
    assert_eq!(
        requests.iter().filter(|r| r.scope_code_id == 50001).count(),
        1
    );
    let sources = db.store.list_study_data_sources(30001).await.unwrap();
    assert_eq!(
        sources.iter().filter(|s| s.data_source_id == 70003).count(),
        1
    );
    let clients = db.store.list_study_clients(30001).await.unwrap();
    assert_eq!(clients.iter().filter(|c| c.client_id == 1).count(), 1);
    // The same adds once more, one after the other, return the existing rows.
    let again = db.store.enroll_patient(30001, 40003).await.unwrap();
    assert_eq!(again.id, enrolled[0].id);
}
