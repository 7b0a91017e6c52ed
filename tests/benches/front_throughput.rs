//! The SOCKS front's own cost, measured against the real daemon (`persite serve`) in one run:
//! bytes per second and connection set-up time through the front vs straight to the SOCKS
//! server behind it, and the daemon's memory with 1,000 streams open through the front.
//!
//! The SOCKS server behind is a loopback stand-in for tor's SocksPort (accepts any
//! username/password, answers CONNECT at once, then sends a fixed body), so the ratios isolate
//! what the front adds; tor's own cost is the same on both paths. Run:
//! `cargo bench -p persite-tests --bench front_throughput`. docs/performance.md records it.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use persite_tests::binaries;
use persite_tests::test_daemon::{TestDaemon, system_tor_config};
use serde_json::json;

/// Bytes each throughput stream carries.
const BODY: usize = 64 * 1024 * 1024;
/// Throughput rounds per path (alternating).
const ROUNDS: usize = 6;
/// Set-up samples per path.
const SETUPS: usize = 300;
/// Concurrent streams for the memory figure.
const CONCURRENT: usize = 1000;

/// The stand-in for tor: SOCKS5 with username/password, CONNECT succeeds, then either sends
/// `BODY` bytes (port 1) or holds the stream open silently (other ports).
fn fake_tor() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_socks(stream));
        }
    });
    addr
}

fn serve_socks(mut s: TcpStream) -> Option<()> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).ok()?;
    let mut methods = vec![0u8; usize::from(head[1])];
    s.read_exact(&mut methods).ok()?;
    s.write_all(&[5, 2]).ok()?;
    let mut v = [0u8; 2];
    s.read_exact(&mut v).ok()?;
    let mut skip = vec![0u8; usize::from(v[1])];
    s.read_exact(&mut skip).ok()?;
    let mut plen = [0u8; 1];
    s.read_exact(&mut plen).ok()?;
    let mut skip = vec![0u8; usize::from(plen[0])];
    s.read_exact(&mut skip).ok()?;
    s.write_all(&[1, 0]).ok()?;
    let mut req = [0u8; 5];
    s.read_exact(&mut req).ok()?;
    let mut rest = vec![0u8; usize::from(req[4]) + 2];
    s.read_exact(&mut rest).ok()?;
    let port = u16::from_be_bytes([rest[rest.len() - 2], rest[rest.len() - 1]]);
    s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).ok()?;
    if port == 1 {
        let chunk = vec![0x5a; 256 * 1024];
        let mut left = BODY;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).ok()?;
            left -= n;
        }
    } else {
        let mut sink = [0u8; 64];
        while s.read(&mut sink).ok()? > 0 {}
    }
    Some(())
}

/// A SOCKS5 CONNECT to `host:port` through `proxy` as `user`; returns the open stream.
fn connect(proxy: SocketAddr, user: &str, host: &str, port: u16) -> TcpStream {
    let mut s = TcpStream::connect(proxy).expect("connect");
    s.set_nodelay(true).ok();
    s.write_all(&[5, 1, 2]).expect("greeting");
    let mut buf = [0u8; 10];
    s.read_exact(&mut buf[..2]).expect("choice");
    let mut auth = vec![1, u8::try_from(user.len()).expect("short")];
    auth.extend_from_slice(user.as_bytes());
    auth.extend_from_slice(&[1, b'x']);
    s.write_all(&auth).expect("auth");
    s.read_exact(&mut buf[..2]).expect("ack");
    let mut req = vec![5, 1, 0, 3, u8::try_from(host.len()).expect("short")];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).expect("request");
    s.read_exact(&mut buf).expect("reply");
    assert_eq!(buf[1], 0, "CONNECT failed");
    s
}

fn throughput(proxy: SocketAddr) -> f64 {
    let started = Instant::now();
    let mut s = connect(proxy, "bench", "bulk.example.com", 1);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    while total < BODY {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "stream ended early");
        total += n;
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let tor = fake_tor();
    let binaries = binaries::ensure_built().expect("persite built");
    let config = format!(
        "{}\n[front]\nlisten = \"127.0.0.1:0\"\n",
        system_tor_config(tor.port(), "none")
    );
    let daemon = TestDaemon::start(&binaries.broker, &config, None).expect("daemon");
    let status = daemon
        .rpc(json!({"id": 1, "type": "status"}))
        .expect("status");
    let front: SocketAddr = status["front"]
        .as_str()
        .and_then(|f| f.parse().ok())
        .expect("front address");
    let pid = daemon.pid().expect("pid");

    // Warm up both paths.
    throughput(tor);
    throughput(front);
    let (mut direct, mut via) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        direct.push(throughput(tor));
        via.push(throughput(front));
    }
    let (d, f) = (median(direct), median(via));
    println!(
        "throughput ({} MiB streams, median of {ROUNDS}): direct {:.0} MiB/s, through the front {:.0} MiB/s, ratio {:.3}",
        BODY >> 20,
        d / 1048576.0,
        f / 1048576.0,
        f / d
    );

    let (mut direct, mut via) = (Vec::new(), Vec::new());
    for i in 0..SETUPS {
        let host = format!("s{i}.example.org");
        let t = Instant::now();
        drop(connect(tor, "bench", &host, 2));
        direct.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        drop(connect(front, "bench", &host, 2));
        via.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (d, f) = (median(direct), median(via));
    println!(
        "set-up to CONNECT reply (median of {SETUPS}, each a new site): direct {d:.0} µs, through the front {f:.0} µs, added {:.0} µs",
        f - d
    );

    let idle = rss_kib(pid);
    let streams: Vec<TcpStream> = (0..CONCURRENT)
        .map(|i| {
            connect(
                front,
                &format!("app{}", i % 10),
                &format!("h{i}.site{}.example", i % 100),
                2,
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let busy = rss_kib(pid);
    println!(
        "daemon RSS: {:.1} MiB idle, {:.1} MiB with {} streams open through the front (10 contexts, 100 sites)",
        idle as f64 / 1024.0,
        busy as f64 / 1024.0,
        streams.len()
    );
    drop(streams);
}
