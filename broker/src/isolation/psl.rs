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
//! Lookups follow the PSL algorithm (<https://publicsuffix.org/list/>): the longest matching
//! rule wins, an exception rule (`!city.kawasaki.jp`) beats all, an unlisted TLD is a suffix
//! (implicit `*`). Both the ICANN and the private section count (`alice.github.io` and
//! `bob.github.io` are different sites). Unicode rules (`公司.cn`) are stored in their punycode
//! form (`xn--55qx5d.cn`) because sites are always punycode (the `url` crate's host parser).
//!
//! The matcher is hand-written (about 60 lines) instead of using the `publicsuffix` crate
//! (2.3.0): that crate follows an explicit trie branch without considering a wildcard sibling,
//! so with the current list's `*.futurecms.at` + `*.ex.futurecms.at` it returns `futurecms.at`
//! for `ex.futurecms.at`, which is itself a public suffix, merging two sites. Here every suffix
//! of every rule is a key of one flat map (a trie flattened into a hash map), so a lookup costs
//! one hash probe per label and stops at the first suffix no rule extends.

use std::collections::HashMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Where the system's copy of the list lives on Debian-family systems.
pub const SYSTEM_PSL_PATH: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

/// The vendored list, embedded at build time.
const VENDORED_PSL: &str = include_str!("../../data/public_suffix_list.dat");

/// When a copy of the list was published, as Unix seconds (UTC).
pub(crate) type ListDate = i64;

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PslError {
    /// A line of the list is not a valid rule.
    #[error("the public suffix list has an invalid rule on line {line}: {rule:?}")]
    InvalidRule {
        /// 1-based line number.
        line: usize,
        /// The offending rule.
        rule: String,
    },
    /// The text holds no rules at all.
    #[error("the public suffix list holds no rules")]
    Empty,
}

/// What the rules say about one suffix (a map key).
#[derive(Debug, Clone, Copy, Default)]
struct RuleFlags {
    /// A rule names exactly this suffix (`co.uk`).
    exact: bool,
    /// A wildcard rule covers every child of this suffix (`*.kawasaki.jp` on `kawasaki.jp`).
    wildcard: bool,
    /// An exception rule names this suffix (`!city.kawasaki.jp`).
    exception: bool,
}

/// A parsed Public Suffix List and where it came from.
pub struct Psl {
    /// Every suffix of every rule, in punycode; entries without flags mark that longer rules
    /// exist below them.
    rules: HashMap<Box<str>, RuleFlags>,
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
                if let Ok(rules) = parse_rules(&text) {
                    return Ok(Psl {
                        rules,
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
            rules: parse_rules(VENDORED_PSL)?,
            source: PslSource::Vendored,
            date: version_header_date(VENDORED_PSL),
        })
    }

    /// A list parsed from `text` (for tests and tools).
    pub fn from_text(text: &str) -> Result<Psl, PslError> {
        Ok(Psl {
            rules: parse_rules(text)?,
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

    /// How many distinct suffixes (rules and their parents) the list holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the list holds no rules (never true for a loaded list).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The public suffix of a lowercase punycode host without trailing dot or empty labels.
    pub fn public_suffix<'h>(&self, host: &'h str) -> &'h str {
        &host[self.suffix_start(host)..]
    }

    /// The registrable domain (eTLD+1) of a lowercase punycode host without trailing dot or
    /// empty labels, or `None` when the host is itself a public suffix (or an unlisted TLD).
    pub fn registrable_domain<'h>(&self, host: &'h str) -> Option<&'h str> {
        let suffix_start = self.suffix_start(host);
        if suffix_start == 0 {
            return None;
        }
        let label_start = host[..suffix_start - 1].rfind('.').map_or(0, |dot| dot + 1);
        Some(&host[label_start..])
    }

    /// Byte offset where the public suffix of `host` starts.
    fn suffix_start(&self, host: &str) -> usize {
        // Walk from the TLD leftwards, one label at a time. The TLD is always a suffix (the
        // implicit `*` rule).
        let mut start = host.rfind('.').map_or(0, |dot| dot + 1);
        let mut suffix_start = start;
        let mut flags = self.rules.get(&host[start..]).copied();
        while start > 0 {
            let parent_start = start;
            let parent_has_wildcard = flags.is_some_and(|f| f.wildcard);
            start = host[..start - 1].rfind('.').map_or(0, |dot| dot + 1);
            flags = self.rules.get(&host[start..]).copied();
            match flags {
                Some(f) if f.exception => return parent_start,
                Some(f) if f.exact || parent_has_wildcard => suffix_start = start,
                Some(_) => {}
                None => {
                    if parent_has_wildcard {
                        suffix_start = start;
                    }
                    // No rule is longer than this one.
                    break;
                }
            }
        }
        suffix_start
    }
}

/// Parses the list format: one rule per line (first whitespace-separated word), `//` comments.
fn parse_rules(text: &str) -> Result<HashMap<Box<str>, RuleFlags>, PslError> {
    let mut rules: HashMap<Box<str>, RuleFlags> = HashMap::with_capacity(16 * 1024);
    for (index, line) in text.lines().enumerate() {
        let Some(rule) = line.split_whitespace().next() else {
            continue;
        };
        if rule.starts_with("//") {
            continue;
        }
        let invalid = || PslError::InvalidRule {
            line: index + 1,
            rule: rule.chars().take(100).collect(),
        };
        let (name, kind): (&str, fn(&mut RuleFlags)) = if let Some(name) = rule.strip_prefix('!') {
            (name, |f| f.exception = true)
        } else if let Some(name) = rule.strip_prefix("*.") {
            (name, |f| f.wildcard = true)
        } else {
            (rule, |f| f.exact = true)
        };
        if rule.starts_with('!') && !name.contains('.') {
            return Err(invalid());
        }
        let name = rule_to_ascii(name).ok_or_else(invalid)?;
        kind(rules.entry(Box::from(name.as_str())).or_default());
        // Mark every parent so lookups know longer rules exist below it.
        let mut rest = name.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            rules.entry(Box::from(parent)).or_default();
            rest = parent;
        }
    }
    if rules.is_empty() {
        return Err(PslError::Empty);
    }
    Ok(rules)
}

/// A rule's name in lowercase punycode, or `None` if it is not a valid domain name.
fn rule_to_ascii(name: &str) -> Option<String> {
    if name.is_empty()
        || name
            .split('.')
            .any(|label| label.is_empty() || label.contains('*'))
    {
        return None;
    }
    if name.is_ascii() {
        return Some(name.to_ascii_lowercase());
    }
    match url::Host::parse(name).ok()? {
        url::Host::Domain(ascii) => Some(ascii),
        _ => None,
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

    fn suffix_and_domain(psl: &Psl, host: &str) -> (String, Option<String>) {
        (
            psl.public_suffix(host).to_owned(),
            psl.registrable_domain(host).map(str::to_owned),
        )
    }

    #[test]
    fn rules_follow_the_psl_algorithm() {
        let psl = Psl::from_text(
            "com\nuk\nco.uk\n*.ck\n!www.ck\n*.futurecms.at\n*.ex.futurecms.at\nat\n\
             a.b.deep\n公司.cn\ncn\n",
        )
        .expect("list");
        let cases = [
            ("com", "com", None),
            ("example.com", "com", Some("example.com")),
            ("a.example.co.uk", "co.uk", Some("example.co.uk")),
            ("unlisted", "unlisted", None),
            ("x.unlisted", "unlisted", Some("x.unlisted")),
            ("test.ck", "test.ck", None),
            ("b.test.ck", "test.ck", Some("b.test.ck")),
            ("www.ck", "ck", Some("www.ck")),
            ("a.www.ck", "ck", Some("www.ck")),
            ("futurecms.at", "at", Some("futurecms.at")),
            ("ex.futurecms.at", "ex.futurecms.at", None),
            ("x.ex.futurecms.at", "x.ex.futurecms.at", None),
            (
                "y.x.ex.futurecms.at",
                "x.ex.futurecms.at",
                Some("y.x.ex.futurecms.at"),
            ),
            ("b.deep", "deep", Some("b.deep")),
            ("a.b.deep", "a.b.deep", None),
            ("z.a.b.deep", "a.b.deep", Some("z.a.b.deep")),
            ("xn--55qx5d.cn", "xn--55qx5d.cn", None),
            ("a.xn--55qx5d.cn", "xn--55qx5d.cn", Some("a.xn--55qx5d.cn")),
        ];
        for (host, suffix, domain) in cases {
            assert_eq!(
                suffix_and_domain(&psl, host),
                (suffix.to_owned(), domain.map(str::to_owned)),
                "{host}"
            );
        }
    }

    #[test]
    fn invalid_rules_are_refused() {
        for text in [
            "a.*.b\n",
            "!nodot\n",
            "a..b\n",
            "\n// only comments\n",
            "exa mple\n",
        ] {
            // "exa mple": only the first word is the rule, so that one is valid.
            if text.starts_with("exa") {
                assert!(Psl::from_text(text).is_ok());
            } else {
                assert!(Psl::from_text(text).is_err(), "{text:?}");
            }
        }
    }

    #[test]
    fn vendored_list_has_a_version_header() {
        assert!(version_header_date(VENDORED_PSL).is_some());
    }
}
