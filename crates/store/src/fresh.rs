//! Knowing when cached reads may be served: an epoch that moves whenever the database may have
//! changed, in this process or in any other on the same database.
//!
//! SQLite: `PRAGMA data_version`, read on connections of their own, changes as soon as another
//! connection — of this process or another one, such as the CLI beside a server — has committed.
//! Reading it is a look at the shared WAL index, not a query of the tables, so every cached read
//! checks it first and a cache never outlives a change of the registry. When it moved, the look
//! also reads the registry's stamp, which triggers replace in every transaction that changes a
//! table other than `usage_events`: a commit of usage rows alone (the gateway's usage writers,
//! about once a second each) leaves the caches as they were.
//!
//! Postgres: nothing cheaper than a round trip can tell a replica, strictly, that another one
//! committed. `LISTEN`/`NOTIFY` is asynchronous: in our own tests a replica often read before the
//! notification of a change acknowledged by the other had reached it. So on Postgres this epoch
//! is not used: a cached entry is checked by the request's one statement instead, against what
//! moves with every change of it (a model row's `xmin`, the identity version), which costs the
//! database an index lookup instead of reading and aggregating the rows again (see the store's
//! `get_model_checked`).
//!
//! Postgres also has a check that requests share ([`Freshness::generation`]): the server's
//! current snapshot (`pg_current_snapshot()`: the oldest running transaction, the next
//! transaction id, the ones in progress) is the same in two statements only if no transaction
//! that wrote anything committed between them, in any database of the server. One statement on
//! a connection of its own reads it for every request that asked while the one before was on
//! its way, and a generation counts the snapshots seen: an entry known current at the
//! generation that is still current is served with no statement of its request's own. Requests
//! on an async worker wait for checks made on that worker, on a non-blocking connection of its
//! own ([`crate::worker_checks`]); a thread of its own runs the checks of blocking callers, and
//! of workers that cannot connect that way. All count in one series of [`Generations`].
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;

use modelgate_core::SharedCheckWait;

use crate::conn::{Backend, pg_url_with_defaults, sqlite_path};
use crate::worker_checks::{PgAsync, WorkerChecks};

/// [`Freshness::current_at_once`] could not look without waiting.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotAtOnce;

pub(crate) struct Freshness {
    epoch: AtomicU64,
    /// SQLite: connections that look at `PRAGMA data_version`, one per CPU, so that requests
    /// looking at once on different threads do not wait for each other. Empty when nothing
    /// tells this store about changes strictly (Postgres; an in-memory SQLite database, which
    /// is per connection): caches are then never used.
    looks: Vec<Mutex<Look>>,
    url: String,
    /// SQLite: the registry's stamp when the epoch last moved for a commit (`None`: not read
    /// yet). Only read when `data_version` moved, so a mutex costs nothing on the hot path.
    stamp: Mutex<Option<i64>>,
    /// Postgres: the shared check; `None` on SQLite.
    shared: Option<SharedChecks>,
    /// Postgres: the shared check made on async workers, where the URL allows it.
    workers: Option<WorkerChecks<PgAsync>>,
    /// The series every check's answer counts in, and snapshots read by other statements too.
    generations: Arc<Generations>,
}

/// One connection looking at SQLite's commits, and the `data_version` it saw last: each sees
/// every commit of every other connection, so any of them tells whether something committed.
#[derive(Default)]
struct Look {
    conn: Option<SqliteConnection>,
    seen: i64,
}

impl Freshness {
    pub(crate) fn new(backend: Backend, url: &str) -> Self {
        let lookers = match backend {
            Backend::Sqlite if sqlite_path(url) != ":memory:" => {
                std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 16)
            }
            _ => 0,
        };
        let looks = (0..lookers).map(|_| Mutex::default()).collect();
        let postgres = backend == Backend::Postgres;
        let generations = Arc::new(Generations::default());
        let shared = postgres.then(|| {
            let source = PgSnapshots { url: pg_url_with_defaults(url), conn: None };
            SharedChecks::sharing(source, CHECK_PATIENCE, Arc::clone(&generations))
        });
        let workers = postgres
            .then(|| PgAsync::from_url(url))
            .flatten()
            .map(|source| WorkerChecks::new(source, Arc::clone(&generations), CHECK_PATIENCE));
        Self {
            epoch: AtomicU64::new(0),
            looks,
            url: url.to_owned(),
            stamp: Mutex::new(None),
            shared,
            workers,
            generations,
        }
    }

    /// Postgres: the generation of `snapshot` (`pg_current_snapshot()`) read by a statement of
    /// a request's own, counted with the shared checks' answers: the statement is a check that
    /// began after the request asked. `None` when it read none (SQLite).
    pub(crate) fn count_snapshot(&self, snapshot: Option<String>) -> Option<u64> {
        snapshot.and_then(|read| self.generations.count(Some(read)))
    }

    /// Postgres: the generation of a snapshot read by a statement that began after this call,
    /// shared with the requests that asked meanwhile (see the module's comment); `None` on
    /// SQLite, or when the statement failed.
    pub(crate) fn generation(&self) -> Option<u64> {
        self.shared.as_ref()?.generation()
    }

    /// Postgres: [`Freshness::generation`], awaited on an async worker without holding it —
    /// checked on the worker itself where it can be ([`crate::worker_checks`]), by the check
    /// thread otherwise; `None` on SQLite, which has no shared check.
    pub(crate) fn generation_async(&self) -> Option<SharedCheckWait> {
        if let Some(wait) = self.workers.as_ref().and_then(WorkerChecks::wait) {
            return Some(Box::pin(wait));
        }
        Some(Box::pin(self.shared.as_ref()?.generation_async()))
    }

    /// The epoch caches may be trusted at, after taking in every commit made so far; `None`
    /// when changes cannot be seen (caches must be bypassed then). Opens the connections not
    /// open yet that it finds free, for [`Freshness::current_at_once`].
    pub(crate) fn current(&self) -> Option<u64> {
        let mut free = self.free_looks();
        let Some(mut look) = free.next() else {
            let mut look = self.looks.first()?.lock().unwrap_or_else(|p| p.into_inner());
            return self.look(&mut look);
        };
        for mut other in free.filter(|other| other.conn.is_none()) {
            other.conn = SqliteConnection::establish(sqlite_path(&self.url)).ok();
        }
        self.look(&mut look)
    }

    /// [`Freshness::current`] for a caller that must not wait (an async worker): `Err` when
    /// the look cannot be had at once, because every connection is busy looking or not open
    /// yet (opening a database file is left to a blocking thread). The look itself is a read of
    /// SQLite's shared WAL index: microseconds, and no busy wait, as these connections have no
    /// busy timeout (a busy database reads as "cannot be told").
    pub(crate) fn current_at_once(&self) -> Result<Option<u64>, NotAtOnce> {
        if self.looks.is_empty() {
            return Ok(None);
        }
        let mut look = self.free_looks().find(|look| look.conn.is_some()).ok_or(NotAtOnce)?;
        Ok(self.look(&mut look))
    }

    /// The looking connections no other thread holds, each taken.
    fn free_looks(&self) -> impl Iterator<Item = MutexGuard<'_, Look>> {
        self.looks.iter().filter_map(|look| match look.try_lock() {
            Ok(look) => Some(look),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        })
    }

    fn look(&self, look: &mut Look) -> Option<u64> {
        match sqlite_changed(&mut look.conn, &mut look.seen, &self.url) {
            Some(false) => {}
            Some(true) => {
                // Read after `data_version`, so it is at least as new as the commit seen.
                let stamp = look.conn.as_mut().and_then(|c| RegistryStamp.get_result(c).ok());
                self.committed(stamp);
            }
            None => {
                self.moved();
                return None;
            }
        }
        Some(self.epoch.load(Ordering::Acquire))
    }

    /// Another connection committed; the registry's stamp as read after it (`None`: unread).
    /// The epoch moves unless the stamp is the one seen when it last moved: then only usage
    /// rows were written. Two looks racing may take turns setting an older and a newer stamp;
    /// each difference only moves the epoch once more.
    fn committed(&self, stamp: Option<i64>) {
        let mut known = self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.is_none() || stamp != *known {
            *known = stamp;
            self.moved();
        }
    }

    /// The epoch as last seen, without looking for news: what a cache entry is checked against.
    pub(crate) fn seen(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Something changed (a write of this store ended, or a commit was seen).
    pub(crate) fn moved(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// (checks finished, the last one's answer), as checkers publish them to async callers.
pub(crate) type Answers = watch::Receiver<(u64, Option<u64>)>;

/// The answer of check `needed` or a later one, waited for at most `patience` (`None`: the
/// caller gives up at once); `None` when it failed, took too long, or the store is gone.
pub(crate) async fn answer_of(
    mut answers: Answers,
    needed: u64,
    patience: Option<Duration>,
) -> Option<u64> {
    let answered = answers.wait_for(|(finished, _)| *finished >= needed);
    match tokio::time::timeout(patience?, answered).await {
        Ok(Ok(answer)) => answer.1,
        Ok(Err(_)) | Err(_) => None,
    }
}

/// What a shared check reads: a value that is the same in two reads only if nothing committed
/// between them.
pub(crate) trait Snapshots: Send {
    /// The value now; `None` when it cannot be read.
    fn read(&mut self) -> Option<String>;
}

/// Postgres's current snapshot as text, on a connection of its own (made when needed, dropped
/// after a failure so that the next check connects again).
pub(crate) struct PgSnapshots {
    url: String,
    conn: Option<PgConnection>,
}

impl Snapshots for PgSnapshots {
    fn read(&mut self) -> Option<String> {
        if self.conn.is_none() {
            self.conn = PgConnection::establish(&self.url).ok();
        }
        let read = self.conn.as_mut().and_then(|c| CurrentSnapshot.get_result(c).ok());
        if read.is_none() {
            self.conn = None;
        }
        read
    }
}

/// The shared check of a replica (see the module's comment): one snapshot check at a time, run
/// by a thread of its own whenever a caller waits for one, each serving every caller that asked
/// while the one before was running. A caller never uses a check that began before it asked:
/// that one may have read the snapshot before a commit the caller already knows of. Callers wait
/// on a blocking thread ([`SharedChecks::generation`]) or on an async worker without holding it
/// ([`SharedChecks::generation_async`]).
pub(crate) struct SharedChecks<S: Snapshots = PgSnapshots> {
    rounds: Arc<Rounds<S>>,
}

struct Rounds<S> {
    state: Mutex<RoundState<S>>,
    /// Shared with the checks made on async workers ([`crate::worker_checks`]).
    generations: Arc<Generations>,
    /// Wakes the checker when a caller wants a check.
    wanted: Condvar,
    /// Wakes blocking callers when a check finished.
    finished: Condvar,
    /// How long a caller waits for a check before taking it as failed (see [`CHECK_PATIENCE`]).
    patience: Duration,
    /// (checks finished, the last one's answer), for callers waiting on an async worker.
    answers: watch::Sender<(u64, Option<u64>)>,
}

struct RoundState<S> {
    started: u64,
    finished: u64,
    /// The newest check a caller waits for.
    wanted: u64,
    /// Where checks read, until the checker's thread takes it with the first call.
    source: Option<S>,
    /// The answer of the last finished check.
    answer: Option<u64>,
    /// When the running check began.
    running_since: Option<Instant>,
    /// No check will run any more (the store is gone, or its thread could not start): callers
    /// get no answer.
    closed: bool,
    /// Calls so far, for tests to know that a caller is waiting.
    #[cfg(test)]
    asked: u64,
}

/// How long a check may take before callers take it as failed and read without it (their
/// entries are then checked by statements of their own on a pooled connection): the checker's
/// connection can hang while the database still answers others, and would keep every cached
/// read waiting until the connection's TCP timeout (15 s) drops it. A caller that asks while
/// the running check is older than this does not wait at all.
const CHECK_PATIENCE: Duration = Duration::from_secs(2);

impl<S: Snapshots + 'static> SharedChecks<S> {
    #[cfg(test)]
    fn new(source: S) -> Self {
        Self::with_patience(source, CHECK_PATIENCE)
    }

    #[cfg(test)]
    fn with_patience(source: S, patience: Duration) -> Self {
        Self::sharing(source, patience, Arc::default())
    }

    /// Checks whose answers count in `generations` with those of other checkers.
    fn sharing(source: S, patience: Duration, generations: Arc<Generations>) -> Self {
        let state = RoundState {
            started: 0,
            finished: 0,
            wanted: 0,
            source: Some(source),
            answer: None,
            running_since: None,
            closed: false,
            #[cfg(test)]
            asked: 0,
        };
        let rounds = Rounds {
            state: Mutex::new(state),
            generations,
            wanted: Condvar::new(),
            finished: Condvar::new(),
            patience,
            answers: watch::Sender::new((0, None)),
        };
        Self { rounds: Arc::new(rounds) }
    }

    /// The generation a check that began after this call found, waiting on this thread.
    pub(crate) fn generation(&self) -> Option<u64> {
        let (mut state, needed) = self.ask();
        if self.rounds.stuck(&state) {
            return None;
        }
        let deadline = Instant::now() + self.rounds.patience;
        while state.finished < needed && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = match self.rounds.finished.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        if state.finished < needed { None } else { state.answer }
    }

    /// [`SharedChecks::generation`], awaited without holding a thread.
    pub(crate) fn generation_async(&self) -> impl Future<Output = Option<u64>> + Send + 'static {
        let (state, needed) = self.ask();
        let gives_up = state.closed || self.rounds.stuck(&state);
        let answers = self.rounds.answers.subscribe();
        drop(state);
        answer_of(answers, needed, (!gives_up).then_some(self.rounds.patience))
    }

    /// Asks for a check that begins from now on: the one a caller must wait for.
    fn ask(&self) -> (MutexGuard<'_, RoundState<S>>, u64) {
        let mut state = self.rounds.lock();
        #[cfg(test)]
        {
            state.asked += 1;
        }
        let needed = state.started + 1;
        if state.wanted < needed {
            state.wanted = needed;
            match state.source.take() {
                Some(source) => self.start(&mut state, source),
                None => self.rounds.wanted.notify_one(),
            }
        }
        (state, needed)
    }

    /// Starts the checker's thread, at the first call (a store that is never asked has none).
    fn start(&self, state: &mut RoundState<S>, source: S) {
        let rounds = Arc::clone(&self.rounds);
        let started = std::thread::Builder::new()
            .name("snapshot-check".to_owned())
            .spawn(move || rounds.run(source));
        if let Err(error) = started {
            tracing::error!(%error, "the shared snapshot check cannot start: caches are checked one by one");
            state.closed = true;
        }
    }
}

impl<S: Snapshots> Drop for SharedChecks<S> {
    fn drop(&mut self) {
        self.rounds.lock().closed = true;
        self.rounds.wanted.notify_all();
        self.rounds.finished.notify_all();
        // Async waiters see the channel's sender live on in the thread: answer them now.
        self.rounds.answers.send_replace((u64::MAX, None));
    }
}

impl<S: Snapshots> Rounds<S> {
    fn lock(&self) -> MutexGuard<'_, RoundState<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the running check has taken longer than callers wait for one.
    fn stuck(&self, state: &RoundState<S>) -> bool {
        state.running_since.is_some_and(|since| since.elapsed() > self.patience)
    }

    /// The checker: one check whenever a caller waits for one that has not begun.
    fn run(&self, mut source: S) {
        loop {
            let mut state = self.lock();
            while state.wanted <= state.started && !state.closed {
                state = self.wanted.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.closed {
                return;
            }
            state.started += 1;
            state.running_since = Some(Instant::now());
            drop(state);
            // A panic must not end the checker, or every later caller would wait for a check
            // that never comes: it counts as a failed check.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.read()))
                .unwrap_or(None);
            let mut state = self.lock();
            state.finished = state.started;
            state.running_since = None;
            state.answer = self.generations.count(read);
            let answered = (state.finished, state.answer);
            if !state.closed {
                self.answers.send_replace(answered);
            }
            drop(state);
            self.finished.notify_all();
        }
    }
}

/// The generations of a replica's snapshot checks, wherever they are made: a check's answer is
/// the generation of the snapshot it read. Two answers are the same only if their checks read the
/// same snapshot with no other snapshot counted between them, so nothing committed between the
/// two reads, whichever came first (a commit changes the snapshot for good: the committed
/// transaction leaves the running ones, and the next transaction id only grows). Checks that
/// overlap may be counted out of order; an older snapshot counted after a newer one only makes
/// a new generation, which serves fewer cached entries, never a stale one.
#[derive(Default)]
pub(crate) struct Generations(Mutex<Counted>);

#[derive(Default)]
struct Counted {
    /// The snapshot counted last (`None` after a failure: the next one counts as new).
    snapshot: Option<String>,
    /// Moves with every snapshot unlike the one counted before; 0 is never an answer.
    generation: u64,
}

impl Generations {
    /// The answer of a check that read `read` (`None`: it failed).
    pub(crate) fn count(&self, read: Option<String>) -> Option<u64> {
        let mut counted = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if read.is_none() || read != counted.snapshot {
            counted.generation += 1;
        }
        counted.snapshot = read;
        counted.snapshot.is_some().then_some(counted.generation)
    }
}

/// `SELECT pg_current_snapshot()::text`, kept prepared by the connection.
#[derive(Debug, Clone, Copy, QueryId)]
struct CurrentSnapshot;

impl QueryFragment<Pg> for CurrentSnapshot {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT pg_current_snapshot()::text");
        Ok(())
    }
}

impl Query for CurrentSnapshot {
    type SqlType = Text;
}

impl RunQueryDsl<PgConnection> for CurrentSnapshot {}

/// Whether another connection committed since the last look (`None`: it cannot be told).
fn sqlite_changed(conn: &mut Option<SqliteConnection>, seen: &mut i64, url: &str) -> Option<bool> {
    if conn.is_none() {
        *conn = SqliteConnection::establish(sqlite_path(url)).ok();
    }
    let version: Option<i64> = conn.as_mut().and_then(|c| DataVersion.get_result(c).ok());
    let Some(version) = version else {
        *conn = None;
        return None;
    };
    let changed = version != *seen;
    *seen = version;
    Some(changed)
}

/// `PRAGMA data_version`, as a statement the connection keeps prepared: it runs before every
/// cached read, and diesel parses `sql()` and `sql_query` text anew on each call. The pragma
/// itself, not its table-valued form (`pragma_data_version`), which prepares the pragma again
/// inside every step.
#[derive(Debug, Clone, Copy, QueryId)]
struct DataVersion;

impl QueryFragment<Sqlite> for DataVersion {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("PRAGMA data_version");
        Ok(())
    }
}

impl Query for DataVersion {
    type SqlType = BigInt;
}

impl RunQueryDsl<SqliteConnection> for DataVersion {}

/// The registry's stamp (see the SQLite migration `registry_stamp`), kept prepared like
/// [`DataVersion`].
#[derive(Debug, Clone, Copy, QueryId)]
struct RegistryStamp;

impl QueryFragment<Sqlite> for RegistryStamp {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("SELECT stamp FROM registry_stamp WHERE id = 1");
        Ok(())
    }
}

impl Query for RegistryStamp {
    type SqlType = BigInt;
}

impl RunQueryDsl<SqliteConnection> for RegistryStamp {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    use super::{Freshness, NotAtOnce, SharedChecks, Snapshots};
    use crate::conn::Backend;

    /// A database whose snapshot a test sets; a check reads it when it begins and, for the
    /// first check only, then waits for the test to let it finish.
    struct Scripted {
        now: Arc<Mutex<Option<String>>>,
        reads: Arc<Mutex<usize>>,
        first: Option<(Sender<()>, Receiver<()>)>,
    }

    impl Snapshots for Scripted {
        fn read(&mut self) -> Option<String> {
            let read = self.now.lock().unwrap().clone();
            *self.reads.lock().unwrap() += 1;
            if let Some((began, finish)) = self.first.take() {
                // A test that does not hold the check dropped its end: nothing to wait for.
                let _ = began.send(());
                let _ = finish.recv();
            }
            read
        }
    }

    struct Db {
        now: Arc<Mutex<Option<String>>>,
        reads: Arc<Mutex<usize>>,
        began: Receiver<()>,
        finish: Sender<()>,
        checks: Arc<SharedChecks<Scripted>>,
    }

    fn db() -> Db {
        db_with_patience(super::CHECK_PATIENCE)
    }

    fn db_with_patience(patience: Duration) -> Db {
        let now = Arc::new(Mutex::new(Some("10:12:".to_owned())));
        let reads = Arc::new(Mutex::new(0));
        let (began_tx, began) = channel();
        let (finish, finish_rx) = channel();
        let source = Scripted {
            now: Arc::clone(&now),
            reads: Arc::clone(&reads),
            first: Some((began_tx, finish_rx)),
        };
        let checks = Arc::new(SharedChecks::with_patience(source, patience));
        Db { now, reads, began, finish, checks }
    }

    fn ask(checks: &Arc<SharedChecks<Scripted>>) -> thread::JoinHandle<Option<u64>> {
        let checks = Arc::clone(checks);
        thread::spawn(move || checks.generation())
    }

    fn wait_for_callers(checks: &SharedChecks<Scripted>, asked: u64) {
        while checks.rounds.lock().asked < asked {
            thread::yield_now();
        }
    }

    #[test]
    fn a_caller_never_takes_the_answer_of_a_check_begun_before_it_asked() {
        let db = db();
        let first = ask(&db.checks);
        db.began.recv().unwrap();
        // A commit, acknowledged before the second caller asks, while the first check (which
        // read the snapshot before it) is still on its way.
        *db.now.lock().unwrap() = Some("10:13:".to_owned());
        let second = ask(&db.checks);
        wait_for_callers(&db.checks, 2);
        db.finish.send(()).unwrap();
        let (first, second) = (first.join().unwrap(), second.join().unwrap());
        // The first caller may wake after the second check too: any later answer will do.
        assert!(matches!(first, Some(1 | 2)), "{first:?}");
        assert_eq!(second, Some(2), "the second caller saw the commit");
        assert_eq!(*db.reads.lock().unwrap(), 2);
    }

    #[test]
    fn callers_waiting_during_a_check_share_the_next_one() {
        let db = db();
        let first = ask(&db.checks);
        db.began.recv().unwrap();
        let waiting: Vec<_> = (0..4).map(|_| ask(&db.checks)).collect();
        wait_for_callers(&db.checks, 5);
        db.finish.send(()).unwrap();
        assert_eq!(first.join().unwrap(), Some(1));
        let answers: Vec<_> = waiting.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(answers, vec![Some(1); 4], "nothing committed: the same generation");
        assert_eq!(*db.reads.lock().unwrap(), 2, "one check for the four that waited");
    }

    #[test]
    fn a_check_that_panics_counts_as_failed_and_the_next_one_runs() {
        struct Panicking(bool);
        impl Snapshots for Panicking {
            fn read(&mut self) -> Option<String> {
                if std::mem::replace(&mut self.0, false) {
                    panic!("the driver failed");
                }
                Some("10:12:".to_owned())
            }
        }
        let checks = SharedChecks::new(Panicking(true));
        assert_eq!(checks.generation(), None);
        assert_eq!(checks.generation(), Some(2));
    }

    #[test]
    fn the_generation_moves_with_the_snapshot_and_after_a_failure() {
        let db = db();
        drop(db.finish);
        let generation = || db.checks.generation();
        assert_eq!(generation(), Some(1));
        assert_eq!(generation(), Some(1));
        *db.now.lock().unwrap() = Some("10:14:".to_owned());
        assert_eq!(generation(), Some(2));
        *db.now.lock().unwrap() = None;
        assert_eq!(generation(), None, "a failed check answers nothing");
        *db.now.lock().unwrap() = Some("10:14:".to_owned());
        assert_eq!(generation(), Some(4), "after a failure the same snapshot counts as new");
    }

    #[test]
    fn a_caller_waiting_on_a_worker_gets_the_next_check_and_holds_no_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let db = db();
        let first = ask(&db.checks);
        db.began.recv().unwrap();
        *db.now.lock().unwrap() = Some("10:13:".to_owned());
        // Asked from the runtime's only thread while the first check runs: the wait must
        // leave that thread free, and take the next check's answer, which saw the commit.
        let waiting = db.checks.generation_async();
        let answered = runtime.block_on(async {
            let waiting = tokio::spawn(waiting);
            tokio::task::yield_now().await;
            db.finish.send(()).unwrap();
            waiting.await.unwrap()
        });
        assert!(first.join().unwrap().is_some());
        assert_eq!(answered, Some(2));
        assert_eq!(*db.reads.lock().unwrap(), 2);
    }

    #[test]
    fn callers_still_waiting_when_the_store_goes_get_no_answer() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let db = db();
        let during = db.checks.generation_async();
        db.began.recv().unwrap();
        let next = db.checks.generation_async();
        drop(Arc::into_inner(db.checks).unwrap());
        assert_eq!(runtime.block_on(during), None);
        assert_eq!(runtime.block_on(next), None);
        db.finish.send(()).unwrap();
    }

    /// A check that hangs (its connection stuck while the database answers others) is taken as
    /// failed: callers waiting for it give up after the patience, and one asking once it is
    /// older than that does not wait at all; when it ends, checks answer again.
    #[test]
    fn a_stuck_check_is_taken_as_failed() {
        let patience = Duration::from_millis(300);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let db = db_with_patience(patience);
        let (gave_up, blocking) = channel();
        let checks = Arc::clone(&db.checks);
        thread::spawn(move || gave_up.send(checks.generation()).unwrap());
        db.began.recv().unwrap();
        // Bounded, so that a wait that never gives up fails the test instead of hanging it.
        let bound = Duration::from_secs(30);
        let answer = |wait: Duration| {
            let asked = db.checks.generation_async();
            runtime.block_on(async { tokio::time::timeout(wait, asked).await })
        };
        assert_eq!(answer(bound), Ok(None));
        assert_eq!(blocking.recv_timeout(bound), Ok(None));
        // The check is now older than the patience: no wait, on a worker or a blocking thread.
        assert_eq!(answer(Duration::ZERO), Ok(None), "waited for a stuck check");
        let asked = Instant::now();
        assert_eq!(db.checks.generation(), None);
        assert!(asked.elapsed() < patience, "waited for a stuck check");
        db.finish.send(()).unwrap();
        // (A caller asking before the checker has taken in its end still finds it stuck.)
        let deadline = Instant::now() + bound;
        while answer(bound) == Ok(None) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(matches!(answer(bound), Ok(Some(_))), "checks do not answer again");
    }

    /// SQLite's look at its commits, as an async worker makes it: never waiting, for another
    /// thread's look or for opening the database, yet seeing other connections' commits.
    #[test]
    fn a_look_at_once_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.db");
        let url = path.to_str().unwrap();
        let fresh = Freshness::new(Backend::Sqlite, url);
        assert_eq!(fresh.current_at_once(), Err(NotAtOnce), "opened a file on a worker");
        let epoch = fresh.current().unwrap();
        assert_eq!(fresh.current_at_once(), Ok(Some(epoch)));
        // Another thread looking: the next connection serves; every one busy: no wait.
        let first = fresh.looks[0].lock().unwrap();
        // (A connection's first look counts as news: the epoch may move once more.)
        assert!(matches!(fresh.current_at_once(), Ok(Some(_))), "waited for another look");
        let rest: Vec<_> = fresh.looks[1..].iter().map(|look| look.lock().unwrap()).collect();
        assert_eq!(fresh.current_at_once(), Err(NotAtOnce), "waited for another look");
        drop((first, rest));
        let epoch = fresh.current_at_once().unwrap().unwrap();
        assert_eq!(fresh.current_at_once(), Ok(Some(epoch)), "moved with nothing committed");
        let mut other = SqliteConnection::establish(url).unwrap();
        other.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)").unwrap();
        let after = fresh.current_at_once().unwrap().unwrap();
        assert!(after > epoch, "a commit by another connection went unseen");
    }
}
