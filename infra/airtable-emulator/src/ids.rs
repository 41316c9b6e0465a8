//! Airtable-shaped ids (`rec` + 14 alphanumerics) and timestamps (`2024-05-01T12:00:00.000Z`).

use rand::Rng;
use rand::distr::Alphanumeric;

/// A fresh id with Airtable's three-letter prefix: `rec`, `itr`, `fld`, …
pub fn new_id(prefix: &str) -> String {
    let suffix: String = rand::rng().sample_iter(Alphanumeric).take(14).map(char::from).collect();
    format!("{prefix}{suffix}")
}

/// An id that is the same on every run, for seeded data: `prefix` + `name` padded with zeros to 14.
pub fn fixed_id(prefix: &str, name: &str, n: usize) -> String {
    let digits = 14usize.saturating_sub(name.len());
    format!("{prefix}{name}{n:0digits$}")
}

/// Whether `id` looks like an Airtable id with this prefix.
pub fn is_id(prefix: &str, id: &str) -> bool {
    id.len() == prefix.len() + 14
        && id.starts_with(prefix)
        && id[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Now, as Airtable writes `createdTime`: UTC, millisecond precision.
pub fn now_timestamp() -> String {
    timestamp(time::OffsetDateTime::now_utc())
}

pub fn timestamp(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_fourteen_alphanumerics() {
        let id = new_id("rec");
        assert!(is_id("rec", &id), "{id}");
        assert!(!is_id("tbl", &id));
        assert!(is_id("tbl", &fixed_id("tbl", "Projects", 1)));
        assert_eq!(fixed_id("rec", "P", 7), "recP0000000000007");
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_714_564_800_123_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(timestamp(t), "2024-05-01T12:00:00.123Z");
    }
}
