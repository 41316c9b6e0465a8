//! A useful subset of Airtable's formula language, for `filterByFormula` and view filters.
//!
//! Parsed once per request and checked against the table (unknown fields and functions, and calls with the
//! wrong number of arguments, are refused, as Airtable refuses them: 422 `INVALID_FILTER_BY_FORMULA`), then
//! evaluated per record.
//!
//! Bounded against hostile input: a formula is at most [`MAX_FORMULA_CHARS`] characters and nests at most
//! [`MAX_NESTING`] levels deep (parentheses, function calls, unary minus signs), so parsing, checking,
//! evaluating and dropping it never recurse more than a few hundred frames; text a formula builds is at
//! most [`MAX_TEXT_BYTES`]; regular expressions are size-limited and match in linear time.

mod dates;
mod eval;
mod functions;
mod lexer;
mod parser;
mod patterns;

use chrono::{DateTime, Utc};
pub use eval::{MAX_TEXT_BYTES, Row, Val, compare};
use parser::Expr;
pub use parser::MAX_NESTING;

use crate::error::AirtableError;
use crate::model::{Record, Table};

/// The longest formula accepted, in characters. Airtable refuses request URLs beyond 16,000 characters
/// (clients such as pyairtable switch to `POST …/listRecords` past that); 16,384 leaves room for any
/// formula a GET can carry, and the gateway applies the same bound before forwarding.
pub const MAX_FORMULA_CHARS: usize = 16_384;

#[derive(Debug)]
pub struct Formula {
    expr: Expr,
    /// `NOW()` and `TODAY()`: one instant for the whole request.
    now: DateTime<Utc>,
    regexes: patterns::Regexes,
}

fn invalid(reason: impl std::fmt::Display) -> AirtableError {
    AirtableError::invalid(
        "INVALID_FILTER_BY_FORMULA",
        format!("The formula for filtering records is invalid: {reason}"),
    )
}

impl Formula {
    pub fn parse(source: &str, table: &Table) -> Result<Self, AirtableError> {
        Self::parse_at(source, table, Utc::now())
    }

    /// As [`Formula::parse`], with `NOW()` fixed at `now`.
    pub fn parse_at(source: &str, table: &Table, now: DateTime<Utc>) -> Result<Self, AirtableError> {
        if source.chars().nth(MAX_FORMULA_CHARS).is_some() {
            return Err(invalid(format!("the formula is longer than {MAX_FORMULA_CHARS} characters")));
        }
        let tokens = lexer::tokenize(source).map_err(invalid)?;
        let expr = if tokens.is_empty() { Expr::Bool(true) } else { parser::parse(&tokens).map_err(invalid)? };
        let mut problems = Vec::new();
        check(&expr, table, &mut problems);
        if !problems.is_empty() {
            return Err(invalid(problems.join("; ")));
        }
        Ok(Self { expr, now, regexes: patterns::Regexes::default() })
    }

    pub fn matches(&self, table: &Table, record: &Record) -> bool {
        self.value(&RecordRow { table, record }).is_ok_and(|v| v.truthy())
    }

    /// The formula's value for a record; `Err` is Airtable's `#ERROR!`.
    pub fn value(&self, row: &dyn Row) -> Result<Val, String> {
        eval::eval(&self.expr, &eval::Ctx { row, now: self.now, regexes: &self.regexes }, 0)
    }
}

/// Collects unknown fields, unknown functions and wrong argument counts. Recurses once per tree level,
/// which the parser bounds.
fn check(expr: &Expr, table: &Table, problems: &mut Vec<String>) {
    match expr {
        Expr::Field(name) if table.field(name).is_none() => problems.push(format!("unknown field {{{name}}}")),
        Expr::Call(name, args) => {
            if let Some(problem) = functions::check_call(name, args.len()) {
                problems.push(problem);
            }
            args.iter().for_each(|a| check(a, table, problems));
        }
        Expr::Neg(inner) => check(inner, table, problems),
        Expr::Chain(first, rest) => {
            check(first, table, problems);
            rest.iter().for_each(|(_, e)| check(e, table, problems));
        }
        _ => {}
    }
}

pub struct RecordRow<'a> {
    pub table: &'a Table,
    pub record: &'a Record,
}

impl Row for RecordRow<'_> {
    fn cell(&self, field: &str) -> Val {
        Val::from_json(self.table.cell(self.record, field))
    }
    fn record_id(&self) -> &str {
        &self.record.id
    }
    fn created_time(&self) -> &str {
        &self.record.created_time
    }
}

#[cfg(test)]
mod tests;
