//! What each listener serves.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use modelgate_http::app::mount;
use modelgate_http::{DatabaseHealth, Services};
use modelgate_openwebui::OpenWebUi;
use modelgate_respan::Respan;
use modelgate_syft::Syft;
use modelgate_xagent::Xagent;
use serde_json::json;

use crate::admin::{self, Admin};
use crate::openai::{self, OpenAi};

/// The process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers; 503 when it does not, within about a second either way: the server's
/// health monitor answers at once while the database is down and otherwise runs a fresh probe
/// bounded by its timeout. Without a monitor (SQLite, tests), a ping bounded by the same timeout.
async fn readyz(services: web::Data<Services>) -> HttpResponse {
    let ready = match &services.health {
        Some(health) => health.check().await,
        None => {
            let ping = services.call(move |registry| registry.ping());
            match actix_web::rt::time::timeout(DatabaseHealth::TIMEOUT, ping).await {
                Ok(Ok(())) => true,
                Ok(Err(error)) => {
                    modelgate_http::log_failure(&error);
                    false
                }
                Err(_) => false,
            }
        }
    };
    if ready {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .json(json!({ "status": "unavailable", "detail": "database unreachable" }))
    }
}

/// `modelgate --version`: the release and the commit it was built from.
pub const VERSION_LINE: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("MODELGATE_GIT_COMMIT"), ")");

#[derive(serde::Serialize)]
struct Version {
    version: &'static str,
    commit: &'static str,
    /// RFC 3339, UTC.
    build_date: String,
}

/// What is running: release, commit and build date (no authentication, like the probes).
async fn version() -> HttpResponse {
    let epoch = env!("MODELGATE_BUILD_EPOCH").parse::<i64>().unwrap_or_default();
    let build_date = chrono::DateTime::from_timestamp(epoch, 0)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    HttpResponse::Ok().json(Version {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("MODELGATE_GIT_COMMIT"),
        build_date,
    })
}

/// `GET /healthz`'s status without a body.
async fn healthz_head() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// `GET /readyz`'s status without a body.
async fn readyz_head(services: web::Data<Services>) -> HttpResponse {
    HttpResponse::build(readyz(services).await.status()).finish()
}

fn health(cfg: &mut web::ServiceConfig) {
    // HEAD too: load balancers and uptime checks often probe with it.
    cfg.service(web::resource("/healthz").get(healthz).route(web::head().to(healthz_head)))
        .service(web::resource("/readyz").get(readyz).route(web::head().to(readyz_head)))
        .service(web::resource("/version").get(version));
}

/// `GET /metrics`, Prometheus' text format (no authentication, as scrapers expect: move it to a
/// listener of its own with `MODELGATE_METRICS_LISTEN` to keep it off a public address).
pub fn metrics(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").get(modelgate_http::metrics::scrape));
}

/// The main listener: health, metrics, the admin API and every dialect under its prefix.
pub fn configure_main(cfg: &mut web::ServiceConfig) {
    metrics(cfg);
    configure_apis(cfg);
}

/// The main listener when metrics have a listener of their own.
pub fn configure_apis(cfg: &mut web::ServiceConfig) {
    health(cfg);
    provider_client(cfg);
    cfg.service(mount::<Admin>("/admin/v1", admin::configure))
        .service(mount::<OpenAi>("/v1", openai::configure))
        .service(mount::<OpenWebUi>("/openwebui", modelgate_openwebui::configure))
        .service(mount::<Xagent>("/xagent", modelgate_xagent::configure))
        .service(mount::<Syft>("/syft", modelgate_syft::configure))
        .service(mount::<Respan>("/respan", modelgate_respan::configure));
    // After the APIs: `/docs/{api}` is a pattern, which actix would try on every API request.
    crate::docs::configure(cfg);
}

/// A dialect's own listener: its routes at the documented root paths, plus health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialectListener {
    OpenWebUi,
    Xagent,
    Syft,
    Respan,
}

impl DialectListener {
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenWebUi => "openwebui",
            Self::Xagent => "xagent",
            Self::Syft => "syft",
            Self::Respan => "respan",
        }
    }

    pub fn configure(self, cfg: &mut web::ServiceConfig) {
        health(cfg);
        provider_client(cfg);
        match self {
            Self::OpenWebUi => cfg.service(mount::<OpenWebUi>("", modelgate_openwebui::configure)),
            Self::Xagent => cfg.service(mount::<Xagent>("", modelgate_xagent::configure)),
            Self::Syft => cfg.service(mount::<Syft>("", modelgate_syft::configure)),
            Self::Respan => cfg.service(mount::<Respan>("", modelgate_respan::configure)),
        };
    }
}

/// The client dialects call providers with (Xagent's connection test, Syft's model lists).
fn provider_client(cfg: &mut web::ServiceConfig) {
    let client: std::sync::Arc<dyn modelgate_http::outbound::ProviderClient> =
        std::sync::Arc::new(crate::gateway::GatewayProviders);
    cfg.app_data(web::Data::from(client));
}
