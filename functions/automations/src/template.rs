//! Values templated from the run: every string in a step's settings is a minijinja template over the run's
//! context (`trigger`, `steps`, `item`, `index`, `run`, `automation`), rendered in the notifications' sandbox
//! (no loader, fuel, recursion limit, bounded output). A missing value renders empty (Airtable leaves empty
//! fields out of a record). A string that is exactly one `{{ expression }}` keeps the expression's JSON type,
//! so `"{{ trigger.fields.fldTags }}"` stays a list and `"{{ steps.count.total }}"` a number.

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

use crate::model::{Invalid, invalid};

/// The largest rendered string.
pub const MAX_OUTPUT: usize = 100_000;
/// The longest template.
pub const MAX_SOURCE: usize = 10_000;

fn environment() -> Environment<'static> {
    let mut env = notifications::templates::sandbox();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

/// The expression of a string that is exactly one `{{ … }}`.
fn lone_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Compiles `source` (a template) or says why not.
pub fn check(source: &str, at: &str) -> Result<(), Invalid> {
    if source.len() > MAX_SOURCE {
        return Err(invalid(at, format!("at most {MAX_SOURCE} bytes of template")));
    }
    let env = environment();
    match lone_expression(source) {
        Some(expression) => env.compile_expression(expression).map(drop),
        None => env.template_from_str(source).map(drop),
    }
    .map_err(|e| invalid(at, format!("invalid template: {}", describe(&e))))
}

/// Compiles `source` as an expression (`trigger.records`).
pub fn check_expression(source: &str, at: &str) -> Result<(), Invalid> {
    if source.trim().is_empty() || source.len() > 1_000 {
        return Err(invalid(at, "an expression of 1 to 1000 characters"));
    }
    environment()
        .compile_expression(source)
        .map(drop)
        .map_err(|e| invalid(at, format!("invalid expression: {}", describe(&e))))
}

/// Checks every string inside `value`.
pub fn check_value(value: &Value, at: &str) -> Result<(), Invalid> {
    match value {
        Value::String(s) => check(s, at),
        Value::Array(list) => list.iter().try_for_each(|v| check_value(v, at)),
        Value::Object(map) => map.values().try_for_each(|v| check_value(v, at)),
        _ => Ok(()),
    }
}

fn describe(e: &minijinja::Error) -> String {
    let what = match e.kind() {
        ErrorKind::OutOfFuel => "it runs too long (fuel exhausted)".to_string(),
        ErrorKind::WriteFailure => format!("the output is longer than {MAX_OUTPUT} bytes"),
        kind => match e.detail() {
            Some(detail) => format!("{kind}: {detail}"),
            None => kind.to_string(),
        },
    };
    match e.line() {
        Some(line) => format!("{what} (line {line})"),
        None => what,
    }
}

/// Renders one string.
pub fn render(source: &str, context: &Value) -> Result<Value, String> {
    let env = environment();
    if let Some(expression) = lone_expression(source) {
        let value = env.compile_expression(expression).and_then(|e| e.eval(context)).map_err(|e| describe(&e))?;
        if value.is_undefined() || value.is_none() {
            return Ok(Value::Null);
        }
        let json = serde_json::to_value(&value).map_err(|e| e.to_string())?;
        if serde_json::to_vec(&json).map(|b| b.len()).unwrap_or(usize::MAX) > MAX_OUTPUT {
            return Err(format!("the value is longer than {MAX_OUTPUT} bytes"));
        }
        return Ok(json);
    }
    notifications::templates::render_bounded(&env, source, context, MAX_OUTPUT)
        .map(Value::String)
        .map_err(|e| e.map(|e| describe(&e)).unwrap_or_else(|| "the output is not UTF-8".into()))
}

/// Evaluates an expression (a repeat's `over`).
pub fn evaluate(expression: &str, context: &Value) -> Result<Value, String> {
    render(&format!("{{{{ {expression} }}}}"), context)
}

/// Renders every string inside `value`.
pub fn render_value(value: &Value, context: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => render(s, context)?,
        Value::Array(list) => Value::Array(list.iter().map(|v| render_value(v, context)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), render_value(v, context)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strings_render_and_lone_expressions_keep_their_type() {
        let ctx = json!({"trigger": {"fields": {"Name": "Ada", "Tags": ["x", "y"], "Score": 3}}});
        assert_eq!(render("Hello {{ trigger.fields.Name }}!", &ctx).unwrap(), json!("Hello Ada!"));
        assert_eq!(render("{{ trigger.fields.Tags }}", &ctx).unwrap(), json!(["x", "y"]));
        assert_eq!(render(" {{ trigger.fields.Score + 1 }} ", &ctx).unwrap(), json!(4));
        assert_eq!(render("{{ trigger.fields.Missing }}", &ctx).unwrap(), Value::Null);
        assert_eq!(render("[{{ trigger.fields.Missing.deeper }}]", &ctx).unwrap(), json!("[]"));
        assert_eq!(
            render_value(&json!({"a": "{{ trigger.fields.Name | upper }}", "n": 1}), &ctx).unwrap(),
            json!({"a": "ADA", "n": 1})
        );
        assert_eq!(evaluate("trigger.fields.Tags", &ctx).unwrap(), json!(["x", "y"]));
    }

    #[test]
    fn runaway_and_malformed_templates_are_refused() {
        assert!(check("{{ unclosed", "x").is_err());
        assert!(check("{% for %}", "x").is_err());
        assert!(check("{% include 'x' %}", "x").is_err());
        let ctx = json!({});
        let err = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", &ctx)
            .unwrap_err();
        assert!(err.contains("fuel"), "{err}");
        let err = render("{% for i in range(2000) %}{{ '0123456789' * 10 }}{% endfor %}", &ctx).unwrap_err();
        assert!(err.contains("longer") || err.contains("fuel"), "{err}");
    }
}
