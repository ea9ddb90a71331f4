//! The README's walkthrough, run as a new user would run it: every shell example from the
//! quickstart to the history of a model, in order, against the binary on a fresh SQLite
//! database, with the README's placeholders filled in. The examples build on each other (a
//! group names alice and bob, a later block reads what an earlier one created), so each HTTP
//! call must succeed and each CLI command must exit 0: a 404 or a 409 means an example is wrong.
//!
//! Left out by rule, and why: `cargo run` (this is the binary it builds) and the streamed chat,
//! whose model calls api.openai.com (the gateway's tests call a local fake upstream instead).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command};

use modelgate_testkit::net::{free_port, wait_until_listening};

const BIN: &str = env!("CARGO_BIN_EXE_modelgate");
const README: &str = include_str!("../../../README.md");
const ADMIN_KEY: &str = "mg_readme_walkthrough_admin_0123456789";

/// Where the walkthrough ends: what follows is operations (health, deploys, backups).
const WALKTHROUGH_END: &str = "\n## Health and a database that stops answering";

/// The shell blocks of the walkthrough, in order.
fn walkthrough_blocks() -> Vec<String> {
    let text = README.split(WALKTHROUGH_END).next().unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence == "```bash" || fence == "```sh" => {
                current = Some(String::new())
            }
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    assert!(blocks.len() >= 10, "the walkthrough's blocks were not found: {}", blocks.len());
    blocks
}

/// A block as a script for this run: continuation lines joined, the server's address, the
/// placeholders filled in, and the commands that cannot run here left out.
fn script_of(block: &str, port: u16, last_user: &mut String) -> String {
    let joined = block.replace("\\\n", " ");
    let mut script = String::new();
    for line in joined.lines() {
        let command = line.trim_start();
        if command.starts_with("cargo ")
            || command.starts_with("export KEY=")
            || command.contains("/v1/chat/completions")
        {
            script.push_str("# (left out) ");
            script.push_str(line);
            script.push('\n');
            continue;
        }
        // The user whose key `<key id>` stands for: the last one named before it.
        for marker in ["--user ", "\"user_id\": \""] {
            if let Some(rest) = command.split(marker).nth(1) {
                *last_user = rest.split(['"', ' ']).next().unwrap_or_default().to_owned();
            }
        }
        let line = line
            .replace("http://localhost:8080", &format!("http://127.0.0.1:{port}"))
            .replace("localhost:8080", &format!("127.0.0.1:{port}"))
            .replace("<key id>", &format!("\"$(key_id_of {last_user})\""))
            .replace("> /etc/bash_completion.d/modelgate", "> /dev/null");
        script.push_str(&line);
        script.push('\n');
    }
    script
}

/// Every `curl` records its status and arguments; `modelgate` is the binary under test.
const PRELUDE: &str = r#"set -euo pipefail
HEADERS="$(mktemp)"
curl() {
    command curl -sS -D "$HEADERS" "$@"
    local args="$*"
    printf '%s\t%s\n' "$(head -n1 "$HEADERS" | cut -d' ' -f2)" "${args//$'\n'/ }" >> "$STATUSES"
}
modelgate() { "$MODELGATE_BIN" "$@"; }
key_id_of() {
    modelgate key list --org default --user "$1" | grep -o '"id": *"[^"]*"' | head -n1 \
        | sed -E 's/.*"([^"]*)"$/\1/'
}
"#;

fn with_env(command: &mut Command, dir: &Path, port: u16) {
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("MODELGATE_DATA_DIR", dir.join("data"))
        .env("MODELGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("MODELGATE_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY)
        .env("MODELGATE_LOG_FORMAT", "json");
}

/// The server under test, stopped however the test ends (a failed assertion included).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, port: u16) -> Server {
    let mut command = Command::new(BIN);
    with_env(&mut command, dir, port);
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = command.stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
    wait_until_listening(port, &mut child);
    Server(child)
}

#[test]
fn the_readme_walkthrough_runs_in_order_without_an_error() {
    let dir = std::env::temp_dir().join(format!("modelgate-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let server = start(&dir, port);

    let statuses = dir.join("statuses.tsv");
    let mut last_user = String::new();
    let mut calls = 0;
    for (index, block) in walkthrough_blocks().iter().enumerate() {
        let script = format!("{PRELUDE}{}", script_of(block, port, &mut last_user));
        let path = dir.join(format!("block-{index}.sh"));
        std::fs::write(&path, &script).unwrap();
        let _ = std::fs::remove_file(&statuses);
        let mut command = Command::new("bash");
        with_env(&mut command, &dir, port);
        let output = command
            .arg(&path)
            .env("KEY", ADMIN_KEY)
            .env("MODELGATE_BIN", BIN)
            .env("STATUSES", &statuses)
            .output()
            .unwrap();
        let said = || {
            format!(
                "block {index}:\n{script}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        };
        assert!(output.status.success(), "{}", said());
        for call in std::fs::read_to_string(&statuses).unwrap_or_default().lines() {
            let (status, args) = call.split_once('\t').unwrap();
            let status: u16 = status.parse().unwrap_or(0);
            assert!((200..400).contains(&status), "{status} for curl {args}\n{}", said());
            calls += 1;
        }
    }
    // The walkthrough calls every dialect; far fewer would mean blocks were skipped.
    assert!(calls >= 50, "only {calls} calls ran");

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
