//! Maintained observation counts: `observation_counts` holds how many observations each
//! `(subject_patient_id, codeable_concept_id)` pair has, so the first page of a search can
//! answer `total` without reading every match (`SUM(n)` over the caller's pairs). The columns
//! are named like those of `observations` on purpose: the search conditions written for
//! `"observations"."subject_patient_id"` apply unchanged to
//! `observation_counts AS observations`.
//!
//! Database triggers keep it exact whatever writes the observations (the store, foreign-key
//! cascades when a patient or a data type is deleted, raw SQL of the bench seeder or of import
//! tools):
//!
//! - **SQLite** (one writer at a time): row triggers after INSERT, DELETE and UPDATE of the pair
//!   upsert one row per pair (`n = n ± 1`, unique index on the pair; rows reaching 0 are
//!   deleted).
//! - **PostgreSQL**: a row per pair would serialise concurrent uploads of one patient on that
//!   row's lock until they commit. Statement-level triggers with transition tables instead append
//!   one aggregated delta row (`+k` / `-k`) per pair and statement (plain index on the pair, no
//!   unique one), and the store folds a pair's deltas into one row now and then
//!   (`SeaOrmStore::compact_observation_counts`).
//!
//! The table is filled from the existing observations. `down` drops the triggers, their
//! functions and the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Creates `observation_counts`, fills it and installs the triggers.
#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE_TABLE: &str = r#"CREATE TABLE "observation_counts" (
    "subject_patient_id" BIGINT NOT NULL,
    "codeable_concept_id" BIGINT NOT NULL,
    "n" BIGINT NOT NULL
)"#;

const BACKFILL: &str = r#"INSERT INTO "observation_counts" ("subject_patient_id", "codeable_concept_id", "n")
SELECT "subject_patient_id", "codeable_concept_id", COUNT(*) FROM "observations"
GROUP BY "subject_patient_id", "codeable_concept_id""#;

const SQLITE_UP: &[&str] = &[
    CREATE_TABLE,
    r#"CREATE UNIQUE INDEX "ux_observation_counts_pair"
    ON "observation_counts" ("subject_patient_id", "codeable_concept_id")"#,
    BACKFILL,
    r#"CREATE TRIGGER "observation_counts_insert" AFTER INSERT ON "observations"
BEGIN
    INSERT INTO "observation_counts" ("subject_patient_id", "codeable_concept_id", "n")
    VALUES (NEW."subject_patient_id", NEW."codeable_concept_id", 1)
    ON CONFLICT ("subject_patient_id", "codeable_concept_id") DO UPDATE SET "n" = "n" + 1;
END"#,
    r#"CREATE TRIGGER "observation_counts_delete" AFTER DELETE ON "observations"
BEGIN
    UPDATE "observation_counts" SET "n" = "n" - 1
    WHERE "subject_patient_id" = OLD."subject_patient_id"
      AND "codeable_concept_id" = OLD."codeable_concept_id";
    DELETE FROM "observation_counts"
    WHERE "subject_patient_id" = OLD."subject_patient_id"
      AND "codeable_concept_id" = OLD."codeable_concept_id" AND "n" <= 0;
END"#,
    r#"CREATE TRIGGER "observation_counts_update"
AFTER UPDATE OF "subject_patient_id", "codeable_concept_id" ON "observations"
WHEN OLD."subject_patient_id" IS NOT NEW."subject_patient_id"
  OR OLD."codeable_concept_id" IS NOT NEW."codeable_concept_id"
BEGIN
    UPDATE "observation_counts" SET "n" = "n" - 1
    WHERE "subject_patient_id" = OLD."subject_patient_id"
      AND "codeable_concept_id" = OLD."codeable_concept_id";
    DELETE FROM "observation_counts"
    WHERE "subject_patient_id" = OLD."subject_patient_id"
      AND "codeable_concept_id" = OLD."codeable_concept_id" AND "n" <= 0;
    INSERT INTO "observation_counts" ("subject_patient_id", "codeable_concept_id", "n")
    VALUES (NEW."subject_patient_id", NEW."codeable_concept_id", 1)
    ON CONFLICT ("subject_patient_id", "codeable_concept_id") DO UPDATE SET "n" = "n" + 1;
END"#,
];

const SQLITE_DOWN: &[&str] = &[
    r#"DROP TRIGGER IF EXISTS "observation_counts_update""#,
    r#"DROP TRIGGER IF EXISTS "observation_counts_delete""#,
    r#"DROP TRIGGER IF EXISTS "observation_counts_insert""#,
    r#"DROP TABLE IF EXISTS "observation_counts""#,
];

const POSTGRES_UP: &[&str] = &[
    CREATE_TABLE,
    r#"CREATE INDEX "ix_observation_counts_pair"
    ON "observation_counts" ("subject_patient_id", "codeable_concept_id")"#,
    BACKFILL,
    r#"CREATE FUNCTION "observation_counts_on_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "observation_counts" ("subject_patient_id", "codeable_concept_id", "n")
    SELECT "subject_patient_id", "codeable_concept_id", COUNT(*) FROM "new_rows"
    GROUP BY "subject_patient_id", "codeable_concept_id";
    RETURN NULL;
END
$$"#,
    r#"CREATE FUNCTION "observation_counts_on_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "observation_counts" ("subject_patient_id", "codeable_concept_id", "n")
    SELECT "subject_patient_id", "codeable_concept_id", -COUNT(*) FROM "old_rows"
    GROUP BY "subject_patient_id", "codeable_concept_id";
    RETURN NULL;
END
$$"#,
    r#"CREATE FUNCTION "observation_counts_on_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO "observation_counts" ("subject_patient_id", "codeable_concept_id", "n")
    SELECT "subject_patient_id", "codeable_concept_id", SUM("d") FROM (
        SELECT "subject_patient_id", "codeable_concept_id", -1 AS "d" FROM "old_rows"
        UNION ALL
        SELECT "subject_patient_id", "codeable_concept_id", 1 AS "d" FROM "new_rows"
    ) AS "changes"
    GROUP BY "subject_patient_id", "codeable_concept_id"
    HAVING SUM("d") <> 0;
    RETURN NULL;
END
$$"#,
    r#"CREATE TRIGGER "observation_counts_insert" AFTER INSERT ON "observations"
REFERENCING NEW TABLE AS "new_rows"
FOR EACH STATEMENT EXECUTE FUNCTION "observation_counts_on_insert"()"#,
    r#"CREATE TRIGGER "observation_counts_delete" AFTER DELETE ON "observations"
REFERENCING OLD TABLE AS "old_rows"
FOR EACH STATEMENT EXECUTE FUNCTION "observation_counts_on_delete"()"#,
    // Transition tables cannot be combined with `UPDATE OF <columns>`: every UPDATE statement
    // fires it, and only pairs whose count changed get a row.
    r#"CREATE TRIGGER "observation_counts_update" AFTER UPDATE ON "observations"
REFERENCING OLD TABLE AS "old_rows" NEW TABLE AS "new_rows"
FOR EACH STATEMENT EXECUTE FUNCTION "observation_counts_on_update"()"#,
];

const POSTGRES_DOWN: &[&str] = &[
    r#"DROP TRIGGER IF EXISTS "observation_counts_update" ON "observations""#,
    r#"DROP TRIGGER IF EXISTS "observation_counts_delete" ON "observations""#,
    r#"DROP TRIGGER IF EXISTS "observation_counts_insert" ON "observations""#,
    r#"DROP FUNCTION IF EXISTS "observation_counts_on_update"()"#,
    r#"DROP FUNCTION IF EXISTS "observation_counts_on_delete"()"#,
    r#"DROP FUNCTION IF EXISTS "observation_counts_on_insert"()"#,
    r#"DROP TABLE IF EXISTS "observation_counts""#,
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for sql in statements {
        conn.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, POSTGRES_UP).await,
            _ => run(manager, SQLITE_UP).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, POSTGRES_DOWN).await,
            _ => run(manager, SQLITE_DOWN).await,
        }
    }
}
