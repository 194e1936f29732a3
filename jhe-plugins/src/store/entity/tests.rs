//! Checks that every entity matches the schema of `jhe-migrations`: each
//! model is written with all columns set, read back and compared, on SQLite
//! and (when `JHE_TEST_POSTGRES_URL` is set) on a throw-away PostgreSQL
//! database. The relation definitions are exercised with `find_related`.

use std::error::Error;

use chrono::{NaiveDate, TimeZone, Utc};
use jhe_migrations::{Migrator, MigratorTrait};
use sea_orm::prelude::DateTimeUtc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ConnectionTrait, Database, DatabaseConnection,
    EntityTrait, IntoActiveModel, JoinType, ModelTrait, QueryOrder, QuerySelect, RelationTrait,
};

use super::prelude::*;
use super::*;

type TestResult<T = ()> = Result<T, Box<dyn Error>>;

fn ts(secs: i64) -> TestResult<DateTimeUtc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| "bad timestamp".into())
}

/// Inserts `$model` (with a database-generated id unless `keep_id` is
/// given), reads the row back by primary key and checks that it equals the
/// inserted model, all columns included.
macro_rules! roundtrip {
    ($db:expr, $module:ident, $model:expr) => {
        roundtrip!($db, $module, $model, false)
    };
    ($db:expr, $module:ident, $model:expr, keep_id) => {
        roundtrip!($db, $module, $model, true)
    };
    ($db:expr, $module:ident, $model:expr, $keep_id:literal) => {{
        let model: $module::Model = $model;
        let mut expected = model.clone();
        let mut active = model.into_active_model().reset_all();
        if !$keep_id {
            active.id = NotSet;
        }
        let inserted = active.insert($db).await?;
        let found = $module::Entity::find_by_id(inserted.id.clone())
            .one($db)
            .await?
            .ok_or(concat!(stringify!($module), ": row not found"))?;
        assert_eq!(found, inserted, stringify!($module));
        if $keep_id {
            assert_eq!(inserted.id, expected.id, stringify!($module));
        }
        expected.id = inserted.id.clone();
        assert_eq!(inserted, expected, stringify!($module));
        inserted
    }};
}

async fn exercise(db: &DatabaseConnection) -> TestResult {
    Migrator::up(db, None).await?;
    let t = ts(1_700_000_000)?;
    let t2 = ts(1_700_000_123)?;

    let u = roundtrip!(
        db,
        user,
        user::Model {
            id: 10001,
            password: "!unusable".into(),
            last_login: Some(t2),
            is_superuser: true,
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            is_staff: true,
            is_active: true,
            date_joined: t,
            email: "ada@example.org".into(),
            email_is_verified: true,
            identifier: "ehr-1".into(),
            user_type: Some("practitioner".into()),
        },
        keep_id
    );
    let root = roundtrip!(
        db,
        organization,
        organization::Model {
            id: 0,
            name: "ROOT".into(),
            r#type: "root".into(),
            part_of_id: None,
        },
        keep_id
    );
    let org = roundtrip!(
        db,
        organization,
        organization::Model {
            id: 0,
            name: "Org".into(),
            r#type: "prov".into(),
            part_of_id: Some(root.id),
        }
    );
    let prac = roundtrip!(
        db,
        practitioner,
        practitioner::Model {
            id: 0,
            jhe_user_id: u.id,
            identifier: Some("p".into()),
            name_family: Some("Lovelace".into()),
            name_given: Some("Ada".into()),
            telecom_phone: Some("555".into()),
            last_updated: t,
        }
    );
    roundtrip!(
        db,
        practitioner_organization,
        practitioner_organization::Model {
            id: 0,
            practitioner_id: prac.id,
            organization_id: org.id,
            role: "manager".into(),
        }
    );
    let pat = roundtrip!(
        db,
        patient,
        patient::Model {
            id: 0,
            jhe_user_id: Some(u.id),
            identifier: Some(String::new()),
            name_family: "Doe".into(),
            name_given: "Jane".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 1, 2).ok_or("bad date")?,
            telecom_phone: None,
            last_updated: t,
        }
    );
    roundtrip!(
        db,
        patient_organization,
        patient_organization::Model {
            id: 0,
            patient_id: pat.id,
            organization_id: org.id,
        }
    );
    let st = roundtrip!(
        db,
        study,
        study::Model {
            id: 0,
            name: "Study".into(),
            description: "Desc".into(),
            organization_id: org.id,
            icon_url: Some("https://example.org/i.png".into()),
        }
    );
    let sp = roundtrip!(
        db,
        study_patient,
        study_patient::Model {
            id: 0,
            study_id: st.id,
            patient_id: pat.id,
        }
    );
    let cc = roundtrip!(
        db,
        codeable_concept,
        codeable_concept::Model {
            id: 0,
            coding_system: "https://w3id.org/openmhealth".into(),
            coding_code: "omh:heart-rate:2.0".into(),
            text: "Heart Rate".into(),
        }
    );
    roundtrip!(
        db,
        study_scope_request,
        study_scope_request::Model {
            id: 0,
            study_id: st.id,
            scope_code_id: cc.id,
            scope_actions: Some("rs".into()),
        }
    );
    roundtrip!(
        db,
        study_patient_scope_consent,
        study_patient_scope_consent::Model {
            id: 0,
            study_patient_id: sp.id,
            scope_code_id: cc.id,
            scope_actions: None,
            consented: false,
            consented_time: t2,
        }
    );
    let ds = roundtrip!(
        db,
        data_source,
        data_source::Model {
            id: 0,
            name: Some("Watch".into()),
            r#type: "personal_device".into(),
        }
    );
    roundtrip!(
        db,
        data_source_supported_scope,
        data_source_supported_scope::Model {
            id: 0,
            data_source_id: ds.id,
            scope_code_id: cc.id,
        }
    );
    let app = roundtrip!(
        db,
        oauth_application,
        oauth_application::Model {
            id: 0,
            client_id: "client-abc".into(),
            redirect_uris: "http://localhost/cb http://localhost/cb2".into(),
            post_logout_redirect_uris: String::new(),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            client_secret: "argon2-hash".into(),
            hash_client_secret: true,
            name: "JHE Admin UI".into(),
            user_id: Some(u.id),
            skip_authorization: true,
            algorithm: "RS256".into(),
            allowed_origins: String::new(),
            created: t,
            updated: t2,
        }
    );
    roundtrip!(
        db,
        study_data_source,
        study_data_source::Model {
            id: 0,
            study_id: st.id,
            data_source_id: ds.id,
        }
    );
    roundtrip!(
        db,
        study_client,
        study_client::Model {
            id: 0,
            study_id: st.id,
            client_id: app.id,
        }
    );
    roundtrip!(
        db,
        client_data_source,
        client_data_source::Model {
            id: 0,
            client_id: app.id,
            data_source_id: ds.id,
        }
    );
    let obs = roundtrip!(
        db,
        observation,
        observation::Model {
            id: 0,
            subject_patient_id: pat.id,
            codeable_concept_id: cc.id,
            data_source_id: Some(ds.id),
            value_attachment_data: "{\"header\": {}, \"body\": {\"x\": 1.50}}".into(),
            content_type: "application/json".into(),
            status: "final".into(),
            effective_start: Some(t),
            effective_end: Some(t2),
            last_updated: t2,
            ow_key: Some("bucket/key".into()),
        }
    );
    roundtrip!(
        db,
        observation_identifier,
        observation_identifier::Model {
            id: 0,
            observation_id: obs.id,
            system: None,
            value: "zzz".into(),
        }
    );
    roundtrip!(
        db,
        jhe_setting,
        jhe_setting::Model {
            id: 0,
            key: "site.url".into(),
            setting_id: Some(app.id),
            value_type: "float".into(),
            value_string: Some("s".into()),
            value_int: Some(i64::MAX),
            value_bool: Some(true),
            value_float: Some(1.25),
            value_json: Some("{\"a\":[1,2]}".into()),
            last_updated: t,
        }
    );
    roundtrip!(
        db,
        oauth_grant,
        oauth_grant::Model {
            id: 0,
            code_hash: "a".repeat(64),
            application_id: app.id,
            user_id: u.id,
            expires: t2,
            redirect_uri: "http://localhost/cb".into(),
            scope: "openid".into(),
            code_challenge: "c".repeat(43),
            code_challenge_method: "S256".into(),
            nonce: "n".into(),
            claims: "{}".into(),
            auth_time: Some(t),
            created: t,
            consumed: Some(t2),
            token_family: Some("f".repeat(32)),
        }
    );
    let at = roundtrip!(
        db,
        oauth_access_token,
        oauth_access_token::Model {
            id: 0,
            token_hash: "b".repeat(64),
            user_id: Some(u.id),
            application_id: Some(app.id),
            expires: t2,
            scope: "openid".into(),
            source_refresh_token_id: Some(42),
            id_token_jti: Some("jti".into()),
            created: t,
            updated: t,
        }
    );
    roundtrip!(
        db,
        oauth_refresh_token,
        oauth_refresh_token::Model {
            id: 0,
            token_hash: "c".repeat(64),
            access_token_id: Some(at.id),
            application_id: app.id,
            user_id: u.id,
            revoked: Some(t2),
            token_family: "00000000-0000-0000-0000-000000000000".into(),
            scope: "openid user/*.cruds".into(),
            created: t,
            updated: t,
        }
    );
    roundtrip!(
        db,
        oauth_signing_key,
        oauth_signing_key::Model {
            id: 0,
            kid: "k1".into(),
            algorithm: "RS256".into(),
            private_key_pem: "-----BEGIN RSA PRIVATE KEY-----".into(),
            public_jwk: "{}".into(),
            active: true,
            created: t,
            retired: None,
        }
    );
    roundtrip!(
        db,
        session,
        session::Model {
            id: "d".repeat(64),
            user_id: Some(u.id),
            data: "{}".into(),
            expires: t2,
            created: t,
            updated: t,
        },
        keep_id
    );
    roundtrip!(
        db,
        login_attempt,
        login_attempt::Model {
            id: 0,
            key: "account:ada@example.org".into(),
            attempted_at: t,
            succeeded: true,
        }
    );

    // Relations: direct, reverse and many-to-many through link tables.
    let orgs = pat.find_related(Organization).all(db).await?;
    assert_eq!(orgs, vec![org.clone()]);
    let pracs = org.find_related(Practitioner).all(db).await?;
    assert_eq!(pracs, vec![prac.clone()]);
    let studies = pat.find_related(Study).all(db).await?;
    assert_eq!(studies, vec![st.clone()]);
    let patients = st.find_related(Patient).all(db).await?;
    assert_eq!(patients, vec![pat.clone()]);
    let apps = ds.find_related(OauthApplication).all(db).await?;
    assert_eq!(apps.len(), 1);
    let scopes = ds.find_related(CodeableConcept).all(db).await?;
    assert_eq!(scopes, vec![cc.clone()]);
    let requested = st.find_related(CodeableConcept).all(db).await?;
    assert_eq!(requested, vec![cc.clone()]);
    let owner = prac.find_related(User).one(db).await?;
    assert_eq!(owner.map(|o| o.id), Some(u.id));
    let observations = pat
        .find_related(Observation)
        .order_by_asc(observation::Column::Id)
        .all(db)
        .await?;
    assert_eq!(observations, vec![obs.clone()]);
    // The self-relation has no `Related` impl; join through `Relation::PartOf`
    // under an alias.
    let children = Organization::find()
        .join_as(
            JoinType::InnerJoin,
            organization::Relation::PartOf.def(),
            "parent",
        )
        .all(db)
        .await?;
    assert_eq!(children, vec![org.clone()]);
    let with_user = Patient::find().find_also_related(User).all(db).await?;
    assert_eq!(with_user.len(), 1);

    // Cascades declared in the schema.
    u.delete(db).await?;
    assert_eq!(Practitioner::find().all(db).await?.len(), 0);
    assert_eq!(Patient::find().all(db).await?.len(), 0);
    assert_eq!(Observation::find().all(db).await?.len(), 0);
    assert_eq!(OauthApplication::find().all(db).await?.len(), 0);
    assert_eq!(Session::find().all(db).await?.len(), 0);
    Ok(())
}

#[tokio::test]
async fn entities_match_schema_sqlite() -> TestResult {
    let db = Database::connect("sqlite::memory:").await?;
    exercise(&db).await
}

#[tokio::test]
async fn entities_match_schema_postgres() -> TestResult {
    // A test that cannot reach PostgreSQL fails; it never skips.
    let url = std::env::var("JHE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = Database::connect(&url).await?;
    let name = format!("jhe_ent_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
        .await?;
    let result = async {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base.to_owned(), format!("?{query}")),
            None => (url.clone(), String::new()),
        };
        let start = base.find("://").ok_or("URL without scheme")? + 3;
        let server = match base[start..].find('/') {
            Some(slash) => &base[..start + slash],
            None => &base[..],
        };
        let db = Database::connect(format!("{server}/{name}{query}")).await?;
        let result = exercise(&db).await;
        db.close().await?;
        result
    }
    .await;
    admin
        .execute_unprepared(&format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#))
        .await?;
    admin.close().await?;
    result
}
