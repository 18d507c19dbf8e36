//! A pool of threads that check the engine's signature batches ([`tinyssb::node::VerifyJob`]) so
//! that the pub's loop keeps demultiplexing, storing and serving on its own core.
//!
//! The loop sends each job the engine hands out into one shared queue; a free worker takes it,
//! runs [`VerifyJob::verify`] (one batch check, then single checks if the batch fails), sends
//! the verdict back and wakes the loop through a [`mio::Waker`]. The engine commits verdicts in
//! the order it issued the jobs, so it does not matter which worker finishes first.

use std::io;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Registry, Token, Waker};
use tinyssb::node::{Node, Verdict, VerifyJob};
use tinyssb::store::Store;

/// The token the pool's waker uses; no face's tokens come near it.
pub const WAKE_TOKEN: Token = Token(usize::MAX);

/// Worker threads checking signatures for one engine.
pub struct VerifyPool {
    jobs: Option<Sender<VerifyJob>>,
    verdicts: Receiver<(u64, Verdict)>,
    workers: Vec<JoinHandle<()>>,
}

impl VerifyPool {
    /// Starts `threads` workers (at least one) that wake `registry`'s poll with [`WAKE_TOKEN`]
    /// whenever a verdict is ready.
    pub fn new(threads: usize, registry: &Registry) -> io::Result<VerifyPool> {
        let waker = Arc::new(Waker::new(registry, WAKE_TOKEN)?);
        let (job_tx, job_rx) = channel::<VerifyJob>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (verdict_tx, verdicts) = channel();
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let (jobs, out, waker) = (Arc::clone(&job_rx), verdict_tx.clone(), Arc::clone(&waker));
            let worker = std::thread::Builder::new().name(format!("verify-{i}")).spawn(move || loop {
                // The lock is held only while waiting for the next job, never while verifying.
                let next = match jobs.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = next else { return };
                let verdict = job.verify();
                if out.send((job.id, verdict)).is_err() {
                    return;
                }
                if let Err(e) = waker.wake() {
                    log::warn!("signature worker cannot wake the loop: {e}");
                }
            })?;
            workers.push(worker);
        }
        Ok(VerifyPool { jobs: Some(job_tx), verdicts, workers })
    }

    /// Hands the engine's new jobs to the workers and its finished verdicts back to the engine.
    /// Call it after every input, before draining the engine's other outputs.
    pub fn pump<S: Store>(&mut self, node: &mut Node<S>, now: tinyssb::time::Instant) {
        while let Ok((id, verdict)) = self.verdicts.try_recv() {
            node.handle_verified(now, id, verdict);
        }
        self.submit(node, now);
    }

    /// Waits (up to `limit` in total) until the engine holds no job out, e.g. before the final
    /// sync, so that what was received is stored.
    pub fn finish<S: Store>(&mut self, node: &mut Node<S>, now: tinyssb::time::Instant, limit: Duration) {
        let end = std::time::Instant::now() + limit;
        self.submit(node, now);
        while node.verify_jobs_outstanding() > 0 {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.verdicts.recv_timeout(left) {
                Ok((id, verdict)) => node.handle_verified(now, id, verdict),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
            self.submit(node, now);
        }
    }

    fn submit<S: Store>(&mut self, node: &mut Node<S>, now: tinyssb::time::Instant) {
        while let Some(job) = node.poll_verify() {
            let job = match &self.jobs {
                Some(tx) => match tx.send(job) {
                    Ok(()) => continue,
                    Err(e) => e.0,
                },
                None => job,
            };
            // No worker left (they only stop if one panicked): check it here.
            node.handle_verified(now, job.id, job.verify());
        }
    }
}

impl Drop for VerifyPool {
    fn drop(&mut self) {
        // Closing the queue stops the workers once they finish the job in hand.
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use tinyssb::crypto::Keypair;
    use tinyssb::node::{Config, FaceId};
    use tinyssb::store::mem::MemStore;
    use tinyssb::time::Instant;
    use tinyssb::Seq;

    #[test]
    fn workers_verify_and_wake_the_loop_and_forgeries_are_rejected() {
        let k = Keypair::from_seed(&[9; 32]);
        let fid = k.feed_id();
        let mut author = Node::new(Config::default(), MemStore::default(), Instant(0));
        for i in 0..300 {
            author.publish(Instant(0), &k, format!("entry {i}").as_bytes()).unwrap();
        }
        let mut src = author.into_store();
        let mut entries: Vec<_> = (1..=300).map(|s| src.read_entry(&fid, Seq(s)).unwrap().unwrap()).collect();
        entries[250].0[100] ^= 1; // a broken signature: the feed stops before it
        let mut poll = Poll::new().unwrap();
        let mut pool = VerifyPool::new(3, poll.registry()).unwrap();
        let cfg = Config { external_verify: true, ..Config::default() };
        let mut node = Node::new(cfg, MemStore::default(), Instant(0));
        node.follow(Instant(0), fid).unwrap();
        for e in &entries {
            node.handle_packet(Instant(1), FaceId(1), &e.0);
        }
        node.handle_timeout(Instant(1));
        pool.pump(&mut node, Instant(1));
        assert!(node.verify_jobs_outstanding() > 0);
        let mut events = Events::with_capacity(8);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while node.verify_jobs_outstanding() > 0 {
            assert!(std::time::Instant::now() < deadline, "the workers did not answer");
            poll.poll(&mut events, Some(Duration::from_secs(1))).unwrap();
            assert!(events.iter().all(|e| e.token() == WAKE_TOKEN));
            pool.pump(&mut node, Instant(2));
        }
        assert_eq!(node.store().frontier(&fid).map(|f| f.seq), Some(Seq(250)));
        assert_eq!(node.stats().dropped(tinyssb::stats::DropReason::BadSignature), 1);
    }
}
