//! `scimap serve --tls-cert --tls-key`: HTTPS with a certificate made here, a renewed
//! certificate served after SIGHUP without a restart, and certificates that cannot be
//! served refused with a message that says why.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Pair {
    certificate: String,
    key: String,
}

/// A self-signed certificate for 127.0.0.1, valid from `from` days ago to `until` days
/// from now.
fn pair(from: i64, until: i64) -> Pair {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(from);
    params.not_after = now + time::Duration::days(until);
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    Pair {
        certificate: certificate.pem(),
        key: key.serialize_pem(),
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("scimap-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, pair: &Pair) -> (PathBuf, PathBuf) {
        let (certificate, key) = (self.0.join("cert.pem"), self.0.join("key.pem"));
        std::fs::write(&certificate, &pair.certificate).unwrap();
        std::fs::write(&key, &pair.key).unwrap();
        (certificate, key)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, certificate: &Path, key: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimap"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "t",
            "--quiet",
        ])
        .arg("--database")
        .arg(dir.join("scim.db"))
        .arg("--tls-cert")
        .arg(certificate)
        .arg("--tls-key")
        .arg(key);
    command
}

/// The server started, and the base URL it prints.
fn start(dir: &Path, certificate: &Path, key: &Path) -> (Server, String) {
    let mut child = serve(dir, certificate, key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("scimap serve: ").to_string();
    (Server(child), url)
}

/// A client that trusts only `pair`'s certificate.
fn trusting(pair: &Pair) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(pair.certificate.as_bytes()).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .build()
        .unwrap()
}

async fn users(client: &reqwest::Client, url: &str) -> Result<u16, reqwest::Error> {
    let response = client
        .get(format!("{url}/Users"))
        .bearer_auth("t")
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// Whether the server presents `pair`'s certificate, tried until `limit` has passed.
async fn served_within(pair: &Pair, url: &str, limit: Duration) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if users(&trusting(pair), url).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn hangup(server: &Server) {
    let sent = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[tokio::test]
async fn https_and_a_renewed_certificate_without_a_restart() {
    let dir = Dir::new("renew");
    let (first, second) = (pair(1, 30), pair(1, 90));
    let (certificate, key) = dir.write(&first);
    let (server, url) = start(&dir.0, &certificate, &key);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(users(&trusting(&first), &url).await.unwrap(), 200);
    // Plain HTTP to the HTTPS port gets no SCIM answer.
    let plain = url.replacen("https://", "http://", 1);
    assert!(users(&reqwest::Client::new(), &plain).await.is_err());

    // A renewed certificate: written over the old one, then SIGHUP.
    dir.write(&second);
    hangup(&server);
    assert!(
        served_within(&second, &url, Duration::from_secs(5)).await,
        "the renewed certificate is served"
    );
    assert!(users(&trusting(&first), &url).await.is_err());

    // A renewal that cannot be read leaves the certificate served so far in place.
    std::fs::write(&certificate, "not a certificate").unwrap();
    hangup(&server);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(users(&trusting(&second), &url).await.unwrap(), 200);
}

/// A renewal written over the files (as certbot or a Kubernetes secret does) is served
/// without a signal: the files are looked at every 10 seconds.
#[tokio::test]
async fn a_renewed_certificate_is_noticed_without_a_signal() {
    let dir = Dir::new("poll");
    let (first, second) = (pair(1, 30), pair(1, 90));
    let (certificate, key) = dir.write(&first);
    let (_server, url) = start(&dir.0, &certificate, &key);
    assert_eq!(users(&trusting(&first), &url).await.unwrap(), 200);
    // A later modification time than the first files', whatever the file system's
    // time resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    dir.write(&second);
    assert!(
        served_within(&second, &url, Duration::from_secs(30)).await,
        "the renewed certificate is served within 30 s"
    );
    assert!(users(&trusting(&first), &url).await.is_err());
}

#[test]
fn certificates_that_cannot_be_served_are_refused() {
    let dir = Dir::new("refused");
    let (good, other) = (pair(1, 30), pair(1, 30));
    let refused = |certificate: &Path, key: &Path| {
        let out = serve(&dir.0, certificate, key).output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        String::from_utf8(out.stderr).unwrap()
    };
    let (certificate, key) = dir.write(&good);
    std::fs::write(dir.0.join("other.key"), &other.key).unwrap();
    let stderr = refused(&certificate, &dir.0.join("other.key"));
    assert!(
        stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );

    let stderr = refused(&dir.0.join("missing.pem"), &key);
    assert!(stderr.contains("cannot read the certificate"), "{stderr}");
    assert!(stderr.contains("missing.pem"), "{stderr}");

    let (certificate, key) = dir.write(&pair(60, -1));
    let stderr = refused(&certificate, &key);
    assert!(stderr.contains("expired at"), "{stderr}");

    let (certificate, key) = dir.write(&pair(-2, 30));
    let stderr = refused(&certificate, &key);
    assert!(stderr.contains("is not valid before"), "{stderr}");
}
