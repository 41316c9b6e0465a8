//! Both surfaces' routes, as one `OpenApiRouter` (the OpenAPI document drives the local gateway's route
//! table and the template-parity test). Every route is protected: the authorizer runs first.

pub mod api;
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
