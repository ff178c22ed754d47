//! The sync engine end to end against `scimap serve` on loopback: an initial cycle, then
//! incremental changes, with the write requests the target saw counted.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use scimap::mapping::Mapping;
use scimap::scim::PatchStyle;
use scimap::server::{router, Config, Sqlite};
use scimap::sync::engine::Engine;
use scimap::sync::plan::{Assignments, PlanOptions};
use scimap::sync::state::State;
use scimap::sync::{Target, TargetConfig};
use serde_json::{json, Value as Json};

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// `scimap serve` on loopback, recording each write request (method, path, body).
async fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let config = Config {
        tokens: vec!["t".into()],
        ..Config::default()
    };
    let app = router(Arc::new(Sqlite::in_memory().unwrap()), config).layer(
        axum::middleware::from_fn(move |request: Request, next: Next| {
            let record = record.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                if parts.method != axum::http::Method::GET {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    record.lock().unwrap().push((
                        parts.method.to_string(),
                        parts.uri.path().to_string(),
                        text,
                    ));
                }
                next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                    .await
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/scim/v2"), seen)
}

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

fn groups(members: &[&str]) -> Vec<Json> {
    vec![json!({"objectId": "g1", "displayName": "Engineering", "members": members})]
}

fn writes(seen: &Seen) -> Vec<(String, String, String)> {
    std::mem::take(&mut *seen.lock().unwrap())
}

#[tokio::test]
async fn initial_then_incremental_cycles() {
    let (base, seen) = serve().await;
    let engine = Engine {
        mapping: Mapping::embedded_default(),
        state: State::in_memory().unwrap(),
        target: Target::new(TargetConfig::new(base.clone(), "t")).unwrap(),
        style: PatchStyle::Rfc,
        plan: PlanOptions::default(),
        dry_run: false,
        would_send: Default::default(),
    };
    let mut people = users(100);
    let all: Vec<String> = people
        .iter()
        .map(|u| u["objectId"].as_str().unwrap().to_string())
        .collect();
    let assigned = |users: &[String]| Assignments::Assigned {
        users: users.iter().cloned().collect::<HashSet<_>>(),
        groups: HashSet::from(["g1".to_string()]),
    };
    let members = ["u1", "u2", "u3"];

    let (summary, logs) = engine
        .cycle(&people, &groups(&members), &assigned(&all))
        .await
        .unwrap();
    assert_eq!((summary.created, summary.failed), (101, 0), "{logs:?}");
    let initial = writes(&seen);
    assert_eq!(
        initial
            .iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/Users"))
            .count(),
        100
    );
    // Each user but the first gets its manager once the manager exists; the group its members.
    let group_patch = initial
        .iter()
        .find(|(m, p, _)| m == "PATCH" && p.contains("/Groups/"))
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Json>(&group_patch.2).unwrap()["Operations"][0]["path"],
        "members"
    );

    // Nothing changed: no write at all.
    let (summary, _) = engine
        .cycle(&people, &groups(&members), &assigned(&all))
        .await
        .unwrap();
    assert_eq!(summary, Default::default());
    assert!(writes(&seen).is_empty());

    // One attribute: one PATCH with only that attribute.
    people[5]["jobTitle"] = json!("Architect");
    let (summary, _) = engine
        .cycle(&people, &groups(&members), &assigned(&all))
        .await
        .unwrap();
    assert_eq!(summary.updated, 1);
    let sent = writes(&seen);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        serde_json::from_str::<Json>(&sent[0].2).unwrap()["Operations"],
        json!([{"op": "replace", "path": "title", "value": "Architect"}])
    );

    // Unassigned: disabled. Deleted from the source: deleted. A member leaves: one group PATCH.
    let remaining: Vec<String> = all.iter().filter(|id| *id != "u7").cloned().collect();
    people.retain(|u| u["objectId"] != "u9");
    let (summary, logs) = engine
        .cycle(&people, &groups(&["u1", "u2"]), &assigned(&remaining))
        .await
        .unwrap();
    assert_eq!(
        (summary.disabled, summary.deleted, summary.updated),
        (1, 1, 1),
        "{logs:?}"
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
    assert!(sent
        .iter()
        .any(|(m, p, _)| m == "DELETE" && p.contains("/Users/")));
    let membership = sent
        .iter()
        .find(|(_, p, _)| p.contains("/Groups/"))
        .unwrap();
    assert!(
        membership.2.contains("members[value eq"),
        "{}",
        membership.2
    );
    assert_eq!(sent.len(), 3);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_command() {
    let (base, seen) = serve().await;
    let dir = std::env::temp_dir().join(format!("scimap-sync-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users_file = dir.join("users.ndjson");
    let lines: Vec<String> = users(3).iter().map(Json::to_string).collect();
    std::fs::write(&users_file, lines.join("\n")).unwrap();
    let args = |users: &std::path::Path, token: &str| -> Vec<String> {
        let mut args: Vec<String> = ["sync", "--target", &base, "--token", token, "--users"]
            .map(String::from)
            .to_vec();
        args.push(users.to_string_lossy().into_owned());
        args.extend([
            "--state".to_string(),
            dir.join("state.db").to_string_lossy().into_owned(),
        ]);
        args
    };
    let out = scimap(args(&users_file, "t")).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(logs.len(), 3);
    assert!(logs
        .iter()
        .all(|l| l["action"] == "Create" && l["status"] == "Success"));
    writes(&seen);

    let broken = dir.join("broken.ndjson");
    std::fs::write(&broken, format!("{}\n{{\"objectId\": \n", lines[0])).unwrap();
    let out = scimap(args(&broken, "t")).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was sent"));
    assert!(writes(&seen).is_empty());

    let more = dir.join("more.ndjson");
    std::fs::write(
        &more,
        users(4)
            .iter()
            .map(Json::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let out = scimap(args(&more, "wrong")).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused the token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
