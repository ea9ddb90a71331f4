//! Counting the statements sent to the database, for tests that pin what a call costs. The
//! count is process-wide (diesel's default instrumentation): one such test per test binary.

use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};

static SENT: AtomicUsize = AtomicUsize::new(0);
/// Statements of SQLite's freshness check that a connection kept prepared.
static DATA_VERSION_PREPARED: AtomicUsize = AtomicUsize::new(0);
/// Runs of SQLite's freshness check.
static DATA_VERSION_LOOKS: AtomicUsize = AtomicUsize::new(0);
/// SQLite's read of the registry's stamp, the second step of a look that saw a commit.
static STAMP_READS: AtomicUsize = AtomicUsize::new(0);
/// Postgres's shared check of the server's snapshot, made once for every request waiting.
static SNAPSHOT_CHECKS: AtomicUsize = AtomicUsize::new(0);

fn counting() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| match event {
        // `data_version` is SQLite's look at its shared memory before a cached read, not a
        // statement sent anywhere, and the stamp it reads after seeing a commit is part of that
        // look; Postgres's snapshot check is shared by concurrent requests.
        InstrumentationEvent::StartQuery { query, .. } => {
            let query = query.to_string();
            let counter = if query.contains("data_version") {
                &DATA_VERSION_LOOKS
            } else if query.starts_with(STAMP_READ) {
                &STAMP_READS
            } else if query.starts_with("SELECT pg_current_snapshot()") {
                // The check itself; light statements that also read the snapshot are sent.
                &SNAPSHOT_CHECKS
            } else {
                &SENT
            };
            counter.fetch_add(1, Ordering::SeqCst);
        }
        InstrumentationEvent::CacheQuery { sql, .. } if sql.contains("data_version") => {
            DATA_VERSION_PREPARED.fetch_add(1, Ordering::SeqCst);
        }
        _ => {}
    }))
}

/// The statement of a look that reads the registry's stamp (modelgate-store's `fresh.rs`).
const STAMP_READ: &str = "SELECT stamp FROM registry_stamp WHERE id = 1";

/// Counts the statements of every connection opened from now on.
pub fn start_counting() {
    set_default_instrumentation(counting).unwrap();
}

/// Statements sent so far (see [`start_counting`]).
pub fn sent() -> usize {
    SENT.load(Ordering::SeqCst)
}

/// The statements `f` sends.
pub fn sent_by<T>(f: impl FnOnce() -> T) -> usize {
    let before = sent();
    f();
    sent() - before
}

/// How many times a connection prepared SQLite's freshness check and kept it (see
/// [`start_counting`]): once per connection when it is kept, never when it is parsed anew on
/// every call.
pub fn data_version_prepared() -> usize {
    DATA_VERSION_PREPARED.load(Ordering::SeqCst)
}

/// The looks at SQLite's `data_version` that `f` makes (see [`start_counting`]).
pub fn data_version_looks_by<T>(f: impl FnOnce() -> T) -> usize {
    counted_by(&DATA_VERSION_LOOKS, f)
}

/// The reads of SQLite's registry stamp that `f` makes (see [`start_counting`]).
pub fn stamp_reads_by<T>(f: impl FnOnce() -> T) -> usize {
    counted_by(&STAMP_READS, f)
}

/// The shared snapshot checks (Postgres) that `f` waits for (see [`start_counting`]).
pub fn snapshot_checks_by<T>(f: impl FnOnce() -> T) -> usize {
    counted_by(&SNAPSHOT_CHECKS, f)
}

/// How much `counter` grew while `f` ran.
fn counted_by<T>(counter: &AtomicUsize, f: impl FnOnce() -> T) -> usize {
    let before = counter.load(Ordering::SeqCst);
    f();
    counter.load(Ordering::SeqCst) - before
}
