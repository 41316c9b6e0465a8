//! An Airtable emulator: stateful and Airtable-shaped, for the local runner and the tests. Never deployed.
//!
//! It speaks the parts of Airtable's Web API the gateway and the official clients use, with Airtable's paths,
//! bodies, answers and error bodies:
//!
//! - records: list (`GET` or `POST …/listRecords`; offset pagination, `pageSize`/`maxRecords`, `sort`,
//!   `fields[]`, views by name or id, `filterByFormula`, `cellFormat`, `returnFieldsByFieldId`,
//!   `recordMetadata[]=commentCount`), get one, create, PATCH merges, PUT replaces, `performUpsert`, delete;
//!   batches of at most 10; `typecast` (a new select option joins the field's choices, hence the schema;
//!   numbers answer as Airtable writes them: `8`, not `8.0`). airtable.js's trailing-slash writes and its
//!   `"method": "post"` in a listRecords body are accepted, as Airtable accepts them;
//! - record comments: `/v0/{baseId}/{tableIdOrName}/{recordId}/comments[/{rowCommentId}]` — list (newest
//!   first), create, update, delete; one author, the emulator's user ([`state::USER_ID`]), whatever the token;
//! - attachments: `POST /v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment` (at most 5 MB),
//!   the file served back from `/_emulator/attachments/{id}/{filename}`;
//! - the meta API: `/v0/meta/whoami` (the token's user: `id`; `email` with `user.email:read`; `scopes` for
//!   an OAuth token), `/v0/meta/bases` (the bases the token reaches), a base's schema, and its writes —
//!   create a table, update a table, create a field, update a field — with Airtable's checks of names, types
//!   and options;
//! - webhooks: `/v0/bases/{baseId}/webhooks` — list, create, delete, `refresh`, `enableNotifications`,
//!   `payloads` (cursor, at most 50 a page). Writes after a webhook's creation become payloads in Airtable's
//!   `changedTablesById` / `createdTablesById` shape. A webhook with a `notificationUrl` and notifications
//!   enabled gets Airtable's ping (`{"base":{"id"},"webhook":{"id"},"timestamp"}`, signed in
//!   `X-Airtable-Content-MAC`) when a write gives it a payload — off the write's path, coalesced (one ping under
//!   way per webhook, at most one a second; changes meanwhile owe one follow-up), retried a few times on
//!   failure, the outcome answered by list webhooks ([`pings`]).
//!
//! - OAuth (authorization code with PKCE S256, rotating refresh tokens): `GET /oauth2/v1/authorize`, where the
//!   user consents at once (emulator-only `bases=`, `user=`, `consent=deny` stand for the consent screen),
//!   and `POST /oauth2/v1/token` — see `routes::oauth` and [`oauth`]. Integrations are registered with
//!   [`Emulator::register_oauth_client`]; codes live 10 minutes, access tokens 1 hour, refresh tokens 60 days,
//!   on the emulator's clock ([`Emulator::advance_clock`] moves it).
//!
//! Every `/v0` request passes the traffic middleware: the bearer token, staged outages, and Airtable's
//! 5 requests/second per base (429, then a penalty window).
//!
//! Tokens have an owner and a reach ([`auth`]): each registered token is a [`TokenGrant`] — its
//! [`EmulatorUser`], scopes, [`BaseReach`] (every base, or some) and [`TokenKind`] (a personal access token, or
//! an OAuth access token that expires). [`Emulator::new`]'s tokens are the emulator user's, reaching every
//! base; [`Emulator::issue_token`] adds others, [`Emulator::revoke_token`] ends one, and the OAuth token
//! endpoint registers its access tokens. The middleware hands the request's grant to the handlers, which find
//! every base through its reach ([`state::World::base`]): a base out of reach answers exactly as a missing one
//! (403 `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND`) for records, comments, uploads, webhooks, schema and meta
//! writes, and its requests take from a rate-limit bucket of their own, never the base's. Stats count per base
//! whoever asks.
//!
//! [`Emulator::copy_base`] deep-copies a base under a fresh `app…` id (same table, field, view and record ids;
//! no comments or webhooks), so each tenant of the local runner gets demo data of its own.
//!
//! `/_emulator/stats` counts what arrived (the tests' "upstream calls"); `/_emulator/config` stages
//! outages, latency and limits while it runs.

pub mod attachments;
pub mod auth;
pub mod comments;
pub mod config;
pub mod error;
pub mod fields;
pub mod formula;
pub mod ids;
pub mod list;
pub mod model;
pub mod oauth;
pub mod params;
pub mod pings;
mod routes;
pub mod seed;
pub mod state;
pub mod traffic;
pub mod webhooks;

use std::net::SocketAddr;

use anyhow::Context;

pub use auth::{BaseReach, EmulatorUser, TokenGrant, TokenKind};
pub use config::{ConfigPatch, EmulatorConfig};
pub use state::{BaseStats, DEV_TOKEN, Emulator, Stats, random_token};

/// The emulator's routes (Airtable's and `/_emulator/…`).
pub fn router(emulator: Emulator) -> axum::Router {
    routes::router(emulator)
}

/// An emulator serving on a loopback port, until the runtime that spawned it stops.
pub struct Running {
    pub emulator: Emulator,
    pub addr: SocketAddr,
}

impl Running {
    /// What clients use as Airtable's endpoint URL (`https://api.airtable.com` in production).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serves `emulator` on `bind` (port 0: any free port).
pub async fn spawn(emulator: Emulator, bind: SocketAddr) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("Failed to listen on {bind}"))?;
    let addr = listener.local_addr().context("Failed to read the emulator's address")?;
    let app = router(emulator.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = ?e, "the Airtable emulator stopped");
        }
    });
    Ok(Running { emulator, addr })
}
