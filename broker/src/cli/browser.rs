//! `persite browser`: from an installed Persite to a protected browser window in one command.
//!
//! Finds a Firefox-family browser that runs unsigned add-ons, makes sure tor is there (a system
//! tor `persite doctor` accepts, else Persite's own tor only when asked for), starts the daemon,
//! registers the native host, prepares Persite's own profile (hardening `user.js` for the SOCKS
//! endpoint the daemon uses, the add-on enabled and allowed in private windows) and runs the
//! browser in it. The rules live in `persite::browser`; this file only observes, asks and
//! prints.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use persite_native_messaging::install::{self, Options, Selection};
use persite_native_messaging::manifest::{EXTENSION_ID, Scope};
use persite_native_messaging::runtime::broker_socket_path;
use persite_native_messaging::spawn;
use serde_json::Value;

use persite::browser::discover::{self, Found};
use persite::browser::profile;
use persite::browser::tor_choice::{self, Situation, TorChoice};
use persite::config::{Config, SocksEndpoint};
use persite::daemon::client;
use persite::doctor::{self, DaemonAnswer};
use persite::paths::{self, Base};

use super::doctor::DoctorArgs;

/// Arguments of `persite browser`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "\
Looks for firefox-esr, librewolf, firefox-developer-edition, firefox-nightly, then firefox on \
PATH (or takes --browser). Release and Beta Firefox refuse add-ons not signed by Mozilla, so \
they are refused here with what to install instead.

Tor: a daemon already running is used as it is. Otherwise the [socks] endpoint of \
~/.config/persite/config.toml must be a tor that `persite doctor` accepts; when nothing \
listens there, Persite can start its own tor, which connects to the public Tor network: only \
with --managed-tor, a yes at the prompt, or `[tor] mode = \"managed\"`.

The profile is $XDG_DATA_HOME/persite/browser-profile (else ~/.local/share/persite/…); its \
user.js is rewritten at every start, for the SOCKS endpoint the daemon uses. The add-on comes \
from $XDG_DATA_HOME/persite/persite.xpi, which ./scripts/install.sh packs, or --xpi.

Examples:
  persite browser
  persite browser --url https://example.org
  persite browser --browser ~/firefox-nightly/firefox --managed-tor
  persite browser --headless --url http://a.example/ --url http://b.example/")]
pub(crate) struct BrowserArgs {
    /// The browser program (default: the first Firefox-family browser on PATH).
    #[arg(long, value_name = "PATH")]
    pub browser: Option<PathBuf>,
    /// The packed add-on to install (default: persite.xpi in Persite's data directory).
    #[arg(long, value_name = "PATH")]
    pub xpi: Option<PathBuf>,
    /// Let Persite start its own tor (public Tor network) when no tor listens on [socks].
    #[arg(long)]
    pub managed_tor: bool,
    /// Run the browser without a window (scripts and tests).
    #[arg(long)]
    pub headless: bool,
    /// Open this address; repeatable (one tab each).
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Longest wait for tor to bootstrap, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub bootstrap_timeout: u64,
}

/// What starts every line this command prints.
const WHO: &str = "persite browser";

/// Runs `persite browser`; on success it becomes the browser and does not return.
pub(crate) fn run(args: &BrowserArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(prepare(args)) {
        Ok(launch) => {
            drop(runtime);
            launch.exec()
        }
        Err(message) => fail(message),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("{WHO}: {message}");
    ExitCode::FAILURE
}

/// Everything up to the browser's start; the error is the message for people.
async fn prepare(args: &BrowserArgs) -> Result<Launch, String> {
    let config = Config::load(None).map_err(|e| {
        format!(
            "{e}\nFix that line (`persite doctor` checks the file), then run `persite browser` \
             again. Nothing was started."
        )
    })?;
    let data_dir = paths::persite_dir(Base::Data).ok_or(
        "neither $XDG_DATA_HOME nor $HOME is an absolute path, so there is no place for \
         Persite's profile; set HOME",
    )?;
    let browser = find_browser(args.browser.as_deref())?;
    let xpi = args
        .xpi
        .clone()
        .unwrap_or_else(|| data_dir.join(profile::XPI_NAME));
    if !xpi.is_file() {
        return Err(format!(
            "the packed add-on {} is missing; run ./scripts/install.sh from Persite's source \
             folder (it packs it there), or pass --xpi PATH",
            xpi.display()
        ));
    }

    let choice = choose_tor(&config, args.managed_tor).await?;
    let socket = broker_socket_path().map_err(|e| e.to_string())?;
    if choice != TorChoice::UseRunningDaemon {
        let persite = std::env::current_exe()
            .map_err(|e| format!("cannot find this program's own path: {e}"))?;
        spawn::start_daemon(&persite, &socket, spawn::START_TIMEOUT)
            .await
            .map_err(|e| format!("{e}; run `persite serve` to see why"))?;
    }
    let status = daemon_status(&socket).await?;
    if matches!(
        status["tor"]["control"].as_str(),
        Some("connected" | "connecting")
    ) {
        let timeout = Duration::from_secs(args.bootstrap_timeout);
        if super::status::wait_bootstrap(&socket, timeout, WHO).await != ExitCode::SUCCESS {
            return Err(
                "tor is not ready; `persite status` and `persite doctor` say more".to_owned(),
            );
        }
    }
    let socks = socks_of(&status)?;
    let managed = status["tor"]["managed"].as_bool().unwrap_or(false);

    let options = Options::for_this_machine(Selection::All, Scope::User)
        .map_err(|e| format!("cannot register the native host: {e}"))?;
    install::install(&options).map_err(|e| {
        format!("cannot register the native host: {e}; `persite install` tries again alone")
    })?;

    let dir = profile::profile_dir(&data_dir);
    let prepared = profile::prepare(&dir, &xpi, &socks, EXTENSION_ID)?;
    let tor = if managed {
        "Persite's own tor"
    } else {
        "your tor"
    };
    let name = browser.flavour.map_or("the browser", |f| f.label());
    println!(
        "Persite: {name} (profile {}) sends each site over a Tor circuit of its own through \
         {tor} at {}.",
        dir.display(),
        endpoint_text(&socks)
    );
    let _ = std::io::stdout().flush();
    let launch = Launch {
        program: browser.program,
        profile: dir,
        headless: args.headless,
        urls: args.urls.clone(),
    };
    if prepared.created || prepared.addon_replaced {
        println!(
            "First start with this add-on: starting the browser once in the background, so the \
             add-on is running before any page loads."
        );
        let _ = std::io::stdout().flush();
        let host = std::env::current_exe()
            .map_err(|e| format!("cannot find this program's own path: {e}"))?
            .with_file_name(persite_native_messaging::manifest::HOST_BINARY);
        launch.warm_up(&host, WARM_UP_BOUND)?;
    }
    Ok(launch)
}

/// Bound on the first, background start of a new profile (or a new add-on).
const WARM_UP_BOUND: Duration = Duration::from_secs(60);

/// The browser to run: `explicit`, else the first candidate on `PATH`; refused when it cannot
/// run an unsigned add-on.
fn find_browser(explicit: Option<&Path>) -> Result<Found, String> {
    let program = match explicit {
        Some(p) if p.is_file() => p.to_owned(),
        Some(p) => return Err(format!("--browser {}: no such file", p.display())),
        None => std::env::var_os("PATH")
            .and_then(|path| discover::find_on_path(&path))
            .ok_or(
                "no Firefox-family browser found on PATH (looked for firefox-esr, librewolf, \
                 firefox-developer-edition, firefox-nightly, firefox); install Firefox ESR \
                 (Debian/Ubuntu: `sudo apt install firefox-esr`) or name one with --browser PATH",
            )?,
    };
    let found = discover::inspect(&program);
    match found.flavour {
        Some(flavour) if !flavour.runs_unsigned_addons() => Err(format!(
            "{} is {}{}, which runs only add-ons signed by Mozilla, and Persite's add-on is \
             not signed (Persite publishes no signed build yet). Install Firefox ESR \
             (Debian/Ubuntu: `sudo apt install firefox-esr`), Firefox Developer Edition, \
             Firefox Nightly or LibreWolf, then run `persite browser` again (with --browser \
             PATH if it is not on PATH). Nothing was started.",
            program.display(),
            flavour.label(),
            found
                .version
                .as_deref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        )),
        Some(_) => Ok(found),
        None => {
            eprintln!(
                "{WHO}: cannot tell whether {} accepts unsigned add-ons (no update channel next \
                 to it); trying. If the Persite button does not appear, use Firefox ESR, \
                 Developer Edition, Nightly or LibreWolf.",
                program.display()
            );
            Ok(found)
        }
    }
}

/// Looks at the daemon, the SOCKS endpoint and tor as `persite doctor` does, and decides (asks
/// on a terminal when only Persite's own tor is possible).
async fn choose_tor(config: &Config, managed_tor: bool) -> Result<TorChoice, String> {
    let observations = super::doctor::observe(&DoctorArgs {
        json: false,
        profile: None,
        policies: PathBuf::new(),
        config: None,
        tor_browser_dir: Vec::new(),
    })
    .await;
    let report = doctor::diagnose(&observations);
    let mut situation = Situation {
        daemon_running: matches!(observations.daemon.answer, DaemonAnswer::Status(_)),
        mode: config.tor.mode,
        socks: &observations.socks,
        findings: &report.findings,
        consent: managed_tor,
    };
    let mut choice = tor_choice::decide(&situation);
    let endpoint = endpoint_text(&config.socks);
    if choice == TorChoice::NeedConsent && ask_for_managed_tor(&endpoint) {
        situation.consent = true;
        choice = tor_choice::decide(&situation);
    }
    match choice {
        TorChoice::NeedConsent => Err(format!(
            "no tor answers on {endpoint}, the SOCKS endpoint in your configuration, and no \
             Persite daemon runs. Either\n  - start your system's tor (Debian/Ubuntu: `sudo apt \
             install tor`) or set [socks] in ~/.config/persite/config.toml to where your tor \
             listens, or\n  - let Persite start its own tor, which connects to the public Tor \
             network: `persite browser --managed-tor`.\nNothing was started."
        )),
        TorChoice::Refused(errors) => {
            let mut text = format!("the tor at {endpoint} cannot be used:");
            for f in &errors {
                text.push_str(&format!("\n  ✗ {}", f.message));
                if let Some(hint) = &f.hint {
                    text.push_str(&format!("\n    → {hint}"));
                }
            }
            text.push_str(
                "\nFix that (`persite doctor` shows the whole setup), then run `persite browser` \
                 again. Nothing was started.",
            );
            Err(text)
        }
        other => Ok(other),
    }
}

/// On a terminal: asks whether Persite may start its own tor. Off a terminal: no.
fn ask_for_managed_tor(endpoint: &str) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    eprint!(
        "No tor answers on {endpoint}. Start Persite's own tor? It connects to the public Tor \
         network. [y/N] "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
}

/// `GET /v1/status` of the daemon on `socket`.
async fn daemon_status(socket: &Path) -> Result<Value, String> {
    match client::request(socket, "GET", "/v1/status", Vec::new()).await {
        Ok((200, status)) => Ok(status),
        Ok((code, answer)) => Err(format!("the daemon answered HTTP {code}: {answer}")),
        Err(e) => Err(format!("{e}; `persite status` says more")),
    }
}

/// The SOCKS endpoint the daemon hands the extension (its `status.socks`).
fn socks_of(status: &Value) -> Result<SocksEndpoint, String> {
    let host = status["socks"]["host"].as_str().unwrap_or_default();
    let port = status["socks"]["port"].as_u64().unwrap_or_default();
    SocksEndpoint::parse(&endpoint_text(&SocksEndpoint {
        host: host.to_owned(),
        port: u16::try_from(port).unwrap_or(0),
    }))
    .map_err(|e| format!("the daemon reports an unusable SOCKS endpoint: {e}"))
}

fn endpoint_text(socks: &SocksEndpoint) -> String {
    if socks.host.contains(':') {
        format!("[{}]:{}", socks.host, socks.port)
    } else {
        format!("{}:{}", socks.host, socks.port)
    }
}

/// Whether a process whose parent is `parent` runs the program `exe` (read from `/proc`).
fn has_child_running(parent: u32, exe: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        // `/proc/<pid>/stat`: `pid (comm) state ppid …`; comm may hold spaces, so split after `)`.
        let ppid = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|stat| {
                let (_, rest) = stat.rsplit_once(')')?;
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        ppid == Some(parent) && std::fs::read_link(path.join("exe")).is_ok_and(|e| e == exe)
    })
}

/// SIGTERM (the browser quits and saves its state), SIGKILL after 20 s; reaps the child.
fn stop_gently(child: &mut std::process::Child) {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The browser to start, with Persite's profile.
struct Launch {
    program: PathBuf,
    profile: PathBuf,
    headless: bool,
    urls: Vec<String>,
}

impl Launch {
    /// Starts the browser headless without pages, waits (at most `bound`) until the add-on
    /// runs (the browser has started `host`, which the add-on does first), then ends it cleanly.
    ///
    /// Why: on the very first start of a profile (or of a new add-on) the add-on is installed
    /// while the browser starts, and the pages given on the command line load before it
    /// answers `proxy.onRequest`: they went through the default proxy (tor, but one shared
    /// circuit), as the launcher's end-to-end trial showed. From the second start on, Firefox
    /// knows the add-on's listeners and holds requests until it runs.
    fn warm_up(&self, host: &Path, bound: Duration) -> Result<(), String> {
        let host = std::fs::canonicalize(host).unwrap_or_else(|_| host.to_owned());
        let mut child = std::process::Command::new(&self.program)
            .arg("--profile")
            .arg(&self.profile)
            .arg("--headless")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        let started = std::time::Instant::now();
        let ready = loop {
            if has_child_running(child.id(), &host) {
                break true;
            }
            if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) || started.elapsed() > bound {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if ready {
            // Let the browser record the add-on's listeners before it is asked to quit.
            std::thread::sleep(Duration::from_secs(2));
        }
        stop_gently(&mut child);
        if ready {
            Ok(())
        } else {
            Err(format!(
                "the Persite add-on did not start in {} within {} s; open the profile with \
                 `{} --profile {}` and look at about:addons",
                self.program.display(),
                bound.as_secs(),
                self.program.display(),
                self.profile.display()
            ))
        }
    }

    /// Replaces this process with the browser; returns only when that fails.
    fn exec(self) -> ExitCode {
        let mut command = std::process::Command::new(&self.program);
        command.arg("--profile").arg(&self.profile);
        if self.headless {
            command.arg("--headless");
        }
        command.args(&self.urls);
        let error = command.exec();
        fail(format!(
            "cannot start {}: {error}; check that it runs on its own, or name another with \
             --browser PATH",
            self.program.display()
        ))
    }
}
