//! The direct-connection canary: listeners on loopback IP literals (`127.0.0.101`, …) that log
//! every TCP connection they accept.
//!
//! Test pages name these addresses as hosts (`http://127.0.0.101:<port>/…`). A browser that
//! proxies them (Persite, or the prefs proxy with `network.proxy.allow_hijacking_localhost`)
//! sends them to the SOCKS recorder, whose every destination is the fixture server, so a
//! correctly proxied load never touches a canary socket. A connection that reaches a canary
//! listener can only have come **directly** from the browser: that is a leak, and its count must
//! be zero. The control trial of `tests/e2e_faults.rs` (no proxy at all) proves the canary does
//! see direct loads.
//!
//! Each listener answers a tiny HTTP page (title `canary`) or a GIF, so a direct load in the
//! control trial completes instead of hanging.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A 1×1 transparent GIF.
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// First loopback address used by canary listener 0 (`127.0.0.101`).
const FIRST_HOST_OCTET: u8 = 101;

/// One connection accepted by a canary listener.
#[derive(Debug, Clone)]
pub struct CanaryHit {
    /// When it was accepted.
    pub at: SystemTime,
    /// The listener's address (which page host was loaded directly).
    pub listener: SocketAddr,
    /// The connecting peer.
    pub peer: SocketAddr,
    /// The request line, if one arrived within a second.
    pub request_line: Option<String>,
}

/// Canary listeners on `127.0.0.101`, `127.0.0.102`, …; accept loops stop on drop.
#[derive(Debug)]
pub struct DirectCanary {
    addrs: Vec<SocketAddr>,
    hits: Arc<Mutex<Vec<CanaryHit>>>,
    tasks: Vec<JoinHandle<()>>,
}

fn lock(hits: &Mutex<Vec<CanaryHit>>) -> MutexGuard<'_, Vec<CanaryHit>> {
    hits.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DirectCanary {
    /// Start `count` listeners (`count` ≤ 100), each on its own loopback IP and an ephemeral port.
    pub async fn start(count: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(count <= 100, "at most 100 canary listeners");
        let hits = Arc::new(Mutex::new(Vec::new()));
        let mut addrs = Vec::with_capacity(count);
        let mut tasks = Vec::with_capacity(count);
        for index in 0..count {
            let octet = FIRST_HOST_OCTET + u8::try_from(index)?;
            let ip = Ipv4Addr::new(127, 0, 0, octet);
            let listener = TcpListener::bind((ip, 0))
                .await
                .with_context(|| format!("binding a canary listener on {ip}"))?;
            let addr = listener.local_addr()?;
            addrs.push(addr);
            let hits = Arc::clone(&hits);
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, peer)) = listener.accept().await else {
                        continue;
                    };
                    let hits = Arc::clone(&hits);
                    tokio::spawn(answer(stream, addr, peer, hits));
                }
            }));
        }
        Ok(Self { addrs, hits, tasks })
    }

    /// Listener `index`'s address (`127.0.0.<101+index>:<port>`).
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.addrs[index]
    }

    /// Listener `index` as a URL authority (`127.0.0.101:40123`), usable as a page host.
    pub fn host(&self, index: usize) -> String {
        self.addr(index).to_string()
    }

    /// How many listeners run.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True when no listener runs.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// A position in the hit log; pass it to [`Self::hits_since`].
    pub fn mark(&self) -> usize {
        lock(&self.hits).len()
    }

    /// The connections accepted after `mark`.
    pub fn hits_since(&self, mark: usize) -> Vec<CanaryHit> {
        lock(&self.hits).get(mark..).unwrap_or_default().to_vec()
    }
}

impl Drop for DirectCanary {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Log the connection, then answer whatever was asked with a small page or a GIF.
async fn answer(
    mut stream: tokio::net::TcpStream,
    listener: SocketAddr,
    peer: SocketAddr,
    hits: Arc<Mutex<Vec<CanaryHit>>>,
) {
    let at = SystemTime::now();
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    let request_line = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") || len == buf.len() {
                        break;
                    }
                }
            }
        }
    })
    .await
    .ok()
    .and_then(|()| {
        let text = String::from_utf8_lossy(&buf[..len]).into_owned();
        text.lines().next().map(str::to_owned)
    })
    .filter(|line| !line.is_empty());
    let is_image = request_line
        .as_deref()
        .is_some_and(|line| line.contains(".gif"));
    lock(&hits).push(CanaryHit {
        at,
        listener,
        peer,
        request_line,
    });
    let (content_type, body): (&str, &[u8]) = if is_image {
        ("image/gif", GIF)
    } else {
        (
            "text/html; charset=utf-8",
            b"<!doctype html><html><head><title>canary</title></head><body>direct</body></html>",
        )
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}
