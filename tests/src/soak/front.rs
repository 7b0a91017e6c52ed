//! The fixture server's only published address during a soak: a TCP relay on 127.0.0.1 that
//! looks up, for every accepted connection, which process owns the connecting socket (the
//! `/proc/net/tcp` entry of the peer gives its inode, the exit relays' `/proc/<pid>/fd` name it).
//! A connection not owned by an exit relay of the private Tor network is a **direct**
//! connection; it is recorded (with its owner, when one is found), not served.
//!
//! Every page URL of the soak carries this relay's port, so a page, subresource or `fetch` that
//! bypassed tor would arrive here from Firefox (or the daemon) itself, not from an exit.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};

/// One connection the relay accepted.
#[derive(Debug, Clone)]
pub struct FrontConnection {
    /// When it was accepted.
    pub at: Instant,
    /// The connecting socket.
    pub peer: SocketAddr,
    /// The exit relay (pid) that owns the connecting socket; `None` for a direct connection.
    pub exit_pid: Option<i32>,
    /// For a direct connection, the owning process as `pid (comm)` when one was found.
    pub owner: Option<String>,
}

/// The relay; stops when dropped.
pub struct ExitOnlyFront {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<FrontConnection>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ExitOnlyFront {
    /// Listens on 127.0.0.1 (ephemeral port) and relays connections of `exit_pids` to
    /// `upstream`; everything else is recorded as direct and closed.
    pub async fn start(upstream: SocketAddr, exit_pids: Vec<i32>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&connections);
        let exit_pids = Arc::new(exit_pids);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let log = Arc::clone(&log);
                let exits = Arc::clone(&exit_pids);
                tokio::spawn(async move {
                    let at = Instant::now();
                    // The peer socket exists while we hold the accepted one open.
                    let (exit_pid, owner) =
                        tokio::task::spawn_blocking(move || classify(peer, addr, &exits))
                            .await
                            .unwrap_or((None, None));
                    lock(&log).push(FrontConnection {
                        at,
                        peer,
                        exit_pid,
                        owner,
                    });
                    if exit_pid.is_some() {
                        relay(stream, upstream).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            connections,
            task,
        })
    }

    /// The relay's address (the port every soak URL carries).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every connection accepted so far.
    pub fn connections(&self) -> Vec<FrontConnection> {
        lock(&self.connections).clone()
    }

    /// The direct connections among them.
    pub fn direct(&self) -> Vec<FrontConnection> {
        lock(&self.connections)
            .iter()
            .filter(|c| c.exit_pid.is_none())
            .cloned()
            .collect()
    }

    /// Forgets the connections accepted so far (after the self-check).
    pub fn clear(&self) {
        lock(&self.connections).clear();
    }
}

impl Drop for ExitOnlyFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn relay(mut inbound: TcpStream, upstream: SocketAddr) {
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

/// Which exit owns the socket `peer` connected to `local`, else the owner's name.
fn classify(peer: SocketAddr, local: SocketAddr, exits: &[i32]) -> (Option<i32>, Option<String>) {
    let Some(inode) = socket_inode(peer, local) else {
        return (None, None);
    };
    let target = format!("socket:[{inode}]");
    if let Some(pid) = exits.iter().copied().find(|pid| owns(*pid, &target)) {
        return (Some(pid), None);
    }
    let owner = std::fs::read_dir("/proc").ok().and_then(|entries| {
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .find(|pid| owns(*pid, &target))
            .map(|pid| {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                format!("{pid} ({})", comm.trim())
            })
    });
    (None, owner)
}

fn owns(pid: i32, target: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target))
}

/// The inode of the TCP socket bound to `peer` and connected to `local`, from `/proc/net/tcp`.
fn socket_inode(peer: SocketAddr, local: SocketAddr) -> Option<u64> {
    let (SocketAddr::V4(peer), SocketAddr::V4(local)) = (peer, local) else {
        return None;
    };
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (own, remote, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
        (parse_proc_addr(own)? == peer && parse_proc_addr(remote)? == local)
            .then(|| inode.parse().ok())
            .flatten()
    })
}

/// `0100007F:1F90` (address as the kernel's native-endian hex word, port in hex).
fn parse_proc_addr(text: &str) -> Option<SocketAddrV4> {
    let (ip, port) = text.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddrV4::new(Ipv4Addr::from(ip.to_ne_bytes()), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_addresses_parse() {
        let addr = parse_proc_addr("0100007F:1F90").expect("parses");
        if cfg!(target_endian = "little") {
            assert_eq!(addr, "127.0.0.1:8080".parse().expect("literal"));
        }
        assert_eq!(parse_proc_addr("zz:1"), None);
    }

    #[tokio::test]
    async fn a_connection_from_this_process_is_direct() {
        let upstream = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        // No exit pids: nothing may be relayed.
        let front = ExitOnlyFront::start(upstream.local_addr().expect("addr"), vec![])
            .await
            .expect("front");
        let _conn = TcpStream::connect(front.addr()).await.expect("connect");
        let started = Instant::now();
        while front.connections().is_empty() && started.elapsed().as_secs() < 5 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let direct = front.direct();
        assert_eq!(direct.len(), 1, "{:?}", front.connections());
        let me = std::process::id().to_string();
        assert!(
            direct[0]
                .owner
                .as_deref()
                .is_some_and(|o| o.starts_with(&me)),
            "{direct:?}"
        );
    }
}
