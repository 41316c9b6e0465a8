//! The records of the notifications table.

use events::Category;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a notification goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotificationChannel)]
pub enum Channel {
    InApp,
    Email,
    /// A text message to the user's phone number (SNS `Publish`; opt-in).
    Sms,
    /// A push notification to the user's registered devices (SNS platform endpoints).
    Push,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InApp => "in_app",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotificationDeliveryStatus)]
pub enum DeliveryStatus {
    /// Not sent yet (a retry is due).
    Pending,
    /// In the inbox, or accepted by the mail, SMS or push service (SES, SNS; the embedded outbox under
    /// `cargo run`); a push when at least one device's endpoint accepted it.
    Delivered,
    /// The recipient's preferences turned this channel off for the category.
    SkippedPreference,
    /// Over the tenant's email or SMS rate limit: dropped.
    RateLimited,
    /// Could not be sent (after its attempts, or not at all: e.g. an invitation whose token does not open).
    Failed,
}

/// One channel's delivery of a notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = NotificationDelivery)]
pub struct Delivery {
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The mail, SMS or push service's message id (a push: each accepting device's, comma-separated).
    pub message_id: Option<String>,
    /// When it last changed (epoch milliseconds).
    pub at_ms: i64,
}

/// A notification: an event turned into a message for one recipient, with its delivery log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub tenant_id: String,
    /// The recipient; `None` for an invitee without an account (email only, in no inbox).
    pub user_id: Option<String>,
    /// The recipient's address when emailed.
    pub email: Option<String>,
    /// The notification type (a template's name): the event's type, or `user.password_changed`.
    pub kind: String,
    pub category: Category,
    /// Security notices: they bypass preferences.
    pub critical: bool,
    pub event_id: String,
    /// The rendered title and text, for the inbox (none for an invitee: the email carries their token).
    pub title: String,
    pub body: Option<String>,
    pub in_inbox: bool,
    pub created_at_ms: i64,
    pub read_at_ms: Option<i64>,
    pub deliveries: Vec<Delivery>,
    #[serde(skip)]
    pub version: u64,
}

impl Notification {
    pub fn delivery_mut(&mut self, channel: Channel) -> Option<&mut Delivery> {
        self.deliveries.iter_mut().find(|d| d.channel == channel)
    }

    pub fn delivery(&self, channel: Channel) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| d.channel == channel)
    }
}

/// A tenant's version of a template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateOverride {
    pub kind: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub updated_by: String,
    pub updated_at: String,
}

/// What the embedded outbox keeps: an email, an SMS or a push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotificationOutboxChannel)]
pub enum OutboxChannel {
    #[default]
    Email,
    Sms,
    Push,
}

/// A message as the embedded outbox keeps it (under `cargo run` nothing is sent to the world): an email; an SMS
/// (`to` the phone number, no subject); a push (`to` the device id, `subject` its title).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutboxMail {
    pub id: String,
    /// Records kept before SMS and push were read as emails.
    #[serde(default)]
    pub channel: OutboxChannel,
    pub tenant_id: String,
    pub notification_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Epoch milliseconds.
    pub at_ms: i64,
}

/// A mobile platform a device registers for push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PushPlatform)]
pub enum Platform {
    /// Firebase Cloud Messaging (Android, and iOS through Firebase): SNS's `GCM` platform.
    Fcm,
    /// Apple Push Notification service, production.
    Apns,
    /// Apple Push Notification service, development builds.
    ApnsSandbox,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fcm => "fcm",
            Self::Apns => "apns",
            Self::ApnsSandbox => "apns_sandbox",
        }
    }
}

/// A user's device registered for push. The token itself is not kept: the push service's endpoint stands for
/// it (and its last 6 characters, to tell devices apart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// `dev_` + a hash of the platform and the token: the same registration again finds it.
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub platform: Platform,
    pub name: Option<String>,
    pub token_suffix: String,
    /// The push service's reference: an SNS platform endpoint ARN, or `embedded:<id>` under `cargo run`.
    pub endpoint: String,
    /// False once the push service said the endpoint is disabled (an uninstalled app, an expired token).
    pub enabled: bool,
    pub created_at_ms: i64,
    #[serde(skip)]
    pub version: u64,
}
