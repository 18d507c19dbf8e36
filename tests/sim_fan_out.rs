//! Fair fan-out: many fresh clients syncing from one pub at once finish at about the same time.
//! GOset answers go to the face that asked, each face has its own reply budget, and faces with
//! output are served in turn.
use tinyssb::store::Store;
use tinyssb::time::{Duration, Instant};
use tinyssb_sim::{seed, sorted_feeds, Corpus, LinkSpec, Scenario};

#[test]
fn thirty_fresh_clients_finish_together() {
    const CLIENTS: usize = 30;
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("c{i}")).collect();
    let mut sc = Scenario::new(seed(41)).populated("hub", Corpus::new(20, 5).chains(20, 600));
    for n in &names {
        sc = sc.empty(n.as_str());
    }
    let mut sim = sc.star("hub", &names, LinkSpec::reliable(10)).build();
    let want: Vec<_> = {
        let c = sim.node(sim.id("hub")).store();
        sorted_feeds(c).into_iter().map(|f| (f, c.frontier(&f).map(|x| x.seq))).collect()
    };
    let clients: Vec<usize> = names.iter().map(|n| sim.id(n)).collect();
    let start = sim.now;
    let mut done: Vec<Option<Instant>> = vec![None; CLIENTS];
    sim.run_until(Duration::from_secs(120), |s| {
        for (i, &c) in clients.iter().enumerate() {
            if done[i].is_none() {
                let st = s.node(c).store();
                let complete = want.iter().all(|(f, seq)| st.frontier(f).map(|x| x.seq) == *seq)
                    && want.iter().all(|(f, _)| st.pending_chains(f).is_empty());
                if complete {
                    done[i] = Some(s.now);
                }
            }
        }
        done.iter().all(Option::is_some)
    })
    .expect("every client syncs");
    let mut times: Vec<u64> = done.iter().flatten().map(|t| t.0 - start.0).collect();
    times.sort_unstable();
    let (median, slowest) = (times[CLIENTS / 2], times[CLIENTS - 1]);
    println!("{CLIENTS} clients: median {median} ms, slowest {slowest} ms (virtual)");
    assert!(slowest <= 3_000, "slowest {slowest} ms");
    assert!(slowest <= 2 * median.max(100), "slowest {slowest} ms vs median {median} ms");
}
