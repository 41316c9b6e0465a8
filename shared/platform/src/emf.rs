//! CloudWatch Embedded Metric Format: a metric is one JSON line on stdout, which CloudWatch Logs turns into
//! a metric on Lambda without an agent or an API call. Off the Lambda runtime nothing is printed.
//!
//! Namespace: `METRICS_NAMESPACE` (template.yaml: `PyAirtable/<stack>`, where the stack's alarms look), else
//! `PyAirtable`. One dimension, `Service`: the group that counted.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The namespace used when `METRICS_NAMESPACE` is unset.
pub const DEFAULT_NAMESPACE: &str = "PyAirtable";

/// Whether lines are printed: on the Lambda runtime (`AWS_LAMBDA_FUNCTION_NAME` set), where CloudWatch reads them.
pub fn enabled() -> bool {
    static ON_LAMBDA: OnceLock<bool> = OnceLock::new();
    *ON_LAMBDA.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

/// The namespace every line is in (`METRICS_NAMESPACE`, else [`DEFAULT_NAMESPACE`]).
pub fn namespace() -> &'static str {
    static NAMESPACE: OnceLock<String> = OnceLock::new();
    NAMESPACE.get_or_init(|| {
        std::env::var("METRICS_NAMESPACE").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.into())
    })
}

/// The EMF line for one value of metric `name` counted by `service`.
pub fn line(namespace: &str, service: &str, name: &str, value: f64, unit: &str, timestamp_ms: i64) -> Value {
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Service"]],
                "Metrics": [{ "Name": name, "Unit": unit }],
            }],
        },
        "Service": service,
    });
    line[name] = json!(value);
    line
}

/// Prints one value of metric `name` (on Lambda only).
pub fn emit(service: &str, name: &str, value: f64, unit: &str) {
    if !enabled() {
        return;
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    print(&line(namespace(), service, name, value, unit, i64::try_from(now).unwrap_or(i64::MAX)));
}

/// Prints one EMF line on stdout.
pub fn print(line: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, line);
    let _ = out.write_all(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_what_cloudwatch_reads() {
        let line = line("PyAirtable/dev", "events", "EventPublishFailures", 1.0, "Count", 1_700_000_000_000);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(directive["Namespace"], "PyAirtable/dev");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "EventPublishFailures", "Unit": "Count"}]));
        // Every dimension and metric the directive names is a member of the line.
        assert_eq!(line["Service"], "events");
        assert_eq!(line["EventPublishFailures"], 1.0);
    }
}
