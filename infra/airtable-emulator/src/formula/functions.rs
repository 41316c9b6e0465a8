//! The functions the emulator understands — those filterByFormula is used with in practice (and what
//! pyairtable's formula helpers generate): logical, text, numeric, date, regex and record functions, with
//! Airtable's semantics. Anything else is an invalid formula, as an unknown function is in Airtable, and so
//! is a call with too few or too many arguments.

use super::dates::{self, Unit, date_arg};
use super::eval::{Ctx, Out, Val, equal, eval, fits, number_of, text_out};
use super::parser::Expr;

const ANY: usize = usize::MAX;

/// Every known function with its fewest and most arguments.
pub const KNOWN: &[(&str, usize, usize)] = &[
    // Logical
    ("AND", 0, ANY),
    ("OR", 0, ANY),
    ("XOR", 0, ANY),
    ("NOT", 1, 1),
    ("IF", 2, 3),
    ("SWITCH", 3, ANY),
    ("TRUE", 0, 0),
    ("FALSE", 0, 0),
    ("BLANK", 0, 0),
    ("ERROR", 0, 1),
    ("ISERROR", 1, 1),
    // Text
    ("LEN", 1, 1),
    ("LOWER", 1, 1),
    ("UPPER", 1, 1),
    ("TRIM", 1, 1),
    ("FIND", 2, 3),
    ("SEARCH", 2, 3),
    ("CONCATENATE", 1, ANY),
    ("LEFT", 2, 2),
    ("RIGHT", 2, 2),
    ("MID", 3, 3),
    ("SUBSTITUTE", 3, 4),
    ("REPLACE", 4, 4),
    ("REPT", 2, 2),
    ("T", 1, 1),
    // Numeric
    ("VALUE", 1, 1),
    ("ABS", 1, 1),
    ("ROUND", 1, 2),
    ("ROUNDUP", 1, 2),
    ("ROUNDDOWN", 1, 2),
    ("INT", 1, 1),
    ("MOD", 2, 2),
    ("POWER", 2, 2),
    ("SQRT", 1, 1),
    ("SUM", 1, ANY),
    ("MIN", 1, ANY),
    ("MAX", 1, ANY),
    ("AVERAGE", 1, ANY),
    ("COUNT", 1, ANY),
    ("COUNTA", 1, ANY),
    ("COUNTALL", 1, ANY),
    // Dates
    ("TODAY", 0, 0),
    ("NOW", 0, 0),
    ("YEAR", 1, 1),
    ("MONTH", 1, 1),
    ("DAY", 1, 1),
    ("HOUR", 1, 1),
    ("MINUTE", 1, 1),
    ("SECOND", 1, 1),
    ("WEEKDAY", 1, 2),
    ("IS_AFTER", 2, 2),
    ("IS_BEFORE", 2, 2),
    ("IS_SAME", 2, 3),
    ("DATEADD", 3, 3),
    ("DATETIME_DIFF", 2, 3),
    ("DATETIME_FORMAT", 1, 2),
    ("DATETIME_PARSE", 1, 3),
    ("DATESTR", 1, 1),
    // Regular expressions
    ("REGEX_MATCH", 2, 2),
    ("REGEX_EXTRACT", 2, 2),
    ("REGEX_REPLACE", 3, 3),
    // Arrays and records
    ("ARRAYJOIN", 1, 2),
    ("RECORD_ID", 0, 0),
    ("CREATED_TIME", 0, 0),
    ("LAST_MODIFIED_TIME", 0, ANY),
];

/// Why a call to `name` with `count` arguments is refused, if it is.
pub fn check_call(name: &str, count: usize) -> Option<String> {
    let Some((_, min, max)) = KNOWN.iter().find(|(known, _, _)| *known == name) else {
        return Some(format!("unknown function {name}()"));
    };
    if count < *min || count > *max {
        let expected = match (*min, *max) {
            (min, max) if min == max => format!("{min}"),
            (min, ANY) => format!("at least {min}"),
            (min, max) => format!("{min} to {max}"),
        };
        return Some(format!("{name}() takes {expected} argument(s), not {count}"));
    }
    None
}

/// Evaluates a call. Only `IF`, `SWITCH` and `ISERROR` choose which arguments to evaluate; the rest get
/// their arguments' values. Kept small, as it is on the recursion path (one frame per nested call).
pub fn call(name: &str, args: &[Expr], ctx: &Ctx<'_>, depth: usize) -> Out {
    match name {
        "IF" => {
            let condition = eval(arg(args, 0)?, ctx, depth)?;
            let branch = if condition.truthy() { args.get(1) } else { args.get(2) };
            branch.map_or(Ok(Val::Blank), |e| eval(e, ctx, depth))
        }
        "SWITCH" => switch(args, ctx, depth),
        "ISERROR" => Ok(Val::Bool(eval(arg(args, 0)?, ctx, depth).is_err())),
        _ => {
            let values = args.iter().map(|a| eval(a, ctx, depth)).collect::<Result<Vec<_>, _>>()?;
            apply(name, &values, ctx)
        }
    }
}

/// A function of its arguments' values.
#[inline(never)]
fn apply(name: &str, values: &[Val], ctx: &Ctx<'_>) -> Out {
    match name {
        "ERROR" => Err("ERROR()".into()),
        "RECORD_ID" => Ok(Val::Text(ctx.row.record_id().to_string())),
        "CREATED_TIME" => time_of(ctx.row.created_time()),
        // Its arguments (fields to watch) only narrow which changes count; every change is one here.
        "LAST_MODIFIED_TIME" => time_of(ctx.row.last_modified_time()),
        "TODAY" => Ok(Val::Date(dates::today(ctx.now))),
        "NOW" => Ok(Val::Date(ctx.now)),
        "AND" | "OR" | "XOR" | "NOT" | "TRUE" | "FALSE" | "BLANK" => Ok(logical(name, values)),
        "SUM" | "MIN" | "MAX" | "AVERAGE" | "COUNT" | "COUNTA" | "COUNTALL" => Ok(aggregate(name, values)),
        "VALUE" | "ABS" | "ROUND" | "ROUNDUP" | "ROUNDDOWN" | "INT" | "MOD" | "POWER" | "SQRT" => {
            Ok(numeric(name, values))
        }
        "REGEX_MATCH" => ctx.regexes.is_match(&text(values, 0), &text(values, 1)),
        "REGEX_EXTRACT" => ctx.regexes.extract(&text(values, 0), &text(values, 1)),
        "REGEX_REPLACE" => ctx.regexes.replace(&text(values, 0), &text(values, 1), &text(values, 2)),
        "YEAR" | "MONTH" | "DAY" | "HOUR" | "MINUTE" | "SECOND" | "WEEKDAY" | "IS_AFTER" | "IS_BEFORE" | "IS_SAME"
        | "DATEADD" | "DATETIME_DIFF" | "DATETIME_FORMAT" | "DATETIME_PARSE" | "DATESTR" => date_function(name, values),
        _ => text_function(name, values),
    }
}

fn arg(args: &[Expr], i: usize) -> Result<&Expr, String> {
    args.get(i).ok_or_else(|| format!("missing argument {}", i + 1))
}

fn text(values: &[Val], i: usize) -> String {
    values.get(i).map(Val::text).unwrap_or_default()
}

fn num(values: &[Val], i: usize) -> f64 {
    values.get(i).map(number_of).unwrap_or(0.0)
}

fn time_of(iso: &str) -> Out {
    Ok(dates::to_date(&Val::Text(iso.to_string())).map_or_else(|| Val::Text(iso.to_string()), Val::Date))
}

/// `SWITCH(expression, pattern1, result1, …, [default])`: the result of the first pattern equal to the
/// expression; only that result is evaluated.
fn switch(args: &[Expr], ctx: &Ctx<'_>, depth: usize) -> Out {
    let value = eval(arg(args, 0)?, ctx, depth)?;
    let cases = args.get(1..).unwrap_or_default();
    for pair in cases.chunks_exact(2) {
        if equal(&value, &eval(&pair[0], ctx, depth)?) {
            return eval(&pair[1], ctx, depth);
        }
    }
    match cases.chunks_exact(2).remainder() {
        [default] => eval(default, ctx, depth),
        _ => Ok(Val::Blank),
    }
}

fn logical(name: &str, values: &[Val]) -> Val {
    // Arrays (lookups) count as one value each, true when not empty.
    match name {
        "AND" => Val::Bool(!values.is_empty() && values.iter().all(Val::truthy)),
        "OR" => Val::Bool(values.iter().any(Val::truthy)),
        "XOR" => Val::Bool(values.iter().filter(|v| v.truthy()).count() % 2 == 1),
        "NOT" => Val::Bool(!values.first().is_some_and(Val::truthy)),
        "TRUE" => Val::Bool(true),
        "FALSE" => Val::Bool(false),
        _ => Val::Blank,
    }
}

/// The arguments with lists (lookups, rollups) opened into their items.
fn flattened(values: &[Val]) -> impl Iterator<Item = &Val> {
    values.iter().flat_map(|v| match v {
        Val::List(items) => items.iter().collect::<Vec<_>>(),
        other => vec![other],
    })
}

fn aggregate(name: &str, values: &[Val]) -> Val {
    let numbers: Vec<f64> = flattened(values)
        .filter_map(|v| match v {
            Val::Num(n) => Some(*n),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
            Val::Text(s) => s.trim().parse().ok(),
            _ => None,
        })
        .collect();
    match name {
        "SUM" => Val::Num(numbers.iter().sum()),
        "MIN" => Val::Num(numbers.iter().copied().reduce(f64::min).unwrap_or(0.0)),
        "MAX" => Val::Num(numbers.iter().copied().reduce(f64::max).unwrap_or(0.0)),
        "AVERAGE" if numbers.is_empty() => Val::Num(0.0),
        "AVERAGE" => Val::Num(numbers.iter().sum::<f64>() / numbers.len() as f64),
        "COUNT" => Val::Num(flattened(values).filter(|v| matches!(v, Val::Num(_))).count() as f64),
        "COUNTA" => Val::Num(flattened(values).filter(|v| !v.is_blank()).count() as f64),
        _ => Val::Num(flattened(values).count() as f64),
    }
}

fn numeric(name: &str, values: &[Val]) -> Val {
    let (x, y) = (num(values, 0), num(values, 1));
    let scaled = |round: fn(f64) -> f64| {
        let factor = 10f64.powi(y.clamp(-300.0, 300.0) as i32);
        Val::Num(round(x * factor) / factor)
    };
    let result = match name {
        "VALUE" => match text(values, 0).trim().replace([',', '$'], "").parse::<f64>() {
            Ok(n) => n,
            Err(_) => return Val::Blank,
        },
        "ABS" => x.abs(),
        // Half away from zero, as Airtable rounds.
        "ROUND" => return scaled(f64::round),
        "ROUNDUP" => return scaled(|n| if n < 0.0 { n.floor() } else { n.ceil() }),
        "ROUNDDOWN" => return scaled(f64::trunc),
        "INT" => x.floor(),
        "MOD" if y == 0.0 => return Val::Blank,
        "MOD" => x % y,
        "POWER" => x.powf(y),
        "SQRT" if x < 0.0 => return Val::Blank,
        _ => x.sqrt(),
    };
    if result.is_finite() { Val::Num(result) } else { Val::Blank }
}

fn date_function(name: &str, values: &[Val]) -> Out {
    let first = values.first().unwrap_or(&Val::Blank);
    let unit = |i: usize, default: Unit| match values.get(i).filter(|v| !v.is_blank()) {
        Some(v) => Unit::parse(&v.text()),
        None => Ok(default),
    };
    if name == "DATETIME_PARSE" {
        return dates::parse_with(first, values.get(1).map(Val::text).as_deref());
    }
    let Some(date) = date_arg(first)? else { return Ok(Val::Blank) };
    let other = || date_arg(values.get(1).unwrap_or(&Val::Blank));
    let part = |n: u32| Ok(Val::Num(f64::from(n)));
    use chrono::{Datelike, Timelike};
    match name {
        "YEAR" => Ok(Val::Num(f64::from(date.year()))),
        "MONTH" => part(date.month()),
        "DAY" => part(date.day()),
        "HOUR" => part(date.hour()),
        "MINUTE" => part(date.minute()),
        "SECOND" => part(date.second()),
        "WEEKDAY" => dates::weekday(date, &text(values, 1)).map(Val::Num),
        "DATESTR" => Ok(Val::Text(date.format("%Y-%m-%d").to_string())),
        "DATETIME_FORMAT" => dates::format(date, values.get(1).map(Val::text).as_deref()),
        "DATEADD" => dates::add(date, num(values, 1), unit(2, Unit::Day)?),
        "IS_AFTER" => Ok(other()?.map_or(Val::Blank, |b| Val::Bool(date > b))),
        "IS_BEFORE" => Ok(other()?.map_or(Val::Blank, |b| Val::Bool(date < b))),
        "IS_SAME" => {
            let Some(b) = other()? else { return Ok(Val::Blank) };
            Ok(Val::Bool(match values.get(2).filter(|v| !v.is_blank()) {
                Some(v) => {
                    let unit = Unit::parse(&v.text())?;
                    dates::start_of(date, unit) == dates::start_of(b, unit)
                }
                None => date == b,
            }))
        }
        // DATETIME_DIFF
        _ => {
            let Some(b) = other()? else { return Ok(Val::Blank) };
            Ok(Val::Num(dates::diff(date, b, unit(2, Unit::Second)?)))
        }
    }
}

fn text_function(name: &str, values: &[Val]) -> Out {
    let s = text(values, 0);
    let count = |i: usize| num(values, i).max(0.0) as usize;
    match name {
        "LEN" => Ok(Val::Num(s.chars().count() as f64)),
        "LOWER" => text_out(s.to_lowercase()),
        "UPPER" => text_out(s.to_uppercase()),
        "TRIM" => Ok(Val::Text(s.trim().to_string())),
        "T" => Ok(match values.first() {
            Some(Val::Text(t)) => Val::Text(t.clone()),
            _ => Val::Blank,
        }),
        "FIND" => Ok(Val::Num(find(&s, &text(values, 1), num(values, 2), false))),
        "SEARCH" => Ok(match find(&s, &text(values, 1), num(values, 2), true) {
            0.0 => Val::Blank,
            at => Val::Num(at),
        }),
        "CONCATENATE" => {
            let parts: Vec<String> = values.iter().map(Val::text).collect();
            fits(parts.iter().map(String::len).sum())?;
            Ok(Val::Text(parts.concat()))
        }
        "LEFT" => Ok(Val::Text(s.chars().take(count(1)).collect())),
        "RIGHT" => {
            let chars: Vec<char> = s.chars().collect();
            let n = count(1).min(chars.len());
            Ok(Val::Text(chars[chars.len() - n..].iter().collect()))
        }
        "MID" => Ok(Val::Text(s.chars().skip(count(1).max(1) - 1).take(count(2)).collect())),
        "SUBSTITUTE" => substitute(&s, &text(values, 1), &text(values, 2), values.get(3).map(number_of)),
        "REPLACE" => {
            let chars: Vec<char> = s.chars().collect();
            let start = (count(1).max(1) - 1).min(chars.len());
            let end = start.saturating_add(count(2)).min(chars.len());
            let replacement = text(values, 3);
            fits(s.len() + replacement.len())?;
            let mut out: String = chars[..start].iter().collect();
            out.push_str(&replacement);
            out.extend(&chars[end..]);
            Ok(Val::Text(out))
        }
        "REPT" => {
            let times = if s.is_empty() { 0 } else { count(1) };
            fits(s.len().saturating_mul(times))?;
            Ok(Val::Text(s.repeat(times)))
        }
        "ARRAYJOIN" => {
            let separator = if values.len() > 1 { text(values, 1) } else { ", ".into() };
            match values.first() {
                Some(Val::List(items)) => {
                    let parts: Vec<String> = items.iter().map(Val::text).collect();
                    let separators = separator.len().saturating_mul(parts.len().saturating_sub(1));
                    fits(parts.iter().map(String::len).sum::<usize>().saturating_add(separators))?;
                    Ok(Val::Text(parts.join(&separator)))
                }
                Some(other) => Ok(Val::Text(other.text())),
                None => Ok(Val::Blank),
            }
        }
        other => Err(format!("unknown function {other}()")),
    }
}

/// `SUBSTITUTE(text, old, new, [index])`: every occurrence, or only the index-th (1-based).
fn substitute(s: &str, old: &str, new: &str, index: Option<f64>) -> Out {
    if old.is_empty() {
        return Ok(Val::Text(s.to_string()));
    }
    match index {
        None => {
            let occurrences = s.matches(old).count();
            fits(s.len().saturating_add(occurrences.saturating_mul(new.len())))?;
            Ok(Val::Text(s.replace(old, new)))
        }
        Some(n) if n >= 1.0 => {
            let Some((at, _)) = s.match_indices(old).nth(n as usize - 1) else { return Ok(Val::Text(s.to_string())) };
            text_out(format!("{}{new}{}", &s[..at], &s[at + old.len()..]))
        }
        Some(_) => Err("SUBSTITUTE's index must be 1 or more".into()),
    }
}

/// 1-based position of `needle` in `haystack` from `start` (1-based; 0 = from the start), 0 if absent.
fn find(needle: &str, haystack: &str, start: f64, ignore_case: bool) -> f64 {
    let (needle, haystack) = if ignore_case {
        (needle.to_lowercase(), haystack.to_lowercase())
    } else {
        (needle.to_string(), haystack.to_string())
    };
    let skip = (start.max(1.0) as usize) - 1;
    let tail: String = haystack.chars().skip(skip).collect();
    match tail.find(&needle) {
        Some(byte) => (skip + tail[..byte].chars().count() + 1) as f64,
        None => 0.0,
    }
}
