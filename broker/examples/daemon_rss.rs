//! Measures the real daemon's memory after it has issued credentials for many distinct sites.
//!
//! Starts `persite serve` in a private temp runtime dir, sends `credentials` requests for N
//! distinct sites over one HTTP/2 prior-knowledge connection (64 in flight), then prints the
//! daemon's VmRSS / VmHWM from `/proc/<pid>/status` and the request rate it saw.
//!
//! ```text
//! cargo build --release -p persite --bin persite --example daemon_rss
//! target/release/examples/daemon_rss [SITES] [PATH/TO/persite]
//! ```

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::UnixStream;

const IN_FLIGHT: usize = 64;

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("field in /proc status")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let sites: usize = args
        .next()
        .map_or(10_000, |s| s.parse().expect("SITES is a number"));
    let binary = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("own path");
        // target/<profile>/examples/daemon_rss → target/<profile>/persite
        exe.parent()
            .and_then(|p| p.parent())
            .expect("target dir")
            .join("persite")
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = dir.path().join("run");
    let socket = runtime.join("broker.sock");
    let mut child = Command::new(&binary)
        .arg("serve")
        .env("PERSITE_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("PERSITE_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match UnixStream::connect(&socket).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("daemon did not start: {e}"),
        }
    };
    let idle_rss = vm_kib(pid, "VmRSS:");
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);

    let started = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..sites {
        if pending.len() >= IN_FLIGHT {
            pending.join_next().await.expect("task").expect("request");
        }
        let mut sender = sender.clone();
        pending.spawn(async move {
            let body = format!(
                r#"{{"id":{i},"type":"credentials","url":"https://www.site-{i}.example/page"}}"#
            );
            let req = hyper::Request::post("/v1/rpc")
                .header("host", "persite")
                .body(Full::new(Bytes::from(body)))
                .expect("request");
            sender.ready().await.expect("ready");
            let resp = sender.send_request(req).await.expect("send");
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            assert!(
                bytes.windows(8).any(|w| w == b"username"),
                "unexpected reply: {}",
                String::from_utf8_lossy(&bytes)
            );
        });
    }
    while let Some(r) = pending.join_next().await {
        r.expect("request");
    }
    let elapsed = started.elapsed();
    let rss = vm_kib(pid, "VmRSS:");
    let hwm = vm_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    println!("daemon binary: {}", binary.display());
    println!("distinct sites: {sites}");
    println!("VmRSS idle:  {:>7.1} MiB", idle_rss as f64 / 1024.0);
    println!("VmRSS after: {:>7.1} MiB", rss as f64 / 1024.0);
    println!("VmHWM (peak): {:>6.1} MiB", hwm as f64 / 1024.0);
    println!(
        "requests: {sites} in {:.2} s ({:.0} req/s, h2c, {IN_FLIGHT} in flight)",
        elapsed.as_secs_f64(),
        sites as f64 / elapsed.as_secs_f64()
    );
}
