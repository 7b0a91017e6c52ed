//! SOCKS credentials derived from a secret key: stable per (site, container), unlinkable to the
//! site without the key, never stored.
//!
//! `username = enc(blake3_keyed(key, fields(PURPOSE="user", SITE, CONTAINER [, TAB] [, SESSION])))`,
//! `password = enc(blake3_keyed(key, fields(PURPOSE="pass", SITE, CONTAINER, GENERATION, EPOCH
//! [, TAB] [, ROTATION] [, TAB_ERA] [, TAB_LIFE] [, SESSION])))`, where `enc` is base64url
//! without padding (43 characters of `A–Z a–z 0–9 - _` for the 32-byte hash).
//!
//! TAB (tag 5, the tab id zigzag-encoded) is present only for sites with a per-tab policy, in
//! both username and password, so each tab is its own isolation key. ROTATION (tag 6) is
//! present only once the credential set rotated by policy (counter ≥ 1), so keep-alive
//! credentials are exactly what they were before policies existed. SESSION (tag 9, the
//! [`Session`] value's bytes) is present, in both username and password, whenever the request
//! named its browser session: each browser session, profile and private browsing session then
//! has its own credentials for every site, and requests without one (older clients, the
//! `persite creds` command) keep the credentials shared by all of them.
//!
//! The hashed input is a sequence of tagged, length-prefixed fields `tag:u8 ‖ len ‖ bytes` in
//! strictly increasing tag order, `len` an unsigned LEB128 varint; numbers are written as
//! minimal unsigned LEB128 varints. That encoding is injective (no two field lists give the same
//! bytes), the PURPOSE field separates usernames from passwords, and a later policy can add a
//! field without ambiguity; it is included only when the policy uses it, so credentials of
//! everyone else stay as they were. It is compact on purpose: blake3 compresses 64-byte blocks,
//! and with short purposes and varints a password for a site of up to 33 bytes (a username: 39)
//! is one block instead of two, a third less hashing per request.
//!
//! Why these rules hold by construction: the alphabet has no `<` (Tor reserves `<torS0X>`) and
//! no `.`, `:` or `[` (so no domain, host or IP literal can appear inside), the length is fixed
//! at 43 bytes (never empty, far below Firefox's and SOCKS5's 255-byte limit).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroize;

use crate::isolation::container::Container;
use crate::isolation::session::Session;
use crate::isolation::site::Site;

/// Length in bytes of every username and password.
pub const CREDENTIAL_LEN: usize = 43;
/// The SOCKS5 / Firefox limit that credentials must stay under.
pub const MAX_SOCKS_CREDENTIAL_LEN: usize = persite_protocol::limits::MAX_CREDENTIAL_BYTES;
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
    /// How often the browser's tab ids started over (`hello` with `tabs_reset`), when ≥ 1;
    /// per-tab passwords only.
    TabEra = 7,
    /// How often this tab id was closed (`tab_closed`) in the current tab era, when ≥ 1;
    /// per-tab passwords only.
    TabLife = 8,
    /// The browser session the request came from ([`Session`]), when it named one; username
    /// and password.
    Session = 9,
}

const USERNAME_PURPOSE: &[u8] = b"user";
const PASSWORD_PURPOSE: &[u8] = b"pass";

/// The secret derivation key, held only in memory. Its `Debug` output never shows it; it is
/// not `Clone` (one copy, owned by the isolator) and is overwritten with zeros when dropped.
pub(crate) struct DerivationKey([u8; 32]);

impl DerivationKey {
    /// A fresh key from the operating system's random generator, filled in place (no copy of
    /// it is left on the stack).
    pub(crate) fn random() -> Result<DerivationKey, getrandom::Error> {
        let mut key = DerivationKey([0u8; 32]);
        getrandom::fill(&mut key.0)?;
        Ok(key)
    }

    /// A key from known bytes (tests, benchmarks, reproducible tools).
    pub(crate) fn from_bytes(key: [u8; 32]) -> DerivationKey {
        DerivationKey(key)
    }
}

impl Drop for DerivationKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for DerivationKey {}

impl std::fmt::Debug for DerivationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivationKey(<secret>)")
    }
}

/// A raw 32-byte credential hash; [`encode`] turns it into the SOCKS text.
pub(crate) type Digest = [u8; 32];

/// The username hash of (site, container[, tab][, session]).
pub(crate) fn username_digest(
    key: &DerivationKey,
    site: &Site,
    container: &Container,
    tab: Option<i64>,
    session: Option<&Session>,
) -> Digest {
    let mut fields = Fields::new(key, USERNAME_PURPOSE);
    fields.site_and_container(site, container);
    if let Some(tab) = tab {
        fields.number(FieldTag::Tab, zigzag(tab));
    }
    if let Some(session) = session {
        fields.field(FieldTag::Session, session.as_bytes());
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
    /// The tab era (0: tab ids never started over, field left out); only with `tab`.
    pub tab_era: u64,
    /// How often `tab` was closed in this era (0: never, field left out); only with `tab`.
    pub tab_life: u64,
}

/// The password hash of (site, container, counters[, session]).
pub(crate) fn password_digest(
    key: &DerivationKey,
    site: &Site,
    container: &Container,
    counters: PasswordCounters,
    session: Option<&Session>,
) -> Digest {
    let mut fields = Fields::new(key, PASSWORD_PURPOSE);
    fields.site_and_container(site, container);
    fields.number(FieldTag::Generation, counters.generation);
    fields.number(FieldTag::Epoch, counters.epoch);
    if let Some(tab) = counters.tab {
        fields.number(FieldTag::Tab, zigzag(tab));
    }
    if counters.rotation != 0 {
        fields.number(FieldTag::Rotation, counters.rotation);
    }
    if counters.tab.is_some() {
        if counters.tab_era != 0 {
            fields.number(FieldTag::TabEra, counters.tab_era);
        }
        if counters.tab_life != 0 {
            fields.number(FieldTag::TabLife, counters.tab_life);
        }
    }
    if let Some(session) = session {
        fields.field(FieldTag::Session, session.as_bytes());
    }
    fields.finish()
}

/// The SOCKS text of a hash: base64url without padding, [`CREDENTIAL_LEN`] bytes.
pub(crate) fn encode(digest: &Digest) -> String {
    URL_SAFE_NO_PAD.encode(digest)
}

/// The hash back from its SOCKS text, if it is one.
pub(crate) fn decode(text: &str) -> Option<Digest> {
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
        let mut buf = [0u8; crate::isolation::container::ENCODED_MAX];
        self.field(FieldTag::Container, container.encode(&mut buf));
    }

    fn number(&mut self, tag: FieldTag, value: u64) {
        let mut buf = [0u8; 10];
        let len = leb128(value, &mut buf);
        self.field(tag, &buf[..len]);
    }

    fn field(&mut self, tag: FieldTag, bytes: &[u8]) {
        debug_assert!(tag > self.last, "fields must come in increasing tag order");
        self.last = tag;
        self.write(tag, bytes);
    }

    fn write(&mut self, tag: FieldTag, bytes: &[u8]) {
        let mut len_buf = [0u8; 10];
        let len_len = leb128(bytes.len() as u64, &mut len_buf);
        let len = &len_buf[..len_len];
        let end = self.len + 1 + len.len() + bytes.len();
        if self.spill.is_none() && end <= INLINE_INPUT {
            self.buf[self.len] = tag as u8;
            let value_start = self.len + 1 + len.len();
            self.buf[self.len + 1..value_start].copy_from_slice(len);
            self.buf[value_start..end].copy_from_slice(bytes);
            self.len = end;
            return;
        }
        let hasher = self.spill.get_or_insert_with(|| {
            let mut hasher = Box::new(blake3::Hasher::new_keyed(&self.key.0));
            hasher.update(&self.buf[..self.len]);
            hasher
        });
        hasher.update(&[tag as u8]);
        hasher.update(len);
        hasher.update(bytes);
    }

    fn finish(self) -> Digest {
        match self.spill {
            Some(hasher) => *hasher.finalize().as_bytes(),
            None => *blake3::keyed_hash(&self.key.0, &self.buf[..self.len]).as_bytes(),
        }
    }
}

/// Unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte.
/// Returns the number of bytes written.
fn leb128(mut value: u64, out: &mut [u8; 10]) -> usize {
    let mut len = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[len] = byte;
            return len + 1;
        }
        out[len] = byte | 0x80;
        len += 1;
    }
}

/// Zigzag: small negative tab ids (Firefox uses -1 for "no tab") stay short.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    // The key is wiped on drop and cannot be copied around: checked at compile time.
    static_assertions::assert_impl_all!(DerivationKey: zeroize::ZeroizeOnDrop, Send, Sync);
    static_assertions::assert_not_impl_any!(DerivationKey: Clone, Copy);

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

    /// The documented layout, written independently of `Fields`: tag, LEB128 length, bytes.
    fn tlv(fields: &[(u8, &[u8])]) -> Vec<u8> {
        let mut input = Vec::new();
        for (tag, bytes) in fields {
            input.push(*tag);
            let mut len = bytes.len();
            while len >= 0x80 {
                input.push((len as u8 & 0x7f) | 0x80);
                len >>= 7;
            }
            input.push(len as u8);
            input.extend_from_slice(bytes);
        }
        input
    }

    #[test]
    fn encoding_is_the_documented_tlv() {
        // Recompute passwords by hand from the documented layout.
        let key = DerivationKey::from_bytes([7; 32]);
        let psl = crate::isolation::psl::Psl::vendored().expect("vendored list");
        let site = Site::of("https://www.example.com/", &psl).expect("site");
        let container = Container::parse("firefox-container-12").expect("container");
        let mut fields: Vec<(u8, &[u8])> = vec![
            (0, b"pass"),
            (1, b"example.com"),
            (2, b"firefox-container-12"),
            (3, &[5]),
            (4, &[0xac, 0x02]), // 300 in LEB128
        ];
        let input = tlv(&fields);
        assert!(input.len() <= 64, "one blake3 block: {} bytes", input.len());
        let counters = PasswordCounters {
            generation: 5,
            epoch: 300,
            ..PasswordCounters::default()
        };
        assert_eq!(
            password_digest(&key, &site, &container, counters, None),
            *blake3::keyed_hash(&[7; 32], &input).as_bytes()
        );

        // Per-tab and rotated: TAB (5, zigzag(-3) = 5) then ROTATION (6) in tag order.
        fields.extend([(5u8, &[5u8][..]), (6, &[2u8][..])]);
        let counters = PasswordCounters {
            tab: Some(-3),
            rotation: 2,
            ..counters
        };
        assert_eq!(
            password_digest(&key, &site, &container, counters, None),
            *blake3::keyed_hash(&[7; 32], &tlv(&fields)).as_bytes()
        );

        // A tab in its second era, closed once before: TAB_ERA (7) then TAB_LIFE (8).
        fields.extend([(7u8, &[2u8][..]), (8, &[1u8][..])]);
        let counters = PasswordCounters {
            tab_era: 2,
            tab_life: 1,
            ..counters
        };
        assert_eq!(
            password_digest(&key, &site, &container, counters, None),
            *blake3::keyed_hash(&[7; 32], &tlv(&fields)).as_bytes()
        );

        // The tab counters mean nothing without a tab: left out.
        let shared = PasswordCounters {
            tab: None,
            tab_era: 2,
            tab_life: 1,
            ..counters
        };
        assert_eq!(
            password_digest(&key, &site, &container, shared, None),
            password_digest(
                &key,
                &site,
                &container,
                PasswordCounters {
                    tab_era: 0,
                    tab_life: 0,
                    ..shared
                },
                None
            )
        );
    }

    #[test]
    fn tab_enters_the_username_only_when_given() {
        let key = DerivationKey::from_bytes([7; 32]);
        let psl = crate::isolation::psl::Psl::vendored().expect("vendored list");
        let site = Site::of("https://example.com/", &psl).expect("site");
        let c = Container::Default;
        let input = tlv(&[
            (0, b"user"),
            (1, b"example.com"),
            (2, b"firefox-default"),
            (5, &[84]), // zigzag(42)
        ]);
        let expected = *blake3::keyed_hash(&[7; 32], &input).as_bytes();
        assert_eq!(username_digest(&key, &site, &c, Some(42), None), expected);
        assert_ne!(username_digest(&key, &site, &c, None, None), expected);
    }

    #[test]
    fn session_is_the_last_field_of_username_and_password() {
        let key = DerivationKey::from_bytes([7; 32]);
        let psl = crate::isolation::psl::Psl::vendored().expect("vendored list");
        let site = Site::of("https://example.com/", &psl).expect("site");
        let c = Container::Default;
        let value = "AAAAAAAAAAAAAAAAAAAAAA";
        let session = Session::parse(value).expect("session");
        let user = tlv(&[
            (0, b"user"),
            (1, b"example.com"),
            (2, b"firefox-default"),
            (5, &[84]), // zigzag(42)
            (9, value.as_bytes()),
        ]);
        assert_eq!(
            username_digest(&key, &site, &c, Some(42), Some(&session)),
            *blake3::keyed_hash(&[7; 32], &user).as_bytes()
        );
        let pass = tlv(&[
            (0, b"pass"),
            (1, b"example.com"),
            (2, b"firefox-default"),
            (3, &[1]),
            (4, &[0]),
            (9, value.as_bytes()),
        ]);
        let counters = PasswordCounters {
            generation: 1,
            ..PasswordCounters::default()
        };
        assert_eq!(
            password_digest(&key, &site, &c, counters, Some(&session)),
            *blake3::keyed_hash(&[7; 32], &pass).as_bytes()
        );
        // Another session, or none, gives other credentials.
        let other = Session::parse("AAAAAAAAAAAAAAAAAAAAAB").expect("session");
        let user_of = |s| username_digest(&key, &site, &c, None, s);
        let pass_of = |s| password_digest(&key, &site, &c, counters, s);
        assert_ne!(user_of(Some(&session)), user_of(Some(&other)));
        assert_ne!(user_of(Some(&session)), user_of(None));
        assert_ne!(pass_of(Some(&session)), pass_of(Some(&other)));
        assert_ne!(pass_of(Some(&session)), pass_of(None));
    }

    #[test]
    fn leb128_and_zigzag_are_minimal() {
        for (value, expected) in [
            (0u64, &[0u8][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut buf = [0u8; 10];
            let len = leb128(value, &mut buf);
            assert_eq!(&buf[..len], expected, "{value}");
        }
        assert_eq!(
            [0i64, -1, 1, -2, 2, i64::MIN, i64::MAX].map(zigzag),
            [0, 1, 2, 3, 4, u64::MAX, u64::MAX - 1]
        );
    }

    #[test]
    fn inputs_beyond_the_inline_buffer_hash_the_same_bytes() {
        let key = DerivationKey::from_bytes([2; 32]);
        let big = vec![b'x'; INLINE_INPUT * 2];
        let mut fields = Fields::new(&key, b"purpose");
        fields.field(FieldTag::Site, b"example.com");
        fields.field(FieldTag::Container, &big);
        let input = tlv(&[(0, b"purpose"), (1, b"example.com"), (2, &big)]);
        assert_eq!(
            fields.finish(),
            *blake3::keyed_hash(&[2; 32], &input).as_bytes()
        );
    }

    #[test]
    fn the_longest_site_with_every_field_fits_inline() {
        let key = DerivationKey::from_bytes([1; 32]);
        let suffix = format!("{}.{}.{}", "b".repeat(63), "c".repeat(63), "d".repeat(61));
        // A list where the last three labels are a suffix, so the whole host is the site.
        let psl = crate::isolation::psl::Psl::from_text(&suffix).expect("list");
        let host = format!("{}.{suffix}", "a".repeat(63));
        let site = Site::of(&host, &psl).expect("253-byte host");
        assert_eq!(site.as_str().len(), 253);
        let container = Container::parse("firefox-container-4294967295").expect("container");
        let mut fields = Fields::new(&key, PASSWORD_PURPOSE);
        fields.site_and_container(&site, &container);
        for tag in [
            FieldTag::Generation,
            FieldTag::Epoch,
            FieldTag::Tab,
            FieldTag::Rotation,
        ] {
            fields.number(tag, u64::MAX);
        }
        fields.number(FieldTag::TabEra, u64::MAX);
        fields.number(FieldTag::TabLife, u64::MAX);
        fields.field(
            FieldTag::Session,
            &[b'a'; crate::isolation::session::MAX_SESSION_LEN],
        );
        assert!(fields.spill.is_none(), "{} bytes", fields.len);
    }
}
