//! The built server binary (`target/debug/examples/server`) says what is wrong before it
//! touches anything, and runs like an operator expects: `check-config`, refusals naming the
//! setting, the address, the host or the path; `--bind <port>`; request log lines; JSON logs;
//! `/metrics`; graceful shutdown on SIGTERM; the CLI's confirmations.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use jhe_core::store::MaintenanceStore;

use crate::both_backends;
use crate::support::{Backend, TestDb};

/// The server binary next to this test binary; built by `cargo test --workspace` (and by
/// `cargo build --examples`). Missing, the test fails: it never skips silently.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(format!("server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --examples` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jhe_startup_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary in `dir` with a clean environment plus `vars`.
fn command(dir: &Path, vars: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(server_binary());
    command
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "info")
        .env("JHE_MAIL_DIR", dir.join("mail"))
        .env("JHE_EXPORT_DIR", dir.join("exports"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

async fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (Output, String, String) {
    let output = command(dir, vars).args(args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// A running `serve`; stopped with SIGTERM by [`Running::terminate`].
struct Running {
    child: tokio::process::Child,
    origin: String,
    client: reqwest::Client,
}

impl Running {
    async fn start(dir: &Path, vars: &[(&str, &str)], bind: &str, origin: String) -> Running {
        let mut child = command(dir, vars)
            .args(["serve", "--bind", bind])
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(Some(status)) = child.try_wait() {
                let output = child.wait_with_output().await.unwrap();
                panic!(
                    "the server exited early with {status}:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            if let Ok(r) = client.get(format!("{origin}/health")).send().await
                && r.status().is_success()
            {
                return Running {
                    child,
                    origin,
                    client,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server never answered /health");
    }

    /// SIGTERM; the exit status and everything logged.
    async fn terminate(self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = tokio::time::timeout(Duration::from_secs(60), self.child.wait_with_output())
            .await
            .expect("the server stops after SIGTERM")
            .unwrap();
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_masks_secrets_and_lists_every_problem() {
    let dir = scratch_dir();
    let (output, stdout, stderr) = run(
        &dir,
        &[
            ("DATABASE_URL", "postgres://jhe:pw-qzx@127.0.0.1:1/jhe"),
            ("SECRET_KEY", "key-qzx-key-qzx-key-qzx"),
            ("OIDC_RSA_PRIVATE_KEY", "not a pem qzx"),
            ("SMTP_HOST", "smtp.example.org"),
            ("SMTP_PORT", "abc"),
            ("SMTP_PASSWORD", "smtp-qzx"),
            ("JHE_BIND", "nowhere"),
            ("JHE_METRICS_TOKEN", "metrics-qzx-metrics-qzx"),
        ],
        &["check-config"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(!stdout.contains("qzx"), "{stdout}");
    assert!(!stderr.contains("qzx"), "{stderr}");
    assert!(
        stdout.contains("DATABASE_URL=postgres://jhe:***@127.0.0.1:1/jhe"),
        "{stdout}"
    );
    assert!(stdout.contains("SMTP_HOST=smtp.example.org"), "{stdout}");
    for problem in ["OIDC_RSA_PRIVATE_KEY", "SMTP_PORT", "JHE_BIND"] {
        assert!(
            stdout.contains(&format!("  - {problem}"))
                || stdout.contains(&format!("  - invalid value for {problem}")),
            "{problem} missing:\n{stdout}"
        );
    }

    // A good configuration: exit 0, no database touched.
    let db_file = dir.join("fine.db");
    let url = format!("sqlite://{}?mode=rwc", db_file.display());
    let (output, stdout, _) = run(&dir, &[("DATABASE_URL", &url)], &["check-config"]).await;
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("No problems found."), "{stdout}");
    assert!(!db_file.exists(), "check-config created the database");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signing_key_is_refused_before_the_database() {
    let dir = scratch_dir();
    let db_file = dir.join("jhe.db");
    let url = format!("sqlite://{}?mode=rwc", db_file.display());
    let (output, _, stderr) = run(
        &dir,
        &[("DATABASE_URL", &url), ("OIDC_RSA_PRIVATE_KEY", "garbage")],
        &["serve", "--bind", &format!("127.0.0.1:{}", free_port())],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("OIDC_RSA_PRIVATE_KEY"), "{stderr}");
    assert!(
        !db_file.exists(),
        "the database was created before the refusal"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_port_is_named_before_the_database_is_created() {
    let dir = scratch_dir();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let db_file = dir.join("jhe.db");
    let url = format!("sqlite://{}?mode=rwc", db_file.display());
    let (output, _, stderr) = run(
        &dir,
        &[("DATABASE_URL", &url)],
        &["serve", "--bind", &address],
    )
    .await;
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(!db_file.exists(), "the database was created before binding");
    drop(busy);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_names_the_host_and_the_reason() {
    let dir = scratch_dir();
    let port = free_port();
    let url = format!("postgres://jhe:pw-qzx@127.0.0.1:{port}/jhe");
    let (output, _, stderr) = run(&dir, &[("DATABASE_URL", &url)], &["migrate"]).await;
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(!stderr.contains("pw-qzx"), "{stderr}");
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sqlite_directory_is_named() {
    let dir = scratch_dir();
    let missing = dir.join("no").join("such").join("dir");
    let url = format!("sqlite://{}/jhe.db?mode=rwc", missing.display());
    let (output, _, stderr) = run(&dir, &[("DATABASE_URL", &url)], &["migrate"]).await;
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("No such file or directory"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_needs_no_database() {
    let dir = scratch_dir();
    let (output, stdout, stderr) = run(
        &dir,
        &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
        &["openapi"],
    )
    .await;
    assert!(output.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_superuser_checks_the_address_first() {
    let dir = scratch_dir();
    let db_file = dir.join("jhe.db");
    let url = format!("sqlite://{}?mode=rwc", db_file.display());
    let (output, _, stderr) = run(
        &dir,
        &[
            ("DATABASE_URL", &url),
            ("JHE_SUPERUSER_PASSWORD", "a-long-password-1"),
        ],
        &["create-superuser", "--email", "notanemail"],
    )
    .await;
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("\"notanemail\" is not an e-mail address"),
        "{stderr}"
    );
    assert!(!db_file.exists());
    std::fs::remove_dir_all(&dir).ok();
}

both_backends! {
    seed_flush_needs_confirmation => seed_flush_needs_confirmation;
    serve_logs_requests_and_stops_gracefully => serve_logs_requests_and_stops_gracefully;
}

async fn seed_flush_needs_confirmation(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = scratch_dir();
    let vars = [("DATABASE_URL", db.url.as_str())];
    let (output, _, stderr) = run(&dir, &vars, &["seed", "--flush"]).await;
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(db.store.is_empty().await.unwrap(), "nothing may change");
    let (output, _, stderr) = run(&dir, &vars, &["seed", "--flush", "--yes"]).await;
    assert!(output.status.success(), "{stderr}");
    assert!(!db.store.is_empty().await.unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

/// `--bind <port>`, one JSON log line per request with its id and without the query string,
/// `/metrics` behind its token, and a clean exit on SIGTERM.
async fn serve_logs_requests_and_stops_gracefully(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = scratch_dir();
    let port = free_port();
    let token = "scrape-token-0123456789";
    let vars = [
        ("DATABASE_URL", db.url.as_str()),
        ("JHE_LOG_FORMAT", "json"),
        ("JHE_METRICS", "on"),
        ("JHE_METRICS_TOKEN", token),
        ("JHE_SHUTDOWN_TIMEOUT_SECS", "5"),
    ];
    let origin = format!("http://127.0.0.1:{port}");
    let server = Running::start(&dir, &vars, &port.to_string(), origin.clone()).await;
    let response = server
        .client
        .get(format!("{}/health?token=secret-qzx", server.origin))
        .header("X-Request-Id", "req-startup-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-startup-42");

    let metrics = format!("{}/metrics", server.origin);
    assert_eq!(
        server.client.get(&metrics).send().await.unwrap().status(),
        401
    );
    let scrape = server
        .client
        .get(&metrics)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(text.contains("jhe_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/health\""), "{text}");
    assert!(
        text.contains("jhe_http_request_duration_seconds_bucket"),
        "{text}"
    );

    let (status, log) = server.terminate().await;
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(!log.contains("secret-qzx"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a non-terminal log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["fields"]["request_id"] == "req-startup-42")
        .unwrap_or_else(|| panic!("no request line:\n{log}"));
    assert_eq!(request["fields"]["method"], "GET");
    assert_eq!(request["fields"]["path"], "/health");
    assert_eq!(request["fields"]["status"], 200);
    assert!(request["fields"]["duration_ms"].is_number());
    assert!(
        lines.iter().any(|l| l["fields"]["site"] == origin.as_str()),
        "SITE_URL follows --bind {port}:\n{log}"
    );
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    std::fs::remove_dir_all(&dir).ok();
}
