//! The browser session a request comes from: an opaque random value the extension makes once
//! per browser session (and once per private browsing session), kept only in memory, and sends
//! with `credentials` and `tab_closed` (`docs/protocol.md` §2.1).
//!
//! The broker folds it into the keyed derivation ([`crate::isolation::credentials`]), so a new browser
//! session, a second profile or a second browser sharing the daemon, and each private browsing
//! session get credentials of their own for every site. It is a secret of the session's
//! extension: never written to disk, never logged (its `Debug` hides it), never sent back.
//!
//! Accepted values: 16 to 64 characters of base64url (`A–Z a–z 0–9 - _`). The extension sends
//! 22 (128 random bits); the bounds keep the hashed input small and turn anything else (a
//! hand-made or garbled value) into a clear `invalid_field` error.

pub(crate) use persite_protocol::limits::{MAX_SESSION_LEN, MIN_SESSION_LEN};

/// A validated session value; see the module doc. `Copy`, fixed size, and its `Debug` output
/// never shows the value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Session {
    len: u8,
    bytes: [u8; MAX_SESSION_LEN],
}

/// Why a session value was refused (the value itself is never repeated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSession;

impl std::fmt::Display for InvalidSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "field `session` must be {MIN_SESSION_LEN} to {MAX_SESSION_LEN} characters of \
             A-Z a-z 0-9 - _ (the extension makes it; leave it out to get the credentials \
             shared by every session)"
        )
    }
}

impl std::error::Error for InvalidSession {}

impl Session {
    /// Checks a wire value: length and alphabet (module doc).
    pub fn parse(text: &str) -> Result<Session, InvalidSession> {
        let raw = text.as_bytes();
        if !(MIN_SESSION_LEN..=MAX_SESSION_LEN).contains(&raw.len())
            || !raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(InvalidSession);
        }
        let mut bytes = [0u8; MAX_SESSION_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(Session {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The value's bytes, for the derivation only.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_base64url_of_the_bounded_length_only() {
        let ok = "AbCdEfGhIjKlMn-_09xyzQ";
        assert_eq!(Session::parse(ok).expect("valid").as_bytes(), ok.as_bytes());
        assert!(Session::parse(&"a".repeat(MIN_SESSION_LEN)).is_ok());
        assert!(Session::parse(&"a".repeat(MAX_SESSION_LEN)).is_ok());
        for bad in [
            String::new(),
            "a".repeat(MIN_SESSION_LEN - 1),
            "a".repeat(MAX_SESSION_LEN + 1),
            format!("{}=", "a".repeat(20)),
            format!("{}.", "a".repeat(20)),
            format!("{} ", "a".repeat(20)),
            format!("{}é", "a".repeat(20)),
            format!("<{}", "a".repeat(20)),
        ] {
            assert_eq!(Session::parse(&bad), Err(InvalidSession), "{bad:?}");
        }
    }

    #[test]
    fn debug_and_errors_never_show_the_value() {
        let value = "SecretSessionValue0123";
        let session = Session::parse(value).expect("valid");
        assert!(!format!("{session:?}").contains(value));
        assert!(!format!("{:?}", Some(session)).contains("Secret"));
        assert!(!InvalidSession.to_string().contains(value));
    }

    #[test]
    fn equal_values_are_equal_sessions() {
        let a = Session::parse("aaaaaaaaaaaaaaaaaaaaaa").expect("valid");
        let b = Session::parse("aaaaaaaaaaaaaaaaaaaaab").expect("valid");
        assert_eq!(a, Session::parse("aaaaaaaaaaaaaaaaaaaaaa").expect("valid"));
        assert_ne!(a, b);
        // A prefix is another session, not the same one padded.
        assert_ne!(
            Session::parse("aaaaaaaaaaaaaaaa").expect("valid"),
            Session::parse("aaaaaaaaaaaaaaaaa").expect("valid")
        );
    }
}
