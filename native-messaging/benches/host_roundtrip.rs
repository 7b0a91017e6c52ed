//! Benchmark of the real `persite-native-host` relaying to the real daemon (`persite serve`):
//! 10,000 sequential `credentials` requests (latency percentiles) and pipelined requests
//! (throughput), frames on the host's stdin/stdout pipes as the browser sends them. For
//! comparison it also times the same requests sent straight to the daemon over HTTP/2 with the
//! host's own client (no pipes, no host process), and the same frames echoed by `cat` (the pipe
//! hop alone), so the host's own share of the round trip can be told apart.
//!
//! Run: `cargo build --release -p persite && cargo bench -p persite-native-messaging --bench host_roundtrip`
//! (`-- --sequential N --pipelined N` to change the counts).

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use persite_native_messaging::broker_client::{BrokerClient, BrokerConfig};

const SITES: usize = 200;

fn request(id: usize) -> Vec<u8> {
    let body = format!(
        r#"{{"id":{id},"type":"credentials","url":"https://www.site{}.example/page","container":"firefox-default"}}"#,
        id % SITES
    );
    let mut frame = (body.len() as u32).to_ne_bytes().to_vec();
    frame.extend_from_slice(body.as_bytes());
    frame
}

fn read_frame(r: &mut impl Read) -> Vec<u8> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).expect("frame length");
    let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
    r.read_exact(&mut body).expect("frame body");
    body
}

fn is_reply(body: &[u8]) -> bool {
    body.starts_with(br#"{"id":"#)
}

/// The next reply frame, skipping pushes (tor status changes can come at any time).
fn read_reply(r: &mut impl Read) -> Vec<u8> {
    loop {
        let body = read_frame(r);
        if is_reply(&body) {
            return body;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name}: n={} p50={:.1}µs p90={:.1}µs p99={:.1}µs max={:.1}µs mean={:.1}µs",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.90).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().expect("samples").as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
    );
}

struct Daemon {
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(stream) = UnixStream::connect(&self.socket) {
            if let Ok(cred) = rustix::net::sockopt::socket_peercred(&stream) {
                let _ = rustix::process::kill_process(cred.pid, rustix::process::Signal::TERM);
            }
        }
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let sequential = arg("--sequential", 10_000);
    let pipelined = arg("--pipelined", 100_000);
    let host = PathBuf::from(env!("CARGO_BIN_EXE_persite-native-host"));
    let broker = host.with_file_name("persite");
    assert!(
        broker.is_file(),
        "{} is missing: run `cargo build --release -p persite` first",
        broker.display()
    );
    let runtime = tempfile::tempdir().expect("tempdir");
    let dir = runtime.path();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    // No tor of the daemon's own (the default "auto" mode may start one): SOCKS port only.
    std::fs::create_dir_all(dir.join("persite")).expect("mkdir");
    std::fs::write(
        dir.join("persite/config.toml"),
        "[tor]\nmode = \"system\"\ncontrol = \"none\"\n",
    )
    .expect("config");
    let _daemon = Daemon {
        socket: dir.join("broker.sock"),
    };
    println!("host: {}\ndaemon: {}", host.display(), broker.display());

    let mut child: Child = Command::new(&host)
        .args(["/bench/persite.json", "persite@persite.org"])
        .env("PERSITE_RUNTIME_DIR", dir)
        .env("PERSITE_BROKER_BIN", &broker)
        .env("XDG_CONFIG_HOME", dir)
        .env("PERSITE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start host");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::with_capacity(1 << 16, child.stdout.take().expect("stdout"));
    let connected = read_frame(&mut stdout);
    assert!(
        connected.windows(16).any(|w| w == b"broker_connected"),
        "first frame: {}",
        String::from_utf8_lossy(&connected)
    );

    // Warm-up (daemon caches, allocator, branch predictors).
    for id in 0..2_000 {
        stdin.write_all(&request(id)).expect("write");
        read_reply(&mut stdout);
    }

    // Sequential: one request in flight, as a browser that waits for each answer.
    let mut samples = Vec::with_capacity(sequential);
    for id in 0..sequential {
        let frame = request(id);
        let start = Instant::now();
        stdin.write_all(&frame).expect("write");
        let reply = read_reply(&mut stdout);
        samples.push(start.elapsed());
        assert!(
            reply.windows(9).any(|w| w == b"\"result\":"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
    report("host round trip, sequential", samples);

    // Pipelined: a writer thread sends everything while this thread reads the replies.
    let mut batch = Vec::with_capacity(pipelined * 120);
    for id in 0..pipelined {
        batch.extend_from_slice(&request(id));
    }
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&batch).expect("write batch");
        stdin
    });
    let mut replies = 0;
    while replies < pipelined {
        if is_reply(&read_frame(&mut stdout)) {
            replies += 1;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "host pipelined: {pipelined} requests in {:.3} s = {:.0} requests/s",
        elapsed.as_secs_f64(),
        pipelined as f64 / elapsed.as_secs_f64()
    );
    let stdin = writer.join().expect("writer");
    drop(stdin);
    let status = child.wait().expect("host exit");
    assert!(status.success(), "host exited with {status}");

    direct_to_daemon(dir, sequential);
    pipe_floor(sequential);
}

/// The same frames echoed by `cat` over two pipes: the cost of the browser ⇄ host hop alone
/// (two process wake-ups), which any host pays whatever it does.
fn pipe_floor(n: usize) {
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start cat");
    let mut stdin = cat.stdin.take().expect("stdin");
    let mut stdout = cat.stdout.take().expect("stdout");
    let mut samples = Vec::with_capacity(n);
    for id in 0..(n + 2_000) {
        let frame = request(id);
        let start = Instant::now();
        stdin.write_all(&frame).expect("write");
        let echo = read_frame(&mut stdout);
        if id >= 2_000 {
            samples.push(start.elapsed());
        }
        assert_eq!(echo.len() + 4, frame.len());
    }
    report("pipe floor (frames echoed by cat, no host)", samples);
    drop(stdin);
    let _ = cat.wait();
}

/// The same sequential requests straight to the daemon over HTTP/2 (the host's own client in
/// this process): the part of the host round trip spent in the daemon and the socket.
fn direct_to_daemon(dir: &Path, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let config = BrokerConfig {
            socket: Ok(dir.join("broker.sock")),
            broker_bin: Err("the daemon already runs".to_owned()),
            start_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
        };
        let client = BrokerClient::new(config, tx);
        client.connect().await;
        let bodies: Vec<Bytes> = (0..n)
            .map(|id| Bytes::from(request(id)[4..].to_vec()))
            .collect();
        for body in bodies.iter().take(2_000) {
            client.call(body.clone()).await.expect("warm-up");
        }
        let mut samples = Vec::with_capacity(n);
        for body in &bodies {
            let start = Instant::now();
            client.call(body.clone()).await.expect("reply");
            samples.push(start.elapsed());
        }
        report(
            "daemon only (HTTP/2 over the Unix socket, no host)",
            samples,
        );
    });
}
