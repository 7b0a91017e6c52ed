//! Persite broker: decides the Tor isolation key of every first-party site, derives its SOCKS
//! credentials, and (in later modules) serves them to the browser and talks to Tor.

pub mod config;
