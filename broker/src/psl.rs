//! The Public Suffix List: which copy the broker uses, and registrable-domain lookups.
//!
//! Two copies can exist:
//! - the **vendored** list, `broker/data/public_suffix_list.dat`, embedded in the binary with
//!   `include_str!` (refreshed with `scripts/refresh-psl.sh`);
//! - the **system** list, `/usr/share/publicsuffix/public_suffix_list.dat` (Debian package
//!   `publicsuffix`), updated by the distribution after our release.
//!
//! Which wins: the newer one, and the vendored one on a tie or when the system copy's age is
//! unknown or it does not parse. A stale list merges sites that have since become separate
//! suffixes (e.g. a new hosting platform's `alice.example.app` and `bob.example.app` would share
//! a circuit), so the freshest known list is the safest; a list we cannot date is not trusted
//! over one we can. The date of a list is its upstream `// VERSION: YYYY-MM-DD_HH-MM-SS_UTC`
//! header. Debian's copy is built from the upstream repository, which has no such header, so for
//! the system copy only we fall back to the file's modification time: dpkg installs files with
//! the mtime recorded in the package, which is the snapshot date of the list (2023-02-09 for
//! `publicsuffix 20230209.2326-1`). The choice is the pure function [`choose_source`], tested on
//! its own.
//!
//! Lookups use the `publicsuffix` crate with its default `punycode` feature, which stores every
//! Unicode rule (`公司.cn`) a second time in its ASCII form (`xn--55qx5d.cn`), so the punycode
//! hosts the `url` crate produces match Unicode rules. Both the ICANN and the private section
//! count (`alice.github.io` and `bob.github.io` are different sites).

use std::path::Path;
use std::time::UNIX_EPOCH;

use publicsuffix::{List, Psl as _};

/// Where the system's copy of the list lives on Debian-family systems.
pub const SYSTEM_PSL_PATH: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

/// The vendored list, embedded at build time.
const VENDORED_PSL: &str = include_str!("../data/public_suffix_list.dat");

/// When a copy of the list was published, as Unix seconds (UTC).
pub type ListDate = i64;

/// Which copy of the list a [`Psl`] was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PslSource {
    /// The list embedded in the binary.
    Vendored,
    /// The distribution's list at [`SYSTEM_PSL_PATH`].
    System,
    /// A list handed to [`Psl::from_text`] (tests, tools).
    Custom,
}

/// Errors while building a [`Psl`].
#[derive(Debug, thiserror::Error)]
pub enum PslError {
    /// The list text could not be parsed.
    #[error("the public suffix list does not parse: {0}")]
    Parse(publicsuffix::Error),
}

/// A parsed Public Suffix List and where it came from.
pub struct Psl {
    list: List,
    source: PslSource,
    date: Option<ListDate>,
}

impl std::fmt::Debug for Psl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Psl")
            .field("source", &self.source)
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

impl Psl {
    /// Loads the newer of the vendored and the system list (see the module doc).
    pub fn load() -> Result<Psl, PslError> {
        Self::load_preferring(Path::new(SYSTEM_PSL_PATH))
    }

    /// Like [`Psl::load`], with the system copy read from `system_path`.
    pub fn load_preferring(system_path: &Path) -> Result<Psl, PslError> {
        let vendored_date = version_header_date(VENDORED_PSL);
        if let Some(text) = read_system_list(system_path) {
            let system_date = version_header_date(&text).or_else(|| file_mtime(system_path));
            if choose_source(vendored_date, system_date) == PslSource::System {
                // A system list that does not parse must not take the broker down.
                if let Ok(list) = text.parse::<List>() {
                    return Ok(Psl {
                        list,
                        source: PslSource::System,
                        date: system_date,
                    });
                }
            }
        }
        Self::vendored()
    }

    /// The list embedded in the binary.
    pub fn vendored() -> Result<Psl, PslError> {
        Ok(Psl {
            list: VENDORED_PSL.parse().map_err(PslError::Parse)?,
            source: PslSource::Vendored,
            date: version_header_date(VENDORED_PSL),
        })
    }

    /// A list parsed from `text` (for tests and tools).
    pub fn from_text(text: &str) -> Result<Psl, PslError> {
        Ok(Psl {
            list: text.parse().map_err(PslError::Parse)?,
            source: PslSource::Custom,
            date: version_header_date(text),
        })
    }

    /// Which copy this list was built from.
    pub fn source(&self) -> PslSource {
        self.source
    }

    /// When this copy was published, if known.
    pub fn date(&self) -> Option<ListDate> {
        self.date
    }

    /// The registrable domain (eTLD+1) of a lowercase ASCII host without trailing dot, or `None`
    /// when the host is itself a public suffix (or an unlisted single label).
    pub fn registrable_domain<'h>(&self, host: &'h str) -> Option<&'h str> {
        let domain = self.list.domain(host.as_bytes())?;
        // The bytes are a suffix of `host`, so slicing `host` keeps it a `&str`.
        host.get(host.len() - domain.as_bytes().len()..)
    }
}

/// Decides which copy of the list to use: the system one only when it is known to be strictly
/// newer than the vendored one.
pub fn choose_source(vendored: Option<ListDate>, system: Option<ListDate>) -> PslSource {
    match (vendored, system) {
        (Some(vendored), Some(system)) if system > vendored => PslSource::System,
        (None, Some(_)) => PslSource::System,
        _ => PslSource::Vendored,
    }
}

/// Reads the upstream `// VERSION: 2026-10-22_08-36-41_UTC` header of a list, if present and
/// well-formed. Only the first 4 KiB are searched: the header sits at the top.
pub fn version_header_date(list_text: &str) -> Option<ListDate> {
    let head = list_text
        .get(..list_text.len().min(4096))
        .unwrap_or(list_text);
    head.lines()
        .find_map(|line| line.strip_prefix("// VERSION: "))
        .and_then(|stamp| parse_version_stamp(stamp.trim()))
}

/// Parses `YYYY-MM-DD_HH-MM-SS_UTC` into Unix seconds.
fn parse_version_stamp(stamp: &str) -> Option<ListDate> {
    let rest = stamp.strip_suffix("_UTC")?;
    let (date, time) = rest.split_once('_')?;
    let mut date_parts = date.split('-').map(str::parse::<i32>);
    let (year, month, day) = (
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
    );
    let mut time_parts = time.split('-').map(str::parse::<u8>);
    let (hour, minute, second) = (
        time_parts.next()?.ok()?,
        time_parts.next()?.ok()?,
        time_parts.next()?.ok()?,
    );
    if date_parts.next().is_some() || time_parts.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Reads the system list; a missing, unreadable or oversized file counts as absent.
fn read_system_list(path: &Path) -> Option<String> {
    // The real list is ~350 KB; anything far larger is not a suffix list.
    const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_LIST_BYTES {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

fn file_mtime(path: &Path) -> Option<ListDate> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let secs = modified.duration_since(UNIX_EPOCH).ok()?.as_secs();
    ListDate::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_stamp_parses_to_unix_seconds() {
        // date -u -d 2026-10-22T08:36:41Z +%s
        assert_eq!(
            parse_version_stamp("2026-10-22_08-36-41_UTC"),
            Some(1_792_658_201)
        );
        assert_eq!(parse_version_stamp("2026-13-22_08-36-41_UTC"), None);
        assert_eq!(parse_version_stamp("2026-10-22_08-36-41"), None);
        assert_eq!(parse_version_stamp("2026-10-22_08-36-41-00_UTC"), None);
        assert_eq!(parse_version_stamp("garbage"), None);
    }

    #[test]
    fn vendored_list_has_a_version_header() {
        assert!(version_header_date(VENDORED_PSL).is_some());
    }
}
