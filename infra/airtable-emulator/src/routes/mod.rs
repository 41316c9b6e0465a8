//! Airtable's routes (`/v0/…`) behind the traffic middleware, its OAuth endpoints (`/oauth2/v1/…`), and the
//! emulator's own `/_emulator/…`.

mod attachments;
mod comments;
mod control;
mod meta;
mod oauth;
mod reads;
mod webhooks;
mod writes;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_oauth;
#[cfg(test)]
mod tests_reach;
#[cfg(test)]
mod tests_surface;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};

use crate::auth::TokenGrant;
use crate::error::AirtableError;
use crate::state::Emulator;

/// The request's token's grant, which the traffic middleware put into the request: every `/v0` handler takes
/// it and finds bases through its reach. Without one (a route outside the middleware), 401.
impl<S: Send + Sync> FromRequestParts<S> for TokenGrant {
    type Rejection = AirtableError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<TokenGrant>().cloned().ok_or_else(AirtableError::unauthenticated)
    }
}

pub fn router(emulator: Emulator) -> Router {
    let records = || {
        get(reads::list_get)
            .post(writes::create)
            .patch(writes::update_many)
            .put(writes::update_many)
            .delete(writes::delete_many)
    };
    let api = Router::new()
        .route("/v0/meta/whoami", get(meta::whoami))
        .route("/v0/meta/bases", get(meta::bases))
        .route("/v0/meta/bases/{base}/tables", get(meta::tables).post(meta::create_table))
        .route("/v0/meta/bases/{base}/tables/{table}", patch(meta::update_table))
        .route("/v0/meta/bases/{base}/tables/{table}/fields", post(meta::create_field))
        .route("/v0/meta/bases/{base}/tables/{table}/fields/{field}", patch(meta::update_field))
        .route("/v0/bases/{base}/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/v0/bases/{base}/webhooks/{webhook}", axum::routing::delete(webhooks::delete))
        .route("/v0/bases/{base}/webhooks/{webhook}/refresh", post(webhooks::refresh))
        .route("/v0/bases/{base}/webhooks/{webhook}/enableNotifications", post(webhooks::enable_notifications))
        .route("/v0/bases/{base}/webhooks/{webhook}/payloads", get(webhooks::payloads))
        .route("/v0/{base}/{table}", records())
        // airtable.js writes to `/v0/{base}/{table}/` (trailing slash); Airtable answers it the same.
        .route("/v0/{base}/{table}/", records())
        .route("/v0/{base}/{table}/listRecords", post(reads::list_post))
        .route(
            "/v0/{base}/{table}/{record}",
            get(reads::get_one).patch(writes::update_one).put(writes::update_one).delete(writes::delete_one),
        )
        .route("/v0/{base}/{table}/{record}/comments", get(comments::list).post(comments::create))
        .route("/v0/{base}/{table}/{record}/comments/{comment}", patch(comments::update).delete(comments::delete))
        // `/v0/{baseId}/{recordId}/{attachmentFieldIdOrName}/uploadAttachment`: the same segments, other meanings.
        .route(
            "/v0/{base}/{table}/{record}/uploadAttachment",
            post(attachments::upload).layer(DefaultBodyLimit::max(attachments::MAX_BODY)),
        )
        .layer(axum::middleware::from_fn_with_state(emulator.clone(), crate::traffic::middleware));
    let oauth = Router::new()
        .route("/oauth2/v1/authorize", get(oauth::authorize))
        .route("/oauth2/v1/token", post(oauth::token));
    let control = Router::new()
        .route("/_emulator/stats", get(control::stats))
        .route("/_emulator/stats/reset", post(control::reset_stats))
        .route("/_emulator/config", get(control::config).patch(control::configure))
        .route("/_emulator/attachments/{id}/{filename}", get(attachments::serve));
    api.merge(oauth)
        .merge(control)
        .fallback(|| async { AirtableError::route_not_found().into_response() })
        .with_state(emulator)
}
