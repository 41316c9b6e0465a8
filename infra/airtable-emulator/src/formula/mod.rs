//! A useful subset of Airtable's formula language, for `filterByFormula` and view filters.
//!
//! Parsed once per request and checked against the table (unknown fields and functions are refused, as
//! Airtable refuses them: 422 `INVALID_FILTER_BY_FORMULA`), then evaluated per record.

mod eval;
mod functions;
mod lexer;
mod parser;

pub use eval::{Row, Val, compare};
use parser::Expr;

use crate::error::AirtableError;
use crate::model::{Record, Table};

#[derive(Debug)]
pub struct Formula {
    expr: Expr,
}

impl Formula {
    pub fn parse(source: &str, table: &Table) -> Result<Self, AirtableError> {
        let invalid = |reason: String| {
            AirtableError::invalid(
                "INVALID_FILTER_BY_FORMULA",
                format!("The formula for filtering records is invalid: {reason}"),
            )
        };
        let tokens = lexer::tokenize(source).map_err(invalid)?;
        let expr = if tokens.is_empty() { Expr::Bool(true) } else { parser::parse(&tokens).map_err(invalid)? };
        let mut unknown = Vec::new();
        check(&expr, table, &mut unknown);
        if !unknown.is_empty() {
            return Err(invalid(format!("Unknown field names or functions: {}", unknown.join(", "))));
        }
        Ok(Self { expr })
    }

    pub fn matches(&self, table: &Table, record: &Record) -> bool {
        eval::eval(&self.expr, &RecordRow { table, record }).is_ok_and(|v| v.truthy())
    }
}

fn check(expr: &Expr, table: &Table, unknown: &mut Vec<String>) {
    match expr {
        Expr::Field(name) if table.field(name).is_none() => unknown.push(name.clone()),
        Expr::Call(name, args) => {
            if !functions::KNOWN.contains(&name.as_str()) {
                unknown.push(format!("{name}()"));
            }
            args.iter().for_each(|a| check(a, table, unknown));
        }
        Expr::Neg(inner) => check(inner, table, unknown),
        Expr::Binary(_, left, right) => {
            check(left, table, unknown);
            check(right, table, unknown);
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::model::{Field, FieldType};

    fn table() -> Table {
        let field = |id: &str, name: &str, kind| Field { id: id.into(), name: name.into(), kind, choices: vec![] };
        let record = |id: &str, cells: serde_json::Value| Record {
            id: id.into(),
            created_time: "2024-01-01T00:00:00.000Z".into(),
            cells: cells.as_object().cloned().unwrap(),
        };
        Table {
            id: "tblT".into(),
            name: "T".into(),
            description: None,
            fields: vec![
                field("fldName", "Name", FieldType::SingleLineText),
                field("fldAge", "Age", FieldType::Number),
                field("fldDone", "Done", FieldType::Checkbox),
                field("fldTags", "Tags", FieldType::MultipleSelects),
            ],
            views: vec![],
            records: vec![
                record("rec1", json!({"fldName": "Jane's", "fldAge": 30, "fldDone": true, "fldTags": ["a", "b"]})),
                record("rec2", json!({"fldName": "bob", "fldAge": 7})),
                record("rec3", json!({})),
            ],
        }
    }

    fn matching(source: &str) -> Vec<String> {
        let table = table();
        let formula = Formula::parse(source, &table).unwrap();
        table.records.iter().filter(|r| formula.matches(&table, r)).map(|r| r.id.clone()).collect()
    }

    #[test]
    fn the_formulas_pyairtable_writes_select_the_right_records() {
        assert_eq!(matching(r"{Name}='Jane\'s'"), ["rec1"]);
        assert_eq!(matching("AND({Age}>=7, NOT({Done}))"), ["rec2"]);
        assert_eq!(matching("OR({Age}>20, {Name}='bob')"), ["rec1", "rec2"]);
        assert_eq!(matching("{Name}=''"), ["rec3"]);
        assert_eq!(matching("{Name}=BLANK()"), ["rec3"]);
        assert_eq!(matching("RECORD_ID()='rec2'"), ["rec2"]);
        assert_eq!(matching("FIND('a', ARRAYJOIN({Tags}))"), ["rec1"]);
        assert_eq!(matching("SEARCH('BO', {Name})"), ["rec2"]);
        assert_eq!(matching("IF({Done}, 1, 0)"), ["rec1"]);
        assert_eq!(matching("LOWER({Name}) & '!' = 'bob!'"), ["rec2"]);
        assert_eq!(matching("{Age} * 2 = 14"), ["rec2"]);
        assert_eq!(matching(""), ["rec1", "rec2", "rec3"]);
    }

    #[test]
    fn unknown_fields_and_functions_are_refused_like_airtable_refuses_them() {
        for source in ["{Nope}=1", "FROB({Name})", "AND(", "{Name}='x"] {
            let err = Formula::parse(source, &table()).unwrap_err();
            assert_eq!(err.kind, "INVALID_FILTER_BY_FORMULA", "{source}");
        }
    }
}
