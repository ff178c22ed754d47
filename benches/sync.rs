//! The provisioning engine against `scimap serve` (its own process, SQLite in WAL on
//! disk): an initial cycle of 10,000 users and 100 groups of 100 members, an
//! incremental cycle with 1% of the users changed, and a cycle with nothing changed;
//! then an initial cycle of 2,000 users and 20 groups against Python's `scim2-server`.
//! Beside each, the yardstick: the same resources POSTed straight to a fresh target by
//! the same client, 8 at a time, which is what the target can take.
//!
//! `cargo bench --features cli --bench sync` (`OBJECTS=N` for N objects at a time instead of 16); results are in docs/performance.md. Not a criterion
//! bench: a cycle changes the target, so it cannot be repeated as is.

mod serve;

use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use scimap::mapping::Mapping;
use scimap::sync::state::State;
use scimap::sync::Assignments;
use scimap::sync::{Engine, Source, Target, TargetConfig};
use serde_json::{json, Value as Json};

// The scimap binary's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 10_000;
const GROUPS: usize = 100;

fn users() -> Vec<Json> {
    users_n(USERS)
}

fn users_n(n: usize) -> Vec<Json> {
    (0..n)
        .map(|i| {
            json!({"objectId": format!("u{i}"), "userPrincipalName": format!("user{i}@contoso.com"),
                   "mailNickname": format!("user{i}"), "givenName": "User", "surname": format!("{i}"),
                   "displayName": format!("User {i}"), "jobTitle": "Engineer",
                   "department": format!("Department {}", i % 20), "accountEnabled": true,
                   "manager": format!("u{}", i / 10)})
        })
        .collect()
}

fn groups() -> Vec<Json> {
    groups_n(USERS, GROUPS)
}

fn groups_n(users: usize, groups: usize) -> Vec<Json> {
    (0..groups)
        .map(|g| {
            let members: Vec<String> = (0..users)
                .filter(|i| i % groups == g)
                .map(|i| format!("u{i}"))
                .collect();
            json!({"objectId": format!("g{g}"), "displayName": format!("Group {g}"), "members": members})
        })
        .collect()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("scimap-bench-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = serve::scimap(&dir);
    let base = format!("http://{}{}", server.host, server.base);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut engine = Engine::builder(
        Mapping::embedded_default(),
        State::open(&dir.join("sync.db")).unwrap(),
        Target::new(TargetConfig::new(base, serve::TOKEN)).unwrap(),
    )
    .build();
    // OBJECTS=1 measures one object at a time, as the engine first ran.
    if let Some(n) = std::env::var("OBJECTS").ok().and_then(|n| n.parse().ok()) {
        engine.options_mut().concurrency = n;
    }
    let mut people = users();
    let teams = groups();
    let all = Assignments::All;
    let cycle = |people: &[Json], label: &str| {
        let source = Source::new(people, &teams, &all);
        let started = Instant::now();
        let cycle = runtime.block_on(engine.cycle(source)).unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(
            cycle.summary.failed,
            0,
            "{:?}",
            cycle.logs.iter().find(|l| l.status == "Failure")
        );
        let s = &cycle.summary;
        println!(
            "{label:<28} {elapsed:>7.2} s  {:>6} created {:>6} updated  {:>8.0} objects/s",
            s.created,
            s.updated,
            (USERS + GROUPS) as f64 / elapsed
        );
    };
    cycle(&people, "initial (10,000 + 100)");
    for user in people.iter_mut().step_by(100) {
        user["jobTitle"] = json!("Senior Engineer");
    }
    cycle(&people, "incremental (1% changed)");
    cycle(&people, "nothing changed");
    drop(server);
    std::fs::create_dir_all(dir.join("fresh")).unwrap();
    let fresh = serve::scimap(&dir.join("fresh"));
    let rate = raw_posts(&runtime, &fresh, &users(), &groups());
    println!("{:<28} {rate:>26.0} objects/s", "yardstick: raw POSTs");
    drop(fresh);

    let (people, teams) = (users_n(2_000), groups_n(2_000, 20));
    let python = serve::scim2_server();
    let rate = raw_posts(&runtime, &python, &people, &teams);
    println!("{:<28} {rate:>26.0} objects/s", "scim2-server: raw POSTs");
    drop(python);
    let python = serve::scim2_server();
    let engine = Engine::builder(
        Mapping::embedded_default(),
        State::in_memory().unwrap(),
        Target::new(TargetConfig::new(
            format!("http://{}{}", python.host, python.base),
            serve::TOKEN,
        ))
        .unwrap(),
    )
    .build();
    let started = Instant::now();
    let cycle = runtime
        .block_on(engine.cycle(Source::new(&people, &teams, &all)))
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(cycle.summary.failed, 0);
    println!(
        "{:<28} {elapsed:>7.2} s  {:>6} created {:>8.0} objects/s",
        "scim2-server: initial (2,020)",
        cycle.summary.created,
        (people.len() + teams.len()) as f64 / elapsed
    );
    drop(python);
    let _ = std::fs::remove_dir_all(dir);
}

/// The mapped users and groups POSTed straight to `server` by the engine's client, 8
/// requests in flight: objects per second.
fn raw_posts(
    runtime: &tokio::runtime::Runtime,
    server: &serve::Server,
    users: &[Json],
    groups: &[Json],
) -> f64 {
    let mapping = Mapping::embedded_default();
    let mut bodies = Vec::new();
    for (kind, records, path) in [("User", users, "/Users"), ("Group", groups, "/Groups")] {
        let object = mapping.object(kind).unwrap();
        let batch = object.batch(records).unwrap();
        object.apply_batch(&batch, &Default::default(), |_, made| {
            bodies.push((path, made.unwrap().resource().unwrap().to_json()));
        });
    }
    let target = Target::new(TargetConfig::new(
        format!("http://{}{}", server.host, server.base),
        serve::TOKEN,
    ))
    .unwrap();
    let started = Instant::now();
    let sent: Vec<bool> = runtime.block_on(
        stream::iter(&bodies)
            .map(|(path, body)| {
                let target = &target;
                async move {
                    target
                        .send(reqwest::Method::POST, path, Some(body))
                        .await
                        .is_ok()
                }
            })
            .buffer_unordered(16)
            .collect(),
    );
    assert!(sent.iter().all(|ok| *ok), "every raw POST succeeds");
    bodies.len() as f64 / started.elapsed().as_secs_f64()
}
