//! HTTP handlers (poem / poem-openapi). Thin: parse, authenticate, call one service function,
//! map the result.
//!
//! Each area mounts its own routes (`mount(route) -> route`), so this file only composes them.

pub mod api;
pub mod auth;
pub mod docs;
pub mod error;
pub mod fhir;
pub mod forwarded;
pub mod oauth;
pub mod observe;
pub mod portal;
pub mod prefix;
pub mod rest;
pub mod scopes;
pub mod session;
pub mod system;
pub mod templates;
pub mod web;

use std::sync::Arc;

use poem::{EndpointExt, Route};
use poem_openapi::{OpenApi, OpenApiService};

use crate::server::AppState;

/// Title of the generated OpenAPI document.
pub const API_TITLE: &str = "JupyterHealth Exchange";

/// The version string served by `/health` and `client_settings.js` (`vX.Y.Z`).
pub fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// No extra API: the `OpenApi` of a server without integrator APIs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtraApi;

impl OpenApi for NoExtraApi {
    fn meta() -> Vec<poem_openapi::registry::MetaApi> {
        Vec::new()
    }

    fn register(_registry: &mut poem_openapi::registry::Registry) {}

    fn add_routes(
        self,
        _route_table: &mut std::collections::HashMap<
            String,
            std::collections::HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>,
        >,
    ) {
    }
}

/// A hook that adds an integrator's plain routes to the server's router
/// ([`crate::server::JheServerBuilder::routes`]).
pub type RouteHook = Box<dyn FnOnce(Route) -> Route + Send + Sync>;

/// The documented APIs, as one poem-openapi service.
pub fn openapi_service(state: Arc<AppState>) -> OpenApiService<impl OpenApi, ()> {
    openapi_service_with(state, NoExtraApi)
}

/// [`openapi_service`] plus an integrator's APIs (`extra`), in the same document (the seam
/// where plug-ins add endpoints: [`crate::server::JheServerBuilder::api`]).
pub fn openapi_service_with<A: OpenApi>(
    state: Arc<AppState>,
    extra: A,
) -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(
        (
            system::SystemApi {
                state: state.clone(),
            },
            api::apis(state),
            extra,
        ),
        API_TITLE,
        version(),
    )
    .description(
        "JupyterHealth Exchange: consented sharing of personal health data (Open mHealth in FHIR R5) with research studies.",
    )
}

/// The OpenAPI document as served: poem-openapi's, with every optional property of a schema
/// marked `nullable` (the server writes `null` for absent values, and accepts it in requests),
/// so strict generated clients accept every valid answer.
pub fn openapi_document(state: Arc<AppState>) -> String {
    finish_document(openapi_service(state).spec())
}

/// The post-processing of [`openapi_document`], applied to poem-openapi's `spec`.
pub fn finish_document(spec: String) -> String {
    match serde_json::from_str::<serde_json::Value>(&spec) {
        Ok(mut doc) => {
            mark_nullable(&mut doc);
            document_errors(&mut doc);
            docs::document::augment(&mut doc);
            serde_json::to_string_pretty(&doc).unwrap_or(spec)
        }
        Err(_) => spec,
    }
}

/// Documents the error bodies (`ErrorBody`: `{"detail": "…"}` or field errors
/// `{"field": ["…"]}`) instead of an untyped schema, and drops `409` from read-only operations
/// (`GET`), which never answer it.
fn document_errors(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "ErrorBody".into(),
            json!({
                "type": "object",
                "description": "An error: `{\"detail\": \"…\"}`, or field errors `{\"field\": [\"message\"]}` (400).",
                "properties": {"detail": {"type": "string", "nullable": true, "description": "What went wrong."}},
                "additionalProperties": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "string"}},
                        {"type": "string"}
                    ]
                }
            }),
        );
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operations in paths.values_mut().filter_map(Value::as_object_mut) {
        for (method, operation) in operations.iter_mut() {
            let public = operation.get("security").is_none();
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            if method == "get" {
                responses.remove("409");
            }
            if public {
                // A public operation (a study's icon) reads no token: no 401/403.
                responses.remove("401");
                responses.remove("403");
            }
            for (status, response) in responses.iter_mut() {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for media in content.values_mut() {
                    if media.get("schema").is_some_and(|s| s == &json!({})) {
                        media["schema"] = json!({"$ref": "#/components/schemas/ErrorBody"});
                    }
                }
            }
        }
    }
}

/// Adds `nullable: true` to the properties of `components.schemas.*` that are not `required`
/// (a `$ref` becomes `allOf: [$ref]`, since OpenAPI 3.0 ignores siblings of `$ref`).
fn mark_nullable(doc: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            if required.contains(name) {
                continue;
            }
            let Some(object) = property.as_object_mut() else {
                continue;
            };
            if let Some(reference) = object.remove("$ref") {
                object.insert(
                    "allOf".into(),
                    Value::Array(vec![serde_json::json!({"$ref": reference})]),
                );
            }
            object.insert("nullable".into(), Value::Bool(true));
        }
    }
}

/// The full router of the server.
pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint + 'static {
    routes_with(state, NoExtraApi, Vec::new())
}

/// [`routes`] plus an integrator's documented APIs (`extra`, in the same OpenAPI document and
/// behind the same middleware as the Admin API) and plain routes (`hooks`, applied in order
/// after the server's own; handlers get the [`AppState`] through `Data<&Arc<AppState>>`).
pub fn routes_with<A: OpenApi + 'static>(
    state: Arc<AppState>,
    extra: A,
    hooks: Vec<RouteHook>,
) -> impl poem::Endpoint + 'static {
    let api = openapi_service_with(state.clone(), extra);
    let document = finish_document(api.spec());
    let spec = poem::endpoint::make_sync(move |req: poem::Request| {
        // Nested under a prefix, the document names it as its server (`servers`).
        let body = docs::document::with_base_path(&document, prefix::base_path(&req));
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(body)
    });
    let route = Route::new().at("/api/schema/openapi.json", spec);
    let route = docs::mount(route, &api);
    let route = oauth::mount(route);
    let route = web::mount(route);
    let route = portal::mount(route);
    let route = fhir::mount(route);
    #[cfg(feature = "mcp")]
    let route = crate::mcp::mount(route, &state);
    let route = hooks.into_iter().fold(route, |route, hook| hook(route));
    let api = rest::errors::json_errors(api.with(rest::casing::CamelCaseRequests));
    route
        .nest("/", api)
        .data(in_process_api(state.clone()))
        .data(state)
}

/// The Admin REST API and FHIR routes on their own, for the portal's Debug screen to call
/// in-process with a patient's token (the same handlers and middleware as from the network).
fn in_process_api(state: Arc<AppState>) -> web::portal::InProcessApi {
    let api = rest::errors::json_errors(
        openapi_service(state.clone()).with(rest::casing::CamelCaseRequests),
    );
    web::portal::InProcessApi::new(fhir::mount(Route::new()).nest("/", api).data(state))
}

/// The text of a panic payload (`panic!("…")` gives `&str` or `String`).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// A safety net, not a fix: a handler that panics answers `500 {"detail": "Internal server
/// error."}` with a log line, instead of dropping the connection. (`/fhir` answers an
/// OperationOutcome through its own net.)
pub fn catch_panics<E: poem::Endpoint + 'static>(endpoint: E) -> impl poem::Endpoint + 'static {
    endpoint.with(poem::middleware::CatchPanic::new().with_handler(
        |payload: Box<dyn std::any::Any + Send>| {
            error::response_of(crate::error::CoreError::Internal(format!(
                "request handler panicked: {}",
                panic_text(payload.as_ref())
            )))
        },
    ))
}

/// The FHIR flavour of [`catch_panics`]: the 500 is an OperationOutcome.
pub(crate) fn catch_fhir_panics<E: poem::Endpoint + 'static>(
    endpoint: E,
) -> impl poem::Endpoint + 'static {
    endpoint.with(poem::middleware::CatchPanic::new().with_handler(
        |payload: Box<dyn std::any::Any + Send>| {
            fhir::error_response(crate::fhir::FhirError::Core(
                crate::error::CoreError::Internal(format!(
                    "request handler panicked: {}",
                    panic_text(payload.as_ref())
                )),
            ))
        },
    ))
}

/// Adds the security headers of the original to every response, and the panic net
/// ([`catch_panics`]).
///
/// `metrics` says whether and how `/metrics` is served ([`observe::MetricsConfig`]).
pub fn with_security_headers<E: poem::Endpoint + 'static>(
    endpoint: E,
    metrics: observe::MetricsConfig,
) -> poem::endpoint::BoxEndpoint<'static> {
    catch_panics(endpoint)
        .with(
            poem::middleware::SetHeader::new()
                .overriding("X-Frame-Options", "SAMEORIGIN")
                .overriding("X-Content-Type-Options", "nosniff")
                .overriding("Referrer-Policy", "same-origin")
                .overriding("Cross-Origin-Opener-Policy", "same-origin"),
        )
        .map_to_response()
        .with(observe::Observe::new(metrics))
        .boxed()
}

#[cfg(test)]
mod tests {
    use poem::http::StatusCode;
    use poem::test::TestClient;
    use poem::{Route, handler};

    #[handler]
    #[allow(clippy::panic)]
    fn boom() -> &'static str {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json() {
        let app = super::with_security_headers(
            Route::new().at("/", boom),
            super::observe::MetricsConfig::default(),
        );
        let response = TestClient::new(app).get("/").send().await;
        response.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        response.assert_header("X-Content-Type-Options", "nosniff");
        response
            .assert_json(serde_json::json!({"detail": "Internal server error."}))
            .await;
    }

    #[tokio::test]
    async fn a_panicking_fhir_handler_answers_an_operation_outcome() {
        let app = super::catch_fhir_panics(Route::new().at("/", boom));
        let response = TestClient::new(app).get("/").send().await;
        response.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = response.json().await.value().deserialize();
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
}
