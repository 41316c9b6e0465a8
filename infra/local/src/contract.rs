//! The API's published contract: the groups' OpenAPI 3.1 document (their `#[utoipa::path]` annotations)
//! completed with what every route shares — the error shape, the two credentials the authorizer accepts, the
//! errors the gateway and the HTTP shell add — and served by the local runner at `/openapi.json`, rendered at
//! `/docs`.
//!
//! Those two routes are the runner's own, like the blob store's presigned URLs: outside the route table
//! (so template.yaml, which API Gateway serves, need not and does not declare them) and outside the document.

use anyhow::{Context, bail};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;
use utoipa::{PartialSchema, ToSchema};

use crate::docs;

pub const DOCUMENT_PATH: &str = "/openapi.json";
pub const DOCS_PATH: &str = "/docs";

const ERROR_SCHEMA: &str = "Error";
const AIRTABLE_ERROR_SCHEMA: &str = "AirtableError";
pub const BEARER_JWT: &str = "bearerJwt";
pub const API_KEY: &str = "apiKey";
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// Every 4xx and 5xx answer of the platform (the functions, the local gateway and API Gateway alike).
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
struct ErrorBody {
    /// A human-readable message; never internal detail.
    error: String,
    /// A stable snake_case code to branch on, e.g. `not_found`, `invalid_body`, `rate_limited`.
    code: String,
    /// The request's id (also in the `X-Request-ID` header): quote it when reporting a problem.
    request_id: String,
}

/// The document the runner serves: `api` (the groups' routes) completed, with `public_url` as its server.
pub fn document(api: &OpenApi, public_url: &str) -> anyhow::Result<Value> {
    let mut doc = serde_json::to_value(api).context("Failed to serialise the OpenAPI document")?;
    let root = doc.as_object_mut().context("the OpenAPI document is not an object")?;
    root.insert("info".into(), info());
    root.insert("servers".into(), servers(public_url));
    // Protected unless an operation says otherwise (`security(())` = public): either credential will do.
    root.insert("security".into(), json!([{ BEARER_JWT: [] }, { API_KEY: [] }]));
    add_components(root)?;
    let paths = root.get_mut("paths").and_then(Value::as_object_mut).context("the OpenAPI document has no paths")?;
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
                complete_operation(path, operation);
            }
        }
    }
    Ok(doc)
}

/// `GET /openapi.json` and `GET /docs`, both rendered once.
pub fn router(document: &Value) -> anyhow::Result<axum::Router> {
    let json = serde_json::to_string_pretty(document)?;
    let html = docs::render(document);
    Ok(axum::Router::new()
        .route(
            DOCUMENT_PATH,
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json).into_response() }),
        )
        .route(DOCS_PATH, get(move || async move { Html(html) })))
}

/// An operation is public when one of its security requirements is empty (the gateway's rule).
pub fn is_public(operation: &Map<String, Value>) -> bool {
    platform::gateway::is_public_operation(&Value::Object(operation.clone()))
}

fn info() -> Value {
    json!({
        "title": "PyAirtable API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "The PyAirtable platform: authentication, users, the audit trail and a caching, \
            rate-limited gateway to Airtable (`/api/v1/airtable/…`, and Airtable's own dialect under `/v0`).\n\n\
            Protected operations take `Authorization: Bearer <credential>`: an access token from \
            `POST /api/v1/auth/login`, or an API key from `POST /api/v1/auth/api-keys`. Every error is \
            `{\"error\", \"code\", \"request_id\"}`, except under `/v0`, where every error (a missing or refused \
            credential, an unknown route, …) is in Airtable's shape; every response carries `X-Request-ID`.",
        "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
    })
}

fn servers(public_url: &str) -> Value {
    json!([
        { "url": public_url, "description": "This local runner (`cargo run`)" },
        {
            "url": "https://{apiId}.execute-api.{region}.amazonaws.com/{stage}",
            "description": "A deployed stack (the ApiUrl output of `sam deploy`)",
            "variables": {
                "apiId": { "default": "abcdef1234" },
                "region": { "default": "us-east-1" },
                "stage": { "default": "dev", "enum": ["dev", "prod"] }
            }
        }
    ])
}

fn add_components(root: &mut Map<String, Value>) -> anyhow::Result<()> {
    let components =
        root.entry("components").or_insert_with(|| json!({})).as_object_mut().context("components is not an object")?;
    let schemas = components
        .entry("schemas")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("components.schemas is not an object")?;
    for (name, schema) in
        [(ERROR_SCHEMA, serde_json::to_value(ErrorBody::schema())?), (AIRTABLE_ERROR_SCHEMA, airtable_error_schema())]
    {
        if schemas.insert(name.into(), schema).is_some() {
            bail!("a group already defines the schema {name}, which the contract reserves");
        }
    }
    components.insert(
        "securitySchemes".into(),
        json!({
            BEARER_JWT: {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "An access token (at most 15 minutes) from login, register or refresh."
            },
            API_KEY: {
                "type": "http", "scheme": "bearer", "bearerFormat": "pyat_…",
                "description": "A platform API key (`POST /api/v1/auth/api-keys`), sent as a bearer token."
            }
        }),
    );
    Ok(())
}

fn airtable_error_schema() -> Value {
    json!({
        "description": "Airtable's error shapes, answered by the Airtable-compatible `/v0` surface for every error \
            there (the gateway's 401 and 403 too): `{\"error\": {\"type\", \"message\"}}`, `{\"error\": \"TYPE\"}`, \
            or for 429 `{\"errors\": [{\"error\": \"RATE_LIMIT_REACHED\", \"message\"}]}`.",
        "type": "object",
        "properties": {
            "error": {
                "oneOf": [
                    { "type": "string", "description": "An error type alone, e.g. `NOT_FOUND`." },
                    {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {
                                "type": "string",
                                "description": "Airtable's error type, e.g. `AUTHENTICATION_REQUIRED`, \
                                    `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND`, `NOT_FOUND`, `REQUEST_TOO_LARGE`, \
                                    `INVALID_REQUEST_UNKNOWN`, `SERVER_ERROR`."
                            },
                            "message": { "type": "string" }
                        }
                    }
                ]
            },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "string" }, "message": { "type": "string" } }
                }
            }
        },
        "anyOf": [{ "required": ["error"] }, { "required": ["errors"] }]
    })
}

/// Gives every error response a body schema and adds the errors every route can answer.
fn complete_operation(path: &str, operation: &mut Map<String, Value>) {
    // Handler names repeat across groups (`list`, `get`): the first tag makes them unique, e.g. `users_list`.
    let tag = operation.get("tags").and_then(|t| t.get(0)).and_then(Value::as_str).map(|t| t.replace('-', "_"));
    if let (Some(tag), Some(Value::String(id))) = (tag, operation.get_mut("operationId")) {
        *id = format!("{tag}_{id}");
    }
    let public = is_public(operation);
    let has_body = operation.contains_key("requestBody");
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    // Under /v0 every error, the shell's and the gateway's included, is in Airtable's shape.
    let airtable = path.starts_with("/v0/");
    let own_errors = if airtable { AIRTABLE_ERROR_SCHEMA } else { ERROR_SCHEMA };
    for (status, response) in responses.iter_mut() {
        let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
        if let Some(response) = response.as_object_mut().filter(|r| is_error && !r.contains_key("content")) {
            response.insert("content".into(), error_content(own_errors));
        }
    }
    let mut shared = vec![
        ("500", "Unexpected failure (opaque: the cause is logged with the request id)"),
        ("431", "The header fields are over the limit (`MAX_HEADER_BYTES`, `MAX_HEADER_COUNT`)"),
    ];
    if has_body {
        shared.push((
            "400",
            "The body is not valid for this operation (malformed JSON, a missing or wrongly typed field)",
        ));
        shared.push(("413", "The body is larger than the limit"));
    }
    if !public {
        shared.push(("401", "No credential, or one the authorizer refused"));
        shared.push(("403", "The credential does not allow this request"));
    }
    if airtable {
        // Airtable answers an unknown base, table, record or route alike.
        shared.push(("404", "No such base, table or record, or no such route"));
    }
    for (status, description) in shared {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "description": description, "content": error_content(own_errors) }));
    }
    // No content declared: the shell answers JSON in the error shape, but a URL beyond 65534 bytes is refused
    // by the HTTP server (hyper, API Gateway) before the shell sees it, with an empty body.
    responses.entry("414").or_insert_with(|| {
        json!({ "description": "The URL (path and query) is longer than 16000 characters (`{\"error\"…}` in the \
            error shape; beyond 65534 bytes the HTTP server answers with an empty body)" })
    });
}

fn error_content(schema: &str) -> Value {
    json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } })
}
