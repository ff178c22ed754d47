//! .NET regular expressions, as Entra reads `Replace` patterns and the scoping
//! operators `REGEX MATCH` / `NOT REGEX MATCH`, translated for the `regex` crate: an
//! escaped character that is not a word character is itself (`\<`, `\>`, `\'`, `\_`
//! is an error as in .NET), `(?'name'…)` is a named group, `[a-z-[aeiou]]` is class
//! subtraction, `(?#…)` is a comment. A construct `regex` cannot run (lookaround,
//! backreferences, atomic groups, `\G`, `\Z`, balancing and conditional groups) is an
//! error naming it and where it is in the pattern.

use regex::{Regex, RegexBuilder};

/// A pattern that cannot be used, with the byte offset in the pattern where the
/// problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Where in the pattern, when known (the `regex` crate's own errors have none
    /// that would mean anything in the pattern as written).
    pub offset: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(offset) = self.offset {
            write!(f, " (at character {} of the pattern)", offset + 1)?;
        }
        Ok(())
    }
}

/// Compiles a .NET pattern, within the size limits every pattern has.
pub fn compile(pattern: &str) -> Result<Regex, PatternError> {
    let translated = translate(pattern)?;
    RegexBuilder::new(&translated)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 21)
        .build()
        .map_err(|e| PatternError {
            offset: None,
            message: match e {
                regex::Error::Syntax(text) => text
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(text.trim())
                    .to_string(),
                regex::Error::CompiledTooBig(limit) => {
                    format!("the pattern compiles to more than {limit} bytes")
                }
                other => other.to_string(),
            },
        })
}

/// The pattern in the `regex` crate's syntax.
pub fn translate(pattern: &str) -> Result<String, PatternError> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut at = Reader {
        text: pattern,
        pos: 0,
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
        None => Ok(out),
    }
}

struct Reader<'p> {
    text: &'p str,
    pos: usize,
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
        PatternError {
            offset: Some(offset),
            message: message.into(),
        }
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
        'Z' => {
            return Err(unsupported(
                at,
                start,
                "`\\Z` (the end, or before a final newline)",
            ))
        }
        'G' => {
            return Err(unsupported(
                at,
                start,
                "`\\G` (where the previous match ended)",
            ))
        }
        '1'..='9' => return Err(unsupported(at, start, "a backreference (`\\1`)")),
        'k' => {
            return Err(unsupported(
                at,
                start,
                "a named backreference (`\\k<name>`)",
            ))
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
    let constructs: [(&str, &str); 6] = [
        ("(?=", "a lookahead `(?=…)`"),
        ("(?!", "a negative lookahead `(?!…)`"),
        ("(?<=", "a lookbehind `(?<=…)`"),
        ("(?<!", "a negative lookbehind `(?<!…)`"),
        ("(?>", "an atomic group `(?>…)`"),
        ("(?(", "a conditional `(?(…)…)`"),
    ];
    if let Some((_, what)) = constructs.iter().find(|(head, _)| rest.starts_with(head)) {
        return Err(unsupported(at, start, what));
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
    }

    #[test]
    fn escaped_punctuation_is_itself() {
        // Microsoft's HR guides strip these from sAMAccountNames.
        let hr = r"([\/\\\[\]\:\;\|\=\,\+\*\?\<\>])";
        let regex = compile(hr).unwrap();
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
        let regex = compile(r"(?'area'\d{3})-(?<rest>\d{4})").unwrap();
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
            (r"a(?=b)", 1, "lookahead"),
            (r"a(?<!b)", 1, "negative lookbehind"),
            (r"(a)\1", 3, "backreference"),
            (r"(?>a+)", 0, "atomic"),
            (r"ab\Z", 2, "\\Z"),
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
}
