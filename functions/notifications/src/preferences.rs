//! A user's preferences: category × channel, on by default but SMS, which is opt-in; and the phone number SMS
//! go to. Security notices are critical: they are delivered on every channel whatever the preferences say (the
//! preference is kept, and shown as overridden) — by SMS too once the user has set a number, and by push to
//! their registered devices.

use std::collections::BTreeMap;

use events::Category;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::records::Channel;

pub const CATEGORIES: [Category; 6] = [
    Category::Security,
    Category::Account,
    Category::Tenant,
    Category::Workspace,
    Category::Permission,
    Category::Automation,
];

/// The locales the built-in templates speak; a tenant may add templates for others.
pub const DEFAULT_LOCALE: &str = "en";

/// Whether a locale tag is acceptable: `en`, `fr`, `pt-BR`, … (2–3 letters, an optional region or script).
pub fn is_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang_ok = parts.next().is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    lang_ok
        && rest.len() <= 1
        && rest.iter().all(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `number` is an E.164 phone number: `+`, then 8 to 15 digits, the first 1 to 9.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.bytes().next().is_some_and(|b| b != b'0')
}

/// One category's channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSwitches {
    pub in_app: bool,
    pub email: bool,
    /// Opt-in: off unless set (and only with a phone number).
    #[serde(default)]
    pub sms: bool,
    /// To the user's registered devices; on unless set.
    #[serde(default = "on")]
    pub push: bool,
}

fn on() -> bool {
    true
}

impl Default for ChannelSwitches {
    fn default() -> Self {
        Self { in_app: true, email: true, sms: false, push: true }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Preferences {
    /// Absent categories are on for every channel.
    #[serde(default)]
    pub categories: BTreeMap<Category, ChannelSwitches>,
    /// The locale of the user's notifications (default `en`).
    #[serde(default)]
    pub locale: Option<String>,
    /// Where SMS go (E.164); none: no SMS.
    #[serde(default)]
    pub phone_number: Option<String>,
}

impl Preferences {
    pub fn switches(&self, category: Category) -> ChannelSwitches {
        self.categories.get(&category).copied().unwrap_or_default()
    }

    /// Whether a notification of `category` goes to `channel` (critical ones always do).
    pub fn allows(&self, category: Category, channel: Channel, critical: bool) -> bool {
        if critical || category == Category::Security {
            return true;
        }
        let switches = self.switches(category);
        match channel {
            Channel::InApp => switches.in_app,
            Channel::Email => switches.email,
            Channel::Sms => switches.sms,
            Channel::Push => switches.push,
        }
    }

    pub fn locale(&self) -> &str {
        self.locale.as_deref().unwrap_or(DEFAULT_LOCALE)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn security_bypasses_preferences_and_other_categories_follow_them() {
        let mut prefs = Preferences::default();
        let off = ChannelSwitches { in_app: false, email: false, sms: false, push: false };
        prefs.categories.insert(Category::Security, off);
        prefs.categories.insert(Category::Account, ChannelSwitches { email: false, ..Default::default() });
        assert!(prefs.allows(Category::Security, Channel::Email, false));
        assert!(prefs.allows(Category::Security, Channel::Sms, false));
        assert!(prefs.allows(Category::Security, Channel::Push, false));
        assert!(prefs.allows(Category::Workspace, Channel::Sms, true), "critical notices bypass them");
        assert!(!prefs.allows(Category::Account, Channel::Email, false));
        assert!(prefs.allows(Category::Account, Channel::InApp, false));
        assert!(prefs.allows(Category::Tenant, Channel::Email, false));
        // SMS is opt-in, push is on by default.
        assert!(!prefs.allows(Category::Tenant, Channel::Sms, false));
        assert!(prefs.allows(Category::Tenant, Channel::Push, false));
    }

    #[test]
    fn stored_preferences_and_old_bodies_still_read() {
        let old: Preferences =
            serde_json::from_value(serde_json::json!({"categories": {"account": {"in_app": true, "email": false}}}))
                .unwrap();
        assert_eq!(old.phone_number, None);
        let account = old.switches(Category::Account);
        assert_eq!((account.in_app, account.email, account.sms, account.push), (true, false, false, true));
        let new: ChannelSwitches =
            serde_json::from_value(serde_json::json!({"in_app": true, "email": true, "sms": true, "push": false}))
                .unwrap();
        assert!(new.sms && !new.push);
        assert!(
            serde_json::from_value::<ChannelSwitches>(serde_json::json!({"in_app": true, "email": true, "fax": true}))
                .is_err()
        );
    }

    #[test]
    fn phone_numbers_are_e164() {
        for ok in ["+14155552671", "+447911123456", "+12345678", "+123456789012345"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "",
            "14155552671",
            "+1234567",
            "+1234567890123456",
            "+04155552671",
            "+1 415 555 2671",
            "+1415555267a",
            "++14155552671",
            "+",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn locales_are_tags() {
        for ok in ["en", "fr", "pt-BR", "zh-Hant"] {
            assert!(is_locale(ok), "{ok}");
        }
        for bad in ["", "EN", "english", "en-", "en-US-x", "../x"] {
            assert!(!is_locale(bad), "{bad}");
        }
    }
}
