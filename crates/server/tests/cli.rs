//! The console commands an operator runs beside a server, through the real binary, on SQLite
//! and on Postgres: listing orgs, users and keys, revoking a key, recovering admin access, and
//! errors said in one sentence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use modelgate_core::Registry;
use modelgate_testkit::{TEST_SECRET_KEY, TestDb, backend_tests};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_modelgate");

fn base64_key() -> String {
    // 32 bytes of 42 ('*'), base64 by hand: the test kit's fixed key.
    assert_eq!(TEST_SECRET_KEY, [42; 32]);
    "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".to_owned()
}

fn cli(db: &TestDb, args: &[&str]) -> Output {
    cli_on(&db.url, args)
}

fn cli_on(url: &str, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("MODELGATE_SECRET_KEY", base64_key())
        .env("MODELGATE_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = cli(db, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json(db: &TestDb, args: &[&str]) -> Value {
    serde_json::from_str(&ok(db, args)).unwrap()
}

/// The one line a failing command prints.
fn refused(db: &TestDb, args: &[&str]) -> String {
    let out = cli(db, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("modelgate: ")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0].to_owned()
}

backend_tests! {
    fn the_console_lists_revokes_and_recovers(db) {
        db.bootstrap();
        let orgs = json(&db, &["org", "list"]);
        assert!(orgs.as_array().unwrap().iter().any(|o| o["id"] == "default"), "{orgs}");

        ok(&db, &["user", "create", "--org", "default", "--id", "alice", "--name", "Alice"]);
        let users = json(&db, &["user", "list", "--org", "default"]);
        assert!(users.as_array().unwrap().iter().any(|u| u["id"] == "alice" && u["role"] == "member"));

        let key = ok(&db, &["key", "create", "--org", "default", "--user", "alice"]).trim().to_owned();
        assert!(db.store.authenticate(&key).unwrap().is_some());
        let listed = json(&db, &["key", "list", "--org", "default", "--user", "alice"]);
        let keys = listed.as_array().unwrap();
        assert_eq!(keys.len(), 1, "{listed}");
        assert!(!listed.to_string().contains(&key), "a key list never shows a key");
        let id = keys[0]["id"].as_str().unwrap();
        let revoked = json(&db, &["key", "revoke", "--org", "default", id]);
        assert!(revoked["revoked_at"].is_string(), "{revoked}");
        assert!(db.store.authenticate(&key).unwrap().is_none(), "revoked at once");

        // The bootstrap key is lost: a new one for the org's admin.
        let fresh = ok(&db, &["admin", "reset-key", "--org", "default"]).trim().to_owned();
        let actor = db.store.authenticate(&fresh).unwrap().unwrap();
        assert!(actor.is_admin());
    }

    fn console_errors_are_one_sentence(db) {
        db.bootstrap();
        assert_eq!(
            refused(&db, &["user", "create", "--org", "nope", "--id", "x", "--name", "X"]),
            "modelgate: no org 'nope' (see `modelgate org list`)"
        );
        assert_eq!(
            refused(&db, &["key", "revoke", "--org", "default", "no-such-key"]),
            "modelgate: command: no such API key there"
        );
        ok(&db, &["user", "create", "--org", "default", "--id", "bob", "--name", "Bob"]);
        assert_eq!(
            refused(&db, &["user", "create", "--org", "default", "--id", "bob", "--name", "Bob"]),
            "modelgate: command: user 'bob' already exists"
        );
        assert_eq!(
            refused(&db, &["admin", "reset-key", "--org", "default", "--user", "bob"]),
            "modelgate: 'bob' is not an admin of org 'default'"
        );
    }
}

#[test]
fn shell_completions_are_printed() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(BIN).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("rotate-secret-key") && script.contains("reset-key"), "{shell}");
    }
}

/// The options of `modelgate <args> --help`.
fn options_in_help(args: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(BIN).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .filter_map(|line| line.trim_start().strip_prefix("--"))
        .map(|rest| rest.split([' ', ',']).next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn each_command_lists_only_the_options_it_reads() {
    let everything = options_in_help(&[]);
    assert!(everything.len() > 15, "{everything:?}");
    assert_eq!(options_in_help(&["serve"]), everything);
    let console = options_in_help(&["user", "list"]);
    assert!(console.contains(&"database-url".to_owned()) && console.contains(&"org".to_owned()));
    for server_only in ["listen", "cors-origins", "workers", "bootstrap-admin-key", "respan-listen"]
    {
        assert!(!console.contains(&server_only.to_owned()), "{server_only} in {console:?}");
    }
    assert_eq!(options_in_help(&["healthcheck"]), ["listen"]);
    assert!(options_in_help(&["completions"]).is_empty());
    // Still accepted where hidden: a script that passes a setting everywhere keeps working.
    let out = std::process::Command::new(BIN)
        .args(["completions", "bash", "--listen", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_sqlite_backup_restores_what_it_held() {
    use modelgate_core::{ModelChange, ModelRef, NewModel, Role, Secret};
    let db = TestDb::sqlite();
    let (admin, _) = db.bootstrap();
    let (_, member_key) = db.user(&admin, "bob", Role::Member);
    let sealed =
        ModelChange { api_key: Some(Some(Secret::new("sk-kept-sealed"))), ..Default::default() };
    let model =
        db.store.create_model(&admin, NewModel { key: "m".into(), change: sealed }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let backup_arg = backup.to_str().unwrap();

    let said = ok(&db, &["backup", backup_arg]);
    assert!(
        said.contains("backed up to") && said.contains("keep MODELGATE_SECRET_KEY with it"),
        "{said}"
    );
    assert_eq!(
        refused(&db, &["backup", backup_arg]),
        format!("modelgate: {backup_arg} exists already")
    );
    // What happens after the backup is not in it.
    db.store
        .create_model(&admin, NewModel { key: "later".into(), change: ModelChange::default() })
        .unwrap();

    let restored = dir.path().join("elsewhere").join("modelgate.db");
    let restored_url = restored.to_str().unwrap();
    let out = cli_on(restored_url, &["restore", backup_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = modelgate_store::Store::open(
        restored_url,
        modelgate_store::Cipher::new(&TEST_SECRET_KEY),
        modelgate_store::StoreOptions::default(),
    )
    .unwrap();
    let bob = store.authenticate(&member_key).unwrap().expect("keys come back");
    assert_eq!(bob.user_id, "bob");
    let back = store.get_model(&admin, &ModelRef::Key("m".into())).unwrap().model;
    let sealed = back.fields.api_key.clone().unwrap();
    assert_eq!(store.cipher().reveal(&sealed).unwrap().expose(), "sk-kept-sealed");
    assert_eq!(store.model_history(&admin, model.model.uuid).unwrap().len(), 1);
    assert!(store.get_model(&admin, &ModelRef::Key("later".into())).is_err());
    drop(store);

    // A database holding data is replaced only when asked.
    let again = cli_on(restored_url, &["restore", backup_arg]);
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(!again.status.success() && stderr.contains("holds data already"), "{stderr}");
    assert!(cli_on(restored_url, &["restore", "--replace", backup_arg]).status.success());
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a database").unwrap();
    let not_a_backup = cli_on(restored_url, &["restore", "--replace", junk.to_str().unwrap()]);
    let stderr = String::from_utf8(not_a_backup.stderr).unwrap();
    assert!(stderr.contains("notes.txt is not a modelgate backup"), "{stderr}");
}

#[test]
fn postgres_is_backed_up_with_its_own_tools() {
    let db = TestDb::postgres();
    let sentence = "modelgate: this database is Postgres: back it up with pg_dump and restore it with pg_restore";
    assert_eq!(refused(&db, &["backup", "/tmp/never-written.db"]), sentence);
    assert_eq!(refused(&db, &["restore", "/tmp/never-read.db"]), sentence);
    assert!(!std::path::Path::new("/tmp/never-written.db").exists());
}
