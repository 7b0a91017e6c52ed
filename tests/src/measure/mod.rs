//! Building blocks of the private-network measurements (`benches/tor_measure.rs`): the browsing
//! trace, the control-event log that ties streams to circuits, summaries, and the SVG chart;
//! and the application trace that compares per-application isolation schemes, with its replay on
//! the network (`benches/app_isolation.rs`).

pub mod app_replay;
pub mod app_trace;
pub mod chart;
pub mod events;
pub mod stats;
pub mod trace;
