//! Runs the SOCKS front ([`crate::front`]) inside the daemon: its credentials come from the
//! broker (application context `app:NAME`, the destination's site), so policies, New circuit
//! and New identity apply to programs as to browser sites.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::watch;

use super::dispatch::Now;
use super::server::AppState;
use crate::config::SocksEndpoint;
use crate::front::{Front, FrontAddr, Keys};

/// The broker as the front's source of keys.
struct DaemonKeys {
    state: AppState,
}

impl Keys for DaemonKeys {
    fn site_of(&self, host: &str) -> Option<String> {
        self.state
            .with_broker(|b| (b.site_of_host(host), Vec::new()))
            .flatten()
    }

    fn credentials(&self, context: &str, site: &str) -> Result<(String, String), String> {
        let now = Now::current().unix_ms;
        self.state
            .with_broker(|b| (b.app_credentials(context, Some(site), now), Vec::new()))
            .ok_or_else(|| "the broker is unavailable".to_owned())?
            .map(|issued| (issued.username, issued.password))
            .map_err(|e| e.message)
    }

    fn remember_resolved(&self, context: &str, ip: std::net::IpAddr, site: &str) {
        self.state.with_broker(|b| {
            b.remember_resolved(context, ip, site);
            ((), Vec::new())
        });
    }

    fn resolved_site(&self, context: &str, ip: std::net::IpAddr) -> Option<String> {
        self.state
            .with_broker(|b| (b.resolved_site(context, ip), Vec::new()))
            .flatten()
    }
}

/// tor's SOCKS port as a socket address (`localhost` is 127.0.0.1, as for the browser).
fn tor_socks_addr(socks: &SocksEndpoint) -> Option<SocketAddr> {
    let ip = if socks.host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        socks.host.parse().ok()?
    };
    Some(SocketAddr::new(ip, socks.port))
}

/// Binds the front on `addr` and serves it until `shutdown`; records where it listens in the
/// broker. A front that cannot listen (the port is taken) is logged and left off: the browser
/// side works without it.
pub(crate) async fn start(
    addr: &FrontAddr,
    socks: &SocksEndpoint,
    state: AppState,
    shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(tor) = tor_socks_addr(socks) else {
        tracing::warn!("SOCKS front off: tor's SOCKS host is not an address");
        return None;
    };
    let front = match Front::bind(addr).await {
        Ok(front) => front,
        Err(e) => {
            tracing::warn!(
                "SOCKS front off: cannot listen on {addr}: {e}; programs cannot use it \
                 (set [front] listen in config.toml to another address, or \"none\")"
            );
            return None;
        }
    };
    let listening = front.addr().to_string();
    tracing::info!(front = %listening, "SOCKS front listening");
    state.with_broker(|b| {
        b.set_front(Some(listening));
        ((), Vec::new())
    });
    let keys = Arc::new(DaemonKeys { state });
    Some(tokio::spawn(front.serve(keys, tor, shutdown)))
}
