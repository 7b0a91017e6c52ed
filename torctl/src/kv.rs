//! Words, `KEY=value` pairs and QuotedStrings as they appear in control-port reply lines.
//!
//! Tor escapes quoted values with `esc_for_log`: `\\`, `\"`, `\'`, `\n`, `\r`, `\t`, and
//! `\ooo` (three octal digits) for every byte that is not printable ASCII. Control-spec §2.1.1
//! also allows `\xHH` and one- or two-digit octal escapes, so the decoder accepts those too.
//! Decoded values are bytes, not strings: octal escapes can produce any byte (for example a
//! UTF-8 SOCKS username arrives as `\303\251`).

use thiserror::Error;

/// Why a word, pair or quoted string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvError {
    /// A quoted string started but its closing `"` never came.
    #[error("quoted string is not terminated")]
    UnterminatedQuote,
    /// A backslash was followed by something control-spec does not define.
    #[error("invalid escape sequence in quoted string")]
    BadEscape,
    /// An octal escape encoded a value above 255.
    #[error("octal escape out of range")]
    OctalOutOfRange,
    /// A quoted string was directly followed by something other than a space.
    #[error("garbage after closing quote")]
    TrailingGarbage,
    /// A field that must be `KEY=value` had no `=` or an empty key.
    #[error("expected KEY=value")]
    NotKeyValue,
}

/// One `KEY=value` pair; the value is decoded bytes (quoted or not).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, e.g. `SOCKS_USERNAME`.
    pub key: String,
    /// The decoded value.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for KeyValue {
    // Values may be SOCKS credentials or destinations: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=<{} bytes>", self.key, self.value.len())
    }
}

impl KeyValue {
    /// The value as text, replacing invalid UTF-8.
    pub fn value_lossy(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }
}

/// Decodes the QuotedString at the start of `input` (which must begin with `"`).
///
/// Returns the decoded bytes and how many input bytes (including both quotes) were consumed.
pub fn unquote(input: &str) -> Result<(Vec<u8>, usize), KvError> {
    let bytes = input.as_bytes();
    debug_assert_eq!(bytes.first(), Some(&b'"'));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok((out, i + 1)),
            b'\\' => {
                let esc = *bytes.get(i + 1).ok_or(KvError::UnterminatedQuote)?;
                match esc {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'"' | b'\\' | b'\'' => out.push(esc),
                    b'x' | b'X' => {
                        let hex = bytes.get(i + 2..i + 4).ok_or(KvError::BadEscape)?;
                        let text = std::str::from_utf8(hex).map_err(|_| KvError::BadEscape)?;
                        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return Err(KvError::BadEscape);
                        }
                        out.push(u8::from_str_radix(text, 16).map_err(|_| KvError::BadEscape)?);
                        i += 4;
                        continue;
                    }
                    b'0'..=b'7' => {
                        let mut value: u32 = 0;
                        let mut digits = 0;
                        while digits < 3 {
                            match bytes.get(i + 1 + digits) {
                                Some(d @ b'0'..=b'7') => {
                                    value = value * 8 + u32::from(d - b'0');
                                    digits += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(u8::try_from(value).map_err(|_| KvError::OctalOutOfRange)?);
                        i += 1 + digits;
                        continue;
                    }
                    _ => return Err(KvError::BadEscape),
                }
                i += 2;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Err(KvError::UnterminatedQuote)
}

/// Encodes `bytes` as a QuotedString the way tor itself escapes (safe for any input).
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' | b'\'' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// A cursor over the space-separated fields of one reply line.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    /// Starts reading `text`.
    pub fn new(text: &'a str) -> Self {
        Fields { rest: text }
    }

    /// What has not been consumed yet (leading spaces removed).
    pub fn rest(&self) -> &'a str {
        self.rest.trim_start_matches(' ')
    }

    /// True when nothing but spaces is left.
    pub fn is_empty(&self) -> bool {
        self.rest().is_empty()
    }

    /// Returns the next unquoted word without consuming it.
    pub fn peek_word(&self) -> Option<&'a str> {
        let rest = self.rest();
        if rest.is_empty() {
            return None;
        }
        Some(rest.split(' ').next().unwrap_or(rest))
    }

    /// Consumes the next unquoted word (up to the next space).
    pub fn word(&mut self) -> Option<&'a str> {
        let word = self.peek_word()?;
        let rest = self.rest();
        self.rest = &rest[word.len()..];
        Some(word)
    }

    /// True when the next field looks like `KEY=…` (key of letters, digits, `_` or `-`).
    pub fn next_is_key_value(&self) -> bool {
        self.peek_word().is_some_and(|w| match w.split_once('=') {
            Some((key, _)) => is_key(key),
            None => false,
        })
    }

    /// Consumes the next field as a word or a QuotedString, returning its decoded bytes.
    pub fn value(&mut self) -> Result<Option<Vec<u8>>, KvError> {
        let rest = self.rest();
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.starts_with('"') {
            let (bytes, used) = unquote(rest)?;
            let after = &rest[used..];
            if !(after.is_empty() || after.starts_with(' ')) {
                return Err(KvError::TrailingGarbage);
            }
            self.rest = after;
            return Ok(Some(bytes));
        }
        Ok(self.word().map(|w| w.as_bytes().to_vec()))
    }

    /// Consumes the next field as `KEY=value` (value quoted or not).
    pub fn key_value(&mut self) -> Result<Option<KeyValue>, KvError> {
        let rest = self.rest();
        if rest.is_empty() {
            return Ok(None);
        }
        let eq = rest.find('=').ok_or(KvError::NotKeyValue)?;
        let key = &rest[..eq];
        if !is_key(key) {
            return Err(KvError::NotKeyValue);
        }
        let after_eq = &rest[eq + 1..];
        let value = if after_eq.starts_with('"') {
            let (bytes, used) = unquote(after_eq)?;
            let after = &after_eq[used..];
            if !(after.is_empty() || after.starts_with(' ')) {
                return Err(KvError::TrailingGarbage);
            }
            self.rest = after;
            bytes
        } else {
            let end = after_eq.find(' ').unwrap_or(after_eq.len());
            self.rest = &after_eq[end..];
            after_eq.as_bytes()[..end].to_vec()
        };
        Ok(Some(KeyValue {
            key: key.to_owned(),
            value,
        }))
    }

    /// Consumes every remaining field as `KEY=value`.
    pub fn key_values(&mut self) -> Result<Vec<KeyValue>, KvError> {
        let mut out = Vec::new();
        while let Some(kv) = self.key_value()? {
            out.push(kv);
        }
        Ok(out)
    }

    /// Consumes every remaining field as a word or QuotedString.
    pub fn values(&mut self) -> Result<Vec<Vec<u8>>, KvError> {
        let mut out = Vec::new();
        while let Some(v) = self.value()? {
            out.push(v);
        }
        Ok(out)
    }
}

fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_escape_form_decodes() {
        let (v, used) = unquote(r#""a\"b\\c\'d\ne\rf\tg\303\251\x41\0\12h" tail"#).unwrap();
        assert_eq!(v, b"a\"b\\c'd\ne\rf\tg\xc3\xa9A\0\nh".to_vec());
        assert_eq!(used, r#""a\"b\\c\'d\ne\rf\tg\303\251\x41\0\12h""#.len());
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(unquote(r#""\q""#), Err(KvError::BadEscape));
        assert_eq!(unquote(r#""\xZ1""#), Err(KvError::BadEscape));
        assert_eq!(unquote(r#""\x4""#), Err(KvError::BadEscape));
        assert_eq!(unquote(r#""\777""#), Err(KvError::OctalOutOfRange));
        assert_eq!(unquote(r#""abc"#), Err(KvError::UnterminatedQuote));
        assert_eq!(unquote(r#""abc\"#), Err(KvError::UnterminatedQuote));
    }

    #[test]
    fn quote_matches_tor_escaping() {
        assert_eq!(
            quote(b"a\"b\\c'd\n\r\t\xc3\xa9\x01"),
            r#""a\"b\\c\'d\n\r\t\303\251\001""#
        );
    }

    #[test]
    fn fields_mix_words_pairs_and_quotes() {
        let mut f = Fields::new(
            r#"12 BUILT  $AB~x,$CD~y PURPOSE=GENERAL SOCKS_USERNAME="a b\"c" SOCKS_PASSWORD="" X="#,
        );
        assert_eq!(f.word(), Some("12"));
        assert_eq!(f.word(), Some("BUILT"));
        assert!(!f.next_is_key_value());
        assert_eq!(f.word(), Some("$AB~x,$CD~y"));
        assert!(f.next_is_key_value());
        let kvs = f.key_values().unwrap();
        assert_eq!(kvs.len(), 4);
        assert_eq!(kvs[0].key, "PURPOSE");
        assert_eq!(kvs[0].value, b"GENERAL");
        assert_eq!(kvs[1].value, b"a b\"c");
        assert_eq!(kvs[2].value, b"");
        assert_eq!(kvs[3].key, "X");
        assert_eq!(kvs[3].value, b"");
        assert!(f.is_empty());
    }

    #[test]
    fn quoted_values_in_a_list() {
        let mut f = Fields::new(r#""127.0.0.1:9050" "[::1]:9050" unix:/x"#);
        let v = f.values().unwrap();
        assert_eq!(
            v,
            vec![
                b"127.0.0.1:9050".to_vec(),
                b"[::1]:9050".to_vec(),
                b"unix:/x".to_vec()
            ]
        );
    }

    #[test]
    fn garbage_after_quote_is_an_error() {
        assert_eq!(
            Fields::new(r#"K="a"b"#).key_value(),
            Err(KvError::TrailingGarbage)
        );
        assert_eq!(
            Fields::new("noequals").key_value(),
            Err(KvError::NotKeyValue)
        );
        assert_eq!(Fields::new("=v").key_value(), Err(KvError::NotKeyValue));
    }

    #[test]
    fn key_value_debug_hides_the_value() {
        let kv = Fields::new(r#"SOCKS_USERNAME="example.com""#)
            .key_value()
            .unwrap()
            .unwrap();
        assert!(!format!("{kv:?}").contains("example"));
    }

    proptest! {
        #[test]
        fn quote_then_unquote_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let q = quote(&bytes);
            prop_assert!(!q.contains('\r') && !q.contains('\n'));
            let (back, used) = unquote(&q).unwrap();
            prop_assert_eq!(back, bytes);
            prop_assert_eq!(used, q.len());
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let mut f = Fields::new(&text);
            let _ = f.clone().key_values();
            let _ = f.values();
            if text.starts_with('"') {
                let _ = unquote(&text);
            }
        }
    }
}
