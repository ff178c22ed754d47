//! Entra's default user mapping end to end: NDJSON bytes of 100,000 synthetic users in,
//! NDJSON SCIM resources out. scimap on one thread and on every core, beside the same
//! mapping written by hand with serde structs.
//!
//! Then `scimap diff` over the same users: two mappings applied and compared.
//!
//! `cargo bench --bench mappings`; results are in docs/performance.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scimap::mapping::{population_diff, Mapping, ObjectMapping, StreamOptions};
use scimap::records::Format;
use serde_json::Value as Json;

mod common;

use common::twin::{self, by_hand};

#[cfg(not(feature = "bench-system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 100_000;

/// Output goes to a buffer kept from one iteration to the next, so that the harness's
/// page faults are not measured.
fn scimap_apply(users: &ObjectMapping, input: &[u8], parallel: bool, out: &mut Vec<u8>) {
    let mut options = StreamOptions::default();
    options.parallel = parallel;
    out.clear();
    let summary = users
        .apply_stream(input, Format::Ndjson, &options, out, &mut |_| {})
        .unwrap();
    assert_eq!(summary.resources, USERS);
}

fn apply(c: &mut Criterion) {
    let input = twin::ndjson(USERS);
    let mapping = Mapping::embedded_default();
    let users = mapping.object("User").unwrap();
    let mut ours = Vec::with_capacity(2 * input.len());
    let mut theirs = Vec::with_capacity(2 * input.len());
    scimap_apply(users, &input, false, &mut ours);
    by_hand(&input, &mut theirs);
    assert_same(&ours, &theirs);
    let mut parallel = Vec::new();
    scimap_apply(users, &input, true, &mut parallel);
    assert_eq!(ours, parallel);

    let mut group = c.benchmark_group("apply/default-user-mapping");
    group.throughput(Throughput::Elements(USERS as u64));
    group.sample_size(10);
    group.bench_function("scimap-1-thread", |b| {
        b.iter(|| scimap_apply(users, black_box(&input), false, &mut ours))
    });
    group.bench_function("scimap-all-cores", |b| {
        b.iter(|| scimap_apply(users, black_box(&input), true, &mut ours))
    });
    group.bench_function("serde-by-hand", |b| {
        b.iter(|| by_hand(black_box(&input), &mut theirs))
    });
    group.finish();
}

/// Both outputs hold the same resources (compared as JSON, so key order aside).
fn assert_same(ours: &[u8], theirs: &[u8]) {
    let parse = |bytes: &[u8]| -> Vec<Json> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    };
    let (ours, theirs) = (parse(ours), parse(theirs));
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
}

/// `scimap diff`: the default mapping against itself (nothing changes) and against a
/// copy whose `displayName` changes for every user, beside applying one mapping.
fn population(c: &mut Criterion) {
    let input = twin::ndjson(USERS);
    let old = Mapping::embedded_default();
    let changed = Mapping::from_json(&scimap::mapping::DEFAULT_MAPPING.replacen(
        r#""source": "[displayName]""#,
        r#""source": "ToUpper([displayName])""#,
        1,
    ))
    .unwrap();
    let users = old.object("User").unwrap();
    let diff = |new: &ObjectMapping, parallel: bool| {
        let mut options = StreamOptions::default();
        options.parallel = parallel;
        options.chunk_size = 1024;
        population_diff(
            users,
            new,
            black_box(&input[..]),
            Format::Ndjson,
            &options,
            3,
        )
        .unwrap()
    };
    assert_eq!(diff(users, false).unchanged, USERS);
    assert_eq!(diff(changed.object("User").unwrap(), false).changed, USERS);
    let mut out = Vec::with_capacity(2 * input.len());
    let mut group = c.benchmark_group("diff/default-user-mapping");
    group.throughput(Throughput::Elements(USERS as u64));
    group.sample_size(10);
    group.bench_function("apply-one-mapping-1-thread", |b| {
        b.iter(|| scimap_apply(users, black_box(&input), false, &mut out))
    });
    group.bench_function("unchanged-1-thread", |b| b.iter(|| diff(users, false)));
    group.bench_function("all-changed-1-thread", |b| {
        b.iter(|| diff(changed.object("User").unwrap(), false))
    });
    group.bench_function("all-changed-all-cores", |b| {
        b.iter(|| diff(changed.object("User").unwrap(), true))
    });
    group.finish();
}

criterion_group!(benches, apply, population);
criterion_main!(benches);
