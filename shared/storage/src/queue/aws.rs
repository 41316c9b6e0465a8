//! The queue port on SQS.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};

use crate::queue::{MAX_BATCH, OutgoingMessage, Queue, QueueSpec, ReceivedMessage, validate_message};
use crate::{StoreError, StoreResult};

pub struct SqsQueue {
    client: Client,
    name: String,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, name: impl Into<String>, queue_url: impl Into<String>) -> Self {
        Self { client, name: name.into(), queue_url: queue_url.into() }
    }
}

fn unexpected(e: impl std::error::Error + Send + Sync + 'static, what: &'static str) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context(what))
}

fn attributes(message: &OutgoingMessage) -> StoreResult<Option<HashMap<String, MessageAttributeValue>>> {
    if message.attributes.is_empty() {
        return Ok(None);
    }
    let mut out = HashMap::with_capacity(message.attributes.len());
    for (name, value) in &message.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .context("Failed to build a message attribute")?;
        out.insert(name.clone(), value);
    }
    Ok(Some(out))
}

/// SQS counts in whole seconds; rounding up never hides or waits less than asked.
fn whole_seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(i32::MAX)
}

fn received(m: Message) -> StoreResult<ReceivedMessage> {
    let system = m.attributes.unwrap_or_default();
    let number = |name: &MessageSystemAttributeName| -> anyhow::Result<i64> {
        let value = system.get(name).with_context(|| format!("SQS returned no {name} attribute"))?;
        value.parse().with_context(|| format!("SQS returned {name} = {value:?}"))
    };
    let receive_count = u32::try_from(number(&MessageSystemAttributeName::ApproximateReceiveCount)?)
        .context("SQS returned a negative receive count")?;
    let sent_at_millis = number(&MessageSystemAttributeName::SentTimestamp)?;
    let attributes: BTreeMap<String, String> = m
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| value.string_value.map(|v| (name, v)))
        .collect();
    Ok(ReceivedMessage {
        message_id: m.message_id.context("SQS returned a message without an id")?,
        receipt_handle: m.receipt_handle.context("SQS returned a message without a receipt handle")?,
        body: m.body.unwrap_or_default(),
        attributes,
        receive_count,
        sent_at_millis,
    })
}

#[async_trait]
impl Queue for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    #[tracing::instrument(skip_all, fields(queue = %self.name))]
    async fn send(&self, message: OutgoingMessage) -> StoreResult<String> {
        validate_message(&message)?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&message.body)
            .set_message_attributes(attributes(&message)?)
            .set_delay_seconds(message.delay.map(whole_seconds))
            .send()
            .await
            .map_err(|e| unexpected(e, "Failed to send a message"))?;
        Ok(out.message_id.context("SQS returned no message id")?)
    }

    #[tracing::instrument(skip_all, fields(queue = %self.name, count = messages.len()))]
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> StoreResult<Vec<String>> {
        messages.iter().try_for_each(validate_message)?;
        let mut ids = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(MAX_BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, message) in chunk.iter().enumerate() {
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&message.body)
                    .set_message_attributes(attributes(message)?)
                    .set_delay_seconds(message.delay.map(whole_seconds))
                    .build()
                    .context("Failed to build a batch entry")?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| unexpected(e, "Failed to send a batch of messages"))?;
            if let Some(failed) = out.failed.first() {
                return Err(anyhow::anyhow!(
                    "SQS refused {} of {} messages (first: {} {:?}); {} were sent before",
                    out.failed.len(),
                    chunk.len(),
                    failed.code,
                    failed.message,
                    ids.len() + out.successful.len()
                )
                .into());
            }
            let mut by_entry: HashMap<String, String> =
                out.successful.into_iter().map(|s| (s.id, s.message_id)).collect();
            for i in 0..chunk.len() {
                ids.push(by_entry.remove(&i.to_string()).context("SQS did not report every batch entry")?);
            }
        }
        Ok(ids)
    }

    #[tracing::instrument(skip_all, fields(queue = %self.name))]
    async fn receive(&self, max: usize, visibility: Duration, wait: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        super::validate_receive(max, visibility, wait)?;
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .visibility_timeout(whole_seconds(visibility))
            .wait_time_seconds(whole_seconds(wait))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| unexpected(e, "Failed to receive messages"))?;
        out.messages.unwrap_or_default().into_iter().map(received).collect()
    }

    #[tracing::instrument(skip_all, fields(queue = %self.name))]
    async fn delete(&self, receipt_handle: &str) -> StoreResult<()> {
        let result =
            self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt_handle).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_receipt_handle_is_invalid()) => {
                Err(StoreError::Invalid(format!("not a receipt handle of this queue: {e}")))
            }
            Err(e) => Err(unexpected(e, "Failed to delete a message")),
        }
    }

    async fn ready(&self) -> StoreResult<()> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| unexpected(e, "Failed to read the queue's attributes"))?;
        Ok(())
    }
}

/// Creates the queue (and its dead-letter queue, with the redrive policy) if need be; returns its URL.
/// For emulators, tests and the local runner in AWS mode; on AWS, template.yaml declares the queues.
/// A queue's ARN.
pub async fn queue_arn(client: &Client, url: &str) -> anyhow::Result<String> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("Failed to read the ARN of {url}"))?;
    out.attributes.and_then(|mut a| a.remove(&QueueAttributeName::QueueArn)).context("SQS returned no QueueArn")
}

pub async fn ensure_queue(client: &Client, spec: &QueueSpec) -> anyhow::Result<String> {
    let mut attributes = HashMap::new();
    if let Some(dead_letter) = &spec.dead_letter {
        let dlq_url = create_queue(client, &dead_letter.queue, HashMap::new()).await?;
        let arn = queue_arn(client, &dlq_url).await?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": arn,
            "maxReceiveCount": dead_letter.max_receive_count.to_string(),
        });
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    create_queue(client, &spec.name, attributes).await
}

async fn create_queue(
    client: &Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> anyhow::Result<String> {
    let attributes = Some(attributes).filter(|a| !a.is_empty());
    let created = client.create_queue().queue_name(name).set_attributes(attributes.clone()).send().await;
    match created {
        Ok(out) => out.queue_url.context("CreateQueue returned no URL"),
        // It exists with other attributes: bring them up to date.
        Err(e) if e.as_service_error().is_some_and(|e| e.is_queue_name_exists()) => {
            let out = client.get_queue_url().queue_name(name).send().await;
            let url = out.with_context(|| format!("Failed to look up queue {name}"))?.queue_url;
            let url = url.context("GetQueueUrl returned no URL")?;
            if attributes.is_some() {
                let update = client.set_queue_attributes().queue_url(&url).set_attributes(attributes).send().await;
                update.with_context(|| format!("Failed to update queue {name}"))?;
            }
            Ok(url)
        }
        Err(e) => Err(e).with_context(|| format!("Failed to create queue {name}")),
    }
}
