//! Configuration, from flags or the environment names other tools rely on.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use modelgate_http::cors::CorsOrigins;
use modelgate_store::{Backend, Cipher};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address of the main listener.
    #[arg(long, env = "MODELGATE_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: String,

    /// `postgres://…` for Postgres; otherwise an SQLite file (default: <data dir>/modelgate.db).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where the embedded database and its secret key live.
    #[arg(long, env = "MODELGATE_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Base64 of 32 bytes, the key provider secrets are encrypted with. Required with Postgres;
    /// with SQLite one is generated and kept in the data directory when unset.
    #[arg(long, env = "MODELGATE_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Keys that sealed secrets before the current one (comma-separated base64): still read
    /// while `modelgate rotate-secret-key` moves every secret to the current key.
    #[arg(long, env = "MODELGATE_PREVIOUS_SECRET_KEYS", global = true, hide_env_values = true)]
    pub previous_secret_keys: Option<String>,

    /// On first start (no user yet): the API key of the admin user to create (at least 32
    /// characters, `MIN_BOOTSTRAP_KEY_LEN`).
    #[arg(long, env = "MODELGATE_BOOTSTRAP_ADMIN_KEY", global = true, hide_env_values = true)]
    pub bootstrap_admin_key: Option<String>,

    /// A file holding the database URL (for secrets mounted as files); instead of DATABASE_URL.
    #[arg(long, env = "DATABASE_URL_FILE", global = true)]
    pub database_url_file: Option<PathBuf>,

    /// A file holding the secret key; instead of MODELGATE_SECRET_KEY.
    #[arg(long, env = "MODELGATE_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,

    /// A file holding the bootstrap admin key; instead of MODELGATE_BOOTSTRAP_ADMIN_KEY.
    #[arg(long, env = "MODELGATE_BOOTSTRAP_ADMIN_KEY_FILE", global = true)]
    pub bootstrap_admin_key_file: Option<PathBuf>,

    /// The built-in model catalog file (default: ./catalog/models.json, else the built-in copy).
    #[arg(long, env = "MODELGATE_CATALOG", global = true)]
    pub catalog: Option<PathBuf>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MODELGATE_BODY_LIMIT", default_value_t = modelgate_http::DEFAULT_BODY_LIMIT, global = true)]
    pub body_limit: usize,

    /// Database connections in the pool (default: two per CPU, at least 4).
    #[arg(long, env = "MODELGATE_DB_POOL_SIZE", global = true)]
    pub pool_size: Option<u32>,

    /// HTTP worker threads (default: one per CPU).
    #[arg(long, env = "MODELGATE_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long, env = "MODELGATE_SHUTDOWN_TIMEOUT", default_value_t = 30, global = true)]
    pub shutdown_timeout: u64,

    /// Non-public upstream addresses the gateway may call: comma-separated CIDRs, addresses and
    /// host names (`10.0.0.0/8,127.0.0.1,ollama.internal`). Unset: only public addresses.
    #[arg(long, env = "MODELGATE_EGRESS_ALLOW", value_parser = crate::gateway::EgressPolicy::parse, global = true)]
    pub egress_allow: Option<crate::gateway::EgressPolicy>,

    /// Seconds the gateway waits to connect to an upstream.
    #[arg(long, env = "MODELGATE_UPSTREAM_CONNECT_TIMEOUT", default_value_t = 10, global = true)]
    pub upstream_connect_timeout: u64,

    /// Seconds an upstream call may take in all (streams included).
    #[arg(long, env = "MODELGATE_UPSTREAM_TIMEOUT", default_value_t = 600, global = true)]
    pub upstream_timeout: u64,

    /// Extra listener serving the Open WebUI dialect at its documented root paths.
    #[arg(long, env = "MODELGATE_OPENWEBUI_LISTEN", global = true)]
    pub openwebui_listen: Option<String>,

    /// Extra listener serving the Xagent dialect at its documented root paths.
    #[arg(long, env = "MODELGATE_XAGENT_LISTEN", global = true)]
    pub xagent_listen: Option<String>,

    /// Extra listener serving the Syft Space dialect at its documented root paths.
    #[arg(long, env = "MODELGATE_SYFT_LISTEN", global = true)]
    pub syft_listen: Option<String>,

    /// Extra listener serving the Respan dialect at its documented root paths.
    #[arg(long, env = "MODELGATE_RESPAN_LISTEN", global = true)]
    pub respan_listen: Option<String>,

    /// Serve `GET /metrics` (Prometheus) on this address instead of the main listener, e.g. an
    /// interface only the monitoring network reaches.
    #[arg(long, env = "MODELGATE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,

    /// Origins whose web pages may call the APIs from a browser: a comma-separated list such
    /// as `https://ui.example.com,http://localhost:3000`, or `*` for any. Unset: no
    /// cross-origin access.
    #[arg(long, env = "MODELGATE_CORS_ORIGINS", value_parser = CorsOrigins::parse, global = true)]
    pub cors_origins: Option<CorsOrigins>,

    /// Log line format.
    #[arg(long, env = "MODELGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; the query is dropped too
/// (it may carry a password or key paths).
fn mask_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let masked = match rest.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{credentials}@{host}"),
        },
        None => rest.to_owned(),
    };
    format!("{scheme}://{masked}")
}

/// The shortest bootstrap admin key accepted: it is a long-lived admin credential.
pub const MIN_BOOTSTRAP_KEY_LEN: usize = 32;

/// Reads a secret from a file: surrounding whitespace (a trailing newline) is not part of it.
fn read_secret_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    Ok(text.trim().to_owned())
}

/// Fills `value` from `file` when a file is named; naming both is refused, so it is always clear
/// which one is in force.
fn from_file(
    value: &mut Option<String>,
    file: Option<&Path>,
    names: (&str, &str),
) -> Result<(), ConfigError> {
    let Some(file) = file else { return Ok(()) };
    if value.as_deref().is_some_and(|v| !v.trim().is_empty()) {
        return Err(ConfigError::Invalid(format!(
            "{} and {} are both set; set only one",
            names.0, names.1
        )));
    }
    *value = Some(read_secret_file(file)?);
    Ok(())
}

impl Config {
    /// Reads the `*_FILE` settings into the values they stand for. Run once at start.
    pub fn with_secret_files(mut self) -> Result<Self, ConfigError> {
        from_file(
            &mut self.database_url,
            self.database_url_file.as_deref(),
            ("DATABASE_URL", "DATABASE_URL_FILE"),
        )?;
        from_file(
            &mut self.secret_key,
            self.secret_key_file.as_deref(),
            ("MODELGATE_SECRET_KEY", "MODELGATE_SECRET_KEY_FILE"),
        )?;
        from_file(
            &mut self.bootstrap_admin_key,
            self.bootstrap_admin_key_file.as_deref(),
            ("MODELGATE_BOOTSTRAP_ADMIN_KEY", "MODELGATE_BOOTSTRAP_ADMIN_KEY_FILE"),
        )?;
        Ok(self)
    }

    /// The bootstrap admin key, if one is set; refused when shorter than
    /// [`MIN_BOOTSTRAP_KEY_LEN`] characters.
    pub fn bootstrap_key(&self) -> Result<Option<&str>, ConfigError> {
        let Some(key) =
            self.bootstrap_admin_key.as_deref().map(str::trim).filter(|k| !k.is_empty())
        else {
            return Ok(None);
        };
        if key.chars().count() < MIN_BOOTSTRAP_KEY_LEN {
            return Err(ConfigError::Invalid(format!(
                "MODELGATE_BOOTSTRAP_ADMIN_KEY must be at least {MIN_BOOTSTRAP_KEY_LEN} characters \
                 (e.g. `mg_$(openssl rand -hex 20)`)"
            )));
        }
        Ok(Some(key))
    }

    /// Where the data lives, for logs and the first-run banner: the absolute SQLite path, or the
    /// Postgres server and database with any password masked.
    pub fn database_location(&self) -> String {
        let url = self.database_url();
        if Backend::of_url(&url) == Backend::Postgres {
            return mask_password(&url);
        }
        let path =
            url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(&url);
        std::path::absolute(path).map_or_else(|_| path.to_owned(), |p| p.display().to_string())
    }

    /// The pool's size: as set, else two connections per CPU (at least 4). More connections
    /// than the machine can run at once only queue inside the database: on two cores, 16 of
    /// them left Postgres backends runnable but waiting for 100 ms and more under load (a p99
    /// of 100-300 ms for gateway calls, 11-15 ms with 4), for no more throughput.
    pub fn pool_size(&self) -> u32 {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        self.pool_size.unwrap_or_else(|| pool_size_for(cpus))
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => format!("sqlite://{}", self.data_dir.join("modelgate.db").display()),
        }
    }

    /// The cipher for provider secrets (see `--secret-key`), reading what previous keys sealed.
    pub fn cipher(&self) -> Result<Cipher, ConfigError> {
        let previous: Vec<&str> = self
            .previous_secret_keys
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect();
        self.current_cipher()?
            .with_previous_base64(previous)
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// Where SQLite mode keeps the secret key it generates when none is given.
    pub fn generated_key_path(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    fn current_cipher(&self) -> Result<Cipher, ConfigError> {
        if let Some(key) = self.secret_key.as_deref().filter(|k| !k.trim().is_empty()) {
            return Cipher::from_base64(key).map_err(|e| ConfigError::Invalid(e.to_string()));
        }
        if Backend::of_url(&self.database_url()) == Backend::Postgres {
            return Err(ConfigError::Invalid(
                "MODELGATE_SECRET_KEY is required with Postgres (base64 of 32 bytes, e.g. \
                 `openssl rand -base64 32`): without it, stored provider keys could not be read back"
                    .into(),
            ));
        }
        let path = self.generated_key_path();
        let key = read_or_create_key(&path)?;
        Cipher::from_base64(&key)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io { path: path.to_owned(), source }
}

/// The embedded-mode secret key: read from `path`, or generated there (owner-only) on first run.
fn read_or_create_key(path: &Path) -> Result<String, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(key) => return Ok(key.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    if let Some(dir) = path.parent() {
        modelgate_store::create_private_dir(dir).map_err(io(dir))?;
    }
    let key = Cipher::generate_key_base64();
    write_private(path, &key).map_err(io(path))?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

fn pool_size_for(cpus: usize) -> u32 {
    u32::try_from(cpus.saturating_mul(2)).unwrap_or(u32::MAX).max(4)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Config {
        Probe::try_parse_from(std::iter::once("modelgate").chain(args.iter().copied()))
            .unwrap()
            .config
    }

    #[test]
    fn defaults_run_embedded_on_localhost() {
        let config = parse(&["--data-dir", "/tmp/x"]);
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite:///tmp/x/modelgate.db");
        assert_eq!(config.body_limit, 1024 * 1024);
        assert_eq!(parse(&["--pool-size", "7"]).pool_size(), 7);
    }

    #[test]
    fn the_pool_has_two_connections_per_cpu_and_at_least_four() {
        assert_eq!([1, 2, 3, 8].map(pool_size_for), [4, 4, 6, 16]);
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let url = write("url", "postgres://u:p@db/modelgate\n");
        let key = write("key", &format!("{}\n", Cipher::generate_key_base64()));
        let admin = write("admin", "mg_0123456789abcdef0123456789abcdef\r\n");
        let config = parse(&[
            "--database-url-file",
            &url,
            "--secret-key-file",
            &key,
            "--bootstrap-admin-key-file",
            &admin,
        ])
        .with_secret_files()
        .unwrap();
        assert_eq!(config.database_url(), "postgres://u:p@db/modelgate");
        assert!(config.cipher().is_ok());
        assert_eq!(config.bootstrap_key().unwrap(), Some("mg_0123456789abcdef0123456789abcdef"));

        // Both ways at once is ambiguous; a missing file is an error, not an empty value.
        let both = parse(&["--secret-key", "x", "--secret-key-file", &key]).with_secret_files();
        assert!(
            matches!(both, Err(ConfigError::Invalid(m)) if m.contains("MODELGATE_SECRET_KEY_FILE"))
        );
        let missing = dir.path().join("nope").to_string_lossy().into_owned();
        let absent = parse(&["--database-url-file", &missing]).with_secret_files();
        assert!(matches!(absent, Err(ConfigError::Io { .. })));
    }

    #[test]
    fn previous_keys_are_read_for_rotation() {
        let old = Cipher::generate_key_base64();
        let sealed = Cipher::from_base64(&old).unwrap().encrypt("value", "slot").unwrap();
        let new = Cipher::generate_key_base64();
        let rotating =
            parse(&["--secret-key", &new, "--previous-secret-keys", &format!(" {old} ,")]);
        assert_eq!(rotating.cipher().unwrap().decrypt(&sealed, "slot").unwrap().expose(), "value");
        let bad = parse(&["--secret-key", &new, "--previous-secret-keys", "short"]);
        assert!(matches!(bad.cipher(), Err(ConfigError::Invalid(m)) if m.contains("PREVIOUS")));
    }

    #[test]
    fn the_database_location_is_absolute_and_never_shows_a_password() {
        let sqlite = parse(&["--data-dir", "rel/data"]).database_location();
        assert!(Path::new(&sqlite).is_absolute(), "{sqlite}");
        assert!(sqlite.ends_with("rel/data/modelgate.db"), "{sqlite}");
        let pg = parse(&[
            "--database-url",
            "postgres://mg:s3cret@db.example:5432/modelgate?sslmode=require&password=x",
        ]);
        assert_eq!(pg.database_location(), "postgres://mg:***@db.example:5432/modelgate");
        let no_password = parse(&["--database-url", "postgres://mg@db/modelgate"]);
        assert_eq!(no_password.database_location(), "postgres://mg@db/modelgate");
    }

    #[test]
    fn a_short_bootstrap_key_is_refused() {
        let short = parse(&["--bootstrap-admin-key", "mg_short_key"]);
        assert!(matches!(short.bootstrap_key(), Err(ConfigError::Invalid(m)) if m.contains("32")));
        let exact = "k".repeat(MIN_BOOTSTRAP_KEY_LEN);
        assert_eq!(
            parse(&["--bootstrap-admin-key", &exact]).bootstrap_key().unwrap(),
            Some(exact.as_str())
        );
        assert_eq!(parse(&[]).bootstrap_key().unwrap(), None);
    }

    #[test]
    fn cors_origins_are_checked_at_start() {
        assert_eq!(parse(&[]).cors_origins, None);
        assert_eq!(
            parse(&["--cors-origins", "http://localhost:3000"]).cors_origins,
            Some(CorsOrigins::List(vec!["http://localhost:3000".into()]))
        );
        let refused = Probe::try_parse_from(["modelgate", "--cors-origins", "localhost:3000"]);
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("is not an origin"), "{message}");
    }

    #[test]
    fn postgres_needs_a_secret_key() {
        let config = parse(&["--database-url", "postgres://localhost/db"]);
        assert!(matches!(config.cipher(), Err(ConfigError::Invalid(_))));
        let with_key = parse(&[
            "--database-url",
            "postgres://localhost/db",
            "--secret-key",
            &Cipher::generate_key_base64(),
        ]);
        assert!(with_key.cipher().is_ok());
    }

    #[test]
    fn embedded_key_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("modelgate-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = parse(&["--data-dir", dir.to_str().unwrap()]);
        let first = config.cipher().unwrap().encrypt("value", "slot").unwrap();
        // A second start reads the same key back and can decrypt what the first wrote.
        assert_eq!(config.cipher().unwrap().decrypt(&first, "slot").unwrap().expose(), "value");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
