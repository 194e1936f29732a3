//! Operations middleware: one log line per request, request ids and Prometheus metrics.
//!
//! [`Observe`] wraps the whole application (see [`super::with_security_headers`]):
//!
//! - **Request log**: one `tracing` event per request at `INFO` (target `jhe::request`) with the
//!   method, the path (never the query string; a path holding a secret, such as a password-reset
//!   link, is logged as its route template), the status, the duration in milliseconds and the
//!   request id. Everything the handlers log runs inside a `request` span carrying the same id.
//! - **Request ids**: an incoming `X-Request-Id` of 1–[`MAX_REQUEST_ID_LEN`] characters from
//!   `A–Z a–z 0–9 . _ : -` is kept; otherwise (absent or unusable) a UUID v4 is generated. The id
//!   is answered in `X-Request-Id` and is available to handlers as [`RequestId`] request data.
//! - **Metrics** (`JHE_METRICS=on`): `GET /metrics` answers the Prometheus text format
//!   (version 0.0.4) with `jhe_http_requests_total` and `jhe_http_request_duration_seconds`
//!   (by method, route template and status), and whatever else the process records through the
//!   [`metrics`] facade (observations ingested, logins, database pool gauges). With
//!   `JHE_METRICS_TOKEN` set, the scrape needs `Authorization: Bearer <token>`; without it, only
//!   direct loopback peers (no `Forwarded`/`X-Forwarded-For` header) may scrape. Off (the
//!   default), `/metrics` is not served at all.

use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use crate::config::{ConfigError, parse_flag, setting};

/// The request-id header, read and answered.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest incoming request id kept (longer ones are replaced by a generated id).
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// The path the metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// Name of the request counter (labels `method`, `route`, `status`).
pub const REQUESTS_TOTAL: &str = "jhe_http_requests_total";
/// Name of the request-duration histogram in seconds (labels `method`, `route`, `status`).
pub const REQUEST_DURATION: &str = "jhe_http_request_duration_seconds";
/// Name of the counter of observations stored (uploads through FHIR and the Admin API).
pub const OBSERVATIONS_INGESTED: &str = "jhe_observations_ingested_total";
/// Name of the login counter (label `outcome` = `ok` or `failed`).
pub const LOGINS_TOTAL: &str = "jhe_logins_total";

/// Buckets of the request-duration histogram, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The request id of the current request (request data set by [`Observe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether and how `/metrics` is served (`JHE_METRICS`, `JHE_METRICS_TOKEN`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Serve `/metrics` (`JHE_METRICS=on`; default off).
    pub enabled: bool,
    /// Bearer token a scrape must present (`JHE_METRICS_TOKEN`); without it only loopback
    /// peers may scrape.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl MetricsConfig {
    /// Reads `JHE_METRICS` (`on`/`off`, any boolean spelling) and `JHE_METRICS_TOKEN`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a `JHE_METRICS` that is not a boolean, or a token shorter
    /// than 16 characters.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let enabled = match setting(&lookup, "JHE_METRICS") {
            Some(v) => parse_flag("JHE_METRICS", &v)?,
            None => false,
        };
        let token = setting(&lookup, "JHE_METRICS_TOKEN");
        if let Some(t) = &token
            && t.chars().count() < 16
        {
            return Err(ConfigError::Invalid {
                name: "JHE_METRICS_TOKEN",
                reason: "use at least 16 characters".into(),
            });
        }
        Ok(MetricsConfig { enabled, token })
    }

    /// [`from_lookup`](Self::from_lookup) on the process environment; an unusable value turns
    /// metrics off with a warning (the server's configuration check reports it first).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "metrics disabled");
            MetricsConfig::default()
        })
    }
}

/// The process-wide Prometheus recorder, installed on first use. `None` when another
/// `metrics` recorder was installed first (an embedding application's own).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), DURATION_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    metrics::describe_counter!(REQUESTS_TOTAL, "HTTP requests answered.");
                    metrics::describe_histogram!(
                        REQUEST_DURATION,
                        metrics::Unit::Seconds,
                        "Time to answer an HTTP request."
                    );
                    metrics::describe_counter!(OBSERVATIONS_INGESTED, "Observations stored.");
                    metrics::describe_counter!(LOGINS_TOTAL, "Login attempts by outcome.");
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the Prometheus recorder");
                    None
                }
            }
        })
        .as_ref()
}

/// Counts stored observations (a no-op unless metrics are on).
pub fn record_observations_ingested(count: u64) {
    metrics::counter!(OBSERVATIONS_INGESTED).increment(count);
}

/// Counts a login attempt (a no-op unless metrics are on).
pub fn record_login(succeeded: bool) {
    let outcome = if succeeded { "ok" } else { "failed" };
    metrics::counter!(LOGINS_TOTAL, "outcome" => outcome).increment(1);
}

/// The middleware: request log, request id, metrics. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Observe {
    metrics: MetricsConfig,
}

impl Observe {
    /// With the given metrics settings (installs the Prometheus recorder when enabled).
    pub fn new(metrics: MetricsConfig) -> Self {
        if metrics.enabled {
            let _ = prometheus();
        }
        Observe { metrics }
    }

    /// With the metrics settings of the process environment ([`MetricsConfig::from_env`]).
    pub fn from_env() -> Self {
        Self::new(MetricsConfig::from_env())
    }
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The endpoint made by [`Observe`].
pub struct ObserveEndpoint<E> {
    inner: E,
    metrics: MetricsConfig,
}

/// Whether `id` is usable as a request id: 1–[`MAX_REQUEST_ID_LEN`] characters from
/// `A–Z a–z 0–9 . _ : -`.
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The path to log: the route template when the path holds a secret (a `:token` parameter);
/// the path otherwise (never the query).
fn loggable_path<'a>(path: &'a str, route: Option<&'a str>) -> &'a str {
    match route {
        Some(r) if r.contains(":token") || r.contains(":code") || r.contains(":secret") => r,
        _ => path,
    }
}

/// A bounded label for the method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl<E> ObserveEndpoint<E> {
    /// Whether this request may read the metrics.
    fn may_scrape(&self, req: &Request) -> bool {
        if let Some(expected) = &self.metrics.token {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            return bool::from(presented.as_bytes().ct_eq(expected.as_bytes()));
        }
        let direct = !req.headers().contains_key("forwarded")
            && !req.headers().contains_key("x-forwarded-for");
        direct
            && req
                .remote_addr()
                .as_socket_addr()
                .is_some_and(|a| a.ip().is_loopback())
    }

    fn metrics_response(&self, req: &Request) -> Response {
        if !self.may_scrape(req) {
            let mut response = Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .content_type("application/json")
                .body(r#"{"detail":"Authentication credentials were not provided."}"#);
            if self.metrics.token.is_some() {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return response;
        }
        match prometheus() {
            Some(handle) => {
                handle.run_upkeep();
                Response::builder()
                    .content_type("text/plain; version=0.0.4; charset=utf-8")
                    .body(handle.render())
            }
            None => Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .content_type("application/json")
                .body(r#"{"detail":"Metrics are not available in this process."}"#),
        }
    }
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|id| valid_request_id(id))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        req.set_data(RequestId(request_id.clone()));
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let span = tracing::info_span!("request", request_id = %request_id);

        let (mut response, route) = if self.metrics.enabled && path == METRICS_PATH {
            (self.metrics_response(&req), Some(METRICS_PATH.to_string()))
        } else {
            let result = self.inner.call(req).instrument(span.clone()).await;
            let response = match result {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            };
            let route = response
                .data::<poem::PathPattern>()
                .map(|p| p.0.to_string());
            (response, route)
        };

        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let status = response.status();
        let elapsed = started.elapsed();
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        span.in_scope(|| {
            tracing::info!(
                target: "jhe::request",
                method = %method,
                path = %loggable_path(&path, route.as_deref()),
                status = status.as_u16(),
                duration_ms = (duration_ms * 10.0).round() / 10.0,
                request_id = %request_id,
                "request"
            );
        });
        if self.metrics.enabled {
            let labels = [
                ("method", method_label(&method).to_string()),
                ("route", route.unwrap_or_else(|| "unmatched".into())),
                ("status", status.as_u16().to_string()),
            ];
            metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
            metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::test::TestClient;
    use poem::{EndpointExt, Route, handler};

    #[handler]
    fn hello(req: &Request) -> String {
        req.data::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default()
    }

    #[test]
    fn request_ids_are_bounded_and_plain() {
        assert!(valid_request_id("abc-123_x.y:z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id("<script>"));
        assert!(!valid_request_id(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(valid_request_id(&"a".repeat(MAX_REQUEST_ID_LEN)));
    }

    #[test]
    fn secret_paths_log_their_template() {
        assert_eq!(
            loggable_path(
                "/accounts/reset/MQ/abc-def/",
                Some("/accounts/reset/:uid/:token/")
            ),
            "/accounts/reset/:uid/:token/"
        );
        assert_eq!(
            loggable_path("/api/v1/patients/5", Some("/api/v1/patients/:id")),
            "/api/v1/patients/5"
        );
        assert_eq!(loggable_path("/x", None), "/x");
    }

    #[tokio::test]
    async fn request_id_is_kept_or_generated() {
        let app = Route::new().at("/", hello).with(Observe::default());
        let client = TestClient::new(app);
        let response = client
            .get("/")
            .header(REQUEST_ID_HEADER, "trace-42")
            .send()
            .await;
        response.assert_header(REQUEST_ID_HEADER, "trace-42");
        response.assert_text("trace-42").await;
        let response = client
            .get("/")
            .header(REQUEST_ID_HEADER, "bad id <script>")
            .send()
            .await;
        let generated = response
            .0
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_default();
        assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
        response.assert_text(generated).await;
    }

    #[tokio::test]
    async fn metrics_are_not_served_when_off() {
        let app = Route::new().at("/", hello).with(Observe::default());
        TestClient::new(app)
            .get(METRICS_PATH)
            .send()
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn metrics_need_the_token() {
        let app = Route::new()
            .at("/", hello)
            .with(Observe::new(MetricsConfig {
                enabled: true,
                token: Some("0123456789abcdef-token".into()),
            }));
        let client = TestClient::new(app);
        client.get("/").send().await.assert_status_is_ok();
        client
            .get(METRICS_PATH)
            .send()
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        client
            .get(METRICS_PATH)
            .header(header::AUTHORIZATION, "Bearer wrong")
            .send()
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let response = client
            .get(METRICS_PATH)
            .header(header::AUTHORIZATION, "Bearer 0123456789abcdef-token")
            .send()
            .await;
        response.assert_status_is_ok();
        let text = response
            .0
            .into_body()
            .into_string()
            .await
            .unwrap_or_default();
        assert!(text.contains(REQUESTS_TOTAL), "{text}");
        assert!(text.contains("route=\"/\""), "{text}");
    }

    #[test]
    fn metrics_settings_are_checked() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(!MetricsConfig::from_lookup(lookup(&[])).unwrap().enabled);
        assert!(
            MetricsConfig::from_lookup(lookup(&[("JHE_METRICS", "on")]))
                .unwrap()
                .enabled
        );
        assert!(MetricsConfig::from_lookup(lookup(&[("JHE_METRICS", "sometimes")])).is_err());
        assert!(MetricsConfig::from_lookup(lookup(&[("JHE_METRICS_TOKEN", "short")])).is_err());
    }
}
