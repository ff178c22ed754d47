//! SCIM attribute paths and filters: text → tree. The only SCIM module that sees pest.

use std::fmt;

use pest::iterators::Pair;
use pest::Parser as _;

use crate::bounds::{MAX_NESTING, MAX_TERMS};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/scim_filter.pest"]
struct Grammar;

/// An attribute, possibly in an extension schema and possibly a sub-attribute:
/// `userName`, `name.givenName`, `urn:…:enterprise:2.0:User:department`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN as written, when the path names one.
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

/// A PATCH or mapping target path: an attribute path, or a multi-valued attribute
/// narrowed by a filter, then optionally one of its sub-attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A filter's comparison value.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Two or more operands; a chain is one node, so that no walk over a filter
    /// recurses once per term.
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, CompValue),
    /// `emails[type eq "work"]`, optionally followed by `.value eq "x"`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
        then: Option<(CompareOp, CompValue)>,
    },
}

/// A path or filter that does not parse, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {})", .offset + 1)]
pub struct PathError {
    pub offset: usize,
    pub message: String,
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let pair = parse_rule(Rule::path_main, text)?;
        let terms = &mut 0;
        let inner = pair.into_inner().next().expect("a path");
        let inner = inner.into_inner().next().expect("a path form");
        Ok(match inner.as_rule() {
            Rule::attr_path => Path {
                attr: attr_path(inner),
                filter: None,
            },
            _ => {
                let mut parts = inner.into_inner();
                let mut attr = attr_name(parts.next().expect("a name"));
                let filter = filter(parts.next().expect("a filter"), terms)?;
                attr.sub = parts.next().map(|p| p.as_str().to_string());
                Path {
                    attr,
                    filter: Some(filter),
                }
            }
        })
    }

    /// For a filter of equalities joined by `and` (the form mapping targets use,
    /// `type eq "work"`), the sub-attributes and values it fixes.
    pub fn equalities(&self) -> Option<Vec<(&str, &CompValue)>> {
        fn walk<'f>(f: &'f Filter, out: &mut Vec<(&'f str, &'f CompValue)>) -> bool {
            match f {
                Filter::And(all) => all.iter().all(|f| walk(f, out)),
                Filter::Compare(attr, CompareOp::Eq, value)
                    if attr.urn.is_none() && attr.sub.is_none() =>
                {
                    out.push((&attr.name, value));
                    true
                }
                _ => false,
            }
        }
        let mut out = Vec::new();
        walk(self.filter.as_ref()?, &mut out).then_some(out)
    }
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, PathError> {
        let pair = parse_rule(Rule::filter_main, text)?;
        filter(pair.into_inner().next().expect("a filter"), &mut 0)
    }
}

fn parse_rule(rule: Rule, text: &str) -> Result<Pair<'_, Rule>, PathError> {
    check_nesting(text)?;
    let mut pairs = Grammar::parse(rule, text).map_err(|e| {
        let offset = match e.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((s, _)) => s,
        };
        let message = if offset >= text.len() {
            "unexpected end of path".to_string()
        } else {
            let rest: String = text
                .get(offset..)
                .unwrap_or_default()
                .chars()
                .take(12)
                .collect();
            format!("unexpected {rest:?}")
        };
        PathError { offset, message }
    })?;
    Ok(pairs.next().expect("one top pair"))
}

fn attr_name(pair: Pair<'_, Rule>) -> AttrPath {
    let mut urn = None;
    let mut name = String::new();
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::urn => urn = Some(part.as_str().to_string()),
            _ => name = part.as_str().to_string(),
        }
    }
    AttrPath {
        urn,
        name,
        sub: None,
    }
}

fn attr_path(pair: Pair<'_, Rule>) -> AttrPath {
    let mut parts = pair.into_inner();
    let mut attr = attr_name(parts.next().expect("a name"));
    attr.sub = parts.next().map(|p| p.as_str().to_string());
    attr
}

/// Checks parentheses and brackets outside strings before the recursive parser runs,
/// so that no input makes it (or anything after it) recurse past [`MAX_NESTING`].
fn check_nesting(text: &str) -> Result<(), PathError> {
    let bytes = text.as_bytes();
    let (mut depth, mut in_string, mut i) = (0usize, false, 0);
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (true, b'\\') => i += 1,
            (_, b'"') => in_string = !in_string,
            (false, b'(' | b'[') => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(PathError {
                        offset: i,
                        message: format!(
                            "parentheses and brackets nest more than {MAX_NESTING} levels deep (the limit)"
                        ),
                    });
                }
            }
            (false, b')' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// A filter's tree; `terms` counts the comparisons met so far, against [`MAX_TERMS`].
fn filter(pair: Pair<'_, Rule>, terms: &mut usize) -> Result<Filter, PathError> {
    if matches!(
        pair.as_rule(),
        Rule::present | Rule::compare | Rule::value_filter
    ) {
        *terms += 1;
        if *terms > MAX_TERMS {
            return Err(PathError {
                offset: pair.as_span().start(),
                message: format!("the filter has more than {MAX_TERMS} terms (the limit)"),
            });
        }
    }
    Ok(match pair.as_rule() {
        Rule::filter => chain(pair, terms, Filter::Or)?,
        Rule::and_filter => chain(pair, terms, Filter::And)?,
        Rule::term => {
            let mut parts = pair.into_inner();
            let first = parts.next().expect("a term");
            if first.as_rule() == Rule::not_op {
                Filter::Not(Box::new(filter(parts.next().expect("a group"), terms)?))
            } else {
                filter(first, terms)?
            }
        }
        Rule::group => filter(pair.into_inner().next().expect("a filter"), terms)?,
        Rule::present => Filter::Present(attr_path(pair.into_inner().next().expect("a path"))),
        Rule::compare => {
            let mut parts = pair.into_inner();
            let attr = attr_path(parts.next().expect("a path"));
            let op = compare_op(parts.next().expect("an operator").as_str());
            Filter::Compare(attr, op, comp_value(parts.next().expect("a value")))
        }
        Rule::value_filter => {
            let mut parts = pair.into_inner();
            let mut attr = attr_name(parts.next().expect("a name"));
            let inner = Box::new(filter(parts.next().expect("a filter"), terms)?);
            let mut then = None;
            let mut op = None;
            for part in parts {
                match part.as_rule() {
                    Rule::sub_name => attr.sub = Some(part.as_str().to_string()),
                    Rule::compare_op => op = Some(compare_op(part.as_str())),
                    _ => then = op.take().map(|op| (op, comp_value(part))),
                }
            }
            Filter::ValuePath {
                attr,
                filter: inner,
                then,
            }
        }
        rule => unreachable!("not a filter rule: {rule:?}"),
    })
}

/// `a op b op c` as one node; the operator tokens between operands are skipped, and a
/// chain of one operand is that operand.
fn chain(
    pair: Pair<'_, Rule>,
    terms: &mut usize,
    join: fn(Vec<Filter>) -> Filter,
) -> Result<Filter, PathError> {
    let mut operands = pair
        .into_inner()
        .filter(|p| !matches!(p.as_rule(), Rule::or_op | Rule::and_op))
        .map(|p| filter(p, terms))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if operands.len() == 1 {
        operands.pop().expect("one operand")
    } else {
        join(operands)
    })
}

fn compare_op(text: &str) -> CompareOp {
    match text.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        _ => CompareOp::Le,
    }
}

fn comp_value(pair: Pair<'_, Rule>) -> CompValue {
    let inner = pair.into_inner().next().expect("a value");
    match inner.as_rule() {
        Rule::string => {
            let raw = inner.into_inner().next().expect("a body").as_str();
            CompValue::Str(unescape(raw))
        }
        Rule::number => serde_json::from_str(inner.as_str())
            .map(CompValue::Num)
            .unwrap_or(CompValue::Null),
        Rule::true_lit => CompValue::Bool(true),
        Rule::false_lit => CompValue::Bool(false),
        _ => CompValue::Null,
    }
}

/// JSON string escapes, as RFC 7644 filters use them; an unknown escape keeps its
/// character.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    serde_json::from_str(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.replace('\\', ""))
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        })
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => write!(f, "{}", serde_json::Value::from(s.as_str())),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(all) => join(f, all, " and ", |f, a| write!(f, "{}", Paren(a))),
            Filter::Or(all) => join(f, all, " or ", |f, a| write!(f, "{a}")),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::Present(attr) => write!(f, "{attr} pr"),
            Filter::Compare(attr, op, value) => write!(f, "{attr} {op} {value}"),
            Filter::ValuePath { attr, filter, then } => {
                let AttrPath { urn, name, sub } = attr;
                let head = AttrPath {
                    urn: urn.clone(),
                    name: name.clone(),
                    sub: None,
                };
                write!(f, "{head}[{filter}]")?;
                if let Some(sub) = sub {
                    write!(f, ".{sub}")?;
                }
                if let Some((op, value)) = then {
                    write!(f, " {op} {value}")?;
                }
                Ok(())
            }
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    all: &[Filter],
    separator: &str,
    each: impl Fn(&mut fmt::Formatter<'_>, &Filter) -> fmt::Result,
) -> fmt::Result {
    for (i, operand) in all.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        each(f, operand)?;
    }
    Ok(())
}

/// An operand of `and`, parenthesised when it is an `or`.
struct Paren<'a>(&'a Filter);

impl fmt::Display for Paren<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Filter::Or(..) => write!(f, "({})", self.0),
            other => write!(f, "{other}"),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => write!(f, "{}", self.attr),
            Some(filter) => {
                if let Some(urn) = &self.attr.urn {
                    write!(f, "{urn}:")?;
                }
                write!(f, "{}[{filter}]", self.attr.name)?;
                if let Some(sub) = &self.attr.sub {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        Path::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .to_string()
    }

    #[test]
    fn paths_of_every_target_form() {
        for text in [
            "userName",
            "name.givenName",
            r#"emails[type eq "work"].value"#,
            r#"addresses[type eq "work"].locality"#,
            r#"roles[primary eq "True"].display"#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:tag",
            r#"members[value eq "7f4b"]"#,
        ] {
            assert_eq!(round_trip(text), text);
        }
    }

    #[test]
    fn urn_ends_at_the_last_segment_before_the_attribute() {
        let path =
            Path::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
                .unwrap();
        assert_eq!(
            path.attr.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(path.attr.name, "department");
    }

    #[test]
    fn equalities_of_a_type_filter() {
        let path = Path::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(
            path.equalities(),
            Some(vec![("type", &CompValue::Str("work".into()))])
        );
        let path = Path::parse(r#"emails[type ne "work"].value"#).unwrap();
        assert_eq!(path.equalities(), None);
    }

    #[test]
    fn filters_with_precedence_and_value_paths() {
        let f = Filter::parse(r#"userName eq "a" or title pr and not (active eq false)"#).unwrap();
        assert_eq!(
            f.to_string(),
            r#"userName eq "a" or title pr and not (active eq false)"#
        );
        let f =
            Filter::parse(r#"emails[type eq "work" and primary eq true].value eq "x""#).unwrap();
        assert!(matches!(f, Filter::ValuePath { then: Some(_), .. }));
        let f = Filter::parse(r#"userName EQ "x\"y""#).unwrap();
        assert_eq!(
            f,
            Filter::Compare(
                AttrPath {
                    urn: None,
                    name: "userName".into(),
                    sub: None
                },
                CompareOp::Eq,
                CompValue::Str("x\"y".into())
            )
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = Path::parse("emails[type eq").unwrap_err();
        assert_eq!(e.offset, 12, "the operator has no value after it");
        let e = Path::parse("name..givenName").unwrap_err();
        assert_eq!(e.offset, 5, "after the first dot, a name is missing");
        assert!(Path::parse("").is_err());
        assert!(Filter::parse("userName xx \"a\"").is_err());
    }

    #[test]
    fn nesting_and_terms_are_bounded() {
        let deep = |n: usize| format!("{}userName eq \"x\"{}", "(".repeat(n), ")".repeat(n));
        assert!(Filter::parse(&deep(MAX_NESTING)).is_ok());
        let e = Filter::parse(&deep(MAX_NESTING + 1)).unwrap_err();
        assert_eq!(e.offset, MAX_NESTING);
        assert!(e.message.contains("64 levels"), "{e}");
        let e = Filter::parse(&"not (".repeat(5_000)).unwrap_err();
        assert!(e.message.contains("levels"), "{e}");
        let e = Path::parse(&format!("emails[{}].value", "(".repeat(3_000))).unwrap_err();
        assert!(e.message.contains("levels"), "{e}");
        // Brackets inside strings are text.
        assert!(Filter::parse(&format!("userName eq \"{}\"", "((".repeat(500))).is_ok());

        let chain = |n: usize| vec!["userName eq \"x\""; n].join(" or ");
        let Filter::Or(all) = Filter::parse(&chain(MAX_TERMS)).unwrap() else {
            panic!("an or chain is one node");
        };
        assert_eq!(all.len(), MAX_TERMS);
        let e = Filter::parse(&chain(MAX_TERMS + 1)).unwrap_err();
        assert!(e.message.contains("1000 terms"), "{e}");
        assert_eq!(e.offset, MAX_TERMS * "userName eq \"x\" or ".len());
    }
}
