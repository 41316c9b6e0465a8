//! A user's preferences: category × channel, on by default. Security notices are critical: they are delivered
//! on every channel whatever the preferences say (the preference is kept, and shown as overridden).

use std::collections::BTreeMap;

use events::Category;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::records::Channel;

pub const CATEGORIES: [Category; 5] =
    [Category::Security, Category::Account, Category::Tenant, Category::Workspace, Category::Permission];

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

/// One category's channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSwitches {
    pub in_app: bool,
    pub email: bool,
}

impl Default for ChannelSwitches {
    fn default() -> Self {
        Self { in_app: true, email: true }
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
        prefs.categories.insert(Category::Security, ChannelSwitches { in_app: false, email: false });
        prefs.categories.insert(Category::Account, ChannelSwitches { in_app: true, email: false });
        assert!(prefs.allows(Category::Security, Channel::Email, false));
        assert!(!prefs.allows(Category::Account, Channel::Email, false));
        assert!(prefs.allows(Category::Account, Channel::InApp, false));
        assert!(prefs.allows(Category::Tenant, Channel::Email, false));
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
