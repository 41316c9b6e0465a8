//! The bus's `events-notifications` queue: each event of the types [`plan`] knows becomes a notification for
//! its recipient — in the inbox, by email, by SMS and by push, as the recipient's preferences say (security
//! notices bypass them; an invitee without an account gets the email only, and so does a password reset) —
//! with a delivery log per channel.
//!
//! Channels of a user's notification, in order: in-app; email; SMS when the user set a phone number (opt-in
//! per category; the rendered subject, at most [`SMS_MAX_CHARS`] characters); push when the user has an enabled
//! device (the subject as title, the body's first [`PUSH_BODY_CHARS`] characters). A push is delivered when any
//! device's endpoint accepts it; an endpoint the push service disabled marks its device disabled (not
//! retried).
//!
//! At least once, without repeats: the notification's id is a function of the event and the recipient, so a
//! redelivered event finds it and only finishes what is still `pending` (a send that failed is retried by
//! SQS's redelivery, [`MAX_ATTEMPTS`] times per channel, then `failed`; a delivered channel is not sent
//! again). A crash between the service accepting a message and the log recording it sends that message twice:
//! the one repeat possible.
//!
//! Per-tenant rate limits per clock hour, counted in the table: `NOTIFICATIONS_EMAILS_PER_HOUR` emails and
//! `NOTIFICATIONS_SMS_PER_HOUR` SMS; beyond them a message is dropped with the status `rate_limited` (logged),
//! the inbox entry is still made.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::{Action, Event};
use identity::IdentityStore;
use identity::invitation_seal::Purpose;
use platform::group::Resources;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use storage::keys::Keys;

use crate::mailer::{self, Mail, Mailer};
use crate::mobile::{self, Mobile, PushError, Text};
use crate::records::{Channel, Delivery, DeliveryStatus, Device, Notification};
use crate::settings::NotificationSettings;
use crate::store::{self, Created, NotificationStore};
use crate::templates::{self, Template};

/// Sends of one channel's message before it is `failed`.
pub const MAX_ATTEMPTS: u32 = 3;
/// The most characters of an SMS (the rendered subject, cut).
pub const SMS_MAX_CHARS: usize = 300;
/// The most characters of a push's body (the rendered body's first ones).
pub const PUSH_BODY_CHARS: usize = 200;

pub struct ConsumerState {
    pub store: NotificationStore,
    pub identity: IdentityStore,
    pub keys: Arc<dyn Keys>,
    pub mailer: Arc<dyn Mailer>,
    pub mobile: Arc<dyn Mobile>,
    pub settings: NotificationSettings,
}

impl ConsumerState {
    pub async fn build(resources: &Resources, settings: NotificationSettings) -> anyhow::Result<Self> {
        let store = NotificationStore::new(resources.table(store::TABLE).await?);
        let mailer = mailer::open(resources, &store, &settings.from_email).await?;
        let mobile = mobile::open(resources, &store, &settings).await?;
        Ok(Self {
            identity: IdentityStore::new(resources.table(identity::TABLE).await?),
            keys: resources.keys().await?,
            mailer,
            mobile,
            store,
            settings,
        })
    }
}

pub async fn handle(state: &ConsumerState, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("notifications-consumer", event, |record| async move { handle_one(state, &record).await })
        .await
}

async fn handle_one(state: &ConsumerState, record: &SqsMessage) -> anyhow::Result<()> {
    let body = record.body.as_deref().unwrap_or_default();
    let event: Event = serde_json::from_str(body).map_err(|e| anyhow::anyhow!("not a platform event: {e}"))?;
    notify(state, &event).await
}

/// Who is told what about an event.
#[derive(Debug, PartialEq)]
pub enum Recipient {
    User(String),
    /// An invitee: an address, maybe without an account.
    Invitee(String),
    /// A user reached by email only, the body not kept (it carries a secret: the password reset link).
    UserByEmailOnly(String),
}

#[derive(Debug, PartialEq)]
pub struct Plan {
    pub kind: &'static templates::Kind,
    pub recipient: Recipient,
}

/// What `event` becomes, if anything.
pub fn plan(event: &Event) -> Option<Plan> {
    let text = |name: &str| event.details.get(name).and_then(Value::as_str).map(String::from);
    let (kind, recipient) = match event.action {
        Action::InvitationCreated => (templates::INVITATION_CREATED, Recipient::Invitee(text("email")?)),
        Action::InvitationResent => (templates::INVITATION_RESENT, Recipient::Invitee(text("email")?)),
        Action::ApiKeyCreated => (templates::API_KEY_CREATED, Recipient::User(event.subject_id.clone()?)),
        Action::SessionRevoked => (templates::SESSION_REVOKED, Recipient::User(event.subject_id.clone()?)),
        Action::PasswordResetRequested => {
            (templates::PASSWORD_RESET_REQUESTED, Recipient::UserByEmailOnly(event.subject_id.clone()?))
        }
        Action::PasswordResetCompleted => (templates::PASSWORD_CHANGED, Recipient::User(event.subject_id.clone()?)),
        // No account yet: an address, like an invitee's (email only, nothing kept).
        Action::RegistrationRequested => (templates::REGISTRATION_REQUESTED, Recipient::Invitee(text("email")?)),
        // The new address, which is not the account's yet.
        Action::EmailChangeRequested => (templates::EMAIL_CHANGE_REQUESTED, Recipient::Invitee(text("email")?)),
        Action::AutomationNotification => {
            (templates::AUTOMATION_NOTIFICATION, Recipient::User(event.subject_id.clone()?))
        }
        Action::RegistrationAttempted => {
            (templates::REGISTRATION_ATTEMPTED, Recipient::User(event.subject_id.clone()?))
        }
        Action::UserUpdated => {
            let fields: Vec<&str> = event
                .details
                .get("fields")
                .and_then(Value::as_array)
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let subject = event.subject_id.clone()?;
            if fields.contains(&"password") {
                (templates::PASSWORD_CHANGED, Recipient::User(subject))
            } else if event.actor_id.as_deref() != Some(subject.as_str()) && !fields.is_empty() {
                // Someone else changed the account; one's own edits are no news.
                (templates::ACCOUNT_UPDATED, Recipient::User(subject))
            } else {
                return None;
            }
        }
        _ => return None,
    };
    Some(Plan { kind: templates::kind(kind)?, recipient })
}

fn display_name(user: &identity::User) -> String {
    match (&user.first_name, &user.last_name) {
        (Some(first), Some(last)) => format!("{first} {last}"),
        (Some(first), None) => first.clone(),
        _ => user.email.clone(),
    }
}

fn rfc3339_secs(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The template the tenant set for `kind` in `locale` (or in English), else the built-in one.
pub async fn effective_template(
    store: &NotificationStore,
    tenant: &str,
    kind: &str,
    locale: &str,
) -> anyhow::Result<Option<(Template, bool)>> {
    for candidate in [locale, crate::preferences::DEFAULT_LOCALE] {
        if let Some(custom) = store.template(tenant, kind, candidate).await? {
            return Ok(Some((Template { subject: custom.subject, body: custom.body }, true)));
        }
        if let Some(builtin) = templates::builtin(kind, candidate) {
            return Ok(Some((builtin, false)));
        }
    }
    Ok(None)
}

/// Makes (or finishes) the notification of `event`.
pub async fn notify(state: &ConsumerState, event: &Event) -> anyhow::Result<()> {
    let Some(plan) = plan(event) else { return Ok(()) };
    let Some(tenant) = event.tenant_id.as_deref() else { return Ok(()) };
    let now = storage::now_millis();
    let tenant_name = state.identity.tenant(tenant).await?.map(|t| t.name).filter(|n| !n.trim().is_empty());
    let tenant_name = tenant_name.unwrap_or_else(|| "their team".into());
    let actor_name = match event.actor_id.as_deref() {
        Some(actor) => state.identity.user(tenant, actor).await?.map(|u| display_name(&u)),
        None => None,
    }
    .unwrap_or_else(|| "Someone".into());
    let mut context = json!({
        "app_name": "PyAirtable",
        "tenant_name": tenant_name,
        "actor_name": actor_name,
        "event": {"type": event.action.as_str(), "time": event.occurred_at(), "ip": event.ip},
        "data": public_data(event),
    });

    // The recipient, their preferences, and the channels.
    let (user_id, email, prefs) = match &plan.recipient {
        Recipient::User(user_id) => {
            let Some(user) = state.identity.user(tenant, user_id).await? else {
                tracing::info!(%user_id, kind = plan.kind.name, "no such user any more: nothing to notify");
                return Ok(());
            };
            let prefs = state.store.preferences(tenant, user_id).await?.map(|(p, _)| p).unwrap_or_default();
            context["recipient"] = json!({"email": user.email, "name": display_name(&user)});
            (Some(user_id.clone()), user.email.clone(), prefs)
        }
        Recipient::Invitee(email) => {
            context["recipient"] = json!({"email": email, "name": email});
            (None, email.clone(), Default::default())
        }
        Recipient::UserByEmailOnly(user_id) => {
            let Some(user) = state.identity.user(tenant, user_id).await?.filter(|u| u.is_active()) else {
                tracing::info!(%user_id, kind = plan.kind.name, "no such active user any more: nothing to send");
                return Ok(());
            };
            let prefs = state.store.preferences(tenant, user_id).await?.map(|(p, _)| p).unwrap_or_default();
            context["recipient"] = json!({"email": user.email, "name": display_name(&user)});
            // No inbox entry and no kept body: like an invitee's, this email holds the token.
            (None, user.email.clone(), prefs)
        }
    };
    let critical = plan.kind.critical;
    let in_inbox = user_id.is_some() && prefs.allows(plan.kind.category, Channel::InApp, critical);
    let emailed = user_id.is_none() || prefs.allows(plan.kind.category, Channel::Email, critical);

    // Invitations: the accept link, from the token sealed for us.
    let mut link_failure = None;
    if matches!(plan.recipient, Recipient::UserByEmailOnly(_)) {
        match reset_link(state, tenant, event).await {
            Ok(link) => context["reset_url"] = json!(link),
            Err(e) => {
                tracing::error!(error = %e, "the reset token does not open: no email");
                link_failure = Some("the reset token could not be opened".to_string());
                context["reset_url"] = json!("");
            }
        }
        let expires = event.details.get("expires_at").and_then(Value::as_i64).unwrap_or_default();
        context["expires_at"] = json!(rfc3339_secs(expires));
    }
    if event.action == Action::EmailChangeRequested {
        // An address that has an account gets nothing (the change could not apply; telling would enumerate).
        let Recipient::Invitee(address) = &plan.recipient else { return Ok(()) };
        if state.identity.user_by_email(address).await?.is_some() {
            tracing::info!(kind = plan.kind.name, "the new address has an account: no confirmation email");
            return Ok(());
        }
        match email_change_link(state, tenant, event).await {
            Ok(link) => context["confirm_url"] = json!(link),
            Err(e) => {
                tracing::error!(error = %e, "the email change token does not open: no email");
                link_failure = Some("the email change token could not be opened".to_string());
                context["confirm_url"] = json!("");
            }
        }
        let expires = event.details.get("expires_at").and_then(Value::as_i64).unwrap_or_default();
        context["expires_at"] = json!(rfc3339_secs(expires));
    } else if event.action == Action::RegistrationRequested {
        match verification_link(state, tenant, event).await {
            Ok(link) => context["verify_url"] = json!(link),
            Err(e) => {
                tracing::error!(error = %e, "the verification token does not open: no email");
                link_failure = Some("the verification token could not be opened".to_string());
                context["verify_url"] = json!("");
            }
        }
        let expires = event.details.get("expires_at").and_then(Value::as_i64).unwrap_or_default();
        context["expires_at"] = json!(rfc3339_secs(expires));
    } else if matches!(plan.recipient, Recipient::Invitee(_)) {
        match invitation_link(state, tenant, event).await {
            Ok(link) => context["accept_url"] = json!(link),
            Err(e) => {
                tracing::error!(error = %e, "the invitation token does not open: no email");
                link_failure = Some("the invitation token could not be opened".to_string());
                context["accept_url"] = json!("");
            }
        }
        context["role"] = json!(event.details.get("role").and_then(Value::as_str).unwrap_or("member"));
        let expires = event.details.get("expires_at").and_then(Value::as_i64).unwrap_or_default();
        context["expires_at"] = json!(rfc3339_secs(expires));
    }

    let rendered = render(state, tenant, plan.kind.name, prefs.locale(), &context).await?;
    let recipient_key = user_id.clone().unwrap_or_else(|| format!("email:{email}"));
    let id = store::notification_id(event.occurred_at_ms, &event.event_id, &recipient_key);
    let mut deliveries = Vec::new();
    if user_id.is_some() {
        let status = if in_inbox { DeliveryStatus::Delivered } else { DeliveryStatus::SkippedPreference };
        deliveries.push(Delivery {
            channel: Channel::InApp,
            status,
            attempts: u32::from(in_inbox),
            error: None,
            message_id: None,
            at_ms: now,
        });
    }
    let email_status = match (&link_failure, emailed) {
        (Some(_), _) => DeliveryStatus::Failed,
        (None, true) => DeliveryStatus::Pending,
        (None, false) => DeliveryStatus::SkippedPreference,
    };
    deliveries.push(Delivery {
        channel: Channel::Email,
        status: email_status,
        attempts: 0,
        error: link_failure,
        message_id: None,
        at_ms: now,
    });
    // SMS and push: a user's notices only (an invitee has no account; a reset link goes by email alone).
    let (phone, devices) = match (&plan.recipient, &user_id) {
        (Recipient::User(_), Some(user)) => {
            let devices: Vec<Device> =
                state.store.devices(tenant, user).await?.into_iter().filter(|d| d.enabled).collect();
            (prefs.phone_number.clone(), devices)
        }
        _ => (None, Vec::new()),
    };
    let reachable = [(Channel::Sms, phone.is_some()), (Channel::Push, !devices.is_empty())];
    for (channel, reachable) in reachable {
        if reachable {
            let allowed = prefs.allows(plan.kind.category, channel, critical);
            let status = if allowed { DeliveryStatus::Pending } else { DeliveryStatus::SkippedPreference };
            deliveries.push(Delivery { channel, status, attempts: 0, error: None, message_id: None, at_ms: now });
        }
    }
    let notification = Notification {
        id,
        tenant_id: tenant.to_string(),
        user_id: user_id.clone(),
        email: Some(email.clone()),
        kind: plan.kind.name.to_string(),
        category: plan.kind.category,
        critical,
        event_id: event.event_id.clone(),
        title: rendered.subject.clone(),
        // An invitee's email carries their token: it is not kept.
        body: user_id.as_ref().map(|_| rendered.body.clone()),
        in_inbox,
        created_at_ms: event.occurred_at_ms,
        read_at_ms: None,
        deliveries,
        version: 0,
    };
    let mut current = match state.store.create(&notification).await? {
        Created::New(n) | Created::Existing(n) => *n,
    };
    let mut retry = Vec::new();
    for channel in [Channel::Email, Channel::Sms, Channel::Push] {
        if !current.delivery(channel).is_some_and(|d| d.status == DeliveryStatus::Pending) {
            continue;
        }
        let outgoing = match channel {
            Channel::Email => Outgoing::Email(Mail {
                tenant_id: tenant.to_string(),
                notification_id: current.id.clone(),
                to: email.clone(),
                subject: rendered.subject.clone(),
                body: rendered.body.clone(),
            }),
            Channel::Sms => Outgoing::Sms(Text {
                tenant_id: tenant.to_string(),
                notification_id: current.id.clone(),
                // Read again on a redelivery: a number removed since is no SMS.
                to: phone.clone().unwrap_or_default(),
                body: rendered.subject.chars().take(SMS_MAX_CHARS).collect(),
            }),
            Channel::Push => Outgoing::Push(
                mobile::Push {
                    tenant_id: tenant.to_string(),
                    notification_id: current.id.clone(),
                    title: rendered.subject.clone(),
                    body: rendered.body.chars().take(PUSH_BODY_CHARS).collect(),
                },
                devices.clone(),
            ),
            Channel::InApp => continue,
        };
        if let Some(error) = deliver(state, &mut current, channel, outgoing).await? {
            retry.push(format!("{}: {error}", channel.as_str()));
        }
    }
    if !retry.is_empty() {
        anyhow::bail!("not every channel was delivered (retried): {}", retry.join("; "));
    }
    Ok(())
}

/// One channel's message.
enum Outgoing {
    Email(Mail),
    Sms(Text),
    /// To each of these devices (the enabled ones).
    Push(mobile::Push, Vec<Device>),
}

/// What one attempt came to.
enum Attempt {
    /// Over the tenant's rate for the channel.
    RateLimited(u32),
    Sent(String),
    /// Worth another attempt.
    Failed(String),
    /// Not worth another: nowhere to send it.
    Unreachable(String),
}

/// Event data as templates see it: without the sealed token.
fn public_data(event: &Event) -> Value {
    let mut data = event.details.clone();
    data.remove(identity::invitation_seal::SEALED_TOKEN_FIELD);
    Value::Object(data)
}

/// The token sealed for us in `event` for `purpose` (the record named by the purpose's field).
async fn sealed_token(
    state: &ConsumerState,
    tenant: &str,
    event: &Event,
    purpose: Purpose,
) -> anyhow::Result<secrecy::SecretString> {
    let text = |name: &str| event.details.get(name).and_then(Value::as_str);
    let field = purpose.record_field();
    let id = text(field).ok_or_else(|| anyhow::anyhow!("the event carries no {field}"))?;
    let sealed = text(identity::invitation_seal::SEALED_TOKEN_FIELD)
        .ok_or_else(|| anyhow::anyhow!("the event carries no sealed token"))?;
    identity::invitation_seal::open(&state.keys, purpose, tenant, id, sealed).await
}

async fn invitation_link(state: &ConsumerState, tenant: &str, event: &Event) -> anyhow::Result<String> {
    let token = sealed_token(state, tenant, event, Purpose::Invitation).await?;
    Ok(state.settings.invitation_link(token.expose_secret()))
}

async fn email_change_link(state: &ConsumerState, tenant: &str, event: &Event) -> anyhow::Result<String> {
    let token = sealed_token(state, tenant, event, Purpose::EmailChange).await?;
    Ok(state.settings.email_change_link(token.expose_secret()))
}

async fn verification_link(state: &ConsumerState, tenant: &str, event: &Event) -> anyhow::Result<String> {
    let token = sealed_token(state, tenant, event, Purpose::EmailVerification).await?;
    Ok(state.settings.verify_email_link(token.expose_secret()))
}

async fn reset_link(state: &ConsumerState, tenant: &str, event: &Event) -> anyhow::Result<String> {
    let token = sealed_token(state, tenant, event, Purpose::PasswordReset).await?;
    Ok(state.settings.password_reset_link(token.expose_secret()))
}

async fn render(
    state: &ConsumerState,
    tenant: &str,
    kind: &str,
    locale: &str,
    context: &Value,
) -> anyhow::Result<templates::Rendered> {
    let Some((template, custom)) = effective_template(&state.store, tenant, kind, locale).await? else {
        anyhow::bail!("no template for {kind}");
    };
    match templates::render(&template, context) {
        Ok(rendered) => Ok(rendered),
        Err(e) if custom => {
            tracing::warn!(kind, error = %e, "the tenant's template failed on this event: the built-in one is used");
            let builtin =
                templates::builtin_or_default(kind, locale).ok_or_else(|| anyhow::anyhow!("no template for {kind}"))?;
            templates::render(&builtin, context).map_err(|e| anyhow::anyhow!("the built-in {kind} failed: {e}"))
        }
        Err(e) => anyhow::bail!("the built-in {kind} failed: {e}"),
    }
}

/// The rate limit of a channel, if it has one.
fn rate_limit(settings: &NotificationSettings, channel: Channel) -> Option<u32> {
    match channel {
        Channel::Email => Some(settings.emails_per_hour),
        Channel::Sms => Some(settings.sms_per_hour),
        Channel::InApp | Channel::Push => None,
    }
}

async fn attempt(state: &ConsumerState, tenant: &str, outgoing: Outgoing) -> anyhow::Result<Attempt> {
    let failed = |e: anyhow::Error| format!("{e:#}").chars().take(500).collect::<String>();
    Ok(match outgoing {
        Outgoing::Email(mail) => match state.mailer.send(&mail).await {
            Ok(id) => Attempt::Sent(id),
            Err(e) => Attempt::Failed(failed(e)),
        },
        Outgoing::Sms(text) if text.to.is_empty() => Attempt::Unreachable("no phone number any more".into()),
        Outgoing::Sms(text) => match state.mobile.sms(&text).await {
            Ok(id) => Attempt::Sent(id),
            Err(e) => Attempt::Failed(failed(e)),
        },
        Outgoing::Push(push, devices) => {
            let (mut accepted, mut errors) = (Vec::new(), Vec::new());
            for device in devices {
                match state.mobile.push(&device.endpoint, &push).await {
                    Ok(id) => accepted.push(id),
                    Err(PushError::EndpointDisabled) => {
                        tracing::info!(device_id = %device.id, tenant_id = %tenant,
                            "the push service disabled the device's endpoint: device disabled");
                        let disabled = Device { enabled: false, ..device };
                        if let Err(e) = state.store.update_device(&disabled).await {
                            // Deleted or changed meanwhile: the next notice finds it as it is then.
                            tracing::warn!(device_id = %disabled.id, error = %e, "could not mark the device disabled");
                        }
                    }
                    Err(PushError::Failed(e)) => errors.push(failed(e)),
                }
            }
            if !accepted.is_empty() {
                Attempt::Sent(accepted.join(","))
            } else if !errors.is_empty() {
                Attempt::Failed(errors.join("; ").chars().take(500).collect())
            } else {
                Attempt::Unreachable("every device is disabled".into())
            }
        }
    })
}

/// One attempt at a channel's message, recorded in the notification's log; the error when it is worth another
/// attempt (the event is then redelivered).
async fn deliver(
    state: &ConsumerState,
    n: &mut Notification,
    channel: Channel,
    outgoing: Outgoing,
) -> anyhow::Result<Option<String>> {
    let now = storage::now_millis();
    let limit = rate_limit(&state.settings, channel);
    let allowed = match limit {
        Some(limit) => state.store.take_slot(channel, &n.tenant_id, now, limit).await?,
        None => true,
    };
    let outcome = match (allowed, limit) {
        (false, Some(limit)) => Attempt::RateLimited(limit),
        _ => attempt(state, &n.tenant_id, outgoing).await?,
    };
    let (id, tenant) = (n.id.clone(), n.tenant_id.clone());
    let Some(delivery) = n.delivery_mut(channel) else { return Ok(None) };
    delivery.at_ms = now;
    let mut retry = None;
    match outcome {
        Attempt::RateLimited(limit) => {
            tracing::warn!(notification_id = %id, tenant_id = %tenant, channel = channel.as_str(), limit,
                "the tenant's rate limit for the channel is reached: message dropped");
            delivery.status = DeliveryStatus::RateLimited;
            delivery.error = Some(format!("over {limit} {} per hour for the tenant", channel.as_str()));
        }
        Attempt::Sent(message_id) => {
            delivery.attempts += 1;
            delivery.status = DeliveryStatus::Delivered;
            delivery.error = None;
            delivery.message_id = Some(message_id);
            tracing::info!(notification_id = %id, channel = channel.as_str(), "sent");
        }
        Attempt::Unreachable(error) => {
            delivery.attempts += 1;
            delivery.status = DeliveryStatus::Failed;
            delivery.error = Some(error);
        }
        Attempt::Failed(error) => {
            delivery.attempts += 1;
            delivery.error = Some(error.clone());
            if delivery.attempts >= MAX_ATTEMPTS {
                delivery.status = DeliveryStatus::Failed;
            } else {
                retry = Some(error);
            }
        }
    }
    let outcome = match delivery.status {
        DeliveryStatus::Delivered => Some("delivered"),
        DeliveryStatus::Failed => Some("failed"),
        DeliveryStatus::RateLimited => Some("rate_limited"),
        _ => None,
    };
    *n = state.store.update(n).await?;
    // Final outcomes only (a retry counts when it ends).
    if let Some(outcome) = outcome {
        let dimensions = [("channel", channel.as_str()), ("outcome", outcome)];
        platform::usage::count(&tenant, platform::usage::NOTIFICATIONS_SENT, 1, &dimensions);
    }
    Ok(retry)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use events::Origin;

    use super::*;

    fn origin() -> Origin {
        Origin { request_id: "r".into(), ip: None }
    }

    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use crate::mobile::{Push, RegisterError};
    use crate::records::Platform;

    /// Counts sends; SMS fail while `sms_failures` remain; endpoints in `disabled` are disabled.
    #[derive(Default)]
    struct Fake {
        mails: AtomicU32,
        sms: Mutex<Vec<String>>,
        pushes: Mutex<Vec<String>>,
        sms_failures: AtomicU32,
        disabled: HashSet<String>,
    }

    #[async_trait::async_trait]
    impl Mailer for Fake {
        async fn send(&self, _mail: &Mail) -> anyhow::Result<String> {
            Ok(format!("mail-{}", self.mails.fetch_add(1, Ordering::SeqCst)))
        }
    }

    #[async_trait::async_trait]
    impl Mobile for Fake {
        async fn sms(&self, text: &Text) -> anyhow::Result<String> {
            if self.sms_failures.load(Ordering::SeqCst) > 0 {
                self.sms_failures.fetch_sub(1, Ordering::SeqCst);
                anyhow::bail!("the SMS service is down");
            }
            self.sms.lock().unwrap().push(text.body.clone());
            Ok("sms-1".into())
        }
        async fn register(&self, _platform: Platform, _token: &str) -> Result<String, RegisterError> {
            unreachable!()
        }
        async fn unregister(&self, _endpoint: &str) -> anyhow::Result<()> {
            Ok(())
        }
        async fn push(&self, endpoint: &str, push: &Push) -> Result<String, PushError> {
            if self.disabled.contains(endpoint) {
                return Err(PushError::EndpointDisabled);
            }
            self.pushes.lock().unwrap().push(format!("{endpoint}: {}", push.title));
            Ok(format!("push-{endpoint}"))
        }
    }

    async fn world(fake: Arc<Fake>) -> (ConsumerState, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("notifications-consumer-{}", uuid::Uuid::new_v4()));
        let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
        let store = NotificationStore::new(env.table(store::TABLE));
        let identity = IdentityStore::new(env.table(identity::TABLE));
        let now = identity::now_rfc3339();
        let tenant = identity::Tenant::new("t1".into(), "u1".into(), now.clone());
        let user = identity::User {
            id: "u1".into(),
            tenant_id: "t1".into(),
            email: "ann@example.com".into(),
            first_name: Some("Ann".into()),
            last_name: None,
            roles: vec!["tenant_owner".into()],
            status: identity::UserStatus::Active,
            password_hash: secrecy::SecretString::from("x"),
            created_at: now.clone(),
            updated_at: now,
            version: 0,
        };
        identity.create_account(&tenant, &user).await.unwrap();
        let prefs = crate::preferences::Preferences { phone_number: Some("+14155552671".into()), ..Default::default() };
        store.put_preferences("t1", "u1", &prefs).await.unwrap();
        for (id, endpoint) in [("dev_1", "ok"), ("dev_2", "gone")] {
            let device = Device {
                id: id.into(),
                tenant_id: "t1".into(),
                user_id: "u1".into(),
                platform: Platform::Fcm,
                name: None,
                token_suffix: "abcdef".into(),
                endpoint: endpoint.into(),
                enabled: true,
                created_at_ms: 1,
                version: 0,
            };
            store.create_device(&device).await.unwrap();
        }
        let keys: Arc<dyn Keys> = Arc::new(storage::keys::embedded::EmbeddedKeys::open(&dir).unwrap());
        let state = ConsumerState {
            store,
            identity,
            keys,
            mailer: fake.clone(),
            mobile: fake,
            settings: NotificationSettings::default(),
        };
        (state, dir)
    }

    fn key_event() -> Event {
        Event::new(Action::ApiKeyCreated, &origin()).tenant("t1").actor("u1").detail("api_key_id", "key_1")
    }

    async fn the_notice(state: &ConsumerState, event: &Event) -> Notification {
        let id = store::notification_id(event.occurred_at_ms, &event.event_id, "u1");
        state.store.get("t1", "u1", &id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_security_notice_goes_by_every_channel_once_and_a_disabled_endpoint_disables_its_device() {
        let fake = Arc::new(Fake { disabled: HashSet::from(["gone".to_string()]), ..Default::default() });
        let (state, dir) = world(fake.clone()).await;
        let event = key_event();
        notify(&state, &event).await.unwrap();
        let n = the_notice(&state, &event).await;
        for channel in [Channel::InApp, Channel::Email, Channel::Sms, Channel::Push] {
            assert_eq!(n.delivery(channel).unwrap().status, DeliveryStatus::Delivered, "{channel:?}: {n:?}");
        }
        assert_eq!(n.delivery(Channel::Push).unwrap().message_id.as_deref(), Some("push-ok"));
        assert_eq!(*fake.sms.lock().unwrap(), vec![n.title.clone()]);
        let devices = state.store.devices("t1", "u1").await.unwrap();
        let enabled: Vec<(&str, bool)> = devices.iter().map(|d| (d.id.as_str(), d.enabled)).collect();
        assert_eq!(enabled, [("dev_1", true), ("dev_2", false)]);
        // A redelivery sends nothing again.
        notify(&state, &event).await.unwrap();
        assert_eq!(fake.mails.load(Ordering::SeqCst), 1);
        assert_eq!(fake.sms.lock().unwrap().len(), 1);
        assert_eq!(fake.pushes.lock().unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_failed_channel_is_retried_alone_and_fails_after_its_attempts() {
        let fake = Arc::new(Fake { sms_failures: AtomicU32::new(1), ..Default::default() });
        let (state, dir) = world(fake.clone()).await;
        let event = key_event();
        let error = notify(&state, &event).await.unwrap_err().to_string();
        assert!(error.contains("sms"), "{error}");
        let n = the_notice(&state, &event).await;
        let sms = n.delivery(Channel::Sms).unwrap();
        assert_eq!((sms.status, sms.attempts), (DeliveryStatus::Pending, 1));
        assert_eq!(n.delivery(Channel::Email).unwrap().status, DeliveryStatus::Delivered);
        // The redelivery sends the SMS only.
        notify(&state, &event).await.unwrap();
        let n = the_notice(&state, &event).await;
        let sms = n.delivery(Channel::Sms).unwrap();
        assert_eq!((sms.status, sms.attempts), (DeliveryStatus::Delivered, 2));
        assert_eq!(fake.mails.load(Ordering::SeqCst), 1);
        assert_eq!(fake.pushes.lock().unwrap().len(), 2, "one per device, once");

        // Another event while the service stays down: failed after MAX_ATTEMPTS, then left alone.
        fake.sms_failures.store(10, Ordering::SeqCst);
        let event = key_event();
        for _ in 1..MAX_ATTEMPTS {
            assert!(notify(&state, &event).await.is_err());
        }
        notify(&state, &event).await.unwrap();
        let sms = the_notice(&state, &event).await.delivery(Channel::Sms).cloned().unwrap();
        assert_eq!((sms.status, sms.attempts), (DeliveryStatus::Failed, MAX_ATTEMPTS));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn sms_is_opt_in_for_a_non_critical_notice_and_never_for_an_invitee() {
        let fake = Arc::new(Fake::default());
        let (state, dir) = world(fake.clone()).await;
        let renamed = Event::new(Action::UserUpdated, &origin())
            .tenant("t1")
            .actor("someone")
            .subject("u1")
            .detail("fields", json!(["first_name"]));
        notify(&state, &renamed).await.unwrap();
        let n = the_notice(&state, &renamed).await;
        assert_eq!(n.delivery(Channel::Sms).unwrap().status, DeliveryStatus::SkippedPreference);
        assert_eq!(n.delivery(Channel::Push).unwrap().status, DeliveryStatus::Delivered, "push is on by default");
        assert!(fake.sms.lock().unwrap().is_empty());
        // An invitee (even one with the user's address): email only (here failed: the token is not sealed).
        let invite = Event::new(Action::InvitationCreated, &origin())
            .tenant("t1")
            .actor("u1")
            .detail("email", "ann@example.com")
            .detail("invitation_id", "inv_1");
        notify(&state, &invite).await.unwrap();
        let id = store::notification_id(invite.occurred_at_ms, &invite.event_id, "email:ann@example.com");
        let n = state.store.get("t1", store::EXTERNAL, &id).await.unwrap().unwrap();
        let channels: Vec<Channel> = n.deliveries.iter().map(|d| d.channel).collect();
        assert_eq!(channels, [Channel::Email]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn events_become_the_right_notices() {
        let key = Event::new(Action::ApiKeyCreated, &origin()).tenant("t").actor("u1");
        assert_eq!(plan(&key).unwrap().kind.name, templates::API_KEY_CREATED);
        assert_eq!(plan(&key).unwrap().recipient, Recipient::User("u1".into()));
        let password =
            Event::new(Action::UserUpdated, &origin()).tenant("t").actor("u1").detail("fields", json!(["password"]));
        assert_eq!(plan(&password).unwrap().kind.name, templates::PASSWORD_CHANGED);
        let own_edit =
            Event::new(Action::UserUpdated, &origin()).tenant("t").actor("u1").detail("fields", json!(["first_name"]));
        assert!(plan(&own_edit).is_none());
        let by_admin = Event::new(Action::UserUpdated, &origin())
            .tenant("t")
            .actor("a")
            .subject("u1")
            .detail("fields", json!(["roles"]));
        assert_eq!(plan(&by_admin).unwrap().kind.name, templates::ACCOUNT_UPDATED);
        let invite = Event::new(Action::InvitationCreated, &origin()).tenant("t").detail("email", "x@example.com");
        assert_eq!(plan(&invite).unwrap().recipient, Recipient::Invitee("x@example.com".into()));
        assert!(plan(&Event::new(Action::LoginSucceeded, &origin()).tenant("t").actor("u1")).is_none());
        let requested = Event::new(Action::PasswordResetRequested, &origin()).tenant("t").subject("u1");
        assert_eq!(plan(&requested).unwrap().kind.name, templates::PASSWORD_RESET_REQUESTED);
        assert_eq!(plan(&requested).unwrap().recipient, Recipient::UserByEmailOnly("u1".into()));
        let completed = Event::new(Action::PasswordResetCompleted, &origin()).tenant("t").actor("u1");
        assert_eq!(plan(&completed).unwrap().kind.name, templates::PASSWORD_CHANGED);
        assert_eq!(plan(&completed).unwrap().recipient, Recipient::User("u1".into()));
    }

    #[test]
    fn every_routed_type_is_planned_for_and_every_plan_is_routed() {
        let routed = events::routing::subscription(events::routing::NOTIFICATIONS).unwrap().only.unwrap();
        for kind in templates::KINDS {
            let event_type = if kind.name == templates::PASSWORD_CHANGED { "user.updated" } else { kind.name };
            assert!(routed.iter().any(|a| a.as_str() == event_type), "{} is not routed", kind.name);
        }
        for action in routed {
            let event = Event::new(*action, &origin())
                .tenant("t")
                .actor("u1")
                .detail("email", "x@example.com")
                .detail("fields", json!(["password"]));
            assert!(plan(&event).is_some(), "{} is routed but never planned", action.as_str());
        }
        assert!(routed.contains(&Action::PasswordResetCompleted), "the reset's password notice is not routed");
    }
}
