//! Airtable's routes (`/v0/…`) behind the traffic middleware, and the emulator's own `/_emulator/…`.

mod control;
mod meta;
mod reads;
mod writes;

#[cfg(test)]
mod tests;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::error::AirtableError;
use crate::state::Emulator;

pub fn router(emulator: Emulator) -> Router {
    let api = Router::new()
        .route("/v0/meta/whoami", get(meta::whoami))
        .route("/v0/meta/bases", get(meta::bases))
        .route("/v0/meta/bases/{base}/tables", get(meta::tables))
        .route(
            "/v0/{base}/{table}",
            get(reads::list_get)
                .post(writes::create)
                .patch(writes::update_many)
                .put(writes::update_many)
                .delete(writes::delete_many),
        )
        .route("/v0/{base}/{table}/listRecords", post(reads::list_post))
        .route(
            "/v0/{base}/{table}/{record}",
            get(reads::get_one).patch(writes::update_one).put(writes::update_one).delete(writes::delete_one),
        )
        .layer(axum::middleware::from_fn_with_state(emulator.clone(), crate::traffic::middleware));
    let control = Router::new()
        .route("/_emulator/stats", get(control::stats))
        .route("/_emulator/stats/reset", post(control::reset_stats))
        .route("/_emulator/config", get(control::config).patch(control::configure));
    api.merge(control).fallback(|| async { AirtableError::route_not_found().into_response() }).with_state(emulator)
}
