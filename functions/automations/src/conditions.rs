//! Conditions on a run's data: `{"all": [..]}`, `{"any": [..]}`, `{"not": ..}` and comparisons
//! `{"path": "trigger.fields.fldStatus", "op": "eq", "value": "Done"}`. A path is dot-separated names (and list
//! indexes) into the context (`trigger`, `steps`, `item`, `index`); a missing value is `null`. Bounded: at most
//! 50 comparisons, nested 5 deep, values of 4 KiB.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::model::{Invalid, invalid};

pub const MAX_COMPARISONS: usize = 50;
pub const MAX_NESTING: usize = 5;
const MAX_VALUE_BYTES: usize = 4096;
const MAX_PATH_CHARS: usize = 200;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Condition {
    All {
        #[schema(no_recursion)]
        all: Vec<Condition>,
    },
    Any {
        #[schema(no_recursion)]
        any: Vec<Condition>,
    },
    Not {
        #[schema(no_recursion)]
        not: Box<Condition>,
    },
    Compare(Comparison),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub path: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub value: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// A string containing the value, or a list holding it.
    Contains,
    StartsWith,
    /// The value is a list holding the path's value.
    In,
    IsEmpty,
    IsNotEmpty,
}

impl Condition {
    pub fn validate(&self, at: &str) -> Result<(), Invalid> {
        let mut count = 0;
        self.check(at, 0, &mut count)
    }

    fn check(&self, at: &str, depth: usize, count: &mut usize) -> Result<(), Invalid> {
        if depth > MAX_NESTING {
            return Err(invalid(at, format!("conditions nest at most {MAX_NESTING} deep")));
        }
        match self {
            Self::All { all: list } | Self::Any { any: list } => {
                if list.is_empty() {
                    return Err(invalid(at, "all/any take at least one condition"));
                }
                list.iter().try_for_each(|c| c.check(at, depth + 1, count))
            }
            Self::Not { not } => not.check(at, depth + 1, count),
            Self::Compare(c) => {
                *count += 1;
                if *count > MAX_COMPARISONS {
                    return Err(invalid(at, format!("at most {MAX_COMPARISONS} comparisons")));
                }
                if c.path.is_empty() || c.path.chars().count() > MAX_PATH_CHARS || c.path.split('.').any(str::is_empty)
                {
                    return Err(invalid(at, format!("path: dot-separated names, 1 to {MAX_PATH_CHARS} characters")));
                }
                let needs_value = !matches!(c.op, Op::IsEmpty | Op::IsNotEmpty);
                match (&c.value, needs_value) {
                    (None, true) => Err(invalid(at, format!("{:?} needs a value", c.op))),
                    (Some(_), false) => Err(invalid(at, format!("{:?} takes no value", c.op))),
                    (Some(v), true)
                        if serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX) > MAX_VALUE_BYTES =>
                    {
                        Err(invalid(at, format!("a value of at most {MAX_VALUE_BYTES} bytes")))
                    }
                    (Some(v), true) if c.op == Op::In && !v.is_array() => Err(invalid(at, "in takes a list")),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Whether the condition holds on `context`.
    pub fn holds(&self, context: &Value) -> bool {
        match self {
            Self::All { all } => all.iter().all(|c| c.holds(context)),
            Self::Any { any } => any.iter().any(|c| c.holds(context)),
            Self::Not { not } => !not.holds(context),
            Self::Compare(c) => compare(lookup(context, &c.path), c.op, c.value.as_ref().unwrap_or(&Value::Null)),
        }
    }
}

/// The value at a dot-separated path (`steps.copy.fields.Name`, `trigger.records.0.id`); `null` when absent.
pub fn lookup<'a>(context: &'a Value, path: &str) -> &'a Value {
    let mut at = context;
    for part in path.split('.') {
        at = match at {
            Value::Object(map) => map.get(part).unwrap_or(&Value::Null),
            Value::Array(list) => part.parse::<usize>().ok().and_then(|i| list.get(i)).unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    at
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(_) => false,
    }
}

/// Numbers compare as numbers (a numeric string counts as its number), strings as strings.
fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    a == b || order(a, b) == Some(std::cmp::Ordering::Equal)
}

fn compare(actual: &Value, op: Op, expected: &Value) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => equal(actual, expected),
        Op::Ne => !equal(actual, expected),
        Op::Gt => order(actual, expected) == Some(Greater),
        Op::Gte => matches!(order(actual, expected), Some(Greater | Equal)),
        Op::Lt => order(actual, expected) == Some(Less),
        Op::Lte => matches!(order(actual, expected), Some(Less | Equal)),
        Op::Contains => match (actual, expected) {
            (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
            (Value::Array(list), v) => list.iter().any(|x| equal(x, v)),
            _ => false,
        },
        Op::StartsWith => match (actual, expected) {
            (Value::String(s), Value::String(prefix)) => s.starts_with(prefix.as_str()),
            _ => false,
        },
        Op::In => expected.as_array().is_some_and(|list| list.iter().any(|x| equal(actual, x))),
        Op::IsEmpty => is_empty(actual),
        Op::IsNotEmpty => !is_empty(actual),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn condition(v: Value) -> Condition {
        let c: Condition = serde_json::from_value(v).unwrap();
        c.validate("c").unwrap();
        c
    }

    #[test]
    fn comparisons_hold_as_documented() {
        let ctx = json!({"trigger": {"fields": {"Status": "Done", "Score": 7, "Tags": ["a", "b"], "Blank": ""}}});
        let cases = [
            (json!({"path": "trigger.fields.Status", "op": "eq", "value": "Done"}), true),
            (json!({"path": "trigger.fields.Status", "op": "ne", "value": "Done"}), false),
            (json!({"path": "trigger.fields.Score", "op": "gt", "value": 5}), true),
            (json!({"path": "trigger.fields.Score", "op": "lte", "value": "6"}), false),
            (json!({"path": "trigger.fields.Score", "op": "eq", "value": "7"}), true),
            (json!({"path": "trigger.fields.Tags", "op": "contains", "value": "b"}), true),
            (json!({"path": "trigger.fields.Status", "op": "starts_with", "value": "Do"}), true),
            (json!({"path": "trigger.fields.Status", "op": "in", "value": ["New", "Done"]}), true),
            (json!({"path": "trigger.fields.Blank", "op": "is_empty"}), true),
            (json!({"path": "trigger.fields.Missing", "op": "is_empty"}), true),
            (json!({"path": "trigger.fields.Tags.1", "op": "eq", "value": "b"}), true),
            (
                json!({"all": [{"path": "trigger.fields.Status", "op": "eq", "value": "Done"}, {"not": {"path": "trigger.fields.Score", "op": "lt", "value": 3}}]}),
                true,
            ),
            (
                json!({"any": [{"path": "trigger.fields.Status", "op": "eq", "value": "New"}, {"path": "trigger.fields.Score", "op": "gte", "value": 8}]}),
                false,
            ),
        ];
        for (c, expected) in cases {
            assert_eq!(condition(c.clone()).holds(&ctx), expected, "{c}");
        }
    }

    #[test]
    fn malformed_or_unbounded_conditions_are_refused() {
        let refused = [
            json!({"path": "a", "op": "eq"}),
            json!({"path": "a", "op": "is_empty", "value": 1}),
            json!({"path": "a..b", "op": "is_empty"}),
            json!({"path": "a", "op": "in", "value": 1}),
            json!({"all": []}),
        ];
        for c in refused {
            let parsed: Condition = serde_json::from_value(c.clone()).unwrap();
            assert!(parsed.validate("c").is_err(), "{c}");
        }
        let mut deep = json!({"path": "a", "op": "is_empty"});
        for _ in 0..=MAX_NESTING {
            deep = json!({"not": deep});
        }
        assert!(serde_json::from_value::<Condition>(deep).unwrap().validate("c").is_err());
        let many: Vec<Value> = (0..=MAX_COMPARISONS).map(|_| json!({"path": "a", "op": "is_empty"})).collect();
        assert!(serde_json::from_value::<Condition>(json!({"all": many})).unwrap().validate("c").is_err());
        // Unknown operators do not parse.
        assert!(serde_json::from_value::<Condition>(json!({"path": "a", "op": "like", "value": 1})).is_err());
    }
}
