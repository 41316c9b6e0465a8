//! Airtable's list parameters, parsed from a query string (`fields[]=A&sort[0][field]=B…`) or a
//! `listRecords` JSON body into one normalised form. That form is both the cache key (so `GET ?…` and
//! `POST listRecords` with the same meaning share an entry, and parameter order never matters) and what is
//! sent upstream.

use std::collections::BTreeMap;

use serde::Deserialize;

mod body;
mod render;

pub use render::RenderOptions;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct QueryError(pub String);

/// How Airtable begins the message of every `INVALID_FILTER_BY_FORMULA` refusal.
pub const INVALID_FORMULA: &str = "The formula for filtering records is invalid";

impl QueryError {
    /// Airtable's error type for this refusal: `INVALID_FILTER_BY_FORMULA` for a formula the gateway
    /// refuses before forwarding, `INVALID_REQUEST_UNKNOWN` for anything else.
    pub fn kind(&self) -> &'static str {
        if self.0.starts_with(INVALID_FORMULA) { "INVALID_FILTER_BY_FORMULA" } else { "INVALID_REQUEST_UNKNOWN" }
    }

    fn formula(reason: impl std::fmt::Display) -> Self {
        QueryError(format!("{INVALID_FORMULA}: {reason}"))
    }
}

/// The longest `filterByFormula` forwarded, in characters — the bound the Airtable emulator applies too.
/// Airtable refuses request URLs beyond 16,000 characters, and the gateway forwards the formula in the
/// query string, so nothing longer could succeed upstream; refusing it here keeps it from spending one of
/// the base's five requests a second.
pub const MAX_FORMULA_CHARS: usize = 16_384;

/// Refuses a formula longer than [`MAX_FORMULA_CHARS`] (for a formula the gateway combines itself too).
pub fn check_formula(formula: Option<&str>) -> Result<(), QueryError> {
    if formula.is_some_and(|f| f.chars().nth(MAX_FORMULA_CHARS).is_some()) {
        return Err(QueryError::formula(format!("the formula is longer than {MAX_FORMULA_CHARS} characters")));
    }
    Ok(())
}

pub(crate) fn bad(message: impl Into<String>) -> QueryError {
    QueryError(message.into())
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub page_size: Option<u32>,
    pub max_records: Option<u32>,
    pub offset: Option<String>,
    pub fields: Option<Vec<String>>,
    pub sort: Vec<SortBy>,
    pub view: Option<String>,
    pub filter_by_formula: Option<String>,
    pub render: RenderOptions,
    pub record_metadata: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SortBy {
    pub field: String,
    #[serde(default)]
    pub direction: Option<String>,
}

pub fn parse_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn whole(name: &str, raw: &str) -> Result<u32, QueryError> {
    raw.parse().map_err(|_| bad(format!("{name} must be a whole number")))
}

impl ListQuery {
    /// Parses the query string. Parameters this does not know go to `extra`, which decides (the /v0
    /// surface refuses them as Airtable would; /api/v1 has a few of its own).
    pub fn from_pairs(
        pairs: &[(String, String)],
        mut extra: impl FnMut(&str, &str) -> Result<(), QueryError>,
    ) -> Result<Self, QueryError> {
        let mut query = Self::default();
        let mut sorts: BTreeMap<u32, (Option<String>, Option<String>)> = BTreeMap::new();
        for (key, value) in pairs {
            match key.as_str() {
                "pageSize" => query.page_size = Some(whole(key, value)?),
                "maxRecords" => query.max_records = Some(whole(key, value)?),
                "offset" => query.offset = Some(value.clone()).filter(|o| !o.is_empty()),
                "view" => query.view = Some(value.clone()),
                "filterByFormula" => query.filter_by_formula = Some(value.clone()).filter(|f| !f.is_empty()),
                "recordMetadata" | "recordMetadata[]" => query.record_metadata.push(value.clone()),
                k if k == "fields" || k.starts_with("fields[") => {
                    query.fields.get_or_insert_with(Vec::new).push(value.clone())
                }
                k if k.starts_with("sort[") => {
                    let (index, part) = sort_key(k).ok_or_else(|| bad(format!("unknown parameter {k}")))?;
                    let slot = sorts.entry(index).or_default();
                    match part {
                        "field" => slot.0 = Some(value.clone()),
                        "direction" => slot.1 = Some(value.clone()),
                        _ => return Err(bad(format!("unknown parameter {k}"))),
                    }
                }
                k if query.render.take(k, value)? => {}
                k => extra(k, value)?,
            }
        }
        for (_, (field, direction)) in sorts {
            let field = field.ok_or_else(|| bad("every sort entry needs a field"))?;
            query.sort.push(SortBy { field, direction });
        }
        query.check()
    }

    fn check(mut self) -> Result<Self, QueryError> {
        check_formula(self.filter_by_formula.as_deref())?;
        if self.page_size.is_some_and(|n| !(1..=100).contains(&n)) {
            return Err(bad("pageSize must be from 1 to 100"));
        }
        for sort in &mut self.sort {
            match sort.direction.as_deref() {
                None | Some("asc") => sort.direction = Some("asc".into()),
                Some("desc") => {}
                Some(_) => return Err(bad("sort direction must be asc or desc")),
            }
        }
        self.render = self.render.check()?;
        Ok(self)
    }

    /// The normalised parameters, in a fixed order: the cache key and the upstream query string.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |k: &str, v: String| out.push((k.to_string(), v));
        if let Some(n) = self.page_size {
            push("pageSize", n.to_string());
        }
        if let Some(n) = self.max_records {
            push("maxRecords", n.to_string());
        }
        if let Some(offset) = &self.offset {
            push("offset", offset.clone());
        }
        for field in self.fields.iter().flatten() {
            push("fields[]", field.clone());
        }
        for (i, sort) in self.sort.iter().enumerate() {
            push(&format!("sort[{i}][field]"), sort.field.clone());
            push(&format!("sort[{i}][direction]"), sort.direction.clone().unwrap_or_else(|| "asc".into()));
        }
        if let Some(view) = &self.view {
            push("view", view.clone());
        }
        if let Some(formula) = &self.filter_by_formula {
            push("filterByFormula", formula.clone());
        }
        for meta in &self.record_metadata {
            push("recordMetadata[]", meta.clone());
        }
        self.render.to_pairs(&mut out);
        out
    }
}

/// `sort[3][field]` → (3, "field").
fn sort_key(key: &str) -> Option<(u32, &str)> {
    let (index, rest) = key.strip_prefix("sort[")?.split_once("][")?;
    Some((index.parse().ok()?, rest.strip_suffix(']')?))
}

/// The normalised pairs as one string (what the cache key hashes).
pub fn canonical(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn strict(_: &str, _: &str) -> Result<(), QueryError> {
        Err(bad("unknown"))
    }

    #[test]
    fn the_same_question_asked_differently_normalises_to_one_key() {
        let a = ListQuery::from_pairs(
            &parse_pairs(Some("sort[0][field]=Name&pageSize=10&fields[]=Name&cellFormat=json")),
            strict,
        )
        .unwrap();
        let b = ListQuery::from_pairs(
            &parse_pairs(Some(
                "fields%5B%5D=Name&pageSize=10&sort%5B0%5D%5Bdirection%5D=asc&sort%5B0%5D%5Bfield%5D=Name",
            )),
            strict,
        )
        .unwrap();
        let c = ListQuery::from_json(br#"{"pageSize":10,"fields":["Name"],"sort":[{"field":"Name"}]}"#, &[]).unwrap();
        assert_eq!(canonical(&a.to_pairs()), canonical(&b.to_pairs()));
        assert_eq!(canonical(&a.to_pairs()), canonical(&c.to_pairs()));
    }

    #[test]
    fn different_questions_get_different_keys() {
        let key = |q: &str| canonical(&ListQuery::from_pairs(&parse_pairs(Some(q)), strict).unwrap().to_pairs());
        assert_ne!(key("pageSize=10"), key("pageSize=10&offset=itr1/rec1"));
        assert_ne!(key("fields[]=A&fields[]=B"), key("fields[]=B"));
        assert_ne!(key("sort[0][field]=A&sort[0][direction]=desc"), key("sort[0][field]=A"));
    }

    #[test]
    fn invalid_parameters_are_refused_before_going_upstream() {
        for q in [
            "pageSize=0",
            "pageSize=101",
            "maxRecords=-1",
            "sort[0][direction]=up&sort[0][field]=A",
            "cellFormat=string",
            "nope=1",
        ] {
            assert!(ListQuery::from_pairs(&parse_pairs(Some(q)), strict).is_err(), "{q}");
        }
        assert!(ListQuery::from_json(br#"{"unknown": 1}"#, &[]).is_err());
    }

    #[test]
    fn a_formula_longer_than_airtable_could_take_is_refused_as_an_invalid_formula() {
        let longest = format!("LEN('{}')>0", "x".repeat(MAX_FORMULA_CHARS - 9));
        assert_eq!(longest.chars().count(), MAX_FORMULA_CHARS);
        let too_long = format!("{longest} ");
        let encoded =
            |f: &str| form_urlencoded::Serializer::new(String::new()).append_pair("filterByFormula", f).finish();

        let query = ListQuery::from_pairs(&parse_pairs(Some(&encoded(&longest))), strict).unwrap();
        assert_eq!(query.filter_by_formula.as_deref(), Some(longest.as_str()));
        let body = serde_json::json!({ "filterByFormula": longest }).to_string();
        assert!(ListQuery::from_json(body.as_bytes(), &[]).is_ok());

        let refused = [
            ListQuery::from_pairs(&parse_pairs(Some(&encoded(&too_long))), strict).unwrap_err(),
            ListQuery::from_json(serde_json::json!({ "filterByFormula": too_long }).to_string().as_bytes(), &[])
                .unwrap_err(),
        ];
        for error in refused {
            assert_eq!(error.kind(), "INVALID_FILTER_BY_FORMULA");
            assert!(error.0.starts_with("The formula for filtering records is invalid: "), "{}", error.0);
            assert!(error.0.contains("16384"), "{}", error.0);
        }
        // Characters, not bytes: a formula of multi-byte text at the bound is still accepted.
        let wide = format!("'{}'", "é".repeat(MAX_FORMULA_CHARS - 2));
        assert!(
            ListQuery::from_json(serde_json::json!({ "filterByFormula": wide }).to_string().as_bytes(), &[]).is_ok()
        );
        assert_eq!(bad("pageSize must be from 1 to 100").kind(), "INVALID_REQUEST_UNKNOWN");
    }
}
