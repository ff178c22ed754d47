//! A worker's Prometheus metrics: objects by action and status, cycle durations,
//! escrowed and quarantined counts, and lease changes, each by job.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::sync::LogRecord;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Object {
    job: String,
    action: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Ended {
    job: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Job {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Change {
    job: String,
    change: &'static str,
}

type Durations = Family<Ended, Histogram, fn() -> Histogram>;

pub(super) struct WorkerMetrics {
    registry: Registry,
    objects: Family<Object, Counter>,
    cycles: Durations,
    escrowed: Family<Job, Gauge>,
    quarantined: Family<Job, Gauge>,
    leases: Family<Change, Counter>,
}

fn cycle_buckets() -> Histogram {
    // 10 ms to about 3 hours.
    Histogram::new(exponential_buckets(0.01, 2.0, 21))
}

impl WorkerMetrics {
    pub(super) fn new() -> WorkerMetrics {
        let mut registry = Registry::with_prefix("scimap_sync");
        let objects = Family::<Object, Counter>::default();
        let cycles: Durations = Family::new_with_constructor(cycle_buckets);
        let escrowed = Family::<Job, Gauge>::default();
        let quarantined = Family::<Job, Gauge>::default();
        let leases = Family::<Change, Counter>::default();
        registry.register(
            "objects",
            "Objects a cycle finished, by job, action and status",
            objects.clone(),
        );
        registry.register(
            "cycle_duration_seconds",
            "How long cycles took, by job and outcome (finished or failed)",
            cycles.clone(),
        );
        registry.register(
            "escrowed",
            "Objects in escrow after the job's last cycle on this worker",
            escrowed.clone(),
        );
        registry.register(
            "quarantined",
            "1 when the job was quarantined after its last cycle on this worker",
            quarantined.clone(),
        );
        registry.register(
            "lease_changes",
            "Leases acquired, taken over from an expired one, lost and released, by job",
            leases.clone(),
        );
        WorkerMetrics {
            registry,
            objects,
            cycles,
            escrowed,
            quarantined,
            leases,
        }
    }

    pub(super) fn object(&self, job: &str, log: &LogRecord) {
        let labels = Object {
            job: job.to_string(),
            action: log.action.as_str(),
            status: log.status.as_str(),
        };
        self.objects.get_or_create(&labels).inc();
    }

    pub(super) fn cycle(&self, job: &str, took: Duration, finished: bool) {
        let labels = Ended {
            job: job.to_string(),
            outcome: if finished { "finished" } else { "failed" },
        };
        self.cycles
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub(super) fn job_state(&self, job: &str, escrowed: usize, quarantined: bool) {
        let labels = Job {
            job: job.to_string(),
        };
        self.escrowed
            .get_or_create(&labels)
            .set(escrowed.try_into().unwrap_or(i64::MAX));
        self.quarantined
            .get_or_create(&labels)
            .set(i64::from(quarantined));
    }

    pub(super) fn lease(&self, job: &str, change: &'static str) {
        let labels = Change {
            job: job.to_string(),
            change,
        };
        self.leases.get_or_create(&labels).inc();
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `/metrics` on `address` in the background; the address bound.
pub(super) async fn serve(
    address: SocketAddr,
    metrics: Arc<WorkerMetrics>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_by_job() {
        let metrics = WorkerMetrics::new();
        metrics.lease("hr", "acquired");
        metrics.cycle("hr", Duration::from_millis(40), true);
        metrics.job_state("hr", 3, false);
        let text = metrics.render();
        for line in [
            r#"scimap_sync_lease_changes_total{job="hr",change="acquired"} 1"#,
            r#"scimap_sync_escrowed{job="hr"} 3"#,
            r#"scimap_sync_quarantined{job="hr"} 0"#,
            r#"scimap_sync_cycle_duration_seconds_count{job="hr",outcome="finished"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
