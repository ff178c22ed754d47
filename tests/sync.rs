//! The sync engine end to end against `scimap serve` on loopback: an initial cycle, then
//! incremental changes, with the write requests the target saw counted; faults
//! injected in front of the server; the command as a daemon, on demand, and killed.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use scimap::mapping::Mapping;
use scimap::scim::ObjectKind;
use scimap::sync::state::State;
use scimap::sync::Assignments;
use scimap::sync::{Engine, Source, Stop, Target, TargetConfig};
use serde_json::{json, Value as Json};

mod recording;

use recording::{serve, serve_on, serve_with, Dir, Injected, Seen};

fn users(n: usize) -> Vec<Json> {
    (0..n)
        .map(|i| {
            json!({"objectId": format!("u{i}"), "userPrincipalName": format!("user{i}@contoso.com"),
                   "mailNickname": format!("user{i}"), "givenName": "User", "surname": format!("{i}"),
                   "jobTitle": "Engineer", "accountEnabled": true,
                   // u0's manager is created after u0: set once both exist.
                   "manager": if i > 0 { json!("u0") } else { json!(format!("u{}", n - 1)) }})
        })
        .collect()
}

/// Ten groups of the users whose number ends in the group's digit.
fn groups(people: &[Json]) -> Vec<Json> {
    (0..10)
        .map(|g| {
            let members: Vec<&Json> = people
                .iter()
                .map(|u| &u["objectId"])
                .filter(|id| id.as_str().unwrap().ends_with(&g.to_string()))
                .collect();
            json!({"objectId": format!("g{g}"), "displayName": format!("Team {g}"), "members": members})
        })
        .collect()
}

fn writes(seen: &Seen) -> Vec<(String, String, String)> {
    std::mem::take(&mut *seen.lock().unwrap())
}

fn engine(base: &str) -> Engine {
    engine_with(TargetConfig::new(base, "t"))
}

fn engine_with(config: TargetConfig) -> Engine {
    Engine::builder(
        Mapping::embedded_default(),
        State::in_memory().unwrap(),
        Target::new(config).unwrap(),
    )
    .build()
}

fn ids(records: &[Json]) -> HashSet<String> {
    records
        .iter()
        .map(|r| r["objectId"].as_str().unwrap().to_string())
        .collect()
}

fn source<'a>(users: &'a [Json], groups: &'a [Json], assigned: &'a Assignments) -> Source<'a> {
    Source::new(users, groups, assigned)
}

fn count(sent: &[(String, String, String)], method: &str, path: &str) -> usize {
    sent.iter()
        .filter(|(m, p, _)| m == method && p.contains(path))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_then_incremental_cycles() {
    let (base, seen) = serve().await;
    let engine = engine(&base);
    let mut people = users(1000);
    let teams = groups(&people);
    let assigned = Assignments::Assigned {
        users: ids(&people),
        groups: ids(&teams),
    };

    let cycle = engine
        .cycle(source(&people, &teams, &assigned))
        .await
        .unwrap();
    assert_eq!(
        (cycle.summary.created, cycle.summary.failed, cycle.stop),
        (1010, 0, None),
        "{:?}",
        cycle.logs.iter().find(|l| l.status != "Success")
    );
    let initial = writes(&seen);
    assert_eq!(count(&initial, "POST", "/Users"), 1000);
    assert_eq!(count(&initial, "POST", "/Groups"), 10);
    // Each user gets its manager once the manager exists; each group its 100 members in one PATCH.
    assert_eq!(count(&initial, "PATCH", "/Groups/"), 10);
    let group_patch = initial
        .iter()
        .find(|(m, p, _)| m == "PATCH" && p.contains("/Groups/"))
        .unwrap();
    let body: Json = serde_json::from_str(&group_patch.2).unwrap();
    assert_eq!(body["Operations"][0]["path"], "members");
    assert_eq!(
        body["Operations"][0]["value"].as_array().unwrap().len(),
        100
    );
    // Each user's manager goes in its POST when the manager exists already, else in a
    // PATCH once it does.
    let manager_set = initial
        .iter()
        .filter(|(m, p, b)| {
            (m == "PATCH" && p.contains("/Users/") || m == "POST" && p.ends_with("/Users"))
                && b.contains("manager")
        })
        .count();
    assert_eq!(manager_set, 1000);
    let create = &cycle.logs[0];
    let steps: Vec<&str> = create.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["import", "scope", "match", "evaluate", "provision"]);
    assert!(create
        .modified_properties
        .iter()
        .any(|m| m.name == "userName" && m.new_value == "user0@contoso.com"));

    // Nothing changed: no write at all, no log.
    let cycle = engine
        .cycle(source(&people, &teams, &assigned))
        .await
        .unwrap();
    assert_eq!(cycle.summary, Default::default());
    assert!(cycle.logs.is_empty());
    assert!(writes(&seen).is_empty());

    // One attribute: one PATCH with only that attribute, logged old -> new.
    people[5]["jobTitle"] = json!("Architect");
    let cycle = engine
        .cycle(source(&people, &teams, &assigned))
        .await
        .unwrap();
    assert_eq!(cycle.summary.updated, 1);
    let sent = writes(&seen);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        serde_json::from_str::<Json>(&sent[0].2).unwrap()["Operations"],
        json!([{"op": "replace", "path": "title", "value": "Architect"}])
    );
    let modified = &cycle.logs[0].modified_properties;
    assert_eq!(
        (
            modified.len(),
            modified[0].name.as_str(),
            &modified[0].old_value,
            &modified[0].new_value
        ),
        (1, "title", &json!("Engineer"), &json!("Architect"))
    );

    // Disabled in the source: disabled. Deleted from the source: deleted. A member
    // leaves: one group PATCH.
    people[7]["accountEnabled"] = json!(false);
    people.retain(|u| u["objectId"] != "u19");
    let mut teams = groups(&people);
    teams[3]["members"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m != "u13");
    let cycle = engine
        .cycle(source(&people, &teams, &assigned))
        .await
        .unwrap();
    let s = &cycle.summary;
    assert_eq!(
        (s.disabled, s.deleted, s.updated, s.failed),
        (1, 1, 2, 0),
        "{:?}",
        cycle.logs
    );
    let sent = writes(&seen);
    let disable = sent
        .iter()
        .find(|(m, _, b)| m == "PATCH" && b.contains("active"))
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Json>(&disable.2).unwrap()["Operations"],
        json!([{"op": "replace", "path": "active", "value": false}])
    );
    assert_eq!(count(&sent, "DELETE", "/Users/"), 1);
    // Team 9 loses the deleted u19, team 3 loses u13.
    let memberships: Vec<&String> = sent
        .iter()
        .filter(|(_, p, _)| p.contains("/Groups/"))
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(memberships.len(), 2, "{memberships:?}");
    assert!(memberships.iter().all(|b| b.contains("members[value eq")));
    assert_eq!(sent.len(), 4);
    let disabled = cycle.logs.iter().find(|l| l.action == "Disable").unwrap();
    assert_eq!(
        (disabled.source_id.as_str(), disabled.reason.as_str()),
        ("u7", "disabled in the source")
    );

    // A group renamed: one PATCH of its name, its members left alone.
    teams[5]["displayName"] = json!("Platform");
    let cycle = engine
        .cycle(source(&people, &teams, &assigned))
        .await
        .unwrap();
    assert_eq!(cycle.summary.updated, 1, "{:?}", cycle.logs);
    let sent = writes(&seen);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        serde_json::from_str::<Json>(&sent[0].2).unwrap()["Operations"],
        json!([{"op": "replace", "path": "displayName", "value": "Platform"}])
    );

    // Enabled again in the source: one PATCH of `active`.
    let u7 = people.iter_mut().find(|u| u["objectId"] == "u7").unwrap();
    u7["accountEnabled"] = json!(true);
    let cycle = engine
        .cycle(source(&people, &teams, &assigned))
        .await
        .unwrap();
    assert_eq!(
        (cycle.summary.updated, cycle.logs[0].reason.as_str()),
        (1, "back in scope: enabled again")
    );
    let sent = writes(&seen);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        serde_json::from_str::<Json>(&sent[0].2).unwrap()["Operations"],
        json!([{"op": "replace", "path": "active", "value": true}])
    );
}

fn fault(status: u16, body: Json) -> Option<Injected> {
    Some(Injected::Answer(
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/scim+json")],
            body.to_string(),
        )
            .into_response(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_escrowed_and_logged() {
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hits = busy.clone();
    let (base, seen) = serve_with(Arc::new(move |method, target, body| {
        let user = |n: u32| body.contains(&format!("\"user{n}@contoso.com\""));
        match method {
            // Busy twice for user1, then fine.
            "POST" if user(1) && hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 => {
                let mut answer = (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    [("content-type", "application/scim+json")],
                    json!({"detail": "slow down"}).to_string(),
                )
                    .into_response();
                answer
                    .headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static("0"));
                Some(Injected::Answer(answer))
            }
            "POST" if user(2) => fault(
                500,
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                       "status": "500", "detail": "the directory backend is down"}),
            ),
            "POST" if user(3) => Some(Injected::Delay(Duration::from_millis(600))),
            "GET" if target.contains("user4%40contoso.com") => fault(
                200,
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                       "totalResults": 2, "Resources": [{"id": "a", "userName": "user4@contoso.com"},
                                                        {"id": "b", "userName": "USER4@contoso.com"}]}),
            ),
            _ => None,
        }
    }))
    .await;
    let mut config = TargetConfig::new(&base, "t");
    config.timeout = Duration::from_millis(300);
    config.retries = 2;
    config.backoff = Duration::from_millis(10);
    let engine = engine_with(config);
    let people = users(6);
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    let status = |id: &str| {
        let log = cycle.logs.iter().find(|l| l.source_id == id).unwrap();
        (log.status.as_str(), log.error.as_ref().map(|e| e.code))
    };
    assert_eq!(status("u0"), ("Success", None));
    assert_eq!(status("u1"), ("Success", None), "429s are retried");
    assert_eq!(status("u2"), ("Failure", Some("TargetFailed")));
    assert_eq!(status("u3"), ("Failure", Some("TargetTimeout")));
    assert_eq!(status("u4"), ("Failure", Some("AmbiguousMatch")));
    let failed = cycle.logs.iter().find(|l| l.source_id == "u2").unwrap();
    let error = failed.error.as_ref().unwrap();
    assert_eq!(
        (error.status, error.detail.as_deref()),
        (Some(500), Some("the directory backend is down"))
    );
    assert_eq!(failed.steps.last().unwrap().name, "provision");
    assert_eq!(failed.steps.last().unwrap().status, "Failure");
    assert_eq!(cycle.summary.failed, 3);
    let escrow = engine
        .state()
        .escrow(ObjectKind::User, "u2")
        .unwrap()
        .unwrap();
    assert_eq!(escrow.attempts, 1);
    // u1 created once (its two refused POSTs never reached the server), nobody twice.
    let posted: Vec<Json> = writes(&seen)
        .iter()
        .filter(|(m, _, _)| m == "POST")
        .map(|(_, _, b)| serde_json::from_str::<Json>(b).unwrap()["userName"].clone())
        .collect();
    for name in [
        "user0@contoso.com",
        "user1@contoso.com",
        "user5@contoso.com",
    ] {
        assert_eq!(
            posted.iter().filter(|n| *n == name).count(),
            1,
            "{posted:?}"
        );
    }
    assert!(!posted.contains(&json!("user2@contoso.com")));

    // The next cycle leaves the escrowed objects alone until their retry time.
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(
        (cycle.summary.skipped, cycle.summary.failed),
        (3, 0),
        "{:?}",
        cycle.logs
    );
    assert!(cycle.logs[0]
        .reason
        .starts_with("in escrow after 1 failures"));
    assert!(writes(&seen).iter().all(|(m, _, _)| m != "POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deletion_threshold_stages_and_quarantine_stops() {
    let (base, seen) = serve().await;
    let mut engine = engine(&base);
    engine.options_mut().deletion_threshold = Some(2);
    let mut people = users(10);
    engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    writes(&seen);
    people.truncate(7);
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(
        cycle.stop,
        Some(Stop::DeletionThreshold {
            staged: 3,
            threshold: 2,
            why: "3 deleted from the source".into(),
        })
    );
    assert_eq!(cycle.summary.staged, 3);
    assert!(cycle
        .logs
        .iter()
        .all(|l| l.action == "StagedDelete" && l.status == "Skipped"));
    assert!(writes(&seen).is_empty(), "nothing is sent");
    engine.options_mut().allow_deletes = true;
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!((cycle.summary.deleted, cycle.stop), (3, None));

    // A target failing every create: quarantined after the threshold, the rest not run.
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let broken = failing.clone();
    let (base, seen) = serve_with(Arc::new(move |method: &str, _: &str, _: &str| {
        (method == "POST" && broken.load(std::sync::atomic::Ordering::SeqCst))
            .then(|| fault(400, json!({"detail": "no"})).unwrap())
    }))
    .await;
    let mut engine = self::engine(&base);
    engine.options_mut().concurrency = 1;
    engine.options_mut().quarantine.start = 3;
    let people = users(20);
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert!(
        matches!(cycle.stop, Some(Stop::Quarantined(_))),
        "{:?}",
        cycle.stop
    );
    assert_eq!((cycle.summary.failed, cycle.summary.not_run), (3, 17));
    assert!(engine.state().quarantine().unwrap().is_some());
    assert!(writes(&seen).is_empty());
    // Restarted once the target is fixed: everything goes, and the quarantine is lifted.
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    engine.state().restart().unwrap();
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!((cycle.summary.created, cycle.stop), (20, None));
    assert_eq!(engine.state().quarantine().unwrap(), None);

    // Four weeks in quarantine disable the job until a restart.
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(29 * 24);
    let reason = "most calls failed".to_string();
    engine
        .state()
        .set_quarantine(&scimap::sync::state::Quarantine { reason, since })
        .unwrap();
    let refused = engine.cycle(source(&people, &[], &Assignments::All)).await;
    assert!(
        matches!(refused, Err(scimap::sync::EngineError::Disabled { .. })),
        "{:?}",
        refused.err()
    );
    engine.state().restart().unwrap();
    assert!(engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_unique_value_asks_the_target() {
    let (base, seen) = serve().await;
    let mapping = || {
        Mapping::from_json(
        r#"{"objects": [{"name": "users", "source": "User", "target": "User", "attributes": [
            {"target": "userName", "source": "SelectUniqueValue(Join(\"@\", [mailNickname], \"contoso.com\"), Join(\"@\", Join(\"\", [mailNickname], \"2\"), \"contoso.com\"))"},
            {"target": "externalId", "source": "[objectId]", "matching": 1}]}]}"#,
    )
    .unwrap()
    };
    let target = TargetConfig::new(&base, "t");
    let first = Engine::builder(
        mapping(),
        State::in_memory().unwrap(),
        Target::new(target.clone()).unwrap(),
    )
    .build();
    let ada = json!({"objectId": "a", "mailNickname": "ada", "accountEnabled": true});
    first
        .cycle(source(std::slice::from_ref(&ada), &[], &Assignments::All))
        .await
        .unwrap();
    // Another directory's Ada, with the same nickname, gets the second candidate.
    let other = Engine::builder(
        mapping(),
        State::in_memory().unwrap(),
        Target::new(target).unwrap(),
    )
    .build();
    let twin = json!({"objectId": "b", "mailNickname": "ada", "accountEnabled": true});
    let cycle = other
        .cycle(source(std::slice::from_ref(&twin), &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(cycle.summary.created, 1, "{:?}", cycle.logs);
    let posts: Vec<Json> = writes(&seen)
        .iter()
        .filter(|(m, _, _)| m == "POST")
        .map(|(_, _, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(posts[0]["userName"], "ada@contoso.com");
    assert_eq!(posts[1]["userName"], "ada2@contoso.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_on_demand() {
    let (base, seen) = serve().await;
    let engine = engine(&base);
    let people = users(5);
    let teams = vec![json!({"objectId": "g", "displayName": "Ops", "members": ["u1", "u2"]})];
    let assigned = Assignments::Assigned {
        users: HashSet::from(["u3".to_string(), "u4".to_string()]),
        groups: HashSet::from(["g".to_string()]),
    };
    let cycle = engine
        .provision_on_demand(source(&people, &teams, &assigned), "u3")
        .await
        .unwrap();
    assert_eq!(cycle.logs.len(), 1);
    let report = scimap::sync::log::report(&cycle.logs[0]);
    assert!(
        report.starts_with("User user3@contoso.com (u3): Create Success"),
        "{report}"
    );
    for step in [
        "1. import",
        "2. scope",
        "3. match",
        "4. evaluate",
        "5. provision",
    ] {
        assert!(report.contains(step), "{report}");
    }
    assert_eq!(count(&writes(&seen), "POST", "/Users"), 1);
    // Unchanged, on demand again: evaluated, nothing to send.
    let cycle = engine
        .provision_on_demand(source(&people, &teams, &assigned), "u3")
        .await
        .unwrap();
    assert_eq!(
        (cycle.logs[0].action.as_str(), cycle.logs[0].status.as_str()),
        ("Other", "Skipped")
    );
    // Out of scope: said so. A group: with its members.
    let cycle = engine
        .provision_on_demand(source(&people, &teams, &assigned), "u0")
        .await
        .unwrap();
    assert_eq!(cycle.logs[0].steps[1].detail, "not assigned");
    let cycle = engine
        .provision_on_demand(source(&people, &teams, &assigned), "g")
        .await
        .unwrap();
    assert_eq!(cycle.summary.created, 3, "{:?}", cycle.logs);
    assert!(engine
        .provision_on_demand(source(&people, &teams, &assigned), "nobody")
        .await
        .is_err());
}

/// Runs the `scimap` binary off the runtime's threads, so the server keeps answering.
async fn scimap(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_scimap"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn sync_args(base: &str, token: &str, users: &str, state: &str, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "sync", "--target", base, "--token", token, "--users", users, "--state", state,
    ]
    .map(String::from)
    .to_vec();
    args.extend(more.iter().map(|a| a.to_string()));
    args
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_command() {
    let (base, seen) = serve().await;
    let dir = Dir::new("sync-cli");
    let state = dir.path("state.db");
    let three = dir.file("users.ndjson", &users(3));

    let out = scimap(sync_args(
        &base,
        "t",
        &three,
        &state,
        &["--once", "--dry-run"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests: Vec<&Json> = lines.iter().filter(|l| l.get("method").is_some()).collect();
    assert_eq!(
        requests.iter().filter(|r| r["method"] == "POST").count(),
        3,
        "{requests:?}"
    );
    assert!(writes(&seen).is_empty(), "a dry run sends nothing");

    let out = scimap(sync_args(&base, "t", &three, &state, &["--once"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let logs: Vec<Json> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Three creates, logged as each finishes; a manager created after its report (the
    // users go concurrently) is set by an Update once it exists.
    let mut creates: Vec<&str> = logs
        .iter()
        .filter(|l| l["action"] == "Create")
        .map(|l| l["sourceId"].as_str().unwrap())
        .collect();
    creates.sort();
    assert_eq!(creates, ["u0", "u1", "u2"]);
    assert!(logs
        .iter()
        .all(|l| l["action"] == "Create" || l["action"] == "Update"));
    assert!(logs
        .iter()
        .all(|l| l["status"] == "Success" && l["cycleId"] == 1));
    assert!(
        stderr(&out).contains("cycle 1: 3 created"),
        "{}",
        stderr(&out)
    );
    writes(&seen);

    // A record that cannot be read fails alone; the others go on, and since the
    // absent u1 and u2 may be that record, nothing is deleted.
    let broken = dir.path("broken.ndjson");
    std::fs::write(&broken, format!("{}\n{{\"objectId\": \n", users(1)[0])).unwrap();
    let out = scimap(sync_args(&base, "t", &broken, &state, &["--once"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let logs: Vec<Json> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let codes: Vec<&str> = logs
        .iter()
        .filter_map(|l| l["error"]["code"].as_str())
        .collect();
    // users(1) makes u0 its own manager: dropped, with a warning.
    assert_eq!(codes, ["SourceRecordInvalid", "SelfManager"], "{logs:?}");
    assert_eq!(
        (&logs[0]["status"], &logs[1]["status"]),
        (&json!("Failure"), &json!("Warning"))
    );
    let reason = logs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("broken.ndjson: record 1 (line 2)"),
        "{reason}"
    );
    assert!(reason.contains("not deleted in this cycle"), "{reason}");
    assert_eq!(
        writes(&seen),
        vec![],
        "nothing deleted for a record that could not be read"
    );

    // Two records with one id: nothing is sent, and both are named.
    let twice = dir.path("twice.ndjson");
    let one = &users(1)[0];
    std::fs::write(&twice, format!("{one}\n{}\n{one}\n", users(2)[1])).unwrap();
    let out = scimap(sync_args(&base, "t", &twice, &state, &["--once"])).await;
    assert_eq!(out.status.code(), Some(3));
    let error = stderr(&out);
    assert!(
        error.contains("User `u0` is in the snapshot twice"),
        "{error}"
    );
    assert!(
        error.contains("twice.ndjson: record 0 (line 1) and"),
        "{error}"
    );
    assert!(
        error.contains("twice.ndjson: record 2 (line 3); nothing was sent"),
        "{error}"
    );
    assert_eq!(writes(&seen), vec![]);

    let four = dir.file("more.ndjson", &users(4));
    let out = scimap(sync_args(&base, "wrong", &four, &state, &["--once"])).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("refused the token"),
        "{}",
        stderr(&out)
    );
    let html = serve_with(Arc::new(|_: &str, _: &str, _: &str| {
        Some(Injected::Answer(
            (axum::http::StatusCode::OK, "<html>sign in</html>").into_response(),
        ))
    }))
    .await
    .0;
    let out = scimap(sync_args(&html, "t", &four, &state, &["--once"])).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("not SCIM"), "{}", stderr(&out));
    let out = scimap(sync_args(
        "http://127.0.0.1:9",
        "t",
        &four,
        &state,
        &["--once"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("cannot be reached"),
        "{}",
        stderr(&out)
    );
    assert!(writes(&seen).is_empty());

    // On demand: a step-by-step report.
    let out = scimap(sync_args(&base, "t", &four, &state, &["--only", "u3"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("5. provision ok"), "{report}");
    assert_eq!(count(&writes(&seen), "POST", "/Users"), 1);

    // Two users gone with a threshold of one: staged, exit code 4, nothing sent.
    let two = dir.file("two.ndjson", &users(2));
    let out = scimap(sync_args(
        &base,
        "t",
        &two,
        &state,
        &["--once", "--deletion-threshold", "1"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-deletes"), "{}", stderr(&out));
    assert!(writes(&seen).is_empty());
    let out = scimap(sync_args(
        &base,
        "t",
        &two,
        &state,
        &["--once", "--deletion-threshold", "1", "--allow-deletes"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(count(&writes(&seen), "DELETE", "/Users/"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_cycles_until_interrupted() {
    // The target is down when the daemon starts: that cycle is skipped, the next goes.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let base = format!("http://{address}/scim/v2");
    let dir = Dir::new("sync-daemon");
    let state = dir.path("state.db");
    let file = dir.file("users.ndjson", &users(3));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args(sync_args(
            &base,
            "t",
            &file,
            &state,
            &["--interval", "1s", "--retries", "0"],
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut errors = BufReader::new(child.stderr.take().unwrap());
    let first = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            errors.read_line(&mut line).unwrap();
            lines.push(line);
        }
        (lines, errors)
    })
    .await
    .unwrap();
    assert!(
        first.0[1].contains("connection test") && first.0[1].contains("nothing was sent"),
        "{:?}",
        first.0
    );
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let (_, seen) = serve_on(listener, Arc::new(|_: &str, _: &str, _: &str| None));
    let cycles = |n: usize| {
        let state = state.clone();
        async move {
            for _ in 0..200 {
                if let Ok(history) =
                    State::open(std::path::Path::new(&state)).and_then(|s| s.cycles())
                {
                    if history.len() >= n {
                        return history;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("no {n} cycles within 10 s");
        }
    };
    cycles(1).await;
    let mut changed = users(3);
    changed[1]["jobTitle"] = json!("Director");
    dir.file("users.ndjson", &changed);
    let history = cycles(3).await;
    assert_eq!(history[0]["summary"]["created"], 3);
    let sent = writes(&seen);
    assert!(
        sent.iter()
            .any(|(m, _, b)| m == "PATCH" && b.contains("Director")),
        "the next cycle read the changed snapshot"
    );
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_cycle_the_rerun_creates_no_duplicates() {
    let (base, seen) = serve().await;
    let dir = Dir::new("sync-kill");
    let state = dir.path("state.db");
    let people = users(1000);
    let file = dir.file("users.ndjson", &people);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args(sync_args(
            &base,
            "t",
            &file,
            &state,
            &["--once", "--concurrency", "2"],
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if seen.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = count(&writes(&seen), "POST", "/Users");
    assert!(
        before > 0 && before < 1000,
        "killed mid-cycle ({before} created)"
    );

    let out = scimap(sync_args(&base, "t", &file, &state, &["--once"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = count(&writes(&seen), "POST", "/Users");
    assert_eq!(before + after, 1000, "each user created once");
    // Everyone is in the target once, and linked.
    let engine = Engine::builder(
        Mapping::embedded_default(),
        State::open(std::path::Path::new(&state)).unwrap(),
        Target::new(TargetConfig::new(&base, "t")).unwrap(),
    )
    .build();
    assert_eq!(engine.state().links(ObjectKind::User).unwrap().len(), 1000);
    let listed = engine
        .target()
        .send(reqwest::Method::GET, "/Users?count=1", None)
        .await
        .unwrap();
    assert_eq!(listed.body.unwrap()["totalResults"], 1000);
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(
        cycle.summary,
        Default::default(),
        "nothing left to do: {:?}",
        cycle.logs
    );
}

/// What the target holds, read back over HTTP: every resource of an endpoint.
async fn everything(base: &str, endpoint: &str) -> Vec<Json> {
    let target = Target::new(TargetConfig::new(base, "t")).unwrap();
    let answer = target
        .send(
            reqwest::Method::GET,
            &format!("{endpoint}?count=1000"),
            None,
        )
        .await
        .unwrap();
    answer.body.unwrap()["Resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A create whose answer is lost after the target acted is matched again, not sent
/// again: one object on the target per source object, users and groups alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_never_creates_twice() {
    let (base, seen) = serve_with(Arc::new(|method: &str, _: &str, body: &str| {
        let lost = body.contains("\"user1@contoso.com\"") || body.contains("\"Team 1\"");
        (method == "POST" && lost).then_some(Injected::LoseAnswer)
    }))
    .await;
    let mut config = TargetConfig::new(&base, "t");
    config.timeout = Duration::from_millis(400);
    config.backoff = Duration::from_millis(10);
    let engine = engine_with(config);
    let people = users(3);
    let teams = groups(&people);
    let cycle = engine
        .cycle(source(&people, &teams, &Assignments::All))
        .await
        .unwrap();
    assert_eq!(cycle.summary.failed, 0, "{:#?}", cycle.logs);
    let log = cycle.logs.iter().find(|l| l.source_id == "u1").unwrap();
    assert_eq!(log.status, "Success");
    let steps: Vec<&str> = log.steps.iter().map(|s| s.detail.as_str()).collect();
    assert!(
        steps
            .iter()
            .any(|s| s.contains("matched again instead of sent again")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("the create had reached the target")),
        "{steps:?}"
    );
    assert_eq!(
        log.requests.iter().filter(|r| r.method == "POST").count(),
        1
    );
    let posts = writes(&seen).iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(posts, 3 + 10, "one POST per object");
    let users_there = everything(&base, "/Users").await;
    let groups_there = everything(&base, "/Groups").await;
    assert_eq!((users_there.len(), groups_there.len()), (3, 10));
    let rerun = engine
        .cycle(source(&people, &teams, &Assignments::All))
        .await
        .unwrap();
    assert_eq!(writes(&seen).len(), 0, "{:#?}", rerun.logs);
}

/// The same through the command, whose snapshot is packed as text and parsed per step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_through_the_command_never_creates_twice() {
    let (base, seen) = serve_with(Arc::new(|method: &str, _: &str, body: &str| {
        (method == "POST" && body.contains("\"user1@contoso.com\"")).then_some(Injected::LoseAnswer)
    }))
    .await;
    let dir = Dir::new("sync-lost-answer");
    let state = dir.path("state.db");
    let people = dir.file("users.ndjson", &users(3));
    let args = ["--once", "--timeout", "1", "--retries", "1"];
    let out = scimap(sync_args(&base, "t", &people, &state, &args)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let logs: Vec<Json> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let created = logs
        .iter()
        .find(|l| l["sourceId"] == "u1" && l["action"] == "Create")
        .unwrap();
    assert_eq!(created["status"], "Success", "{created:#}");
    let steps = created["steps"].to_string();
    assert!(
        steps.contains("matched again instead of sent again"),
        "{steps}"
    );
    let posts = writes(&seen).iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(posts, 3, "one POST per user");
    assert_eq!(everything(&base, "/Users").await.len(), 3);
    let rerun = scimap(sync_args(&base, "t", &people, &state, &args)).await;
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    assert_eq!(writes(&seen), vec![], "{}", stdout(&rerun));
}

/// A target that ignores filters answers every match query with the same unrelated
/// user: that is no match, and nobody is linked to it or renamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_a_filter_returns_are_matches_only_with_the_value_searched() {
    let unrelated: Arc<Mutex<Option<Json>>> = Arc::default();
    let answer = unrelated.clone();
    let (base, seen) = serve_with(Arc::new(move |method: &str, path: &str, _: &str| {
        let user = answer.lock().unwrap().clone()?;
        (method == "GET" && path.contains("filter=userName")).then(|| {
            fault(
                200,
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                              "totalResults": 1, "Resources": [user]}),
            )
        })?
    }))
    .await;
    let bystander = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                           "userName": "bystander@contoso.com", "displayName": "Bystander"});
    let target = Target::new(TargetConfig::new(&base, "t")).unwrap();
    let made = target
        .send(reqwest::Method::POST, "/Users", Some(&bystander))
        .await
        .unwrap()
        .body
        .unwrap();
    *unrelated.lock().unwrap() = Some(made.clone());
    writes(&seen);
    let engine = engine(&base);
    let people = users(3);
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(
        (cycle.summary.created, cycle.summary.failed),
        (3, 0),
        "{:#?}",
        cycle.logs
    );
    let log = &cycle.logs[0];
    assert!(
        log.steps
            .iter()
            .any(|s| s.detail.contains("0 of them with that value")),
        "{:#?}",
        log.steps
    );
    let there = everything(&base, "/Users").await;
    assert_eq!(there.len(), 4);
    let still = there.iter().find(|u| u["id"] == made["id"]).unwrap();
    assert_eq!(
        (&still["userName"], &still["displayName"]),
        (&made["userName"], &made["displayName"])
    );
    let written: Vec<String> = writes(&seen).into_iter().map(|(_, path, _)| path).collect();
    assert!(
        written
            .iter()
            .all(|p| !p.contains(made["id"].as_str().unwrap())),
        "{written:?}"
    );
}

/// One target object is never linked to two source objects: a second source object
/// whose matching value is the first one's (differing in case) fails, touching nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_object_is_linked_to_one_source_object() {
    let (base, seen) = serve().await;
    let engine = engine(&base);
    let mut people = users(2);
    engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    writes(&seen);
    let mut twin = people[1].clone();
    twin["objectId"] = json!("u9");
    twin["userPrincipalName"] = json!("USER1@contoso.com");
    people.push(twin);
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    let log = cycle.logs.iter().find(|l| l.source_id == "u9").unwrap();
    let error = log.error.as_ref().unwrap();
    assert_eq!(
        (log.status.as_str(), error.code),
        ("Failure", "MatchLinkedToAnother")
    );
    assert!(
        error.reason.contains("linked to source object u1"),
        "{}",
        error.reason
    );
    assert_eq!(writes(&seen), vec![]);
}

/// What the target's `/Schemas` marks required (and `userName` in any case) must have a
/// value before a user is created; one without is failed and nothing is sent for it.
/// A target without usable `/Schemas` gets SCIM's own requirements, said in a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_values_are_checked_before_anything_is_sent() {
    let schemas = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 2, "Resources": [
        {"id": "urn:ietf:params:scim:schemas:core:2.0:User", "attributes": [
            {"name": "userName", "type": "string", "required": true},
            {"name": "displayName", "type": "string", "required": false}]},
        {"id": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "attributes": [
            {"name": "employeeNumber", "type": "string", "required": true}]}]});
    let (base, seen) = serve_with(Arc::new(move |method: &str, path: &str, _: &str| {
        (method == "GET" && path.ends_with("/Schemas")).then(|| fault(200, schemas.clone()))?
    }))
    .await;
    let engine = engine(&base);
    let mut people = users(3);
    people[0]["employeeId"] = json!("E-1");
    people[1]["employeeId"] = json!("E-2");
    people[1]
        .as_object_mut()
        .unwrap()
        .remove("userPrincipalName");
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    let outcome = |id: &str| {
        let log = cycle.logs.iter().find(|l| l.source_id == id).unwrap();
        (
            log.status.as_str(),
            log.error.as_ref().map(|e| (e.code, e.reason.clone())),
        )
    };
    assert_eq!(outcome("u0"), ("Success", None));
    let (status, error) = outcome("u1");
    assert_eq!(
        (status, error.as_ref().unwrap().0),
        ("Failure", "RequiredValueMissing")
    );
    assert!(error.unwrap().1.contains("requires userName"));
    let (_, error) = outcome("u2");
    assert!(
        error
            .as_ref()
            .unwrap()
            .1
            .contains("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
        "{error:?}"
    );
    let posts = writes(&seen).iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(posts, 1);
    assert!(cycle.notes.is_empty(), "{:?}", cycle.notes);

    let (base, _) = serve_with(Arc::new(|method: &str, path: &str, _: &str| {
        (method == "GET" && path.ends_with("/Schemas"))
            .then(|| fault(404, json!({"detail": "no such endpoint"})))?
    }))
    .await;
    let cycle = self::engine(&base)
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(cycle.summary.created, 2, "{:#?}", cycle.logs);
    assert!(
        cycle.notes[0].starts_with("the target's /Schemas cannot be used (HTTP 404"),
        "{:?}",
        cycle.notes
    );

    // Schemas that are not schemas: the same defaults, and the note says so.
    for answer in [
        json!({"Resources": [{"id": "urn:ietf:params:scim:schemas:core:2.0:User", "attributes": "all"}]}),
        json!(["a", "b"]),
    ] {
        let (base, _) = serve_with(Arc::new(move |method: &str, path: &str, _: &str| {
            (method == "GET" && path.ends_with("/Schemas")).then(|| fault(200, answer.clone()))?
        }))
        .await;
        let cycle = self::engine(&base)
            .cycle(source(&people, &[], &Assignments::All))
            .await
            .unwrap();
        assert_eq!(cycle.summary.created, 2);
        assert!(
            cycle.notes[0].contains("(not a list of schemas)"),
            "{:?}",
            cycle.notes
        );
    }
}

/// Safe by default: an empty users file while users are linked, or assignments that
/// name nobody in the snapshot, send nothing; unknown assigned ids are said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_snapshots_and_foreign_assignments_send_nothing() {
    assert_eq!(
        scimap::sync::Options::default().deletion_threshold,
        Some(500),
        "Entra's accidental deletions prevention is on by default"
    );
    let (base, seen) = serve().await;
    let mut engine = engine(&base);
    let people = users(4);
    engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    writes(&seen);
    let cycle = engine
        .cycle(source(&[], &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(
        cycle.stop,
        Some(Stop::EmptySource {
            kind: ObjectKind::User,
            linked: 4
        })
    );
    assert_eq!(cycle.summary.staged, 4);
    assert!(writes(&seen).is_empty(), "nothing is sent");

    let strangers = Assignments::Assigned {
        users: ["x1".to_string(), "x2".to_string()].into(),
        groups: HashSet::new(),
    };
    let cycle = engine
        .cycle(source(&people, &[], &strangers))
        .await
        .unwrap();
    assert_eq!(cycle.stop, Some(Stop::UnknownAssignments { ids: 2 }));
    assert!(cycle
        .stop
        .as_ref()
        .unwrap()
        .to_string()
        .contains("nothing was sent"));
    assert!(writes(&seen).is_empty());

    let some = Assignments::Assigned {
        users: ["u0", "u1", "u2", "u3", "x9"].map(String::from).into(),
        groups: HashSet::new(),
    };
    let cycle = engine.cycle(source(&people, &[], &some)).await.unwrap();
    assert_eq!(cycle.stop, None);
    assert_eq!(
        cycle.notes,
        ["1 of the 5 ids the assignments name are in no snapshot file"]
    );

    engine.options_mut().allow_deletes = true;
    let cycle = engine
        .cycle(source(&[], &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!((cycle.stop, cycle.summary.deleted), (None, 4));
}

/// A target that answers match queries with JSON that is not a ListResponse says
/// nothing about what it holds: the objects fail, and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_a_list_never_leads_to_a_create() {
    let (base, seen) = serve_with(Arc::new(|method: &str, path: &str, _: &str| {
        let query = path.contains("filter=") && !path.contains("connection-test");
        (method == "GET" && query).then(|| fault(200, json!({"ok": true})))?
    }))
    .await;
    let engine = engine(&base);
    let people = users(3);
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!(cycle.summary.failed, 3);
    for log in &cycle.logs {
        let error = log.error.as_ref().unwrap();
        assert_eq!(error.code, "TargetIncompatible");
        assert!(
            error.reason.contains("not a ListResponse"),
            "{}",
            error.reason
        );
    }
    assert!(writes(&seen).is_empty());
}

/// A 10 MB attribute value fails its own object with the target's answer (413 from
/// `scimap serve`, whose bodies stop at 1 MB); the others go on, and a rerun does not
/// create anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_value_fails_its_object_alone() {
    let (base, seen) = serve().await;
    let engine = engine(&base);
    let mut people = users(3);
    people[1]["jobTitle"] = json!("x".repeat(10 << 20));
    let cycle = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    let log = cycle.logs.iter().find(|l| l.source_id == "u1").unwrap();
    let error = log.error.as_ref().unwrap();
    assert_eq!(
        (log.status.as_str(), error.code, error.status),
        ("Failure", "TargetRejected", Some(413))
    );
    assert!(
        error.reason.len() < 1000,
        "the error does not repeat the value"
    );
    assert_eq!(cycle.summary.created, 2);
    let posts = |seen: &Seen| writes(seen).iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(posts(&seen), 3, "one POST each, the big one refused");
    engine.state().restart().unwrap();
    let again = engine
        .cycle(source(&people, &[], &Assignments::All))
        .await
        .unwrap();
    assert_eq!((again.summary.created, again.summary.failed), (0, 1));
    assert_eq!(posts(&seen), 1, "only the refused one is tried again");
    assert_eq!(everything(&base, "/Users").await.len(), 2);
}
