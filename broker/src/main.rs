//! `persite`: the Persite command-line tool and broker daemon.
fn main() {}
