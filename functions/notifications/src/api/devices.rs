//! `GET|POST /api/v1/notifications/devices`, `DELETE …/devices/{id}`: the caller's devices registered for push
//! (any signed-in user; their own only: every read is keyed by the caller's tenant and user, so another user's
//! or tenant's device id is a 404 like one that does not exist).
//!
//! A device is registered with the push service (an SNS platform endpoint; `embedded:<id>` under `cargo run`)
//! and kept without its token, of which only the last 6 characters are shown. Its id is a hash of the platform
//! and the token, so registering the same token again answers the same device (200) rather than a second one.
//! At most [`MAX_DEVICES`] per user.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::SharedState;
use crate::api::rfc3339;
use crate::mobile::RegisterError;
use crate::records::{Device, Platform};
use crate::store::{self, MAX_DEVICES, StoreFailure};

/// The most characters of a device's name.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub platform: Platform,
    pub name: Option<String>,
    /// The token's last 6 characters (the token itself is never shown).
    pub token_suffix: String,
    /// False once the push service disabled it (an uninstalled app, an expired token): register it again.
    pub enabled: bool,
    pub created_at: String,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        Self {
            id: d.id,
            platform: d.platform,
            name: d.name,
            token_suffix: d.token_suffix,
            enabled: d.enabled,
            created_at: rfc3339(d.created_at_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceView>,
}

/// A device to register: its platform, its push token (shaped as the platform's), a name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RegisterDevice {
    Fcm(FcmRegistration),
    Apple(ApnsRegistration),
}

/// Firebase Cloud Messaging.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FcmPlatform {
    Fcm,
}

/// Apple Push Notification service: production, or development builds.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApnsPlatform {
    Apns,
    ApnsSandbox,
}

/// An FCM device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FcmRegistration {
    pub platform: FcmPlatform,
    /// 20 to 4,096 characters of `A-Z a-z 0-9 _ : -`.
    #[schema(min_length = 20, max_length = 4096, pattern = "^[A-Za-z0-9_:-]{20,4096}$")]
    pub token: String,
    /// A name the user knows the device by (at most 100 characters, no control characters).
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: Option<String>,
}

/// An APNs device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApnsRegistration {
    pub platform: ApnsPlatform,
    /// 64 to 200 hexadecimal digits.
    #[schema(min_length = 64, max_length = 200, pattern = "^[0-9A-Fa-f]{64,200}$")]
    pub token: String,
    /// A name the user knows the device by (at most 100 characters, no control characters).
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub name: Option<String>,
}

impl RegisterDevice {
    fn parts(self) -> (Platform, String, Option<String>) {
        match self {
            Self::Fcm(FcmRegistration { token, name, .. }) => (Platform::Fcm, token, name),
            Self::Apple(ApnsRegistration { platform: ApnsPlatform::Apns, token, name }) => {
                (Platform::Apns, token, name)
            }
            Self::Apple(ApnsRegistration { platform: ApnsPlatform::ApnsSandbox, token, name }) => {
                (Platform::ApnsSandbox, token, name)
            }
        }
    }
}

/// Whether `token` is shaped like a push token of `platform`.
pub fn valid_token(platform: Platform, token: &str) -> bool {
    match platform {
        Platform::Apns | Platform::ApnsSandbox => {
            (64..=200).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
        }
        Platform::Fcm => {
            (20..=4096).contains(&token.len())
                && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
        }
    }
}

/// The name as kept: trimmed, none when empty; an error when too long or holding control characters.
pub fn checked_name(name: Option<&str>) -> ApiResult<Option<String>> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return Ok(None) };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("name: at most {MAX_NAME_CHARS} characters, no control characters"),
        ));
    }
    Ok(Some(name.to_string()))
}

fn token_suffix(token: &str) -> String {
    // Tokens are ASCII (checked): byte offsets are character offsets.
    token[token.len().saturating_sub(6)..].to_string()
}

fn register_failed(e: RegisterError) -> ApiError {
    match e {
        RegisterError::PlatformUnavailable(platform) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "push_platform_unavailable",
            format!("Push to {} devices is not configured on this deployment", platform.as_str()),
        ),
        RegisterError::Failed(e) => ApiError::Unexpected(e),
    }
}

/// The caller's devices registered for push.
#[utoipa::path(get, path = "/api/v1/notifications/devices", tag = "notifications", operation_id = "list_notification_devices",
    responses((status = 200, description = "The caller's devices (at most 10)", body = DeviceList)))]
pub async fn list(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<DeviceList>> {
    let devices = state.store.devices(&caller.tenant_id, &caller.user_id).await?;
    Ok(Json(DeviceList { devices: devices.into_iter().map(DeviceView::from).collect() }))
}

/// Register one of the caller's devices for push (the same platform and token again: the same device, 200).
#[utoipa::path(post, path = "/api/v1/notifications/devices", tag = "notifications", operation_id = "register_notification_device",
    request_body = RegisterDevice,
    responses(
        (status = 201, description = "Registered", body = DeviceView),
        (status = 200, description = "Registered already (by the caller): the same device, enabled again if it was disabled", body = DeviceView),
        (status = 400, description = "A token not shaped like the platform's (`invalid_field`), a name too long, an unknown platform or an invalid body"),
        (status = 409, description = "The caller has 10 devices already (`device_limit_reached`): delete one first"),
        (status = 422, description = "Push to this platform is not configured on this deployment (`push_platform_unavailable`)"),
    ))]
pub async fn register(
    State(state): State<SharedState>,
    caller: Caller,
    Json(body): Json<RegisterDevice>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    let (platform, token, name) = body.parts();
    if !valid_token(platform, &token) {
        let shape = match platform {
            Platform::Fcm => "20 to 4096 characters of A-Z, a-z, 0-9, _, : and -",
            Platform::Apns | Platform::ApnsSandbox => "64 to 200 hexadecimal digits",
        };
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("token: an {} token is {shape}", platform.as_str()),
        ));
    }
    let name = checked_name(name.as_deref())?;
    let (tenant, user) = (&caller.tenant_id, &caller.user_id);
    let id = store::device_id(platform, &token);
    for _ in 0..3 {
        if let Some(existing) = state.store.device(tenant, user, &id).await? {
            let mut device = existing.clone();
            if !device.enabled {
                // The push service disabled its endpoint: a fresh one (SNS answers the disabled one otherwise).
                state.mobile.unregister(&device.endpoint).await?;
                device.endpoint = state.mobile.register(platform, &token).await.map_err(register_failed)?;
                device.enabled = true;
            }
            if name.is_some() {
                device.name = name.clone();
            }
            if device == existing {
                return Ok((StatusCode::OK, Json(device.into())));
            }
            match state.store.update_device(&device).await {
                Ok(device) => return Ok((StatusCode::OK, Json(device.into()))),
                Err(StoreFailure::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if state.store.devices(tenant, user).await?.len() >= MAX_DEVICES {
            return Err(ApiError::conflict(
                "device_limit_reached",
                format!("At most {MAX_DEVICES} devices per user: delete one first"),
            ));
        }
        let endpoint = state.mobile.register(platform, &token).await.map_err(register_failed)?;
        let device = Device {
            id: id.clone(),
            tenant_id: tenant.clone(),
            user_id: user.clone(),
            platform,
            name: name.clone(),
            token_suffix: token_suffix(&token),
            endpoint,
            enabled: true,
            created_at_ms: storage::now_millis(),
            version: 0,
        };
        match state.store.create_device(&device).await {
            Ok(device) => return Ok((StatusCode::CREATED, Json(device.into()))),
            // The same registration at the same time: answer the one written.
            Err(StoreFailure::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreFailure::Conflict.into())
}

/// Delete one of the caller's devices (it gets no more pushes).
#[utoipa::path(delete, path = "/api/v1/notifications/devices/{id}", tag = "notifications", operation_id = "delete_notification_device",
    params(("id" = String, Path, description = "Device id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such device of the caller"),
    ))]
pub async fn delete(State(state): State<SharedState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("No such device");
    if !store::is_device_id(&id) {
        return Err(not_found());
    }
    let device = state.store.device(&caller.tenant_id, &caller.user_id, &id).await?.ok_or_else(not_found)?;
    state.mobile.unregister(&device.endpoint).await?;
    state.store.delete_device(&device).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn tokens_are_checked_per_platform() {
        let apns = "a1".repeat(32);
        assert!(valid_token(Platform::Apns, &apns));
        assert!(valid_token(Platform::ApnsSandbox, &"F".repeat(200)));
        for bad in ["a1".repeat(31), "g".repeat(64), "a".repeat(201), format!("{apns} ")] {
            assert!(!valid_token(Platform::Apns, &bad), "{bad}");
        }
        assert!(valid_token(Platform::Fcm, "fcm-token_1:APA91bH-xyz"));
        assert!(valid_token(Platform::Fcm, &"x".repeat(4096)));
        for bad in
            ["short".to_string(), "x".repeat(4097), "has a space in it here".into(), "ünïcödé-token-0123456".into()]
        {
            assert!(!valid_token(Platform::Fcm, &bad), "{bad}");
        }
    }

    #[test]
    fn names_are_bounded_and_the_token_shown_by_its_end_only() {
        assert_eq!(checked_name(None).unwrap(), None);
        assert_eq!(checked_name(Some("  ")).unwrap(), None);
        assert_eq!(checked_name(Some(" Ann's phone ")).unwrap().as_deref(), Some("Ann's phone"));
        assert!(checked_name(Some(&"é".repeat(100))).is_ok());
        assert!(checked_name(Some(&"é".repeat(101))).is_err());
        assert!(checked_name(Some("a\nb")).is_err());
        assert_eq!(token_suffix("abcdef0123456789"), "456789");
    }
}
