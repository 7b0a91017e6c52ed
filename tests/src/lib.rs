//! Persite end-to-end harness.
pub mod binaries;
pub mod canary;
pub mod control_probe;
pub mod daemon_http;
pub mod fake_broker;
pub mod firefox;
pub mod fixtures;
pub mod leak_audit;
pub mod measure;
pub mod measure_page_load;
pub mod popup;
pub mod socks_recorder;
pub mod strace;
pub mod stream_trace;
pub mod tornet;
pub mod trial;
pub mod wrappers;
