//! Prometheus metrics at `/metrics`: requests by route, method and status with their
//! latency, store errors by kind, and the database pool's connections. Routes are
//! templates (`/Users/{id}`), never ids or tenant names, so the series stay few.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    route: &'static str,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Failure {
    kind: &'static str,
}

type Latency = Family<Request, Histogram, fn() -> Histogram>;

/// How many connections the database pool holds, and how many of them are idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub connections: u32,
    pub idle: u32,
}

/// A store error's kind, carried by its response to be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreFailure(pub &'static str);

pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    latency: Latency,
    store_errors: Family<Failure, Counter>,
    connections: Gauge,
    idle: Gauge,
}

fn latency_buckets() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("scimap");
        let requests = Family::<Request, Counter>::default();
        let latency: Latency = Family::new_with_constructor(latency_buckets);
        let store_errors = Family::<Failure, Counter>::default();
        let (connections, idle) = (Gauge::default(), Gauge::default());
        registry.register(
            "http_requests",
            "SCIM requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "How long SCIM requests took, by route, method and status",
            latency.clone(),
        );
        registry.register(
            "store_errors",
            "Requests the storage failed, by kind (unavailable, database, corrupt, schema)",
            store_errors.clone(),
        );
        registry.register(
            "database_connections",
            "Connections the database pool holds",
            connections.clone(),
        );
        registry.register(
            "database_connections_idle",
            "Connections of the pool not in use",
            idle.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            store_errors,
            connections,
            idle,
        }
    }

    pub(crate) fn observe(
        &self,
        route: &'static str,
        method: &str,
        status: u16,
        took: Duration,
        failure: Option<StoreFailure>,
    ) {
        let labels = Request {
            route,
            method: method.to_string(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if let Some(StoreFailure(kind)) = failure {
            self.store_errors.get_or_create(&Failure { kind }).inc();
        }
    }

    /// The text exposition format, with the pool's use as it is now.
    pub(crate) fn render(&self, pool: Option<PoolUse>) -> String {
        if let Some(pool) = pool {
            self.connections.set(pool.connections.into());
            self.idle.set(pool.idle.into());
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The route template of a request's path below the API's base: the resource type
/// and whether an id follows, never the id itself.
pub(crate) fn route(rest: Option<&str>) -> &'static str {
    let Some(rest) = rest else {
        return "other";
    };
    let mut parts = rest.trim_start_matches('/').splitn(3, '/');
    let first = parts.next().unwrap_or_default();
    let id = parts.next().is_some_and(|p| !p.is_empty());
    match (first, id) {
        ("Users", false) => "/Users",
        ("Users", true) => "/Users/{id}",
        ("Groups", false) => "/Groups",
        ("Groups", true) => "/Groups/{id}",
        ("Bulk", _) => "/Bulk",
        (".search", _) => "/.search",
        ("Schemas", _) => "/Schemas",
        ("ResourceTypes", _) => "/ResourceTypes",
        ("ServiceProviderConfig", _) => "/ServiceProviderConfig",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_never_carry_ids() {
        assert_eq!(route(Some("/Users")), "/Users");
        assert_eq!(route(Some("/Users/0a9b")), "/Users/{id}");
        assert_eq!(route(Some("/Users/.search")), "/Users/{id}");
        assert_eq!(route(Some("/Groups/")), "/Groups");
        assert_eq!(route(Some("/Nope/1")), "other");
        assert_eq!(route(None), "other");
    }

    #[test]
    fn rendered_as_prometheus_text() {
        let metrics = Metrics::new();
        metrics.observe("/Users", "GET", 200, Duration::from_millis(3), None);
        metrics.observe(
            "/Users",
            "POST",
            503,
            Duration::from_millis(1),
            Some(StoreFailure("unavailable")),
        );
        let text = metrics.render(Some(PoolUse {
            connections: 4,
            idle: 3,
        }));
        assert!(
            text.contains(
                r#"scimap_http_requests_total{route="/Users",method="GET",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"scimap_store_errors_total{kind="unavailable"} 1"#),
            "{text}"
        );
        assert!(text.contains("scimap_database_connections 4"), "{text}");
        assert!(
            text.contains("scimap_http_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
