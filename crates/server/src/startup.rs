//! Start-up: logging, the store, migrations, the catalog, first-run bootstrap, and the listeners.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpServer, web};
use modelgate_core::{Bootstrapped, DomainError, Registry, Secret};
use modelgate_http::cors::CorsOrigins;
use modelgate_http::{DatabaseHealth, Services};
use modelgate_store::{Backend, Cipher, Store, StoreError, StoreOptions};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::app::{self, DialectListener};
use crate::catalog::{self, CatalogError};
use crate::config::{Config, ConfigError, LogFormat};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{context}: {}", describe(.error))]
    Registry { context: &'static str, error: DomainError },
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("not ready")]
    Unhealthy,
    /// A console command that cannot be done, said in one sentence.
    #[error("{0}")]
    Command(String),
    #[error("cannot start the database health monitor: {0}")]
    Health(std::io::Error),
}

/// One sentence for an operator at the console (the cause of an internal error included: the
/// console is not a client).
pub fn describe(error: &DomainError) -> String {
    use crate::admin::{denied_detail, entity_name, field_name, violation_message};
    // The admin API's names, as a word inside a sentence: "user", but "API key".
    let noun = |entity: &modelgate_core::Entity| {
        let name = entity_name(*entity);
        let mut chars = name.chars();
        match (chars.next(), chars.next()) {
            (Some(first), Some(second)) if second.is_lowercase() => {
                first.to_lowercase().chain(name.chars().skip(1)).collect()
            }
            _ => name.to_owned(),
        }
    };
    match error {
        DomainError::NotFound(e) => format!("no such {} there", noun(e)),
        DomainError::Conflict { entity: e, value } => {
            format!("{} '{value}' already exists", noun(e))
        }
        DomainError::Denied(denied) => denied_detail(denied).to_lowercase(),
        DomainError::Invalid(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", field_name(f), violation_message(&f.violation)))
                .collect();
            format!("invalid input ({})", parts.join("; "))
        }
        DomainError::VersionMismatch => "it changed meanwhile; try again".to_owned(),
        DomainError::Unavailable(_) => "the database cannot be reached".to_owned(),
        DomainError::Internal(cause) => format!("internal error ({cause:?})"),
        _ => error.to_string(),
    }
}

fn registry_error(context: &'static str) -> impl FnOnce(DomainError) -> StartError {
    move |error| StartError::Registry { context, error }
}

/// Logs to stderr; `MODELGATE_LOG` (or `RUST_LOG`) sets the filter, default `info`. A serving
/// process writes its lines in batches ([`crate::log_output`]); a command, as they come.
pub fn init_tracing(format: LogFormat, serving: bool) {
    let filter = EnvFilter::try_from_env("MODELGATE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = match serving.then(crate::log_output::start) {
        Some(Ok(batched)) => BoxMakeWriter::new(batched),
        Some(Err(e)) => {
            eprintln!("modelgate: cannot start the log writer, logging line by line: {e}");
            BoxMakeWriter::new(std::io::stderr)
        }
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}

/// Opens the store and brings its schema up to date, waiting up to `wait` for the database.
pub fn open_store(config: &Config, wait: Duration) -> Result<Arc<Store>, StartError> {
    let options = StoreOptions { pool_size: config.pool_size(), ..StoreOptions::default() };
    let store = Store::open(&config.database_url(), config.cipher()?, options)?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match store.migrate() {
            Ok(applied) => {
                if applied > 0 {
                    tracing::info!(applied, backend = store.backend().name(), "migrations applied");
                }
                return Ok(Arc::new(store));
            }
            Err(StoreError::Pool(e)) if std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "database not reachable yet; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Syncs the catalog and bootstraps a first admin when there are no users yet.
pub fn prepare(config: &Config, store: &Store) -> Result<Option<Bootstrapped>, StartError> {
    let (models, origin) = catalog::load(config.catalog.as_deref())?;
    let report = store.sync_catalog(models).map_err(registry_error("catalog sync"))?;
    tracing::info!(
        origin = %origin,
        created = report.created,
        updated = report.updated,
        removed = report.removed,
        unchanged = report.unchanged,
        "catalog synced"
    );
    // Secrets under a previous key, or written by versions that did not bind them to their row,
    // are sealed again under the current key (cheap when there is nothing to do).
    let resealed = store.reseal_secrets().map_err(registry_error("reseal secrets"))?;
    if resealed.resealed > 0 {
        tracing::info!(resealed = resealed.resealed, "secrets sealed again under the current key");
    }
    let admin_key = config.bootstrap_key()?;
    store.bootstrap(admin_key.map(Secret::new)).map_err(registry_error("bootstrap"))
}

/// The one-time announcement of a generated admin key. It goes to stdout, never to the logs.
/// `location` is where the new registry lives: started from another directory by mistake, the
/// operator sees at once that this is a new, empty registry and where it was made.
pub fn announce(done: &Bootstrapped, key_was_given: bool, location: &str) {
    tracing::info!(org = %done.org.id, admin = %done.admin.id, database = %location, "bootstrapped org and admin user");
    if key_was_given {
        println!(
            "modelgate: created org '{}' and admin user '{}' with MODELGATE_BOOTSTRAP_ADMIN_KEY \
             in a new registry at {location}.",
            done.org.name, done.admin.id
        );
        return;
    }
    println!(
        "\n================================================================\n\
         modelgate: a new registry at {location}\n\
         created org '{}' and admin user '{}'.\n\
         Admin API key (shown only this once; keep it somewhere safe):\n\n    {}\n\n\
         ================================================================\n",
        done.org.name,
        done.admin.id,
        done.key.plaintext.expose()
    );
}

/// Runs the main listener and any dialect listeners until a shutdown signal (SIGINT/SIGTERM),
/// then lets in-flight requests finish for up to `shutdown_timeout` seconds.
pub async fn serve(config: Config, registry: Arc<dyn Registry>) -> Result<(), StartError> {
    let url = config.database_url();
    let mut services = Services::new(registry, config.body_limit);
    // SQLite is a local file: it fails or answers, it does not hang on a network.
    if Backend::of_url(&url) == Backend::Postgres {
        services = services.with_health(health_monitor(&url, config.cipher()?)?);
    }
    let services = web::Data::new(services);
    let mut running = Vec::new();

    let metrics_listen = config.metrics_listen.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let mut listeners: Vec<(String, Serves)> = vec![(config.listen.clone(), Serves::Main)];
    if let Some(address) = metrics_listen {
        listeners.push((address.to_owned(), Serves::Metrics));
    }
    for (address, dialect) in [
        (&config.openwebui_listen, DialectListener::OpenWebUi),
        (&config.xagent_listen, DialectListener::Xagent),
        (&config.syft_listen, DialectListener::Syft),
        (&config.respan_listen, DialectListener::Respan),
    ] {
        if let Some(address) = address.as_deref().filter(|a| !a.trim().is_empty()) {
            listeners.push((address.trim().to_owned(), Serves::Dialect(dialect)));
        }
    }

    let cors = config.cors_origins.clone().unwrap_or_default();
    if cors != CorsOrigins::Off {
        tracing::info!(origins = ?cors, "cross-origin calls allowed");
    }
    let gateway = web::Data::new(crate::gateway::GatewaySettings {
        egress: config.egress_allow.clone().unwrap_or_default(),
        connect_timeout: Duration::from_secs(config.upstream_connect_timeout.max(1)),
        timeout: Duration::from_secs(config.upstream_timeout.max(1)),
        body_limit: crate::gateway::DEFAULT_BODY_LIMIT.max(config.body_limit),
        tls: crate::gateway::UpstreamTls::trusting(crate::gateway::TrustStore::system()),
    });
    let trust = gateway.tls.trust();
    match (&trust.file, trust.dirs.as_slice()) {
        (None, []) => tracing::warn!(
            "no CA certificates found (install ca-certificates, or set SSL_CERT_FILE): \
             HTTPS upstreams will fail verification"
        ),
        (file, dirs) => {
            tracing::info!(?file, ?dirs, "upstream TLS trusts the system's certificate authorities")
        }
    }
    let metrics_apart = metrics_listen.is_some();
    if modelgate_http::metrics::handle().is_none() {
        tracing::warn!("another metrics recorder is installed: GET /metrics answers 404");
    }
    for (address, serves) in listeners {
        let services = services.clone();
        let cors = cors.clone();
        let gateway = gateway.clone();
        let mut server = HttpServer::new(move || {
            let app = modelgate_http::app::build(services.clone(), cors.clone());
            app.app_data(gateway.clone()).configure(move |cfg| match serves {
                Serves::Main if metrics_apart => app::configure_apis(cfg),
                Serves::Main => app::configure_main(cfg),
                Serves::Metrics => app::metrics(cfg),
                Serves::Dialect(d) => d.configure(cfg),
            })
        })
        .shutdown_timeout(config.shutdown_timeout);
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        let server = server.bind(&address)?;
        for bound in server.addrs() {
            tracing::info!(address = %bound, serves = serves.name(), "listening");
        }
        running.push(server.run());
    }
    futures_util::future::try_join_all(running).await?;
    // A batch of usage rows may still be waiting for its commit (see the gateway's meter).
    actix_web::rt::task::spawn_blocking(|| crate::gateway::finish_metering(Duration::from_secs(5)))
        .await
        .ok();
    tracing::info!("stopped");
    Ok(())
}

/// What a listener serves.
#[derive(Clone, Copy, Debug)]
enum Serves {
    /// Everything: health, metrics (unless apart), the admin API, every dialect under its prefix.
    Main,
    Metrics,
    Dialect(DialectListener),
}

impl Serves {
    fn name(self) -> &'static str {
        match self {
            Self::Main => "all",
            Self::Metrics => "metrics",
            Self::Dialect(d) => d.name(),
        }
    }
}

/// Starts the database health monitor (see [`modelgate_http::health`]) on the current actix
/// runtime. It probes through a store of its own with one connection: probes queued behind busy
/// request connections would report a loaded database as down, and a probe stuck in a hang would
/// hold one of the requests' connections.
pub fn health_monitor(url: &str, cipher: Cipher) -> Result<Arc<DatabaseHealth>, StartError> {
    // A checkout gives up a little before the probe times out, so that a database refusing
    // connections is logged with its own error rather than as a hang.
    let connect_timeout = DatabaseHealth::TIMEOUT * 3 / 4;
    let options = StoreOptions { pool_size: 1, connect_timeout };
    let probe = Store::open(url, cipher, options)?;
    DatabaseHealth::start(
        Box::new(move || probe.ping()),
        DatabaseHealth::INTERVAL,
        DatabaseHealth::TIMEOUT,
    )
    .map_err(StartError::Health)
}

/// Whether the server listening on `listen` answers `GET /readyz` with 200. A wildcard address
/// is probed on loopback. Plain std networking: the runtime image needs no HTTP client.
pub fn healthcheck(listen: &str, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream, ToSocketAddrs};

    let Some(mut address) = listen.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    if address.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        address = SocketAddr::new(loopback, address.port());
    }
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else { return false };
    let _ = stream.set_read_timeout(Some(timeout));
    let request = format!("GET /readyz HTTP/1.0\r\nHost: {address}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    fn one_shot_server(status_line: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0u8; 256];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(status_line.as_bytes());
            }
        });
        address
    }

    #[test]
    fn healthcheck_reads_the_status_line() {
        assert!(healthcheck(&one_shot_server("HTTP/1.1 200 OK\r\n\r\n"), Duration::from_secs(2)));
        assert!(!healthcheck(
            &one_shot_server("HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            Duration::from_secs(2)
        ));
        assert!(!healthcheck("127.0.0.1:9", Duration::from_millis(200)));
        assert!(!healthcheck("not an address", Duration::from_millis(200)));
    }
}
