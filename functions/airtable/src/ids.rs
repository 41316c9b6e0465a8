//! Airtable identifiers, parsed once at the edge: a base id (`app…`), a table (`tbl…` id or a name) and a
//! record id (`rec…`). Nothing unparsed reaches a cache key or an upstream URL.

use std::fmt;

/// `prefix` + 14 ASCII alphanumerics, as Airtable mints them.
fn is_airtable_id(prefix: &str, s: &str) -> bool {
    s.len() == prefix.len() + 14
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaseId(String);

impl BaseId {
    pub fn parse(s: &str) -> Option<Self> {
        is_airtable_id("app", s).then(|| Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A table as the client names it: its id or its name (Airtable accepts both in a URL).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableRef(String);

impl TableRef {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.trim().is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
        ok.then(|| Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this is a table id rather than a name.
    pub fn is_id(&self) -> bool {
        is_airtable_id("tbl", &self.0)
    }
    /// Matches a schema entry by id or by name.
    pub fn names(&self, id: &str, name: &str) -> bool {
        self.0 == id || self.0 == name
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordId(String);

impl RecordId {
    pub fn parse(s: &str) -> Option<Self> {
        is_airtable_id("rec", s).then(|| Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_ids_parse() {
        assert!(BaseId::parse("appDemoBase000001").is_some());
        assert!(BaseId::parse("appDemoBase00000").is_none());
        assert!(BaseId::parse("tblDemoBase000001").is_none());
        assert!(BaseId::parse("app/../../etc0001").is_none());
        assert!(RecordId::parse("recProj0000000001").is_some());
        assert!(RecordId::parse("recProj000000000!").is_none());
    }

    #[test]
    fn a_table_is_an_id_or_a_plain_name() {
        assert!(TableRef::parse("tblProjects000001").is_some_and(|t| t.is_id()));
        assert!(TableRef::parse("My Projects").is_some_and(|t| !t.is_id()));
        assert!(TableRef::parse("  ").is_none());
        assert!(TableRef::parse("a\nb").is_none());
    }
}
