//! Compile time per expression, and evaluation throughput over one 10,000-record batch
//! of synthetic users, each beside a hand-written closure doing the same work by
//! reading fields by name from a `serde_json` map.
//!
//! `cargo bench --bench expressions`; results are in docs/performance.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scimap::{Batch, Context, Program};
use serde_json::{json, Map, Value as Json};

#[cfg(not(feature = "bench-system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 10_000;

const JOIN: &str = r#"Join(" ", [givenName], [surname])"#;
const REPLACE: &str = r#"ToLower(Replace([mail], "@contoso.com", , , "@fabrikam.com", , ))"#;
const SWITCH: &str = r#"Switch([country], "Unknown", "US", "United States", "DE", "Germany", "FR", "France", "IN", "India", "JP", "Japan")"#;
const IIF: &str = r#"IIF(IsPresent([department]), [department], "none")"#;

/// Deterministic synthetic users: a small linear congruential generator picks values,
/// with some attributes empty or absent as in a real directory.
fn users() -> Vec<Json> {
    const GIVEN: &[&str] = &[
        "John", "Zoë", "Ana", "Bjørn", "Mei", "Olu", "Priya", "Sam", "Émile", "Kai",
    ];
    const SURNAMES: &[&str] = &[
        "Doe", "Müller", "Okafor", "Smith", "Tanaka", "García", "Singh", "Lee",
    ];
    const COUNTRIES: &[&str] = &["US", "DE", "FR", "IN", "JP", "GB", "BR", "US", "US", "DE"];
    const DEPARTMENTS: &[&str] = &["Sales", "Engineering", "Finance", "", "Support", "Legal"];
    const DOMAINS: &[&str] = &["contoso.com", "Contoso.com", "fabrikam.com", "contoso.com"];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    (0..RECORDS)
        .map(|i| {
            let given = GIVEN[next(GIVEN.len())];
            let surname = SURNAMES[next(SURNAMES.len())];
            let mut user = Map::new();
            user.insert(
                "objectId".into(),
                json!(format!("00aa00aa-bb11-cc22-dd33-{i:012}")),
            );
            user.insert(
                "userPrincipalName".into(),
                json!(format!("{given}.{surname}{i}@contoso.com")),
            );
            user.insert("givenName".into(), json!(given));
            user.insert("surname".into(), json!(surname));
            user.insert("displayName".into(), json!(format!("{given} {surname}")));
            user.insert(
                "mail".into(),
                json!(format!(
                    "{given}.{surname}@{}",
                    DOMAINS[next(DOMAINS.len())]
                )),
            );
            user.insert("country".into(), json!(COUNTRIES[next(COUNTRIES.len())]));
            if next(5) > 0 {
                user.insert(
                    "department".into(),
                    json!(DEPARTMENTS[next(DEPARTMENTS.len())]),
                );
            }
            user.insert("jobTitle".into(), json!("Engineer"));
            user.insert("mailNickname".into(), json!(format!("{given}{i}")));
            user.insert(
                "proxyAddresses".into(),
                json!([
                    format!("SMTP:{given}@contoso.com"),
                    format!("smtp:{i}@contoso.com")
                ]),
            );
            user.insert("accountEnabled".into(), json!(true));
            Json::Object(user)
        })
        .collect()
}

fn field<'r>(record: &'r Map<String, Json>, name: &str) -> Option<&'r str> {
    record.get(name).and_then(Json::as_str)
}

fn join_closure(r: &Map<String, Json>) -> Option<String> {
    let given = field(r, "givenName").filter(|s| !s.is_empty());
    let surname = field(r, "surname").filter(|s| !s.is_empty());
    match (given, surname) {
        (Some(g), Some(s)) => {
            let mut out = String::with_capacity(g.len() + 1 + s.len());
            out.push_str(g);
            out.push(' ');
            out.push_str(s);
            Some(out)
        }
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    }
}

fn replace_closure(r: &Map<String, Json>) -> Option<String> {
    field(r, "mail").map(|m| m.replace("@contoso.com", "@fabrikam.com").to_lowercase())
}

fn switch_closure(r: &Map<String, Json>) -> &'static str {
    match field(r, "country").unwrap_or("") {
        "US" => "United States",
        "DE" => "Germany",
        "FR" => "France",
        "IN" => "India",
        "JP" => "Japan",
        _ => "Unknown",
    }
}

fn iif_closure(r: &Map<String, Json>) -> &str {
    match field(r, "department") {
        Some(d) if !d.is_empty() => d,
        _ => "none",
    }
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for (name, source) in [
        ("join", JOIN),
        ("replace", REPLACE),
        ("switch", SWITCH),
        ("iif", IIF),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| Program::compile(black_box(source)).unwrap())
        });
    }
    group.finish();
}

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
    let users = users();
    let maps: Vec<Map<String, Json>> = users
        .iter()
        .map(|u| u.as_object().unwrap().clone())
        .collect();
    let batch = Batch::from_json(&users).unwrap();
    let ctx = Context::default();

    macro_rules! pair {
        ($name:literal, $source:expr, $closure:expr) => {{
            let program = Program::compile($source).unwrap();
            let mut group = c.benchmark_group(concat!("eval/", $name));
            group.throughput(Throughput::Elements(RECORDS as u64));
            group.bench_function("scimap", |b| {
                b.iter(|| program.eval_batch(black_box(&batch), &ctx))
            });
            group.bench_function("closure", |b| {
                b.iter(|| black_box(&maps).iter().map($closure).collect::<Vec<_>>())
            });
            group.finish();
        }};
    }
    pair!("join", JOIN, join_closure);
    pair!("replace", REPLACE, replace_closure);
    pair!("switch", SWITCH, switch_closure);
    pair!("iif", IIF, iif_closure);
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
    ] {
        let program = Program::compile(source).unwrap();
        for (result, user) in program.eval_batch(&batch, &ctx).iter().zip(&users) {
            assert_eq!(text(result), closure(user.as_object().unwrap()), "{source}");
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
