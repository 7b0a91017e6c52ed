//! Firefox cookie store ids (`cookieStoreId`): the default store, private windows and containers;
//! and the application contexts of programs outside the browser (`app:NAME`: the SOCKS front's
//! contexts and `persite run --as NAME`), which get credentials of their own for every site in
//! the same way.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use crate::isolation::error::IsolationError;

const DEFAULT_ID: &str = "firefox-default";
const PRIVATE_ID: &str = "firefox-private";
const CONTAINER_PREFIX: &str = "firefox-container-";
const APP_PREFIX: &str = "app:";

pub(crate) use persite_protocol::limits::MAX_APP_NAME_LEN;

/// Longest canonical id ([`Container::encode`]'s buffer size).
pub(crate) const ENCODED_MAX: usize = APP_PREFIX.len() + MAX_APP_NAME_LEN;

/// The name of an application context: 1 to 64 printable ASCII characters (no spaces), such
/// as a program's name. `Copy` and fixed-size, like the rest of [`Container`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName {
    len: u8,
    bytes: [u8; MAX_APP_NAME_LEN],
}

impl AppName {
    /// Checks a name; anything else is an `invalid_container` error.
    pub fn parse(name: &str) -> Result<AppName, IsolationError> {
        let raw = name.as_bytes();
        if raw.is_empty() || raw.len() > MAX_APP_NAME_LEN || !raw.iter().all(u8::is_ascii_graphic) {
            return Err(IsolationError::invalid_container(&format!(
                "{APP_PREFIX}{name}"
            )));
        }
        let mut bytes = [0u8; MAX_APP_NAME_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(AppName {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (parse).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppName({:?})", self.as_str())
    }
}

/// A Firefox cookie store: each gets its own credentials for the same site.
///
/// Only the canonical spelling is accepted: `firefox-container-N` with N a decimal `userContextId`
/// from 1 to 4294967295 without leading zeros, so one container has exactly one name (and one
/// key). 0 is refused: `userContextId` 0 is the default store, spelled `firefox-default`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Container {
    /// `firefox-default`: ordinary windows outside any container.
    #[default]
    Default,
    /// `firefox-private`: private windows.
    Private,
    /// `firefox-container-N`: a contextual identity (container tab).
    Numbered(NonZeroU32),
    /// `app:NAME`: an application context outside the browser.
    App(AppName),
}

impl Container {
    /// Parses a cookie store id or `app:NAME`; anything else is an `invalid_container` error.
    pub fn parse(id: &str) -> Result<Container, IsolationError> {
        if let Some(name) = id.strip_prefix(APP_PREFIX) {
            return AppName::parse(name).map(Container::App);
        }
        match id {
            DEFAULT_ID => Ok(Container::Default),
            PRIVATE_ID => Ok(Container::Private),
            _ => id
                .strip_prefix(CONTAINER_PREFIX)
                .filter(|n| !n.is_empty() && !n.starts_with('0'))
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<NonZeroU32>().ok())
                .map(Container::Numbered)
                .ok_or_else(|| IsolationError::invalid_container(id)),
        }
    }

    /// The application context of a program outside the browser.
    pub fn app(name: &str) -> Result<Container, IsolationError> {
        AppName::parse(name).map(Container::App)
    }

    /// Writes the canonical id into `buf` without allocating; returns the written bytes.
    pub(crate) fn encode<'b>(&self, buf: &'b mut [u8; ENCODED_MAX]) -> &'b [u8] {
        let (prefix, number) = match self {
            Container::Default => (DEFAULT_ID, None),
            Container::Private => (PRIVATE_ID, None),
            Container::Numbered(n) => (CONTAINER_PREFIX, Some(n.get())),
            Container::App(name) => {
                let len = APP_PREFIX.len() + name.as_str().len();
                buf[..APP_PREFIX.len()].copy_from_slice(APP_PREFIX.as_bytes());
                buf[APP_PREFIX.len()..len].copy_from_slice(name.as_str().as_bytes());
                return &buf[..len];
            }
        };
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        let mut len = prefix.len();
        if let Some(mut n) = number {
            let mut digits = [0u8; 10];
            let mut count = 0;
            loop {
                digits[count] = b'0' + (n % 10) as u8;
                count += 1;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            for digit in digits[..count].iter().rev() {
                buf[len] = *digit;
                len += 1;
            }
        }
        &buf[..len]
    }
}

impl FromStr for Container {
    type Err = IsolationError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        Container::parse(id)
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Container::Default => f.write_str(DEFAULT_ID),
            Container::Private => f.write_str(PRIVATE_ID),
            Container::Numbered(n) => write!(f, "{CONTAINER_PREFIX}{n}"),
            Container::App(name) => write!(f, "{APP_PREFIX}{}", name.as_str()),
        }
    }
}

impl serde::Serialize for Container {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ids_round_trip() {
        for id in [
            "firefox-default",
            "firefox-private",
            "firefox-container-1",
            "firefox-container-42",
            "firefox-container-4294967295",
            "app:git",
            "app:apt-get",
            &format!("app:{}", "x".repeat(MAX_APP_NAME_LEN)),
        ] {
            let container = Container::parse(id).expect(id);
            assert_eq!(container.to_string(), id);
            let mut buf = [0; ENCODED_MAX];
            assert_eq!(container.encode(&mut buf), id.as_bytes());
        }
    }

    #[test]
    fn other_ids_are_refused() {
        for id in [
            "",
            "default",
            "Firefox-Default",
            "firefox-default ",
            "firefox-container-",
            "firefox-container-0",
            "firefox-container-01",
            "firefox-container-+1",
            "firefox-container--1",
            "firefox-container-1a",
            "firefox-container-4294967296",
            "firefox-container-١",
            "firefox-private\0",
            "app:",
            "app:two words",
            "app:ünï",
            &format!("app:{}", "x".repeat(MAX_APP_NAME_LEN + 1)),
        ] {
            let error = Container::parse(id).expect_err(id);
            assert_eq!(error.code(), "invalid_container", "{id:?}");
        }
    }
}
