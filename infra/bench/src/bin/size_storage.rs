//! A size baseline, never deployed: the bare lambda_runtime hello plus one DynamoDB table read through the
//! storage crate (`Backend::open`, `table`, `get`): the AWS SDK's config, HTTPS/TLS stack and DynamoDB
//! client, and the embedded adapter's redb, which `Backend::open` can also choose. Built with the same profile;
//! its size minus the hello's is what reading one table costs a function's bootstrap.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use storage::backend::{Backend, StorageMode, StorageSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let settings = StorageSettings::from_env(StorageMode::Aws)?;
    let backend = Backend::open(&settings).await?;
    let table = &backend.table("bench").await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let pk = event.payload["pk"].as_str().unwrap_or("bench").to_string();
        let item = table.get(&storage::table::Key::new(pk, "x")).await?;
        Ok::<Value, Error>(serde_json::json!({ "found": item.is_some() }))
    }))
    .await
}
