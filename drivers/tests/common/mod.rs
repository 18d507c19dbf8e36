//! A tiny main loop for the face tests: poll, dispatch by token, flush.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use mio::{Events, Poll};
use tinyssb_drivers::transport::{face_of, Transport, TransportEvent};

pub struct Harness {
    pub poll: Poll,
    events: Events,
}

impl Harness {
    pub fn new() -> Harness {
        Harness { poll: Poll::new().unwrap(), events: Events::with_capacity(1024) }
    }

    /// One loop turn over `faces` (face i owns token range i); returns (face, event) pairs.
    pub fn turn(&mut self, faces: &mut [&mut dyn Transport]) -> Vec<(usize, TransportEvent)> {
        let now = Instant::now();
        let mut timeout = Duration::from_millis(20);
        for f in faces.iter() {
            if let Some(d) = f.next_deadline() {
                timeout = timeout.min(d.saturating_duration_since(now));
            }
        }
        self.poll.poll(&mut self.events, Some(timeout)).unwrap();
        let mut got = Vec::new();
        let mut out = Vec::new();
        for ev in self.events.iter() {
            let i = face_of(ev.token());
            faces[i].on_ready(self.poll.registry(), ev, &mut out);
            got.extend(out.drain(..).map(|e| (i, e)));
        }
        let now = Instant::now();
        for (i, f) in faces.iter_mut().enumerate() {
            if f.next_deadline().is_some_and(|d| d <= now) {
                f.on_deadline(self.poll.registry(), now, &mut out);
            }
            f.flush(self.poll.registry(), &mut out);
            got.extend(out.drain(..).map(|e| (i, e)));
        }
        got
    }

    /// Turns the loop until `done` says so (given all events so far) or the deadline passes.
    pub fn run_until(
        &mut self,
        faces: &mut [&mut dyn Transport],
        limit: Duration,
        mut done: impl FnMut(&[(usize, TransportEvent)]) -> bool,
    ) -> Vec<(usize, TransportEvent)> {
        let end = Instant::now() + limit;
        let mut all = Vec::new();
        while Instant::now() < end {
            all.extend(self.turn(faces));
            if done(&all) {
                return all;
            }
        }
        panic!("condition not reached within {limit:?}; events so far: {all:?}");
    }
}

pub fn packets(evs: &[(usize, TransportEvent)], face: usize) -> Vec<Vec<u8>> {
    evs.iter()
        .filter_map(|(i, e)| match e {
            TransportEvent::Packet(_, p) if *i == face => Some(p.clone()),
            _ => None,
        })
        .collect()
}
