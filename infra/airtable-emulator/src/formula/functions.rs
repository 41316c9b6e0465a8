//! The functions the emulator understands: the logical ones, the common text ones, a little arithmetic,
//! and `RECORD_ID()` — what filterByFormula is used for in practice (and what pyairtable's formula
//! helpers generate). Anything else is an invalid formula, as an unknown function is in Airtable.

use super::eval::{Row, Val, eval, number_of};
use super::parser::Expr;

pub const KNOWN: &[&str] = &[
    "AND",
    "OR",
    "XOR",
    "NOT",
    "IF",
    "TRUE",
    "FALSE",
    "BLANK",
    "LEN",
    "LOWER",
    "UPPER",
    "TRIM",
    "FIND",
    "SEARCH",
    "CONCATENATE",
    "LEFT",
    "RIGHT",
    "MID",
    "RECORD_ID",
    "CREATED_TIME",
    "ARRAYJOIN",
    "VALUE",
    "ABS",
    "ROUND",
    "INT",
    "MOD",
    "DATETIME_PARSE",
];

pub fn call(name: &str, args: &[Expr], row: &dyn Row) -> Result<Val, String> {
    // IF evaluates only the branch it takes.
    if name == "IF" {
        let condition = eval(arg(args, 0, name)?, row)?;
        let branch = if condition.truthy() { args.get(1) } else { args.get(2) };
        return branch.map_or(Ok(Val::Blank), |e| eval(e, row));
    }
    let values = args.iter().map(|a| eval(a, row)).collect::<Result<Vec<_>, _>>()?;
    let text = |i: usize| values.get(i).map(Val::text).unwrap_or_default();
    let num = |i: usize| values.get(i).map(number_of).unwrap_or(0.0);
    Ok(match name {
        "AND" => Val::Bool(!values.is_empty() && values.iter().all(Val::truthy)),
        "OR" => Val::Bool(values.iter().any(Val::truthy)),
        "XOR" => Val::Bool(values.iter().filter(|v| v.truthy()).count() % 2 == 1),
        "NOT" => Val::Bool(!values.first().is_some_and(Val::truthy)),
        "TRUE" => Val::Bool(true),
        "FALSE" => Val::Bool(false),
        "BLANK" => Val::Blank,
        "LEN" => Val::Num(text(0).chars().count() as f64),
        "LOWER" => Val::Text(text(0).to_lowercase()),
        "UPPER" => Val::Text(text(0).to_uppercase()),
        "TRIM" => Val::Text(text(0).trim().to_string()),
        "FIND" => Val::Num(find(&text(0), &text(1), num(2), false)),
        "SEARCH" => match find(&text(0), &text(1), num(2), true) {
            0.0 => Val::Blank,
            at => Val::Num(at),
        },
        "CONCATENATE" => Val::Text(values.iter().map(Val::text).collect()),
        "LEFT" => Val::Text(text(0).chars().take(num(1).max(0.0) as usize).collect()),
        "RIGHT" => {
            let chars: Vec<char> = text(0).chars().collect();
            let n = (num(1).max(0.0) as usize).min(chars.len());
            Val::Text(chars[chars.len() - n..].iter().collect())
        }
        "MID" => {
            Val::Text(text(0).chars().skip((num(1).max(1.0) as usize) - 1).take(num(2).max(0.0) as usize).collect())
        }
        "RECORD_ID" => Val::Text(row.record_id().to_string()),
        "CREATED_TIME" => Val::Text(row.created_time().to_string()),
        "ARRAYJOIN" => {
            let separator = if values.len() > 1 { text(1) } else { ", ".into() };
            match values.first() {
                Some(Val::List(items)) => Val::Text(items.iter().map(Val::text).collect::<Vec<_>>().join(&separator)),
                Some(other) => Val::Text(other.text()),
                None => Val::Blank,
            }
        }
        "VALUE" => text(0).trim().parse().map(Val::Num).unwrap_or(Val::Blank),
        "ABS" => Val::Num(num(0).abs()),
        "ROUND" => {
            let factor = 10f64.powi(num(1) as i32);
            Val::Num((num(0) * factor).round() / factor)
        }
        "INT" => Val::Num(num(0).floor()),
        "MOD" if num(1) != 0.0 => Val::Num(num(0) % num(1)),
        "MOD" => Val::Blank,
        // Dates are ISO text in the emulator, which already compares in time order.
        "DATETIME_PARSE" => Val::Text(text(0)),
        other => return Err(format!("unknown function {other}")),
    })
}

fn arg<'a>(args: &'a [Expr], i: usize, name: &str) -> Result<&'a Expr, String> {
    args.get(i).ok_or_else(|| format!("{name} needs at least {} argument(s)", i + 1))
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
