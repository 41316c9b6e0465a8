//! `POST /api/v1/auth/register`: a new account, owner of a new tenant.
//!
//! The tenant is always created here. A body naming a tenant (or anything else unknown) is refused, so a
//! client can never place itself in someone else's tenant; joining a tenant will come by invitation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events::{Action, Event, Origin};
use identity::password::PasswordProblem;
use identity::profile::{ProfileProblem, parse_name};
use identity::records::Tenant;
use identity::{Email, Password, StoreFailure, User, UserStatus};
use platform::caller::ROLE_TENANT_ADMIN;
use platform::{ApiError, ApiResult, ClientIp, Json};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::sessions::{self, TokenPair};
use crate::settings::RegistrationMode;
use crate::state::{AuthState, SharedState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// `local@domain` (dot-atom local part, letters, digits and hyphens in the domain); case is ignored.
    #[schema(format = Email, min_length = 5, max_length = 254)]
    pub email: String,
    /// 8 characters or more, at most 72 bytes; not a well-known password, nor the email or its local part.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    pub password: SecretString,
    /// At most 100 characters, none of them control characters except surrounding whitespace (trimmed).
    #[schema(
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x1f\x7f-\x9f]*[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub first_name: Option<String>,
    #[schema(
        max_length = 100,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x1f\x7f-\x9f]*[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub last_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    pub email: String,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

/// Register: creates a user that owns a new tenant, and signs it in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", security(()),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in (REGISTRATION_MODE=open)", body = RegisterResponse),
        (status = 202, description = "REGISTRATION_MODE=verify_email: the same answer for every well-formed request; an email finishes it (a link to verify the address, or a notice to an existing account's owner)", body = crate::verify_email::VerificationSent),
        (status = 400, description = "Invalid email, weak password or unknown field"),
        (status = 403, description = "REGISTRATION_MODE=invite_only: accounts come from invitations (`registration_closed`)"),
        (status = 409, description = "REGISTRATION_MODE=open: the email is already registered (`email_taken`)"),
        (status = 429, description = "Too many requests from this IP (or, in verify_email mode, for this email)"),
    ))]
pub async fn register(
    State(state): State<SharedState>,
    origin: Origin,
    ClientIp(ip): ClientIp,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Response> {
    if state.registration == RegistrationMode::InviteOnly {
        // The same answer whatever the body: nothing here tells a registered email from another.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_closed",
            "Registration is by invitation only: ask a tenant's admin to invite you",
        ));
    }
    let email = Email::parse(&body.email).map_err(|e| ApiError::bad_request("invalid_email", e.to_string()))?;
    let password = Password::parse(body.password, Some(&email)).map_err(weak_password)?;
    let first_name = name("first_name", body.first_name.as_deref()).map_err(invalid_profile)?;
    let last_name = name("last_name", body.last_name.as_deref()).map_err(invalid_profile)?;
    if state.registration == RegistrationMode::VerifyEmail {
        return crate::verify_email::request(&state, &origin, &ip, email, password, (first_name, last_name)).await;
    }

    let (tenant, user) = new_account(&state, &email, &password, (first_name, last_name), ROLE_TENANT_ADMIN).await?;
    let event = Event::new(Action::Registered, &origin).tenant(&user.tenant_id).actor(&user.id);
    create_account(&state, &tenant, &user, event).await?;
    let tokens = sessions::start(&state, &user).await?;
    Ok(sessions::no_store(StatusCode::CREATED, RegisterResponse { email: user.email, tokens }))
}

/// A new tenant and its first user, holding `role`, not stored yet: [`create_account`] stores them (their ids
/// exist first, so the event recording the account can name them).
pub(crate) async fn new_account(
    state: &AuthState,
    email: &Email,
    password: &Password,
    (first_name, last_name): (Option<String>, Option<String>),
    role: &str,
) -> ApiResult<(Tenant, User)> {
    let now = identity::now_rfc3339();
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: uuid::Uuid::now_v7().to_string(),
        email: email.as_str().to_string(),
        first_name,
        last_name,
        roles: vec![role.to_string()],
        status: UserStatus::Active,
        password_hash: SecretString::from(state.hasher.hash(password).await?),
        created_at: now.clone(),
        updated_at: now.clone(),
        version: 0,
    };
    let tenant = Tenant::new(user.tenant_id.clone(), user.id.clone(), now);
    Ok((tenant, user))
}

/// Stores a new account with `event`, which records it: both commit in one table transaction, or neither.
pub(crate) async fn create_account(state: &AuthState, tenant: &Tenant, user: &User, event: Event) -> ApiResult<()> {
    match state.events.commit(event, state.store.create_account(tenant, user)).await {
        Ok(()) => Ok(()),
        Err(StoreFailure::EmailTaken) => Err(ApiError::conflict("email_taken", "This email is already registered")),
        Err(e) => Err(ApiError::Unexpected(anyhow::Error::new(e))),
    }
}

pub(crate) fn weak_password(problem: PasswordProblem) -> ApiError {
    ApiError::bad_request("weak_password", problem.to_string())
}

/// The most characters a name may have as sent (surrounding whitespace included): the schema's `maxLength`.
pub const MAX_NAME_CHARS: usize = 100;

/// A first or last name: at most [`MAX_NAME_CHARS`] as sent, then identity's rules (trimmed, no control
/// characters, blank means none).
pub fn name(field: &'static str, raw: Option<&str>) -> Result<Option<String>, ProfileProblem> {
    if raw.is_some_and(|r| r.chars().count() > MAX_NAME_CHARS) {
        return Err(ProfileProblem::InvalidName(field));
    }
    parse_name(field, raw)
}

pub(crate) fn invalid_profile(problem: ProfileProblem) -> ApiError {
    ApiError::bad_request("invalid_profile", problem.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use events::Publisher;
    use identity::password::PasswordHasher;
    use identity::tokens::KeySet;
    use identity::{IdentityStore, TokenService, TokenSettings};
    use storage::StoreResult;
    use storage::bus::Route;
    use storage::bus::embedded::EmbeddedBus;
    use storage::cache::embedded::MemoryCache;
    use storage::queue::{Queue, QueueSpec};
    use storage::table::{Condition, Item, Key, Page, Query, Table, WriteOp};

    use super::*;
    use crate::settings::ThrottleSettings;
    use crate::throttle::Limiter;

    /// One write that reached the table: the partitions it put items in, and whether it committed.
    #[derive(Clone, Debug)]
    struct Write {
        puts: Vec<String>,
        committed: bool,
    }

    /// The embedded table, recording every write the outbox hands it.
    struct Recording {
        inner: Arc<dyn Table>,
        writes: Mutex<Vec<Write>>,
    }

    impl Recording {
        fn record<T>(&self, puts: Vec<String>, outcome: &StoreResult<T>) {
            self.writes.lock().unwrap().push(Write { puts, committed: outcome.is_ok() });
        }
    }

    #[async_trait]
    impl Table for Recording {
        async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
            self.inner.get(key).await
        }
        async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item> {
            let pk = item.key.pk.clone();
            let outcome = self.inner.put(item, condition).await;
            self.record(vec![pk], &outcome);
            outcome
        }
        async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
            self.inner.delete(key, condition).await
        }
        async fn query(&self, query: Query) -> StoreResult<Page> {
            self.inner.query(query).await
        }
        async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
            let puts = ops
                .iter()
                .filter_map(|op| match op {
                    WriteOp::Put { item, .. } => Some(item.key.pk.clone()),
                    _ => None,
                })
                .collect();
            let outcome = self.inner.transact(ops).await;
            self.record(puts, &outcome);
            outcome
        }
        async fn ready(&self) -> StoreResult<()> {
            self.inner.ready().await
        }
    }

    struct Fixture {
        state: SharedState,
        table: Arc<dyn Table>,
        recording: Arc<Recording>,
        /// Receives every event the bus carries.
        events: Arc<dyn Queue>,
        _env: storage::embedded::EmbeddedEnv,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn fixture() -> Fixture {
        let dir = std::env::temp_dir().join(format!("auth-register-{}", uuid::Uuid::new_v4()));
        let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
        let settings =
            TokenSettings { signing_key: Some(SecretString::from("k".repeat(32))), ..TokenSettings::default() };
        let recording = Arc::new(Recording { inner: env.table(identity::TABLE), writes: Mutex::new(Vec::new()) });
        let table = events::outbox::table(recording.clone());
        let spec = QueueSpec { name: "all-events".into(), dead_letter: None };
        let queue = env.queue(spec.clone());
        let bus = Arc::new(EmbeddedBus::new("type".into(), vec![(Route { queue: spec, only: None }, queue.clone())]));
        let state = AuthState {
            store: IdentityStore::new(table.clone()),
            tokens: TokenService::new(KeySet::from_settings(&settings, None).unwrap(), settings),
            hasher: PasswordHasher::new(4).await.unwrap(),
            events: Publisher::new(bus, table.clone()),
            limiter: Limiter::new(Arc::new(MemoryCache::new()), ThrottleSettings::default(), "test-"),
            plans: identity::plans::Plans::default(),
            registration: RegistrationMode::Open,
            keys: Arc::new(storage::keys::embedded::EmbeddedKeys::open(&dir).unwrap()),
            reset_ttl: std::time::Duration::from_secs(3600),
            verification_ttl: std::time::Duration::from_secs(3600),
        };
        Fixture { state: Arc::new(state), table, recording, events: queue, _env: env, dir }
    }

    fn body(email: &str) -> Json<RegisterRequest> {
        Json(RegisterRequest {
            email: email.into(),
            password: SecretString::from("a long enough passphrase"),
            first_name: None,
            last_name: None,
        })
    }

    fn origin(request_id: &str) -> Origin {
        Origin { request_id: request_id.into(), ip: None }
    }

    /// The events published so far: (type, request id).
    async fn published(f: &Fixture) -> Vec<(String, String)> {
        let messages = f.events.receive(10, Duration::from_secs(60), Duration::ZERO).await.unwrap();
        let events = messages.iter().map(|m| serde_json::from_str::<Event>(&m.body).unwrap());
        events.map(|e| (e.action.as_str().to_string(), e.request_id)).collect()
    }

    async fn outbox_items(f: &Fixture) -> usize {
        let mut n = 0;
        for shard in 0..events::outbox::SHARDS {
            n += f.table.query(Query::partition(format!("OUTBOX#{shard}"))).await.unwrap().items.len();
        }
        n
    }

    #[tokio::test]
    async fn a_registration_commits_its_event_with_the_account_and_a_refused_one_leaves_none() {
        let f = fixture().await;
        let created =
            register(State(f.state.clone()), origin("req-first"), ClientIp("10.0.0.1".into()), body("Ada@Example.com"))
                .await
                .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let taken =
            register(State(f.state.clone()), origin("req-again"), ClientIp("10.0.0.1".into()), body("ada@example.com"))
                .await;
        match taken {
            Err(ApiError::Client { status, code, .. }) => {
                assert_eq!((status, code), (StatusCode::CONFLICT, "email_taken"));
            }
            Err(e) => panic!("expected 409 email_taken, got {e:?}"),
            Ok(response) => panic!("expected 409 email_taken, got {}", response.status()),
        }

        // Each registration's event went into the table only inside the transaction claiming the email: the
        // first committed, the refused one did not, and no write stored an event on its own.
        let writes = f.recording.writes.lock().unwrap().clone();
        let with_event: Vec<&Write> =
            writes.iter().filter(|w| w.puts.iter().any(|pk| pk.starts_with("OUTBOX#"))).collect();
        assert_eq!(with_event.len(), 2, "{writes:?}");
        assert!(with_event.iter().all(|w| w.puts.contains(&"EMAIL#ada@example.com".to_string())), "{writes:?}");
        assert_eq!(with_event.iter().map(|w| w.committed).collect::<Vec<_>>(), [true, false], "{writes:?}");

        // One user.registered, the first request's; nothing left in the outbox.
        assert_eq!(published(&f).await, vec![("user.registered".to_string(), "req-first".to_string())]);
        assert_eq!(outbox_items(&f).await, 0);
    }
}
