//! Replace, in the five forms Entra documents. The form is chosen by which of the seven
//! positional slots are filled, which is known from the syntax, so it is decided at
//! compile time; so are the literal search text, the regex and the substitution when
//! they are constants.

use std::borrow::Cow;
use std::ops::Range;

use super::netregex::{Groups, Pattern};
use memchr::memmem::Finder;

use super::{Args, Fault, Prepared, Site};
use crate::diagnostic::{Code, Diagnostic};
use crate::value::Value;

const SOURCE: usize = 0;
const OLD: usize = 1;
const PATTERN: usize = 2;
const GROUP: usize = 3;
const REPLACEMENT: usize = 4;
const ATTRIBUTE: usize = 5;
const TEMPLATE: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// oldValue + replacementValue: every occurrence of oldValue is replaced.
    Literal,
    /// oldValue + template: the template, with oldValue replaced by the source.
    Template,
    /// regexPattern + replacementValue: every match is replaced.
    Regex,
    /// regexPattern + regexGroupName + replacementValue: the group inside every match is replaced.
    Group,
    /// regexPattern + regexGroupName + replacementAttributeName: the source if it has a
    /// value, else the group matched in the other attribute.
    GroupFromAttribute,
}

#[derive(Debug)]
pub struct Plan {
    pub mode: Mode,
    find: Option<Finder<'static>>,
    regex: Option<Pattern>,
    substitution: Option<Vec<Piece>>,
}

const MODES_HELP: &str = "Replace's forms: (source, oldValue, , , replacementValue, , ), \
(source, oldValue, , , , , template), (source, , regexPattern, , replacementValue, , ), \
(source, , regexPattern, regexGroupName, replacementValue, , ), \
(source, , regexPattern, regexGroupName, , replacementAttributeName, )";

pub(super) fn prepare(site: &Site<'_>) -> Result<Plan, Diagnostic> {
    let has = |i| site.present(i);
    let mode = match (
        has(OLD),
        has(PATTERN),
        has(GROUP),
        has(REPLACEMENT),
        has(ATTRIBUTE),
        has(TEMPLATE),
    ) {
        (true, false, false, true, false, false) => Mode::Literal,
        (true, false, false, false, false, true) => Mode::Template,
        (false, true, false, true, false, false) => Mode::Regex,
        (false, true, true, true, false, false) => Mode::Group,
        (false, true, true, false, true, false) => Mode::GroupFromAttribute,
        _ => {
            return Err(Diagnostic::error(
                Code::ReplaceMode,
                "these Replace arguments match none of its forms",
            )
            .at(site.call_span, "the filled slots decide what Replace does")
            .help(MODES_HELP))
        }
    };
    let find = site
        .literal(OLD)
        .filter(|s| !s.is_empty())
        .map(|s| Finder::new(s.as_bytes()).into_owned());
    let regex = match site.literal(PATTERN) {
        Some(pattern) => Some(super::netregex::compile(pattern).map_err(|e| {
            let d = Diagnostic::error(Code::InvalidRegex, "invalid regular expression");
            match e.offset {
                Some(offset) => {
                    let end = pattern[offset..]
                        .chars()
                        .next()
                        .map_or(offset, |c| offset + c.len_utf8());
                    d.at(site.inside(PATTERN, offset..end), e.message)
                }
                None => d.at(site.span(PATTERN), e.message),
            }
        })?),
        None => None,
    };
    if let (Some(regex), Some(name)) = (&regex, site.literal(GROUP)) {
        if group_index(regex, name).is_none() {
            let names: Vec<&str> = regex.capture_names().into_iter().flatten().collect();
            return Err(Diagnostic::error(
                Code::InvalidRegex,
                format!("the pattern has no group named `{name}`"),
            )
            .at(site.span(GROUP), "not a group of the pattern")
            .help(if names.is_empty() {
                "name a group in the pattern with (?<name>...)".to_string()
            } else {
                format!("its named groups: {}", names.join(", "))
            }));
        }
    }
    let substitution = match (&regex, site.literal(REPLACEMENT)) {
        (Some(regex), Some(text)) => {
            let (pieces, missing) = Piece::parse_noting(text, regex);
            for range in missing {
                let reference = &text[range.clone()];
                site.warn(
                    Diagnostic::warning(
                        Code::InvalidRegex,
                        format!("`{reference}` names no group of the pattern, so it is written as it is"),
                    )
                    .at(site.inside(REPLACEMENT, range), "not a group of the pattern")
                    .help("as in .NET, a substitution naming a missing group is literal text; write `$$` for a literal `$`"),
                );
            }
            Some(pieces)
        }
        _ => None,
    };
    Ok(Plan {
        mode,
        find,
        regex,
        substitution,
    })
}

fn compile_regex(pattern: &str) -> Result<Pattern, String> {
    super::netregex::compile(pattern).map_err(|e| e.to_string())
}

fn group_index(regex: &Pattern, name: &str) -> Option<usize> {
    match name.parse::<usize>() {
        Ok(n) if n < regex.captures_len() => Some(n),
        _ => regex.capture_names().iter().position(|n| *n == Some(name)),
    }
}

pub fn replace<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Prepared::Replace(plan) = args.prepared else {
        unreachable!("Replace call sites are always prepared")
    };
    match plan.mode {
        Mode::Literal => literal(args, plan),
        Mode::Template => template(args),
        Mode::Regex | Mode::Group => regex_replace(args, plan),
        Mode::GroupFromAttribute => group_from_attribute(args, plan),
    }
}

fn literal<'a>(args: &mut Args<'a, '_>, plan: &'a Plan) -> Result<Value<'a>, Fault> {
    let Some(source) = args.text(SOURCE)? else {
        return Ok(Value::Null);
    };
    let old = args.text(OLD)?.unwrap_or_default();
    if old.is_empty() {
        return Err(Fault::arg(OLD, "must not be empty"));
    }
    let replacement = args.text(REPLACEMENT)?.unwrap_or_default();
    let runtime_finder;
    let finder = match &plan.find {
        Some(f) => f,
        None => {
            runtime_finder = Finder::new(old.as_bytes());
            &runtime_finder
        }
    };
    // `find` in a loop: `find_iter` costs more to set up than a short attribute takes to search.
    let Some(first) = finder.find(source.as_bytes()) else {
        return Ok(Value::Str(source));
    };
    let mut out = String::with_capacity(source.len() + replacement.len().saturating_sub(old.len()));
    let mut hit = first;
    let mut last = 0;
    loop {
        out.push_str(&source[last..hit]);
        out.push_str(&replacement);
        last = hit + old.len();
        args.check_len(out.len())?;
        match finder.find(&source.as_bytes()[last..]) {
            Some(next) => hit = last + next,
            None => break,
        }
    }
    out.push_str(&source[last..]);
    args.check_len(out.len())?;
    Ok(Value::string(out))
}

fn template<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Some(source) = args.text(SOURCE)? else {
        return Ok(Value::Null);
    };
    let old = args.text(OLD)?.unwrap_or_default();
    let Some(template) = args.text(TEMPLATE)? else {
        return Ok(Value::Null);
    };
    if old.is_empty() {
        return Err(Fault::arg(OLD, "must not be empty"));
    }
    let hits = template.matches(&*old).count();
    args.check_len(template.len() + hits * source.len())?;
    Ok(if hits == 0 {
        Value::Str(template)
    } else {
        Value::string(template.replace(&*old, &source))
    })
}

fn regex_for<'a>(args: &mut Args<'a, '_>, plan: &'a Plan) -> Result<Cow<'a, Pattern>, Fault> {
    match &plan.regex {
        Some(r) => Ok(Cow::Borrowed(r)),
        None => {
            let pattern = args
                .text(PATTERN)?
                .ok_or_else(|| Fault::arg(PATTERN, "is null"))?;
            compile_regex(&pattern)
                .map(Cow::Owned)
                .map_err(|m| Fault::arg(PATTERN, m))
        }
    }
}

fn group_of(args: &mut Args<'_, '_>, regex: &Pattern) -> Result<usize, Fault> {
    let name = args
        .text(GROUP)?
        .ok_or_else(|| Fault::arg(GROUP, "is null"))?;
    group_index(regex, &name)
        .ok_or_else(|| Fault::arg(GROUP, format!("the pattern has no group named `{name}`")))
}

fn regex_replace<'a>(args: &mut Args<'a, '_>, plan: &'a Plan) -> Result<Value<'a>, Fault> {
    let Some(source) = args.text(SOURCE)? else {
        return Ok(Value::Null);
    };
    let regex = regex_for(args, plan)?;
    let group = if plan.mode == Mode::Group {
        Some(group_of(args, &regex)?)
    } else {
        None
    };
    let runtime_pieces;
    let pieces = match &plan.substitution {
        Some(p) => p,
        None => {
            runtime_pieces = Piece::parse(&args.text(REPLACEMENT)?.unwrap_or_default(), &regex);
            &runtime_pieces
        }
    };
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    regex.each_match(
        &source,
        |groups| {
            let target = match group {
                Some(g) => match groups.get(g).cloned().flatten() {
                    Some(range) => range,
                    None => return Ok(true),
                },
                None => groups[0].clone().unwrap_or_default(),
            };
            // A group inside an earlier replaced one (or overlapping it) is skipped.
            if target.start < last {
                return Ok(true);
            }
            out.push_str(&source[last..target.start]);
            Piece::expand(pieces, groups, &source, &mut out);
            last = target.end;
            changed = true;
            args.check_len(out.len())?;
            Ok(true)
        },
        |message| Fault::arg(PATTERN, message),
    )?;
    if !changed {
        return Ok(Value::Str(source));
    }
    out.push_str(&source[last..]);
    args.check_len(out.len())?;
    Ok(Value::string(out))
}

fn group_from_attribute<'a>(args: &mut Args<'a, '_>, plan: &'a Plan) -> Result<Value<'a>, Fault> {
    let source = args.take(SOURCE);
    if !source.is_null_or_empty() {
        return Ok(source);
    }
    let regex = regex_for(args, plan)?;
    let group = group_of(args, &regex)?;
    let Some(other) = args.text(ATTRIBUTE)? else {
        return Ok(Value::Null);
    };
    let mut found = None;
    regex.each_match(
        &other,
        |groups| {
            found = groups.get(group).cloned().flatten();
            Ok(false)
        },
        |message| Fault::arg(PATTERN, message),
    )?;
    Ok(match (found, other) {
        (None, _) => Value::Null,
        (Some(r), Cow::Borrowed(s)) => Value::str(&s[r]),
        (Some(r), Cow::Owned(s)) => Value::string(s[r].to_string()),
    })
}

/// One part of a .NET substitution string (`${name}`, `$1`, `$$`, `$&`, …).
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Group(usize),
    Before,
    After,
    LastGroup,
    Input,
}

impl Piece {
    /// Parses .NET substitution syntax against the groups of `regex`. A reference to a
    /// group that does not exist stays literal text, as in .NET.
    fn parse(text: &str, regex: &Pattern) -> Vec<Piece> {
        Piece::parse_noting(text, regex).0
    }

    /// Like [`Piece::parse`], also giving where the references to groups that do not
    /// exist are (`${nope}`, `$7`), as byte ranges of `text`.
    fn parse_noting(text: &str, regex: &Pattern) -> (Vec<Piece>, Vec<Range<usize>>) {
        let mut pieces = Vec::new();
        let mut missing = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (piece, used) = Piece::reference(after, regex);
            match piece {
                Some(Piece::Text(t)) => literal.push_str(&t),
                Some(piece) => {
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
                None => {
                    literal.push('$');
                    let start = text.len() - rest.len() + at;
                    if let Some(len) = unknown_reference(after) {
                        missing.push(start..start + 1 + len);
                    }
                }
            }
            rest = &after[used..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        (pieces, missing)
    }

    /// What follows a `$`, and how many bytes of it were used.
    fn reference(after: &str, regex: &Pattern) -> (Option<Piece>, usize) {
        let simple = match after.as_bytes().first() {
            Some(b'$') => Some(Piece::Text("$".into())),
            Some(b'&') => Some(Piece::Group(0)),
            Some(b'`') => Some(Piece::Before),
            Some(b'\'') => Some(Piece::After),
            Some(b'+') => Some(Piece::LastGroup),
            Some(b'_') => Some(Piece::Input),
            _ => None,
        };
        if simple.is_some() {
            return (simple, 1);
        }
        if let Some(inner) = after.strip_prefix('{') {
            if let Some(close) = inner.find('}') {
                if let Some(g) = group_index(regex, &inner[..close]) {
                    return (Some(Piece::Group(g)), close + 2);
                }
            }
            return (None, 0);
        }
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        // .NET takes the longest run of digits that names an existing group.
        for len in (1..=digits).rev() {
            if let Ok(g) = after[..len].parse::<usize>() {
                if g < regex.captures_len() {
                    return (Some(Piece::Group(g)), len);
                }
            }
        }
        (None, 0)
    }

    fn expand(pieces: &[Piece], groups: &Groups, input: &str, out: &mut String) {
        let text = |g: usize| {
            groups
                .get(g)
                .cloned()
                .flatten()
                .and_then(|r| input.get(r))
                .unwrap_or_default()
        };
        let whole = groups[0].clone().unwrap_or_default();
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Group(g) => out.push_str(text(*g)),
                Piece::Before => out.push_str(&input[..whole.start]),
                Piece::After => out.push_str(&input[whole.end..]),
                // .NET's `$+` is the highest-numbered group, empty when it took no part.
                Piece::LastGroup => out.push_str(text(groups.len() - 1)),
                Piece::Input => out.push_str(input),
            }
        }
    }
}

/// The length of what, after a `$` that names no group, was meant as a reference:
/// `{name}` or digits.
fn unknown_reference(after: &str) -> Option<usize> {
    if let Some(inner) = after.strip_prefix('{') {
        return inner.find('}').map(|close| close + 2);
    }
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str, pattern: &str) -> Vec<Piece> {
        Piece::parse(text, &super::super::netregex::compile(pattern).unwrap())
    }

    #[test]
    fn dotnet_substitutions() {
        let p = r"(?<area>\d+)-(\d+)";
        assert_eq!(sub("${area}", p), vec![Piece::Group(1)]);
        assert_eq!(
            sub("$2:$$", p),
            vec![Piece::Group(2), Piece::Text(":$".into())]
        );
        assert_eq!(sub("${nope}", p), vec![Piece::Text("${nope}".into())]);
        assert_eq!(sub("$area", p), vec![Piece::Text("$area".into())]);
        assert_eq!(
            sub("$21", p),
            vec![Piece::Group(2), Piece::Text("1".into())]
        );
    }
}
