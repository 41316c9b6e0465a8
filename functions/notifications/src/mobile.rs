//! The mobile port: SMS and push. On AWS (and against moto) SNS: `Publish` to a phone number for an SMS;
//! platform endpoints for push (`CreatePlatformEndpoint` on the platform application of the device's platform,
//! `Publish` to the endpoint, `DeleteEndpoint`: SNS's name for deleting a platform endpoint). Under `cargo run` with embedded storage, the embedded
//! outbox in the notifications table, as for email ([`crate::mailer`]): nothing leaves the machine, and the
//! runner logs one line per message (never its body). The storage mode chooses, as it chooses every other
//! adapter.
//!
//! Push platform applications come from `NOTIFICATIONS_PUSH_FCM_APP_ARN` and `NOTIFICATIONS_PUSH_APNS_APP_ARN`
//! (the APNS one serves `apns` and `apns_sandbox` devices). With `STORAGE_PROVISION` (emulators, tests) an
//! unset one is created (`<table prefix>-fcm`, platform `GCM`; `<table prefix>-apns`, `APNS`), as the mailer
//! creates its SES identity. A platform without an application cannot register devices
//! ([`RegisterError::PlatformUnavailable`]).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::error::DisplayErrorContext;
use platform::group::Resources;
use serde_json::json;
use storage::backend::{Backend, StorageMode};

use crate::records::{OutboxChannel, OutboxMail, Platform};
use crate::settings::NotificationSettings;
use crate::store::{self, NotificationStore};

/// One SMS.
#[derive(Clone, Debug)]
pub struct Text {
    pub tenant_id: String,
    pub notification_id: String,
    /// E.164.
    pub to: String,
    pub body: String,
}

/// One push notification (to one device).
#[derive(Clone, Debug)]
pub struct Push {
    pub tenant_id: String,
    pub notification_id: String,
    pub title: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// No platform application is configured for the platform.
    #[error("push to {} devices is not configured", .0.as_str())]
    PlatformUnavailable(Platform),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The push service disabled the endpoint (the app was uninstalled, the token expired): not retried.
    #[error("the device's endpoint is disabled")]
    EndpointDisabled,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

#[async_trait]
pub trait Mobile: Send + Sync {
    /// Sends an SMS; the service's message id.
    async fn sms(&self, text: &Text) -> anyhow::Result<String>;
    /// Registers a device's token; the reference pushes go to (an endpoint ARN).
    async fn register(&self, platform: Platform, token: &str) -> Result<String, RegisterError>;
    /// Forgets a device's endpoint (one already gone is no error).
    async fn unregister(&self, endpoint: &str) -> anyhow::Result<()>;
    /// Pushes to one device; the service's message id.
    async fn push(&self, endpoint: &str, push: &Push) -> Result<String, PushError>;
}

/// The JSON message of a push: `default`, and the payload of each platform (as strings, as SNS wants them).
pub fn push_message(push: &Push) -> String {
    let fcm = json!({"notification": {"title": push.title, "body": push.body}}).to_string();
    let apns = json!({"aps": {"alert": {"title": push.title, "body": push.body}}}).to_string();
    json!({"default": push.body, "GCM": fcm, "APNS": apns, "APNS_SANDBOX": apns}).to_string()
}

/// SNS.
pub struct SnsMobile {
    client: aws_sdk_sns::Client,
    fcm_app: Option<String>,
    apns_app: Option<String>,
}

#[async_trait]
impl Mobile for SnsMobile {
    async fn sms(&self, text: &Text) -> anyhow::Result<String> {
        let answer = self
            .client
            .publish()
            .phone_number(&text.to)
            .message(&text.body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SNS Publish (SMS) failed: {}", DisplayErrorContext(e)))?;
        Ok(answer.message_id().unwrap_or_default().to_string())
    }

    async fn register(&self, platform: Platform, token: &str) -> Result<String, RegisterError> {
        let app = match platform {
            Platform::Fcm => self.fcm_app.as_deref(),
            Platform::Apns | Platform::ApnsSandbox => self.apns_app.as_deref(),
        };
        let app = app.ok_or(RegisterError::PlatformUnavailable(platform))?;
        // No CustomUserData: SNS answers the same endpoint for the same token only when the attributes match.
        let answer = self
            .client
            .create_platform_endpoint()
            .platform_application_arn(app)
            .token(token)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SNS CreatePlatformEndpoint failed: {}", DisplayErrorContext(e)))?;
        answer
            .endpoint_arn()
            .map(String::from)
            .ok_or_else(|| RegisterError::Failed(anyhow::anyhow!("SNS CreatePlatformEndpoint answered no endpoint")))
    }

    async fn unregister(&self, endpoint: &str) -> anyhow::Result<()> {
        // SNS's DeleteEndpoint is idempotent: an endpoint already gone is no error.
        match self.client.delete_endpoint().endpoint_arn(endpoint).send().await {
            Ok(_) => Ok(()),
            Err(e) => anyhow::bail!("SNS DeleteEndpoint failed: {}", DisplayErrorContext(e)),
        }
    }

    async fn push(&self, endpoint: &str, push: &Push) -> Result<String, PushError> {
        let sent = self
            .client
            .publish()
            .target_arn(endpoint)
            .message_structure("json")
            .message(push_message(push))
            .send()
            .await;
        match sent {
            Ok(answer) => Ok(answer.message_id().unwrap_or_default().to_string()),
            // Disabled, or gone (deleted meanwhile): either way this endpoint takes no more.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_endpoint_disabled_exception() || e.is_not_found_exception()) =>
            {
                Err(PushError::EndpointDisabled)
            }
            Err(e) => Err(PushError::Failed(anyhow::anyhow!("SNS Publish (push) failed: {}", DisplayErrorContext(e)))),
        }
    }
}

/// The embedded outbox (`cargo run`).
pub struct OutboxMobile {
    store: NotificationStore,
}

const EMBEDDED: &str = "embedded:";

impl OutboxMobile {
    async fn keep(
        &self,
        channel: OutboxChannel,
        notification: &str,
        tenant: &str,
        to: &str,
        subject: &str,
        body: &str,
    ) -> anyhow::Result<String> {
        let at_ms = storage::now_millis();
        let ms = u64::try_from(at_ms).unwrap_or(0);
        let prefix = match channel {
            OutboxChannel::Email => "mail",
            OutboxChannel::Sms => "sms",
            OutboxChannel::Push => "push",
        };
        let id = format!("{prefix}_{ms:012x}{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let stored = OutboxMail {
            id: id.clone(),
            channel,
            tenant_id: tenant.to_string(),
            notification_id: notification.to_string(),
            from: String::new(),
            to: to.to_string(),
            subject: subject.to_string(),
            body: body.to_string(),
            at_ms,
        };
        self.store.put_outbox(&stored).await.map_err(anyhow::Error::new)?;
        Ok(id)
    }
}

#[async_trait]
impl Mobile for OutboxMobile {
    async fn sms(&self, text: &Text) -> anyhow::Result<String> {
        let id =
            self.keep(OutboxChannel::Sms, &text.notification_id, &text.tenant_id, &text.to, "", &text.body).await?;
        tracing::info!(sms_id = %id, notification_id = %text.notification_id, to = %text.to,
            chars = text.body.chars().count(), "SMS kept in the embedded outbox (not sent)");
        Ok(id)
    }

    async fn register(&self, platform: Platform, token: &str) -> Result<String, RegisterError> {
        Ok(format!("{EMBEDDED}{}", store::device_id(platform, token)))
    }

    async fn unregister(&self, _endpoint: &str) -> anyhow::Result<()> {
        Ok(())
    }

    async fn push(&self, endpoint: &str, push: &Push) -> Result<String, PushError> {
        let device = endpoint.strip_prefix(EMBEDDED).unwrap_or(endpoint);
        let id = self
            .keep(OutboxChannel::Push, &push.notification_id, &push.tenant_id, device, &push.title, &push.body)
            .await?;
        tracing::info!(push_id = %id, notification_id = %push.notification_id, device = %device,
            title_chars = push.title.chars().count(), "push kept in the embedded outbox (not sent)");
        Ok(id)
    }
}

/// The mobile adapter the storage mode calls for, for a binary that declared [`platform::group::Use::Sms`] or
/// [`platform::group::Use::Push`] (or both). With `STORAGE_PROVISION` and device registration declared, the
/// platform applications that are not configured are created.
pub async fn open(
    resources: &Resources,
    store: &NotificationStore,
    settings: &NotificationSettings,
) -> anyhow::Result<Arc<dyn Mobile>> {
    let push = resources.push().ok();
    let backend: &Arc<Backend> = match push {
        Some((backend, _)) => backend,
        None => resources.sms()?,
    };
    let registers = matches!(push, Some((_, platform::group::PushAccess::Register)));
    let storage = backend.settings();
    match storage.mode {
        StorageMode::Embedded => Ok(Arc::new(OutboxMobile { store: store.clone() })),
        StorageMode::Aws => {
            let config = storage::aws::sdk_config(&storage.aws).await;
            let client = aws_sdk_sns::Client::new(&config);
            let mut fcm_app = settings.push_fcm_app_arn.clone();
            let mut apns_app = settings.push_apns_app_arn.clone();
            if storage.provision && registers {
                let prefix = storage.table_prefix.trim_end_matches(['-', '_', '.']);
                let prefix = if prefix.is_empty() { "pyairtable" } else { prefix };
                if fcm_app.is_none() {
                    fcm_app = Some(create_app(&client, &format!("{prefix}-fcm"), "GCM").await?);
                }
                if apns_app.is_none() {
                    apns_app = Some(create_app(&client, &format!("{prefix}-apns"), "APNS").await?);
                }
            }
            Ok(Arc::new(SnsMobile { client, fcm_app, apns_app }))
        }
    }
}

/// Creates a platform application (emulators and tests: its credential is a placeholder).
async fn create_app(client: &aws_sdk_sns::Client, name: &str, platform: &str) -> anyhow::Result<String> {
    let answer = client
        .create_platform_application()
        .name(name)
        .platform(platform)
        .attributes("PlatformCredential", "emulated")
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("could not create the SNS platform application {name}: {}", DisplayErrorContext(e))
        })?;
    answer
        .platform_application_arn()
        .map(String::from)
        .ok_or_else(|| anyhow::anyhow!("SNS CreatePlatformApplication answered no ARN for {name}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_push_message_carries_every_platforms_payload_as_a_string() {
        let push = Push {
            tenant_id: "t".into(),
            notification_id: "n".into(),
            title: "Security \"notice\"".into(),
            body: "A new key".into(),
        };
        let message: serde_json::Value = serde_json::from_str(&push_message(&push)).unwrap();
        assert_eq!(message["default"], "A new key");
        let gcm: serde_json::Value = serde_json::from_str(message["GCM"].as_str().unwrap()).unwrap();
        assert_eq!(gcm["notification"]["title"], "Security \"notice\"");
        for apns in ["APNS", "APNS_SANDBOX"] {
            let payload: serde_json::Value = serde_json::from_str(message[apns].as_str().unwrap()).unwrap();
            assert_eq!(payload["aps"]["alert"]["body"], "A new key");
        }
    }
}
