//! Profile fields and roles, validated the same way at registration and on every update.

use platform::caller::{ROLE_PLATFORM_ADMIN, ROLE_TENANT_ADMIN};

pub const ROLE_MEMBER: &str = "member";
/// Every role a user can hold.
pub const ROLES: [&str; 3] = [ROLE_MEMBER, ROLE_TENANT_ADMIN, ROLE_PLATFORM_ADMIN];

const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileProblem {
    #[error("{0} must be at most 100 characters without control characters")]
    InvalidName(&'static str),
    #[error("unknown role {0:?}; roles are member, tenant_admin and platform_admin")]
    UnknownRole(String),
}

/// A first or last name: trimmed; empty means none.
pub fn parse_name(field: &'static str, raw: Option<&str>) -> Result<Option<String>, ProfileProblem> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ProfileProblem::InvalidName(field));
    }
    Ok(Some(name.to_string()))
}

/// Known roles only, each once, in a stable order; no role at all means a plain member.
pub fn parse_roles(raw: &[String]) -> Result<Vec<String>, ProfileProblem> {
    if let Some(unknown) = raw.iter().find(|r| !ROLES.contains(&r.as_str())) {
        return Err(ProfileProblem::UnknownRole(unknown.clone()));
    }
    let roles: Vec<String> = ROLES.iter().filter(|r| raw.iter().any(|x| x == *r)).map(|r| r.to_string()).collect();
    Ok(if roles.is_empty() { vec![ROLE_MEMBER.to_string()] } else { roles })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn names_are_trimmed_and_blank_means_none() {
        assert_eq!(parse_name("first_name", Some("  Ann ")), Ok(Some("Ann".into())));
        assert_eq!(parse_name("first_name", Some("   ")), Ok(None));
        assert_eq!(parse_name("first_name", None), Ok(None));
    }

    #[test]
    fn overlong_names_and_control_characters_are_refused() {
        assert!(parse_name("last_name", Some(&"x".repeat(101))).is_err());
        assert!(parse_name("last_name", Some("Lee\u{7}")).is_err());
    }

    #[test]
    fn roles_are_deduplicated_ordered_and_default_to_member() {
        let raw = vec![ROLE_TENANT_ADMIN.to_string(), ROLE_MEMBER.to_string(), ROLE_TENANT_ADMIN.to_string()];
        assert_eq!(parse_roles(&raw).unwrap(), vec![ROLE_MEMBER.to_string(), ROLE_TENANT_ADMIN.to_string()]);
        assert_eq!(parse_roles(&[]).unwrap(), vec![ROLE_MEMBER.to_string()]);
    }

    #[test]
    fn an_unknown_role_is_refused() {
        assert_eq!(parse_roles(&["root".into()]), Err(ProfileProblem::UnknownRole("root".into())));
    }
}
