//! Each tenant's demo data under `cargo run`: copies of the embedded emulator's demo bases and an emulator
//! token that reaches only those copies, so tenants never see each other's demo records.

use std::collections::BTreeSet;

use airtable_emulator::Emulator;
use airtable_emulator::auth::{BaseReach, EmulatorUser};
use async_trait::async_trait;
use tenancy::demo::{DemoData, DemoProvisioner};

pub struct EmulatorDemo {
    emulator: Emulator,
}

impl EmulatorDemo {
    pub fn new(emulator: Emulator) -> Self {
        Self { emulator }
    }
}

#[async_trait]
impl DemoProvisioner for EmulatorDemo {
    async fn provision(&self, tenant: &str) -> anyhow::Result<DemoData> {
        let mut bases = Vec::new();
        for (source, name) in
            [(airtable_emulator::seed::DEMO_BASE, "Demo"), (airtable_emulator::seed::OPS_BASE, "Operations")]
        {
            let id =
                self.emulator.copy_base(source, name).map_err(|e| anyhow::anyhow!("copying the demo base: {e:?}"))?;
            bases.push((id, name.to_string()));
        }
        let user = EmulatorUser {
            id: airtable_emulator::state::USER_ID.into(),
            email: airtable_emulator::state::USER_EMAIL.into(),
            name: format!("Demo user of {tenant}"),
        };
        let reach = BaseReach::Only(bases.iter().map(|(id, _)| id.clone()).collect::<BTreeSet<_>>());
        let token = self.emulator.issue_token(user, reach, Vec::new());
        Ok(DemoData {
            token: secrecy::SecretString::from(token),
            bases,
            airtable_user_id: airtable_emulator::state::USER_ID.into(),
        })
    }
}
