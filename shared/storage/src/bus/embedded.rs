//! The bus port in process: each route a send to its embedded queue.

use std::sync::Arc;

use async_trait::async_trait;

use crate::StoreResult;
use crate::bus::{Bus, Route};
use crate::queue::{OutgoingMessage, Queue, validate_message};

pub struct EmbeddedBus {
    attribute: String,
    routes: Vec<(Route, Arc<dyn Queue>)>,
}

impl EmbeddedBus {
    pub fn new(attribute: String, routes: Vec<(Route, Arc<dyn Queue>)>) -> Self {
        Self { attribute, routes }
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn publish(&self, message: OutgoingMessage) -> StoreResult<()> {
        validate_message(&message)?;
        for (route, queue) in &self.routes {
            if route.accepts(&self.attribute, &message) {
                queue.send(message.clone()).await?;
            }
        }
        Ok(())
    }

    async fn ready(&self) -> StoreResult<()> {
        for (_, queue) in &self.routes {
            queue.ready().await?;
        }
        Ok(())
    }
}
