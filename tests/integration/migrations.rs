//! Migrations round-trip on both databases.

use jhe_core::domain::NewUser;
use jhe_core::store::{MaintenanceStore, UserStore};

use jhe_core::domain::NewObservation;
use jhe_core::store::{AccessScope, ObservationQuery, ObservationStore};
use jhe_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::both_backends;
use crate::fhir_upload::{HR, World};
use crate::observation_counts::{assert_counts_exact, count_rows};
use crate::support::{Backend, TestDb};

async fn down_then_up_round_trips(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.store
        .create_user(NewUser {
            email: "a@example.org".into(),
            password: "!".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    db.store.migrate_down().await.unwrap();
    assert!(
        db.store.get_user_by_email("a@example.org").await.is_err(),
        "tables are gone after down"
    );
    db.store.migrate().await.unwrap();
    assert!(db.store.is_empty().await.unwrap());
    db.store
        .create_user(NewUser {
            email: "a@example.org".into(),
            password: "!".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Running `up` again is a no-op.
    db.store.migrate().await.unwrap();
    assert!(!db.store.is_empty().await.unwrap());
}

/// `observation_counts` is filled from the observations already stored when its migration
/// runs; its `down` drops the table, the triggers and (PostgreSQL) their functions, after which
/// writes go on without them.
async fn observation_counts_backfill_and_down(backend: Backend) {
    let w = World::new(backend).await;
    let s = &w.app.db.store;
    let new = |patient| NewObservation {
        id: None,
        subject_patient_id: patient,
        codeable_concept_id: w.concept(HR).id,
        data_source_id: None,
        value_attachment_data: "{}".into(),
        content_type: "application/json".into(),
        status: "final".into(),
        effective_start: None,
        effective_end: None,
        identifiers: Vec::new(),
    };
    s.create_observations(vec![new(w.peter.id), new(w.peter.id), new(w.pamela.id)])
        .await
        .unwrap();
    let conn = s.connection();
    Migrator::down(conn, Some(1)).await.unwrap();
    let gone = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) FROM observation_counts",
        ))
        .await;
    assert!(gone.is_err(), "the table is dropped");
    // No trigger left behind (it would fail without its table or function).
    s.create_observations(vec![new(w.peter.id)]).await.unwrap();
    Migrator::up(conn, None).await.unwrap();
    assert_counts_exact(&w.app.db, "backfilled").await;
    assert_eq!(count_rows(&w.app.db).await, 2, "one row per pair");
    let total = s
        .search_observations(
            &AccessScope::system_for_tests(),
            &ObservationQuery::default(),
            jhe_core::domain::PageRequest::new(1, 1),
        )
        .await
        .unwrap()
        .total;
    assert_eq!(total, 4);
}

both_backends! {
    round_trip => down_then_up_round_trips;
    observation_counts_backfill => observation_counts_backfill_and_down;
}
