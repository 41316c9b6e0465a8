//! Instants as the API shows them: RFC 3339 in UTC with exactly three fractional digits
//! (`2023-11-14T22:13:20.050Z`). Variable precision (the `time` crate's `Rfc3339` drops trailing zeros) would make
//! two instants' strings sort unlike the instants (`…:20Z` after `…:20.050Z`).

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`; empty when out of range.
pub fn rfc3339_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map(|at| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second(),
                at.millisecond()
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ms;

    #[test]
    fn times_have_fixed_millisecond_precision_and_sort_as_strings() {
        assert_eq!(rfc3339_ms(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(rfc3339_ms(1_700_000_000_050), "2023-11-14T22:13:20.050Z");
        assert!(rfc3339_ms(1_700_000_000_000) < rfc3339_ms(1_700_000_000_001));
        assert!(rfc3339_ms(1_699_999_999_999) < rfc3339_ms(1_700_000_000_000));
    }
}
