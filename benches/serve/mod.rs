//! `scimap serve` started as its own process, for the benchmarks that load it and for
//! `tests/server.rs` and `tests/hostile.rs` (which include this file).

// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const TOKEN: &str = "bench";

pub struct Server {
    pub name: &'static str,
    pub host: String,
    pub base: &'static str,
    pub child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scimap serve` on a free loopback port, storing in `dir/bench.db`.
pub fn scimap(dir: &std::path::Path) -> Server {
    let (child, host) = start(&dir.join("bench.db"), TOKEN);
    Server {
        name: "scimap serve",
        host,
        base: "/scim/v2",
        child,
    }
}

/// `scimap serve` on a database file, accepting `token`; the process and its address
/// once it listens.
pub fn start(database: &std::path::Path, token: &str) -> (Child, String) {
    start_with(database, token, &[])
}

/// The same, with more flags; an empty `token` gives none (the database's tenants
/// have theirs).
pub fn start_with(database: &std::path::Path, token: &str, flags: &[&str]) -> (Child, String) {
    let tokens = if token.is_empty() {
        Vec::new()
    } else {
        vec!["--token", token]
    };
    let child = Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
        .args(tokens)
        .args(flags)
        .arg("--database")
        .arg(database)
        .stdout(Stdio::piped())
        .spawn()
        .expect("scimap serve starts");
    listening(child)
}

/// A `scimap serve` spawned with its standard output piped, and the address it
/// listens on, read from the line it prints first.
pub fn listening(mut child: Child) -> (Child, String) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .trim_start_matches("scimap serve: http://")
        .trim_end_matches("/scim/v2")
        .to_string();
    (child, address)
}

/// Python's `scim2-server` (installed by `tests/interop/setup.sh` into a virtual
/// environment under `target/`) on a free loopback port, accepting [`TOKEN`].
pub fn scim2_server() -> Server {
    let setup = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/setup.sh"
        ))
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs tests/interop/setup.sh");
    assert!(
        setup.status.success(),
        "tests/interop/setup.sh could not install scim2-server (python3 with venv and pip, and PyPI, are needed)"
    );
    let executable = String::from_utf8(setup.stdout).unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&executable)
        .args(["--port", &port.to_string(), "--bearer-token", TOKEN])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("scim2-server starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "scim2-server did not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Server {
        name: "scim2-server",
        host: format!("127.0.0.1:{port}"),
        base: "/v2",
        child,
    }
}
