//! Letter case: ToLower, ToUpper, PCase.
//!
//! .NET maps case one character at a time (simple case mapping), so a character whose
//! full mapping is several characters (`ß` → `SS`) keeps its own form, and Greek final
//! sigma is not special. Turkish and Azeri cultures map dotted and dotless i their way.

use std::borrow::Cow;

use super::{Args, Fault, Site};
use crate::diagnostic::{Code, Diagnostic};
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culture {
    Invariant,
    /// `tr` and `az`: `I` ↔ `ı`, `İ` ↔ `i`.
    Turkic,
    /// Not known at compile time: read from the argument when evaluating.
    Dynamic,
}

impl Culture {
    /// Reads an RFC 4646 name (`en-US`, `tr-TR`; `""` is invariant).
    pub fn parse(name: &str) -> Result<Culture, String> {
        if name.is_empty() {
            return Ok(Culture::Invariant);
        }
        let mut parts = name.split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        let well_formed = (2..=8).contains(&language.len())
            && language.chars().all(|c| c.is_ascii_alphabetic())
            && parts.all(|p| {
                (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if !well_formed {
            return Err(format!("{name:?} is not a culture name such as en-US"));
        }
        Ok(match language.to_ascii_lowercase().as_str() {
            "tr" | "az" => Culture::Turkic,
            _ => Culture::Invariant,
        })
    }
}

pub(super) fn prepare(site: &Site<'_>) -> Result<Culture, Diagnostic> {
    if !site.present(1) {
        return Ok(Culture::Invariant);
    }
    match site.literal(1) {
        Some(name) => Culture::parse(name).map_err(|msg| {
            Diagnostic::error(Code::ArgumentKind, "invalid culture").at(site.span(1), msg)
        }),
        None => Ok(Culture::Dynamic),
    }
}

fn culture(args: &mut Args<'_, '_>) -> Result<Culture, Fault> {
    match args.prepared {
        super::Prepared::Culture(Culture::Dynamic) => match args.text(1)? {
            None => Ok(Culture::Invariant),
            Some(name) => Culture::parse(&name).map_err(|m| Fault::arg(1, m)),
        },
        super::Prepared::Culture(c) => Ok(*c),
        _ => Ok(Culture::Invariant),
    }
}

pub fn lower_char(c: char, culture: Culture) -> char {
    match (c, culture) {
        ('I', Culture::Turkic) => 'ı',
        _ if c.is_ascii() => c.to_ascii_lowercase(),
        ('İ', _) => 'i',
        // Latin-1 capitals (À–Þ but ×) are 0x20 below their small letters; checked by a test.
        ('\u{C0}'..='\u{DE}', _) if c != '×' => char::from(c as u8 + 0x20),
        _ => single(c.to_lowercase()).unwrap_or(c),
    }
}

pub fn upper_char(c: char, culture: Culture) -> char {
    match (c, culture) {
        ('i', Culture::Turkic) => 'İ',
        _ if c.is_ascii() => c.to_ascii_uppercase(),
        ('\u{E0}'..='\u{FE}', _) if c != '÷' => char::from(c as u8 - 0x20),
        _ => single(c.to_uppercase()).unwrap_or(c),
    }
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// Maps every character. Text that does not change is returned as it came (borrowed
/// stays borrowed); owned ASCII text is changed in place.
fn map_case<'a>(text: Cow<'a, str>, culture: Culture, upper: bool) -> Cow<'a, str> {
    let map = |c: char| {
        if upper {
            upper_char(c, culture)
        } else {
            lower_char(c, culture)
        }
    };
    if culture == Culture::Invariant && text.is_ascii() {
        return map_ascii(text, upper);
    }
    let Some((first, _)) = text.char_indices().find(|&(_, c)| map(c) != c) else {
        return text;
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push_str(&text[..first]);
    let mut rest = &text[first..];
    // Runs of ASCII are mapped a run at a time; in Turkic cultures `i` and `I` are not
    // plain ASCII letters.
    let plain = |b: &u8| b.is_ascii() && !(culture == Culture::Turkic && matches!(b, b'i' | b'I'));
    while let Some(c) = rest.chars().next() {
        let run = rest.bytes().position(|b| !plain(&b)).unwrap_or(rest.len());
        if run > 0 {
            let start = out.len();
            out.push_str(&rest[..run]);
            let mapped = &mut out.as_mut_str()[start..];
            if upper {
                mapped.make_ascii_uppercase()
            } else {
                mapped.make_ascii_lowercase()
            }
            rest = &rest[run..];
        } else {
            out.push(map(c));
            rest = &rest[c.len_utf8()..];
        }
    }
    Cow::Owned(out)
}

fn map_ascii(text: Cow<'_, str>, upper: bool) -> Cow<'_, str> {
    let changes = |b: &u8| {
        if upper {
            b.is_ascii_lowercase()
        } else {
            b.is_ascii_uppercase()
        }
    };
    if !text.as_bytes().iter().any(changes) {
        return text;
    }
    let mut owned = text.into_owned();
    if upper {
        owned.make_ascii_uppercase()
    } else {
        owned.make_ascii_lowercase()
    }
    Cow::Owned(owned)
}

pub fn to_lower<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let culture = culture(args)?;
    Ok(args
        .text(0)?
        .map_or(Value::Null, |s| Value::Str(map_case(s, culture, false))))
}

pub fn to_upper<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let culture = culture(args)?;
    Ok(args
        .text(0)?
        .map_or(Value::Null, |s| Value::Str(map_case(s, culture, true))))
}

/// Lower-cases, then upper-cases the first letter of every word.
///
/// Without separators, words break the way .NET's `TextInfo.ToTitleCase` breaks them:
/// a word starts at a letter and runs on through letters, marks, digits and
/// apostrophes. With separators, exactly those characters break words.
pub fn pcase<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let source = args.text(0)?;
    let separators = args.text(1)?;
    let Some(source) = source else {
        return Ok(Value::Null);
    };
    let mut out = String::with_capacity(source.len());
    let mut in_word = false;
    for c in source.chars() {
        let lower = lower_char(c, Culture::Invariant);
        match &separators {
            Some(seps) => {
                let sep = seps.contains(c);
                out.push(if !sep && !in_word {
                    upper_char(lower, Culture::Invariant)
                } else {
                    lower
                });
                in_word = !sep;
            }
            None => {
                if in_word {
                    in_word = c.is_alphanumeric() || c == '\'' || is_mark(c);
                    out.push(lower);
                } else if c.is_alphabetic() {
                    in_word = true;
                    out.push(upper_char(lower, Culture::Invariant));
                } else {
                    out.push(lower);
                }
            }
        }
    }
    Ok(Value::string(out))
}

fn is_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(s: &str) -> String {
        let mut values = [Value::string(s.to_string())];
        let ctx = crate::context::Context::default();
        let mut args = Args {
            values: &mut values,
            slots: &[super::super::Slot::Stack(0)],
            prepared: &super::super::Prepared::None,
            ctx: &ctx,
            rng: &mut fastrand::Rng::with_seed(0),
        };
        pcase(&mut args).unwrap().to_string()
    }

    #[test]
    fn title_case_like_dotnet() {
        assert_eq!(
            title("PABLO GONSALVES (SECOND)"),
            "Pablo Gonsalves (Second)"
        );
        assert_eq!(title("o'neil"), "O'neil");
        assert_eq!(title("1st place"), "1St Place");
        assert_eq!(title("jean-luc"), "Jean-Luc");
    }

    #[test]
    fn simple_case_mapping() {
        assert_eq!(
            map_case("straße".into(), Culture::Invariant, true),
            "STRAßE"
        );
        assert_eq!(map_case("İI".into(), Culture::Invariant, false), "ii");
        assert_eq!(
            map_case("ΣΑΣ Zoë".into(), Culture::Invariant, false),
            "σασ zoë"
        );
        assert_eq!(map_case("ÉMILE".into(), Culture::Invariant, false), "émile");
        assert_eq!(
            map_case(Cow::Owned("ÉMİLE ß".into()), Culture::Invariant, false),
            "émile ß"
        );
        assert_eq!(
            map_case(Cow::Owned("Straße".into()), Culture::Invariant, true),
            "STRAßE"
        );
        assert_eq!(
            map_case(Cow::Owned("ǅ".into()), Culture::Invariant, false),
            "ǆ"
        );
        assert_eq!(map_case("İI".into(), Culture::Turkic, false), "iı");
        assert_eq!(map_case("i".into(), Culture::Turkic, true), "İ");
    }

    #[test]
    fn latin1_shortcut_matches_unicode() {
        for c in '\u{C0}'..='\u{FF}' {
            assert_eq!(
                lower_char(c, Culture::Invariant),
                single(c.to_lowercase()).unwrap_or(c),
                "{c}"
            );
            assert_eq!(
                upper_char(c, Culture::Invariant),
                single(c.to_uppercase()).unwrap_or(c),
                "{c}"
            );
        }
    }

    #[test]
    fn culture_names() {
        assert_eq!(Culture::parse("tr-TR"), Ok(Culture::Turkic));
        assert_eq!(Culture::parse("en-US"), Ok(Culture::Invariant));
        assert!(Culture::parse("not a culture").is_err());
    }
}
