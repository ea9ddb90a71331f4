//! Knowing when cached reads may be served: an epoch that moves whenever the database may have
//! changed, in this process or in any other on the same database.
//!
//! SQLite: `PRAGMA data_version`, read on a connection of its own, changes as soon as another
//! connection — of this process or another one, such as the CLI beside a server — has committed.
//! Reading it is a look at the shared WAL index, not a query of the tables, so every cached read
//! checks it first and a cache never outlives a commit.
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
//! generation that is still current is served with no statement of its request's own.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;

use crate::conn::{Backend, pg_url_with_defaults, sqlite_path};

pub(crate) struct Freshness {
    epoch: AtomicU64,
    watch: Mutex<Watch>,
    url: String,
    /// Postgres: the shared check; `None` on SQLite.
    rounds: Option<Rounds>,
}

enum Watch {
    Sqlite {
        conn: Option<SqliteConnection>,
        seen: i64,
    },
    /// Nothing tells this store about changes strictly (Postgres; an in-memory SQLite database,
    /// which is per connection): caches are never used.
    Blind,
}

impl Freshness {
    pub(crate) fn new(backend: Backend, url: &str) -> Self {
        let watch = match backend {
            Backend::Sqlite if sqlite_path(url) != ":memory:" => {
                Watch::Sqlite { conn: None, seen: 0 }
            }
            _ => Watch::Blind,
        };
        let rounds = (backend == Backend::Postgres)
            .then(|| Rounds::new(PgSnapshots { url: pg_url_with_defaults(url), conn: None }));
        Self { epoch: AtomicU64::new(0), watch: Mutex::new(watch), url: url.to_owned(), rounds }
    }

    /// Postgres: the generation of a snapshot read by a statement that began after this call,
    /// shared with the requests that asked meanwhile (see the module's comment); `None` on
    /// SQLite, or when the statement failed.
    pub(crate) fn generation(&self) -> Option<u64> {
        self.rounds.as_ref()?.generation()
    }

    /// The epoch caches may be trusted at, after taking in every commit made so far; `None`
    /// when changes cannot be seen (caches must be bypassed then).
    pub(crate) fn current(&self) -> Option<u64> {
        let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        let Watch::Sqlite { conn, seen } = &mut *watch else { return None };
        match sqlite_changed(conn, seen, &self.url) {
            Some(false) => {}
            Some(true) => self.moved(),
            None => {
                self.moved();
                return None;
            }
        }
        Some(self.epoch.load(Ordering::Acquire))
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

/// What a shared check reads: a value that is the same in two reads only if nothing committed
/// between them.
trait Snapshots: Send {
    /// The value now; `None` when it cannot be read.
    fn read(&mut self) -> Option<String>;
}

/// Postgres's current snapshot as text, on a connection of its own (made when needed, dropped
/// after a failure so that the next check connects again).
struct PgSnapshots {
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

/// One snapshot check at a time, each serving every request that asked while the one before
/// was running. A request never uses a check that began before it asked: that one may have
/// read the snapshot before a commit the request already knows of.
struct Rounds<S = PgSnapshots> {
    state: Mutex<RoundState<S>>,
    finished: Condvar,
}

struct RoundState<S> {
    started: u64,
    finished: u64,
    /// Where checks read, taken by the running one (`None` while it runs).
    source: Option<S>,
    /// The snapshot the last check read (`None` after a failure: the next one counts as new).
    snapshot: Option<String>,
    /// Moves with every snapshot unlike the one before; 0 is never a check's answer.
    generation: u64,
    /// The answer of the last finished check.
    answer: Option<u64>,
    /// Calls so far, for tests to know that a caller is waiting.
    #[cfg(test)]
    asked: u64,
}

impl<S: Snapshots> Rounds<S> {
    fn new(source: S) -> Self {
        let state = RoundState {
            started: 0,
            finished: 0,
            source: Some(source),
            snapshot: None,
            generation: 0,
            answer: None,
            #[cfg(test)]
            asked: 0,
        };
        Self { state: Mutex::new(state), finished: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, RoundState<S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The generation a check that began after this call found.
    fn generation(&self) -> Option<u64> {
        let mut state = self.lock();
        #[cfg(test)]
        {
            state.asked += 1;
        }
        // The first check to begin from now on; its answer, or any later one's, will do.
        let needed = state.started + 1;
        let mut source = loop {
            if state.finished >= needed {
                return state.answer;
            }
            // None running, and none begun since this call (it would have finished): lead one.
            if let Some(source) = state.source.take() {
                break source;
            }
            state = self.finished.wait(state).unwrap_or_else(|p| p.into_inner());
        };
        state.started += 1;
        drop(state);
        // A panic here must not leave the source taken, or every later caller would wait for
        // a check that never ends: it counts as a failed check.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.read()))
            .unwrap_or(None);
        let mut state = self.lock();
        state.source = Some(source);
        state.finished = state.started;
        if read.is_none() || read != state.snapshot {
            state.generation += 1;
        }
        state.answer = read.is_some().then_some(state.generation);
        state.snapshot = read;
        self.finished.notify_all();
        state.answer
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::sync::{Arc, Mutex};
    use std::thread;

    use super::{Rounds, Snapshots};

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
        rounds: Arc<Rounds<Scripted>>,
    }

    fn db() -> Db {
        let now = Arc::new(Mutex::new(Some("10:12:".to_owned())));
        let reads = Arc::new(Mutex::new(0));
        let (began_tx, began) = channel();
        let (finish, finish_rx) = channel();
        let source = Scripted {
            now: Arc::clone(&now),
            reads: Arc::clone(&reads),
            first: Some((began_tx, finish_rx)),
        };
        Db { now, reads, began, finish, rounds: Arc::new(Rounds::new(source)) }
    }

    fn ask(rounds: &Arc<Rounds<Scripted>>) -> thread::JoinHandle<Option<u64>> {
        let rounds = Arc::clone(rounds);
        thread::spawn(move || rounds.generation())
    }

    fn wait_for_callers(rounds: &Rounds<Scripted>, asked: u64) {
        while rounds.lock().asked < asked {
            thread::yield_now();
        }
    }

    #[test]
    fn a_caller_never_takes_the_answer_of_a_check_begun_before_it_asked() {
        let db = db();
        let first = ask(&db.rounds);
        db.began.recv().unwrap();
        // A commit, acknowledged before the second caller asks, while the first check (which
        // read the snapshot before it) is still on its way.
        *db.now.lock().unwrap() = Some("10:13:".to_owned());
        let second = ask(&db.rounds);
        wait_for_callers(&db.rounds, 2);
        db.finish.send(()).unwrap();
        let (first, second) = (first.join().unwrap(), second.join().unwrap());
        assert_eq!(first, Some(1));
        assert_eq!(second, Some(2), "the second caller saw the commit");
        assert_eq!(*db.reads.lock().unwrap(), 2);
    }

    #[test]
    fn callers_waiting_during_a_check_share_the_next_one() {
        let db = db();
        let first = ask(&db.rounds);
        db.began.recv().unwrap();
        let waiting: Vec<_> = (0..4).map(|_| ask(&db.rounds)).collect();
        wait_for_callers(&db.rounds, 5);
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
        let rounds = Rounds::new(Panicking(true));
        assert_eq!(rounds.generation(), None);
        assert_eq!(rounds.generation(), Some(2));
    }

    #[test]
    fn the_generation_moves_with_the_snapshot_and_after_a_failure() {
        let db = db();
        drop(db.finish);
        let generation = || db.rounds.generation();
        assert_eq!(generation(), Some(1));
        assert_eq!(generation(), Some(1));
        *db.now.lock().unwrap() = Some("10:14:".to_owned());
        assert_eq!(generation(), Some(2));
        *db.now.lock().unwrap() = None;
        assert_eq!(generation(), None, "a failed check answers nothing");
        *db.now.lock().unwrap() = Some("10:14:".to_owned());
        assert_eq!(generation(), Some(4), "after a failure the same snapshot counts as new");
    }
}
