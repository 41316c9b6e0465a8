//! Building `filterByFormula` from user input without formula injection: every value becomes a quoted
//! string literal (backslash and quote escaped) and every field name a `{…}` reference (`}` escaped) — the
//! escaping Airtable's formula language defines and pyairtable uses. Input can never close the literal or
//! the reference it is placed in.

/// A string literal: `'it\'s'`.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A field reference: `{Guest\}s}`.
pub fn field_ref(name: &str) -> String {
    format!("{{{}}}", name.replace('\\', "\\\\").replace('}', "\\}"))
}

/// `AND({A}='x',{B}='y')` for equality filters; `None` when there are none.
pub fn all_equal(conditions: &[(String, String)]) -> Option<String> {
    if conditions.is_empty() {
        return None;
    }
    let terms: Vec<String> =
        conditions.iter().map(|(field, value)| format!("{}={}", field_ref(field), string_literal(value))).collect();
    Some(format!("AND({})", terms.join(",")))
}

/// Both a client's own formula and built conditions must hold.
pub fn both(own: Option<&str>, built: Option<String>) -> Option<String> {
    match (own, built) {
        (Some(own), Some(built)) => Some(format!("AND(({own}),{built})")),
        (Some(own), None) => Some(own.to_string()),
        (None, built) => built,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_cannot_escape_the_literal() {
        assert_eq!(string_literal("Jane's"), r"'Jane\'s'");
        assert_eq!(string_literal(r"a\' OR TRUE() OR '"), r"'a\\\' OR TRUE() OR \''");
        assert_eq!(field_ref("Guest}s"), r"{Guest\}s}");
    }

    #[test]
    fn conditions_combine_with_the_clients_formula() {
        let built = all_equal(&[("Name".into(), "x".into()), ("Status".into(), "Done".into())]);
        assert_eq!(built.as_deref(), Some("AND({Name}='x',{Status}='Done')"));
        assert_eq!(both(Some("{A}>1"), built).as_deref(), Some("AND(({A}>1),AND({Name}='x',{Status}='Done'))"));
        assert_eq!(both(None, None), None);
    }
}
