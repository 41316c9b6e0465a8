//! The bus port on SNS: a topic, and per route an SQS subscription with raw message delivery and a filter
//! policy on the routing attribute. Provisioning (`ensure_topic`) creates the topic, the routes' queues (with
//! their dead-letter queues), each queue's policy letting the topic send to it, and the subscriptions; a
//! deployment gets all of it from template.yaml instead.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::bus::{Bus, BusSpec};
use crate::queue::{OutgoingMessage, validate_message};
use crate::{StoreError, StoreResult};

pub struct SnsBus {
    client: Client,
    topic_arn: String,
}

impl SnsBus {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static, what: &'static str) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context(what))
}

#[async_trait]
impl Bus for SnsBus {
    async fn publish(&self, message: OutgoingMessage) -> StoreResult<()> {
        validate_message(&message)?;
        let mut attributes = HashMap::with_capacity(message.attributes.len());
        for (name, value) in &message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .context("Failed to build a message attribute")?;
            attributes.insert(name.clone(), value);
        }
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message.body)
            .set_message_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| unexpected(e, "Failed to publish to SNS"))?;
        Ok(())
    }

    async fn ready(&self) -> StoreResult<()> {
        self.client
            .get_topic_attributes()
            .topic_arn(&self.topic_arn)
            .send()
            .await
            .map_err(|e| unexpected(e, "Failed to describe the SNS topic"))?;
        Ok(())
    }
}

/// Creates the topic `spec.name` and, per route, its queue and subscription (names are physical: the
/// caller has applied the deployment's prefix). Returns the topic's ARN. Idempotent.
pub async fn ensure_topic(sns: &Client, sqs: &aws_sdk_sqs::Client, spec: &BusSpec) -> anyhow::Result<String> {
    let created = sns.create_topic().name(&spec.name).send().await;
    let topic_arn = created.with_context(|| format!("Failed to create topic {}", spec.name))?.topic_arn;
    let topic_arn = topic_arn.context("CreateTopic returned no ARN")?;
    let existing = sns.list_subscriptions_by_topic().topic_arn(&topic_arn).send().await;
    let existing: Vec<String> = existing
        .context("Failed to list the topic's subscriptions")?
        .subscriptions
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.endpoint)
        .collect();
    for route in &spec.routes {
        let url = crate::queue::aws::ensure_queue(sqs, &route.queue).await?;
        let arn = crate::queue::aws::queue_arn(sqs, &url).await?;
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }],
        });
        sqs.set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .with_context(|| format!("Failed to let the topic send to {}", route.queue.name))?;
        if existing.contains(&arn) {
            continue;
        }
        let mut subscribe = sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&arn)
            .attributes("RawMessageDelivery", "true");
        if let Some(filter) = route.filter_policy(&spec.attribute) {
            subscribe = subscribe.attributes("FilterPolicy", filter.to_string());
        }
        subscribe.send().await.with_context(|| format!("Failed to subscribe {} to the topic", route.queue.name))?;
    }
    Ok(topic_arn)
}
