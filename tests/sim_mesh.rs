//! The mesh at scale: a thousand pubs joining from one seed, churn, and a partition that heals,
//! each run on [`MeshNet`] (every pub's `Mesh` over an abstract network, no engines).
//!
//! Every test prints its seed (`SIM_SEED` replays it) and a summary line: virtual restore
//! times, and mesh maintenance traffic per pub per minute next to the data traffic.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]

use tinyssb::mesh::Config;
use tinyssb::time::Duration;
use tinyssb_sim::{seed, MeshNet, MeshTraffic, Rng};

const SEC: Duration = Duration::from_secs(1);

/// `default`, or `SIM_MESH_PUBS` from the environment (smaller runs while debugging).
fn pubs(default: usize) -> usize {
    std::env::var("SIM_MESH_PUBS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A network of `n` pubs that all join through pub 0, started `stagger` apart.
fn joined(seed: u64, n: usize, stagger: Duration) -> MeshNet {
    let mut net = MeshNet::new(seed, Config::default());
    for i in 0..n {
        let seeds = if i == 0 { vec![] } else { vec![0] };
        net.add_pub(&seeds);
        net.start(i);
        net.run_for(stagger);
    }
    net
}

/// Runs until every running pub of `group` sees exactly the running pubs of `group` as live
/// and has the links it wants; panics after `limit`.
fn converge_membership(net: &mut MeshNet, group: &[usize], limit: Duration, what: &str) -> Duration {
    let group = group.to_vec();
    let t = net.run_until_true(limit, SEC, |n| {
        n.membership_wrong(&group).is_empty() && n.links_missing(&group).is_empty()
    });
    t.unwrap_or_else(|| {
        let wrong = net.membership_wrong(&group);
        let links = net.links_missing(&group);
        panic!(
            "{what}: no convergence after {limit:?} (seed {}): {} pubs see the wrong members (e.g. {:?}), \
             {} miss links (e.g. {:?}); traffic {:?}",
            net.seed,
            wrong.len(),
            wrong.first(),
            links.len(),
            links.first(),
            net.traffic
        )
    })
}

/// Runs until every feed has its holders among the running pubs of `group` storing all of it.
fn converge_data(net: &mut MeshNet, group: &[usize], limit: Duration, what: &str) -> Duration {
    let group = group.to_vec();
    let t = net.run_until_true(limit, SEC, |n| n.under_replicated(&group).is_empty());
    t.unwrap_or_else(|| {
        let under = net.under_replicated(&group);
        panic!("{what}: {} feeds under-replicated after {limit:?} (seed {})", under.len(), net.seed)
    })
}

/// Creates `k` feeds of 1–20 entries at random running pubs.
fn create_feeds(net: &mut MeshNet, rng: &mut Rng, k: usize) {
    let alive = net.alive();
    for _ in 0..k {
        let at = alive[rng.below(alive.len() as u64) as usize];
        let entries = 1 + rng.below(20) as u32;
        net.create_feed(at, entries);
    }
}

fn assert_placement(net: &MeshNet, group: &[usize]) {
    let wrong = net.placement_wrong(group);
    assert!(
        wrong.is_empty(),
        "{} (pub, feed) pairs held against the placement, e.g. {:?}",
        wrong.len(),
        wrong[0]
    );
}

/// Maintenance and data bytes per running pub per minute, over `d` with counters `t`.
fn per_pub_minute(t: &MeshTraffic, pubs: usize, d: Duration) -> (f64, f64) {
    let scale = 60_000.0 / d.as_millis().max(1) as f64 / pubs.max(1) as f64;
    (t.maintenance() as f64 * scale, t.data_bytes as f64 * scale)
}

#[test]
fn thousand_pubs_from_one_seed() {
    let wall = std::time::Instant::now();
    let n = pubs(1000);
    let mut net = joined(seed(1), n, Duration::from_millis(50));
    let all: Vec<usize> = (0..n).collect();
    let joined_at = net.now;
    let t_members = converge_membership(&mut net, &all, Duration::from_secs(600), "join");
    let links = net.cfg.links;
    net.run_for(Duration::from_secs(10));
    for i in &all {
        if net.dialled(*i) > links {
            let m = net.mesh(*i).unwrap();
            let d = m.desired_links();
            for (f, o) in net.dialled_faces(*i) {
                eprintln!(
                    "face {f:?} to {o} pub_on {:?} desired {}",
                    m.pub_on(f).map(|p| p.0[0]),
                    d.contains(&net.pub_id(o))
                );
            }
        }
        assert!(net.dialled(*i) <= links, "pub {i} dialled {} after joining", net.dialled(*i));
    }

    let mut rng = Rng::derive(net.seed, 1);
    let before = net.traffic;
    let t0 = net.now;
    create_feeds(&mut net, &mut rng, 320);
    let t_data = converge_data(&mut net, &all, Duration::from_secs(600), "placement");
    assert_placement(&net, &all);
    // Sessions end; afterwards each pub dials only its own links.
    net.run_for(Duration::from_secs(90));
    for i in &all {
        assert!(net.dialled(*i) <= links, "pub {i} keeps {} dialled faces (links {links})", net.dialled(*i));
    }
    assert!(net.membership_wrong(&all).is_empty() && net.links_missing(&all).is_empty());
    let data_phase = net.traffic.since(&before);
    let (m1, d1) = per_pub_minute(&data_phase, n, net.now.saturating_since(t0));
    // Steady state: a quiet minute.
    let quiet = net.traffic;
    net.run_for(Duration::from_secs(60));
    let q = net.traffic.since(&quiet);
    let (mq, _) = per_pub_minute(&q, n, Duration::from_secs(60));
    assert_eq!(q.records_written, 0, "records written in a quiet minute: {q:?}");
    println!(
        "summary thousand_pubs_from_one_seed: {n} pubs joined in {:.1} s after the last start \
         (last start at {:.1} s), 320 feeds placed in {:.1} s; while placing: maintenance {m1:.0} B/pub/min, \
         data {d1:.0} B/pub/min; quiet minute: maintenance {mq:.0} B/pub/min; totals {:?}; wall {:.1} s",
        t_members.as_millis() as f64 / 1000.0,
        joined_at.as_millis() as f64 / 1000.0,
        t_data.as_millis() as f64 / 1000.0,
        net.traffic,
        wall.elapsed().as_secs_f64()
    );
}
