//! External verification (`Config::external_verify`): the node hands batches of signatures out as
//! jobs and commits them when their verdicts come back. The same packets must leave the same
//! store whether the node checks signatures itself or the jobs are answered in order, out of
//! order, late, or not at all until the bound forces the node to check them itself; forged
//! entries are rejected the same way.

use tinyssb::crypto::Keypair;
use tinyssb::ids::{FeedId, MsgId, Seq};
use tinyssb::node::{Config, FaceId, Node, Verdict, VerifyJob};
use tinyssb::stats::DropReason;
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::{Duration, Instant};
use tinyssb::wire::entry::{entry_dmx, Entry};
use tinyssb_sim::{contents, converged, key, populated_store, FeedBytes, LinkSpec, Rng, Sim};

const FACE: FaceId = FaceId(1);

/// How the harness answers verification jobs.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// No jobs: the node verifies in-line (the default configuration).
    Inline,
    /// Every job answered right after the round that issued it, in issue order.
    InOrder,
    /// Jobs answered one round late, newest first.
    Reversed,
    /// Jobs answered in a shuffled order, each with a chance of waiting one more round.
    Shuffled(u64),
    /// As `Reversed`, but at most one job may be out: the node checks later batches itself and
    /// queues them behind it, and settles everything itself once four batches are queued.
    Bounded,
}

/// One packet of the scenario: an entry or a chunk.
type Pkt = [u8; 120];

/// A feed authored by `k`, as (entry, chunks) per seq.
fn authored(k: &Keypair, contents: &[Vec<u8>]) -> Vec<(Entry, Vec<Pkt>)> {
    let mut author = Node::new(Config::default(), MemStore::default(), Instant(0));
    for c in contents {
        author.publish(Instant(0), k, c).expect("publish");
    }
    let mut store = author.into_store();
    let fid = k.feed_id();
    (1..=contents.len() as u32)
        .map(|s| {
            let e = store.read_entry(&fid, Seq(s)).expect("read").expect("entry");
            let chunks = (0..)
                .map_while(|nr| store.read_chunk(&fid, Seq(s), nr).ok().flatten())
                .map(|c| c.0)
                .collect();
            (e, chunks)
        })
        .collect()
}

/// An entry with the right DMX for `seq` after `prev` but a signature nobody made.
fn forged(fid: &FeedId, seq: Seq, prev: &MsgId, fill: u8) -> Entry {
    let mut e = Entry([fill; 120]);
    e.0[..7].copy_from_slice(&entry_dmx(fid, seq, prev).0);
    e
}

/// Three feeds of 100 entries (some with sidechains), and the rounds a peer sends them in: every
/// round carries every entry and chunk of every feed, interleaved across feeds; the first round also
/// carries forged entries (a broken signature in feed 0, a forged chain in feed 1, a forged
/// first entry in feed 2), each where the honest entry would be.
fn scenario() -> (Vec<FeedId>, Vec<Vec<Pkt>>) {
    let mut rng = Rng::new(11);
    let mut feeds = Vec::new();
    for i in 0..3u64 {
        let contents: Vec<Vec<u8>> = (0..100)
            .map(|_| {
                let len =
                    if rng.below(100) < 25 { 49 + rng.below(600) as usize } else { rng.below(49) as usize };
                (0..len).map(|_| rng.next_u64() as u8).collect()
            })
            .collect();
        let k = key(100 + i);
        feeds.push((k.feed_id(), authored(&k, &contents)));
    }
    // prevs[f][s]: the prev of entry s + 1 of feed f.
    let prevs: Vec<Vec<MsgId>> = (feeds.iter())
        .map(|(fid, feed)| {
            let mut p = fid.genesis_prev();
            (1..)
                .zip(feed)
                .map(|(s, (e, _))| {
                    let this = p;
                    p = e.msg_id(fid, Seq(s), &p);
                    this
                })
                .collect()
        })
        .collect();
    let mut honest: Vec<Pkt> = Vec::new();
    let mut first: Vec<Pkt> = Vec::new();
    for s in 0..100 {
        for (f, (fid, feed)) in feeds.iter().enumerate() {
            let (e, chunks) = &feed[s];
            let prev = prevs[f][s];
            let seq = Seq(s as u32 + 1);
            match (f, s) {
                (0, 40) => {
                    let mut bad = *e;
                    bad.0[90] ^= 1;
                    first.push(bad.0);
                }
                (1, 70..=72) => {
                    // A forged chain: each forged entry has the DMX the previous one makes valid.
                    let mut p = prev;
                    for j in 0..3u32 {
                        let f = forged(fid, Seq(seq.0 + j), &p, 0x30 + j as u8);
                        if j as usize == s - 70 {
                            first.push(f.0);
                        }
                        p = f.msg_id(fid, Seq(seq.0 + j), &p);
                    }
                }
                (2, 0) => first.push(forged(fid, seq, &prev, 0x77).0),
                _ => first.push(e.0),
            }
            first.extend(chunks.iter().copied());
            honest.push(e.0);
            honest.extend(chunks.iter().copied());
        }
    }
    let fids = feeds.iter().map(|(f, _)| *f).collect();
    let mut rounds = vec![first];
    rounds.extend((0..4).map(|_| honest.clone()));
    (fids, rounds)
}

/// Plays the rounds into a fresh node following `fids`; returns what it stored and its counts.
fn play(fids: &[FeedId], rounds: &[Vec<Pkt>], mode: Mode) -> (Vec<FeedBytes>, u64, u64, u64) {
    let cfg = Config {
        external_verify: !matches!(mode, Mode::Inline),
        max_verify_jobs: if matches!(mode, Mode::Bounded) { 1 } else { 16 },
        ..Config::default()
    };
    let mut rx = Node::new(cfg, MemStore::default(), Instant(0));
    for fid in fids {
        rx.follow(Instant(0), *fid).expect("follow");
    }
    let mut rng = Rng::new(match mode {
        Mode::Shuffled(seed) => seed,
        _ => 0,
    });
    let mut held: Vec<VerifyJob> = Vec::new();
    let mut issued = 0;
    for (r, round) in rounds.iter().enumerate() {
        let before = held.len();
        let now = Instant(10 * r as u64 + 1);
        // Bursts of 50 packets, each followed by the timers, as a driver reading a socket does.
        for burst in round.chunks(50) {
            for p in burst {
                rx.handle_packet(now, FACE, p);
            }
            rx.handle_timeout(now);
            held.extend(std::iter::from_fn(|| rx.poll_verify()).inspect(|_| issued += 1));
        }
        let answer: Vec<VerifyJob> = match mode {
            Mode::Inline => Vec::new(),
            Mode::InOrder => std::mem::take(&mut held),
            Mode::Reversed | Mode::Bounded => {
                // This round's jobs wait for the next; the last round's go newest first.
                let mut late: Vec<VerifyJob> = held.drain(..before).collect();
                late.reverse();
                late
            }
            Mode::Shuffled(_) => {
                let mut now_due = Vec::new();
                for (i, j) in std::mem::take(&mut held).into_iter().enumerate() {
                    if i < before || rng.chance(0.6) {
                        now_due.push(j);
                    } else {
                        held.push(j);
                    }
                }
                for i in (1..now_due.len()).rev() {
                    now_due.swap(i, rng.below(i as u64 + 1) as usize);
                }
                now_due
            }
        };
        for job in answer {
            rx.handle_verified(now, job.id, job.verify());
        }
    }
    if matches!(mode, Mode::Inline) {
        assert_eq!(issued, 0, "in-line verification hands out no jobs");
    } else {
        assert!(issued >= 1, "{mode:?}: only {issued} jobs");
    }
    // Whatever is still out is answered.
    {
        // (A verdict can release a partial batch that waited: it comes out as one more job.)
        loop {
            held.extend(std::iter::from_fn(|| rx.poll_verify()));
            if held.is_empty() {
                break;
            }
            for job in held.drain(..).rev() {
                rx.handle_verified(Instant(1000), job.id, job.verify());
            }
        }
        assert_eq!(rx.verify_jobs_outstanding(), 0, "{mode:?}");
    }
    rx.handle_timeout(Instant(1000));
    let st = rx.stats().clone();
    let (entries, chunks, bad) = (st.entries_in, st.chunks_in, st.dropped(DropReason::BadSignature));
    let mut store = rx.into_store();
    (contents(&mut store), entries, chunks, bad)
}

#[test]
fn every_way_of_answering_jobs_leaves_the_same_store() {
    let (fids, rounds) = scenario();
    let (inline, entries, chunks, bad) = play(&fids, &rounds, Mode::Inline);
    assert_eq!(inline.len(), 3);
    assert!(inline.iter().all(|(_, e, _)| e.len() == 100), "in-line: every feed complete");
    assert_eq!(entries, 300);
    assert!(bad >= 3, "the forged entries were rejected ({bad})");
    for mode in [Mode::InOrder, Mode::Reversed, Mode::Shuffled(1), Mode::Shuffled(2), Mode::Bounded] {
        let (got, e, c, b) = play(&fids, &rounds, mode);
        let lens = |c: &[FeedBytes]| c.iter().map(|f| (f.1.len(), f.2.len())).collect::<Vec<_>>();
        assert!(
            got == inline,
            "{mode:?}: the store differs from in-line: {:?} {:?}",
            lens(&got),
            lens(&inline)
        );
        assert_eq!((e, c), (entries, chunks), "{mode:?}: entries and chunks each stored once");
        assert!(b >= 3, "{mode:?}: forged entries rejected ({b})");
    }
}

#[test]
fn a_verdict_is_held_until_the_jobs_before_it_are_settled() {
    let k = key(7);
    let fid = k.feed_id();
    let feed = authored(&k, &(0..200).map(|i| format!("e{i}").into_bytes()).collect::<Vec<_>>());
    let cfg = Config { external_verify: true, ..Config::default() };
    let mut rx = Node::new(cfg, MemStore::default(), Instant(0));
    rx.follow(Instant(0), fid).expect("follow");
    for (e, _) in &feed {
        rx.handle_packet(Instant(1), FACE, &e.0);
    }
    rx.handle_timeout(Instant(1));
    let mut jobs: Vec<VerifyJob> = std::iter::from_fn(|| rx.poll_verify()).collect();
    assert_eq!(jobs.iter().map(|j| j.items.len()).collect::<Vec<_>>(), vec![64, 64, 64]);
    assert!(rx.poll_timeout() > Some(Instant(1000)), "the last 8 wait for the jobs out");
    assert_eq!(rx.store().frontier(&fid).map_or(0, |f| f.seq.0), 0, "nothing stored before a verdict");
    let seq = |rx: &Node<MemStore>| rx.store().frontier(&fid).map_or(0, |f| f.seq.0);
    rx.handle_verified(Instant(2), jobs[2].id, jobs[2].verify());
    rx.handle_verified(Instant(2), jobs[1].id, Verdict::AllValid);
    assert_eq!(seq(&rx), 0, "later verdicts wait for the first");
    rx.handle_verified(Instant(2), jobs[0].id, jobs[0].verify());
    assert_eq!(seq(&rx), 192, "the first verdict releases the two held after it");
    jobs.push(rx.poll_verify().expect("the partial batch goes out once nothing else is"));
    assert_eq!(jobs[3].items.len(), 8);
    // A verdict naming an invalid item rolls the feed back to the entry before it.
    rx.handle_verified(Instant(3), jobs[3].id, Verdict::Invalid(vec![5]));
    assert_eq!(seq(&rx), 197);
    assert_eq!(rx.stats().dropped(DropReason::BadSignature), 1);
    assert_eq!(rx.stats().dropped(DropReason::Unknown), 2, "the two chained on it are dropped");
    // Unknown or repeated job ids change nothing.
    rx.handle_verified(Instant(3), jobs[0].id, Verdict::Invalid(vec![0]));
    rx.handle_verified(Instant(3), 999, Verdict::Invalid(vec![0]));
    assert_eq!(seq(&rx), 197);
    // The rolled-back feed accepts the rest again.
    for (e, _) in &feed[197..] {
        rx.handle_packet(Instant(4), FACE, &e.0);
    }
    rx.handle_timeout(Instant(4));
    let job = rx.poll_verify().expect("a job for the last three");
    rx.handle_verified(Instant(4), job.id, job.verify());
    assert_eq!(seq(&rx), 200);
}

#[test]
fn two_simulated_nodes_converge_alike_with_jobs_in_and_out_of_order() {
    let mut rng = Rng::new(5);
    let full = populated_store(&mut rng, 0, 4, 80, 30, 1500);
    let mut stores = Vec::new();
    for (external, reverse) in [(false, false), (true, false), (true, true)] {
        let mut sim = Sim::new(3);
        sim.reverse_verdicts = reverse;
        let a = sim.add_node(Config::default(), full.clone());
        let cfg = Config { external_verify: external, ..Config::default() };
        let b = sim.add_node(cfg, MemStore::default());
        sim.link(a, b, LinkSpec::reliable(1));
        let t = sim.run_until(Duration::from_secs(600), |s| converged(s, &[a, b]));
        assert!(t.is_some(), "external {external}, reversed {reverse}: no convergence");
        let mut store = sim.stop(b);
        stores.push(contents(&mut store));
    }
    assert_eq!(stores[0].iter().map(|f| f.1.len()).sum::<usize>(), 4 * 80);
    assert!(stores[1] == stores[0] && stores[2] == stores[0], "the stores differ");
}

#[test]
fn jobs_never_answered_hold_a_bounded_amount_and_into_store_checks_them() {
    let k = key(8);
    let fid = k.feed_id();
    let feed = authored(&k, &(0..1000).map(|i| format!("e{i}").into_bytes()).collect::<Vec<_>>());
    let cfg = Config { external_verify: true, max_verify_jobs: 2, ..Config::default() };
    let mut rx = Node::new(cfg, MemStore::default(), Instant(0));
    rx.follow(Instant(0), fid).expect("follow");
    let mut most = 0;
    for (e, _) in &feed {
        rx.handle_packet(Instant(1), FACE, &e.0);
        while rx.poll_verify().is_some() {}
        most = most.max(rx.verify_jobs_outstanding());
    }
    assert!(most <= 8, "{most} batches held; the bound is four times max_verify_jobs");
    assert!(rx.store().frontier(&fid).is_some_and(|f| f.seq.0 >= 500), "past the bound the node settles");
    let mut store = rx.into_store();
    assert_eq!(store.frontier(&fid).map(|f| f.seq), Some(Seq(1000)));
    assert_eq!(store.read_entry(&fid, Seq(1000)).expect("read"), Some(feed[999].0));
}
