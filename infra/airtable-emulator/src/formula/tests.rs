//! The formula language end to end: parsing with Airtable's refusals, each function group's semantics,
//! and hostile formulas refused (422) without exhausting a normal thread's stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::model::{Field, FieldType};

fn table() -> Table {
    let field = |id: &str, name: &str, kind| Field { id: id.into(), name: name.into(), kind, choices: vec![] };
    let record = |id: &str, created: &str, cells: serde_json::Value| Record {
        id: id.into(),
        created_time: created.into(),
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
            field("fldDue", "Due", FieldType::Date),
            field("fldNote", "Note", FieldType::MultilineText),
        ],
        views: vec![],
        records: vec![
            record(
                "rec1",
                "2024-01-01T00:00:00.000Z",
                json!({"fldName": "Jane's", "fldAge": 30, "fldDone": true, "fldTags": ["a", "b"], "fldDue": "2024-03-05",
                       "fldNote": "Order #1234 shipped"}),
            ),
            record("rec2", "2024-02-15T12:30:00.000Z", json!({"fldName": "bob", "fldAge": 7, "fldDue": "2024-06-30"})),
            record("rec3", "2024-03-01T08:00:00.000Z", json!({})),
        ],
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-03-05T15:45:00Z").unwrap().with_timezone(&Utc)
}

fn matching(source: &str) -> Vec<String> {
    let table = table();
    let formula = Formula::parse_at(source, &table, now()).unwrap_or_else(|e| panic!("{source}: {e:?}"));
    table.records.iter().filter(|r| formula.matches(&table, r)).map(|r| r.id.clone()).collect()
}

/// The formula's value for the first record.
fn value(source: &str) -> Result<Val, String> {
    let table = table();
    let formula = Formula::parse_at(source, &table, now()).unwrap_or_else(|e| panic!("{source}: {e:?}"));
    formula.value(&RecordRow { table: &table, record: &table.records[0] })
}

fn text(source: &str) -> String {
    value(source).unwrap_or_else(|e| panic!("{source}: {e}")).text()
}

fn refusal(source: &str) -> AirtableError {
    Formula::parse_at(source, &table(), now()).unwrap_err()
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
    assert_eq!(matching("1 + 2 * 3 - 4 / 2 = 5"), ["rec1", "rec2", "rec3"]);
    assert_eq!(matching("10 - 2 - 3 = 5"), ["rec1", "rec2", "rec3"], "left-associative");
    assert_eq!(matching(""), ["rec1", "rec2", "rec3"]);
}

#[test]
fn unknown_fields_functions_and_wrong_arities_are_refused_like_airtable_refuses_them() {
    for source in ["{Nope}=1", "FROB({Name})", "AND(", "{Name}='x", "LEN()", "LEFT({Name})", "IF(1,2,3,4)", "NOW(1)"] {
        let err = refusal(source);
        assert_eq!(err.kind, "INVALID_FILTER_BY_FORMULA", "{source}");
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{source}");
    }
    let message = refusal("AND({Nope}, FROB(1), LEFT('x'))").message.unwrap();
    assert!(message.starts_with("The formula for filtering records is invalid: "), "{message}");
    assert!(message.contains("unknown field {Nope}"), "{message}");
    assert!(message.contains("unknown function FROB()"), "{message}");
    assert!(message.contains("LEFT() takes 2 argument(s), not 1"), "{message}");
}

#[test]
fn logical_functions() {
    assert_eq!(text("IF({Age} > 10, 'old', 'young')"), "old");
    assert_eq!(value("IF(FALSE(), 'x')").unwrap(), Val::Blank);
    assert_eq!(text("SWITCH({Age}, 7, 'seven', 30, 'thirty', 'other')"), "thirty");
    assert_eq!(text("SWITCH({Name}, 'x', 'X', 'fallback')"), "fallback");
    assert_eq!(value("SWITCH({Name}, 'x', 'X')").unwrap(), Val::Blank);
    assert_eq!(value("XOR(1, 1, 1)").unwrap(), Val::Bool(true));
    assert_eq!(value("XOR(1, 1)").unwrap(), Val::Bool(false));
    assert_eq!(value("XOR(0, 1)").unwrap(), Val::Bool(true));
    assert!(value("ERROR()").is_err());
    assert_eq!(value("ISERROR(ERROR())").unwrap(), Val::Bool(true));
    assert_eq!(value("ISERROR(1)").unwrap(), Val::Bool(false));
    // IF and SWITCH evaluate only the branch taken.
    assert_eq!(text("IF(TRUE(), 'ok', ERROR())"), "ok");
    assert_eq!(text("SWITCH(1, 1, 'ok', ERROR())"), "ok");
    // A record whose formula is an error does not match.
    assert_eq!(matching("IF({Done}, ERROR(), TRUE())"), ["rec2", "rec3"]);
}

#[test]
fn text_functions() {
    assert_eq!(text("LOWER('AbC') & UPPER('AbC') & TRIM('  x  ')"), "abcABCx");
    assert_eq!(value("LEN('héllo')").unwrap(), Val::Num(5.0));
    assert_eq!(text("CONCATENATE({Name}, '-', {Age}, '-', TRUE())"), "Jane's-30-1");
    assert_eq!(text("LEFT('abcdef', 2) & RIGHT('abcdef', 2) & MID('abcdef', 3, 2)"), "abefcd");
    assert_eq!(text("RIGHT('ab', 5) & LEFT('ab', 5)"), "abab");
    assert_eq!(text("SUBSTITUTE('a-b-c', '-', '+')"), "a+b+c");
    assert_eq!(text("SUBSTITUTE('a-b-c', '-', '+', 2)"), "a-b+c");
    assert_eq!(text("REPLACE('abcdef', 2, 3, 'X')"), "aXef");
    assert_eq!(value("FIND('c', 'abcabc')").unwrap(), Val::Num(3.0));
    assert_eq!(value("FIND('c', 'abcabc', 4)").unwrap(), Val::Num(6.0));
    assert_eq!(value("FIND('z', 'abc')").unwrap(), Val::Num(0.0));
    assert_eq!(value("SEARCH('C', 'abc')").unwrap(), Val::Num(3.0));
    assert_eq!(value("SEARCH('z', 'abc')").unwrap(), Val::Blank);
    assert_eq!(text("ARRAYJOIN({Tags}, ' | ')"), "a | b");
    assert_eq!(text("ARRAYJOIN({Tags})"), "a, b");
    assert_eq!(text("REPT('ab', 3)"), "ababab");
}

#[test]
fn text_a_formula_builds_is_bounded() {
    assert!(value("REPT('x', 2000000)").is_err());
    let doubling = (0..24).fold("'xx'".to_string(), |inner, _| format!("SUBSTITUTE({inner}, 'x', 'xx')"));
    assert!(value(&doubling).is_err(), "2^25 bytes is beyond the bound");
    assert!(value("REPT('x', 600000) & REPT('y', 600000)").is_err());
    assert!(value("CONCATENATE(REPT('x', 600000), REPT('y', 600000))").is_err());
    assert_eq!(value("LEN(REPT('x', 600000))").unwrap(), Val::Num(600_000.0), "below the bound is fine");
}

#[test]
fn numeric_functions() {
    let num = |source: &str| match value(source).unwrap() {
        Val::Num(n) => n,
        other => panic!("{source}: {other:?}"),
    };
    assert_eq!(num("ROUND(2.5)"), 3.0);
    assert_eq!(num("ROUND(-2.5)"), -3.0);
    assert_eq!(num("ROUND(2.71828, 2)"), 2.72);
    assert_eq!(num("ROUND(1234, -2)"), 1200.0);
    assert_eq!(num("ROUNDUP(1.21, 1)"), 1.3);
    assert_eq!(num("ROUNDDOWN(1.29, 1)"), 1.2);
    assert_eq!(num("ABS(-4)"), 4.0);
    assert_eq!(num("MOD(7, 3)"), 1.0);
    assert_eq!(value("MOD(7, 0)").unwrap(), Val::Blank);
    assert_eq!(num("SUM(1, 2, {Age})"), 33.0);
    assert_eq!(num("MIN(4, 2, 8)"), 2.0);
    assert_eq!(num("MAX(4, 2, 8)"), 8.0);
    assert_eq!(num("AVERAGE(1, 2, 3, 4)"), 2.5);
    assert_eq!(num("COUNTA({Name}, {Tags}, BLANK(), '')"), 3.0, "blank and empty text are not counted");
    assert_eq!(num("COUNT(1, 'x', 2)"), 2.0);
    assert_eq!(num("VALUE('$1,000.5')"), 1000.5);
    assert_eq!(num("INT(-1.5)"), -2.0);
    assert_eq!(num("POWER(2, 10)"), 1024.0);
    assert_eq!(num("SQRT(16)"), 4.0);
    assert_eq!(num("-{Age}"), -30.0);
}

#[test]
fn date_functions() {
    assert_eq!(matching("IS_AFTER({Due}, '2024-04-01')"), ["rec2"]);
    assert_eq!(matching("IS_BEFORE({Due}, NOW())"), ["rec1"], "blank dates match neither way");
    assert_eq!(matching("NOT(IS_BEFORE({Due}, NOW()))"), ["rec2", "rec3"]);
    assert_eq!(matching("IS_SAME({Due}, TODAY(), 'day')"), ["rec1"]);
    assert_eq!(matching("IS_SAME({Due}, NOW())"), Vec::<String>::new(), "to the millisecond");
    assert_eq!(matching("IS_SAME({Due}, '2024-06-01', 'month')"), ["rec2"]);
    assert_eq!(matching("AND({Due}, {Due} <= TODAY())"), ["rec1"], "dates compare with dates");
    assert_eq!(matching("{Due} > '2024-04-01'"), ["rec2"], "and with text that reads as a date");
    assert_eq!(value("DATETIME_DIFF('2024-03-10', {Due}, 'days')").unwrap(), Val::Num(5.0));
    assert_eq!(value("DATETIME_DIFF(NOW(), {Due})").unwrap(), Val::Num(56_700.0), "seconds by default");
    assert_eq!(value("DATETIME_DIFF({Due}, '2023-03-05', 'years')").unwrap(), Val::Num(1.0));
    assert_eq!(text("DATEADD({Due}, 1, 'month')"), "2024-04-05T00:00:00.000Z");
    assert_eq!(text("DATEADD({Due}, -36, 'hours')"), "2024-03-03T12:00:00.000Z");
    assert_eq!(text("DATETIME_FORMAT({Due}, 'DD/MM/YYYY')"), "05/03/2024");
    assert_eq!(text("DATETIME_FORMAT(NOW(), 'LLL')"), "March 5, 2024 3:45 PM");
    assert_eq!(
        text("DATETIME_FORMAT(DATETIME_PARSE('5 Mar 2024 10:00', 'D MMM YYYY HH:mm'), 'YYYY-MM-DD HH:mm')"),
        "2024-03-05 10:00"
    );
    assert_eq!(value("YEAR({Due}) * 10000 + MONTH({Due}) * 100 + DAY({Due})").unwrap(), Val::Num(20_240_305.0));
    assert_eq!(value("WEEKDAY({Due})").unwrap(), Val::Num(2.0));
    assert_eq!(value("WEEKDAY({Due}, 'Monday')").unwrap(), Val::Num(1.0));
    assert_eq!(text("TODAY()"), "2024-03-05T00:00:00.000Z");
    assert_eq!(text("NOW()"), "2024-03-05T15:45:00.000Z");
    assert_eq!(text("DATESTR(NOW())"), "2024-03-05");
    assert_eq!(value("HOUR(NOW()) & ':' & MINUTE(NOW())").unwrap(), Val::Text("15:45".into()));
    // Blank dates give blank answers; text that is no date is an error.
    assert_eq!(value("YEAR(BLANK())").unwrap(), Val::Blank);
    assert!(value("YEAR('soon')").is_err());
    assert!(value("DATEADD({Due}, 1, 'fortnights')").is_err());
}

#[test]
fn record_functions() {
    assert_eq!(matching("RECORD_ID() = 'rec3'"), ["rec3"]);
    assert_eq!(matching("IS_AFTER(CREATED_TIME(), '2024-02-01')"), ["rec2", "rec3"]);
    assert_eq!(matching("CREATED_TIME() = '2024-02-15T12:30:00.000Z'"), ["rec2"]);
    assert_eq!(matching("IS_BEFORE(LAST_MODIFIED_TIME({Name}), '2024-02-01')"), ["rec1"]);
    assert_eq!(matching("DATETIME_DIFF(NOW(), CREATED_TIME(), 'days') >= 15"), ["rec1", "rec2"]);
}

#[test]
fn regex_functions() {
    assert_eq!(matching(r"REGEX_MATCH({Note}, '#\\d{4}')"), ["rec1"]);
    assert_eq!(text(r"REGEX_EXTRACT({Note}, '\\d+')"), "1234");
    assert_eq!(text(r"REGEX_REPLACE({Note}, '#(\\d+)', 'no. $1')"), "Order no. 1234 shipped");
    assert!(value("REGEX_MATCH('x', '(')").is_err(), "an invalid pattern is #ERROR!");
    assert!(value("REGEX_EXTRACT('abc', '[0-9]')").is_err(), "no match is #ERROR!");
    assert_eq!(matching("REGEX_MATCH({Name}, '(?i)^BOB$')"), ["rec2"]);
}

/// Runs `f` on a thread with the stack a tokio worker (or a test thread) gets by default, 2 MiB — or
/// half of it, leaving the other half to the server's own frames below the handler.
fn on_stack<T: Send + 'static>(bytes: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(bytes).spawn(f).unwrap().join().expect("the thread overflowed or panicked")
}

const WORKER_STACK: usize = 2 << 20;

#[test]
fn hostile_formulas_are_refused_on_a_normal_stack_not_crashing_it() {
    let hostile = [
        format!("{}1{}", "(".repeat(1_600), ")".repeat(1_600)),
        format!("{}1{}", "NOT(".repeat(3_000), ")".repeat(3_000)),
        format!("{}1", "-".repeat(20_000)),
        format!("{}1", "-".repeat(10_000)),
        format!("{}1", "NOT(".repeat(3_000)),
        "(".repeat(100_000),
        "x".repeat(MAX_FORMULA_CHARS + 1),
    ];
    let kinds = on_stack(WORKER_STACK, move || {
        hostile.iter().map(|source| Formula::parse(source, &table()).map(|_| ()).unwrap_err()).collect::<Vec<_>>()
    });
    for error in kinds {
        assert_eq!(error.kind, "INVALID_FILTER_BY_FORMULA");
        assert_eq!(error.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[test]
fn the_deepest_formula_accepted_parses_evaluates_and_drops_on_a_normal_stack() {
    // Every level as deep a tree as one level can make: four operator chains, then a function call.
    let levels = MAX_NESTING;
    let deepest = format!("{}1{}", "1=1&1+1*IF(".repeat(levels), ", 2)".repeat(levels));
    let long_chain = vec!["{Age}"; MAX_FORMULA_CHARS / 7].join("+");
    let (deepest_matches, chain_matches) = on_stack(WORKER_STACK / 2, move || {
        let table = table();
        let deepest = Formula::parse(&deepest, &table).unwrap();
        let chain = Formula::parse(&long_chain, &table).unwrap();
        let count = |f: &Formula| table.records.iter().filter(|r| f.matches(&table, r)).count();
        (count(&deepest), count(&chain))
    });
    assert_eq!(deepest_matches, 0, "'1' = '1&…' is false for every record");
    assert_eq!(chain_matches, 2, "the records with an age");
    let too_deep = format!("{}1{}", "1=1&1+1*IF(".repeat(levels + 1), ", 2)".repeat(levels + 1));
    assert_eq!(refusal(&too_deep).kind, "INVALID_FILTER_BY_FORMULA");
}

#[tokio::test]
async fn a_hostile_filter_is_a_422_over_http_and_the_emulator_keeps_serving() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::seed::{DEMO_BASE, PROJECTS};
    use crate::state::{DEV_TOKEN, Emulator};

    let config = crate::EmulatorConfig { base_rps: 0.0, token_rps: 0.0, ..crate::EmulatorConfig::default() };
    let emulator = Emulator::new(crate::seed::demo_bases(), vec![DEV_TOKEN.into()], config);
    let post = |formula: String| {
        Request::builder()
            .method("POST")
            .uri(format!("/v0/{DEMO_BASE}/{PROJECTS}/listRecords"))
            .header("authorization", format!("Bearer {DEV_TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(json!({ "filterByFormula": formula }).to_string()))
            .unwrap()
    };
    for formula in [format!("{}1{}", "(".repeat(1_600), ")".repeat(1_600)), format!("{}1", "-".repeat(20_000))] {
        let response = crate::router(emulator.clone()).oneshot(post(formula)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "INVALID_FILTER_BY_FORMULA");
    }
    let response = crate::router(emulator).oneshot(post("TRUE()".into())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
