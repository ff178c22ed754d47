//! The provisioning engine against `scimap serve` (its own process, SQLite in WAL on
//! disk): an initial cycle of 10,000 users and 100 groups of 100 members, an
//! incremental cycle with 1% of the users changed, and a cycle with nothing changed.
//!
//! `cargo bench --bench sync` (`OBJECTS=N` for N objects at a time instead of 16); results are in docs/performance.md. Not a criterion
//! bench: a cycle changes the target, so it cannot be repeated as is.

mod serve;

use std::time::Instant;

use scimap::mapping::Mapping;
use scimap::sync::plan::Assignments;
use scimap::sync::state::State;
use scimap::sync::{Engine, Source, Target, TargetConfig};
use serde_json::{json, Value as Json};

// The scimap binary's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 10_000;
const GROUPS: usize = 100;

fn users() -> Vec<Json> {
    (0..USERS)
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
    (0..GROUPS)
        .map(|g| {
            let members: Vec<String> = (0..USERS)
                .filter(|i| i % GROUPS == g)
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
    let mut engine = Engine::new(
        Mapping::embedded_default(),
        State::open(&dir.join("sync.db")).unwrap(),
        Target::new(TargetConfig::new(base, serve::TOKEN)).unwrap(),
    );
    // OBJECTS=1 measures one object at a time, as the engine first ran.
    if let Some(n) = std::env::var("OBJECTS").ok().and_then(|n| n.parse().ok()) {
        engine.options.concurrency = n;
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
    let _ = std::fs::remove_dir_all(dir);
}
