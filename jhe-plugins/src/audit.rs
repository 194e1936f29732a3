//! The standard audit sinks: the database ([`DatabaseAuditSink`], the default) and an NDJSON
//! file ([`NdjsonAuditSink`]).
//!
//! Both hand each event to a background task through a channel, so `record` returns at once;
//! the task writes whatever has accumulated as one batch (one multi-row `INSERT`, one buffered
//! file write), and logs a failed write instead of failing anyone's request.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use jhe_core::audit::{AuditEvent, AuditSink, FanoutAuditSink};
use jhe_core::config::AuditConfig;
use jhe_core::store::AuditStore;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

/// Largest batch one write takes.
const MAX_BATCH: usize = 2000;

enum Message {
    Events(Vec<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// Writes one batch; failures are the writer's to log.
#[async_trait]
trait BatchWriter: Send + 'static {
    async fn write(&mut self, events: &[AuditEvent]);
}

/// The channel to a background writer task.
struct Buffered {
    sender: Option<mpsc::UnboundedSender<Message>>,
    name: &'static str,
}

impl Buffered {
    fn start(name: &'static str, mut writer: impl BatchWriter) -> Buffered {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                sink = name,
                "no async runtime: audit events will be dropped"
            );
            return Buffered { sender: None, name };
        };
        let (sender, mut receiver) = mpsc::unbounded_channel::<Message>();
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
                if !batch.is_empty() {
                    writer.write(&batch).await;
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
        }
    }

    fn send(&self, events: Vec<AuditEvent>) {
        let Some(sender) = &self.sender else {
            return;
        };
        if sender.send(Message::Events(events)).is_err() {
            tracing::error!(sink = self.name, "the audit writer stopped: events dropped");
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
