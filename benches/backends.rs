//! `scimap serve` on each backend in one run: SQLite, PostgreSQL behind one replica,
//! and behind two (connections spread over both, as a load balancer would). For each:
//! the filtered GET Entra sends with 1,000 users stored, POST, PATCH, then the filtered
//! GET again with 1,000,000 users stored (loaded into the database directly). Then a
//! pool of two `scimap sync worker`s against two targets, beside one worker doing both
//! jobs. A throwaway PostgreSQL cluster is started for the run (`.ci/postgres`).
//!
//! `cargo bench --features cli --bench backends`; results are in docs/performance.md.
//! `USERS=100000` stores fewer users for the large phase; `ONLY=workers` runs the
//! workers alone.

mod load;
#[path = "../tests/postgres/mod.rs"]
mod pg;
mod serve;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use load::{filtered, load, report, resolve_ids, user, REQUESTS};
use pg::{sql, Cluster};
use serve::{Server, TOKEN};

fn replica(name: &'static str, database: &str) -> Server {
    let (child, host) = serve::start_with(Path::new(database), TOKEN, &[]);
    Server {
        name,
        host,
        base: "/scim/v2",
        child,
    }
}

/// Users `from..to` written into the database behind the server, as the server would
/// store them, in one transaction.
fn bulk_load(database: &str, from: usize, to: usize) {
    let body = "json_build_object('schemas', json_build_array('urn:ietf:params:scim:schemas:core:2.0:User'), 'userName', 'user' || i || '@contoso.com', 'externalId', 'e' || i, 'active', true, 'displayName', 'User ' || i)::text";
    if database.starts_with("postgres://") {
        sql(
            database,
            &format!(
                "INSERT INTO resources (tenant, kind, id, version, created, modified, body, user_name, external_id, display_name)
                 SELECT (SELECT id FROM tenants WHERE name = 'default'), 'User', md5('bulk' || i), 1, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z',
                        {body}, 'user' || i || '@contoso.com', 'e' || i, 'user ' || i
                 FROM generate_series({from}, {}) AS i;
                 ANALYZE resources;",
                to - 1
            ),
        );
        return;
    }
    let mut connection = rusqlite::Connection::open(database).unwrap();
    connection
        .busy_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    let transaction = connection.transaction().unwrap();
    {
        let tenant: String = transaction
            .query_row("SELECT id FROM tenants WHERE name = 'default'", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut insert = transaction
            .prepare(
                "INSERT INTO resources (tenant, kind, id, version, created, modified, body, user_name, external_id, display_name)
                 VALUES (?1, 'User', ?2, 1, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', ?3, ?4, ?5, ?6)",
            )
            .unwrap();
        for i in from..to {
            let name = format!("user{i}@contoso.com");
            let body = format!(
                r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{name}","externalId":"e{i}","active":true,"displayName":"User {i}"}}"#
            );
            insert
                .execute(rusqlite::params![
                    tenant,
                    format!("bulk{i:x}"),
                    body,
                    name,
                    format!("e{i}"),
                    format!("user {i}")
                ])
                .unwrap();
        }
    }
    transaction.commit().unwrap();
    connection.execute_batch("ANALYZE").unwrap();
}

fn measure(label: &str, servers: &[&Server], database: &str, large: usize) {
    let post = |i: usize| ("POST".to_string(), "/Users".to_string(), user(i));
    load(servers, 1_000, post);
    report(
        label,
        "GET filter, 1,000 users",
        load(servers, REQUESTS, filtered(1_000)),
    );
    report(
        label,
        "POST /Users",
        load(servers, REQUESTS / 2, |i| post(1_000 + i)),
    );
    let ids = resolve_ids(servers[0], 1_000);
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Engineer"}]}"#;
    report(
        label,
        "PATCH /Users/{id}",
        load(servers, REQUESTS / 2, |i| {
            (
                "PATCH".into(),
                format!("/Users/{}", ids[i % ids.len()]),
                patch.into(),
            )
        }),
    );
    let stored = 1_000 + REQUESTS / 2;
    let started = Instant::now();
    bulk_load(database, stored, large);
    println!(
        "{label:<22} (loaded {} users into the database in {:.1} s)",
        large - stored,
        started.elapsed().as_secs_f64()
    );
    report(
        label,
        &format!("GET filter, {large} users"),
        load(servers, REQUESTS, filtered(large)),
    );
}

/// Two jobs of `users` users each, into two targets: run by one worker, then by two.
fn workers(cluster: &Cluster, dir: &Path, users: usize) {
    for pool in [1, 2] {
        let targets: Vec<Server> = (0..2)
            .map(|t| {
                let database = dir.join(format!("target-{pool}-{t}.db"));
                let (child, host) = serve::start(&database, TOKEN);
                Server {
                    name: "target",
                    host,
                    base: "/scim/v2",
                    child,
                }
            })
            .collect();
        let jobs: Vec<serde_json::Value> = targets
            .iter()
            .enumerate()
            .map(|(t, target)| {
                let file = dir.join(format!("users-{t}.ndjson"));
                let lines: Vec<String> = (0..users)
                    .map(|i| {
                        serde_json::json!({"objectId": format!("{t}-{i}"), "userPrincipalName": format!("u{t}x{i}@contoso.com"),
                                           "mailNickname": format!("u{t}x{i}"), "givenName": "User", "surname": format!("{i}"),
                                           "accountEnabled": true})
                        .to_string()
                    })
                    .collect();
                std::fs::write(&file, lines.join("\n")).unwrap();
                serde_json::json!({"name": format!("app-{t}"), "users": file, "target": format!("http://{}/scim/v2", target.host),
                                   "tokenEnv": "BENCH_TOKEN", "interval": "1h"})
            })
            .collect();
        let jobs_file = dir.join("jobs.json");
        std::fs::write(&jobs_file, serde_json::json!({ "jobs": jobs }).to_string()).unwrap();
        let database = cluster.database(&format!("workers{pool}"));
        let scimap = |args: &[&str]| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_scimap"));
            command
                .args(args)
                .env("BENCH_TOKEN", TOKEN)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            command
        };
        let jobs_arg = jobs_file.to_str().unwrap();
        assert!(scimap(&["sync", "jobs", jobs_arg, "--state", &database])
            .status()
            .unwrap()
            .success());
        let started = Instant::now();
        let mut running: Vec<_> = (0..pool)
            .map(|w| {
                let id = format!("w{w}");
                scimap(&[
                    "sync", "worker", "--state", &database, "--once", "--poll", "100ms", "--id",
                    &id,
                ])
                .spawn()
                .unwrap()
            })
            .collect();
        for worker in &mut running {
            assert!(worker.wait().unwrap().success());
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "{:<22} {:<34} {:>8.0} objects/s   {took:.2} s for {} users in two jobs",
            format!("sync, {pool} worker{}", if pool == 1 { "" } else { "s" }),
            "two jobs into two targets",
            (2 * users) as f64 / took,
            2 * users
        );
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("scimap-backends-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let large: usize = std::env::var("USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cluster = Cluster::start("backends");
    println!(
        "{} connections, {REQUESTS} requests a phase (half for POST and PATCH)",
        load::CONNECTIONS
    );

    let sqlite = dir.join("bench.db");
    let server = replica("SQLite", sqlite.to_str().unwrap());
    measure("SQLite", &[&server], sqlite.to_str().unwrap(), large);
    drop(server);

    let one = cluster.database("one");
    let server = replica("PostgreSQL, 1 replica", &one);
    measure("PostgreSQL, 1 replica", &[&server], &one, large);
    drop(server);

    let two = cluster.database("two");
    let (a, b) = (replica("a", &two), replica("b", &two));
    measure("PostgreSQL, 2 replicas", &[&a, &b], &two, large);
    drop((a, b));

    workers(&cluster, &dir, 5_000);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
