//! Postgres's shared check ([`crate::fresh`]) made on the async worker that waits for it.
//!
//! The check thread of [`crate::fresh::SharedChecks`] costs every check two hops between
//! threads (waking the checker, and the checker waking the workers' waiting requests): under
//! load, most of a cached GET's time went into those wake-ups, and the requests' wait for
//! them. Here each runtime thread (an actix worker) keeps a non-blocking connection of its own
//! and runs the checks its requests wait for as a task beside them: the query and its answer
//! go through the worker's own event loop. The rules are those of the thread's checks — a
//! caller never takes the answer of a check begun before it asked, the callers waiting during
//! a check share the next one, a check older than the patience counts as failed — and the
//! answers count in the same [`Generations`] as the check thread's.
//!
//! Where this cannot be used — the URL does not name its server plainly, the connection
//! cannot be made (TLS that must be verified, a password given by environment…) — the check
//! thread answers instead ([`WorkerChecks::wait`] returns `None`).
use std::any::Any;
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::watch;

use crate::fresh::{Generations, answer_of};

/// Where the checks of [`WorkerChecks`] read, without holding a thread.
pub(crate) trait AsyncSnapshots: Send + Sync + 'static {
    /// A connection, kept by a runtime thread between its checks.
    type Conn: Send + 'static;

    /// A new connection; `None` when it cannot be made.
    fn connect(&self) -> impl Future<Output = Option<Self::Conn>> + Send;

    /// The snapshot now; `None` when it cannot be read (the connection is then dropped).
    fn read(&self, conn: &Self::Conn) -> impl Future<Output = Option<String>> + Send;

    /// Whether a kept connection may still answer (one whose runtime is gone may not).
    fn is_open(&self, conn: &Self::Conn) -> bool;
}

/// After a connection could not be made, the check thread answers for this long before a
/// worker tries again, twice as long after each failure in a row up to [`RETRY_AFTER_AT_MOST`]:
/// a setting this path cannot follow (a password only libpq finds, say) costs a few attempts
/// an hour, not one per check, nor a failed login every few seconds in the server's log.
const RETRY_AFTER: Duration = Duration::from_secs(10);
const RETRY_AFTER_AT_MOST: Duration = Duration::from_secs(600);

/// The checks of one store on every runtime thread that asks.
pub(crate) struct WorkerChecks<A: AsyncSnapshots> {
    shared: Arc<Shared<A>>,
}

struct Shared<A: AsyncSnapshots> {
    source: A,
    generations: Arc<Generations>,
    patience: Duration,
    /// Tells this store's checkers apart in a thread's list ([`THREADS`]).
    id: u64,
    /// Every thread's checker, so that they end with the store.
    threads: Mutex<Vec<Arc<ThreadChecks<A::Conn>>>>,
    /// Connections that failed in a row, and until when the check thread answers instead.
    fall_back: Mutex<(u32, Option<Instant>)>,
    /// Whether the last connection failed: every request asks, the lock is for after failures.
    failing: AtomicBool,
}

/// The checks of one store on one runtime thread.
struct ThreadChecks<C> {
    state: Mutex<ThreadState<C>>,
    /// (checks finished, the last one's answer), for the callers waiting.
    answers: watch::Sender<(u64, Option<u64>)>,
}

struct ThreadState<C> {
    started: u64,
    finished: u64,
    /// The newest check a caller waits for.
    wanted: u64,
    /// Whether the task running this thread's checks is there.
    running: bool,
    /// The connection, between checks.
    conn: Option<C>,
    /// The store is gone.
    closed: bool,
}

thread_local! {
    /// This thread's checkers, by store ([`Shared::id`]); the stores own them.
    static THREADS: RefCell<Vec<(u64, Weak<dyn Any + Send + Sync>)>> =
        const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl<A: AsyncSnapshots> WorkerChecks<A> {
    pub(crate) fn new(source: A, generations: Arc<Generations>, patience: Duration) -> Self {
        let shared = Shared {
            source,
            generations,
            patience,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            threads: Mutex::default(),
            fall_back: Mutex::default(),
            failing: AtomicBool::new(false),
        };
        Self { shared: Arc::new(shared) }
    }

    /// The answer of a check that begins after this call, made on this thread's runtime;
    /// `None` when the check thread must answer instead (no runtime here, or this thread's
    /// connection failed lately).
    pub(crate) fn wait(&self) -> Option<impl Future<Output = Option<u64>> + Send + 'static> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        if self.shared.falling_back() {
            return None;
        }
        let thread = self.shared.this_thread();
        let (needed, closed) = {
            let mut state = lock(&thread.state);
            let needed = state.started + 1;
            if state.wanted < needed {
                state.wanted = needed;
                if !state.running && !state.closed {
                    state.running = true;
                    runtime.spawn(Arc::clone(&self.shared).run(Arc::clone(&thread)));
                }
            }
            (needed, state.closed)
        };
        let answers = thread.answers.subscribe();
        Some(answer_of(answers, needed, (!closed).then_some(self.shared.patience)))
    }
}

impl<A: AsyncSnapshots> Drop for WorkerChecks<A> {
    fn drop(&mut self) {
        for thread in lock(&self.shared.threads).drain(..) {
            let mut state = lock(&thread.state);
            state.closed = true;
            state.conn = None;
            thread.answers.send_replace((u64::MAX, None));
        }
    }
}

impl<A: AsyncSnapshots> Shared<A> {
    fn falling_back(&self) -> bool {
        self.failing.load(Ordering::Acquire)
            && lock(&self.fall_back).1.is_some_and(|until| Instant::now() < until)
    }

    /// Counts a connection attempt that failed (`false`) or succeeded.
    fn connected(&self, connected: bool) {
        let mut fall_back = lock(&self.fall_back);
        self.failing.store(!connected, Ordering::Release);
        if connected {
            *fall_back = (0, None);
            return;
        }
        let failures = fall_back.0.saturating_add(1);
        let wait = RETRY_AFTER.saturating_mul(1 << (failures - 1).min(6)).min(RETRY_AFTER_AT_MOST);
        *fall_back = (failures, Some(Instant::now() + wait));
    }

    /// This thread's checker, made at its first call.
    fn this_thread(&self) -> Arc<ThreadChecks<A::Conn>> {
        THREADS.with(|threads| {
            let mut threads = threads.borrow_mut();
            let mine = threads.iter().find(|(id, _)| *id == self.id);
            if let Some(mine) = mine.and_then(|(_, checks)| checks.upgrade())
                && let Ok(mine) = mine.downcast::<ThreadChecks<A::Conn>>()
            {
                return mine;
            }
            let state = ThreadState {
                started: 0,
                finished: 0,
                wanted: 0,
                running: false,
                conn: None,
                closed: false,
            };
            let answers = watch::Sender::new((0, None));
            let checks = Arc::new(ThreadChecks { state: Mutex::new(state), answers });
            lock(&self.threads).push(Arc::clone(&checks));
            let any: Arc<dyn Any + Send + Sync> = checks.clone();
            // Checkers of stores gone are dropped here, not looked past on every call.
            threads.retain(|(_, checks)| checks.strong_count() > 0);
            threads.push((self.id, Arc::downgrade(&any)));
            checks
        })
    }

    /// A thread's checker: one check whenever a caller waits for one that has not begun,
    /// until none does.
    async fn run(self: Arc<Self>, thread: Arc<ThreadChecks<A::Conn>>) {
        // A runtime that ends drops this task wherever it waits: the next caller on this
        // thread (on another runtime) must start a new one.
        let mut running = Running { thread: Arc::clone(&thread), ended: false };
        loop {
            let conn = {
                let mut state = lock(&thread.state);
                if state.closed || state.wanted <= state.started {
                    // Under the lock: a caller asking from now on starts a new task.
                    state.running = false;
                    running.ended = true;
                    return;
                }
                state.started += 1;
                state.conn.take().filter(|conn| self.source.is_open(conn))
            };
            let fresh = conn.is_none();
            let check = async {
                let conn = match conn {
                    Some(conn) => Some(conn),
                    None => self.source.connect().await,
                };
                let read = match &conn {
                    Some(conn) => self.source.read(conn).await,
                    None => None,
                };
                (conn, read)
            };
            // A check that hangs ends here, with its connection: the callers waiting for it have
            // given up by then (they wait as long), and the next check connects again. One that
            // panics (a runtime without IO, say) fails too, instead of ending the task unanswered.
            let check = AssertUnwindSafe(tokio::time::timeout(self.patience, check));
            let (conn, read) =
                check.catch_unwind().await.ok().and_then(Result::ok).unwrap_or_default();
            if fresh {
                self.connected(conn.is_some());
            }
            let answer = self.generations.count(read.clone());
            let mut state = lock(&thread.state);
            state.finished = state.started;
            if !state.closed {
                state.conn = conn.filter(|_| read.is_some());
                thread.answers.send_replace((state.finished, answer));
            }
        }
    }
}

/// Marks a thread's checker as not running when its task is dropped before it ended.
struct Running<C> {
    thread: Arc<ThreadChecks<C>>,
    ended: bool,
}

impl<C> Drop for Running<C> {
    fn drop(&mut self) {
        if !self.ended {
            lock(&self.thread.state).running = false;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Postgres, through tokio-postgres: the same server as the store's connections, TLS as libpq
/// negotiates it by default.
pub(crate) struct PgAsync {
    config: tokio_postgres::Config,
    tls: postgres_openssl::MakeTlsConnector,
}

/// A connection of [`PgAsync`], with its check statement prepared.
pub(crate) struct PgConn {
    client: tokio_postgres::Client,
    statement: tokio_postgres::Statement,
}

impl PgAsync {
    /// `None` unless `url` names the one server libpq connects to whatever the environment
    /// says, in a form tokio-postgres reads the same way: a check of another server would tell
    /// nothing about this one's commits. A host (one) must be given, and a port unless
    /// `PGPORT` is unset (both then take 5432). User, password and database may differ: a
    /// snapshot is the server's, and a connection that cannot be made falls back.
    pub(crate) fn from_url(url: &str) -> Option<Self> {
        Self::from_url_where(url, std::env::var_os("PGPORT").is_some())
    }

    fn from_url_where(url: &str, pgport_set: bool) -> Option<Self> {
        let mut config = tokio_postgres::Config::from_str(url).ok()?;
        let hosts = config.get_hosts().len() + config.get_hostaddrs().len();
        // (tokio-postgres fills in 5432 itself: whether the URL names a port is read here.)
        let port_known = names_port(url) || !pgport_set;
        if hosts != 1 || !port_known {
            return None;
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(2));
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(15));
        }
        config.application_name("modelgate snapshot check");
        let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).ok()?;
        // libpq's `prefer` and `require` encrypt without verifying the server's certificate;
        // the store's own connections do the same. A URL asking for verification
        // (`verify-ca`, `verify-full`) is not read by tokio-postgres, so never comes here.
        tls.set_verify(openssl::ssl::SslVerifyMode::NONE);
        let tls = postgres_openssl::MakeTlsConnector::new(tls.build());
        Some(Self { config, tls })
    }
}

/// Whether a connection string (URL or `key=value` form) names a port.
fn names_port(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return url.split_whitespace().any(|pair| pair == "port" || pair.starts_with("port="));
    };
    let (authority, query) = match rest.find(['/', '?']) {
        Some(end) => (&rest[..end], rest[end..].split_once('?').map_or("", |(_, q)| q)),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    // The part after the last colon, unless that colon is inside an IPv6 address (`[::1]`).
    let in_authority = host.rsplit_once(':').is_some_and(|(before, port)| {
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && (!before.contains(':') || before.ends_with(']'))
    });
    in_authority || query.split('&').any(|pair| pair.starts_with("port="))
}

impl AsyncSnapshots for PgAsync {
    type Conn = PgConn;

    async fn connect(&self) -> Option<PgConn> {
        let connected = self.config.connect(self.tls.clone()).await;
        let (client, connection) = connected
            .inspect_err(|error| {
                tracing::info!(%error, "the shared check cannot connect on async workers: the check thread makes it");
            })
            .ok()?;
        // Ends when the client is dropped, or the connection fails.
        tokio::spawn(connection);
        let statement = client.prepare("SELECT pg_current_snapshot()::text").await.ok()?;
        Some(PgConn { client, statement })
    }

    async fn read(&self, conn: &PgConn) -> Option<String> {
        let row = conn.client.query_one(&conn.statement, &[]).await.ok()?;
        row.try_get(0).ok()
    }

    fn is_open(&self, conn: &PgConn) -> bool {
        !conn.client.is_closed()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tokio::sync::oneshot;

    use super::{AsyncSnapshots, PgAsync, RETRY_AFTER, RETRY_AFTER_AT_MOST, WorkerChecks, lock};
    use crate::fresh::Generations;

    type Gate = Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>;

    /// A database whose snapshot a test sets; the first read takes the snapshot when it begins,
    /// then waits until the test lets it finish.
    #[derive(Clone, Default)]
    struct Scripted {
        now: Arc<Mutex<Option<String>>>,
        reads: Arc<AtomicUsize>,
        connects: Arc<AtomicUsize>,
        refuse: Arc<AtomicBool>,
        gate: Arc<Mutex<Gate>>,
    }

    impl AsyncSnapshots for Scripted {
        type Conn = ();

        async fn connect(&self) -> Option<()> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            (!self.refuse.load(Ordering::SeqCst)).then_some(())
        }

        async fn read(&self, _: &()) -> Option<String> {
            let read = self.now.lock().unwrap().clone();
            self.reads.fetch_add(1, Ordering::SeqCst);
            let gate = self.gate.lock().unwrap().take();
            if let Some((began, finish)) = gate {
                let _ = began.send(());
                let _ = finish.await;
            }
            read
        }

        fn is_open(&self, _: &()) -> bool {
            true
        }
    }

    struct Db {
        source: Scripted,
        began: oneshot::Receiver<()>,
        finish: oneshot::Sender<()>,
        checks: WorkerChecks<Scripted>,
    }

    fn db(patience: Duration) -> Db {
        let source = Scripted::default();
        *source.now.lock().unwrap() = Some("10:12:".to_owned());
        let (began_tx, began) = oneshot::channel();
        let (finish, finish_rx) = oneshot::channel();
        *source.gate.lock().unwrap() = Some((began_tx, finish_rx));
        let checks = WorkerChecks::new(source.clone(), Arc::default(), patience);
        Db { source, began, finish, checks }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    /// Every wait of these tests is bounded: a regression fails instead of hanging.
    const BOUND: Duration = Duration::from_secs(30);

    async fn answer(checks: &WorkerChecks<Scripted>) -> Option<u64> {
        let wait = checks.wait().expect("checked on the worker");
        tokio::time::timeout(BOUND, wait).await.unwrap()
    }

    #[test]
    fn a_caller_never_takes_the_answer_of_a_check_begun_before_it_asked() {
        let db = db(BOUND);
        runtime().block_on(async {
            let first = tokio::spawn(db.checks.wait().unwrap());
            db.began.await.unwrap();
            // A commit, acknowledged before the second caller asks, while the first check
            // (which read the snapshot before it) is still on its way.
            *db.source.now.lock().unwrap() = Some("10:13:".to_owned());
            let second = tokio::spawn(db.checks.wait().unwrap());
            tokio::task::yield_now().await;
            db.finish.send(()).unwrap();
            // The first caller may wake after the second check too: any later answer will do.
            let first = first.await.unwrap();
            assert!(matches!(first, Some(1 | 2)), "{first:?}");
            assert_eq!(second.await.unwrap(), Some(2), "the second caller saw the commit");
        });
        assert_eq!(db.source.reads.load(Ordering::SeqCst), 2);
        assert_eq!(db.source.connects.load(Ordering::SeqCst), 1, "the connection is kept");
    }

    #[test]
    fn callers_waiting_during_a_check_share_the_next_one() {
        let db = db(BOUND);
        runtime().block_on(async {
            let first = tokio::spawn(db.checks.wait().unwrap());
            db.began.await.unwrap();
            let waiting: Vec<_> = (0..4).map(|_| tokio::spawn(db.checks.wait().unwrap())).collect();
            db.finish.send(()).unwrap();
            assert_eq!(first.await.unwrap(), Some(1));
            for waiter in waiting {
                assert_eq!(waiter.await.unwrap(), Some(1), "nothing committed: one generation");
            }
            assert_eq!(answer(&db.checks).await, Some(1));
        });
        assert_eq!(db.source.reads.load(Ordering::SeqCst), 3, "one check for the four waiting");
    }

    /// A check that hangs (its connection stuck while the database answers others) is taken
    /// as failed after the patience, and the next one is made on a new connection.
    #[test]
    fn a_hanging_check_fails_and_the_next_one_connects_again() {
        let db = db(Duration::from_millis(200));
        runtime().block_on(async {
            assert_eq!(answer(&db.checks).await, None, "the hanging check answered");
            assert_eq!(answer(&db.checks).await, Some(2), "after a failure, a new generation");
        });
        drop(db.finish);
        assert_eq!(db.source.connects.load(Ordering::SeqCst), 2);
    }

    /// A connection that cannot be made (a setting only libpq follows, say) leaves the checks
    /// to the check thread for a while, instead of failing every check.
    #[test]
    fn a_connection_that_cannot_be_made_falls_back_to_the_check_thread() {
        let db = db(BOUND);
        db.source.refuse.store(true, Ordering::SeqCst);
        runtime().block_on(async {
            assert_eq!(answer(&db.checks).await, None);
            assert!(db.checks.wait().is_none(), "did not fall back");
        });
        assert_eq!(db.source.connects.load(Ordering::SeqCst), 1);
        assert_eq!(db.source.reads.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn failures_in_a_row_wait_longer_up_to_a_bound_and_a_connection_ends_the_wait() {
        let db = db(BOUND);
        let shared = &db.checks.shared;
        let wait = || {
            let until = lock(&shared.fall_back).1.expect("falling back");
            until.saturating_duration_since(Instant::now())
        };
        shared.connected(false);
        assert!(wait() <= RETRY_AFTER && wait() > RETRY_AFTER / 2, "{:?}", wait());
        shared.connected(false);
        assert!(wait() > RETRY_AFTER * 3 / 2, "{:?}", wait());
        for _ in 0..40 {
            shared.connected(false);
        }
        assert!(wait() <= RETRY_AFTER_AT_MOST && wait() > RETRY_AFTER_AT_MOST / 2);
        shared.connected(true);
        assert!(!shared.falling_back());
    }

    /// Tests (and a server that stops) drop runtimes with a check on its way: the next
    /// runtime on the thread must get answers.
    #[test]
    fn a_runtime_dropped_during_a_check_leaves_the_next_one_working() {
        let db = db(BOUND);
        let first = runtime();
        first.block_on(async {
            tokio::spawn(db.checks.wait().unwrap());
            db.began.await.unwrap();
        });
        drop(first);
        drop(db.finish);
        assert_eq!(runtime().block_on(answer(&db.checks)), Some(1));
    }

    #[test]
    fn callers_still_waiting_when_the_store_goes_get_no_answer() {
        let db = db(BOUND);
        runtime().block_on(async {
            let waiting = tokio::spawn(db.checks.wait().unwrap());
            db.began.await.unwrap();
            drop(db.checks);
            assert_eq!(waiting.await.unwrap(), None);
        });
    }

    #[test]
    fn a_check_that_panics_fails_and_falls_back() {
        struct Panicking;
        impl AsyncSnapshots for Panicking {
            type Conn = ();
            async fn connect(&self) -> Option<()> {
                panic!("no IO on this runtime");
            }
            async fn read(&self, _: &()) -> Option<String> {
                None
            }
            fn is_open(&self, _: &()) -> bool {
                true
            }
        }
        let checks = WorkerChecks::new(Panicking, Arc::default(), BOUND);
        runtime().block_on(async {
            let wait = checks.wait().unwrap();
            assert_eq!(tokio::time::timeout(BOUND, wait).await.unwrap(), None);
            assert!(checks.wait().is_none(), "did not fall back");
        });
    }

    #[test]
    fn without_a_runtime_the_check_thread_answers() {
        assert!(db(BOUND).checks.wait().is_none());
    }

    #[test]
    fn checks_wherever_made_count_in_one_series_of_generations() {
        let generations = Generations::default();
        let first = || Some("10:12:".to_owned());
        assert_eq!(generations.count(first()), Some(1));
        assert_eq!(generations.count(first()), Some(1));
        assert_eq!(generations.count(Some("10:14:".to_owned())), Some(2));
        // An older snapshot counted late (checks overlap): a new generation, never the old one.
        assert_eq!(generations.count(first()), Some(3));
        assert_eq!(generations.count(None), None);
        assert_eq!(generations.count(first()), Some(5), "after a failure, a new generation");
    }

    /// Only a URL naming the one server libpq reaches is checked this way.
    #[test]
    fn only_a_url_that_names_its_server_is_checked_on_workers() {
        let checked =
            |url: &str, pgport_set: bool| PgAsync::from_url_where(url, pgport_set).is_some();
        assert!(checked("postgres://u@db.internal:5432/modelgate", true));
        assert!(checked("postgres://u@db.internal/modelgate", false), "5432 on both sides");
        assert!(checked("host=/var/run/postgresql port=5432 dbname=modelgate", true));
        assert!(checked("postgres://u:p@10.0.0.5:5432/m?sslmode=require&connect_timeout=5", true));
        assert!(!checked("postgres://u@db.internal/modelgate", true), "PGPORT decides libpq's");
        assert!(!checked("postgres:///modelgate", false), "PGHOST decides libpq's host");
        assert!(!checked("postgres://u@a:5432,b:5432/m", false), "libpq may pick the other");
        assert!(!checked("postgres://u@h:5432/m?sslmode=verify-full", false), "verification");
        assert!(!checked("postgres://u@h:5432/m?service=prod", false), "a service file");
        assert!(checked("postgres://u@[::1]:5433/m", true));
        assert!(!checked("postgres://u@[::1]/m", true));
        assert!(checked("postgres://u@h/m?port=5433", true));
        assert!(checked("host=h port = 5433", true));
    }
}
