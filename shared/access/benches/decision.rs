//! Micro-benchmarks of the permission decisions the gateway makes on every request: `allows` for a principal
//! with one grant and with fifty (the matching grant last), and `effective`.
//! `cargo bench -p access --bench decision`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use access::{BuiltinRole, CustomRole, Grant, Permission, Permissions, Principal, RoleId, Roles, Scope, TenantRole};
use criterion::{Criterion, criterion_group, criterion_main};

/// Realistic ids: a UUID-sized workspace id, Airtable-shaped base and table ids.
fn workspace(i: usize) -> String {
    format!("0193a5b2-7c1e-7d3a-9f00-3b1c2d4e{i:04}")
}

fn target() -> Scope {
    Scope::table(workspace(49), "appAbCdEfGhIjKlMn", "tblQrStUvWxYz0123").in_project("prj0001")
}

/// 49 grants on other workspaces, bases and tables, then the one that matches.
fn principal(grants: usize) -> Principal {
    let mut principal = Principal::new(TenantRole::Member);
    for i in 0..grants - 1 {
        let scope = match i % 3 {
            0 => Scope::workspace(workspace(i)),
            1 => Scope::base(workspace(49), format!("appOther{i:09}")),
            _ => Scope::table(workspace(49), "appAbCdEfGhIjKlMn", format!("tblOther{i:09}")),
        };
        principal.grants.push(Grant::new(BuiltinRole::Editor, scope));
    }
    principal.grants.push(Grant::new(BuiltinRole::Viewer, Scope::base(workspace(49), "appAbCdEfGhIjKlMn")));
    principal
}

fn decisions(c: &mut Criterion) {
    let roles = Roles::new();
    let target = target();
    let mut group = c.benchmark_group("allows");
    for grants in [1, 50] {
        let principal = principal(grants);
        assert!(access::allows(&principal, &roles, Permission::RecordsRead, &target));
        group.bench_function(format!("{grants}_grants"), |b| {
            b.iter(|| {
                access::allows(black_box(&principal), &roles, black_box(Permission::RecordsRead), black_box(&target))
            })
        });
    }
    // The worst case: denied, every grant looked at (the editors lack the scope, the covering viewer the permission).
    let fifty = principal(50);
    assert!(!access::allows(&fifty, &roles, Permission::RecordsWrite, &target));
    group.bench_function("50_grants_denied", |b| {
        b.iter(|| access::allows(black_box(&fifty), &roles, black_box(Permission::RecordsWrite), black_box(&target)))
    });
    // Custom roles: a catalogue of 20, every grant one of them.
    let mut custom_roles = Roles::new();
    for i in 0..20 {
        custom_roles
            .define(
                CustomRole::new(&format!("role-{i:02}"), "Role", Permissions::of(&[Permission::RecordsRead])).unwrap(),
            )
            .unwrap();
    }
    let mut custom = fifty.clone();
    for (i, grant) in custom.grants.iter_mut().enumerate() {
        grant.role = RoleId::Custom(format!("role-{:02}", i % 20));
    }
    assert!(access::allows(&custom, &custom_roles, Permission::RecordsRead, &target));
    group.bench_function("50_custom_grants", |b| {
        b.iter(|| {
            access::allows(black_box(&custom), &custom_roles, black_box(Permission::RecordsRead), black_box(&target))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("effective");
    for grants in [1, 50] {
        let principal = principal(grants);
        group.bench_function(format!("{grants}_grants"), |b| {
            b.iter(|| access::effective(black_box(&principal), &roles, black_box(&target)))
        });
    }
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
