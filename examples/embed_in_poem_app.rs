//! How an integrator embeds the Exchange in their own poem application: the whole server
//! (Admin API, FHIR, OAuth, portal) **nested under `/jhe`**, next to the application's own
//! pages, with the application's own documented API added to the Exchange's OpenAPI document.
//!
//! ```text
//! cargo run --example embed_in_poem_app
//! # then: http://127.0.0.1:8000/           (the application's page)
//! #       http://127.0.0.1:8000/jhe/portal/ (the Exchange's portal)
//! #       http://127.0.0.1:8000/jhe/api/docs (the API, with GET /clinic/opening-hours)
//! ```
//!
//! The one rule of a path prefix: `SITE_URL` is the public URL **including** the prefix
//! (`http://127.0.0.1:8000/jhe` here), because the OAuth issuer, the redirect URIs of the
//! seeded clients and the links in e-mails are built from it. Links, redirects, FHIR `Bundle`
//! links and `Location` headers of requests take the prefix from where the server is mounted.
//!
//! Environment: `DATABASE_URL` (default `sqlite://jhe_embedded.db?mode=rwc`), `JHE_BIND`
//! (default `127.0.0.1:8000`), and the Exchange's own settings (`SECRET_KEY`, …); `SITE_URL`
//! defaults to `http://<JHE_BIND>/jhe`.

use std::sync::Arc;

use jhe::core::{AppState, BuildError, Config, JheServer};
use jhe::plugins::{AttachmentFormat, OmhFormat, PasswordIdp, RbacConsentPolicy, SeaOrmStore};
use jhe::poem::web::{Data, Html};
use jhe::poem::{Route, handler};
// The derive macros of poem-openapi name the crate `poem_openapi`: this import lets them use the
// re-exported one (or depend on `poem-openapi` directly, at the same version).
use jhe::poem_openapi;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

/// Where the Exchange is mounted in the application.
pub const PREFIX: &str = "/jhe";

/// The opening hours of the clinic (an answer of the application's own API).
#[derive(Debug, Clone, Object)]
pub struct OpeningHours {
    /// Weekdays, e.g. `Mon-Fri`.
    pub days: String,
    /// Local opening time, `HH:MM`.
    pub opens: String,
    /// Local closing time, `HH:MM`.
    pub closes: String,
    /// Version of the Exchange serving the request (`vX.Y.Z`).
    pub exchange_version: String,
}

/// The application's own documented API, served by the Exchange next to its Admin API (same
/// error mapping) and listed in the same OpenAPI document (`/jhe/api/schema/openapi.json`).
#[derive(Debug, Clone, Default)]
pub struct ClinicApi;

/// The application's own API.
#[OpenApi]
impl ClinicApi {
    /// When the clinic is open. Public: no token needed.
    #[oai(path = "/clinic/opening-hours", method = "get")]
    async fn opening_hours(&self) -> Json<OpeningHours> {
        Json(OpeningHours {
            days: "Mon-Fri".into(),
            opens: "08:00".into(),
            closes: "17:00".into(),
            exchange_version: jhe::core::http::version(),
        })
    }
}

/// A plain (undocumented) route added inside the Exchange through the builder: it sees the
/// server's state, here to name the site.
#[handler]
fn whoami(state: Data<&Arc<AppState>>) -> String {
    format!("served by the Exchange at {}", state.config.site_url)
}

/// The application's own home page, outside the Exchange.
#[handler]
fn home() -> Html<String> {
    Html(format!(
        "<h1>Example Clinic</h1><p><a href=\"{PREFIX}/portal/\">Data portal</a> · \
         <a href=\"{PREFIX}/api/docs\">API</a></p>"
    ))
}

/// The Exchange with the standard plug-ins, the clinic's API and one plain route.
///
/// # Errors
/// A missing part ([`BuildError`]); never here, since every part is given.
pub fn exchange(
    config: Config,
    store: SeaOrmStore,
) -> Result<JheServer<impl OpenApi + Clone + Send + Sync + 'static>, BuildError> {
    JheServer::builder()
        .config(config)
        .store(store)
        .policy(RbacConsentPolicy)
        .data_format(OmhFormat::bundled())
        .data_format(AttachmentFormat::default())
        .identity_provider(PasswordIdp)
        .api(ClinicApi)
        .routes(|route| route.at("/clinic/whoami", whoami))
        .build()
}

/// The whole application: its own page at `/`, the Exchange under [`PREFIX`].
pub fn application(server: JheServer<impl OpenApi + Clone + Send + Sync + 'static>) -> Route {
    Route::new()
        .at("/", home)
        .nest(PREFIX, server.into_endpoint())
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let bind = std::env::var("JHE_BIND").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let mut config = Config::from_env()?;
    if std::env::var("SITE_URL").is_err() {
        config.site_url = format!("http://{bind}{PREFIX}");
    }
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://jhe_embedded.db?mode=rwc".into());
    let store = SeaOrmStore::connect(&database_url).await?;
    use jhe::core::store::MaintenanceStore;
    store.migrate().await?;
    let server = exchange(config, store)?;
    // Optional: prepare now to fail at start-up (the endpoint would do it on its first request).
    server.prepare().await?;
    tracing::info!(%bind, "the clinic at /, the Exchange at {PREFIX}/");
    jhe::poem::Server::new(jhe::poem::listener::TcpListener::bind(bind))
        .run(application(server))
        .await?;
    Ok(())
}
