//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): a secret is `whsec_` + base64 of random
//! bytes; a message is signed as `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` keyed
//! by the secret's decoded bytes; several signatures (a rotation's overlap) are separated by spaces.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes per secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new secret, `whsec_…`.
pub fn generate_secret() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.try_fill_bytes(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    Ok(SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))))
}

/// The HMAC key of a `whsec_…` secret.
fn key_of(secret: &SecretString) -> anyhow::Result<Vec<u8>> {
    let text = secret.expose_secret();
    let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
    STANDARD.decode(encoded).map_err(|_| anyhow::anyhow!("a webhook secret is not base64"))
}

/// The three headers of one signed delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub id: String,
    pub timestamp: i64,
    /// `v1,<sig>` per secret, space-separated.
    pub signature: String,
}

/// Signs `body` as message `id` at `timestamp` (unix seconds) with each secret, newest first.
pub fn sign(id: &str, timestamp: i64, body: &str, secrets: &[SecretString]) -> anyhow::Result<Signed> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key_of(secret)?)
            .map_err(|_| anyhow::anyhow!("a webhook secret is not an HMAC key"))?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        signatures.push(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())));
    }
    if signatures.is_empty() {
        anyhow::bail!("nothing to sign with");
    }
    Ok(Signed { id: id.to_string(), timestamp, signature: signatures.join(" ") })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// The spec's own example (standard-webhooks, spec/standard-webhooks.md and the reference libraries' tests).
    #[test]
    fn the_specs_example_signs_as_the_reference_libraries_do() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = r#"{"test": 2432232314}"#;
        let signed = sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &[secret]).unwrap();
        assert_eq!(signed.signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_secrets_are_prefixed_base64_of_32_random_bytes() {
        let (a, b) = (generate_secret().unwrap(), generate_secret().unwrap());
        assert!(a.expose_secret().starts_with(SECRET_PREFIX));
        assert_eq!(key_of(&a).unwrap().len(), 32);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn two_secrets_give_two_space_separated_signatures_newest_first() {
        let (new, old) = (generate_secret().unwrap(), generate_secret().unwrap());
        let both = sign("msg_1", 1, "{}", &[new.clone(), old.clone()]).unwrap().signature;
        let first = sign("msg_1", 1, "{}", &[new]).unwrap().signature;
        let second = sign("msg_1", 1, "{}", &[old]).unwrap().signature;
        assert_eq!(both, format!("{first} {second}"));
    }
}
