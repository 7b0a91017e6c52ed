//! Building blocks of the private-network measurements (`benches/tor_measure.rs`): the browsing
//! trace, the control-event log that ties streams to circuits, summaries, and the SVG chart.

pub mod chart;
pub mod events;
pub mod stats;
pub mod trace;
