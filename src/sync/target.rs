//! The provisioning engine's side toward a SCIM service provider: one HTTP client with
//! connection reuse, a concurrency limit, a rate limit, timeouts, and retries with
//! backoff and jitter that honour `Retry-After` on 429 and 503.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value as Json;
use tokio::sync::{Mutex, Semaphore};

use crate::scim::ScimType;

/// How to talk to a target: `TargetConfig::new(url, token)`, then the fields to change.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TargetConfig {
    /// The SCIM base URL, such as `https://app.example.com/scim/v2`.
    pub base_url: String,
    pub token: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests started per second at most; `None` for no limit.
    pub rate_per_second: Option<u32>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts after the first, for answers worth retrying.
    pub retries: u32,
    /// The first backoff; each retry doubles it, with jitter, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl TargetConfig {
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> TargetConfig {
        TargetConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token: token.into(),
            concurrency: 8,
            rate_per_second: None,
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// A failure of the HTTP client: what happened, with its causes, and reqwest's error
/// as the source.
#[derive(Debug, Clone)]
pub struct Transport {
    reason: String,
    source: Option<Arc<reqwest::Error>>,
}

impl Transport {
    fn new(e: reqwest::Error) -> Transport {
        Transport {
            reason: chain(&e),
            source: Some(Arc::new(e)),
        }
    }
}

impl PartialEq for Transport {
    fn eq(&self, other: &Transport) -> bool {
        self.reason == other.reason
    }
}

impl Eq for Transport {}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Transport {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why a request to the target failed, after any retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No connection could be made (refused, no route, no such host): nothing was sent.
    #[error("the target cannot be reached: {0}")]
    Unreachable(#[source] Transport),
    /// The TLS handshake failed (a certificate not trusted, a protocol mismatch).
    #[error("TLS with the target failed: {0}")]
    Tls(#[source] Transport),
    #[error("the target did not answer within {0:?}")]
    Timeout(Duration),
    /// The request was sent and the connection closed before any answer.
    #[error("the connection closed before the target answered: {0}")]
    Cut(#[source] Transport),
    /// The target answered with a status, and the connection closed inside the body.
    #[error(
        "the target answered HTTP {status}, then the connection closed inside the body: {reason}"
    )]
    CutMidResponse {
        status: u16,
        #[source]
        reason: Transport,
    },
    #[error("the target refused the token (HTTP {0}): {1}")]
    Unauthorized(u16, String),
    /// An error in SCIM's shape: its status, `scimType` and `detail`.
    #[error("HTTP {status}{}: {detail}", scim_type.as_ref().map(|t| format!(" {t}")).unwrap_or_default())]
    Scim {
        status: u16,
        scim_type: Option<ScimType>,
        detail: String,
    },
    /// An answer that is not SCIM at all (an HTML error page, a proxy's text).
    #[error("HTTP {status} with a body that is not SCIM: {excerpt}")]
    NotScim { status: u16, excerpt: String },
}

impl TargetError {
    /// The HTTP status the target answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            TargetError::Scim { status, .. }
            | TargetError::NotScim { status, .. }
            | TargetError::CutMidResponse { status, .. }
            | TargetError::Unauthorized(status, _) => Some(*status),
            _ => None,
        }
    }

    /// Whether the target may have acted on the request although it failed: no
    /// answer after the request was sent, or an error a proxy in front of the target
    /// gives whatever happened behind it (500, 502, 504). A 503 and a 429 say the
    /// target did not act; a refused connection sent nothing.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            TargetError::Timeout(_) | TargetError::Cut(_) | TargetError::CutMidResponse { .. } => {
                true
            }
            TargetError::Scim { status, .. } | TargetError::NotScim { status, .. } => {
                *status >= 500 && *status != 503
            }
            TargetError::Unreachable(_) | TargetError::Tls(_) | TargetError::Unauthorized(..) => {
                false
            }
        }
    }

    /// Worth another attempt of a request made with `method`. A POST is tried again
    /// only when nothing can have been created (the target said it did not act, or
    /// no connection was made), since the target may not know it already has the
    /// object; everything else is also retried after a failure whose outcome is
    /// unknown, since sending it twice does what sending it once does.
    fn retryable(&self, method: &Method) -> bool {
        let busy = matches!(self.status(), Some(429 | 503));
        match self {
            TargetError::Unreachable(_) => true,
            TargetError::Tls(_) | TargetError::Unauthorized(..) => false,
            _ if busy => true,
            _ if self.outcome_unknown() => *method != Method::POST,
            _ => false,
        }
    }
}

/// One attempt of a request, for the provisioning log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub method: String,
    pub path: String,
    /// The status the target answered with, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the request was sent again, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The JSON body; `None` for an empty one (204).
    pub body: Option<Json>,
}

/// A SCIM target.
pub struct Target {
    client: reqwest::Client,
    config: TargetConfig,
    in_flight: Semaphore,
    next_start: Mutex<Instant>,
}

impl Target {
    pub fn new(config: TargetConfig) -> Result<Target, TargetError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .pool_max_idle_per_host(config.concurrency)
            .build()
            .map_err(|e| TargetError::Unreachable(Transport::new(e)))?;
        Ok(Target {
            client,
            in_flight: Semaphore::new(config.concurrency.max(1)),
            next_start: Mutex::new(Instant::now()),
            config,
        })
    }

    /// Sends a request to `path` (under the base URL), retrying what is worth it.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<Answer, TargetError> {
        self.exchange(method, path, body).await.0
    }

    /// Like [`Target::send`], also giving every attempt made, for the log.
    pub async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> (Result<Answer, TargetError>, Vec<Attempt>) {
        let mut attempts = Vec::new();
        let mut retries = 0;
        loop {
            let started = Instant::now();
            let outcome = self.attempt(method.clone(), path, body).await;
            let mut attempt = Attempt {
                method: method.to_string(),
                path: path.to_string(),
                status: None,
                duration_ms: started.elapsed().as_millis() as u64,
                error: None,
                retry: None,
            };
            let (error, retry_after) = match outcome {
                Ok(answer) => {
                    attempt.status = Some(answer.status);
                    attempts.push(attempt);
                    return (Ok(answer), attempts);
                }
                Err(failure) => failure,
            };
            attempt.status = error.status();
            attempt.error = Some(error.to_string());
            if retries >= self.config.retries || !error.retryable(&method) {
                attempts.push(attempt);
                return (Err(error), attempts);
            }
            retries += 1;
            let wait = self.delay(retries, retry_after);
            attempt.retry = Some(match retry_after {
                Some(asked) => format!(
                    "again after {} ms, as Retry-After asked ({} s)",
                    wait.as_millis(),
                    asked.as_secs()
                ),
                None => format!("again after {} ms (backoff)", wait.as_millis()),
            });
            attempts.push(attempt);
            tokio::time::sleep(wait).await;
        }
    }

    /// How long to wait before retry number `attempt`: the target's `Retry-After`
    /// when it gave one, else exponential backoff with full jitter.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.config.max_backoff);
        }
        let ceiling = self
            .config
            .backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.config.max_backoff);
        ceiling.mul_f64(fastrand::f64())
    }

    async fn pace(&self) {
        let Some(rate) = self.config.rate_per_second.filter(|r| *r > 0) else {
            return;
        };
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + Duration::from_secs(1) / rate;
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<Answer, (TargetError, Option<Duration>)> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.pace().await;
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.config.base_url))
            .bearer_auth(&self.config.token)
            .header("Accept", "application/scim+json");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| (self.transport(e), None))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let text = response.text().await.map_err(|e| {
            let error = match e.is_timeout() {
                true => TargetError::Timeout(self.config.timeout),
                false => TargetError::CutMidResponse {
                    status: status.as_u16(),
                    reason: Transport::new(e),
                },
            };
            (error, retry_after)
        })?;
        let body = if text.trim().is_empty() {
            None
        } else {
            match serde_json::from_str::<Json>(&text) {
                Ok(json) => Some(json),
                Err(_) => {
                    let excerpt: String = text.chars().take(120).collect();
                    return Err((
                        TargetError::NotScim {
                            status: status.as_u16(),
                            excerpt,
                        },
                        retry_after,
                    ));
                }
            }
        };
        if status.is_success() {
            return Ok(Answer {
                status: status.as_u16(),
                body,
            });
        }
        let detail = body
            .as_ref()
            .and_then(|b| b.get("detail"))
            .and_then(Json::as_str)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error"))
            .to_string();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err((TargetError::Unauthorized(status.as_u16(), detail), None));
        }
        let error = match &body {
            Some(b) if b.get("schemas").is_some() || b.get("detail").is_some() => {
                TargetError::Scim {
                    status: status.as_u16(),
                    scim_type: b
                        .get("scimType")
                        .and_then(Json::as_str)
                        .map(ScimType::from_name),
                    detail,
                }
            }
            _ => TargetError::NotScim {
                status: status.as_u16(),
                excerpt: text.chars().take(120).collect(),
            },
        };
        Err((error, retry_after))
    }

    /// A failure before any answer: no connection (nothing sent), TLS, a timeout, or
    /// a connection closed after the request went out.
    fn transport(&self, e: reqwest::Error) -> TargetError {
        let lower = chain(&e).to_lowercase();
        // A connection that failed below TLS (refused, no route, no such host) says so;
        // any other failure to connect to an https URL happened in TLS.
        let below_tls = ["tcp connect error", "dns error"]
            .iter()
            .any(|w| lower.contains(w));
        let tls = ["certificate", "tls", "handshake"]
            .iter()
            .any(|w| lower.contains(w))
            || (!below_tls && self.config.base_url.starts_with("https:"));
        if e.is_timeout() {
            TargetError::Timeout(self.config.timeout)
        } else if e.is_connect() && tls {
            TargetError::Tls(Transport::new(e))
        } else if e.is_connect() {
            TargetError::Unreachable(Transport::new(e))
        } else {
            TargetError::Cut(Transport::new(e))
        }
    }
}

/// An error with its causes, which hold what happened (reqwest's own message only
/// says which request failed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// `Retry-After` in seconds (the HTTP-date form is read as "retry soon").
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    Some(match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => Duration::from_secs(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_retry_after_else_back_off_with_jitter() {
        let target = Target::new(TargetConfig::new("http://127.0.0.1:9", "t")).unwrap();
        assert_eq!(
            target.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            target.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(60),
            "capped"
        );
        for attempt in 1..20 {
            let ceiling = Duration::from_millis(500)
                .saturating_mul(1 << attempt.min(16))
                .min(Duration::from_secs(60));
            assert!(target.delay(attempt, None) <= ceiling);
        }
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(1)));
    }
}
