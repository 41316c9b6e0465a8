//! Both surfaces' routes, as one `OpenApiRouter` (the OpenAPI document drives the local gateway's route
//! table and the template-parity test). Every route is protected: the authorizer runs first.

pub mod api;
pub mod attach;
pub mod batch;
pub mod respond;
pub mod v0;

#[cfg(test)]
mod tests;

use platform::ApiError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::gateway::Gateway;
use crate::ids::{BaseId, RecordId, TableRef};

pub fn router(gateway: Gateway) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api::list_bases))
        .routes(routes!(api::get_base))
        .routes(routes!(api::list_tables))
        .routes(routes!(api::get_table))
        .routes(routes!(api::list_records, api::create_record))
        .routes(routes!(api::get_record, api::update_record, api::delete_record))
        .routes(routes!(batch::create_many, batch::update_many))
        .routes(routes!(batch::upsert_many))
        .routes(routes!(batch::delete_many))
        .routes(routes!(v0::reads::whoami))
        .routes(routes!(v0::reads::bases))
        .routes(routes!(v0::reads::tables))
        .routes(routes!(
            v0::reads::list_records,
            v0::writes::create_records,
            v0::writes::patch_records,
            v0::writes::put_records,
            v0::writes::delete_records
        ))
        .routes(routes!(v0::reads::list_records_post))
        .routes(routes!(
            v0::reads::get_record,
            v0::writes::patch_record,
            v0::writes::put_record,
            v0::writes::delete_record
        ))
        .routes(routes!(v0::comments::list_comments, v0::comments::create_comment))
        .routes(routes!(v0::comments::update_comment, v0::comments::delete_comment))
        .routes(routes!(v0::webhooks::list_webhooks, v0::webhooks::create_webhook))
        .routes(routes!(v0::webhooks::delete_webhook))
        .routes(routes!(v0::webhooks::refresh_webhook))
        .routes(routes!(v0::webhooks::enable_notifications))
        .routes(routes!(v0::webhooks::list_payloads))
        .routes(routes!(v0::meta::create_table))
        .routes(routes!(v0::meta::update_table))
        .routes(routes!(v0::meta::create_field))
        .routes(routes!(v0::meta::update_field))
        .routes(routes!(v0::upload::upload_attachment))
        // airtable.js writes to `/v0/{base}/{table}/` (a trailing slash). API Gateway (REST) routes that to
        // the `/v0/{baseId}/{tableIdOrName}` resource and passes the path on as sent, so the function serves
        // it too — undocumented: it is not a route of its own at API Gateway.
        .route(
            "/v0/{baseId}/{tableIdOrName}/",
            axum::routing::get(v0::reads::list_records)
                .post(v0::writes::create_records)
                .patch(v0::writes::patch_records)
                .put(v0::writes::put_records)
                .delete(v0::writes::delete_records),
        )
        .with_state(gateway)
}

fn base_id(raw: &str) -> Result<BaseId, ApiError> {
    BaseId::parse(raw)
        .ok_or_else(|| ApiError::bad_request("invalid_base_id", "baseId must be an Airtable base id (app…)"))
}

fn table_ref(raw: &str) -> Result<TableRef, ApiError> {
    TableRef::parse(raw)
        .ok_or_else(|| ApiError::bad_request("invalid_table", "tableId must be a table id (tbl…) or name"))
}

fn record_id(raw: &str) -> Result<RecordId, ApiError> {
    RecordId::parse(raw)
        .ok_or_else(|| ApiError::bad_request("invalid_record_id", "recordId must be an Airtable record id (rec…)"))
}
