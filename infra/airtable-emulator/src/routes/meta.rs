//! The meta API: who the token is, which bases it sees, a base's schema.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use crate::error::{AirtableError, AirtableResult};
use crate::params::pairs;
use crate::state::Emulator;

pub async fn whoami() -> Json<Value> {
    Json(
        json!({ "id": "usrEmulatorUser01", "scopes": ["data.records:read", "data.records:write", "schema.bases:read"] }),
    )
}

/// Every base, one page (Airtable pages at 1000 bases; an `offset` from elsewhere is refused).
pub async fn bases(State(emulator): State<Emulator>, RawQuery(query): RawQuery) -> AirtableResult<Json<Value>> {
    if let Some((key, value)) = pairs(query.as_deref()).into_iter().next() {
        return Err(match key.as_str() {
            "offset" => {
                AirtableError::invalid("INVALID_OFFSET_VALUE", format!("The value of offset {value} is invalid"))
            }
            _ => AirtableError::invalid_request(),
        });
    }
    let world = emulator.world();
    let bases: Vec<Value> =
        world.bases.iter().map(|b| json!({ "id": b.id, "name": b.name, "permissionLevel": "create" })).collect();
    Ok(Json(json!({ "bases": bases })))
}

pub async fn tables(
    State(emulator): State<Emulator>,
    Path(base): Path<String>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    if pairs(query.as_deref()).iter().any(|(k, _)| k != "include[]" && k != "include") {
        return Err(AirtableError::invalid_request());
    }
    Ok(Json(emulator.world().base(&base)?.schema()))
}
