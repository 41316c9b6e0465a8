//! Lambda bootstraps carry only the AWS adapters: no crate under `functions/` links redb (the embedded
//! table, queue and blob store). (A bootstrap asked for `STORAGE=embedded` refuses it with a clear error; that
//! path is not run here, because building one function on its own re-resolves features and rebuilds the
//! dependency graph — minutes of CI for one assertion. `sam build` links each function on its own.)
//!
//! Runs cargo itself (`env!("CARGO")`) from the workspace root. `cargo tree -e no-dev` resolves features as
//! `cargo build -p <crate> --bins` does: a function's unit tests may use the embedded store through a
//! dev-dependency, which never reaches its binaries. Each crate is asked on its own (`-p`), never with
//! `--workspace`, which would unify the local runner's features into it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn cargo(args: &[&str]) -> Output {
    Command::new(env!("CARGO")).args(args).current_dir(workspace_root()).output().unwrap()
}

/// The `name` of a manifest's `[package]`.
fn package_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().strip_prefix('=').map(str::trim);
            if let Some(name) = value.and_then(|v| v.strip_prefix('"')).and_then(|v| v.strip_suffix('"')) {
                return name.to_owned();
            }
        }
    }
    panic!("no [package] name in {}", manifest.display())
}

/// Every crate under `functions/`, read from the directory so a new function is covered without a list.
fn function_crates() -> Vec<String> {
    let mut crates: Vec<String> = std::fs::read_dir(workspace_root().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
        .map(|manifest| package_name(&manifest))
        .collect();
    crates.sort();
    crates
}

/// `cargo tree -p <package> -i redb` as the package's binaries are built; the printed tree (empty: no redb).
fn redb_paths(package: &str) -> String {
    let out = cargo(&["tree", "-p", package, "-e", "no-dev", "--target", "all", "-i", "redb", "--prefix", "none"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Either redb is outside the package's graph altogether (an error naming the spec), or inside the lock
    // file's graph but not reached (success, nothing printed). Anything else is cargo failing.
    assert!(
        out.status.success() || stderr.contains("did not match any packages"),
        "cargo tree -p {package} failed: {stderr}"
    );
    stdout
}

#[test]
fn no_function_crate_links_redb() {
    let crates = function_crates();
    assert!(crates.len() >= 6, "the functions/ directory lists only {crates:?}");
    // The query works: the local runner does link the embedded store.
    let runner = package_name(&workspace_root().join("infra/local/Cargo.toml"));
    assert!(redb_paths(&runner).contains(&format!("{runner} v")), "{runner} should link redb");

    let linked: Vec<String> = crates
        .iter()
        .filter_map(|name| {
            let tree = redb_paths(name);
            (!tree.trim().is_empty()).then(|| format!("{name}:\n{tree}"))
        })
        .collect();
    assert!(
        linked.is_empty(),
        "function crates must depend on storage without the `embedded` feature (dev-dependencies may add it):\n{}",
        linked.join("\n")
    );
}
