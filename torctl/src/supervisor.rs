//! [`TorControl`]: a supervisor that keeps a [`Connection`] up across tor restarts, with
//! bounded, growing reconnect delays, and publishes its [`ConnectionState`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::ControlConfig;
use crate::connection::{Connection, ControlError, Notification};
use crate::events::CircEvent;
use crate::info::{RouterStatus, TorVersion};

/// Connection state as seen by [`TorControl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Trying to connect (first attempt or after a loss).
    Connecting,
    /// Connected and authenticated.
    Connected {
        /// Tor's version.
        tor_version: Option<String>,
    },
    /// Not connected; retrying after a delay.
    Disconnected {
        /// Why the last attempt failed or the connection was lost.
        reason: String,
    },
}

struct Supervised {
    config: ControlConfig,
    current: Mutex<Option<Arc<Connection>>>,
    state_tx: watch::Sender<ConnectionState>,
    notify_tx: broadcast::Sender<Notification>,
}

/// A self-healing control-port client: connects, authenticates, subscribes, and reconnects with
/// backoff whenever the connection is lost (tor restarted, socket closed, protocol error).
///
/// Commands issued while disconnected fail at once with [`ControlError::NotConnected`];
/// subscribers keep their receiver across reconnects and see `Connected`/`Disconnected`.
pub struct TorControl {
    shared: Arc<Supervised>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for TorControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorControl")
            .field("addr", &self.shared.config.addr)
            .field("state", &*self.shared.state_tx.borrow())
            .finish()
    }
}

impl Drop for TorControl {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(conn) = self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            conn.close_locally();
        }
    }
}

impl TorControl {
    /// Starts the supervisor task (needs a tokio runtime).
    pub fn spawn(config: ControlConfig) -> Self {
        let (state_tx, _) = watch::channel(ConnectionState::Connecting);
        let (notify_tx, _) = broadcast::channel(config.notification_capacity.max(1));
        let shared = Arc::new(Supervised {
            config,
            current: Mutex::new(None),
            state_tx,
            notify_tx,
        });
        let task = tokio::spawn(supervise(Arc::clone(&shared)));
        TorControl { shared, task }
    }

    /// Receives events and connection changes from now on (lagging receivers lose the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.shared.notify_tx.subscribe()
    }

    /// Watches the connection state.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state_tx.subscribe()
    }

    /// Waits (at most `timeout`) until connected.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<Arc<Connection>, ControlError> {
        let mut state = self.state();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                if let Ok(conn) = self.connection() {
                    return Ok(conn);
                }
                if state.changed().await.is_err() {
                    return Err(ControlError::NotConnected("supervisor stopped".to_owned()));
                }
            }
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => Err(ControlError::Timeout {
                what: match &*state.borrow() {
                    ConnectionState::Disconnected { .. } => {
                        "tor's control port (still disconnected)"
                    }
                    _ => "tor's control port",
                },
                after: timeout,
            }),
        }
    }

    /// The current connection, or why there is none.
    pub fn connection(&self) -> Result<Arc<Connection>, ControlError> {
        let current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match current {
            Some(conn) if !conn.is_closed() => Ok(conn),
            _ => Err(ControlError::NotConnected(
                match &*self.shared.state_tx.borrow() {
                    ConnectionState::Disconnected { reason } => reason.clone(),
                    ConnectionState::Connecting => "connecting".to_owned(),
                    ConnectionState::Connected { .. } => "connection just closed".to_owned(),
                },
            )),
        }
    }

    /// `GETINFO keys…` on the current connection.
    pub async fn getinfo<S: AsRef<str>>(
        &self,
        keys: &[S],
    ) -> Result<Vec<(String, String)>, ControlError> {
        self.connection()?.getinfo(keys).await
    }

    /// `GETCONF keys…` on the current connection.
    pub async fn getconf<S: AsRef<str>>(
        &self,
        keys: &[S],
    ) -> Result<Vec<(String, String)>, ControlError> {
        self.connection()?.getconf(keys).await
    }

    /// `SIGNAL NEWNYM` on the current connection.
    pub async fn newnym(&self) -> Result<(), ControlError> {
        self.connection()?.newnym().await
    }

    /// `GETINFO circuit-status` on the current connection.
    pub async fn circuit_status(&self) -> Result<Vec<CircEvent>, ControlError> {
        self.connection()?.circuit_status().await
    }

    /// `GETINFO ns/id/<fingerprint>` on the current connection.
    pub async fn router_status(&self, fingerprint: &str) -> Result<RouterStatus, ControlError> {
        self.connection()?.router_status(fingerprint).await
    }

    /// `GETINFO ip-to-country/<ip>` on the current connection.
    pub async fn ip_to_country(
        &self,
        ip: std::net::IpAddr,
    ) -> Result<Option<String>, ControlError> {
        self.connection()?.ip_to_country(ip).await
    }

    /// `GETINFO version` on the current connection.
    pub async fn version(&self) -> Result<TorVersion, ControlError> {
        self.connection()?.version().await
    }
}

async fn supervise(shared: Arc<Supervised>) {
    let config = &shared.config;
    let mut delay = config.reconnect_min;
    loop {
        shared.state_tx.send_replace(ConnectionState::Connecting);
        let reason = match Connection::open(config, shared.notify_tx.clone()).await {
            Ok(conn) => {
                delay = config.reconnect_min;
                let conn = Arc::new(conn);
                let tor_version = conn.protocol_info().tor_version.clone();
                *shared
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&conn));
                tracing::info!(addr = %config.addr, version = ?tor_version, "connected to tor control port");
                shared.state_tx.send_replace(ConnectionState::Connected {
                    tor_version: tor_version.clone(),
                });
                let _ = shared
                    .notify_tx
                    .send(Notification::Connected { tor_version });
                let lost = conn.closed().await;
                shared
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                let reason = lost.to_string();
                tracing::warn!(addr = %config.addr, %reason, "lost tor control connection; reconnecting");
                let _ = shared.notify_tx.send(Notification::Disconnected {
                    reason: reason.clone(),
                });
                reason
            }
            Err(e) => {
                tracing::warn!(addr = %config.addr, error = %e, retry_in = ?delay, "cannot use tor control port");
                e.to_string()
            }
        };
        shared
            .state_tx
            .send_replace(ConnectionState::Disconnected { reason });
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(config.reconnect_max);
    }
}
