//! Database health: fail fast while the database does not answer.
//!
//! A database that refuses connections fails every call quickly, but one that stops answering
//! (a stopped process, a network dropping packets) makes a query on an established connection
//! wait until the operating system gives up, and a pool checkout wait for its full timeout. The
//! monitor probes the database on a dedicated thread every [`DatabaseHealth::interval`]; a probe
//! that has not answered within [`DatabaseHealth::timeout`] marks the database down. While it
//! is down, [`crate::Services::call`] answers `DomainError::Unavailable` (each dialect's 503)
//! without touching the pool, and calls already waiting on the database are answered the same
//! way the moment it goes down. The first probe that answers again marks it up.
//!
//! Only one probe is ever in flight: a stuck probe keeps the database down until it returns (when
//! a stopped server continues, or when the connection's TCP timeouts give up on a network that
//! drops packets; see the store's connection options), so a hang costs one parked thread and
//! one connection, never a growing number of them.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use modelgate_core::error::Internal;
use modelgate_core::{DomainError, DomainResult};
use tokio::sync::{Notify, oneshot, watch};

/// One round trip to the database, run on the monitor's own thread. It should use a connection
/// of its own, so that a busy request pool never reads as a database that is down.
pub type Probe = Box<dyn FnMut() -> DomainResult<()> + Send>;

#[derive(Clone, Copy, Debug)]
struct Status {
    up: bool,
    /// How many probes have finished: a readiness check waits for the next one.
    finished: u64,
}

/// Whether the database answers, shared by every worker.
#[derive(Debug)]
pub struct DatabaseHealth {
    status: watch::Sender<Status>,
    /// Asks the monitor for a probe now instead of at the next tick (a readiness check).
    wake: Notify,
    interval: Duration,
    timeout: Duration,
}

impl DatabaseHealth {
    /// Time between probes: the delay before a hang is noticed is at most this plus
    /// [`Self::timeout`]. A probe is one trivial query on one connection.
    pub const INTERVAL: Duration = Duration::from_millis(250);
    /// How long a probe may take before the database counts as down. A trivial query answers in
    /// milliseconds even on a busy server; a second without an answer is a database that is
    /// not serving requests either.
    pub const TIMEOUT: Duration = Duration::from_secs(1);

    /// Starts the monitor: `probe` runs on a thread of its own, driven by a task on the current
    /// actix runtime (call it from inside one). The database starts as up: the server only
    /// starts once its migrations ran.
    pub fn start(
        probe: Probe,
        interval: Duration,
        timeout: Duration,
    ) -> std::io::Result<Arc<Self>> {
        let (status, _) = watch::channel(Status { up: true, finished: 0 });
        let health = Arc::new(Self { status, wake: Notify::new(), interval, timeout });
        let prober = spawn_prober(probe)?;
        actix_web::rt::spawn(monitor(health.clone(), prober));
        Ok(health)
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the last probe answered in time.
    pub fn is_up(&self) -> bool {
        self.status.borrow().up
    }

    /// Resolves once the database is down (at once if it is).
    pub async fn down(&self) {
        let mut status = self.status.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail while we are borrowed.
        let _ = status.wait_for(|s| !s.up).await;
    }

    /// A readiness check: `false` at once while the database is down, otherwise the outcome of
    /// a probe that finishes after this call started, bounded by [`Self::timeout`].
    pub async fn check(&self) -> bool {
        let mut status = self.status.subscribe();
        let seen = {
            let now = status.borrow_and_update();
            if !now.up {
                return false;
            }
            now.finished
        };
        self.wake.notify_one();
        let fresh = status.wait_for(|s| !s.up || s.finished > seen);
        match tokio::time::timeout(self.timeout, fresh).await {
            Ok(Ok(status)) => status.up,
            _ => false,
        }
    }

    /// The error a call gets while the database is down.
    pub fn unavailable() -> DomainError {
        DomainError::Unavailable(Internal {
            context: "database health",
            cause: "the database did not answer the health probe in time".into(),
        })
    }

    fn record(&self, up: bool, finished: bool) {
        self.status.send_modify(|s| {
            s.up = up;
            if finished {
                s.finished += 1;
            }
        });
    }
}

type Reply = oneshot::Sender<DomainResult<()>>;

/// The thread that runs probes, one at a time, as the monitor asks for them. It ends when the
/// monitor task does (its sender is dropped), once a probe in flight returns.
fn spawn_prober(mut probe: Probe) -> std::io::Result<mpsc::Sender<Reply>> {
    let (requests, incoming) = mpsc::channel::<Reply>();
    std::thread::Builder::new().name("modelgate-db-health".into()).spawn(move || {
        while let Ok(reply) = incoming.recv() {
            // A panicking probe is a failed probe, not a dead monitor.
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(&mut probe)).unwrap_or_else(|_| {
                    Err(DomainError::internal("database health", "the probe panicked"))
                });
            let _ = reply.send(outcome);
        }
    })?;
    Ok(requests)
}

async fn monitor(health: Arc<DatabaseHealth>, prober: mpsc::Sender<Reply>) {
    let mut last_answer = Instant::now();
    let mut was_up = true;
    // A probe that fails fast (rather than hanging) is confirmed by a second one right away:
    // the first may only have met a connection the server had closed, and the pool replaces it.
    let mut confirming = false;
    loop {
        let (reply, mut outcome) = oneshot::channel();
        if prober.send(reply).is_err() {
            health.record(false, true);
            tracing::error!("database health probe thread is gone; reporting the database down");
            return;
        }
        let outcome = match tokio::time::timeout(health.timeout, &mut outcome).await {
            Ok(outcome) => outcome,
            Err(_) => {
                if was_up {
                    tracing::warn!(
                        timeout_ms = health.timeout.as_millis() as u64,
                        "database did not answer in time; failing requests fast until it does"
                    );
                }
                was_up = false;
                health.record(false, false);
                // Wait for this probe rather than start another: a hang never costs more than
                // the one thread and connection already stuck in it.
                outcome.await
            }
        };
        let answered = match outcome {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                if was_up && !confirming {
                    confirming = true;
                    continue;
                }
                if was_up {
                    crate::log_failure(&error);
                }
                false
            }
            Err(_) => false,
        };
        confirming = false;
        if answered {
            if !was_up {
                tracing::info!(
                    unanswered_ms = last_answer.elapsed().as_millis() as u64,
                    "database answers again"
                );
            }
            last_answer = Instant::now();
        } else if was_up {
            tracing::warn!("database unavailable; failing requests fast until it answers");
        }
        was_up = answered;
        health.record(answered, true);
        tokio::select! {
            () = tokio::time::sleep(health.interval) => {}
            () = health.wake.notified() => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::*;

    const ANSWER: u8 = 0;
    const FAIL: u8 = 1;
    const HANG: u8 = 2;

    /// A probe whose behaviour the test switches; a hanging probe waits until switched back.
    fn probe(mode: Arc<AtomicU8>, calls: Arc<std::sync::atomic::AtomicUsize>) -> Probe {
        Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            loop {
                match mode.load(Ordering::SeqCst) {
                    ANSWER => return Ok(()),
                    FAIL => return Err(DomainError::internal("test", "refused")),
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
    }

    async fn until(health: &DatabaseHealth, up: bool) -> Duration {
        let start = Instant::now();
        while health.is_up() != up {
            assert!(start.elapsed() < Duration::from_secs(5), "health never became {up}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        start.elapsed()
    }

    #[actix_web::test]
    async fn a_hang_marks_down_with_one_probe_in_flight_and_recovers() {
        let mode = Arc::new(AtomicU8::new(ANSWER));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let interval = Duration::from_millis(20);
        let health = DatabaseHealth::start(
            probe(mode.clone(), calls.clone()),
            interval,
            Duration::from_millis(100),
        )
        .unwrap();
        assert!(health.check().await);

        mode.store(HANG, Ordering::SeqCst);
        until(&health, false).await;
        assert!(!health.check().await, "a readiness check answers from the flag while down");
        let stuck_at = calls.load(Ordering::SeqCst);
        tokio::time::sleep(interval * 10).await;
        assert_eq!(calls.load(Ordering::SeqCst), stuck_at, "no second probe while one hangs");

        mode.store(ANSWER, Ordering::SeqCst);
        until(&health, true).await;
        assert!(health.check().await);
    }

    #[actix_web::test]
    async fn a_failing_probe_is_confirmed_before_the_database_counts_as_down() {
        let mode = Arc::new(AtomicU8::new(ANSWER));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let health = DatabaseHealth::start(
            probe(mode.clone(), calls.clone()),
            Duration::from_millis(20),
            Duration::from_millis(500),
        )
        .unwrap();
        mode.store(FAIL, Ordering::SeqCst);
        until(&health, false).await;
        mode.store(ANSWER, Ordering::SeqCst);
        until(&health, true).await;
    }
}
