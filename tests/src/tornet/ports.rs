//! Free TCP ports on 127.0.0.1, picked below the kernel's ephemeral range.
//!
//! Ports are random in 10000–32767 (below Linux's default ephemeral range 32768–60999, so tor's
//! own outgoing connections cannot take them) and each is proven free by binding it. The
//! listeners are held until every port of a batch is chosen, so a batch has no duplicates.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, TcpListener};

const LOW: u16 = 10_000;
const HIGH: u16 = 32_767;
const ATTEMPTS: usize = 2_000;

/// Picks `count` distinct ports that were free a moment ago.
pub(crate) fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let hasher = RandomState::new();
    let mut held = Vec::with_capacity(count);
    let mut ports = Vec::with_capacity(count);
    let mut seen = HashSet::new();
    for attempt in 0..ATTEMPTS {
        if ports.len() == count {
            break;
        }
        let port = LOW + (hasher.hash_one(attempt) % u64::from(HIGH - LOW)) as u16;
        if !seen.insert(port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            held.push(listener);
            ports.push(port);
        }
    }
    if ports.len() < count {
        return Err(std::io::Error::other(format!(
            "found only {} of {count} free ports",
            ports.len()
        )));
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_in_range() {
        let ports = free_ports(13).expect("free ports");
        assert_eq!(ports.iter().collect::<HashSet<_>>().len(), 13);
        for port in ports {
            assert!((LOW..=HIGH).contains(&port));
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("still free");
        }
    }
}
