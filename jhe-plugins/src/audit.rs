//! The standard audit sinks: the database ([`DatabaseAuditSink`], the default) and an NDJSON
//! file ([`NdjsonAuditSink`]).
//!
//! Both hand each event to a background task through a channel, so `record` returns at once;
//! the task writes whatever has accumulated as one batch (one multi-row `INSERT`, one buffered
//! file write), after waiting up to 10 ms for more unless a flush is waiting, and logs a failed
//! write instead of failing anyone's request.
//!
//! The queue is bounded in effect: past [`MAX_BACKLOG`] unwritten events,
//! [`AuditSink::backpressure`] (awaited by the server after each request) holds the answer
//! until the writer has caught up, so a burst that records events faster than the database
//! takes them (e.g. patient lists of 100 at several hundred requests/s, one event per patient)
//! slows those requests down instead of growing the process's memory. A writer that makes no
//! progress for [`BACKPRESSURE_WAIT`] lets the request go (and logs it): audit trouble never
//! stops the server.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jhe_core::audit::{AuditEvent, AuditSink, FanoutAuditSink};
use jhe_core::config::AuditConfig;
use jhe_core::store::AuditStore;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc, oneshot};

/// Largest batch one write takes.
const MAX_BATCH: usize = 2000;

/// How long the writer waits for more events before writing a batch of fewer than
/// [`MAX_BATCH`] (unless someone is flushing): a busy server's events then share one write and
/// one commit (one WAL flush on PostgreSQL) instead of one per request or two.
const LINGER: Duration = Duration::from_millis(10);

/// Unwritten events past which [`AuditSink::backpressure`] waits (about 20 MB of events).
pub const MAX_BACKLOG: usize = 20_000;

/// Longest [`AuditSink::backpressure`] waits for a writer that makes no progress.
pub const BACKPRESSURE_WAIT: Duration = Duration::from_secs(5);

enum Message {
    Events(Vec<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// Writes one batch; failures are the writer's to log.
#[async_trait]
trait BatchWriter: Send + 'static {
    async fn write(&mut self, events: &[AuditEvent]);
}

/// The channel to a background writer task, with the count of events sent and not yet written.
struct Buffered {
    sender: Option<mpsc::UnboundedSender<Message>>,
    name: &'static str,
    /// Events sent and not yet written (or failed).
    pending: Arc<AtomicUsize>,
    /// Notified after each written batch.
    written: Arc<Notify>,
    /// [`MAX_BACKLOG`], smaller in tests.
    max_backlog: usize,
    /// [`BACKPRESSURE_WAIT`], shorter in tests.
    wait: Duration,
}

impl Buffered {
    fn start(name: &'static str, writer: impl BatchWriter) -> Buffered {
        Buffered::with_backlog(name, writer, MAX_BACKLOG, BACKPRESSURE_WAIT)
    }

    fn with_backlog(
        name: &'static str,
        mut writer: impl BatchWriter,
        max_backlog: usize,
        wait: Duration,
    ) -> Buffered {
        let pending = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(Notify::new());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                sink = name,
                "no async runtime: audit events will be dropped"
            );
            return Buffered {
                sender: None,
                name,
                pending,
                written,
                max_backlog,
                wait,
            };
        };
        let (sender, mut receiver) = mpsc::unbounded_channel::<Message>();
        let (task_pending, task_written) = (pending.clone(), written.clone());
        runtime.spawn(async move {
            let mut batch: Vec<AuditEvent> = Vec::new();
            let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
            while let Some(first) = receiver.recv().await {
                let mut next = Some(first);
                // Take everything already queued, up to a batch.
                while let Some(message) = next.take() {
                    match message {
                        Message::Events(events) => batch.extend(events),
                        Message::Flush(done) => waiting.push(done),
                    }
                    if batch.len() >= MAX_BATCH {
                        break;
                    }
                    next = receiver.try_recv().ok();
                }
                // Then more, for a moment, unless a flush is waiting.
                let deadline = tokio::time::Instant::now() + LINGER;
                while waiting.is_empty() && batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, receiver.recv()).await {
                        Ok(Some(Message::Events(events))) => batch.extend(events),
                        Ok(Some(Message::Flush(done))) => waiting.push(done),
                        Ok(None) | Err(_) => break,
                    }
                }
                if !batch.is_empty() {
                    writer.write(&batch).await;
                    task_pending.fetch_sub(batch.len(), Ordering::AcqRel);
                    task_written.notify_waiters();
                    batch.clear();
                }
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        Buffered {
            sender: Some(sender),
            name,
            pending,
            written,
            max_backlog,
            wait,
        }
    }

    fn send(&self, events: Vec<AuditEvent>) {
        let Some(sender) = &self.sender else {
            return;
        };
        let n = events.len();
        self.pending.fetch_add(n, Ordering::AcqRel);
        if sender.send(Message::Events(events)).is_err() {
            self.pending.fetch_sub(n, Ordering::AcqRel);
            tracing::error!(sink = self.name, "the audit writer stopped: events dropped");
        }
    }

    /// Waits until at most `max_backlog` events are unwritten, or the writer made no progress
    /// for `wait` ([`BACKPRESSURE_WAIT`]).
    async fn backpressure(&self) {
        if self.sender.is_none() {
            return;
        }
        loop {
            let written = self.written.notified();
            tokio::pin!(written);
            // Registered before the check: a batch written in between still wakes us.
            written.as_mut().enable();
            if self.pending.load(Ordering::Acquire) <= self.max_backlog {
                return;
            }
            if tokio::time::timeout(self.wait, written).await.is_err() {
                tracing::warn!(
                    sink = self.name,
                    pending = self.pending.load(Ordering::Acquire),
                    "the audit writer is not keeping up: answering without waiting for it"
                );
                return;
            }
        }
    }

    async fn flush(&self) {
        let Some(sender) = &self.sender else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

struct DatabaseWriter {
    store: Arc<dyn AuditStore + Send + Sync>,
}

#[async_trait]
impl BatchWriter for DatabaseWriter {
    async fn write(&mut self, events: &[AuditEvent]) {
        if let Err(e) = self.store.insert_audit_events(events).await {
            tracing::error!(
                error = %e,
                count = events.len(),
                "cannot write audit events to the database"
            );
        }
    }
}

/// Writes audit events to the database's `audit_events` table, in batches, from a background
/// task (started on the current tokio runtime when the sink is made).
pub struct DatabaseAuditSink {
    buffered: Buffered,
}

impl DatabaseAuditSink {
    /// A sink writing through `store`.
    pub fn new(store: Arc<dyn AuditStore + Send + Sync>) -> Self {
        DatabaseAuditSink {
            buffered: Buffered::start("database", DatabaseWriter { store }),
        }
    }
}

#[async_trait]
impl AuditSink for DatabaseAuditSink {
    fn record(&self, event: AuditEvent) {
        self.buffered.send(vec![event]);
    }

    fn record_batch(&self, events: Vec<AuditEvent>) {
        if !events.is_empty() {
            self.buffered.send(events);
        }
    }

    async fn flush(&self) {
        self.buffered.flush().await;
    }

    async fn backpressure(&self) {
        self.buffered.backpressure().await;
    }
}

struct NdjsonWriter {
    path: PathBuf,
}

#[async_trait]
impl BatchWriter for NdjsonWriter {
    async fn write(&mut self, events: &[AuditEvent]) {
        let mut bytes = Vec::with_capacity(events.len() * 512);
        for event in events {
            bytes.extend_from_slice(event.to_fhir().to_string().as_bytes());
            bytes.push(b'\n');
        }
        let result = async {
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            file.write_all(&bytes).await?;
            file.flush().await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(
                error = %e,
                path = %self.path.display(),
                count = events.len(),
                "cannot append audit events to the NDJSON file"
            );
        }
    }
}

/// Appends audit events, one FHIR `AuditEvent` JSON per line, to a file (created when missing),
/// in batches, from a background task.
pub struct NdjsonAuditSink {
    buffered: Buffered,
}

impl NdjsonAuditSink {
    /// A sink appending to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        NdjsonAuditSink {
            buffered: Buffered::start("ndjson", NdjsonWriter { path: path.into() }),
        }
    }
}

#[async_trait]
impl AuditSink for NdjsonAuditSink {
    fn record(&self, event: AuditEvent) {
        self.buffered.send(vec![event]);
    }

    fn record_batch(&self, events: Vec<AuditEvent>) {
        if !events.is_empty() {
            self.buffered.send(events);
        }
    }

    async fn flush(&self) {
        self.buffered.flush().await;
    }

    async fn backpressure(&self) {
        self.buffered.backpressure().await;
    }
}

/// The sinks `config` asks for (`JHE_AUDIT_SINK`): the database through `store`, the NDJSON
/// file, both, or none (events are then only logged at debug level).
pub fn audit_sink_from_config(
    config: &AuditConfig,
    store: Arc<dyn AuditStore + Send + Sync>,
) -> Arc<dyn AuditSink> {
    let mut sinks: Vec<Arc<dyn AuditSink>> = Vec::new();
    if config.database {
        sinks.push(Arc::new(DatabaseAuditSink::new(store)));
    }
    if config.ndjson {
        sinks.push(Arc::new(NdjsonAuditSink::new(config.file.clone())));
    }
    match sinks.len() {
        0 => Arc::new(jhe_core::audit::LogAuditSink),
        1 => sinks.remove(0),
        _ => Arc::new(FanoutAuditSink::new(sinks)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jhe_core::audit::{AuditAgent, AuditKind};

    /// A writer that takes `delay` per batch and counts what it wrote.
    struct Slow {
        delay: Duration,
        written: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl BatchWriter for Slow {
        async fn write(&mut self, events: &[AuditEvent]) {
            tokio::time::sleep(self.delay).await;
            self.written.fetch_add(events.len(), Ordering::AcqRel);
        }
    }

    fn events(n: usize) -> Vec<AuditEvent> {
        let agent = AuditAgent {
            user_id: Some(1),
            display: None,
            reference: None,
            client_id: None,
            superuser: false,
        };
        (0..n)
            .map(|_| AuditEvent::by_agent(agent.clone(), AuditKind::Search))
            .collect()
    }

    #[tokio::test]
    async fn backpressure_waits_for_the_writer_to_catch_up() {
        let written = Arc::new(AtomicUsize::new(0));
        let buffered = Buffered::with_backlog(
            "test",
            Slow {
                delay: Duration::from_millis(20),
                written: written.clone(),
            },
            100,
            BACKPRESSURE_WAIT,
        );
        // Below the bound: no wait at all, whatever the writer does.
        buffered.send(events(50));
        buffered.backpressure().await;
        assert!(buffered.pending.load(Ordering::Acquire) <= 100);
        // Far above it: returns only once the backlog is back under the bound.
        for _ in 0..10 {
            buffered.send(events(100));
        }
        assert!(buffered.pending.load(Ordering::Acquire) > 100);
        buffered.backpressure().await;
        assert!(buffered.pending.load(Ordering::Acquire) <= 100);
        assert!(written.load(Ordering::Acquire) >= 950);
        buffered.flush().await;
        assert_eq!(buffered.pending.load(Ordering::Acquire), 0);
        assert_eq!(written.load(Ordering::Acquire), 1050);
    }

    #[tokio::test]
    async fn a_stuck_writer_does_not_stop_requests() {
        let written = Arc::new(AtomicUsize::new(0));
        let buffered = Buffered::with_backlog(
            "test",
            Slow {
                delay: Duration::from_secs(3600),
                written,
            },
            10,
            Duration::from_millis(100),
        );
        buffered.send(events(1));
        tokio::task::yield_now().await;
        buffered.send(events(100));
        // The writer is stuck on its first batch for an hour: backpressure gives up after its
        // wait and the request goes on.
        let started = tokio::time::Instant::now();
        buffered.backpressure().await;
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(3600));
        assert!(buffered.pending.load(Ordering::Acquire) > 10);
    }
}
