//! The mesh's cost and repair speed, measured on the simulator's `MeshNet` (virtual time, so
//! the figures do not depend on the machine): 100 pubs joined from one seed, 300 feeds, then
//!
//! - **steady state**: five minutes in which clients append one entry per second to a random
//!   feed at one of its holders: mesh maintenance bytes (mesh packets and mesh-feed entries)
//!   per pub per minute next to the data bytes of the same minutes;
//! - **repair**: two of the 100 pubs killed at once; the virtual time until every pub sees the
//!   right members and every feed is back on three live holders with all its entries.
//!
//! Medians over several seeds, printed as a table. `cargo bench --bench mesh -- --test` runs
//! one seed with a shorter steady state.
// Wall-clock time is only printed, next to the virtual times.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::disallowed_methods)]

use tinyssb::mesh::Config;
use tinyssb::time::Duration;
use tinyssb_sim::{MeshNet, Rng};

const PUBS: usize = 100;
const FEEDS: usize = 300;

struct Run {
    join_s: f64,
    place_s: f64,
    restore_s: f64,
    maint_pub_min: f64,
    data_pub_min: f64,
    sessions_pub_min: f64,
    restore_maint_kb: f64,
    restore_data_kb: f64,
}

fn sessions(net: &MeshNet) -> u64 {
    net.alive().iter().filter_map(|i| net.mesh(*i)).map(|m| m.stats().sessions).sum()
}

fn run(seed: u64, steady: Duration) -> Run {
    let mut net = MeshNet::new(seed, Config::default());
    for i in 0..PUBS {
        net.add_pub(if i == 0 { &[] } else { &[0] });
        net.start(i);
        net.run_for(Duration::from_millis(20));
    }
    let all: Vec<usize> = (0..PUBS).collect();
    let step = Duration::from_millis(250);
    let limit = Duration::from_secs(600);
    let ok = |n: &MeshNet, g: &[usize]| n.membership_wrong(g).is_empty() && n.links_missing(g).is_empty();
    let join = net.run_until_true(limit, step, |n| ok(n, &all)).expect("joined");
    let mut rng = Rng::derive(seed, 7);
    for _ in 0..FEEDS {
        let at = rng.below(PUBS as u64) as usize;
        net.create_feed(at, 1 + rng.below(20) as u32);
    }
    let place = net.run_until_true(limit, step, |n| n.under_replicated(&all).is_empty()).expect("placed");
    net.run_for(Duration::from_secs(120));

    // Steady state with a light client workload: one entry per second, written at a holder.
    let before = net.traffic;
    let s0 = sessions(&net);
    let live = net.live_ids(&all);
    let feeds: Vec<_> = net.feeds().iter().map(|(f, _)| *f).collect();
    for _ in 0..steady.as_millis() / 1000 {
        let fid = feeds[rng.below(feeds.len() as u64) as usize];
        let holders = net.true_holders(&fid, &live);
        let at = holders[rng.below(holders.len() as u64) as usize];
        net.append(at, fid, 1);
        net.run_for(Duration::from_secs(1));
    }
    let t = net.traffic.since(&before);
    let per = 60_000.0 / steady.as_millis() as f64 / PUBS as f64;
    let sessions_pub_min = (sessions(&net) - s0) as f64 * per;
    net.run_for(Duration::from_secs(60));

    // Repair: kill two pubs at once.
    let a = 1 + rng.below(PUBS as u64 - 1) as usize;
    let mut b = a;
    while b == a {
        b = 1 + rng.below(PUBS as u64 - 1) as usize;
    }
    let before_kill = net.traffic;
    net.kill(a);
    net.kill(b);
    let restore = net
        .run_until_true(limit, step, |n| {
            n.membership_wrong(&all).is_empty() && n.under_replicated(&all).is_empty()
        })
        .expect("restored");
    let r = net.traffic.since(&before_kill);
    Run {
        join_s: join.as_millis() as f64 / 1000.0,
        place_s: place.as_millis() as f64 / 1000.0,
        restore_s: restore.as_millis() as f64 / 1000.0,
        maint_pub_min: t.maintenance() as f64 * per,
        data_pub_min: t.data_bytes as f64 * per,
        sessions_pub_min,
        restore_maint_kb: r.maintenance() as f64 / 1000.0,
        restore_data_kb: r.data_bytes as f64 / 1000.0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let (seeds, steady) =
        if quick { (1..=1, Duration::from_secs(60)) } else { (1..=7, Duration::from_secs(300)) };
    let wall = std::time::Instant::now();
    let runs: Vec<(u64, Run)> = seeds.map(|s| (s, run(s, steady))).collect();
    println!(
        "mesh: {PUBS} pubs, {FEEDS} feeds, links 6, replicas 3; virtual time; steady state {} s",
        steady.0 / 1000
    );
    println!(
        "{:>5} {:>8} {:>9} {:>10} {:>14} {:>12} {:>14} {:>15} {:>14}",
        "seed",
        "join s",
        "place s",
        "restore s",
        "maint B/pub/m",
        "data B/pub/m",
        "sessions/pub/m",
        "restore maint kB",
        "restore data kB"
    );
    for (s, r) in &runs {
        println!(
            "{:>5} {:>8.1} {:>9.1} {:>10.2} {:>14.0} {:>12.0} {:>14.2} {:>15.1} {:>14.1}",
            s,
            r.join_s,
            r.place_s,
            r.restore_s,
            r.maint_pub_min,
            r.data_pub_min,
            r.sessions_pub_min,
            r.restore_maint_kb,
            r.restore_data_kb
        );
    }
    let col = |f: fn(&Run) -> f64| median(runs.iter().map(|(_, r)| f(r)).collect());
    println!(
        "{:>5} {:>8.1} {:>9.1} {:>10.2} {:>14.0} {:>12.0} {:>14.2} {:>15.1} {:>14.1}",
        "med",
        col(|r| r.join_s),
        col(|r| r.place_s),
        col(|r| r.restore_s),
        col(|r| r.maint_pub_min),
        col(|r| r.data_pub_min),
        col(|r| r.sessions_pub_min),
        col(|r| r.restore_maint_kb),
        col(|r| r.restore_data_kb)
    );
    let m = col(|r| r.maint_pub_min);
    let d = col(|r| r.data_pub_min);
    println!(
        "steady state: mesh maintenance is {:.1}x the data traffic (median); restore after killing 2 of {PUBS}: \
         {:.2} s median (wall {:.1} s)",
        m / d.max(1.0),
        col(|r| r.restore_s),
        wall.elapsed().as_secs_f64()
    );
}
