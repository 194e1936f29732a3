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
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub store: SeaOrmStore,
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
        TestDb {
            backend,
            url,
            store,
            cleanup,
        }
    }

    /// A second, independent connection pool to the same database (another "replica").
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
    pub config: Config,
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
    let mut config = Config {
        database_url: db.url.clone(),
        site_url: address.clone(),
        bind: format!("127.0.0.1:{port}"),
        mail_dir: std::env::temp_dir().join(format!("jhe_mail_{}", uuid::Uuid::new_v4().simple())),
        ..Config::default()
    };
    adjust(&mut config);
    let server = jhe::assemble(config.clone(), db.store.clone()).expect("assemble the server");
    server.prepare().await.expect("prepare the server");
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
    let server = jhe::assemble(app.config.clone(), store).expect("assemble the replica");
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
