//! The `modelgate` binary itself: first run with nothing configured, the CLI commands, a
//! per-dialect listener, and graceful shutdown on SIGTERM. Runs on the embedded SQLite default
//! (the Postgres paths of the same code are covered by the other suites).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modelgate_testkit::net::{free_port, wait_until_listening};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_modelgate");

/// The binary run in `dir` with nothing configured but what `env` sets.
fn modelgate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

fn run(dir: &Path, args: &[&str]) -> String {
    let output = modelgate(dir, args, &[]).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A minimal HTTP/1.0 request; returns status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\n");
    if let Some(key) = key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "modelgate did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn first_run_cli_dialect_listener_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let (main_port, xagent_port) = (free_port(), free_port());
    let main_listen = format!("127.0.0.1:{main_port}");
    let xagent_listen = format!("127.0.0.1:{xagent_port}");

    // First run with nothing configured: SQLite under ./data, org `default`, an admin, the
    // admin's key printed once on stdout.
    let mut server = modelgate(
        dir.path(),
        &[],
        &[("MODELGATE_LISTEN", &main_listen), ("MODELGATE_XAGENT_LISTEN", &xagent_listen)],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut printed = String::new();
    let admin_key = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no key printed: {printed}");
        printed.push_str(&line);
        if let Some(key) = line.split_whitespace().find(|w| w.starts_with("mg_")) {
            break key.to_owned();
        }
    };
    assert!(printed.contains("created org 'default'"), "{printed}");
    // It says where the new registry is, so a start from the wrong directory is noticed.
    let db_path = dir.path().join("data/modelgate.db");
    let shown = std::path::absolute(&db_path).unwrap().display().to_string();
    assert!(printed.contains(&format!("a new registry at {shown}")), "{printed}");
    assert!(dir.path().join("data/modelgate.db").is_file());
    assert!(dir.path().join("data/secret.key").is_file());
    wait_until_listening(main_port, &mut server);
    wait_until_listening(xagent_port, &mut server);

    let (status, me) = http(main_port, "GET", "/admin/v1/me", Some(&admin_key), None);
    assert_eq!(status, 200, "{me}");
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(
        (me["org"]["id"].as_str(), me["user"]["role"].as_str()),
        (Some("default"), Some("admin"))
    );
    assert_eq!(http(main_port, "GET", "/readyz", None, None).0, 200);

    // The Xagent listener serves Xagent at its documented root paths (and nothing else).
    let created = http(
        xagent_port,
        "POST",
        "/api/models/",
        Some(&admin_key),
        Some(r#"{"model_id": "root-path", "model_provider": "openai", "model_name": "gpt-4o"}"#),
    );
    assert_eq!(created.0, 200, "{}", created.1);
    let (status, listed) =
        http(main_port, "GET", "/xagent/api/models/root-path", Some(&admin_key), None);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(http(xagent_port, "GET", "/openwebui/api/models/", Some(&admin_key), None).0, 404);

    // The CLI, beside the running server, on the same embedded database.
    let org: Value = serde_json::from_str(&run(
        dir.path(),
        &["org", "create", "--id", "acme", "--name", "Acme"],
    ))
    .unwrap();
    assert_eq!(org["id"], "acme");
    let user: Value = serde_json::from_str(&run(
        dir.path(),
        &["user", "create", "--org", "acme", "--id", "bob", "--name", "Bob", "--role", "admin"],
    ))
    .unwrap();
    assert_eq!((user["org_id"].as_str(), user["role"].as_str()), (Some("acme"), Some("admin")));
    let bob_key =
        run(dir.path(), &["key", "create", "--org", "acme", "--user", "bob"]).trim().to_owned();
    assert!(bob_key.starts_with("mg_"));
    let (status, bob) = http(main_port, "GET", "/admin/v1/me", Some(&bob_key), None);
    assert_eq!(status, 200, "{bob}");
    assert_eq!(serde_json::from_str::<Value>(&bob).unwrap()["org"]["id"], "acme");
    // Bob's org does not see the default org's model.
    assert_eq!(http(main_port, "GET", "/xagent/api/models/root-path", Some(&bob_key), None).0, 404);
    let failed =
        modelgate(dir.path(), &["key", "create", "--org", "acme", "--user", "nobody"], &[])
            .output()
            .unwrap();
    assert!(!failed.status.success());

    // SIGTERM: the server stops cleanly.
    let status = terminate(&mut server);
    assert!(status.success(), "exit status {status:?}");

    // A restart neither bootstraps again nor loses anything.
    let output = modelgate(dir.path(), &["migrate"], &[]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "modelgate: database is up to date");
    let log_path = dir.path().join("again.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut again = modelgate(dir.path(), &[], &[("MODELGATE_LISTEN", &main_listen)])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_until_listening(main_port, &mut again);
    assert_eq!(
        http(main_port, "GET", "/xagent/api/models/root-path", Some(&admin_key), None).0,
        200
    );
    assert!(terminate(&mut again).success());
    // Log lines are written in batches: every one is out by the time the process has exited,
    // the last line of a graceful stop included.
    let logged = std::fs::read_to_string(&log_path).unwrap();
    let request = logged.lines().find(|l| l.contains("path=/xagent/api/models/root-path"));
    assert!(request.is_some_and(|l| l.contains("request finished")), "{logged}");
    assert!(logged.lines().last().is_some_and(|l| l.ends_with("stopped")), "{logged}");
    let mut rest = String::new();
    again.stdout.take().unwrap().read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("mg_"), "a second start printed a key: {rest}");
}

#[test]
fn postgres_without_a_secret_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = modelgate(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("MODELGATE_SECRET_KEY is required with Postgres")
    );
}

#[test]
fn metrics_move_to_their_own_listener_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (main_port, metrics_port) = (free_port(), free_port());
    let main_listen = format!("127.0.0.1:{main_port}");
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let mut server = modelgate(
        dir.path(),
        &[],
        &[("MODELGATE_LISTEN", &main_listen), ("MODELGATE_METRICS_LISTEN", &metrics_listen)],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until_listening(main_port, &mut server);
    wait_until_listening(metrics_port, &mut server);
    assert_eq!(http(main_port, "GET", "/healthz", None, None).0, 200);

    let (status, text) = http(metrics_port, "GET", "/metrics", None, None);
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains(
            "modelgate_http_requests_total{dialect=\"none\",method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    // The built-in catalog is loaded at start and counted.
    let catalog = text
        .lines()
        .find_map(|l| l.strip_prefix("modelgate_catalog_models "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(catalog.is_some_and(|n| n >= 1.0), "{text}");
    // Only there: the main listener no longer serves them, and the metrics listener serves
    // nothing else.
    assert_eq!(http(main_port, "GET", "/metrics", None, None).0, 404);
    assert_eq!(http(metrics_port, "GET", "/v1/models", None, None).0, 404);
    assert!(terminate(&mut server).success());
}

#[test]
fn a_graceful_stop_writes_the_usage_of_calls_answered_just_before() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let key = "mg_binary_test_admin_key_0123456789";
    let upstream = modelgate_testkit::upstream::FakeUpstream::start();
    let env = [
        ("MODELGATE_LISTEN", listen.as_str()),
        ("MODELGATE_BOOTSTRAP_ADMIN_KEY", key),
        ("MODELGATE_EGRESS_ALLOW", "127.0.0.1"),
    ];
    let start = || {
        let mut server = modelgate(dir.path(), &[], &env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until_listening(port, &mut server);
        server
    };
    let mut server = start();
    let model = serde_json::json!({
        "model_id": "metered", "category": "llm", "model_provider": "openai",
        "model_name": "up-model", "base_url": upstream.base_url,
    });
    let created = http(port, "POST", "/xagent/api/models/", Some(key), Some(&model.to_string()));
    assert_eq!(created.0, 200, "{}", created.1);
    let chat = r#"{"model": "metered", "messages": [{"role": "user", "content": "Hi"}]}"#;
    for _ in 0..3 {
        let answered = http(port, "POST", "/v1/chat/completions", Some(key), Some(chat));
        assert_eq!(answered.0, 200, "{}", answered.1);
    }
    // Stopped at once: the rows are still queued for their batch's commit.
    assert!(terminate(&mut server).success());

    let mut again = start();
    let (status, report) = http(port, "GET", "/admin/v1/usage?group_by=model", Some(key), None);
    assert!(terminate(&mut again).success());
    assert_eq!(status, 200, "{report}");
    let rows: Value = serde_json::from_str(&report).unwrap();
    let metered = rows["data"].as_array().unwrap().iter().find(|r| r["group"] == "metered");
    assert_eq!(metered.map(|r| r["requests"].clone()), Some(serde_json::json!(3)), "{report}");
}
