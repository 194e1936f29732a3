//! The MCP API (Model Context Protocol): the exchange's tools for AI agents, embedded in the
//! server at `/mcp` (Streamable HTTP transport) and available over stdio for local use
//! (`server mcp --stdio`). Behind the `mcp` cargo feature (on by default).
//!
//! # Shape
//! - **Tools** ([`tools`]) with the names, arguments, defaults, result shapes and messages of the
//!   original's MCP server (mcp.md §4), each a thin adapter over the service functions REST and
//!   FHIR use, run with the caller's [`Principal`] and so under the caller's sealed
//!   [`AccessScope`](crate::policy::AccessScope): a practitioner sees only consented data of
//!   patients of their organisations, a patient only their own. Counts and summaries are SQL
//!   aggregates ([`crate::store::ObservationStore::summarize_observations`]), not paging.
//! - **Resources** `omh://schema/<short name>`: the JSON schemas the server's data formats check
//!   payloads against (pretty-printed JSON; the description is the schema's `description`).
//! - The `initialize` result names the server `jhe-mcp` and carries [`INSTRUCTIONS`].
//!
//! # Authentication (HTTP)
//! Every request to `/mcp` must carry the exchange's own OAuth 2.0 bearer token
//! (`Authorization: Bearer …`, RFC 6750), re-verified on every request by the same resolution
//! the REST and FHIR APIs use ([`crate::http::auth::principal_for_token`]); each tool then
//! checks the token's scopes against the REST/FHIR route it mirrors. A missing, unknown, revoked
//! or expired token answers `401` with
//! `WWW-Authenticate: Bearer error="invalid_token", resource_metadata="<SITE_URL>/.well-known/oauth-protected-resource"`
//! (RFC 9728 §5.1), whose document ([`protected_resource_metadata`]) names the exchange's
//! authorization server (`<SITE_URL>/o`, metadata per RFC 8414 at
//! `/.well-known/oauth-authorization-server/o`).
//!
//! # Sessions and DNS rebinding
//! The transport runs **stateless** (no `Mcp-Session-Id`; every POST is answered on its own with
//! JSON), so any number of server processes on one database serve the same clients. The `Host`
//! header must be the host of `SITE_URL` or a loopback name, and a browser `Origin` must be
//! `SITE_URL`'s origin or a loopback one (rmcp's DNS-rebinding guard); others get `403`.

pub mod args;
pub mod records;
pub mod tools;

use std::sync::Arc;

use poem::endpoint::TowerCompatExt;
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

use crate::error::{CoreError, CoreResult};
use crate::http::auth::{bearer_token, principal_for_token};
use crate::policy::Principal;
use crate::server::AppState;

/// The server name of the `initialize` result.
pub const SERVER_NAME: &str = "jhe-mcp";

/// The path of the MCP endpoint.
pub const PATH: &str = "/mcp";

/// The URI scheme prefix of the schema resources.
pub const SCHEMA_URI_PREFIX: &str = "omh://schema/";

/// The `instructions` of the `initialize` result: what the tools are and how to use them well.
pub const INSTRUCTIONS: &str = "\
JupyterHealth Exchange (JHE) holds personal health data (Open mHealth data points stored as FHIR \
Observations) that patients consented to share with research studies. Every tool runs as you, the \
signed-in user: a practitioner sees the patients of their organisations and only the data types \
each patient consented to share; a patient sees only their own data.

Tools:
- get_study_count, list_studies, get_study_metadata(study_id), list_study_patients(study_id): \
the studies you can read and their enrolled patients.
- get_patient_demographics(patient_id), search_patients(name|family|given|birthdate, limit, page).
- get_patient_observations(patient_id, data_type, start, end, verbosity='slim'|'full', \
order='newest'|'oldest', limit=50, page=1): one page of records in an envelope \
{total, page, page_size, returned, has_more, observations}.
- count_patient_observations, count_study_observations(by_patient), \
summarize_patient_observations, get_patient_date_range: totals, per-type counts and date ranges, \
computed by the database.
- get_omh_schema(name), resources omh://schema/<name>: the Open mHealth schema of a data type \
(data_type arguments are these short names, e.g. 'heart-rate', 'blood-glucose').
- get_server_capabilities: what the FHIR API supports.

Recommended workflows:
- To answer 'how many', use the count tools, never page through records.
- To find when data exists, use get_patient_date_range; for an overview of a patient, call \
summarize_patient_observations before paging.
- Page with slim records (type, effective_at, value, unit); ask for verbosity='full' only when \
you need the whole Open mHealth body.
- Dates (start, end) are YYYY-MM-DD, inclusive, compared in the server time zone (UTC).";

/// The MCP server: tools and resources over the shared state. Over HTTP the caller is the
/// principal the `/mcp` authentication put on the request; over stdio it is resolved from the
/// configured token on every call (so a revoked or expired token stops working at once).
#[derive(Clone)]
pub struct JheMcp {
    state: Arc<AppState>,
    token: Option<Arc<str>>,
}

impl std::fmt::Debug for JheMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The shared state is not printable, and the token is a secret.
        f.debug_struct("JheMcp")
            .field(
                "token",
                &self.token.as_ref().map(|_| crate::domain::Redacted),
            )
            .finish_non_exhaustive()
    }
}

impl JheMcp {
    /// The handler of the HTTP transport (callers come from the request).
    pub fn http(state: Arc<AppState>) -> Self {
        Self { state, token: None }
    }

    /// The handler of the stdio transport, acting with `token`.
    pub fn with_token(state: Arc<AppState>, token: &str) -> Self {
        Self {
            state,
            token: Some(Arc::from(token)),
        }
    }

    async fn principal(&self, ctx: &RequestContext<RoleServer>) -> Result<Principal, String> {
        if let Some(token) = &self.token {
            return principal_for_token(&self.state, token)
                .await
                .map_err(|e| args::ToolError::from(e).0);
        }
        ctx.extensions
            .get::<poem::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .cloned()
            .ok_or_else(|| CoreError::Unauthenticated.to_string())
    }
}

/// A tool's value as an MCP result: the JSON text, plus `structuredContent` for objects.
fn tool_result(value: Value) -> CallToolResult {
    if value.is_object() {
        CallToolResult::structured(value)
    } else {
        CallToolResult::success(vec![ContentBlock::text(value.to_string())])
    }
}

fn schema_resources(state: &AppState) -> Vec<Resource> {
    let registry = tools::registry(state);
    tools::short_names(&registry)
        .into_iter()
        .filter_map(|name| {
            let entry = tools::schema_of(&registry, &name)?;
            let mut resource = Resource::new(format!("{SCHEMA_URI_PREFIX}{name}"), name.clone())
                .with_title(entry.code.clone())
                .with_mime_type("application/json");
            if let Some(description) = entry.schema.get("description").and_then(Value::as_str) {
                resource = resource.with_description(description);
            }
            Some(resource)
        })
        .collect()
}

impl ServerHandler for JheMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::definitions()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = match self.principal(&context).await {
            Ok(p) => p,
            Err(message) => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
            }
        };
        let args = request.arguments.clone().unwrap_or_default();
        match tools::call(&self.state, &principal, &request.name, &args).await {
            Ok(Some(value)) => Ok(tool_result(value).into()),
            Ok(None) => Err(ErrorData::invalid_params(
                format!("Unknown tool '{}'", request.name),
                None,
            )),
            Err(error) => Ok(CallToolResult::error(vec![ContentBlock::text(error.0)]).into()),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(schema_resources(
            &self.state,
        )))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let registry = tools::registry(&self.state);
        let entry = request
            .uri
            .strip_prefix(SCHEMA_URI_PREFIX)
            .and_then(|name| tools::schema_of(&registry, name))
            .ok_or_else(|| {
                ErrorData::resource_not_found(format!("Unknown resource '{}'", request.uri), None)
            })?;
        let text = serde_json::to_string_pretty(&entry.schema).unwrap_or_default();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri.clone()).with_mime_type("application/json"),
        ])
        .into())
    }
}

// ------------------------------------------------------------------------------------------
// HTTP
// ------------------------------------------------------------------------------------------

/// The URL of the protected-resource metadata (RFC 9728) of this server.
pub fn resource_metadata_url(state: &AppState) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource",
        state.config.site_url.trim_end_matches('/')
    )
}

/// `GET /.well-known/oauth-protected-resource` (RFC 9728 §3): the exchange (`SITE_URL`, or with
/// `resource_path` e.g. `/mcp` that resource) protected by its own authorization server
/// (`<SITE_URL>/o`, whose RFC 8414 metadata equals the OpenID discovery document).
pub fn protected_resource_metadata(state: &AppState, resource_path: &str) -> Value {
    let site = state.config.site_url.trim_end_matches('/');
    json!({
        "resource": format!("{site}{resource_path}"),
        "authorization_servers": [crate::services::oauth::issuer(&state.config)],
        "scopes_supported": crate::http::fhir::conformance::supported_scopes(),
        "bearer_methods_supported": ["header"],
        "resource_name": "JupyterHealth Exchange",
        "resource_documentation": format!("{site}/api/docs"),
    })
}

/// The `401` of `/mcp`: RFC 6750 `invalid_token` with the RFC 9728 `resource_metadata` URL.
fn unauthorized(state: &AppState, description: &str) -> Response {
    let challenge = format!(
        "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
        resource_metadata_url(state)
    );
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(poem::http::header::WWW_AUTHENTICATE, challenge)
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .content_type("application/json")
        .body(json!({"error": "invalid_token", "error_description": description}).to_string())
}

/// Resolves the bearer token of every request before the MCP transport sees it, and puts the
/// [`Principal`] on the request for the tools.
struct Authenticated<E> {
    inner: E,
    state: Arc<AppState>,
}

impl<E: Endpoint> Endpoint for Authenticated<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let resolved = match bearer_token(&req).filter(|t| !t.is_empty()) {
            None => Err(CoreError::Unauthenticated),
            Some(token) => principal_for_token(&self.state, &token).await,
        };
        match resolved {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                Ok(self.inner.call(req).await?.into_response())
            }
            Err(
                e
                @ (CoreError::Unauthenticated | CoreError::InvalidToken | CoreError::ExpiredToken),
            ) => Ok(unauthorized(
                &self.state,
                match e {
                    CoreError::Unauthenticated => "Authentication required",
                    CoreError::ExpiredToken => "The access token has expired.",
                    _ => "The access token is invalid.",
                },
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// The hosts `/mcp` accepts (DNS-rebinding protection): `SITE_URL`'s host (any port) and the
/// loopback names.
pub fn allowed_hosts(state: &AppState) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Some(host) = url::Url::parse(&state.config.site_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        && !hosts.contains(&host)
    {
        hosts.insert(0, host);
    }
    hosts
}

/// The browser origins `/mcp` accepts: `SITE_URL`'s origin and loopback origins (any port).
pub fn allowed_origins(state: &AppState) -> Vec<String> {
    let mut origins = vec![
        "http://localhost:*".to_string(),
        "http://127.0.0.1:*".into(),
        "http://[::1]:*".into(),
    ];
    if let Ok(url) = url::Url::parse(&state.config.site_url) {
        let origin = url.origin().ascii_serialization();
        let with_port = match url.port_or_known_default() {
            Some(port) if url.port().is_none() => format!("{origin}:{port}"),
            _ => origin,
        };
        origins.insert(0, with_port);
    }
    origins
}

/// The `/mcp` endpoint: bearer authentication in front of rmcp's Streamable HTTP service
/// (stateless, JSON responses, hosts and origins from `SITE_URL`).
pub fn endpoint(state: Arc<AppState>) -> impl Endpoint<Output = Response> + 'static {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(allowed_hosts(&state))
        .with_allowed_origins(allowed_origins(&state));
    let factory_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(JheMcp::http(factory_state.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Authenticated {
        inner: service.compat(),
        state,
    }
}

/// Mounts `/mcp` and the protected-resource metadata.
pub fn mount(route: poem::Route, state: &Arc<AppState>) -> poem::Route {
    let root = state.clone();
    let mcp = state.clone();
    route
        .at(PATH, endpoint(state.clone()))
        .at(
            "/.well-known/oauth-protected-resource",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::web::Json(protected_resource_metadata(&root, "")).into_response()
            })),
        )
        .at(
            "/.well-known/oauth-protected-resource/mcp",
            poem::get(poem::endpoint::make_sync(move |_| {
                poem::web::Json(protected_resource_metadata(&mcp, PATH)).into_response()
            })),
        )
}

// ------------------------------------------------------------------------------------------
// stdio
// ------------------------------------------------------------------------------------------

/// Serves the tools over standard input/output until the client closes, acting as the holder of
/// `token` (a personal access token of the exchange). The token is checked once before serving
/// and again on every tool call.
///
/// # Errors
/// [`CoreError::InvalidToken`] / [`CoreError::ExpiredToken`] for a bad token; transport
/// failures as [`CoreError::Internal`].
pub async fn serve_stdio(state: Arc<AppState>, token: &str) -> CoreResult<()> {
    principal_for_token(&state, token).await?;
    let running = JheMcp::with_token(state, token)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| CoreError::Internal(format!("MCP stdio: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| CoreError::Internal(format!("MCP stdio: {e}")))?;
    Ok(())
}
