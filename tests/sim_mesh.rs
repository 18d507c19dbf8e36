//! The mesh at scale: a thousand pubs joining from one seed, churn, and a partition that heals,
//! each run on [`MeshNet`] (every pub's `Mesh` over an abstract network, no engines).
//!
//! Every test prints its seed (`SIM_SEED` replays it) and a summary line: virtual restore
//! times, and mesh maintenance traffic per pub per minute next to the data traffic.
// Wall-clock time is only printed, next to the virtual times.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::disallowed_methods)]

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
    let mut net = joined(seed(1), n, Duration::from_millis(20));
    let all: Vec<usize> = (0..n).collect();
    let joined_at = net.now;
    let t_members = converge_membership(&mut net, &all, Duration::from_secs(600), "join");
    let links = net.cfg.links;
    net.run_for(Duration::from_secs(10));
    for i in &all {
        if net.dialled(*i) > links + 1 {
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
        // One more face may be a probe in flight (each pub probes an unlinked pub a minute).
        assert!(net.dialled(*i) <= links + 1, "pub {i} dialled {} after joining", net.dialled(*i));
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
        assert!(
            net.dialled(*i) <= links + 1,
            "pub {i} keeps {} dialled faces (links {links})",
            net.dialled(*i)
        );
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

    // The loss of r - 1 pubs at once, chosen to hurt: the best holders of the first feed, which
    // keeps only its third copy.
    let r = net.cfg.replicas;
    let ids: Vec<_> = all.iter().map(|i| net.pub_id(*i)).collect();
    let worst = tinyssb::mesh::hrw::top(&net.feeds()[0].0, &ids, r - 1);
    let victims: Vec<usize> = all.iter().copied().filter(|i| worst.contains(&net.pub_id(*i))).collect();
    for v in &victims {
        net.kill(*v);
    }
    assert_eq!(net.lost_feeds(), 0, "killing {victims:?} lost a feed");
    let t_restore = restore(&mut net, Duration::from_secs(600), "kill r - 1 of 1000");
    assert!(net.min_full_copies() >= r, "fewer than {r} full copies after the restore");
    println!(
        "summary thousand_pubs_from_one_seed: {n} pubs joined in {:.1} s after the last start \
         (last start at {:.1} s), 320 feeds placed in {:.1} s; while placing: maintenance {m1:.0} B/pub/min, \
         data {d1:.0} B/pub/min; quiet minute: maintenance {mq:.0} B/pub/min; {} pubs killed at once, \
         restored in {:.1} s; totals {:?}; wall {:.1} s",
        t_members.as_millis() as f64 / 1000.0,
        joined_at.as_millis() as f64 / 1000.0,
        t_data.as_millis() as f64 / 1000.0,
        victims.len(),
        secs(t_restore),
        net.traffic,
        wall.elapsed().as_secs_f64()
    );
}

/// Runs until the running pubs agree on membership and every feed is back on its holders,
/// checking every second that no feed lost its last full copy; returns the time it took.
fn restore(net: &mut MeshNet, limit: Duration, what: &str) -> Duration {
    let all: Vec<usize> = (0..net.len()).collect();
    let t = net.run_until_true(limit, SEC, |n| {
        assert_eq!(n.lost_feeds(), 0, "{what}: a feed lost every full copy (seed {})", n.seed);
        n.membership_wrong(&all).is_empty() && n.under_replicated(&all).is_empty()
    });
    t.unwrap_or_else(|| {
        panic!(
            "{what}: not restored after {limit:?} (seed {}): {} pubs see wrong members, {} feeds under-replicated",
            net.seed,
            net.membership_wrong(&all).len(),
            net.under_replicated(&all).len()
        )
    })
}

fn secs(d: Duration) -> f64 {
    d.as_millis() as f64 / 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[test]
fn churn_keeps_every_feed() {
    let wall = std::time::Instant::now();
    let n = pubs(1000);
    let mut net = joined(seed(2), n, Duration::from_millis(20));
    let all: Vec<usize> = (0..n).collect();
    converge_membership(&mut net, &all, Duration::from_secs(600), "join");
    let mut rng = Rng::derive(net.seed, 2);
    create_feeds(&mut net, &mut rng, 300);
    converge_data(&mut net, &all, Duration::from_secs(600), "placement");
    net.run_for(Duration::from_secs(60));

    let r = net.cfg.replicas;
    let start = net.now;
    let before = net.traffic;
    let mut killed: Vec<usize> = Vec::new();
    let mut kills = Vec::new();
    let mut rejoins = Vec::new();
    let mut joins = Vec::new();
    for round in 0..9 {
        // Kill r - 1 pubs at once (never pub 0, the joiners' seed).
        let mut victims = Vec::new();
        while victims.len() < r - 1 {
            let alive = net.alive();
            let v = alive[rng.below(alive.len() as u64) as usize];
            if v != 0 && !victims.contains(&v) {
                victims.push(v);
            }
        }
        for v in &victims {
            net.kill(*v);
        }
        assert_eq!(net.lost_feeds(), 0, "round {round}: killing {victims:?} lost a feed");
        killed.extend(&victims);
        kills.push(secs(restore(&mut net, Duration::from_secs(600), &format!("round {round} kill"))));
        assert!(net.min_full_copies() >= r, "round {round}: fewer than {r} full copies");

        if round % 3 == 1 {
            // A killed pub comes back from its disk.
            let back = killed.remove(rng.below(killed.len() as u64) as usize);
            net.start(back);
            rejoins.push(secs(restore(
                &mut net,
                Duration::from_secs(600),
                &format!("round {round} restart"),
            )));
            let group: Vec<usize> = (0..net.len()).collect();
            assert_placement(&net, &group);
        }
        if round % 3 == 2 {
            // A new pub joins through pub 0 and gets its share, in full.
            let j = net.add_pub(&[0]);
            net.start(j);
            let group: Vec<usize> = (0..net.len()).collect();
            joins.push(secs(restore(&mut net, Duration::from_secs(600), &format!("round {round} join"))));
            assert_placement(&net, &group);
            let mut share = 0;
            for (fid, total) in net.feeds().to_vec() {
                if net.mesh(j).is_some_and(|m| m.holds(&fid)) {
                    share += 1;
                    assert_eq!(net.stored(j, &fid), total, "the joiner holds {fid:?} in full");
                }
            }
            println!("joiner {j} holds {share} feeds");
        }
        net.run_for(Duration::from_secs(10));
        let inc = net.holders_inconsistent();
        assert!(inc.is_empty(), "round {round}: {} inconsistent, e.g. {:?}", inc.len(), inc.first());
    }
    let group: Vec<usize> = (0..net.len()).collect();
    assert!(net.links_missing(&group).is_empty());
    let d = net.now.saturating_since(start);
    let t = net.traffic.since(&before);
    let (m, dbytes) = per_pub_minute(&t, net.alive().len(), d);
    println!(
        "summary churn_keeps_every_feed: {n} pubs, 300 feeds, {} rounds of {} kills; restore after kill \
         median {:.1} s max {:.1} s; after restart median {:.1} s; after join median {:.1} s; \
         maintenance {m:.0} B/pub/min, data {dbytes:.0} B/pub/min; {} announces, {} downs; wall {:.1} s",
        kills.len(),
        r - 1,
        median(&mut kills.clone()),
        kills.iter().copied().fold(0.0, f64::max),
        median(&mut rejoins),
        median(&mut joins),
        t.announces,
        t.downs,
        wall.elapsed().as_secs_f64()
    );
}

#[test]
fn partition_and_heal() {
    let wall = std::time::Instant::now();
    let n = pubs(1000);
    let mut net = joined(seed(3), n, Duration::from_millis(20));
    let all: Vec<usize> = (0..n).collect();
    converge_membership(&mut net, &all, Duration::from_secs(600), "join");
    let mut rng = Rng::derive(net.seed, 3);
    create_feeds(&mut net, &mut rng, 300);
    converge_data(&mut net, &all, Duration::from_secs(600), "placement");

    // Split in two (pub ids are random, so this cuts across every ranking).
    let a: Vec<usize> = (0..n).filter(|i| i % 2 == 0).collect();
    let b: Vec<usize> = (0..n).filter(|i| i % 2 == 1).collect();
    let before = net.traffic;
    net.partition(&a);
    // Each side restores three copies of the feeds it has. Pubs of the other side are found
    // gone by the pubs that dial them (links, sessions, probes); one that no pub of this side
    // has a link with is found by the probes every pub sends to one unlinked pub a minute.
    let t_a = net.run_until_true(Duration::from_secs(1800), SEC, |n| {
        n.under_replicated_held(&a).is_empty() && n.under_replicated_held(&b).is_empty()
    });
    let t_split = t_a.unwrap_or_else(|| {
        panic!(
            "sides did not restore their feeds (seed {}): under-replicated A {} B {}; wrong members A {} B {}",
            net.seed,
            net.under_replicated_held(&a).len(),
            net.under_replicated_held(&b).len(),
            net.membership_wrong(&a).len(),
            net.membership_wrong(&b).len()
        )
    });
    let stale = net.membership_wrong(&a).len() + net.membership_wrong(&b).len();
    let split = net.traffic.since(&before);

    net.heal();
    let healed = net.traffic;
    let t_heal = restore(&mut net, Duration::from_secs(1800), "heal");
    converge_membership(&mut net, &all, Duration::from_secs(60), "links after the heal");
    assert_placement(&net, &all);
    assert_eq!(net.lost_feeds(), 0);
    let heal = net.traffic.since(&healed);
    // Refutations stop: a quiet minute writes no records.
    net.run_for(Duration::from_secs(30));
    let quiet = net.traffic;
    let sessions =
        |net: &MeshNet| -> u64 { net.alive().iter().map(|i| net.mesh(*i).unwrap().stats().sessions).sum() };
    let sess0 = sessions(&net);
    net.run_for(Duration::from_secs(60));
    let sess1 = sessions(&net);
    let q = net.traffic.since(&quiet);
    assert_eq!(q.records_written, 0, "records written in a quiet minute after the heal: {q:?}");
    let (mq, _) = per_pub_minute(&q, n, Duration::from_secs(60));
    println!(
        "summary partition_and_heal: {n} pubs split {}/{}: sides restored their feeds in {:.1} s ({} downs, {} announces, {stale} pubs still see a pub of the other side live); \
         healed in {:.1} s ({} downs, {} announces); quiet minute after: {} records, {} sessions, maintenance {mq:.0} B/pub/min; \
         wall {:.1} s",
        a.len(),
        b.len(),
        secs(t_split),
        split.downs,
        split.announces,
        secs(t_heal),
        heal.downs,
        heal.announces,
        q.records_written,
        sess1 - sess0,
        wall.elapsed().as_secs_f64()
    );
}
