//! The inference gateway: `POST /v1/chat/completions` (streamed or not) and `/v1/embeddings`,
//! called through the registry. The request's `model` is a model key the caller may read; the
//! registry says where it goes (its base URL and key, its custom provider's, or the org's
//! credentials for its catalog provider), the model's parameters fill in what the request leaves
//! out, and every call is metered. Models whose provider is Anthropic are called through its
//! Messages API, translated both ways (see [`crate::anthropic`]).
//!
//! Upstream addresses are user input: private, loopback, link-local (metadata) and other
//! non-public addresses are refused unless `MODELGATE_EGRESS_ALLOW` names them. The check is on
//! the addresses the connection is really made to (the resolver's answer), so a name that
//! resolves somewhere else later cannot slip through.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_tls::connect::{Connector as TcpConnector, Resolve, Resolver};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, web};
use futures_util::Stream;
use futures_util::future::LocalBoxFuture;
use modelgate_core::gateway::{Protocol, Tokens, Upstream, UsageRecord};
use modelgate_core::{Ctx, DomainError, Subject, Violation};
use modelgate_http::metrics::{
    GATEWAY_CALL_SECONDS, GATEWAY_CALLS, GATEWAY_COST, GATEWAY_FIRST_TOKEN_SECONDS, GATEWAY_TOKENS,
};
use modelgate_http::outbound::{ProviderClient, ProviderFailure, ProviderRequest};
use modelgate_http::{Caller, Deferred, Dialect, Services};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
use openssl::x509::store::X509Lookup;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::openai::{OpenAi, error};
use crate::raw_fields::RawFields;

/// What the operator sets for upstream calls.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    pub egress: EgressPolicy,
    pub connect_timeout: Duration,
    /// The whole call, streams included.
    pub timeout: Duration,
    /// Largest request body: chat requests carry whole conversations and inline images.
    pub body_limit: usize,
    /// The certificate authorities upstream TLS trusts, loaded.
    pub tls: UpstreamTls,
}

/// Upstream TLS: the authorities trusted, and the connector loaded from them once, when the
/// settings are made (clones share it), not by each worker at its first call.
#[derive(Clone, Debug)]
pub struct UpstreamTls {
    trust: TrustStore,
    /// `None` when the authorities could not be loaded: awc's own connector is used then,
    /// which looks in OpenSSL's default places only.
    connector: Option<SslConnector>,
}

impl UpstreamTls {
    pub fn trusting(trust: TrustStore) -> Self {
        let connector = trust
            .connector()
            .map_err(|error| {
                tracing::warn!(
                    %error,
                    ?trust,
                    "upstream TLS: could not load the trusted authorities"
                );
            })
            .ok();
        Self { trust, connector }
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }
}

/// Where upstream TLS finds the certificate authorities it trusts: a bundle file, directories
/// of hashed certificates, or both.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    pub file: Option<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

impl TrustStore {
    /// The system's: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else wherever the distribution
    /// keeps its bundle (Debian's `/etc/ssl/certs/ca-certificates.crt`, Red Hat's
    /// `/etc/pki/tls/certs/ca-bundle.crt`, Alpine's `/etc/ssl/cert.pem`…). The OpenSSL built
    /// into the binary would look only under its own build prefix (`/usr/local/ssl`), which no
    /// distribution fills: every HTTPS upstream failed verification outside the image, whose
    /// environment names the bundle.
    pub fn system() -> Self {
        let found = openssl_probe::probe();
        // SSL_CERT_DIR often names a directory the probe finds as well.
        let mut dirs = Vec::with_capacity(found.cert_dir.len());
        for dir in found.cert_dir {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        Self { file: found.cert_file, dirs }
    }

    /// The TLS connector for upstream calls: peers verified against these authorities (and
    /// OpenSSL's defaults), HTTP/2 or 1.1 offered as awc does by default.
    fn connector(&self) -> Result<SslConnector, openssl::error::ErrorStack> {
        let mut builder = SslConnector::builder(SslMethod::tls())?;
        builder.set_alpn_protos(b"\x02h2\x08http/1.1")?;
        if let Some(file) = &self.file {
            builder.set_ca_file(file)?;
        }
        if !self.dirs.is_empty() {
            let lookup = builder.cert_store_mut().add_lookup(X509Lookup::hash_dir())?;
            for dir in &self.dirs {
                lookup.add_dir(&dir.to_string_lossy(), SslFiletype::PEM)?;
            }
        }
        Ok(builder.build())
    }
}

/// 32 MiB: OpenAI's own request limit is in this range (base64 images in a conversation).
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            egress: EgressPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(600),
            body_limit: DEFAULT_BODY_LIMIT,
            tls: UpstreamTls::trusting(TrustStore::system()),
        }
    }
}

/// Which non-public upstream addresses may be called: CIDRs (`10.0.0.0/8`, `127.0.0.1`) and
/// host names (`ollama.internal`, whose addresses are then allowed whatever they are).
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    networks: Vec<(IpAddr, u8)>,
    hosts: Vec<String>,
}

impl EgressPolicy {
    /// Parses `MODELGATE_EGRESS_ALLOW`: comma-separated CIDRs, addresses and host names.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (address, prefix) = match item.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (item, None),
            };
            match address.parse::<IpAddr>() {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let prefix = match prefix {
                        Some(p) => p
                            .parse::<u8>()
                            .ok()
                            .filter(|p| *p <= max)
                            .ok_or_else(|| format!("{item}: not a CIDR"))?,
                        None => max,
                    };
                    policy.networks.push((ip, prefix));
                }
                Err(_) if prefix.is_none() && !address.contains(['/', ':', ' ']) => {
                    policy.hosts.push(address.to_ascii_lowercase());
                }
                Err(_) => return Err(format!("{item}: not an address, CIDR or host name")),
            }
        }
        Ok(policy)
    }

    fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether `ip` may be called: public addresses always, others when allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        is_public(ip) || self.networks.iter().any(|(net, prefix)| in_network(ip, *net, *prefix))
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Globally routable: not loopback, private, link-local (cloud metadata lives there), shared
/// (CGNAT), unspecified, broadcast, multicast or documentation space.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// An upstream address the policy refuses.
#[derive(Debug)]
struct EgressRefused(String);

impl std::fmt::Display for EgressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upstream address {} is not allowed", self.0)
    }
}

impl std::error::Error for EgressRefused {}

/// Resolves upstream names and drops the addresses the policy refuses: what is connected to is
/// what was checked.
struct EgressResolver(Arc<EgressPolicy>);

impl Resolve for EgressResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move {
            let name = format!("{host}:{port}");
            let found: Vec<SocketAddr> = actix_web::rt::task::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&name).map(Iterator::collect)
            })
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)??;
            if self.0.allows_host(host) {
                return Ok(found);
            }
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|a| self.0.allows(a.ip())).collect();
            match (allowed.is_empty(), found.first()) {
                (true, Some(refused)) => {
                    Err(Box::new(EgressRefused(refused.ip().to_string()))
                        as Box<dyn std::error::Error>)
                }
                _ => Ok(allowed),
            }
        })
    }
}

thread_local! {
    /// One client per worker thread (awc clients are not `Send`), keeping upstream connections
    /// alive between calls; rebuilt if the settings change (tests).
    static CLIENT: RefCell<Option<(usize, awc::Client)>> = const { RefCell::new(None) };
}

fn client(settings: &Arc<GatewaySettings>) -> awc::Client {
    let id = Arc::as_ptr(settings) as usize;
    CLIENT.with(|cell| {
        let mut cell = cell.borrow_mut();
        if let Some((cached, client)) = cell.as_ref()
            && *cached == id
        {
            return client.clone();
        }
        let resolver = Resolver::custom(EgressResolver(Arc::new(settings.egress.clone())));
        let mut connector = awc::Connector::new()
            .connector(TcpConnector::new(resolver).service())
            .timeout(settings.connect_timeout);
        if let Some(tls) = &settings.tls.connector {
            connector = connector.openssl(tls.clone());
        }
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(settings.timeout)
            .disable_redirects()
            .finish();
        *cell = Some((id, client.clone()));
        client
    })
}

fn settings(req: &HttpRequest) -> Arc<GatewaySettings> {
    req.app_data::<web::Data<GatewaySettings>>()
        .map(|d| d.clone().into_inner())
        .unwrap_or_else(|| DEFAULT_SETTINGS.with(Clone::clone))
}

thread_local! {
    static DEFAULT_SETTINGS: Arc<GatewaySettings> = Arc::new(GatewaySettings::default());
}

/// The OpenAI error of a call that never reached an upstream.
fn refusal(status: StatusCode, message: &str, code: &str) -> HttpResponse {
    error(status, message, Some("model"), Some(code))
}

/// Why the registry will not route `model`, in OpenAI's shape.
fn unroutable(model: &str, failure: &DomainError) -> HttpResponse {
    match failure {
        DomainError::NotFound(_) => refusal(
            StatusCode::NOT_FOUND,
            &format!("The model '{model}' does not exist or you do not have access to it."),
            "model_not_found",
        ),
        DomainError::Invalid(errors) => {
            let first = errors.first();
            let message = match first.map(|e| &e.violation) {
                Some(Violation::Invalid { reason }) => reason.clone(),
                _ => format!("The model '{model}' cannot be called."),
            };
            let code = match first.map(|e| &e.subject) {
                Some(Subject::Named("model")) => "model_inactive",
                _ => "upstream_not_configured",
            };
            refusal(StatusCode::BAD_REQUEST, &message, code)
        }
        DomainError::Unauthenticated => modelgate_http::revoked_key::<OpenAi>(),
        other => OpenAi::service_failure(other),
    }
}

/// The request with the model's parameters: the upstream's model name; temperature, top_p,
/// max_tokens and the other sampling settings the request does not set itself; the model's
/// system prompt first unless the request brings its own; and, when `ask_usage` (a stream's),
/// `stream_options.include_usage`.
pub fn merged_chat_body(mut body: RawFields, upstream: &Upstream, ask_usage: bool) -> RawFields {
    body.set("model", &upstream.upstream_model);
    const SAMPLING: [&str; 8] = [
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "stop",
    ];
    for name in SAMPLING {
        if let Some(value) = upstream.params.get(name).filter(|v| !v.is_null())
            && !body.contains(name)
        {
            body.set(name, value);
        }
    }
    // Open WebUI keeps it as `system`, Syft Space as `system_prompt`.
    let system = ["system", "system_prompt"]
        .iter()
        .find_map(|k| upstream.params.get(*k).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty());
    let prompt = system.and_then(|system| {
        let prompt = json!({ "role": "system", "content": system });
        serde_json::value::to_raw_value(&prompt).ok()
    });
    if let Some(prompt) = prompt.as_deref() {
        let with_prompt = body.read::<Vec<&RawValue>>("messages").and_then(|mut messages| {
            let has_own = messages.iter().any(|m| {
                serde_json::from_str::<RoleOf>(m.get())
                    .is_ok_and(|m| m.role.as_deref() == Some("system"))
            });
            if has_own {
                return None;
            }
            messages.insert(0, prompt);
            serde_json::value::to_raw_value(&messages).ok()
        });
        if let Some(messages) = with_prompt {
            body.set_raw("messages", messages);
        }
    }
    if ask_usage {
        // Ask for the usage chunk, which metering needs, whatever the caller asked: it is
        // passed on only to callers that asked for it (see [`Metered`]).
        match body.read::<Value>("stream_options") {
            None => body.set("stream_options", &json!({ "include_usage": true })),
            Some(Value::Object(mut options)) => {
                options.insert("include_usage".into(), Value::Bool(true));
                body.set("stream_options", &options);
            }
            // Not an object (null, say): the upstream says what it makes of it.
            Some(_) => {}
        }
    }
    body
}

/// A message's role, the rest of it skipped.
#[derive(serde::Deserialize)]
struct RoleOf<'a> {
    #[serde(borrow, default)]
    role: Option<std::borrow::Cow<'a, str>>,
}

fn is_stream(request: &RawFields) -> bool {
    request.get("stream").is_some_and(|stream| stream.get() == "true")
}

/// Whether a chat request asks for the usage chunk at the end of its stream.
fn asks_for_usage(request: &RawFields) -> bool {
    request.get("stream_options").is_some_and(|options| {
        serde_json::from_str::<Value>(options.get())
            .is_ok_and(|options| options.get("include_usage") == Some(&Value::Bool(true)))
    })
}

/// The OpenAI operations the gateway forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    ChatCompletions,
    Embeddings,
}

impl Endpoint {
    /// Its name in usage rows.
    fn name(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat.completions",
            Self::Embeddings => "embeddings",
        }
    }

    /// Its path under the upstream's API root.
    fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat/completions",
            Self::Embeddings => "embeddings",
        }
    }
}

/// Where the call goes, what the caller asked, and what is being measured of it.
struct Call {
    services: web::Data<Services>,
    ctx: Ctx,
    key_hash: Option<String>,
    model_key: String,
    upstream_model: String,
    pricing: modelgate_core::model::Pricing,
    endpoint: Endpoint,
    stream: bool,
    started: Instant,
}

impl Call {
    /// Hands the call's usage row to the meter: the caller never waits on it.
    fn meter(self, tokens: Tokens, status: u16, ttft: Option<Duration>) {
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let Call {
            services,
            ctx,
            key_hash,
            model_key,
            upstream_model,
            pricing,
            endpoint,
            stream,
            started,
        } = self;
        let took = started.elapsed();
        let usage = UsageRecord {
            key_hash,
            model_key,
            upstream_model,
            endpoint: endpoint.name(),
            cost: tokens.cost(&pricing),
            tokens,
            latency_ms: millis(took),
            ttft_ms: ttft.map(millis),
            status,
            stream,
            at: chrono::Utc::now(),
        };
        record_metrics(&ctx.actor.org_id, &usage, took, ttft);
        meter(&services, ctx, usage);
    }
}

/// Calls written in one transaction at most (one commit, one fsync, however many calls).
const METER_BATCH: usize = 1_000;

/// How long a metered call may wait for others to share its commit. Each commit is a change of
/// the database, which on Postgres moves the shared check's generation (and on SQLite ended
/// every read cache until the registry's stamp told usage rows apart), so under load each
/// worker's writer commits about this often instead of back to back; a call shows in the usage
/// report about this much later. A second rather than 250 ms: with an upstream that takes 10 ms,
/// the calls that found the cache ended were most of SQLite's p99 (by hand, 16.4–17.8 ms →
/// 15.0–15.1 ms in the handler; the upstream's own p99 was 13 ms).
const METER_INTERVAL: Duration = Duration::from_millis(1_000);

/// A metered call on its way to the writer.
type Metering = std::sync::mpsc::Sender<(Ctx, UsageRecord)>;

thread_local! {
    /// Each worker thread's meter: a writer thread fed through a channel, per registry.
    static METER: RefCell<Option<(usize, Metering)>> = const { RefCell::new(None) };
}

/// The usage writers started so far, waited for at shutdown.
static USAGE_WRITERS: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// Waits, at most `limit`, for the usage writers to write what was metered: each ends once the
/// worker that fed it has stopped and its last batch is written. Called after the servers
/// stopped, so that a graceful stop loses no usage row.
pub fn finish_metering(limit: Duration) {
    let writers = std::mem::take(&mut *USAGE_WRITERS.lock().unwrap_or_else(|p| p.into_inner()));
    let deadline = Instant::now() + limit;
    while writers.iter().any(|w| !w.is_finished()) {
        if Instant::now() >= deadline {
            tracing::error!("usage writers still busy at shutdown: rows may be lost");
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn meter(services: &web::Data<Services>, ctx: Ctx, usage: UsageRecord) {
    let id = Arc::as_ptr(&services.registry) as *const () as usize;
    METER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let sender = match cell.as_ref() {
            Some((cached, sender)) if *cached == id => sender.clone(),
            _ => {
                let (sender, calls) = std::sync::mpsc::channel::<(Ctx, UsageRecord)>();
                let registry = services.registry.clone();
                // Ends when the worker's sender is dropped (the worker stops).
                let spawned = std::thread::Builder::new()
                    .name("modelgate-meter".into())
                    .spawn(move || write_usage(registry, calls));
                match spawned {
                    Ok(writer) => {
                        USAGE_WRITERS.lock().unwrap_or_else(|p| p.into_inner()).push(writer)
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start the usage writer"),
                }
                *cell = Some((id, sender.clone()));
                sender
            }
        };
        if sender.send((ctx, usage)).is_err() {
            tracing::error!("usage writer stopped: a call was not metered");
        }
    });
}

fn write_usage(
    registry: Arc<dyn modelgate_core::Registry>,
    calls: std::sync::mpsc::Receiver<(Ctx, UsageRecord)>,
) {
    let write = |batch: Vec<(Ctx, UsageRecord)>| {
        let count = batch.len();
        if let Err(e) = registry.record_usage(batch) {
            modelgate_http::log_failure(&e);
            tracing::error!(calls = count, "usage rows lost");
        }
    };
    while let Ok(first) = calls.recv() {
        // Asleep rather than waiting on the channel: a call sent meanwhile wakes nobody (no
        // system call on the worker's side).
        std::thread::sleep(METER_INTERVAL);
        let mut batch = vec![first];
        // Everything queued by now, so that the queue never outgrows what one interval brings.
        while let Ok(call) = calls.try_recv() {
            batch.push(call);
            if batch.len() == METER_BATCH {
                write(std::mem::take(&mut batch));
            }
        }
        if !batch.is_empty() {
            write(batch);
        }
    }
    // The channel closes when the worker thread exits, which may be the process exiting: the
    // registry (its pool, the database client library) must not be torn down from this thread
    // meanwhile (seen: a segfault in libpq's teardown). It is left to the end of the process.
    std::mem::forget(registry);
}

/// A model's metric handles: calls by status, durations, token counters (prompt, completion,
/// cached) and, once it has cost something, its cost — a model without prices shows no cost
/// rather than a cost of zero, and one never streamed no time to first token.
struct ModelMetrics {
    /// `org` and `model`, for the handles made as they are first needed.
    labels: [(&'static str, String); 2],
    calls: Vec<(u16, metrics::Counter)>,
    seconds: metrics::Histogram,
    first_token: Option<metrics::Histogram>,
    tokens: [metrics::Counter; 3],
    cost: Option<metrics::Gauge>,
}

impl ModelMetrics {
    fn of(org: &str, model: &str) -> Self {
        let labels = [("org", org.to_owned()), ("model", model.to_owned())];
        let tokens = |kind: &'static str| {
            let [org, model] = labels.clone();
            metrics::counter!(GATEWAY_TOKENS, &[org, model, ("kind", kind.to_owned())])
        };
        Self {
            calls: Vec::new(),
            seconds: metrics::histogram!(GATEWAY_CALL_SECONDS, &labels),
            first_token: None,
            tokens: [tokens("prompt"), tokens("completion"), tokens("cached")],
            cost: None,
            labels,
        }
    }

    fn record(&mut self, usage: &UsageRecord, took: Duration, first_token: Option<Duration>) {
        // A model answers with few statuses: a list is quicker than a map.
        match self.calls.iter().find(|(status, _)| *status == usage.status) {
            Some((_, calls)) => calls.increment(1),
            None => {
                let [org, model] = self.labels.clone();
                let status = ("status", usage.status.to_string());
                let calls = metrics::counter!(GATEWAY_CALLS, &[org, model, status]);
                calls.increment(1);
                self.calls.push((usage.status, calls));
            }
        }
        self.seconds.record(took.as_secs_f64());
        if let Some(first_token) = first_token.filter(|_| usage.stream) {
            let histogram = self.first_token.get_or_insert_with(|| {
                metrics::histogram!(GATEWAY_FIRST_TOKEN_SECONDS, &self.labels)
            });
            histogram.record(first_token.as_secs_f64());
        }
        let counts = [usage.tokens.prompt, usage.tokens.completion, usage.tokens.cached];
        for (counter, count) in self.tokens.iter().zip(counts) {
            counter.increment(u64::try_from(count).unwrap_or(0));
        }
        if let Some(cost) = usage.cost {
            let gauge =
                self.cost.get_or_insert_with(|| metrics::gauge!(GATEWAY_COST, &self.labels));
            gauge.increment(cost);
        }
    }
}

thread_local! {
    /// Each worker's metric handles by org and model key, as the request metrics keep theirs:
    /// looking a labelled metric up in the recorder builds, hashes and compares its labels
    /// every time. By org too: model keys are an org's own, and two orgs' `gpt-4o` are two
    /// models, priced and billed apart.
    static MODEL_METRICS: RefCell<HashMap<String, HashMap<String, ModelMetrics>>> =
        RefCell::new(HashMap::new());
}

/// Counts a call metered for `org`: `took` from its request to the upstream until the answer
/// ended, `first_token` until a stream's first chunk.
fn record_metrics(org: &str, usage: &UsageRecord, took: Duration, first_token: Option<Duration>) {
    // As the request metrics: into modelgate's recorder, installed by now (a handle taken
    // before it was would count nowhere, for good).
    if modelgate_http::metrics::handle().is_none() {
        return;
    }
    MODEL_METRICS.with_borrow_mut(|orgs| {
        // Two lookups for a model seen before; keys are copied only the first time.
        let models = match orgs.get_mut(org) {
            Some(models) => models,
            None => orgs.entry(org.to_owned()).or_default(),
        };
        if let Some(model) = models.get_mut(&usage.model_key) {
            model.record(usage, took, first_token);
            return;
        }
        let mut model = ModelMetrics::of(org, &usage.model_key);
        model.record(usage, took, first_token);
        models.insert(usage.model_key.clone(), model);
    });
}

fn bad_request(message: &str, param: Option<&str>) -> HttpResponse {
    error(StatusCode::BAD_REQUEST, message, param, None)
}

/// An OpenAI error about the upstream (`type` says it was not the request).
fn upstream_error(status: StatusCode, message: &str, code: Option<&str>) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "error": { "message": message, "type": "upstream_error", "param": null, "code": code }
    }))
}

/// The policy refused the upstream's address.
fn egress_refused(refused: &EgressRefused) -> HttpResponse {
    refusal(
        StatusCode::FORBIDDEN,
        &format!("The model's {refused}: an operator may allow it with MODELGATE_EGRESS_ALLOW."),
        "upstream_not_allowed",
    )
}

/// A literal address in `url` that the policy refuses: literals are not resolved, so the
/// resolver's check does not see them.
fn refused_literal(url: &str, egress: &EgressPolicy) -> Option<EgressRefused> {
    let uri = url.parse::<actix_web::http::Uri>().ok()?;
    let ip = uri.host()?.trim_matches(['[', ']']).parse::<IpAddr>().ok()?;
    (!egress.allows(ip)).then(|| EgressRefused(ip.to_string()))
}

/// Why a call to an upstream failed before it answered.
fn failure_of(failure: &awc::error::SendRequestError) -> ProviderFailure {
    use awc::error::{ConnectError, SendRequestError};
    if let SendRequestError::Connect(ConnectError::Resolver(cause)) = failure
        && let Some(refused) = cause.downcast_ref::<EgressRefused>()
    {
        return ProviderFailure::NotAllowed(refused.0.clone());
    }
    match failure {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            ProviderFailure::TimedOut
        }
        other => {
            tracing::warn!(error = %other, "upstream unreachable");
            ProviderFailure::Unreachable
        }
    }
}

/// What went wrong reaching the upstream, in OpenAI's shape.
fn upstream_failure(failure: &awc::error::SendRequestError) -> HttpResponse {
    match failure_of(failure) {
        ProviderFailure::NotAllowed(address) => egress_refused(&EgressRefused(address)),
        ProviderFailure::TimedOut => upstream_error(
            StatusCode::GATEWAY_TIMEOUT,
            "The model's upstream timed out.",
            Some("upstream_timeout"),
        ),
        _ => upstream_error(
            StatusCode::BAD_GATEWAY,
            "The model's upstream could not be reached.",
            Some("upstream_unreachable"),
        ),
    }
}

/// The gateway's client, for the provider calls dialects make (see [`ProviderClient`]): the
/// same egress policy and connection settings as inference, the call's own timeout.
pub struct GatewayProviders;

/// Largest provider answer read (a model list of a few thousand entries).
const PROVIDER_ANSWER_LIMIT: usize = 8 * 1024 * 1024;

impl ProviderClient for GatewayProviders {
    fn call(
        &self,
        req: &HttpRequest,
        request: ProviderRequest,
    ) -> LocalBoxFuture<'static, Result<Value, ProviderFailure>> {
        let settings = settings(req);
        Box::pin(async move {
            let ProviderRequest { url, body, api_key, protocol, timeout } = request;
            let callable = url.parse::<actix_web::http::Uri>().ok().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !callable {
                return Err(ProviderFailure::BadUrl);
            }
            if let Some(refused) = refused_literal(&url, &settings.egress) {
                return Err(ProviderFailure::NotAllowed(refused.0));
            }
            let client = client(&settings);
            // The operator's bound on upstream calls bounds these too.
            let timeout = timeout.min(settings.timeout);
            let call = match body {
                Some(_) => client.post(&url),
                None => client.get(&url),
            }
            .timeout(timeout);
            let call = with_key(call, api_key.as_deref().filter(|k| !k.is_empty()), protocol);
            let answered = async move {
                let mut response = match body {
                    Some(body) => call.send_json(&body).await,
                    None => call.send().await,
                }
                .map_err(|e| failure_of(&e))?;
                let read = response.body().limit(PROVIDER_ANSWER_LIMIT).await;
                let bytes = read.map_err(|_| ProviderFailure::Unreachable)?;
                if !response.status().is_success() {
                    let status = response.status().as_u16();
                    return Err(ProviderFailure::Status { status, message: error_message(&bytes) });
                }
                serde_json::from_slice(&bytes).map_err(|_| ProviderFailure::NotJson)
            };
            actix_web::rt::time::timeout(timeout, answered)
                .await
                .unwrap_or(Err(ProviderFailure::TimedOut))
        })
    }
}

/// The message of a provider's error answer: OpenAI's `error.message`, else a `detail` or
/// `message`, shortened.
fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message =
        [&value["error"]["message"], &value["error"], &value["detail"], &value["message"]]
            .into_iter()
            .find_map(Value::as_str)?;
    Some(message.chars().take(300).collect())
}

/// The caller of a gateway call: taken from memory when this replica remembers the key (no trip
/// to the blocking pool), confirmed by the model's resolution — or, when the call is refused
/// before it gets there, by `modelgate_http::auth::confirm_remembered_caller`.
type GatewayCaller = Caller<OpenAi, Deferred>;

async fn forward(
    req: HttpRequest,
    services: web::Data<Services>,
    caller: GatewayCaller,
    payload: web::Payload,
    endpoint: Endpoint,
) -> HttpResponse {
    let settings = settings(&req);
    let ctx = caller.ctx;
    let read = payload.to_bytes_limited(settings.body_limit).await;
    let model = 'parse: {
        let body = match read {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => {
                break 'parse Err(bad_request("We could not read the body of your request.", None));
            }
            Err(_) => {
                break 'parse Err(error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("The request body is larger than {} bytes.", settings.body_limit),
                    None,
                    Some("request_too_large"),
                ));
            }
        };
        let Some(request) = RawFields::parse(&body) else {
            break 'parse Err(bad_request(
                "We could not parse the JSON body of your request.",
                None,
            ));
        };
        match request.read::<String>("model") {
            // The name is looked up in the registry, where U+0000 is refused everywhere (the
            // rest of the body only goes to the upstream, as written).
            Some(model) if model.contains('\0') => {
                Err(bad_request(modelgate_http::nul::NUL_SENTENCE, Some("model")))
            }
            Some(model) => Ok((request, model)),
            None => Err(bad_request("you must provide a model parameter", Some("model"))),
        }
    };
    let (request, model) = match model {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let lookup_ctx = ctx.clone();
    let lookup_model = model.clone();
    let upstream = match services.read(move |r| r.upstream(&lookup_ctx, &lookup_model)).await {
        Ok(upstream) => upstream,
        Err(e) => return unroutable(&model, &e),
    };
    let anthropic = upstream.protocol == Protocol::Anthropic;
    if anthropic && endpoint == Endpoint::Embeddings {
        let message = format!(
            "The model '{model}' is served by Anthropic's Messages API, which has no embeddings."
        );
        return refusal(StatusCode::BAD_REQUEST, &message, "unsupported_endpoint");
    }
    let stream = endpoint == Endpoint::ChatCompletions && is_stream(&request);
    let shows_usage = asks_for_usage(&request);
    let url = match anthropic {
        true => crate::anthropic::messages_url(&upstream.base_url),
        false => upstream.url(endpoint.path()),
    };
    // Streamed usage is asked for on the caller's behalf unless this upstream refused it; a
    // caller's own `stream_options` goes as it came (usage asked for), refused or not.
    let own_options = request.contains("stream_options");
    let ask_usage = stream && (own_options || !refuses_stream_options(&url));
    let retry_plain = ask_usage && !anthropic && !own_options;
    let outgoing = match endpoint {
        Endpoint::ChatCompletions => merged_chat_body(request, &upstream, ask_usage),
        Endpoint::Embeddings => {
            let mut request = request;
            request.set("model", &upstream.upstream_model);
            request
        }
    };
    let payload = if anthropic {
        match crate::anthropic::messages_request(&outgoing.to_map()) {
            Ok(messages) => serde_json::to_vec(&messages),
            Err(message) => return bad_request(&message, Some("messages")),
        }
    } else {
        serde_json::to_vec(&outgoing)
    };
    let payload = payload.unwrap_or_default();
    let call = Call {
        services,
        key_hash: key_hash_of(&req, &ctx),
        ctx,
        model_key: upstream.model_key.clone(),
        upstream_model: upstream.upstream_model.clone(),
        pricing: upstream.pricing,
        endpoint,
        stream,
        started: Instant::now(),
    };
    // Metered like a refusal at connect time (a name that resolves to a refused address).
    if let Some(refused) = refused_literal(&url, &settings.egress) {
        let answer = egress_refused(&refused);
        call.meter(Tokens::default(), answer.status().as_u16(), None);
        return answer;
    }
    let mut request =
        client(&settings).post(&url).insert_header(("Content-Type", "application/json"));
    request = with_key(request, upstream.api_key.as_ref().map(|k| k.expose()), upstream.protocol);
    if stream {
        request = request.insert_header(("Accept", "text/event-stream"));
    }
    // The decrypted key is not needed past the request line.
    drop(upstream);
    let sent = match retry_plain.then_some(outgoing) {
        Some(outgoing) => send_asking_usage(request, payload, outgoing, &url).await,
        None => request.send_body(payload).await.map(|response| (response, None)),
    };
    let (mut response, read_error) = match sent {
        Ok(sent) => sent,
        Err(failure) => {
            let answer = upstream_failure(&failure);
            call.meter(Tokens::default(), answer.status().as_u16(), None);
            return answer;
        }
    };
    let kept = kept_headers(response.headers());
    let mut answer = async move {
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        if stream && status.is_success() && content_type.starts_with("text/event-stream") {
            let ttfb = call.started.elapsed();
            let inner: Payload = match anthropic {
                true => {
                    Box::pin(crate::anthropic::Translated::new(response.take_payload(), unix_now()))
                }
                false => Box::pin(response.take_payload()),
            };
            let metered = Metered {
                inner,
                call: Some(call),
                ttfb,
                tokens: None,
                pending: Vec::new(),
                shows_usage,
                first_chunk: None,
                status: status.as_u16(),
            };
            // Not compressed, whatever the caller accepts (OpenAI's SDKs ask for gzip): an event
            // of a few bytes would only be wrapped in a compressor's flush of its own, and a
            // compressor is one more place an event could wait. FastAPI's servers (Open
            // WebUI's, LiteLLM's) leave event streams alone too.
            return HttpResponse::build(status)
                .content_type("text/event-stream")
                .insert_header(("Cache-Control", "no-cache"))
                .insert_header((actix_web::http::header::CONTENT_ENCODING, "identity"))
                .streaming(metered);
        }
        let body = match read_error {
            Some(body) => Ok(body),
            None => response.body().limit(UPSTREAM_BODY_LIMIT).await,
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "upstream body unreadable");
                let answer = upstream_failure(&awc::error::SendRequestError::Body(e.into()));
                call.meter(Tokens::default(), answer.status().as_u16(), None);
                return answer;
            }
        };
        let ttfb = call.started.elapsed();
        if !anthropic {
            return openai_answer(call, status, &content_type, body, ttfb);
        }
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        if let Some(answer) = &parsed {
            if status.is_success()
                && let Some(completion) = crate::anthropic::chat_completion(answer, unix_now())
            {
                let tokens =
                    crate::upstream_usage::of_usage(&completion["usage"]).unwrap_or_default();
                call.meter(tokens, status.as_u16(), Some(ttfb));
                return HttpResponse::build(status).json(completion);
            }
            if !status.is_success()
                && let Some((message, kind)) = crate::anthropic::error_of(answer)
            {
                call.meter(Tokens::default(), status.as_u16(), Some(ttfb));
                return upstream_error(status, &message, Some(&kind));
            }
        }
        let usage = parsed
            .filter(Value::is_object)
            .and_then(|answer| crate::upstream_usage::of_usage(&answer["usage"]));
        pass_on(call, status, &content_type, body, ttfb, usage)
    }
    .await;
    // Whatever became of the answer, the caller learns when to retry, as from the upstream.
    let headers = answer.headers_mut();
    for (name, value) in kept {
        headers.insert(name, value);
    }
    answer
}

/// The largest whole answer read from an upstream.
const UPSTREAM_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// How long an upstream that refused `stream_options` is called without it before it is asked
/// again (it may have been upgraded, or Azure's API version changed behind the same URL).
const STREAM_OPTIONS_RECHECK: Duration = Duration::from_secs(3_600);

/// The call URLs whose upstream refused `stream_options`, and when. Bounded: past its size a
/// refusing upstream is simply asked twice each time.
static WITHOUT_STREAM_OPTIONS: std::sync::LazyLock<std::sync::RwLock<HashMap<String, Instant>>> =
    std::sync::LazyLock::new(Default::default);
const WITHOUT_STREAM_OPTIONS_MAX: usize = 4_096;

fn refuses_stream_options(url: &str) -> bool {
    let known = WITHOUT_STREAM_OPTIONS.read().unwrap_or_else(|p| p.into_inner());
    known.get(url).is_some_and(|at| at.elapsed() < STREAM_OPTIONS_RECHECK)
}

/// A streamed call whose caller set no `stream_options`, sent asking for the usage chunk; an
/// upstream that refuses the field gets the call once more without it (its streams are then
/// metered without tokens) and is remembered, so later calls go without it at once. A refusal
/// of anything else comes back with its body already read.
async fn send_asking_usage(
    request: awc::ClientRequest,
    payload: Vec<u8>,
    mut outgoing: RawFields,
    url: &str,
) -> Result<(awc::ClientResponse, Option<Bytes>), awc::error::SendRequestError> {
    let request = request.freeze()?;
    let mut response = request.send_body(payload).await?;
    // A refusal of the field: Azure OpenAI before API version 2024-09-01-preview answers 400
    // "Unrecognized request argument supplied: stream_options", strict OpenAI-compatible
    // servers 400 or 422 naming it.
    let status = response.status().as_u16();
    if !matches!(status, 400 | 422) {
        return Ok((response, None));
    }
    let refusal = match response.body().limit(UPSTREAM_BODY_LIMIT).await {
        Ok(refusal) => refusal,
        Err(e) => return Err(awc::error::SendRequestError::Body(e.into())),
    };
    if !refusal.windows(14).any(|w| w == b"stream_options") {
        return Ok((response, Some(refusal)));
    }
    tracing::warn!(
        status,
        "upstream refused stream_options: its streams are metered without token counts"
    );
    {
        let mut known = WITHOUT_STREAM_OPTIONS.write().unwrap_or_else(|p| p.into_inner());
        if known.len() < WITHOUT_STREAM_OPTIONS_MAX || known.contains_key(url) {
            known.insert(url.to_owned(), Instant::now());
        }
    }
    outgoing.remove("stream_options");
    let body = serde_json::to_vec(&outgoing).unwrap_or_default();
    Ok((request.send_body(body).await?, None))
}

/// The upstream's headers a client acts on: when to retry (`retry-after`, `retry-after-ms` and
/// `x-should-retry`, as OpenAI's SDKs read them) and what is left of its rate limits
/// (`x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`). Its others (its own request ids,
/// cookies, servers) are its own business.
fn kept_headers(
    headers: &actix_web::http::header::HeaderMap,
) -> Vec<(actix_web::http::header::HeaderName, actix_web::http::header::HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            matches!(name, "retry-after" | "retry-after-ms" | "x-should-retry")
                || name.starts_with("x-ratelimit-")
                || name.starts_with("anthropic-ratelimit-")
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The hash of the caller's key, for its usage row: a caller taken from memory carries it.
fn key_hash_of(req: &HttpRequest, ctx: &Ctx) -> Option<String> {
    match &ctx.unconfirmed {
        Some(remembered) => Some(remembered.key_hash.clone()),
        None => modelgate_http::auth::bearer_token(req)
            .map(|key| modelgate_core::identity::hash_api_key(&key)),
    }
}

/// A whole (non-streamed) answer of an OpenAI-compatible upstream, metered and passed on.
fn openai_answer(
    call: Call,
    status: StatusCode,
    content_type: &str,
    body: Bytes,
    ttfb: Duration,
) -> HttpResponse {
    let usage = crate::upstream_usage::of_answer(&body);
    pass_on(call, status, content_type, body, ttfb, usage)
}

/// An upstream's answer passed on as it came, metered with its usage (`None`: none read); an
/// error in OpenAI's shape, which clients parse errors as.
fn pass_on(
    call: Call,
    status: StatusCode,
    content_type: &str,
    body: Bytes,
    ttfb: Duration,
    usage: Option<Tokens>,
) -> HttpResponse {
    call.meter(usage.unwrap_or_default(), status.as_u16(), Some(ttfb));
    if !status.is_success() {
        return openai_shaped_error(status, &body);
    }
    HttpResponse::build(status).content_type(content_type).body(body)
}

/// An upstream's error answer in OpenAI's shape, which typed clients parse strictly. An `error`
/// object with a message keeps its fields (Azure's `innererror` says why content was filtered),
/// its `type`, `param` and `code` made strings or null as OpenAI's are (Azure's `type` is null
/// or absent, vLLM's `code` a number); any other body becomes the message of one.
fn openai_shaped_error(status: StatusCode, body: &[u8]) -> HttpResponse {
    let error = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut answer)) => match answer.remove("error") {
            Some(Value::Object(error)) if error.get("message").is_some_and(Value::is_string) => {
                Some(error)
            }
            _ => None,
        },
        _ => None,
    };
    let Some(mut error) = error else {
        let message = error_message(body)
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(1000).collect());
        return upstream_error(status, &message, None);
    };
    let mut text = |name: &str| match error.remove(name) {
        Some(Value::String(text)) => Value::String(text),
        Some(Value::Number(number)) => Value::String(number.to_string()),
        _ => Value::Null,
    };
    let (kind, param, code) = (text("type"), text("param"), text("code"));
    let kind = if kind.is_null() { Value::from("upstream_error") } else { kind };
    error.insert("type".into(), kind);
    error.insert("param".into(), param);
    error.insert("code".into(), code);
    HttpResponse::build(status).json(json!({ "error": error }))
}

type Payload = Pin<Box<dyn Stream<Item = Result<Bytes, awc::error::PayloadError>>>>;

/// `request` with `key` where the upstream's API takes it: OpenAI's as a bearer token, Azure
/// OpenAI's in `api-key`, Anthropic's in `x-api-key` beside the API version it speaks.
fn with_key(
    request: awc::ClientRequest,
    key: Option<&str>,
    protocol: Protocol,
) -> awc::ClientRequest {
    match (key, protocol) {
        (Some(key), Protocol::OpenAi) => request.bearer_auth(key),
        (Some(key), Protocol::AzureOpenAi) => request.insert_header(("api-key", key)),
        (None, Protocol::OpenAi | Protocol::AzureOpenAi) => request,
        (key, Protocol::Anthropic) => {
            let request = request.insert_header(("anthropic-version", crate::anthropic::VERSION));
            match key {
                Some(key) => request.insert_header(("x-api-key", key)),
                None => request,
            }
        }
    }
}

/// Seconds since the epoch, for the `created` of answers the gateway writes itself.
fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An upstream stream passed through chunk by chunk (pulled only as fast as the caller reads),
/// watching for the usage chunk. Its usage row is written when it ends — completed, failed or
/// dropped because the caller went away (which also drops the upstream connection).
///
/// The upstream is always asked for the usage chunk (metering needs it); a caller that did not
/// ask for it does not get it, as from OpenAI, whose streams then have no chunk without
/// `choices`: clients that read `choices[0]` of every chunk would fail on it. For such a caller
/// the stream is passed on event by event instead, that one event left out.
struct Metered {
    inner: Payload,
    call: Option<Call>,
    ttfb: Duration,
    tokens: Option<Tokens>,
    /// The start of an event split across chunks.
    pending: Vec<u8>,
    /// The caller asked for the usage chunk (`stream_options.include_usage`).
    shows_usage: bool,
    first_chunk: Option<Duration>,
    status: u16,
}

/// Where the first complete server-sent event in `bytes` ends (after its blank line, `\n\n` or
/// `\r\n\r\n`).
fn event_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(newline) = bytes[at..].iter().position(|b| *b == b'\n') {
        let next = at + newline + 1;
        match bytes.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            _ => at = next,
        }
    }
    None
}

impl Metered {
    /// What of `chunk` to pass on, its usage read: all of it for a caller that asked for usage,
    /// else its complete events but the usage chunk (an incomplete one waits for its rest).
    fn pass(&mut self, chunk: Bytes) -> Bytes {
        self.pending.extend_from_slice(&chunk);
        let mut kept = Vec::new();
        let mut start = 0;
        while let Some(end) = event_end(&self.pending[start..]).map(|end| start + end) {
            let event = &self.pending[start..end];
            let (tokens, usage_only) = crate::upstream_usage::of_event(event);
            if tokens.is_some() {
                self.tokens = tokens;
            }
            if !self.shows_usage && !usage_only {
                kept.extend_from_slice(event);
            }
            start = end;
        }
        self.pending.drain(..start);
        if self.shows_usage { chunk } else { Bytes::from(kept) }
    }

    fn finish(&mut self, status: u16) {
        let Some(call) = self.call.take() else { return };
        let ttft = self.first_chunk.unwrap_or(self.ttfb);
        call.meter(self.tokens.unwrap_or_default(), status, Some(ttft));
    }
}

impl Stream for Metered {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.call.is_none() {
            // Ended (and metered): the upstream is not polled past its end.
            return Poll::Ready(None);
        }
        loop {
            match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if self.first_chunk.is_none() {
                        let at = self.call.as_ref().map(|c| c.started.elapsed());
                        self.first_chunk = at;
                    }
                    let passed = self.pass(chunk);
                    // Nothing complete to pass on yet: read on rather than send nothing.
                    if !passed.is_empty() {
                        return Poll::Ready(Some(Ok(passed)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(error = %e, "upstream stream failed");
                    self.finish(StatusCode::BAD_GATEWAY.as_u16());
                    return Poll::Ready(None);
                }
                Poll::Ready(None) => {
                    let status = self.status;
                    self.finish(status);
                    // An unterminated last event is passed on as it came.
                    let rest = std::mem::take(&mut self.pending);
                    if !self.shows_usage && !rest.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(rest))));
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // The caller went away mid-stream (499, as nginx logs it).
        self.finish(499);
    }
}

pub async fn chat_completions(
    req: HttpRequest,
    services: web::Data<Services>,
    caller: GatewayCaller,
    payload: web::Payload,
) -> HttpResponse {
    forward(req, services, caller, payload, Endpoint::ChatCompletions).await
}

pub async fn embeddings(
    req: HttpRequest,
    services: web::Data<Services>,
    caller: GatewayCaller,
    payload: web::Payload,
) -> HttpResponse {
    forward(req, services, caller, payload, Endpoint::Embeddings).await
}

#[cfg(test)]
mod tests {
    use super::*;

    // The OpenSSL built into the binary looks under /usr/local/ssl alone, and only the
    // environment (SSL_CERT_FILE, as the image sets it) pointed it elsewhere: without the
    // system's bundle loaded, no public upstream's certificate would verify. So the check runs
    // again in a process of its own without those variables.
    #[test]
    fn upstream_tls_loads_the_systems_authorities_without_ssl_variables() {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "gateway::tests::system_authorities_load"])
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "{printed}{}", String::from_utf8_lossy(&child.stderr));
        assert!(printed.contains("1 passed"), "{printed}");
    }

    // The check itself: with the environment as it is here, and in the child process above.
    #[test]
    fn system_authorities_load() {
        let trust = TrustStore::system();
        assert!(trust.file.is_some(), "no CA bundle on this machine (ca-certificates): {trust:?}");
        let tls = trust.connector().unwrap();
        let loaded = tls.context().cert_store().all_certificates().len();
        assert!(loaded >= 10, "{loaded} authorities loaded from {trust:?}");
    }

    #[test]
    fn events_end_at_a_blank_line_of_either_kind() {
        assert_eq!(event_end(b"data: 1\n\ndata: 2\n\n"), Some(9));
        assert_eq!(event_end(b"event: x\r\ndata: 1\r\n\r\nrest"), Some(21));
        assert_eq!(event_end(b"data: {\"a\":\n"), None);
        assert_eq!(event_end(b""), None);
    }

    #[test]
    fn private_link_local_and_loopback_addresses_are_refused_unless_allowed() {
        let none = EgressPolicy::default();
        for refused in [
            "169.254.169.254",
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!none.allows(refused.parse().unwrap()), "{refused}");
        }
        for public in ["8.8.8.8", "104.18.1.1", "2606:4700::1111"] {
            assert!(none.allows(public.parse().unwrap()), "{public}");
        }
        let some = EgressPolicy::parse("10.0.0.0/8, 127.0.0.1, ollama.internal").unwrap();
        assert!(some.allows("10.200.0.1".parse().unwrap()));
        assert!(some.allows("127.0.0.1".parse().unwrap()));
        assert!(!some.allows("127.0.0.2".parse().unwrap()));
        assert!(!some.allows("169.254.169.254".parse().unwrap()));
        assert!(some.allows_host("Ollama.Internal"));
        assert!(EgressPolicy::parse("10.0.0.0/40").is_err());
        assert!(EgressPolicy::parse("not a host").is_err());
    }
}
