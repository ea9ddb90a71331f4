//! Jobs that must run one at a time (updates of one model), run in batches by one thread.
//!
//! With a mutex, each job's thread runs its own job once the one before has let go: between two
//! jobs the next thread has to be woken and scheduled, and on a busy machine that wait was as
//! long as the job itself (16 writers on one model reached half the rate at which one client
//! can run the same statement back to back). Here the thread that finds no job running leads:
//! it runs its own job, then those queued meanwhile, as batches on its connection (a batch
//! can share one commit), and hands each result to the thread waiting for it. A leader serves
//! at most [`MAX_SERVED`] others before handing the lead to the next in line, so that its own
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

/// The result of [`Turns::run`]; `Lost` when the job was in a batch being run for its thread by
/// a leader that panicked while running it (whether it took effect is unknown).
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

    /// Runs `job` after the jobs before it and before those after it. `serve` runs a batch of
    /// jobs, in order, and returns one result per job in the same order; the leader calls it
    /// for its own job alone first, then for the jobs queued meanwhile. It may be called for
    /// other threads' jobs (their `serve` is the same function on another thread): it must not
    /// depend on whose thread runs it.
    pub(crate) fn run(&self, job: J, mut serve: impl FnMut(Vec<J>) -> Vec<R>) -> Ran<R> {
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
        let Some(own) = serve(vec![job]).pop() else { return Ran::Lost };
        let mut served = 0;
        while served < MAX_SERVED {
            let (batch, waiting): (Vec<J>, Vec<_>) =
                lead.queued(MAX_SERVED - served).into_iter().unzip();
            if batch.is_empty() {
                break;
            }
            served += batch.len();
            // A result `serve` left out drops its sender: that thread learns its job was lost.
            for (handed, result) in waiting.into_iter().zip(serve(batch)) {
                // The waiting thread is gone only if it panicked: nobody to tell.
                let _ = handed.send(Handed::Done(result));
            }
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
    /// Up to `most` queued jobs, oldest first; none, with the lead given up, when none waits.
    fn queued(&mut self, most: usize) -> Vec<(J, SyncSender<Handed<J, R>>)> {
        let mut state = self.turns.state();
        if state.queue.is_empty() {
            state.leading = false;
        }
        let take = most.min(state.queue.len());
        state.queue.drain(..take).collect()
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

    /// `serve` for jobs that each make one result.
    fn each<J, R>(mut one: impl FnMut(J) -> R) -> impl FnMut(Vec<J>) -> Vec<R> {
        move |jobs| jobs.into_iter().map(&mut one).collect()
    }

    #[test]
    fn a_lone_job_runs_on_its_own_thread() {
        let turns = Turns::default();
        let me = thread::current().id();
        let on_thread = |n: i32| (n * 10, thread::current().id());
        assert_eq!(turns.run(2, each(on_thread)), Ran::Done((20, me)));
        assert_eq!(turns.run(3, each(on_thread)), Ran::Done((30, me)));
    }

    /// Many threads' jobs: each runs exactly once, never two batches at a time, and each thread
    /// gets its own job's result; some run on a leader's thread, some in a batch of several, and
    /// no leader runs more than its own and MAX_SERVED others in one go.
    #[test]
    fn jobs_run_one_batch_at_a_time_and_each_result_reaches_its_thread() {
        const THREADS: usize = 24;
        const ROUNDS: usize = 40;
        let turns = Arc::new(Turns::default());
        let running = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let for_others = Arc::new(AtomicUsize::new(0));
        let largest_batch = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (turns, running, runs, for_others, largest_batch) = (
                    turns.clone(),
                    running.clone(),
                    runs.clone(),
                    for_others.clone(),
                    largest_batch.clone(),
                );
                thread::spawn(move || {
                    let mut longest_streak = 0;
                    for i in 0..ROUNDS {
                        let mut streak = 0;
                        let job = (t, i, thread::current().id());
                        let ran = turns.run(job, |batch: Vec<(usize, usize, _)>| {
                            assert!(!running.swap(true, Ordering::SeqCst), "two batches at once");
                            thread::sleep(Duration::from_micros(50));
                            largest_batch.fetch_max(batch.len(), Ordering::SeqCst);
                            runs.fetch_add(batch.len(), Ordering::SeqCst);
                            let me = thread::current().id();
                            let others = batch.iter().filter(|(_, _, owner)| *owner != me).count();
                            for_others.fetch_add(others, Ordering::SeqCst);
                            streak += batch.len();
                            running.store(false, Ordering::SeqCst);
                            batch.into_iter().map(|(t, i, _)| (t, i)).collect()
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
        assert!(largest_batch.load(Ordering::SeqCst) > 1, "queued jobs never ran together");
    }

    /// A leader that panics while running a batch of others' jobs: those threads learn their
    /// jobs were lost, the lead passes to the next one queued, and later jobs still run.
    #[test]
    fn a_leader_that_panics_loses_only_the_batch_it_was_running() {
        let turns = Arc::new(Turns::<&'static str, &'static str>::default());
        let (entered, go) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let in_batch = Arc::new(AtomicBool::new(false));
        let leader = {
            let (turns, entered, go, in_batch) =
                (turns.clone(), entered.clone(), go.clone(), in_batch.clone());
            thread::spawn(move || {
                turns.run("lead", |batch| {
                    if batch == ["lead"] {
                        entered.store(true, Ordering::SeqCst);
                        while !go.load(Ordering::SeqCst) {
                            thread::yield_now();
                        }
                        return vec!["led"];
                    }
                    in_batch.store(true, Ordering::SeqCst);
                    // Panics once the heir waits behind this batch.
                    while turns.state().queue.is_empty() {
                        thread::yield_now();
                    }
                    panic!("running {batch:?}");
                })
            })
        };
        while !entered.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        let queued = |job: &'static str| {
            let turns = turns.clone();
            thread::spawn(move || turns.run(job, each(|job| job)))
        };
        let doomed = [queued("doomed"), queued("doomed too")];
        while turns.state().queue.len() < 2 {
            thread::yield_now();
        }
        go.store(true, Ordering::SeqCst);
        while !in_batch.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        let heir = queued("heir");
        assert!(leader.join().is_err(), "the leader panicked");
        for doomed in doomed {
            assert_eq!(doomed.join().unwrap(), Ran::Lost);
        }
        assert_eq!(heir.join().unwrap(), Ran::Done("heir"));
        assert_eq!(turns.run("after", each(|job| job)), Ran::Done("after"));
        assert!(!turns.state().leading);
    }
}
