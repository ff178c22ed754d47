//! The sync engine's client toward a SCIM target, against `scimap serve`'s router and
//! against a target that misbehaves on purpose, all on loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use reqwest::Method;
use scimap::server::{router, Config, Sqlite};
use scimap::sync::{Target, TargetConfig, TargetError};
use serde_json::json;

async fn listen(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/scim/v2")
}

fn quick(base: String) -> TargetConfig {
    let mut config = TargetConfig::new(base, "t");
    config.timeout = Duration::from_millis(300);
    config.backoff = Duration::from_millis(10);
    config.retries = 3;
    config
}

/// `quick`, trying each request `retries` more times.
fn retrying(base: String, retries: u32) -> TargetConfig {
    let mut config = quick(base);
    config.retries = retries;
    config
}

#[tokio::test]
async fn talks_to_scimap_serve() {
    let config = Config::with_tokens(["t"]);
    let base = listen(router(Arc::new(Sqlite::in_memory().unwrap()), config)).await;
    let target = Target::new(quick(base.clone())).unwrap();
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@contoso.com"});
    let created = target
        .send(Method::POST, "/Users", Some(&user))
        .await
        .unwrap();
    assert_eq!(created.status, 201);
    let found = target
        .send(
            Method::GET,
            "/Users?filter=userName%20eq%20%22A%40contoso.com%22",
            None,
        )
        .await
        .unwrap();
    assert_eq!(found.body.unwrap()["totalResults"], 1);
    let again = target
        .send(Method::POST, "/Users", Some(&user))
        .await
        .unwrap_err();
    assert!(
        matches!(&again, TargetError::Scim { status: 409, scim_type: Some(t), .. } if t == "uniqueness"),
        "{again}"
    );
    let mut wrong = quick(base);
    wrong.token = "nope".into();
    let wrong = Target::new(wrong).unwrap();
    assert!(matches!(
        wrong.send(Method::GET, "/Users", None).await,
        Err(TargetError::Unauthorized(401, _))
    ));
}

/// A target that fails the first `failures` requests with `status`, then answers.
fn flaky(status: StatusCode, failures: usize, hits: Arc<AtomicUsize>) -> axum::Router {
    axum::Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            if hits.fetch_add(1, Ordering::SeqCst) < failures {
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.as_u16().to_string(), "detail": "busy"});
                (status, [("Retry-After", "0")], body.to_string()).into_response()
            } else {
                (StatusCode::OK, json!({"ok": true}).to_string()).into_response()
            }
        }
    })
}

#[tokio::test]
async fn retries_busy_and_failing_targets() {
    for status in [
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::INTERNAL_SERVER_ERROR,
    ] {
        let hits = Arc::new(AtomicUsize::new(0));
        let target = Target::new(quick(listen(flaky(status, 2, hits.clone())).await)).unwrap();
        let answer = target.send(Method::GET, "/Users", None).await.unwrap();
        assert_eq!(
            (answer.status, hits.load(Ordering::SeqCst)),
            (200, 3),
            "{status}"
        );
    }
    let hits = Arc::new(AtomicUsize::new(0));
    let target = Target::new(quick(
        listen(flaky(StatusCode::TOO_MANY_REQUESTS, 99, hits.clone())).await,
    ))
    .unwrap();
    let error = target.send(Method::GET, "/Users", None).await.unwrap_err();
    assert!(matches!(error, TargetError::Scim { status: 429, .. }));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "the first attempt and three retries"
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let target = Target::new(quick(
        listen(flaky(StatusCode::BAD_REQUEST, 99, hits.clone())).await,
    ))
    .unwrap();
    assert!(target.send(Method::GET, "/Users", None).await.is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = {
        let hits = hits.clone();
        axum::Router::new().fallback(move || {
            let hits = hits.clone();
            async move {
                if hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("Retry-After", "1")],
                        "{\"detail\": \"slow down\"}",
                    )
                        .into_response()
                } else {
                    (StatusCode::NO_CONTENT, "").into_response()
                }
            }
        })
    };
    let target = Target::new(quick(listen(app).await)).unwrap();
    let answer = target.send(Method::DELETE, "/Users/1", None).await.unwrap();
    assert_eq!((answer.status, answer.body), (204, None));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn slow_and_non_scim_targets_are_clear_errors() {
    let slow = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    });
    let target = Target::new(retrying(listen(slow).await, 1)).unwrap();
    assert_eq!(
        target.send(Method::GET, "/Users", None).await,
        Err(TargetError::Timeout(Duration::from_millis(300)))
    );
    let html = axum::Router::new().fallback(|| async { (StatusCode::OK, "<html>login</html>") });
    let target = Target::new(quick(listen(html).await)).unwrap();
    assert!(matches!(
        target.send(Method::GET, "/Users", None).await,
        Err(TargetError::NotScim { status: 200, .. })
    ));
    let target = Target::new(retrying("http://127.0.0.1:9/scim/v2".into(), 0)).unwrap();
    assert!(matches!(
        target.send(Method::GET, "/Users", None).await,
        Err(TargetError::Unreachable(_))
    ));
}

/// A target that reads each request, writes `reply` (nothing, or the start of an
/// answer) and closes the connection. Counts the requests.
async fn raw(hits: Arc<AtomicUsize>, reply: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let hits = hits.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0; 1 << 16];
                if socket.read(&mut buffer).await.unwrap_or(0) > 0 {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let _ = socket.write_all(reply).await;
                }
            });
        }
    });
    format!("http://{address}/scim/v2")
}

/// The request went out, and no answer came back.
async fn closing(hits: Arc<AtomicUsize>) -> String {
    raw(hits, b"").await
}

/// A POST is sent again only when the target said it did not act (429, 503) or no
/// connection was made; after a lost answer or a proxy's 500 it is not, since the
/// object may exist. Other methods are retried after both.
#[tokio::test]
async fn a_create_whose_outcome_is_unknown_is_not_sent_again() {
    let user = json!({"userName": "a@contoso.com"});
    let hits = Arc::new(AtomicUsize::new(0));
    let target = Target::new(quick(closing(hits.clone()).await)).unwrap();
    let error = target
        .send(Method::POST, "/Users", Some(&user))
        .await
        .unwrap_err();
    assert!(matches!(error, TargetError::Cut(_)), "{error}");
    assert!(error.outcome_unknown());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a POST without an answer is sent once"
    );
    let error = target.send(Method::GET, "/Users", None).await.unwrap_err();
    assert!(matches!(error, TargetError::Cut(_)), "{error}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1 + 4,
        "a GET is tried four times"
    );

    for (status, sent, retried) in [
        (StatusCode::INTERNAL_SERVER_ERROR, 1, false),
        (StatusCode::BAD_GATEWAY, 1, false),
        (StatusCode::GATEWAY_TIMEOUT, 1, false),
        (StatusCode::SERVICE_UNAVAILABLE, 3, true),
        (StatusCode::TOO_MANY_REQUESTS, 3, true),
    ] {
        let hits = Arc::new(AtomicUsize::new(0));
        let target = Target::new(quick(listen(flaky(status, 2, hits.clone())).await)).unwrap();
        let outcome = target.send(Method::POST, "/Users", Some(&user)).await;
        assert_eq!(hits.load(Ordering::SeqCst), sent, "{status}");
        assert_eq!(outcome.is_ok(), retried, "{status}");
        if let Err(e) = outcome {
            assert!(e.outcome_unknown(), "{status}");
        }
    }

    let hits = Arc::new(AtomicUsize::new(0));
    let target = Target::new(quick("http://127.0.0.1:9/scim/v2".into())).unwrap();
    let error = target
        .send(Method::POST, "/Users", Some(&user))
        .await
        .unwrap_err();
    assert!(matches!(error, TargetError::Unreachable(_)), "{error}");
    assert!(!error.outcome_unknown(), "nothing was sent");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

/// A status line and then a cut is told apart from no answer and from no connection.
#[tokio::test]
async fn an_answer_cut_inside_its_body_is_its_own_error() {
    let cut = b"HTTP/1.1 201 Created\r\nContent-Type: application/scim+json\r\nContent-Length: 400\r\n\r\n{\"id\": \"12";
    let hits = Arc::new(AtomicUsize::new(0));
    let base = raw(hits.clone(), cut).await;
    let target = Target::new(quick(base)).unwrap();
    let error = target
        .send(Method::POST, "/Users", Some(&json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TargetError::CutMidResponse { status: 201, .. }),
        "{error}"
    );
    assert!(error.outcome_unknown());
    assert!(error
        .to_string()
        .contains("answered HTTP 201, then the connection closed"));
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not sent again");
}

/// Every attempt is reported: status, duration, and why it was sent again.
#[tokio::test]
async fn every_attempt_is_reported() {
    let hits = Arc::new(AtomicUsize::new(0));
    let target = Target::new(quick(
        listen(flaky(StatusCode::TOO_MANY_REQUESTS, 2, hits)).await,
    ))
    .unwrap();
    let (outcome, attempts) = target.exchange(Method::GET, "/Users", None).await;
    assert_eq!(outcome.unwrap().status, 200);
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(429), Some(429), Some(200)]);
    for retried in &attempts[..2] {
        let why = retried.retry.as_deref().unwrap();
        assert!(why.contains("as Retry-After asked (0 s)"), "{why}");
        assert!(retried.error.as_deref().unwrap().contains("429"));
    }
    assert_eq!(
        (attempts[2].retry.as_ref(), attempts[2].error.as_ref()),
        (None, None)
    );
    assert!(attempts
        .iter()
        .all(|a| a.method == "GET" && a.path == "/Users"));
}

/// Speaking TLS to a server that does not is a TLS failure, not "cannot be reached",
/// and is not retried: the configuration is wrong.
#[tokio::test]
async fn a_tls_failure_is_told_apart() {
    let hits = Arc::new(AtomicUsize::new(0));
    let plain = raw(
        hits.clone(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let base = plain.replacen("http://", "https://", 1);
    let target = Target::new(quick(base)).unwrap();
    let error = target.send(Method::GET, "/Users", None).await.unwrap_err();
    assert!(matches!(error, TargetError::Tls(_)), "{error:?}");
    assert!(!error.outcome_unknown());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not retried");
    let nobody = Target::new(retrying("https://127.0.0.1:9/scim/v2".into(), 0)).unwrap();
    let error = nobody.send(Method::GET, "/Users", None).await.unwrap_err();
    assert!(matches!(error, TargetError::Unreachable(_)), "{error:?}");
}
