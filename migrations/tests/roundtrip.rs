//! Runs the migrations up, down and up again on SQLite (in memory) and on a throw-away
//! PostgreSQL database (at `JHE_TEST_POSTGRES_URL`, default the local server; a test that cannot
//! connect fails, it never skips).
//!
//! Besides the round trip, the schema's behaviour is checked on both
//! backends: primary-key generation after explicit ids, defaults, unique
//! constraints (including the two `COALESCE` expression indexes), and the
//! `ON DELETE` actions (CASCADE, SET NULL, RESTRICT).

#![allow(clippy::string_slice, clippy::indexing_slicing)] // test code

use std::error::Error;

/// Where the PostgreSQL tests connect.
fn postgres_url() -> String {
    std::env::var("JHE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use jhe_migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult, Statement, Value,
};

type TestResult<T = ()> = Result<T, Box<dyn Error>>;

/// Every table the initial migration creates.
const TABLES: &[&str] = &[
    "users",
    "organizations",
    "practitioners",
    "practitioner_organizations",
    "patients",
    "patient_organizations",
    "studies",
    "study_patients",
    "codeable_concepts",
    "study_scope_requests",
    "study_patient_scope_consents",
    "data_sources",
    "data_source_supported_scopes",
    "oauth_applications",
    "study_data_sources",
    "study_clients",
    "client_data_sources",
    "observations",
    "observation_identifiers",
    "jhe_settings",
    "oauth_grants",
    "oauth_access_tokens",
    "oauth_refresh_tokens",
    "oauth_signing_keys",
    "sessions",
    "login_attempts",
    "audit_events",
    "bulk_export_jobs",
    "sso_login_requests",
    "sso_used_ids",
    "external_identities",
    "personal_access_tokens",
];

/// How many steps `down` takes to revert the migration `name` (and every later one), so that
/// these checks keep working as migrations are added.
fn steps_to_revert(name: &str) -> u32 {
    let all = Migrator::migrations();
    let position = all
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or(all.len().saturating_sub(1));
    u32::try_from(all.len() - position).unwrap_or(1)
}

fn ts(secs: i64) -> TestResult<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| "bad timestamp".into())
}

/// `INSERT INTO table (cols...) VALUES (...) RETURNING id`; returns the id.
async fn insert(db: &DatabaseConnection, table: &str, cols: Vec<(&str, Value)>) -> TestResult<i64> {
    let mut stmt = Query::insert();
    stmt.into_table(Alias::new(table))
        .columns(cols.iter().map(|(c, _)| Alias::new(*c)))
        .values(cols.into_iter().map(|(_, v)| Expr::val(v)))?
        .returning_col(Alias::new("id"));
    let row = db.query_one(&stmt).await?.ok_or("INSERT returned no row")?;
    Ok(row.try_get::<i64>("", "id")?)
}

/// Like [`insert`] but only reports whether the statement succeeded.
async fn try_insert(db: &DatabaseConnection, table: &str, cols: Vec<(&str, Value)>) -> bool {
    insert(db, table, cols).await.is_ok()
}

async fn exec(db: &DatabaseConnection, sql: &str) -> TestResult<u64> {
    Ok(db.execute_unprepared(sql).await?.rows_affected())
}

async fn query_one(db: &DatabaseConnection, sql: &str) -> TestResult<QueryResult> {
    let stmt = Statement::from_string(db.get_database_backend(), sql);
    Ok(db
        .query_one_raw(stmt)
        .await?
        .ok_or_else(|| format!("no row for: {sql}"))?)
}

async fn count(db: &DatabaseConnection, table: &str, filter: &str) -> TestResult<i64> {
    let row = query_one(
        db,
        &format!(r#"SELECT COUNT(*) AS n FROM "{table}" WHERE {filter}"#),
    )
    .await?;
    Ok(row.try_get::<i64>("", "n")?)
}

fn user(email: &str, id: Option<i64>) -> TestResult<Vec<(&'static str, Value)>> {
    let mut cols: Vec<(&'static str, Value)> = vec![
        ("password", "!unusable".into()),
        ("date_joined", ts(1_700_000_000)?.into()),
        ("email", email.to_owned().into()),
    ];
    if let Some(id) = id {
        cols.push(("id", id.into()));
    }
    Ok(cols)
}

/// Asserts how the primary key was generated and prints the DDL.
async fn check_pk_ddl(db: &DatabaseConnection) -> TestResult {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            let row = query_one(
                db,
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'",
            )
            .await?;
            let sql: String = row.try_get("", "sql")?;
            eprintln!("SQLite DDL: {sql}");
            assert!(
                sql.contains(r#""id" integer NOT NULL PRIMARY KEY AUTOINCREMENT"#),
                "unexpected SQLite users DDL: {sql}"
            );
            let row = query_one(
                db,
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'",
            )
            .await?;
            let sql: String = row.try_get("", "sql")?;
            eprintln!("SQLite DDL: {sql}");
            assert!(sql.contains(r#""id" varchar(64) NOT NULL PRIMARY KEY"#));
            assert!(!sql.contains("AUTOINCREMENT"));
        }
        DbBackend::Postgres => {
            let row = query_one(
                db,
                "SELECT data_type::text AS data_type, is_identity::text AS is_identity, \
                 identity_generation::text AS identity_generation \
                 FROM information_schema.columns \
                 WHERE table_name = 'users' AND column_name = 'id'",
            )
            .await?;
            let data_type: String = row.try_get("", "data_type")?;
            let is_identity: String = row.try_get("", "is_identity")?;
            let generation: String = row.try_get("", "identity_generation")?;
            eprintln!("PostgreSQL users.id: {data_type}, identity={is_identity} {generation}");
            assert_eq!(data_type, "bigint");
            assert_eq!(is_identity, "YES");
            assert_eq!(generation, "BY DEFAULT");
        }
        other => return Err(format!("unsupported backend {other:?}").into()),
    }
    Ok(())
}

/// Explicit ids (seed data) followed by generated ids.
async fn check_ids(db: &DatabaseConnection) -> TestResult {
    let id = insert(db, "users", user("seed@example.org", Some(10001))?).await?;
    assert_eq!(id, 10001);
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            let id = insert(db, "users", user("next@example.org", None)?).await?;
            assert_eq!(id, 10002, "SQLite AUTOINCREMENT continues after max id");
        }
        DbBackend::Postgres => {
            // An identity column is not advanced by an explicit insert: the
            // next generated id is 1. The seed must call setval.
            let id = insert(db, "users", user("first@example.org", None)?).await?;
            assert_eq!(id, 1, "PostgreSQL identity ignores explicit ids");
            exec(
                db,
                r#"SELECT setval(pg_get_serial_sequence('"users"', 'id'), (SELECT MAX("id") FROM "users"))"#,
            )
            .await?;
            let id = insert(db, "users", user("next@example.org", None)?).await?;
            assert_eq!(id, 10002, "after setval, ids continue after max id");
        }
        other => return Err(format!("unsupported backend {other:?}").into()),
    }
    // The ROOT organisation has the explicit id 0.
    let root = insert(
        db,
        "organizations",
        vec![
            ("id", 0i64.into()),
            ("name", "ROOT".into()),
            ("type", "root".into()),
        ],
    )
    .await?;
    assert_eq!(root, 0);
    Ok(())
}

/// Column defaults and timestamp round trip.
async fn check_defaults(db: &DatabaseConnection) -> TestResult {
    let row = query_one(
        db,
        r#"SELECT * FROM "users" WHERE "email" = 'seed@example.org'"#,
    )
    .await?;
    assert!(!row.try_get::<bool>("", "is_superuser")?);
    assert!(!row.try_get::<bool>("", "is_staff")?);
    assert!(row.try_get::<bool>("", "is_active")?);
    assert!(!row.try_get::<bool>("", "email_is_verified")?);
    assert_eq!(row.try_get::<String>("", "first_name")?, "");
    assert_eq!(row.try_get::<String>("", "last_name")?, "");
    assert_eq!(row.try_get::<String>("", "identifier")?, "");
    assert_eq!(row.try_get::<Option<String>>("", "user_type")?, None);
    assert_eq!(
        row.try_get::<Option<DateTime<Utc>>>("", "last_login")?,
        None
    );
    assert_eq!(
        row.try_get::<DateTime<Utc>>("", "date_joined")?,
        ts(1_700_000_000)?
    );
    // Duplicate e-mail is rejected.
    assert!(!try_insert(db, "users", user("seed@example.org", None)?).await);
    Ok(())
}

/// The main relations, uniqueness rules and ON DELETE actions.
async fn check_constraints(db: &DatabaseConnection) -> TestResult {
    let now: Value = ts(1_800_000_000)?.into();
    let org = insert(
        db,
        "organizations",
        vec![
            ("name", "Org".into()),
            ("type", "prov".into()),
            ("part_of_id", 0i64.into()),
        ],
    )
    .await?;
    // RESTRICT: the ROOT organisation has a child and cannot be deleted.
    assert!(
        exec(db, r#"DELETE FROM "organizations" WHERE "id" = 0"#)
            .await
            .is_err()
    );

    let prac_user = insert(db, "users", user("prac@example.org", None)?).await?;
    let prac = insert(
        db,
        "practitioners",
        vec![
            ("jhe_user_id", prac_user.into()),
            ("last_updated", now.clone()),
        ],
    )
    .await?;
    let po = vec![
        ("practitioner_id", prac.into()),
        ("organization_id", org.into()),
    ];
    insert(db, "practitioner_organizations", po.clone()).await?;
    assert!(!try_insert(db, "practitioner_organizations", po).await);
    let role = query_one(db, r#"SELECT "role" FROM "practitioner_organizations""#).await?;
    assert_eq!(role.try_get::<String>("", "role")?, "member");

    let patient = insert(
        db,
        "patients",
        vec![
            ("name_family", "Doe".into()),
            ("name_given", "Jane".into()),
            (
                "birth_date",
                NaiveDate::from_ymd_opt(1990, 1, 2)
                    .ok_or("bad date")?
                    .into(),
            ),
            ("last_updated", now.clone()),
        ],
    )
    .await?;
    let row = query_one(
        db,
        &format!(r#"SELECT "birth_date" FROM "patients" WHERE "id" = {patient}"#),
    )
    .await?;
    assert_eq!(
        row.try_get::<NaiveDate>("", "birth_date")?,
        NaiveDate::from_ymd_opt(1990, 1, 2).ok_or("bad date")?
    );
    insert(
        db,
        "patient_organizations",
        vec![
            ("patient_id", patient.into()),
            ("organization_id", org.into()),
        ],
    )
    .await?;
    let study = insert(
        db,
        "studies",
        vec![
            ("name", "Study".into()),
            ("description", "".into()),
            ("organization_id", org.into()),
        ],
    )
    .await?;
    let study_patient = insert(
        db,
        "study_patients",
        vec![("study_id", study.into()), ("patient_id", patient.into())],
    )
    .await?;
    let concept = insert(
        db,
        "codeable_concepts",
        vec![
            ("coding_system", "https://w3id.org/openmhealth".into()),
            ("coding_code", "omh:heart-rate:2.0".into()),
            ("text", "Heart Rate".into()),
        ],
    )
    .await?;
    assert!(
        !try_insert(
            db,
            "codeable_concepts",
            vec![
                ("coding_system", "https://w3id.org/openmhealth".into()),
                ("coding_code", "omh:heart-rate:2.0".into()),
                ("text", "dup".into()),
            ],
        )
        .await
    );
    insert(
        db,
        "study_scope_requests",
        vec![
            ("study_id", study.into()),
            ("scope_code_id", concept.into()),
        ],
    )
    .await?;
    let actions = query_one(db, r#"SELECT "scope_actions" FROM "study_scope_requests""#).await?;
    assert_eq!(
        actions.try_get::<Option<String>>("", "scope_actions")?,
        Some("rs".to_owned())
    );
    insert(
        db,
        "study_patient_scope_consents",
        vec![
            ("study_patient_id", study_patient.into()),
            ("scope_code_id", concept.into()),
            ("consented", true.into()),
            ("consented_time", now.clone()),
        ],
    )
    .await?;
    let source = insert(db, "data_sources", vec![("name", "Watch".into())]).await?;
    let row = query_one(db, r#"SELECT "type" FROM "data_sources""#).await?;
    assert_eq!(row.try_get::<String>("", "type")?, "personal_device");
    let obs = insert(
        db,
        "observations",
        vec![
            ("subject_patient_id", patient.into()),
            ("codeable_concept_id", concept.into()),
            ("data_source_id", source.into()),
            ("value_attachment_data", r#"{"header":{},"body":{}}"#.into()),
            ("last_updated", now.clone()),
        ],
    )
    .await?;
    let row = query_one(db, r#"SELECT "status", "content_type" FROM "observations""#).await?;
    assert_eq!(row.try_get::<String>("", "status")?, "final");
    assert_eq!(
        row.try_get::<String>("", "content_type")?,
        "application/json"
    );

    // observation_identifiers: NULL system collides with NULL system.
    let ident = |system: Option<&str>, value: &str| -> Vec<(&'static str, Value)> {
        vec![
            ("observation_id", obs.into()),
            ("system", system.map(str::to_owned).into()),
            ("value", value.to_owned().into()),
        ]
    };
    insert(db, "observation_identifiers", ident(None, "zzz")).await?;
    assert!(!try_insert(db, "observation_identifiers", ident(None, "zzz")).await);
    insert(db, "observation_identifiers", ident(Some("s"), "zzz")).await?;
    assert!(!try_insert(db, "observation_identifiers", ident(Some("s"), "zzz")).await);
    insert(db, "observation_identifiers", ident(Some("t"), "zzz")).await?;

    // jhe_settings: NULL setting_id collides with NULL setting_id.
    let setting = |setting_id: Option<i64>| -> Vec<(&'static str, Value)> {
        vec![
            ("key", "site.url".into()),
            ("setting_id", setting_id.into()),
            ("value_type", "string".into()),
            ("value_string", "http://localhost:8000".into()),
            ("last_updated", now.clone()),
        ]
    };
    insert(db, "jhe_settings", setting(None)).await?;
    assert!(!try_insert(db, "jhe_settings", setting(None)).await);
    insert(db, "jhe_settings", setting(Some(1))).await?;
    assert!(!try_insert(db, "jhe_settings", setting(Some(1))).await);
    insert(db, "jhe_settings", setting(Some(2))).await?;

    // OAuth tables.
    let app = insert(
        db,
        "oauth_applications",
        vec![
            ("client_id", "abc".into()),
            ("client_type", "public".into()),
            ("authorization_grant_type", "authorization-code".into()),
            ("name", "JHE Admin UI".into()),
            ("user_id", prac_user.into()),
            ("created", now.clone()),
            ("updated", now.clone()),
        ],
    )
    .await?;
    insert(
        db,
        "study_clients",
        vec![("study_id", study.into()), ("client_id", app.into())],
    )
    .await?;
    insert(
        db,
        "client_data_sources",
        vec![("client_id", app.into()), ("data_source_id", source.into())],
    )
    .await?;
    insert(
        db,
        "oauth_grants",
        vec![
            ("code_hash", "a".repeat(64).into()),
            ("application_id", app.into()),
            ("user_id", prac_user.into()),
            ("expires", now.clone()),
            ("redirect_uri", "http://localhost/cb".into()),
            ("scope", "openid".into()),
            ("created", now.clone()),
        ],
    )
    .await?;
    let access = insert(
        db,
        "oauth_access_tokens",
        vec![
            ("token_hash", "b".repeat(64).into()),
            ("user_id", prac_user.into()),
            ("application_id", app.into()),
            ("expires", now.clone()),
            ("scope", "openid".into()),
            ("created", now.clone()),
            ("updated", now.clone()),
        ],
    )
    .await?;
    let refresh = insert(
        db,
        "oauth_refresh_tokens",
        vec![
            ("token_hash", "c".repeat(64).into()),
            ("access_token_id", access.into()),
            ("application_id", app.into()),
            ("user_id", prac_user.into()),
            (
                "token_family",
                "00000000-0000-0000-0000-000000000000".into(),
            ),
            ("created", now.clone()),
            ("updated", now.clone()),
        ],
    )
    .await?;
    // SET NULL: deleting the access token keeps the refresh token.
    exec(
        db,
        &format!(r#"DELETE FROM "oauth_access_tokens" WHERE "id" = {access}"#),
    )
    .await?;
    assert_eq!(
        count(
            db,
            "oauth_refresh_tokens",
            &format!(r#""id" = {refresh} AND "access_token_id" IS NULL"#)
        )
        .await?,
        1
    );

    // Sessions have a text primary key.
    let mut stmt = Query::insert();
    stmt.into_table(Alias::new("sessions"))
        .columns(["id", "user_id", "expires", "created", "updated"].map(Alias::new))
        .values([
            Expr::val("d".repeat(64)),
            Expr::val(prac_user),
            Expr::val(now.clone()),
            Expr::val(now.clone()),
            Expr::val(now.clone()),
        ])?;
    db.execute(&stmt).await?;
    assert_eq!(count(db, "sessions", r#""data" = '{}'"#).await?, 1);

    insert(
        db,
        "login_attempts",
        vec![
            ("key", "account:prac@example.org".into()),
            ("attempted_at", now.clone()),
            ("succeeded", false.into()),
        ],
    )
    .await?;
    insert(
        db,
        "oauth_signing_keys",
        vec![
            ("kid", "k1".into()),
            ("algorithm", "RS256".into()),
            ("private_key_pem", "pem".into()),
            ("public_jwk", "{}".into()),
            ("active", true.into()),
            ("created", now.clone()),
        ],
    )
    .await?;

    // SET NULL: deleting the data source keeps the observation.
    exec(
        db,
        &format!(r#"DELETE FROM "data_sources" WHERE "id" = {source}"#),
    )
    .await?;
    assert_eq!(
        count(
            db,
            "observations",
            &format!(r#""id" = {obs} AND "data_source_id" IS NULL"#)
        )
        .await?,
        1
    );
    assert_eq!(count(db, "client_data_sources", "1 = 1").await?, 0);

    // CASCADE: deleting the practitioner's user removes the practitioner,
    // its organisation links, its OAuth rows and its sessions.
    exec(
        db,
        &format!(r#"DELETE FROM "users" WHERE "id" = {prac_user}"#),
    )
    .await?;
    for table in [
        "practitioners",
        "practitioner_organizations",
        "oauth_applications",
        "study_clients",
        "oauth_grants",
        "oauth_refresh_tokens",
        "sessions",
    ] {
        assert_eq!(count(db, table, "1 = 1").await?, 0, "{table} not cascaded");
    }

    // CASCADE: deleting the organisation removes studies and everything
    // below them, but not the patient or the observations.
    exec(
        db,
        &format!(r#"DELETE FROM "organizations" WHERE "id" = {org}"#),
    )
    .await?;
    for table in [
        "patient_organizations",
        "studies",
        "study_patients",
        "study_scope_requests",
        "study_patient_scope_consents",
    ] {
        assert_eq!(count(db, table, "1 = 1").await?, 0, "{table} not cascaded");
    }
    assert_eq!(count(db, "patients", "1 = 1").await?, 1);
    assert_eq!(count(db, "observations", "1 = 1").await?, 1);

    // CASCADE: deleting the patient removes observations and identifiers.
    exec(
        db,
        &format!(r#"DELETE FROM "patients" WHERE "id" = {patient}"#),
    )
    .await?;
    assert_eq!(count(db, "observations", "1 = 1").await?, 0);
    assert_eq!(count(db, "observation_identifiers", "1 = 1").await?, 0);

    // The organisation is gone, so ROOT may now be deleted.
    exec(db, r#"DELETE FROM "organizations" WHERE "id" = 0"#).await?;
    Ok(())
}

async fn table_exists(db: &DatabaseConnection, table: &str) -> TestResult<bool> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => format!(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        ),
        _ => format!(
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    };
    let row = query_one(db, &sql).await?;
    Ok(row.try_get::<i64>("", "n")? == 1)
}

/// E-mail addresses are unique regardless of case (`ux_users_email_lower`).
async fn check_email_case(db: &DatabaseConnection) -> TestResult {
    insert(db, "users", user("Case.X@Example.org", None)?).await?;
    assert!(!try_insert(db, "users", user("case.x@example.org", None)?).await);
    assert!(!try_insert(db, "users", user("CASE.X@EXAMPLE.ORG", None)?).await);
    exec(
        db,
        r#"DELETE FROM "users" WHERE LOWER("email") = 'case.x@example.org'"#,
    )
    .await?;
    Ok(())
}

async fn email_of(db: &DatabaseConnection, id: i64) -> TestResult<String> {
    let row = query_one(
        db,
        &format!(r#"SELECT "email" FROM "users" WHERE "id" = {id}"#),
    )
    .await?;
    Ok(row.try_get::<String>("", "email")?)
}

/// From an empty database: the initial schema with mixed-case duplicates, then the e-mail
/// migration (oldest account keeps the address, others renamed), then its `down` (original
/// spellings back), then everything down.
async fn check_email_migration(db: &DatabaseConnection) -> TestResult {
    Migrator::up(db, Some(1)).await?;
    let with_time = |email: &str, id: i64, secs: i64| -> TestResult<Vec<(&'static str, Value)>> {
        let mut cols = user(email, Some(id))?;
        cols[1] = ("date_joined", ts(secs)?.into());
        Ok(cols)
    };
    insert(db, "users", with_time("Dup@Example.org", 1, 1_700_000_300)?).await?;
    insert(db, "users", with_time("dup@example.org", 2, 1_700_000_100)?).await?; // oldest
    insert(db, "users", with_time("DUP@example.org", 3, 1_700_000_200)?).await?;
    insert(
        db,
        "users",
        with_time("Solo@Example.org", 4, 1_700_000_000)?,
    )
    .await?;
    insert(
        db,
        "users",
        with_time("plain@example.org", 5, 1_700_000_000)?,
    )
    .await?;

    Migrator::up(db, None).await?;
    assert_eq!(email_of(db, 2).await?, "dup@example.org");
    assert_eq!(email_of(db, 1).await?, "dup+duplicate-1@example.org");
    assert_eq!(email_of(db, 3).await?, "dup+duplicate-3@example.org");
    assert_eq!(email_of(db, 4).await?, "solo@example.org");
    assert_eq!(email_of(db, 5).await?, "plain@example.org");
    assert!(!try_insert(db, "users", user("SOLO@example.org", Some(6))?).await);

    // Revert the e-mail migration (and later ones): original spellings come back, the index goes.
    Migrator::down(
        db,
        Some(steps_to_revert("m20261130_000003_email_case_insensitive")),
    )
    .await?;
    assert_eq!(email_of(db, 1).await?, "Dup@Example.org");
    assert_eq!(email_of(db, 2).await?, "dup@example.org");
    assert_eq!(email_of(db, 3).await?, "DUP@example.org");
    assert_eq!(email_of(db, 4).await?, "Solo@Example.org");
    insert(db, "users", user("SOLO@example.org", Some(6))?).await?;
    assert!(!table_exists(db, "users_email_case_backup").await?);

    Migrator::down(db, None).await?;
    Ok(())
}

/// Up, exercise, down, up, exercise.
async fn roundtrip(db: &DatabaseConnection) -> TestResult {
    Migrator::up(db, None).await?;
    for table in TABLES {
        assert!(table_exists(db, table).await?, "{table} missing after up");
    }
    check_pk_ddl(db).await?;
    check_ids(db).await?;
    check_defaults(db).await?;
    check_constraints(db).await?;
    check_email_case(db).await?;

    Migrator::down(db, None).await?;
    for table in TABLES {
        assert!(!table_exists(db, table).await?, "{table} left after down");
    }
    assert!(!table_exists(db, "users_email_case_backup").await?);
    check_email_migration(db).await?;

    Migrator::up(db, None).await?;
    check_pk_ddl(db).await?;
    check_ids(db).await?;
    check_defaults(db).await?;
    check_constraints(db).await?;
    check_email_case(db).await?;
    Ok(())
}

/// The SMART form of the patient-app scope, as the token-scopes migration writes it.
const PATIENT_APP: &str =
    "openid email patient/Consent.cru patient/Observation.crs patient/Patient.rs";

async fn column_exists(db: &DatabaseConnection, table: &str, column: &str) -> TestResult<bool> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => format!(
            "SELECT COUNT(*) AS n FROM pragma_table_info('{table}') WHERE name = '{column}'"
        ),
        _ => format!(
            "SELECT COUNT(*) AS n FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' \
             AND column_name = '{column}'"
        ),
    };
    let row = query_one(db, &sql).await?;
    Ok(row.try_get::<i64>("", "n")? == 1)
}

async fn scope_of(db: &DatabaseConnection, table: &str, id: i64) -> TestResult<String> {
    let row = query_one(
        db,
        &format!(r#"SELECT "scope" FROM "{table}" WHERE "id" = {id}"#),
    )
    .await?;
    Ok(row.try_get::<String>("", "scope")?)
}

/// The token-scopes migration on a database holding rows of the initial schema: scopes are
/// rewritten in the SMART form (full role for the portal client and client-less tokens, the
/// patient-app scope for other clients), refresh-token scopes come from the family string, the
/// plain invitation code is dropped; `down` restores the columns and forgets used codes.
async fn token_scopes_upgrade(db: &DatabaseConnection) -> TestResult {
    Migrator::up(db, Some(1)).await?;
    let now: Value = ts(1_700_000_000)?.into();
    let later: Value = ts(4_000_000_000)?.into();
    let user = insert(db, "users", user("u@example.org", None)?).await?;
    let application = |name: &'static str, client_id: &'static str| {
        vec![
            ("client_id", client_id.into()),
            ("client_type", "public".into()),
            ("authorization_grant_type", "authorization-code".into()),
            ("name", name.into()),
            ("created", now.clone()),
            ("updated", now.clone()),
        ]
    };
    let portal = insert(db, "oauth_applications", application("JHE Admin UI", "p")).await?;
    let partner = insert(db, "oauth_applications", application("CommonHealth", "c")).await?;
    let access = |n: char, app: Option<i64>, scope: &'static str| {
        vec![
            ("token_hash", n.to_string().repeat(64).into()),
            ("user_id", user.into()),
            ("application_id", app.into()),
            ("expires", later.clone()),
            ("scope", scope.into()),
            ("created", now.clone()),
            ("updated", now.clone()),
        ]
    };
    let portal_access = insert(
        db,
        "oauth_access_tokens",
        access('a', Some(portal), "openid email"),
    )
    .await?;
    let partner_access = insert(
        db,
        "oauth_access_tokens",
        access('b', Some(partner), "openid email"),
    )
    .await?;
    let exchanged = insert(db, "oauth_access_tokens", access('c', None, "openid")).await?;
    let refresh = |n: char, app: i64, family: String| {
        vec![
            ("token_hash", n.to_string().repeat(64).into()),
            ("application_id", app.into()),
            ("user_id", user.into()),
            ("token_family", family.into()),
            ("created", now.clone()),
            ("updated", now.clone()),
        ]
    };
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    let portal_refresh = insert(
        db,
        "oauth_refresh_tokens",
        refresh('d', portal, format!("s3-{uuid}")),
    )
    .await?;
    let email_refresh = insert(
        db,
        "oauth_refresh_tokens",
        refresh('e', portal, format!("s2-{uuid}")),
    )
    .await?;
    let plain_refresh = insert(
        db,
        "oauth_refresh_tokens",
        refresh('f', portal, uuid::Uuid::new_v4().to_string()),
    )
    .await?;
    let partner_refresh = insert(
        db,
        "oauth_refresh_tokens",
        refresh('g', partner, format!("s3-{uuid}")),
    )
    .await?;
    let grant = |n: char, app: i64, scope: &'static str, invitation: Option<&'static str>| {
        vec![
            ("code_hash", n.to_string().repeat(64).into()),
            ("invitation_code", invitation.map(str::to_string).into()),
            ("application_id", app.into()),
            ("user_id", user.into()),
            ("expires", later.clone()),
            ("redirect_uri", "http://localhost/cb".into()),
            ("scope", scope.into()),
            ("created", now.clone()),
        ]
    };
    let portal_grant = insert(db, "oauth_grants", grant('h', portal, "openid", None)).await?;
    let invitation = insert(
        db,
        "oauth_grants",
        grant('i', partner, "openid email", Some("PLAIN-CODE")),
    )
    .await?;

    Migrator::up(db, None).await?;
    let full = "openid email user/*.cruds";
    assert_eq!(
        scope_of(db, "oauth_access_tokens", portal_access).await?,
        full
    );
    assert_eq!(
        scope_of(db, "oauth_access_tokens", partner_access).await?,
        PATIENT_APP
    );
    assert_eq!(
        scope_of(db, "oauth_access_tokens", exchanged).await?,
        "openid user/*.cruds"
    );
    assert_eq!(
        scope_of(db, "oauth_refresh_tokens", portal_refresh).await?,
        full
    );
    assert_eq!(
        scope_of(db, "oauth_refresh_tokens", email_refresh).await?,
        "email user/*.cruds"
    );
    assert_eq!(
        scope_of(db, "oauth_refresh_tokens", plain_refresh).await?,
        "openid user/*.cruds"
    );
    assert_eq!(
        scope_of(db, "oauth_refresh_tokens", partner_refresh).await?,
        PATIENT_APP
    );
    assert_eq!(
        scope_of(db, "oauth_grants", portal_grant).await?,
        "openid user/*.cruds"
    );
    assert_eq!(scope_of(db, "oauth_grants", invitation).await?, PATIENT_APP);
    assert!(
        !column_exists(db, "oauth_grants", "invitation_code").await?,
        "plain invitation codes are gone"
    );
    assert!(column_exists(db, "oauth_refresh_tokens", "scope").await?);
    // New columns: a used code with its token family; refresh tokens default to no scope.
    exec(
        db,
        &format!(r#"UPDATE "oauth_grants" SET "consumed" = "created", "token_family" = '{uuid}' WHERE "id" = {portal_grant}"#),
    )
    .await?;
    assert_eq!(
        count(db, "oauth_grants", r#""consumed" IS NOT NULL"#).await?,
        1
    );
    insert(
        db,
        "oauth_refresh_tokens",
        refresh('j', portal, uuid.clone()),
    )
    .await?;
    assert_eq!(
        count(db, "oauth_refresh_tokens", r#""scope" = ''"#).await?,
        1
    );

    // Down to before this migration: used codes are forgotten (the old code would accept them
    // again).
    Migrator::down(db, Some(steps_to_revert("m20261130_000002_token_scopes"))).await?;
    assert_eq!(count(db, "oauth_grants", "1 = 1").await?, 1);
    assert_eq!(
        count(db, "oauth_grants", r#""invitation_code" IS NULL"#).await?,
        1
    );
    assert!(column_exists(db, "oauth_grants", "invitation_code").await?);
    for (table, column) in [
        ("oauth_refresh_tokens", "scope"),
        ("oauth_grants", "consumed"),
        ("oauth_grants", "token_family"),
    ] {
        assert!(!column_exists(db, table, column).await?, "{table}.{column}");
    }
    Migrator::up(db, None).await?;
    Migrator::down(db, None).await?;
    for table in TABLES {
        assert!(!table_exists(db, table).await?, "{table} left after down");
    }
    Ok(())
}

#[tokio::test]
async fn token_scopes_upgrade_sqlite() -> TestResult {
    let db = Database::connect("sqlite::memory:").await?;
    token_scopes_upgrade(&db).await
}

#[tokio::test]
async fn token_scopes_upgrade_postgres() -> TestResult {
    let (admin, db, name) = fresh_postgres().await?;
    let result = token_scopes_upgrade(&db).await;
    drop_postgres(admin, db, &name, result).await
}

/// A throw-away PostgreSQL database: the admin connection, the database's and its name.
async fn fresh_postgres() -> TestResult<(DatabaseConnection, DatabaseConnection, String)> {
    let url = postgres_url();
    let admin = Database::connect(&url).await?;
    let name = format!("jhe_mig_{}", uuid::Uuid::new_v4().simple());
    exec(&admin, &format!(r#"CREATE DATABASE "{name}""#)).await?;
    let db = Database::connect(with_database(&url, &name)?).await?;
    Ok((admin, db, name))
}

/// Drops what [`fresh_postgres`] made, then returns the check's `result`.
async fn drop_postgres(
    admin: DatabaseConnection,
    db: DatabaseConnection,
    name: &str,
    result: TestResult,
) -> TestResult {
    db.close().await?;
    exec(&admin, &format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#)).await?;
    admin.close().await?;
    result
}

#[tokio::test]
async fn roundtrip_sqlite() -> TestResult {
    let db = Database::connect("sqlite::memory:").await?;
    roundtrip(&db).await
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> TestResult<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").ok_or("URL without scheme")? + 3;
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    Ok(format!("{server}/{name}{query}"))
}

#[tokio::test]
async fn roundtrip_postgres() -> TestResult {
    let (admin, db, name) = fresh_postgres().await?;
    let result = roundtrip(&db).await;
    drop_postgres(admin, db, &name, result).await
}
