//! Migrations round-trip on both databases.

use jhe_core::domain::NewUser;
use jhe_core::store::{MaintenanceStore, UserStore};

use crate::both_backends;
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

both_backends! {
    round_trip => down_then_up_round_trips;
}
