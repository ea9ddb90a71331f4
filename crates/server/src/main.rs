//! The `modelgate` binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{FromArgMatches, Parser, Subcommand};
use modelgate_core::{Actor, Ctx, NewUser, Registry, Role};
use modelgate_server::config::Config;
use modelgate_server::startup::{self, StartError};
use modelgate_store::{Backend, StoreError};

#[derive(Parser)]
#[command(
    name = "modelgate",
    version = modelgate_server::app::VERSION_LINE,
    about = "One model registry that speaks Open WebUI, Xagent, Syft Space and Respan."
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Encrypt every stored secret again with the current MODELGATE_SECRET_KEY (old values are
    /// read with MODELGATE_PREVIOUS_SECRET_KEYS); safe beside a running server.
    RotateSecretKey,
    /// Manage orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Write a consistent copy of the SQLite database to FILE, also while servers use it
    /// (Postgres: use pg_dump). Keep the secret key with it: without it the copy's secrets
    /// cannot be read.
    Backup { file: PathBuf },
    /// Put an SQLite backup in place of the database, then bring it up to date. A database
    /// that holds data is replaced only with --replace: stop every server using it first.
    Restore {
        file: PathBuf,
        /// Replace a database that holds data.
        #[arg(long)]
        replace: bool,
    },
    /// Exit 0 when the local server answers `GET /readyz` with 200 (for container health checks).
    Healthcheck,
    /// Recover admin access.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print a shell completion script (e.g. `modelgate completions bash > /etc/bash_completion.d/modelgate`).
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Issue a new API key for an org admin (the first one unless --user is given) and print it:
    /// for when the bootstrap key is lost.
    ResetKey {
        /// The org's id.
        #[arg(long, default_value = "default")]
        org: String,
        /// The admin's user id.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an org; prints it as JSON.
    Create {
        #[arg(long)]
        name: String,
        /// Id of the org (default: a generated uuid).
        #[arg(long)]
        id: Option<String>,
    },
    /// List every org as JSON.
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; prints it as JSON.
    Create {
        /// The org's id.
        #[arg(long, default_value = "default")]
        org: String,
        #[arg(long)]
        name: String,
        /// Id of the user (default: a generated uuid).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// admin, member or viewer.
        #[arg(long, default_value = "member", value_parser = ["admin", "member", "viewer"])]
        role: String,
    },
    /// List the users of an org as JSON.
    List {
        /// The org's id.
        #[arg(long, default_value = "default")]
        org: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue an API key for a user; prints the key (shown only this once).
    Create {
        /// The org's id.
        #[arg(long, default_value = "default")]
        org: String,
        /// The user's id.
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List an org's API keys as JSON (display prefixes only, never the keys).
    List {
        /// The org's id.
        #[arg(long, default_value = "default")]
        org: String,
        /// Only this user's keys.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke an API key by its id (see `key list`): refused from the next request on.
    Revoke {
        /// The org's id.
        #[arg(long, default_value = "default")]
        org: String,
        /// The key's id.
        id: String,
    },
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("modelgate: cannot print result: {e}"),
    }
}

fn console(org: &str) -> Ctx {
    Ctx::new(Actor::system(org), "cli")
}

/// The console acting in `org`, once the org is known to exist (so a typo is "no org 'x'",
/// not a database constraint error).
fn org_console(store: &modelgate_store::Store, org: &str) -> Result<Ctx, StartError> {
    let ctx = console(org);
    match store.get_org(&ctx, org) {
        Ok(_) => Ok(ctx),
        Err(modelgate_core::DomainError::NotFound(_)) => {
            Err(StartError::Command(format!("no org '{org}' (see `modelgate org list`)")))
        }
        Err(e) => Err(registry_failure(e)),
    }
}

fn registry_failure(e: modelgate_core::DomainError) -> StartError {
    StartError::Registry { context: "command", error: e }
}

fn run(cli: Cli) -> Result<(), StartError> {
    let config = cli.config.with_secret_files()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let location = config.database_location();
            tracing::info!(
                backend = Backend::of_url(&config.database_url()).name(),
                database = %location,
                data_dir = %std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone()).display(),
                "registry"
            );
            let store = startup::open_store(&config, Duration::from_secs(60))?;
            if let Some(done) = startup::prepare(&config, &store)? {
                startup::announce(&done, config.bootstrap_admin_key.is_some(), &location);
            }
            let registry: Arc<dyn Registry> = store;
            actix_web::rt::System::new().block_on(startup::serve(config, registry))
        }
        Command::Completions { shell } => {
            use clap_complete::Generator;
            let mut command = command();
            command.set_bin_name("modelgate");
            // A closed pipe (`| head`) is not a failure worth a panic.
            match shell.try_generate(&command, &mut std::io::stdout()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(StartError::Io(e)),
                _ => Ok(()),
            }
        }
        Command::Healthcheck => {
            if startup::healthcheck(&config.listen, Duration::from_secs(3)) {
                Ok(())
            } else {
                Err(StartError::Unhealthy)
            }
        }
        Command::Backup { file } => {
            // Refused before opening: opening would migrate the database first.
            if Backend::of_url(&config.database_url()) == Backend::Postgres {
                return Err(StartError::Command(modelgate_store::POSTGRES_TOOLS.into()));
            }
            let store = startup::open_store(&config, Duration::ZERO)?;
            store.backup_to(&file).map_err(refusal)?;
            println!("modelgate: {} backed up to {}", config.database_location(), file.display());
            println!("modelgate: keep {} with it", secret_key_origin(&config));
            Ok(())
        }
        Command::Restore { file, replace } => {
            modelgate_store::restore_sqlite(&file, &config.database_url(), replace)
                .map_err(refusal)?;
            startup::open_store(&config, Duration::ZERO)?;
            println!("modelgate: {} restored from {}", config.database_location(), file.display());
            Ok(())
        }
        Command::Migrate => {
            startup::open_store(&config, Duration::from_secs(60))?;
            println!("modelgate: database is up to date");
            Ok(())
        }
        Command::RotateSecretKey => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            let done = store.reseal_secrets().map_err(registry_failure)?;
            println!(
                "modelgate: {} secrets now under key {} ({} were already); the previous keys are \
                 no longer needed",
                done.resealed,
                store.cipher().current_key_id(),
                done.already_current
            );
            Ok(())
        }
        Command::Org(OrgCommand::List) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            print_json(&store.list_orgs(&console("default")).map_err(registry_failure)?);
            Ok(())
        }
        Command::User(UserCommand::List { org }) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            let ctx = org_console(&store, &org)?;
            print_json(&store.list_users(&ctx).map_err(registry_failure)?);
            Ok(())
        }
        Command::Key(KeyCommand::List { org, user }) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            let ctx = org_console(&store, &org)?;
            let mut keys = store.list_api_keys(&ctx).map_err(registry_failure)?;
            if let Some(user) = user {
                keys.retain(|k| k.user_id == user);
            }
            print_json(&keys);
            Ok(())
        }
        Command::Key(KeyCommand::Revoke { org, id }) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            let ctx = org_console(&store, &org)?;
            print_json(&store.revoke_api_key(&ctx, &id).map_err(registry_failure)?);
            Ok(())
        }
        Command::Admin(AdminCommand::ResetKey { org, user }) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            let ctx = org_console(&store, &org)?;
            let users = store.list_users(&ctx).map_err(registry_failure)?;
            let admin = users.iter().find(|u| {
                u.role == Role::Admin && user.as_deref().is_none_or(|wanted| u.id == wanted)
            });
            let Some(admin) = admin else {
                return Err(StartError::Command(match user {
                    Some(user) => format!("'{user}' is not an admin of org '{org}'"),
                    None => format!("org '{org}' has no admin"),
                }));
            };
            let issued = store
                .create_api_key(&ctx, Some(admin.id.clone()), "reset-key".into())
                .map_err(registry_failure)?;
            eprintln!("modelgate: new API key for admin '{}' of org '{org}':", admin.id);
            println!("{}", issued.plaintext.expose());
            Ok(())
        }
        Command::Org(OrgCommand::Create { name, id }) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            let org = store.create_org(&console("default"), id, name).map_err(registry_failure)?;
            print_json(&org);
            Ok(())
        }
        Command::User(UserCommand::Create { org, name, id, email, role }) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            org_console(&store, &org)?;
            let role = Role::parse(&role).unwrap_or(Role::Member);
            let user = store
                .create_user(
                    &console(&org),
                    NewUser { id, org_id: Some(org.clone()), name, email, role },
                )
                .map_err(registry_failure)?;
            print_json(&user);
            Ok(())
        }
        Command::Key(KeyCommand::Create { org, user, name }) => {
            let store = startup::open_store(&config, Duration::ZERO)?;
            let ctx = org_console(&store, &org)?;
            let issued = store.create_api_key(&ctx, Some(user), name).map_err(registry_failure)?;
            println!("{}", issued.plaintext.expose());
            Ok(())
        }
    }
}

/// A refusal said as it is; other store failures keep their prefix.
fn refusal(error: StoreError) -> StartError {
    match error {
        StoreError::Config(sentence) => StartError::Command(sentence),
        other => other.into(),
    }
}

/// Where the key that seals the stored secrets comes from, for the backup reminder.
fn secret_key_origin(config: &Config) -> String {
    match (&config.secret_key_file, &config.secret_key) {
        (Some(file), _) => format!("the secret key file {}", file.display()),
        (None, Some(_)) => "MODELGATE_SECRET_KEY".to_owned(),
        (None, None) => format!("the secret key {}", config.generated_key_path().display()),
    }
}

/// The settings each command reads (`None`: all of them). Its `--help` shows only these; the
/// others are still accepted, since they are global, so a shared environment or a wrapper script
/// that passes them everywhere keeps working.
fn settings_read_by(command: &str) -> Option<&'static [&'static str]> {
    const STORE: &[&str] = &[
        "database_url",
        "database_url_file",
        "data_dir",
        "secret_key",
        "secret_key_file",
        "previous_secret_keys",
        "log_format",
    ];
    match command {
        "serve" => None,
        "healthcheck" => Some(&["listen"]),
        "completions" => Some(&[]),
        _ => Some(STORE),
    }
}

/// The command line, with each subcommand's unused settings hidden from its help.
fn command() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    // Building copies the global settings into every subcommand, where they can be hidden.
    command.build();
    let settings: Vec<String> = command
        .get_arguments()
        .filter(|arg| arg.is_global_set())
        .map(|arg| arg.get_id().to_string())
        .collect();
    for sub in command.get_subcommands_mut() {
        if let Some(read) = settings_read_by(sub.get_name()) {
            hide_settings(sub, &settings, read);
        }
    }
    command
}

fn hide_settings(command: &mut clap::Command, settings: &[String], read: &[&str]) {
    let unused = |id: &str| settings.iter().any(|s| s == id) && !read.contains(&id);
    let taken = std::mem::replace(command, clap::Command::new("modelgate"));
    *command = taken.mut_args(|arg| {
        let hide = unused(arg.get_id().as_str());
        arg.hide(hide)
    });
    for sub in command.get_subcommands_mut() {
        hide_settings(sub, settings, read);
    }
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let serving = matches!(cli.command, None | Some(Command::Serve));
    startup::init_tracing(cli.config.log_format, serving);
    let result = run(cli);
    modelgate_server::log_output::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("modelgate: {error}");
            ExitCode::FAILURE
        }
    }
}
