//! `GET|PUT /api/v1/notifications/preferences`: the caller's own, category × channel. Security notices are
//! critical: they reach every channel whatever is set here (shown as `critical`).

use std::collections::BTreeMap;

use axum::extract::State;
use events::Category;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::SharedState;
use crate::preferences::{CATEGORIES, ChannelSwitches, Preferences, is_locale};

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryPreference {
    pub category: Category,
    pub in_app: bool,
    pub email: bool,
    /// Critical (security): delivered on every channel whatever `in_app` and `email` say.
    pub critical: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreferencesView {
    /// The locale of the caller's notifications.
    pub locale: String,
    pub categories: Vec<CategoryPreference>,
}

fn view(prefs: &Preferences) -> PreferencesView {
    PreferencesView {
        locale: prefs.locale().to_string(),
        categories: CATEGORIES
            .iter()
            .map(|&category| {
                let switches = prefs.switches(category);
                CategoryPreference {
                    category,
                    in_app: switches.in_app,
                    email: switches.email,
                    critical: category == Category::Security,
                }
            })
            .collect(),
    }
}

/// The caller's notification preferences (every channel on until changed).
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
    /// Category → channels; categories absent are unchanged.
    #[serde(default)]
    pub categories: BTreeMap<Category, ChannelSwitches>,
}

/// Change the caller's preferences.
#[utoipa::path(put, path = "/api/v1/notifications/preferences", tag = "notifications", operation_id = "put_notification_preferences",
    request_body = UpdatePreferences,
    responses(
        (status = 200, description = "The preferences now", body = PreferencesView),
        (status = 400, description = "Invalid locale (`invalid_field`), category or body"),
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
    let mut prefs =
        state.store.preferences(&caller.tenant_id, &caller.user_id).await?.map(|(p, _)| p).unwrap_or_default();
    if body.locale.is_some() {
        prefs.locale = body.locale;
    }
    prefs.categories.extend(body.categories);
    state.store.put_preferences(&caller.tenant_id, &caller.user_id, &prefs).await?;
    Ok(Json(view(&prefs)))
}
