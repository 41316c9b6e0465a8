//! The bus port's suite: one publish reaches every route whose filter accepts it, exactly once, body and
//! attributes unchanged — on the embedded adapter and on SNS → SQS in moto (raw delivery, filter policies).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use storage::bus::aws::{SnsBus, ensure_topic};
use storage::bus::embedded::EmbeddedBus;
use storage::bus::{Bus, BusSpec, Route};
use storage::embedded::EmbeddedEnv;
use storage::queue::aws::{SqsQueue, ensure_queue};
use storage::queue::{DeadLetter, OutgoingMessage, Queue, QueueSpec};

use crate::support;

const ATTRIBUTE: &str = "type";

enum Backend {
    Embedded { env: EmbeddedEnv, _dir: support::TempDir },
    Aws(Box<aws_config::SdkConfig>),
}

/// A bus with two routes: `all` (every type) and `some` (`user.registered` only).
struct Opened {
    bus: Arc<dyn Bus>,
    all: Arc<dyn Queue>,
    some: Arc<dyn Queue>,
}

fn spec() -> BusSpec {
    let queue = |name: &str| QueueSpec {
        name: support::unique(name),
        dead_letter: Some(DeadLetter { queue: support::unique(&format!("{name}-dlq")), max_receive_count: 3 }),
    };
    BusSpec {
        name: support::unique("bus"),
        attribute: ATTRIBUTE.into(),
        routes: vec![
            Route { queue: queue("all"), only: None },
            Route { queue: queue("some"), only: Some(vec!["user.registered".into()]) },
        ],
    }
}

impl Backend {
    async fn embedded() -> Self {
        let dir = support::TempDir::new();
        Self::Embedded { env: EmbeddedEnv::open(&dir.0).unwrap(), _dir: dir }
    }

    async fn aws() -> Self {
        Self::Aws(Box::new(support::moto_config().await))
    }

    async fn open(&self, spec: &BusSpec) -> Opened {
        match self {
            Self::Embedded { env, .. } => {
                let routes: Vec<_> = spec.routes.iter().map(|r| (r.clone(), env.queue(r.queue.clone()))).collect();
                let (all, some) = (routes[0].1.clone(), routes[1].1.clone());
                Opened { bus: Arc::new(EmbeddedBus::new(spec.attribute.clone(), routes)), all, some }
            }
            Self::Aws(config) => {
                let (sns, sqs) = (storage::aws::sns(config), storage::aws::sqs(config));
                let arn = ensure_topic(&sns, &sqs, spec).await.unwrap();
                let queue = |route: &Route| {
                    let sqs = sqs.clone();
                    let spec = route.queue.clone();
                    async move {
                        let url = ensure_queue(&sqs, &spec).await.unwrap();
                        Arc::new(SqsQueue::new(sqs, spec.name, url)) as Arc<dyn Queue>
                    }
                };
                let (all, some) = (queue(&spec.routes[0]).await, queue(&spec.routes[1]).await);
                Opened { bus: Arc::new(SnsBus::new(sns, arn)), all, some }
            }
        }
    }
}

macro_rules! suite {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(&super::Backend::embedded().await).await;
            })+
        }
        mod aws {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(&super::Backend::aws().await).await;
            })+
        }
    };
}

suite!(
    a_publish_reaches_every_accepting_route_once_unchanged,
    a_filtered_route_receives_only_its_types,
    opening_the_bus_again_adds_no_second_delivery,
);

fn message(kind: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage::new(body).attribute(ATTRIBUTE, kind).attribute("request_id", "req-1")
}

/// Everything the queue holds now (waiting briefly for the first).
async fn drain(queue: &Arc<dyn Queue>) -> Vec<(String, String, String)> {
    let mut seen = Vec::new();
    let mut wait = Duration::from_secs(2);
    loop {
        let got = queue.receive(10, Duration::from_secs(30), wait).await.unwrap();
        if got.is_empty() {
            return seen;
        }
        for m in got {
            queue.delete(&m.receipt_handle).await.unwrap();
            let kind = m.attributes.get(ATTRIBUTE).cloned().unwrap_or_default();
            let request = m.attributes.get("request_id").cloned().unwrap_or_default();
            seen.push((m.body, kind, request));
        }
        wait = Duration::from_millis(300);
    }
}

async fn a_publish_reaches_every_accepting_route_once_unchanged(backend: &Backend) {
    let spec = spec();
    let opened = backend.open(&spec).await;
    let body = r#"{"id":"e1","type":"user.registered","data":{"ü":"✓"}}"#;
    opened.bus.publish(message("user.registered", body)).await.unwrap();
    let want = vec![(body.to_string(), "user.registered".to_string(), "req-1".to_string())];
    assert_eq!(drain(&opened.all).await, want, "the unfiltered route");
    assert_eq!(drain(&opened.some).await, want, "the filtered route accepts its type");
}

async fn a_filtered_route_receives_only_its_types(backend: &Backend) {
    let spec = spec();
    let opened = backend.open(&spec).await;
    opened.bus.publish(message("user.updated", "one")).await.unwrap();
    opened.bus.publish(message("user.registered", "two")).await.unwrap();
    let bodies = |seen: Vec<(String, String, String)>| {
        let mut bodies: Vec<String> = seen.into_iter().map(|s| s.0).collect();
        bodies.sort();
        bodies
    };
    assert_eq!(bodies(drain(&opened.all).await), ["one", "two"]);
    assert_eq!(bodies(drain(&opened.some).await), ["two"]);
}

async fn opening_the_bus_again_adds_no_second_delivery(backend: &Backend) {
    let spec = spec();
    backend.open(&spec).await;
    let opened = backend.open(&spec).await;
    opened.bus.publish(message("user.registered", "once")).await.unwrap();
    assert_eq!(drain(&opened.all).await.len(), 1);
    assert_eq!(drain(&opened.some).await.len(), 1);
}
