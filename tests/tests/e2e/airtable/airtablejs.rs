//! The real airtable.js (npm `airtable`, pinned by tests/node/package.json and its lock file, installed by
//! `infra/scripts/services.sh install` with `npm ci`) drives the runner's /v0 surface unchanged:
//! tests/node/airtablejs_suite.js (select with every parameter and `method: 'post'`, find, create, update,
//! replace and destroy of one record and of arrays, typecast, Record methods, callbacks, makeRequest, and the
//! AirtableError objects it builds from the answers). Same summary contract as the pyairtable suite.

use std::path::PathBuf;

use super::pyairtable::{repo, run_suite};
use crate::support::TestApp;
use crate::support::airtable::Client;

use crate::support::airtable::gateway_settings;
crate::both_adapters_in!(gateway_settings;real_airtable_js_from_npm_works_unchanged_against_the_v0_surface);

/// The checks in tests/node/airtablejs_suite.js.
const AIRTABLE_JS_CHECKS: usize = 21;

async fn real_airtable_js_from_npm_works_unchanged_against_the_v0_surface(app: TestApp) {
    let client = Client::start(app).await;
    let suite = repo().join("tests/node");
    assert!(
        suite.join("node_modules/airtable/package.json").exists(),
        "airtable.js is not installed in {}: run infra/scripts/services.sh install (npm ci)",
        suite.display()
    );
    let node = PathBuf::from("node");
    let summary = run_suite(&client, &node, &suite.join("airtablejs_suite.js"), AIRTABLE_JS_CHECKS).await;
    let locked: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(suite.join("package.json")).unwrap()).unwrap();
    assert_eq!(summary["version"], locked["dependencies"]["airtable"], "the pinned airtable.js ran: {summary}");
}
