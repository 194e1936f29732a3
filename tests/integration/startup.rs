//! The built server binary (`target/debug/examples/server`) says what is wrong before it
//! touches anything, and runs like an operator expects: `check-config`, refusals naming the
//! setting, the address, the host or the path; `--bind <port>`; request log lines; JSON logs;
//! `/metrics`; graceful shutdown on SIGTERM; the CLI's confirmations.

use std::path::Path;
use std::time::Duration;

use jhe_core::store::MaintenanceStore;

use crate::both_backends;
use crate::support::binary::{command, free_port, run, scratch_dir};
use crate::support::{Backend, TestDb};

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

/// `server --help` describes every command with its own text (a misplaced doc comment once
/// gave `export-study` the MCP description and `mcp` none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_describes_every_command() {
    let dir = scratch_dir();
    let (output, stdout, stderr) = run(&dir, &[], &["--help"]).await;
    assert!(output.status.success(), "{stderr}");
    let commands: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(commands.len() >= 10, "{stdout}");
    for line in &commands {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap();
        assert!(
            words.next().is_some(),
            "`{name}` has no description:\n{stdout}"
        );
    }
    let about = |name: &str| {
        commands
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no `{name}` in:\n{stdout}"))
            .to_string()
    };
    assert!(
        about("export-study").contains("Exports a study"),
        "{stdout}"
    );
    assert!(!about("export-study").contains("MCP"), "{stdout}");
    assert!(about("mcp").contains("MCP"), "{stdout}");
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
    sigterm_lets_a_request_in_flight_finish => sigterm_lets_a_request_in_flight_finish;
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

/// Starts `POST /fhir/r5/Observation` on a raw connection with `Expect: 100-continue` and
/// returns once the server answered `100 Continue`, i.e. the handler runs and waits for the
/// body (the request is in flight). Nothing of the body is sent yet.
async fn start_upload(port: u16, token: &str, body_len: usize) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST /fhir/r5/Observation HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/fhir+json\r\n\
         Content-Length: {body_len}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte))
            .await
            .expect("the server answers 100 Continue")
            .unwrap();
        assert_eq!(n, 1, "the connection closed before 100 Continue");
        interim.push(byte[0]);
    }
    let interim = String::from_utf8_lossy(&interim).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream
}

/// Graceful shutdown with a request in flight: an upload whose body is still coming when
/// SIGTERM arrives gets its normal answer (201, stored); once the signal is handled new
/// connections are refused; a request that never finishes does not keep the process beyond
/// `JHE_SHUTDOWN_TIMEOUT_SECS`, and it exits cleanly.
async fn sigterm_lets_a_request_in_flight_finish(backend: Backend) {
    use jhe_core::store::OAuthStore;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::new(backend).await;
    let dir = scratch_dir();
    let port = free_port();
    let deadline_secs = 8;
    let deadline = deadline_secs.to_string();
    let vars = [
        ("DATABASE_URL", db.url.as_str()),
        ("JHE_SEED_ON_EMPTY", "true"),
        ("JHE_SHUTDOWN_TIMEOUT_SECS", deadline.as_str()),
    ];
    let origin = format!("http://127.0.0.1:{port}");
    let server = Running::start(&dir, &vars, &port.to_string(), origin).await;
    // Peter (seeded patient 40001) uploads a heart rate from data source 70001.
    let token = jhe_kdf::random_token(30);
    db.store
        .create_access_token(jhe_core::domain::NewAccessToken {
            token_hash: jhe_kdf::sha256_hex(&token),
            user_id: Some(crate::support::seeded::PATIENT),
            application_id: None,
            expires: chrono::Utc::now() + chrono::Duration::hours(1),
            scope: jhe_core::domain::GrantedScopes::full_role().to_string(),
            source_refresh_token_id: None,
            id_token_jti: None,
        })
        .await
        .unwrap();
    let payload = crate::fhir_upload::heart_rate_bytes(72, "2025-04-01T08:00:00Z");
    let body = crate::fhir_upload::observation(
        40001,
        70001,
        jhe_core::domain::OMH_SYSTEM,
        crate::fhir_upload::HR,
        &payload,
    )
    .to_string()
    .into_bytes();
    let (first, rest) = body.split_at(body.len() / 2);

    // Two uploads in flight: one that will finish, one whose client never sends its body.
    let mut slow = start_upload(port, &token, body.len()).await;
    let mut stuck = start_upload(port, &token, body.len()).await;
    slow.write_all(first).await.unwrap();
    stuck.write_all(first).await.unwrap();

    let pid = server.child.id().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The listener closes: new connections are refused.
    let mut refused = false;
    for _ in 0..600 {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            // Caught in the backlog as the listener closes: reset; the next attempt is refused.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connecting after SIGTERM: {e}"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(
        refused,
        "the server still accepts connections after SIGTERM"
    );

    // The upload in flight completes with its normal answer.
    slow.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut answer))
        .await
        .expect("the request in flight is answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the upload in flight must be answered normally:\n{answer}"
    );
    assert!(
        answer.contains("\"resourceType\":\"Observation\""),
        "{answer}"
    );

    // The stuck one does not hold the process beyond the deadline; the exit is clean.
    let output = tokio::time::timeout(
        Duration::from_secs(deadline_secs + 60),
        server.child.wait_with_output(),
    )
    .await
    .expect("the server exits once the shutdown deadline has passed")
    .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "exit {}:\n{log}", output.status);
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    // The stuck request got no answer (its connection was dropped at the deadline).
    let mut leftover = Vec::new();
    let _ = stuck.read_to_end(&mut leftover).await;
    assert!(
        !String::from_utf8_lossy(&leftover).contains("HTTP/1.1 201"),
        "the incomplete upload cannot have been stored"
    );
    std::fs::remove_dir_all(&dir).ok();
}
