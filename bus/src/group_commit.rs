//! Group commit: many concurrent callers, one write per batch.
//!
//! Callers [`submit`](GroupCommit::submit) one item each and wait for its
//! result. A single task takes everything queued (up to `max_batch`), writes
//! it with one call of the commit function, and answers every caller. With a
//! durable store each write costs an fsync, so under load this turns N fsyncs
//! into one while a lone caller still gets its write at once (no linger).

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

type Reply<R, E> = oneshot::Sender<Result<R, E>>;

/// A handle to a group-commit task. Cheap to clone; the task ends when the
/// last handle is dropped.
pub struct GroupCommit<T, R, E> {
    sender: mpsc::Sender<(T, Reply<R, E>)>,
}

impl<T, R, E> Clone for GroupCommit<T, R, E> {
    fn clone(&self) -> Self {
        Self { sender: self.sender.clone() }
    }
}

impl<T, R, E> std::fmt::Debug for GroupCommit<T, R, E> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GroupCommit")
            .field("queued", &(self.sender.max_capacity() - self.sender.capacity()))
            .finish()
    }
}

/// What submitting can fail with besides the commit's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the group-commit task has stopped")]
pub struct Stopped;

impl<T, R, E> GroupCommit<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    /// Spawns the task on the current runtime. `commit` receives a batch and
    /// must return exactly one result per item, in order. At most `queue`
    /// submissions wait; further callers wait for room (backpressure).
    pub fn spawn<F, Fut>(max_batch: usize, queue: usize, mut commit: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Result<R, E>>> + Send,
    {
        let (sender, mut receiver) = mpsc::channel::<(T, Reply<R, E>)>(queue.max(1));
        let max_batch = max_batch.max(1);
        tokio::spawn(async move {
            let mut waiting = Vec::with_capacity(max_batch);
            while receiver.recv_many(&mut waiting, max_batch).await > 0 {
                let (items, replies): (Vec<T>, Vec<Reply<R, E>>) = waiting.drain(..).unzip();
                let count = items.len();
                let results = commit(items).await;
                debug_assert_eq!(results.len(), count, "one result per item");
                for (reply, result) in replies.into_iter().zip(results) {
                    // The caller may have given up (timed out); nothing to do.
                    let _ = reply.send(result);
                }
            }
        });
        Self { sender }
    }

    /// Queues `item` and waits for its batch to be written.
    pub async fn submit(&self, item: T) -> Result<Result<R, E>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.sender.send((item, reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    pub fn is_stopped(&self) -> bool {
        self.sender.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test]
    async fn concurrent_submissions_share_batches_and_get_their_own_results() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let doubler = GroupCommit::spawn(8, 64, move |items: Vec<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().expect("lock").push(items.len());
                tokio::task::yield_now().await;
                items.into_iter().map(|item| if item == 13 { Err("unlucky") } else { Ok(item * 2) }).collect()
            }
        });
        let results = futures::future::join_all((0..40).map(|item| doubler.submit(item))).await;
        for (item, result) in results.into_iter().enumerate() {
            let expected = if item == 13 { Err("unlucky") } else { Ok(item as u32 * 2) };
            assert_eq!(result, Ok(expected));
        }
        let batches = batches.lock().expect("lock");
        assert_eq!(batches.iter().sum::<usize>(), 40);
        assert!(batches.iter().all(|size| *size <= 8));
        assert!(batches.len() < 40, "some submissions shared a batch: {batches:?}");
    }
}
