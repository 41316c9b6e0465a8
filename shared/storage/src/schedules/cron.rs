//! Cron, both ways: the five fields users write (`minute hour day-of-month month day-of-week`, Sunday 0 or 7,
//! names `SUN`-`SAT` and `JAN`-`DEC`, `*`, values, ranges `a-b`, lists `a,b`, steps `*/n`, `a-b/n`, `a/n`) and
//! EventBridge Scheduler's six (`cron(minute hour day-of-month month day-of-week year)`: Sunday 1 to Saturday
//! 7, exactly one of the day fields `?`, no step in day-of-week, year `*` here). Pure functions.
//!
//! What AWS cannot say is refused with a message for the user: restricting both day of month and day of week
//! (classic cron fires when either matches; AWS has no such rule), and `L`, `W`, `#`, `?` in the five fields.
//! The canonical five-field form is what AWS's form reads back as: numbers rather than names, day of week as
//! a list of ranges of 0-6, a step from a field's first value as `*/n`, one up to its last as `a-last/n`.
//!
//! Fire times come from `croner` in the schedule's time zone, with EventBridge Scheduler's rule for the clock
//! springing forward: a fire whose local time does not exist is skipped (croner alone would move a fixed-time
//! job past the gap).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{MAX_EXPRESSION_CHARS, ScheduleError};

/// One field's values and names (`names[i]` is value `min + i`).
#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// What `*` and `a/n` run up to (the day of week's 7 is an alias of 0, never reached by a step).
    last: u32,
    names: &'static [&'static str],
}

const DAY_NAMES: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_NAMES: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

const MINUTE: Field = Field { name: "minute", min: 0, max: 59, last: 59, names: &[] };
const HOUR: Field = Field { name: "hour", min: 0, max: 23, last: 23, names: &[] };
const DAY_OF_MONTH: Field = Field { name: "day-of-month", min: 1, max: 31, last: 31, names: &[] };
const MONTH: Field = Field { name: "month", min: 1, max: 12, last: 12, names: MONTH_NAMES };
/// Users' day of week: Sunday 0 (or 7) to Saturday 6.
const DAY_OF_WEEK: Field = Field { name: "day-of-week", min: 0, max: 7, last: 6, names: DAY_NAMES };
/// AWS's day of week: Sunday 1 to Saturday 7.
const AWS_DAY_OF_WEEK: Field = Field { name: "day-of-week", min: 1, max: 7, last: 7, names: DAY_NAMES };

/// `start..=end` every `step`; `star` for a field written `*` or `*/n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    start: u32,
    end: u32,
    step: u32,
    star: bool,
}

impl Item {
    fn values(self) -> impl Iterator<Item = u32> {
        (self.start..=self.end).step_by(self.step as usize)
    }
}

/// A cron both forms can say: day of month and day of week are each `None` when unrestricted (and at most
/// one is restricted); the day of week is a set of days, bit 0 Sunday.
#[derive(Debug, PartialEq, Eq)]
struct Cron {
    minute: Vec<Item>,
    hour: Vec<Item>,
    day_of_month: Option<Vec<Item>>,
    month: Vec<Item>,
    day_of_week: Option<u8>,
}

const EVERY_DAY: u8 = 0b111_1111;

fn invalid(message: String) -> ScheduleError {
    ScheduleError::InvalidExpression(message)
}

fn usage() -> &'static str {
    "use *, values, ranges (a-b), lists (a,b) and steps (*/n, a-b/n)"
}

/// `?`, `L`, `W`, `#` as Quartz (and AWS) use them: `?`, `L`, `LW`, `15W`, `5L`, `3#2`.
fn quartz_special(upper: &str) -> bool {
    let digits_then = |suffix: char| {
        upper.strip_suffix(suffix).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    upper.contains(['?', '#']) || upper == "L" || upper == "LW" || digits_then('L') || digits_then('W')
}

fn value(token: &str, field: Field) -> Result<u32, ScheduleError> {
    let upper = token.to_ascii_uppercase();
    let parsed = match upper.parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            field.names.iter().position(|n| *n == upper).and_then(|i| u32::try_from(i).ok()).map(|i| i + field.min)
        }
    };
    match parsed {
        Some(n) if (field.min..=field.max).contains(&n) => Ok(n),
        Some(_) => Err(invalid(format!("{} {token:?} is out of range {}-{}", field.name, field.min, field.max))),
        None if quartz_special(&upper) => Err(invalid(format!(
            "{token:?}: `L`, `W`, `#` and `?` are not supported in the {} field; {}",
            field.name,
            usage()
        ))),
        None if field.names.is_empty() => {
            Err(invalid(format!("{} {token:?} is not a number {}-{}", field.name, field.min, field.max)))
        }
        None => Err(invalid(format!(
            "{} {token:?} is not a number {}-{} nor one of {}",
            field.name,
            field.min,
            field.max,
            field.names.join(",")
        ))),
    }
}

fn item(part: &str, field: Field) -> Result<Item, ScheduleError> {
    let (base, step) = match part.split_once('/') {
        Some((base, step)) => {
            let n: u32 = step
                .parse()
                .map_err(|_| invalid(format!("{} step {step:?} in {part:?} is not a whole number", field.name)))?;
            if n == 0 || n > field.last - field.min + 1 {
                let span = field.last - field.min + 1;
                return Err(invalid(format!("{} step {n} in {part:?} is not between 1 and {span}", field.name)));
            }
            (base, Some(n))
        }
        None => (part, None),
    };
    let item = if base == "*" {
        Item { start: field.min, end: field.last, step: step.unwrap_or(1), star: true }
    } else if let Some((a, b)) = base.split_once('-') {
        let (start, end) = (value(a, field)?, value(b, field)?);
        if start > end {
            return Err(invalid(format!("{} range {part:?} runs backwards", field.name)));
        }
        Item { start, end, step: step.unwrap_or(1), star: false }
    } else {
        let start = value(base, field)?;
        // `a/n`: from a to the field's last value.
        let end = if step.is_some() { field.last.max(start) } else { start };
        Item { start, end, step: step.unwrap_or(1), star: false }
    };
    Ok(item)
}

fn items(text: &str, field: Field) -> Result<Vec<Item>, ScheduleError> {
    text.split(',')
        .map(|part| {
            if part.is_empty() {
                return Err(invalid(format!("the {} field {text:?} has an empty list entry", field.name)));
            }
            item(part, field)
        })
        .collect()
}

/// The days (bit 0 Sunday) a day-of-week field names; `sunday` is the value of Sunday in the field's numbering
/// (0 for users, where 7 is Sunday too; 1 for AWS).
fn days(text: &str, field: Field, sunday: u32) -> Result<u8, ScheduleError> {
    let mut bits = 0u8;
    for item in items(text, field)? {
        for v in item.values() {
            bits |= 1 << ((v + 7 - sunday) % 7);
        }
    }
    Ok(bits)
}

/// Fields whose values no month has together (`31 2`: never) would never fire.
fn check_some_day_exists(day_of_month: &Option<Vec<Item>>, month: &[Item]) -> Result<(), ScheduleError> {
    let Some(day_of_month) = day_of_month else {
        return Ok(());
    };
    let first_day = day_of_month.iter().flat_map(|i| i.values()).min().unwrap_or(1);
    // February counts 29 days: a leap year comes.
    const DAYS_IN_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let longest =
        month.iter().flat_map(|i| i.values()).map(|m| DAYS_IN_MONTH[(m as usize - 1) % 12]).max().unwrap_or(31);
    if first_day > longest {
        return Err(invalid(format!("no month of this expression has a day {first_day}: it would never fire")));
    }
    Ok(())
}

/// Reads the five fields users write.
fn parse_five(text: &str) -> Result<Cron, ScheduleError> {
    if text.len() > MAX_EXPRESSION_CHARS {
        return Err(invalid(format!("an expression is at most {MAX_EXPRESSION_CHARS} characters")));
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
        return Err(invalid(format!(
            "a cron has 5 fields (minute hour day-of-month month day-of-week, e.g. `0 9 * * 1-5`); this one has {}",
            fields.len()
        )));
    };
    if day_of_month != "*" && day_of_week != "*" {
        return Err(invalid(format!(
            "restricting both day of month ({day_of_month:?}) and day of week ({day_of_week:?}) is not supported: \
             write `*` in one of them (a separate schedule can cover the other)"
        )));
    }
    let cron = Cron {
        minute: items(minute, MINUTE)?,
        hour: items(hour, HOUR)?,
        day_of_month: if day_of_month == "*" { None } else { Some(items(day_of_month, DAY_OF_MONTH)?) },
        month: items(month, MONTH)?,
        day_of_week: match day_of_week {
            "*" => None,
            text => Some(days(text, DAY_OF_WEEK, 0)?).filter(|bits| *bits != EVERY_DAY),
        },
    };
    check_some_day_exists(&cron.day_of_month, &cron.month)?;
    Ok(cron)
}

/// Reads AWS's six fields, `cron(…)` included.
fn parse_aws(text: &str) -> Result<Cron, ScheduleError> {
    let inner = text
        .trim()
        .strip_prefix("cron(")
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| invalid(format!("{text:?} is not cron(minute hour day-of-month month day-of-week year)")))?;
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [minute, hour, day_of_month, month, day_of_week, year] = fields[..] else {
        return Err(invalid(format!("an AWS cron has 6 fields; {text:?} has {}", fields.len())));
    };
    if year != "*" {
        return Err(invalid(format!("{text:?} restricts the year, which five fields cannot say")));
    }
    match (day_of_month == "?", day_of_week == "?") {
        (true, true) => return Err(invalid(format!("{text:?} has `?` in both day fields"))),
        (false, false) => return Err(invalid(format!("{text:?} needs `?` in day-of-month or day-of-week"))),
        _ => {}
    }
    let day_of_month = match day_of_month {
        "?" | "*" => None,
        text => Some(items(text, DAY_OF_MONTH)?),
    };
    let day_of_week = match day_of_week {
        "?" | "*" => None,
        text => Some(days(text, AWS_DAY_OF_WEEK, 1)?).filter(|bits| *bits != EVERY_DAY),
    };
    let cron = Cron {
        minute: items(minute, MINUTE)?,
        hour: items(hour, HOUR)?,
        day_of_month,
        month: items(month, MONTH)?,
        day_of_week,
    };
    check_some_day_exists(&cron.day_of_month, &cron.month)?;
    Ok(cron)
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(",")
}

/// One field in the canonical five-field form.
fn five_items(items: &[Item], field: Field) -> String {
    join(items.iter().map(|i| match *i {
        Item { star: true, step: 1, .. } => "*".to_string(),
        Item { start, end, step, .. } if start == field.min && end == field.last && step > 1 => format!("*/{step}"),
        Item { start, end, .. } if start == end => start.to_string(),
        Item { start, end, step: 1, .. } => format!("{start}-{end}"),
        Item { start, end, step, .. } => format!("{start}-{end}/{step}"),
    }))
}

/// One field in AWS's form: a step runs from a value to the field's end (`a/n`), any other is listed out.
fn aws_items(items: &[Item], field: Field) -> String {
    join(items.iter().map(|i| match *i {
        Item { star: true, step: 1, .. } => "*".to_string(),
        Item { start, end, .. } if start == end => start.to_string(),
        Item { start, end, step: 1, .. } => format!("{start}-{end}"),
        Item { start, end, step, .. } if end == field.last => format!("{start}/{step}"),
        i => join(i.values().map(|v| v.to_string())),
    }))
}

/// Days (bit 0 Sunday) as ranges of the day numbers `first` (Sunday) to `first + 6` (Saturday).
fn day_ranges(bits: u8, first: u32) -> String {
    let mut out = String::new();
    let mut day = 0;
    while day < 7 {
        if bits & (1 << day) == 0 {
            day += 1;
            continue;
        }
        let start = day;
        while day + 1 < 7 && bits & (1 << (day + 1)) != 0 {
            day += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        let _ = if start == day {
            write!(out, "{}", start + first)
        } else {
            write!(out, "{}-{}", start + first, day + first)
        };
        day += 1;
    }
    out
}

fn five(cron: &Cron) -> String {
    let day_of_month = cron.day_of_month.as_deref().map_or_else(|| "*".to_string(), |i| five_items(i, DAY_OF_MONTH));
    let day_of_week = cron.day_of_week.map_or_else(|| "*".to_string(), |bits| day_ranges(bits, 0));
    format!(
        "{} {} {day_of_month} {} {day_of_week}",
        five_items(&cron.minute, MINUTE),
        five_items(&cron.hour, HOUR),
        five_items(&cron.month, MONTH)
    )
}

fn aws(cron: &Cron) -> String {
    let (day_of_month, day_of_week) = match (&cron.day_of_month, cron.day_of_week) {
        (_, Some(bits)) => ("?".to_string(), day_ranges(bits, 1)),
        (Some(items), None) => (aws_items(items, DAY_OF_MONTH), "?".to_string()),
        (None, None) => ("*".to_string(), "?".to_string()),
    };
    format!(
        "cron({} {} {day_of_month} {} {day_of_week} *)",
        aws_items(&cron.minute, MINUTE),
        aws_items(&cron.hour, HOUR),
        aws_items(&cron.month, MONTH)
    )
}

/// A user's five-field cron in AWS's form: `0 9 * * 1-5` → `cron(0 9 ? * 2-6 *)`.
pub fn to_aws(five_field: &str) -> Result<String, ScheduleError> {
    Ok(aws(&parse_five(five_field)?))
}

/// AWS's form back to five fields, canonical: `cron(0 9 ? * MON-FRI *)` → `0 9 * * 1-5`.
pub fn from_aws(six_field: &str) -> Result<String, ScheduleError> {
    Ok(five(&parse_aws(six_field)?))
}

/// A five-field cron, validated, in canonical form (`from_aws(to_aws(x))`, as AWS would return it).
pub fn canonical(five_field: &str) -> Result<String, ScheduleError> {
    from_aws(&to_aws(five_field)?)
}

/// The first fire strictly after `after` in `zone`; a local time the clock springs forward over is skipped.
pub fn next_fire(five_field: &str, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    use croner::parser::{CronParser, Seconds, Year};
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let cron = parser.parse(&canonical(five_field).ok()?).ok()?;
    let mut from = after.with_timezone(&zone);
    // Each skip passes one gap (at most two a year in any zone); a handful bounds the search.
    for _ in 0..8 {
        let next = cron.find_next_occurrence(&from, false).ok()?;
        if cron.is_time_matching(&next).ok()? {
            return Some(next.with_timezone(&Utc));
        }
        from = next;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::TimeZone;

    use super::*;

    /// (five fields as written, AWS's form, the canonical five fields it reads back as).
    const BOTH_WAYS: &[(&str, &str, &str)] = &[
        ("* * * * *", "cron(* * * * ? *)", "* * * * *"),
        ("0 2 * * *", "cron(0 2 * * ? *)", "0 2 * * *"),
        ("*/5 * * * *", "cron(0/5 * * * ? *)", "*/5 * * * *"),
        ("0/15 * * * *", "cron(0/15 * * * ? *)", "*/15 * * * *"),
        ("5/15 * * * *", "cron(5/15 * * * ? *)", "5-59/15 * * * *"),
        ("5-59/15 * * * *", "cron(5/15 * * * ? *)", "5-59/15 * * * *"),
        ("0-30/10 * * * *", "cron(0,10,20,30 * * * ? *)", "0,10,20,30 * * * *"),
        ("0 9-17 * * *", "cron(0 9-17 * * ? *)", "0 9-17 * * *"),
        ("0 */2 * * *", "cron(0 0/2 * * ? *)", "0 */2 * * *"),
        ("15,45 8,12,18 * * *", "cron(15,45 8,12,18 * * ? *)", "15,45 8,12,18 * * *"),
        ("0 0 1 * *", "cron(0 0 1 * ? *)", "0 0 1 * *"),
        ("0 0 1,15 * *", "cron(0 0 1,15 * ? *)", "0 0 1,15 * *"),
        ("0 0 */2 * *", "cron(0 0 1/2 * ? *)", "0 0 */2 * *"),
        ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)", "0 0 1 */3 *"),
        ("0 0 1 JAN,jul *", "cron(0 0 1 1,7 ? *)", "0 0 1 1,7 *"),
        ("0 0 * JAN-MAR *", "cron(0 0 * 1-3 ? *)", "0 0 * 1-3 *"),
        ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)", "0 9 * * 1-5"),
        ("0 9 * * MON-FRI", "cron(0 9 ? * 2-6 *)", "0 9 * * 1-5"),
        ("0 9 * * mon-fri", "cron(0 9 ? * 2-6 *)", "0 9 * * 1-5"),
        ("0 9 * * 0", "cron(0 9 ? * 1 *)", "0 9 * * 0"),
        ("0 9 * * 7", "cron(0 9 ? * 1 *)", "0 9 * * 0"),
        ("0 9 * * SUN", "cron(0 9 ? * 1 *)", "0 9 * * 0"),
        ("0 9 * * 6", "cron(0 9 ? * 7 *)", "0 9 * * 6"),
        ("0 9 * * 0,6", "cron(0 9 ? * 1,7 *)", "0 9 * * 0,6"),
        ("0 9 * * SAT,SUN", "cron(0 9 ? * 1,7 *)", "0 9 * * 0,6"),
        ("0 9 * * 5-7", "cron(0 9 ? * 1,6-7 *)", "0 9 * * 0,5-6"),
        ("0 9 * * 1,3,5", "cron(0 9 ? * 2,4,6 *)", "0 9 * * 1,3,5"),
        ("0 9 * * */2", "cron(0 9 ? * 1,3,5,7 *)", "0 9 * * 0,2,4,6"),
        ("0 9 * * 1-5/2", "cron(0 9 ? * 2,4,6 *)", "0 9 * * 1,3,5"),
        ("0 9 * * 1/2", "cron(0 9 ? * 2,4,6 *)", "0 9 * * 1,3,5"),
        ("0 9 * * 1-3,2-4", "cron(0 9 ? * 2-5 *)", "0 9 * * 1-4"),
        // Every day of the week is no restriction.
        ("0 9 * * 0-6", "cron(0 9 * * ? *)", "0 9 * * *"),
        ("0 9 * * */1", "cron(0 9 * * ? *)", "0 9 * * *"),
        ("59 23 31 12 *", "cron(59 23 31 12 ? *)", "59 23 31 12 *"),
        ("0 0 29 2 *", "cron(0 0 29 2 ? *)", "0 0 29 2 *"),
    ];

    #[test]
    fn five_fields_translate_to_aws_and_back_to_canonical() {
        for (five_field, aws, canonical_form) in BOTH_WAYS {
            assert_eq!(to_aws(five_field).as_deref(), Ok(*aws), "to AWS: {five_field}");
            assert_eq!(from_aws(aws).as_deref(), Ok(*canonical_form), "from AWS: {aws}");
            assert_eq!(canonical(five_field).as_deref(), Ok(*canonical_form), "canonical: {five_field}");
            // The canonical form is a fixed point, and says the same to AWS.
            assert_eq!(canonical(canonical_form).as_deref(), Ok(*canonical_form), "{canonical_form}");
            assert_eq!(to_aws(canonical_form).as_deref(), Ok(*aws), "{canonical_form}");
        }
    }

    #[test]
    fn aws_forms_read_back() {
        for (aws, five_field) in [
            ("cron(0 10 * * ? *)", "0 10 * * *"),
            ("cron(15 12 * * ? *)", "15 12 * * *"),
            ("cron(0 18 ? * MON-FRI *)", "0 18 * * 1-5"),
            ("cron(0 8 1 * ? *)", "0 8 1 * *"),
            ("cron(0/10 * ? * MON-FRI *)", "*/10 * * * 1-5"),
            ("cron(0/5 8-17 ? * MON-FRI *)", "*/5 8-17 * * 1-5"),
            ("cron(0 9 ? * SUN,SAT *)", "0 9 * * 0,6"),
            ("cron(0 9 ? * * *)", "0 9 * * *"),
            ("cron(0 9 ? * 1-7 *)", "0 9 * * *"),
            ("cron(0 0 1 JAN ? *)", "0 0 1 1 *"),
            (" cron( 0  9 ? * 2 * ) ", "0 9 * * 1"),
            ("cron(*/5 * * * ? *)", "*/5 * * * *"),
            ("cron(0 8-18/2 * * ? *)", "0 8-18/2 * * *"),
        ] {
            assert_eq!(from_aws(aws).as_deref(), Ok(five_field), "{aws}");
            assert!(to_aws(five_field).is_ok(), "{five_field}");
        }
    }

    fn refused(result: Result<String, ScheduleError>, needle: &str, what: &str) {
        match result {
            Err(ScheduleError::InvalidExpression(message)) => {
                assert!(message.contains(needle), "{what}: {message:?} does not say {needle:?}")
            }
            other => panic!("{what}: expected a refusal saying {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn five_field_errors_say_what_is_wrong() {
        for (five_field, needle) in [
            ("", "has 0"),
            ("* * * *", "this one has 4"),
            ("0 0 * * * *", "this one has 6"),
            ("0 9 1 * 1", "both day of month"),
            ("0 9 1-15 * MON", "both day of month"),
            ("0 9 */2 * 1-5", "both day of month"),
            ("60 * * * *", "minute \"60\" is out of range 0-59"),
            ("* 24 * * *", "hour \"24\" is out of range 0-23"),
            ("* * 0 * *", "day-of-month \"0\" is out of range 1-31"),
            ("* * 32 * *", "out of range 1-31"),
            ("* * * 13 *", "month \"13\" is out of range 1-12"),
            ("* * * 0 *", "out of range 1-12"),
            ("* * * * 8", "day-of-week \"8\" is out of range 0-7"),
            ("* * * * MONDAY", "nor one of SUN,MON"),
            ("* * * FOO *", "nor one of JAN,FEB"),
            ("a * * * *", "minute \"a\" is not a number 0-59"),
            ("-1 * * * *", "is not a number"),
            ("*/0 * * * *", "step 0"),
            ("*/61 * * * *", "step 61"),
            ("*/x * * * *", "is not a whole number"),
            ("30-10 * * * *", "runs backwards"),
            ("* * * * FRI-MON", "runs backwards"),
            ("1,,2 * * * *", "empty list entry"),
            ("1, * * * *", "empty list entry"),
            ("* * L * *", "`L`, `W`, `#` and `?` are not supported in the day-of-month"),
            ("* * 15W * *", "not supported"),
            ("* * ? * *", "not supported"),
            ("* * * * 5L", "not supported in the day-of-week"),
            ("* * * * 1#2", "not supported"),
            ("0 0 31 2 *", "never fire"),
            ("0 0 30,31 2 *", "never fire"),
            ("0 0 31 4,6,9,11 *", "never fire"),
        ] {
            refused(canonical(five_field), needle, five_field);
            refused(to_aws(five_field), needle, five_field);
        }
        refused(canonical(&"1,".repeat(200)), "at most 256", "long");
    }

    #[test]
    fn aws_forms_five_fields_cannot_say_are_refused() {
        for (aws, needle) in [
            ("cron(0 9 * * ? 2027)", "restricts the year"),
            ("cron(0 9 * * ? 2027-2030)", "restricts the year"),
            ("cron(0 9 1 * MON *)", "needs `?`"),
            ("cron(0 9 * * * *)", "needs `?`"),
            ("cron(0 9 ? * ? *)", "both day fields"),
            ("cron(0 9 L * ? *)", "not supported"),
            ("cron(0 9 15W * ? *)", "not supported"),
            ("cron(0 9 ? * 6L *)", "not supported"),
            ("cron(0 9 ? * 3#2 *)", "not supported"),
            ("cron(0 9 ? * 0 *)", "out of range 1-7"),
            ("cron(0 9 ? * 8 *)", "out of range 1-7"),
            ("cron(0 9 * * ?)", "has 5"),
            ("0 9 * * ? *", "is not cron("),
            ("cron(0 9 * * ? *", "is not cron("),
        ] {
            refused(from_aws(aws), needle, aws);
        }
    }

    #[test]
    fn every_canonical_form_is_one_croner_reads() {
        use croner::parser::{CronParser, Seconds, Year};
        let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
        for (_, _, canonical_form) in BOTH_WAYS {
            assert!(parser.parse(canonical_form).is_ok(), "{canonical_form}");
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    /// The fires of `five_field` in `zone` after `from`, `count` of them.
    fn fires(five_field: &str, zone: Tz, from: &str, count: usize) -> Vec<DateTime<Utc>> {
        let mut at = utc(from);
        (0..count)
            .map(|_| {
                at = next_fire(five_field, zone, at).unwrap();
                at
            })
            .collect()
    }

    #[test]
    fn a_fixed_time_the_clock_springs_forward_over_is_skipped() {
        // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:00 does not exist that day.
        assert_eq!(
            fires("0 2 * * *", berlin(), "2026-03-27T12:00:00Z", 3),
            [utc("2026-03-28T01:00:00Z"), utc("2026-03-30T00:00:00Z"), utc("2026-03-31T00:00:00Z"),]
        );
        assert_eq!(fires("30 2 * * *", berlin(), "2026-03-28T12:00:00Z", 1), [utc("2026-03-30T00:30:00Z")]);
        // 03:00 exists: it fires on the day.
        assert_eq!(fires("0 3 * * *", berlin(), "2026-03-28T12:00:00Z", 1), [utc("2026-03-29T01:00:00Z")]);
        // Hourly: the missing hour has no fire; every other hour has one.
        assert_eq!(
            fires("0 * * * *", berlin(), "2026-03-28T23:30:00Z", 3),
            [utc("2026-03-29T00:00:00Z"), utc("2026-03-29T01:00:00Z"), utc("2026-03-29T02:00:00Z"),]
        );
    }

    #[test]
    fn a_fixed_time_the_clock_falls_back_over_fires_once() {
        // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        assert_eq!(
            fires("30 2 * * *", berlin(), "2026-10-24T12:00:00Z", 2),
            [utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z"),]
        );
    }

    #[test]
    fn an_hourly_cron_fires_in_both_passes_of_a_repeated_hour() {
        // Berlin, 2026-10-25: 02:00-03:00 runs twice (CEST, then CET); every hour of real time has its fire.
        assert_eq!(
            fires("0 * * * *", berlin(), "2026-10-24T23:30:00Z", 3),
            [utc("2026-10-25T00:00:00Z"), utc("2026-10-25T01:00:00Z"), utc("2026-10-25T02:00:00Z"),]
        );
    }

    #[test]
    fn fires_follow_the_zone_and_the_day_fields() {
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            fires("0 9 * * 1-5", new_york, "2026-01-09T15:00:00Z", 2),
            [utc("2026-01-12T14:00:00Z"), utc("2026-01-13T14:00:00Z"),]
        );
        assert_eq!(
            fires("0 0 1 * *", chrono_tz::UTC, "2026-01-15T00:00:00Z", 2),
            [utc("2026-02-01T00:00:00Z"), utc("2026-03-01T00:00:00Z"),]
        );
        assert_eq!(fires("0 0 29 2 *", chrono_tz::UTC, "2026-01-01T00:00:00Z", 1), [utc("2028-02-29T00:00:00Z")]);
        assert_eq!(
            fires("*/15 * * * *", chrono_tz::UTC, "2026-01-01T00:07:00Z", 2),
            [utc("2026-01-01T00:15:00Z"), utc("2026-01-01T00:30:00Z"),]
        );
        // Sunday written 7 fires on Sundays.
        let sunday = fires("0 12 * * 7", chrono_tz::UTC, "2026-01-01T00:00:00Z", 1)[0];
        assert_eq!(sunday, chrono_tz::UTC.with_ymd_and_hms(2026, 1, 4, 12, 0, 0).unwrap().to_utc());
        assert_eq!(next_fire("not a cron", chrono_tz::UTC, utc("2026-01-01T00:00:00Z")), None);
    }
}
