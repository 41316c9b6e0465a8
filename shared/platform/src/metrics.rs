//! Request metrics for every group, the same in both runtimes: a count per (group, route template, method,
//! status), a latency histogram per (group, route template, method), the 5xx count, and business counters the
//! groups add ([`count`]). Labelled by the route's template (`/api/v1/workspaces/{id}`), never by the raw path,
//! so a client cannot grow the label set; a request no route matched is `route="unmatched"`.
//!
//! - The local runner serves them as Prometheus text at `/metrics` ([`prometheus`]).
//! - On Lambda each request also prints one CloudWatch EMF line (`Requests`, `Latency` in milliseconds, `Errors`
//!   with the dimension sets `[Service]` and `[Service, Route]`), and each business count one line of its name;
//!   template.yaml's dashboard and alarms read those names ([`EMF_REQUESTS`], [`EMF_LATENCY`], [`EMF_ERRORS`]).
//!
//! Cost on the request path: a read lock and a few atomic adds once the series exists (a write lock the first
//! time a route answers a status).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

/// The EMF metric names of every HTTP request (template.yaml's dashboard and alarms use them).
pub const EMF_REQUESTS: &str = "Requests";
pub const EMF_LATENCY: &str = "Latency";
pub const EMF_ERRORS: &str = "Errors";

/// The histogram's upper bounds, in seconds.
pub const BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Which group answered: a response extension the group's layer ([`service_layer`]) sets.
#[derive(Clone, Copy, Debug)]
pub struct Service(pub &'static str);

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Default)]
struct RouteSeries {
    /// (method, status) → count.
    statuses: RwLock<Vec<(Method, u16, Arc<AtomicU64>)>>,
    /// method → latency.
    latency: RwLock<Vec<(Method, Arc<Histogram>)>>,
}

/// One app's request series (the runner's, or a Lambda process's), and its per-tenant usage meter.
#[derive(Default)]
pub struct Registry {
    /// service → route template → series (looked up by `&str`: nothing allocated once a series exists).
    routes: RwLock<HashMap<&'static str, HashMap<String, Arc<RouteSeries>>>>,
    usage: Option<Arc<crate::usage::Meter>>,
}

type Counters = RwLock<HashMap<(&'static str, &'static str), Arc<AtomicU64>>>;

/// The business counters: one set per process, counted from anywhere.
fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    COUNTERS.get_or_init(Counters::default)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A registry whose requests are also metered per tenant into `meter`.
    pub fn metering(meter: Arc<crate::usage::Meter>) -> Arc<Self> {
        Arc::new(Self { usage: Some(meter), ..Self::default() })
    }

    fn route(&self, service: &'static str, route: &str) -> Arc<RouteSeries> {
        if let Some(found) = read(&self.routes).get(service).and_then(|routes| routes.get(route)) {
            return found.clone();
        }
        write(&self.routes).entry(service).or_default().entry(route.to_string()).or_default().clone()
    }

    fn observe(&self, service: &'static str, route: &str, method: &Method, status: u16, seconds: f64) {
        let series = self.route(service, route);
        let counter =
            read(&series.statuses).iter().find(|(m, s, _)| m == method && *s == status).map(|(_, _, c)| c.clone());
        let counter = counter.unwrap_or_else(|| {
            let mut statuses = write(&series.statuses);
            match statuses.iter().find(|(m, s, _)| m == method && *s == status) {
                Some((_, _, c)) => c.clone(),
                None => {
                    let c = Arc::new(AtomicU64::new(0));
                    statuses.push((method.clone(), status, c.clone()));
                    c
                }
            }
        });
        counter.fetch_add(1, Ordering::Relaxed);
        let histogram = read(&series.latency).iter().find(|(m, _)| m == method).map(|(_, h)| h.clone());
        let histogram = histogram.unwrap_or_else(|| {
            let mut latency = write(&series.latency);
            match latency.iter().find(|(m, _)| m == method) {
                Some((_, h)) => h.clone(),
                None => {
                    let h = Arc::new(Histogram::default());
                    latency.push((method.clone(), h.clone()));
                    h
                }
            }
        });
        if let Some(at) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[at].fetch_add(1, Ordering::Relaxed);
        }
        histogram.count.fetch_add(1, Ordering::Relaxed);
        histogram.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
}

/// Counts `value` of business counter `name` (`snake_case`; exported as `pyairtable_{name}_total`) for `service`;
/// on Lambda also one EMF line named after it in CamelCase.
pub fn count(service: &'static str, name: &'static str, value: u64) {
    let counter = read(counters()).get(&(service, name)).cloned();
    let counter = counter.unwrap_or_else(|| write(counters()).entry((service, name)).or_default().clone());
    counter.fetch_add(value, Ordering::Relaxed);
    if crate::emf::enabled() {
        crate::emf::emit(service, &emf_name(name), value as f64, "Count");
    }
}

/// A business counter's EMF name: `automation_runs_failed` → `AutomationRunsFailed`.
pub fn emf_name(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Tags the responses of a group's routes with its name (both runtimes apply it to each group's router).
pub fn tag_group(
    router: utoipa_axum::router::OpenApiRouter,
    service: &'static str,
) -> utoipa_axum::router::OpenApiRouter {
    router.layer(axum::middleware::from_fn_with_state(service, tag))
}

/// Tags the answer with the group, and runs an authenticated request in its caller's usage scope (what the
/// group meters counts for the caller's tenant; the scope rides on the answer to [`track`]).
async fn tag(
    axum::extract::State(service): axum::extract::State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let scope = crate::Caller::from_extensions(request.extensions())
        .map(|caller| crate::usage::Scope { tenant_id: caller.tenant_id, user_id: caller.user_id });
    let meter = request.extensions().get::<Arc<crate::usage::Meter>>().cloned();
    let mut response = match (&scope, meter) {
        (Some(scope), Some(meter)) => crate::usage::within(scope.clone(), meter, next.run(request)).await,
        _ => next.run(request).await,
    };
    response.extensions_mut().insert(Service(service));
    if let Some(scope) = scope {
        response.extensions_mut().insert(scope);
    }
    response
}

/// Measures every request into the app's registry (the shell's outermost layer but request ids; after routing,
/// so the route template is known).
pub async fn track(
    axum::extract::State(registry): axum::extract::State<Arc<Registry>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    if let Some(meter) = &registry.usage {
        request.extensions_mut().insert(meter.clone());
    }
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    // A route's group tags its answers; what the local gateway refuses before the group (401, 403, 429) is the
    // gateway's, and what matched no route the shell's.
    let service = match (response.extensions().get::<Service>(), &route) {
        (Some(group), _) => group.0,
        (None, Some(_)) => "gateway",
        (None, None) => "shell",
    };
    let route = route.as_ref().map_or(UNMATCHED, |r| r.as_str());
    let status = response.status().as_u16();
    registry.observe(service, route, &method, status, seconds);
    if let (Some(scope), Some(meter)) = (response.extensions().get::<crate::usage::Scope>(), &registry.usage) {
        meter.request(scope, &method, route, status, seconds);
    }
    if crate::emf::enabled() {
        emit_request(service, route, status, seconds);
    }
    response
}

fn emit_request(service: &str, route: &str, status: u16, seconds: f64) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let line = json!({
        "_aws": {
            "Timestamp": i64::try_from(now).unwrap_or_default(),
            "CloudWatchMetrics": [{
                "Namespace": crate::emf::namespace(),
                "Dimensions": [["Service"], ["Service", "Route"]],
                "Metrics": [
                    {"Name": EMF_REQUESTS, "Unit": "Count"},
                    {"Name": EMF_LATENCY, "Unit": "Milliseconds"},
                    {"Name": EMF_ERRORS, "Unit": "Count"},
                ],
            }],
        },
        "Service": service,
        "Route": route,
        "Status": status,
        EMF_REQUESTS: 1,
        EMF_LATENCY: seconds * 1000.0,
        EMF_ERRORS: u8::from(status >= 500),
    });
    crate::emf::print(&line);
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Everything `registry` counted so far and the process's business counters, as Prometheus text (exposition
/// format 0.0.4).
pub fn prometheus(registry: &Registry) -> String {
    let mut out = String::new();
    let routes: Vec<((&'static str, String), Arc<RouteSeries>)> = read(&registry.routes)
        .iter()
        .flat_map(|(service, routes)| routes.iter().map(|(route, series)| ((*service, route.clone()), series.clone())))
        .collect();
    let mut routes = routes;
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    out.push_str(
        "# HELP pyairtable_http_requests_total Requests answered, by group, route template, method and status.\n",
    );
    out.push_str("# TYPE pyairtable_http_requests_total counter\n");
    for ((service, route), series) in &routes {
        for (method, status, count) in read(&series.statuses).iter() {
            let _ = writeln!(
                out,
                "pyairtable_http_requests_total{{service=\"{}\",route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(service),
                escape(route),
                count.load(Ordering::Relaxed)
            );
        }
    }
    out.push_str("# HELP pyairtable_http_request_errors_total Requests answered with a 5xx, by group, route template and method.\n");
    out.push_str("# TYPE pyairtable_http_request_errors_total counter\n");
    for ((service, route), series) in &routes {
        let mut by_method: Vec<(Method, u64)> = Vec::new();
        for (method, status, count) in read(&series.statuses).iter() {
            let errors = if *status >= 500 { count.load(Ordering::Relaxed) } else { 0 };
            match by_method.iter_mut().find(|(m, _)| m == method) {
                Some((_, n)) => *n += errors,
                None => by_method.push((method.clone(), errors)),
            }
        }
        for (method, errors) in by_method {
            let _ = writeln!(
                out,
                "pyairtable_http_request_errors_total{{service=\"{}\",route=\"{}\",method=\"{method}\"}} {errors}",
                escape(service),
                escape(route)
            );
        }
    }
    out.push_str(
        "# HELP pyairtable_http_request_duration_seconds Time to answer, by group, route template and method.\n",
    );
    out.push_str("# TYPE pyairtable_http_request_duration_seconds histogram\n");
    for ((service, route), series) in &routes {
        for (method, histogram) in read(&series.latency).iter() {
            let labels = format!("service=\"{}\",route=\"{}\",method=\"{method}\"", escape(service), escape(route));
            let mut cumulative = 0;
            for (at, bound) in BUCKETS.iter().enumerate() {
                cumulative += histogram.buckets[at].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "pyairtable_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = histogram.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "pyairtable_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
            let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "pyairtable_http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "pyairtable_http_request_duration_seconds_count{{{labels}}} {count}");
        }
    }
    let mut counters: Vec<((&'static str, &'static str), u64)> =
        read(counters()).iter().map(|(k, v)| (*k, v.load(Ordering::Relaxed))).collect();
    counters.sort();
    let mut named: Vec<&str> = counters.iter().map(|((_, name), _)| *name).collect();
    named.dedup();
    for name in named {
        let _ = writeln!(out, "# HELP pyairtable_{name}_total A business counter of the platform's groups.");
        let _ = writeln!(out, "# TYPE pyairtable_{name}_total counter");
        for ((service, _), value) in counters.iter().filter(|((_, n), _)| *n == name) {
            let _ = writeln!(out, "pyairtable_{name}_total{{service=\"{}\"}} {value}", escape(service));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn series_are_counted_by_template_and_rendered_as_prometheus_text() {
        let registry = Registry::new();
        registry.observe("metrics-test", "/things/{id}", &Method::GET, 200, 0.003);
        registry.observe("metrics-test", "/things/{id}", &Method::GET, 200, 0.2);
        registry.observe("metrics-test", "/things/{id}", &Method::GET, 503, 0.02);
        count("metrics-test", "test_widgets", 2);
        let text = prometheus(&registry);
        assert!(text.contains(
            "pyairtable_http_requests_total{service=\"metrics-test\",route=\"/things/{id}\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "pyairtable_http_request_errors_total{service=\"metrics-test\",route=\"/things/{id}\",method=\"GET\"} 1"
        ));
        assert!(text.contains("le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("pyairtable_test_widgets_total{service=\"metrics-test\"} 2"));
        assert_eq!(emf_name("automation_runs_failed"), "AutomationRunsFailed");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
