//! Jobs shared by `scimap sync worker` processes through PostgreSQL: their definitions,
//! when each runs next, and leases. A worker takes a due job with `SELECT … FOR UPDATE
//! SKIP LOCKED`, so two workers never take one job; the lease expires unless renewed,
//! so a killed worker's job is taken over once its lease runs out. Each take counts the
//! job's epoch up, and every state write checks the epoch (see `state::postgres`), so
//! the worker that lost a job cannot write for it any more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::state::postgres::{error, Holder, Session};
use super::state::{State, StateError};
use super::Fence;

/// A job as stored: everything a worker needs to run it, the mapping's text included,
/// and no secret (the token is named by the environment variable that holds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    pub name: String,
    /// The mapping file's name, for messages; `None` for Entra's default mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_file: Option<String>,
    /// The mapping file's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// The snapshot's files, read again before each cycle.
    pub users: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignments: Option<String>,
    /// The target's SCIM base URL.
    pub target: String,
    /// The environment variable that holds the target's bearer token, on each worker.
    pub token_env: String,
    /// The time between the start of two cycles, such as `40m` (see [`JobSpec::interval`]).
    pub interval: String,
    /// `rfc` (the default) or `legacy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_style: Option<String>,
    /// Requests in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Requests started per second at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
}

impl JobSpec {
    /// The time between the start of two cycles; more than zero.
    pub fn interval(&self) -> Result<SignedDuration, String> {
        match self.interval.parse::<SignedDuration>() {
            Ok(d) if d > SignedDuration::ZERO => Ok(d),
            Ok(_) => Err(format!(
                "`{}`: the interval must be positive",
                self.interval
            )),
            Err(e) => Err(format!(
                "`{}` is not a duration such as 40m, 90s or 1h: {e}",
                self.interval
            )),
        }
    }
}

/// What storing a definition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defined {
    Added,
    Changed,
    Unchanged,
}

/// A job a worker took: its definition as stored and the lease its writes hold.
#[derive(Debug, Clone)]
pub struct Claim {
    pub definition: String,
    pub holder: Holder,
    /// The worker whose lease had expired, when the job was taken over from one.
    pub taken_from: Option<String>,
}

/// What keeps a worker waiting when no job is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// Jobs leased by other workers now.
    pub running_elsewhere: usize,
    /// How long until the next job is due, if any job exists.
    pub next_due: Option<Duration>,
}

/// The jobs table, seen by one worker: leases through one session, whose commits wait
/// for the disk, and the jobs' state through another, whose commits do not.
pub struct Queue {
    session: Arc<Session>,
    state: Arc<Session>,
    worker: String,
}

impl Queue {
    /// Connects to the database at `url` and brings its sync tables to this binary's
    /// schema (a newer schema is refused).
    pub fn open(url: &str, worker: impl Into<String>) -> Result<Queue, StateError> {
        let session = Session::connect(url, true)?;
        session.migrate()?;
        Ok(Queue {
            session: Arc::new(session),
            state: Arc::new(Session::connect(url, false)?),
            worker: worker.into(),
        })
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Stores a job's definition; a changed one applies from the job's next cycle
    /// (the state, its links and escrow, stays).
    pub fn define(&self, spec: &JobSpec) -> Result<Defined, StateError> {
        let name = spec.name.clone();
        let definition = serde_json::to_string(spec).expect("a job serializes");
        self.session.call(move |client| {
            let row = client
                .query_opt(
                    "INSERT INTO scimap_sync_jobs (name, definition) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, updated = now()
                     WHERE scimap_sync_jobs.definition <> EXCLUDED.definition
                     RETURNING (xmax = 0)",
                    &[&name, &definition],
                )
                .map_err(error)?;
            Ok(match row.map(|r| r.get::<_, bool>(0)) {
                Some(true) => Defined::Added,
                Some(false) => Defined::Changed,
                None => Defined::Unchanged,
            })
        })
    }

    /// The names of the stored jobs.
    pub fn names(&self) -> Result<Vec<String>, StateError> {
        self.session.call(|client| {
            let rows = client
                .query("SELECT name FROM scimap_sync_jobs ORDER BY name", &[])
                .map_err(error)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Takes the job due longest ago that no live lease holds, for `lease`; jobs other
    /// workers have locked at this instant are skipped, not waited for.
    pub fn claim(&self, lease: Duration) -> Result<Option<Claim>, StateError> {
        let worker = self.worker.clone();
        let millis = lease.as_millis() as f64;
        self.session.call(move |client| {
            let row = client
                .query_opt(
                    "WITH next AS (
                         SELECT name, lease_owner FROM scimap_sync_jobs
                         WHERE next_run <= now() AND (lease_until IS NULL OR lease_until <= now())
                         ORDER BY next_run, name
                         FOR UPDATE SKIP LOCKED
                         LIMIT 1
                     )
                     UPDATE scimap_sync_jobs AS j
                     SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond',
                         lease_epoch = j.lease_epoch + 1
                     FROM next WHERE j.name = next.name
                     RETURNING j.name, j.definition, j.lease_epoch, next.lease_owner",
                    &[&worker, &millis],
                )
                .map_err(error)?;
            Ok(row.map(|r| Claim {
                holder: Holder {
                    job: r.get(0),
                    worker: worker.clone(),
                    epoch: r.get(2),
                },
                definition: r.get(1),
                taken_from: r.get(3),
            }))
        })
    }

    /// Extends the lease; `false` when it is no longer this worker's (it expired, or
    /// another worker took the job).
    pub fn renew(&self, holder: &Holder, lease: Duration) -> Result<bool, StateError> {
        let holder = holder.clone();
        let millis = lease.as_millis() as f64;
        self.session.call(move |client| {
            let renewed = client
                .execute(
                    "UPDATE scimap_sync_jobs SET lease_until = now() + $4 * interval '1 millisecond'
                     WHERE name = $1 AND lease_owner = $2 AND lease_epoch = $3 AND lease_until > now()",
                    &[&holder.job, &holder.worker, &holder.epoch, &millis],
                )
                .map_err(error)?;
            Ok(renewed == 1)
        })
    }

    /// Gives the job back, due again at `next_run`; nothing when the lease is no longer
    /// this worker's.
    pub fn release(&self, holder: &Holder, next_run: Timestamp) -> Result<(), StateError> {
        let holder = holder.clone();
        let next_run = next_run.to_string();
        self.session.call(move |client| {
            client
                .execute(
                    "UPDATE scimap_sync_jobs SET lease_owner = NULL, lease_until = NULL,
                         next_run = $4::text::timestamptz
                     WHERE name = $1 AND lease_owner = $2 AND lease_epoch = $3",
                    &[&holder.job, &holder.worker, &holder.epoch, &next_run],
                )
                .map_err(error)?;
            Ok(())
        })
    }

    /// Why no job was claimed: jobs leased elsewhere, and when the next one is due.
    pub fn waiting(&self) -> Result<Waiting, StateError> {
        self.session.call(|client| {
            let row = client
                .query_one(
                    "SELECT
                         COUNT(*) FILTER (WHERE lease_until > now()),
                         EXTRACT(EPOCH FROM MIN(GREATEST(next_run, COALESCE(lease_until, next_run))) - now())::float8
                     FROM scimap_sync_jobs",
                    &[],
                )
                .map_err(error)?;
            let seconds: Option<f64> = row.get(1);
            Ok(Waiting {
                running_elsewhere: row.get::<_, i64>(0) as usize,
                next_due: seconds.map(|s| Duration::from_secs_f64(s.max(0.0))),
            })
        })
    }

    /// The state of a claimed job; its writes hold the claim's lease.
    pub fn state(&self, claim: &Claim) -> Result<State, StateError> {
        State::postgres(self.state.clone(), claim.holder.clone())
    }
}

/// A lease as this worker sees it: writes to the target stop before the database's
/// lease could expire, measured from when the last successful renewal was sent (the
/// database's clock never meets this process's).
pub struct Lease {
    job: String,
    length: Duration,
    deadline: Mutex<Instant>,
    lost: AtomicBool,
}

impl Lease {
    /// A lease taken by a claim sent at `sent`.
    pub fn new(job: impl Into<String>, sent: Instant, length: Duration) -> Arc<Lease> {
        Arc::new(Lease {
            job: job.into(),
            length,
            deadline: Mutex::new(sent + Lease::safe(length)),
            lost: AtomicBool::new(false),
        })
    }

    /// Three quarters of the lease: the rest is margin for a request in flight.
    fn safe(length: Duration) -> Duration {
        length * 3 / 4
    }

    /// How long the lease lasts from each renewal.
    pub fn length(&self) -> Duration {
        self.length
    }

    /// How often to renew: twice before writes would stop.
    pub fn renew_every(&self) -> Duration {
        self.length / 4
    }

    /// A renewal sent at `sent` succeeded.
    pub fn renewed(&self, sent: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = sent + Lease::safe(self.length);
    }

    /// The job is no longer this worker's (taken over, or the worker is stopping).
    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    pub fn held(&self) -> Result<(), StateError> {
        let deadline = *self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        if self.lost.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return Err(StateError::LeaseLost {
                job: self.job.clone(),
            });
        }
        Ok(())
    }

    /// The engine's fence for this lease.
    pub fn fence(self: &Arc<Lease>) -> Fence {
        let lease = self.clone();
        Arc::new(move || lease.held())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_stops_writes_before_it_expires_and_when_lost() {
        let start = Instant::now();
        let lease = Lease::new("hr", start, Duration::from_secs(40));
        assert!(lease.held().is_ok());
        assert_eq!(lease.renew_every(), Duration::from_secs(10));
        let stale = Lease::new(
            "hr",
            start - Duration::from_secs(31),
            Duration::from_secs(40),
        );
        assert!(
            matches!(stale.held(), Err(StateError::LeaseLost { job }) if job == "hr"),
            "30 s into a 40 s lease, writes stop"
        );
        stale.renewed(Instant::now());
        assert!(stale.held().is_ok(), "a renewal opens the fence again");
        lease.lose();
        assert!(lease.held().is_err());
        assert!(lease.fence()().is_err());
    }
}
