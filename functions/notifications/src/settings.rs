//! The notifications settings, read once at cold start (the runner builds them from its own settings).
//!
//! | variable | read by | default | meaning |
//! |---|---|---|---|
//! | `NOTIFICATIONS_FROM_EMAIL` | consumer | `notifications@pyairtable.local` | the sender of every email (an SES verified identity, or an address of a verified domain, on AWS) |
//! | `NOTIFICATIONS_EMAILS_PER_HOUR` | consumer | 100 | emails per tenant per clock hour; beyond it an email is dropped with the status `rate_limited` (the in-app notice is still created) |
//! | `NOTIFICATIONS_SMS_PER_HOUR` | consumer | 20 | SMS per tenant per clock hour; beyond it an SMS is dropped with the status `rate_limited` |
//! | `NOTIFICATIONS_PUSH_FCM_APP_ARN` | API | — | the SNS platform application (platform `GCM`) `fcm` devices register on; unset: `fcm` registration answers 422 `push_platform_unavailable` (when provisioning, emulators and tests, `<table prefix>-fcm` is created and used) |
//! | `NOTIFICATIONS_PUSH_APNS_APP_ARN` | API | — | the SNS platform application (`APNS`, or `APNS_SANDBOX` for development builds) `apns` and `apns_sandbox` devices register on; unset: as above (`<table prefix>-apns` when provisioning) |
//! | `NOTIFICATIONS_INVITATION_URL` | consumer | `http://localhost:8000/accept-invitation` | the page an invitation email links to, with `?token=…` appended; it posts the token to `POST /api/v1/invitations/accept` |
//! | `NOTIFICATIONS_VERIFY_EMAIL_URL` | consumer | `http://localhost:8000/verify-email` | the page a registration's verification email links to (REGISTRATION_MODE=verify_email), with `?token=…` appended; it posts the token to `POST /api/v1/auth/register/verify` |
//! | `NOTIFICATIONS_EMAIL_CHANGE_URL` | consumer | `http://localhost:8000/confirm-email` | the page an email change's confirmation email links to (REGISTRATION_MODE=verify_email), with `?token=…` appended; it posts the token to `POST /api/v1/users/email-change/confirm` |
//! | `NOTIFICATIONS_PASSWORD_RESET_URL` | consumer | `http://localhost:8000/reset-password` | the page a password reset email links to, with `?token=…` appended; it posts the token and the new password to `POST /api/v1/auth/password-reset/confirm` |

use platform::config::{ConfigError, parse_or, var};
use platform::group::Setting;

pub const API_SETTINGS: &[Setting] =
    &[Setting::optional("NOTIFICATIONS_PUSH_FCM_APP_ARN"), Setting::optional("NOTIFICATIONS_PUSH_APNS_APP_ARN")];

pub const CONSUMER_SETTINGS: &[Setting] = &[
    Setting::required("NOTIFICATIONS_FROM_EMAIL"),
    Setting::optional("NOTIFICATIONS_EMAILS_PER_HOUR"),
    Setting::optional("NOTIFICATIONS_SMS_PER_HOUR"),
    Setting::optional("NOTIFICATIONS_INVITATION_URL"),
    Setting::optional("NOTIFICATIONS_PASSWORD_RESET_URL"),
    Setting::optional("NOTIFICATIONS_VERIFY_EMAIL_URL"),
    Setting::optional("NOTIFICATIONS_EMAIL_CHANGE_URL"),
];

#[derive(Clone, Debug)]
pub struct NotificationSettings {
    pub from_email: String,
    /// Per tenant per clock hour; 0 sends none.
    pub emails_per_hour: u32,
    /// SMS per tenant per clock hour; 0 sends none.
    pub sms_per_hour: u32,
    /// The SNS platform application of `fcm` devices (GCM).
    pub push_fcm_app_arn: Option<String>,
    /// The SNS platform application of `apns` and `apns_sandbox` devices.
    pub push_apns_app_arn: Option<String>,
    pub invitation_url: String,
    pub password_reset_url: String,
    pub verify_email_url: String,
    pub email_change_url: String,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            from_email: "notifications@pyairtable.local".into(),
            emails_per_hour: 100,
            sms_per_hour: 20,
            push_fcm_app_arn: None,
            push_apns_app_arn: None,
            invitation_url: "http://localhost:8000/accept-invitation".into(),
            password_reset_url: "http://localhost:8000/reset-password".into(),
            verify_email_url: "http://localhost:8000/verify-email".into(),
            email_change_url: "http://localhost:8000/confirm-email".into(),
        }
    }
}

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { name: name.into(), reason: reason.into() }
}

impl NotificationSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let from_email = var("NOTIFICATIONS_FROM_EMAIL").unwrap_or(defaults.from_email);
        if !from_email.contains('@') || from_email.chars().any(char::is_whitespace) {
            return Err(invalid("NOTIFICATIONS_FROM_EMAIL", "an email address"));
        }
        let invitation_url = var("NOTIFICATIONS_INVITATION_URL").unwrap_or(defaults.invitation_url);
        if !(invitation_url.starts_with("https://") || invitation_url.starts_with("http://")) {
            return Err(invalid("NOTIFICATIONS_INVITATION_URL", "an http(s) URL"));
        }
        let password_reset_url = var("NOTIFICATIONS_PASSWORD_RESET_URL").unwrap_or(defaults.password_reset_url);
        if !(password_reset_url.starts_with("https://") || password_reset_url.starts_with("http://")) {
            return Err(invalid("NOTIFICATIONS_PASSWORD_RESET_URL", "an http(s) URL"));
        }
        let verify_email_url = var("NOTIFICATIONS_VERIFY_EMAIL_URL").unwrap_or(defaults.verify_email_url);
        if !(verify_email_url.starts_with("https://") || verify_email_url.starts_with("http://")) {
            return Err(invalid("NOTIFICATIONS_VERIFY_EMAIL_URL", "an http(s) URL"));
        }
        let email_change_url = var("NOTIFICATIONS_EMAIL_CHANGE_URL").unwrap_or(defaults.email_change_url);
        if !(email_change_url.starts_with("https://") || email_change_url.starts_with("http://")) {
            return Err(invalid("NOTIFICATIONS_EMAIL_CHANGE_URL", "an http(s) URL"));
        }
        let arn = |name: &str| -> Result<Option<String>, ConfigError> {
            match var(name) {
                Some(arn) if !arn.starts_with("arn:") || !arn.contains(":app/") => {
                    Err(invalid(name, "an SNS platform application ARN (arn:…:sns:…:app/…)"))
                }
                other => Ok(other),
            }
        };
        Ok(Self {
            email_change_url,
            verify_email_url,
            from_email,
            emails_per_hour: parse_or("NOTIFICATIONS_EMAILS_PER_HOUR", defaults.emails_per_hour)?,
            sms_per_hour: parse_or("NOTIFICATIONS_SMS_PER_HOUR", defaults.sms_per_hour)?,
            push_fcm_app_arn: arn("NOTIFICATIONS_PUSH_FCM_APP_ARN")?,
            push_apns_app_arn: arn("NOTIFICATIONS_PUSH_APNS_APP_ARN")?,
            invitation_url,
            password_reset_url,
        })
    }

    /// The invitation link carrying `token`.
    pub fn invitation_link(&self, token: &str) -> String {
        with_token(&self.invitation_url, token)
    }

    /// The email verification link carrying `token`.
    pub fn verify_email_link(&self, token: &str) -> String {
        with_token(&self.verify_email_url, token)
    }

    /// The email change's confirmation link carrying `token`.
    pub fn email_change_link(&self, token: &str) -> String {
        with_token(&self.email_change_url, token)
    }

    /// The password reset link carrying `token`.
    pub fn password_reset_link(&self, token: &str) -> String {
        with_token(&self.password_reset_url, token)
    }
}

fn with_token(url: &str, token: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}token={token}")
}
