//! The broker daemon, `persite serve`: one per user, serving `docs/protocol.md` §2–§3 on the
//! Unix socket `<runtime dir>/broker.sock`.
//!
//! Start-up order: read the config (so a bad file fails before anything else happens), take the
//! single-instance lock, load the public suffix list, bind the socket, serve until SIGTERM,
//! SIGINT or SIGHUP, then remove the socket and release the lock.

pub(crate) mod apps;
pub(crate) mod circuits;
pub mod client;
pub(crate) mod dispatch;
pub(crate) mod events;
pub(crate) mod front_link;
pub(crate) mod instance;
pub(crate) mod managed_tor;
pub(crate) mod rpc;
pub(crate) mod server;
pub(crate) mod tor_link;
pub(crate) mod tor_state;

pub use apps::whole_app_host;
pub use circuits::{Availability, CircuitTracker};
pub use instance::LOCK_NAME;
pub use managed_tor::CONTROL_SOCKET_NAME;
pub use rpc::{ErrorCode, Request, RequestType, RpcError, parse_rpc, parse_typed, reply};

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::config::{Config, ConfigError, ControlSetting, TorMode};
use crate::daemon::managed_tor::{ManagedSpec, ManagedTor};
use crate::isolation::isolator::Isolator;
use crate::isolation::psl::Psl;
use crate::policy::store::{PolicyStore, default_policy_path};
use dispatch::{Broker, Now};
use events::{BUS_CAPACITY, EventBus};
use instance::Acquired;
use persite_native_messaging::runtime::{RuntimeDirError, broker_socket_path};
use tor_state::SocksCheck;
use torctl::{ControlAddr, ControlConfig, TorControl};

/// How long a second `persite serve` waits for a lock holder that is still starting to answer.
const STARTING_DAEMON_WAIT: Duration = Duration::from_secs(5);

/// How long open connections (event streams, slow clients) may delay exit after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How often max-age rotations are checked, so their `invalidate` push leaves at most this
/// late even when no request comes (`docs/protocol.md` §2.5).
const ROTATION_TICK: Duration = Duration::from_millis(250);

/// Options of `persite serve`.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Config file named with `--config`; `None` uses the default location.
    pub config: Option<PathBuf>,
    /// Leave the spawner's session (`--detach`), so closing the browser does not stop us.
    pub detach: bool,
}

/// How a `persite serve` run ended without error.
#[derive(Debug)]
pub enum ServeOutcome {
    /// Served, then stopped on a signal.
    Stopped,
    /// Another daemon already serves this user; nothing was started.
    AlreadyRunning {
        /// Its socket.
        socket: PathBuf,
        /// Its process id, if known.
        pid: Option<u32>,
    },
}

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The runtime directory is unusable.
    #[error(transparent)]
    RuntimeDir(#[from] RuntimeDirError),
    /// The public suffix list could not be loaded.
    #[error("cannot load the public suffix list: {0}")]
    Psl(String),
    /// Another process holds the daemon lock but does not answer on the socket.
    #[error(
        "another persite daemon (pid {pid}) holds {lock} but does not answer on {socket}; \
         stop it and try again"
    )]
    NotAnswering {
        /// The lock holder's pid, or `unknown`.
        pid: String,
        /// The lock file.
        lock: PathBuf,
        /// The socket.
        socket: PathBuf,
    },
    /// Managed tor's files could not be prepared.
    #[error("cannot prepare managed tor: {0}")]
    ManagedTor(String),
    /// The circuit-lifetime policies (`[policy]`, `site-policies.toml`) are unusable.
    #[error("circuit-lifetime policies: {0}")]
    Policy(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What the daemon was doing.
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> DaemonError {
    move |source| DaemonError::Io { what, source }
}

/// Runs the daemon until it is told to stop; blocks the calling thread.
pub fn run(options: &ServeOptions) -> Result<ServeOutcome, DaemonError> {
    let config = Config::load(options.config.as_deref())?;
    if options.detach {
        detach();
    }
    let socket = broker_socket_path()?;
    let runtime_dir = socket
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut lock = match instance::acquire(&runtime_dir, &socket)
        .map_err(io_err("cannot take the daemon lock"))?
    {
        Acquired::Lock(lock) => lock,
        Acquired::HeldBy { pid } => {
            return if instance::wait_until_answers(&socket, STARTING_DAEMON_WAIT) {
                Ok(ServeOutcome::AlreadyRunning { socket, pid })
            } else {
                Err(DaemonError::NotAnswering {
                    pid: pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
                    lock: runtime_dir.join(instance::LOCK_NAME),
                    socket,
                })
            };
        }
    };
    if instance::answers(&socket) {
        // Someone serves there without holding our lock (e.g. a daemon whose lock file was
        // deleted); starting a second one would split the user's state.
        return Ok(ServeOutcome::AlreadyRunning { socket, pid: None });
    }
    let psl = Arc::new(Psl::load().map_err(|e| DaemonError::Psl(e.to_string()))?);
    let policies = load_policies(&config, &psl)?;
    let instance = new_instance_id().map_err(io_err("cannot generate the instance id"))?;
    let isolator = Isolator::try_new(psl)
        .map_err(|e| io_err("cannot create the secret key")(io::Error::other(e.to_string())))?;
    if config.tor.mode != TorMode::System {
        // Before probing [socks]: a tor orphaned by a killed daemon would look like a system tor.
        crate::daemon::managed_tor::stop_orphan(&runtime_dir);
    }
    let tor_plan = plan_tor(&config, &runtime_dir)?;
    let front = config
        .front
        .clone()
        .map(|addr| (addr, config.socks.clone()));
    let mut broker = Broker::new(isolator, config.socks, instance.clone(), Instant::now())
        .with_policies(policies);
    broker.set_socks_check(tor_plan.socks_check);
    let listener = lock
        .bind()
        .map_err(io_err("cannot bind the daemon socket"))?;
    listener
        .set_nonblocking(true)
        .map_err(io_err("cannot configure the daemon socket"))?;
    tracing::info!(socket = %socket.display(), instance, pid = std::process::id(), "persite daemon listening");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io_err("cannot start the async runtime"))?;
    runtime
        .block_on(serve(listener, broker, tor_plan, front))
        .map_err(io_err("serving failed"))?;
    // Shut the runtime down before releasing the lock, so no request runs after we let go.
    runtime.shutdown_timeout(Duration::from_millis(200));
    lock.remove_socket();
    drop(lock);
    tracing::info!("persite daemon stopped");
    Ok(ServeOutcome::Stopped)
}

/// `config.toml`'s `[policy]` with the API overrides file over it.
fn load_policies(config: &Config, psl: &Psl) -> Result<PolicyStore, DaemonError> {
    let base = config
        .policy
        .resolve(psl, "policy")
        .map_err(|e| DaemonError::Policy(format!("config file: {e}")))?;
    let path = default_policy_path();
    if path.is_none() {
        tracing::warn!("no $XDG_CONFIG_HOME or $HOME: policy changes are not kept across restarts");
    }
    PolicyStore::open(base, path, psl).map_err(|e| DaemonError::Policy(e.to_string()))
}

/// Rotates credentials whose max-age passed and pushes their `invalidate`, until `shutdown`.
async fn rotation_timer(state: server::AppState, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(ROTATION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {
                state.with_broker(|b| ((), b.rotate_due(Now::current().unix_ms).into_iter().collect()));
            }
        }
    }
}

/// How long the daemon waits for an expected control port before it starts answering (its
/// socket is bound already, so clients queue rather than fail): credentials are refused until
/// tor vouches for the SOCKS endpoint, and the first pages of a session should not pay for a
/// link that comes up within milliseconds.
const FIRST_CONTROL_WAIT: Duration = Duration::from_secs(3);

/// Waits (at most `bound`) until the control link is up and its facts are read.
async fn wait_for_control(state: &server::AppState, bound: Duration) {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let up = state
            .with_broker(|b| {
                (
                    b.tor_status().control == tor_state::ControlState::Connected,
                    Vec::new(),
                )
            })
            .unwrap_or(true);
        if up || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How the daemon reaches tor, decided before serving.
#[derive(Debug)]
pub struct TorPlan {
    /// The control port to use, if any.
    pub control: Option<ControlConfig>,
    /// Managed tor to run, if any.
    pub managed: Option<ManagedSpec>,
    /// How much proof the `[socks]` endpoint needs: none for managed tor; the control port's
    /// word when one is configured or was found; otherwise none can be had (doctor warns).
    pub socks_check: SocksCheck,
}

/// How long the `auto` mode waits for the `[socks]` endpoint to accept a connection.
const SOCKS_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Debian's tor control socket, tried first when no control port is configured.
const DEBIAN_CONTROL_SOCKET: &str = "/run/tor/control";

/// tor's usual TCP control port, tried second.
const DEFAULT_CONTROL_TCP: &str = "127.0.0.1:9051";

/// Decides system or managed tor and the control port (`docs/tor.md`).
fn plan_tor(config: &Config, runtime_dir: &std::path::Path) -> Result<TorPlan, DaemonError> {
    let tor = &config.tor;
    let managed = match tor.mode {
        TorMode::Managed => true,
        TorMode::System => false,
        TorMode::Auto => {
            let listening = socks_listening(&config.socks);
            tracing::info!(
                socks = %format!("{}:{}", config.socks.host, config.socks.port),
                listening,
                "tor mode auto: {}",
                if listening { "using the tor listening there" } else { "starting a managed tor" }
            );
            !listening
        }
    };
    let with_events = |addr: ControlAddr| {
        let mut c = ControlConfig::new(addr);
        c.events = tor_link::EVENTS.to_vec();
        c.password = tor.control_password.as_ref().map(|p| p.as_bytes().to_vec());
        c.cookie_file = tor.control_cookie_file.clone();
        c
    };
    if managed {
        let data_dir = match &tor.data_dir {
            Some(d) => d.clone(),
            None => crate::config::default_tor_data_dir().ok_or_else(|| {
                DaemonError::ManagedTor(
                    "no data directory: set [tor] data_dir, $XDG_DATA_HOME or $HOME".to_owned(),
                )
            })?,
        };
        let spec = ManagedSpec {
            tor_binary: tor.tor_binary.clone(),
            runtime_dir: runtime_dir.to_owned(),
            data_dir,
            socks: config.socks.clone(),
            extra: tor.torrc_extra.clone(),
        };
        let control = with_events(ControlAddr::Unix(spec.control_socket()));
        return Ok(TorPlan {
            control: Some(control),
            managed: Some(spec),
            socks_check: SocksCheck::Own,
        });
    }
    // Credentials wait for the control port's word whenever one is expected (configured, or
    // found answering now): a control link takes milliseconds to come up, and serving before it
    // would hand the first pages to whatever holds the SOCKS port. Without one nothing can
    // vouch; the daemon serves and doctor says so (`docs/tor.md`, "The SOCKS endpoint must be tor").
    let (control, socks_check) = match &tor.control {
        ControlSetting::Disabled => (None, SocksCheck::Unvouched),
        ControlSetting::Addr(addr) => (Some(with_events(addr.clone())), SocksCheck::Required),
        ControlSetting::Default => {
            let (addr, answers) = default_control_addr();
            let check = if answers {
                SocksCheck::Required
            } else {
                SocksCheck::Unvouched
            };
            (Some(with_events(addr)), check)
        }
    };
    Ok(TorPlan {
        control,
        managed: None,
        socks_check,
    })
}

/// The system tor's control port when none is configured: Debian's socket if we can connect to
/// it, else `127.0.0.1:9051` if that answers, else whichever exists (the link keeps retrying);
/// and whether the chosen one answered.
fn default_control_addr() -> (ControlAddr, bool) {
    let debian = std::path::Path::new(DEBIAN_CONTROL_SOCKET);
    let tcp = ControlAddr::Tcp(DEFAULT_CONTROL_TCP.to_owned());
    if std::os::unix::net::UnixStream::connect(debian).is_ok() {
        return (ControlAddr::Unix(debian.to_owned()), true);
    }
    let tcp_answers = DEFAULT_CONTROL_TCP.parse().ok().is_some_and(|addr| {
        std::net::TcpStream::connect_timeout(&addr, SOCKS_PROBE_TIMEOUT).is_ok()
    });
    if tcp_answers || !debian.exists() {
        (tcp, tcp_answers)
    } else {
        // It exists but refused us (e.g. not in the debian-tor group): its errors say why.
        (ControlAddr::Unix(debian.to_owned()), false)
    }
}

/// Whether something accepts TCP connections on the SOCKS endpoint.
fn socks_listening(socks: &crate::config::SocksEndpoint) -> bool {
    let host = if socks.host == "localhost" {
        "127.0.0.1"
    } else {
        socks.host.as_str()
    };
    let Ok(ip) = host.parse::<std::net::IpAddr>() else {
        return false;
    };
    std::net::TcpStream::connect_timeout(&(ip, socks.port).into(), SOCKS_PROBE_TIMEOUT).is_ok()
}

/// Serves on `listener` until a stop signal, then waits at most [`SHUTDOWN_GRACE`].
async fn serve(
    listener: std::os::unix::net::UnixListener,
    broker: Broker,
    tor_plan: TorPlan,
    front: Option<(crate::front::FrontAddr, crate::config::SocksEndpoint)>,
) -> io::Result<()> {
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let managed = match tor_plan.managed {
        Some(spec) => Some(ManagedTor::start(spec)?),
        None => None,
    };
    if let Some(m) = &managed {
        tracing::info!(pid = ?m.pid(), "managed tor supervised");
    }
    let control = tor_plan.control.map(|c| Arc::new(TorControl::spawn(c)));
    let state = server::AppState::new(
        broker,
        EventBus::new(BUS_CAPACITY),
        shutdown_tx.clone(),
        control.clone(),
    );
    let rotation = tokio::spawn(rotation_timer(state.clone(), shutdown_rx.clone()));
    let front = match &front {
        Some((addr, socks)) => {
            front_link::start(addr, socks, state.clone(), shutdown_rx.clone()).await
        }
        None => None,
    };
    let link = control.map(|control| {
        tokio::spawn(tor_link::run(
            state.clone(),
            control,
            managed.as_ref().map(ManagedTor::error),
            shutdown_rx.clone(),
        ))
    });
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut stop_rx = shutdown_rx.clone();
    let stop = async move {
        let why = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => "SIGHUP",
            _ = stop_rx.wait_for(|stop| *stop) => "an internal error",
        };
        tracing::info!("stopping on {why}");
        // Ends every event stream, which would otherwise hold the graceful shutdown open.
        shutdown_tx.send_replace(true);
    };
    // Signals are caught from here on (and acted on once serving starts).
    if tor_plan.socks_check == SocksCheck::Required && link.is_some() {
        wait_for_control(&state, FIRST_CONTROL_WAIT).await;
    }
    let server = axum::serve(listener, server::router(state)).with_graceful_shutdown(stop);
    let mut grace_rx = shutdown_rx;
    let grace = async move {
        let _ = grace_rx.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        result = server => result,
        () = grace => {
            tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
            Ok(())
        }
    };
    rotation.abort();
    if let Some(front) = front {
        front.abort();
    }
    if let Some(link) = link {
        link.abort();
    }
    if let Some(managed) = managed {
        managed.stop().await;
    }
    served
}

/// Leaves the spawner's session so the browser's signals to its process group miss us.
fn detach() {
    match rustix::process::setsid() {
        Ok(_) => tracing::debug!("detached into a new session"),
        // EPERM: we already lead a process group (the native host spawns us that way), which
        // already keeps the browser's signals away.
        Err(rustix::io::Errno::PERM) => {
            tracing::debug!("already a process group leader; staying in this session")
        }
        Err(e) => tracing::warn!(error = %e, "could not detach into a new session"),
    }
}

/// A random 128-bit id for this daemon run, in hex; a new one tells the extension its cache is
/// stale.
fn new_instance_id() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
