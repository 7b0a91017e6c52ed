//! `persite-native-host`: started by the browser, relays frames to the broker daemon.
fn main() {}
