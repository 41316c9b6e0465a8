//! Evaluation with Airtable's loose typing: blanks equal empty text and zero, text compares with numbers
//! when it parses as one, and with dates when it parses as one; lists (multiple selects, lookups) read as
//! comma-joined text.
//!
//! An `Err` is Airtable's `#ERROR!`: the formula has no value for that record, so the record does not match.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use super::parser::{Expr, MAX_NESTING};
use super::patterns::Regexes;

/// The deepest evaluation may recurse. Parsed trees stay within about five levels per nesting level (see
/// the parser), so this is never reached by a formula that parsed; it is the evaluator's own guard.
pub const MAX_EVAL_DEPTH: usize = 6 * (MAX_NESTING + 1);

/// The longest text a formula may build (1 MiB): `REPT`, `SUBSTITUTE`, `&` and friends are refused
/// (`#ERROR!`) beyond it rather than allowed to exhaust memory.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Blank,
    Num(f64),
    Text(String),
    Bool(bool),
    Date(DateTime<Utc>),
    List(Vec<Val>),
}

pub type Out = Result<Val, String>;

impl Val {
    pub fn from_json(value: Option<&serde_json::Value>) -> Self {
        match value {
            Some(serde_json::Value::Array(items)) => Val::List(items.iter().map(Val::scalar).collect()),
            Some(other) => Val::scalar(other),
            None => Val::Blank,
        }
    }

    /// One JSON value that is not walked into: a nested array or object reads as its JSON text.
    fn scalar(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Val::Blank,
            serde_json::Value::Bool(b) => Val::Bool(*b),
            serde_json::Value::Number(n) => Val::Num(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Val::Text(s.clone()),
            other => Val::Text(other.to_string()),
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Val::Blank => false,
            Val::Num(n) => *n != 0.0 && !n.is_nan(),
            Val::Text(s) => !s.is_empty(),
            Val::Bool(b) => *b,
            Val::Date(_) => true,
            Val::List(items) => !items.is_empty(),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Val::Blank => String::new(),
            Val::Num(n) => number_text(*n),
            Val::Text(s) => s.clone(),
            Val::Bool(b) => if *b { "1" } else { "0" }.into(),
            Val::Date(d) => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            Val::List(items) => items.iter().map(Val::text).collect::<Vec<_>>().join(", "),
        }
    }

    pub(super) fn number(&self) -> Option<f64> {
        match self {
            Val::Blank => Some(0.0),
            Val::Num(n) => Some(*n),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Val::Text(s) => s.trim().parse().ok(),
            Val::Date(_) => None,
            Val::List(items) if items.len() == 1 => items[0].number(),
            Val::List(_) => self.text().trim().parse().ok(),
        }
    }

    pub(super) fn is_blank(&self) -> bool {
        match self {
            Val::Blank => true,
            Val::Text(s) => s.is_empty(),
            Val::List(items) => items.is_empty(),
            Val::Num(_) | Val::Bool(_) | Val::Date(_) => !self.truthy(),
        }
    }
}

/// Numbers as Airtable prints them: integers without a decimal point.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

/// Text of at most [`MAX_TEXT_BYTES`].
pub(super) fn text_out(text: String) -> Out {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!("the result would be longer than {MAX_TEXT_BYTES} bytes"));
    }
    Ok(Val::Text(text))
}

/// Refuses, before building it, a text that would be longer than [`MAX_TEXT_BYTES`].
pub(super) fn fits(estimated_bytes: usize) -> Result<(), String> {
    if estimated_bytes > MAX_TEXT_BYTES {
        return Err(format!("the result would be longer than {MAX_TEXT_BYTES} bytes"));
    }
    Ok(())
}

/// Ordering for comparisons and sorts: numerically when both sides are numbers, in time when one side is a
/// date and the other reads as one, else as text (case-insensitively, as Airtable sorts).
pub fn compare(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Blank, Val::Blank) => Ordering::Equal,
        (Val::Blank, _) => Ordering::Less,
        (_, Val::Blank) => Ordering::Greater,
        (Val::Date(_), _) | (_, Val::Date(_)) => match (super::dates::to_date(a), super::dates::to_date(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.text().to_lowercase().cmp(&b.text().to_lowercase()),
        },
        (Val::Text(_) | Val::List(_), _) | (_, Val::Text(_) | Val::List(_)) => match (a.number(), b.number()) {
            (Some(x), Some(y)) if !matches!((a, b), (Val::Text(_), Val::Text(_))) => x.total_cmp(&y),
            _ => a.text().to_lowercase().cmp(&b.text().to_lowercase()),
        },
        _ => a.number().unwrap_or(0.0).total_cmp(&b.number().unwrap_or(0.0)),
    }
}

pub(super) fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Blank, other) | (other, Val::Blank) => other.is_blank(),
        (Val::Text(x), Val::Text(y)) => x == y,
        (Val::Date(_), _) | (_, Val::Date(_)) => match (super::dates::to_date(a), super::dates::to_date(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a.text() == b.text(),
        },
        (Val::Text(_) | Val::List(_), _) | (_, Val::Text(_) | Val::List(_)) => match (a.number(), b.number()) {
            (Some(x), Some(y)) => x == y,
            _ => a.text() == b.text(),
        },
        _ => a.number() == b.number(),
    }
}

/// What a formula sees of a record: its cells by field name, its id and its times.
pub trait Row {
    fn cell(&self, field: &str) -> Val;
    fn record_id(&self) -> &str;
    fn created_time(&self) -> &str;
    /// When any of the record's cells last changed; its creation time when nothing records a later change.
    fn last_modified_time(&self) -> &str {
        self.created_time()
    }
}

/// Everything evaluation needs besides the expression: the record, the request's "now" (one instant for
/// every record of a request, as Airtable evaluates `NOW()` once), and the compiled regular expressions.
pub struct Ctx<'a> {
    pub row: &'a dyn Row,
    pub now: DateTime<Utc>,
    pub regexes: &'a Regexes,
}

pub fn eval(expr: &Expr, ctx: &Ctx<'_>, depth: usize) -> Out {
    if depth > MAX_EVAL_DEPTH {
        return Err(too_deep());
    }
    match expr {
        Expr::Num(n) => Ok(Val::Num(*n)),
        Expr::Str(s) => Ok(Val::Text(s.clone())),
        Expr::Bool(b) => Ok(Val::Bool(*b)),
        Expr::Field(name) => Ok(ctx.row.cell(name)),
        Expr::Neg(inner) => Ok(Val::Num(-number_of(&eval(inner, ctx, depth + 1)?))),
        Expr::Chain(first, rest) => {
            let mut acc = eval(first, ctx, depth + 1)?;
            for (op, operand) in rest {
                let b = eval(operand, ctx, depth + 1)?;
                acc = apply(op, &acc, &b)?;
            }
            Ok(acc)
        }
        Expr::Call(name, args) => super::functions::call(name, args, ctx, depth + 1),
    }
}

#[cold]
#[inline(never)]
fn too_deep() -> String {
    format!("the formula is nested more than {MAX_EVAL_DEPTH} deep")
}

#[inline(never)]
fn apply(op: &str, a: &Val, b: &Val) -> Out {
    Ok(match op {
        "=" => Val::Bool(equal(a, b)),
        "!=" => Val::Bool(!equal(a, b)),
        "<" => Val::Bool(compare(a, b) == Ordering::Less),
        ">" => Val::Bool(compare(a, b) == Ordering::Greater),
        "<=" => Val::Bool(compare(a, b) != Ordering::Greater),
        ">=" => Val::Bool(compare(a, b) != Ordering::Less),
        "&" => {
            let (a, b) = (a.text(), b.text());
            fits(a.len() + b.len())?;
            Val::Text(a + &b)
        }
        op => arithmetic(op, a, b),
    })
}

fn arithmetic(op: &str, a: &Val, b: &Val) -> Val {
    let (Some(x), Some(y)) = (a.number(), b.number()) else { return Val::Blank };
    match op {
        "+" => Val::Num(x + y),
        "-" => Val::Num(x - y),
        "*" => Val::Num(x * y),
        _ if y == 0.0 => Val::Blank,
        _ => Val::Num(x / y),
    }
}

pub(super) fn number_of(v: &Val) -> f64 {
    v.number().unwrap_or(0.0)
}
