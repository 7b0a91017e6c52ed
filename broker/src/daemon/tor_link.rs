//! The daemon's link to tor: feeds control-port notifications into the broker, keeps the tor
//! status current, fetches relay details, and publishes `circuit` and `tor_status` pushes.
//!
//! All decisions live in sans-IO code ([`crate::daemon::circuits`], [`super::tor_state`],
//! [`super::dispatch::Broker`]); this task only moves data between [`TorControl`] and them.
//! On every (re)connection it re-reads what it may have missed: version, bootstrap phase,
//! SOCKS listeners, bridges and `GETINFO circuit-status`. Circuit pushes are batched: changed
//! displays leave every [`FLUSH_EVERY`], byte-count-only changes every [`BYTES_EVERY`], at most
//! [`MAX_PUSHES_PER_FLUSH`] at a time (the rest wait for the next tick).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::server::AppState;
use super::tor_state::{ControlState, TorStatus};
use crate::daemon::circuits::{RelayInfo, parse_bridge_line};
use torctl::{EventKind, Notification, TorControl};

/// Events the daemon subscribes to (`SETEVENTS`, re-issued on every reconnect by the client).
pub(crate) const EVENTS: [EventKind; 5] = [
    EventKind::Circ,
    EventKind::Stream,
    EventKind::StreamBw,
    EventKind::CircBw,
    EventKind::StatusClient,
];

/// How often changed circuit displays are pushed.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often byte counts alone are pushed.
pub(crate) const BYTES_EVERY: Duration = Duration::from_secs(2);
/// Most `circuit` pushes per flush.
pub(crate) const MAX_PUSHES_PER_FLUSH: usize = 64;
/// Most relays looked up per flush.
const MAX_LOOKUPS_PER_FLUSH: usize = 16;

/// Runs until `shutdown` turns true.
pub(crate) async fn run(
    state: AppState,
    control: Arc<TorControl>,
    managed_error: Option<watch::Receiver<Option<String>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut notes = control.subscribe();
    let managed = managed_error.is_some();
    let (mut managed_error, has_managed) = match managed_error {
        Some(rx) => (rx, true),
        None => (watch::channel(None).1, false),
    };
    set_status(&state, |s| {
        s.managed = managed;
        s.control = ControlState::Connecting;
    });
    if control.connection().is_ok() {
        on_connected(&state, &control, None).await;
    }
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_bytes = Instant::now();
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            note = notes.recv() => match note {
                Ok(Notification::Event(event)) => {
                    state.with_broker(|b| ((), b.on_tor_event(&event).into_iter().collect()));
                }
                Ok(Notification::Connected { tor_version }) => {
                    on_connected(&state, &control, tor_version).await;
                }
                Ok(Notification::Disconnected { reason }) => {
                    tracing::debug!(%reason, "tor control link down");
                    set_status(&state, |s| {
                        s.control = ControlState::Connecting;
                        s.bootstrap_progress = None;
                        s.bootstrap_summary = None;
                        s.socks_listeners = None;
                    });
                }
                Ok(Notification::MalformedEvent(e)) => {
                    tracing::debug!(error = %e, "ignoring a malformed tor event");
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "fell behind tor's events; re-reading circuit status");
                    resync(&state, &control).await;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = managed_error.changed(), if has_managed => {
                if changed.is_err() {
                    continue;
                }
                let error = managed_error.borrow_and_update().clone();
                set_status(&state, |s| s.error = error);
            }
            _ = flush.tick() => {
                let due = state
                    .with_broker(|b| (b.circuits_mut().resync_due(), Vec::new()))
                    .unwrap_or(false);
                if due {
                    resync(&state, &control).await;
                }
                lookup_relays(&state, &control).await;
                let include_bytes = last_bytes.elapsed() >= BYTES_EVERY;
                if include_bytes {
                    last_bytes = Instant::now();
                }
                state.with_broker(|b| ((), b.circuit_pushes(MAX_PUSHES_PER_FLUSH, include_bytes)));
            }
        }
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone), holding no borrow.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}

/// Applies `edit` to the tor status; publishes `tor_status` when it changed.
fn set_status(state: &AppState, edit: impl FnOnce(&mut TorStatus)) {
    state.with_broker(|b| {
        let mut next = b.tor_status().clone();
        edit(&mut next);
        ((), b.set_tor_status(next).into_iter().collect())
    });
}

/// Reads everything a fresh connection may have missed and marks the link connected.
async fn on_connected(state: &AppState, control: &TorControl, version: Option<String>) {
    let Ok(conn) = control.connection() else {
        return;
    };
    let version = match conn.version().await {
        Ok(v) => Some(v.raw),
        Err(_) => version,
    };
    let bootstrap = conn.bootstrap_phase().await.ok();
    let uptime = conn.getinfo(&["uptime"]).await.ok().and_then(|pairs| {
        pairs
            .first()
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    });
    if uptime.is_some_and(|s| s < super::tor_state::NEWNYM_INTERVAL.as_secs()) {
        state.with_broker(|b| {
            b.tor_restarted();
            ((), Vec::new())
        });
    }
    let listeners = conn.socks_listeners().await.ok();
    let bridges = match conn.getconf(&["Bridge"]).await {
        Ok(pairs) => pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Bridge"))
            .filter_map(|(_, v)| parse_bridge_line(v))
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "GETCONF Bridge failed");
            Vec::new()
        }
    };
    tracing::info!(version = ?version, bootstrap = ?bootstrap.as_ref().and_then(|b| b.bootstrap_progress()), "tor control link up");
    state.with_broker(|b| {
        b.circuits_mut().set_bridges(bridges);
        ((), Vec::new())
    });
    set_status(state, |s| {
        s.control = ControlState::Connected;
        s.version = version;
        s.bootstrap_progress = bootstrap.as_ref().and_then(|b| b.bootstrap_progress());
        s.bootstrap_summary = bootstrap.as_ref().and_then(|b| b.arg("SUMMARY"));
        s.socks_listeners = listeners;
    });
    resync(state, control).await;
}

/// `GETINFO circuit-status` into the bookkeeping.
async fn resync(state: &AppState, control: &TorControl) {
    match control.circuit_status().await {
        Ok(status) => {
            state.with_broker(|b| {
                b.resync_circuits(&status);
                ((), Vec::new())
            });
        }
        Err(e) => tracing::debug!(error = %e, "GETINFO circuit-status failed"),
    }
}

/// Fetches `ns/id/<fp>` and `ip-to-country/<ip>` for relays the displays need.
async fn lookup_relays(state: &AppState, control: &TorControl) {
    let wanted = state
        .with_broker(|b| (b.circuits_mut().take_wanted_relays(), Vec::new()))
        .unwrap_or_default();
    let (now, later) = wanted.split_at(wanted.len().min(MAX_LOOKUPS_PER_FLUSH));
    if !later.is_empty() {
        state.with_broker(|b| {
            b.circuits_mut().want_again(later);
            ((), Vec::new())
        });
    }
    for fp in now {
        let info = relay_info(control, fp).await;
        state.with_broker(|b| {
            b.circuits_mut().set_relay(fp, info);
            ((), Vec::new())
        });
    }
}

async fn relay_info(control: &TorControl, fingerprint: &str) -> RelayInfo {
    let status = match control.router_status(fingerprint).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "GETINFO ns/id failed");
            return RelayInfo::default();
        }
    };
    let country = control
        .ip_to_country(IpAddr::V4(status.ipv4))
        .await
        .ok()
        .flatten()
        .map(|c| c.to_ascii_lowercase());
    RelayInfo {
        nickname: Some(status.nickname),
        ipv4: Some(status.ipv4),
        ipv6: status.ipv6.map(|(ip, _)| ip),
        country,
    }
}
