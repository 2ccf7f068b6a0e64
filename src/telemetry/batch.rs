//! The log writer: lines formatted on the caller's thread are appended to one buffer, and a
//! thread of its own writes that buffer out in batches.
//!
//! Why not tracing-appender's `NonBlocking`, used before: its worker took one line per
//! wake-up, so at the default log level (an access-log line per request) each request paid a
//! futex wake, and the worker a context switch and usually a `write` of its own: that thread
//! alone was ~9 % of the service's CPU on `/v1/jobs?limit=20` (perf, 2026-12-04). Here the
//! writer wakes when a line arrives to an empty buffer, waits [`BATCH_DELAY`] so the lines of
//! that stretch join it, and writes them with one call: at 30k lines a second that is ~100
//! writes instead of ~30k wake-ups, and nothing at all while the service is idle.
//!
//! What stays as before: a line never waits for the sink (a full pipe, a slow log driver).
//! Past [`BatchWriter`]'s byte limit lines are dropped and counted, so the buffer stays
//! bounded; dropping the [`BatchGuard`] writes out what is queued.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long the writer lets lines gather after the first one of a batch: what a line waits
/// at most before it is written (plus the write itself).
const BATCH_DELAY: Duration = Duration::from_millis(10);

/// A buffer's capacity kept after a batch: a burst may grow it to the limit; it goes back.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Where the caller's threads write lines: cheap to clone, never blocks on the sink.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Keeps the writer's thread; dropping it writes out what is queued and ends the thread.
pub struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Bytes queued at most; a line that would pass it is dropped.
    limit: usize,
    dropped: AtomicU64,
}

#[derive(Default)]
struct State {
    queued: Vec<u8>,
    closing: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across anything that can panic but an allocation.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the writer's thread (`name`), writing to `sink`, with at most `limit` bytes queued.
pub fn spawn<W: Write + Send + 'static>(
    sink: W,
    limit: usize,
    name: &str,
) -> std::io::Result<(BatchWriter, BatchGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::default(),
        wake: Condvar::new(),
        limit,
        dropped: AtomicU64::new(0),
    });
    let theirs = shared.clone();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || write_batches(&theirs, sink))?;
    Ok((
        BatchWriter {
            shared: shared.clone(),
        },
        BatchGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

impl BatchWriter {
    /// Lines dropped so far because the queue was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// One formatted line (tracing-subscriber's fmt layer writes each event with one call).
impl Write for &BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut state = self.shared.state();
        if state.queued.len() + line.len() > self.shared.limit {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        let first = state.queued.is_empty();
        state.queued.extend_from_slice(line);
        drop(state);
        if first {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    /// Lines go out with their batch: within [`BATCH_DELAY`] and the write.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = &'a BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.state().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer's thread: waits for a first line, lets the batch gather, swaps buffers (the
/// caller's threads get the empty one back) and writes the batch with the lock released.
fn write_batches<W: Write>(shared: &Shared, mut sink: W) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.state();
        while state.queued.is_empty() && !state.closing {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let closing = state.closing;
        if !closing {
            drop(state);
            std::thread::sleep(BATCH_DELAY);
            state = shared.state();
        }
        std::mem::swap(&mut state.queued, &mut batch);
        drop(state);
        if batch.is_empty() && closing {
            break;
        }
        // A failing sink (stderr closed) loses these lines; there is nowhere to report it.
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        batch.clear();
        batch.shrink_to(KEEP_CAPACITY);
    }
    let _ = sink.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// stderr stalled (a full pipe): every write blocks until the test lets it go, and what
    /// gets through is kept.
    struct Stalled(mpsc::Receiver<()>, Arc<Mutex<Vec<u8>>>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            self.1.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_sink_drops_and_counts_lines_instead_of_blocking_the_logger() {
        let (release, stalled) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        let limit = 64 * 1024;
        let (writer, guard) =
            spawn(Stalled(stalled, written.clone()), limit, "test-log").expect("spawn");
        let lines = 20_000;
        // Were a line to wait for the sink, this loop would never end (the test would hang):
        // the sink answers nothing until `release` below.
        for i in 0..lines {
            (&writer)
                .write_all(format!("line {i:05}\n").as_bytes())
                .expect("never fails a write");
        }
        let dropped = writer.dropped_lines();
        // 11 bytes a line: at most two buffers' worth (the one being written, the queued
        // one) got through; everything else was counted.
        let kept_at_most = 2 * (limit / 11) as u64;
        assert!(
            dropped >= lines - kept_at_most,
            "{dropped} of {lines} lines dropped with {limit} bytes queued at most"
        );
        drop(release);
        drop(guard);
        let written = written.lock().expect("sink").clone();
        let text = String::from_utf8(written).expect("whole lines");
        let got = text.lines().count() as u64;
        assert_eq!(got + dropped, lines, "every line is written or counted");
        assert!(text.starts_with("line 00000\n"), "in order, from the first");
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_is_dropped() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = SharedSink(written.clone());
        let (writer, guard) = spawn(sink, 1 << 20, "test-log").expect("spawn");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        (&writer)
                            .write_all(format!("{t} {i}\n").as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer thread");
        }
        drop(guard);
        assert_eq!(writer.dropped_lines(), 0);
        let text = String::from_utf8(written.lock().expect("sink").clone()).expect("utf-8");
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("{t} ")))
                .collect();
            let expected: Vec<String> = (0..2_000).map(|i| format!("{t} {i}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines, whole and in order");
        }
    }

    #[test]
    fn a_lone_line_is_written_without_more_lines_or_a_shutdown() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (writer, _guard) =
            spawn(SharedSink(written.clone()), 1 << 20, "test-log").expect("spawn");
        (&writer).write_all(b"alone\n").expect("write");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while written.lock().expect("sink").as_slice() != b"alone\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "a single line must be written by itself"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    struct SharedSink(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
