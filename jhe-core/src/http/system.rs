//! `/health` and `/ready`.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::server::AppState;

#[derive(Tags)]
enum SystemTags {
    /// Liveness and readiness probes.
    System,
}

/// Liveness answer.
#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: String,
    /// Server version, `vX.Y.Z`.
    pub version: String,
}

/// Readiness answer.
#[derive(Debug, Object)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Database state: `ok` or `unavailable`.
    pub database: String,
}

/// Responses of `/ready`.
#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database answers.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// The database does not answer.
    #[oai(status = 503)]
    Unavailable(Json<Readiness>),
}

/// Probes for load balancers and orchestrators.
pub struct SystemApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(tag = "SystemTags::System")]
impl SystemApi {
    /// Liveness: answers without touching the database.
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
            version: crate::http::version(),
        })
    }

    /// The home page (HTML; not part of the API).
    #[oai(path = "/", method = "get", hidden)]
    async fn home(&self, req: &poem::Request) -> poem_openapi::payload::Html<String> {
        poem_openapi::payload::Html(crate::http::web::home_html(&self.state, req).await)
    }

    /// Readiness: checks that the database answers.
    #[oai(path = "/ready", method = "get")]
    async fn ready(&self) -> ReadyResponse {
        match self.state.store.ping().await {
            Ok(()) => ReadyResponse::Ready(Json(Readiness {
                status: "ok".into(),
                database: "ok".into(),
            })),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                ReadyResponse::Unavailable(Json(Readiness {
                    status: "unavailable".into(),
                    database: "unavailable".into(),
                }))
            }
        }
    }
}
