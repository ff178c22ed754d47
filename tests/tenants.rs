//! `scimap serve` for many tenants: a token of one tenant against every endpoint and
//! method holding another's resources, uniqueness per tenant, fifty tenants, rotation,
//! revocation, limits, the audit log; then the operator's `scimap tenant` commands
//! against a running server.

use std::process::{Command, Output};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use scimap::server::tenants::{AuditEntry, IssuedToken};
use scimap::server::{router, Config, Sqlite, Store};
use serde_json::{json, Value as Json};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Json,
}

async fn send(
    app: &axum::Router,
    token: &str,
    method: &str,
    uri: &str,
    body: Option<Json>,
) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        // URLs come from the configured public URL, never from Host.
        .header(header::HOST, "attacker.example")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/scim+json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// POSTs a user with this name.
async fn create(app: &axum::Router, token: &str, uri: &str, name: impl AsRef<str>) -> Reply {
    send(app, token, "POST", uri, Some(user(name.as_ref()))).await
}

/// A server with these tenants, each with its first token.
fn app(names: &[&str], config: Config) -> (axum::Router, Arc<Sqlite>, Vec<IssuedToken>) {
    let store = Arc::new(Sqlite::in_memory().unwrap());
    let tokens = names
        .iter()
        .map(|name| store.add_tenant(name).unwrap().1)
        .collect();
    let mut config = config;
    config.public_url = "http://scim.test".into();
    let app = router(store.clone() as Arc<dyn Store>, config);
    (app, store, tokens)
}

fn user(name: &str) -> Json {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "externalId": name, "active": true,
        "emails": [{"type": "work", "value": name, "primary": true}],
    })
}

/// A 404's body with the id it names replaced, to compare two of them.
fn without(reply: &Reply, id: &str) -> String {
    reply.body.to_string().replace(id, "ID")
}

#[tokio::test]
async fn a_tenant_sees_nothing_of_another() {
    let (app, _, tokens) = app(&["contoso", "fabrikam"], Config::default());
    let (a, b) = (tokens[0].secret.as_str(), tokens[1].secret.as_str());
    let theirs = create(&app, b, "/scim/v2/Users", "ann@fabrikam.com").await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let their_id = theirs.body["id"].as_str().unwrap().to_string();
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales",
        "members": [{"value": their_id}]});
    let their_group = send(&app, b, "POST", "/scim/v2/Groups", Some(group.clone())).await;
    let their_group_id = their_group.body["id"].as_str().unwrap().to_string();
    let mine = create(&app, a, "/scim/v2/Users", "zoe@contoso.com").await;
    let my_id = mine.body["id"].as_str().unwrap().to_string();

    // By id, with every method: exactly the answer for an id that never existed.
    let never = "0123456789abcdef0123456789abcdef";
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let bodies = |kind: &str| -> [(&str, Option<Json>); 4] {
        let put = match kind {
            "Users" => user("x@contoso.com"),
            _ => {
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "X"})
            }
        };
        [
            ("GET", None),
            ("PUT", Some(put)),
            ("PATCH", Some(patch.clone())),
            ("DELETE", None),
        ]
    };
    for (kind, id) in [("Users", &their_id), ("Groups", &their_group_id)] {
        for (method, body) in bodies(kind) {
            let other = send(
                &app,
                a,
                method,
                &format!("/scim/v2/{kind}/{id}"),
                body.clone(),
            )
            .await;
            let missing = send(
                &app,
                a,
                method,
                &format!("/scim/v2/{kind}/{never}"),
                body.clone(),
            )
            .await;
            assert_eq!(other.status, StatusCode::NOT_FOUND, "{method} {kind}");
            assert_eq!(
                without(&other, id),
                without(&missing, never),
                "{method} {kind}"
            );
        }
    }
    // With an ETag of theirs: still not found, never a 412 that would confirm it.
    let request = Request::builder()
        .method("DELETE")
        .uri(format!("/scim/v2/Users/{their_id}"))
        .header(header::AUTHORIZATION, format!("Bearer {a}"))
        .header(header::IF_MATCH, "W/\"1\"")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // By filter, list and search: only one's own.
    for uri in [
        "/scim/v2/Users?filter=userName%20eq%20%22ann@fabrikam.com%22".to_string(),
        format!("/scim/v2/Users?filter=id%20eq%20%22{their_id}%22"),
        "/scim/v2/Groups?filter=displayName%20eq%20%22Sales%22".to_string(),
        "/scim/v2/Groups".to_string(),
    ] {
        let found = send(&app, a, "GET", &uri, None).await;
        assert_eq!(found.body["totalResults"], 0, "{uri}");
    }
    let all = send(&app, a, "GET", "/scim/v2/Users", None).await;
    assert_eq!(all.body["totalResults"], 1);
    assert_eq!(all.body["Resources"][0]["id"], my_id.as_str());
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let searched = send(&app, a, "POST", "/scim/v2/.search", Some(search)).await;
    assert_eq!(searched.body["totalResults"], 1);

    // Bulk: their ids are not found, their names are free here.
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "DELETE", "path": format!("/Users/{their_id}")},
        {"method": "PATCH", "path": format!("/Groups/{their_group_id}"), "data": patch},
        {"method": "POST", "path": "/Users", "bulkId": "u", "data": user("ann@fabrikam.com")},
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": group},
    ]});
    let done = send(&app, a, "POST", "/scim/v2/Bulk", Some(bulk)).await;
    let statuses: Vec<&str> = done.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["404", "404", "201", "201"]);

    // A group of ours naming their user's id: an opaque value, which resolves to
    // nothing of theirs.
    let my_group = done.body["Operations"][3]["location"].as_str().unwrap();
    let my_group_id = my_group.rsplit('/').next().unwrap();
    let shown = send(
        &app,
        a,
        "GET",
        &format!("/scim/v2/Groups/{my_group_id}"),
        None,
    )
    .await;
    assert_eq!(shown.body["members"], json!([{"value": their_id}]));
    let theirs_now = send(&app, b, "GET", &format!("/scim/v2/Users/{their_id}"), None).await;
    assert_eq!(theirs_now.status, StatusCode::OK);
    assert_eq!(theirs_now.body["userName"], "ann@fabrikam.com");
    assert_eq!(theirs_now.headers[header::ETAG], "W/\"1\"", "untouched");
    let their_group_now = send(
        &app,
        b,
        "GET",
        &format!("/scim/v2/Groups/{their_group_id}"),
        None,
    )
    .await;
    assert_eq!(their_group_now.body["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn the_url_may_name_the_tenant_and_must_name_the_right_one() {
    let (app, _, tokens) = app(&["contoso", "fabrikam"], Config::default());
    let a = tokens[0].secret.as_str();
    let created = create(&app, a, "/tenants/contoso/scim/v2/Users", "zoe@contoso.com").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.headers[header::LOCATION],
        format!("http://scim.test/tenants/contoso/scim/v2/Users/{id}").as_str()
    );
    assert_eq!(
        created.body["meta"]["location"],
        format!("http://scim.test/tenants/contoso/scim/v2/Users/{id}")
    );
    let wrong_token = send(&app, "scimap_0_0", "GET", "/scim/v2/Users", None).await;
    for uri in [
        "/tenants/fabrikam/scim/v2/Users",
        "/tenants/nobody/scim/v2/Users",
        "/tenants/Contoso/scim/v2/Users",
    ] {
        let refused = send(&app, a, "GET", uri, None).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(refused.body, wrong_token.body, "{uri}: as a wrong token");
    }
}

#[tokio::test]
async fn fifty_tenants_each_with_the_same_user_name() {
    let names: Vec<String> = (0..50).map(|i| format!("tenant-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (app, _, tokens) = app(&refs, Config::default());
    let mut ids = Vec::new();
    for token in &tokens {
        let created = create(&app, &token.secret, "/scim/v2/Users", "ann@contoso.com").await;
        assert_eq!(created.status, StatusCode::CREATED);
        let again = create(&app, &token.secret, "/scim/v2/Users", "ANN@contoso.com").await;
        assert_eq!(
            again.status,
            StatusCode::CONFLICT,
            "unique within the tenant"
        );
        ids.push(created.body["id"].as_str().unwrap().to_string());
    }
    for (i, token) in tokens.iter().enumerate() {
        let list = send(&app, &token.secret, "GET", "/scim/v2/Users", None).await;
        assert_eq!(list.body["totalResults"], 1);
        assert_eq!(list.body["Resources"][0]["id"], ids[i].as_str());
        let next = &ids[(i + 1) % ids.len()];
        let other = send(
            &app,
            &token.secret,
            "GET",
            &format!("/scim/v2/Users/{next}"),
            None,
        )
        .await;
        assert_eq!(other.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn rotation_overlaps_and_revocation_is_immediate() {
    let (app, store, tokens) = app(&["contoso"], Config::default());
    let first = &tokens[0];
    let works = |token: String| {
        let app = app.clone();
        async move {
            send(&app, &token, "GET", "/scim/v2/Users", None)
                .await
                .status
                == StatusCode::OK
        }
    };
    let second = store
        .rotate_token("contoso", None, "2999-01-01T00:00:00Z")
        .unwrap();
    assert!(
        works(first.secret.clone()).await,
        "the old token during the overlap"
    );
    assert!(works(second.secret.clone()).await);
    store.revoke_token("contoso", &first.id).unwrap();
    assert!(
        !works(first.secret.clone()).await,
        "refused on the next request"
    );
    let third = store
        .rotate_token("contoso", Some(&second.id), "2000-01-01T00:00:00Z")
        .unwrap();
    assert!(!works(second.secret.clone()).await, "past its overlap");
    assert!(works(third.secret.clone()).await);
    store.remove_tenant("contoso", None).unwrap();
    assert!(
        !works(third.secret.clone()).await,
        "a removed tenant's token"
    );
}

#[tokio::test]
async fn limits_are_per_tenant() {
    let mut config = Config::default();
    config.tenant_rate = Some(5.0);
    let (app, _, tokens) = app(&["contoso", "fabrikam"], config);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(send(&app, &tokens[0].secret, "GET", "/scim/v2/Users", None).await);
    }
    let refused = statuses
        .iter()
        .find(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .expect("past five at once, 429");
    assert_eq!(refused.headers[header::RETRY_AFTER], "1");
    assert_eq!(refused.body["status"], "429");
    let other = send(&app, &tokens[1].secret, "GET", "/scim/v2/Users", None).await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "another tenant is not held back"
    );
}

/// One tenant floods the server while another works: the other's latency is
/// reported (not asserted: it depends on the machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_tenant_leaves_the_others_working() {
    let (app, _, tokens) = app(&["flood", "quiet"], Config::default());
    let flood = tokens[0].secret.clone();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let (app, flood) = (app.clone(), flood.clone());
        tasks.push(tokio::spawn(async move {
            create(&app, &flood, "/scim/v2/Users", &format!("u{i}@flood.com"))
                .await
                .status
        }));
    }
    let mut latencies = Vec::new();
    for i in 0..20 {
        let started = std::time::Instant::now();
        let created = create(
            &app,
            &tokens[1].secret,
            "/scim/v2/Users",
            &format!("q{i}@quiet.com"),
        )
        .await;
        latencies.push(started.elapsed());
        assert_eq!(created.status, StatusCode::CREATED);
    }
    let mut refused = 0;
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status == StatusCode::CREATED || status == StatusCode::TOO_MANY_REQUESTS);
        refused += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
    }
    latencies.sort();
    eprintln!(
        "quiet tenant during a 400-request flood: median {:?}, worst {:?}; flood requests refused with 429: {refused}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
}

/// What the audit log says of each write: method, path, resource, status.
fn logged(log: &[AuditEntry]) -> Vec<(&str, &str, Option<&str>, u16)> {
    log.iter()
        .map(|e| {
            (
                e.method.as_str(),
                e.path.as_str(),
                e.resource.as_deref(),
                e.status,
            )
        })
        .collect()
}

#[tokio::test]
async fn every_write_is_audited() {
    let (app, store, tokens) = app(&["contoso"], Config::default());
    let token = &tokens[0];
    let created = create(&app, &token.secret, "/scim/v2/Users", "zoe@contoso.com").await;
    let id = created.body["id"].as_str().unwrap();
    let conflict = create(&app, &token.secret, "/scim/v2/Users", "zoe@contoso.com").await;
    send(&app, &token.secret, "GET", "/scim/v2/Users", None).await;
    let deleted = send(
        &app,
        &token.secret,
        "DELETE",
        &format!("/scim/v2/Users/{id}"),
        None,
    )
    .await;
    let log = store.audit_log("contoso", 10).unwrap();
    let user = format!("/scim/v2/Users/{id}");
    assert_eq!(
        logged(&log),
        [
            ("ADD", "(scimap tenant)", None, 0),
            ("POST", "/scim/v2/Users", Some(id), 201),
            ("POST", "/scim/v2/Users", None, 409),
            ("DELETE", user.as_str(), Some(id), 204),
        ]
    );
    assert!(log[1..]
        .iter()
        .all(|e| e.token.as_deref() == Some(token.id.as_str())));
    assert_eq!(
        log[1].request,
        created.headers["x-request-id"].to_str().unwrap()
    );
    assert_eq!(
        log[2].request,
        conflict.headers["x-request-id"].to_str().unwrap()
    );
    assert_eq!(
        log[3].request,
        deleted.headers["x-request-id"].to_str().unwrap()
    );
}

#[tokio::test]
async fn a_bulk_request_rolled_back_is_audited_all_the_same() {
    let (app, store, tokens) = app(&["contoso"], Config::default());
    let token = &tokens[0].secret;
    create(&app, token, "/scim/v2/Users", "taken@contoso.com").await;
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "data": user("undone@contoso.com")},
        {"method": "POST", "path": "/Users", "data": user("taken@contoso.com")},
    ]});
    let done = send(&app, token, "POST", "/scim/v2/Bulk", Some(bulk)).await;
    let statuses: Vec<&str> = done.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["424", "409"], "{}", done.body);
    let log = store.audit_log("contoso", 10).unwrap();
    let seen = logged(&log);
    assert_eq!(
        seen[2..],
        [
            ("POST", "/scim/v2/Users", None, 409),
            ("POST", "/scim/v2/Users", None, 424),
        ],
        "{seen:?}"
    );
    let request = done.headers["x-request-id"].to_str().unwrap();
    assert!(log[2..].iter().all(|e| e.request == request));
}

// --- the operator's commands, against a running `scimap serve` ---

fn scimap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The token printed on the last line of `tenant add` or `rotate-token`.
fn token_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(out).lines().last().unwrap().trim().to_string()
}

fn workdir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tenants-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A plain HTTP/1.1 request to the server on loopback; the status and body.
fn http(host: &str, method: &str, path: &str, token: &str, body: Option<&Json>) -> (u16, Json) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let body = body.map(Json::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Json::Null))
}

/// A running `scimap serve`, stopped when dropped (a failed assertion included).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(database: &std::path::Path) -> (Server, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet", "--database"])
        .arg(database)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let host = line
        .trim()
        .trim_start_matches("scimap serve: http://")
        .trim_end_matches("/scim/v2")
        .to_string();
    (Server(child), host)
}

#[test]
fn operators_onboard_rotate_revoke_and_remove() {
    let dir = workdir("operators");
    let db = dir.join("scim.db");
    let db = db.to_str().unwrap();
    let refused = scimap(&["serve", "--listen", "127.0.0.1:0", "--database", db]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("scimap tenant add"));

    let added = scimap(&["tenant", "add", "contoso", "--database", db]);
    assert!(stdout(&added).contains("/tenants/contoso/scim/v2"));
    let contoso = token_of(&added);
    let fabrikam = token_of(&scimap(&["tenant", "add", "fabrikam", "--database", db]));
    let again = scimap(&["tenant", "add", "contoso", "--database", db]);
    assert_eq!(again.status.code(), Some(2));
    let odd = scimap(&["tenant", "add", "Contoso Ltd/../x", "--database", db]);
    assert_eq!(odd.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&odd.stderr).contains("lower-case letters, digits and hyphens"));

    let (_server, host) = serve(std::path::Path::new(db));
    let (status, created) = http(
        &host,
        "POST",
        "/tenants/contoso/scim/v2/Users",
        &contoso,
        Some(&user("zoe@contoso.com")),
    );
    assert_eq!(status, 201);
    let (status, _) = http(
        &host,
        "POST",
        "/scim/v2/Users",
        &fabrikam,
        Some(&user("zoe@contoso.com")),
    );
    assert_eq!(status, 201, "the same userName in another tenant");

    // Two operators rotate the same token at once: one wins, the other is told.
    let rotations: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    scimap(&[
                        "tenant",
                        "rotate-token",
                        "contoso",
                        "--overlap",
                        "1h",
                        "--database",
                        db,
                    ])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&Output> = rotations.iter().filter(|o| o.status.success()).collect();
    assert_eq!(won.len(), 1, "{rotations:?}");
    let new = token_of(won[0]);
    let lost = rotations.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        String::from_utf8_lossy(&lost.stderr)
            .contains("a rotation of tenant `contoso` is under way"),
        "{lost:?}"
    );
    assert_eq!(
        http(&host, "GET", "/scim/v2/Users", &contoso, None).0,
        200,
        "overlap"
    );
    assert_eq!(http(&host, "GET", "/scim/v2/Users", &new, None).0, 200);

    let list = stdout(&scimap(&["tenant", "list", "--json", "--database", db]));
    let tenants: Vec<Json> = list
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[0]["name"], "contoso");
    assert_eq!(tenants[0]["resources"], 1);
    assert!(
        !list.contains(&contoso) && !list.contains(&new),
        "no secret is listed"
    );
    let old_id = tenants[0]["tokens"][0]["id"].as_str().unwrap();
    assert!(contoso.contains(old_id));
    let revoked = scimap(&[
        "tenant",
        "revoke-token",
        "contoso",
        old_id,
        "--database",
        db,
    ]);
    assert!(revoked.status.success());
    assert_eq!(
        http(&host, "GET", "/scim/v2/Users", &contoso, None).0,
        401,
        "revoked at once"
    );

    let export = dir.join("contoso.ndjson");
    let removed = scimap(&[
        "tenant",
        "remove",
        "contoso",
        "--export",
        export.to_str().unwrap(),
        "--database",
        db,
    ]);
    assert!(removed.status.success(), "{removed:?}");
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(exported.contains(created["id"].as_str().unwrap()));
    assert_eq!(
        http(&host, "GET", "/scim/v2/Users", &new, None).0,
        401,
        "a removed tenant's token"
    );
    let (status, theirs) = http(&host, "GET", "/scim/v2/Users", &fabrikam, None);
    assert_eq!(
        (status, theirs["totalResults"].as_u64()),
        (200, Some(1)),
        "others keep theirs"
    );

    let audit = stdout(&scimap(&["tenant", "audit", "contoso", "--database", db]));
    let methods: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Json>(l).unwrap()["method"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(methods, ["ADD", "POST", "ROTATE", "REVOKE", "REMOVE"]);
}
