//! List-records parameters, from a query string (`GET`) or a JSON body (`POST …/listRecords`), parsed the
//! way Airtable reads them: `fields[]=A&fields[]=B`, `sort[0][field]=A&sort[0][direction]=desc`, ….
//! Unknown parameters are refused rather than ignored, so a client (or the gateway) sending something
//! Airtable would not understand finds out here.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{AirtableError, AirtableResult};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListParams {
    pub page_size: Option<usize>,
    pub max_records: Option<usize>,
    pub offset: Option<String>,
    pub fields: Option<Vec<String>>,
    pub sort: Vec<Sort>,
    pub view: Option<String>,
    pub formula: Option<String>,
    pub render: RenderParams,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderParams {
    pub by_field_id: bool,
    pub cell_format_string: bool,
    pub time_zone: Option<String>,
    pub user_locale: Option<String>,
    /// `recordMetadata[]=commentCount`: each record carries `commentCount`.
    pub comment_count: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Sort {
    pub field: String,
    #[serde(default)]
    pub direction: Option<String>,
}

impl Sort {
    pub fn descending(&self) -> bool {
        self.direction.as_deref() == Some("desc")
    }
}

pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn number(name: &str, raw: &str) -> AirtableResult<usize> {
    raw.parse()
        .map_err(|_| AirtableError::invalid("INVALID_REQUEST_UNKNOWN", format!("Invalid value for {name}: {raw}")))
}

/// A `recordMetadata` entry: only `commentCount` exists.
fn record_metadata(value: &str) -> AirtableResult<bool> {
    if value == "commentCount" {
        return Ok(true);
    }
    Err(AirtableError::invalid("INVALID_REQUEST_UNKNOWN", format!("Invalid recordMetadata: {value}")))
}

fn flag(raw: &str) -> bool {
    matches!(raw, "true" | "1")
}

impl RenderParams {
    /// Takes a rendering parameter; false when `key` is not one.
    fn take(&mut self, key: &str, value: &str) -> AirtableResult<bool> {
        match key {
            "returnFieldsByFieldId" => self.by_field_id = flag(value),
            "cellFormat" => match value {
                "json" => self.cell_format_string = false,
                "string" => self.cell_format_string = true,
                _ => {
                    return Err(AirtableError::invalid(
                        "INVALID_REQUEST_UNKNOWN",
                        format!("Invalid cellFormat: {value}"),
                    ));
                }
            },
            "timeZone" => self.time_zone = Some(value.into()),
            "userLocale" => self.user_locale = Some(value.into()),
            "recordMetadata" | "recordMetadata[]" => self.comment_count |= record_metadata(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The rendering parameters of a single-record GET.
    pub fn from_query(query: Option<&str>) -> AirtableResult<Self> {
        let mut render = Self::default();
        for (key, value) in pairs(query) {
            if !render.take(&key, &value)? {
                return Err(AirtableError::invalid_request());
            }
        }
        render.check()?;
        Ok(render)
    }

    fn check(&self) -> AirtableResult<()> {
        if self.cell_format_string && (self.time_zone.is_none() || self.user_locale.is_none()) {
            return Err(AirtableError::invalid(
                "INVALID_REQUEST_UNKNOWN",
                "timeZone and userLocale are required when cellFormat is string",
            ));
        }
        Ok(())
    }
}

impl ListParams {
    pub fn from_query(query: Option<&str>) -> AirtableResult<Self> {
        let mut params = Self::default();
        let mut sorts: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
        for (key, value) in pairs(query) {
            match key.as_str() {
                "pageSize" => params.page_size = Some(number(&key, &value)?),
                "maxRecords" => params.max_records = Some(number(&key, &value)?),
                "offset" => params.offset = Some(value),
                "view" => params.view = Some(value),
                "filterByFormula" => params.formula = Some(value),
                // airtable.js sends its `method` option along when it is `get`.
                "method" if value.eq_ignore_ascii_case("get") => {}
                k if k == "fields" || k.starts_with("fields[") => {
                    params.fields.get_or_insert_with(Vec::new).push(value)
                }
                k if k.starts_with("sort[") => {
                    let (index, part) = sort_key(k).ok_or_else(AirtableError::invalid_request)?;
                    let entry = sorts.entry(index).or_default();
                    match part {
                        "field" => entry.0 = Some(value),
                        "direction" => entry.1 = Some(value),
                        _ => return Err(AirtableError::invalid_request()),
                    }
                }
                k if params.render.take(k, &value)? => {}
                _ => return Err(AirtableError::invalid_request()),
            }
        }
        for (_, (field, direction)) in sorts {
            let field = field.ok_or_else(AirtableError::invalid_request)?;
            params.sort.push(Sort { field, direction });
        }
        params.check()
    }

    /// `POST …/listRecords`: the same parameters as JSON; `timeZone` and `userLocale` may stay in the query.
    pub fn from_body(body: &[u8], query: Option<&str>) -> AirtableResult<Self> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
        struct Body {
            page_size: Option<usize>,
            max_records: Option<usize>,
            offset: Option<String>,
            fields: Option<Vec<String>>,
            sort: Option<Vec<Sort>>,
            view: Option<String>,
            filter_by_formula: Option<String>,
            cell_format: Option<String>,
            time_zone: Option<String>,
            user_locale: Option<String>,
            return_fields_by_field_id: Option<bool>,
            record_metadata: Option<Vec<String>>,
            /// airtable.js's `select({method: 'post'})` leaves `"method": "post"` in the body; Airtable ignores it.
            method: Option<String>,
        }
        let body: Body = if body.iter().all(u8::is_ascii_whitespace) {
            Body::default()
        } else {
            serde_json::from_slice(body).map_err(|_| AirtableError::invalid_request())?
        };
        let mut params = Self {
            page_size: body.page_size,
            max_records: body.max_records,
            offset: body.offset,
            fields: body.fields,
            sort: body.sort.unwrap_or_default(),
            view: body.view,
            formula: body.filter_by_formula,
            render: RenderParams {
                by_field_id: body.return_fields_by_field_id.unwrap_or(false),
                cell_format_string: body.cell_format.as_deref() == Some("string"),
                time_zone: body.time_zone,
                user_locale: body.user_locale,
                comment_count: false,
            },
        };
        if body.method.as_deref().is_some_and(|m| !m.eq_ignore_ascii_case("post") && !m.eq_ignore_ascii_case("get")) {
            return Err(AirtableError::invalid_request());
        }
        for entry in body.record_metadata.iter().flatten() {
            params.render.comment_count |= record_metadata(entry)?;
        }
        for (key, value) in pairs(query) {
            if !matches!(key.as_str(), "timeZone" | "userLocale") || !params.render.take(&key, &value)? {
                return Err(AirtableError::invalid_request());
            }
        }
        params.check()
    }

    fn check(self) -> AirtableResult<Self> {
        if self.page_size.is_some_and(|n| n == 0 || n > 100) {
            return Err(AirtableError::invalid("INVALID_PAGE_SIZE", "pageSize must be between 1 and 100"));
        }
        if self.sort.iter().any(|s| !matches!(s.direction.as_deref(), None | Some("asc") | Some("desc"))) {
            return Err(AirtableError::invalid("INVALID_SORT_DIRECTION", "sort direction must be asc or desc"));
        }
        self.render.check()?;
        Ok(self)
    }
}

/// `sort[3][field]` → (3, "field").
fn sort_key(key: &str) -> Option<(usize, &str)> {
    let rest = key.strip_prefix("sort[")?;
    let (index, rest) = rest.split_once("][")?;
    Some((index.parse().ok()?, rest.strip_suffix(']')?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_query_pyairtable_sends_is_understood() {
        let q = "pageSize=10&maxRecords=25&fields%5B%5D=Name&fields%5B%5D=Age&sort%5B0%5D%5Bdirection%5D=desc\
                 &sort%5B0%5D%5Bfield%5D=Age&view=Grid%20view&filterByFormula=%7BAge%7D%3E3&returnFieldsByFieldId=1";
        let p = ListParams::from_query(Some(q)).unwrap();
        assert_eq!(p.page_size, Some(10));
        assert_eq!(p.max_records, Some(25));
        assert_eq!(p.fields, Some(vec!["Name".to_string(), "Age".to_string()]));
        assert_eq!(p.sort, vec![Sort { field: "Age".into(), direction: Some("desc".into()) }]);
        assert_eq!(p.view.as_deref(), Some("Grid view"));
        assert_eq!(p.formula.as_deref(), Some("{Age}>3"));
        assert!(p.render.by_field_id);
    }

    #[test]
    fn unknown_or_out_of_range_parameters_are_refused() {
        assert!(ListParams::from_query(Some("pageSize=101")).is_err());
        assert!(ListParams::from_query(Some("frobnicate=1")).is_err());
        assert!(ListParams::from_query(Some("cellFormat=string")).is_err());
        assert!(ListParams::from_body(br#"{"pageSize": 5, "nope": 1}"#, None).is_err());
        assert!(ListParams::from_query(Some("recordMetadata%5B%5D=likes")).is_err());
        assert!(ListParams::from_body(br#"{"recordMetadata": ["likes"]}"#, None).is_err());
    }

    #[test]
    fn airtable_js_method_option_is_accepted() {
        let body = br#"{"method": "post", "pageSize": 3, "timeZone": "Europe/Paris"}"#;
        assert_eq!(ListParams::from_body(body, Some("timeZone=Europe%2FParis")).unwrap().page_size, Some(3));
        assert!(ListParams::from_body(br#"{"method": "delete"}"#, None).is_err());
    }

    #[test]
    fn record_metadata_asks_for_comment_counts_in_the_query_and_the_body() {
        assert!(ListParams::from_query(Some("recordMetadata%5B%5D=commentCount")).unwrap().render.comment_count);
        assert!(ListParams::from_body(br#"{"recordMetadata": ["commentCount"]}"#, None).unwrap().render.comment_count);
        assert!(RenderParams::from_query(Some("recordMetadata[]=commentCount")).unwrap().comment_count);
        assert!(!ListParams::from_query(None).unwrap().render.comment_count);
    }

    #[test]
    fn a_list_records_body_means_the_same_as_the_query() {
        let body = br#"{"pageSize": 10, "fields": ["Name"], "sort": [{"field": "Age", "direction": "desc"}], "returnFieldsByFieldId": true}"#;
        let from_body = ListParams::from_body(body, None).unwrap();
        let from_query = ListParams::from_query(Some(
            "pageSize=10&fields[]=Name&sort[0][field]=Age&sort[0][direction]=desc&returnFieldsByFieldId=true",
        ))
        .unwrap();
        assert_eq!(from_body, from_query);
    }
}
