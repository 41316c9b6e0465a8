//! End-to-end: the local runner started in-process on a free port, driven over HTTP with reqwest.
//! Every scenario runs twice: `embedded` (redb, in-process cache) and `aws` (DynamoDB/SQS/S3 on moto_server,
//! cache on redis-server), through the `both_adapters!` macro.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod airtable;
mod analytics;
mod audit;
mod auth;
mod automations;
mod binary;
mod contract;
mod declarations;
mod files;
mod foundation;
mod hardening;
mod lambda_entry;
mod metrics;
mod notifications;
mod rate_limits;
mod route_matrix;
mod schemathesis;
mod template;
mod tenants;
mod users;
mod webhooks;
mod workspaces;
mod workspaces_routes;
