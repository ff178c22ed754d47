//! The `scimap` command line. Exit codes: 0 a value (or an ignored flow), 1 an
//! evaluation error, 2 a parse or check error, 3 an unreadable or invalid input file.

mod input;
mod mappings;
mod playground;
mod population;
mod report;
mod serve;
mod snapshot;
mod sync;
mod tenant;
mod worker;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value as Json};

use crate::{graph_tree, Batch, Context, Diagnostic, Diagnostics, Program, Value};

#[derive(Parser)]
#[command(
    name = "scimap",
    version,
    about = "Entra ID attribute-mapping expressions, offline."
)]
struct Cli {
    /// When to color diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate an expression over one record.
    Eval {
        /// The expression, e.g. 'Join(" ", [givenName], [surname])'.
        expression: String,
        /// A JSON file with the source record (`-` for standard input). Without it the
        /// record is empty, so every attribute is null.
        #[arg(long, short, value_name = "FILE|-")]
        record: Option<String>,
        /// Print one JSON object: {"value": …}, {"ignored": true} or {"error": …}.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        context: ContextArgs,
    },
    /// Print an expression's syntax tree and bytecode; with a record, each node's value
    /// for it and why a function chose what it chose.
    Explain {
        /// The expression.
        expression: String,
        /// A JSON file with the source record (`-` for standard input).
        #[arg(long, short, value_name = "FILE|-")]
        record: Option<String>,
        #[command(flatten)]
        context: ContextArgs,
    },
    /// Map source records to SCIM resources, one JSON line each.
    Apply {
        #[command(flatten)]
        mapping: MappingChoice,
        /// Record files: NDJSON, a JSON array, a Graph list ({"value": [...]}) or CSV
        /// with a header row (`-` for standard input).
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        /// The layout of the inputs; told from their first character by default.
        #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
        input_format: InputFormat,
        /// Write the resources here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        out: Option<String>,
        /// A JSON object from source object ids to target ids, for references (manager,
        /// members); without it, references are left out.
        #[arg(long, value_name = "FILE")]
        ids: Option<String>,
        /// Make resources as for an update: no defaults, no create-only mappings, group
        /// members included.
        #[arg(long)]
        update: bool,
        /// Threads to evaluate on (default: every core).
        #[arg(long, short, value_name = "N")]
        jobs: Option<usize>,
        /// Write one JSON line per record that made no resource (failed or out of scope).
        #[arg(long, value_name = "FILE")]
        report: Option<String>,
        #[command(flatten)]
        context: ContextArgs,
    },
    /// Lint a mapping file: every problem, with its line and column.
    Check {
        /// The mapping file (native or a Graph synchronizationSchema).
        file: String,
        /// More source attributes that exist (directory extensions), besides Entra's.
        #[arg(long = "source-attribute", value_name = "NAME")]
        source_attributes: Vec<String>,
    },
    /// Run a file of mapping test cases (records with their expected resources or PATCH bodies).
    Test {
        /// The test file.
        file: String,
    },
    /// Run a SCIM 2.0 service provider on SQLite, for the tenants in its database
    /// (`/tenants/NAME/scim/v2`, or `/scim/v2` for the token's tenant).
    Serve(serve::ServeArgs),
    /// Manage the tenants of `scimap serve`: add, list, rotate-token, add-token,
    /// revoke-token, remove, audit.
    Tenant(tenant::TenantArgs),
    /// Compare what a mapping makes of sample records with their stored snapshots;
    /// accept differences with --accept, --accept-new or --review.
    Snapshot(snapshot::SnapshotArgs),
    /// Apply two mappings to the same records and report what would change, per
    /// target attribute, and which objects would enter or leave scope.
    Diff(population::DiffArgs),
    /// Provision from a directory snapshot to a SCIM target: cycles every --interval,
    /// one with --once, or one object on demand with --only. `scimap sync jobs` and
    /// `scimap sync worker` share many jobs between workers through PostgreSQL.
    Sync(sync::SyncCommand),
    /// Serve the playground (built by `bash playground/build.sh`) on localhost.
    Playground {
        /// The address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: String,
        /// The built page's folder (default: playground/dist).
        #[arg(long, value_name = "DIR")]
        dir: Option<String>,
    },
    /// Write a mapping file (a Graph synchronizationSchema, say) in the native format.
    Convert {
        /// The mapping file.
        file: String,
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        out: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Style {
    Legacy,
    Rfc,
}

impl From<Style> for crate::scim::PatchStyle {
    fn from(style: Style) -> crate::scim::PatchStyle {
        match style {
            Style::Legacy => crate::scim::PatchStyle::Legacy,
            Style::Rfc => crate::scim::PatchStyle::Rfc,
        }
    }
}

/// Which mapping, and which of its object mappings.
#[derive(clap::Args)]
struct MappingChoice {
    /// The mapping file (native or a Graph synchronizationSchema); Entra's default
    /// SCIM mapping when absent.
    #[arg(long, short, value_name = "FILE")]
    mapping: Option<String>,
    /// Which object mapping to apply: `User`, `Group`, or an object mapping's name.
    #[arg(long, default_value = "User")]
    object: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    Auto,
    Ndjson,
    Json,
    Csv,
}

/// What evaluation may depend on besides the record, fixed for reproducible results.
#[derive(clap::Args)]
struct ContextArgs {
    /// The time `Now()` returns (RFC 3339, e.g. 2026-01-31T08:00:00Z) instead of the clock.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Seeds `Guid()` and `RandomString()`.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// A JSON array of the values already taken in the target, for `SelectUniqueValue`.
    #[arg(long, value_name = "FILE")]
    existing: Option<String>,
    /// The tenant's default domain, for `DefaultDomain()`.
    #[arg(long, value_name = "NAME")]
    tenant_domain: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The value as text, diagnostics as annotated source.
    Human,
    /// One JSON object on standard output.
    Json,
    /// Microsoft Graph's parseExpression response.
    Graph,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

/// The process outcome, as an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok = 0,
    EvalError = 1,
    CheckError = 2,
    InputError = 3,
    /// A sync job stopped: quarantined, or deletions staged by the threshold.
    Stopped = 4,
}

/// A duration flag (`40m`, `90s`, `1h`, `500ms`) that must be more than zero.
fn positive_duration(text: &str) -> Result<jiff::SignedDuration, String> {
    let duration: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("`{text}` is not a duration such as 40m, 90s or 1h: {e}"))?;
    if duration <= jiff::SignedDuration::ZERO {
        return Err("the duration must be positive".into());
    }
    Ok(duration)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let outcome = match cli.command {
        Command::Eval {
            expression,
            record,
            json,
            format,
            context,
        } => {
            let format = if json { Format::Json } else { format };
            eval(&expression, record.as_deref(), &context, format, color)
        }
        Command::Explain {
            expression,
            record,
            context,
        } => explain(&expression, record.as_deref(), &context, color),
        Command::Apply {
            mapping,
            inputs,
            input_format,
            out,
            ids,
            update,
            jobs,
            report,
            context,
        } => {
            let context = match context_from(&context) {
                Ok(context) => context,
                Err(error) => return ExitCode::from(report_input(&error, Format::Human) as u8),
            };
            mappings::apply(mappings::ApplyArgs {
                mapping: mapping.mapping.as_deref(),
                object: &mapping.object,
                inputs: &inputs,
                format: match input_format {
                    InputFormat::Auto => crate::records::Format::Auto,
                    InputFormat::Ndjson => crate::records::Format::Ndjson,
                    InputFormat::Json => crate::records::Format::Json,
                    InputFormat::Csv => crate::records::Format::Csv,
                },
                out: out.as_deref(),
                ids: ids.as_deref(),
                phase: if update {
                    crate::mapping::Phase::Update
                } else {
                    crate::mapping::Phase::Create
                },
                jobs,
                report: report.as_deref(),
                context,
                color,
            })
        }
        Command::Check {
            file,
            source_attributes,
        } => mappings::check(&file, &source_attributes, color),
        Command::Test { file } => mappings::test(&file, color),
        Command::Convert { file, out } => mappings::convert(&file, out.as_deref(), color),
        Command::Playground { listen, dir } => playground::serve(&listen, dir.as_deref()),
        Command::Sync(sync::SyncCommand {
            command: Some(sync::Shared::Jobs(args)),
            ..
        }) => worker::jobs(args, color),
        Command::Sync(sync::SyncCommand {
            command: Some(sync::Shared::Worker(args)),
            ..
        }) => worker::worker(args),
        Command::Sync(sync::SyncCommand {
            args: Some(args), ..
        }) => sync::sync(args, color),
        Command::Sync(_) => {
            eprintln!(
                "error: scimap sync needs --users and --target, or a subcommand (jobs, worker)"
            );
            Outcome::InputError
        }
        Command::Snapshot(args) => snapshot::snapshot(args, color),
        Command::Diff(args) => population::diff(args, color),
        Command::Serve(args) => serve::serve(args),
        Command::Tenant(args) => tenant::tenant(args),
    };
    ExitCode::from(outcome as u8)
}

const ORIGIN: &str = "<expression>";

fn eval(
    source: &str,
    record: Option<&str>,
    context: &ContextArgs,
    format: Format,
    color: bool,
) -> Outcome {
    let program = match Program::compile(source) {
        Ok(program) => program,
        Err(diagnostics) => return report_check(source, &diagnostics, format, color),
    };
    let batch = match input::read_record(record) {
        Ok(batch) => batch,
        Err(error) => return report_input(&error, format),
    };
    let nowhere =
        crate::mapping::entra::expression_attribute_problems(&program, batch.attribute_names());
    let ctx = match context_from(context) {
        Ok(ctx) => ctx,
        Err(error) => return report_input(&error, format),
    };
    if format == Format::Graph {
        let response = graph_tree::parse_expression(source, &batch, &ctx);
        print_json(
            &serde_json::to_value(&response).expect("responses serialize"),
            true,
        );
        return if response.evaluation_succeeded {
            Outcome::Ok
        } else {
            Outcome::EvalError
        };
    }
    render_warnings(source, program.warnings(), color);
    render_warnings(source, &nowhere, color);
    let result = program
        .eval_batch(&batch, &ctx)
        .into_iter()
        .next()
        .expect("a record was read");
    match (result, format) {
        (Ok(Value::Ignored), Format::Json) => print_json(&json!({"ignored": true}), false),
        (Ok(value), Format::Json) => print_json(&json!({"value": value.to_json()}), false),
        (Ok(Value::Ignored), _) => {
            say("(flow ignored)\n");
            eprintln!("note: the target attribute would be left out of this object's provisioning");
        }
        (Ok(value), _) => say(&format!("{}\n", human(&value))),
        (Err(error), Format::Json) => {
            print_json(&json!({"error": error_json(error.diagnostic())}), false);
            return Outcome::EvalError;
        }
        (Err(error), _) => {
            eprintln!("{}", error.diagnostic().render(source, ORIGIN, color));
            return Outcome::EvalError;
        }
    }
    Outcome::Ok
}

fn context_from(context: &ContextArgs) -> Result<Context, input::InputError> {
    input::context(
        context.now.as_deref(),
        context.seed,
        context.existing.as_deref(),
        &context.tenant_domain,
    )
}

fn human(value: &Value<'_>) -> String {
    match value {
        Value::List(_) => serde_json::to_string(&value.to_json()).expect("values serialize"),
        other => other.to_string(),
    }
}

fn explain(source: &str, record: Option<&str>, context: &ContextArgs, color: bool) -> Outcome {
    match crate::syntax::parse(source) {
        Ok(parsed) => {
            say(&format!("syntax:\n{}", indent(&parsed.expr.pretty())));
        }
        Err(errors) => return report_check(source, &Diagnostics(errors), Format::Human, color),
    }
    let program = match Program::compile(source) {
        Ok(program) => program,
        Err(diagnostics) => return report_check(source, &diagnostics, Format::Human, color),
    };
    render_warnings(source, program.warnings(), color);
    say(&format!("bytecode:\n{}", indent(&program.disassemble())));
    if record.is_none() {
        return Outcome::Ok;
    }
    let (batch, ctx) = match (input::read_record(record), context_from(context)) {
        (Ok(batch), Ok(ctx)) => (batch, ctx),
        (Err(error), _) | (_, Err(error)) => return report_input(&error, Format::Human),
    };
    match crate::explain::explain(source, &batch, &ctx) {
        Ok(explanation) => {
            say(&format!("values:\n{}", indent(&trace(&explanation))));
            Outcome::Ok
        }
        Err(diagnostics) => report_check(source, &diagnostics, Format::Human, color),
    }
}

/// Each node of an explanation on a line of its own, indented by depth, with its value
/// and the note on why a function chose what it chose.
fn trace(explanation: &crate::explain::Explanation) -> String {
    let mut out = String::new();
    for step in &explanation.steps {
        let text = if step.kind == "empty" {
            "(left out)"
        } else {
            step.text.as_str()
        };
        let value = match (step.value_kind, &step.value, &step.error) {
            (Some("error"), _, Some(message)) => format!("error: {message}"),
            (Some(kind), Some(value), _) => format!("{kind} {value}"),
            (Some(kind), None, _) => kind.to_string(),
            (None, _, _) => "(not evaluated)".to_string(),
        };
        out.push_str(&format!("{}{text}  →  {value}\n", "  ".repeat(step.depth)));
        if let Some(note) = &step.note {
            out.push_str(&format!("{}  ({note})\n", "  ".repeat(step.depth)));
        }
    }
    if let Some(cut) = &explanation.cut {
        out.push_str(&format!("({cut})\n"));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn report_check(source: &str, diagnostics: &Diagnostics, format: Format, color: bool) -> Outcome {
    match format {
        Format::Human => eprintln!("{}", diagnostics.render(source, ORIGIN, color)),
        Format::Json => {
            let first = diagnostics
                .first_error()
                .expect("a failed check has an error");
            let all: Vec<Json> = diagnostics.0.iter().map(error_json).collect();
            print_json(
                &json!({"error": error_json(first), "diagnostics": all}),
                false,
            );
        }
        Format::Graph => {
            let response =
                graph_tree::parse_expression(source, &Batch::default(), &Context::default());
            let mut response = serde_json::to_value(&response).expect("responses serialize");
            if let Some(first) = diagnostics.first_error() {
                response["parsingSucceeded"] = json!(false);
                response["error"] = json!({"code": first.code.as_str(), "message": first.message});
            }
            print_json(&response, true);
        }
    }
    Outcome::CheckError
}

fn report_input(error: &input::InputError, format: Format) -> Outcome {
    match format {
        Format::Human => eprintln!("error[input]: {error}"),
        Format::Json | Format::Graph => {
            let mut object = json!({"code": "input", "message": error.to_string(), "span": null});
            if let Some(location) = error.location() {
                object["location"] = json!(location);
            }
            print_json(&json!({"error": object}), format == Format::Graph);
        }
    }
    Outcome::InputError
}

fn error_json(d: &Diagnostic) -> Json {
    let mut object = json!({
        "code": d.code.as_str(),
        "message": d.message,
        "span": d.span().map(|s| [s.start, s.end]),
    });
    if d.severity == crate::Severity::Warning {
        object["severity"] = json!("warning");
    }
    if let Some(label) = d.labels.iter().find(|l| l.primary) {
        object["label"] = json!(label.message);
    }
    if let Some(help) = &d.help {
        object["help"] = json!(help);
    }
    object
}

fn render_warnings(source: &str, warnings: &[Diagnostic], color: bool) {
    for warning in warnings {
        eprintln!("{}", warning.render(source, ORIGIN, color));
    }
}

fn print_json(value: &Json, pretty: bool) {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    say(&format!("{}\n", text.expect("JSON values serialize")));
}

/// Writes to standard output; a closed pipe (`| head`) is not worth a panic.
pub(crate) fn say(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
