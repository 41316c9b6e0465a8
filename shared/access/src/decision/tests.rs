#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::role::{BuiltinRole, CustomRole, ROLE_TABLE, TenantRole, WorkspaceRole};
use Permission::*;

fn member() -> Principal {
    Principal::new(TenantRole::Member)
}

fn tables(ids: &[&str]) -> Reach {
    Reach::Tables(ids.iter().map(|t| (*t).to_owned()).collect())
}

#[test]
fn every_builtin_role_allows_exactly_its_row_of_the_table() {
    let target = Scope::table("ws1", "app1", "tbl1");
    let roles = Roles::new();
    for (role, row) in ROLE_TABLE {
        // Granted on the workspace, the role holds on a table inside it…
        let principal = member().with_grant(Grant::new(role, Scope::workspace("ws1")));
        for permission in Permission::ALL {
            assert_eq!(
                allows(&principal, &roles, permission, &target),
                row.contains(permission),
                "{role} × {permission}"
            );
        }
        assert_eq!(effective(&principal, &roles, &target), row, "{role}");
        // …and on nothing outside it.
        assert_eq!(effective(&principal, &roles, &Scope::table("ws2", "app1", "tbl1")), Permissions::EMPTY);
    }
}

#[test]
fn tenant_owner_and_admin_hold_their_roles_everywhere_and_a_member_nothing() {
    let roles = Roles::new();
    let targets = [Scope::tenant(), Scope::workspace("ws1"), Scope::table("ws9", "app9", "tbl9").in_project("pr9")];
    for target in &targets {
        let owner = Principal::new(TenantRole::Owner);
        let admin = Principal::new(TenantRole::Admin);
        assert_eq!(effective(&owner, &roles, target), Permissions::ALL);
        assert_eq!(effective(&admin, &roles, target), Permissions::ALL.without(BillingManage));
        assert!(allows(&owner, &roles, BillingManage, target));
        assert!(!allows(&admin, &roles, BillingManage, target));
        assert!(allows(&admin, &roles, WorkspacesManage, target));
        assert_eq!(effective(&member(), &roles, target), Permissions::EMPTY);
        for permission in Permission::ALL {
            assert!(!allows(&member(), &roles, permission, target), "a bare member may not {permission}");
        }
        assert_eq!(reach(&owner, &roles, RecordsRead, target), Reach::Whole);
        assert_eq!(reach(&member(), &roles, RecordsRead, target), Reach::None);
    }
    assert_eq!(
        Principal::new(TenantRole::Owner).tenant_grant(),
        Some(Grant::new(BuiltinRole::TenantOwner, Scope::tenant()))
    );
    assert_eq!(
        Principal::new(TenantRole::Admin).tenant_grant(),
        Some(Grant::new(BuiltinRole::TenantAdmin, Scope::tenant()))
    );
    assert_eq!(member().tenant_grant(), None);
}

#[test]
fn a_member_gains_a_workspace_role_in_that_workspace_only() {
    let roles = Roles::new();
    let editor = member().with_grant(Grant::workspace(WorkspaceRole::Editor, "ws1"));
    assert!(allows(&editor, &roles, RecordsWrite, &Scope::base("ws1", "app1")));
    assert!(allows(&editor, &roles, RecordsWrite, &Scope::table("ws1", "app1", "tbl1").in_project("pr1")));
    assert!(!allows(&editor, &roles, SchemaWrite, &Scope::base("ws1", "app1")), "an editor changes no schema");
    assert!(!allows(&editor, &roles, RecordsRead, &Scope::base("ws2", "app1")), "another workspace");
    assert!(!allows(&editor, &roles, RecordsRead, &Scope::tenant()), "the tenant above it");
    assert_eq!(reach(&editor, &roles, RecordsWrite, &Scope::base("ws1", "app1")), Reach::Whole);
    assert_eq!(reach(&editor, &roles, RecordsWrite, &Scope::base("ws2", "app1")), Reach::None);
}

#[test]
fn a_project_grant_covers_the_bases_in_the_project_and_no_other() {
    let roles = Roles::new();
    let principal = member().with_grant(Grant::new(BuiltinRole::Commenter, Scope::project("ws1", "pr1")));
    let inside = Scope::base("ws1", "app1").in_project("pr1");
    assert!(allows(&principal, &roles, CommentsWrite, &inside));
    assert!(allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tbl1").in_project("pr1")));
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::base("ws1", "app2")), "a base in no project");
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::base("ws1", "app3").in_project("pr2")), "another project");
    assert!(!allows(&principal, &roles, RecordsWrite, &inside), "a commenter writes no records");
    assert_eq!(reach(&principal, &roles, RecordsRead, &inside), Reach::Whole);
    assert_eq!(reach(&principal, &roles, RecordsRead, &Scope::base("ws1", "app2")), Reach::None);
}

#[test]
fn a_base_grant_covers_its_tables_and_not_another_base() {
    let roles = Roles::new();
    let principal = member().with_grant(Grant::new(BuiltinRole::Viewer, Scope::base("ws1", "app1")));
    assert!(allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tbl1")));
    assert!(allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tbl2").in_project("pr1")));
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::base("ws1", "app2")), "another base");
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::workspace("ws1")), "not the workspace");
    assert!(!allows(&principal, &roles, RecordsWrite, &Scope::base("ws1", "app1")));
}

#[test]
fn a_table_viewer_reads_that_table_and_no_other() {
    let roles = Roles::new();
    let principal = member().with_grant(Grant::new(BuiltinRole::Viewer, Scope::table("ws1", "app1", "tblA")));
    assert!(allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tblA")));
    assert!(allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tblA").in_project("pr1")));
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tblB")), "another table");
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app2", "tblA")), "another base");
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::base("ws1", "app1")), "not the base as a whole");
    assert!(!allows(&principal, &roles, RecordsWrite, &Scope::table("ws1", "app1", "tblA")));
    assert_eq!(effective(&principal, &roles, &Scope::table("ws1", "app1", "tblA")), Permissions::from(RecordsRead));
    assert_eq!(effective(&principal, &roles, &Scope::table("ws1", "app1", "tblB")), Permissions::EMPTY);

    let base = Scope::base("ws1", "app1");
    let reached = reach(&principal, &roles, RecordsRead, &base);
    assert_eq!(reached, tables(&["tblA"]));
    assert!(reached.includes_table("tblA") && !reached.includes_table("tblB"));
    assert_eq!(reach(&principal, &roles, RecordsRead, &base.clone().in_project("pr1")), tables(&["tblA"]));
    assert_eq!(reach(&principal, &roles, RecordsWrite, &base), Reach::None, "not for a permission it lacks");
    assert_eq!(reach(&principal, &roles, RecordsRead, &Scope::base("ws1", "app2")), Reach::None);
    assert_eq!(reach(&principal, &roles, RecordsRead, &Scope::workspace("ws1")), Reach::None);
}

#[test]
fn reach_gathers_table_grants_and_a_base_grant_makes_it_whole() {
    let roles = Roles::new();
    let base = Scope::base("ws1", "app1");
    let principal = member()
        .with_grant(Grant::new(BuiltinRole::Viewer, Scope::table("ws1", "app1", "tblB")))
        .with_grant(Grant::new(BuiltinRole::Editor, Scope::table("ws1", "app1", "tblA")))
        .with_grant(Grant::new(BuiltinRole::Viewer, Scope::table("ws1", "app2", "tblC")));
    assert_eq!(reach(&principal, &roles, RecordsRead, &base), tables(&["tblA", "tblB"]));
    assert_eq!(reach(&principal, &roles, RecordsWrite, &base), tables(&["tblA"]));
    assert_eq!(reach(&principal, &roles, RecordsRead, &base.clone().in_project("pr1")), tables(&["tblA", "tblB"]));
    assert_eq!(
        reach(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tblZ")),
        tables(&["tblA", "tblB"]),
        "the target's table is ignored"
    );
    let whole = principal.clone().with_grant(Grant::new(BuiltinRole::Viewer, base.clone()));
    assert_eq!(reach(&whole, &roles, RecordsRead, &base), Reach::Whole);
    assert_eq!(
        reach(&whole, &roles, RecordsWrite, &base),
        tables(&["tblA"]),
        "whole only for what the base grant gives"
    );
}

#[test]
fn grants_add_up() {
    let roles = Roles::new();
    let principal = member()
        .with_grant(Grant::workspace(WorkspaceRole::Viewer, "ws1"))
        .with_grant(Grant::new(BuiltinRole::Commenter, Scope::base("ws1", "app1")))
        .with_grant(Grant::new(BuiltinRole::Editor, Scope::table("ws1", "app1", "tbl1")));
    assert_eq!(effective(&principal, &roles, &Scope::base("ws1", "app2")), Permissions::from(RecordsRead));
    assert_eq!(
        effective(&principal, &roles, &Scope::table("ws1", "app1", "tbl2")),
        Permissions::of(&[RecordsRead, CommentsWrite])
    );
    assert_eq!(
        effective(&principal, &roles, &Scope::table("ws1", "app1", "tbl1")),
        Permissions::of(&[RecordsRead, RecordsWrite, CommentsWrite, AutomationsManage])
    );
    // A narrower, weaker grant takes nothing away from a broader one.
    let admin = member()
        .with_grant(Grant::workspace(WorkspaceRole::Admin, "ws1"))
        .with_grant(Grant::new(BuiltinRole::Viewer, Scope::table("ws1", "app1", "tbl1")));
    assert!(allows(&admin, &roles, SchemaWrite, &Scope::table("ws1", "app1", "tbl1")));
}

#[test]
fn a_custom_role_allows_its_permissions_where_granted() {
    let mut roles = Roles::new();
    let auditor = Permissions::of(&[RecordsRead, AuditRead]);
    roles.define(CustomRole::new("auditor", "Auditor", auditor).unwrap()).unwrap();
    let principal = member().with_grant(Grant::new(RoleId::custom("auditor").unwrap(), Scope::workspace("ws1")));
    assert!(allows(&principal, &roles, AuditRead, &Scope::workspace("ws1")));
    assert!(allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tbl1")));
    assert!(!allows(&principal, &roles, RecordsWrite, &Scope::workspace("ws1")));
    assert!(!allows(&principal, &roles, AuditRead, &Scope::workspace("ws2")));
    assert_eq!(effective(&principal, &roles, &Scope::base("ws1", "app1")), auditor);
    assert_eq!(reach(&principal, &roles, AuditRead, &Scope::base("ws1", "app1")), Reach::Whole);

    // On a table: that table only.
    let on_table =
        member().with_grant(Grant::new(RoleId::custom("auditor").unwrap(), Scope::table("ws1", "app1", "tbl1")));
    assert_eq!(reach(&on_table, &roles, RecordsRead, &Scope::base("ws1", "app1")), tables(&["tbl1"]));

    // Redefined, the decision follows the catalogue.
    roles.define(CustomRole::new("auditor", "Auditor", Permissions::from(AuditRead)).unwrap()).unwrap();
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::workspace("ws1")));
}

#[test]
fn an_unknown_custom_role_grants_nothing() {
    let roles = Roles::new();
    let principal = member()
        .with_grant(Grant::new(RoleId::Custom("ghost".into()), Scope::tenant()))
        .with_grant(Grant::new(RoleId::Custom("ghost".into()), Scope::table("ws1", "app1", "tbl1")));
    for permission in Permission::ALL {
        assert!(!allows(&principal, &roles, permission, &Scope::table("ws1", "app1", "tbl1")));
    }
    assert_eq!(effective(&principal, &roles, &Scope::workspace("ws1")), Permissions::EMPTY);
    assert_eq!(reach(&principal, &roles, RecordsRead, &Scope::base("ws1", "app1")), Reach::None);
    // Removing a role from the catalogue revokes what it gave.
    let mut roles = Roles::new();
    roles.define(CustomRole::new("ghost", "Ghost", Permissions::ALL).unwrap()).unwrap();
    assert!(allows(&principal, &roles, RecordsRead, &Scope::workspace("ws1")));
    roles.remove("ghost");
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::workspace("ws1")));
}

#[test]
fn a_malformed_grant_built_by_hand_fails_closed() {
    let roles = Roles::new();
    let scope = Scope { table: Some("tbl1".into()), ..Scope::workspace("ws1") };
    let principal = member().with_grant(Grant::new(BuiltinRole::Viewer, scope));
    assert!(!allows(&principal, &roles, RecordsRead, &Scope::table("ws1", "app1", "tbl1")));
    assert_eq!(reach(&principal, &roles, RecordsRead, &Scope::base("ws1", "app1")), Reach::None);
}

#[test]
fn a_principal_round_trips_through_json() {
    let principal = member()
        .with_grant(Grant::workspace(WorkspaceRole::Admin, "ws1"))
        .with_grant(Grant::new(RoleId::custom("auditor").unwrap(), Scope::table("ws1", "app1", "tbl1")));
    let json = serde_json::to_value(&principal).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "tenant_role": "member",
            "grants": [
                {"role": "workspace_admin", "scope": "workspace:ws1"},
                {"role": "custom:auditor", "scope": "workspace:ws1/base:app1/table:tbl1"},
            ]
        })
    );
    assert_eq!(serde_json::from_value::<Principal>(json).unwrap(), principal);
    let grant = serde_json::json!({"role": "viewer", "scope": "workspace:ws1/table:tbl1"});
    let bad = serde_json::json!({"tenant_role": "member", "grants": [grant]});
    assert!(serde_json::from_value::<Principal>(bad).is_err(), "a grant's scope is checked");
    let grant = serde_json::json!({"role": "viewer", "scope": "workspace:w/project:p/base:b"});
    let claimed = serde_json::json!({"tenant_role": "member", "grants": [grant]});
    assert!(serde_json::from_value::<Principal>(claimed).is_err());
    assert_eq!(
        serde_json::from_value::<Principal>(serde_json::json!({"tenant_role": "owner"})).unwrap(),
        Principal::new(TenantRole::Owner)
    );
}
