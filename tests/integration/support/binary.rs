//! The built default server (`target/<profile>/examples/server`), run as an operator would:
//! in a scratch directory, with a clean environment plus the variables a test gives.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// The server binary next to this test binary; built by `cargo test --workspace` (and by
/// `cargo build --examples`). Missing, the calling test fails: it never skips silently.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("examples")
        .join(format!("server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --examples` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A new empty directory under the system's temporary directory.
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jhe_cli_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary in `dir` with a clean environment (`PATH`, `RUST_LOG=info`, mail and export
/// directories inside `dir`) plus `vars`; output captured, killed when dropped.
pub fn command(dir: &Path, vars: &[(&str, &str)]) -> tokio::process::Command {
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

/// Runs the binary with `args` to its end: the output, stdout and stderr as text.
pub async fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (Output, String, String) {
    let output = command(dir, vars).args(args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}
