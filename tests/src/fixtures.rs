//! The fixture HTTP server behind the recording SOCKS server: one listener, pages picked by the
//! `Host` header, every request logged with the client's source port (the join key with
//! [`crate::socks_recorder::SocksConnection::upstream_port`]).
//!
//! Every host answers the same routes, so any fake name (`site-a.test`, `alpha.co.uk`,
//! `s17.test`) is a site:
//!
//! | path | what |
//! |---|---|
//! | `/` | the standard page ([`PageSpec::standard`]): an iframe from `other.test` (with an image from `cdn.test`), images from `cdn.test` and `img.test`, a script, a `fetch` and a WebSocket to `cdn.test` |
//! | `/page?…` | a generated page, see [`PageSpec::query`] |
//! | `/frame?img=h1,h2` | an iframe document with images from those hosts; tells its parent when loaded |
//! | `/img.gif`, `/script.js`, `/data.json`, `/ws` | the resources (WebSocket `/ws` echoes) |
//! | `/sw.js` | an empty service worker (New identity's test registers it) |
//! | `/set-cookie?value=V` | sets the cookie `persite=V` (title `cookie-set`) |
//! | `/cookies` | title `cookies:<Cookie header as received>` |
//! | `/c/…` | the attribution corpus ([`crate::corpus`]) |
//!
//! A page sets `document.title` to `done` once every resource answered, or to
//! `failed: <what>` when one failed or 15 s passed, so tests wait on the title.
//! Every response carries `Cache-Control: no-store`: a cache hit would make no connection and
//! hide a request from the SOCKS log.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::task::JoinHandle;

/// A 1×1 transparent GIF.
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// One HTTP request as the fixture server saw it.
#[derive(Debug, Clone)]
pub struct HttpRecord {
    /// When the request arrived.
    pub at: SystemTime,
    /// Source port of the TCP connection (the SOCKS recorder's upstream port).
    pub client_port: u16,
    /// `Host` header without a port.
    pub host: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `Upgrade` header (`websocket` for a WebSocket handshake), if sent.
    pub upgrade: Option<String>,
    /// `Cookie` header, if sent.
    pub cookie: Option<String>,
}

impl HttpRecord {
    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }
}

/// What a generated page loads. Hosts are plain names (`cdn.test`); each is loaded `repeat`
/// times with distinct URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSpec {
    /// Hosts of iframes (each an `/frame` document).
    pub frames: Vec<String>,
    /// Hosts of the images inside every iframe.
    pub frame_images: Vec<String>,
    /// Hosts of images.
    pub images: Vec<String>,
    /// Hosts of scripts.
    pub scripts: Vec<String>,
    /// Hosts of `fetch` calls.
    pub fetches: Vec<String>,
    /// Hosts of WebSockets (`ws://host/ws`, echo checked).
    pub websockets: Vec<String>,
    /// How many times each image/script/fetch host is used (at least 1).
    pub repeat: usize,
}

fn hosts(list: &[&str]) -> Vec<String> {
    list.iter().map(|h| (*h).to_owned()).collect()
}

impl PageSpec {
    /// The standard page every host serves at `/`.
    pub fn standard() -> Self {
        Self {
            frames: hosts(&["other.test"]),
            frame_images: hosts(&["cdn.test"]),
            images: hosts(&["cdn.test", "img.test"]),
            scripts: hosts(&["cdn.test"]),
            fetches: hosts(&["cdn.test"]),
            websockets: hosts(&["cdn.test"]),
            repeat: 1,
        }
    }

    /// A page of `hosts × per_host` images from third parties `tp1.test` … `tpN.test` (e.g.
    /// 10 × 5 = 50 resources, the performance page).
    pub fn third_party_images(hosts: usize, per_host: usize) -> Self {
        Self {
            images: (1..=hosts).map(|i| format!("tp{i}.test")).collect(),
            repeat: per_host,
            ..Self::default()
        }
    }

    /// The query string of `/page` that renders this spec.
    pub fn query(&self) -> String {
        let mut out = String::new();
        for (key, list) in [
            ("frame", &self.frames),
            ("frame_img", &self.frame_images),
            ("img", &self.images),
            ("script", &self.scripts),
            ("fetch", &self.fetches),
            ("ws", &self.websockets),
        ] {
            if !list.is_empty() {
                let _ = write!(out, "{key}={}&", list.join(","));
            }
        }
        let _ = write!(out, "repeat={}", self.repeat.max(1));
        out
    }

    /// `http://<host>/page?<query>`.
    pub fn url(&self, host: &str) -> String {
        format!("http://{host}/page?{}", self.query())
    }

    fn from_query(query: &HashMap<String, String>) -> Self {
        let list = |key: &str| -> Vec<String> {
            query
                .get(key)
                .map(|v| {
                    v.split(',')
                        .filter(|h| !h.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            frames: list("frame"),
            frame_images: list("frame_img"),
            images: list("img"),
            scripts: list("script"),
            fetches: list("fetch"),
            websockets: list("ws"),
            repeat: query
                .get("repeat")
                .and_then(|r| r.parse().ok())
                .unwrap_or(1)
                .clamp(1, 100),
        }
    }

    /// The `(host, path)` pairs a full load of this page on `host` must request.
    pub fn expected_requests(&self, host: &str, path: &str) -> Vec<(String, String)> {
        let mut out = vec![(host.to_owned(), path.to_owned())];
        for frame in &self.frames {
            out.push((frame.clone(), "/frame".to_owned()));
            for image in &self.frame_images {
                out.push((image.clone(), "/img.gif".to_owned()));
            }
        }
        let repeat = self.repeat.max(1);
        for (list, resource) in [
            (&self.images, "/img.gif"),
            (&self.scripts, "/script.js"),
            (&self.fetches, "/data.json"),
        ] {
            for h in list {
                for _ in 0..repeat {
                    out.push((h.clone(), resource.to_owned()));
                }
            }
        }
        for h in &self.websockets {
            out.push((h.clone(), "/ws".to_owned()));
        }
        out
    }

    fn render(&self, title_host: &str) -> String {
        let repeat = self.repeat.max(1);
        let mut js = String::new();
        for h in &self.frames {
            let _ = writeln!(
                js,
                "frame({:?});",
                format!("http://{h}/frame?img={}", self.frame_images.join(","))
            );
        }
        for (list, kind, path) in [
            (&self.images, "img", "/img.gif"),
            (&self.scripts, "script", "/script.js"),
            (&self.fetches, "fetchResource", "/data.json"),
        ] {
            for h in list {
                for i in 0..repeat {
                    let _ = writeln!(js, "{kind}({:?});", format!("http://{h}{path}?i={i}"));
                }
            }
        }
        for h in &self.websockets {
            let _ = writeln!(js, "ws({:?});", format!("ws://{h}/ws"));
        }
        format!(
            r#"<!doctype html>
<html><head><meta charset="utf-8"><title>loading</title></head>
<body><h1>{title_host}</h1>
<script>
(function () {{
  const failures = [];
  const waiting = new Set();
  let settled = false;
  function report() {{
    if (settled || waiting.size > 0) return;
    settled = true;
    document.title = failures.length ? "failed: " + failures.join(", ") : "done";
  }}
  function track(label) {{
    waiting.add(label);
    let finished = false;
    return function (ok) {{
      if (finished) return;
      finished = true;
      waiting.delete(label);
      if (!ok) failures.push(label);
      report();
    }};
  }}
  setTimeout(function () {{
    if (settled) return;
    settled = true;
    document.title = "failed: timeout waiting for " + Array.from(waiting).join(", ");
  }}, 15000);
  const frames = new Map();
  window.addEventListener("message", function (e) {{
    const done = frames.get(e.data && e.data.frameLoaded);
    if (done) done(true);
  }});
  function frame(url) {{
    const done = track("frame " + url);
    frames.set(url, done);
    const f = document.createElement("iframe");
    f.src = url;
    document.body.appendChild(f);
  }}
  function img(url) {{
    const done = track("img " + url);
    const i = new Image();
    i.onload = function () {{ done(true); }};
    i.onerror = function () {{ done(false); }};
    i.src = url;
    document.body.appendChild(i);
  }}
  function script(url) {{
    const done = track("script " + url);
    const s = document.createElement("script");
    s.onload = function () {{ done(true); }};
    s.onerror = function () {{ done(false); }};
    s.src = url;
    document.head.appendChild(s);
  }}
  function fetchResource(url) {{
    const done = track("fetch " + url);
    fetch(url, {{ cache: "no-store" }}).then(function (r) {{ return r.json(); }})
      .then(function (j) {{ done(j.ok === true); }}, function () {{ done(false); }});
  }}
  function ws(url) {{
    const done = track("ws " + url);
    const sock = new WebSocket(url);
    sock.onopen = function () {{ sock.send("ping " + url); }};
    sock.onmessage = function (e) {{ done(e.data === "ping " + url); sock.close(); }};
    sock.onerror = function () {{ done(false); }};
  }}
  const doneSetup = track("setup");
  {calls}
  doneSetup(true);
}})();
</script>
</body></html>
"#,
            calls = js,
        )
    }
}

/// A running fixture server; stops on drop.
#[derive(Debug)]
pub struct FixtureServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct ServerState {
    log: Mutex<Vec<HttpRecord>>,
    response_delay_ms: AtomicU64,
}

impl ServerState {
    fn log(&self) -> MutexGuard<'_, Vec<HttpRecord>> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl FixtureServer {
    /// Serve on 127.0.0.1 (ephemeral port).
    pub async fn start() -> anyhow::Result<Self> {
        let state = Arc::new(ServerState::default());
        let app = Router::new()
            .route("/", get(standard_page))
            .route("/page", get(generated_page))
            .route("/frame", get(frame_page))
            .route("/img.gif", get(image))
            .route("/script.js", get(script))
            .route("/data.json", get(data))
            .route("/sw.js", get(service_worker))
            .route("/ws", get(websocket))
            .route("/set-cookie", get(set_cookie))
            .route("/cookies", get(cookies))
            .merge(crate::corpus::routes())
            .layer(middleware::from_fn_with_state(Arc::clone(&state), record))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fixture server")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(error) = axum::serve(listener, service).await {
                eprintln!("fixture server stopped: {error}");
            }
        });
        Ok(Self { addr, state, task })
    }

    /// Where the server listens (the SOCKS recorder's upstream).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delay every response by `delay` (Tor-like latency for measurements).
    pub fn set_response_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.response_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// A position in the log; pass it to [`Self::requests_since`].
    pub fn mark(&self) -> usize {
        self.state.log().len()
    }

    /// The requests logged after `mark`.
    pub fn requests_since(&self, mark: usize) -> Vec<HttpRecord> {
        self.state.log().get(mark..).unwrap_or_default().to_vec()
    }

    /// The whole log.
    pub fn requests(&self) -> Vec<HttpRecord> {
        self.state.log().clone()
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn host_of(headers: &HeaderMap) -> String {
    let host = header_text(headers, header::HOST).unwrap_or_default();
    host.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host.clone(), |(name, _)| name.to_owned())
}

/// Log the request, apply the configured delay, and forbid caching.
async fn record(State(state): State<Arc<ServerState>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let client_port = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, &())
        .await
        .map_or(0, |ConnectInfo(addr)| addr.port());
    let entry = HttpRecord {
        at: SystemTime::now(),
        client_port,
        host: host_of(&parts.headers),
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        upgrade: header_text(&parts.headers, header::UPGRADE),
        cookie: header_text(&parts.headers, header::COOKIE),
    };
    state.log().push(entry);
    let delay = state.response_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn standard_page(headers: HeaderMap) -> Response {
    html(PageSpec::standard().render(&host_of(&headers)))
}

async fn generated_page(
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    html(PageSpec::from_query(&query).render(&host_of(&headers)))
}

async fn frame_page(headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    let images: String = query
        .get("img")
        .map(|list| {
            list.split(',')
                .filter(|h| !h.is_empty())
                .map(|h| format!("<img src=\"http://{h}/img.gif?frame=1\">"))
                .collect()
        })
        .unwrap_or_default();
    let host = host_of(&headers);
    let own_url = format!(
        "http://{host}/frame?img={}",
        query.get("img").map_or("", String::as_str)
    );
    html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>frame</title></head>
<body>{images}
<script>window.addEventListener("load", function () {{
  parent.postMessage({{ frameLoaded: {own_url:?} }}, "*");
}});</script></body></html>"#
    ))
}

async fn image() -> Response {
    gif_response()
}

/// The 1×1 GIF as a response (also served by the attribution corpus).
pub(crate) fn gif_response() -> Response {
    ([(header::CONTENT_TYPE, "image/gif")], GIF).into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript")],
        "window.persiteScriptLoads = (window.persiteScriptLoads || 0) + 1;",
    )
        .into_response()
}

async fn data() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        r#"{"ok":true}"#,
    )
        .into_response()
}

async fn service_worker() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript")],
        "// An empty service worker: no fetch handler, so it never intercepts a page load.\n",
    )
        .into_response()
}

async fn websocket(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}

async fn set_cookie(Query(query): Query<HashMap<String, String>>) -> Response {
    let value: String = query
        .get("value")
        .map_or("1", String::as_str)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let Ok(cookie) = HeaderValue::from_str(&format!("persite={value}; Path=/; SameSite=Lax"))
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut response = html(
        "<!doctype html><html><head><title>cookie-set</title></head><body>set</body></html>"
            .to_owned(),
    );
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

async fn cookies(headers: HeaderMap) -> Response {
    let received = header_text(&headers, header::COOKIE).unwrap_or_default();
    let escaped = received
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    html(format!(
        "<!doctype html><html><head><title>cookies:{escaped}</title></head><body>{escaped}</body></html>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_its_query() {
        let spec = PageSpec {
            images: hosts(&["a.test", "b.test"]),
            fetches: hosts(&["c.test"]),
            repeat: 5,
            ..PageSpec::default()
        };
        let query: HashMap<String, String> = spec
            .query()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(PageSpec::from_query(&query), spec);
        assert_eq!(spec.expected_requests("s.test", "/page").len(), 1 + 10 + 5);
    }

    #[test]
    fn performance_page_has_fifty_resources_from_ten_hosts() {
        let spec = PageSpec::third_party_images(10, 5);
        let expected = spec.expected_requests("site-a.test", "/page");
        assert_eq!(expected.len(), 51);
        let hosts: std::collections::BTreeSet<_> = expected[1..].iter().map(|(h, _)| h).collect();
        assert_eq!(hosts.len(), 10);
    }

    #[test]
    fn standard_page_lists_every_resource_kind() {
        let page = PageSpec::standard().render("site-a.test");
        for needle in [
            "frame(\"http://other.test/frame?img=cdn.test\")",
            "img(\"http://cdn.test/img.gif?i=0\")",
            "img(\"http://img.test/img.gif?i=0\")",
            "script(\"http://cdn.test/script.js?i=0\")",
            "fetchResource(\"http://cdn.test/data.json?i=0\")",
            "ws(\"ws://cdn.test/ws\")",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
    }
}
