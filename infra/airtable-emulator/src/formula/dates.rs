//! Dates in formulas, in GMT as Airtable evaluates them without `SET_TIMEZONE`: reading a date from a
//! cell or text (ISO 8601, `YYYY-MM-DD`, a few common forms, or a moment.js-style format), units
//! (`'days'`, `'M'`, …), moment.js-style output formats, and calendar arithmetic.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};

use super::eval::{Out, Val, fits};

/// A date from a value: a date, or text that reads as one (a list of one reads as its item).
pub fn to_date(value: &Val) -> Option<DateTime<Utc>> {
    match value {
        Val::Date(d) => Some(*d),
        Val::Text(s) => parse(s),
        Val::List(items) if items.len() == 1 => to_date(&items[0]),
        _ => None,
    }
}

/// A date argument: `Ok(None)` when blank (the function's answer is then blank), an error when it is not
/// a date at all.
pub fn date_arg(value: &Val) -> Result<Option<DateTime<Utc>>, String> {
    if value.is_blank() {
        return Ok(None);
    }
    to_date(value).map(Some).ok_or_else(|| format!("'{}' is not a date", value.text()))
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), format) {
            return Some(d.and_utc());
        }
    }
    ["%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y"]
        .into_iter()
        .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// `DATETIME_PARSE(text, [format])`: with a moment.js-style format, or as [`to_date`] reads it.
pub fn parse_with(value: &Val, format: Option<&str>) -> Out {
    if value.is_blank() {
        return Ok(Val::Blank);
    }
    let Some(format) = format.filter(|f| !f.is_empty()) else {
        return date_arg(value).map(|d| d.map_or(Val::Blank, Val::Date));
    };
    let text = value.text();
    let pattern = strftime_of(format);
    let parsed = DateTime::parse_from_str(&text, &pattern)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(&text, &pattern).ok().map(|d| d.and_utc()))
        .or_else(|| {
            NaiveDate::parse_from_str(&text, &pattern).ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
        });
    parsed.map(Val::Date).ok_or_else(|| format!("'{text}' does not match the format '{format}'"))
}

/// A moment.js-style parse format as chrono's strftime: the tokens people use for input formats.
fn strftime_of(format: &str) -> String {
    const TOKENS: &[(&str, &str)] = &[
        ("YYYY", "%Y"),
        ("YY", "%y"),
        ("MMMM", "%B"),
        ("MMM", "%b"),
        ("MM", "%m"),
        ("M", "%m"),
        ("DD", "%d"),
        ("D", "%d"),
        ("HH", "%H"),
        ("H", "%H"),
        ("hh", "%I"),
        ("h", "%I"),
        ("mm", "%M"),
        ("m", "%M"),
        ("ss", "%S"),
        ("s", "%S"),
        ("SSS", "%3f"),
        ("A", "%p"),
        ("a", "%p"),
        ("ZZ", "%z"),
        ("Z", "%:z"),
        ("X", "%s"),
    ];
    let mut out = String::new();
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            let end = rest.find(']').unwrap_or(rest.len());
            out.push_str(&rest[1..end].replace('%', "%%"));
            rest = rest.get(end + 1..).unwrap_or("");
        } else if let Some((token, spec)) = TOKENS.iter().find(|(t, _)| rest.starts_with(t)) {
            out.push_str(spec);
            rest = &rest[token.len()..];
        } else {
            out.push_str(if c == '%' { "%%" } else { &rest[..c.len_utf8()] });
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// `DATETIME_FORMAT(date, [format])`: moment.js-style tokens (`YYYY-MM-DD`, `LL`, `[literal]`…);
/// without a format, ISO 8601.
pub fn format(date: DateTime<Utc>, format: Option<&str>) -> Out {
    let Some(format) = format.filter(|f| !f.is_empty()) else {
        return Ok(Val::Text(Val::Date(date).text()));
    };
    fits(format.len().saturating_mul(16))?;
    let mut out = String::with_capacity(format.len() * 2);
    format_into(&mut out, date, format, true);
    Ok(Val::Text(out))
}

const LOCALISED: &[(&str, &str)] = &[
    ("LLLL", "dddd, MMMM D, YYYY h:mm A"),
    ("LLL", "MMMM D, YYYY h:mm A"),
    ("LL", "MMMM D, YYYY"),
    ("LTS", "h:mm:ss A"),
    ("LT", "h:mm A"),
    ("L", "MM/DD/YYYY"),
    ("llll", "ddd, MMM D, YYYY h:mm A"),
    ("lll", "MMM D, YYYY h:mm A"),
    ("ll", "MMM D, YYYY"),
    ("l", "M/D/YYYY"),
];

const FORMAT_TOKENS: &[&str] = &[
    "YYYY", "YY", "Q", "MMMM", "MMM", "MM", "M", "DDDD", "DDD", "Do", "DD", "D", "dddd", "ddd", "dd", "d", "E", "e",
    "WW", "W", "ww", "w", "HH", "H", "hh", "h", "kk", "k", "mm", "m", "ss", "s", "SSS", "SS", "S", "A", "a", "ZZ", "Z",
    "X", "x",
];

/// `localised`: whether `L…` tokens expand (their expansions contain none, so this recurses at most once).
fn format_into(out: &mut String, d: DateTime<Utc>, format: &str, localised: bool) {
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            let end = rest.find(']').unwrap_or(rest.len());
            out.push_str(&rest[1..end]);
            rest = rest.get(end + 1..).unwrap_or("");
            continue;
        }
        if localised && let Some((token, expansion)) = LOCALISED.iter().find(|(t, _)| rest.starts_with(t)) {
            format_into(out, d, expansion, false);
            rest = &rest[token.len()..];
            continue;
        }
        match FORMAT_TOKENS.iter().find(|t| rest.starts_with(**t)) {
            Some(token) => {
                out.push_str(&token_text(d, token));
                rest = &rest[token.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
}

fn token_text(d: DateTime<Utc>, token: &str) -> String {
    let hour12 = match d.hour() % 12 {
        0 => 12,
        h => h,
    };
    match token {
        "YYYY" => format!("{:04}", d.year()),
        "YY" => format!("{:02}", d.year().rem_euclid(100)),
        "Q" => ((d.month0() / 3) + 1).to_string(),
        "MMMM" => d.format("%B").to_string(),
        "MMM" => d.format("%b").to_string(),
        "MM" => format!("{:02}", d.month()),
        "M" => d.month().to_string(),
        "DDDD" => format!("{:03}", d.ordinal()),
        "DDD" => d.ordinal().to_string(),
        "Do" => ordinal(d.day()),
        "DD" => format!("{:02}", d.day()),
        "D" => d.day().to_string(),
        "dddd" => d.format("%A").to_string(),
        "ddd" => d.format("%a").to_string(),
        "dd" => d.format("%a").to_string().chars().take(2).collect(),
        "d" | "e" => d.weekday().num_days_from_sunday().to_string(),
        "E" => d.weekday().number_from_monday().to_string(),
        "WW" => format!("{:02}", d.iso_week().week()),
        "W" => d.iso_week().week().to_string(),
        "ww" => format!("{:02}", us_week(d)),
        "w" => us_week(d).to_string(),
        "HH" => format!("{:02}", d.hour()),
        "H" => d.hour().to_string(),
        "hh" => format!("{hour12:02}"),
        "h" => hour12.to_string(),
        "kk" => format!("{:02}", if d.hour() == 0 { 24 } else { d.hour() }),
        "k" => (if d.hour() == 0 { 24 } else { d.hour() }).to_string(),
        "mm" => format!("{:02}", d.minute()),
        "m" => d.minute().to_string(),
        "ss" => format!("{:02}", d.second()),
        "s" => d.second().to_string(),
        "SSS" => format!("{:03}", d.timestamp_subsec_millis()),
        "SS" => format!("{:02}", d.timestamp_subsec_millis() / 10),
        "S" => (d.timestamp_subsec_millis() / 100).to_string(),
        "A" => if d.hour() < 12 { "AM" } else { "PM" }.into(),
        "a" => if d.hour() < 12 { "am" } else { "pm" }.into(),
        "ZZ" => "+0000".into(),
        "Z" => "+00:00".into(),
        "X" => d.timestamp().to_string(),
        "x" => d.timestamp_millis().to_string(),
        other => other.into(),
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The US week of the year (moment's `w` in the default locale): weeks start on Sunday, and week 1 holds
/// January 1st.
fn us_week(d: DateTime<Utc>) -> u32 {
    let jan1 = d.with_ordinal(1).map_or(0, |j| j.weekday().num_days_from_sunday());
    (d.ordinal0() + jan1) / 7 + 1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    /// Airtable's unit specifiers: full names, plurals, and moment's abbreviations (`M` months, `m` minutes).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match text {
            "M" => return Ok(Self::Month),
            "m" => return Ok(Self::Minute),
            _ => {}
        }
        Ok(match text.to_lowercase().as_str() {
            "ms" | "millisecond" | "milliseconds" => Self::Millisecond,
            "s" | "second" | "seconds" => Self::Second,
            "minute" | "minutes" => Self::Minute,
            "h" | "hour" | "hours" => Self::Hour,
            "d" | "day" | "days" => Self::Day,
            "w" | "week" | "weeks" => Self::Week,
            "month" | "months" => Self::Month,
            "q" | "quarter" | "quarters" => Self::Quarter,
            "y" | "year" | "years" => Self::Year,
            other => return Err(format!("unknown unit '{other}'")),
        })
    }

    /// Milliseconds in one unit, for the units of fixed length.
    fn millis(self) -> Option<i64> {
        Some(match self {
            Self::Millisecond => 1,
            Self::Second => 1_000,
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
            Self::Week => 604_800_000,
            Self::Month | Self::Quarter | Self::Year => return None,
        })
    }

    /// Months in one unit, for the calendar units.
    fn months(self) -> i64 {
        match self {
            Self::Quarter => 3,
            Self::Year => 12,
            _ => 1,
        }
    }
}

/// `DATEADD(date, count, unit)`; calendar units add whole months, clamping to the month's last day.
pub fn add(date: DateTime<Utc>, count: f64, unit: Unit) -> Out {
    let out_of_range = || "the date would be out of range".to_string();
    let moved = match unit.millis() {
        Some(per) => {
            let millis = (count * per as f64).round();
            if !millis.is_finite() || millis.abs() > 1e16 {
                return Err(out_of_range());
            }
            TimeDelta::try_milliseconds(millis as i64).and_then(|delta| date.checked_add_signed(delta))
        }
        None => {
            let months = count.trunc() * unit.months() as f64;
            if !months.is_finite() || months.abs() > 1e6 {
                return Err(out_of_range());
            }
            let months = months as i64;
            let n = Months::new(u32::try_from(months.unsigned_abs()).map_err(|_| out_of_range())?);
            if months >= 0 { date.checked_add_months(n) } else { date.checked_sub_months(n) }
        }
    };
    moved.map(Val::Date).ok_or_else(out_of_range)
}

/// `DATETIME_DIFF(a, b, unit)`: `a - b` in whole units, truncated toward zero (as moment's `diff`).
pub fn diff(a: DateTime<Utc>, b: DateTime<Utc>, unit: Unit) -> f64 {
    match unit.millis() {
        Some(per) => ((a - b).num_milliseconds() / per) as f64,
        None => (whole_months(a, b) / unit.months()) as f64,
    }
}

/// Whole calendar months from `b` to `a` (negative when `a` is earlier), truncated toward zero.
fn whole_months(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    let mut months = i64::from(a.year() - b.year()) * 12 + i64::from(a.month()) - i64::from(b.month());
    let shifted = |m: i64| {
        let n = Months::new(u32::try_from(m.unsigned_abs()).unwrap_or(u32::MAX));
        if m >= 0 { b.checked_add_months(n) } else { b.checked_sub_months(n) }
    };
    if months > 0 && shifted(months).is_none_or(|s| s > a) {
        months -= 1;
    } else if months < 0 && shifted(months).is_none_or(|s| s < a) {
        months += 1;
    }
    months
}

/// The start of the unit `date` falls in (weeks start on Sunday, as in Airtable's default locale).
pub fn start_of(date: DateTime<Utc>, unit: Unit) -> DateTime<Utc> {
    let day = date.date_naive();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map_or(date, |d| d.and_utc());
    let first_of = |month0: u32| NaiveDate::from_ymd_opt(date.year(), month0 + 1, 1).map_or(date, midnight);
    match unit {
        Unit::Millisecond => date.with_nanosecond(date.timestamp_subsec_millis() * 1_000_000).unwrap_or(date),
        Unit::Second => date.with_nanosecond(0).unwrap_or(date),
        Unit::Minute => date.with_nanosecond(0).and_then(|d| d.with_second(0)).unwrap_or(date),
        Unit::Hour => {
            date.with_nanosecond(0).and_then(|d| d.with_second(0)).and_then(|d| d.with_minute(0)).unwrap_or(date)
        }
        Unit::Day => midnight(day),
        Unit::Week => {
            let back = TimeDelta::days(i64::from(day.weekday().num_days_from_sunday()));
            day.checked_sub_signed(back).map_or(date, midnight)
        }
        Unit::Month => first_of(date.month0()),
        Unit::Quarter => first_of(date.month0() / 3 * 3),
        Unit::Year => first_of(0),
    }
}

/// `WEEKDAY(date, [start])`: 0 for Sunday … 6 for Saturday, or from Monday with `'Monday'`.
pub fn weekday(date: DateTime<Utc>, start: &str) -> Result<f64, String> {
    let day = date.weekday();
    match start.trim().to_lowercase().as_str() {
        "" | "sunday" => Ok(f64::from(day.num_days_from_sunday())),
        "monday" => Ok(f64::from(day.num_days_from_monday())),
        other => Err(format!("WEEKDAY's start must be 'Sunday' or 'Monday', not '{other}'")),
    }
}

/// Midnight (GMT) of the day `now` falls in.
pub fn today(now: DateTime<Utc>) -> DateTime<Utc> {
    start_of(now, Unit::Day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse(text).unwrap()
    }

    #[test]
    fn dates_are_read_from_iso_text_dates_and_common_forms() {
        assert_eq!(at("2024-03-05").to_rfc3339(), "2024-03-05T00:00:00+00:00");
        assert_eq!(at("2024-03-05T10:20:30.000Z").to_rfc3339(), "2024-03-05T10:20:30+00:00");
        assert_eq!(at("2024-03-05T10:20:30+02:00").to_rfc3339(), "2024-03-05T08:20:30+00:00");
        assert_eq!(at("2024-03-05 10:20").to_rfc3339(), "2024-03-05T10:20:00+00:00");
        assert_eq!(at("3/5/2024"), at("2024-03-05"));
        assert!(parse("soon").is_none());
        assert_eq!(
            parse_with(&Val::Text("05.03.2024 14:30".into()), Some("DD.MM.YYYY HH:mm")).unwrap(),
            Val::Date(at("2024-03-05T14:30:00Z"))
        );
        assert!(parse_with(&Val::Text("nope".into()), Some("YYYY")).is_err());
    }

    #[test]
    fn moment_formats_render_like_airtable() {
        let d = at("2024-03-05T14:07:09.045Z");
        let f = |spec: &str| format(d, Some(spec)).unwrap().text();
        assert_eq!(f("YYYY-MM-DD"), "2024-03-05");
        assert_eq!(f("M/D/YY h:mm A"), "3/5/24 2:07 PM");
        assert_eq!(f("dddd, MMMM Do"), "Tuesday, March 5th");
        assert_eq!(f("ddd MMM D [at] HH:mm:ss.SSS"), "Tue Mar 5 at 14:07:09.045");
        assert_eq!(f("LL"), "March 5, 2024");
        assert_eq!(f("L"), "03/05/2024");
        assert_eq!(f("Q W DDDD X"), "1 10 065 1709647629");
        assert_eq!(format(d, None).unwrap().text(), "2024-03-05T14:07:09.045Z");
    }

    #[test]
    fn arithmetic_in_fixed_and_calendar_units() {
        let d = at("2024-01-31");
        assert_eq!(add(d, 1.0, Unit::Month).unwrap(), Val::Date(at("2024-02-29")));
        assert_eq!(add(d, -2.0, Unit::Day).unwrap(), Val::Date(at("2024-01-29")));
        assert_eq!(add(d, 1.5, Unit::Hour).unwrap(), Val::Date(at("2024-01-31T01:30:00Z")));
        assert_eq!(add(d, 1.0, Unit::Year).unwrap(), Val::Date(at("2025-01-31")));
        assert!(add(d, 1e300, Unit::Day).is_err());
        assert!(add(d, 1e300, Unit::Month).is_err());
        assert_eq!(diff(at("2024-03-10"), at("2024-03-01"), Unit::Day), 9.0);
        assert_eq!(diff(at("2024-03-01"), at("2024-03-10"), Unit::Day), -9.0);
        assert_eq!(diff(at("2024-03-01T12:00:00Z"), at("2024-03-01"), Unit::Minute), 720.0);
        assert_eq!(diff(at("2024-03-30"), at("2024-01-31"), Unit::Month), 1.0);
        assert_eq!(diff(at("2024-01-31"), at("2024-03-30"), Unit::Month), -1.0);
        assert_eq!(diff(at("2024-02-29"), at("2024-01-31"), Unit::Month), 1.0);
        assert_eq!(diff(at("2025-01-30"), at("2024-01-31"), Unit::Year), 0.0);
        assert_eq!(diff(at("2025-01-31"), at("2024-01-31"), Unit::Year), 1.0);
        assert_eq!(diff(at("2024-07-01"), at("2024-01-01"), Unit::Quarter), 2.0);
    }

    #[test]
    fn units_starts_and_weekdays() {
        assert_eq!(Unit::parse("M").unwrap(), Unit::Month);
        assert_eq!(Unit::parse("m").unwrap(), Unit::Minute);
        assert_eq!(Unit::parse("Days").unwrap(), Unit::Day);
        assert!(Unit::parse("fortnights").is_err());
        let d = at("2024-03-05T14:07:09.045Z"); // a Tuesday
        assert_eq!(start_of(d, Unit::Week), at("2024-03-03"));
        assert_eq!(start_of(d, Unit::Quarter), at("2024-01-01"));
        assert_eq!(start_of(d, Unit::Hour), at("2024-03-05T14:00:00Z"));
        assert_eq!(weekday(d, "").unwrap(), 2.0);
        assert_eq!(weekday(d, "Monday").unwrap(), 1.0);
        assert!(weekday(d, "Friday").is_err());
        assert_eq!(today(d), at("2024-03-05"));
    }
}
