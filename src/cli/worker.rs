//! `scimap sync jobs` and `scimap sync worker`: provisioning jobs defined in a file,
//! stored in PostgreSQL with their state, and run by any number of workers that lease
//! them one at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::sync::{fail, summary_line, Snapshot};
use super::Outcome;
use crate::mapping::Mapping;
use crate::scim::PatchStyle;
use crate::sync::jobs::{Claim, Defined, JobSpec, Lease, Queue};
use crate::sync::state::StateError;
use crate::sync::{Cycle, Engine, EngineError, Options, Target, TargetConfig};

mod metrics;

use metrics::WorkerMetrics;

#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// The jobs file: {"jobs": [{"name", "mapping", "users", "groups", "assignments",
    /// "target", "tokenEnv", "interval", "patchStyle", "concurrency", "rate"}]}.
    #[arg(value_name = "FILE")]
    file: String,
    /// The PostgreSQL database the workers share, as postgres://user@host/database.
    #[arg(long, value_name = "URL")]
    state: String,
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The PostgreSQL database holding the jobs (see `scimap sync jobs`).
    #[arg(long, value_name = "URL")]
    state: String,
    /// This worker's name in leases and cycle history (default: host name and process id).
    #[arg(long, value_name = "NAME")]
    id: Option<String>,
    /// How long a lease lasts unless renewed; a killed worker's job is taken over after it.
    #[arg(long, default_value = "60s", value_parser = super::positive_duration)]
    lease: SignedDuration,
    /// How often to look for a due job when none is.
    #[arg(long, default_value = "5s", value_parser = super::positive_duration)]
    poll: SignedDuration,
    /// Exit once no job is due and none is leased by another worker.
    #[arg(long)]
    once: bool,
    /// Bring the sync tables to this binary's schema, then exit.
    #[arg(long)]
    migrate_only: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

/// A job as the jobs file writes it: the mapping is a file to read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileJob {
    name: String,
    #[serde(default)]
    mapping: Option<String>,
    users: String,
    #[serde(default)]
    groups: Option<String>,
    #[serde(default)]
    assignments: Option<String>,
    target: String,
    token_env: String,
    #[serde(default = "default_interval")]
    interval: String,
    #[serde(default)]
    patch_style: Option<String>,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    rate: Option<u32>,
}

fn default_interval() -> String {
    "40m".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsFile {
    jobs: Vec<FileJob>,
}

/// `scimap sync jobs FILE --state URL`: stores each job of the file, checked first;
/// nothing is stored when one of them is wrong.
pub fn jobs(args: JobsArgs, color: bool) -> Outcome {
    let specs = match read_jobs(&args.file, color) {
        Ok(specs) => specs,
        Err(outcome) => return outcome,
    };
    let queue = match Queue::open(&args.state, "scimap sync jobs") {
        Ok(queue) => queue,
        Err(e) => return fail(e),
    };
    for spec in &specs {
        match queue.define(spec) {
            Ok(defined) => eprintln!(
                "job {}: {}",
                spec.name,
                match defined {
                    Defined::Added => "added",
                    Defined::Changed => "changed (from its next cycle)",
                    Defined::Unchanged => "unchanged",
                }
            ),
            Err(e) => return fail(format!("job {}: {e}", spec.name)),
        }
    }
    Outcome::Ok
}

/// The file's jobs, each checked as a worker would run it: its mapping loads, its
/// interval and PATCH shape are valid, and no name is used twice. Paths are made
/// absolute, since workers may start elsewhere.
fn read_jobs(path: &str, color: bool) -> Result<Vec<JobSpec>, Outcome> {
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read {path}: {e}")))?;
    let file: JobsFile = serde_json::from_str(&text).map_err(|e| fail(format!("{path}: {e}")))?;
    let base = std::path::Path::new(path)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let absolute = |p: &str| -> String {
        let joined = base.join(p);
        std::path::absolute(&joined)
            .unwrap_or(joined)
            .to_string_lossy()
            .into_owned()
    };
    let mut names = std::collections::HashSet::new();
    let mut specs = Vec::new();
    for (i, job) in file.jobs.into_iter().enumerate() {
        let at = format!("{path}: /jobs/{i}");
        if job.name.trim().is_empty() || !names.insert(job.name.clone()) {
            return Err(fail(format!(
                "{at}/name: `{}` is empty or names another job too",
                job.name
            )));
        }
        let mapping = match &job.mapping {
            Some(file) => {
                let file = absolute(file);
                let loaded = super::mappings::load_with_text(Some(&file), color)?;
                loaded.source.map(|(_, text)| (file, text))
            }
            None => None,
        };
        let spec = JobSpec {
            name: job.name,
            mapping_file: mapping.as_ref().map(|(file, _)| file.clone()),
            mapping: mapping.map(|(_, text)| text),
            users: absolute(&job.users),
            groups: job.groups.as_deref().map(absolute),
            assignments: job.assignments.as_deref().map(absolute),
            target: job.target,
            token_env: job.token_env,
            interval: job.interval,
            patch_style: job.patch_style,
            concurrency: job.concurrency,
            rate: job.rate,
        };
        spec.interval()
            .map_err(|e| fail(format!("{at}/interval: {e}")))?;
        style(&spec).map_err(|e| fail(format!("{at}/patchStyle: {e}")))?;
        specs.push(spec);
    }
    Ok(specs)
}

fn style(spec: &JobSpec) -> Result<PatchStyle, String> {
    match spec.patch_style.as_deref() {
        None | Some("rfc") => Ok(PatchStyle::Rfc),
        Some("legacy") => Ok(PatchStyle::Legacy),
        Some(other) => Err(format!("`{other}` is neither `rfc` nor `legacy`")),
    }
}

fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

fn duration(d: SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::from_secs(1))
}

/// `scimap sync worker --state URL`.
pub fn worker(args: WorkerArgs) -> Outcome {
    let id = args.id.clone().unwrap_or_else(default_id);
    let queue = match Queue::open(&args.state, id) {
        Ok(queue) => Arc::new(queue),
        Err(e) => {
            return fail(format!(
                "{}: {e}",
                super::serve::shown_database(&args.state)
            ))
        }
    };
    if args.migrate_only {
        eprintln!(
            "the sync tables are at schema version {}",
            crate::sync::state::postgres::SCHEMA_VERSION
        );
        return Outcome::Ok;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    runtime.block_on(work(queue, args))
}

/// The worker's loop: take a due job, run one cycle of it, give it back; between jobs,
/// wait for the next to be due. SIGTERM or Ctrl-C stops writing at once, gives the job
/// back due now (another worker resumes it) and exits.
async fn work(queue: Arc<Queue>, args: WorkerArgs) -> Outcome {
    let metrics = Arc::new(WorkerMetrics::new());
    if let Some(address) = args.metrics {
        match metrics::serve(address, metrics.clone()).await {
            Ok(bound) => eprintln!("metrics at http://{bound}/metrics"),
            Err(e) => return fail(format!("cannot listen on {address}: {e}")),
        }
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let current: Arc<Mutex<Option<Arc<Lease>>>> = Arc::default();
    tokio::spawn(stop_on_signal(stopping.clone(), current.clone()));
    eprintln!("worker {}: looking for due jobs", queue.worker());
    let lease = duration(args.lease);
    let poll = duration(args.poll);
    while !stopping.load(Ordering::SeqCst) {
        let sent = Instant::now();
        let claim = match queue.claim(lease) {
            Ok(claim) => claim,
            Err(e) => {
                eprintln!("error: cannot take a job: {e}; trying again");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        let Some(claim) = claim else {
            let waiting = queue.waiting();
            if args.once && waiting.as_ref().is_ok_and(|w| w.running_elsewhere == 0) {
                return Outcome::Ok;
            }
            let next = waiting.ok().and_then(|w| w.next_due).unwrap_or(poll);
            let wait = next.clamp(Duration::from_millis(50), poll);
            tokio::time::sleep(wait).await;
            continue;
        };
        let lease = Lease::new(&claim.holder.job, sent, lease);
        *lock(&current) = Some(lease.clone());
        if stopping.load(Ordering::SeqCst) {
            lease.lose();
        }
        run(&queue, &claim, &lease, &metrics, &stopping).await;
        *lock(&current) = None;
    }
    Outcome::Ok
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

async fn stop_on_signal(stopping: Arc<AtomicBool>, current: Arc<Mutex<Option<Arc<Lease>>>>) {
    super::serve::interrupted().await;
    eprintln!("stopping: no more writes; the job under way is given back");
    stopping.store(true, Ordering::SeqCst);
    if let Some(lease) = lock(&current).as_ref() {
        lease.lose();
    }
}

/// One cycle of a claimed job, its lease renewed meanwhile; then the job is given back,
/// due again after its interval (a day when quarantined, at once when the cycle did
/// not end).
async fn run(
    queue: &Arc<Queue>,
    claim: &Claim,
    lease: &Arc<Lease>,
    metrics: &Arc<WorkerMetrics>,
    stopping: &AtomicBool,
) {
    let job = &claim.holder.job;
    metrics.lease(job, "acquired");
    if let Some(from) = &claim.taken_from {
        eprintln!("job {job}: taken over from {from}, whose lease expired");
        metrics.lease(job, "taken_over");
    }
    let renewal = renew(queue.clone(), claim, lease.clone());
    let started = Timestamp::now();
    let clock = Instant::now();
    let spec: Result<JobSpec, String> =
        serde_json::from_str(&claim.definition).map_err(|e| format!("its definition: {e}"));
    let outcome = match &spec {
        Ok(spec) => cycle(queue, claim, spec, lease, metrics).await,
        Err(e) => Err(e.clone()),
    };
    drop(renewal);
    metrics.cycle(job, clock.elapsed(), outcome.is_ok());
    let interval = spec
        .as_ref()
        .ok()
        .and_then(|s| s.interval().ok())
        .unwrap_or(SignedDuration::from_hours(1));
    let next = match &outcome {
        Ok((_, true)) => started + SignedDuration::from_hours(24),
        Ok(_) => started + interval,
        Err(_) if stopping.load(Ordering::SeqCst) => Timestamp::now(),
        Err(_) => started + interval.min(SignedDuration::from_mins(5)),
    };
    match &outcome {
        Ok((cycle, _)) => {
            eprintln!("job {job}: {}", summary_line(cycle));
            if let Some(stop) = &cycle.stop {
                eprintln!("job {job}: stopped: {stop}");
            }
        }
        Err(e) => eprintln!("error: job {job}: {e}"),
    }
    if lease.held().is_err() && !stopping.load(Ordering::SeqCst) {
        metrics.lease(job, "lost");
    }
    match queue.release(&claim.holder, next) {
        Ok(()) => metrics.lease(job, "released"),
        Err(e) => {
            eprintln!("error: job {job}: cannot give the job back ({e}); its lease will expire")
        }
    }
}

/// Renews the lease on a thread of its own until dropped; a renewal refused (the job
/// was taken over) closes the fence at once, and failed ones let it close on time.
struct Renewal(
    Option<mpsc::Sender<()>>,
    Option<std::thread::JoinHandle<()>>,
);

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.take();
        if let Some(thread) = self.1.take() {
            let _ = thread.join();
        }
    }
}

fn renew(queue: Arc<Queue>, claim: &Claim, lease: Arc<Lease>) -> Renewal {
    let (stop, stopped) = mpsc::channel::<()>();
    let holder = claim.holder.clone();
    let (every, length) = (lease.renew_every(), lease.length());
    let thread = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            let sent = Instant::now();
            match queue.renew(&holder, length) {
                Ok(true) => lease.renewed(sent),
                Ok(false) => {
                    eprintln!(
                        "job {}: the lease was lost (expired or taken over): no more writes for it",
                        holder.job
                    );
                    lease.lose();
                    return;
                }
                Err(e) => eprintln!("error: job {}: cannot renew the lease: {e}", holder.job),
            }
        }
    });
    Renewal(Some(stop), Some(thread))
}

/// Runs one cycle; the cycle and whether the job is quarantined.
async fn cycle(
    queue: &Queue,
    claim: &Claim,
    spec: &JobSpec,
    lease: &Arc<Lease>,
    metrics: &Arc<WorkerMetrics>,
) -> Result<(Cycle, bool), String> {
    let mapping = match &spec.mapping {
        None => Mapping::embedded_default(),
        Some(text) => Mapping::from_json(text).map_err(|d| {
            let name = spec.mapping_file.as_deref().unwrap_or("the mapping");
            format!("{}\nits mapping has errors", d.render(text, name, false))
        })?,
    };
    let snapshot = Snapshot::read(
        &spec.users,
        spec.groups.as_deref(),
        spec.assignments.as_deref(),
    )?;
    let token = std::env::var(&spec.token_env).map_err(|_| {
        format!(
            "the environment variable {} (the target's token) is not set on this worker",
            spec.token_env
        )
    })?;
    let mut config = TargetConfig::new(&spec.target, token);
    config.concurrency = spec.concurrency.unwrap_or(8).max(1);
    config.rate_per_second = spec.rate;
    let target = Target::new(config).map_err(|e| e.to_string())?;
    let state = queue.state(claim).map_err(|e| e.to_string())?;
    let options = Options {
        concurrency: spec.concurrency.unwrap_or(8).max(1) * 2,
        ..Options::default()
    };
    let name = spec.name.clone();
    let counted = metrics.clone();
    let engine = Engine::builder(mapping, state, target)
        .style(style(spec)?)
        .options(options)
        .fence(lease.fence())
        .on_log(Box::new(move |log| {
            counted.object(&name, log);
            let mut line = json!({ "job": name });
            if let (Json::Object(line), Ok(Json::Object(record))) =
                (&mut line, serde_json::to_value(log))
            {
                line.extend(record);
            }
            super::say(&format!("{line}\n"));
        }))
        .build();
    let cycle = engine.cycle(snapshot.source()).await;
    let cycle = match cycle {
        Ok(cycle) => cycle,
        Err(EngineError::Duplicate(twice)) => return Err(snapshot.twice(&twice)),
        Err(EngineError::State(e @ StateError::LeaseLost { .. })) => {
            return Err(format!("{e}; the cycle stopped there"))
        }
        Err(e) => return Err(e.to_string()),
    };
    let state = engine.state();
    let escrowed = state.escrows().map(|e| e.len()).unwrap_or_default();
    let quarantined = matches!(state.quarantine(), Ok(Some(_)));
    metrics.job_state(&spec.name, escrowed, quarantined);
    Ok((cycle, quarantined))
}
