//! A bounded, ordered, parallel pipeline: one thread cuts the file into chunks,
//! worker threads process them, and the consumer receives results in file order.
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Receiver};

use super::chunker::{Chunk, Chunker};
use super::source::Source;
use crate::error::{KernelError, Result};

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Results of `work` over every chunk of a file, in order.
pub struct Pipeline<T> {
    results: Receiver<(u64, Result<T>)>,
    permits: Receiver<()>,
    pending: BTreeMap<u64, Result<T>>,
    next: u64,
    threads: Vec<JoinHandle<()>>,
}

/// Number of worker threads: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 64)
}

impl<T: Send + 'static> Pipeline<T> {
    /// Start chunking `source` into ~`chunk_size`-byte chunks processed by `workers`
    /// threads. At most `workers + 1` chunks are in memory at once.
    pub fn start<F>(source: &Source, chunk_size: usize, workers: usize, work: F) -> Result<Self>
    where
        F: Fn(Chunk) -> Result<T> + Send + Sync + 'static,
    {
        let mut chunker = Chunker::open(source, chunk_size)?;
        let workers = workers.max(1);
        let (permit_tx, permit_rx) = bounded::<()>(workers + 1);
        let (work_tx, work_rx) = bounded::<Chunk>(workers);
        let (res_tx, res_rx) = unbounded::<(u64, Result<T>)>();
        let mut threads = Vec::with_capacity(workers + 1);
        let chunk_results = res_tx.clone();
        threads.push(std::thread::spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| loop {
                if permit_tx.send(()).is_err() {
                    return Ok(());
                }
                match chunker.next_chunk() {
                    Ok(Some(chunk)) => {
                        if work_tx.send(chunk).is_err() {
                            return Ok(());
                        }
                    }
                    Ok(None) => return Ok(()),
                    Err(e) => return Err((chunker.next_seq(), e)),
                }
            }));
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err((seq, e))) => Some((seq, e)),
                Err(p) => Some((u64::MAX, KernelError::Internal(panic_message(p)))),
            };
            if let Some((seq, e)) = failure {
                let _ = chunk_results.send((seq, Err(e)));
            }
        }));
        let work = Arc::new(work);
        for _ in 0..workers {
            let rx = work_rx.clone();
            let tx = res_tx.clone();
            let work = Arc::clone(&work);
            threads.push(std::thread::spawn(move || {
                for chunk in rx {
                    let seq = chunk.seq;
                    let r = match catch_unwind(AssertUnwindSafe(|| work(chunk))) {
                        Ok(r) => r,
                        Err(p) => Err(KernelError::Internal(panic_message(p))),
                    };
                    if tx.send((seq, r)).is_err() {
                        return;
                    }
                }
            }));
        }
        Ok(Pipeline {
            results: res_rx,
            permits: permit_rx,
            pending: BTreeMap::new(),
            next: 0,
            threads,
        })
    }
}

impl<T> Iterator for Pipeline<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(r) = self.pending.remove(&self.next) {
                self.next += 1;
                let _ = self.permits.try_recv();
                return Some(r);
            }
            match self.results.recv() {
                Ok((seq, r)) => {
                    if seq == u64::MAX {
                        return Some(r);
                    }
                    self.pending.insert(seq, r);
                }
                Err(_) => {
                    // All threads are done; anything left out of order is a bug.
                    return match self.pending.pop_first() {
                        None => None,
                        Some((seq, _)) => Some(Err(KernelError::Internal(format!(
                            "chunk {} missing before chunk {seq}",
                            self.next
                        )))),
                    };
                }
            }
        }
    }
}

impl<T> Drop for Pipeline<T> {
    fn drop(&mut self) {
        // Unblock and stop every thread: dropping our receivers closes their channels.
        let (_, dead_results) = unbounded();
        let (_, dead_permits) = bounded(1);
        drop(std::mem::replace(&mut self.results, dead_results));
        drop(std::mem::replace(&mut self.permits, dead_permits));
        self.pending.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
