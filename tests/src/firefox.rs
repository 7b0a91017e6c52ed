//! A headless Firefox ESR session driven through geckodriver, for end-to-end tests.
//!
//! [`Firefox::start`] runs geckodriver (own process group, `HOME` = a fresh temporary
//! directory, `--allow-system-access` so `moz-extension://` pages and the chrome context work),
//! opens a WebDriver session with the test prefs ([`base_prefs`]) and returns a handle. Every wait
//! is bounded; dropping the handle kills geckodriver, Firefox and everything they started (the
//! process group), plus any process whose environment carries this session's
//! `PERSITE_RUNTIME_DIR` (the broker daemon detaches into its own session).
//!
//! Locating the tools: `$PERSITE_FIREFOX`, else `firefox-esr` / `firefox` on `PATH`;
//! `$PERSITE_GECKODRIVER`, else `$HOME/.cache/persite/tools/bin/geckodriver`, else `PATH`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand, WindowHandle};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// How long a WebDriver session may take to start (Firefox start included).
pub const SESSION_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one page load (navigation plus the page's own `done` title) may take.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a single WebDriver command other than navigation may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long geckodriver may take to listen.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(15);

/// The UUID pinned for the Persite extension, so its pages have a known URL.
pub const PERSITE_EXTENSION_UUID: &str = "6d1f6c2e-5e2a-4c5b-9a57-9f1d3c1b7e01";

/// What the session needs besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct FirefoxConfig {
    /// A static SOCKS5 proxy set in prefs (`network.proxy.type=1`, remote DNS). `None` leaves
    /// proxying to an extension (the prefs proxy is then a closed blackhole port, so anything
    /// the extension misses fails instead of going direct).
    pub static_socks: Option<SocketAddr>,
    /// Write a native messaging manifest `persite.json` pointing at this host binary.
    pub native_host: Option<PathBuf>,
    /// Environment for geckodriver (Firefox, the native host and the daemon inherit it).
    pub env: Vec<(String, String)>,
    /// Extra prefs, applied after [`base_prefs`].
    pub prefs: serde_json::Map<String, Value>,
    /// Files to write under the temporary `HOME` before start (relative path, contents), e.g.
    /// `.config/persite/config.toml`.
    pub home_files: Vec<(PathBuf, String)>,
    /// Run Firefox in this existing profile folder (`-profile`) instead of a fresh one, e.g. to
    /// look at a profile `persite browser` prepared. geckodriver adds its prefs to its `user.js`.
    pub profile: Option<PathBuf>,
}

/// The prefs every test session uses: [`plumbing_prefs`] plus switches for Firefox's own
/// background traffic (no DNS, no update or Remote Settings fetches, no favicons), so the
/// request logs hold only what a test caused. Sessions that must run what users run take
/// [`plumbing_prefs`] and the shipped `docs/firefox/user.js` instead
/// ([`Firefox::start_with_base`]).
pub fn base_prefs() -> serde_json::Map<String, Value> {
    let quiet: Vec<(&str, Value)> = vec![
        ("network.proxy.socks_remote_dns", json!(true)),
        ("network.proxy.failover_direct", json!(false)),
        ("network.proxy.allow_bypass", json!(false)),
        ("network.proxy.no_proxies_on", json!("")),
        // No DNS at all: a lookup outside the proxy fails loudly instead of leaking.
        ("network.dns.disabled", json!(true)),
        ("network.dns.native_https_query", json!(false)),
        ("network.trr.mode", json!(5)),
        ("network.dns.disablePrefetch", json!(true)),
        ("network.prefetch-next", json!(false)),
        ("network.predictor.enabled", json!(false)),
        ("network.http.speculative-parallel-limit", json!(0)),
        ("browser.urlbar.speculativeConnect.enabled", json!(false)),
        ("browser.places.speculativeConnect.enabled", json!(false)),
        // Firefox's own background traffic.
        (
            "services.settings.server",
            json!("data:,#remote-settings-dummy/v1"),
        ),
        ("network.captive-portal-service.enabled", json!(false)),
        ("network.connectivity-service.enabled", json!(false)),
        ("app.update.auto", json!(false)),
        ("app.update.enabled", json!(false)),
        ("app.normandy.enabled", json!(false)),
        ("app.shield.optoutstudies.enabled", json!(false)),
        ("browser.safebrowsing.malware.enabled", json!(false)),
        ("browser.safebrowsing.phishing.enabled", json!(false)),
        ("browser.safebrowsing.blockedURIs.enabled", json!(false)),
        ("browser.safebrowsing.downloads.enabled", json!(false)),
        (
            "browser.safebrowsing.downloads.remote.enabled",
            json!(false),
        ),
        ("browser.safebrowsing.provider.google.updateURL", json!("")),
        ("browser.safebrowsing.provider.google4.updateURL", json!("")),
        ("browser.safebrowsing.provider.mozilla.updateURL", json!("")),
        ("browser.region.network.url", json!("")),
        ("browser.region.update.enabled", json!(false)),
        ("browser.search.update", json!(false)),
        ("browser.newtabpage.enabled", json!(false)),
        (
            "browser.newtabpage.activity-stream.feeds.topsites",
            json!(false),
        ),
        (
            "browser.newtabpage.activity-stream.feeds.section.topstories",
            json!(false),
        ),
        ("browser.topsites.contile.enabled", json!(false)),
        // No favicon fetches: they would land in the next page's request window.
        ("browser.chrome.site_icons", json!(false)),
        ("datareporting.healthreport.uploadEnabled", json!(false)),
        ("datareporting.policy.dataSubmissionEnabled", json!(false)),
        ("toolkit.telemetry.enabled", json!(false)),
        ("toolkit.telemetry.unified", json!(false)),
        ("extensions.getAddons.cache.enabled", json!(false)),
        ("extensions.update.enabled", json!(false)),
        ("extensions.systemAddon.update.enabled", json!(false)),
        ("extensions.blocklist.enabled", json!(false)),
        ("media.gmp-manager.url", json!("")),
        ("media.gmp-gmpopenh264.enabled", json!(false)),
        ("geo.enabled", json!(false)),
        (
            "security.remote_settings.crlite_filters.enabled",
            json!(false),
        ),
        (
            "security.remote_settings.intermediates.enabled",
            json!(false),
        ),
        ("security.OCSP.enabled", json!(0)),
    ];
    let mut prefs = plumbing_prefs();
    prefs.extend(
        quiet
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value)),
    );
    prefs
}

/// The prefs a test session needs whatever profile it runs: only test plumbing, each with why
/// it must stay (everything about privacy and background traffic is the profile's business).
pub fn plumbing_prefs() -> serde_json::Map<String, Value> {
    let uuids = json!({ crate::binaries::EXTENSION_ID: PERSITE_EXTENSION_UUID }).to_string();
    let prefs: Vec<(&str, Value)> = vec![
        // Test names (*.test), the SOCKS recorder and the fixture server live on loopback, which
        // Firefox never proxies without this.
        ("network.proxy.allow_hijacking_localhost", json!(true)),
        // No backup ("happy eyeballs") connection when the SOCKS handshake takes over 250 ms on
        // a loaded machine: Firefox would abandon one of the two mid-handshake.
        ("network.http.connection-retry-timeout", json!(0)),
        // The fixtures are plain http (no certificates for *.test): no HTTPS-First or
        // HTTPS-Only upgrade attempts.
        ("dom.security.https_first", json!(false)),
        ("dom.security.https_first_pbm", json!(false)),
        ("dom.security.https_first_schemeless", json!(false)),
        ("dom.security.https_only_mode", json!(false)),
        ("dom.security.https_only_mode_pbm", json!(false)),
        // Start on a blank page, so the first navigation is the test's.
        ("browser.startup.page", json!(0)),
        ("browser.startup.homepage", json!("about:blank")),
        // Containers are product behaviour under test.
        ("privacy.userContext.enabled", json!(true)),
        // The extension's pages get a known moz-extension:// URL.
        ("extensions.webextensions.uuids", json!(uuids)),
        // Console output in the geckodriver log, for failures.
        ("devtools.console.stdout.chrome", json!(true)),
        ("devtools.console.stdout.content", json!(true)),
        // Precise timers for the latency measurements.
        ("privacy.reduceTimerPrecision", json!(false)),
        ("privacy.reduceTimerPrecision.unconditional", json!(false)),
    ];
    prefs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// The Firefox binary: `$PERSITE_FIREFOX`, else `firefox-esr` or `firefox` on `PATH`.
pub fn firefox_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PERSITE_FIREFOX") {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "$PERSITE_FIREFOX={} does not exist",
            path.display()
        );
        return Ok(path);
    }
    ["firefox-esr", "firefox"]
        .into_iter()
        .find_map(find_on_path)
        .context(
            "Firefox not found: install firefox-esr (apt-get install firefox-esr) or set $PERSITE_FIREFOX",
        )
}

/// geckodriver: `$PERSITE_GECKODRIVER`, else `$HOME/.cache/persite/tools/bin/geckodriver`, else
/// `PATH`.
pub fn geckodriver_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PERSITE_GECKODRIVER") {
        let path = PathBuf::from(path);
        anyhow::ensure!(
            path.is_file(),
            "$PERSITE_GECKODRIVER={} does not exist",
            path.display()
        );
        return Ok(path);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let cached = Path::new(&home).join(".cache/persite/tools/bin/geckodriver");
        if cached.is_file() {
            return Ok(cached);
        }
    }
    find_on_path("geckodriver").context(
        "geckodriver not found: run `cargo install geckodriver --version 0.37.1 --locked --root \
         $HOME/.cache/persite/tools` or set $PERSITE_GECKODRIVER",
    )
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A closed loopback port: proxying to it fails immediately.
fn closed_port() -> anyhow::Result<u16> {
    free_port()
}

/// `POST /session/{id}/moz/addon/install`.
#[derive(Debug)]
struct InstallAddon {
    path: PathBuf,
    allow_private: bool,
}

impl WebDriverCompatibleCommand for InstallAddon {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/moz/addon/install",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "path": self.path,
            "temporary": true,
            "allowPrivateBrowsing": self.allow_private,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// `POST /session/{id}/moz/context` (`chrome` or `content`).
#[derive(Debug)]
struct SetContext(&'static str);

impl WebDriverCompatibleCommand for SetContext {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/moz/context",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "context": self.0 }).to_string()),
        )
    }
}

/// A running geckodriver + headless Firefox with one WebDriver session.
pub struct Firefox {
    client: Client,
    geckodriver: Child,
    log_path: PathBuf,
    runtime_dir: Option<String>,
    // Dropped last: the profile, HOME and logs live here.
    home: tempfile::TempDir,
}

impl std::fmt::Debug for Firefox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firefox")
            .field("geckodriver_pid", &self.geckodriver.id())
            .field("home", &self.home.path())
            .finish_non_exhaustive()
    }
}

async fn bounded<T, E: std::error::Error + Send + Sync + 'static>(
    what: &str,
    timeout: Duration,
    future: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => result.with_context(|| what.to_owned()),
        Err(_) => anyhow::bail!("{what}: no answer within {timeout:?}"),
    }
}

impl Firefox {
    /// Start geckodriver and a headless Firefox session (bounded by [`SESSION_START_TIMEOUT`]).
    pub async fn start(config: FirefoxConfig) -> anyhow::Result<Self> {
        Self::start_with_base(config, base_prefs()).await
    }

    /// [`Firefox::start`] with `base` instead of [`base_prefs`] under `config.prefs` (e.g.
    /// [`plumbing_prefs`], for a session that runs the shipped profile).
    pub async fn start_with_base(
        config: FirefoxConfig,
        base: serde_json::Map<String, Value>,
    ) -> anyhow::Result<Self> {
        let firefox = firefox_binary()?;
        let geckodriver = geckodriver_binary()?;
        let home = tempfile::Builder::new()
            .prefix("persite-e2e-home-")
            .tempdir()
            .context("creating the temporary HOME")?;
        if let Some(host) = &config.native_host {
            write_native_manifest(home.path(), host)?;
        }
        for (relative, contents) in &config.home_files {
            let path = home.path().join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, contents)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let profiles = home.path().join("profiles");
        std::fs::create_dir_all(&profiles)?;
        let log_path = home.path().join("geckodriver.log");
        let log = std::fs::File::create(&log_path)?;
        let port = free_port()?;
        let mut command = Command::new(&geckodriver);
        command
            .args(["--port", &port.to_string(), "--allow-system-access"])
            .args(["--websocket-port", "0"])
            .arg("--profile-root")
            .arg(&profiles)
            .env("HOME", home.path())
            .env("MOZ_REMOTE_SETTINGS_DEVTOOLS", "1")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", geckodriver.display()))?;
        let runtime_dir = config
            .env
            .iter()
            .find(|(k, _)| k == "PERSITE_RUNTIME_DIR")
            .map(|(_, v)| v.clone());
        register_session(child.id(), runtime_dir.clone());
        // From here on a failure must still kill geckodriver: build a guard first.
        let mut guard = DriverGuard {
            child: Some(child),
            runtime_dir: runtime_dir.clone(),
        };
        wait_for_port(port, DRIVER_START_TIMEOUT).await?;

        let mut prefs = base;
        let proxy_port = match config.static_socks {
            Some(addr) => addr.port(),
            None => closed_port()?,
        };
        prefs.insert("network.proxy.type".into(), json!(1));
        prefs.insert("network.proxy.socks".into(), json!("127.0.0.1"));
        prefs.insert("network.proxy.socks_port".into(), json!(proxy_port));
        prefs.insert("network.proxy.socks_version".into(), json!(5));
        prefs.extend(config.prefs.clone());
        let mut args = vec![json!("-headless")];
        if let Some(profile) = &config.profile {
            args.extend([json!("-profile"), json!(profile)]);
        }
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("firefox"));
        caps.insert("acceptInsecureCerts".into(), json!(false));
        caps.insert(
            "moz:firefoxOptions".into(),
            json!({
                "binary": firefox,
                "args": args,
                "prefs": prefs,
                "log": {"level": "info"},
            }),
        );
        caps.insert(
            "timeouts".into(),
            json!({"pageLoad": PAGE_TIMEOUT.as_millis() as u64, "script": 20_000, "implicit": 0}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = bounded(
            "starting the WebDriver session",
            SESSION_START_TIMEOUT,
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .with_context(|| format!("geckodriver log: {}", log_tail(&log_path, 30)))?;
        Ok(Self {
            client,
            geckodriver: guard
                .child
                .take()
                .context("geckodriver guard lost its child")?,
            log_path,
            runtime_dir,
            home,
        })
    }

    /// The WebDriver client, for anything not wrapped here.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The temporary `HOME` of this session.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The last `lines` lines of geckodriver's log (Firefox's console output included).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }

    /// Install an unpacked extension directory as a temporary add-on; returns its id.
    pub async fn install_addon(&self, dir: &Path, allow_private: bool) -> anyhow::Result<String> {
        let reply = bounded(
            "installing the add-on",
            COMMAND_TIMEOUT,
            self.client.issue_cmd(InstallAddon {
                path: dir.to_path_buf(),
                allow_private,
            }),
        )
        .await?;
        reply
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("add-on install answered {reply}"))
    }

    /// Navigate the current tab to `url` (bounded by [`PAGE_TIMEOUT`]).
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        bounded(
            &format!("loading {url}"),
            PAGE_TIMEOUT + Duration::from_secs(5),
            self.client.goto(url),
        )
        .await
    }

    /// The current tab's title.
    pub async fn title(&self) -> anyhow::Result<String> {
        bounded("reading the title", COMMAND_TIMEOUT, self.client.title()).await
    }

    /// Poll the title until `accept` says yes (bounded by `timeout`); returns it.
    pub async fn wait_for_title(
        &self,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let title = self.title().await?;
            if accept(&title) {
                return Ok(title);
            }
            anyhow::ensure!(
                started.elapsed() < timeout,
                "title still {title:?} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Load a fixture page and wait until it reports `done`; an error names what failed.
    pub async fn load_fixture_page(&self, url: &str) -> anyhow::Result<()> {
        self.goto(url).await?;
        let title = match self
            .wait_for_title(PAGE_TIMEOUT, |t| t == "done" || t.starts_with("failed"))
            .await
        {
            Ok(title) => title,
            Err(error) => {
                let at = self.client.current_url().await.map(String::from);
                return Err(error.context(format!("waiting for {url} to finish (tab at {at:?})")));
            }
        };
        anyhow::ensure!(title == "done", "{url}: {title}");
        Ok(())
    }

    /// Run `script` in the browser's chrome (parent-process) context, then switch back.
    pub async fn chrome_execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        bounded(
            "switching to the chrome context",
            COMMAND_TIMEOUT,
            self.client.issue_cmd(SetContext("chrome")),
        )
        .await?;
        let result = bounded(
            "running a chrome-context script",
            COMMAND_TIMEOUT,
            self.client.execute(script, args),
        )
        .await;
        bounded(
            "switching back to the content context",
            COMMAND_TIMEOUT,
            self.client.issue_cmd(SetContext("content")),
        )
        .await?;
        result
    }

    /// Wait for a window handle that is not in `before` and switch to it.
    async fn switch_to_new_handle(&self, before: &[WindowHandle]) -> anyhow::Result<WindowHandle> {
        let started = Instant::now();
        loop {
            let now = bounded("listing windows", COMMAND_TIMEOUT, self.client.windows()).await?;
            if let Some(handle) = now.into_iter().find(|h| !before.contains(h)) {
                bounded(
                    "switching window",
                    COMMAND_TIMEOUT,
                    self.client.switch_to_window(handle.clone()),
                )
                .await?;
                return Ok(handle);
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(15),
                "no new tab or window appeared within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Open a new tab in container `user_context_id` (1 = "Personal") and switch to it.
    pub async fn open_container_tab(&self, user_context_id: u32) -> anyhow::Result<WindowHandle> {
        let before = bounded("listing windows", COMMAND_TIMEOUT, self.client.windows()).await?;
        self.chrome_execute(
            r#"const win = Services.wm.getMostRecentWindow("navigator:browser");
               const tab = win.gBrowser.addTab("about:blank", {
                 userContextId: arguments[0],
                 triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal(),
               });
               win.gBrowser.selectedTab = tab;
               return tab.userContextId;"#,
            vec![json!(user_context_id)],
        )
        .await?;
        let handle = self.switch_to_new_handle(&before).await?;
        self.wait_until_settled().await?;
        Ok(handle)
    }

    /// Open a private window and switch to its tab.
    pub async fn open_private_window(&self) -> anyhow::Result<WindowHandle> {
        let before = bounded("listing windows", COMMAND_TIMEOUT, self.client.windows()).await?;
        self.chrome_execute(
            r#"const win = Services.wm.getMostRecentWindow("navigator:browser");
               win.OpenBrowserWindow({ private: true });
               return true;"#,
            vec![],
        )
        .await?;
        let handle = self.switch_to_new_handle(&before).await?;
        // The new window's handle shows up while its start page is still loading; a navigation
        // issued then can be overtaken by that load. Wait for the tab to settle first.
        self.wait_until_settled().await?;
        Ok(handle)
    }

    /// Wait until the current tab's document is complete and its URL stayed the same for 1 s
    /// (bounded: 15 s).
    pub async fn wait_until_settled(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut last: Option<(Value, Instant)> = None;
        loop {
            let state = bounded(
                "reading the document state",
                COMMAND_TIMEOUT,
                self.client
                    .execute("return [location.href, document.readyState];", vec![]),
            )
            .await
            .ok();
            let now = Instant::now();
            match (&state, &last) {
                (Some(current), Some((previous, since)))
                    if current == previous && current[1] == "complete" =>
                {
                    if now.duration_since(*since) >= Duration::from_secs(1) {
                        return Ok(());
                    }
                }
                (Some(current), _) => last = Some((current.clone(), now)),
                (None, _) => last = None,
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(15),
                "the new tab did not settle within 15 s (last state {state:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Open a new ordinary tab and switch to it.
    pub async fn open_tab(&self) -> anyhow::Result<WindowHandle> {
        let before = bounded("listing windows", COMMAND_TIMEOUT, self.client.windows()).await?;
        bounded(
            "opening a tab",
            COMMAND_TIMEOUT,
            self.client.new_window(true),
        )
        .await?;
        self.switch_to_new_handle(&before).await
    }

    /// The WebExtension tab id of the tab currently selected in the front browser window.
    pub async fn selected_extension_tab_id(&self) -> anyhow::Result<u64> {
        let id = self
            .chrome_execute(
                r#"const { ExtensionParent } = ChromeUtils.importESModule(
                     "resource://gre/modules/ExtensionParent.sys.mjs");
                   const win = Services.wm.getMostRecentWindow("navigator:browser");
                   return ExtensionParent.apiManager.global.tabTracker.getId(win.gBrowser.selectedTab);"#,
                vec![],
            )
            .await?;
        id.as_u64()
            .with_context(|| format!("tab id lookup answered {id}"))
    }

    /// End the session politely, then kill whatever is left.
    pub async fn shutdown(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        drop(self);
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        kill_group(&mut self.geckodriver);
        if let Some(dir) = &self.runtime_dir {
            kill_processes_with_env("PERSITE_RUNTIME_DIR", dir);
        }
    }
}

/// Sessions alive in this process: geckodriver's pid (= its process group) and runtime dir.
static LIVE_SESSIONS: std::sync::Mutex<Vec<(u32, Option<String>)>> =
    std::sync::Mutex::new(Vec::new());

fn live_sessions() -> std::sync::MutexGuard<'static, Vec<(u32, Option<String>)>> {
    LIVE_SESSIONS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn register_session(pid: u32, runtime_dir: Option<String>) {
    live_sessions().push((pid, runtime_dir));
}

fn unregister_session(pid: u32) {
    live_sessions().retain(|(live, _)| *live != pid);
}

/// Kill every session this process started that is still alive (for a watchdog that must exit
/// without running destructors).
pub fn kill_all_sessions() {
    let sessions = std::mem::take(&mut *live_sessions());
    for (pid, runtime_dir) in sessions {
        if let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        if let Some(dir) = runtime_dir {
            kill_processes_with_env("PERSITE_RUNTIME_DIR", &dir);
        }
    }
}

/// Kills geckodriver (and its group) if [`Firefox::start`] fails half-way.
struct DriverGuard {
    child: Option<Child>,
    runtime_dir: Option<String>,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            kill_group(child);
            if let Some(dir) = &self.runtime_dir {
                kill_processes_with_env("PERSITE_RUNTIME_DIR", dir);
            }
        }
    }
}

/// SIGKILL the child's process group (geckodriver, Firefox, its content processes, native
/// hosts) and reap the child.
fn kill_group(child: &mut Child) {
    unregister_session(child.id());
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGKILL every process of ours whose environment holds `key=value` exactly (used for the
/// detached broker daemon, whose unique per-run runtime directory identifies it).
pub fn kill_processes_with_env(key: &str, value: &str) {
    for pid in crate::procs::pids_with_env(key, value, None) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

fn write_native_manifest(home: &Path, host: &Path) -> anyhow::Result<()> {
    let dir = home.join(".mozilla/native-messaging-hosts");
    std::fs::create_dir_all(&dir)?;
    let manifest = json!({
        "name": "persite",
        "description": "Persite native host (end-to-end test)",
        "path": host,
        "type": "stdio",
        "allowed_extensions": [crate::binaries::EXTENSION_ID],
    });
    std::fs::write(
        dir.join("persite.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )
    .context("writing the native messaging manifest")
}

async fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        anyhow::ensure!(
            started.elapsed() < timeout,
            "geckodriver did not listen on port {port} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
