//! A token on its way to someone's mailbox: an invitation's accept link, a password reset's, a registration's
//! verification, an email change's confirmation ([`Purpose`]). The token travels in an event (e.g.
//! `tenant.invitation_created`) which every subscriber of the bus sees (the audit trail, the tenant's webhooks),
//! so it travels sealed: the function that makes it seals it with the keys port (KMS on AWS, the data dir's key
//! under `cargo run`) for the notifications service, with an encryption context naming the purpose, the tenant
//! and the record; only the notifications consumer opens it (kms:Decrypt), and a sealed value copied into
//! another tenant's, record's or purpose's event does not open. The event's data carries only
//! [`SEALED_TOKEN_FIELD`], base64 of the envelope.

use std::sync::Arc;

use secrecy::SecretString;
use storage::keys::{Keys, Sealer};

/// The event data field holding the sealed token.
pub const SEALED_TOKEN_FIELD: &str = "sealed_token";

/// What a sealed token is for: its encryption context's `purpose`, and the name of the record it belongs to
/// (in the context and in the event's data), so that no kind of sealed value opens as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `tenant.invitation_created`/`resent`.
    Invitation,
    /// `auth.password_reset_requested`.
    PasswordReset,
    /// `auth.registration_requested` (REGISTRATION_MODE=verify_email).
    EmailVerification,
    /// `user.email_change_requested` (REGISTRATION_MODE=verify_email).
    EmailChange,
}

impl Purpose {
    /// The encryption context's `purpose`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Invitation => "invitation-email",
            Self::PasswordReset => "password-reset-email",
            Self::EmailVerification => "email-verification",
            Self::EmailChange => "email-change",
        }
    }

    /// The record's id: its name in the encryption context and the event data field carrying it.
    pub fn record_field(self) -> &'static str {
        match self {
            Self::Invitation => "invitation_id",
            Self::PasswordReset => "reset_id",
            Self::EmailVerification => "verification_id",
            Self::EmailChange => "change_id",
        }
    }

    fn sealer(self, keys: &Arc<dyn Keys>) -> Sealer {
        Sealer::new(keys.clone(), self.name(), self.record_field())
    }
}

/// `token` of record `id` of `tenant` sealed for the notifications service, as base64.
pub async fn seal(
    keys: &Arc<dyn Keys>,
    purpose: Purpose,
    tenant: &str,
    id: &str,
    token: &SecretString,
) -> anyhow::Result<String> {
    purpose.sealer(keys).seal(tenant, id, token).await
}

/// The token, if `sealed` was sealed for exactly this purpose, tenant and record.
pub async fn open(
    keys: &Arc<dyn Keys>,
    purpose: Purpose,
    tenant: &str,
    id: &str,
    sealed: &str,
) -> anyhow::Result<SecretString> {
    purpose.sealer(keys).open(tenant, id, sealed).await
}
