//! Loading a mapping: the native format or a Graph document read, each part located in
//! the text so that diagnostics point at it, every object and attribute compiled.

use serde_json::Value as Json;

use super::file::{Apply, AttributeFile, MappingFile, MappingKind, ObjectFile};
use super::lint::{asks_target, check_matching, check_required, default_problem};
use super::locate::JsonPath;
use super::{entra, graph, locate, resource, Clause, ClauseError, Scope};
use super::{AttributeMapping, Mapping, ObjectMapping, TargetAttribute, TargetObject};
use crate::bytecode::Program;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Span};
use crate::scim::schema::ResourceType;

/// Where the parts of a mapping came from in its file, for pointing at problems.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins {
    pub(super) objects: Vec<ObjectOrigin>,
    pub(super) graph: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectOrigin {
    pub(super) at: JsonPath,
    pub(super) attributes: Vec<AttributeOrigin>,
    pub(super) clauses: Vec<Vec<JsonPath>>,
    /// Parts of the file scimap does not use, with why.
    pub(super) unread: Vec<(JsonPath, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct AttributeOrigin {
    pub(super) at: JsonPath,
    pub(super) target: JsonPath,
    /// The JSON string holding the expression's text, when there is one.
    pub(super) source: Option<JsonPath>,
    pub(super) default: JsonPath,
}

impl ObjectOrigin {
    pub(super) fn at(at: JsonPath) -> ObjectOrigin {
        ObjectOrigin {
            at,
            ..ObjectOrigin::default()
        }
    }

    pub(super) fn native(at: JsonPath, object: &ObjectFile) -> ObjectOrigin {
        let attributes = (0..object.attributes.len())
            .map(|i| {
                let at = at.key("attributes").index(i);
                AttributeOrigin {
                    target: at.key("target"),
                    source: Some(at.key("source")),
                    default: at.key("default"),
                    at,
                }
            })
            .collect();
        let clauses = object
            .scope
            .iter()
            .enumerate()
            .map(|(g, group)| {
                (0..group.clauses.len())
                    .map(|c| at.key("scope").index(g).key("clauses").index(c))
                    .collect()
            })
            .collect();
        ObjectOrigin {
            at,
            attributes,
            clauses,
            unread: Vec::new(),
        }
    }
}

/// Places in the text of a mapping file, for turning JSON paths and expression spans
/// into spans of the file.
pub(super) struct Locator<'t> {
    pub(super) text: Option<&'t str>,
}

impl Locator<'_> {
    pub(super) fn span(&self, path: &JsonPath) -> Option<Span> {
        let range = locate::locate(self.text?, path)?;
        Some(Span::new(range.start, range.end))
    }

    /// A diagnostic about the value at `path`.
    pub(super) fn at(&self, mut d: Diagnostic, path: &JsonPath, label: &str) -> Diagnostic {
        match self.span(path) {
            Some(span) => d.at(span, label),
            None => {
                d.message = format!("{path}: {}", d.message);
                d
            }
        }
    }

    /// Where bytes `range` of the string value at `path` are written in the file
    /// (escapes take more bytes there), when the value is a string in the text.
    pub(super) fn inside(&self, path: &JsonPath, range: std::ops::Range<usize>) -> Option<Span> {
        let span = self.span(path)?;
        let literal = self.text?.get(span.range())?;
        literal.starts_with('"').then(|| {
            let start = span.range().start;
            Span::new(
                start + locate::raw_offset(literal, range.start),
                start + locate::raw_offset(literal, range.end),
            )
        })
    }

    /// Moves an expression's diagnostic into the file, when the expression's text is
    /// the JSON string at `path`; otherwise names the path in the message.
    pub(super) fn expression(
        &self,
        mut d: Diagnostic,
        path: Option<&JsonPath>,
        source: &str,
    ) -> Diagnostic {
        let literal = path.and_then(|p| Some((self.span(p)?, p)));
        match (literal, self.text) {
            (Some((span, _)), Some(text))
                if serde_json::from_str::<String>(&text[span.range()])
                    .ok()
                    .as_deref()
                    == Some(source) =>
            {
                let literal = &text[span.range()];
                for label in &mut d.labels {
                    let range = label.span.range();
                    let start = span.range().start + locate::raw_offset(literal, range.start);
                    let end = span.range().start + locate::raw_offset(literal, range.end);
                    label.span = Span::new(start, end);
                }
                d
            }
            _ => {
                // The expression was written from a tree: point at the tree.
                d.message = format!("{} (in `{source}`)", d.message);
                d.labels.clear();
                match path {
                    Some(path) => self.at(d, path, "in the expression written from this source"),
                    None => d,
                }
            }
        }
    }
}

impl Mapping {
    /// Loads a mapping from JSON text: the native format, or a Graph
    /// `synchronizationSchema` (told apart by its `synchronizationRules`). Every error
    /// found is returned, each with a span into `text`.
    pub fn from_json(text: &str) -> Result<Mapping, Diagnostics> {
        Mapping::from_json_with_sources(text, &[])
    }

    /// Like [`Mapping::from_json`], with more source attributes known to exist (for
    /// the lint on unknown source attributes).
    pub fn from_json_with_sources(
        text: &str,
        extra_sources: &[String],
    ) -> Result<Mapping, Diagnostics> {
        let (file, origins) = read_file(text)?;
        let graph = origins.graph;
        let locator = Locator { text: Some(text) };
        let mut mapping = Mapping::build(file, &origins, &locator, extra_sources)?;
        mapping.graph = graph;
        Ok(mapping)
    }
}

/// A mapping file's native form, without compiling it: a native file as it is, a
/// Graph schema converted.
pub fn file_from_json(text: &str) -> Result<MappingFile, Diagnostics> {
    read_file(text).map(|(file, _)| file)
}

fn read_file(text: &str) -> Result<(MappingFile, Origins), Diagnostics> {
    {
        let doc: Json = serde_json::from_str(text).map_err(|e| json_error(text, &e))?;
        let locator = Locator { text: Some(text) };
        if graph::is_graph_schema(&doc) {
            let (mut file, origins) = graph::import(&doc).map_err(|e| {
                let d = Diagnostic::error(Code::Mapping, e.message);
                Diagnostics(vec![locator.at(d, &e.path, "here")])
            })?;
            drop_known_targets(&mut file);
            Ok((
                file,
                Origins {
                    graph: true,
                    ..origins
                },
            ))
        } else if doc.get("objects").is_none() {
            let d = Diagnostic::error(
                Code::Mapping,
                "this document is not a mapping: it is none of the shapes scimap reads",
            )
            .help(format!("a mapping is {}", graph::SHAPES));
            Err(Diagnostics(vec![locator.at(
                d,
                &JsonPath::default(),
                "this document",
            )]))
        } else {
            let file: MappingFile = serde_json::from_value(doc).map_err(|e| {
                // serde_json's value deserializer has no position; reparse from the text
                // for one.
                match serde_json::from_str::<MappingFile>(text) {
                    Err(e) => json_error(text, &e),
                    Ok(_) => Diagnostics(vec![Diagnostic::error(Code::Mapping, e.to_string())]),
                }
            })?;
            let origins = Origins {
                objects: file
                    .objects
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        ObjectOrigin::native(JsonPath::default().key("objects").index(i), o)
                    })
                    .collect(),
                graph: false,
            };
            Ok((file, origins))
        }
    }
}

impl Mapping {
    /// Checks and compiles every object mapping; `extra_sources` are known source
    /// attributes that the file does not list.
    fn build(
        file: MappingFile,
        origins: &Origins,
        locator: &Locator<'_>,
        extra_sources: &[String],
    ) -> Result<Mapping, Diagnostics> {
        let known: Vec<String> = file
            .source_attributes
            .iter()
            .chain(extra_sources)
            .cloned()
            .collect();
        let mut problems = Vec::new();
        let mut objects = Vec::new();
        for origin in &origins.objects {
            for (at, message) in &origin.unread {
                let d = Diagnostic::warning(Code::Mapping, message.clone());
                problems.push(locator.at(d, at, "not applied"));
            }
        }
        if file.objects.is_empty() {
            let d = Diagnostic::warning(
                Code::Mapping,
                "this document has no object mappings, so applying it makes nothing",
            );
            problems.push(locator.at(d, &JsonPath::default(), "no object mappings here"));
        }
        for (object, origin) in file.objects.iter().zip(&origins.objects) {
            if let Some(compiled) =
                ObjectMapping::build(object, origin, &known, locator, &mut problems)
            {
                objects.push(compiled);
            }
        }
        let (errors, warnings): (Vec<_>, Vec<_>) =
            problems.into_iter().partition(Diagnostic::is_error);
        if !errors.is_empty() {
            return Err(Diagnostics(errors.into_iter().chain(warnings).collect()));
        }
        Ok(Mapping {
            file,
            objects,
            warnings,
            graph: false,
        })
    }
}

/// Removes the target attribute definitions of a Graph schema that the built-in SCIM
/// schemas already give, leaving the custom ones.
fn drop_known_targets(file: &mut MappingFile) {
    for object in &mut file.objects {
        let resource = ResourceType::by_name(&object.target);
        let Some(resource) = resource.filter(|_| object.target_directory.is_none()) else {
            continue;
        };
        object.target_attributes.retain(|t| {
            TargetAttribute::resolve(&t.name, resource, &[]).map_or(true, |t| t.is_custom())
        });
    }
}

fn json_error(text: &str, e: &serde_json::Error) -> Diagnostics {
    let offset = line_column_offset(text, e.line(), e.column());
    let message = crate::json::message(e);
    let span = unknown_field_span(text, offset, &message)
        .unwrap_or_else(|| Span::new(offset, (offset + 1).min(text.len()).max(offset)));
    let d = Diagnostic::error(Code::Mapping, format!("invalid mapping file: {message}"))
        .at(span, "here");
    Diagnostics(vec![d])
}

/// serde reports an unknown field after reading it; the span of its key is more use.
fn unknown_field_span(text: &str, offset: usize, message: &str) -> Option<Span> {
    let field = message.strip_prefix("unknown field `")?.split('`').next()?;
    let key = format!("\"{field}\"");
    // serde's offset may fall inside a character: search up to the next boundary.
    let end = (offset + 1..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let start = text[..end].rfind(&key)?;
    Some(Span::new(start, start + key.len()))
}

fn line_column_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

impl ObjectMapping {
    fn build(
        object: &ObjectFile,
        origin: &ObjectOrigin,
        extra_sources: &[String],
        locator: &Locator<'_>,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<ObjectMapping> {
        let target = match &object.target_directory {
            Some(directory) => TargetObject::App {
                directory: directory.clone(),
                object: object.target.clone(),
            },
            None => match ResourceType::by_name(&object.target) {
                Some(resource) => TargetObject::Scim(resource),
                None => {
                    let d = Diagnostic::error(
                        Code::UnknownTarget,
                        format!("unknown target object `{}`", object.target),
                    )
                    .help("a SCIM target is `User` or `Group`; an app that is not SCIM names its `targetDirectory`");
                    problems.push(locator.at(d, &origin.at.key("target"), "not User or Group"));
                    return None;
                }
            },
        };
        let known_sources: Vec<&str> = entra::attributes(&object.source)
            .iter()
            .copied()
            .chain(extra_sources.iter().map(String::as_str))
            .collect();
        let scope = build_scope(object, origin, &known_sources, locator, problems);
        let mut built = Vec::new();
        let mut failed = false;
        for (k, (attribute, at)) in object.attributes.iter().zip(&origin.attributes).enumerate() {
            let compiled = AttributeMapping::build(
                attribute,
                at,
                &target,
                object,
                &known_sources,
                locator,
                problems,
            );
            match compiled {
                Some(compiled) => built.push((k, compiled)),
                None => failed = true,
            }
        }
        let unique: Vec<usize> = built
            .iter()
            .filter(|(_, a)| asks_target(a.program.as_ref()))
            .map(|(k, _)| *k)
            .collect();
        check_matching(&object.attributes, &unique, origin, locator, problems);
        check_required(object, &target, origin, locator, problems);
        let targets: Vec<&TargetAttribute> = built.iter().map(|(_, a)| &a.target).collect();
        let plan = match resource::Plan::build(target.scim(), &targets) {
            Ok(plan) => plan,
            Err((i, j, message)) => {
                let (i, j) = (built[i].0, built[j].0);
                let d = Diagnostic::error(Code::DuplicateTarget, message);
                let d = locator.at(d, &origin.attributes[j].target, "this target");
                let d = match locator.span(&origin.attributes[i].target) {
                    Some(span) => d.with(span, "conflicts with this one"),
                    None => d,
                };
                problems.push(d);
                return None;
            }
        };
        if failed {
            return None;
        }
        let attributes = built.into_iter().map(|(_, a)| a).collect();
        Some(ObjectMapping {
            name: object.name.clone(),
            source: object.source.clone(),
            target,
            enabled: object.enabled,
            actions: object.actions.clone(),
            scope,
            attributes,
            plan,
        })
    }
}

fn build_scope(
    object: &ObjectFile,
    origin: &ObjectOrigin,
    known: &[&str],
    locator: &Locator<'_>,
    problems: &mut Vec<Diagnostic>,
) -> Scope {
    let mut groups = Vec::new();
    for (group, paths) in object.scope.iter().zip(&origin.clauses) {
        let mut clauses = Vec::new();
        for (clause, at) in group.clauses.iter().zip(paths) {
            match Clause::new(&clause.attribute, &clause.operator, clause.value.as_deref()) {
                Ok(c) => clauses.push(c),
                Err(ClauseError::Operator(message)) => {
                    let d = Diagnostic::error(Code::UnknownOperator, message);
                    let place = clause_part(locator, at, "operator", "operatorName");
                    problems.push(locator.at(d, &place, "unknown operator"));
                }
                Err(ClauseError::Value(message)) => {
                    let d = Diagnostic::error(Code::Mapping, message);
                    let place = clause_part(locator, at, "value", "targetOperand");
                    problems.push(locator.at(d, &place, "in this clause"));
                }
                Err(ClauseError::Pattern(message, range)) => {
                    let d = Diagnostic::error(Code::InvalidRegex, message);
                    let value = [
                        at.key("value"),
                        at.key("targetOperand").key("values").index(0),
                    ];
                    let inside = range.and_then(|r| {
                        value
                            .iter()
                            .find_map(|path| locator.inside(path, r.clone()))
                    });
                    problems.push(match inside {
                        Some(span) => d.at(span, "here in the pattern"),
                        None => {
                            let place = clause_part(locator, at, "value", "targetOperand");
                            locator.at(d, &place, "in this clause")
                        }
                    });
                }
            }
            let attribute_at = clause_part(locator, at, "attribute", "sourceOperandName");
            if let Some(d) = entra::attribute_problem(&clause.attribute, known) {
                problems.push(locator.at(d, &attribute_at, "in this clause"));
            }
            if entra::MULTI_VALUED.contains(&clause.attribute.as_str()) {
                let d = Diagnostic::warning(
                    Code::UnknownAttribute,
                    format!("`{}` is multi-valued; scoping filters cannot test it, so only IS_NULL and IS_NOT_NULL mean anything", clause.attribute),
                );
                problems.push(locator.at(d, &attribute_at, "multi-valued attribute"));
            }
        }
        groups.push(clauses);
    }
    Scope { groups }
}

/// A part of a scoping clause, under its native or its Graph key; the whole clause
/// when neither is in the text.
fn clause_part(locator: &Locator<'_>, at: &JsonPath, native: &str, graph: &str) -> JsonPath {
    [native, graph]
        .into_iter()
        .map(|key| at.key(key))
        .find(|path| locator.span(path).is_some())
        .unwrap_or_else(|| at.clone())
}

impl AttributeMapping {
    fn build(
        attribute: &AttributeFile,
        origin: &AttributeOrigin,
        target_object: &TargetObject,
        object: &ObjectFile,
        known_sources: &[&str],
        locator: &Locator<'_>,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<AttributeMapping> {
        let resolved = match target_object {
            TargetObject::Scim(resource) => {
                TargetAttribute::resolve(&attribute.target, resource, &object.target_attributes)
            }
            TargetObject::App {
                directory,
                object: name,
            } => TargetAttribute::resolve_app(
                &attribute.target,
                name,
                directory,
                &object.target_attributes,
            ),
        };
        let target = match resolved {
            Ok(target) => Some(target),
            Err(problem) => {
                let d = Diagnostic::error(problem.code, problem.message);
                let d = match problem.help {
                    Some(help) => d.help(help),
                    None => d,
                };
                problems.push(locator.at(d, &origin.target, "this target"));
                None
            }
        };
        let program = match &attribute.source {
            None => {
                if attribute.default.is_none() {
                    let d = Diagnostic::error(
                        Code::Mapping,
                        "a mapping needs a `source`, or a `default` for kind `none`",
                    );
                    problems.push(locator.at(d, &origin.at, "this mapping"));
                }
                None
            }
            Some(source) => compile_source(
                source,
                attribute.kind,
                origin,
                known_sources,
                locator,
                problems,
            ),
        };
        if attribute.kind == Some(MappingKind::None) && attribute.source.is_some() {
            let d = Diagnostic::error(Code::Mapping, "a mapping of kind `none` has no `source`");
            problems.push(locator.at(d, &origin.at.key("kind"), "kind none"));
        }
        let target = target?;
        let switch = program.as_ref().and_then(Program::root).is_some_and(|f| {
            matches!(
                f.implementation,
                crate::functions::Implementation::Special(crate::functions::Special::Switch)
            )
        });
        if target.reference && switch {
            let d = Diagnostic::warning(
                Code::UnreliablePattern,
                "Entra advises against Switch for a reference attribute",
            )
            .help("map the reference attribute directly, e.g. [manager]");
            let at = origin.source.clone().unwrap_or_else(|| origin.at.clone());
            problems.push(locator.at(d, &at, "Switch on a reference"));
        }
        if let Some(problem) = attribute
            .default
            .as_deref()
            .and_then(|d| default_problem(d, &target))
        {
            problems.push(locator.at(
                Diagnostic::error(Code::Mapping, problem),
                &origin.default,
                "this default",
            ));
        }
        if attribute.source.is_some() && program.is_none() {
            return None;
        }
        Some(AttributeMapping {
            target,
            program,
            default: attribute.default.clone(),
            apply: if attribute.source.is_none() {
                Apply::AddOnly
            } else {
                attribute.apply
            },
            matching: attribute.matching,
            span: locator.span(&origin.target),
        })
    }
}

fn compile_source(
    source: &str,
    kind: Option<MappingKind>,
    origin: &AttributeOrigin,
    known: &[&str],
    locator: &Locator<'_>,
    problems: &mut Vec<Diagnostic>,
) -> Option<Program> {
    let program = match Program::compile(source) {
        Ok(program) => program,
        Err(diagnostics) => {
            problems.extend(
                diagnostics
                    .0
                    .into_iter()
                    .map(|d| locator.expression(d, origin.source.as_ref(), source)),
            );
            return None;
        }
    };
    for d in program.warnings() {
        problems.push(locator.expression(d.clone(), origin.source.as_ref(), source));
    }
    for (name, span) in program.attribute_uses() {
        if let Some(d) = entra::attribute_problem(name, known) {
            let d = d.at(span, "read here");
            problems.push(locator.expression(d, origin.source.as_ref(), source));
        }
    }
    if let Some(kind) = kind {
        let actual = mapping_kind(&program);
        // Any source is an expression; `none` with a source is reported by the caller.
        if kind != actual && !matches!(kind, MappingKind::Expression | MappingKind::None) {
            let d = Diagnostic::error(
                Code::Mapping,
                format!(
                    "the mapping says kind `{}` but its source is {}",
                    kind_name(kind),
                    kind_phrase(actual)
                ),
            )
            .help("leave `kind` out to have it follow the source");
            problems.push(locator.at(d, &origin.at.key("kind"), "stated kind"));
        }
    }
    Some(program)
}

/// The portal's name for what a source is.
fn mapping_kind(program: &Program) -> MappingKind {
    if program.direct_attribute().is_some() {
        MappingKind::Direct
    } else if program.constant().is_some() {
        MappingKind::Constant
    } else {
        MappingKind::Expression
    }
}

fn kind_name(kind: MappingKind) -> &'static str {
    match kind {
        MappingKind::Direct => "direct",
        MappingKind::Constant => "constant",
        MappingKind::Expression => "expression",
        MappingKind::None => "none",
    }
}

fn kind_phrase(kind: MappingKind) -> &'static str {
    match kind {
        MappingKind::Direct => "one attribute (direct)",
        MappingKind::Constant => "a constant",
        _ => "an expression",
    }
}
