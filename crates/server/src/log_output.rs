//! Where a serving process's log lines go: gathered in memory and written to stderr by a thread
//! of its own a few milliseconds later, one write per batch. A request's log line then costs
//! its worker a copy instead of a write to the log's file or pipe (measured: an eighth of the
//! throughput of a GET). Lines keep their order. What is gathered is written when the process
//! stops ([`flush`]); a process killed outright loses at most the last few milliseconds. If
//! stderr cannot keep up, what would grow past [`LIMIT`] is dropped and counted, never waited
//! for by a request, and the count is written with the next batch.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The most log output held in memory.
const LIMIT: usize = 4 << 20;

/// How long the writer waits after the first line of a batch for more.
const PAUSE: Duration = Duration::from_millis(5);

struct Gathered {
    lines: Vec<u8>,
    dropped: u64,
    /// The writer is waiting for a first line (only then is it woken: a wake is a system call).
    idle: bool,
}

/// Log output gathered for `W`, written by [`Batched::write_batch`].
struct Batched<W> {
    gathered: Mutex<Gathered>,
    arrived: Condvar,
    /// Held while a batch is taken and written, so that batches reach `W` in order.
    out: Mutex<W>,
}

impl<W: Write> Batched<W> {
    fn new(out: W) -> Self {
        let gathered = Gathered { lines: Vec::new(), dropped: 0, idle: false };
        Self { gathered: Mutex::new(gathered), arrived: Condvar::new(), out: Mutex::new(out) }
    }

    fn gathered(&self) -> MutexGuard<'_, Gathered> {
        self.gathered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `line` for the next batch, or counts it as dropped when [`LIMIT`] is reached.
    fn gather(&self, line: &[u8]) {
        let mut gathered = self.gathered();
        if gathered.lines.len() + line.len() > LIMIT {
            gathered.dropped += 1;
            return;
        }
        gathered.lines.extend_from_slice(line);
        let wake = std::mem::take(&mut gathered.idle);
        drop(gathered);
        if wake {
            self.arrived.notify_one();
        }
    }

    /// Waits until something was gathered.
    fn wait_for_lines(&self) {
        let mut gathered = self.gathered();
        while gathered.lines.is_empty() && gathered.dropped == 0 {
            gathered.idle = true;
            gathered = self.arrived.wait(gathered).unwrap_or_else(|p| p.into_inner());
        }
        gathered.idle = false;
    }

    /// Writes what was gathered so far, as one write (a note of dropped lines after it).
    fn write_batch(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let (lines, dropped) = {
            let mut gathered = self.gathered();
            (std::mem::take(&mut gathered.lines), std::mem::take(&mut gathered.dropped))
        };
        // Nowhere to report a failing stderr: the lines are lost, as with a direct write.
        let _ = out.write_all(&lines);
        if dropped > 0 {
            let note = format!("modelgate: {dropped} log lines dropped: stderr did not keep up\n");
            let _ = out.write_all(note.as_bytes());
        }
        let _ = out.flush();
    }

    /// The writer's loop: a batch whenever something was gathered, [`PAUSE`] after its first line.
    fn run(&self) {
        loop {
            self.wait_for_lines();
            std::thread::sleep(PAUSE);
            self.write_batch();
        }
    }
}

/// The log of this process, once [`start`]ed.
static STDERR: OnceLock<Arc<Batched<std::io::Stderr>>> = OnceLock::new();

/// Starts the thread that writes this process's log in batches (at start-up), and gives the
/// writer to log through; a second call keeps the first thread.
pub fn start() -> std::io::Result<BatchedStderr> {
    if STDERR.get().is_none() {
        let batched = Arc::new(Batched::new(std::io::stderr()));
        let writer = Arc::clone(&batched);
        std::thread::Builder::new().name("modelgate-log".into()).spawn(move || writer.run())?;
        let _ = STDERR.set(batched);
    }
    Ok(BatchedStderr(()))
}

/// Writes what is gathered now (at exit; a no-op when the log is not batched).
pub fn flush() {
    if let Some(batched) = STDERR.get() {
        batched.write_batch();
    }
}

/// The `MakeWriter` of a serving process's log: stderr, in batches (see [`start`]).
#[derive(Clone, Copy)]
pub struct BatchedStderr(());

/// A handle gathering into [`STDERR`] (written directly when it was never started).
pub struct Line;

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match STDERR.get() {
            Some(batched) => batched.gather(bytes),
            None => std::io::stderr().write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Records each write it is given.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Writes {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_in_one_write_per_batch() {
        let writes = Writes::default();
        let batched = Batched::new(writes.clone());
        batched.gather(b"one\n");
        batched.gather(b"two\n");
        assert!(writes.0.lock().unwrap().is_empty(), "written before the batch");
        batched.write_batch();
        batched.gather(b"three\n");
        batched.write_batch();
        let writes = writes.0.lock().unwrap().clone();
        assert_eq!(writes, vec![b"one\ntwo\n".to_vec(), b"three\n".to_vec()]);
    }

    #[test]
    fn past_the_limit_lines_are_counted_not_kept() {
        let writes = Writes::default();
        let batched = Batched::new(writes.clone());
        let big = vec![b'x'; LIMIT - 1];
        batched.gather(&big);
        batched.gather(b"no room\n");
        batched.gather(b"none\n");
        batched.write_batch();
        let text: Vec<String> =
            writes.0.lock().unwrap().iter().map(|w| String::from_utf8_lossy(w).into()).collect();
        assert_eq!(text.len(), 2);
        assert_eq!(text[0].len(), LIMIT - 1);
        assert_eq!(text[1], "modelgate: 2 log lines dropped: stderr did not keep up\n");
    }

    #[test]
    fn the_writer_thread_writes_what_is_gathered_from_any_thread() {
        let writes = Writes::default();
        let batched = Arc::new(Batched::new(writes.clone()));
        let writer = Arc::clone(&batched);
        std::thread::spawn(move || writer.run());
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let batched = Arc::clone(&batched);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        batched.gather(format!("{t}:{i}\n").as_bytes());
                    }
                })
            })
            .collect();
        senders.into_iter().for_each(|s| s.join().unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let lines = loop {
            let text = writes.0.lock().unwrap().concat();
            let lines: Vec<String> =
                String::from_utf8(text).unwrap().lines().map(str::to_owned).collect();
            if lines.len() == 400 || std::time::Instant::now() > deadline {
                break lines;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(lines.len(), 400);
        for t in 0..4 {
            let own: Vec<&String> =
                lines.iter().filter(|l| l.starts_with(&format!("{t}:"))).collect();
            let expected: Vec<String> = (0..100).map(|i| format!("{t}:{i}")).collect();
            assert_eq!(own, expected.iter().collect::<Vec<_>>(), "thread {t}'s lines out of order");
        }
        assert!(writes.0.lock().unwrap().len() < 400, "a write per line");
    }
}
