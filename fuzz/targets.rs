//! What each fuzz target does with its input, shared by the libFuzzer targets in
//! `fuzz_targets/` and by `tests/fuzz_regressions.rs`, which replays the checked-in
//! corpus under `cargo test`. A target passes when it returns: any error is an answer,
//! only a panic, an abort or a hang is a finding.

use std::sync::{Arc, OnceLock};

use scimap::mapping::{ApplyOptions, Phase};
use scimap::scim::schema::{GROUP_TYPE, USER_TYPE};
use scimap::scim::{apply_patch, Filter, Path};
use scimap::{Batch, Context, Mapping, Program};
use serde_json::{json, Value as Json};

/// A target: one input, run to completion.
pub type Target = fn(&[u8]);

/// Every target by name, as the corpus directories are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("expression", expression),
    ("dotnet_regex", dotnet_regex),
    ("scim_filter", scim_filter),
    ("scim_path", scim_path),
    ("patch", patch),
    ("mapping", mapping),
    ("records", records),
    ("http", http),
];

fn text(data: &[u8]) -> &str {
    std::str::from_utf8(data).unwrap_or_default()
}

fn record() -> Json {
    json!({"objectId": "0a21f0f2", "userPrincipalName": "Zoë.Müller@contoso.com",
           "givenName": "Zoë", "surname": "Müller", "mail": "zoe@contoso.com",
           "accountEnabled": true, "proxyAddresses": ["SMTP:zoe@contoso.com", "smtp:z@contoso.com"],
           "employeeHireDate": "2024-03-01T08:00:00Z", "department": "Sales"})
}

fn user() -> Json {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "zoe@contoso.com",
           "name": {"givenName": "Zoë", "familyName": "Müller"}, "active": true,
           "emails": [{"type": "work", "value": "zoe@contoso.com", "primary": true}, {"type": "home", "value": "z@x"}],
           "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "manager": {"value": "2"}},
           "meta": {"resourceType": "User", "version": "W/\"1\""}})
}

/// The expression pipeline: parse, check, compile, render the diagnostics, evaluate
/// on a fixed record.
pub fn expression(data: &[u8]) {
    let source = text(data);
    match Program::compile(source) {
        Ok(program) => {
            let batch = Batch::from_json(&[record()]).expect("a fixed record");
            let _ = program.eval_batch(&batch, &Context::default());
        }
        Err(diagnostics) => {
            let _ = diagnostics.render(source, "<fuzz>", false);
        }
    }
}

/// A .NET pattern: translated, compiled on its engine, run over a fixed text.
pub fn dotnet_regex(data: &[u8]) {
    if let Ok(pattern) = scimap::functions::netregex::compile(text(data)) {
        let _ = pattern.is_match("Zoë Müller <zoe@contoso.com> [IT], 555-1234\n");
        let _ = pattern.each_match("aaa-bbb ccc", |_| Ok::<_, String>(true), |e| e);
    }
}

/// SCIM filters: parsed, checked against both resource types, evaluated, printed.
pub fn scim_filter(data: &[u8]) {
    let Ok(filter) = Filter::parse(text(data)) else {
        return;
    };
    let _ = filter.to_string();
    for rt in [&USER_TYPE, &GROUP_TYPE] {
        if filter.check(rt).is_ok() {
            let _ = filter.matches(&user(), rt);
        }
    }
}

/// Attribute paths (PATCH paths, `sortBy`, mapping targets).
pub fn scim_path(data: &[u8]) {
    if let Ok(path) = Path::parse(text(data)) {
        let _ = path.to_string();
        let _ = path.equalities();
    }
}

/// A PATCH body applied to a fixed user and a fixed group.
pub fn patch(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Json>(data) else {
        return;
    };
    let mut resource = user();
    let _ = apply_patch(&mut resource, &body, &USER_TYPE);
    let mut group = json!({"displayName": "G", "members": [{"value": "1"}, {"value": "2"}]});
    let _ = apply_patch(&mut group, &body, &GROUP_TYPE);
}

/// A mapping file (native or Graph), loaded, its diagnostics rendered, and applied to
/// a fixed record.
pub fn mapping(data: &[u8]) {
    let source = text(data);
    match Mapping::from_json(source) {
        Ok(mapping) => {
            let batch = Batch::from_json(&[record()]).expect("a fixed record");
            let mut options = ApplyOptions::default();
            options.phase = Phase::Create;
            for name in ["User", "Group"] {
                if let Some(object) = mapping.object(name) {
                    object.apply_batch(&batch, &options, |_, result| {
                        if let Ok(applied) = result {
                            if let Some(resource) = applied.resource() {
                                let _ = resource.to_json();
                            }
                        }
                    });
                }
            }
        }
        Err(diagnostics) => {
            let _ = diagnostics.render(source, "<fuzz>", false);
        }
    }
}

/// Record files in every layout, each record made into a batch.
pub fn records(data: &[u8]) {
    use scimap::records::{read, Format, Raw};
    for format in [Format::Auto, Format::Ndjson, Format::Json, Format::Csv] {
        let mut sink = |_, raw: Result<Raw<'_>, String>| {
            let record = match raw {
                Ok(Raw::Parsed(record)) => record,
                Ok(Raw::Line(line)) => match scimap::records::parse_line(line) {
                    Ok(record) => record,
                    Err(_) => return,
                },
                Err(_) => return,
            };
            let _ = Batch::from_json(&[record]);
        };
        let _ = read(data, format, &mut sink);
    }
}

/// The SCIM server in process: the input is `METHOD TARGET`, header lines, an empty
/// line and the body, sent through the router with a valid token.
pub fn http(data: &[u8]) {
    use tower::ServiceExt as _;
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    let (runtime, app) = SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let store = Arc::new(scimap::server::Sqlite::in_memory().expect("an in-memory store"));
        let config = scimap::server::Config::with_tokens(["fuzz"]);
        (runtime, scimap::server::router(store, config))
    });
    let Some(request) = request(data) else {
        return;
    };
    runtime.block_on(async {
        let response = app.clone().oneshot(request).await.expect("infallible");
        let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
    });
}

fn request(data: &[u8]) -> Option<axum::http::Request<axum::body::Body>> {
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let head = std::str::from_utf8(&data[..split]).ok()?;
    let body = data.get(split + 2..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let (method, target) = lines.next()?.split_once(' ')?;
    let mut builder = axum::http::Request::builder()
        .method(method)
        .uri(format!("/scim/v2{target}"))
        .header("authorization", "Bearer fuzz");
    for line in lines {
        let (name, value) = line.split_once(':')?;
        builder = builder.header(name.trim(), value.trim());
    }
    builder.body(axum::body::Body::from(body)).ok()
}
