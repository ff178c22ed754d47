//! Microsoft Graph's `synchronizationSchema` (a provisioning job's schema) read into
//! the native mapping file, remembering where each part came from.

use serde_json::Value as Json;

use super::file::{
    Action, Apply, AttributeFile, ClauseFile, FilterGroupFile, MappingFile, MappingKind,
    ObjectFile, TargetAttributeFile,
};
use super::locate::JsonPath;
use super::Origins;
use crate::functions::Function;
use crate::scim::schema::Type;
use crate::syntax::ast::CmpOp;

/// Whether a JSON document is one of Graph's shapes rather than a native mapping
/// file: a `synchronizationSchema`, a `synchronizationTemplate` or a list of them, a
/// `synchronizationRule`, an `objectMapping` or an array of them.
pub fn is_graph_schema(doc: &Json) -> bool {
    match doc {
        Json::Array(items) => items
            .first()
            .is_some_and(|i| i.get("attributeMappings").is_some()),
        Json::Object(map) => {
            [
                "synchronizationRules",
                "directories",
                "objectMappings",
                "attributeMappings",
            ]
            .iter()
            .any(|key| map.contains_key(*key))
                || map.get("schema").is_some_and(Json::is_object)
                || map
                    .get("value")
                    .and_then(Json::as_array)
                    .is_some_and(|items| items.iter().any(|i| i.get("schema").is_some()))
        }
        _ => false,
    }
}

/// What the error for a document of no accepted shape says.
pub const SHAPES: &str = "a scimap mapping file (with `objects`), or one of Microsoft Graph's: a \
synchronizationSchema (`synchronizationRules`, `directories`), a synchronizationTemplate (its \
`schema`) or a list of templates (`value`), a synchronizationRule (`objectMappings`), an \
objectMapping (`attributeMappings`) or an array of objectMappings";

/// A problem with a Graph schema, at a JSON path.
#[derive(Debug)]
pub struct ImportError {
    pub path: JsonPath,
    pub message: String,
}

fn error(path: &JsonPath, message: impl Into<String>) -> ImportError {
    ImportError {
        path: path.clone(),
        message: message.into(),
    }
}

/// The synchronization rules of a Graph document, wherever its shape puts them.
struct Located<'a> {
    rules: Vec<Rule<'a>>,
    /// The schema whose `directories` describe the objects, when there is one.
    schema: Option<&'a Json>,
    schema_path: JsonPath,
}

/// A rule's directories and object mappings; object mappings given alone make a rule
/// without directories.
struct Rule<'a> {
    source_directory: Option<&'a str>,
    target_directory: Option<&'a str>,
    objects: Vec<(&'a Json, JsonPath)>,
}

fn locate<'a>(doc: &'a Json, at: &JsonPath) -> Result<Located<'a>, ImportError> {
    if let Json::Array(items) = doc {
        let objects = items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.get("attributeMappings") {
                Some(_) => Ok((item, at.index(i))),
                None => Err(error(
                    &at.index(i),
                    "an array is read as Graph objectMappings, and this element has no `attributeMappings`",
                )),
            })
            .collect::<Result<_, _>>()?;
        return Ok(Located {
            rules: vec![Rule::alone(objects)],
            schema: None,
            schema_path: at.clone(),
        });
    }
    if let Some(schema) = doc.get("schema").filter(|s| s.is_object()) {
        return schema_rules(schema, &at.key("schema"));
    }
    if doc.get("synchronizationRules").is_some() || doc.get("directories").is_some() {
        return schema_rules(doc, at);
    }
    if doc.get("objectMappings").is_some() {
        return Ok(Located {
            rules: vec![Rule::of(doc, at)?],
            schema: None,
            schema_path: at.clone(),
        });
    }
    if doc.get("attributeMappings").is_some() {
        return Ok(Located {
            rules: vec![Rule::alone(vec![(doc, at.clone())])],
            schema: None,
            schema_path: at.clone(),
        });
    }
    templates(doc, at)
}

/// A `synchronizationSchema`, wherever it is (a template's `schema` may be empty).
fn schema_rules<'a>(doc: &'a Json, at: &JsonPath) -> Result<Located<'a>, ImportError> {
    let rules = array(doc, "synchronizationRules", at)?
        .iter()
        .enumerate()
        .map(|(r, rule)| Rule::of(rule, &at.key("synchronizationRules").index(r)))
        .collect::<Result<_, _>>()?;
    Ok(Located {
        rules,
        schema: Some(doc),
        schema_path: at.clone(),
    })
}

/// `GET …/synchronization/templates`: the one template in the list with its schema.
fn templates<'a>(doc: &'a Json, at: &JsonPath) -> Result<Located<'a>, ImportError> {
    let items = array(doc, "value", at)?;
    let with_schema: Vec<(usize, &Json)> = items
        .iter()
        .enumerate()
        .filter(|(_, t)| t.get("schema").is_some_and(Json::is_object))
        .collect();
    match with_schema.as_slice() {
        [(i, template)] => locate(template, &at.key("value").index(*i)),
        [] => Err(error(
            &at.key("value"),
            "no template in this list includes its `schema` (Graph sends it when asked with `$expand=schema`)",
        )),
        several => {
            let ids: Vec<&str> = several
                .iter()
                .map(|(_, t)| t.get("id").and_then(Json::as_str).unwrap_or("(no id)"))
                .collect();
            Err(error(
                &at.key("value"),
                format!(
                    "this list has {} templates with a schema ({}); keep only the one to read",
                    ids.len(),
                    ids.join(", ")
                ),
            ))
        }
    }
}

impl<'a> Rule<'a> {
    fn of(rule: &'a Json, at: &JsonPath) -> Result<Rule<'a>, ImportError> {
        let objects = array(rule, "objectMappings", at)?
            .iter()
            .enumerate()
            .map(|(o, object)| (object, at.key("objectMappings").index(o)))
            .collect();
        Ok(Rule {
            source_directory: rule.get("sourceDirectoryName").and_then(Json::as_str),
            target_directory: rule.get("targetDirectoryName").and_then(Json::as_str),
            objects,
        })
    }

    fn alone(objects: Vec<(&'a Json, JsonPath)>) -> Rule<'a> {
        Rule {
            source_directory: None,
            target_directory: None,
            objects,
        }
    }
}

/// Reads every object mapping of every synchronization rule.
pub fn import(doc: &Json) -> Result<(MappingFile, Origins), ImportError> {
    let located = locate(doc, &JsonPath::default())?;
    if let Some(schema) = located.schema {
        check_directories(schema, &located.schema_path)?;
    }
    let mut file = MappingFile::default();
    let mut origins = Origins::default();
    for rule in &located.rules {
        for (object, path) in &rule.objects {
            let (mut object_file, object_origins) = object_mapping(object, path)?;
            let source_object = object_file.source.clone();
            if let Some(schema) = located.schema {
                let known = super::entra::attributes(&source_object);
                let source = definition(
                    schema,
                    &located.schema_path,
                    rule.source_directory,
                    &source_object,
                );
                let names = source
                    .iter()
                    .flat_map(|d| array(d.object, "attributes", &d.path).ok())
                    .flatten()
                    .filter_map(|a| a.get("name").and_then(Json::as_str))
                    .filter(|n| !known.contains(n));
                file.source_attributes.extend(names.map(str::to_string));
                let target_object = text(object, "targetObjectName", path)?;
                let target = definition(
                    schema,
                    &located.schema_path,
                    rule.target_directory,
                    target_object,
                );
                if let Some(target) = target {
                    object_file.target_attributes = attribute_definitions(&target)?;
                    if !is_scim(target_object, &target) {
                        object_file.target = target_object.to_string();
                        object_file.target_directory = Some(target.directory.to_string());
                    }
                }
            }
            file.objects.push(object_file);
            origins.objects.push(object_origins);
        }
    }
    file.source_attributes.sort();
    file.source_attributes.dedup();
    Ok((file, origins))
}

fn array<'a>(doc: &'a Json, key: &str, at: &JsonPath) -> Result<&'a [Json], ImportError> {
    match doc.get(key) {
        Some(Json::Array(items)) => Ok(items),
        None | Some(Json::Null) => Ok(&[]),
        Some(_) => Err(error(&at.key(key), format!("`{key}` must be an array"))),
    }
}

fn text<'a>(doc: &'a Json, key: &str, at: &JsonPath) -> Result<&'a str, ImportError> {
    doc.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| error(at, format!("`{key}` must be a string")))
}

fn object_mapping(
    object: &Json,
    path: &JsonPath,
) -> Result<(ObjectFile, super::ObjectOrigin), ImportError> {
    let target_object = text(object, "targetObjectName", path)?;
    let target = if target_object.to_ascii_lowercase().ends_with("group") {
        "Group"
    } else {
        "User"
    };
    let mut origin = super::ObjectOrigin::at(path.clone());
    let mut attributes = Vec::new();
    for (i, mapping) in array(object, "attributeMappings", path)?.iter().enumerate() {
        let at = path.key("attributeMappings").index(i);
        let (attribute, source_at) = attribute_mapping(mapping, &at)?;
        origin.attributes.push(super::AttributeOrigin {
            target: at.key("targetAttributeName"),
            source: source_at,
            default: at.key("defaultValue"),
            at,
        });
        attributes.push(attribute);
    }
    let (scope, clause_paths) = scope(object.get("scope"), &path.key("scope"))?;
    origin.clauses = clause_paths;
    origin.unread = unread_filters(object.get("scope"), &path.key("scope"));
    let source = text(object, "sourceObjectName", path)?;
    // Graph's own object mappings have a name; one written by hand may not. The
    // derived name is the source object and the target's last segment (`User to User`
    // for `urn:…:enterprise:2.0:User`).
    let derived = || {
        let short = target_object.rsplit(':').next().unwrap_or(target_object);
        format!("{source} to {short}")
    };
    let name = match object.get("name") {
        None | Some(Json::Null) => derived(),
        Some(Json::String(name)) if name.trim().is_empty() => derived(),
        Some(_) => text(object, "name", path)?.to_string(),
    };
    let file = ObjectFile {
        name,
        source: source.to_string(),
        target: target.to_string(),
        enabled: match object.get("enabled") {
            None | Some(Json::Null) => true,
            Some(Json::Bool(enabled)) => *enabled,
            Some(_) => {
                return Err(error(
                    &path.key("enabled"),
                    "`enabled` must be true or false",
                ))
            }
        },
        actions: actions(object.get("flowTypes"), &path.key("flowTypes"))?,
        scope,
        attributes,
        target_directory: None,
        target_attributes: Vec::new(),
    };
    Ok((file, origin))
}

/// `flowTypes`: `"Add, Update, Delete"` (a flags enum) or an array of names.
fn actions(value: Option<&Json>, at: &JsonPath) -> Result<Vec<Action>, ImportError> {
    let names: Vec<&str> = match value {
        None | Some(Json::Null) => return Ok(vec![Action::Create, Action::Update, Action::Delete]),
        Some(Json::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
        Some(_) => {
            return Err(error(
                at,
                "`flowTypes` must be a string such as \"Add, Update, Delete\"",
            ))
        }
    };
    names
        .into_iter()
        .map(|name| match name.to_ascii_lowercase().as_str() {
            "add" => Ok(Action::Create),
            "update" => Ok(Action::Update),
            "delete" => Ok(Action::Delete),
            _ => Err(error(
                at,
                format!("unknown flow type `{name}`; Graph's are Add, Update and Delete"),
            )),
        })
        .collect()
}

fn attribute_mapping(
    mapping: &Json,
    at: &JsonPath,
) -> Result<(AttributeFile, Option<JsonPath>), ImportError> {
    let target = text(mapping, "targetAttributeName", at)?.to_string();
    let (source, kind, source_at) = match mapping.get("source") {
        None | Some(Json::Null) => (None, Some(MappingKind::None), None),
        Some(source) => {
            let source_path = at.key("source");
            let (expression, from_text) = expression(source, &source_path)?;
            let kind = match source.get("type").and_then(Json::as_str) {
                Some("Attribute") => MappingKind::Direct,
                Some("Constant") => MappingKind::Constant,
                _ => MappingKind::Expression,
            };
            let located = if from_text {
                source_path.key("expression")
            } else {
                source_path
            };
            (Some(expression), Some(kind), Some(located))
        }
    };
    let apply = match mapping.get("flowType").and_then(Json::as_str).unwrap_or("Always") {
        "Always" => Apply::Always,
        "ObjectAddOnly" => Apply::OnCreate,
        "AttributeAddOnly" | "ValueAddOnly" | "MultiValueAddOnly" => Apply::AddOnly,
        other => {
            return Err(error(
                &at.key("flowType"),
                format!("unknown flowType `{other}`; Graph's are Always, ObjectAddOnly, AttributeAddOnly, ValueAddOnly and MultiValueAddOnly"),
            ))
        }
    };
    let default = match mapping.get("defaultValue") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if s.is_empty() => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(error(
                &at.key("defaultValue"),
                "`defaultValue` must be a string",
            ))
        }
    };
    let matching = match mapping.get("matchingPriority") {
        None | Some(Json::Null) => 0,
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                error(
                    &at.key("matchingPriority"),
                    "`matchingPriority` must be a non-negative integer",
                )
            })?,
    };
    let kind = if kind == Some(MappingKind::None) && default.is_none() {
        None
    } else {
        kind
    };
    Ok((
        AttributeFile {
            target,
            source,
            kind,
            default,
            apply,
            matching,
        },
        source_at,
    ))
}

/// The expression of an `attributeMappingSource`: its `expression` text when Graph
/// gave one (second value true), else one written from the tree.
fn expression(source: &Json, at: &JsonPath) -> Result<(String, bool), ImportError> {
    if let Some(text) = source
        .get("expression")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
    {
        return Ok((text.to_string(), true));
    }
    Ok((from_tree(source, at)?, false))
}

fn from_tree(source: &Json, at: &JsonPath) -> Result<String, ImportError> {
    let name = text(source, "name", at)?;
    match source.get("type").and_then(Json::as_str) {
        Some("Attribute") => Ok(format!("[{name}]")),
        Some("Constant") => Ok(quote(name)),
        // A comparison is a function named by its operator, with `left` and `right`.
        Some("Function") if CmpOp::from_symbol(name).is_some() => comparison(source, name, at),
        Some("Function") => {
            let parameters = array(source, "parameters", at)?;
            let function = Function::lookup(name);
            let mut args: Vec<String> = Vec::new();
            for (i, parameter) in parameters.iter().enumerate() {
                let p_at = at.key("parameters").index(i);
                let key = text(parameter, "key", &p_at)?;
                let value = parameter
                    .get("value")
                    .ok_or_else(|| error(&p_at, "a parameter needs a `value`"))?;
                // Omitted arguments have no parameter entry: leave their slots empty up
                // to the one this key names (a number names a position, from 1, as for
                // arguments past a function's parameters).
                let named = function.and_then(|f| {
                    (args.len()..args.len() + 16).find(|&p| {
                        f.param(p).is_some_and(|param| {
                            param.graph_key.eq_ignore_ascii_case(key)
                                || param.name.eq_ignore_ascii_case(key)
                        })
                    })
                });
                let numbered = key.parse::<usize>().ok().and_then(|n| n.checked_sub(1));
                if let Some(position) = named.or(numbered).filter(|&p| p >= args.len()) {
                    args.resize(position, String::new());
                }
                args.push(expression(value, &p_at.key("value"))?.0);
            }
            // Written in the slots of the full form: a count that is also a shorter
            // form's would be read as that form.
            if let Some(f) = function.filter(|f| f.form(args.len()).is_some()) {
                args.resize(f.fixed_params().len().max(args.len()), String::new());
            }
            Ok(format!("{name}({})", args.join(", ")))
        }
        _ => Err(error(
            &at.key("type"),
            "`type` must be Attribute, Constant or Function",
        )),
    }
}

/// `left op right`, from a comparison's two parameters.
fn comparison(source: &Json, op: &str, at: &JsonPath) -> Result<String, ImportError> {
    let parameters = array(source, "parameters", at)?;
    let side = |key: &str| -> Result<String, ImportError> {
        let (i, parameter) = parameters
            .iter()
            .enumerate()
            .find(|(_, p)| p.get("key").and_then(Json::as_str) == Some(key))
            .ok_or_else(|| {
                error(
                    &at.key("parameters"),
                    format!("the comparison `{op}` needs a parameter with the key `{key}`"),
                )
            })?;
        let p_at = at.key("parameters").index(i);
        let value = parameter
            .get("value")
            .ok_or_else(|| error(&p_at, "a parameter needs a `value`"))?;
        Ok(expression(value, &p_at.key("value"))?.0)
    };
    Ok(format!("{} {op} {}", side("left")?, side("right")?))
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

type ClausePaths = Vec<Vec<JsonPath>>;

/// Graph's experimental filter groups, which scimap does not apply: where they are, so
/// that loading can say so.
fn unread_filters(scope: Option<&Json>, at: &JsonPath) -> Vec<(JsonPath, String)> {
    ["inputFilterGroups", "categoryFilterGroups"]
        .into_iter()
        .filter(|key| {
            scope
                .and_then(|s| s.get(*key))
                .and_then(Json::as_array)
                .is_some_and(|groups| !groups.is_empty())
        })
        .map(|key| {
            let message = format!(
                "scimap does not apply Graph's experimental `{key}`: objects they would leave out are mapped"
            );
            (at.key(key), message)
        })
        .collect()
}

fn scope(
    scope: Option<&Json>,
    at: &JsonPath,
) -> Result<(Vec<FilterGroupFile>, ClausePaths), ImportError> {
    let Some(scope) = scope.filter(|s| !s.is_null()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    if !scope.is_object() {
        return Err(error(
            at,
            "`scope` must be an object with `groups`, or null",
        ));
    }
    let mut groups = Vec::new();
    let mut paths = Vec::new();
    for (g, group) in array(scope, "groups", at)?.iter().enumerate() {
        let g_at = at.key("groups").index(g);
        let mut clauses = Vec::new();
        let mut clause_paths = Vec::new();
        for (c, clause) in array(group, "clauses", &g_at)?.iter().enumerate() {
            let c_at = g_at.key("clauses").index(c);
            let values = clause
                .get("targetOperand")
                .and_then(|t| t.get("values"))
                .and_then(Json::as_array);
            let value = match values.map(|v| v.as_slice()) {
                None | Some([]) => None,
                Some([Json::String(v)]) => Some(v.clone()),
                Some(_) => {
                    return Err(error(
                        &c_at.key("targetOperand"),
                        "a clause compares with one string value",
                    ))
                }
            };
            let operator = text(clause, "operatorName", &c_at)?;
            // Known operators are written under their canonical names; an unknown one
            // is kept as it is, for the checker to report.
            let operator =
                super::scope::canonical_operator(operator).map_or(operator, |(name, _)| name);
            clauses.push(ClauseFile {
                attribute: text(clause, "sourceOperandName", &c_at)?.to_string(),
                operator: operator.to_string(),
                value,
            });
            clause_paths.push(c_at);
        }
        groups.push(FilterGroupFile {
            name: group.get("name").and_then(Json::as_str).map(str::to_string),
            clauses,
        });
        paths.push(clause_paths);
    }
    Ok((groups, paths))
}

/// Checks the shape of `directories` where scimap reads it: every directory's
/// objects, and every object's attributes, each with a string `name`; `type` a string
/// and `multivalued` a boolean where given.
fn check_directories(schema: &Json, at: &JsonPath) -> Result<(), ImportError> {
    for (d, directory) in array(schema, "directories", at)?.iter().enumerate() {
        let d_at = at.key("directories").index(d);
        if !directory.is_object() {
            return Err(error(
                &d_at,
                "a directory is an object with `name` and `objects`",
            ));
        }
        for (o, object) in array(directory, "objects", &d_at)?.iter().enumerate() {
            let o_at = d_at.key("objects").index(o);
            text(object, "name", &o_at)?;
            for (a, attribute) in array(object, "attributes", &o_at)?.iter().enumerate() {
                let a_at = o_at.key("attributes").index(a);
                text(attribute, "name", &a_at)?;
                if !matches!(
                    attribute.get("type"),
                    None | Some(Json::Null | Json::String(_))
                ) {
                    return Err(error(
                        &a_at.key("type"),
                        "`type` must be a string such as \"String\"",
                    ));
                }
                flag(attribute, "multivalued", &a_at)?;
            }
        }
    }
    Ok(())
}

/// An object's definition in a directory of the schema, with where it is.
struct Definition<'a> {
    directory: &'a str,
    object: &'a Json,
    path: JsonPath,
}

/// The definition of an object in the rule's directory (any directory defining it when
/// the rule names none).
fn definition<'a>(
    schema: &'a Json,
    at: &JsonPath,
    directory: Option<&str>,
    object: &str,
) -> Option<Definition<'a>> {
    let directories = schema.get("directories").and_then(Json::as_array)?;
    directories.iter().enumerate().find_map(|(d, dir)| {
        let name = dir.get("name").and_then(Json::as_str).unwrap_or_default();
        if directory.is_some_and(|wanted| wanted != name) {
            return None;
        }
        let objects = dir.get("objects").and_then(Json::as_array)?;
        let (o, found) = objects.iter().enumerate().find(|(_, o)| {
            o.get("name")
                .and_then(Json::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(object))
        })?;
        Some(Definition {
            directory: name,
            object: found,
            path: at.key("directories").index(d).key("objects").index(o),
        })
    })
}

/// Whether a rule's target object is SCIM. Entra names the objects of its SCIM
/// connector by their schema URNs and its directory `customappsso` or `scim…`, and
/// SCIM attributes are paths like `userName` and `emails[type eq "work"].value`; a
/// gallery app's objects (Salesforce's `User`) have the app's own flat attributes.
fn is_scim(target_object: &str, definition: &Definition<'_>) -> bool {
    let lower = definition.directory.to_ascii_lowercase();
    let scim_shaped = |name: &str| {
        name.contains('[')
            || name.starts_with("urn:ietf:params:scim:")
            || ["userName", "externalId"].contains(&name)
    };
    target_object
        .to_ascii_lowercase()
        .starts_with("urn:ietf:params:scim:")
        || lower == "customappsso"
        || lower.starts_with("scim")
        || definition
            .object
            .get("attributes")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("name").and_then(Json::as_str))
            .any(scim_shaped)
}

/// An object definition's attributes, each checked where scimap reads it: a known
/// `type`, booleans for `multivalued`, `required` and `anchor`, `referencedObjects` an
/// array of objects naming each referenced object.
fn attribute_definitions(
    definition: &Definition<'_>,
) -> Result<Vec<TargetAttributeFile>, ImportError> {
    let at = &definition.path;
    let mut out = Vec::new();
    for (a, attribute) in array(definition.object, "attributes", at)?
        .iter()
        .enumerate()
    {
        let a_at = at.key("attributes").index(a);
        let name = text(attribute, "name", &a_at)?;
        let kind = attribute
            .get("type")
            .and_then(Json::as_str)
            .unwrap_or("String");
        if Type::from_graph(kind).is_none() {
            return Err(error(
                &a_at.key("type"),
                format!("unknown attribute type `{kind}`; Graph's are String, Integer, Boolean, DateTime, Reference and Binary"),
            ));
        }
        let mut file = TargetAttributeFile::new(name, kind);
        file.multi_valued = flag(attribute, "multivalued", &a_at)?;
        file.required = flag(attribute, "required", &a_at)?;
        file.anchor = flag(attribute, "anchor", &a_at)?;
        for (r, referenced) in array(attribute, "referencedObjects", &a_at)?
            .iter()
            .enumerate()
        {
            let r_at = a_at.key("referencedObjects").index(r);
            let name = text(referenced, "referencedObjectName", &r_at)?;
            file.referenced_objects.push(name.to_string());
        }
        out.push(file);
    }
    Ok(out)
}

/// A boolean property, false when absent or null.
fn flag(doc: &Json, key: &str, at: &JsonPath) -> Result<bool, ImportError> {
    match doc.get(key) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(_) => Err(error(
            &at.key(key),
            format!("`{key}` must be true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::FUNCTIONS;
    use proptest::prelude::*;

    /// The Graph tree of an expression with its texts left out, as a document that
    /// gives no `expression` holds it; `None` when the expression does not parse.
    fn tree(source: &str) -> Option<Json> {
        let parsed = crate::syntax::parse(source).ok()?;
        let mut tree =
            serde_json::to_value(crate::graph_tree::mapping_source(&parsed.expr, source)).ok()?;
        let mut stack = vec![&mut tree];
        while let Some(node) = stack.pop() {
            if let Some(node) = node.as_object_mut() {
                node.remove("expression");
                if let Some(Json::Array(parameters)) = node.get_mut("parameters") {
                    stack.extend(parameters.iter_mut().filter_map(|p| p.get_mut("value")));
                }
            }
        }
        Some(tree)
    }

    fn atom() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["[mail]", "[a b]", "[c]"]).prop_map(String::from),
            "[a-z ,()\"\\\\]{0,8}".prop_map(|s| format!("{s:?}")),
            (-3i64..40).prop_map(|n| n.to_string()),
            prop::sample::select(vec!["&HF", "vbTextCompare"]).prop_map(String::from),
        ]
    }

    fn expression() -> impl Strategy<Value = String> {
        let functions: Vec<&'static Function> = FUNCTIONS.iter().collect();
        atom().prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                (
                    prop::sample::select(functions.clone()),
                    prop::collection::vec(prop_oneof![inner.clone(), Just(String::new())], 0..6)
                )
                    .prop_map(|(f, args)| format!(
                        "{}({})",
                        f.name,
                        args.join(", ")
                    )),
                (
                    inner,
                    prop::sample::select(CmpOp::ALL.map(CmpOp::symbol).to_vec()),
                    atom()
                )
                    .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, max_global_rejects: 100_000, ..ProptestConfig::default() })]

        /// Written from its tree, an expression has the tree it was written from.
        #[test]
        fn trees_read_back_as_they_were_written(source in expression()) {
            let tree = tree(&source);
            prop_assume!(tree.is_some(), "does not parse");
            let tree = tree.unwrap();
            let written = from_tree(&tree, &JsonPath::default()).unwrap();
            prop_assert_eq!(super::tests::tree(&written), Some(tree), "{} was written back as {}", source, written);
        }
    }

    #[test]
    fn a_comparison_is_written_between_its_sides() {
        let tree = tree(r#"IIF([c] <> "US", "x", 5)"#).unwrap();
        assert_eq!(
            from_tree(&tree, &JsonPath::default()).unwrap(),
            r#"IIF([c] <> "US", "x", "5")"#
        );
        let mut broken = tree;
        broken["parameters"][0]["value"]["parameters"][1]["key"] = Json::from("other");
        let e = from_tree(&broken, &JsonPath::default()).unwrap_err();
        assert!(
            e.message.contains("needs a parameter with the key `right`"),
            "{}",
            e.message
        );
    }
}
