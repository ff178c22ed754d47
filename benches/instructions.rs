//! Runs one of the four benchmark expressions, or its closure, a given number of times
//! over the 10,000 synthetic users, and nothing else, so that `valgrind --tool=callgrind`
//! can count the instructions: a figure that, unlike time, does not move with the load on
//! the machine. docs/performance.md has the command.
//!
//! Usage: instructions join|replace|switch|iif|date scimap|closure|typed|compile ITERATIONS
//! (`typed`: the closure over a typed struct; `compile`: parse, check and compile the
//! expression, ITERATIONS times), or instructions mapping scimap|parallel|serde
//! ITERATIONS: the default user mapping applied to the 10,000 users as NDJSON, by
//! `scimap apply`'s code on one thread or on every core, or by the serde twin.

use std::hint::black_box;

use scimap::mapping::{Mapping, StreamOptions};
use scimap::records::Format;
use scimap::{Context, Program};

mod common;

use common::*;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [which, side, iterations] = args.as_slice() else {
        eprintln!(
            "usage: instructions join|replace|switch|iif|date scimap|closure|typed|compile ITERATIONS"
        );
        std::process::exit(2);
    };
    let iterations: usize = iterations.parse().expect("ITERATIONS is a number");
    if which == "mapping" {
        return mapping(side, iterations);
    }
    let (_, maps, batch) = inputs();
    let typed = typed_users(&maps);
    let source = match which.as_str() {
        "join" => JOIN,
        "replace" => REPLACE,
        "switch" => SWITCH,
        "iif" => IIF,
        "date" => DATE,
        other => panic!("no benchmark {other}"),
    };
    let program = Program::compile(source).unwrap();
    let ctx = Context::default();
    for _ in 0..iterations {
        match (side.as_str(), which.as_str()) {
            ("scimap", _) => drop(black_box(program.eval_batch(&batch, &ctx))),
            ("compile", _) => drop(black_box(Program::compile(black_box(source)))),
            ("typed", "join") => drop(black_box(typed.iter().map(join_typed).collect::<Vec<_>>())),
            ("typed", "replace") => drop(black_box(
                typed.iter().map(replace_typed).collect::<Vec<_>>(),
            )),
            ("typed", "switch") => drop(black_box(
                typed.iter().map(switch_typed).collect::<Vec<_>>(),
            )),
            ("typed", "date") => drop(black_box(typed.iter().map(date_typed).collect::<Vec<_>>())),
            ("typed", _) => drop(black_box(typed.iter().map(iif_typed).collect::<Vec<_>>())),
            (_, "join") => drop(black_box(maps.iter().map(join_closure).collect::<Vec<_>>())),
            (_, "replace") => drop(black_box(
                maps.iter().map(replace_closure).collect::<Vec<_>>(),
            )),
            (_, "switch") => drop(black_box(
                maps.iter().map(switch_closure).collect::<Vec<_>>(),
            )),
            (_, "date") => drop(black_box(maps.iter().map(date_closure).collect::<Vec<_>>())),
            _ => drop(black_box(maps.iter().map(iif_closure).collect::<Vec<_>>())),
        }
    }
}

fn mapping(side: &str, iterations: usize) {
    let input = twin::ndjson(RECORDS);
    let mapping = Mapping::embedded_default();
    let users = mapping.object("User").unwrap();
    let mut options = StreamOptions::default();
    options.parallel = side == "parallel";
    let mut out = Vec::with_capacity(2 * input.len());
    for _ in 0..iterations {
        out.clear();
        match side {
            "scimap" | "parallel" => {
                let summary = users
                    .apply_stream(
                        black_box(&input[..]),
                        Format::Ndjson,
                        &options,
                        &mut out,
                        &mut |_| {},
                    )
                    .unwrap();
                assert_eq!(summary.resources, RECORDS);
            }
            _ => twin::by_hand(black_box(&input), &mut out),
        }
        black_box(&out);
    }
}
