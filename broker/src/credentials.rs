//! SOCKS credentials derived from a secret key: stable per (site, container), unlinkable to the
//! site without the key, never stored.
//!
//! `username = enc(blake3_keyed(key, fields(PURPOSE="persite.v1.username", SITE, CONTAINER
//! [, TAB])))`, `password = enc(blake3_keyed(key, fields(PURPOSE="persite.v1.password", SITE,
//! CONTAINER, GENERATION, EPOCH [, TAB] [, ROTATION])))`, where `enc` is base64url without
//! padding (43 characters of `A–Z a–z 0–9 - _` for the 32-byte hash).
//!
//! TAB (tag 5, the tab id as i64 big-endian) is present only for sites with a per-tab policy,
//! in both username and password, so each tab is its own isolation key. ROTATION (tag 6, u64
//! big-endian) is present only once the credential set rotated by policy (counter ≥ 1), so
//! keep-alive credentials are exactly what they were before policies existed.
//!
//! The hashed input is a sequence of tagged, length-prefixed fields `tag:u8 ‖ len:u32be ‖ bytes`
//! in strictly increasing tag order. That encoding is injective (no two field lists give the
//! same bytes), the PURPOSE field separates usernames from passwords, and a later policy can add
//! a field (a tab id, a rotation counter: tags reserved below) without ambiguity; it is included
//! only when the policy uses it, so credentials of everyone else stay as they were.
//!
//! Why these rules hold by construction: the alphabet has no `<` (Tor reserves `<torS0X>`) and
//! no `.`, `:` or `[` (so no domain, host or IP literal can appear inside), the length is fixed
//! at 43 bytes (never empty, far below Firefox's and SOCKS5's 255-byte limit).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::container::Container;
use crate::site::Site;

/// Length in bytes of every username and password.
pub const CREDENTIAL_LEN: usize = 43;
/// The SOCKS5 / Firefox limit that credentials must stay under.
pub const MAX_SOCKS_CREDENTIAL_LEN: usize = 255;
const _: () = assert!(CREDENTIAL_LEN > 0 && CREDENTIAL_LEN <= MAX_SOCKS_CREDENTIAL_LEN);

/// Field tags of the hashed encoding. Never renumber; add new tags at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum FieldTag {
    /// Domain separation: what the hash is used for.
    Purpose = 0,
    /// The site, as text.
    Site = 1,
    /// The container's cookie store id, as text.
    Container = 2,
    /// The site's "new circuit" counter.
    Generation = 3,
    /// The "new identity" counter.
    Epoch = 4,
    /// The tab id, for sites with a per-tab policy.
    Tab = 5,
    /// The credential set's policy rotation counter (max-age / max-bytes), when ≥ 1.
    Rotation = 6,
}

const USERNAME_PURPOSE: &[u8] = b"persite.v1.username";
const PASSWORD_PURPOSE: &[u8] = b"persite.v1.password";

/// The secret derivation key, held only in memory. Its `Debug` output never shows it.
#[derive(Clone)]
pub struct DerivationKey([u8; 32]);

impl DerivationKey {
    /// A fresh key from the operating system's random generator.
    pub fn random() -> Result<DerivationKey, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(DerivationKey(key))
    }

    /// A key from known bytes (tests, benchmarks, reproducible tools).
    pub fn from_bytes(key: [u8; 32]) -> DerivationKey {
        DerivationKey(key)
    }
}

impl std::fmt::Debug for DerivationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivationKey(<secret>)")
    }
}

/// A raw 32-byte credential hash; [`encode`] turns it into the SOCKS text.
pub type Digest = [u8; 32];

/// The username hash of (site, container[, tab]).
pub fn username_digest(
    key: &DerivationKey,
    site: &Site,
    container: &Container,
    tab: Option<i64>,
) -> Digest {
    let mut fields = Fields::new(key, USERNAME_PURPOSE);
    fields.site_and_container(site, container);
    if let Some(tab) = tab {
        fields.field(FieldTag::Tab, &tab.to_be_bytes());
    }
    fields.finish()
}

/// What a password changes with, besides the site and container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PasswordCounters {
    /// The site's "new circuit" counter.
    pub generation: u64,
    /// The "new identity" counter.
    pub epoch: u64,
    /// The tab, for sites with a per-tab policy.
    pub tab: Option<i64>,
    /// The credential set's policy rotation counter (0: never rotated, field left out).
    pub rotation: u64,
}

/// The password hash of (site, container, counters).
pub fn password_digest(
    key: &DerivationKey,
    site: &Site,
    container: &Container,
    counters: PasswordCounters,
) -> Digest {
    let mut fields = Fields::new(key, PASSWORD_PURPOSE);
    fields.site_and_container(site, container);
    fields.field(FieldTag::Generation, &counters.generation.to_be_bytes());
    fields.field(FieldTag::Epoch, &counters.epoch.to_be_bytes());
    if let Some(tab) = counters.tab {
        fields.field(FieldTag::Tab, &tab.to_be_bytes());
    }
    if counters.rotation != 0 {
        fields.field(FieldTag::Rotation, &counters.rotation.to_be_bytes());
    }
    fields.finish()
}

/// The SOCKS text of a hash: base64url without padding, [`CREDENTIAL_LEN`] bytes.
pub fn encode(digest: &Digest) -> String {
    URL_SAFE_NO_PAD.encode(digest)
}

/// The hash back from its SOCKS text, if it is one.
pub fn decode(text: &str) -> Option<Digest> {
    if text.len() != CREDENTIAL_LEN {
        return None;
    }
    let mut digest = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut digest) {
        Ok(32) => Some(digest),
        _ => None,
    }
}

/// Bytes of encoded fields kept on the stack; today's largest input (a 253-byte site with every
/// field) is about 370 bytes.
const INLINE_INPUT: usize = 512;

/// Collects tagged fields, checking their order, and hashes them with one `blake3::keyed_hash`
/// call. Why not stream into a `blake3::Hasher`: it is ~2 KB, and moving it around cost more
/// than the hashing itself (profiled: `memmove` was the top symbol).
struct Fields<'k> {
    key: &'k DerivationKey,
    buf: [u8; INLINE_INPUT],
    len: usize,
    /// Takes over once the input outgrows `buf`; no field today can make it do so.
    spill: Option<Box<blake3::Hasher>>,
    last: FieldTag,
}

impl<'k> Fields<'k> {
    fn new(key: &'k DerivationKey, purpose: &[u8]) -> Fields<'k> {
        let mut fields = Fields {
            key,
            buf: [0; INLINE_INPUT],
            len: 0,
            spill: None,
            last: FieldTag::Purpose,
        };
        fields.write(FieldTag::Purpose, purpose);
        fields
    }

    fn site_and_container(&mut self, site: &Site, container: &Container) {
        self.field(FieldTag::Site, site.as_str().as_bytes());
        let mut buf = [0u8; 32];
        self.field(FieldTag::Container, container.encode(&mut buf));
    }

    fn field(&mut self, tag: FieldTag, bytes: &[u8]) {
        debug_assert!(tag > self.last, "fields must come in increasing tag order");
        self.last = tag;
        self.write(tag, bytes);
    }

    fn write(&mut self, tag: FieldTag, bytes: &[u8]) {
        // Sites are at most 253 bytes and containers 28; u32 leaves room for any future field.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes();
        let end = self.len + 1 + len.len() + bytes.len();
        if self.spill.is_none() && end <= INLINE_INPUT {
            self.buf[self.len] = tag as u8;
            self.buf[self.len + 1..self.len + 5].copy_from_slice(&len);
            self.buf[self.len + 5..end].copy_from_slice(bytes);
            self.len = end;
            return;
        }
        let hasher = self.spill.get_or_insert_with(|| {
            let mut hasher = Box::new(blake3::Hasher::new_keyed(&self.key.0));
            hasher.update(&self.buf[..self.len]);
            hasher
        });
        hasher.update(&[tag as u8]);
        hasher.update(&len);
        hasher.update(bytes);
    }

    fn finish(self) -> Digest {
        match self.spill {
            Some(hasher) => *hasher.finalize().as_bytes(),
            None => *blake3::keyed_hash(&self.key.0, &self.buf[..self.len]).as_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_has_the_promised_shape() {
        let digest = [0xfb; 32];
        let text = encode(&digest);
        assert_eq!(text.len(), CREDENTIAL_LEN);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode(&text), Some(digest));
        assert_eq!(decode("short"), None);
        assert_eq!(decode(&"!".repeat(CREDENTIAL_LEN)), None);
    }

    #[test]
    fn encoding_is_the_documented_tlv() {
        // Recompute one password by hand from the documented layout.
        let key = DerivationKey::from_bytes([7; 32]);
        let psl = crate::psl::Psl::vendored().expect("vendored list");
        let site = Site::of("https://www.example.com/", &psl).expect("site");
        let mut input = Vec::new();
        for (tag, bytes) in [
            (0u8, &b"persite.v1.password"[..]),
            (1, b"example.com"),
            (2, b"firefox-container-12"),
            (3, &5u64.to_be_bytes()),
            (4, &9u64.to_be_bytes()),
        ] {
            input.push(tag);
            input.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            input.extend_from_slice(bytes);
        }
        let expected = *blake3::keyed_hash(&[7; 32], &input).as_bytes();
        let container = Container::parse("firefox-container-12").expect("container");
        let counters = PasswordCounters {
            generation: 5,
            epoch: 9,
            ..PasswordCounters::default()
        };
        assert_eq!(password_digest(&key, &site, &container, counters), expected);

        // Per-tab and rotated: TAB (5) then ROTATION (6) appended in tag order.
        for (tag, bytes) in [(5u8, (-3i64).to_be_bytes()), (6, 2u64.to_be_bytes())] {
            input.push(tag);
            input.extend_from_slice(&8u32.to_be_bytes());
            input.extend_from_slice(&bytes);
        }
        let expected = *blake3::keyed_hash(&[7; 32], &input).as_bytes();
        let counters = PasswordCounters {
            tab: Some(-3),
            rotation: 2,
            ..counters
        };
        assert_eq!(password_digest(&key, &site, &container, counters), expected);
    }

    #[test]
    fn tab_enters_the_username_only_when_given() {
        let key = DerivationKey::from_bytes([7; 32]);
        let psl = crate::psl::Psl::vendored().expect("vendored list");
        let site = Site::of("https://example.com/", &psl).expect("site");
        let c = Container::Default;
        let mut input = Vec::new();
        for (tag, bytes) in [
            (0u8, &b"persite.v1.username"[..]),
            (1, b"example.com"),
            (2, b"firefox-default"),
            (5, &42i64.to_be_bytes()),
        ] {
            input.push(tag);
            input.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            input.extend_from_slice(bytes);
        }
        let expected = *blake3::keyed_hash(&[7; 32], &input).as_bytes();
        assert_eq!(username_digest(&key, &site, &c, Some(42)), expected);
        assert_ne!(username_digest(&key, &site, &c, None), expected);
    }

    #[test]
    fn inputs_beyond_the_inline_buffer_hash_the_same_bytes() {
        let key = DerivationKey::from_bytes([2; 32]);
        let big = vec![b'x'; INLINE_INPUT * 2];
        let mut fields = Fields::new(&key, b"purpose");
        fields.field(FieldTag::Site, b"example.com");
        fields.field(FieldTag::Container, &big);
        let mut input = Vec::new();
        for (tag, bytes) in [(0u8, &b"purpose"[..]), (1, b"example.com"), (2, &big)] {
            input.push(tag);
            input.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            input.extend_from_slice(bytes);
        }
        assert_eq!(
            fields.finish(),
            *blake3::keyed_hash(&[2; 32], &input).as_bytes()
        );
    }
}
