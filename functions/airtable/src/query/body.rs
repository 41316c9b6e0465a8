//! `POST …/listRecords`: the list parameters as a JSON body.

use serde::Deserialize;

use super::{ListQuery, QueryError, RenderOptions, SortBy, bad};

impl ListQuery {
    /// A `POST …/listRecords` body (`timeZone`/`userLocale` may also come in the query, as pyairtable
    /// sends them).
    pub fn from_json(body: &[u8], query: &[(String, String)]) -> Result<Self, QueryError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
        struct Body {
            #[serde(deserialize_with = "whole_number")]
            page_size: Option<u32>,
            #[serde(deserialize_with = "whole_number")]
            max_records: Option<u32>,
            offset: Option<String>,
            fields: Option<Vec<String>>,
            sort: Option<Vec<SortBy>>,
            view: Option<String>,
            filter_by_formula: Option<String>,
            cell_format: Option<String>,
            time_zone: Option<String>,
            user_locale: Option<String>,
            return_fields_by_field_id: Option<bool>,
            record_metadata: Option<Vec<String>>,
        }
        let body: Body = if body.iter().all(u8::is_ascii_whitespace) {
            Body::default()
        } else {
            serde_json::from_slice(body).map_err(|e| bad(format!("invalid listRecords body: {e}")))?
        };
        let mut render = RenderOptions {
            time_zone: body.time_zone,
            user_locale: body.user_locale,
            by_field_id: body.return_fields_by_field_id.unwrap_or(false),
            ..RenderOptions::default()
        };
        if let Some(format) = &body.cell_format {
            render.take("cellFormat", format)?;
        }
        for (key, value) in query {
            if !matches!(key.as_str(), "timeZone" | "userLocale") || !render.take(key, value)? {
                return Err(bad(format!("unknown parameter {key}")));
            }
        }
        Self {
            page_size: body.page_size,
            max_records: body.max_records,
            offset: body.offset.filter(|o| !o.is_empty()),
            fields: body.fields,
            sort: body.sort.unwrap_or_default(),
            view: body.view,
            filter_by_formula: body.filter_by_formula.filter(|f| !f.is_empty()),
            render,
            record_metadata: body.record_metadata.unwrap_or_default(),
        }
        .check()
    }
}

/// A JSON number that is a whole number in u32's range: `64` and `64.0` alike (JSON Schema's `integer`
/// admits both, and so does Airtable, whose clients are JavaScript).
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    let whole = number.as_u64().or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
    match whole.and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Ok(Some(n)),
        None => Err(serde::de::Error::custom(format!("expected a whole number from 0 to {}, not {number}", u32::MAX))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_whole_number_may_be_written_as_a_float() {
        for body in [r#"{"maxRecords": 64.0, "pageSize": 10}"#, r#"{"maxRecords": 64, "pageSize": 1e1}"#] {
            let query = ListQuery::from_json(body.as_bytes(), &[]).unwrap();
            assert_eq!((query.max_records, query.page_size), (Some(64), Some(10)), "{body}");
        }
        for body in
            [r#"{"maxRecords": 64.5}"#, r#"{"maxRecords": -1}"#, r#"{"maxRecords": 1e20}"#, r#"{"pageSize": "5"}"#]
        {
            assert!(ListQuery::from_json(body.as_bytes(), &[]).is_err(), "{body}");
        }
    }
}
