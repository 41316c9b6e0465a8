//! The outbox relay (`event-relay`): every table that holds an outbox ([`events::outbox`]) is swept and what
//! the publishers' fast path left — a process that died between commit and publish, a bus that refused — is
//! published on the bus and cleared. On AWS an EventBridge schedule runs it every minute; under `cargo run`
//! the runner sweeps once at start-up (whatever is in an outbox then was left by a previous process) and then
//! on the same schedule. Delivery stays at least once; consumers are idempotent on the event id.

use std::sync::Arc;
use std::time::Duration;

use platform::group::{Access, Function, Group, Kind, Resources, Use};
use storage::bus::Bus;
use storage::table::Table;

/// The tables with an outbox: those the event publishers write (a test checks this against every group).
pub const OUTBOX_TABLES: [&str; 5] =
    [identity::TABLE, tenancy::TABLE, webhooks::store::TABLE, automations::store::TABLE, files::store::TABLE];

/// How old an outbox item must be before a scheduled sweep takes it: the fast path publishes within
/// milliseconds of its commit, so anything older was left behind.
pub const LEFT_BEHIND_AFTER: Duration = Duration::from_secs(30);

pub static GROUP: Group = Group {
    name: "relay",
    functions: &[Function {
        binary: "event-relay",
        kind: Kind::Schedule { expression: "rate(1 minute)" },
        uses: &[
            Use::Table(identity::TABLE, Access::ReadWrite),
            Use::Table(tenancy::TABLE, Access::ReadWrite),
            Use::Table(webhooks::store::TABLE, Access::ReadWrite),
            Use::Table(automations::store::TABLE, Access::ReadWrite),
            Use::Table(files::store::TABLE, Access::ReadWrite),
            Use::Bus(events::routing::BUS),
        ],
        settings: &[],
    }],
};

pub struct RelayState {
    outboxes: Vec<(&'static str, Arc<dyn Table>)>,
    bus: Arc<dyn Bus>,
}

impl RelayState {
    pub async fn build(resources: &Resources) -> anyhow::Result<Self> {
        let mut outboxes = Vec::new();
        for table in OUTBOX_TABLES {
            outboxes.push((table, resources.table(table).await?));
        }
        Ok(Self { outboxes, bus: resources.bus(&events::routing::bus_spec()).await? })
    }

    /// Publishes every outbox item older than `older_than`; returns how many. A table that fails is logged and
    /// the others are still swept; the run fails if any did (so the schedule's retry and alarm see it).
    pub async fn sweep(&self, older_than: Duration) -> anyhow::Result<usize> {
        let mut published = 0;
        let mut failed = None;
        for (name, table) in &self.outboxes {
            match events::outbox::sweep(table.as_ref(), self.bus.as_ref(), older_than).await {
                Ok(n) => published += n,
                Err(e) => {
                    tracing::error!(table = name, error = ?e, "sweeping the outbox failed");
                    failed = Some(e);
                }
            }
        }
        if published > 0 {
            tracing::info!(published, "outbox relay published left-over events");
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(published),
        }
    }
}
