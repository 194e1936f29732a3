//! The embeddable server: [`JheServer::builder`] assembles the plug-ins into a poem endpoint.

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use thiserror::Error;

use crate::audit::{AuditSink, LogAuditSink};
use crate::config::Config;
use crate::error::CoreResult;
use crate::format::DataFormat;
use crate::identity::IdentityProvider;
use crate::mailer::{LogMailer, Mailer};
use crate::policy::{DenyAllPolicy, Policy};
use crate::store::Store;

/// Everything a request handler needs, shared by all handlers.
pub struct AppState {
    /// Configuration.
    pub config: Config,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Authorisation.
    pub policy: Arc<dyn Policy>,
    /// Payload formats, asked in order.
    pub formats: Vec<Arc<dyn DataFormat>>,
    /// Ways to log in.
    pub identity_providers: Vec<Arc<dyn IdentityProvider>>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// The audit trail.
    pub audit: Arc<dyn AuditSink>,
}

/// Why the server could not be assembled.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BuildError {
    /// No store was given.
    #[error("JheServer needs a store: call .store(...)")]
    MissingStore,
}

/// Assembles a [`JheServer`].
#[derive(Default)]
pub struct JheServerBuilder {
    config: Option<Config>,
    store: Option<Arc<dyn Store>>,
    policy: Option<Arc<dyn Policy>>,
    formats: Vec<Arc<dyn DataFormat>>,
    identity_providers: Vec<Arc<dyn IdentityProvider>>,
    mailer: Option<Arc<dyn Mailer>>,
    audit: Option<Arc<dyn AuditSink>>,
}

impl JheServerBuilder {
    /// The configuration (default: [`Config::default`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The store (required).
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store already shared elsewhere.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The policy (default: [`DenyAllPolicy`], which refuses everything).
    pub fn policy(mut self, policy: impl Policy + 'static) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// Adds a payload format (asked in the order added).
    pub fn data_format(mut self, format: impl DataFormat + 'static) -> Self {
        self.formats.push(Arc::new(format));
        self
    }

    /// Adds an identity provider.
    pub fn identity_provider(mut self, provider: impl IdentityProvider + 'static) -> Self {
        self.identity_providers.push(Arc::new(provider));
        self
    }

    /// Adds an identity provider already shared elsewhere.
    pub fn shared_identity_provider(mut self, provider: Arc<dyn IdentityProvider>) -> Self {
        self.identity_providers.push(provider);
        self
    }

    /// The mailer (default: [`LogMailer`]).
    pub fn mailer(mut self, mailer: impl Mailer + 'static) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// A mailer already shared elsewhere.
    pub fn shared_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// The audit sink (default: [`LogAuditSink`], which only logs; the default server of the
    /// `jhe` facade writes to the database).
    pub fn audit_sink(mut self, sink: impl AuditSink + 'static) -> Self {
        self.audit = Some(Arc::new(sink));
        self
    }

    /// An audit sink already shared elsewhere.
    pub fn shared_audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Builds the server.
    pub fn build(self) -> Result<JheServer, BuildError> {
        let store = self.store.ok_or(BuildError::MissingStore)?;
        Ok(JheServer {
            state: Arc::new(AppState {
                config: self.config.unwrap_or_default(),
                store,
                policy: self.policy.unwrap_or_else(|| Arc::new(DenyAllPolicy)),
                formats: self.formats,
                identity_providers: self.identity_providers,
                mailer: self.mailer.unwrap_or_else(|| Arc::new(LogMailer)),
                audit: self.audit.unwrap_or_else(|| Arc::new(LogAuditSink)),
            }),
        })
    }
}

/// A configured JupyterHealth Exchange server.
///
/// ```no_run
/// # async fn run(store: impl jhe_core::store::Store + 'static) -> Result<(), Box<dyn std::error::Error>> {
/// use jhe_core::{Config, JheServer};
/// let server = JheServer::builder().config(Config::default()).store(store).build()?;
/// server.prepare().await?;
/// poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:8000"))
///     .run(server.into_endpoint())
///     .await?;
/// # Ok(()) }
/// ```
pub struct JheServer {
    state: Arc<AppState>,
}

impl JheServer {
    /// Starts assembling a server.
    pub fn builder() -> JheServerBuilder {
        JheServerBuilder::default()
    }

    /// The shared state (store, policy, configuration…).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// One-time preparation before serving: makes sure a signing key exists.
    pub async fn prepare(&self) -> CoreResult<()> {
        crate::services::keys::ensure_signing_key(self.state.store.as_ref(), &self.state.config)
            .await?;
        Ok(())
    }

    /// The OpenAPI document of every documented endpoint, as JSON.
    pub fn openapi_json(&self) -> String {
        crate::http::openapi_document(self.state.clone())
    }

    /// The server as a poem endpoint; nest it in any poem application.
    pub fn into_endpoint(self) -> BoxEndpoint<'static> {
        crate::http::with_security_headers(crate::http::routes(self.state))
    }
}
