//! Compile time per expression, and evaluation throughput over one 10,000-record batch
//! of synthetic users, each beside two hand-written closures doing the same work: one
//! reading fields by name from a `serde_json` map, one reading a typed struct's fields
//! (the physical limit).
//!
//! `cargo bench --bench expressions`; results are in docs/performance.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scimap::{Batch, Context, Program};
use serde_json::{Map, Value as Json};

mod common;

use common::*;

#[cfg(not(feature = "bench-system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for (name, source) in [
        ("join", JOIN),
        ("replace", REPLACE),
        ("switch", SWITCH),
        ("iif", IIF),
        ("date", DATE),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| Program::compile(black_box(source)).unwrap())
        });
    }
    // The yardstick: minijinja compiling the same four expressions in its own language.
    let env = minijinja::Environment::new();
    for (name, source) in MINIJINJA {
        group.bench_function(format!("{name} (minijinja)"), |b| {
            b.iter(|| env.compile_expression(black_box(source)).unwrap())
        });
    }
    group.finish();
}

/// Expressions (a)–(d) in minijinja's language, as the peer benchmark wrote them.
const MINIJINJA: [(&str, &str); 4] = [
    ("join", r#"given_name ~ " " ~ surname"#),
    (
        "replace",
        r#"mail | replace("@contoso.com", "@fabrikam.com") | lower"#,
    ),
    (
        "switch",
        r#"{"US": "United States", "DE": "Germany", "FR": "France", "IN": "India", "JP": "Japan"}.get(country, "Unknown")"#,
    ),
    ("iif", r#"department if department is defined else "none""#),
];

fn batch(c: &mut Criterion) {
    let users = users();
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("from_json", |b| {
        b.iter(|| Batch::from_json(black_box(&users)).unwrap())
    });
    group.finish();
}

fn eval(c: &mut Criterion) {
    let (_, maps, batch) = inputs();
    let typed = typed_users(&maps);
    let ctx = Context::default();

    macro_rules! pair {
        ($name:literal, $source:expr, $closure:expr, $typed:expr) => {{
            let program = Program::compile($source).unwrap();
            let mut group = c.benchmark_group(concat!("eval/", $name));
            group.throughput(Throughput::Elements(RECORDS as u64));
            group.bench_function("scimap", |b| {
                b.iter(|| program.eval_batch(black_box(&batch), &ctx))
            });
            group.bench_function("closure", |b| {
                b.iter(|| black_box(&maps).iter().map($closure).collect::<Vec<_>>())
            });
            group.bench_function("typed", |b| {
                b.iter(|| black_box(&typed).iter().map($typed).collect::<Vec<_>>())
            });
            group.finish();
        }};
    }
    pair!("join", JOIN, join_closure, join_typed);
    pair!("replace", REPLACE, replace_closure, replace_typed);
    pair!("switch", SWITCH, switch_closure, switch_typed);
    pair!("iif", IIF, iif_closure, iif_typed);
    pair!("date", DATE, date_closure, date_typed);
}

/// The closures and the programs must agree, or the comparison means nothing.
fn same_results() {
    let users = users();
    let batch = Batch::from_json(&users).unwrap();
    let ctx = Context::default();
    let text = |v: &Result<scimap::Value<'_>, scimap::EvalError>| {
        v.as_ref().unwrap().as_text().map(|s| s.into_owned())
    };
    for (source, closure) in [
        (
            JOIN,
            &(|r: &Map<String, Json>| join_closure(r))
                as &dyn Fn(&Map<String, Json>) -> Option<String>,
        ),
        (REPLACE, &replace_closure),
        (SWITCH, &|r| Some(switch_closure(r).to_string())),
        (IIF, &|r| Some(iif_closure(r).to_string())),
        (DATE, &date_closure),
    ] {
        let program = Program::compile(source).unwrap();
        for (result, user) in program.eval_batch(&batch, &ctx).iter().zip(&users) {
            assert_eq!(text(result), closure(user.as_object().unwrap()), "{source}");
        }
    }
    for (source, typed) in [
        (JOIN, &join_typed as &dyn Fn(&User) -> Option<String>),
        (REPLACE, &replace_typed),
        (SWITCH, &|u| Some(switch_typed(u).to_string())),
        (IIF, &|u| Some(iif_typed(u).to_string())),
        (DATE, &date_typed),
    ] {
        let program = Program::compile(source).unwrap();
        for (result, user) in program.eval_batch(&batch, &ctx).iter().zip(&users) {
            let user = User::from_map(user.as_object().unwrap());
            assert_eq!(text(result), typed(&user), "{source}");
        }
    }
}

fn checked(c: &mut Criterion) {
    same_results();
    compile(c);
    batch(c);
    eval(c);
}

criterion_group!(benches, checked);
criterion_main!(benches);
