//! `diff`: two mappings applied to the same records, and what would change between
//! them, per target attribute, before a mapping change is saved in production.

use std::fmt::Write as _;

use super::mappings::{self, plural};
use super::report::show;
use super::{input, ContextArgs, Outcome};
use crate::mapping::{population_diff, ApplyOptions, PopulationDiff, StreamOptions};
use crate::records::{Format, ReadError};

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The old mapping, then the new one (`--mapping OLD --mapping NEW`).
    #[arg(long, short, value_name = "FILE", num_args = 1, required = true)]
    mapping: Vec<String>,
    /// Which object mapping to compare: `User`, `Group`, or an object mapping's name.
    #[arg(long, default_value = "User")]
    object: String,
    /// Records: NDJSON, a JSON array, a Graph list or CSV (`-` for standard input).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Example objects to show per attribute and per category.
    #[arg(long, default_value_t = 3, value_name = "N")]
    examples: usize,
    /// For people, or one JSON object.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    format: DiffFormat,
    /// Exit with 1 when any object would change, enter or leave scope, or start or stop failing.
    #[arg(long)]
    exit_code: bool,
    /// Threads to evaluate on (default: every core).
    #[arg(long, short, value_name = "N")]
    jobs: Option<usize>,
    #[command(flatten)]
    context: ContextArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Human,
    Json,
}

pub fn diff(args: DiffArgs, color: bool) -> Outcome {
    let [old_path, new_path] = args.mapping.as_slice() else {
        eprintln!(
            "error: give two mappings, the old one and then the new one: --mapping OLD --mapping NEW (got {})",
            args.mapping.len()
        );
        return Outcome::InputError;
    };
    let (old, new) = match (
        mappings::load(Some(old_path), color),
        mappings::load(Some(new_path), color),
    ) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(outcome), _) | (_, Err(outcome)) => return outcome,
    };
    let (old_object, new_object) = match (
        mappings::object(&old, &args.object),
        mappings::object(&new, &args.object),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(outcome), _) | (_, Err(outcome)) => return outcome,
    };
    // One clock reading and one seed for both mappings: Now() and RandomString() must
    // not show up as changes.
    let now = args
        .context
        .now
        .clone()
        .unwrap_or_else(|| jiff::Timestamp::now().to_string());
    let context = match input::context(
        Some(&now),
        Some(args.context.seed.unwrap_or(0)),
        args.context.existing.as_deref(),
        &args.context.tenant_domain,
    ) {
        Ok(context) => context,
        Err(e) => {
            eprintln!("error[input]: {e}");
            return Outcome::InputError;
        }
    };
    mappings::use_threads(args.jobs);
    let options = StreamOptions {
        apply: ApplyOptions {
            context: Some(&context),
            ..ApplyOptions::default()
        },
        parallel: args.jobs != Some(1),
        chunk_size: 1024,
    };
    let mut total = PopulationDiff::default();
    let mut unreadable = false;
    for path in &args.inputs {
        let (reader, progress) = match mappings::open_input(path) {
            Ok(opened) => opened,
            Err(e) => {
                eprintln!("error[input]: {e}");
                unreadable = true;
                continue;
            }
        };
        let result = population_diff(
            old_object,
            new_object,
            reader,
            Format::Auto,
            &options,
            args.examples,
        );
        if let Some(progress) = progress {
            progress.finish_and_clear();
        }
        match result {
            Ok(diff) => total.extend(diff, args.examples),
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(e) => {
                eprintln!("error[input]: {path}: {e}; records after this point were not compared");
                unreadable = true;
            }
        }
    }
    match args.format {
        DiffFormat::Human => super::say(&human(&total)),
        DiffFormat::Json => super::say(&format!(
            "{}\n",
            serde_json::to_string_pretty(&total).expect("diffs serialize")
        )),
    }
    if unreadable || total.unreadable.count > 0 {
        Outcome::InputError
    } else if args.exit_code && !total.is_empty() {
        Outcome::EvalError
    } else {
        Outcome::Ok
    }
}

fn human(diff: &PopulationDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} record{}: {} unchanged, {} changed, {} entering scope, {} leaving scope, {} newly failing, {} no longer failing ({} out of scope and {} failing under both)",
        diff.records,
        plural(diff.records),
        diff.unchanged,
        diff.changed,
        diff.entering_scope.count,
        diff.leaving_scope.count,
        diff.newly_failing.count,
        diff.no_longer_failing.count,
        diff.out_of_scope,
        diff.failing,
    );
    if !diff.attributes.is_empty() {
        let width = diff
            .attributes
            .iter()
            .map(|a| a.path.chars().count())
            .max()
            .unwrap_or(0)
            .max("target attribute".len());
        let _ = writeln!(
            out,
            "\n{:<width$}  {:>9}  {:>9}  {:>9}",
            "target attribute", "changed", "added", "removed"
        );
        for a in &diff.attributes {
            let _ = writeln!(
                out,
                "{:<width$}  {:>9}  {:>9}  {:>9}",
                a.path, a.changed, a.added, a.removed
            );
            for e in &a.examples {
                let _ = writeln!(out, "    {}: {} → {}", e.record, show(&e.old), show(&e.new));
            }
        }
    }
    for (label, examples) in [
        ("entering scope", &diff.entering_scope),
        ("leaving scope", &diff.leaving_scope),
        ("newly failing", &diff.newly_failing),
        ("no longer failing", &diff.no_longer_failing),
        ("unreadable", &diff.unreadable),
    ] {
        if examples.count == 0 {
            continue;
        }
        let _ = writeln!(out, "\n{label}: {}", examples.count);
        for e in &examples.examples {
            match &e.message {
                Some(message) => {
                    let _ = writeln!(out, "    {}: {message}", e.record);
                }
                None => {
                    let _ = writeln!(out, "    {}", e.record);
                }
            }
        }
    }
    out
}
