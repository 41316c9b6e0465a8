//! What every endpoint group shares. A group is a library exposing `fn router(state) -> OpenApiRouter`;
//! [`app::finish`] wraps it (request ids, error shape, CORS, 404/405) the same way for Lambda and for the
//! local runner.

pub mod app;
pub mod caller;
pub mod client_ip;
pub mod config;
pub mod dialect;
pub mod emf;
pub mod error;
pub mod gateway;
pub mod group;
pub mod json;
pub mod lambda;
pub mod metrics;
pub mod pagination;
pub mod records;
pub mod request_id;
pub mod telemetry;
pub mod timestamps;
pub mod usage;

pub use caller::Caller;
pub use client_ip::ClientIp;
pub use error::{ApiError, ApiResult};
pub use json::Json;
pub use request_id::RequestId;
