//! The test-support kit: fresh databases on both backends and `spawn_app()`.
#![allow(dead_code)]

use std::sync::Arc;

use jhe_core::Config;
use jhe_core::store::MaintenanceStore;
use jhe_plugins::SeaOrmStore;
use sea_orm::{ConnectionTrait, Database, Statement};

/// The two databases every storage test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where PostgreSQL tests connect (`JHE_TEST_POSTGRES_URL`, default the local server). A test that
/// cannot connect fails: it never skips.
pub fn postgres_admin_url() -> String {
    std::env::var("JHE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, last)) if !last.contains('@') && !base.ends_with('/') => {
            format!("{base}/{name}")
        }
        _ => format!("{}/{name}", url.trim_end_matches('/')),
    }
}

/// A fresh, migrated database; dropped (PostgreSQL) or deleted (SQLite) at the end.
/// How many statements [`TestDb::statement_log`] keeps.
pub const STATEMENT_LOG: usize = 64;

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub store: SeaOrmStore,
    /// SQL statements the server's store has run so far, those on `audit_events` left out (the
    /// audit trail is written in the background): tests prove a request's query count bounded.
    pub statements: Arc<std::sync::atomic::AtomicU64>,
    /// The SQL of the last statements counted in [`statements`](Self::statements) (at most
    /// [`STATEMENT_LOG`]), for messages of tests that bound them.
    pub statement_log: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("jhe_test_{id}.db"));
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    Cleanup::File(path),
                )
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("jhe_test_{id}");
                let admin = Database::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} must answer: {e}"));
                admin
                    .execute_raw(Statement::from_string(
                        admin.get_database_backend(),
                        format!("CREATE DATABASE {name}"),
                    ))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                (
                    with_database(&admin_url, &name),
                    Cleanup::Database { admin_url, name },
                )
            }
        };
        let store = SeaOrmStore::connect(&url)
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        // Count statements through sea-orm's metric hook (on this handle and its clones).
        let statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let statement_log = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let mut connection = store.connection().clone();
        {
            let (statements, log) = (statements.clone(), statement_log.clone());
            connection.set_metric_callback(move |info| {
                if !info.statement.sql.contains("audit_events") {
                    statements.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut log = log.lock().unwrap();
                    if log.len() == STATEMENT_LOG {
                        log.pop_front();
                    }
                    log.push_back(info.statement.sql.chars().take(200).collect());
                }
            });
        }
        let store = SeaOrmStore::from_connection(connection);
        TestDb {
            backend,
            url,
            store,
            statements,
            statement_log,
            cleanup,
        }
    }

    /// A second, independent connection pool to the same database (another "replica").
    /// The SQL (first 200 characters) of the last `n` statements counted, oldest first.
    pub fn last_statements(&self, n: usize) -> Vec<String> {
        let log = self.statement_log.lock().unwrap();
        log.iter()
            .skip(log.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// SQL statements run so far (see [`TestDb::statements`]).
    pub fn statement_count(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn second_store(&self) -> SeaOrmStore {
        SeaOrmStore::connect(&self.url)
            .await
            .expect("second connection")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Database { admin_url, name } => {
                let admin_url = admin_url.clone();
                let name = name.clone();
                // Drop runs inside the test's runtime: use a separate thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(async move {
                            if let Ok(admin) = Database::connect(&admin_url).await {
                                let _ = admin
                                    .execute_raw(Statement::from_string(
                                        admin.get_database_backend(),
                                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                                    ))
                                    .await;
                                admin.close().await.ok();
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

/// A server running on a random loopback port with a fresh database.
pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    /// The server's configuration (derefs to the core `Config`; `mail.dir` holds its e-mail).
    pub config: jhe::ServerConfig,
    /// The server's audit sink (flush it before reading the audit trail).
    pub audit: Arc<dyn jhe_core::audit::AuditSink>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(handle) = self.server.take() {
            handle.abort();
        }
    }
}

/// Boots the default server on `127.0.0.1:<random>` with a fresh, migrated, empty database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], letting the test adjust the configuration first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_providers(backend, adjust, Vec::new()).await
}

/// Like [`spawn_app_with`], with more identity providers (single sign-on tests).
pub async fn spawn_app_with_providers(
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
    providers: Vec<Arc<dyn jhe_core::identity::IdentityProvider>>,
) -> TestApp {
    let db = TestDb::new(backend).await;
    let acceptor = {
        use poem::listener::Listener;
        poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind a loopback port")
    };
    let port = {
        use poem::listener::Acceptor;
        acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .expect("local port")
    };
    let address = format!("http://127.0.0.1:{port}");
    let mut config = jhe::ServerConfig {
        core: Config {
            site_url: address.clone(),
            ..Config::default()
        },
        database_url: db.url.clone(),
        bind: format!("127.0.0.1:{port}"),
        mail: jhe::plugins::MailConfig {
            smtp: None,
            dir: std::env::temp_dir().join(format!("jhe_mail_{}", uuid::Uuid::new_v4().simple())),
        },
        ..jhe::ServerConfig::default()
    };
    adjust(&mut config.core);
    let server = jhe::assemble_with_providers(config.clone(), db.store.clone(), providers)
        .expect("assemble the server");
    server.prepare().await.expect("prepare the server");
    let audit = server.state().audit.clone();
    let endpoint = server.into_endpoint();
    let handle = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await;
    });
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .expect("http client");
    TestApp {
        address,
        db,
        client,
        jar,
        config,
        audit,
        server: Some(handle),
    }
}

/// Shared handle for tests that need the store behind an `Arc<dyn Store>`.
pub fn shared(store: &SeaOrmStore) -> Arc<dyn jhe_core::store::Store> {
    Arc::new(store.clone())
}

/// Runs an async test body on SQLite and on PostgreSQL, as two test functions.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident;)+) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$body($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$body($crate::support::Backend::Postgres).await
                }
            }
        )+
    };
}

/// Boots a second server process ("replica") on the same database as `app`; returns its origin.
/// The server runs until the test ends.
pub async fn spawn_replica(app: &TestApp) -> String {
    spawn_replica_with_providers(app, Vec::new()).await
}

/// Like [`spawn_replica`], with more identity providers (as `app` was given).
pub async fn spawn_replica_with_providers(
    app: &TestApp,
    providers: Vec<Arc<dyn jhe_core::identity::IdentityProvider>>,
) -> String {
    use poem::listener::{Acceptor, Listener};
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind a loopback port");
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .expect("local port");
    let store = app.db.second_store().await;
    let server = jhe::assemble_with_providers(app.config.clone(), store, providers)
        .expect("assemble the replica");
    server.prepare().await.expect("prepare the replica");
    let endpoint = server.into_endpoint();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await;
    });
    format!("http://127.0.0.1:{port}")
}

/// The value of the `sessionid` cookie the app's client holds.
pub fn session_cookie_of(app: &TestApp) -> String {
    use reqwest::cookie::CookieStore;
    let url = app.address.parse().expect("url");
    let header = app.jar.cookies(&url).expect("cookies");
    header
        .to_str()
        .expect("ascii")
        .split(';')
        .find_map(|p| p.trim().strip_prefix("sessionid=").map(str::to_string))
        .expect("a session cookie")
}

// ---- OAuth helpers (authorization server tests) ----

/// The CSRF secret put in sessions made by [`login_session`].
pub const TEST_CSRF: &str = "test-csrf-secret-0123456789";

/// An HTTP client without cookie store that does not follow redirects (a mobile app, a script).
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The application state of a server assembled like `app`'s (same store and configuration).
pub fn state_of(app: &TestApp) -> Arc<jhe_core::AppState> {
    jhe::assemble(app.config.clone(), app.db.store.clone())
        .expect("assemble")
        .state()
        .clone()
}

/// Logs `user_id` in without the login page: a server-side session with `auth_time` and a CSRF
/// secret ([`TEST_CSRF`]). Returns the `sessionid` cookie value.
pub async fn login_session(app: &TestApp, user_id: i64) -> String {
    let state = state_of(app);
    let (key, _) = jhe_core::http::session::create(
        &state,
        Some(user_id),
        serde_json::json!({"auth_time": chrono::Utc::now().timestamp(), "csrf": TEST_CSRF}),
    )
    .await
    .expect("create a session");
    key
}

/// Boots the server and seeds the demo data.
pub async fn spawn_seeded(backend: Backend) -> TestApp {
    spawn_seeded_with(backend, |_| {}).await
}

/// Like [`spawn_seeded`], adjusting the configuration first.
pub async fn spawn_seeded_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let app = spawn_app_with(backend, adjust).await;
    jhe_core::services::seed::seed(
        &app.db.store,
        &app.config,
        false,
        &jhe_core::services::seed::NoProgress,
    )
    .await
    .expect("seed");
    app
}

/// A PKCE pair: (43-character verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    let verifier = jhe_kdf::random_token(43);
    let challenge = jhe_core::services::oauth::pkce::s256_challenge(&verifier);
    (verifier, challenge)
}

/// The seeded `JHE Admin UI` client id.
pub async fn admin_ui_client_id(app: &TestApp) -> String {
    use jhe_core::store::ClientStore;
    app.db
        .store
        .get_client_by_name(jhe_core::domain::ADMIN_UI_CLIENT_NAME)
        .await
        .unwrap()
        .expect("seeded JHE Admin UI client")
        .client_id
}

/// The portal's redirect URI.
pub fn callback_uri(app: &TestApp) -> String {
    format!("{}/auth/callback", app.address)
}

/// `GET /o/authorize/` with the session cookie and the given query pairs.
pub async fn authorize(
    app: &TestApp,
    cookie: Option<&str>,
    query: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = plain_client().get(app.url("/o/authorize/")).query(query);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", format!("sessionid={cookie}"));
    }
    request.send().await.expect("authorize request")
}

/// The query parameters of a redirect's `Location`.
pub fn location_query(response: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap();
    let url = reqwest::Url::parse(location)
        .or_else(|_| reqwest::Url::parse(&format!("http://relative{location}")))
        .unwrap();
    url.query_pairs().into_owned().collect()
}

/// `POST /o/token/` with a form; returns status, headers and JSON body.
pub async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
) -> (
    reqwest::StatusCode,
    reqwest::header::HeaderMap,
    serde_json::Value,
) {
    let response = plain_client()
        .post(app.url("/o/token/"))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.expect("JSON token response");
    (status, headers, body)
}

/// Runs the portal's authorization-code + PKCE flow for `user_id` with the `JHE Admin UI` client;
/// returns the token response.
pub async fn login_tokens(app: &TestApp, user_id: i64) -> serde_json::Value {
    let cookie = login_session(app, user_id).await;
    let client_id = admin_ui_client_id(app).await;
    let (verifier, challenge) = pkce_pair();
    let redirect_uri = callback_uri(app);
    let response = authorize(
        app,
        Some(&cookie),
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", "openid email"),
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(response.status(), 302);
    let code = location_query(&response)
        .remove("code")
        .expect("an authorization code");
    let (status, _, body) = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `GET` with a bearer token.
pub async fn bearer_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    plain_client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// A valid bearer token for `user_id` (an access token inserted directly, valid for an hour, with
/// the full role of a portal login), for API tests that are not about the OAuth flow itself.
pub async fn bearer_for(app: &TestApp, user_id: i64) -> String {
    bearer_with_scope(
        app,
        user_id,
        &jhe_core::domain::GrantedScopes::full_role().to_string(),
    )
    .await
}

/// Like [`bearer_for`], with the given scope string.
pub async fn bearer_with_scope(app: &TestApp, user_id: i64, scope: &str) -> String {
    use jhe_core::store::OAuthStore;
    let token = jhe_kdf::random_token(30);
    app.db
        .store
        .create_access_token(jhe_core::domain::NewAccessToken {
            token_hash: jhe_kdf::sha256_hex(&token),
            user_id: Some(user_id),
            application_id: None,
            expires: chrono::Utc::now() + chrono::Duration::hours(1),
            scope: scope.into(),
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await
        .expect("insert an access token");
    token
}

/// Seeded users by role, for permission matrices (ids of the seed data).
pub mod binary;

pub mod seeded {
    /// Superuser sam.
    pub const SUPERUSER: i64 = 10001;
    /// Mary: manager of 20001, 20002 and 20003 (Example Lab).
    pub const MANAGER: i64 = 10002;
    /// Megan: member of 20003.
    pub const MEMBER: i64 = 10003;
    /// Victor: viewer of 20003.
    pub const VIEWER: i64 = 10004;
    /// Mark: manager in the other branch (20004–20007), nothing in 20003.
    pub const OTHER_ORG: i64 = 10008;
    /// Peter: patient 40001 in 20003.
    pub const PATIENT: i64 = 10006;
}

/// Sends `method path` with an optional bearer token and JSON body; returns the status and the
/// JSON body (`Null` for an empty body). Fails the test on a non-JSON body.
pub async fn api_request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = plain_client().request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path} → {status}: not JSON ({e}): {text}"))
    };
    (status, json)
}

/// The callers of a permission matrix: the seeded roles and an anonymous caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// sam (10001).
    Superuser,
    /// mary (10002), manager of 20003.
    Manager,
    /// megan (10003), member of 20003.
    Member,
    /// victor (10004), viewer of 20003.
    Viewer,
    /// mark (10008), manager in the other branch.
    OtherOrg,
    /// peter (10006), patient 40001.
    Patient,
    /// No token.
    Anonymous,
}

impl Caller {
    /// Every caller, in matrix order.
    pub const ALL: [Caller; 7] = [
        Caller::Superuser,
        Caller::Manager,
        Caller::Member,
        Caller::Viewer,
        Caller::OtherOrg,
        Caller::Patient,
        Caller::Anonymous,
    ];

    /// The seeded user id (`None` for anonymous).
    pub fn user_id(self) -> Option<i64> {
        match self {
            Caller::Superuser => Some(seeded::SUPERUSER),
            Caller::Manager => Some(seeded::MANAGER),
            Caller::Member => Some(seeded::MEMBER),
            Caller::Viewer => Some(seeded::VIEWER),
            Caller::OtherOrg => Some(seeded::OTHER_ORG),
            Caller::Patient => Some(seeded::PATIENT),
            Caller::Anonymous => None,
        }
    }
}

/// Bearer tokens of every [`Caller`] of a seeded app.
pub struct CallerTokens(std::collections::HashMap<i64, String>);

impl CallerTokens {
    /// Inserts a token for each seeded role.
    pub async fn new(app: &TestApp) -> CallerTokens {
        let mut map = std::collections::HashMap::new();
        for caller in Caller::ALL {
            if let Some(uid) = caller.user_id() {
                map.insert(uid, bearer_for(app, uid).await);
            }
        }
        CallerTokens(map)
    }

    /// The caller's token (`None` for anonymous).
    pub fn of(&self, caller: Caller) -> Option<&str> {
        caller
            .user_id()
            .and_then(|uid| self.0.get(&uid))
            .map(String::as_str)
    }
}

/// The `Location` header of a redirect (empty when absent).
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A principal as the bearer layer would build it, without a token: the account with its
/// profiles (session-style authentication, full role).
pub fn principal_of(
    user: jhe_core::domain::User,
    practitioner: Option<jhe_core::domain::Practitioner>,
    patient: Option<jhe_core::domain::Patient>,
) -> jhe_core::policy::Principal {
    jhe_core::policy::Principal {
        user,
        practitioner,
        patient,
        via: jhe_core::policy::AuthMethod::Session,
        scopes: jhe_core::domain::GrantedScopes::full_role(),
    }
}

/// The access scope the standard policy issues to `principal`: the only way tests (like
/// handlers) get a non-system scope.
pub async fn scope_of(principal: &jhe_core::policy::Principal) -> jhe_core::store::AccessScope {
    jhe_core::policy::access_scope(&jhe_plugins::RbacConsentPolicy, principal).await
}
