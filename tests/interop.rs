//! `scimap sync` against a SCIM server nobody here wrote: Python's `scim2-server`
//! (installed by `tests/interop/setup.sh` in a virtual environment under `target/`),
//! directly and behind a proxy that misbehaves as real endpoints do. Every end state is
//! read back from the server over HTTP. Without Python the tests fail; they never skip.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State as Shared};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use scimap::mapping::Mapping;
use scimap::sync::state::State;
use scimap::sync::Assignments;
use scimap::sync::{Cycle, Engine, Source, Target, TargetConfig};
use serde_json::{json, Value as Json};

#[path = "../benches/serve/mod.rs"]
mod serve;

/// A `scim2-server` on a loopback port of its own, stopped when dropped.
struct Scim2Server {
    _server: serve::Server,
    base: String,
}

impl Scim2Server {
    fn start() -> Scim2Server {
        let server = serve::scim2_server();
        Scim2Server {
            base: format!("http://{}{}", server.host, server.base),
            _server: server,
        }
    }
}

/// What the proxy does to one request, by its number among requests of its kind.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Pass,
    /// The server acts; its answer is lost (the client times out).
    LoseAnswer,
    /// 429, with `Retry-After: 1` or without one; the server is not asked.
    Busy {
        retry_after: bool,
    },
    /// 500 from the proxy; the server is not asked.
    Failed,
    /// The server's answer, three seconds late.
    Slow,
}

/// Which fault a request gets, from its method and its number among that method's.
type Plan = Box<dyn Fn(&str, usize) -> Fault + Send + Sync>;

/// A reverse proxy in front of the server: faults by request count, and filters
/// ignored (all resources returned) or compared with case.
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    fault: Plan,
    counts: std::sync::Mutex<HashMap<String, usize>>,
    filters: Filters,
    acted_then_lost: AtomicUsize,
    /// Requests answered by a fault rather than the server.
    injected: AtomicUsize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Filters {
    Honoured,
    /// Every resource comes back, whatever the filter.
    Ignored,
    /// `eq` compared with case.
    CaseSensitive,
    /// `eq` read as "starts with": `user1` finds user1, user10, user11.
    Prefix,
}

async fn forward(Shared(proxy): Shared<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await.unwrap();
    let method = parts.method.as_str().to_string();
    let n = {
        let mut counts = proxy.counts.lock().unwrap();
        let n = counts.entry(method.clone()).or_default();
        *n += 1;
        *n
    };
    let fault = (proxy.fault)(&method, n);
    if fault != Fault::Pass {
        proxy.injected.fetch_add(1, Ordering::SeqCst);
    }
    match fault {
        Fault::Busy { retry_after } => {
            let mut answer = (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "429", "detail": "slow down"}).to_string(),
            )
                .into_response();
            if retry_after {
                answer
                    .headers_mut()
                    .insert("retry-after", "1".parse().unwrap());
            }
            return answer;
        }
        Fault::Failed => {
            return (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "upstream failed",
            )
                .into_response()
        }
        Fault::Slow => tokio::time::sleep(Duration::from_secs(3)).await,
        Fault::Pass | Fault::LoseAnswer => {}
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let path = path_and_query.strip_prefix("/v2").unwrap_or(path_and_query);
    let (path, filter) = split_filter(path);
    let sent = match (proxy.filters, &filter) {
        (Filters::Ignored | Filters::Prefix, Some(_)) => path.clone(),
        _ => path_and_query
            .strip_prefix("/v2")
            .unwrap_or(path_and_query)
            .to_string(),
    };
    let mut upstream = proxy
        .client
        .request(parts.method.clone(), format!("{}{sent}", proxy.upstream))
        .body(body.to_vec());
    for name in ["authorization", "content-type", "accept"] {
        if let Some(value) = parts.headers.get(name) {
            upstream = upstream.header(name, value.as_bytes());
        }
    }
    let answer = upstream.send().await.unwrap();
    let status = answer.status();
    let mut text = answer.text().await.unwrap();
    match (proxy.filters, &filter) {
        (Filters::CaseSensitive, Some((attribute, value))) => {
            text = only(&text, |v| v == value, attribute)
        }
        (Filters::Prefix, Some((attribute, value))) => {
            let value = value.to_lowercase();
            text = only(&text, |v| v.to_lowercase().starts_with(&value), attribute)
        }
        _ => {}
    }
    if fault == Fault::LoseAnswer {
        proxy.acted_then_lost.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    (
        axum::http::StatusCode::from_u16(status.as_u16()).unwrap(),
        [("content-type", "application/scim+json")],
        text,
    )
        .into_response()
}

/// A path without its `filter` parameter, and the filter's attribute and value when it
/// is `attribute eq "value"`.
fn split_filter(path: &str) -> (String, Option<(String, String)>) {
    let Some((base, query)) = path.split_once('?') else {
        return (path.to_string(), None);
    };
    let mut filter = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("filter=") {
            Some(encoded) => {
                let decoded = percent_decode(encoded);
                let mut words = decoded.splitn(3, ' ');
                if let (Some(a), Some("eq"), Some(v)) = (words.next(), words.next(), words.next()) {
                    filter = Some((a.to_string(), v.trim_matches('"').to_string()));
                }
                false
            }
            None => true,
        })
        .collect();
    let path = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (path, filter)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A ListResponse keeping only the resources `keep` accepts.
fn only(text: &str, keep: impl Fn(&str) -> bool, attribute: &str) -> String {
    let Ok(mut list) = serde_json::from_str::<Json>(text) else {
        return text.to_string();
    };
    if let Some(resources) = list.get_mut("Resources").and_then(Json::as_array_mut) {
        resources.retain(|r| r.get(attribute).and_then(Json::as_str).is_some_and(&keep));
        let n = resources.len();
        list["totalResults"] = json!(n);
        list["itemsPerPage"] = json!(n);
    }
    list.to_string()
}

async fn proxy(
    upstream: &str,
    filters: Filters,
    fault: impl Fn(&str, usize) -> Fault + Send + Sync + 'static,
) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_string(),
        client: reqwest::Client::new(),
        fault: Box::new(fault),
        counts: Default::default(),
        filters,
        acted_then_lost: AtomicUsize::new(0),
        injected: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/v2"), proxy)
}

/// The directory: `n` users (every fifth one's manager is u0), four groups of users
/// and one group holding another.
fn directory(n: usize) -> (Vec<Json>, Vec<Json>) {
    let users = (0..n)
        .map(|i| {
            let mut user = json!({"objectId": format!("u{i}"), "userPrincipalName": format!("user{i}@contoso.com"),
                "mailNickname": format!("user{i}"), "givenName": "User", "surname": format!("{i}"),
                "jobTitle": "Engineer", "department": "R&D", "accountEnabled": true});
            if i > 0 && i % 5 == 0 {
                user["manager"] = json!("u0");
            }
            user
        })
        .collect();
    let groups = (0..4)
        .map(|g| {
            let members: Vec<String> = (0..n).filter(|i| i % 4 == g).map(|i| format!("u{i}")).collect();
            json!({"objectId": format!("g{g}"), "displayName": format!("Team {g}"), "members": members})
        })
        .chain([json!({"objectId": "g9", "displayName": "All teams", "members": ["g0", "g1"]})])
        .collect();
    (users, groups)
}

fn engine(base: &str, timeout: Duration) -> Engine {
    let mut config = TargetConfig::new(base, serve::TOKEN);
    config.timeout = timeout;
    config.backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_secs(2);
    let mut engine = Engine::builder(
        Mapping::embedded_default(),
        State::in_memory().unwrap(),
        Target::new(config).unwrap(),
    )
    .build();
    engine.options_mut().concurrency = 8;
    engine
}

/// Runs cycles until one sends nothing and fails nothing (escrow cleared between them,
/// as time would), at most `bound`; the write requests of each.
async fn converge(
    engine: &Engine,
    users: &[Json],
    groups: &[Json],
    assigned: &Assignments,
    bound: usize,
) -> Vec<usize> {
    let mut writes = Vec::new();
    for _ in 0..bound {
        let cycle = engine
            .cycle(Source::new(users, groups, assigned))
            .await
            .unwrap();
        let sent = written(&cycle);
        writes.push(sent);
        engine.state().restart().unwrap();
        if sent == 0 && cycle.summary.failed == 0 {
            return writes;
        }
    }
    panic!("no quiet cycle after {bound}: write requests per cycle {writes:?}");
}

/// Write requests the cycle sent, counting each attempt.
fn written(cycle: &Cycle) -> usize {
    cycle
        .logs
        .iter()
        .flat_map(|l| &l.requests)
        .filter(|r| r.method != "GET")
        .count()
}

/// Everything the server holds at an endpoint, read directly.
async fn read_back(base: &str, endpoint: &str) -> Vec<Json> {
    let target = Target::new(TargetConfig::new(base, serve::TOKEN)).unwrap();
    let answer = target
        .send(Method::GET, &format!("{endpoint}?count=10000"), None)
        .await
        .unwrap();
    answer.body.unwrap()["Resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The end state the source asks for, read back from the server: users by userName
/// (title, active, manager's userName), groups by name (members' userNames and group
/// names), and no object twice.
async fn assert_mirrors(
    base: &str,
    users: &[Json],
    groups: &[Json],
    assigned: &Assignments,
    gone: &[&str],
) {
    let there_users = read_back(base, "/Users").await;
    let there_groups = read_back(base, "/Groups").await;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut by_name: BTreeMap<String, &Json> = BTreeMap::new();
    for user in &there_users {
        let name = user["userName"].as_str().unwrap().to_lowercase();
        assert!(
            by_name.insert(name.clone(), user).is_none(),
            "{name} is on the target twice"
        );
        names.insert(user["id"].as_str().unwrap().to_string(), name);
    }
    let mut group_names: BTreeMap<String, &Json> = BTreeMap::new();
    for group in &there_groups {
        let name = group["displayName"].as_str().unwrap().to_string();
        assert!(
            group_names.insert(name.clone(), group).is_none(),
            "{name} is on the target twice"
        );
        names.insert(group["id"].as_str().unwrap().to_string(), name);
    }
    let assigned_users: Option<HashSet<&str>> = match assigned {
        Assignments::All => None,
        Assignments::Assigned {
            users: u,
            groups: g,
        } => {
            let mut all: HashSet<&str> = u.iter().map(String::as_str).collect();
            for group in groups
                .iter()
                .filter(|x| g.contains(x["objectId"].as_str().unwrap()))
            {
                all.extend(
                    group["members"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Json::as_str),
                );
            }
            Some(all)
        }
    };
    let upn = |id: &str| {
        users
            .iter()
            .find(|u| u["objectId"] == id)
            .map(|u| u["userPrincipalName"].as_str().unwrap().to_lowercase())
    };
    for user in users {
        let name = user["userPrincipalName"].as_str().unwrap().to_lowercase();
        let id = user["objectId"].as_str().unwrap();
        let wanted = assigned_users.as_ref().is_none_or(|a| a.contains(id));
        let Some(there) = by_name.get(&name) else {
            assert!(!wanted, "{name} is missing on the target");
            continue;
        };
        let active = wanted && user["accountEnabled"] == true;
        assert_eq!(there["active"], json!(active), "{name}: active");
        assert_eq!(there["title"], user["jobTitle"], "{name}: title");
        let manager = there["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
            ["manager"]["value"]
            .as_str()
            .map(|id| names[id].clone());
        let wanted_manager = user["manager"].as_str().and_then(upn);
        if wanted {
            assert_eq!(manager, wanted_manager, "{name}: manager");
        }
    }
    for name in gone {
        assert!(!by_name.contains_key(*name), "{name} should be deleted");
    }
    assert_eq!(
        there_users.len(),
        users.len()
            - users
                .iter()
                .filter(|u| assigned_users
                    .as_ref()
                    .is_some_and(|a| !a.contains(u["objectId"].as_str().unwrap())))
                .count(),
        "users on the target"
    );
    for group in groups {
        let name = group["displayName"].as_str().unwrap();
        let there = group_names
            .get(name)
            .unwrap_or_else(|| panic!("group {name} is missing"));
        let mut members: Vec<String> = there["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| names[m["value"].as_str().unwrap()].clone())
            .collect();
        members.sort();
        let mut wanted: Vec<String> = group["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Json::as_str)
            .filter_map(|id| {
                upn(id)
                    .filter(|_| assigned_users.as_ref().is_none_or(|a| a.contains(id)))
                    .or_else(|| {
                        groups
                            .iter()
                            .find(|g| g["objectId"] == id)
                            .map(|g| g["displayName"].as_str().unwrap().to_string())
                    })
            })
            .collect();
        wanted.sort();
        assert_eq!(members, wanted, "members of {name}");
    }
    assert_eq!(there_groups.len(), groups.len(), "groups on the target");
}

/// The whole story against one target: initial cycle, a rerun that sends nothing,
/// then changes (attributes, a disable, a delete, a rename, a member removed), each
/// end state read back.
async fn story(engine: &Engine, direct: &str, bound: usize) {
    let (mut users, mut groups) = directory(30);
    let all = Assignments::All;
    let writes = converge(engine, &users, &groups, &all, bound).await;
    assert!(writes[0] > 30, "{writes:?}");
    assert_mirrors(direct, &users, &groups, &all, &[]).await;
    let rerun = engine
        .cycle(Source::new(&users, &groups, &all))
        .await
        .unwrap();
    assert_eq!(
        (written(&rerun), rerun.summary.failed),
        (0, 0),
        "a rerun sends nothing"
    );

    users[3]["jobTitle"] = json!("Architect");
    users[4]["accountEnabled"] = json!(false);
    users[7]["userPrincipalName"] = json!("renamed7@contoso.com");
    let deleted = users.remove(9);
    for group in &mut groups {
        let members = group["members"].as_array_mut().unwrap();
        members.retain(|m| m != &deleted["objectId"] && m != "u2");
    }
    converge(engine, &users, &groups, &all, bound).await;
    assert_mirrors(
        direct,
        &users,
        &groups,
        &all,
        &["user9@contoso.com", "user7@contoso.com"],
    )
    .await;

    // Assignments: only Team 1's members and u0; the others are disabled.
    let assigned = Assignments::Assigned {
        users: HashSet::from(["u0".to_string()]),
        groups: ["g1", "g9"].map(String::from).into(),
    };
    converge(engine, &users, &groups, &assigned, bound).await;
    let there = read_back(direct, "/Users").await;
    let active: usize = there.iter().filter(|u| u["active"] == true).count();
    let wanted = users
        .iter()
        .filter(|u| {
            let id = u["objectId"].as_str().unwrap();
            (id == "u0"
                || groups[1]["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m == id))
                && u["accountEnabled"] == true
        })
        .count();
    assert_eq!(active, wanted, "only the assigned stay active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_into_scim2_server() {
    let server = Scim2Server::start();
    let engine = engine(&server.base, Duration::from_secs(10));
    story(&engine, &server.base, 2).await;
}

/// Behind a proxy that loses answers after the server acted, answers 429 (with and
/// without Retry-After) and 500 without asking the server, and holds some answers
/// three seconds: the same end states, nothing created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_into_scim2_server_behind_a_misbehaving_proxy() {
    let server = Scim2Server::start();
    let (base, proxy) = proxy(&server.base, Filters::Honoured, |method, n| {
        match (method, n % 13) {
            ("POST", 3) | ("POST", 8) => Fault::LoseAnswer,
            (_, 5) => Fault::Busy {
                retry_after: n % 2 == 0,
            },
            ("PATCH", 7) | ("POST", 11) => Fault::Failed,
            ("GET", 12) if n < 40 => Fault::Slow,
            _ => Fault::Pass,
        }
    })
    .await;
    let engine = engine(&base, Duration::from_millis(2500));
    story(&engine, &server.base, 6).await;
    assert!(
        proxy.acted_then_lost.load(Ordering::SeqCst) >= 2,
        "answers were lost"
    );
    assert!(
        proxy.injected.load(Ordering::SeqCst) >= 20,
        "faults were injected"
    );
}

/// A proxy that drops filters (every user comes back for every match query), reads
/// `eq` as "starts with", or compares with case: matching still links every object to
/// exactly its own, and nothing is created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_ignored_partial_or_compared_with_case() {
    for filters in [Filters::Ignored, Filters::Prefix, Filters::CaseSensitive] {
        let server = Scim2Server::start();
        let (users, groups) = directory(12);
        let all = Assignments::All;
        // The objects exist already, made by another engine, so every one must be
        // matched (a state lost, a reinstall).
        let first = engine(&server.base, Duration::from_secs(10));
        converge(&first, &users, &groups, &all, 2).await;
        let (base, _) = proxy(&server.base, filters, |_, _| Fault::Pass).await;
        let second = engine(&base, Duration::from_secs(10));
        let cycle = second
            .cycle(Source::new(&users, &groups, &all))
            .await
            .unwrap();
        let creates = cycle
            .logs
            .iter()
            .flat_map(|l| &l.requests)
            .filter(|r| r.method == "POST")
            .count();
        assert_eq!(
            (creates, cycle.summary.failed),
            (0, 0),
            "{filters:?}: {:#?}",
            cycle.logs
        );
        let linked: HashSet<String> = cycle
            .logs
            .iter()
            .filter_map(|l| l.target_id.clone())
            .collect();
        assert_eq!(
            linked.len(),
            users.len() + groups.len(),
            "{filters:?}: one target object each"
        );
        assert_mirrors(&server.base, &users, &groups, &all, &[]).await;
    }
}
