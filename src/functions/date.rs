//! Dates: CDate, DateAdd, DateDiff, DateFromNum, NumFromDate. Calendar arithmetic is
//! jiff's; a date-time value is an instant, shown in UTC.

use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, Timestamp, ToSpan};

use super::netformat::{self, Token};
use super::{Args, Fault, Prepared, Site};
use crate::diagnostic::{Code, Diagnostic};
use crate::value::Value;

/// Reads the date-time forms Entra's sources produce: ISO 8601 with or without an
/// offset (`2009-06-15T01:45:30-07:00`, `2021-12-31 23:59:59-08:00`, `2021-08-24`),
/// a date followed directly by an offset (Workday's `2020-03-16-07:00`), and the US
/// form `8/25/2021 5:41:18 PM`. Without an offset the time is taken as UTC.
pub(crate) fn parse_datetime(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    if let Some(t) = date_with_offset(text) {
        return Some(t);
    }
    if let Ok(dt) = text.parse::<DateTime>() {
        return TimeZone::UTC.to_timestamp(dt).ok();
    }
    us_datetime(text)
}

/// `yyyy-MM-dd±hh:mm`: midnight at that offset.
fn date_with_offset(text: &str) -> Option<Timestamp> {
    if text.len() != 16 || !text.is_char_boundary(10) {
        return None;
    }
    let (date, offset) = text.split_at(10);
    let date: Date = date.parse().ok()?;
    let sign = match offset.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let seconds = sign * (hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60);
    let offset = Offset::from_seconds(seconds).ok()?;
    offset
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .ok()
}

/// `M/d/yyyy`, optionally followed by `h:mm[:ss] [AM|PM]`, in UTC.
fn us_datetime(text: &str) -> Option<Timestamp> {
    let mut parts = text.split_whitespace();
    let mut date = parts.next()?.split('/');
    let (month, day, year) = (
        date.next()?.parse().ok()?,
        date.next()?.parse().ok()?,
        date.next()?.parse().ok()?,
    );
    if date.next().is_some() {
        return None;
    }
    let (mut hour, mut minute, mut second) = (0i8, 0i8, 0i8);
    if let Some(time) = parts.next() {
        let mut fields = time.split(':');
        hour = fields.next()?.parse().ok()?;
        minute = fields.next()?.parse().ok()?;
        second = fields.next().map_or(Some(0), |s| s.parse().ok())?;
        match parts.next().map(str::to_ascii_uppercase).as_deref() {
            None => {}
            Some("AM") if (1..=12).contains(&hour) => hour %= 12,
            Some("PM") if (1..=12).contains(&hour) => hour = hour % 12 + 12,
            Some(_) => return None,
        }
    }
    if parts.next().is_some() {
        return None;
    }
    let dt = DateTime::new(year, month, day, hour, minute, second, 0).ok()?;
    TimeZone::UTC.to_timestamp(dt).ok()
}

impl Args<'_, '_> {
    /// A date-time argument: a date-time value, or text in one of the forms `CDate` reads.
    pub(crate) fn datetime(&mut self, i: usize) -> Result<Option<Timestamp>, Fault> {
        match self.peek(i) {
            Value::DateTime(t) => Ok(Some(*t)),
            _ => match self.text(i)? {
                None => Ok(None),
                Some(text) => parse_datetime(&text).map(Some).ok_or_else(|| {
                    Fault::arg(i, format!("{text:?} is not a date and time CDate can read"))
                }),
            },
        }
    }

    fn interval(&mut self, i: usize) -> Result<Interval, Fault> {
        let code = self.text(i)?.unwrap_or_default();
        Interval::parse(&code).ok_or_else(|| {
            Fault::arg(
                i,
                format!("{code:?} is not an interval: use yyyy, q, m, y, d, w, ww, h, n or s"),
            )
        })
    }
}

pub fn cdate<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(args.datetime(0)?.map_or(Value::Null, Value::DateTime))
}

/// VB's interval codes. Entra documents yyyy, m, d, ww, h, n and s; VB's q (quarter),
/// y (day of year) and w (weekday) are accepted too, with VB's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interval {
    Year,
    Quarter,
    Month,
    Day,
    Weekday,
    Week,
    Hour,
    Minute,
    Second,
}

impl Interval {
    fn parse(code: &str) -> Option<Interval> {
        Some(match code.trim() {
            "yyyy" => Interval::Year,
            "q" => Interval::Quarter,
            "m" => Interval::Month,
            "y" | "d" => Interval::Day,
            "w" => Interval::Weekday,
            "ww" => Interval::Week,
            "h" => Interval::Hour,
            "n" => Interval::Minute,
            "s" => Interval::Second,
            _ => return None,
        })
    }
}

fn utc(t: Timestamp) -> DateTime {
    TimeZone::UTC.to_datetime(t)
}

pub fn date_add<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let interval = args.interval(0)?;
    let amount = args.required_int(1)?;
    let Some(start) = args.datetime(2)? else {
        return Ok(Value::Null);
    };
    let out_of_range = || {
        Fault::arg(
            1,
            format!("{amount} takes the date out of the supported range (years 1 to 9999)"),
        )
    };
    let amount = i32::try_from(amount).map_err(|_| out_of_range())?;
    let fixed = |unit: i64| {
        let duration = jiff::SignedDuration::from_secs(i64::from(amount).checked_mul(unit)?);
        start.checked_add(duration).ok()
    };
    // Months and years on the civil date-time, as .NET's AddMonths does: Jan 31 + 1 month
    // is the last day of February. Days and shorter are fixed lengths in UTC.
    let calendar = |span: Span| {
        utc(start)
            .checked_add(span)
            .ok()
            .and_then(|dt| TimeZone::UTC.to_timestamp(dt).ok())
    };
    let result = match interval {
        Interval::Year => calendar(amount.years()),
        Interval::Quarter => calendar(amount.checked_mul(3).ok_or_else(out_of_range)?.months()),
        Interval::Month => calendar(amount.months()),
        Interval::Day | Interval::Weekday => fixed(86_400),
        Interval::Week => fixed(7 * 86_400),
        Interval::Hour => fixed(3_600),
        Interval::Minute => fixed(60),
        Interval::Second => fixed(1),
    };
    result.map(Value::DateTime).ok_or_else(out_of_range)
}

/// VB's DateDiff: calendar parts for years, quarters and months; week boundaries
/// (Sundays) crossed for `ww`; whole elapsed units, truncated, for the rest.
pub fn date_diff<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let interval = args.interval(0)?;
    let (Some(from), Some(to)) = (args.datetime(1)?, args.datetime(2)?) else {
        return Ok(Value::Null);
    };
    let (a, b) = (utc(from), utc(to));
    let months = |d: DateTime| i64::from(d.year()) * 12 + i64::from(d.month()) - 1;
    // Whole seconds elapsed, truncated toward zero (i128 division does that).
    let seconds = ((to.as_nanosecond() - from.as_nanosecond()) / 1_000_000_000) as i64;
    let sunday = |d: DateTime| {
        d.date()
            .checked_sub(i64::from(d.weekday().to_sunday_zero_offset()).days())
    };
    Ok(Value::Int(match interval {
        Interval::Year => i64::from(b.year()) - i64::from(a.year()),
        Interval::Quarter => months(b) / 3 - months(a) / 3,
        Interval::Month => months(b) - months(a),
        Interval::Day => seconds / 86_400,
        Interval::Weekday => seconds / (7 * 86_400),
        Interval::Week => match (sunday(a), sunday(b)) {
            (Ok(x), Ok(y)) => {
                i64::from(
                    x.until(y)
                        .map_err(|e| Fault::arg(2, e.to_string()))?
                        .get_days(),
                ) / 7
            }
            _ => return Err(Fault::arg(2, "is out of the supported range")),
        },
        Interval::Hour => seconds / 3_600,
        Interval::Minute => seconds / 60,
        Interval::Second => seconds,
    }))
}

/// 100-nanosecond ticks between 1601-01-01 and 1970-01-01 (Windows FILETIME).
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// Active Directory's integer dates. `0` and `0x7FFFFFFFFFFFFFFF` mean "never" in
/// `accountExpires`, so they give null rather than a date.
pub fn date_from_num<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Some(ticks) = args.int(0)? else {
        return Ok(Value::Null);
    };
    if ticks == 0 || ticks == i64::MAX {
        return Ok(Value::Null);
    }
    let since_unix = i128::from(ticks) - i128::from(FILETIME_UNIX_EPOCH);
    let nanos = since_unix * 100;
    i64::try_from(nanos.div_euclid(1_000_000_000))
        .ok()
        .and_then(|secs| Timestamp::new(secs, nanos.rem_euclid(1_000_000_000) as i32).ok())
        .map(Value::DateTime)
        .ok_or_else(|| {
            Fault::arg(
                0,
                format!("{ticks} is outside the dates scimap can represent (years 1 to 9999)"),
            )
        })
}

pub fn num_from_date<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Some(t) = args.datetime(0)? else {
        return Ok(Value::Null);
    };
    let ticks = i128::from(t.as_second()) * 10_000_000 + i128::from(t.subsec_nanosecond() / 100);
    let ticks = ticks + i128::from(FILETIME_UNIX_EPOCH);
    i64::try_from(ticks)
        .ok()
        .filter(|t| *t >= 0)
        .map(Value::Int)
        .ok_or_else(|| {
            Fault::arg(
                0,
                "is before 1601, which Active Directory dates cannot hold",
            )
        })
}

const SOURCE: usize = 0;
const STYLES: usize = 1;
const INPUT: usize = 2;
const OUTPUT: usize = 3;

/// Constant formats are read once, and a bad one is a compile-time error.
pub(super) fn prepare_formats(site: &Site<'_>) -> Result<Prepared, Diagnostic> {
    let read = |i: usize| -> Result<Option<Vec<Token>>, Diagnostic> {
        match site.literal(i) {
            None => Ok(None),
            Some(format) => netformat::tokens(format).map(Some).map_err(|why| {
                Diagnostic::error(Code::InvalidFormat, "invalid date and time format")
                    .at(site.span(i), why)
            }),
        }
    };
    if let Some(styles) = site.literal(STYLES) {
        adjust_to_universal(styles).map_err(|why| {
            Diagnostic::error(Code::InvalidFormat, "invalid date and time styles")
                .at(site.span(STYLES), why)
        })?;
    }
    Ok(Prepared::DateFormats(read(INPUT)?, read(OUTPUT)?))
}

/// The .NET `DateTimeStyles` FormatDateTime's second slot may name (`|` or `,`
/// between several). Only `AdjustToUniversal` changes the result here: without a
/// local time zone, `AssumeLocal` and `AssumeUniversal` both mean UTC.
fn adjust_to_universal(styles: &str) -> Result<bool, String> {
    let mut adjust = false;
    for style in styles
        .split(['|', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match style {
            "AdjustToUniversal" => adjust = true,
            "None"
            | "AllowLeadingWhite"
            | "AllowTrailingWhite"
            | "AllowInnerWhite"
            | "AllowWhiteSpaces"
            | "NoCurrentDateDefault"
            | "AssumeLocal"
            | "AssumeUniversal"
            | "RoundtripKind" => {}
            other => return Err(format!("{other:?} is not a DateTimeStyles name")),
        }
    }
    Ok(adjust)
}

/// Reads a text source: exactly as the input format says, or as `CDate` reads dates
/// when the input format slot is empty.
fn read_source(
    args: &mut Args<'_, '_>,
    text: &str,
    prepared: Option<&[Token]>,
) -> Result<(DateTime, Option<jiff::tz::Offset>), Fault> {
    let runtime;
    let tokens = match (prepared, args.text(INPUT)?) {
        (Some(tokens), _) => tokens,
        (None, Some(format)) => {
            runtime = netformat::tokens(&format).map_err(|m| Fault::arg(INPUT, m))?;
            &runtime
        }
        (None, None) => {
            let t = parse_datetime(text).ok_or_else(|| {
                Fault::arg(
                    SOURCE,
                    format!("{text:?} is not a date and time CDate can read"),
                )
            })?;
            return Ok((utc(t), Some(jiff::tz::Offset::UTC)));
        }
    };
    let parsed = netformat::parse(text, tokens).map_err(|why| {
        Fault::arg(
            SOURCE,
            format!("{text:?} does not match the input format: {why}"),
        )
    })?;
    Ok((parsed.datetime, parsed.offset))
}

/// Reads `source` exactly as `inputFormat` says and writes it as `outputFormat` says.
/// A date-time value (from `CDate`, `Now`) needs no input format. The offset read from
/// the input is kept, unless the styles say `AdjustToUniversal`.
pub fn format_date_time<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Prepared::DateFormats(input, output) = args.prepared else {
        unreachable!("FormatDateTime call sites are always prepared")
    };
    let styles = args.text(STYLES)?.unwrap_or_default();
    let adjust = adjust_to_universal(&styles).map_err(|m| Fault::arg(STYLES, m))?;
    let runtime_output;
    let output = match output {
        Some(tokens) => tokens,
        None => {
            let format = args
                .text(OUTPUT)?
                .ok_or_else(|| Fault::arg(OUTPUT, "is null"))?;
            runtime_output = netformat::tokens(&format).map_err(|m| Fault::arg(OUTPUT, m))?;
            &runtime_output
        }
    };
    let (datetime, offset) = match args.take(SOURCE) {
        Value::Null => return Ok(Value::Null),
        Value::DateTime(t) => (utc(t), Some(jiff::tz::Offset::UTC)),
        source => {
            let text = match source {
                Value::Str(s) => s,
                other => other
                    .as_text()
                    .map(|t| t.into_owned().into())
                    .ok_or_else(|| {
                        Fault::kind(
                            SOURCE,
                            format!("expects a single value, got {}", other.kind()),
                        )
                    })?,
            };
            read_source(args, &text, input.as_deref())?
        }
    };
    let (datetime, offset) = match (adjust, offset) {
        (true, Some(o)) if o != jiff::tz::Offset::UTC => {
            let instant = o
                .to_timestamp(datetime)
                .map_err(|e| Fault::arg(SOURCE, e.to_string()))?;
            (utc(instant), Some(jiff::tz::Offset::UTC))
        }
        (true, None) => (datetime, Some(jiff::tz::Offset::UTC)),
        kept => (datetime, kept.1),
    };
    Ok(Value::string(netformat::format(datetime, offset, output)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: Option<Timestamp>) -> String {
        t.map(crate::value::format_entra_datetime)
            .unwrap_or_default()
    }

    #[test]
    fn forms_cdate_reads() {
        assert_eq!(
            text(parse_datetime("2020-03-16-07:00")),
            "3/16/2020 7:00:00 AM"
        );
        assert_eq!(
            text(parse_datetime("2021-06-30+08:00")),
            "6/29/2021 4:00:00 PM"
        );
        assert_eq!(
            text(parse_datetime("2009-06-15T01:45:30-07:00")),
            "6/15/2009 8:45:30 AM"
        );
        assert_eq!(
            text(parse_datetime("8/25/2021 5:41:18 PM")),
            "8/25/2021 5:41:18 PM"
        );
        assert_eq!(
            text(parse_datetime("12/31/2021 12:00:00 AM")),
            "12/31/2021 12:00:00 AM"
        );
        assert_eq!(text(parse_datetime("2021-08-24")), "8/24/2021 12:00:00 AM");
        assert_eq!(parse_datetime("2021-02-30"), None);
        assert_eq!(parse_datetime("13/1/2021"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
