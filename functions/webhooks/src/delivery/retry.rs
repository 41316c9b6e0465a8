//! When to try again: the schedule (`WEBHOOK_RETRY_SCHEDULE`), the receiver's `Retry-After`, and when an
//! endpoint that keeps failing is disabled.

use std::str::FromStr;
use std::time::Duration;

/// A receiver's `Retry-After` is honoured up to this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delay before each retry: after the first attempt fails, the first delay, and so on; when they are
/// spent the message has failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.6 hours.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self(vec![
            Duration::from_secs(5),
            minutes(5),
            minutes(30),
            minutes(120),
            minutes(300),
            minutes(600),
            minutes(600),
        ])
    }
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        Self(delays)
    }

    pub fn retries(&self) -> usize {
        self.0.len()
    }

    /// The delay before retry number `retries_used + 1`, at least what `retry_after` asks (within
    /// [`MAX_RETRY_AFTER`]); `None` when the schedule is spent.
    pub fn next_delay(&self, retries_used: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let scheduled = *self.0.get(usize::try_from(retries_used).ok()?)?;
        Some(scheduled.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER)))
    }
}

impl FromStr for RetrySchedule {
    type Err = String;

    /// `5s,5m,30m,2h` (units `ms`, `s`, `m`, `h`, `d`; a bare number is seconds); empty: no retries.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut delays = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let split = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
            let (number, unit) = part.split_at(split);
            let n: u64 = number.parse().map_err(|_| format!("{part:?} is not a delay such as 30s or 5m"))?;
            let delay = match unit {
                "ms" => Duration::from_millis(n),
                "" | "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n.saturating_mul(60)),
                "h" => Duration::from_secs(n.saturating_mul(3600)),
                "d" => Duration::from_secs(n.saturating_mul(86_400)),
                _ => return Err(format!("{part:?}: the unit is one of ms, s, m, h, d")),
            };
            if delay > Duration::from_secs(7 * 86_400) {
                return Err(format!("{part:?}: at most 7 days"));
            }
            delays.push(delay);
        }
        if delays.len() > 20 {
            return Err("at most 20 retries".into());
        }
        Ok(Self(delays))
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now_secs: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::from_secs(u64::try_from(at.unix_timestamp().saturating_sub(now_secs)).unwrap_or(0)))
}

/// Whether an endpoint failing since `failing_since_ms` has failed long enough to be disabled.
pub fn failed_too_long(failing_since_ms: i64, now_ms: i64, disable_after: Option<Duration>) -> bool {
    disable_after
        .is_some_and(|limit| u128::try_from(now_ms.saturating_sub(failing_since_ms)).unwrap_or(0) >= limit.as_millis())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_default_schedule_is_the_documented_one_and_parses_from_its_spelling() {
        assert_eq!("5s,5m,30m,2h,5h,10h,10h".parse::<RetrySchedule>().unwrap(), RetrySchedule::default());
        assert_eq!(RetrySchedule::default().retries(), 7);
        assert_eq!(
            "250ms, 1, 2s".parse::<RetrySchedule>().unwrap().0,
            [Duration::from_millis(250), Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!("".parse::<RetrySchedule>().unwrap().retries(), 0);
        for bad in ["5x", "s", "-1s", "8d", "1.5s"] {
            assert!(bad.parse::<RetrySchedule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_lengthens_a_delay_but_never_shortens_it_and_the_schedule_ends() {
        let schedule: RetrySchedule = "1s,2s".parse().unwrap();
        assert_eq!(schedule.next_delay(0, None), Some(Duration::from_secs(1)));
        assert_eq!(schedule.next_delay(0, Some(Duration::from_secs(30))), Some(Duration::from_secs(30)));
        assert_eq!(schedule.next_delay(1, Some(Duration::from_millis(10))), Some(Duration::from_secs(2)));
        assert_eq!(schedule.next_delay(0, Some(Duration::from_secs(10 * 86_400))), Some(MAX_RETRY_AFTER));
        assert_eq!(schedule.next_delay(2, None), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn an_endpoint_is_disabled_once_it_has_failed_for_the_configured_days() {
        let day = 86_400_000;
        let five_days = Some(Duration::from_secs(5 * 86_400));
        assert!(!failed_too_long(0, 4 * day, five_days));
        assert!(failed_too_long(0, 5 * day, five_days));
        assert!(!failed_too_long(0, 50 * day, None), "0 days: never");
    }
}
