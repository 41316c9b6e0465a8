//! The schedules port: the workflow triggers that fire on a clock. A schedule sends its `input` as the body of
//! one message to the workflow queue at each fire time of its [`Expression`] (a five-field cron, a rate, or one
//! time), evaluated in its IANA time zone.
//!
//! - AWS (`aws.rs`): one EventBridge Scheduler schedule per trigger, in a schedule group per tenant (created on
//!   first use), targeting the workflow queue.
//! - Embedded (`embedded.rs`): the schedules in the embedded store and an in-process firing loop sending into
//!   the embedded queue; [`embedded::EmbeddedSchedules::tick`] takes the clock as an argument, so tests drive it.
//!
//! Delivery is at least once. A consumer de-duplicates on (schedule, scheduled fire time), which the input can
//! ask for with the context keywords EventBridge Scheduler substitutes at each fire ([`SCHEDULE_ARN`],
//! [`SCHEDULED_TIME`], [`EXECUTION_ID`], [`ATTEMPT_NUMBER`]); the embedded adapter substitutes the same ones,
//! with an execution id stable per (schedule, fire time).
//!
//! Daylight saving time follows EventBridge Scheduler: a cron fire whose local time does not exist (the clock
//! springs forward over it) is skipped; a fixed-time fire (`30 2 * * *`) whose local time happens twice (the
//! clock falls back) fires once, at the first, while a cron over every minute or hour fires in both passes of
//! the repeated hour, as real time runs. A rate counts real time (`rate(1 day)` is 24 hours).

pub mod cron;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::{StoreError, StoreResult};

/// Longest schedule expression (EventBridge Scheduler's limit).
pub const MAX_EXPRESSION_CHARS: usize = 256;
/// Largest input: it is delivered as one queue message body.
pub const MAX_INPUT_BYTES: usize = crate::queue::MAX_BODY_BYTES;

/// Replaced in the input by the schedule's ARN at each fire (on the embedded adapter, a local look-alike:
/// `arn:aws:scheduler:local:000000000000:schedule/{group}/{name}`).
pub const SCHEDULE_ARN: &str = "<aws.scheduler.schedule-arn>";
/// Replaced by the fire's scheduled time, UTC, whole seconds: `2026-03-22T18:59:00Z`.
pub const SCHEDULED_TIME: &str = "<aws.scheduler.scheduled-time>";
/// Replaced by an id of the invocation (on the embedded adapter, stable per schedule and fire time).
pub const EXECUTION_ID: &str = "<aws.scheduler.execution-id>";
/// Replaced by the attempt number (the embedded adapter sends once: `1`).
pub const ATTEMPT_NUMBER: &str = "<aws.scheduler.attempt-number>";

/// Why a schedule is refused; its message is meant for the user who wrote it (an API answers 400 with it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid schedule group: it takes 1 to 64 letters, digits, '-', '_' or '.'")]
    InvalidGroup,
    #[error("invalid schedule name: it takes 1 to 64 letters, digits, '-', '_' or '.'")]
    InvalidName,
    #[error("invalid time zone {0:?}: expected an IANA time zone name such as Europe/Berlin or UTC")]
    InvalidTimeZone(String),
    #[error("invalid schedule expression: {0}")]
    InvalidExpression(String),
    #[error("invalid schedule input: {0}")]
    InvalidInput(String),
}

impl From<ScheduleError> for StoreError {
    fn from(e: ScheduleError) -> Self {
        StoreError::Invalid(e.to_string())
    }
}

/// When a schedule fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expression {
    /// A five-field cron (`minute hour day-of-month month day-of-week`), in the canonical form
    /// [`Expression::cron`] gives (what [`Schedules::get`] returns).
    Cron { five_field: String },
    /// Every `every` units, counting real time from when the schedule was created or changed (AWS fires the
    /// first at once).
    Rate { every: u32, unit: RateUnit },
    /// Once, at this local time in the schedule's time zone (whole seconds); the schedule is deleted after.
    At { local: NaiveDateTime },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateUnit {
    Minutes,
    Hours,
    Days,
}

impl RateUnit {
    pub fn seconds(self) -> i64 {
        match self {
            Self::Minutes => 60,
            Self::Hours => 60 * 60,
            Self::Days => 24 * 60 * 60,
        }
    }

    fn word(self, every: u32) -> &'static str {
        match (self, every == 1) {
            (Self::Minutes, true) => "minute",
            (Self::Minutes, false) => "minutes",
            (Self::Hours, true) => "hour",
            (Self::Hours, false) => "hours",
            (Self::Days, true) => "day",
            (Self::Days, false) => "days",
        }
    }
}

/// The form of an `at` time: `2026-12-31T09:00:00`.
const AT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

fn invalid(message: impl Into<String>) -> ScheduleError {
    ScheduleError::InvalidExpression(message.into())
}

impl Expression {
    /// A five-field cron, validated and put in canonical form (the form AWS reads back as): numbers rather
    /// than names, day-of-week 0-6 (Sunday 0) as a list of ranges, steps from the field's start as `*/n`.
    pub fn cron(five_field: &str) -> Result<Self, ScheduleError> {
        Ok(Self::Cron { five_field: cron::canonical(five_field)? })
    }

    pub fn rate(every: u32, unit: RateUnit) -> Result<Self, ScheduleError> {
        let expression = Self::Rate { every, unit };
        expression.validate()?;
        Ok(expression)
    }

    pub fn at(local: NaiveDateTime) -> Result<Self, ScheduleError> {
        let expression = Self::At { local };
        expression.validate()?;
        Ok(expression)
    }

    /// What a user writes: `rate(5 minutes)`, `at(2026-12-31T09:00:00)`, or a five-field cron (`0 9 * * 1-5`).
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let text = text.trim();
        if text.len() > MAX_EXPRESSION_CHARS {
            return Err(invalid(format!("an expression is at most {MAX_EXPRESSION_CHARS} characters")));
        }
        if let Some(inner) = text.strip_prefix("rate(") {
            let inner = inner.strip_suffix(')').ok_or_else(|| invalid("a rate reads rate(5 minutes)"))?;
            return parse_rate(inner);
        }
        if let Some(inner) = text.strip_prefix("at(") {
            let inner =
                inner.strip_suffix(')').ok_or_else(|| invalid("a one-time schedule reads at(2026-12-31T09:00:00)"))?;
            return parse_at(inner);
        }
        if text.starts_with("cron(") {
            return Err(invalid(
                "write a cron as its five fields, without cron( ): minute hour day-of-month month day-of-week",
            ));
        }
        Self::cron(text)
    }

    /// EventBridge Scheduler's form: `cron(0 9 ? * 2-6 *)`, `rate(5 minutes)`, `at(2026-12-31T09:00:00)`.
    pub fn to_aws(&self) -> Result<String, ScheduleError> {
        self.validate()?;
        match self {
            Self::Cron { five_field } => cron::to_aws(five_field),
            Self::Rate { .. } | Self::At { .. } => Ok(self.to_string()),
        }
    }

    /// Reads EventBridge Scheduler's form back; a cron becomes five fields (refused if it uses what five
    /// fields cannot say: a year, `L`, `W`, `#`).
    pub fn from_aws(text: &str) -> Result<Self, ScheduleError> {
        let text = text.trim();
        if text.starts_with("cron(") {
            return Ok(Self::Cron { five_field: cron::from_aws(text)? });
        }
        Self::parse(text)
    }

    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Self::Cron { five_field } => cron::canonical(five_field).map(drop),
            Self::Rate { every, .. } if *every == 0 => Err(invalid("a rate is at least 1")),
            Self::Rate { .. } => Ok(()),
            Self::At { local } => {
                use chrono::{Datelike, Timelike};
                if local.nanosecond() != 0 {
                    return Err(invalid("a one-time schedule is set in whole seconds"));
                }
                if !(1970..=2199).contains(&local.year()) {
                    return Err(invalid("a one-time schedule's year is 1970 to 2199"));
                }
                Ok(())
            }
        }
    }

    /// The first fire strictly after `after`, in `zone`; `None` if there is none (an `at` in the past).
    /// A rate's fires are one period apart: from `after`, the next is `after` + the period.
    pub fn next_fire(&self, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Cron { five_field } => cron::next_fire(five_field, zone, after),
            Self::Rate { every, unit } => after.checked_add_signed(period(*every, *unit)),
            Self::At { local } => at_instant(zone, *local).filter(|at| *at > after),
        }
    }
}

/// A rate's period.
pub fn period(every: u32, unit: RateUnit) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(i64::from(every) * unit.seconds())
}

/// The instant of a local time in `zone`: the first of two when the clock falls back over it, `None` when it
/// springs forward over it.
pub fn at_instant(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    zone.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
}

fn parse_rate(inner: &str) -> Result<Expression, ScheduleError> {
    let usage = "a rate reads rate(1 minute), rate(5 minutes), rate(2 hours) or rate(1 day)";
    let mut words = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(invalid(usage));
    };
    let every: u32 = value.parse().map_err(|_| invalid(format!("{usage}: {value:?} is not a whole number")))?;
    let unit = match unit {
        "minute" | "minutes" => RateUnit::Minutes,
        "hour" | "hours" => RateUnit::Hours,
        "day" | "days" => RateUnit::Days,
        other => return Err(invalid(format!("{usage}: {other:?} is not minutes, hours or days"))),
    };
    Expression::rate(every, unit)
}

fn parse_at(inner: &str) -> Result<Expression, ScheduleError> {
    let local = NaiveDateTime::parse_from_str(inner.trim(), AT_FORMAT).map_err(|_| {
        invalid(format!(
            "a one-time schedule reads at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-12-31T09:00:00); got {inner:?}"
        ))
    })?;
    Expression::at(local)
}

impl fmt::Display for Expression {
    /// The user's form (what [`Expression::parse`] reads).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cron { five_field } => f.write_str(five_field),
            Self::Rate { every, unit } => write!(f, "rate({every} {})", unit.word(*every)),
            Self::At { local } => write!(f, "at({})", local.format(AT_FORMAT)),
        }
    }
}

impl FromStr for Expression {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One trigger: fires `input` into the workflow queue at each fire time of `expression` in `time_zone`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The schedule group (one per tenant: the tenant id). `[0-9a-zA-Z-_.]{1,64}`.
    pub group: String,
    /// Unique in its group. `[0-9a-zA-Z-_.]{1,64}`.
    pub name: String,
    pub expression: Expression,
    /// An IANA time zone (`Europe/Berlin`, `UTC`).
    pub time_zone: String,
    /// JSON, delivered as the message body (after the context keywords are replaced).
    pub input: String,
    /// A disabled schedule is kept but never fires.
    pub enabled: bool,
}

/// `[0-9a-zA-Z-_.]{1,64}`: EventBridge Scheduler's rule for schedule and group names.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub fn validate_group(group: &str) -> Result<(), ScheduleError> {
    if valid_name(group) { Ok(()) } else { Err(ScheduleError::InvalidGroup) }
}

pub fn validate_name(name: &str) -> Result<(), ScheduleError> {
    if valid_name(name) { Ok(()) } else { Err(ScheduleError::InvalidName) }
}

/// An IANA time zone by name.
pub fn parse_time_zone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>().map_err(|_| ScheduleError::InvalidTimeZone(name.chars().take(64).collect()))
}

impl Schedule {
    pub fn zone(&self) -> Result<Tz, ScheduleError> {
        parse_time_zone(&self.time_zone)
    }

    /// Every check the adapters make before any call.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.normalized().map(drop)
    }

    /// This schedule validated, its cron in canonical form (what both adapters store and return).
    pub fn normalized(&self) -> Result<Schedule, ScheduleError> {
        validate_group(&self.group)?;
        validate_name(&self.name)?;
        let zone = self.zone()?;
        let expression = match &self.expression {
            Expression::Cron { five_field } => Expression::cron(five_field)?,
            other => {
                other.validate()?;
                other.clone()
            }
        };
        if let Expression::At { local } = &expression
            && at_instant(zone, *local).is_none()
        {
            return Err(invalid(format!(
                "{} does not exist in {}: the clock springs forward over it",
                local.format(AT_FORMAT),
                self.time_zone
            )));
        }
        if self.input.is_empty() || self.input.len() > MAX_INPUT_BYTES {
            return Err(ScheduleError::InvalidInput(format!("the input holds 1 to {MAX_INPUT_BYTES} bytes")));
        }
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&self.input) {
            return Err(ScheduleError::InvalidInput(format!("the input is not JSON: {e}")));
        }
        Ok(Schedule { expression, ..self.clone() })
    }

    /// The first fire strictly after `after` (see [`Expression::next_fire`]); `None` if the time zone is
    /// invalid or there is none.
    pub fn next_fire(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expression.next_fire(self.zone().ok()?, after)
    }
}

#[async_trait]
pub trait Schedules: Send + Sync {
    /// Creates or replaces the schedule (creating its group if missing). Refuses an invalid schedule
    /// ([`StoreError::Invalid`]) before any call.
    async fn put(&self, schedule: &Schedule) -> StoreResult<()>;

    /// Idempotent: deleting a missing schedule (or one in a missing group) succeeds.
    async fn delete(&self, group: &str, name: &str) -> StoreResult<()>;

    /// The schedule as stored (its cron in canonical five-field form), or `None`.
    async fn get(&self, group: &str, name: &str) -> StoreResult<Option<Schedule>>;

    /// The names of the group's schedules, sorted; empty for a missing group.
    async fn list(&self, group: &str) -> StoreResult<Vec<String>>;
}

/// Checks shared by both adapters before a call naming a schedule.
pub fn validate_key(group: &str, name: &str) -> StoreResult<()> {
    validate_group(group)?;
    validate_name(name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::{NaiveDate, TimeZone};

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, AT_FORMAT).unwrap()
    }

    fn schedule(expression: &str) -> Schedule {
        Schedule {
            group: "tenant-1".into(),
            name: "nightly".into(),
            expression: Expression::parse(expression).unwrap(),
            time_zone: "Europe/Berlin".into(),
            input: r#"{"workflow":"w1"}"#.into(),
            enabled: true,
        }
    }

    #[test]
    fn rates_parse_and_print_singular_for_one() {
        for (text, every, unit, printed) in [
            ("rate(1 minute)", 1, RateUnit::Minutes, "rate(1 minute)"),
            ("rate(5 minutes)", 5, RateUnit::Minutes, "rate(5 minutes)"),
            ("rate(1 hours)", 1, RateUnit::Hours, "rate(1 hour)"),
            ("rate(2 hours)", 2, RateUnit::Hours, "rate(2 hours)"),
            ("rate( 1 day )", 1, RateUnit::Days, "rate(1 day)"),
            ("rate(30 days)", 30, RateUnit::Days, "rate(30 days)"),
        ] {
            let expression = Expression::parse(text).unwrap();
            assert_eq!(expression, Expression::Rate { every, unit }, "{text}");
            assert_eq!(expression.to_string(), printed);
            assert_eq!(expression.to_aws().unwrap(), printed);
            assert_eq!(Expression::from_aws(printed).unwrap(), expression);
        }
        for bad in
            ["rate(0 minutes)", "rate(5 seconds)", "rate(5)", "rate(-1 minutes)", "rate(1.5 hours)", "rate(5 minutes"]
        {
            assert!(matches!(Expression::parse(bad), Err(ScheduleError::InvalidExpression(_))), "{bad}");
        }
    }

    #[test]
    fn at_parses_whole_seconds_and_round_trips() {
        let expression = Expression::parse("at(2026-12-31T09:00:00)").unwrap();
        assert_eq!(expression, Expression::At { local: local("2026-12-31T09:00:00") });
        assert_eq!(expression.to_aws().unwrap(), "at(2026-12-31T09:00:00)");
        assert_eq!(Expression::from_aws("at(2026-12-31T09:00:00)").unwrap(), expression);
        for bad in
            ["at(2026-12-31 09:00:00)", "at(2026-13-01T00:00:00)", "at(2026-12-31T09:00)", "at(2300-01-01T00:00:00)"]
        {
            assert!(matches!(Expression::parse(bad), Err(ScheduleError::InvalidExpression(_))), "{bad}");
        }
        let fraction = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_milli_opt(0, 0, 0, 5).unwrap();
        assert!(Expression::at(fraction).is_err());
    }

    #[test]
    fn a_cron_is_written_as_five_fields_and_kept_canonical() {
        let expression = Expression::parse(" 0  9 * * MON-FRI ").unwrap();
        assert_eq!(expression, Expression::Cron { five_field: "0 9 * * 1-5".into() });
        assert_eq!(expression.to_aws().unwrap(), "cron(0 9 ? * 2-6 *)");
        assert_eq!(Expression::from_aws("cron(0 9 ? * MON-FRI *)").unwrap(), expression);
        assert!(Expression::parse("cron(0 9 * * ? *)").is_err(), "the AWS form is not what users write");
    }

    #[test]
    fn schedules_validate_group_name_zone_and_input() {
        assert!(schedule("0 2 * * *").validate().is_ok());
        let bad = |f: &dyn Fn(&mut Schedule)| {
            let mut s = schedule("0 2 * * *");
            f(&mut s);
            s.validate().unwrap_err()
        };
        assert_eq!(bad(&|s| s.group = String::new()), ScheduleError::InvalidGroup);
        assert_eq!(bad(&|s| s.group = "a/b".into()), ScheduleError::InvalidGroup);
        assert_eq!(bad(&|s| s.group = "g".repeat(65)), ScheduleError::InvalidGroup);
        assert_eq!(bad(&|s| s.name = "has space".into()), ScheduleError::InvalidName);
        assert_eq!(
            bad(&|s| s.time_zone = "Mars/Olympus".into()),
            ScheduleError::InvalidTimeZone("Mars/Olympus".into())
        );
        assert_eq!(bad(&|s| s.time_zone = String::new()), ScheduleError::InvalidTimeZone(String::new()));
        assert!(matches!(bad(&|s| s.input = "not json".into()), ScheduleError::InvalidInput(_)));
        assert!(matches!(bad(&|s| s.input = String::new()), ScheduleError::InvalidInput(_)));
        let unchecked = |s: &mut Schedule| s.expression = Expression::Cron { five_field: "0 25 * * *".into() };
        assert!(matches!(bad(&unchecked), ScheduleError::InvalidExpression(_)));
        let gap = |s: &mut Schedule| s.expression = Expression::At { local: local("2026-03-29T02:30:00") };
        let message = bad(&gap).to_string();
        assert!(message.contains("does not exist in Europe/Berlin"), "{message}");
        assert!(valid_name("Tenant_1.prod-2") && valid_name(&"a".repeat(64)));
        // Normalising puts the cron in canonical form.
        let mut s = schedule("0 2 * * *");
        s.expression = Expression::Cron { five_field: "0 2 * * sun,sat".into() };
        assert_eq!(s.normalized().unwrap().expression, Expression::Cron { five_field: "0 2 * * 0,6".into() });
    }

    #[test]
    fn next_fire_of_each_kind() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let cron = Expression::parse("30 9 * * 1-5").unwrap();
        // Friday 2026-01-09 10:00 Berlin → Monday 09:30 Berlin (08:30 UTC).
        assert_eq!(cron.next_fire(berlin, utc("2026-01-09T09:00:00Z")), Some(utc("2026-01-12T08:30:00Z")));
        // Strictly after: a fire exactly at `after` is not the next.
        assert_eq!(cron.next_fire(berlin, utc("2026-01-12T08:30:00Z")), Some(utc("2026-01-13T08:30:00Z")));
        let rate = Expression::parse("rate(2 hours)").unwrap();
        assert_eq!(rate.next_fire(berlin, utc("2026-01-09T09:00:00Z")), Some(utc("2026-01-09T11:00:00Z")));
        let at = Expression::parse("at(2026-07-01T12:00:00)").unwrap();
        assert_eq!(at.next_fire(berlin, utc("2026-01-01T00:00:00Z")), Some(utc("2026-07-01T10:00:00Z")));
        assert_eq!(at.next_fire(berlin, utc("2026-07-01T10:00:00Z")), None);
        // An `at` the clock falls back over is the first of the two.
        let twice = Expression::parse("at(2026-10-25T02:30:00)").unwrap();
        assert_eq!(twice.next_fire(berlin, utc("2026-01-01T00:00:00Z")), Some(utc("2026-10-25T00:30:00Z")));
        let s = schedule("0 2 * * *");
        assert_eq!(
            s.next_fire(utc("2026-01-09T09:00:00Z")),
            Some(berlin.with_ymd_and_hms(2026, 1, 10, 2, 0, 0).unwrap().to_utc())
        );
    }
}
