//! Summaries of measured samples and of which circuit carried which site (pure, no I/O).

use std::collections::{BTreeMap, BTreeSet};

/// Median, 90th percentile and range of a sample set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Smallest sample.
    pub min: f64,
    /// 50th percentile (nearest rank).
    pub median: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// Largest sample.
    pub max: f64,
}

/// Nearest-rank percentile `p` (0–100) of `sorted` (ascending, not empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarizes `values`; `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        n: sorted.len(),
        min: sorted[0],
        median: percentile(&sorted, 50.0),
        p90: percentile(&sorted, 90.0),
        max: sorted[sorted.len() - 1],
    })
}

/// One stream of a replayed trace: which circuit carried it, for which first party, when.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    /// Tor's circuit id.
    pub circuit: String,
    /// The first party of the page that made the request.
    pub site: String,
    /// Simulated minute of the page view.
    pub at_min: f64,
}

/// How a trace's streams spread over circuits.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitUse {
    /// Streams that reached the origin and were tied to a circuit.
    pub streams: usize,
    /// Distinct circuits that carried at least one stream.
    pub circuits_used: usize,
    /// Mean streams per used circuit.
    pub streams_per_circuit_mean: f64,
    /// Most streams on one circuit.
    pub streams_per_circuit_max: usize,
    /// Most first parties one circuit carried (1 means no two sites ever shared a circuit).
    pub max_sites_per_circuit: usize,
    /// Longest time between the first and the last stream one circuit carried for one site,
    /// in simulated minutes: how long an exit could link that site's visits by circuit.
    pub longest_window_min: f64,
    /// The site of that longest window.
    pub longest_window_site: String,
}

/// Computes [`CircuitUse`] from the streams of one replay.
pub fn circuit_use(records: &[StreamRecord]) -> CircuitUse {
    let mut per_circuit: BTreeMap<&str, (usize, BTreeSet<&str>)> = BTreeMap::new();
    let mut windows: BTreeMap<(&str, &str), (f64, f64)> = BTreeMap::new();
    for r in records {
        let entry = per_circuit.entry(&r.circuit).or_default();
        entry.0 += 1;
        entry.1.insert(&r.site);
        windows
            .entry((&r.circuit, &r.site))
            .and_modify(|(first, last)| {
                *first = first.min(r.at_min);
                *last = last.max(r.at_min);
            })
            .or_insert((r.at_min, r.at_min));
    }
    let (longest_window_min, longest_window_site) = windows
        .iter()
        .map(|((_, site), (first, last))| (last - first, *site))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or((0.0, String::new()), |(w, s)| (w, s.to_owned()));
    let circuits_used = per_circuit.len();
    CircuitUse {
        streams: records.len(),
        circuits_used,
        streams_per_circuit_mean: if circuits_used == 0 {
            0.0
        } else {
            records.len() as f64 / circuits_used as f64
        },
        streams_per_circuit_max: per_circuit.values().map(|(n, _)| *n).max().unwrap_or(0),
        max_sites_per_circuit: per_circuit
            .values()
            .map(|(_, sites)| sites.len())
            .max()
            .unwrap_or(0),
        longest_window_min,
        longest_window_site,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(circuit: &str, site: &str, at_min: f64) -> StreamRecord {
        StreamRecord {
            circuit: circuit.into(),
            site: site.into(),
            at_min,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = summarize(&[5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0]).expect("samples");
        assert_eq!((s.n, s.min, s.max), (10, 1.0, 10.0));
        assert_eq!(s.median, 5.0);
        assert_eq!(s.p90, 9.0);
        assert_eq!(summarize(&[]), None);
        assert_eq!(
            summarize(&[3.0]).map(|s| (s.median, s.p90)),
            Some((3.0, 3.0))
        );
    }

    #[test]
    fn windows_are_per_circuit_and_site() {
        let records = [
            rec("1", "a", 0.0),
            rec("1", "a", 9.0),
            rec("2", "a", 12.0),
            rec("2", "a", 30.0),
            rec("3", "b", 1.0),
            rec("3", "c", 50.0),
        ];
        let u = circuit_use(&records);
        assert_eq!(u.circuits_used, 3);
        assert_eq!(u.streams_per_circuit_max, 2);
        assert_eq!(u.max_sites_per_circuit, 2);
        // Circuit 3 carries b then c: 49 minutes apart, but each site only once.
        assert_eq!(u.longest_window_min, 18.0);
        assert_eq!(u.longest_window_site, "a");
        assert!((u.streams_per_circuit_mean - 2.0).abs() < 1e-9);
    }

    #[test]
    fn no_streams_no_circuits() {
        let u = circuit_use(&[]);
        assert_eq!((u.circuits_used, u.streams_per_circuit_mean), (0, 0.0));
    }
}
