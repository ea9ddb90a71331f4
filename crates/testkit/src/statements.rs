//! Counting the statements sent to the database, for tests that pin what a call costs. The
//! count is process-wide (diesel's default instrumentation): one such test per test binary.

use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};

static SENT: AtomicUsize = AtomicUsize::new(0);

fn counting() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        // `data_version` is SQLite's look at its shared memory before a cached read, not a
        // statement sent anywhere.
        if let InstrumentationEvent::StartQuery { query, .. } = event
            && !query.to_string().contains("data_version")
        {
            SENT.fetch_add(1, Ordering::SeqCst);
        }
    }))
}

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
