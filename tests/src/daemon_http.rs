//! A small blocking client for the Persite daemon's HTTP API on its Unix socket
//! (`docs/protocol.md` §3), shared by the suites that drive a real `persite serve`.
//!
//! By hand rather than hyper: one blocking request with a JSON body, and an SSE stream read line
//! by line, are all the checks need.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// One HTTP/1.1 request over the daemon's socket (`Connection: close`), bounded to 10 s; the
/// JSON body of the answer.
pub fn request(socket: &Path, method: &str, path: &str, body: &str) -> Result<Value, String> {
    let mut stream =
        UnixStream::connect(socket).map_err(|e| format!("connect {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: persite\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let (_, json) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP body in {answer:?}"))?;
    serde_json::from_str(json).map_err(|e| format!("not JSON ({e}): {json:?}"))
}

/// `POST /v1/rpc` with `request`; the reply's `result`, or the request and reply as the error.
pub fn rpc(socket: &Path, request: &Value) -> Result<Value, String> {
    let reply = self::request(socket, "POST", "/v1/rpc", &request.to_string())?;
    reply
        .get("result")
        .cloned()
        .ok_or_else(|| format!("{request} failed: {reply}"))
}

/// The `(username, password)` of a `credentials` result.
pub fn credential_pair(result: &Value) -> Result<(String, String), String> {
    let text = |k: &str| {
        result[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("credentials answer without {k}: {result}"))
    };
    Ok((text("username")?, text("password")?))
}

/// Waits (bounded by `bound`, polling `status`) until the daemon on `socket` exists and reports
/// tor's control port connected and bootstrap at 100 %.
pub fn wait_on_tor(socket: &Path, bound: Duration) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::from("no daemon socket yet");
    loop {
        if socket.exists() {
            match rpc(socket, &serde_json::json!({"id": 1, "type": "status"})) {
                Ok(status) => {
                    let tor = &status["tor"];
                    if tor["control"] == "connected" && tor["bootstrap"]["progress"] == 100 {
                        return Ok(());
                    }
                    last = tor.to_string();
                }
                Err(e) => last = e,
            }
        }
        if started.elapsed() >= bound {
            return Err(format!(
                "the daemon did not see tor connected and bootstrapped within {bound:?}: {last}"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The daemon's `GET /v1/events` stream, read line by line (SSE over chunked HTTP/1.1: each
/// push is one `data: {…}` line inside one chunk). Every push read is kept with its arrival
/// time, so a trial can also check what did *not* come.
pub struct EventStream {
    reader: BufReader<UnixStream>,
    seen: Vec<(u64, Value)>,
}

impl EventStream {
    /// Subscribes to the daemon's pushes.
    pub fn subscribe(socket: &Path) -> Result<Self, String> {
        let mut stream = UnixStream::connect(socket)
            .map_err(|e| format!("connect {}: {e}", socket.display()))?;
        write!(stream, "GET /v1/events HTTP/1.1\r\nHost: persite\r\n\r\n")
            .map_err(|e| format!("write: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            reader: BufReader::new(stream),
            seen: Vec::new(),
        })
    }

    /// Reads pushes for up to `timeout`, stopping at the first one for which `wanted` holds;
    /// returns it with its arrival time (Unix ms), or `None` when none came in time.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<Option<(u64, Value)>, String> {
        let deadline = Instant::now() + timeout;
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err("event stream ended".into()),
                Ok(_) => {
                    if let Some(data) = line.trim_end().strip_prefix("data: ")
                        && let Ok(push) = serde_json::from_str::<Value>(data)
                    {
                        let at = now_ms();
                        self.seen.push((at, push.clone()));
                        if wanted(&push) {
                            return Ok(Some((at, push)));
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(format!("reading events: {e}")),
            }
        }
        Ok(None)
    }

    /// The next push for which `wanted` holds, within `timeout`; an error when none came.
    pub fn expect(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        self.wait_for(timeout, wanted)?
            .map(|(_, push)| push)
            .ok_or_else(|| format!("no matching push within {timeout:?}"))
    }

    /// Reads whatever arrives within `quiet` (to check later for pushes that must not exist).
    pub fn drain(&mut self, quiet: Duration) -> Result<(), String> {
        self.wait_for(quiet, |_| false).map(|_| ())
    }

    /// Every push read so far, with its arrival time (Unix ms).
    pub fn seen(&self) -> &[(u64, Value)] {
        &self.seen
    }

    /// Every `invalidate` push read so far that names `site` (or `all`).
    pub fn invalidations_of(&self, site: &str) -> Vec<&(u64, Value)> {
        self.seen
            .iter()
            .filter(|(_, p)| is_invalidate_of(p, site, None))
            .collect()
    }
}

/// Whether `push` is an `invalidate` naming `site` (or `all`), with `reason` if given.
pub fn is_invalidate_of(push: &Value, site: &str, reason: Option<&str>) -> bool {
    push["type"] == "invalidate"
        && reason.is_none_or(|r| push["reason"] == r)
        && (push["all"] == true
            || push["sites"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x == site)))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
