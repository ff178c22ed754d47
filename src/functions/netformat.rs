//! .NET date and time format strings (invariant culture), for FormatDateTime: the custom
//! specifiers (`yyyy`, `MM`, `dd`, `HH`, `hh`, `mm`, `ss`, `f`…, `F`…, `tt`, `zzz`, `K`,
//! quoted and escaped literals) and the standard one-letter formats, read into tokens
//! once, then used to parse exactly and to write.

use jiff::civil::{DateTime, Weekday};
use jiff::tz::Offset;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Year(u8),
    Month(u8),
    Day(u8),
    Hour12(u8),
    Hour24(u8),
    Minute(u8),
    Second(u8),
    /// `f` (exactly this many digits) or `F` (at most, trailing zeros dropped).
    Fraction {
        digits: u8,
        trim: bool,
    },
    AmPm(u8),
    Offset(u8),
    /// `K`: `Z` for UTC, the offset when one is known, nothing otherwise.
    Kind,
    Literal(String),
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The custom pattern a standard (one-letter) format stands for, in the invariant culture.
fn standard(format: &str) -> Option<&'static str> {
    Some(match format {
        "d" => "MM/dd/yyyy",
        "D" => "dddd, dd MMMM yyyy",
        "f" => "dddd, dd MMMM yyyy HH:mm",
        "F" => "dddd, dd MMMM yyyy HH:mm:ss",
        "g" => "MM/dd/yyyy HH:mm",
        "G" => "MM/dd/yyyy HH:mm:ss",
        "M" | "m" => "MMMM dd",
        "O" | "o" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
        "R" | "r" => "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
        "s" => "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        "t" => "HH:mm",
        "T" => "HH:mm:ss",
        "u" => "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        "Y" | "y" => "yyyy MMMM",
        _ => return None,
    })
}

/// Reads a format string into tokens. Errors say what is wrong with the format.
pub fn tokens(format: &str) -> Result<Vec<Token>, String> {
    if format.is_empty() {
        return Err("the format is empty".into());
    }
    let format = standard(format).unwrap_or(format);
    let chars: Vec<char> = format.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let literal = |out: &mut Vec<Token>, c: char| match out.last_mut() {
        Some(Token::Literal(s)) => s.push(c),
        _ => out.push(Token::Literal(c.to_string())),
    };
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let width = run.min(u8::MAX as usize) as u8;
        let token = match c {
            'y' => Token::Year(width),
            'M' => Token::Month(width.min(4)),
            'd' => Token::Day(width.min(4)),
            'h' => Token::Hour12(width.min(2)),
            'H' => Token::Hour24(width.min(2)),
            'm' => Token::Minute(width.min(2)),
            's' => Token::Second(width.min(2)),
            'f' | 'F' if run > 7 => {
                return Err(format!(
                    "`{}` asks for more than 7 fraction digits",
                    c.to_string().repeat(run)
                ))
            }
            'f' | 'F' => Token::Fraction {
                digits: width,
                trim: c == 'F',
            },
            't' => Token::AmPm(width.min(2)),
            'z' => Token::Offset(width.min(3)),
            'K' => {
                out.push(Token::Kind);
                i += 1;
                continue;
            }
            '\'' | '"' => {
                let close = chars[i + 1..].iter().position(|&x| x == c).ok_or_else(|| {
                    format!("the quote {c} at position {} is never closed", i + 1)
                })?;
                for &x in &chars[i + 1..i + 1 + close] {
                    literal(&mut out, x);
                }
                i += close + 2;
                continue;
            }
            '\\' => {
                let escaped = *chars
                    .get(i + 1)
                    .ok_or("the format ends with a lone backslash")?;
                literal(&mut out, escaped);
                i += 2;
                continue;
            }
            '%' => {
                // `%d` is the one-letter custom specifier, not the standard format.
                i += 1;
                continue;
            }
            other => {
                literal(&mut out, other);
                i += 1;
                continue;
            }
        };
        out.push(token);
        i += run;
    }
    Ok(out)
}

/// A date and time read from text, with its offset when the text had one.
pub struct Parsed {
    pub datetime: DateTime,
    pub offset: Option<Offset>,
}

/// Parses `input` exactly against the tokens (leading and trailing white space allowed).
pub fn parse(input: &str, tokens: &[Token]) -> Result<Parsed, String> {
    let mut reader = Reader {
        text: input.trim(),
        at: 0,
    };
    let (mut year, mut month, mut day) = (1i16, 1i8, 1i8);
    let (mut hour, mut minute, mut second, mut nanos) = (0i8, 0i8, 0i8, 0i32);
    let mut pm: Option<bool> = None;
    let mut offset = None;
    for token in tokens {
        match *token {
            Token::Year(2) => year = two_digit_year(reader.number(2, 2)?),
            Token::Year(w) if w >= 4 => year = reader.number(w as usize, w as usize)? as i16,
            Token::Year(w) => year = reader.number(w as usize, 4)? as i16,
            Token::Month(w @ 1..=2) => month = reader.number(w as usize, 2)? as i8,
            Token::Month(w) => month = reader.name(&MONTHS, w == 3)? as i8 + 1,
            Token::Day(w @ 1..=2) => day = reader.number(w as usize, 2)? as i8,
            Token::Day(w) => drop(reader.name(&DAYS, w == 3)?),
            Token::Hour12(w) => hour = reader.number(w as usize, 2)? as i8,
            Token::Hour24(w) => hour = reader.number(w as usize, 2)? as i8,
            Token::Minute(w) => minute = reader.number(w as usize, 2)? as i8,
            Token::Second(w) => second = reader.number(w as usize, 2)? as i8,
            Token::Fraction { digits, trim } => {
                let min = if trim { 0 } else { digits as usize };
                let (value, read) = reader.digits(min, digits as usize)?;
                nanos = (value * 10i64.pow(9 - read as u32)) as i32;
            }
            Token::AmPm(w) => pm = Some(reader.am_pm(w)?),
            Token::Offset(w) => offset = Some(reader.offset(w)?),
            Token::Kind => offset = reader.kind()?,
            Token::Literal(ref text) => reader.literal(text)?,
        }
    }
    if reader.at < reader.text.len() {
        return Err(format!(
            "unexpected {:?} after the date",
            &reader.text[reader.at..]
        ));
    }
    if let Some(pm) = pm {
        if !(1..=12).contains(&hour) {
            return Err(format!("hour {hour} with AM/PM"));
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let datetime = DateTime::new(year, month, day, hour, minute, second, nanos)
        .map_err(|_| format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} is not a valid date and time"))?;
    Ok(Parsed { datetime, offset })
}

/// .NET's default window for two-digit years: 00–49 are 2000–2049.
fn two_digit_year(yy: i64) -> i16 {
    if yy < 50 {
        2000 + yy as i16
    } else {
        1900 + yy as i16
    }
}

struct Reader<'t> {
    text: &'t str,
    at: usize,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn fail(&self, what: &str) -> String {
        match self.rest().chars().next() {
            Some(c) => format!("expected {what} at position {}, found {c:?}", self.at + 1),
            None => format!("expected {what} at the end"),
        }
    }

    fn digits(&mut self, min: usize, max: usize) -> Result<(i64, usize), String> {
        let count = self
            .rest()
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if count < min {
            return Err(self.fail(&format!("{min} digit{}", if min == 1 { "" } else { "s" })));
        }
        let value = self.rest()[..count].parse().unwrap_or(0);
        self.at += count;
        Ok((value, count))
    }

    fn number(&mut self, min: usize, max: usize) -> Result<i64, String> {
        self.digits(min, max).map(|(value, _)| value)
    }

    fn name(&mut self, names: &[&str], abbreviated: bool) -> Result<usize, String> {
        for (i, name) in names.iter().enumerate() {
            let name = if abbreviated { &name[..3] } else { name };
            if self
                .rest()
                .get(..name.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(name))
            {
                self.at += name.len();
                return Ok(i);
            }
        }
        Err(self.fail(if abbreviated {
            "an abbreviated name"
        } else {
            "a name"
        }))
    }

    fn am_pm(&mut self, width: u8) -> Result<bool, String> {
        let len = if width == 1 { 1 } else { 2 };
        let word = self.rest().get(..len).map(str::to_ascii_uppercase);
        let pm = match word.as_deref() {
            Some("AM" | "A") => false,
            Some("PM" | "P") => true,
            _ => return Err(self.fail("AM or PM")),
        };
        self.at += len;
        Ok(pm)
    }

    fn offset(&mut self, width: u8) -> Result<Offset, String> {
        let sign = match self.rest().as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(self.fail("an offset such as +02:00")),
        };
        self.at += 1;
        let hours = self.number(if width == 1 { 1 } else { 2 }, 2)?;
        let mut minutes = 0;
        if width == 3 {
            self.literal(":")?;
            minutes = self.number(2, 2)?;
        }
        Offset::from_seconds(sign * (hours * 3600 + minutes * 60) as i32).map_err(|e| e.to_string())
    }

    fn kind(&mut self) -> Result<Option<Offset>, String> {
        match self.rest().as_bytes().first() {
            Some(b'Z') => {
                self.at += 1;
                Ok(Some(Offset::UTC))
            }
            Some(b'+' | b'-') => self.offset(3).map(Some),
            _ => Ok(None),
        }
    }

    fn literal(&mut self, text: &str) -> Result<(), String> {
        if self.rest().starts_with(text) {
            self.at += text.len();
            Ok(())
        } else {
            Err(self.fail(&format!("{text:?}")))
        }
    }
}

/// Writes a date and time with the tokens. Without an offset, `zzz` writes `+00:00`.
pub fn format(datetime: DateTime, offset: Option<Offset>, tokens: &[Token]) -> String {
    let mut out = String::with_capacity(32);
    let d = datetime;
    for token in tokens {
        match *token {
            Token::Year(w @ 1..=2) => number(&mut out, i32::from(d.year() % 100), w),
            Token::Year(w) => number(&mut out, i32::from(d.year()), w),
            Token::Month(w @ 1..=2) => number(&mut out, i32::from(d.month()), w),
            Token::Month(w) => out.push_str(name(MONTHS[d.month() as usize - 1], w == 3)),
            Token::Day(w @ 1..=2) => number(&mut out, i32::from(d.day()), w),
            Token::Day(w) => out.push_str(name(DAYS[weekday(d.weekday())], w == 3)),
            Token::Hour12(w) => number(&mut out, i32::from((d.hour() + 11) % 12 + 1), w),
            Token::Hour24(w) => number(&mut out, i32::from(d.hour()), w),
            Token::Minute(w) => number(&mut out, i32::from(d.minute()), w),
            Token::Second(w) => number(&mut out, i32::from(d.second()), w),
            Token::Fraction { digits, trim } => {
                let all = format!("{:09}", d.subsec_nanosecond());
                let shown = &all[..digits as usize];
                out.push_str(if trim {
                    shown.trim_end_matches('0')
                } else {
                    shown
                });
            }
            Token::AmPm(w) => {
                let text = if d.hour() < 12 { "AM" } else { "PM" };
                out.push_str(&text[..if w == 1 { 1 } else { 2 }]);
            }
            Token::Offset(w) => write_offset(&mut out, offset.unwrap_or(Offset::UTC), w),
            Token::Kind => match offset {
                Some(o) if o == Offset::UTC => out.push('Z'),
                Some(o) => write_offset(&mut out, o, 3),
                None => {}
            },
            Token::Literal(ref text) => out.push_str(text),
        }
    }
    out
}

/// A number padded with zeros to `width` digits, without the formatting machinery:
/// writing dates is the hot part of FormatDateTime.
fn number(out: &mut String, n: i32, width: u8) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    for _ in digits.len() - at..width as usize {
        out.push('0');
    }
    out.extend(digits[at..].iter().map(|&b| b as char));
}

fn name(full: &str, abbreviated: bool) -> &str {
    if abbreviated {
        &full[..3]
    } else {
        full
    }
}

fn weekday(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

fn write_offset(out: &mut String, offset: Offset, width: u8) {
    let seconds = offset.seconds();
    out.push(if seconds < 0 { '-' } else { '+' });
    let (hours, minutes) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    number(out, hours, if width == 1 { 1 } else { 2 });
    if width >= 3 {
        out.push(':');
        number(out, minutes, 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reformat(input: &str, from: &str, to: &str) -> Result<String, String> {
        let parsed = parse(input, &tokens(from)?)?;
        Ok(format(parsed.datetime, parsed.offset, &tokens(to)?))
    }

    #[test]
    fn documented_formats() {
        assert_eq!(
            reformat("20150123105347.1Z", "yyyyMMddHHmmss.fZ", "yyyy-MM-dd").unwrap(),
            "2015-01-23"
        );
        assert_eq!(
            reformat("2020-12-31-08:00", "yyyy-MM-ddzzz", "yyyy-MM-dd").unwrap(),
            "2020-12-31"
        );
        assert_eq!(
            reformat(
                "12/31/2021 12:00:00 AM",
                "M/d/yyyy hh:mm:ss tt",
                "yyyy-MM-dd"
            )
            .unwrap(),
            "2021-12-31"
        );
        assert_eq!(
            reformat(
                "2021-02-03T04:05:06.7890000+02:00",
                "o",
                "dddd, MMMM d, yy h:mm tt zzz"
            )
            .unwrap(),
            "Wednesday, February 3, 21 4:05 AM +02:00"
        );
        assert_eq!(
            reformat(
                "2021-02-03 16:05",
                "yyyy-MM-dd HH:mm",
                "'at' hh\\h mm, FFF|fff"
            )
            .unwrap(),
            "at 04h 05, |000"
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(tokens("yyyy-MM-dd'T").unwrap_err().contains("never closed"));
        assert!(reformat("2021-13-01", "yyyy-MM-dd", "d")
            .unwrap_err()
            .contains("not a valid date"));
        assert!(reformat("2021/01/01", "yyyy-MM-dd", "d")
            .unwrap_err()
            .contains("expected \"-\""));
        assert!(reformat("2021-01-01x", "yyyy-MM-dd", "d")
            .unwrap_err()
            .contains("unexpected"));
    }
}
