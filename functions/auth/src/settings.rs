//! The auth function's settings, read once at cold start. Defaults are production values; tests lower the
//! bcrypt cost and the throttling thresholds through the struct, never through the environment.

use std::time::Duration;

use identity::TokenSettings;
use identity::password::MIN_PRODUCTION_COST;
use platform::config::{ConfigError, parse_or, secret, var};
use secrecy::SecretString;

#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub tokens: TokenSettings,
    /// `BCRYPT_COST` (12; at least 10). 12 keeps a login near 250 ms on one Lambda vCPU.
    pub bcrypt_cost: u32,
    pub throttle: ThrottleSettings,
    /// `ADMIN_EMAIL` + `ADMIN_PASSWORD`: a platform admin created at start-up when absent.
    pub admin: Option<AdminAccount>,
    /// `REGISTRATION_MODE` (`open`).
    pub registration: RegistrationMode,
    /// `PASSWORD_RESET_TTL_SECS` (3600): how long a password reset token stays usable.
    pub reset_ttl: Duration,
    /// `EMAIL_VERIFICATION_TTL_SECS` (86400): how long a registration's verification link stays usable.
    pub verification_ttl: Duration,
}

/// Who may create an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Anyone registers (and owns a new tenant). Registration then answers `409 email_taken` for a registered
    /// address: it cannot hide who has an account.
    #[default]
    Open,
    /// Only invitations create accounts; registration answers every request the same `403
    /// registration_closed`, whatever the email.
    InviteOnly,
    /// Registration answers every well-formed request the same `202` and emails a link: to verify the address
    /// (and create the account) when it has none, to tell its owner that someone tried when it has one.
    VerifyEmail,
}

#[derive(Clone, Debug)]
pub struct ThrottleSettings {
    /// `LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP` (10): failed logins for one email from one IP within the window
    /// before that IP gets 429 for that email (the account stays open from other addresses). 10 per 15 minutes
    /// is 40 an hour from one source.
    pub failures_per_account_and_ip: u64,
    /// `LOGIN_MAX_FAILURES_PER_ACCOUNT` (100): failed logins for one email from all IPs together within the
    /// window before the account gets 429 from everywhere: the bound on a distributed guessing attack, set far
    /// above the per-IP one so that one attacker cannot lock the owner out. ASVS (4.0.3 §2.2.1) asks for at most
    /// 100 failures an hour per account: with the 15-minute window, 25 meets that to the letter, at the price of
    /// a lock-out three addresses can cause.
    pub failures_per_account: u64,
    /// `LOGIN_MAX_FAILURES_PER_IP` (50): failed logins from one IP, over all emails, within the window.
    pub failures_per_ip: u64,
    /// `LOGIN_FAILURE_WINDOW_SECS` (900): the window of the three failure counts, and the longest lock.
    pub failure_window: Duration,
    /// `PUBLIC_RATE_LIMIT_PER_IP` (120): requests to the public auth routes per IP per window.
    pub public_requests_per_ip: u64,
    /// `PUBLIC_RATE_LIMIT_WINDOW_SECS` (60).
    pub public_window: Duration,
    /// `PASSWORD_RESET_MAX_PER_EMAIL` (5): password reset requests for one email (whether or not it has an
    /// account) within the reset window, before 429. The same numbers bound registration requests under
    /// REGISTRATION_MODE=verify_email (counted apart): both send an email to an address anyone may type.
    pub resets_per_email: u64,
    /// `PASSWORD_RESET_MAX_PER_IP` (20): password reset requests from one IP within the reset window.
    pub resets_per_ip: u64,
    /// `PASSWORD_RESET_WINDOW_SECS` (3600).
    pub reset_window: Duration,
}

#[derive(Clone, Debug)]
pub struct AdminAccount {
    pub email: String,
    pub password: SecretString,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            failures_per_account_and_ip: 10,
            failures_per_account: 100,
            failures_per_ip: 50,
            failure_window: Duration::from_secs(15 * 60),
            public_requests_per_ip: 120,
            public_window: Duration::from_secs(60),
            resets_per_email: 5,
            resets_per_ip: 20,
            reset_window: Duration::from_secs(3600),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            tokens: TokenSettings::default(),
            bcrypt_cost: 12,
            throttle: ThrottleSettings::default(),
            admin: None,
            registration: RegistrationMode::Open,
            reset_ttl: Duration::from_secs(3600),
            verification_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

impl AuthSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let secs = |name: &str, default: Duration| parse_or(name, default.as_secs()).map(Duration::from_secs);
        let bcrypt_cost = parse_or("BCRYPT_COST", d.bcrypt_cost)?;
        if !(MIN_PRODUCTION_COST..=31).contains(&bcrypt_cost) {
            return Err(invalid("BCRYPT_COST", "must be 10 to 31"));
        }
        let throttle = ThrottleSettings {
            failures_per_account_and_ip: parse_or(
                "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP",
                d.throttle.failures_per_account_and_ip,
            )?,
            failures_per_account: parse_or("LOGIN_MAX_FAILURES_PER_ACCOUNT", d.throttle.failures_per_account)?,
            failures_per_ip: parse_or("LOGIN_MAX_FAILURES_PER_IP", d.throttle.failures_per_ip)?,
            failure_window: secs("LOGIN_FAILURE_WINDOW_SECS", d.throttle.failure_window)?,
            public_requests_per_ip: parse_or("PUBLIC_RATE_LIMIT_PER_IP", d.throttle.public_requests_per_ip)?,
            public_window: secs("PUBLIC_RATE_LIMIT_WINDOW_SECS", d.throttle.public_window)?,
            resets_per_email: parse_or("PASSWORD_RESET_MAX_PER_EMAIL", d.throttle.resets_per_email)?,
            resets_per_ip: parse_or("PASSWORD_RESET_MAX_PER_IP", d.throttle.resets_per_ip)?,
            reset_window: secs("PASSWORD_RESET_WINDOW_SECS", d.throttle.reset_window)?,
        };
        let thresholds = [
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP", throttle.failures_per_account_and_ip),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", throttle.failures_per_account),
            ("LOGIN_MAX_FAILURES_PER_IP", throttle.failures_per_ip),
            ("PUBLIC_RATE_LIMIT_PER_IP", throttle.public_requests_per_ip),
            ("PASSWORD_RESET_MAX_PER_EMAIL", throttle.resets_per_email),
            ("PASSWORD_RESET_MAX_PER_IP", throttle.resets_per_ip),
        ];
        if let Some((name, _)) = thresholds.iter().find(|(_, value)| *value == 0) {
            return Err(invalid(name, "throttling thresholds must be positive"));
        }
        let admin = match (var("ADMIN_EMAIL"), secret("ADMIN_PASSWORD")) {
            (Some(email), Some(password)) => Some(AdminAccount { email, password }),
            (None, None) => None,
            _ => return Err(invalid("ADMIN_EMAIL", "ADMIN_EMAIL and ADMIN_PASSWORD must be set together")),
        };
        let registration = match var("REGISTRATION_MODE").as_deref() {
            None | Some("open") => RegistrationMode::Open,
            Some("invite_only") => RegistrationMode::InviteOnly,
            Some("verify_email") => RegistrationMode::VerifyEmail,
            Some(_) => return Err(invalid("REGISTRATION_MODE", "expected open, verify_email or invite_only")),
        };
        let reset_ttl = secs("PASSWORD_RESET_TTL_SECS", d.reset_ttl)?;
        if reset_ttl.is_zero() {
            return Err(invalid("PASSWORD_RESET_TTL_SECS", "must be positive"));
        }
        let verification_ttl = secs("EMAIL_VERIFICATION_TTL_SECS", d.verification_ttl)?;
        if verification_ttl.is_zero() {
            return Err(invalid("EMAIL_VERIFICATION_TTL_SECS", "must be positive"));
        }
        Ok(Self {
            tokens: TokenSettings::from_env()?,
            bcrypt_cost,
            throttle,
            admin,
            registration,
            reset_ttl,
            verification_ttl,
        })
    }
}

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { name: name.into(), reason: reason.into() }
}
