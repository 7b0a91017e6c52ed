//! URL → SOCKS credentials throughput on a realistic mix of first-party URLs.
//!
//! Run: `cargo bench -p persite --bench derive -- --warm-up-time 1 --measurement-time 3`.
//! Results and the machine are recorded in `docs/performance.md`.
//!
//! Each benchmark runs twice: `derive` measures wall-clock time (criterion's default), and
//! `derive_cpu` measures the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which is
//! the per-core cost even when other processes share the CPU.

// `criterion_group!` generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use persite::{Isolator, Psl};

/// First-party URLs as the extension sends them: popular sites, multi-level and private
/// suffixes, IDN, IPs, onion, and non-network pages.
const URLS: &[&str] = &[
    "https://www.google.com/search?q=tor+browser&client=firefox-b-e",
    "https://en.wikipedia.org/wiki/Tor_(network)",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://www.bbc.co.uk/news/technology-12345678",
    "https://github.com/torproject/tor/issues/40000",
    "https://alice.github.io/blog/2026/11/post.html",
    "https://mail.proton.me/u/0/inbox",
    "https://www.amazon.co.jp/dp/B000000000",
    "https://news.ycombinator.com/item?id=40000000",
    "https://www.reddit.com/r/TOR/comments/abc/",
    "https://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/?q=x",
    "https://www.bücher.de/artikel/buch/123",
    "https://shop.example.com.au:8443/cart",
    "http://192.168.1.1/admin",
    "http://[2001:db8::1]:8080/",
    "https://cdn.jsdelivr.net/npm/x@1/dist/x.min.js",
    "https://myapp.herokuapp.com/login",
    "https://www.city.kawasaki.jp/index.html",
    "about:blank",
    "moz-extension://0b9d3e3a-1111-4222-8333-444455556666/popup.html",
];

const CONTAINERS: &[&str] = &[
    "firefox-default",
    "firefox-default",
    "firefox-container-2",
    "firefox-private",
];

fn isolator() -> Isolator {
    Isolator::with_key([42; 32], Arc::new(Psl::vendored().expect("vendored list")))
}

/// CPU time consumed by the calling thread.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_now().saturating_sub(started)
    }
    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuNanos
    }
}

/// Shows CPU times in ns and throughput in elements per CPU-second.
struct CpuNanos;

impl ValueFormatter for CpuNanos {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns (cpu)"
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per_iteration = match throughput {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                *n as f64
            }
            _ => 1.0,
        };
        for value in values {
            *value = per_iteration * 1e9 / *value;
        }
        "elem/cpu-s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn wall(c: &mut Criterion<WallTime>) {
    derive(c, "derive");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    derive(c, "derive_cpu");
}

fn derive<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let mut group = c.benchmark_group(name);

    // The full path the daemon takes per request: parse URL, find the site, hash, encode, record.
    let mut iso = isolator();
    let mut index = 0usize;
    group.throughput(Throughput::Elements(1));
    group.bench_function("url_to_credentials_mix", |b| {
        b.iter(|| {
            let url = URLS[index % URLS.len()];
            let container = CONTAINERS[index % CONTAINERS.len()];
            index = index.wrapping_add(1);
            black_box(iso.credentials_at(black_box(url), black_box(container), 1_800_000_000_000))
        })
    });

    // The parts, to see where the time goes.
    let iso = isolator();
    let mut index = 0usize;
    group.bench_function("url_to_site_mix", |b| {
        b.iter(|| {
            let url = URLS[index % URLS.len()];
            index = index.wrapping_add(1);
            black_box(iso.site_of(black_box(url)))
        })
    });

    let mut iso = isolator();
    let site = iso.site_of("https://www.bbc.co.uk/").expect("site");
    let container = persite::Container::Default;
    group.bench_function("site_to_credentials", |b| {
        b.iter(|| black_box(iso.issue(black_box(site.clone()), container, 1_800_000_000_000)))
    });
    group.finish();
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);
