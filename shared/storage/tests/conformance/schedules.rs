//! The schedules port's suite: put, get, update, list and delete on the embedded adapter (redb in a temporary
//! directory) and on EventBridge Scheduler in moto (which keeps schedules and groups but never fires them).
//! Firing is the embedded adapter's own: `tick` takes the clock, so the cases drive it through fire times,
//! a catch-up after downtime, the clock springing forward in Europe/Berlin, and a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use storage::StoreError;
use storage::embedded::EmbeddedEnv;
use storage::queue::aws::{ensure_queue, queue_arn};
use storage::queue::{Queue, QueueSpec};
use storage::schedules::aws::EventBridgeSchedules;
use storage::schedules::embedded::{EmbeddedSchedules, Fired, execution_id};
use storage::schedules::{Expression, RateUnit, Schedule, Schedules};

use crate::support;

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/conformance-scheduler";

enum Backend {
    Embedded { env: EmbeddedEnv, _dir: support::TempDir },
    Aws(Box<aws_config::SdkConfig>),
}

/// The port, and on the embedded adapter the handle that ticks and the queue it fires into.
struct Opened {
    schedules: Arc<dyn Schedules>,
    /// The queue's ARN (AWS) or name (embedded).
    target: String,
    embedded: Option<(Arc<EmbeddedSchedules>, Arc<dyn Queue>)>,
}

impl Backend {
    async fn embedded() -> Self {
        let dir = support::TempDir::new();
        Self::Embedded { env: EmbeddedEnv::open(&dir.0).unwrap(), _dir: dir }
    }

    async fn aws() -> Self {
        Self::Aws(Box::new(support::moto_config().await))
    }

    async fn open(&self) -> Opened {
        let spec = QueueSpec { name: support::unique("workflow"), dead_letter: None };
        match self {
            Self::Embedded { env, .. } => {
                let handle = env.schedules(spec.clone()).unwrap();
                Opened {
                    schedules: handle.clone(),
                    target: spec.name.clone(),
                    embedded: Some((handle, env.queue(spec))),
                }
            }
            Self::Aws(config) => {
                let sqs = storage::aws::sqs(config);
                let url = ensure_queue(&sqs, &spec).await.unwrap();
                let arn = queue_arn(&sqs, &url).await.unwrap();
                let client = storage::aws::scheduler(config);
                Opened {
                    schedules: Arc::new(EventBridgeSchedules::new(client, arn.clone(), ROLE_ARN)),
                    target: arn,
                    embedded: None,
                }
            }
        }
    }

    fn client(&self) -> aws_sdk_scheduler::Client {
        match self {
            Self::Aws(config) => storage::aws::scheduler(config),
            Self::Embedded { .. } => panic!("an AWS-only case ran on the embedded adapter"),
        }
    }
}

impl Opened {
    fn embedded(&self) -> (&EmbeddedSchedules, &dyn Queue) {
        let (handle, queue) = self.embedded.as_ref().expect("an embedded-only case ran on AWS");
        (handle, &**queue)
    }
}

macro_rules! suite {
    ($($case:ident),+ $(,)?; embedded only: $($local:ident),+ $(,)?; aws only: $($remote:ident),+ $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(&super::Backend::embedded().await).await;
            })+
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $local() {
                super::$local(&super::Backend::embedded().await).await;
            })+
        }
        mod aws {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(&super::Backend::aws().await).await;
            })+
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $remote() {
                super::$remote(&super::Backend::aws().await).await;
            })+
        }
    };
}

suite!(
    put_then_get_returns_it_with_its_zone_and_five_field_cron,
    a_second_put_updates_it,
    list_names_the_groups_schedules_sorted,
    delete_removes_it_and_deleting_again_is_fine,
    invalid_group_name_zone_cron_or_input_is_refused;
    embedded only:
    tick_fires_a_due_schedule_once_per_fire_time,
    after_downtime_a_tick_sends_one_catch_up_fire_not_a_burst,
    a_daily_fire_the_clock_springs_forward_over_is_skipped_in_berlin,
    an_at_schedule_fires_once_then_is_deleted,
    a_disabled_schedule_never_fires,
    a_rate_fires_at_once_then_every_period_keeping_its_phase,
    rewriting_a_schedule_keeps_its_pending_fire_unless_its_timing_changes,
    schedules_survive_a_restart,
    the_run_loop_fires_on_the_real_clock,
    the_backend_opens_embedded_schedules_firing_into_its_queue;
    aws only:
    the_eventbridge_schedule_targets_the_queue_with_window_off_state_and_completion_action,
    invalid_requests_make_no_call,
    the_backend_opens_schedules_targeting_its_provisioned_queue,
);

/// The input, asking for every context keyword.
const INPUT: &str = concat!(
    r#"{"workflow":"wf-1","scheduled":"<aws.scheduler.scheduled-time>","#,
    r#""execution":"<aws.scheduler.execution-id>","arn":"<aws.scheduler.schedule-arn>","#,
    r#""attempt":"<aws.scheduler.attempt-number>"}"#,
);

fn schedule(group: &str, name: &str, expression: &str, time_zone: &str) -> Schedule {
    Schedule {
        group: group.into(),
        name: name.into(),
        expression: Expression::parse(expression).unwrap(),
        time_zone: time_zone.into(),
        input: INPUT.into(),
        enabled: true,
    }
}

/// Every message the queue holds now (waiting briefly for the first), as JSON bodies.
async fn drain(queue: &dyn Queue) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    let mut wait = Duration::from_millis(500);
    loop {
        let got = queue.receive(10, Duration::from_secs(30), wait).await.unwrap();
        if got.is_empty() {
            return seen;
        }
        for m in got {
            queue.delete(&m.receipt_handle).await.unwrap();
            seen.push(serde_json::from_str(&m.body).unwrap());
        }
        wait = Duration::from_millis(100);
    }
}

fn scheduled_times(fired: &[Fired]) -> Vec<DateTime<Utc>> {
    fired.iter().map(|f| f.scheduled).collect()
}

async fn put_then_get_returns_it_with_its_zone_and_five_field_cron(b: &Backend) {
    let opened = b.open().await;
    let group = support::unique("tenant");
    let mut cron = schedule(&group, "weekdays", "0 9 * * MON-FRI", "Europe/Berlin");
    cron.input = r#"{"workflow":"wf-1","ü":"✓"}"#.into();
    let rate = schedule(&group, "every-5", "rate(5 minutes)", "America/New_York");
    let mut at = schedule(&group, "new-year", "at(2099-12-31T23:59:00)", "Asia/Tokyo");
    at.enabled = false;

    for s in [&cron, &rate, &at] {
        opened.schedules.put(s).await.unwrap();
    }

    let got = opened.schedules.get(&group, "weekdays").await.unwrap().unwrap();
    assert_eq!(got, Schedule { expression: Expression::cron("0 9 * * 1-5").unwrap(), ..cron });
    assert_eq!(got.expression.to_string(), "0 9 * * 1-5", "the canonical five fields");
    assert_eq!(opened.schedules.get(&group, "every-5").await.unwrap(), Some(rate));
    assert_eq!(opened.schedules.get(&group, "new-year").await.unwrap(), Some(at));
    assert_eq!(opened.schedules.get(&group, "missing").await.unwrap(), None);
    assert_eq!(opened.schedules.get(&support::unique("no-group"), "weekdays").await.unwrap(), None);
}

async fn a_second_put_updates_it(b: &Backend) {
    let opened = b.open().await;
    let group = support::unique("tenant");
    opened.schedules.put(&schedule(&group, "report", "0 2 * * *", "Europe/Berlin")).await.unwrap();

    let changed = Schedule {
        expression: Expression::rate(2, RateUnit::Hours).unwrap(),
        time_zone: "UTC".into(),
        input: r#"{"workflow":"wf-2"}"#.into(),
        enabled: false,
        ..schedule(&group, "report", "0 2 * * *", "Europe/Berlin")
    };
    opened.schedules.put(&changed).await.unwrap();
    assert_eq!(opened.schedules.get(&group, "report").await.unwrap(), Some(changed.clone()));

    let back = Schedule { expression: Expression::cron("30 6 1 * *").unwrap(), enabled: true, ..changed };
    opened.schedules.put(&back).await.unwrap();
    assert_eq!(opened.schedules.get(&group, "report").await.unwrap(), Some(back));
    assert_eq!(opened.schedules.list(&group).await.unwrap(), ["report"]);
}

async fn list_names_the_groups_schedules_sorted(b: &Backend) {
    let opened = b.open().await;
    let (group, other) = (support::unique("tenant"), support::unique("tenant"));
    for name in ["b-report", "a.daily", "c_hourly", "A-upper"] {
        opened.schedules.put(&schedule(&group, name, "0 * * * *", "UTC")).await.unwrap();
    }
    opened.schedules.put(&schedule(&other, "x", "0 * * * *", "UTC")).await.unwrap();
    // A group whose name extends the first's is another group.
    let longer = format!("{group}-2");
    opened.schedules.put(&schedule(&longer, "y", "0 * * * *", "UTC")).await.unwrap();

    assert_eq!(opened.schedules.list(&group).await.unwrap(), ["A-upper", "a.daily", "b-report", "c_hourly"]);
    assert_eq!(opened.schedules.list(&other).await.unwrap(), ["x"]);
    assert_eq!(opened.schedules.list(&longer).await.unwrap(), ["y"]);
    assert_eq!(opened.schedules.list(&support::unique("empty")).await.unwrap(), Vec::<String>::new());
}

async fn delete_removes_it_and_deleting_again_is_fine(b: &Backend) {
    let opened = b.open().await;
    let group = support::unique("tenant");
    opened.schedules.put(&schedule(&group, "once", "*/15 * * * *", "UTC")).await.unwrap();

    opened.schedules.delete(&group, "once").await.unwrap();

    assert_eq!(opened.schedules.get(&group, "once").await.unwrap(), None);
    assert_eq!(opened.schedules.list(&group).await.unwrap(), Vec::<String>::new());
    opened.schedules.delete(&group, "once").await.unwrap();
    opened.schedules.delete(&support::unique("no-group"), "once").await.unwrap();
    // The group outlives its schedules: a new one goes in again.
    opened.schedules.put(&schedule(&group, "again", "*/15 * * * *", "UTC")).await.unwrap();
    assert_eq!(opened.schedules.list(&group).await.unwrap(), ["again"]);
}

/// Schedules every check refuses: bad group, name, zone, cron, `at`, input.
fn invalid_schedules(group: &str) -> Vec<(&'static str, Schedule)> {
    let good = schedule(group, "good", "0 9 * * *", "Europe/Berlin");
    let with = |f: &dyn Fn(&mut Schedule)| {
        let mut s = good.clone();
        f(&mut s);
        s
    };
    vec![
        ("empty group", with(&|s| s.group = String::new())),
        ("group with a slash", with(&|s| s.group = "a/b".into())),
        ("group too long", with(&|s| s.group = "g".repeat(65))),
        ("name with a space", with(&|s| s.name = "my schedule".into())),
        ("name too long", with(&|s| s.name = "n".repeat(65))),
        ("unknown zone", with(&|s| s.time_zone = "Europe/Atlantis".into())),
        ("offset, not a zone", with(&|s| s.time_zone = "+02:00".into())),
        ("cron out of range", with(&|s| s.expression = Expression::Cron { five_field: "0 24 * * *".into() })),
        ("cron with both day fields", with(&|s| s.expression = Expression::Cron { five_field: "0 9 1 * 1".into() })),
        ("cron with six fields", with(&|s| s.expression = Expression::Cron { five_field: "0 9 * * ? *".into() })),
        ("rate of zero", with(&|s| s.expression = Expression::Rate { every: 0, unit: RateUnit::Minutes })),
        (
            "at in the spring gap",
            with(&|s| {
                let local = NaiveDate::from_ymd_opt(2030, 3, 31).unwrap().and_hms_opt(2, 30, 0).unwrap();
                s.expression = Expression::At { local };
            }),
        ),
        ("input not JSON", with(&|s| s.input = "{not json".into())),
        ("empty input", with(&|s| s.input = String::new())),
    ]
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(matches!(result, Err(StoreError::Invalid(_))), "{what}: {result:?}");
}

async fn invalid_group_name_zone_cron_or_input_is_refused(b: &Backend) {
    let opened = b.open().await;
    let group = support::unique("tenant");
    for (what, s) in invalid_schedules(&group) {
        assert_invalid(opened.schedules.put(&s).await, what);
    }
    for (group, name) in [("", "n"), ("a/b", "n"), ("g", ""), ("g", "a b"), ("g", &*"n".repeat(65))] {
        assert_invalid(opened.schedules.get(group, name).await, "get");
        assert_invalid(opened.schedules.delete(group, name).await, "delete");
    }
    assert_invalid(opened.schedules.list("a b").await, "list");
    // Nothing was written.
    assert_eq!(opened.schedules.list(&group).await.unwrap(), Vec::<String>::new());
    assert_eq!(opened.schedules.get(&group, "good").await.unwrap(), None);
    let message = opened.schedules.put(&invalid_schedules(&group)[8].1).await.unwrap_err().to_string();
    assert!(message.contains("both day of month"), "a message for the user: {message}");
}

// ---- embedded only: firing ----

/// The next instant after the real now that is a multiple of five minutes.
fn next_five_minutes() -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp((now / 300 + 1) * 300, 0).unwrap()
}

async fn tick_fires_a_due_schedule_once_per_fire_time(b: &Backend) {
    let opened = b.open().await;
    let (ticker, queue) = opened.embedded();
    let group = support::unique("tenant");
    opened.schedules.put(&schedule(&group, "five", "*/5 * * * *", "UTC")).await.unwrap();
    let first = next_five_minutes();

    assert_eq!(ticker.tick(first - chrono::TimeDelta::milliseconds(1)).await.unwrap(), []);
    let (a, b2) = tokio::join!(ticker.tick(first), ticker.tick(first));
    let fired: Vec<Fired> = a.unwrap().into_iter().chain(b2.unwrap()).collect();
    assert_eq!(scheduled_times(&fired), [first], "two ticks at the same time fire once");
    assert_eq!(ticker.tick(first + chrono::TimeDelta::seconds(30)).await.unwrap(), []);
    let second = first + chrono::TimeDelta::minutes(5);
    assert_eq!(scheduled_times(&ticker.tick(second).await.unwrap()), [second]);

    let bodies = drain(queue).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let scheduled = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(bodies[0]["scheduled"], scheduled(first));
    assert_eq!(bodies[1]["scheduled"], scheduled(second));
    assert_eq!(bodies[0]["execution"], execution_id(&group, "five", first));
    assert_eq!(bodies[0]["execution"], fired[0].execution_id);
    assert_ne!(bodies[0]["execution"], bodies[1]["execution"]);
    assert_eq!(bodies[0]["arn"], format!("arn:aws:scheduler:local:000000000000:schedule/{group}/five"));
    assert_eq!((&bodies[0]["workflow"], &bodies[0]["attempt"]), (&"wf-1".into(), &"1".into()));
    assert_eq!(execution_id(&group, "five", first), fired[0].execution_id, "stable per schedule and fire time");
    assert!(opened.target.starts_with("workflow-"));
}

async fn after_downtime_a_tick_sends_one_catch_up_fire_not_a_burst(b: &Backend) {
    let opened = b.open().await;
    let (ticker, queue) = opened.embedded();
    let group = support::unique("tenant");
    opened.schedules.put(&schedule(&group, "minutely", "* * * * *", "UTC")).await.unwrap();
    let first = DateTime::from_timestamp((Utc::now().timestamp() / 60 + 1) * 60, 0).unwrap();

    // Three hours down: 180 fires missed.
    let back = first + chrono::TimeDelta::hours(3) + chrono::TimeDelta::seconds(20);
    let fired = ticker.tick(back).await.unwrap();
    assert_eq!(scheduled_times(&fired), [first], "the first missed fire, once");
    assert_eq!(ticker.tick(back).await.unwrap(), []);
    let next = first + chrono::TimeDelta::hours(3) + chrono::TimeDelta::minutes(1);
    assert_eq!(ticker.pending(&group, "minutely").await.unwrap(), Some(next), "back on the clock");
    assert_eq!(scheduled_times(&ticker.tick(next).await.unwrap()), [next]);
    assert_eq!(drain(queue).await.len(), 2);
}

/// The last Sunday of March of the year after this one: Europe/Berlin springs from 02:00 to 03:00.
fn next_years_spring_forward() -> NaiveDate {
    let year = Utc::now().year() + 1;
    (25..=31).map(|day| NaiveDate::from_ymd_opt(year, 3, day).unwrap()).rfind(|d| d.weekday() == Weekday::Sun).unwrap()
}

async fn a_daily_fire_the_clock_springs_forward_over_is_skipped_in_berlin(b: &Backend) {
    let opened = b.open().await;
    let (ticker, queue) = opened.embedded();
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let sunday = next_years_spring_forward();
    assert!(berlin.from_local_datetime(&sunday.and_hms_opt(2, 0, 0).unwrap()).earliest().is_none());
    let saturday = sunday.pred_opt().unwrap();
    let monday = sunday.succ_opt().unwrap();
    let at_two = |day: NaiveDate| berlin.from_local_datetime(&day.and_hms_opt(2, 0, 0).unwrap()).unwrap().to_utc();
    let group = support::unique("tenant");
    opened.schedules.put(&schedule(&group, "nightly", "0 2 * * *", "Europe/Berlin")).await.unwrap();

    // Catch up from now to Friday noon (one fire), then walk the weekend.
    let friday_noon = saturday.pred_opt().unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc();
    assert_eq!(ticker.tick(friday_noon).await.unwrap().len(), 1);
    drain(queue).await;
    assert_eq!(ticker.pending(&group, "nightly").await.unwrap(), Some(at_two(saturday)));
    assert_eq!(at_two(saturday).to_rfc3339(), format!("{saturday}T01:00:00+00:00"), "02:00 CET");
    assert_eq!(scheduled_times(&ticker.tick(at_two(saturday)).await.unwrap()), [at_two(saturday)]);
    // Sunday: 02:00 never happens; the clock reads 03:00 CEST at 01:00 UTC.
    for hour in [0, 1, 2, 12, 23] {
        let t = sunday.and_hms_opt(hour, 0, 0).unwrap().and_utc();
        assert_eq!(ticker.tick(t).await.unwrap(), [], "Sunday {hour}:00 UTC");
    }
    assert_eq!(at_two(monday).to_rfc3339(), format!("{monday}T00:00:00+00:00"), "02:00 CEST");
    assert_eq!(scheduled_times(&ticker.tick(at_two(monday)).await.unwrap()), [at_two(monday)]);

    let bodies = drain(queue).await;
    let times: Vec<&str> = bodies.iter().map(|b| b["scheduled"].as_str().unwrap()).collect();
    assert_eq!(times, [format!("{saturday}T01:00:00Z"), format!("{monday}T00:00:00Z")]);
}

async fn an_at_schedule_fires_once_then_is_deleted(b: &Backend) {
    let opened = b.open().await;
    let (ticker, queue) = opened.embedded();
    let group = support::unique("tenant");
    let when = DateTime::from_timestamp(Utc::now().timestamp() + 86_400, 0).unwrap();
    let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
    let local = when.with_timezone(&tokyo).naive_local();
    let mut s = schedule(&group, "once", "rate(1 day)", "Asia/Tokyo");
    s.expression = Expression::at(local).unwrap();
    opened.schedules.put(&s).await.unwrap();

    assert_eq!(ticker.tick(when - chrono::TimeDelta::seconds(1)).await.unwrap(), []);
    assert_eq!(scheduled_times(&ticker.tick(when + chrono::TimeDelta::seconds(5)).await.unwrap()), [when]);
    assert_eq!(ticker.tick(when + chrono::TimeDelta::days(400)).await.unwrap(), []);

    assert_eq!(opened.schedules.get(&group, "once").await.unwrap(), None, "deleted after its fire");
    assert_eq!(opened.schedules.list(&group).await.unwrap(), Vec::<String>::new());
    assert_eq!(drain(queue).await.len(), 1);
}

async fn a_disabled_schedule_never_fires(b: &Backend) {
    let opened = b.open().await;
    let (ticker, queue) = opened.embedded();
    let group = support::unique("tenant");
    let off = |name: &str, expression: &str| Schedule { enabled: false, ..schedule(&group, name, expression, "UTC") };
    let later = DateTime::from_timestamp(Utc::now().timestamp() + 3600, 0).unwrap();
    let at = Expression::at(later.naive_utc()).unwrap().to_string();
    for s in [off("cron", "* * * * *"), off("rate", "rate(1 minute)"), off("at", &at)] {
        opened.schedules.put(&s).await.unwrap();
    }

    for days in [0, 1, 30, 400] {
        assert_eq!(ticker.tick(Utc::now() + chrono::TimeDelta::days(days)).await.unwrap(), [], "{days} days on");
    }
    assert_eq!(ticker.pending(&group, "cron").await.unwrap(), None);
    assert_eq!(drain(queue).await, Vec::<serde_json::Value>::new());
    assert_eq!(opened.schedules.list(&group).await.unwrap(), ["at", "cron", "rate"], "kept, not fired");

    // Enabled again, it fires from then on (a rate at once), without catching up on its disabled time.
    opened.schedules.put(&schedule(&group, "rate", "rate(1 minute)", "UTC")).await.unwrap();
    let fired = ticker.tick(Utc::now() + chrono::TimeDelta::seconds(1)).await.unwrap();
    assert_eq!(fired.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["rate"]);
}

async fn a_rate_fires_at_once_then_every_period_keeping_its_phase(b: &Backend) {
    let opened = b.open().await;
    let (ticker, queue) = opened.embedded();
    let group = support::unique("tenant");
    // Fire times are kept in milliseconds.
    let before = Utc::now() - chrono::TimeDelta::milliseconds(1);
    opened.schedules.put(&schedule(&group, "rate", "rate(5 minutes)", "Europe/Berlin")).await.unwrap();

    let first = ticker.tick(Utc::now()).await.unwrap();
    assert_eq!(first.len(), 1, "a rate fires at once");
    let start = first[0].scheduled;
    assert!(start >= before && start <= Utc::now(), "{start}");
    let minutes = |m: i64| start + chrono::TimeDelta::minutes(m);
    assert_eq!(ticker.tick(minutes(5) - chrono::TimeDelta::milliseconds(1)).await.unwrap(), []);
    assert_eq!(scheduled_times(&ticker.tick(minutes(5)).await.unwrap()), [minutes(5)]);
    // 23 minutes in: the fire of 10 once; then back in phase at 25.
    assert_eq!(scheduled_times(&ticker.tick(minutes(23)).await.unwrap()), [minutes(10)]);
    assert_eq!(ticker.pending(&group, "rate").await.unwrap(), Some(minutes(25)));
    assert_eq!(drain(queue).await.len(), 3);
}

async fn rewriting_a_schedule_keeps_its_pending_fire_unless_its_timing_changes(b: &Backend) {
    let opened = b.open().await;
    let (ticker, _) = opened.embedded();
    let group = support::unique("tenant");
    let s = schedule(&group, "rate", "rate(1 hour)", "UTC");
    opened.schedules.put(&s).await.unwrap();
    let pending = ticker.pending(&group, "rate").await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // A new input only: same timing.
    opened.schedules.put(&Schedule { input: r#"{"workflow":"wf-9"}"#.into(), ..s.clone() }).await.unwrap();
    assert_eq!(ticker.pending(&group, "rate").await.unwrap(), Some(pending));
    // A new expression: it starts again.
    opened.schedules.put(&Schedule { expression: Expression::rate(2, RateUnit::Hours).unwrap(), ..s }).await.unwrap();
    assert!(ticker.pending(&group, "rate").await.unwrap().unwrap() > pending);
}

async fn schedules_survive_a_restart(_: &Backend) {
    let dir = support::TempDir::new();
    let spec = QueueSpec { name: support::unique("workflow"), dead_letter: None };
    let group = support::unique("tenant");
    let cron = schedule(&group, "nightly", "0 2 * * *", "Europe/Berlin");
    let rate = schedule(&group, "rate", "rate(3 hours)", "UTC");
    let pending = {
        let env = EmbeddedEnv::open(&dir.0).unwrap();
        let handle = env.schedules(spec.clone()).unwrap();
        handle.put(&cron).await.unwrap();
        handle.put(&rate).await.unwrap();
        handle.tick(Utc::now() + chrono::TimeDelta::seconds(1)).await.unwrap();
        (handle.pending(&group, "nightly").await.unwrap(), handle.pending(&group, "rate").await.unwrap())
    };

    let env = EmbeddedEnv::open(&dir.0).expect("the first store was closed");
    let handle = env.schedules(spec.clone()).unwrap();

    assert_eq!(handle.list(&group).await.unwrap(), ["nightly", "rate"]);
    assert_eq!(handle.get(&group, "nightly").await.unwrap(), Some(cron));
    assert_eq!(handle.get(&group, "rate").await.unwrap(), Some(rate));
    let now_pending = (handle.pending(&group, "nightly").await.unwrap(), handle.pending(&group, "rate").await.unwrap());
    assert_eq!(now_pending, pending, "pending fires are kept: the rate has fired once, and not again");
    let fired = handle.tick(pending.1.unwrap()).await.unwrap();
    let rate_fires: Vec<_> = fired.iter().filter(|f| f.name == "rate").map(|f| f.scheduled).collect();
    assert_eq!(rate_fires, [pending.1.unwrap()]);
    // The rate's first fire went into the queue before the restart, and is still there.
    assert_eq!(drain(&*env.queue(spec)).await.len(), 1 + fired.len());
}

async fn the_run_loop_fires_on_the_real_clock(b: &Backend) {
    let opened = b.open().await;
    let (handle, queue) = opened.embedded.as_ref().unwrap();
    let group = support::unique("tenant");
    opened.schedules.put(&schedule(&group, "rate", "rate(1 hour)", "UTC")).await.unwrap();

    let running = tokio::spawn(handle.clone().run());
    let received = queue.receive(1, Duration::from_secs(30), Duration::from_secs(5)).await.unwrap();
    running.abort();

    assert_eq!(received.len(), 1, "a rate fires at once, within a tick");
    let body: serde_json::Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["workflow"], "wf-1");
}

// ---- AWS only ----

async fn the_eventbridge_schedule_targets_the_queue_with_window_off_state_and_completion_action(b: &Backend) {
    use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode, ScheduleState};
    let opened = b.open().await;
    let client = b.client();
    let group = support::unique("tenant");
    let weekdays = schedule(&group, "weekdays", "0 9 * * 1-5", "Europe/Berlin");
    let once = Schedule { enabled: false, ..schedule(&group, "once", "at(2099-01-01T00:00:00)", "UTC") };
    opened.schedules.put(&weekdays).await.unwrap();
    opened.schedules.put(&once).await.unwrap();

    let got = client.get_schedule().group_name(&group).name("weekdays").send().await.unwrap();
    assert_eq!(got.schedule_expression.as_deref(), Some("cron(0 9 ? * 2-6 *)"));
    assert_eq!(got.schedule_expression_timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(got.state, Some(ScheduleState::Enabled));
    assert_eq!(got.flexible_time_window.map(|w| w.mode), Some(FlexibleTimeWindowMode::Off));
    let target = got.target.unwrap();
    assert_eq!((target.arn.as_str(), target.role_arn.as_str()), (opened.target.as_str(), ROLE_ARN));
    assert_eq!(target.input.as_deref(), Some(INPUT), "the context keywords are left for the scheduler");
    assert_ne!(got.action_after_completion, Some(ActionAfterCompletion::Delete));

    let got = client.get_schedule().group_name(&group).name("once").send().await.unwrap();
    assert_eq!(got.schedule_expression.as_deref(), Some("at(2099-01-01T00:00:00)"));
    assert_eq!(got.state, Some(ScheduleState::Disabled));
    assert_eq!(got.action_after_completion, Some(ActionAfterCompletion::Delete));
    // The tenant's group was created on first use.
    let group_out = client.get_schedule_group().name(&group).send().await.unwrap();
    assert_eq!(group_out.name.as_deref(), Some(group.as_str()));
    // A second put into an existing group keeps the group's other schedules.
    opened.schedules.put(&schedule(&group, "third", "rate(1 day)", "UTC")).await.unwrap();
    assert_eq!(opened.schedules.list(&group).await.unwrap(), ["once", "third", "weekdays"]);
}

async fn invalid_requests_make_no_call(_: &Backend) {
    // Nothing listens on port 1: any call would fail as unexpected, not as invalid.
    let creds = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "conformance");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:1")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await;
    let schedules = EventBridgeSchedules::new(storage::aws::scheduler(&config), "arn:aws:sqs:us-east-1:1:q", ROLE_ARN);
    for (what, s) in invalid_schedules("tenant-1") {
        assert_invalid(schedules.put(&s).await, what);
    }
    assert_invalid(schedules.get("a/b", "n").await, "get");
    assert_invalid(schedules.delete("g", "").await, "delete");
    assert_invalid(schedules.list("").await, "list");
    let valid = schedules.get("tenant-1", "good").await;
    assert!(matches!(valid, Err(StoreError::Unexpected(_))), "a valid request does call: {valid:?}");
}

// ---- through Backend ----

async fn the_backend_opens_embedded_schedules_firing_into_its_queue(_: &Backend) {
    use storage::backend::{Backend as Storage, StorageMode, StorageSettings};
    let dir = support::TempDir::new();
    let settings = StorageSettings { data_dir: dir.0.clone(), ..StorageSettings::defaults(StorageMode::Embedded) };
    let storage = Storage::open(&settings).await.unwrap();
    let spec = QueueSpec { name: "workflows".into(), dead_letter: None };
    let schedules = storage.schedules(&spec).await.unwrap();
    let ticker = storage.embedded_schedules(&spec).unwrap().expect("embedded mode has a firing loop");
    let group = support::unique("tenant");

    schedules.put(&schedule(&group, "rate", "rate(1 hour)", "UTC")).await.unwrap();

    assert_eq!(ticker.list(&group).await.unwrap(), ["rate"], "one store, one handle");
    assert_eq!(ticker.tick(Utc::now() + chrono::TimeDelta::seconds(1)).await.unwrap().len(), 1);
    let queue = storage.queue(&spec).await.unwrap();
    assert_eq!(drain(&*queue).await.len(), 1);
}

async fn the_backend_opens_schedules_targeting_its_provisioned_queue(_: &Backend) {
    use storage::backend::{Backend as Storage, StorageMode, StorageSettings};
    let prefix = format!("{}-", support::unique("sched"));
    let settings = StorageSettings {
        aws: storage::aws::AwsSettings {
            endpoint_url: Some(support::moto_endpoint()),
            region: Some("us-east-1".into()),
        },
        table_prefix: prefix.clone(),
        provision: true,
        ..StorageSettings::defaults(StorageMode::Aws)
    };
    let storage = Storage::open(&settings).await.unwrap();
    assert!(storage.embedded_schedules(&QueueSpec { name: "workflows".into(), dead_letter: None }).unwrap().is_none());
    let schedules = storage.schedules(&QueueSpec { name: "workflows".into(), dead_letter: None }).await.unwrap();
    let group = support::unique("tenant");

    schedules.put(&schedule(&group, "nightly", "0 2 * * *", "Europe/Berlin")).await.unwrap();

    let config = support::moto_config().await;
    let got = storage::aws::scheduler(&config).get_schedule().group_name(&group).name("nightly").send().await.unwrap();
    let target = got.target.unwrap();
    assert!(target.arn.ends_with(&format!(":{prefix}workflows")), "{}", target.arn);
    assert!(target.role_arn.ends_with(&format!(":role/{prefix}scheduler")), "{}", target.role_arn);
    assert_eq!(schedules.list(&group).await.unwrap(), ["nightly"]);
}
