//! Prometheus metrics: every request counted and timed by dialect, route template and status, and
//! at each scrape what the registry reports of its pool, caches and model counts.
//!
//! Names and labels are a contract with dashboards and alerts: a test pins them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use modelgate_core::Telemetry;

use crate::Services;

pub const REQUESTS: &str = "modelgate_http_requests_total";
pub const REQUEST_SECONDS: &str = "modelgate_http_request_duration_seconds";
pub const POOL_CONNECTIONS: &str = "modelgate_db_pool_connections";
pub const POOL_MAX: &str = "modelgate_db_pool_max_connections";
pub const POOL_CHECKOUTS: &str = "modelgate_db_pool_checkouts_total";
pub const POOL_WAIT_SECONDS: &str = "modelgate_db_pool_wait_seconds";
pub const POOL_TIMEOUTS: &str = "modelgate_db_pool_timeouts_total";
pub const CACHE_HITS: &str = "modelgate_cache_hits_total";
pub const MODELS: &str = "modelgate_models";
pub const CATALOG_MODELS: &str = "modelgate_catalog_models";
// The gateway's, recorded by its calls, labelled `org` and `model` (the model key called).
pub const GATEWAY_CALLS: &str = "modelgate_gateway_calls_total";
pub const GATEWAY_CALL_SECONDS: &str = "modelgate_gateway_call_duration_seconds";
pub const GATEWAY_FIRST_TOKEN_SECONDS: &str = "modelgate_gateway_time_to_first_token_seconds";
pub const GATEWAY_TOKENS: &str = "modelgate_gateway_tokens_total";
pub const GATEWAY_COST: &str = "modelgate_gateway_cost_usd";

/// Request latency buckets, in seconds: sub-millisecond reads up to slow listings.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Gateway call buckets, in seconds: a local model's first token up to a long generation.
const CALL_BUCKETS: [f64; 14] =
    [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// The label of requests that no dialect answers (health, version, metrics, unknown paths).
const NO_DIALECT: &str = "none";
/// The route label of a request no route matched: its path would make a label per URL.
const UNMATCHED: &str = "unmatched";

/// Which dialect a scope serves, for the `dialect` label, and where it is mounted (see
/// [`crate::app::mount`]).
#[derive(Clone, Copy, Debug)]
pub struct DialectLabel {
    pub name: &'static str,
    pub prefix: &'static str,
}

/// The path a resource of a [`crate::routes::Routes`] table was mounted at: with its scope's
/// prefix, the `route` label, known without walking the routing table again as
/// `HttpRequest::match_pattern` does (regular expressions for every dynamic path tried).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteLabel(pub &'static str);

/// A request's labels but its status, for the handles kept per thread ([`HANDLES`]).
#[derive(PartialEq, Eq, Hash)]
struct RouteKey {
    dialect: &'static str,
    prefix: &'static str,
    path: &'static str,
    method: Method,
}

/// The duration histogram of a route, and its counters by status.
struct RouteHandles {
    seconds: Histogram,
    answered: HashMap<u16, Counter>,
}

thread_local! {
    /// Metric handles by route: registering a labelled metric looks it up in the recorder's
    /// registry (building, hashing and comparing its labels) on every call.
    static HANDLES: RefCell<HashMap<RouteKey, RouteHandles>> = RefCell::new(HashMap::new());
}

/// The process's recorder, installed on first use. `None` when another recorder was installed
/// first (an embedding program's own): requests are then recorded there and not served here.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let full = |name: &str| Matcher::Full(name.to_owned());
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(full(REQUEST_SECONDS), &LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(full(GATEWAY_CALL_SECONDS), &CALL_BUCKETS))
                .and_then(|b| {
                    b.set_buckets_for_metric(full(GATEWAY_FIRST_TOKEN_SECONDS), &CALL_BUCKETS)
                })
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, "HTTP requests answered, by dialect, route template and status.");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "Time to answer an HTTP request.");
    describe_gauge!(POOL_CONNECTIONS, "Database connections open, by state (in_use, idle).");
    describe_gauge!(POOL_MAX, "Database connections the pool may open.");
    describe_counter!(POOL_CHECKOUTS, "Connections taken from the pool.");
    describe_gauge!(
        POOL_WAIT_SECONDS,
        Unit::Seconds,
        "Time spent waiting for a connection since start (only grows; rate() it)."
    );
    describe_counter!(POOL_TIMEOUTS, "Waits for a connection that gave up.");
    describe_counter!(CACHE_HITS, "Reads answered from an in-process cache, by cache.");
    describe_gauge!(MODELS, "Custom models per org.");
    describe_gauge!(CATALOG_MODELS, "Models in the built-in catalog.");
    describe_counter!(GATEWAY_CALLS, "Gateway calls, by org, model and the status answered.");
    describe_histogram!(
        GATEWAY_CALL_SECONDS,
        Unit::Seconds,
        "Time from a gateway call's request to the upstream to the end of its answer, \
         by org and model."
    );
    describe_histogram!(
        GATEWAY_FIRST_TOKEN_SECONDS,
        Unit::Seconds,
        "Time from a streamed gateway call's request to the upstream to its first chunk, \
         by org and model."
    );
    describe_counter!(GATEWAY_TOKENS, "Tokens the upstreams reported, by org, model and kind.");
    describe_gauge!(
        GATEWAY_COST,
        "Cost of gateway calls in USD at the models' prices, by org and model."
    );
}

/// Counts and times one answered request; `request` is the routed request (its match pattern
/// and the dialect of the scope that served it are known then).
pub fn record_request(request: &HttpRequest, status: u16, elapsed: Duration) {
    if handle().is_none() {
        return;
    }
    let dialect = request.app_data::<DialectLabel>();
    let method = request.method();
    let Some(RouteLabel(path)) = request.app_data::<RouteLabel>().copied() else {
        let dialect = dialect.map_or(NO_DIALECT, |d| d.name);
        let route = request.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
        request_seconds(dialect, method, route.clone()).record(elapsed.as_secs_f64());
        requests(dialect, method, route, status).increment(1);
        return;
    };
    let prefix = dialect.map_or("", |d| d.prefix);
    let dialect = dialect.map_or(NO_DIALECT, |d| d.name);
    let route = || format!("{prefix}{path}");
    debug_assert_eq!(request.match_pattern(), Some(route()));
    let key = RouteKey { dialect, prefix, path, method: method.clone() };
    HANDLES.with_borrow_mut(|handles| {
        let handles = handles.entry(key).or_insert_with(|| RouteHandles {
            seconds: request_seconds(dialect, method, route()),
            answered: HashMap::new(),
        });
        handles.seconds.record(elapsed.as_secs_f64());
        let answered = handles.answered.entry(status);
        answered.or_insert_with(|| requests(dialect, method, route(), status)).increment(1);
    });
}

/// The request duration histogram of one dialect, method and route.
fn request_seconds(dialect: &'static str, method: &Method, route: String) -> Histogram {
    let method = method.as_str().to_owned();
    histogram!(REQUEST_SECONDS, "dialect" => dialect, "method" => method, "route" => route)
}

/// The request counter of one dialect, method, route and status.
fn requests(dialect: &'static str, method: &Method, route: String, status: u16) -> Counter {
    let method = method.as_str().to_owned();
    counter!(REQUESTS, "dialect" => dialect, "method" => method, "route" => route, "status" => status.to_string())
}

fn record_telemetry(telemetry: &Telemetry) {
    let pool = &telemetry.pool;
    gauge!(POOL_CONNECTIONS, "state" => "in_use")
        .set(f64::from(pool.connections.saturating_sub(pool.idle)));
    gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    gauge!(POOL_MAX).set(f64::from(pool.max_connections));
    counter!(POOL_CHECKOUTS).absolute(pool.checkouts);
    // Cumulative seconds, a float: the facade's counters are integers.
    gauge!(POOL_WAIT_SECONDS).set(pool.wait_seconds);
    counter!(POOL_TIMEOUTS).absolute(pool.timeouts);
    for (cache, hits) in &telemetry.cache_hits {
        counter!(CACHE_HITS, "cache" => *cache).absolute(*hits);
    }
    for count in &telemetry.models {
        match &count.org_id {
            Some(org) => gauge!(MODELS, "org" => org.clone()).set(count.total as f64),
            None => gauge!(CATALOG_MODELS).set(count.total as f64),
        }
    }
}

/// `GET /metrics` in Prometheus' text format. The registry's figures are read at each scrape;
/// when the database does not answer, the request metrics are served without them.
pub async fn scrape(services: web::Data<Services>) -> HttpResponse {
    let Some(handle) = handle() else {
        return crate::detail(actix_web::http::StatusCode::NOT_FOUND, "Not Found");
    };
    match services.call(|registry| registry.telemetry()).await {
        Ok(telemetry) => record_telemetry(&telemetry),
        Err(error) => crate::log_failure(&error),
    }
    handle.run_upkeep();
    let mut response = HttpResponse::Ok().body(handle.render());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
