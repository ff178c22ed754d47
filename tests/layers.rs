//! The library's modules form layers that only point down: each module names only
//! modules of a lower layer (ARCHITECTURE.md lists them). Read from the source: every
//! `crate::…` and `super::…` path that leaves a module, and the root's re-exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: &[&[&str]] = &[
    &["bounds", "value", "diagnostic", "json", "context"],
    &["functions"],
    &["syntax"],
    &["check", "bytecode", "batch"],
    &["compile", "vm"],
    &["graph_tree", "explain", "records", "scim"],
    &["mapping", "sqlite"],
    &["sync", "server"],
    &["cli"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `src/functions/case.rs` → [functions, case].
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The names the crate root re-exports, by the module they come from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items
            .trim_end_matches(';')
            .trim_matches(|c| c == '{' || c == '}');
        for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let name = item.rsplit(" as ").next().unwrap_or(item);
            names.insert(name.to_string(), module.to_string());
        }
    }
    names
}

/// The top-level modules a path names, where it leaves the file's own module.
fn targets(path: &str, own: &[String], reexports: &BTreeMap<String, String>) -> Vec<String> {
    let (mut rest, mut at) = (path, own.to_vec());
    if let Some(r) = rest.strip_prefix("crate::") {
        (rest, at) = (r, Vec::new());
    }
    while let Some(r) = rest.strip_prefix("super::") {
        rest = r;
        at.pop();
    }
    if !at.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = match rest.strip_prefix('{') {
        Some(group) => group
            .trim_end_matches('}')
            .split(',')
            .map(|g| g.trim().split("::").next().unwrap_or(""))
            .collect(),
        None => vec![rest.split("::").next().unwrap_or("")],
    };
    names
        .into_iter()
        .filter_map(|name| {
            let name = name.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
            match reexports.get(name) {
                Some(module) => Some(module.clone()),
                None => layer(name).map(|_| name.to_string()),
            }
        })
        .collect()
}

/// Every path in the code (comments left out) that begins with `crate::` or `super::`,
/// with its line; a `{…}` group is read whole, across lines.
fn paths(source: &str) -> Vec<(usize, String)> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let path_char = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = ["crate::", "super::"]
        .iter()
        .filter_map(|p| code[from..].find(p))
        .min()
    {
        let start = from + i;
        let tail = &code[start..];
        let head = tail.find(|c: char| !path_char(c)).unwrap_or(tail.len());
        let end = match tail[head..].starts_with('{') {
            true => tail[head..].find('}').map_or(tail.len(), |e| head + e + 1),
            false => head,
        };
        let line = code[..start].matches('\n').count() + 1;
        let path: String = tail[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        out.push((line, path));
        from = start + end.max(1);
    }
    out
}

#[test]
fn modules_only_name_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let reexports = reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut upward = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let relative = file.strip_prefix(&src).unwrap();
        let own = module_path(relative);
        let Some(module) = own.first().cloned() else {
            continue;
        };
        let Some(own_layer) = layer(&module) else {
            panic!(
                "{} is in no layer: add `{module}` to LAYERS and to ARCHITECTURE.md",
                relative.display()
            );
        };
        let source = std::fs::read_to_string(file).unwrap();
        for (line, path) in paths(&source) {
            for target in targets(&path, &own, &reexports) {
                if target == module {
                    continue;
                }
                graph
                    .entry(module.clone())
                    .or_default()
                    .insert(target.clone());
                if layer(&target).is_none_or(|l| l >= own_layer) {
                    upward.push(format!(
                        "{}:{line}: `{path}` ({module} names {target})",
                        relative.display()
                    ));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
    // The layers' order is itself a check: the graph read must hold the edges the
    // language core is known to have, so that a reader that found nothing fails.
    for (from, to) in [
        ("vm", "bytecode"),
        ("compile", "check"),
        ("check", "functions"),
        ("syntax", "functions"),
        ("functions", "context"),
        ("sync", "mapping"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains(to)),
            "{from} → {to} not found: {graph:?}"
        );
    }
}
