//! Finding a JSON path's value in the text it was parsed from, so that problems found
//! after parsing can still point at a line and column.

use std::ops::Range;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A JSON path, written `$.objects[0].attributes[3].source`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonPath(pub Vec<Step>);

impl JsonPath {
    pub fn key(&self, key: &str) -> JsonPath {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_string()));
        JsonPath(steps)
    }

    pub fn index(&self, index: usize) -> JsonPath {
        let mut steps = self.0.clone();
        steps.push(Step::Index(index));
        JsonPath(steps)
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("$")?;
        for step in &self.0 {
            match step {
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// The byte range of the value at `path` in `text`, which must be valid JSON.
pub fn locate(text: &str, path: &JsonPath) -> Option<Range<usize>> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        pos: 0,
    };
    for step in &path.0 {
        scanner.skip_ws();
        match (step, scanner.peek()?) {
            (Step::Key(key), b'{') => scanner.enter_member(key)?,
            (Step::Index(index), b'[') => scanner.enter_element(*index)?,
            _ => return None,
        }
    }
    scanner.skip_ws();
    let start = scanner.pos;
    scanner.skip_value()?;
    Some(start..scanner.pos)
}

/// The offset in a JSON string literal (quotes included) of the byte at `decoded`
/// in the string's decoded text.
pub fn raw_offset(literal: &str, decoded: usize) -> usize {
    let bytes = literal.as_bytes();
    let (mut raw, mut out) = (1, 0);
    while raw < bytes.len() && out < decoded {
        if bytes[raw] == b'\\' {
            let (raw_len, out_len) = match bytes.get(raw + 1) {
                Some(b'u') => unicode_escape(&literal[raw..]),
                _ => (2, 1),
            };
            raw += raw_len;
            out += out_len;
        } else {
            raw += 1;
            out += 1;
        }
    }
    raw
}

/// The raw and decoded lengths of a `\uXXXX` escape (or a surrogate pair of them).
fn unicode_escape(escape: &str) -> (usize, usize) {
    let unit = |s: &str| s.get(2..6).and_then(|h| u16::from_str_radix(h, 16).ok());
    match unit(escape) {
        Some(high @ 0xD800..=0xDBFF) => {
            let low = escape.get(6..).and_then(unit);
            match low {
                Some(0xDC00..=0xDFFF) => (12, 4),
                _ => (6, char_len(high as u32)),
            }
        }
        Some(code) => (6, char_len(code as u32)),
        None => (2, 1),
    }
}

fn char_len(code: u32) -> usize {
    char::from_u32(code).map_or(3, char::len_utf8)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn enter_member(&mut self, key: &str) -> Option<()> {
        self.eat(b'{')?;
        loop {
            self.skip_ws();
            let start = self.pos;
            self.skip_string()?;
            let name: String = serde_json::from_slice(&self.bytes[start..self.pos]).ok()?;
            self.eat(b':')?;
            if name == key {
                return Some(());
            }
            self.skip_ws();
            self.skip_value()?;
            self.eat(b',')?;
        }
    }

    fn enter_element(&mut self, index: usize) -> Option<()> {
        self.eat(b'[')?;
        for _ in 0..index {
            self.skip_ws();
            self.skip_value()?;
            self.eat(b',')?;
        }
        Some(())
    }

    fn skip_string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => self.pos += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                    self.pos += 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let text = r#"{"a": [1, {"b": "x\"y", "c": [true, null]}], "d": {}}"#;
        let at = |path: JsonPath| locate(text, &path).map(|r| &text[r]);
        let root = JsonPath::default();
        assert_eq!(at(root.key("a").index(1).key("b")), Some(r#""x\"y""#));
        assert_eq!(at(root.key("a").index(1).key("c").index(1)), Some("null"));
        assert_eq!(at(root.key("d")), Some("{}"));
        assert_eq!(at(root.key("a").index(0)), Some("1"));
        assert_eq!(at(root.key("z")), None);
        assert_eq!(at(root.key("a").index(5)), None);
        assert_eq!(root.key("a").index(1).to_string(), "$.a[1]");
    }

    #[test]
    fn decoded_offsets_map_to_raw_ones() {
        let literal = r#""a\"b\u00e9c""#;
        assert_eq!(raw_offset(literal, 0), 1);
        assert_eq!(raw_offset(literal, 1), 2);
        assert_eq!(raw_offset(literal, 2), 4);
        assert_eq!(raw_offset(literal, 3), 5);
        assert_eq!(
            raw_offset(literal, 5),
            11,
            "é is two bytes decoded, six raw"
        );
    }
}
