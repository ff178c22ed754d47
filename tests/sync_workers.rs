//! `scimap sync jobs` and `scimap sync worker` on a real PostgreSQL (see
//! `tests/postgres`): two workers sharing two jobs, a killed worker's job taken over,
//! a worker whose lease is taken away stopping its writes, SIGTERM giving a job back,
//! fenced state writes, and bad input.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use scimap::scim::ObjectKind;
use scimap::sync::jobs::{JobSpec, Queue};
use scimap::sync::state::{Link, StateError};
use serde_json::{json, Value as Json};

mod postgres;
mod recording;

use recording::{serve, Dir, Seen};

fn users(prefix: &str, n: usize) -> Vec<Json> {
    (0..n)
        .map(|i| {
            json!({"objectId": format!("{prefix}{i}"), "userPrincipalName": format!("{prefix}{i}@contoso.com"),
                   "mailNickname": format!("{prefix}{i}"), "givenName": "User", "surname": format!("{i}"),
                   "accountEnabled": true})
        })
        .collect()
}

fn posts(seen: &Seen) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(method, path, _)| method == "POST" && path.ends_with("/Users"))
        .count()
}

fn writes(seen: &Seen) -> usize {
    seen.lock().unwrap().len()
}

/// A jobs file of `jobs` (each `(name, users file, target)`, with `more` fields each).
fn jobs_file(dir: &Dir, jobs: &[(&str, &str, &str)], more: Json) -> String {
    let jobs: Vec<Json> = jobs
        .iter()
        .map(|(name, users, target)| {
            let mut job = json!({"name": name, "users": users, "target": target,
                                 "tokenEnv": "TARGET_TOKEN", "interval": "1h"});
            job.as_object_mut()
                .unwrap()
                .extend(more.as_object().unwrap().clone());
            job
        })
        .collect();
    let path = dir.path("jobs.json");
    std::fs::write(&path, json!({ "jobs": jobs }).to_string()).unwrap();
    path
}

fn scimap(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimap"));
    command.args(args).env("TARGET_TOKEN", "t");
    command
}

/// Runs the binary off the runtime's threads, so the targets keep answering.
async fn run(args: &[&str]) -> std::process::Output {
    let mut command = scimap(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A worker running in the background, its standard error read line by line.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Worker {
    fn start(url: &str, id: &str, more: &[&str]) -> Worker {
        let mut args = vec!["sync", "worker", "--state", url, "--id", id];
        args.extend(more);
        let mut child = scimap(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Worker {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to a minute) for a line of standard error containing `text`.
    async fn said(&mut self, text: &str) -> String {
        for _ in 0..1200 {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line.clone());
                if line.contains(text) {
                    return line;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no `{text}` within a minute; said: {:#?}", self.seen);
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn exit(mut self) -> (Option<i32>, Vec<String>) {
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            (status, self)
        })
        .await
        .unwrap();
        let (status, mut worker) = status;
        while let Ok(line) = worker.lines.recv_timeout(Duration::from_secs(5)) {
            worker.seen.push(line);
        }
        (status.code(), worker.seen)
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within a minute");
}

/// One value of a query on the database at `url`.
fn query<T>(url: &str, sql: &str) -> T
where
    T: for<'a> ::postgres::types::FromSql<'a> + Send + 'static,
{
    let (url, sql) = (url.to_string(), sql.to_string());
    postgres::off_runtime(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        client.query_one(&sql, &[]).unwrap().get(0)
    })
}

async fn total_users(base: &str) -> i64 {
    let client = reqwest::Client::new();
    let body: Json = client
        .get(format!("{base}/Users?count=1"))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["totalResults"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_two_jobs_and_run_each_once() {
    let url = postgres::fresh_database();
    let (base_a, seen_a) = serve().await;
    let (base_b, seen_b) = serve().await;
    let dir = Dir::new("workers-two");
    let (file_a, file_b) = (
        dir.file("a.ndjson", &users("a", 40)),
        dir.file("b.ndjson", &users("b", 30)),
    );
    let jobs = jobs_file(
        &dir,
        &[("app-a", &file_a, &base_a), ("app-b", &file_b, &base_b)],
        json!({}),
    );
    let out = run(&["sync", "jobs", &jobs, "--state", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("job app-a: added"),
        "{}",
        text(&out.stderr)
    );
    let again = run(&["sync", "jobs", &jobs, "--state", &url]).await;
    assert!(text(&again.stderr).contains("job app-b: unchanged"));

    let once = ["--once", "--lease", "5s", "--poll", "100ms"];
    let first = Worker::start(&url, "w1", &once);
    let second = Worker::start(&url, "w2", &once);
    let (one, said_one) = first.exit().await;
    let (two, said_two) = second.exit().await;
    assert_eq!(
        (one, two),
        (Some(0), Some(0)),
        "{said_one:#?} {said_two:#?}"
    );
    assert_eq!(
        (posts(&seen_a), posts(&seen_b)),
        (40, 30),
        "each user created once"
    );
    for (job, users) in [("app-a", 40i64), ("app-b", 30)] {
        let cycles: i64 = query(
            &url,
            &format!("SELECT COUNT(*) FROM scimap_sync_cycles WHERE job = '{job}' AND finished IS NOT NULL"),
        );
        assert_eq!(cycles, 1, "{job} ran once");
        let links: i64 = query(
            &url,
            &format!("SELECT COUNT(*) FROM scimap_sync_links WHERE job = '{job}'"),
        );
        assert_eq!(links, users);
        let released: bool = query(
            &url,
            &format!("SELECT lease_owner IS NULL AND next_run > now() + interval '50 minutes' FROM scimap_sync_jobs WHERE name = '{job}'"),
        );
        assert!(released, "{job} given back, due in an hour");
    }
    let said = [said_one, said_two].concat().join("\n");
    assert!(said.contains("job app-a: cycle 1: 40 created"), "{said}");
    assert!(said.contains("job app-b: cycle 1: 30 created"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_is_taken_over_and_nothing_is_created_twice() {
    let url = postgres::fresh_database();
    let (base, seen) = serve().await;
    let dir = Dir::new("workers-kill");
    let file = dir.file("users.ndjson", &users("k", 300));
    let jobs = jobs_file(&dir, &[("hr", &file, &base)], json!({"rate": 100}));
    let out = run(&["sync", "jobs", &jobs, "--state", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut killed = Worker::start(&url, "doomed", &["--lease", "2s", "--poll", "100ms"]);
    wait_for("the first worker's creates", || posts(&seen) >= 60).await;
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    assert!(posts(&seen) < 300, "killed mid-cycle");

    let mut heir = Worker::start(
        &url,
        "heir",
        &["--once", "--lease", "2s", "--poll", "100ms"],
    );
    heir.said("taken over from doomed, whose lease expired")
        .await;
    let (code, said) = heir.exit().await;
    assert_eq!(code, Some(0), "{said:#?}");
    let summary = said
        .iter()
        .find(|l| l.contains("job hr: cycle 2:"))
        .unwrap();
    assert!(summary.contains(" 0 failed"), "{summary}");
    assert_eq!(
        total_users(&base).await,
        300,
        "every user on the target once"
    );
    let links: i64 = query(
        &url,
        "SELECT COUNT(*) FROM scimap_sync_links WHERE job = 'hr'",
    );
    assert_eq!(links, 300);
    let workers: String = query(
        &url,
        "SELECT string_agg(worker || ':' || (finished IS NOT NULL)::text, ',' ORDER BY id) FROM scimap_sync_cycles",
    );
    assert_eq!(workers, "doomed:false,heir:true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_is_taken_stops_writing() {
    let url = postgres::fresh_database();
    let (base, seen) = serve().await;
    let dir = Dir::new("workers-steal");
    let file = dir.file("users.ndjson", &users("s", 300));
    let jobs = jobs_file(&dir, &[("hr", &file, &base)], json!({"rate": 50}));
    run(&["sync", "jobs", &jobs, "--state", &url]).await;

    let mut robbed = Worker::start(&url, "robbed", &["--lease", "3s", "--poll", "100ms"]);
    wait_for("the worker's creates", || posts(&seen) >= 30).await;
    postgres::sql(
        &url,
        "UPDATE scimap_sync_jobs SET lease_owner = 'thief', lease_epoch = lease_epoch + 1,
         lease_until = now() + interval '1 hour'",
    );
    robbed.said("the lease was lost").await;
    let stopped = robbed.said("error: job hr:").await;
    assert!(stopped.contains("the cycle stopped there"), "{stopped}");
    let after = writes(&seen);
    assert!(posts(&seen) < 300, "stopped mid-cycle");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(writes(&seen), after, "no write after the cycle stopped");
    let owner: String = query(&url, "SELECT lease_owner FROM scimap_sync_jobs");
    assert_eq!(
        owner, "thief",
        "the lost lease was not given back by the robbed worker"
    );
    robbed.signal("-TERM");
    let (code, said) = robbed.exit().await;
    assert_eq!(code, Some(0), "{said:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_the_job_back_and_metrics_count_it() {
    let url = postgres::fresh_database();
    let (base, seen) = serve().await;
    let dir = Dir::new("workers-term");
    let file = dir.file("users.ndjson", &users("t", 200));
    let jobs = jobs_file(&dir, &[("hr", &file, &base)], json!({"rate": 100}));
    run(&["sync", "jobs", &jobs, "--state", &url]).await;

    let mut first = Worker::start(
        &url,
        "first",
        &[
            "--lease",
            "30s",
            "--poll",
            "100ms",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let line = first.said("metrics at http://").await;
    let metrics_url = line.split_whitespace().last().unwrap().to_string();
    wait_for("the worker's creates", || posts(&seen) >= 20).await;
    let metrics = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"scimap_sync_lease_changes_total{job="hr",change="acquired"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"scimap_sync_objects_total{job="hr",action="Create",status="Success"}"#),
        "{metrics}"
    );
    first.signal("-TERM");
    let (code, said) = first.exit().await;
    assert_eq!(code, Some(0), "{said:#?}");
    let given_back: bool = query(
        &url,
        "SELECT lease_owner IS NULL AND next_run <= now() FROM scimap_sync_jobs",
    );
    assert!(given_back, "the job is free and due at once: {said:#?}");

    // A worker with a 30 s lease would hold the job that long if it had not given it back.
    let (code, said) = Worker::start(&url, "second", &["--once", "--poll", "100ms"])
        .exit()
        .await;
    assert_eq!(code, Some(0), "{said:#?}");
    assert_eq!(total_users(&base).await, 200);
    let links: i64 = query(&url, "SELECT COUNT(*) FROM scimap_sync_links");
    assert_eq!(links, 200);
}

#[test]
fn state_writes_need_the_lease_and_links_are_read_in_pages() {
    let url = postgres::fresh_database();
    let thread_url = url.clone();
    postgres::off_runtime(move || {
        let queue = Queue::open(&thread_url, "w1").unwrap();
        let spec: JobSpec = serde_json::from_value(json!({
            "name": "hr", "users": "/dev/null", "target": "http://127.0.0.1:9/scim/v2",
            "tokenEnv": "T", "interval": "1h"
        }))
        .unwrap();
        queue.define(&spec).unwrap();
        let claim = queue.claim(Duration::from_secs(60)).unwrap().unwrap();
        assert!(
            queue.claim(Duration::from_secs(60)).unwrap().is_none(),
            "a leased job is not taken twice"
        );
        let state = queue.state(&claim).unwrap();
        let link = Link {
            kind: ObjectKind::User,
            source_id: "u1".into(),
            target_id: "t1".into(),
            exported: json!({"userName": "u1"}),
            source_hash: u64::MAX,
            active: true,
        };
        state.save_link(&link).unwrap();
        assert_eq!(
            state.link(ObjectKind::User, "u1").unwrap(),
            Some(link.clone())
        );

        let mut client = ::postgres::Client::connect(&thread_url, ::postgres::NoTls).unwrap();
        client
            .batch_execute(
                "INSERT INTO scimap_sync_links
                 SELECT 'hr', 'User', 'v' || lpad(i::text, 6, '0'), 't', '{}', i, true
                 FROM generate_series(1, 20500) AS i",
            )
            .unwrap();
        let mut heads = Vec::new();
        state
            .heads(ObjectKind::User, |h| heads.push(h.source_id))
            .unwrap();
        assert_eq!(heads.len(), 20_501, "three pages");
        heads.sort();
        heads.dedup();
        assert_eq!(heads.len(), 20_501, "no link read twice");

        client
            .batch_execute(
                "UPDATE scimap_sync_jobs SET lease_owner = 'w2', lease_epoch = lease_epoch + 1",
            )
            .unwrap();
        let refused = state.save_link(&link).unwrap_err();
        assert!(
            matches!(&refused, StateError::LeaseLost { job } if job == "hr"),
            "{refused}"
        );
        assert!(matches!(
            state.fail(ObjectKind::User, "u1", "x", jiff::Timestamp::now()),
            Err(StateError::LeaseLost { .. })
        ));
        assert!(!queue.renew(&claim.holder, Duration::from_secs(60)).unwrap());
        assert!(state.escrows().unwrap().is_empty(), "nothing written");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jobs_files_databases_and_schemas_are_refused() {
    let dir = Dir::new("workers-bad");
    let url = postgres::fresh_database();
    let write = |content: Json| {
        let path = dir.path("jobs.json");
        std::fs::write(&path, content.to_string()).unwrap();
        path
    };
    let job = json!({"name": "hr", "users": "u.ndjson", "target": "http://127.0.0.1:9/scim/v2", "tokenEnv": "T"});
    let mut wrong = job.clone();
    wrong["interval"] = json!("soon");
    for (jobs, expected) in [
        (
            json!({"jobs": [wrong]}),
            "/jobs/0/interval: `soon` is not a duration",
        ),
        (
            json!({"jobs": [job.clone(), job]}),
            "/jobs/1/name: `hr` is empty or names another job too",
        ),
        (
            json!({"jobs": [{"name": "x", "user": "u"}]}),
            "unknown field `user`",
        ),
    ] {
        let path = write(jobs);
        let out = run(&["sync", "jobs", &path, "--state", &url]).await;
        assert_eq!(out.status.code(), Some(3));
        assert!(
            text(&out.stderr).contains(expected),
            "{}",
            text(&out.stderr)
        );
    }
    let untouched: bool = query(&url, "SELECT to_regclass('scimap_sync_jobs') IS NULL");
    assert!(
        untouched,
        "a wrong file is refused before the database is touched"
    );

    let out = run(&[
        "sync",
        "worker",
        "--state",
        "postgres://nobody@127.0.0.1:1/none",
        "--once",
    ])
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("the database cannot be reached"),
        "{}",
        text(&out.stderr)
    );

    let fresh = postgres::fresh_database();
    let out = run(&["sync", "worker", "--state", &fresh, "--migrate-only"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let version: i64 = query(&fresh, "SELECT version FROM scimap_sync_schema");
    assert_eq!(version, scimap::sync::state::postgres::SCHEMA_VERSION);
    postgres::sql(&fresh, "UPDATE scimap_sync_schema SET version = 99");
    let out = run(&["sync", "worker", "--state", &fresh, "--once"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("schema version 99, newer than this scimap's"),
        "{}",
        text(&out.stderr)
    );
}
