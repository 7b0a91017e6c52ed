//! The SOCKS front through a real tor: downloads and first-byte times through the daemon's
//! front vs straight to the private network's SocksPort with the credentials the daemon gives
//! (so both paths get one circuit per site), alternating in one run.
//! `cargo bench -p persite-tests --bench tor_front_measure`; docs/performance.md records it.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use persite_tests::binaries;
use persite_tests::test_daemon::{TestDaemon, system_tor_config};
use persite_tests::tornet::{TorNetwork, TorNetworkOptions};
use serde_json::json;

/// Bytes per download.
const BODY: usize = 8 * 1024 * 1024;
/// Downloads per path.
const DOWNLOADS: usize = 5;
/// First-byte samples per path (each a new site, so each a new circuit on both paths).
const FIRST_BYTES: usize = 10;

/// A loopback origin: `/big` is [`BODY`] bytes, anything else a short line.
fn origin() -> SocketAddr {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new()
                .route("/big", axum::routing::get(|| async { vec![b'x'; BODY] }))
                .fallback(|| async { "small\n" });
            let _ = axum::serve(listener, app).await;
        });
    });
    addr
}

/// curl through `proxy`; returns (seconds to first byte, seconds total).
fn curl(proxy: &str, url: &str) -> (f64, f64) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "120",
            "-w",
            "%{time_starttransfer} %{time_total} %{http_code}",
            "--proxy",
            proxy,
            url,
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let first: f64 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .expect("time_starttransfer");
    let total: f64 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .expect("time_total");
    assert_eq!(
        parts.next(),
        Some("200"),
        "curl {url}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (first, total)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let network = TorNetwork::start(TorNetworkOptions::default()).expect("private tor network");
    let client = network.client();
    let origin = origin();
    let binaries = binaries::ensure_built().expect("persite built");
    let config = format!(
        "{}\n[front]\nlisten = \"127.0.0.1:0\"\n",
        system_tor_config(client.socks_addr().port(), "none")
    );
    let daemon = TestDaemon::start(&binaries.broker, &config, None).expect("daemon");
    let front = daemon
        .rpc(json!({"id": 1, "type": "status"}))
        .expect("status")["front"]
        .as_str()
        .expect("front")
        .to_owned();
    let straight = |site: &str| {
        let c = daemon
            .rpc(json!({"id": 2, "type": "app_credentials", "app": "bench", "site": site}))
            .expect("credentials");
        format!(
            "socks5h://{}:{}@{}",
            c["username"].as_str().expect("username"),
            c["password"].as_str().expect("password"),
            client.socks_addr()
        )
    };
    let via = format!("socks5h://bench:x@{front}");
    let port = origin.port();

    let (mut direct, mut fronted) = (Vec::new(), Vec::new());
    for i in 0..=DOWNLOADS {
        let url_a = format!("http://dl-a{i}.bulk-a.test:{port}/big");
        let url_b = format!("http://dl-b{i}.bulk-b.test:{port}/big");
        let d = curl(&straight("bulk-a.test"), &url_a).1;
        let f = curl(&via, &url_b).1;
        if i > 0 {
            direct.push(BODY as f64 / d);
            fronted.push(BODY as f64 / f);
        }
    }
    let (d, f) = (median(direct), median(fronted));
    println!(
        "through tor, {} MiB downloads (median of {DOWNLOADS}, first of each path dropped): straight {:.1} MiB/s, through the front {:.1} MiB/s, ratio {:.3}",
        BODY >> 20,
        d / 1048576.0,
        f / 1048576.0,
        f / d
    );

    let (mut direct, mut fronted) = (Vec::new(), Vec::new());
    for i in 0..FIRST_BYTES {
        let site_d = format!("new-d{i}.test");
        let site_f = format!("new-f{i}.test");
        direct.push(curl(&straight(&site_d), &format!("http://{site_d}:{port}/")).0);
        fronted.push(curl(&via, &format!("http://{site_f}:{port}/")).0);
    }
    let (d, f) = (median(direct) * 1000.0, median(fronted) * 1000.0);
    println!(
        "through tor, time to first byte of a new site (new circuit; median of {FIRST_BYTES}): straight {d:.1} ms, through the front {f:.1} ms, difference {:+.1} ms",
        f - d
    );
    // The daemon stops first, then the network (drop order).
    drop(daemon);
    drop(network);
}
