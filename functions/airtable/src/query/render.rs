//! How records are rendered (`cellFormat`, `timeZone`, `userLocale`, `returnFieldsByFieldId`): options a
//! list and a single-record GET share.

use super::{QueryError, bad};

/// How records are rendered: the options a single-record GET takes too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenderOptions {
    pub cell_format_string: bool,
    pub time_zone: Option<String>,
    pub user_locale: Option<String>,
    pub by_field_id: bool,
}

impl RenderOptions {
    /// Takes one rendering parameter; `Ok(false)` when `key` is not one.
    pub(super) fn take(&mut self, key: &str, value: &str) -> Result<bool, QueryError> {
        match key {
            "cellFormat" => {
                self.cell_format_string = match value {
                    "json" => false,
                    "string" => true,
                    _ => return Err(bad("cellFormat must be json or string")),
                }
            }
            "timeZone" => self.time_zone = Some(value.to_string()),
            "userLocale" => self.user_locale = Some(value.to_string()),
            "returnFieldsByFieldId" => self.by_field_id = flag(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let mut options = Self::default();
        for (key, value) in pairs {
            if !options.take(key, value)? {
                return Err(bad(format!("unknown parameter {key}")));
            }
        }
        options.check()
    }

    pub(super) fn check(self) -> Result<Self, QueryError> {
        if self.cell_format_string && (self.time_zone.is_none() || self.user_locale.is_none()) {
            return Err(bad("timeZone and userLocale are required when cellFormat is string"));
        }
        Ok(self)
    }

    pub fn to_pairs(&self, out: &mut Vec<(String, String)>) {
        if self.cell_format_string {
            out.push(("cellFormat".into(), "string".into()));
        }
        if let Some(tz) = &self.time_zone {
            out.push(("timeZone".into(), tz.clone()));
        }
        if let Some(locale) = &self.user_locale {
            out.push(("userLocale".into(), locale.clone()));
        }
        if self.by_field_id {
            out.push(("returnFieldsByFieldId".into(), "true".into()));
        }
    }
}

fn flag(name: &str, raw: &str) -> Result<bool, QueryError> {
    match raw {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(bad(format!("{name} must be true or false"))),
    }
}
