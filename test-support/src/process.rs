//! [`Spawned`]: a started process that is stopped on drop, with bounded waits on it; and
//! small helpers for running a command to completion within a bound.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often bounded waits poll.
const POLL: Duration = Duration::from_millis(20);
/// How long [`StopBy::Terminate`] waits after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// How a [`Spawned`] guard ends its process when dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopBy {
    /// SIGKILL at once (the process must not get to clean up, or it might be stopped).
    Kill,
    /// SIGTERM, so a daemon stops its managed tor; SIGKILL after 10 s.
    Terminate,
}

/// A started process with its stderr log; stopped on drop as its [`StopBy`] says.
#[derive(Debug)]
pub struct Spawned {
    child: Option<Child>,
    log: PathBuf,
    stop: StopBy,
}

impl Spawned {
    /// Starts `cmd`, whose stderr the caller pointed at `log`.
    pub fn spawn(mut cmd: Command, log: PathBuf, stop: StopBy) -> std::io::Result<Spawned> {
        let child = cmd.spawn()?;
        Ok(Spawned {
            child: Some(child),
            log,
            stop,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The stderr log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = i32::try_from(self.pid())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .expect("a process id");
        rustix::process::kill_process(pid, signal).expect("sending a signal");
    }

    /// Its exit status, if it exits within `bound` (`Duration::ZERO`: only if it already has).
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        let child = self.child.as_mut()?;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                _ => return None,
            }
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }

    /// Waits until the Unix socket `socket` accepts connections, at most `bound`; an error
    /// (with the log) if the process exits first or the bound passes.
    pub fn wait_for_socket(&mut self, socket: &Path, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            if let Some(status) = self.wait_exit(Duration::ZERO) {
                return Err(format!(
                    "the process exited ({status}) before {} accepted connections; stderr:\n{}",
                    socket.display(),
                    self.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not accept connections within {bound:?}; stderr:\n{}",
                    socket.display(),
                    self.log()
                ));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.stop == StopBy::Terminate {
            if let Some(pid) = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + TERM_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// An ephemeral TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// Runs `cmd` (stdin closed) to completion within `bound`, killing it and panicking if it
/// overstays; its exit code (-1 for a signal), stdout and stderr.
pub fn run_within(mut cmd: Command, bound: Duration) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out_path = dir.path().join("out");
    let err_path = dir.path().join("err");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("a stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("a stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let deadline = Instant::now() + bound;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {bound:?}");
        }
        std::thread::sleep(POLL);
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(out_path).unwrap_or_default(),
        std::fs::read_to_string(err_path).unwrap_or_default(),
    )
}
