//! Jobs that must run one at a time (updates of one model), run back to back by one thread.
//!
//! With a mutex, each job's thread runs its own job once the one before has let go: between two
//! jobs the next thread has to be woken and scheduled, and on a busy machine that wait was as
//! long as the job itself (16 writers on one model reached half the rate at which one client
//! can run the same statement back to back). Here the thread that finds no job running leads:
//! it runs its own job, then those queued meanwhile, one after the other on its connection,
//! and hands each result to the thread waiting for it. A leader serves at most
//! [`MAX_SERVED`] others before handing the lead to the next in line, so that its own
//! request's answer is not held back for long.

use std::collections::VecDeque;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Mutex, MutexGuard};

/// How many queued jobs a leader runs for others before passing the lead on.
pub(crate) const MAX_SERVED: usize = 16;

pub(crate) struct Turns<J, R> {
    state: Mutex<State<J, R>>,
}

struct State<J, R> {
    leading: bool,
    queue: VecDeque<(J, SyncSender<Handed<J, R>>)>,
}

/// What a waiting thread is handed: its job's result, or its job back with the lead.
enum Handed<J, R> {
    Done(R),
    Lead(J),
}

/// The result of [`Turns::run`]; `Lost` when the job was being run for its thread by a leader
/// that panicked while running it (whether it took effect is unknown).
#[derive(Debug, PartialEq)]
pub(crate) enum Ran<R> {
    Done(R),
    Lost,
}

impl<J, R> Default for Turns<J, R> {
    fn default() -> Self {
        Self { state: Mutex::new(State { leading: false, queue: VecDeque::new() }) }
    }
}

impl<J, R> Turns<J, R> {
    fn state(&self) -> MutexGuard<'_, State<J, R>> {
        // Nothing is left half-done under this lock: a poisoned one is as good as any.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `job` with `serve` after the jobs before it and before those after it. `serve` may
    /// be called for other threads' jobs too (their `serve` is the same function on another
    /// thread): it must not depend on whose thread runs it.
    pub(crate) fn run(&self, job: J, mut serve: impl FnMut(J) -> R) -> Ran<R> {
        let job = {
            let mut state = self.state();
            if state.leading {
                let (handed, waiting) = sync_channel(1);
                state.queue.push_back((job, handed));
                drop(state);
                match waiting.recv().ok() {
                    Some(Handed::Done(result)) => return Ran::Done(result),
                    Some(Handed::Lead(job)) => job,
                    None => return Ran::Lost,
                }
            } else {
                state.leading = true;
                job
            }
        };
        let mut lead = Lead { turns: self };
        let own = serve(job);
        for _ in 0..MAX_SERVED {
            let Some((job, handed)) = lead.next() else { return Ran::Done(own) };
            // The waiting thread is gone only if it panicked: nobody to tell.
            let _ = handed.send(Handed::Done(serve(job)));
        }
        Ran::Done(own)
    }
}

/// The lead while a thread holds it: given up when the queue is empty, otherwise passed to the
/// next waiting thread when the leader stops (after [`MAX_SERVED`] jobs, or by panicking).
struct Lead<'t, J, R> {
    turns: &'t Turns<J, R>,
}

impl<J, R> Lead<'_, J, R> {
    /// The next queued job; `None`, with the lead given up, when there is none.
    fn next(&mut self) -> Option<(J, SyncSender<Handed<J, R>>)> {
        let mut state = self.turns.state();
        let next = state.queue.pop_front();
        if next.is_none() {
            state.leading = false;
        }
        next
    }
}

impl<J, R> Drop for Lead<'_, J, R> {
    fn drop(&mut self) {
        let mut state = self.turns.state();
        if !state.leading {
            return;
        }
        while let Some((job, handed)) = state.queue.pop_front() {
            // A waiting thread gone (it panicked) cannot lead: the next one in line does.
            if handed.send(Handed::Lead(job)).is_ok() {
                return;
            }
        }
        state.leading = false;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_lone_job_runs_on_its_own_thread() {
        let turns = Turns::default();
        let me = thread::current().id();
        assert_eq!(turns.run(2, |n| (n * 10, thread::current().id())), Ran::Done((20, me)));
        assert_eq!(turns.run(3, |n| (n * 10, thread::current().id())), Ran::Done((30, me)));
    }

    /// Many threads' jobs: each runs exactly once, never two at a time, and each thread gets
    /// its own job's result; some run on a leader's thread, and no leader runs more than its own
    /// and MAX_SERVED others in one go.
    #[test]
    fn jobs_run_one_at_a_time_and_each_result_reaches_its_thread() {
        const THREADS: usize = 24;
        const ROUNDS: usize = 40;
        let turns = Arc::new(Turns::default());
        let running = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let for_others = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (turns, running, runs, for_others) =
                    (turns.clone(), running.clone(), runs.clone(), for_others.clone());
                thread::spawn(move || {
                    let mut longest_streak = 0;
                    for i in 0..ROUNDS {
                        let mut streak = 0;
                        let job = (t, i, thread::current().id());
                        let ran = turns.run(job, |(t, i, owner)| {
                            assert!(!running.swap(true, Ordering::SeqCst), "two jobs at once");
                            thread::sleep(Duration::from_micros(50));
                            runs.fetch_add(1, Ordering::SeqCst);
                            if owner != thread::current().id() {
                                for_others.fetch_add(1, Ordering::SeqCst);
                            }
                            streak += 1;
                            running.store(false, Ordering::SeqCst);
                            (t, i)
                        });
                        assert_eq!(ran, Ran::Done((t, i)));
                        longest_streak = longest_streak.max(streak);
                    }
                    longest_streak
                })
            })
            .collect();
        for t in threads {
            let longest_streak = t.join().unwrap();
            assert!(longest_streak <= 1 + MAX_SERVED, "a leader ran {longest_streak} in a row");
        }
        assert_eq!(runs.load(Ordering::SeqCst), THREADS * ROUNDS);
        assert!(for_others.load(Ordering::SeqCst) > 0, "no job was ever run by a leader");
    }

    /// A leader that panics while running another thread's job: that thread learns its job was
    /// lost, the lead passes on, and later jobs still run.
    #[test]
    fn a_leader_that_panics_loses_only_the_job_it_was_running() {
        let turns = Arc::new(Turns::<&'static str, &'static str>::default());
        let (entered, go) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let leader = {
            let (turns, entered, go) = (turns.clone(), entered.clone(), go.clone());
            thread::spawn(move || {
                turns.run("lead", |job| {
                    if job == "lead" {
                        entered.store(true, Ordering::SeqCst);
                        while !go.load(Ordering::SeqCst) {
                            thread::yield_now();
                        }
                        return "led";
                    }
                    panic!("running {job}");
                })
            })
        };
        while !entered.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        let queued = |job: &'static str| {
            let turns = turns.clone();
            thread::spawn(move || turns.run(job, |job| job))
        };
        let doomed = queued("doomed");
        while turns.state().queue.is_empty() {
            thread::yield_now();
        }
        let survivor = queued("survivor");
        while turns.state().queue.len() < 2 {
            thread::yield_now();
        }
        go.store(true, Ordering::SeqCst);
        assert!(leader.join().is_err(), "the leader panicked");
        assert_eq!(doomed.join().unwrap(), Ran::Lost);
        assert_eq!(survivor.join().unwrap(), Ran::Done("survivor"));
        assert_eq!(turns.run("after", |job| job), Ran::Done("after"));
        assert!(!turns.state().leading);
    }
}
