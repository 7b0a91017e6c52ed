//! The SOCKS front on real sockets, against a fake tor SocksPort that records the credentials
//! of every stream: per-context and per-site keys, the IP-literal rule, tor's RESOLVE
//! extensions, refusals, and hostile input that must not stop the front.
//! (On the private Tor network with real programs: tests/tests/tor_front.rs.)

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use persite::front::ResolvedAddresses;
use persite::front::{Front, FrontAddr, Keys};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Test keys: the site is the last two labels; credentials name context and site so the test
/// can read them back (the real ones are keyed hashes).
#[derive(Default)]
struct TestKeys {
    resolved: Mutex<ResolvedAddresses>,
}

impl Keys for TestKeys {
    fn remember_resolved(&self, context: &str, ip: IpAddr, site: &str) {
        self.resolved
            .lock()
            .expect("lock")
            .remember(context, ip, site);
    }

    fn resolved_site(&self, context: &str, ip: IpAddr) -> Option<String> {
        self.resolved
            .lock()
            .expect("lock")
            .site_of(context, ip)
            .map(str::to_owned)
    }

    fn site_of(&self, host: &str) -> Option<String> {
        let labels: Vec<&str> = host.split('.').collect();
        (labels.len() >= 2).then(|| labels[labels.len() - 2..].join("."))
    }

    fn credentials(&self, context: &str, site: &str) -> Result<(String, String), String> {
        Ok((format!("u:{context}:{site}"), "p".into()))
    }
}

/// What the fake tor saw: (username, command, destination) per stream.
type Seen = Arc<Mutex<Vec<(String, u8, String)>>>;

/// A fake tor SocksPort: username/password only; CONNECT echoes; RESOLVE answers 10.0.0.<len
/// of the name>; RESOLVE_PTR answers `ptr.test`. With `offer_auth = false` it picks "no
/// authentication" (the front must then refuse to go on).
async fn fake_tor(offer_auth: bool) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut head = [0u8; 2];
                s.read_exact(&mut head).await.ok()?;
                let mut methods = vec![0u8; usize::from(head[1])];
                s.read_exact(&mut methods).await.ok()?;
                if !offer_auth {
                    s.write_all(&[5, 0]).await.ok()?;
                    return Some(());
                }
                s.write_all(&[5, 2]).await.ok()?;
                let mut v = [0u8; 2];
                s.read_exact(&mut v).await.ok()?;
                let mut user = vec![0u8; usize::from(v[1])];
                s.read_exact(&mut user).await.ok()?;
                let mut plen = [0u8; 1];
                s.read_exact(&mut plen).await.ok()?;
                let mut pass = vec![0u8; usize::from(plen[0])];
                s.read_exact(&mut pass).await.ok()?;
                s.write_all(&[1, 0]).await.ok()?;
                let mut req = [0u8; 4];
                s.read_exact(&mut req).await.ok()?;
                let dest = match req[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        s.read_exact(&mut ip).await.ok()?;
                        IpAddr::from(ip).to_string()
                    }
                    3 => {
                        let mut len = [0u8; 1];
                        s.read_exact(&mut len).await.ok()?;
                        let mut name = vec![0u8; usize::from(len[0])];
                        s.read_exact(&mut name).await.ok()?;
                        String::from_utf8(name).ok()?
                    }
                    _ => return None,
                };
                let mut port = [0u8; 2];
                s.read_exact(&mut port).await.ok()?;
                log.lock().expect("log").push((
                    String::from_utf8(user).ok()?,
                    req[1],
                    dest.clone(),
                ));
                match req[1] {
                    1 => {
                        s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.ok()?;
                        let mut buf = [0u8; 256];
                        loop {
                            let n = s.read(&mut buf).await.ok()?;
                            if n == 0 {
                                return Some(());
                            }
                            s.write_all(&buf[..n]).await.ok()?;
                        }
                    }
                    0xF0 => {
                        let last = u8::try_from(dest.len()).unwrap_or(255);
                        s.write_all(&[5, 0, 0, 1, 10, 0, 0, last, 0, 0])
                            .await
                            .ok()?;
                    }
                    0xF1 => {
                        s.write_all(&[&[5, 0, 0, 3, 8][..], b"ptr.test", &[0, 0]].concat())
                            .await
                            .ok()?;
                    }
                    _ => {}
                }
                Some(())
            });
        }
    });
    (addr, seen)
}

struct Running {
    front: SocketAddr,
    seen: Seen,
    _stop: watch::Sender<bool>,
}

async fn start(offer_auth: bool) -> Running {
    let (tor, seen) = fake_tor(offer_auth).await;
    let front = Front::bind(&FrontAddr::Tcp("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("bind the front");
    let FrontAddr::Tcp(addr) = front.addr().clone() else {
        panic!("tcp front")
    };
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(front.serve(Arc::new(TestKeys::default()), tor, stopped));
    Running {
        front: addr,
        seen,
        _stop: stop,
    }
}

/// SOCKS5 with username `context` (none when empty): greeting, auth, request; returns the
/// stream and the reply.
async fn socks5(
    front: SocketAddr,
    context: &str,
    cmd: u8,
    atyp_addr: &[u8],
) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(front).await.expect("connect");
    if context.is_empty() {
        s.write_all(&[5, 1, 0]).await.expect("greeting");
        let mut choice = [0u8; 2];
        s.read_exact(&mut choice).await.expect("choice");
        assert_eq!(choice, [5, 0]);
    } else {
        s.write_all(&[5, 1, 2]).await.expect("greeting");
        let mut choice = [0u8; 2];
        s.read_exact(&mut choice).await.expect("choice");
        assert_eq!(choice, [5, 2]);
        let ctx = context.as_bytes();
        let mut auth = vec![1, u8::try_from(ctx.len()).expect("short")];
        auth.extend_from_slice(ctx);
        auth.extend_from_slice(&[1, b'x']);
        s.write_all(&auth).await.expect("auth");
        let mut ack = [0u8; 2];
        s.read_exact(&mut ack).await.expect("ack");
        assert_eq!(ack, [1, 0]);
    }
    let mut req = vec![5, cmd, 0];
    req.extend_from_slice(atyp_addr);
    req.extend_from_slice(&[0, 80]);
    s.write_all(&req).await.expect("request");
    let mut reply = vec![0u8; 4];
    s.read_exact(&mut reply).await.expect("reply head");
    let rest = match reply[3] {
        1 => 6,
        4 => 18,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await.expect("len");
            reply.push(len[0]);
            usize::from(len[0]) + 2
        }
        other => panic!("reply ATYP {other}"),
    };
    let mut tail = vec![0u8; rest];
    s.read_exact(&mut tail).await.expect("reply tail");
    reply.extend_from_slice(&tail);
    (s, reply)
}

fn name(n: &str) -> Vec<u8> {
    let mut v = vec![3, u8::try_from(n.len()).expect("short")];
    v.extend_from_slice(n.as_bytes());
    v
}

async fn connect_and_echo(front: SocketAddr, context: &str, host: &str) {
    let (mut s, reply) = socks5(front, context, 1, &name(host)).await;
    assert_eq!(reply[1], 0, "CONNECT to {host} failed: {reply:?}");
    s.write_all(b"ping").await.expect("data");
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await.expect("echo");
    assert_eq!(&back, b"ping");
}

fn users(seen: &Seen) -> Vec<String> {
    seen.lock()
        .expect("log")
        .iter()
        .map(|(u, _, _)| u.clone())
        .collect()
}

#[tokio::test]
async fn streams_ride_keys_of_their_context_and_destination_site() {
    let r = start(true).await;
    connect_and_echo(r.front, "git", "a.cdn.example").await;
    connect_and_echo(r.front, "git", "b.cdn.example").await;
    connect_and_echo(r.front, "git", "other.test").await;
    connect_and_echo(r.front, "curl", "a.cdn.example").await;
    connect_and_echo(r.front, "", "a.cdn.example").await;
    assert_eq!(
        users(&r.seen),
        [
            "u:git:cdn.example",
            "u:git:cdn.example",
            "u:git:other.test",
            "u:curl:cdn.example",
            "u:default:cdn.example"
        ]
    );
    let dests: Vec<String> = r
        .seen
        .lock()
        .expect("log")
        .iter()
        .map(|(_, _, d)| d.clone())
        .collect();
    assert_eq!(dests[0], "a.cdn.example", "the name goes to tor as a name");
}

#[tokio::test]
async fn resolve_answers_and_the_ip_literal_rule() {
    let r = start(true).await;
    let (_, reply) = socks5(r.front, "apt", 0xF0, &name("deb.mirror.test")).await;
    assert_eq!(reply[1], 0);
    assert_eq!(&reply[3..8], &[1, 10, 0, 0, 15], "tor's answer passed on");
    // A stream to the resolved address rides the name's site; in another context it is the
    // address's own site.
    connect_and_echo(r.front, "apt", "10.0.0.15").await;
    let (mut s, reply) = socks5(r.front, "apt", 1, &[1, 10, 0, 0, 15]).await;
    assert_eq!(reply[1], 0);
    drop(s.shutdown().await);
    connect_and_echo(r.front, "chat", "10.0.0.15").await;
    let (_, reply) = socks5(r.front, "apt", 0xF1, &[1, 10, 0, 0, 15]).await;
    assert_eq!(&reply[3..5], &[3, 8]);
    assert_eq!(
        users(&r.seen),
        [
            "u:apt:mirror.test",
            "u:apt:mirror.test",
            "u:apt:mirror.test",
            "u:chat:10.0.0.15",
            "u:apt:mirror.test"
        ]
    );
}

#[tokio::test]
async fn bind_and_udp_get_command_not_supported() {
    let r = start(true).await;
    for cmd in [2u8, 3] {
        let (_, reply) = socks5(r.front, "a", cmd, &name("a.test")).await;
        assert_eq!(reply[1], 7, "command {cmd}: {reply:?}");
    }
    assert!(users(&r.seen).is_empty(), "nothing reached tor");
}

#[tokio::test]
async fn a_tor_port_that_skips_authentication_gets_no_stream() {
    let r = start(false).await;
    let (_, reply) = socks5(r.front, "a", 1, &name("a.test")).await;
    assert_eq!(reply[1], 1, "general failure, not a shared circuit");
}

#[tokio::test]
async fn hostile_input_is_answered_and_the_front_keeps_serving() {
    let r = start(true).await;
    let hostile: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n".to_vec(),
        vec![5, 0],                       // no methods
        vec![5, 255, 1, 2, 3],            // truncated method list, then close
        vec![5, 1, 2, 1, 0, 0, 5, 9, 0],  // empty user, bad request version
        vec![4, 1, 0, 80, 0, 0, 0, 1, 0], // SOCKS4a without the name's terminator
        vec![5, 1, 0, 5, 1, 0, 3, 255],   // a name length with no name
        vec![0; 4096],                    // junk
    ];
    for bytes in hostile {
        let mut s = TcpStream::connect(r.front).await.expect("connect");
        let _ = s.write_all(&bytes).await;
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut sink)).await;
    }
    // A client that connects and says nothing is cut off after the handshake timeout; it
    // holds no one else up meanwhile.
    let _idle = TcpStream::connect(r.front).await.expect("connect");
    connect_and_echo(r.front, "after", "ok.test").await;
    assert_eq!(users(&r.seen), ["u:after:ok.test"]);
}

mod parser {
    use persite::front::{ReplayOutcome, replay_handshake};
    use proptest::prelude::*;

    proptest! {
        /// The front's parser never panics and only ever accepts a valid context.
        #[test]
        fn arbitrary_client_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
            let replayed = replay_handshake(&input, chunk);
            if let ReplayOutcome::Request(Ok(request)) = replayed.outcome {
                prop_assert!(!request.context.is_empty() && request.context.len() <= 64);
            }
        }

        /// A well-formed SOCKS5 CONNECT gives the same request whatever the read sizes.
        #[test]
        fn read_sizes_do_not_change_the_request(chunk in 1usize..40, name in "[a-z]{1,20}\\.test") {
            let mut input = vec![5, 1, 2, 1, 3];
            input.extend_from_slice(b"git");
            input.extend_from_slice(&[1, b'x', 5, 1, 0, 3, u8::try_from(name.len()).unwrap()]);
            input.extend_from_slice(name.as_bytes());
            input.extend_from_slice(&[1, 187]);
            let whole = format!("{:?}", replay_handshake(&input, input.len()).outcome);
            let split = format!("{:?}", replay_handshake(&input, chunk).outcome);
            prop_assert_eq!(&whole, &split);
            prop_assert!(whole.contains(&name) && whole.contains("\"git\""), "{}", whole);
        }
    }
}

/// A server that speaks first (SSH, SMTP): its greeting may reach the front in the same read
/// as tor's reply, and must reach the client, not break the stream.
#[tokio::test]
async fn data_right_after_tors_reply_reaches_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tor = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await; // greeting
        s.write_all(&[5, 2]).await.expect("choice");
        let _ = s.read(&mut buf).await; // auth
        s.write_all(&[1, 0]).await.expect("ack");
        let _ = s.read(&mut buf).await; // request
        // Reply and banner in one write.
        s.write_all(&[&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0][..], b"SSH-2.0-banner\r\n"].concat())
            .await
            .expect("reply");
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    let front = Front::bind(&FrontAddr::Tcp("127.0.0.1:0".parse().expect("addr")))
        .await
        .expect("bind");
    let FrontAddr::Tcp(addr) = front.addr().clone() else {
        panic!("tcp")
    };
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(front.serve(Arc::new(TestKeys::default()), tor, stopped));
    let (mut s, reply) = socks5(addr, "ssh", 1, &name("git.example.org")).await;
    assert_eq!(reply[1], 0);
    let mut banner = [0u8; 16];
    s.read_exact(&mut banner).await.expect("banner");
    assert_eq!(&banner, b"SSH-2.0-banner\r\n");
}
