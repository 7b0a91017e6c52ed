//! The exits' DNS server: a UDP responder on 127.0.0.1 that maps every name to 127.0.0.1.
//!
//! DNS messages are parsed and built with `simple-dns` (small, no dependencies, maintained, and
//! enough for single-question queries); `hickory-proto` would do too but costs far more build
//! time on the 2-core CI. The answering logic ([`answer`]) is sans-IO so it is tested alone.
//!
//! Rules: `A` → 127.0.0.1 for every name (`*.test`, `*.co.uk`, `localhost`, anything) except
//! names under `.invalid`, which get NXDOMAIN (RFC 6761) so tests can provoke a resolve failure;
//! every other type (`AAAA`, …) → NOERROR with no answer. Nothing is ever forwarded.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, PacketFlag, QTYPE, RCODE, ResourceRecord, TYPE};

/// One question the responder answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    /// The queried name, lower-cased (exits randomise the case of names they send).
    pub name: String,
    /// The query type, e.g. `"A"` or `"AAAA"`.
    pub qtype: String,
    /// When it arrived.
    pub at: Instant,
}

/// Builds the reply for one raw query; `None` when the bytes are not a DNS query.
pub fn answer(query: &[u8]) -> Option<(Vec<u8>, Vec<DnsQuery>)> {
    let packet = Packet::parse(query).ok()?;
    if packet.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    let mut reply = Packet::new_reply(packet.id());
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE);
    if packet.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    let mut log = Vec::new();
    for question in &packet.questions {
        let name = question.qname.to_string().to_ascii_lowercase();
        let qtype = match question.qtype {
            QTYPE::TYPE(t) => format!("{t:?}"),
            other => format!("{other:?}"),
        };
        if name == "invalid" || name.ends_with(".invalid") {
            *reply.rcode_mut() = RCODE::NameError;
        } else if question.qtype == QTYPE::TYPE(TYPE::A) {
            let address = u32::from(Ipv4Addr::LOCALHOST);
            reply.answers.push(ResourceRecord::new(
                question.qname.clone(),
                CLASS::IN,
                60,
                RData::A(A { address }),
            ));
        }
        // The question is echoed unchanged: resolvers compare its case-randomised name.
        reply.questions.push(question.clone());
        log.push(DnsQuery {
            name,
            qtype,
            at: Instant::now(),
        });
    }
    Some((reply.build_bytes_vec().ok()?, log))
}

/// A running responder; stops its thread on drop.
#[derive(Debug)]
pub struct DnsResponder {
    addr: SocketAddr,
    queries: Arc<Mutex<Vec<DnsQuery>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsResponder {
    /// Binds a UDP socket on 127.0.0.1 (random port) and starts answering.
    pub fn start() -> std::io::Result<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let addr = socket.local_addr()?;
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("tornet-dns".into())
            .spawn({
                let queries = Arc::clone(&queries);
                let stop = Arc::clone(&stop);
                move || serve(&socket, &queries, &stop)
            })?;
        Ok(Self {
            addr,
            queries,
            stop,
            thread: Some(thread),
        })
    }

    /// The responder's address (what `resolv.conf` names).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every question answered so far, oldest first.
    pub fn queries(&self) -> Vec<DnsQuery> {
        self.queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `name` (any case) was asked for with type `qtype`.
    pub fn was_asked(&self, name: &str, qtype: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.queries()
            .iter()
            .any(|q| q.name == name && q.qtype == qtype)
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, queries: &Mutex<Vec<DnsQuery>>, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if let Some((reply, log)) = answer(&buf[..len]) {
            // Log before replying: whoever has seen the reply must also see the query logged.
            queries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(log);
            let _ = socket.send_to(&reply, peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::{Name, Question};

    fn query(name: &str, qtype: TYPE) -> Vec<u8> {
        let mut packet = Packet::new_query(0x4242);
        packet.set_flags(PacketFlag::RECURSION_DESIRED);
        packet.questions.push(Question::new(
            Name::new_unchecked(name),
            qtype.into(),
            CLASS::IN.into(),
            false,
        ));
        packet.build_bytes_vec().expect("valid query")
    }

    #[test]
    fn a_queries_get_loopback_with_the_question_echoed() {
        for name in [
            "SiTe-A.test",
            "www.example.co.uk",
            "localhost",
            "anything.example",
        ] {
            let (bytes, log) = answer(&query(name, TYPE::A)).expect("a reply");
            let reply = Packet::parse(&bytes).expect("parsable reply");
            assert_eq!(reply.id(), 0x4242);
            assert!(reply.has_flags(PacketFlag::RESPONSE));
            assert_eq!(reply.rcode(), RCODE::NoError);
            assert_eq!(reply.questions[0].qname.to_string(), name);
            match &reply.answers[..] {
                [rr] => assert_eq!(
                    rr.rdata,
                    RData::A(A {
                        address: u32::from(Ipv4Addr::LOCALHOST)
                    })
                ),
                other => panic!("expected one answer, got {other:?}"),
            }
            assert_eq!(log[0].name, name.to_ascii_lowercase());
            assert_eq!(log[0].qtype, "A");
        }
    }

    #[test]
    fn aaaa_gets_nodata_and_invalid_gets_nxdomain() {
        let (bytes, _) = answer(&query("site-a.test", TYPE::AAAA)).expect("a reply");
        let reply = Packet::parse(&bytes).expect("parsable");
        assert_eq!(reply.rcode(), RCODE::NoError);
        assert!(reply.answers.is_empty());

        let (bytes, _) = answer(&query("nowhere.invalid", TYPE::A)).expect("a reply");
        let reply = Packet::parse(&bytes).expect("parsable");
        assert_eq!(reply.rcode(), RCODE::NameError);
        assert!(reply.answers.is_empty());
    }

    #[test]
    fn garbage_and_responses_are_ignored() {
        assert!(answer(b"\x01\x02").is_none());
        let (reply, _) = answer(&query("x.test", TYPE::A)).expect("a reply");
        assert!(answer(&reply).is_none());
    }

    #[test]
    fn responder_answers_over_udp_and_logs() {
        let dns = DnsResponder::start().expect("bind");
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind client");
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        client
            .send_to(&query("udp.test", TYPE::A), dns.addr())
            .expect("send");
        let mut buf = [0u8; 512];
        let (len, _) = client.recv_from(&mut buf).expect("reply");
        let reply = Packet::parse(&buf[..len]).expect("parsable");
        assert_eq!(reply.answers.len(), 1);
        assert!(dns.was_asked("UDP.test", "A"));
        assert!(!dns.was_asked("udp.test", "AAAA"));
    }
}
