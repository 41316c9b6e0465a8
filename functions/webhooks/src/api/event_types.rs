//! `GET /api/v1/events/types`: the catalogue of platform event types (what endpoints filter on), for any
//! signed-in user.

use events::{Action, Category};
use platform::{Caller, Json};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct EventType {
    /// e.g. `workspace.created`.
    #[serde(rename = "type")]
    pub name: &'static str,
    pub description: &'static str,
    pub category: Category,
    /// The current version of its `data`.
    pub version: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypes {
    pub types: Vec<EventType>,
}

/// Every event type, with what it means.
#[utoipa::path(get, path = "/api/v1/events/types", tag = "events", operation_id = "list_event_types",
    responses((status = 200, description = "The catalogue", body = EventTypes)))]
pub async fn list(_caller: Caller) -> Json<EventTypes> {
    let types = Action::ALL
        .into_iter()
        .map(|a| EventType {
            name: a.as_str(),
            description: a.describe(),
            category: a.category(),
            version: a.version(),
        })
        .collect();
    Json(EventTypes { types })
}
