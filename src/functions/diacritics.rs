//! NormalizeDiacritics: Entra's fixed table of letters with diacritics and their plain
//! replacements. Letters outside the table (Vietnamese ồ, þ, ð, đ, plain œ) are kept,
//! as they are in Entra; this is not a general "strip every accent" function.

use std::borrow::Cow;

use super::{Args, Fault};
use crate::value::Value;

/// The plain form of a lower-case letter from the table.
fn plain(c: char) -> Option<&'static str> {
    Some(match c {
        'ä' | 'à' | 'â' | 'ã' | 'å' | 'á' | 'ą' | 'ă' | 'ā' | 'ǟ' | 'ǡ' => "a",
        'æ' | 'ǣ' => "ae",
        'ç' | 'č' | 'ć' => "c",
        'ď' => "d",
        'ḏ' => "d",
        'ë' | 'è' | 'é' | 'ê' | 'ę' | 'ě' | 'ė' | 'ē' | 'ḗ' | 'ḕ' => "e",
        'ğ' | 'ḡ' => "g",
        'ï' | 'î' | 'ì' | 'í' | 'ı' | 'ī' => "i",
        'ľ' | 'ł' | 'ḹ' | 'ḻ' => "l",
        'ñ' | 'ń' | 'ň' | 'ṉ' => "n",
        'ö' | 'ò' | 'ő' | 'õ' | 'ô' | 'ó' | 'ō' | 'ṓ' | 'ṑ' | 'ȫ' | 'ǭ' | 'ȭ' | 'ȱ' => {
            "o"
        }
        'ø' => "oe",
        'ř' | 'ṟ' | 'ṝ' => "r",
        'ß' => "ss",
        'š' | 'ś' | 'ș' | 'ş' => "s",
        'ť' | 'ț' | 'ṯ' => "t",
        'ü' | 'ù' | 'û' | 'ú' | 'ů' | 'ű' | 'ū' | 'ǖ' | 'ṻ' | 'ṳ' => "u",
        'ÿ' | 'ý' | 'ȳ' => "y",
        'ź' | 'ž' | 'ż' | 'ẕ' => "z",
        _ => return None,
    })
}

/// Letters the table also lists with a combining macron (U+0304) or macron below
/// (U+0331) after them, such as `c̄`, `a̱` and `œ̄`.
fn takes_macron(c: char) -> Option<&'static str> {
    match c {
        'œ' => Some("oe"),
        'a' | 'c' | 'd' | 'e' | 'g' | 'i' | 'l' | 'n' | 'o' | 'r' | 's' | 't' | 'u' | 'y' | 'z' => {
            Some("")
        }
        _ => plain(c),
    }
}

fn is_macron(c: char) -> bool {
    c == '\u{0304}' || c == '\u{0331}'
}

pub fn normalize<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Some(source) = args.text(0)? else {
        return Ok(Value::Null);
    };
    if source.is_ascii() {
        return Ok(Value::Str(source));
    }
    Ok(Value::Str(Cow::Owned(normalize_str(&source))))
}

pub(crate) fn normalize_str(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        let lower = super::case::lower_char(c, super::case::Culture::Invariant);
        let is_upper = lower != c;
        let replacement = match c {
            'İ' => Some("i"),
            'ẞ' => None,
            _ => plain(lower),
        };
        let with_macron = chars
            .peek()
            .copied()
            .is_some_and(is_macron)
            .then(|| takes_macron(lower))
            .flatten();
        match replacement.or(with_macron) {
            Some("") => out.push(c),
            Some(text) if is_upper => out.extend(text.chars().map(|ch| ch.to_ascii_uppercase())),
            Some(text) => out.push_str(text),
            None => {
                out.push(c);
                continue;
            }
        }
        while chars.peek().copied().is_some_and(is_macron) {
            chars.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_str;

    #[test]
    fn table() {
        assert_eq!(normalize_str("Zoë"), "Zoe");
        assert_eq!(normalize_str("Straße"), "Strasse");
        assert_eq!(normalize_str("İlkay Işık"), "Ilkay Isik");
        assert_eq!(normalize_str("Ærø Øre"), "AEroe OEre");
        assert_eq!(normalize_str("c\u{304}a\u{331}œ\u{304}"), "caoe");
        assert_eq!(normalize_str("ồ þ đ œ ẞ"), "ồ þ đ œ ẞ");
    }
}
