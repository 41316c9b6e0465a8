#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn parse(s: &str) -> Result<Scope, ScopeError> {
    s.parse()
}

// --- covering -------------------------------------------------------------------------------------------------

#[test]
fn the_tenant_covers_everything() {
    let tenant = Scope::tenant();
    for target in [
        Scope::tenant(),
        Scope::workspace("ws1"),
        Scope::project("ws1", "pr1"),
        Scope::base("ws2", "app1"),
        Scope::table("ws2", "app1", "tbl1").in_project("pr9"),
    ] {
        assert!(tenant.covers(&target), "{target}");
    }
}

#[test]
fn a_workspace_covers_its_projects_bases_and_tables_and_no_other_workspace() {
    let grant = Scope::workspace("ws1");
    assert!(grant.covers(&Scope::workspace("ws1")));
    assert!(grant.covers(&Scope::project("ws1", "pr1")));
    assert!(grant.covers(&Scope::base("ws1", "app1")));
    assert!(grant.covers(&Scope::base("ws1", "app1").in_project("pr1")));
    assert!(grant.covers(&Scope::table("ws1", "app1", "tbl1")));
    assert!(!grant.covers(&Scope::workspace("ws2")), "another workspace");
    assert!(!grant.covers(&Scope::base("ws2", "app1")), "the same base id under another workspace");
    assert!(!grant.covers(&Scope::tenant()), "a workspace grant does not reach up");
    assert!(!grant.covers(&Scope::workspace("WS1")), "ids are case-sensitive");
    assert!(!grant.covers(&Scope::workspace("ws10")), "no prefix matching");
}

#[test]
fn a_project_covers_the_bases_inside_it_only() {
    let grant = Scope::project("ws1", "pr1");
    assert!(grant.covers(&Scope::project("ws1", "pr1")));
    assert!(grant.covers(&Scope::base("ws1", "app1").in_project("pr1")));
    assert!(grant.covers(&Scope::table("ws1", "app1", "tbl1").in_project("pr1")));
    assert!(!grant.covers(&Scope::base("ws1", "app1")), "a base not in any project");
    assert!(!grant.covers(&Scope::base("ws1", "app2").in_project("pr2")), "a base in another project");
    assert!(!grant.covers(&Scope::project("ws1", "pr2")), "another project");
    assert!(!grant.covers(&Scope::base("ws2", "app1").in_project("pr1")), "the same project id elsewhere");
    assert!(!grant.covers(&Scope::workspace("ws1")), "not the workspace around it");
}

#[test]
fn a_base_covers_its_tables_whichever_project_it_is_in() {
    let grant = Scope::base("ws1", "app1");
    assert!(grant.covers(&Scope::base("ws1", "app1")));
    assert!(grant.covers(&Scope::base("ws1", "app1").in_project("pr1")), "the target says where the base is");
    assert!(grant.covers(&Scope::table("ws1", "app1", "tbl1")));
    assert!(grant.covers(&Scope::table("ws1", "app1", "tbl2").in_project("pr1")));
    assert!(!grant.covers(&Scope::base("ws1", "app2")), "another base");
    assert!(!grant.covers(&Scope::table("ws1", "app2", "tbl1")), "a table of another base");
    assert!(!grant.covers(&Scope::workspace("ws1")));
    assert!(!grant.covers(&Scope::project("ws1", "pr1")), "not the project around it");
}

#[test]
fn a_table_covers_only_itself() {
    let grant = Scope::table("ws1", "app1", "tbl1");
    assert!(grant.covers(&Scope::table("ws1", "app1", "tbl1")));
    assert!(grant.covers(&Scope::table("ws1", "app1", "tbl1").in_project("pr1")));
    assert!(!grant.covers(&Scope::table("ws1", "app1", "tbl2")), "another table");
    assert!(!grant.covers(&Scope::table("ws1", "app2", "tbl1")), "the same table id in another base");
    assert!(!grant.covers(&Scope::base("ws1", "app1")), "not its base as a whole");
}

#[test]
fn a_malformed_scope_built_by_hand_covers_nothing() {
    let table_without_base = Scope { table: Some("tbl1".into()), ..Scope::workspace("ws1") };
    assert!(!table_without_base.covers(&Scope::table("ws1", "app1", "tbl1")));
    let base_without_workspace = Scope { base: Some("app1".into()), ..Scope::tenant() };
    assert!(!base_without_workspace.covers(&Scope::base("ws1", "app1")));
    assert_eq!(table_without_base.validate(), Err(ScopeError::TableWithoutBase));
    assert_eq!(base_without_workspace.validate(), Err(ScopeError::MissingWorkspace));
    assert!(matches!(Scope::workspace("").validate(), Err(ScopeError::BadId { level: Level::Workspace, .. })));
    assert_eq!(Scope::table("ws1", "app1", "tbl1").in_project("pr1").validate(), Ok(()), "a target may");
}

#[test]
fn levels_and_helpers() {
    assert_eq!(Scope::tenant().level(), Level::Tenant);
    assert!(Scope::tenant().is_tenant());
    assert_eq!(Scope::workspace("w").level(), Level::Workspace);
    assert_eq!(Scope::project("w", "p").level(), Level::Project);
    assert_eq!(Scope::base("w", "b").level(), Level::Base);
    assert_eq!(Scope::table("w", "b", "t").level(), Level::Table);
    assert_eq!(Scope::table("w", "b", "t").in_project("p").without_table(), Scope::base("w", "b").in_project("p"));
}

// --- string form ----------------------------------------------------------------------------------------------

#[test]
fn the_string_form_round_trips() {
    for (text, scope) in [
        ("tenant", Scope::tenant()),
        ("workspace:wsX", Scope::workspace("wsX")),
        ("workspace:wsX/project:prY", Scope::project("wsX", "prY")),
        ("workspace:wsX/base:appZ", Scope::base("wsX", "appZ")),
        ("workspace:wsX/base:appZ/table:tblQ", Scope::table("wsX", "appZ", "tblQ")),
        ("workspace:0193a5b2-7c1e_7d3a/base:app0123456789ABCD", Scope::base("0193a5b2-7c1e_7d3a", "app0123456789ABCD")),
    ] {
        assert_eq!(parse(text), Ok(scope.clone()), "{text}");
        assert_eq!(scope.to_string(), text);
        let json = serde_json::to_string(&scope).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), scope);
    }
    let longest = format!("workspace:{}/base:{}/table:{}", "w".repeat(64), "b".repeat(64), "t".repeat(64));
    assert_eq!(parse(&longest).unwrap().to_string(), longest);
    // A target placed in its project prints it (logs), and the parser refuses it (a client cannot claim it).
    let placed = Scope::base("wsX", "appZ").in_project("prY");
    assert_eq!(placed.to_string(), "workspace:wsX/project:prY/base:appZ");
    assert_eq!(parse(&placed.to_string()), Err(ScopeError::ProjectWithBase));
}

#[test]
fn an_overlong_scope_is_refused_before_it_is_read() {
    let long = format!("workspace:{}", "a".repeat(MAX_SCOPE_LEN));
    assert_eq!(parse(&long), Err(ScopeError::TooLong { len: long.len() }));
    let junk = "/".repeat(100_000);
    assert_eq!(parse(&junk), Err(ScopeError::TooLong { len: 100_000 }));
    assert!(serde_json::from_str::<Scope>(&format!("\"{long}\"")).is_err());
}

#[test]
fn bad_ids_are_refused() {
    for (text, level) in [
        ("workspace:", Level::Workspace),
        ("workspace:ws 1", Level::Workspace),
        ("workspace:ws.1", Level::Workspace),
        ("workspace:wsX/base:app:1", Level::Base),
        ("workspace:wsX/base:appZ/table:Table 1", Level::Table),
        ("workspace:wsX/project:é", Level::Project),
    ] {
        assert!(
            matches!(parse(text), Err(ScopeError::BadId { level: l, .. }) if l == level),
            "{text}: {:?}",
            parse(text)
        );
    }
    let long_id = format!("workspace:{}", "a".repeat(65));
    assert!(matches!(parse(&long_id), Err(ScopeError::BadId { .. })));
    let message = parse(&format!("workspace:{}!", "a".repeat(400))).unwrap_err().to_string();
    assert!(message.len() < 200, "the echo is bounded: {message}");
}

#[test]
fn a_table_without_its_base_is_refused() {
    assert_eq!(parse("workspace:wsX/table:tblQ"), Err(ScopeError::TableWithoutBase));
    assert_eq!(parse("workspace:wsX/project:prY/table:tblQ"), Err(ScopeError::TableWithoutBase));
}

#[test]
fn unknown_levels_are_refused() {
    assert!(matches!(parse("organization:o1"), Err(ScopeError::UnknownLevel { .. })));
    assert!(matches!(parse("workspace:wsX/view:viwA"), Err(ScopeError::UnknownLevel { .. })));
    assert!(matches!(parse("tenant:t1"), Err(ScopeError::UnknownLevel { .. })));
    assert!(matches!(parse("Workspace:wsX"), Err(ScopeError::UnknownLevel { .. })), "level names are lower case");
    assert!(matches!(parse("tenant/workspace:wsX"), Err(ScopeError::Malformed { .. })));
    assert!(matches!(parse("workspace:wsX/"), Err(ScopeError::Malformed { .. })));
    assert!(matches!(parse("workspace:wsX//base:appZ"), Err(ScopeError::Malformed { .. })));
    assert!(matches!(parse("wsX"), Err(ScopeError::Malformed { .. })));
    assert_eq!(parse(""), Err(ScopeError::Empty));
}

#[test]
fn duplicate_and_misordered_levels_are_refused() {
    assert_eq!(parse("workspace:a/workspace:b"), Err(ScopeError::DuplicateLevel { level: Level::Workspace }));
    assert_eq!(parse("workspace:a/workspace:a"), Err(ScopeError::DuplicateLevel { level: Level::Workspace }));
    assert_eq!(parse("workspace:w/base:a/base:b"), Err(ScopeError::DuplicateLevel { level: Level::Base }));
    assert_eq!(parse("workspace:w/base:b/table:t/table:u"), Err(ScopeError::DuplicateLevel { level: Level::Table }));
    assert_eq!(
        parse("workspace:w/base:b/table:t/workspace:w"),
        Err(ScopeError::DuplicateLevel { level: Level::Workspace })
    );
    assert_eq!(parse("workspace:w/table:t/base:b"), Err(ScopeError::OutOfOrder { level: Level::Base }));
    assert_eq!(parse("base:b/workspace:w"), Err(ScopeError::MissingWorkspace));
    assert_eq!(parse("project:p"), Err(ScopeError::MissingWorkspace));
    assert_eq!(parse("workspace:w/project:p/base:b"), Err(ScopeError::ProjectWithBase));
}
