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
            page_size: Option<u32>,
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
