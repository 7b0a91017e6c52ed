//! Persite end-to-end harness.
pub mod binaries;
pub mod firefox;
pub mod fixtures;
pub mod socks_recorder;
pub mod control_probe;
pub mod tornet;
pub mod measure;
pub mod canary;
pub mod fake_broker;
pub mod leak_audit;
pub mod strace;
pub mod wrappers;
pub mod measure_page_load;
pub mod popup;
pub mod trial;
