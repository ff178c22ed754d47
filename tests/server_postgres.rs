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
    let _ = BASE;
}
