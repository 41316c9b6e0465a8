//! Evaluation with Airtable's loose typing: blanks equal empty text and zero, text compares with numbers
//! when it parses as one, lists (multiple selects) read as comma-joined text.

use std::cmp::Ordering;

use super::parser::Expr;

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Blank,
    Num(f64),
    Text(String),
    Bool(bool),
    List(Vec<Val>),
}

impl Val {
    pub fn from_json(value: Option<&serde_json::Value>) -> Self {
        match value {
            None | Some(serde_json::Value::Null) => Val::Blank,
            Some(serde_json::Value::Bool(b)) => Val::Bool(*b),
            Some(serde_json::Value::Number(n)) => Val::Num(n.as_f64().unwrap_or(0.0)),
            Some(serde_json::Value::String(s)) => Val::Text(s.clone()),
            Some(serde_json::Value::Array(items)) => Val::List(items.iter().map(|i| Val::from_json(Some(i))).collect()),
            Some(other) => Val::Text(other.to_string()),
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Val::Blank => false,
            Val::Num(n) => *n != 0.0,
            Val::Text(s) => !s.is_empty(),
            Val::Bool(b) => *b,
            Val::List(items) => !items.is_empty(),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Val::Blank => String::new(),
            Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Val::Num(n) => n.to_string(),
            Val::Text(s) => s.clone(),
            Val::Bool(b) => if *b { "1" } else { "0" }.into(),
            Val::List(items) => items.iter().map(Val::text).collect::<Vec<_>>().join(", "),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Blank => Some(0.0),
            Val::Num(n) => Some(*n),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Val::Text(s) => s.trim().parse().ok(),
            Val::List(_) => self.text().trim().parse().ok(),
        }
    }

    fn is_blank(&self) -> bool {
        !self.truthy() && !matches!(self, Val::Text(s) if !s.is_empty())
    }
}

/// Ordering for comparisons and sorts: numerically when both sides are numbers, else as text
/// (case-insensitively, as Airtable sorts).
pub fn compare(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Blank, Val::Blank) => Ordering::Equal,
        (Val::Blank, _) => Ordering::Less,
        (_, Val::Blank) => Ordering::Greater,
        (Val::Text(_) | Val::List(_), _) | (_, Val::Text(_) | Val::List(_)) => match (a.number(), b.number()) {
            (Some(x), Some(y)) if !matches!((a, b), (Val::Text(_), Val::Text(_))) => x.total_cmp(&y),
            _ => a.text().to_lowercase().cmp(&b.text().to_lowercase()),
        },
        _ => a.number().unwrap_or(0.0).total_cmp(&b.number().unwrap_or(0.0)),
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Blank, other) | (other, Val::Blank) => other.is_blank(),
        (Val::Text(x), Val::Text(y)) => x == y,
        (Val::Text(_) | Val::List(_), _) | (_, Val::Text(_) | Val::List(_)) => match (a.number(), b.number()) {
            (Some(x), Some(y)) => x == y,
            _ => a.text() == b.text(),
        },
        _ => a.number() == b.number(),
    }
}

/// What a formula sees of a record: its cells by field name, and its id.
pub trait Row {
    fn cell(&self, field: &str) -> Val;
    fn record_id(&self) -> &str;
    fn created_time(&self) -> &str;
}

pub fn eval(expr: &Expr, row: &dyn Row) -> Result<Val, String> {
    Ok(match expr {
        Expr::Num(n) => Val::Num(*n),
        Expr::Str(s) => Val::Text(s.clone()),
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Field(name) => row.cell(name),
        Expr::Neg(inner) => Val::Num(-eval(inner, row)?.number().unwrap_or(0.0)),
        Expr::Binary(op, left, right) => {
            let (a, b) = (eval(left, row)?, eval(right, row)?);
            match *op {
                "=" => Val::Bool(equal(&a, &b)),
                "!=" => Val::Bool(!equal(&a, &b)),
                "<" => Val::Bool(compare(&a, &b) == Ordering::Less),
                ">" => Val::Bool(compare(&a, &b) == Ordering::Greater),
                "<=" => Val::Bool(compare(&a, &b) != Ordering::Greater),
                ">=" => Val::Bool(compare(&a, &b) != Ordering::Less),
                "&" => Val::Text(a.text() + &b.text()),
                op => arithmetic(op, &a, &b),
            }
        }
        Expr::Call(name, args) => super::functions::call(name, args, row)?,
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
