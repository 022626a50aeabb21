//! Micro-batching: texts that threads embed one at a time, at the same
//! moment, go through the transformer together.
//!
//! A forward pass over 32 texts costs far less than 32 passes over one
//! (each weight matrix is read once per pass, not once per text), but the
//! triage stage predicts one ticket per call, on as many blocking threads as
//! it has tickets in flight. [`MicroBatcher::run`] queues each caller's
//! input; while fewer than `max_running` passes are under way, a caller
//! takes up to `max_batch` queued inputs (the oldest first, its own among
//! them or not), runs them as one pass and hands each result to its caller.
//! Nobody waits for a batch to fill: an input arriving at an idle encoder
//! goes through alone at once, and the batches grow only as the passes fall
//! behind the arrivals.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

pub(crate) struct MicroBatcher<I, O> {
    state: Mutex<State<I, O>>,
    finished: Condvar,
    max_batch: usize,
    max_running: usize,
}

struct State<I, O> {
    queued: VecDeque<(u64, I)>,
    /// Results not yet collected, by caller; `None` when the pass panicked.
    done: HashMap<u64, Option<O>>,
    next_caller: u64,
    running: usize,
}

impl<I, O> MicroBatcher<I, O> {
    /// At most `max_batch` inputs per pass and `max_running` passes at once
    /// (both at least 1).
    pub(crate) fn new(max_batch: usize, max_running: usize) -> Self {
        Self {
            state: Mutex::new(State { queued: VecDeque::new(), done: HashMap::new(), next_caller: 0, running: 0 }),
            finished: Condvar::new(),
            max_batch: max_batch.max(1),
            max_running: max_running.max(1),
        }
    }

    /// `forward(input)`'s share of a pass over this and other callers'
    /// inputs. `forward` returns one output per input, in order. A panic in
    /// a pass is a panic in each of its callers.
    pub(crate) fn run(&self, input: I, forward: impl Fn(Vec<I>) -> Vec<O>) -> O {
        let mut state = self.lock();
        let me = state.next_caller;
        state.next_caller += 1;
        state.queued.push_back((me, input));
        loop {
            if let Some(output) = state.done.remove(&me) {
                return output.expect("the encoder's forward pass panicked");
            }
            if state.running < self.max_running && !state.queued.is_empty() {
                let take = state.queued.len().min(self.max_batch);
                let (callers, inputs): (Vec<u64>, Vec<I>) = state.queued.drain(..take).unzip();
                state.running += 1;
                drop(state);
                let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| forward(inputs)));
                state = self.lock();
                state.running -= 1;
                match outputs {
                    Ok(outputs) => {
                        assert_eq!(outputs.len(), callers.len(), "one output per input");
                        state.done.extend(callers.into_iter().zip(outputs.into_iter().map(Some)));
                    }
                    Err(_) => state.done.extend(callers.into_iter().map(|caller| (caller, None))),
                }
                self.finished.notify_all();
                continue;
            }
            state = self.finished.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<I, O>> {
        // No code panics while holding the lock (passes run outside it).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_lone_caller_runs_at_once_and_gets_its_own_output() {
        let batcher = MicroBatcher::new(8, 1);
        let sizes = Mutex::new(Vec::new());
        for input in 0..3 {
            let output = batcher.run(input, |inputs: Vec<i32>| {
                sizes.lock().expect("lock").push(inputs.len());
                inputs.iter().map(|value| value * 10).collect()
            });
            assert_eq!(output, input * 10);
        }
        assert_eq!(*sizes.lock().expect("lock"), vec![1, 1, 1]);
    }

    #[test]
    fn callers_arriving_during_a_pass_share_the_next_one_and_each_gets_its_own_output() {
        let batcher = Arc::new(MicroBatcher::new(16, 1));
        let passes = Arc::new(Mutex::new(Vec::new()));
        // The first pass holds until every other caller has queued.
        let gate = Arc::new(Barrier::new(2));
        let forward = {
            let (passes, gate) = (passes.clone(), gate.clone());
            move |inputs: Vec<usize>| {
                if inputs == [0] {
                    gate.wait();
                }
                passes.lock().expect("lock").push(inputs.clone());
                inputs.iter().map(|value| value + 1000).collect::<Vec<_>>()
            }
        };
        let first = {
            let (batcher, forward) = (batcher.clone(), forward.clone());
            std::thread::spawn(move || batcher.run(0, forward))
        };
        // Wait until the first caller leads its pass, then queue the rest.
        while batcher.lock().running == 0 {
            std::thread::yield_now();
        }
        let others: Vec<_> = (1..=10)
            .map(|input| {
                let (batcher, forward) = (batcher.clone(), forward.clone());
                std::thread::spawn(move || batcher.run(input, forward))
            })
            .collect();
        while batcher.lock().queued.len() < 10 {
            std::thread::yield_now();
        }
        gate.wait();
        assert_eq!(first.join().expect("caller"), 1000);
        for (index, other) in others.into_iter().enumerate() {
            assert_eq!(other.join().expect("caller"), index + 1 + 1000);
        }
        let passes = passes.lock().expect("lock");
        assert_eq!(passes.len(), 2, "the ten waiting inputs went through in one pass: {passes:?}");
        let mut second = passes[1].clone();
        second.sort_unstable();
        assert_eq!(second, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn a_pass_takes_at_most_max_batch_inputs_and_every_caller_is_answered() {
        let batcher = Arc::new(MicroBatcher::new(4, 2));
        let largest = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..64)
            .map(|input| {
                let (batcher, largest) = (batcher.clone(), largest.clone());
                std::thread::spawn(move || {
                    batcher.run(input, |inputs: Vec<usize>| {
                        largest.fetch_max(inputs.len(), Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        inputs.iter().map(|value| value * 2).collect()
                    })
                })
            })
            .collect();
        for (input, thread) in threads.into_iter().enumerate() {
            assert_eq!(thread.join().expect("caller"), input * 2);
        }
        assert!(largest.load(Ordering::SeqCst) <= 4);
        let state = batcher.lock();
        assert_eq!((state.running, state.queued.len(), state.done.len()), (0, 0, 0));
    }

    #[test]
    fn a_panicking_pass_fails_its_callers_and_the_batcher_goes_on() {
        let batcher = MicroBatcher::new(4, 1);
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            batcher.run(1, |_: Vec<i32>| -> Vec<i32> { panic!("bad weights") })
        }));
        assert!(failed.is_err());
        assert_eq!(batcher.run(2, |inputs: Vec<i32>| inputs), 2);
    }
}
