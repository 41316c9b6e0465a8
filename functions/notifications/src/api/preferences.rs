//! `GET|PUT /api/v1/notifications/preferences`: the caller's own, category × channel (in-app, email, SMS —
//! opt-in, to `phone_number` — and push, to the caller's devices). Security notices are critical: they reach
//! every channel whatever is set here (shown as `critical`).

use std::collections::BTreeMap;

use axum::extract::State;
use events::Category;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::SharedState;
use crate::preferences::{CATEGORIES, ChannelSwitches, Preferences, is_e164, is_locale};

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryPreference {
    pub category: Category,
    pub in_app: bool,
    pub email: bool,
    /// Opt-in; only with a phone number.
    pub sms: bool,
    /// To the caller's registered devices.
    pub push: bool,
    /// Critical (security): delivered on every channel whatever the switches say.
    pub critical: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreferencesView {
    /// The locale of the caller's notifications.
    pub locale: String,
    /// Where SMS go (E.164); null: no SMS.
    pub phone_number: Option<String>,
    pub categories: Vec<CategoryPreference>,
}

fn view(prefs: &Preferences) -> PreferencesView {
    PreferencesView {
        locale: prefs.locale().to_string(),
        phone_number: prefs.phone_number.clone(),
        categories: CATEGORIES
            .iter()
            .map(|&category| {
                let switches = prefs.switches(category);
                CategoryPreference {
                    category,
                    in_app: switches.in_app,
                    email: switches.email,
                    sms: switches.sms,
                    push: switches.push,
                    critical: category == Category::Security,
                }
            })
            .collect(),
    }
}

/// The caller's notification preferences (every channel but SMS on until changed; SMS is opt-in).
#[utoipa::path(get, path = "/api/v1/notifications/preferences", tag = "notifications", operation_id = "get_notification_preferences",
    responses((status = 200, description = "The caller's preferences", body = PreferencesView)))]
pub async fn get(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<PreferencesView>> {
    let prefs = state.store.preferences(&caller.tenant_id, &caller.user_id).await?.map(|(p, _)| p).unwrap_or_default();
    Ok(Json(view(&prefs)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePreferences {
    /// `en`, `fr`, `pt-BR`…; absent: unchanged.
    #[schema(min_length = 2, max_length = 8, pattern = "^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$")]
    pub locale: Option<String>,
    /// Category → channels; categories absent are unchanged (in a category given, `sms` absent is off and
    /// `push` absent is on).
    #[serde(default)]
    pub categories: BTreeMap<Category, ChannelSwitches>,
    /// E.164 (`+14155552671`): where SMS go; null removes it; absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^\\+[1-9][0-9]{7,14}$")]
    pub phone_number: Option<Option<String>>,
}

/// A field given (`Some`), maybe as null (`Some(None)`); absent fields stay `None` through `default`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Change the caller's preferences.
#[utoipa::path(put, path = "/api/v1/notifications/preferences", tag = "notifications", operation_id = "put_notification_preferences",
    request_body = UpdatePreferences,
    responses(
        (status = 200, description = "The preferences now", body = PreferencesView),
        (status = 400, description = "Invalid locale or phone number (`invalid_field`), category or body"),
    ))]
pub async fn put(
    State(state): State<SharedState>,
    caller: Caller,
    Json(body): Json<UpdatePreferences>,
) -> ApiResult<Json<PreferencesView>> {
    if let Some(locale) = body.locale.as_deref()
        && !is_locale(locale)
    {
        return Err(ApiError::bad_request("invalid_field", "locale: a language tag such as en, fr or pt-BR"));
    }
    if let Some(Some(number)) = body.phone_number.as_ref()
        && !is_e164(number)
    {
        return Err(ApiError::bad_request(
            "invalid_field",
            "phone_number: E.164, a + then 8 to 15 digits without spaces, e.g. +14155552671",
        ));
    }
    let mut prefs =
        state.store.preferences(&caller.tenant_id, &caller.user_id).await?.map(|(p, _)| p).unwrap_or_default();
    if body.locale.is_some() {
        prefs.locale = body.locale;
    }
    prefs.categories.extend(body.categories);
    if let Some(number) = body.phone_number {
        prefs.phone_number = number;
    }
    state.store.put_preferences(&caller.tenant_id, &caller.user_id, &prefs).await?;
    Ok(Json(view(&prefs)))
}
