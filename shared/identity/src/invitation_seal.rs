//! An invitation token on its way to the invitee's mailbox. The token travels in the
//! `tenant.invitation_created`/`resent` event, which every subscriber of the bus sees (the audit trail, the
//! tenant's webhooks), so it travels sealed: the tenants function seals it with the keys port (KMS on AWS, the
//! data dir's key under `cargo run`) for the notifications service, with an encryption context naming the
//! purpose, the tenant and the invitation; only the notifications consumer opens it (kms:Decrypt), and a
//! sealed value copied into another tenant's or invitation's event does not open. The event's data carries
//! only [`SEALED_TOKEN_FIELD`], base64 of the envelope.

use std::sync::Arc;

use secrecy::SecretString;
use storage::keys::{Keys, Sealer};

/// The event data field holding the sealed token.
pub const SEALED_TOKEN_FIELD: &str = "sealed_token";
/// The encryption context's `purpose`.
pub const PURPOSE: &str = "invitation-email";
/// The encryption context's `purpose` for a password reset token (`auth.password_reset_requested`, whose data
/// carries it under the same [`SEALED_TOKEN_FIELD`]; the context names the tenant and the reset, not an
/// invitation, so neither kind of sealed value opens as the other).
pub const RESET_PURPOSE: &str = "password-reset-email";

fn sealer(keys: &Arc<dyn Keys>) -> Sealer {
    Sealer::new(keys.clone(), PURPOSE, "invitation_id")
}

/// The encryption context's `purpose` for an email verification token (`auth.registration_requested`).
pub const VERIFY_PURPOSE: &str = "email-verification";

fn verification_sealer(keys: &Arc<dyn Keys>) -> Sealer {
    Sealer::new(keys.clone(), VERIFY_PURPOSE, "verification_id")
}

/// An email verification `token` sealed for the notifications service, as base64.
pub async fn seal_verification(
    keys: &Arc<dyn Keys>,
    tenant: &str,
    verification: &str,
    token: &SecretString,
) -> anyhow::Result<String> {
    verification_sealer(keys).seal(tenant, verification, token).await
}

/// The verification token, if `sealed` was sealed for exactly this tenant and verification.
pub async fn open_verification(
    keys: &Arc<dyn Keys>,
    tenant: &str,
    verification: &str,
    sealed: &str,
) -> anyhow::Result<SecretString> {
    verification_sealer(keys).open(tenant, verification, sealed).await
}

/// The encryption context's `purpose` for an email change's confirmation token (`user.email_change_requested`).
pub const EMAIL_CHANGE_PURPOSE: &str = "email-change";

fn email_change_sealer(keys: &Arc<dyn Keys>) -> Sealer {
    Sealer::new(keys.clone(), EMAIL_CHANGE_PURPOSE, "change_id")
}

/// An email change's confirmation `token` sealed for the notifications service, as base64.
pub async fn seal_email_change(
    keys: &Arc<dyn Keys>,
    tenant: &str,
    change: &str,
    token: &SecretString,
) -> anyhow::Result<String> {
    email_change_sealer(keys).seal(tenant, change, token).await
}

/// The confirmation token, if `sealed` was sealed for exactly this tenant and change.
pub async fn open_email_change(
    keys: &Arc<dyn Keys>,
    tenant: &str,
    change: &str,
    sealed: &str,
) -> anyhow::Result<SecretString> {
    email_change_sealer(keys).open(tenant, change, sealed).await
}

fn reset_sealer(keys: &Arc<dyn Keys>) -> Sealer {
    Sealer::new(keys.clone(), RESET_PURPOSE, "reset_id")
}

/// A password reset `token` sealed for the notifications service, as base64.
pub async fn seal_reset(
    keys: &Arc<dyn Keys>,
    tenant: &str,
    reset: &str,
    token: &SecretString,
) -> anyhow::Result<String> {
    reset_sealer(keys).seal(tenant, reset, token).await
}

/// The reset token, if `sealed` was sealed for exactly this tenant and reset.
pub async fn open_reset(keys: &Arc<dyn Keys>, tenant: &str, reset: &str, sealed: &str) -> anyhow::Result<SecretString> {
    reset_sealer(keys).open(tenant, reset, sealed).await
}

/// `token` sealed for the notifications service, as base64.
pub async fn seal(
    keys: &Arc<dyn Keys>,
    tenant: &str,
    invitation: &str,
    token: &SecretString,
) -> anyhow::Result<String> {
    sealer(keys).seal(tenant, invitation, token).await
}

/// The token, if `sealed` was sealed for exactly this tenant and invitation.
pub async fn open(keys: &Arc<dyn Keys>, tenant: &str, invitation: &str, sealed: &str) -> anyhow::Result<SecretString> {
    sealer(keys).open(tenant, invitation, sealed).await
}
