//! The embeddable server: [`JheServer::builder`] assembles the plug-ins into a poem endpoint.
//!
//! [`JheServerBuilder::build`] refuses to build a server that could not work: it needs a store,
//! a policy, at least one data format and at least one identity provider ([`BuildError`] says
//! which is missing). The one-time preparation (the ID-token signing key) runs inside the
//! endpoint before its first request, so it cannot be forgotten; [`JheServer::prepare`] runs it
//! early, to fail at start-up rather than on the first request.
//!
//! The endpoint works at the root or nested under a path prefix
//! (`Route::new().nest("/jhe", server.into_endpoint())`; see [`crate::http::prefix`]), and
//! takes the integrator's own documented APIs ([`JheServerBuilder::api`]) and plain routes
//! ([`JheServerBuilder::routes`]).

use std::path::PathBuf;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::{Endpoint, EndpointExt, Request, Response, Route};
use poem_openapi::OpenApi;
use thiserror::Error;
use tokio::sync::OnceCell;

use crate::audit::{AuditSink, LogAuditSink};
use crate::config::Config;
use crate::error::CoreResult;
use crate::format::DataFormat;
use crate::http::observe::MetricsConfig;
use crate::http::templates::Templates;
use crate::http::{NoExtraApi, RouteHook};
use crate::identity::IdentityProvider;
use crate::mailer::{LogMailer, Mailer};
use crate::policy::Policy;
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
    /// The templates and static files of the pages (embedded, or overridden from a directory).
    pub templates: Templates,
    /// Verified bearer tokens, remembered for `config.token_cache_secs` (see
    /// [`crate::services::token_cache`]).
    pub tokens: crate::services::token_cache::TokenCache,
}

/// Why the server could not be assembled: a part every working server needs is missing.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BuildError {
    /// No store was given.
    #[error("JheServer needs a store: call .store(...) or .shared_store(...)")]
    MissingStore,
    /// No policy was given (there is no default: a server that refuses everything is useless,
    /// and one that allows everything is dangerous).
    #[error(
        "JheServer needs a policy: call .policy(...) (the standard one is jhe_plugins::RbacConsentPolicy)"
    )]
    MissingPolicy,
    /// No data format was given, so no observation could be uploaded.
    #[error(
        "JheServer needs at least one data format: call .data_format(...) (the standard one is jhe_plugins::OmhFormat::bundled())"
    )]
    MissingDataFormat,
    /// No identity provider was given, so nobody could log in.
    #[error(
        "JheServer needs at least one identity provider: call .identity_provider(...) (the standard one is jhe_plugins::PasswordIdp)"
    )]
    MissingIdentityProvider,
}

/// Assembles a [`JheServer`]. `A` is the integrator's documented APIs added with
/// [`JheServerBuilder::api`] (none by default).
pub struct JheServerBuilder<A = NoExtraApi> {
    config: Option<Config>,
    store: Option<Arc<dyn Store>>,
    policy: Option<Arc<dyn Policy>>,
    formats: Vec<Arc<dyn DataFormat>>,
    identity_providers: Vec<Arc<dyn IdentityProvider>>,
    mailer: Option<Arc<dyn Mailer>>,
    audit: Option<Arc<dyn AuditSink>>,
    template_dir: Option<PathBuf>,
    extra_api: A,
    hooks: Vec<RouteHook>,
    metrics: MetricsConfig,
}

impl Default for JheServerBuilder {
    fn default() -> Self {
        Self {
            config: None,
            store: None,
            policy: None,
            formats: Vec::new(),
            identity_providers: Vec::new(),
            mailer: None,
            audit: None,
            template_dir: None,
            extra_api: NoExtraApi,
            hooks: Vec::new(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl<A: OpenApi + Clone + Send + Sync + 'static> JheServerBuilder<A> {
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

    /// A store already shared elsewhere (required, unless [`Self::store`] is called).
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The policy (required: there is no default).
    pub fn policy(mut self, policy: impl Policy + 'static) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// A policy already shared elsewhere.
    pub fn shared_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Adds a payload format (asked in the order added; at least one is required).
    pub fn data_format(mut self, format: impl DataFormat + 'static) -> Self {
        self.formats.push(Arc::new(format));
        self
    }

    /// Adds an identity provider (at least one is required).
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

    /// A directory whose files replace the embedded templates and portal static files of the
    /// same name (e.g. `portal/base.html`, `portal/static/portal.css`; see
    /// [`crate::http::templates`]). `None` keeps the embedded ones.
    pub fn template_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.template_dir = dir;
        self
    }

    /// Whether and how `GET /metrics` (Prometheus text format) is served: off by default;
    /// `MetricsConfig { enabled: true, token: None }` lets only direct loopback clients scrape,
    /// a `token` makes a scrape present `Authorization: Bearer <token>`. The default server
    /// reads it from `JHE_METRICS` / `JHE_METRICS_TOKEN` ([`MetricsConfig::from_lookup`]).
    pub fn metrics(mut self, metrics: MetricsConfig) -> Self {
        self.metrics = metrics;
        self
    }

    /// Adds the integrator's documented API (any `#[OpenApi]` type, or a tuple of them): its
    /// operations are served next to the Admin API (same error mapping and middleware) and
    /// appear in the same OpenAPI document (`/api/schema/openapi.json`, `/api/docs`).
    pub fn api<B: OpenApi + Clone + Send + Sync + 'static>(
        self,
        api: B,
    ) -> JheServerBuilder<(A, B)> {
        JheServerBuilder {
            config: self.config,
            store: self.store,
            policy: self.policy,
            formats: self.formats,
            identity_providers: self.identity_providers,
            mailer: self.mailer,
            audit: self.audit,
            template_dir: self.template_dir,
            extra_api: (self.extra_api, api),
            hooks: self.hooks,
            metrics: self.metrics,
        }
    }

    /// Adds plain (undocumented) routes to the server's router, after its own: `hook` gets the
    /// router and returns it with more `.at(...)` / `.nest(...)`. Handlers reach the server's
    /// [`AppState`] through `poem::web::Data<&Arc<AppState>>`.
    pub fn routes(mut self, hook: impl FnOnce(Route) -> Route + Send + Sync + 'static) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Builds the server.
    ///
    /// # Errors
    /// A [`BuildError`] naming the first missing part (store, policy, data format, identity
    /// provider).
    pub fn build(self) -> Result<JheServer<A>, BuildError> {
        let store = self.store.ok_or(BuildError::MissingStore)?;
        let policy = self.policy.ok_or(BuildError::MissingPolicy)?;
        if self.formats.is_empty() {
            return Err(BuildError::MissingDataFormat);
        }
        if self.identity_providers.is_empty() {
            return Err(BuildError::MissingIdentityProvider);
        }
        let config = self.config.unwrap_or_default();
        let tokens = crate::services::token_cache::TokenCache::new(
            config.token_cache_secs,
            config.token_cache_entries,
        );
        Ok(JheServer {
            state: Arc::new(AppState {
                tokens,
                config,
                store,
                policy,
                formats: self.formats,
                identity_providers: self.identity_providers,
                mailer: self.mailer.unwrap_or_else(|| Arc::new(LogMailer)),
                audit: self.audit.unwrap_or_else(|| Arc::new(LogAuditSink)),
                templates: Templates::new(self.template_dir),
            }),
            extra_api: self.extra_api,
            hooks: self.hooks,
            metrics: self.metrics,
            prepared: Arc::new(OnceCell::new()),
        })
    }
}

/// A configured JupyterHealth Exchange server (`A`: the integrator's documented APIs, see
/// [`JheServerBuilder::api`]).
///
/// ```no_run
/// # async fn run(store: impl jhe_core::store::Store + 'static,
/// #     policy: impl jhe_core::policy::Policy + 'static,
/// #     format: impl jhe_core::format::DataFormat + 'static,
/// #     login: impl jhe_core::identity::IdentityProvider + 'static,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use jhe_core::{Config, JheServer};
/// let server = JheServer::builder()
///     .config(Config::default())
///     .store(store)
///     .policy(policy)
///     .data_format(format)
///     .identity_provider(login)
///     .build()?;
/// let app = poem::Route::new().nest("/jhe", server.into_endpoint());
/// poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:8000"))
///     .run(app)
///     .await?;
/// # Ok(()) }
/// ```
pub struct JheServer<A = NoExtraApi> {
    state: Arc<AppState>,
    extra_api: A,
    hooks: Vec<RouteHook>,
    metrics: MetricsConfig,
    prepared: Arc<OnceCell<()>>,
}

impl JheServer {
    /// Starts assembling a server.
    pub fn builder() -> JheServerBuilder {
        JheServerBuilder::default()
    }
}

impl<A: OpenApi + Clone + Send + Sync + 'static> JheServer<A> {
    /// The shared state (store, policy, configuration…).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The one-time preparation before serving (makes sure a signing key exists). The endpoint
    /// runs it by itself before its first request; call it to fail at start-up instead (e.g. on
    /// an invalid `OIDC_RSA_PRIVATE_KEY`). Runs at most once successfully.
    ///
    /// # Errors
    /// The store's, or an invalid configured signing key.
    pub async fn prepare(&self) -> CoreResult<()> {
        prepare_once(&self.prepared, &self.state).await
    }

    /// The OpenAPI document of every documented endpoint (the integrator's APIs included), as
    /// JSON.
    pub fn openapi_json(&self) -> String {
        crate::http::finish_document(
            crate::http::openapi_service_with(self.state.clone(), self.extra_api.clone()).spec(),
        )
    }

    /// The server as a poem endpoint; serve it, or nest it in any poem application (at any
    /// path prefix: see [`crate::http::prefix`]).
    pub fn into_endpoint(self) -> BoxEndpoint<'static> {
        let inner = crate::http::with_security_headers(
            crate::http::routes_with(self.state.clone(), self.extra_api, self.hooks),
            self.metrics,
        );
        ServerEndpoint {
            inner,
            state: self.state,
            prepared: self.prepared,
        }
        .boxed()
    }
}

async fn prepare_once(prepared: &OnceCell<()>, state: &AppState) -> CoreResult<()> {
    prepared
        .get_or_try_init(|| async {
            crate::services::keys::ensure_signing_key(state.store.as_ref(), &state.config).await?;
            Ok(())
        })
        .await
        .map(|_| ())
}

/// The outermost layer: preparation before the first request, the path prefix
/// ([`crate::http::prefix`]), and the server's templates for the request.
struct ServerEndpoint {
    inner: BoxEndpoint<'static>,
    state: Arc<AppState>,
    prepared: Arc<OnceCell<()>>,
}

impl Endpoint for ServerEndpoint {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if let Err(e) = prepare_once(&self.prepared, &self.state).await {
            tracing::error!(error = %e, "cannot prepare the server (signing key)");
            return Ok(crate::http::error::response_of(e));
        }
        let (req, base) = crate::http::prefix::strip(req);
        if !base.is_empty() {
            crate::http::prefix::check_against_site_url(&base, &self.state.config.site_url);
        }
        let response = self
            .state
            .templates
            .clone()
            .scope(self.inner.call(req))
            .await?;
        // Audit events the request recorded are queued; while the sink is far behind, answer
        // later rather than let the queue grow (see `AuditSink::backpressure`).
        self.state.audit.backpressure().await;
        if base.is_empty() {
            Ok(response)
        } else {
            Ok(crate::http::prefix::restore(response, &base).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_errors_name_what_is_missing() {
        let err = JheServer::builder().build().err();
        assert_eq!(err, Some(BuildError::MissingStore));
        assert!(
            BuildError::MissingPolicy
                .to_string()
                .contains("RbacConsentPolicy")
        );
    }
}
