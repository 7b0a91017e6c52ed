//! Prints, for one fixed application trace (tests/src/measure/app_trace.rs), the isolation keys
//! and cross-site sharing of Tails' IsolateDestAddr, Whonix's per-program ports, torsocks
//! --isolate and Persite per application and per site. Pure computation, no network:
//! `cargo bench -p persite-tests --bench app_isolation`. docs/performance.md records the table.

use persite_tests::measure::app_trace::{Approach, application_trace, evaluate};

fn main() {
    let trace = application_trace();
    let sites: std::collections::BTreeSet<&str> = trace.iter().map(|s| s.site).collect();
    println!(
        "{} streams of {} programs to {} sites\n",
        trace.len(),
        trace
            .iter()
            .map(|s| s.program)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        sites.len()
    );
    println!(
        "| approach | isolation keys (circuits at least) | keys carrying >1 site | most sites on one key | sites split over >1 key |"
    );
    println!("|---|---:|---:|---:|---:|");
    for approach in Approach::ALL {
        let o = evaluate(approach, &trace);
        println!(
            "| {} | {} | {} | {} | {} |",
            approach.label(),
            o.keys,
            o.shared_keys,
            o.most_sites_on_a_key,
            o.split_sites
        );
    }
}
