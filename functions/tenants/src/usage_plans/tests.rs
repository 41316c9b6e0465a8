#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use identity::{Tenant, User, UserStatus};
use secrecy::SecretString;

use super::*;

/// API Gateway in memory: keys by id, and which usage plans each key is on.
#[derive(Default)]
struct FakeGateway {
    keys: Mutex<BTreeMap<String, (String, GatewayKey)>>,
    attached: Mutex<BTreeSet<(String, String)>>,
}

#[async_trait]
impl UsagePlanGateway for FakeGateway {
    async fn find_key(&self, name: &str) -> anyhow::Result<Option<GatewayKey>> {
        Ok(self.keys.lock().unwrap().values().find(|(n, _)| n == name).map(|(_, k)| k.clone()))
    }
    async fn create_key(&self, name: &str, value: &str, _customer_id: &str) -> anyhow::Result<GatewayKey> {
        let key = GatewayKey { id: uuid::Uuid::new_v4().to_string(), value: value.into() };
        self.keys.lock().unwrap().insert(key.id.clone(), (name.into(), key.clone()));
        Ok(key)
    }
    async fn plans_of(&self, key_id: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.attached.lock().unwrap().iter().filter(|(_, k)| k == key_id).map(|(p, _)| p.clone()).collect())
    }
    async fn attach(&self, usage_plan_id: &str, key_id: &str) -> anyhow::Result<()> {
        let mut attached = self.attached.lock().unwrap();
        // As API Gateway: one usage plan per key per stage.
        anyhow::ensure!(!attached.iter().any(|(_, k)| k == key_id), "already on another usage plan");
        attached.insert((usage_plan_id.into(), key_id.into()));
        Ok(())
    }
    async fn detach(&self, usage_plan_id: &str, key_id: &str) -> anyhow::Result<()> {
        self.attached.lock().unwrap().remove(&(usage_plan_id.to_string(), key_id.to_string()));
        Ok(())
    }
}

struct Fixture {
    state: UsagePlansState,
    gateway: Arc<FakeGateway>,
    store: IdentityStore,
    tenant: Tenant,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("usage-plans-test-{}", uuid::Uuid::new_v4()));
    let store = IdentityStore::new(storage::embedded::EmbeddedEnv::open(&dir).unwrap().table(identity::TABLE));
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: uuid::Uuid::now_v7().to_string(),
        email: format!("{}@example.com", uuid::Uuid::new_v4().simple()),
        first_name: None,
        last_name: None,
        roles: vec!["tenant_admin".into()],
        status: UserStatus::Active,
        password_hash: SecretString::from("$2b$04$unused"),
        created_at: identity::now_rfc3339(),
        updated_at: identity::now_rfc3339(),
        version: 0,
    };
    let tenant = Tenant::new(user.tenant_id.clone(), user.id.clone(), identity::now_rfc3339());
    store.create_account(&tenant, &user).await.unwrap();
    let tenant = store.tenant(&tenant.tenant_id).await.unwrap().unwrap();
    let gateway = Arc::new(FakeGateway::default());
    let ids = BTreeMap::from([("free".into(), "up-free".into()), ("pro".into(), "up-pro".into())]);
    let state = UsagePlansState::new(store.clone(), gateway.clone(), ids, "stack-");
    Fixture { state, gateway, store, tenant, dir }
}

impl Fixture {
    fn attached(&self) -> Vec<(String, String)> {
        self.gateway.attached.lock().unwrap().iter().cloned().collect()
    }

    async fn set_plan(&mut self, plan: &str) {
        let mut tenant = self.tenant.clone();
        tenant.plan = plan.into();
        self.tenant = self.store.update_tenant(&tenant, tenant.slug.as_deref()).await.unwrap();
    }
}

#[tokio::test]
async fn a_new_tenant_gets_a_named_key_on_the_free_usage_plan_recorded_for_the_authorizer() {
    let f = fixture().await;
    let record = sync(&f.state, &f.tenant.tenant_id).await.unwrap().unwrap();
    assert_eq!((record.plan.as_str(), record.usage_plan_id.as_str()), ("free", "up-free"));
    assert!(record.value.len() >= 30);
    let keys = f.gateway.keys.lock().unwrap().clone();
    let [(name, key)] = keys.values().cloned().collect::<Vec<_>>().try_into().unwrap();
    assert_eq!(name, format!("stack-tenant-{}", f.tenant.tenant_id));
    assert_eq!(key.id, record.key_id);
    assert_eq!(f.attached(), [("up-free".to_string(), record.key_id.clone())]);
    assert_eq!(f.store.usage_key(&f.tenant.tenant_id).await.unwrap(), Some(record.clone()));
    assert!(!format!("{record:?}").contains(&record.value), "the value is never printed");
}

#[tokio::test]
async fn a_plan_change_moves_the_key_and_a_repeat_changes_nothing() {
    let mut f = fixture().await;
    let first = sync(&f.state, &f.tenant.tenant_id).await.unwrap().unwrap();
    f.set_plan("pro").await;
    let moved = sync(&f.state, &f.tenant.tenant_id).await.unwrap().unwrap();
    let again = sync(&f.state, &f.tenant.tenant_id).await.unwrap().unwrap();
    assert_eq!(moved.key_id, first.key_id);
    assert_eq!((again.key_id.as_str(), again.usage_plan_id.as_str()), (first.key_id.as_str(), "up-pro"));
    assert_eq!(f.attached(), [("up-pro".to_string(), first.key_id)]);
    assert_eq!(f.gateway.keys.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_key_made_before_a_crash_is_found_by_name_not_made_twice() {
    let f = fixture().await;
    let name = key_name("stack-", &f.tenant.tenant_id);
    let made = f.gateway.create_key(&name, &new_value(), &f.tenant.tenant_id).await.unwrap();
    let record = sync(&f.state, &f.tenant.tenant_id).await.unwrap().unwrap();
    assert_eq!((record.key_id, record.value), (made.id, made.value));
    assert_eq!(f.gateway.keys.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_plan_without_a_usage_plan_is_metered_on_the_free_one() {
    let mut f = fixture().await;
    f.set_plan("enterprise").await;
    let record = sync(&f.state, &f.tenant.tenant_id).await.unwrap().unwrap();
    assert_eq!((record.plan.as_str(), record.usage_plan_id.as_str()), ("enterprise", "up-free"));
}

#[tokio::test]
async fn an_unknown_tenant_gets_nothing() {
    let f = fixture().await;
    assert!(sync(&f.state, &uuid::Uuid::now_v7().to_string()).await.unwrap().is_none());
    assert!(f.gateway.keys.lock().unwrap().is_empty());
}

#[test]
fn usage_plan_ids_must_name_the_free_plans() {
    assert_eq!(parse_ids(r#"{"free":"a","pro":"b"}"#).unwrap().len(), 2);
    for bad in [r#"{"pro":"b"}"#, r#"{"free":""}"#, r#"{"free":"a","pro":" "}"#, "[]", "free=a"] {
        assert!(parse_ids(bad).is_err(), "{bad}");
    }
}
