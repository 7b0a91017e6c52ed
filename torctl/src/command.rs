//! Encoding control-port commands (control-spec §2.2, §3).
//!
//! Every command is one line. Unquoted arguments are checked so that no CR, LF, space or other
//! control byte can smuggle a second command onto the connection; free-form values (passwords)
//! are always sent as QuotedStrings, escaped the way tor escapes.

use thiserror::Error;

use super::kv::quote;

/// Why a command could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// An unquoted argument was empty or contained a space, quote, CR, LF or other control byte.
    #[error("argument not allowed in a control command (empty, space, quote or control character)")]
    UnsafeArgument,
    /// A command keyword was not plain ASCII letters, digits or `_`.
    #[error("invalid control command keyword")]
    BadKeyword,
}

/// Signals accepted by `SIGNAL` (control-spec §3.7) that Persite sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Switch to clean circuits for new streams (New Identity).
    Newnym,
    /// Forget client-side cached DNS answers.
    ClearDnsCache,
    /// Do nothing; handy to test the signal path.
    Heartbeat,
}

impl Signal {
    fn keyword(self) -> &'static str {
        match self {
            Signal::Newnym => "NEWNYM",
            Signal::ClearDnsCache => "CLEARDNSCACHE",
            Signal::Heartbeat => "HEARTBEAT",
        }
    }
}

/// One encoded control-port command line.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    line: String,
    /// True when the line carries a secret (AUTHENTICATE) and must never be logged.
    secret: bool,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Arguments can be secrets or relay fingerprints; the keyword is enough for logs.
        write!(f, "Command({})", self.keyword())
    }
}

impl Command {
    /// Starts a command with `keyword` (e.g. `GETINFO`).
    pub fn new(keyword: &str) -> Result<Self, CommandError> {
        if keyword.is_empty()
            || !keyword
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'+')
        {
            return Err(CommandError::BadKeyword);
        }
        Ok(Command {
            line: keyword.to_owned(),
            secret: false,
        })
    }

    /// Appends an unquoted argument, refusing anything that could break the line.
    pub fn arg(mut self, word: &str) -> Result<Self, CommandError> {
        check_word(word)?;
        self.line.push(' ');
        self.line.push_str(word);
        Ok(self)
    }

    /// Appends a QuotedString argument; any bytes are safe.
    pub fn quoted(mut self, value: &[u8]) -> Self {
        self.line.push(' ');
        self.line.push_str(&quote(value));
        self
    }

    /// Marks the command as carrying a secret (kept out of `Debug`, already the default).
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// True when the command carries a secret.
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// The command keyword (first word).
    pub fn keyword(&self) -> &str {
        self.line.split(' ').next().unwrap_or("")
    }

    /// The bytes to write, including the trailing CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.line.len() + 2);
        out.extend_from_slice(self.line.as_bytes());
        out.extend_from_slice(b"\r\n");
        out
    }

    /// A line assembled inside this module tree from fixed text and hex digits only.
    pub(super) fn trusted(line: String) -> Self {
        debug_assert!(!line.contains(['\r', '\n']));
        Command {
            line,
            secret: false,
        }
    }

    /// `PROTOCOLINFO 1` (allowed once before authentication).
    pub fn protocolinfo() -> Self {
        Command {
            line: "PROTOCOLINFO 1".to_owned(),
            secret: false,
        }
    }

    /// `GETINFO key…`.
    pub fn getinfo<S: AsRef<str>>(keys: &[S]) -> Result<Self, CommandError> {
        keys.iter()
            .try_fold(Command::new("GETINFO")?, |c, k| c.arg(k.as_ref()))
    }

    /// `GETCONF key…`.
    pub fn getconf<S: AsRef<str>>(keys: &[S]) -> Result<Self, CommandError> {
        keys.iter()
            .try_fold(Command::new("GETCONF")?, |c, k| c.arg(k.as_ref()))
    }

    /// `SETEVENTS event…` (an empty list turns all events off).
    pub fn setevents<S: AsRef<str>>(events: &[S]) -> Result<Self, CommandError> {
        events
            .iter()
            .try_fold(Command::new("SETEVENTS")?, |c, e| c.arg(e.as_ref()))
    }

    /// `SIGNAL <signal>`.
    pub fn signal(signal: Signal) -> Self {
        Command {
            line: format!("SIGNAL {}", signal.keyword()),
            secret: false,
        }
    }
}

fn check_word(word: &str) -> Result<(), CommandError> {
    if word.is_empty()
        || word
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'"' || !b.is_ascii())
    {
        return Err(CommandError::UnsafeArgument);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_as_one_crlf_line() {
        let c = Command::getinfo(&["version", "net/listeners/socks"]).unwrap();
        assert_eq!(c.to_bytes(), b"GETINFO version net/listeners/socks\r\n");
        assert_eq!(
            Command::signal(Signal::Newnym).to_bytes(),
            b"SIGNAL NEWNYM\r\n"
        );
        assert_eq!(
            Command::setevents(&["CIRC", "STREAM"]).unwrap().to_bytes(),
            b"SETEVENTS CIRC STREAM\r\n"
        );
        assert_eq!(Command::protocolinfo().to_bytes(), b"PROTOCOLINFO 1\r\n");
    }

    #[test]
    fn injection_is_refused() {
        for bad in [
            "version\r\nSIGNAL HALT",
            "a\nb",
            "a b",
            "",
            "a\"b",
            "a\0",
            "é",
        ] {
            assert_eq!(
                Command::getinfo(&[bad]).unwrap_err(),
                CommandError::UnsafeArgument,
                "{bad:?}"
            );
        }
        assert_eq!(
            Command::new("GET INFO").unwrap_err(),
            CommandError::BadKeyword
        );
        assert_eq!(Command::new("").unwrap_err(), CommandError::BadKeyword);
    }

    #[test]
    fn quoted_arguments_escape_line_breaks() {
        let c = Command::new("AUTHENTICATE")
            .unwrap()
            .quoted(b"pa\"ss\r\nSIGNAL HALT")
            .secret();
        assert_eq!(
            c.to_bytes(),
            b"AUTHENTICATE \"pa\\\"ss\\r\\nSIGNAL HALT\"\r\n"
        );
        assert!(!format!("{c:?}").contains("pa"));
    }
}
