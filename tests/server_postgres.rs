//! The Entra-shaped tests of `tests/server.rs`, run again on PostgreSQL: each test on a
//! database of its own in the cluster `SCIMAP_TEST_POSTGRES` names (`.ci/run` starts
//! one). Without it these tests fail; they are never skipped. Then what only a shared
//! database has: migrations refusing a newer schema, uniqueness and versions held by the
//! database, a restart survived.

#[path = "server.rs"]
mod suite;

#[path = "postgres/mod.rs"]
mod pg;

use std::sync::Arc;

use scimap::server::{router, Config, Postgres, Store};
use serde_json::json;

const BASE: &str = "http://scim.test/scim/v2";

fn scoped(config: Config) -> axum::Router {
    let url = pg::fresh_database();
    let store = pg::off_runtime(move || Postgres::connect(&url, 4).unwrap());
    router(Arc::new(store), config)
}

#[test]
fn a_newer_schema_is_refused_and_nothing_is_changed() {
    let url = pg::fresh_database();
    let store = Postgres::connect(&url, 1).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        scimap::server::POSTGRES_SCHEMA_VERSION
    );
    drop(store);
    pg::sql(&url, "UPDATE scimap_schema SET version = version + 1");
    let error = Postgres::connect(&url, 1).unwrap_err().to_string();
    assert!(error.contains("newer than this scimap's"), "{error}");
    // Connecting twice to a current database migrates nothing and loses nothing.
    pg::sql(&url, "UPDATE scimap_schema SET version = version - 1");
    let store = Postgres::connect(&url, 1).unwrap();
    let tenant = store.ensure_tenant("default").unwrap();
    let user = json!({"userName": "ada@contoso.com"});
    store
        .create(&tenant.id, scimap::scim::ObjectKind::User, user, None)
        .unwrap();
    let again = Postgres::connect(&url, 1).unwrap();
    let (total, _) = again
        .page(&tenant.id, scimap::scim::ObjectKind::User, 0, 10)
        .unwrap();
    assert_eq!(total, 1);
}

#[test]
fn a_wrong_or_unreachable_database_is_a_clear_error() {
    let error = Postgres::connect("postgres://scimap@127.0.0.1:9/none", 1)
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot connect to the database"), "{error}");
    let error = Postgres::connect("postgres://[::1", 1)
        .unwrap_err()
        .to_string();
    assert!(error.contains("the database URL"), "{error}");
}

/// Two stores on one database stand for two replicas: one `userName` is created once,
/// and of two replacements made against one version, one wins and one is stale.
#[test]
fn two_replicas_share_uniqueness_and_versions() {
    use scimap::scim::ObjectKind::User;
    use scimap::server::store::StoreError;
    let url = pg::fresh_database();
    let (one, two) = (
        Postgres::connect(&url, 2).unwrap(),
        Postgres::connect(&url, 2).unwrap(),
    );
    let tenant = one.ensure_tenant("default").unwrap();
    assert_eq!(two.ensure_tenant("default").unwrap(), tenant);
    let outcomes: Vec<_> = std::thread::scope(|s| {
        [&one, &two]
            .map(|store| {
                let tenant = &tenant.id;
                s.spawn(move || {
                    store.create(tenant, User, json!({"userName": "Ann@contoso.com"}), None)
                })
            })
            .map(|t| t.join().unwrap())
            .into_iter()
            .collect()
    });
    let created: Vec<_> = outcomes.iter().filter(|o| o.is_ok()).collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, Err(StoreError::Conflict { .. }))));
    let id = created[0].as_ref().unwrap().id.clone();
    let replaced: Vec<_> = std::thread::scope(|s| {
        [(&one, "a"), (&two, "b")]
            .map(|(store, title)| {
                let (tenant, id) = (&tenant.id, &id);
                s.spawn(move || {
                    let body = json!({"userName": "ann@contoso.com", "title": title});
                    store.replace(tenant, User, id, body, Some(1), None)
                })
            })
            .map(|t| t.join().unwrap())
            .into_iter()
            .collect()
    });
    assert_eq!(
        replaced.iter().filter(|r| r.is_ok()).count(),
        1,
        "{replaced:?}"
    );
    assert!(replaced
        .iter()
        .any(|r| r == &Err(StoreError::Stale("2".into()))));
    let stored = two.get(&tenant.id, User, &id).unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(
        one.delete(&tenant.id, User, &id, Some(1), None),
        Err(StoreError::Stale("2".into()))
    );
    one.delete(&tenant.id, User, &id, Some(2), None).unwrap();
    assert_eq!(two.get(&tenant.id, User, &id).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_503_while_the_database_is_gone_then_recovers() {
    let url = pg::fresh_database();
    let store = pg::off_runtime({
        let url = url.clone();
        move || Postgres::connect(&url, 2).unwrap()
    });
    let app = router(Arc::new(store), Config::with_tokens(["t"]));
    let get = |app: axum::Router| async move {
        use tower::ServiceExt;
        let request = axum::http::Request::get("/scim/v2/Users")
            .header("authorization", "Bearer t")
            .body(axum::body::Body::empty())
            .unwrap();
        app.oneshot(request).await.unwrap()
    };
    assert_eq!(get(app.clone()).await.status(), 200);
    // Every connection of the pool is cut, as a restart of the database cuts them.
    let cut = url.clone();
    tokio::task::spawn_blocking(move || pg::cut_connections(&cut))
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = get(app.clone()).await;
        if response.status() == 503 {
            assert_eq!(response.headers()["retry-after"], "2");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[0], 503, "the cut is noticed: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert_eq!(
        *statuses.last().unwrap(),
        200,
        "recovered without a restart: {statuses:?}"
    );
    let metrics = {
        use tower::ServiceExt;
        let request = axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    assert!(
        metrics.contains(r#"scimap_store_errors_total{kind="unavailable"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("scimap_database_connections "),
        "{metrics}"
    );
    let _ = BASE;
}

use suite::serve;

const REPLICA_TOKEN: &str = "replica-token";

/// A request over a fresh loopback connection: the status, the response's head and its
/// body (null when empty).
fn call(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, serde_json::Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "{method} /scim/v2{path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {REPLICA_TOKEN}\r\n\
         Content-Type: application/scim+json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let body = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, head.to_string(), body)
}

fn user(name: &str) -> String {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}).to_string()
}

/// A `scimap serve` process on the database at `url` (killed when dropped, however the
/// test ends), and its address.
fn replica(url: &str) -> (serve::Server, String) {
    let flags = ["--public-url", "http://scim.test"];
    let (child, host) = serve::start_with(std::path::Path::new(url), REPLICA_TOKEN, &flags);
    let at = host.clone();
    let server = serve::Server {
        name: "replica",
        host,
        base: "/scim/v2",
        child,
    };
    (server, at)
}

/// Every user named is stored once, read through the replica at `at`.
fn all_there(at: &str, names: &[String]) {
    for name in names {
        let filter = format!(
            "/Users?filter=userName%20eq%20%22{}%22",
            name.replace('@', "%40")
        );
        let (status, _, found) = call(at, "GET", &filter, &[], "");
        assert_eq!(
            (status, &found["totalResults"]),
            (200, &json!(1)),
            "{name} was acknowledged and is lost"
        );
    }
}

/// Two `scimap serve` processes on one database, as behind a load balancer.
#[test]
fn replicas_behind_one_load_balancer() {
    let url = pg::fresh_database();
    let (mut a, at_a) = replica(&url);
    let (b, at_b) = replica(&url);

    // Written through one, read through the other.
    let (status, _, made) = call(&at_a, "POST", "/Users", &[], &user("ada@contoso.com"));
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    let (status, head, read) = call(&at_b, "GET", &format!("/Users/{id}"), &[], "");
    assert_eq!((status, &read), (200, &made));
    assert!(head.to_lowercase().contains("etag: w/\"1\""), "{head}");

    // One userName POSTed through both at once: one 201, one 409.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        [&at_a, &at_b]
            .map(|at| s.spawn(move || call(at, "POST", "/Users", &[], &user("Twin@contoso.com")).0))
            .map(|t| t.join().unwrap())
            .into_iter()
            .collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [201, 409], "{statuses:?}");

    // Two PATCHes with one If-Match, one through each: one wins, one is told it is late.
    let patch = |title: &str| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "title", "value": title}]})
        .to_string()
    };
    let path = format!("/Users/{id}");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        [(&at_a, "a"), (&at_b, "b")]
            .map(|(at, title)| {
                let (path, body) = (&path, patch(title));
                s.spawn(move || call(at, "PATCH", path, &[("If-Match", "W/\"1\"")], &body).0)
            })
            .map(|t| t.join().unwrap())
            .into_iter()
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200 || **s == 204).count(),
        1,
        "{statuses:?}"
    );

    // One replica killed under load: every write it acknowledged is read through the other.
    let acknowledged = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..4 {
            let (at_a, acknowledged) = (&at_a, &acknowledged);
            s.spawn(move || {
                for i in 0.. {
                    let name = format!("w{w}-{i}@contoso.com");
                    let Ok(answer) = std::panic::catch_unwind(|| {
                        call(at_a, "POST", "/Users", &[], &user(&name))
                    }) else {
                        return; // the replica is gone
                    };
                    match answer.0 {
                        201 => acknowledged.lock().unwrap().push(name),
                        _ => return,
                    }
                }
            });
        }
        while acknowledged.lock().unwrap().len() < 100 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        a.child.kill().unwrap(); // SIGKILL
        a.child.wait().unwrap();
    });
    all_there(&at_b, &acknowledged.into_inner().unwrap());
    drop(b);
}

/// Bulk requests with `failOnErrors` through two replicas at once, both creating one
/// `userName`: each is one transaction, so one is kept whole and the other not at all.
#[test]
fn bulk_transactions_on_two_replicas_are_all_or_nothing() {
    let url = pg::fresh_database();
    let (a, at_a) = replica(&url);
    let (b, at_b) = replica(&url);
    let bulk = |own: &str, shared: &str| {
        let post = |name: &str| json!({"method": "POST", "path": "/Users", "data": serde_json::from_str::<serde_json::Value>(&user(name)).unwrap()});
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
               "Operations": [post(own), post(shared)]})
        .to_string()
    };
    for round in 0..5 {
        let shared = format!("shared{round}@contoso.com");
        let answers: Vec<(String, Vec<String>)> = std::thread::scope(|s| {
            [(&at_a, "a"), (&at_b, "b")]
                .map(|(at, side)| {
                    let own = format!("{side}{round}@contoso.com");
                    let body = bulk(&own, &shared);
                    s.spawn(move || {
                        let (status, _, reply) = call(at, "POST", "/Bulk", &[], &body);
                        assert_eq!(status, 200, "{reply}");
                        let statuses = reply["Operations"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|o| o["status"].as_str().unwrap().to_string())
                            .collect();
                        (own, statuses)
                    })
                })
                .map(|t| t.join().unwrap())
                .into_iter()
                .collect()
        });
        let won: Vec<&(String, Vec<String>)> = answers
            .iter()
            .filter(|(_, s)| s == &["201", "201"])
            .collect();
        let lost: Vec<&(String, Vec<String>)> = answers
            .iter()
            .filter(|(_, s)| s == &["424", "409"])
            .collect();
        assert_eq!((won.len(), lost.len()), (1, 1), "{answers:?}");
        all_there(&at_b, &[won[0].0.clone(), shared.clone()]);
        let filter = format!(
            "/Users?filter=userName%20eq%20%22{}%22",
            lost[0].0.replace('@', "%40")
        );
        let (_, _, found) = call(&at_a, "GET", &filter, &[], "");
        assert_eq!(found["totalResults"], 0, "{} was rolled back", lost[0].0);
    }
    drop((a, b));
}

/// `/readyz` tells a load balancer when a replica cannot serve: its database gone, or
/// at another schema; `/healthz` stays up meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    use tower::ServiceExt;
    let url = pg::fresh_database();
    let store = pg::off_runtime({
        let url = url.clone();
        move || Postgres::connect(&url, 1).unwrap()
    });
    let app = router(Arc::new(store), Config::with_tokens(["t"]));
    let status = |path: &'static str| {
        let app = app.clone();
        async move {
            let request = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap().status().as_u16()
        }
    };
    assert_eq!(
        (status("/healthz").await, status("/readyz").await),
        (200, 200)
    );
    let bumped = url.clone();
    tokio::task::spawn_blocking(move || {
        pg::sql(&bumped, "UPDATE scimap_schema SET version = version + 1")
    })
    .await
    .unwrap();
    assert_eq!(
        (status("/healthz").await, status("/readyz").await),
        (200, 503)
    );
    let restored = url.clone();
    tokio::task::spawn_blocking(move || {
        pg::sql(&restored, "UPDATE scimap_schema SET version = version - 1")
    })
    .await
    .unwrap();
    assert_eq!(status("/readyz").await, 200);
}

/// `scimap serve --migrate-only`, as an operator migrates before a rollout: the schema
/// made, then nothing else; a newer database refused with exit code 3 and a message.
#[test]
fn migrate_only_migrates_and_exits() {
    let url = pg::fresh_database();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_scimap"))
            .args(["serve", "--migrate-only", "--database", &url])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrated"));
    let store = Postgres::connect(&url, 1).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        scimap::server::POSTGRES_SCHEMA_VERSION
    );
    drop(store);
    pg::sql(&url, "UPDATE scimap_schema SET version = version + 1");
    let out = run();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer than this scimap's"), "{stderr}");
    let database = url.rsplit_once('/').unwrap().1;
    assert!(stderr.contains(database), "the database is named: {stderr}");
}

fn scimap(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `scimap tenant` on PostgreSQL, as on SQLite: a tenant added, served by a replica
/// started without `--token`, listed, given and revoked a token, rotated, removed with
/// an export, its audit log kept.
#[test]
fn operators_manage_tenants_on_postgres() {
    let url = pg::fresh_database();
    let db = url.as_str();
    let added = stdout(&scimap(&["tenant", "add", "contoso", "--database", db]));
    let token = added.lines().last().unwrap().trim().to_string();
    let again = scimap(&["tenant", "add", "contoso", "--database", db]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already a tenant named `contoso`"));

    let (child, host) = serve::start_with(std::path::Path::new(&url), "", &[]);
    let replica = serve::Server {
        name: "replica",
        host,
        base: "/scim/v2",
        child,
    };
    let post = |token: &str, name: &str| {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&replica.host).unwrap();
        let body = user(name);
        write!(
            stream,
            "POST /tenants/contoso/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
            .get(9..12)
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0)
    };
    assert_eq!(post(&token, "ada@contoso.com"), 201);

    let list = stdout(&scimap(&["tenant", "list", "--json", "--database", db]));
    let listed: serde_json::Value = serde_json::from_str(list.trim()).unwrap();
    assert_eq!(
        (listed["name"].as_str(), listed["resources"].as_u64()),
        (Some("contoso"), Some(1))
    );

    let second = stdout(&scimap(&[
        "tenant",
        "add-token",
        "contoso",
        "--database",
        db,
    ]));
    let second = second.lines().last().unwrap().trim().to_string();
    assert_eq!(post(&second, "bob@contoso.com"), 201);
    let id = listed["tokens"][0]["id"].as_str().unwrap().to_string();
    let refused = scimap(&["tenant", "rotate-token", "contoso", "--database", db]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("2 current tokens"),
        "{refused:?}"
    );
    stdout(&scimap(&[
        "tenant",
        "revoke-token",
        "contoso",
        &id,
        "--database",
        db,
    ]));
    assert_eq!(
        post(&token, "eve@contoso.com"),
        401,
        "a revoked token is refused at once"
    );
    let rotated = stdout(&scimap(&[
        "tenant",
        "rotate-token",
        "contoso",
        "--overlap",
        "0s",
        "--database",
        db,
    ]));
    let third = rotated.lines().last().unwrap().trim().to_string();
    assert_eq!(post(&third, "cy@contoso.com"), 201);

    let export =
        std::env::temp_dir().join(format!("scimap-pg-export-{}.ndjson", std::process::id()));
    let export_path = export.to_str().unwrap();
    stdout(&scimap(&[
        "tenant",
        "remove",
        "contoso",
        "--export",
        export_path,
        "--database",
        db,
    ]));
    let exported = std::fs::read_to_string(&export).unwrap();
    let _ = std::fs::remove_file(&export);
    assert_eq!(
        exported.lines().count(),
        4,
        "the tenant and its three users: {exported}"
    );
    assert_eq!(post(&third, "dee@contoso.com"), 401);
    let audit = stdout(&scimap(&["tenant", "audit", "contoso", "--database", db]));
    for method in ["ADD", "POST", "ADD-TOKEN", "REVOKE", "ROTATE", "REMOVE"] {
        assert!(audit.contains(method), "{method} in {audit}");
    }
}

/// A filtered, sorted page over 50,000 users reads indexes, never the whole table: no
/// sequential scan, and the rows read (by any scan) stay within a few per row listed,
/// where a scan in creation order, through an index or not, would read all 50,000. A
/// backend reports its counts reliably when it exits, so the counters are read with no
/// store connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_lists_over_many_users_read_indexes() {
    let url = pg::fresh_database();
    let connect = url.clone();
    let tenant = pg::off_runtime(move || {
        let store = Postgres::connect(&connect, 1).unwrap();
        store.ensure_tenant("default").unwrap()
    });
    pg::sql(
        &url,
        &format!(
            r#"INSERT INTO resources (tenant, kind, id, version, created, modified, body, user_name, external_id, display_name)
               SELECT '{tenant}', 'User', md5(i::text), 1, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z',
                      json_build_object('schemas', json_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
                                        'userName', 'user' || i || '@contoso.com', 'externalId', 'ext-' || i,
                                        'displayName', 'User ' || i)::text,
                      'user' || i || '@contoso.com', 'ext-' || i, 'user ' || i
               FROM generate_series(1, 50000) AS i;
               ANALYZE resources;"#,
            tenant = tenant.id.as_str()
        ),
    );
    let (seq_before, read_before) = scans(&url);
    let connect = url.clone();
    let store = pg::off_runtime(move || Postgres::connect(&connect, 2).unwrap());
    let app = router(Arc::new(store), Config::with_tokens(["s3cret"]));
    let lists = [
        ("userName eq \"user4242@contoso.com\"", "", 1),
        ("userName sw \"user4242\"", "&sortBy=userName", 11),
        (
            "userName sw \"user123\"",
            "&sortBy=userName&sortOrder=descending&count=5",
            111,
        ),
        (
            "externalId eq \"ext-77\" or displayName eq \"user 78\"",
            "",
            2,
        ),
        // user4@…, user49@…, user499@…, user4999@… ('@' sorts after digits) and
        // user49990@… to user49999@…
        (
            "userName ge \"user4999\" and userName lt \"user5\"",
            "&sortBy=userName&count=3",
            14,
        ),
    ];
    for (filter, more, total) in lists {
        let query = format!("/scim/v2/Users?filter={}{more}", suite::encode(filter));
        let request = axum::http::Request::get(&query)
            .header("Authorization", "Bearer s3cret")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["totalResults"], total, "{filter}: {body}");
    }
    drop(app);
    let (seq_after, read_after) = scans(&url);
    assert_eq!(seq_after, seq_before, "no sequential scan");
    let listed: i64 = lists.iter().map(|(_, _, total)| total).sum();
    let read = read_after - read_before;
    assert!(
        read <= 3 * listed,
        "{read} rows read for {listed} matching: the lists read indexes, not the table"
    );
}

/// The table's sequential scans and rows read so far, once every other connection to
/// the database has ended (and so reported its counts).
fn scans(url: &str) -> (i64, i64) {
    let url = url.to_string();
    pg::off_runtime(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for _ in 0..500 {
            let others: i64 = client
                .query_one(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .unwrap()
                .get(0);
            if others == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // This connection's own view is a snapshot per transaction: read afresh.
        client
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .unwrap();
        let row = client
            .query_one(
                "SELECT COALESCE(seq_scan, 0), COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0)
                 FROM pg_stat_user_tables WHERE relname = 'resources'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    })
}

/// The database stopped and started again under load (a cluster of the test's own):
/// two replicas answer 503 with `Retry-After` meanwhile (or 500 for
/// a write whose commit was cut, whose outcome is unknown), never anything else, and
/// take writes again afterwards without being restarted; every write they
/// acknowledged, before, during or after, is there, and nothing they refused with 503.
#[test]
fn replicas_ride_out_a_database_restart() {
    let cluster = pg::Cluster::start("restart");
    let (a, at_a) = replica(&cluster.url);
    let (b, at_b) = replica(&cluster.url);
    let acknowledged = std::sync::Mutex::new(Vec::new());
    let unknown = std::sync::Mutex::new(Vec::new());
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let restarted = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in 0..4 {
            let at = if w % 2 == 0 { &at_a } else { &at_b };
            let restarted = &restarted;
            let (acknowledged, unknown, statuses, stop) =
                (&acknowledged, &unknown, &statuses, &stop);
            s.spawn(move || {
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let name = format!("w{w}-{i}@contoso.com");
                    let (status, head, body) = call(at, "POST", "/Users", &[], &user(&name));
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                    match status {
                        201 => acknowledged.lock().unwrap().push((
                            name,
                            w % 2,
                            restarted.load(std::sync::atomic::Ordering::SeqCst),
                        )),
                        503 => {
                            assert!(head.to_lowercase().contains("retry-after: 2"), "{head}");
                            std::thread::sleep(std::time::Duration::from_millis(50));
                        }
                        500 if body["detail"]
                            .as_str()
                            .is_some_and(|d| d.contains("may or may not have been made")) =>
                        {
                            unknown.lock().unwrap().push(name)
                        }
                        other => panic!("{name}: {other} {head} {body}"),
                    }
                }
            });
        }
        let count = || acknowledged.lock().unwrap().len();
        while count() < 50 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        cluster.run("stop");
        let refused = || statuses.lock().unwrap().get(&503).copied().unwrap_or(0);
        let mut waited = 0;
        while refused() < 8 && waited < 3000 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            waited += 1;
        }
        cluster.run("resume");
        restarted.store(true, std::sync::atomic::Ordering::SeqCst);
        let after_restart = count();
        // Writes are acknowledged again, by both replicas, without restarting them.
        let mut waited = 0;
        while count() < after_restart + 100 && waited < 3000 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            waited += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let statuses = statuses.into_inner().unwrap();
    assert!(
        statuses.get(&503).is_some_and(|n| *n > 0),
        "the outage was seen: {statuses:?}"
    );
    let acknowledged = acknowledged.into_inner().unwrap();
    let mut taken_after = [0; 2];
    let acknowledged: Vec<String> = acknowledged
        .into_iter()
        .map(|(name, replica, after)| {
            if after {
                taken_after[replica] += 1;
            }
            name
        })
        .collect();
    assert!(
        taken_after.iter().all(|n| *n > 0),
        "both replicas took writes after the restart: {taken_after:?} {statuses:?}"
    );
    all_there(&at_a, &acknowledged);
    let (status, _, list) = call(&at_b, "GET", "/Users?count=0", &[], "");
    let total = list["totalResults"].as_u64().unwrap() as usize;
    let unknown = unknown.into_inner().unwrap().len();
    assert_eq!(status, 200);
    assert!(
        (acknowledged.len()..=acknowledged.len() + unknown).contains(&total),
        "{total} stored, {} acknowledged, {unknown} of unknown outcome: a 503 wrote nothing",
        acknowledged.len()
    );
    drop((a, b));
}
