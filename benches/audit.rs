//! Audit trail bench: what recording costs the request that records, and how fast the standard
//! sinks drain. Records N events (one per patient of a search, the heaviest common case) into
//! the database sink and the NDJSON sink, timing `record`/`record_batch` on the caller's side
//! (what a request pays) separately from `flush` (the background writer's batches).
//!
//! ```text
//! cargo bench --bench audit
//! JHE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/jhe_bench cargo bench --bench audit
//! ```
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `JHE_BENCH_DATABASE_URL` | a temporary SQLite file | database (migrated) |
//! | `JHE_BENCH_AUDIT_EVENTS` | `50000` | events recorded per sink |

use std::sync::Arc;
use std::time::Instant;

use jhe_core::audit::{AuditAgent, AuditEvent, AuditKind, AuditSink};
use jhe_core::store::{AuditQuery, AuditStore, MaintenanceStore};
use jhe_plugins::{DatabaseAuditSink, NdjsonAuditSink, SeaOrmStore};

fn event(i: u64) -> AuditEvent {
    AuditEvent::by_agent(
        AuditAgent {
            user_id: Some(10002),
            display: Some("mary@example.com".into()),
            reference: Some("Practitioner/1".into()),
            client_id: Some(1),
            superuser: false,
        },
        AuditKind::Search,
    )
    .patient(40000 + i64::try_from(i % 500).unwrap_or(0))
    .detail("Observation")
    .query("patient=40001&_count=100")
}

async fn measure(name: &str, sink: &dyn AuditSink, n: u64) {
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        // Requests record a handful of events each: batches of 10.
        let batch: Vec<AuditEvent> = (i..(i + 10).min(n)).map(event).collect();
        i += batch.len() as u64;
        sink.record_batch(batch);
    }
    let recorded = start.elapsed();
    sink.flush().await;
    let total = start.elapsed();
    println!(
        "{name}: {n} events; caller side {:.2} µs/event ({:.1} ms); written in {:.1} ms ({:.0} events/s)",
        recorded.as_secs_f64() * 1e6 / n as f64,
        recorded.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        n as f64 / total.as_secs_f64()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::var("JHE_BENCH_AUDIT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(50_000);
    let dir =
        std::env::temp_dir().join(format!("jhe_audit_bench_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let url = std::env::var("JHE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
    let store = SeaOrmStore::connect(&url).await?;
    store.migrate().await?;
    let before = store.count_audit_events(&AuditQuery::default()).await?;

    // Serialising one event to its FHIR JSON (done by the writer, not the request).
    let start = Instant::now();
    let mut bytes = 0;
    for i in 0..10_000 {
        bytes += event(i).to_fhir().to_string().len();
    }
    println!(
        "to_fhir: {:.2} µs/event ({} bytes avg)",
        start.elapsed().as_secs_f64() * 1e6 / 10_000.0,
        bytes / 10_000
    );

    let database = DatabaseAuditSink::new(Arc::new(store.clone()));
    measure(
        &format!("database ({})", store.backend_name()),
        &database,
        n,
    )
    .await;
    let after = store.count_audit_events(&AuditQuery::default()).await?;
    anyhow::ensure!(
        after - before == n,
        "the database holds {} new events, not {n}",
        after - before
    );

    let file = dir.join("audit.ndjson");
    let ndjson = NdjsonAuditSink::new(&file);
    measure("ndjson", &ndjson, n).await;
    let lines = std::fs::read_to_string(&file)?.lines().count() as u64;
    anyhow::ensure!(lines == n, "the file holds {lines} lines, not {n}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
