//! The mailer port: one email out. On AWS (and against moto) SES v2 `SendEmail` from
//! `NOTIFICATIONS_FROM_EMAIL`; under `cargo run` with embedded storage, the embedded outbox in the
//! notifications table, which a platform admin reads (`GET /api/v1/notifications/outbox`): nothing is sent to
//! the world, and the runner logs one line per message (recipient, subject length, ids; never its body). The
//! storage mode chooses, as it chooses every other adapter.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use platform::group::Resources;
use storage::backend::StorageMode;

use crate::records::{OutboxChannel, OutboxMail};
use crate::store::NotificationStore;

/// One email.
#[derive(Clone, Debug)]
pub struct Mail {
    pub tenant_id: String,
    pub notification_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends it; the mail service's message id.
    async fn send(&self, mail: &Mail) -> anyhow::Result<String>;
}

/// SES v2.
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<String> {
        let text = |data: &str| Content::builder().data(data).charset("UTF-8").build();
        let message = Message::builder()
            .subject(text(&mail.subject)?)
            .body(Body::builder().text(text(&mail.body)?).build())
            .build();
        let answer = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SES SendEmail failed: {}", aws_sdk_sesv2::error::DisplayErrorContext(e)))?;
        Ok(answer.message_id().unwrap_or_default().to_string())
    }
}

/// The embedded outbox (`cargo run`).
pub struct OutboxMailer {
    store: NotificationStore,
    from: String,
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<String> {
        let at_ms = storage::now_millis();
        let ms = u64::try_from(at_ms).unwrap_or(0);
        let id = format!("mail_{ms:012x}{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let stored = OutboxMail {
            id: id.clone(),
            channel: OutboxChannel::Email,
            tenant_id: mail.tenant_id.clone(),
            notification_id: mail.notification_id.clone(),
            from: self.from.clone(),
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            body: mail.body.clone(),
            at_ms,
        };
        self.store.put_outbox(&stored).await.map_err(anyhow::Error::new)?;
        tracing::info!(mail_id = %id, notification_id = %mail.notification_id, to = %mail.to,
            subject_chars = mail.subject.chars().count(), "email kept in the embedded outbox (not sent)");
        Ok(id)
    }
}

/// The mailer the storage mode calls for. With `STORAGE_PROVISION` (emulators, tests) the sender's identity
/// is created in SES first, as verifying it would be.
pub async fn open(resources: &Resources, store: &NotificationStore, from: &str) -> anyhow::Result<Arc<dyn Mailer>> {
    let backend = resources.email()?;
    let settings = backend.settings();
    match settings.mode {
        StorageMode::Embedded => Ok(Arc::new(OutboxMailer { store: store.clone(), from: from.to_string() })),
        StorageMode::Aws => {
            let config = storage::aws::sdk_config(&settings.aws).await;
            let client = aws_sdk_sesv2::Client::new(&config);
            if settings.provision {
                let created = client.create_email_identity().email_identity(from).send().await;
                if let Err(e) = created {
                    let already = e.as_service_error().is_some_and(|e| e.is_already_exists_exception());
                    if !already {
                        anyhow::bail!(
                            "could not create the SES identity {from}: {}",
                            aws_sdk_sesv2::error::DisplayErrorContext(e)
                        );
                    }
                }
            }
            Ok(Arc::new(SesMailer { client, from: from.to_string() }))
        }
    }
}
