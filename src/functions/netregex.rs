//! .NET regular expressions, as Entra reads `Replace` patterns and the scoping
//! operators `REGEX MATCH` / `NOT REGEX MATCH`, translated for the `regex` crate: an
//! escaped character that is not a word character is itself (`\<`, `\>`, `\'`, `\_`
//! is an error as in .NET), `(?'name'…)` is a named group, `[a-z-[aeiou]]` is class
//! subtraction, `(?#…)` is a comment. Patterns with lookaround, backreferences, atomic
//! groups or `\Z` run on `fancy-regex`, with its backtracking bounded; all others on
//! `regex`. What neither runs (`\G`, balancing and conditional groups, the
//! explicit-capture option) is an error naming it and where it is in the pattern.

use std::ops::Range;

use regex::RegexBuilder;

/// How many backtracking steps a `fancy-regex` pattern may take on one value; past it,
/// evaluation fails instead of hanging (`(a+)+$` on a long input).
pub const BACKTRACK_LIMIT: usize = 1_000_000;

/// A compiled pattern, on whichever engine it needs.
#[derive(Debug, Clone)]
pub enum Pattern {
    Plain(regex::Regex),
    Fancy(Box<fancy_regex::Regex>),
}

/// The groups of one match, as byte ranges in the text; `None` for a group that took
/// no part.
pub type Groups = Vec<Option<Range<usize>>>;

impl Pattern {
    pub fn captures_len(&self) -> usize {
        match self {
            Pattern::Plain(r) => r.captures_len(),
            Pattern::Fancy(r) => r.captures_len(),
        }
    }

    /// Each group's name, group 0 (never named) first.
    pub fn capture_names(&self) -> Vec<Option<&str>> {
        match self {
            Pattern::Plain(r) => r.capture_names().collect(),
            Pattern::Fancy(r) => r.capture_names().collect(),
        }
    }

    pub fn is_match(&self, text: &str) -> Result<bool, String> {
        match self {
            Pattern::Plain(r) => Ok(r.is_match(text)),
            Pattern::Fancy(r) => r.is_match(text).map_err(runtime),
        }
    }

    /// Calls `each` with the groups of every match, left to right, until it says stop
    /// (`Ok(false)`) or fails.
    pub fn each_match<E>(
        &self,
        text: &str,
        mut each: impl FnMut(&Groups) -> Result<bool, E>,
        fault: impl Fn(String) -> E,
    ) -> Result<(), E> {
        let mut groups = Groups::new();
        match self {
            Pattern::Plain(r) => {
                let mut locations = r.capture_locations();
                let mut at = 0;
                while at <= text.len() {
                    let Some(whole) = r.captures_read_at(&mut locations, text, at) else {
                        break;
                    };
                    groups.clear();
                    groups
                        .extend((0..locations.len()).map(|i| locations.get(i).map(|(s, e)| s..e)));
                    if !each(&groups)? {
                        break;
                    }
                    at = next_start(text, whole.start(), whole.end());
                }
            }
            Pattern::Fancy(r) => {
                for caps in r.captures_iter(text) {
                    let caps = caps.map_err(|e| fault(runtime(e)))?;
                    groups.clear();
                    groups.extend((0..caps.len()).map(|i| caps.get(i).map(|m| m.start()..m.end())));
                    if !each(&groups)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where the search after a match goes on: after it, or one character further when it
/// was empty, so that the same empty match is not found again.
fn next_start(text: &str, start: usize, end: usize) -> usize {
    if end > start {
        return end;
    }
    end + text[end..].chars().next().map_or(1, char::len_utf8)
}

/// A `fancy-regex` compile error, said of the pattern as written: the lookbehind it
/// cannot run is named where it starts.
fn fancy_error(pattern: &str, e: fancy_regex::Error) -> PatternError {
    use fancy_regex::{CompileError, Error};
    match e {
        Error::CompileError(CompileError::LookBehindNotConst) => PatternError::at(
            pattern,
            ["(?<=", "(?<!"]
                .iter()
                .filter_map(|l| pattern.find(l))
                .min(),
            "a lookbehind whose length varies: .NET runs it, scimap's engines cannot",
        ),
        other => {
            let text = other.to_string();
            let text = text
                .strip_prefix("Error compiling regex: ")
                .unwrap_or(&text);
            PatternError::at(pattern, None, text)
        }
    }
}

fn runtime(e: fancy_regex::Error) -> String {
    match e {
        fancy_regex::Error::RuntimeError(fancy_regex::RuntimeError::BacktrackLimitExceeded) => {
            format!("the pattern backtracked more than {BACKTRACK_LIMIT} steps on this value")
        }
        other => other.to_string(),
    }
}

/// A pattern that cannot be used, with the byte offset in the pattern where the
/// problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Where in the pattern, when known (the `regex` crate's own errors have none
    /// that would mean anything in the pattern as written).
    pub offset: Option<usize>,
    /// The same place counted in characters from 1, as a message gives it.
    pub character: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(character) = self.character {
            write!(f, " (at character {character} of the pattern)")?;
        }
        Ok(())
    }
}

impl PatternError {
    fn at(pattern: &str, offset: Option<usize>, message: impl Into<String>) -> PatternError {
        PatternError {
            offset,
            character: offset.map(|o| pattern.get(..o).map_or(o, |p| p.chars().count()) + 1),
            message: message.into(),
        }
    }
}

/// Compiles a .NET pattern, within the size limits every pattern has.
pub fn compile(pattern: &str) -> Result<Pattern, PatternError> {
    let translated = translate(pattern)?;
    let error = |message: String| PatternError::at(pattern, None, message);
    if translated.fancy {
        return fancy_regex::RegexBuilder::new(&translated.text)
            .backtrack_limit(BACKTRACK_LIMIT)
            .delegate_size_limit(1 << 20)
            .delegate_dfa_size_limit(1 << 21)
            .build()
            .map(|r| Pattern::Fancy(Box::new(r)))
            .map_err(|e| fancy_error(pattern, e));
    }
    RegexBuilder::new(&translated.text)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 21)
        .build()
        .map(Pattern::Plain)
        .map_err(|e| {
            error(match e {
                regex::Error::Syntax(text) => text
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(text.trim())
                    .to_string(),
                regex::Error::CompiledTooBig(limit) => {
                    format!("the pattern compiles to more than {limit} bytes")
                }
                other => other.to_string(),
            })
        })
}

/// A pattern in the Rust engines' syntax, and whether it needs `fancy-regex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub text: String,
    pub fancy: bool,
}

/// The pattern in the Rust engines' syntax.
pub fn translate(pattern: &str) -> Result<Translated, PatternError> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut at = Reader {
        text: pattern,
        pos: 0,
        fancy: false,
    };
    // Where each group still open began, so that an unbalanced one is named.
    let mut open: Vec<usize> = Vec::new();
    while let Some(c) = at.peek() {
        match c {
            '\\' => escape(&mut at, &mut out, false)?,
            '[' => class(&mut at, &mut out)?,
            '(' => {
                let start = at.pos;
                if group(&mut at, &mut out)? {
                    open.push(start);
                }
            }
            ')' => {
                if open.pop().is_none() {
                    return Err(at.error(at.pos, "this `)` closes no group"));
                }
                at.bump();
                out.push(')');
            }
            _ => {
                at.bump();
                out.push(c);
            }
        }
    }
    match open.last() {
        Some(&start) => Err(at.error(start, "this group is never closed")),
        None => Ok(Translated {
            text: out,
            fancy: at.fancy,
        }),
    }
}

struct Reader<'p> {
    text: &'p str,
    pos: usize,
    /// A construct only `fancy-regex` runs was seen.
    fancy: bool,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> PatternError {
        PatternError::at(self.text, Some(offset), message)
    }
}

/// A character as a literal that means itself anywhere, in or out of a class.
fn literal(c: char, out: &mut String) {
    out.push_str(&format!("\\x{{{:X}}}", c as u32));
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn unsupported(at: &Reader<'_>, start: usize, what: &str) -> PatternError {
    at.error(
        start,
        format!("{what} is not supported: .NET has it, scimap's regular expressions do not yet"),
    )
}

/// `\` and what follows, inside a class or not.
fn escape(at: &mut Reader<'_>, out: &mut String, in_class: bool) -> Result<(), PatternError> {
    let start = at.pos;
    at.bump();
    let Some(c) = at.bump() else {
        return Err(at.error(start, "the pattern ends with a lone `\\`"));
    };
    match c {
        'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'n' | 't' | 'r' | 'f' | 'v' => {
            out.push('\\');
            out.push(c);
        }
        'b' if in_class => literal('\u{8}', out),
        'b' | 'B' | 'A' | 'z' => {
            out.push('\\');
            out.push(c);
        }
        'a' => literal('\u{7}', out),
        'e' => literal('\u{1B}', out),
        'Z' if !in_class => {
            at.fancy = true;
            out.push_str(r"(?=\n?\z)");
        }
        'G' => {
            return Err(unsupported(
                at,
                start,
                "`\\G` (where the previous match ended)",
            ))
        }
        '1'..='9' if !in_class => {
            at.fancy = true;
            out.push('\\');
            out.push(c);
            while let Some(d) = at.peek().filter(char::is_ascii_digit) {
                at.bump();
                out.push(d);
            }
        }
        'k' if !in_class => {
            let close = match at.bump() {
                Some('<') => '>',
                Some('\'') => '\'',
                _ => return Err(at.error(start, "`\\k` needs a group name: `\\k<name>`")),
            };
            let end = at
                .rest()
                .find(close)
                .ok_or_else(|| at.error(start, "this group name is never closed"))?;
            let name = at.rest()[..end].to_string();
            at.pos += end + 1;
            at.fancy = true;
            out.push_str(&format!("\\k<{name}>"));
        }
        'p' | 'P' => {
            let Some(end) = at.rest().find('}').filter(|_| at.rest().starts_with('{')) else {
                return Err(at.error(
                    start,
                    format!("`\\{c}` needs a category in braces, such as `\\{c}{{Lu}}`"),
                ));
            };
            out.push('\\');
            out.push(c);
            out.push_str(&at.rest()[..=end]);
            at.pos += end + 1;
        }
        'x' => hex(at, out, start, 2)?,
        'u' => hex(at, out, start, 4)?,
        '0' => {
            let digits: String = at
                .rest()
                .chars()
                .take(2)
                .take_while(|d| ('0'..='7').contains(d))
                .collect();
            at.pos += digits.len();
            let value = u32::from_str_radix(&format!("0{digits}"), 8).unwrap_or(0);
            literal(char::from_u32(value).unwrap_or('\0'), out);
        }
        'c' => match at.bump() {
            Some(letter) if letter.is_ascii_alphabetic() => {
                literal(char::from(letter.to_ascii_uppercase() as u8 & 0x1F), out)
            }
            _ => return Err(at.error(start, "`\\c` needs a letter after it (`\\cA`)")),
        },
        c if is_word(c) => {
            return Err(at.error(start, format!("unrecognized escape `\\{c}`")));
        }
        // Any other character escaped is itself: `\<`, `\>`, `\'`, `\ `, `\#`.
        c => literal(c, out),
    }
    Ok(())
}

fn hex(
    at: &mut Reader<'_>,
    out: &mut String,
    start: usize,
    digits: usize,
) -> Result<(), PatternError> {
    let text: String = at.rest().chars().take(digits).collect();
    if text.len() != digits || !text.chars().all(|d| d.is_ascii_hexdigit()) {
        return Err(at.error(
            start,
            format!("this escape takes exactly {digits} hexadecimal digits"),
        ));
    }
    at.pos += digits;
    let value = u32::from_str_radix(&text, 16).unwrap_or(0);
    match char::from_u32(value) {
        Some(c) => literal(c, out),
        None => return Err(unsupported(at, start, "a lone surrogate")),
    }
    Ok(())
}

/// `(`: a group, an option setting or a comment; true when it opens a group that a
/// `)` closes later (a comment closes itself, `(?i)` is closed where it stands).
fn group(at: &mut Reader<'_>, out: &mut String) -> Result<bool, PatternError> {
    let start = at.pos;
    let rest = at.rest();
    if rest.starts_with("(?(") {
        return Err(unsupported(at, start, "a conditional `(?(…)…)`"));
    }
    // Lookaround and atomic groups: fancy-regex writes them as .NET does.
    if let Some(head) = ["(?<=", "(?<!", "(?=", "(?!", "(?>"]
        .into_iter()
        .find(|head| rest.starts_with(head))
    {
        at.fancy = true;
        out.push_str(head);
        at.pos += head.len();
        return Ok(true);
    }
    if let Some(comment) = rest.strip_prefix("(?#") {
        let end = comment
            .find(')')
            .ok_or_else(|| at.error(start, "the comment `(?#` is never closed"))?;
        at.pos += 3 + end + 1;
        return Ok(false);
    }
    for (open, close) in [("(?<", '>'), ("(?'", '\'')] {
        if let Some(after) = rest.strip_prefix(open) {
            let end = after
                .find(close)
                .ok_or_else(|| at.error(start, "this group's name is never closed"))?;
            let name = &after[..end];
            if name.contains('-') {
                return Err(unsupported(at, start, "a balancing group `(?<a-b>…)`"));
            }
            out.push_str("(?<");
            out.push_str(name);
            out.push('>');
            at.pos += open.len() + end + 1;
            return Ok(true);
        }
    }
    if let Some(after) = rest.strip_prefix("(?") {
        let flags: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == '-')
            .collect();
        if flags.contains('n') {
            return Err(unsupported(at, start, "the explicit-capture option `n`"));
        }
        out.push_str("(?");
        out.push_str(&flags);
        at.pos += 2 + flags.len();
        // `(?i)` sets options where it stands; `(?i:` opens a group.
        if at.peek() == Some(')') {
            at.bump();
            out.push(')');
            return Ok(false);
        }
        return Ok(true);
    }
    at.bump();
    out.push('(');
    Ok(true)
}

/// `[…]`, with .NET's subtraction `[a-z-[aeiou]]` as the `regex` crate's `--`.
fn class(at: &mut Reader<'_>, out: &mut String) -> Result<(), PatternError> {
    let start = at.pos;
    at.bump();
    out.push('[');
    if at.peek() == Some('^') {
        at.bump();
        out.push('^');
    }
    // A `]` first in a class is a literal in .NET.
    if at.peek() == Some(']') {
        at.bump();
        out.push_str("\\]");
    }
    loop {
        match at.peek() {
            None => return Err(at.error(start, "this character class is never closed")),
            Some(']') => {
                at.bump();
                out.push(']');
                return Ok(());
            }
            Some('\\') => escape(at, out, true)?,
            Some('-') if at.rest().starts_with("-[") => {
                at.bump();
                out.push_str("--");
                class(at, out)?;
                if at.peek() != Some(']') {
                    return Err(at.error(
                        at.pos,
                        "a subtracted class must end its class (`[a-z-[aeiou]]`)",
                    ));
                }
            }
            Some(c @ ('[' | '&' | '~')) => {
                at.bump();
                literal(c, out);
            }
            Some('-') if at.rest().starts_with("--") => {
                at.bump();
                literal('-', out);
            }
            Some(c) => {
                at.bump();
                out.push(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        compile(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(text)
            .unwrap()
    }

    fn plain(pattern: &str) -> regex::Regex {
        match compile(pattern).unwrap() {
            Pattern::Plain(r) => r,
            Pattern::Fancy(_) => panic!("{pattern} needs no backtracking"),
        }
    }

    #[test]
    fn escaped_punctuation_is_itself() {
        // Microsoft's HR guides strip these from sAMAccountNames.
        let hr = r"([\/\\\[\]\:\;\|\=\,\+\*\?\<\>])";
        let regex = plain(hr);
        assert_eq!(regex.replace_all(r#"a<b>c[d]e\f/g|h"#, ""), "abcdefgh");
        assert!(
            matches(r"\<x\>", "<x>"),
            "outside a class too, not word boundaries"
        );
        assert!(matches(r"a\'b\ c\#", "a'b c#"));
        assert_eq!(
            translate(r"\q").unwrap_err().message,
            "unrecognized escape `\\q`"
        );
    }

    #[test]
    fn groups_options_comments_and_subtraction() {
        let regex = plain(r"(?'area'\d{3})-(?<rest>\d{4})");
        let caps = regex.captures("555-1234").unwrap();
        assert_eq!((&caps["area"], &caps["rest"]), ("555", "1234"));
        assert!(matches(r"(?i)abc(?#a comment)", "ABC"));
        assert!(matches(r"(?i:a)B", "AB"));
        assert!(matches(r"^[a-z-[aeiou]]+$", "bcd"));
        assert!(!matches(r"^[a-z-[aeiou]]+$", "bad"));
        assert!(matches(r"^[]a]+$", "]a]"));
        assert!(matches(r"\p{Lu}\x41\u0042\cA", "ÉAB\u{1}"));
        assert!(matches(r"\A\d+\z", "42"));
    }

    #[test]
    fn what_cannot_run_is_named_with_its_place() {
        for (pattern, offset, words) in [
            (r"\Ga", 0, "\\G"),
            (r"(?(a)b|c)", 0, "conditional"),
            (r"(?<a-b>x)", 0, "balancing"),
            (r"(?n)a", 0, "explicit-capture"),
            (r"[a-z", 0, "never closed"),
            (r"a(b(c)", 1, "never closed"),
            (r"ab)", 2, "closes no group"),
        ] {
            let e = translate(pattern).unwrap_err();
            assert_eq!(e.offset, Some(offset), "{pattern}");
            assert!(e.message.contains(words), "{pattern}: {}", e.message);
            assert!(!e.message.contains("lookaround and"), "no unrelated note");
        }
    }

    #[test]
    fn backtracking_constructs_run_bounded() {
        assert!(matches(r"a(?=n)", "an"));
        assert!(!matches(r"a(?!n)", "an"));
        assert!(matches(r"(?<=n)a", "na"));
        assert!(matches(r"(?<first>a)n\k<first>", "ana"));
        assert!(matches(r"(a)n\1", "ana"));
        assert!(matches(r"ab\Z", "ab\n"));
        assert!(matches(r"(?>a+)b", "aab"));
        let hang = compile(r"(a+)+$").unwrap();
        assert!(
            matches!(hang, Pattern::Plain(_)),
            "no backtracking needed: linear on regex"
        );
        let catastrophic = compile(r"(a+)+\1$").unwrap();
        let long = format!("{}b", "a".repeat(40));
        let e = catastrophic.is_match(&long).unwrap_err();
        assert!(e.contains("backtracked more than"), "{e}");
    }
}
