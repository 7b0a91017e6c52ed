//! The attribution corpus: pages that make Firefox fetch in every way a page can, served by the
//! fixture server under `/c/…` on every host.
//!
//! Every URL the corpus makes carries `fp=<host>&cx=<context>&k=<label>`: `fp` is the first
//! party the request belongs to (the site in the URL bar when it was made), `cx` the browsing
//! context the test opened the page in (`default`, `c1` for container 1, `private`), `k` what
//! kind of request it is. Pages, frames, stylesheets and worker scripts hand `fp` and `cx` on to
//! every URL they make, so the test attributes a logged request by its own query, whatever the
//! timing, and checks that all requests of one `(fp, cx)` rode one credential pair and that no
//! two `(fp, cx)` shared one (`tests/tests/e2e_attribution.rs`).
//!
//! | path | what |
//! |---|---|
//! | `/c/page/<case>` | a top-level case page ([`CASES`]) |
//! | `/c/frame/<kind>` | frame documents: `img`, `nest` (`rest=` hosts to nest further), `workers`, `open` (`to=` URL) |
//! | `/c/w/<script>` | worker scripts: `dedicated.js`, `module.mjs`, `dep.mjs`, `shared.js`, `sw.js`, `imported.js`, `worklet.js` |
//! | `/c/res/<name>` | resources: `img.gif`, `data.json`, `script.js`, `style.css`, `imported.css`, `font.woff`, `media.wav`, `favicon.ico`, `events`, `beacon`, `report`, `ping`, `blank`, `redirect?to=`, `download` |
//!
//! A case page sets `document.title` to `done` (or `done; failed: <labels>` when some request
//! failed, e.g. a font that does not decode) once everything it tracks settled, or to
//! `failed: timeout …` after 20 s. Requests the page cannot observe (beacons, pings, reports,
//! favicons) are waited for by the test in the fixture log.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The top-level case pages, in the order the test runs them.
pub const CASES: &[&str] = &[
    "frames",
    "workers",
    "tp-workers",
    "sandbox",
    "requests",
    "styles",
    "csp-report",
    "redirects",
];

/// Third-party hosts the corpus uses (each its own registrable domain).
pub const THIRD_PARTIES: &[&str] = &[
    "tp1.test",
    "tp2.test",
    "tracker.test",
    "nest-b.test",
    "nest-c.test",
    "nest-d.test",
];

/// The corpus routes, to merge into the fixture server's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/c/page/{case}", get(page).post(page))
        .route("/c/frame/{kind}", get(frame))
        .route("/c/w/{script}", get(worker_script))
        .route("/c/res/{name}", get(resource).post(resource))
        .route("/c/res/beacon", post(no_content))
}

/// The attribution parameters every corpus URL carries.
#[derive(Debug, Clone)]
struct Tag {
    fp: String,
    cx: String,
    k: String,
}

impl Tag {
    fn from_query(query: &HashMap<String, String>, host: &str) -> Self {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .take(80)
                .collect()
        };
        Self {
            fp: clean(query.get("fp").map_or(host, String::as_str)),
            cx: clean(query.get("cx").map_or("default", String::as_str)),
            k: clean(query.get("k").map_or("", String::as_str)),
        }
    }

    /// `http://<host><path>?fp=…&cx=…&k=<label>` for a URL made on behalf of this tag.
    fn url(&self, host: &str, path: &str, label: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!(
            "http://{host}{path}{sep}fp={}&cx={}&k={label}",
            self.fp, self.cx
        )
    }
}

fn host_of(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    host.rsplit_once(':')
        .map_or(host, |(name, _)| name)
        .to_owned()
}

fn typed(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The script every corpus document starts with: `FP`/`CX`, the URL builder `u`, the tracker
/// `P` that sets the title, and helpers for each kind of request.
fn prelude(tag: &Tag) -> String {
    format!(
        r#"const FP = {fp:?}, CX = {cx:?};
function u(host, path, label) {{
  return "http://" + host + path + (path.includes("?") ? "&" : "?") + "fp=" + FP + "&cx=" + CX + "&k=" + encodeURIComponent(label);
}}
const P = (() => {{
  const waiting = new Set(), failures = [], pending = new Map();
  let settled = false, started = false;
  function report() {{
    if (settled || !started || waiting.size > 0) return;
    settled = true;
    document.title = failures.length ? "done; failed: " + failures.join(", ") : "done";
  }}
  function track(label) {{
    waiting.add(label);
    let finished = false;
    return (ok) => {{
      if (finished) return;
      finished = true;
      waiting.delete(label);
      if (!ok) failures.push(label);
      report();
    }};
  }}
  setTimeout(() => {{
    if (settled) return;
    settled = true;
    document.title = "failed: timeout waiting for " + Array.from(waiting).join(", ");
  }}, 20000);
  window.addEventListener("message", (e) => {{
    const d = e.data;
    if (d && typeof d.corpus === "string" && pending.has(d.corpus)) pending.get(d.corpus)(d.ok === true);
  }});
  function expect(label) {{ const done = track(label); pending.set(label, done); return done; }}
  return {{ track, expect, go() {{ started = true; report(); }} }};
}})();
function toTop(label, ok) {{ top.postMessage({{ corpus: label, ok }}, "*"); }}
function img(host, label, done) {{
  const i = new Image();
  i.onload = () => done(true);
  i.onerror = () => done(false);
  i.src = u(host, "/c/res/img.gif", label);
  document.body.appendChild(i);
}}
function getJson(url, done) {{
  fetch(url, {{ cache: "no-store" }}).then((r) => r.json()).then((j) => done(j.ok === true), () => done(false));
}}
function frame(url, label, attrs) {{
  if (label !== null) P.expect(label);
  const f = document.createElement("iframe");
  for (const [k, v] of Object.entries(attrs || {{}})) f.setAttribute(k, v);
  if (url !== null) f.src = url;
  document.body.appendChild(f);
  return f;
}}
function runWorkers(prefix, report) {{
  const own = location.host;
  const attempt = (label, start) => {{ try {{ start(label); }} catch (e) {{ report(label, false); }} }};
  attempt(prefix + "dedicated", (label) => {{
    const w = new Worker(u(own, "/c/w/dedicated.js", label));
    w.onmessage = (e) => report(label, e.data === "ok");
    w.onerror = () => report(label, false);
  }});
  attempt(prefix + "module", (label) => {{
    const w = new Worker(u(own, "/c/w/module.mjs", label), {{ type: "module" }});
    w.onmessage = (e) => report(label, e.data === "ok");
    w.onerror = () => report(label, false);
  }});
  attempt(prefix + "shared", (label) => {{
    const s = new SharedWorker(u(own, "/c/w/shared.js", label));
    s.port.onmessage = (e) => report(label, e.data === "ok");
    s.onerror = () => report(label, false);
    s.port.start();
  }});
  attempt(prefix + "sw", (label) => {{
    if (!navigator.serviceWorker) {{ report(label, false); return; }}
    navigator.serviceWorker.addEventListener("message", (e) => report(label, e.data === "ok"));
    navigator.serviceWorker.register(u(own, "/c/w/sw.js", label), {{ scope: "/c/" }}).then((reg) => {{
      const send = (w) => w.postMessage("go");
      const w = reg.active || reg.waiting || reg.installing;
      if (w.state === "activated") {{ send(w); return; }}
      w.addEventListener("statechange", () => {{ if (w.state === "activated") send(w); }});
    }}, () => report(label, false));
  }});
  attempt(prefix + "worklet", (label) => {{
    const ctx = new AudioContext();
    ctx.audioWorklet.addModule(u("tp1.test", "/c/w/worklet.js", label)).then(() => report(label, true), () => report(label, false));
  }});
}}
const WORKER_KINDS = ["dedicated", "module", "shared", "sw", "worklet"];
"#,
        fp = tag.fp,
        cx = tag.cx,
    )
}

fn document(tag: &Tag, title: &str, head: &str, body: &str, script: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><h1>{fp}</h1>{body}
<script>{prelude}</script>
<script>
{script}
</script>
</body></html>
"#,
        fp = tag.fp,
        prelude = prelude(tag),
    )
}

/// A top-level case page.
async fn page(
    Path(case): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let host = host_of(&headers);
    let tag = Tag::from_query(&query, &host);
    let mut head = String::new();
    let mut body = String::new();
    let mut extra_headers: Vec<(header::HeaderName, String)> = Vec::new();
    let script = match case.as_str() {
        "frames" => {
            let nest = tag.url(
                "nest-b.test",
                "/c/frame/nest?rest=nest-c.test,nest-d.test",
                "nest",
            );
            let srcdoc_img = tag.url("tp1.test", "/c/res/img.gif", "srcdoc-img");
            let blob_img = tag.url("tp1.test", "/c/res/img.gif", "blob-img");
            let data_img = tag.url("tp2.test", "/c/res/img.gif", "data-img");
            let sandboxed = tag.url("tracker.test", "/c/frame/img?from=tp2.test", "sandboxed");
            let sandboxed_opaque = tag.url(
                "tracker.test",
                "/c/frame/img?from=tp1.test",
                "sandboxed-opaque",
            );
            format!(
                r#"frame({nest:?}, "nest");
frame(null, null, {{ srcdoc: '<img src="{srcdoc_img}">' }});
{{
  const done = P.track("about-blank");
  const f = document.createElement("iframe");
  document.body.appendChild(f);
  const i = f.contentDocument.createElement("img");
  i.onload = () => done(true);
  i.onerror = () => done(false);
  i.src = u("tp2.test", "/c/res/img.gif", "about-blank-img");
  f.contentDocument.body.appendChild(i);
}}
{{
  const html = '<img src="{blob_img}">';
  frame(URL.createObjectURL(new Blob([html], {{ type: "text/html" }})), null);
}}
frame("data:text/html," + encodeURIComponent('<img src="{data_img}">'), null);
frame({sandboxed:?}, "sandboxed", {{ sandbox: "allow-scripts allow-same-origin" }});
frame({sandboxed_opaque:?}, "sandboxed-opaque", {{ sandbox: "allow-scripts" }});
"#
            )
        }
        "workers" => r#"for (const kind of WORKER_KINDS) P.expect("top-" + kind);
runWorkers("top-", (label, ok) => window.postMessage({ corpus: label, ok }, "*"));
"#
        .to_owned(),
        "tp-workers" => {
            let tracker = tag.url("tracker.test", "/c/frame/workers", "tp-frame");
            format!(
                r#"for (const kind of WORKER_KINDS) P.expect("tp-" + kind);
frame({tracker:?}, null);
"#
            )
        }
        "sandbox" => {
            // Content-Security-Policy: sandbox makes the top document's origin opaque.
            extra_headers.push((
                header::CONTENT_SECURITY_POLICY,
                "sandbox allow-scripts".to_owned(),
            ));
            let css = tag.url("tp2.test", "/c/res/style.css", "sandbox-css");
            head.push_str(&format!(r#"<link rel="stylesheet" href="{css}">"#));
            let frame_url = tag.url("nest-b.test", "/c/frame/img?from=tp1.test", "sandbox-frame");
            format!(
                r#"img("tp1.test", "sandbox-img", P.track("sandbox-img"));
getJson(u("tp2.test", "/c/res/data.json", "sandbox-fetch"), P.track("sandbox-fetch"));
{{
  const done = P.track("sandbox-script");
  const s = document.createElement("script");
  s.onload = () => done(true);
  s.onerror = () => done(false);
  s.src = u("tracker.test", "/c/res/script.js", "sandbox-script");
  document.head.appendChild(s);
}}
frame({frame_url:?}, "sandbox-frame");
"#
            )
        }
        "requests" => {
            let ping_to = tag.url("tp2.test", "/c/res/ping", "ping");
            let ping_nav = tag.url(&tag.fp, "/c/res/blank", "ping-nav");
            body.push_str(&format!(
                r#"<iframe name="pingsink"></iframe><a id="pinger" href="{ping_nav}" target="pingsink" ping="{ping_to}">ping</a>"#
            ));
            r#"getJson(u("tp1.test", "/c/res/data.json", "fetch"), P.track("fetch"));
{
  const done = P.track("xhr");
  const x = new XMLHttpRequest();
  x.open("GET", u("tp2.test", "/c/res/data.json", "xhr"));
  x.onload = () => done(x.status === 200);
  x.onerror = () => done(false);
  x.send();
}
P.track("beacon")(navigator.sendBeacon(u("tracker.test", "/c/res/beacon", "beacon"), "corpus"));
document.getElementById("pinger").click();
{
  const done = P.track("eventsource");
  const es = new EventSource(u("tp1.test", "/c/res/events", "eventsource"));
  es.onmessage = (e) => { done(e.data === "ok"); es.close(); };
  es.onerror = () => { done(false); es.close(); };
}
{
  const done = P.track("websocket");
  const ws = new WebSocket("ws://tp2.test/ws?fp=" + FP + "&cx=" + CX + "&k=websocket");
  ws.onopen = () => ws.send("corpus");
  ws.onmessage = (e) => { done(e.data === "corpus"); ws.close(); };
  ws.onerror = () => done(false);
}
"#
            .to_owned()
        }
        "styles" => {
            let css = tag.url("tp1.test", "/c/res/style.css", "css");
            let icon = tag.url("tp1.test", "/c/res/favicon.ico", "favicon");
            let prefetch = tag.url("tp1.test", "/c/res/data.json", "prefetch");
            let preload = tag.url("tp2.test", "/c/res/img.gif", "preload");
            let modulepreload = tag.url("tp2.test", "/c/w/dep.mjs", "modulepreload");
            let media = tag.url("tp2.test", "/c/res/media.wav", "media");
            head.push_str(&format!(
                r#"<link rel="stylesheet" href="{css}" id="sheet"><link rel="icon" href="{icon}"><link rel="prefetch" href="{prefetch}"><link rel="preload" as="image" href="{preload}"><link rel="modulepreload" href="{modulepreload}">"#
            ));
            body.push_str(&format!(
                r#"<p class="corpus-font">text</p><audio id="media" preload="auto" src="{media}"></audio>"#
            ));
            r#"{
  const done = P.track("css");
  const sheet = document.getElementById("sheet");
  if (sheet.sheet) done(true); else { sheet.onload = () => done(true); sheet.onerror = () => done(false); }
}
{
  const done = P.track("font");
  document.fonts.load("1em corpusfont").then(() => done(true), () => done(false));
}
{
  const done = P.track("media");
  const m = document.getElementById("media");
  if (m.readyState >= 2) done(true);
  m.addEventListener("loadeddata", () => done(true));
  m.addEventListener("error", () => done(false));
  m.load();
}
"#
            .to_owned()
        }
        "csp-report" => {
            let report = tag.url("tp2.test", "/c/res/report", "csp-report");
            extra_headers.push((
                header::CONTENT_SECURITY_POLICY,
                format!("img-src 'self'; report-uri {report}"),
            ));
            r#"{
  const done = P.track("csp-blocked");
  const i = new Image();
  i.onload = () => done(false);
  i.onerror = () => done(true);
  i.src = u("tp1.test", "/c/res/img.gif", "csp-blocked-img");
  document.body.appendChild(i);
}
"#
            .to_owned()
        }
        "redirects" => {
            let img_target = tag.url("tp2.test", "/c/res/img.gif", "redirect-img-target");
            let fetch_target = tag.url("tracker.test", "/c/res/data.json", "redirect-fetch-target");
            format!(
                r#"{{
  const done = P.track("redirect-img");
  const i = new Image();
  i.onload = () => done(true);
  i.onerror = () => done(false);
  i.src = u("tp1.test", "/c/res/redirect?to=" + encodeURIComponent({img_target:?}), "redirect-img");
  document.body.appendChild(i);
}}
getJson(u("tp1.test", "/c/res/redirect?to=" + encodeURIComponent({fetch_target:?}), "redirect-fetch"), P.track("redirect-fetch"));
"#
            )
        }
        // A page reached by navigation (form POST, redirect, window.open): a little of
        // everything, so the new first party's own requests are checked too.
        "landing" => r#"img("tp1.test", "landing-img", P.track("landing-img"));
getJson(u("tp2.test", "/c/res/data.json", "landing-fetch"), P.track("landing-fetch"));
"#
        .to_owned(),
        // Submits a POST form to `to` (a landing page of another first party).
        "form" => {
            let to = query.get("to").cloned().unwrap_or_default();
            body.push_str(&format!(
                r#"<form id="f" method="post" action="{}"><input name="q" value="corpus"></form>"#,
                html_attr(&to)
            ));
            r#"document.getElementById("f").submit();"#.to_owned()
        }
        // A third-party frame that opens a new window on `to`.
        "open" => {
            let to = query.get("to").cloned().unwrap_or_default();
            let opener = tag.url(
                "tracker.test",
                &format!("/c/frame/open?to={}", url_escape(&to)),
                "opener-frame",
            );
            format!(r#"frame({opener:?}, "opener-frame");"#)
        }
        // Links to downloads: one from this site, one from a third party.
        "download" => {
            let same = tag.url(&tag.fp, "/c/res/download", "download-same");
            // A link to another site's file is a top-level load of that site (its own first
            // party, as Tor Browser keys it): `fp` says so.
            let cross = format!(
                "http://tp1.test/c/res/download?fp=tp1.test&cx={}&k=download-cross",
                tag.cx
            );
            body.push_str(&format!(
                r#"<a id="same" href="{same}" download="same.bin">same</a><a id="cross" href="{cross}">cross</a>"#
            ));
            r#"document.getElementById("same").click();
setTimeout(() => document.getElementById("cross").click(), 500);"#
                .to_owned()
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let script = format!("{script}\nP.go();");
    let mut response = typed(
        "text/html; charset=utf-8",
        document(&tag, "loading", &head, &body, &script),
    );
    for (name, value) in extra_headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Frame documents.
async fn frame(
    Path(kind): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let host = host_of(&headers);
    let tag = Tag::from_query(&query, &host);
    let label = tag.k.clone();
    let script = match kind.as_str() {
        "img" => {
            let from = query.get("from").map_or("tp1.test", String::as_str);
            format!(
                r#"img({from:?}, {img_label:?}, (ok) => toTop({label:?}, ok));"#,
                img_label = format!("{label}-img")
            )
        }
        "nest" => {
            let rest: Vec<&str> = query
                .get("rest")
                .map(|r| r.split(',').filter(|h| !h.is_empty()).collect())
                .unwrap_or_default();
            let img_label = format!("{label}-{host}-img");
            match rest.split_first() {
                None => format!(r#"img("tp1.test", {img_label:?}, (ok) => toTop({label:?}, ok));"#),
                Some((next, further)) => {
                    let url = tag.url(
                        next,
                        &format!("/c/frame/nest?rest={}", further.join(",")),
                        &label,
                    );
                    format!(
                        r#"img("tp1.test", {img_label:?}, () => {{}});
const f = document.createElement("iframe");
f.src = {url:?};
document.body.appendChild(f);"#
                    )
                }
            }
        }
        "workers" => r#"runWorkers("tp-", toTop);"#.to_owned(),
        "open" => {
            let to = query.get("to").cloned().unwrap_or_default();
            format!(
                r#"const w = window.open({to:?});
toTop({label:?}, w !== null);"#
            )
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    typed(
        "text/html; charset=utf-8",
        document(&tag, "frame", "", "", &script),
    )
}

/// Worker and worklet scripts; each requests `imported`/`dep` from `tp2.test` and data from
/// `tracker.test` (the third party that would link sites if it rode its own credentials).
async fn worker_script(
    Path(script): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let host = host_of(&headers);
    let tag = Tag::from_query(&query, &host);
    let k = &tag.k;
    let import = tag.url("tp2.test", "/c/w/imported.js", &format!("{k}-import"));
    let dep = tag.url("tp2.test", "/c/w/dep.mjs", &format!("{k}-import"));
    let data = tag.url("tracker.test", "/c/res/data.json", &format!("{k}-fetch"));
    let fetch_then = |reply: &str| {
        format!(
            r#"fetch({data:?}, {{ cache: "no-store" }}).then((r) => r.json()).then((j) => {reply}(j.ok === true ? "ok" : "bad"), () => {reply}("fetch failed"))"#
        )
    };
    let body = match script.as_str() {
        "dedicated.js" => format!("importScripts({import:?});\n{};\n", fetch_then("postMessage")),
        "module.mjs" => format!("import {dep:?};\n{};\n", fetch_then("postMessage")),
        "dep.mjs" => "export const dep = 1;\n".to_owned(),
        "imported.js" => "self.corpusImported = true;\n".to_owned(),
        "shared.js" => format!(
            "importScripts({import:?});\nonconnect = (e) => {{\n  const port = e.ports[0];\n  {};\n}};\n",
            fetch_then("port.postMessage")
        ),
        "sw.js" => format!(
            r#"importScripts({import:?});
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("message", (e) => {{
  const reply = (m) => e.source.postMessage(m);
  {};
}});
"#,
            fetch_then("reply")
        ),
        "worklet.js" => {
            "registerProcessor(\"corpus-\" + Math.random().toString(36).slice(2), class extends AudioWorkletProcessor { process() { return false; } });\n".to_owned()
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = typed("text/javascript", body);
    // The service worker's scope is `/c/`, above the script's folder.
    response.headers_mut().insert(
        header::HeaderName::from_static("service-worker-allowed"),
        HeaderValue::from_static("/"),
    );
    response
}

/// A 44-byte WAV header with no samples: a valid, empty audio file.
fn empty_wav() -> Vec<u8> {
    let mut wav = Vec::with_capacity(44);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&36u32.to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&0u32.to_le_bytes());
    wav
}

async fn resource(
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let host = host_of(&headers);
    let tag = Tag::from_query(&query, &host);
    let k = &tag.k;
    match name.as_str() {
        "img.gif" | "favicon.ico" => {
            let mut response = crate::fixtures::gif_response();
            response.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            response
        }
        "data.json" => typed("application/json", r#"{"ok":true}"#.to_owned()),
        "script.js" => typed("text/javascript", "self.corpusScript = true;\n".to_owned()),
        "style.css" => {
            let imported = tag.url("tp2.test", "/c/res/imported.css", &format!("{k}-import"));
            let font = tag.url("tp2.test", "/c/res/font.woff", &format!("{k}-font"));
            let background = tag.url("tp1.test", "/c/res/img.gif", &format!("{k}-background"));
            typed(
                "text/css",
                format!(
                    "@import url(\"{imported}\");\n@font-face {{ font-family: corpusfont; src: url(\"{font}\"); }}\n.corpus-font {{ font-family: corpusfont; }}\nbody {{ background-image: url(\"{background}\"); }}\n"
                ),
            )
        }
        "imported.css" => typed("text/css", "h1 { color: #333; }\n".to_owned()),
        "font.woff" => typed("font/woff", "not a font".to_owned()),
        "media.wav" => {
            let mut response = (
                [(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"))],
                empty_wav(),
            )
                .into_response();
            response.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            response
        }
        "events" => typed("text/event-stream", "data: ok\n\n".to_owned()),
        "report" | "ping" | "beacon" => no_content().await,
        "blank" => typed(
            "text/html; charset=utf-8",
            "<!doctype html><title>blank</title>".to_owned(),
        ),
        "redirect" => {
            let to = query.get("to").cloned().unwrap_or_default();
            match HeaderValue::from_str(&to) {
                Ok(location) if to.starts_with("http://") => (
                    StatusCode::FOUND,
                    [
                        (header::LOCATION, location),
                        (
                            header::ACCESS_CONTROL_ALLOW_ORIGIN,
                            HeaderValue::from_static("*"),
                        ),
                    ],
                )
                    .into_response(),
                _ => StatusCode::BAD_REQUEST.into_response(),
            }
        }
        "download" => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"corpus.bin\""),
                ),
            ],
            "corpus download\n",
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn no_content() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        )],
    )
        .into_response()
}

fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The attribution parameters of a logged request path, if it is a corpus request:
/// `(fp, cx, k)`.
pub fn tag_of_path(path: &str) -> Option<(String, String, String)> {
    let query = path.split_once('?')?.1;
    let mut fp = None;
    let mut cx = None;
    let mut k = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "fp" => fp = Some(value.into_owned()),
            "cx" => cx = Some(value.into_owned()),
            "k" => k = Some(value.into_owned()),
            _ => {}
        }
    }
    Some((fp?, cx?, k?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_urls() {
        let tag = Tag {
            fp: "alpha.test".into(),
            cx: "c1".into(),
            k: "x".into(),
        };
        let url = tag.url("tp1.test", "/c/res/redirect?to=abc", "redirect-img");
        let path = url.trim_start_matches("http://tp1.test");
        assert_eq!(
            tag_of_path(path),
            Some(("alpha.test".into(), "c1".into(), "redirect-img".into()))
        );
        assert_eq!(tag_of_path("/img.gif?i=0"), None);
    }

    #[test]
    fn tags_are_cleaned() {
        let mut query = HashMap::new();
        query.insert("fp".to_owned(), "a\"b<c>.test".to_owned());
        let tag = Tag::from_query(&query, "host.test");
        assert_eq!(tag.fp, "abc.test");
        assert_eq!(tag.cx, "default");
    }

    #[test]
    fn empty_wav_is_a_riff_file() {
        let wav = empty_wav();
        assert_eq!(wav.len(), 44);
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..12], b"WAVE");
    }
}
