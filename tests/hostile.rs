//! `scimap serve` as a hostile client with a valid token meets it: input nested or
//! chained past every limit, bad encodings, oversized requests, slow and idle
//! connections, heavy requests beside small ones, and a handler that panics. The
//! server answers each with a SCIM error (or closes the connection), keeps serving, and
//! the data written before the suite is there afterwards, unchanged.

#[path = "../benches/serve/mod.rs"]
mod serve;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};

const TOKEN: &str = "hostile";

/// Generous bounds for a read, so that a server that never answers fails the test
/// instead of hanging it. Nothing here asserts how fast anything is.
const PATIENCE: Duration = Duration::from_secs(60);

struct Server {
    child: std::process::Child,
    address: String,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server(name: &str, flags: &[&str]) -> Server {
    let dir = std::env::temp_dir().join(format!("scimap-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (child, address) = serve::start_with(&dir.join("scim.db"), TOKEN, flags);
    Server {
        child,
        address,
        _dir: TempDir(dir),
    }
}

struct Answer {
    status: u16,
    head: String,
    body: Json,
}

/// Writes raw bytes on a new connection and reads the whole answer (the request
/// should say `Connection: close`).
fn raw(address: &str, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    parse(&response)
}

fn parse(response: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer {
        status,
        head: head.to_string(),
        body: serde_json::from_str(body).unwrap_or(Json::Null),
    }
}

fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "{method} /scim/v2{path} HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn call(address: &str, method: &str, path: &str, body: Option<&Json>) -> Answer {
    let body = body.map(Json::to_string).unwrap_or_default();
    raw(
        address,
        &request(method, path, "application/scim+json", body.as_bytes()),
    )
}

/// `text` percent-encoded for a query string.
fn query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn expect_error(answer: &Answer, status: u16, words: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert!(
        answer.body["schemas"][0]
            .as_str()
            .is_some_and(|s| s.ends_with(":Error")),
        "{what}: a SCIM error, not {}",
        answer.body
    );
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(words), "{what}: {detail}");
}

fn user(name: &str) -> Json {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
           "name": {"givenName": "Given", "familyName": "Family"},
           "emails": [{"type": "work", "value": name, "primary": true}]})
}

/// Every user and group as the server shows them.
fn everything(address: &str) -> (Json, Json) {
    let users = call(address, "GET", "/Users?count=1000", None);
    let groups = call(address, "GET", "/Groups?count=1000", None);
    assert_eq!((users.status, groups.status), (200, 200));
    (users.body, groups.body)
}

/// Seeds users and a group, runs every hostile step against the same process, and
/// checks at the end that the seed is untouched and the server still answers.
#[test]
fn hostile_clients_cannot_crash_stall_or_corrupt_the_server() {
    let server = server(
        "main",
        &[
            "--public-url",
            "https://scim.example.com/",
            "--header-timeout",
            "1s",
            "--idle-timeout",
            "2s",
            "--body-timeout",
            "1s",
        ],
    );
    let address = server.address.as_str();
    let mut ids = Vec::new();
    for name in ["ann@contoso.com", "bob@contoso.com", "cy@contoso.com"] {
        let made = call(address, "POST", "/Users", Some(&user(name)));
        assert_eq!(made.status, 201, "{}", made.body);
        ids.push(made.body["id"].as_str().unwrap().to_string());
    }
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Seed",
                       "members": ids.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()});
    assert_eq!(call(address, "POST", "/Groups", Some(&group)).status, 201);
    let before = everything(address);

    urls_come_from_the_public_url(address);
    depth(address, &ids[0]);
    length(address);
    encodings(address);
    sizes(address);
    slow_clients(address);

    assert_eq!(
        everything(address),
        before,
        "the data written before the suite is unchanged"
    );
}

fn urls_come_from_the_public_url(address: &str) {
    let answer = call(address, "GET", "/Users?count=1", None);
    let location = answer.body["Resources"][0]["meta"]["location"]
        .as_str()
        .unwrap();
    assert!(
        location.starts_with("https://scim.example.com/scim/v2/Users/"),
        "{location}"
    );
    let made = call(address, "POST", "/Users", Some(&user("where@contoso.com")));
    assert!(
        made.head
            .contains("location: https://scim.example.com/scim/v2/Users/"),
        "{}",
        made.head
    );
    let id = made.body["id"].as_str().unwrap();
    assert_eq!(
        call(address, "DELETE", &format!("/Users/{id}"), None).status,
        204
    );
}

fn depth(address: &str, id: &str) {
    let get = |parameter: &str, text: &str| {
        let uri = format!("/Users?{parameter}={}", query(text));
        call(address, "GET", &uri, None)
    };
    let nested = |n: usize| format!("{}userName eq \"x\"{}", "(".repeat(n), ")".repeat(n));
    for n in [65, 420, 2_850, 20_000] {
        if n < 20_000 {
            // (Longer request lines are refused by the HTTP layer with 414.)
            expect_error(
                &get("filter", &nested(n)),
                400,
                "64 levels",
                &format!("filter nested {n} deep"),
            );
        }
        let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": nested(n)});
        let answer = call(address, "POST", "/Users/.search", Some(&search));
        expect_error(&answer, 400, "64 levels", "the same through .search");
    }
    let not = format!(
        "{}userName eq \"x\"{}",
        "not (".repeat(3_000),
        ")".repeat(3_000)
    );
    expect_error(&get("filter", &not), 400, "64 levels", "not ( nesting");
    let sort = format!(
        "emails[{}type eq \"work\"{}].value",
        "(".repeat(3_000),
        ")".repeat(3_000)
    );
    expect_error(&get("sortBy", &sort), 400, "64 levels", "sortBy");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": sort, "value": "x"}]});
    let answer = call(address, "PATCH", &format!("/Users/{id}"), Some(&patch));
    expect_error(&answer, 400, "64 levels", "PATCH path");
    let attributes = "(".repeat(3_000);
    expect_error(
        &get("attributes", &attributes),
        400,
        "64 levels",
        "attributes",
    );
    let deep_value = (0..100).fold(json!("x"), |inner, _| json!([inner]));
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "nickName", "value": deep_value}]});
    let answer = call(address, "PATCH", &format!("/Users/{id}"), Some(&patch));
    expect_error(&answer, 400, "nests more than 64", "PATCH value");
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                      "Operations": [{"method": "POST", "path": "/Users", "data": {"userName": deep_value}}]});
    let answer = call(address, "POST", "/Bulk", Some(&bulk));
    expect_error(&answer, 400, "nests more than 64", "Bulk data");
    // Deeper than serde_json itself reads: a syntax error, not a crash.
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let answer = raw(
        address,
        &request("POST", "/Users", "application/scim+json", text.as_bytes()),
    );
    expect_error(&answer, 400, "not valid JSON", "JSON nested 100,000 deep");
}

fn length(address: &str) {
    let chain = |n: usize| vec!["userName eq \"x\""; n].join(" or ");
    let search = |n: usize| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": chain(n)});
    let answer = call(address, "POST", "/Users/.search", Some(&search(10_000)));
    expect_error(&answer, 400, "1000 terms", "10,000 or-ed terms");
    let answer = call(address, "POST", "/Users/.search", Some(&search(1_000)));
    assert_eq!(
        answer.status, 200,
        "1,000 terms are within the limit: {}",
        answer.body
    );
    let ands = vec!["userName pr"; 1_000].join(" and ");
    let answer = call(
        address,
        "GET",
        &format!("/Users?filter={}", query(&ands)),
        None,
    );
    assert_eq!(answer.body["totalResults"], 3, "a long and chain evaluates");
}

fn encodings(address: &str) {
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                      "Operations": [{"method": "POST", "path": "/abcdé", "data": {}},
                                     {"method": "POST", "path": "/Useré", "data": {}},
                                     {"method": "POST", "path": "/Users", "bulkId": "é", "data": user("dé@contoso.com")},
                                     {"method": "DELETE", "path": "/Users/bulkId:é"}]});
    let answer = call(address, "POST", "/Bulk", Some(&bulk));
    let statuses: Vec<&str> = answer.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["400", "400", "201", "204"], "{}", answer.body);
    let not_utf8 = raw(
        address,
        &request(
            "POST",
            "/Users",
            "application/scim+json",
            b"{\"userName\": \"\xff\xfe\"}",
        ),
    );
    expect_error(&not_utf8, 400, "not valid JSON", "a body that is not UTF-8");
    let answer = call(
        address,
        "GET",
        "/Users?filter=userName%20eq%20%22%FF%FE%22",
        None,
    );
    assert_eq!(
        answer.status, 200,
        "bytes that are not UTF-8 in a query: {}",
        answer.body
    );
    let mut bad_token = b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n".to_vec();
    assert_eq!(raw(address, &bad_token).status, 401);
    bad_token = b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: BEARER hostile\r\nConnection: close\r\n\r\n".to_vec();
    assert_eq!(
        raw(address, &bad_token).status,
        200,
        "the scheme is matched without case"
    );
    let answer = raw(
        address,
        &request(
            "POST",
            "/Users",
            "text/plain",
            user("t@x").to_string().as_bytes(),
        ),
    );
    expect_error(
        &answer,
        415,
        "application/scim+json",
        "a body that is not JSON by its type",
    );
    let answer = raw(
        address,
        &request(
            "POST",
            "/Users",
            "application/json; charset=utf-8",
            user("json@contoso.com").to_string().as_bytes(),
        ),
    );
    assert_eq!(
        answer.status, 201,
        "application/json with a charset: {}",
        answer.body
    );
    let id = answer.body["id"].as_str().unwrap();
    assert_eq!(
        call(address, "DELETE", &format!("/Users/{id}"), None).status,
        204
    );
}

fn sizes(address: &str) {
    let members: Vec<Json> = (0..10_001)
        .map(|i| json!({"value": format!("m{i}")}))
        .collect();
    let group = call(address, "GET", "/Groups", None).body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "add", "path": "members", "value": members}]});
    let answer = call(address, "PATCH", &format!("/Groups/{group}"), Some(&patch));
    expect_error(&answer, 413, "10000", "10,001 values in one operation");
    let op = json!({"op": "replace", "path": "displayName", "value": "x"});
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": vec![op; 1_001]});
    let answer = call(address, "PATCH", &format!("/Groups/{group}"), Some(&patch));
    expect_error(&answer, 413, "1000", "1,001 operations");
    let op = json!({"method": "DELETE", "path": "/Users/none"});
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": vec![op; 1_001]});
    let answer = call(address, "POST", "/Bulk", Some(&bulk));
    expect_error(&answer, 413, "1000", "1,001 bulk operations");
    let big = format!("{{\"userName\": \"{}\"}}", "x".repeat(2 << 20));
    let answer = raw(
        address,
        &request("POST", "/Users", "application/scim+json", big.as_bytes()),
    );
    expect_error(&answer, 413, "larger than", "a body over the limit");
}

/// Reads until the server closes the connection; what it sent on the way.
fn until_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return seen,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return seen,
            Err(e) => panic!("{what}: the server kept the connection open past {PATIENCE:?}: {e}"),
        }
    }
}

fn slow_clients(address: &str) {
    // Says nothing at all.
    let mut idle = TcpStream::connect(address).unwrap();
    assert!(until_closed(&mut idle, "silent").is_empty());
    // Sends its head a byte at a time, never finishing (slowloris).
    let mut slow = TcpStream::connect(address).unwrap();
    let writer = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Slow: "
                .iter()
                .cycle()
            {
                if slow.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    until_closed(&mut slow, "slowloris");
    writer.join().unwrap();
    // One request on a kept-alive connection, then silence.
    let mut kept = TcpStream::connect(address).unwrap();
    write!(kept, "GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").unwrap();
    let seen = until_closed(&mut kept, "kept alive");
    assert_eq!(parse(&seen).status, 200, "answered, then closed when idle");
    // A body that never arrives whole.
    let mut partial = TcpStream::connect(address).unwrap();
    write!(partial, "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{\"user").unwrap();
    let seen = until_closed(&mut partial, "partial body");
    assert_eq!(parse(&seen).status, 408);
}

#[test]
fn connections_past_the_limit_wait_for_a_free_one() {
    let server = server(
        "connections",
        &["--max-connections", "4", "--idle-timeout", "2s"],
    );
    let address = server.address.as_str();
    let closed = Arc::new(AtomicUsize::new(0));
    let holders: Vec<_> = (0..4)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            let closed = closed.clone();
            std::thread::spawn(move || {
                until_closed(&mut stream, "holder");
                closed.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // Let the four be accepted before the fifth comes.
    std::thread::sleep(Duration::from_millis(300));
    let answer = call(address, "GET", "/ServiceProviderConfig", None);
    assert_eq!(answer.status, 200);
    assert!(
        closed.load(Ordering::SeqCst) >= 1,
        "the fifth connection was served only once an idle one was closed"
    );
    for holder in holders {
        holder.join().unwrap();
    }
}

/// Large PATCHes keep the server's CPUs busy; small requests sent while they run are
/// answered before any of them, because handlers never block the async workers.
#[test]
fn small_requests_are_answered_while_large_patches_run() {
    let server = server("busy", &[]);
    let address = server.address.as_str();
    const LARGE: usize = 8;
    let members = |from: usize| -> Json {
        let members: Vec<Json> = (from..from + 10_000)
            .map(|i| json!({"value": format!("member-{i:05}"), "display": format!("Member number {i}")}))
            .collect();
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "add", "path": "members", "value": members}]})
    };
    let groups: Vec<String> = (0..LARGE)
        .map(|i| {
            let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("G{i}")});
            let id = call(address, "POST", "/Groups", Some(&group)).body["id"]
                .as_str()
                .unwrap()
                .to_string();
            let first = call(address, "PATCH", &format!("/Groups/{id}"), Some(&members(0)));
            assert_eq!(first.status, 204);
            id
        })
        .collect();
    // Every large request is sent but its last byte, then all last bytes at once, so
    // that the server starts them together.
    let patch = members(10_000).to_string();
    let mut streams: Vec<TcpStream> = groups
        .iter()
        .map(|group| {
            let bytes = request(
                "PATCH",
                &format!("/Groups/{group}"),
                "application/scim+json",
                patch.as_bytes(),
            );
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(&bytes[..bytes.len() - 1]).unwrap();
            stream
        })
        .collect();
    for stream in &mut streams {
        stream.write_all(b"}").unwrap();
    }
    let finished = Arc::new(AtomicUsize::new(0));
    let large: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let finished = finished.clone();
            std::thread::spawn(move || {
                let seen = until_closed(&mut stream, "large PATCH");
                finished.fetch_add(1, Ordering::SeqCst);
                parse(&seen).status
            })
        })
        .collect();
    for _ in 0..3 {
        let answer = call(address, "GET", "/ServiceProviderConfig", None);
        assert_eq!(answer.status, 200);
        assert_eq!(
            finished.load(Ordering::SeqCst),
            0,
            "a small request waited for a large PATCH to finish"
        );
    }
    for handle in large {
        assert_eq!(handle.join().unwrap(), 204);
    }
}

/// A store that panics when asked to create a user named `panic@…`, standing for a
/// bug no input should reach.
struct Panicking(scimap::server::Sqlite);

mod panicking {
    use scimap::server::store::{Narrow, ObjectKind, Order, Store, StoreError, Stored};
    use scimap::server::tenants::{Audit, AuditEntry, Principal, TokenHash};
    use scimap::server::{Tenant, TenantId};
    use serde_json::Value as Json;

    impl Store for super::Panicking {
        fn create(
            &self,
            tenant: &TenantId,
            kind: ObjectKind,
            body: Json,
            audit: Option<&Audit>,
        ) -> Result<Stored, StoreError> {
            let name = body["userName"].as_str().unwrap_or_default();
            assert!(!name.starts_with("panic@"), "a bug, for the test");
            self.0.create(tenant, kind, body, audit)
        }
        fn get(
            &self,
            tenant: &TenantId,
            kind: ObjectKind,
            id: &str,
        ) -> Result<Option<Stored>, StoreError> {
            self.0.get(tenant, kind, id)
        }
        fn replace(
            &self,
            tenant: &TenantId,
            kind: ObjectKind,
            id: &str,
            body: Json,
            if_version: Option<u64>,
            audit: Option<&Audit>,
        ) -> Result<Stored, StoreError> {
            self.0.replace(tenant, kind, id, body, if_version, audit)
        }
        fn delete(
            &self,
            tenant: &TenantId,
            kind: ObjectKind,
            id: &str,
            if_version: Option<u64>,
            audit: Option<&Audit>,
        ) -> Result<(), StoreError> {
            self.0.delete(tenant, kind, id, if_version, audit)
        }
        fn count(
            &self,
            tenant: &TenantId,
            kind: ObjectKind,
            narrow: Option<&Narrow>,
        ) -> Result<usize, StoreError> {
            self.0.count(tenant, kind, narrow)
        }
        fn select(
            &self,
            tenant: &TenantId,
            kind: ObjectKind,
            narrow: Option<&Narrow>,
            order: Order,
            window: Option<(usize, usize)>,
            each: &mut dyn FnMut(Stored),
        ) -> Result<(), StoreError> {
            self.0.select(tenant, kind, narrow, order, window, each)
        }
        fn authenticate(
            &self,
            hash: &TokenHash,
            now: &str,
        ) -> Result<Option<Principal>, StoreError> {
            self.0.authenticate(hash, now)
        }
        fn ensure_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
            self.0.ensure_tenant(name)
        }
        fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
            self.0.audit(entry)
        }
    }
}

#[tokio::test]
async fn a_panic_is_a_500_and_a_bulk_request_is_still_reported_whole() {
    use tower::ServiceExt;
    let config = scimap::server::Config::with_tokens([TOKEN]);
    let store = Arc::new(Panicking(scimap::server::Sqlite::in_memory().unwrap()));
    let app = scimap::server::router(store, config);
    let send = |method: &str, path: &str, body: Json| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("/scim/v2{path}"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/scim+json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let id = response.headers().get("x-request-id").cloned();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, id, serde_json::from_slice::<Json>(&bytes).unwrap())
        }
    };
    let (status, id, body) = send("POST", "/Users", user("panic@contoso.com")).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        id.is_some(),
        "the answer names the request, as the log does"
    );
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("before@contoso.com")},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("panic@contoso.com")},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": user("after@contoso.com")},
    ]});
    let (status, _, body) = send("POST", "/Bulk", bulk).await;
    assert_eq!(status, 200);
    let statuses: Vec<&str> = body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201", "500", "201"], "{body}");
    // This store has no transactions: a request that needs one is refused whole.
    let atomic = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
        "Operations": [{"method": "POST", "path": "/Users", "data": user("atomic@contoso.com")}]});
    let (status, _, body) = send("POST", "/Bulk", atomic).await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("one transaction"),
        "{body}"
    );
    let (status, _, body) = send("GET", "/Users", Json::Null).await;
    assert_eq!(
        (status, body["totalResults"].as_u64()),
        (200, Some(2)),
        "still serving: {body}"
    );
}
