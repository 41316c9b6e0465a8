//! Bodies and query strings of the rest of the /v0 surface (comments, webhooks, meta writes, uploads), read
//! and bounded before anything goes upstream: a malformed request never spends one of the base's five
//! requests a second. Each body type is also the operation's documented schema, so what the OpenAPI
//! document says and what the handler enforces are one declaration.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{missing_field, unknown_parameter};
use crate::error::GatewayError;
use crate::query::parse_pairs;

/// The body as a JSON object.
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| GatewayError::invalid("Invalid request: parameter validation failed. Check your request data."))?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(GatewayError::invalid("The request body must be a JSON object")),
    }
}

/// No key of `object` is `null` but those in `nullable` (an optional key is left out, not sent as null).
pub(super) fn no_nulls(object: &Map<String, Value>, nullable: &[&str]) -> Result<(), GatewayError> {
    match object.iter().find(|(key, value)| value.is_null() && !nullable.contains(&key.as_str())) {
        Some((key, _)) => Err(GatewayError::invalid(format!("{key} may not be null"))),
        None => Ok(()),
    }
}

/// The body as a JSON object, its `required` keys present, no key null but the `nullable` ones, then typed
/// (unknown keys refused, as Airtable refuses them).
pub(super) fn parse<T: DeserializeOwned>(body: &[u8], required: &[&str], nullable: &[&str]) -> Result<T, GatewayError> {
    let object = object(body)?;
    if let Some(key) = required.iter().find(|key| !object.contains_key(**key)) {
        return Err(missing_field(key));
    }
    no_nulls(&object, nullable)?;
    serde_json::from_value(Value::Object(object))
        .map_err(|e| GatewayError::invalid(format!("Invalid request: parameter validation failed. {e}")))
}

/// A text bound in characters (what JSON Schema's `minLength`/`maxLength` count).
pub(super) fn chars(name: &str, value: &str, min: usize, max: usize) -> Result<(), GatewayError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(GatewayError::invalid(format!("{name} must be {min} to {max} characters long, not {n}")));
    }
    Ok(())
}

pub(super) fn optional_chars(name: &str, value: Option<&str>, min: usize, max: usize) -> Result<(), GatewayError> {
    value.map_or(Ok(()), |v| chars(name, v, min, max))
}

/// `prefix` + 14 ASCII alphanumerics: an Airtable id (`com…`, `ach…`, `fld…`).
pub(super) fn is_id(prefix: &str, value: &str) -> bool {
    value.len() == prefix.len() + 14
        && value.starts_with(prefix)
        && value[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The query string's parameters, each at most once and each among `allowed`.
pub(super) fn params(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>, GatewayError> {
    let mut found = BTreeMap::new();
    for (key, value) in parse_pairs(raw) {
        if !allowed.contains(&key.as_str()) {
            return Err(unknown_parameter(&key));
        }
        if found.insert(key.clone(), value).is_some() {
            return Err(GatewayError::invalid(format!("The parameter {key} may be given only once")));
        }
    }
    Ok(found)
}

/// A whole-number parameter within `min..=max`.
pub(super) fn whole(name: &str, raw: &str, min: u64, max: u64) -> Result<u64, GatewayError> {
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(GatewayError::invalid(format!("{name} must be a whole number from {min} to {max}"))),
    }
}

/// Airtable's 404 for an id that cannot name anything.
pub(super) fn no_such(what: &str, id: &str) -> GatewayError {
    GatewayError::not_found(format!("Could not find a {what} with ID \"{id}\"."))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::StatusCode;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        text: String,
    }

    fn refusal(e: GatewayError) -> (StatusCode, &'static str, String) {
        match e {
            GatewayError::Invalid { status, kind, message } => (status, kind, message),
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn bodies_are_objects_with_their_keys_and_nothing_else() {
        assert!(parse::<Body>(br#"{"text":"hi"}"#, &["text"], &[]).is_ok());
        let (status, kind, _) = refusal(parse::<Body>(b"[1]", &["text"], &[]).unwrap_err());
        assert_eq!((status, kind), (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST_UNKNOWN"));
        let (_, kind, message) = refusal(parse::<Body>(b"{}", &["text"], &[]).unwrap_err());
        assert_eq!((kind, message.contains("\"text\"")), ("INVALID_REQUEST_MISSING_FIELDS", true));
        let (_, _, message) = refusal(parse::<Body>(br#"{"text":"a","x":1}"#, &["text"], &[]).unwrap_err());
        assert!(message.contains("unknown field `x`"), "{message}");
        let (_, _, message) = refusal(parse::<Body>(br#"{"text":1}"#, &["text"], &[]).unwrap_err());
        assert!(message.contains("invalid type"), "{message}");
        assert!(parse::<Body>(b"not json", &[], &[]).is_err());
    }

    #[test]
    fn bounds_count_characters_not_bytes() {
        assert!(chars("text", "ééé", 1, 3).is_ok());
        assert!(chars("text", "éééé", 1, 3).is_err());
        assert!(chars("text", "", 1, 3).is_err());
        assert!(optional_chars("d", None, 1, 3).is_ok());
    }

    #[test]
    fn params_are_known_and_single() {
        let found = params(Some("pageSize=5&offset=abc%2Fdef"), &["pageSize", "offset"]).unwrap();
        assert_eq!(found["offset"], "abc/def");
        assert!(params(Some("pageSize=5&pageSize=6"), &["pageSize"]).is_err());
        assert!(params(Some("nope=1"), &["pageSize"]).is_err());
        assert_eq!(whole("limit", "50", 1, 50).unwrap(), 50);
        for bad in ["0", "51", "-1", "1.5", "x", ""] {
            assert!(whole("limit", bad, 1, 50).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_have_their_prefix_and_fourteen_alphanumerics() {
        assert!(is_id("com", "comAAAAAAAAAAAA11"));
        assert!(!is_id("com", "achAAAAAAAAAAAA11"));
        assert!(!is_id("com", "comAAAAAAAAAAAA1"));
        assert!(!is_id("com", "comAAAAAAAAAAAA1!"));
    }
}
