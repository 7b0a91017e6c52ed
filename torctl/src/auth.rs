//! Control-port authentication, I/O-free: PROTOCOLINFO parsing, method choice and the
//! SAFECOOKIE challenge/response (control-spec §3.21, §3.24).
//!
//! Tor closes the connection after a failed `AUTHENTICATE`, so there is no trying one method
//! after another on the same connection: [`choose_method`] picks the strongest usable method
//! up front (SAFECOOKIE, then COOKIE, then HASHEDPASSWORD, then NULL) and only falls back for
//! reasons found locally (no password configured, cookie not readable).
//!
//! Over TCP the other end may not be tor at all: any local user can bind `127.0.0.1:9051`
//! before tor does, and PROTOCOLINFO then names whatever file it likes as the cookie. So over
//! [`Transport::Tcp`] only SAFECOOKIE (where tor must prove it knows the cookie before we send
//! anything derived from it) and an explicitly configured password are used; COOKIE (which
//! sends the file's bytes) and NULL are refused.

use std::path::PathBuf;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

use super::command::Command;
use super::kv::{Fields, KvError};
use super::reply::Reply;

/// Length of tor's authentication cookie and of the SAFECOOKIE nonces.
pub const COOKIE_LEN: usize = 32;

const SERVER_TO_CONTROLLER: &[u8] = b"Tor safe cookie authentication server-to-controller hash";
const CONTROLLER_TO_SERVER: &[u8] = b"Tor safe cookie authentication controller-to-server hash";

/// An authentication method tor may offer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthMethod {
    /// No authentication.
    Null,
    /// `HashedControlPassword`.
    HashedPassword,
    /// Send the cookie file's contents.
    Cookie,
    /// Prove knowledge of the cookie with an HMAC challenge (never reveals it).
    SafeCookie,
    /// A method this client does not know.
    Other(String),
}

impl AuthMethod {
    fn parse(name: &str) -> Self {
        match name {
            "NULL" => AuthMethod::Null,
            "HASHEDPASSWORD" => AuthMethod::HashedPassword,
            "COOKIE" => AuthMethod::Cookie,
            "SAFECOOKIE" => AuthMethod::SafeCookie,
            other => AuthMethod::Other(other.to_owned()),
        }
    }

    /// The method's name as in control-spec.
    pub fn name(&self) -> &str {
        match self {
            AuthMethod::Null => "NULL",
            AuthMethod::HashedPassword => "HASHEDPASSWORD",
            AuthMethod::Cookie => "COOKIE",
            AuthMethod::SafeCookie => "SAFECOOKIE",
            AuthMethod::Other(name) => name,
        }
    }
}

/// What `PROTOCOLINFO 1` told us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtocolInfo {
    /// Accepted authentication methods.
    pub methods: Vec<AuthMethod>,
    /// Where the cookie lives (for COOKIE and SAFECOOKIE).
    pub cookie_file: Option<PathBuf>,
    /// Tor's version string.
    pub tor_version: Option<String>,
}

/// Why authentication failed; every variant names the method involved.
#[derive(Debug, Error)]
pub enum AuthError {
    /// PROTOCOLINFO's reply was not what control-spec describes.
    #[error("malformed PROTOCOLINFO reply: {0}")]
    BadProtocolInfo(String),
    /// Tor refused PROTOCOLINFO.
    #[error("tor refused PROTOCOLINFO: {status} {message}")]
    ProtocolInfoRefused {
        /// Status code.
        status: u16,
        /// Tor's message.
        message: String,
    },
    /// No offered method can be used with this configuration.
    #[error("no usable control-port authentication method: tor offers [{offered}]; {hint}")]
    NoUsableMethod {
        /// Methods tor offered, comma-separated.
        offered: String,
        /// What to configure to make one usable.
        hint: String,
    },
    /// The cookie file could not be read.
    #[error("{method}: cannot read cookie file {path}: {source}")]
    CookieUnreadable {
        /// COOKIE or SAFECOOKIE.
        method: &'static str,
        /// The file tor named.
        path: PathBuf,
        /// The I/O error (e.g. permission denied: add the user to tor's group).
        source: std::io::Error,
    },
    /// The cookie file had the wrong size.
    #[error("{method}: cookie file {path} is {len} bytes, expected 32")]
    CookieWrongLength {
        /// COOKIE or SAFECOOKIE.
        method: &'static str,
        /// The file tor named.
        path: PathBuf,
        /// Its actual length.
        len: usize,
    },
    /// PROTOCOLINFO offered a cookie method without naming the cookie file.
    #[error("{method}: tor did not say where its cookie file is")]
    NoCookieFile {
        /// COOKIE or SAFECOOKIE.
        method: &'static str,
    },
    /// The AUTHCHALLENGE reply could not be parsed.
    #[error("SAFECOOKIE: malformed AUTHCHALLENGE reply: {0}")]
    BadChallenge(String),
    /// The server's hash did not prove knowledge of the cookie: not the tor we expected.
    #[error(
        "SAFECOOKIE: server hash does not match the cookie; this control port is not the tor that wrote {0}"
    )]
    ServerHashMismatch(PathBuf),
    /// Tor answered AUTHENTICATE or AUTHCHALLENGE with an error.
    #[error("{method}: tor refused authentication: {status} {message}")]
    Refused {
        /// The method attempted.
        method: &'static str,
        /// Status code (515 for bad credentials).
        status: u16,
        /// Tor's message.
        message: String,
    },
}

/// Parses the reply to `PROTOCOLINFO 1`.
pub fn parse_protocolinfo(reply: &Reply) -> Result<ProtocolInfo, AuthError> {
    if !reply.is_ok() {
        return Err(AuthError::ProtocolInfoRefused {
            status: reply.status(),
            message: reply.end_text().to_owned(),
        });
    }
    let bad = |e: KvError| AuthError::BadProtocolInfo(e.to_string());
    let mut info = ProtocolInfo::default();
    let mut saw_auth = false;
    for line in &reply.lines {
        let mut fields = Fields::new(&line.text);
        match fields.word() {
            Some("AUTH") => {
                saw_auth = true;
                for kv in fields.key_values().map_err(bad)? {
                    match kv.key.as_str() {
                        "METHODS" => {
                            info.methods = kv
                                .value_lossy()
                                .split(',')
                                .filter(|m| !m.is_empty())
                                .map(AuthMethod::parse)
                                .collect();
                        }
                        "COOKIEFILE" => info.cookie_file = Some(path_from_bytes(kv.value)),
                        _ => {}
                    }
                }
            }
            Some("VERSION") => {
                for kv in fields.key_values().map_err(bad)? {
                    if kv.key == "Tor" {
                        info.tor_version = Some(kv.value_lossy());
                    }
                }
            }
            _ => {}
        }
    }
    if !saw_auth {
        return Err(AuthError::BadProtocolInfo("no AUTH line".to_owned()));
    }
    Ok(info)
}

fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// The method [`choose_method`] settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// SAFECOOKIE with this cookie file.
    SafeCookie(PathBuf),
    /// COOKIE with this cookie file.
    Cookie(PathBuf),
    /// HASHEDPASSWORD with the configured password.
    HashedPassword,
    /// NULL.
    Null,
}

/// How the control connection is carried, which decides whom it could be talking to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A Unix socket: its file permissions decide who could be listening; every method is used.
    Unix,
    /// TCP: anyone local may hold the port; only SAFECOOKIE and a configured password are used.
    Tcp,
}

/// Picks the strongest method tor offers that this configuration can use over `transport`.
///
/// Over [`Transport::Tcp`], COOKIE and NULL are never chosen (see the module documentation);
/// when nothing else is usable the error says to enable `CookieAuthentication 1` (tor then
/// offers SAFECOOKIE) or to use a control socket.
///
/// `cookie_readable` is asked whether the cookie file can be read, so that an unreadable cookie
/// falls back to a password instead of burning the connection on a doomed attempt. When nothing
/// else is usable and a cookie method was offered, the cookie plan is still returned so that the
/// caller reports the real reason (e.g. permission denied).
pub fn choose_method(
    info: &ProtocolInfo,
    transport: Transport,
    have_password: bool,
    cookie_readable: impl Fn(&std::path::Path) -> bool,
) -> Result<Plan, AuthError> {
    if transport == Transport::Tcp {
        return choose_method_tcp(info, have_password, cookie_readable);
    }
    let has = |m: AuthMethod| info.methods.contains(&m);
    let cookie_offered = has(AuthMethod::SafeCookie) || has(AuthMethod::Cookie);
    let cookie_plan = |path: PathBuf| {
        if has(AuthMethod::SafeCookie) {
            Plan::SafeCookie(path)
        } else {
            Plan::Cookie(path)
        }
    };
    if cookie_offered
        && let Some(path) = &info.cookie_file
        && cookie_readable(path)
    {
        return Ok(cookie_plan(path.clone()));
    }
    if has(AuthMethod::HashedPassword) && have_password {
        return Ok(Plan::HashedPassword);
    }
    if has(AuthMethod::Null) {
        return Ok(Plan::Null);
    }
    if cookie_offered {
        return match &info.cookie_file {
            Some(path) => Ok(cookie_plan(path.clone())),
            None => Err(AuthError::NoCookieFile {
                method: if has(AuthMethod::SafeCookie) {
                    "SAFECOOKIE"
                } else {
                    "COOKIE"
                },
            }),
        };
    }
    let offered = info
        .methods
        .iter()
        .map(AuthMethod::name)
        .collect::<Vec<_>>()
        .join(",");
    let hint = if has(AuthMethod::HashedPassword) {
        "configure the control password (tor has HashedControlPassword set)".to_owned()
    } else {
        "enable CookieAuthentication or HashedControlPassword in torrc".to_owned()
    };
    Err(AuthError::NoUsableMethod { offered, hint })
}

/// [`choose_method`] over TCP: SAFECOOKIE, else a configured password, else an error.
fn choose_method_tcp(
    info: &ProtocolInfo,
    have_password: bool,
    cookie_readable: impl Fn(&std::path::Path) -> bool,
) -> Result<Plan, AuthError> {
    let has = |m: AuthMethod| info.methods.contains(&m);
    let safecookie = has(AuthMethod::SafeCookie).then_some(info.cookie_file.as_ref());
    if let Some(Some(path)) = safecookie
        && cookie_readable(path)
    {
        return Ok(Plan::SafeCookie(path.clone()));
    }
    if has(AuthMethod::HashedPassword) && have_password {
        return Ok(Plan::HashedPassword);
    }
    match safecookie {
        // Unreadable cookie: the plan still, so that the caller reports the read error.
        Some(Some(path)) => return Ok(Plan::SafeCookie(path.clone())),
        Some(None) => {
            return Err(AuthError::NoCookieFile {
                method: "SAFECOOKIE",
            });
        }
        None => {}
    }
    let offered = info
        .methods
        .iter()
        .map(AuthMethod::name)
        .collect::<Vec<_>>()
        .join(",");
    let hint = if has(AuthMethod::HashedPassword) {
        "over TCP only SAFECOOKIE or an explicitly configured password is used: enable \
         CookieAuthentication 1 in torrc (tor then offers SAFECOOKIE), or set [tor] \
         control_password, or use a ControlSocket"
    } else {
        "over TCP only SAFECOOKIE is used (COOKIE would hand the cookie file, and NULL the \
         control of tor, to whoever holds the port): enable CookieAuthentication 1 in torrc \
         (tor then offers SAFECOOKIE), or use a ControlSocket"
    };
    Err(AuthError::NoUsableMethod {
        offered,
        hint: hint.to_owned(),
    })
}

/// Checks a cookie's length and turns it into a fixed-size array.
pub fn check_cookie(
    method: &'static str,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<[u8; COOKIE_LEN], AuthError> {
    bytes.try_into().map_err(|_| AuthError::CookieWrongLength {
        method,
        path: path.to_owned(),
        len: bytes.len(),
    })
}

/// `AUTHENTICATE` for NULL authentication.
pub fn authenticate_null() -> Command {
    Command::trusted("AUTHENTICATE".to_owned())
}

/// `AUTHENTICATE <hex cookie>` for COOKIE authentication.
pub fn authenticate_cookie(cookie: &[u8; COOKIE_LEN]) -> Command {
    Command::trusted(format!("AUTHENTICATE {}", hex::encode_upper(cookie))).secret()
}

/// `AUTHENTICATE "<password>"` for HASHEDPASSWORD authentication.
pub fn authenticate_password(password: &[u8]) -> Command {
    Command::trusted("AUTHENTICATE".to_owned())
        .quoted(password)
        .secret()
}

/// The SAFECOOKIE exchange: send [`challenge`](Self::challenge), feed the reply to
/// [`respond`](Self::respond), send the command it returns.
pub struct SafeCookie {
    cookie: [u8; COOKIE_LEN],
    client_nonce: [u8; COOKIE_LEN],
    cookie_path: PathBuf,
}

impl std::fmt::Debug for SafeCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeCookie").finish_non_exhaustive()
    }
}

impl SafeCookie {
    /// Starts an exchange with the cookie's contents and a fresh random client nonce.
    pub fn new(
        cookie: [u8; COOKIE_LEN],
        client_nonce: [u8; COOKIE_LEN],
        cookie_path: PathBuf,
    ) -> Self {
        SafeCookie {
            cookie,
            client_nonce,
            cookie_path,
        }
    }

    /// `AUTHCHALLENGE SAFECOOKIE <client nonce>`.
    pub fn challenge(&self) -> Command {
        Command::trusted(format!(
            "AUTHCHALLENGE SAFECOOKIE {}",
            hex::encode_upper(self.client_nonce)
        ))
    }

    /// Verifies tor's SERVERHASH in constant time and returns the `AUTHENTICATE` command.
    pub fn respond(&self, reply: &Reply) -> Result<Command, AuthError> {
        if !reply.is_ok() {
            return Err(AuthError::Refused {
                method: "SAFECOOKIE",
                status: reply.status(),
                message: reply.end_text().to_owned(),
            });
        }
        let mut fields = Fields::new(reply.end_text());
        if fields.word() != Some("AUTHCHALLENGE") {
            return Err(AuthError::BadChallenge(
                "missing AUTHCHALLENGE keyword".to_owned(),
            ));
        }
        let mut server_hash = None;
        let mut server_nonce = None;
        for kv in fields
            .key_values()
            .map_err(|e| AuthError::BadChallenge(e.to_string()))?
        {
            let decoded = || {
                hex::decode(&kv.value)
                    .map_err(|_| AuthError::BadChallenge(format!("{} is not hex", kv.key)))
            };
            match kv.key.as_str() {
                "SERVERHASH" => server_hash = Some(decoded()?),
                "SERVERNONCE" => server_nonce = Some(decoded()?),
                _ => {}
            }
        }
        let server_hash =
            server_hash.ok_or_else(|| AuthError::BadChallenge("no SERVERHASH".to_owned()))?;
        let server_nonce =
            server_nonce.ok_or_else(|| AuthError::BadChallenge("no SERVERNONCE".to_owned()))?;
        if server_nonce.len() != COOKIE_LEN {
            return Err(AuthError::BadChallenge(
                "SERVERNONCE is not 32 bytes".to_owned(),
            ));
        }
        self.mac(SERVER_TO_CONTROLLER, &server_nonce)
            .verify_slice(&server_hash)
            .map_err(|_| AuthError::ServerHashMismatch(self.cookie_path.clone()))?;
        let client_hash = self
            .mac(CONTROLLER_TO_SERVER, &server_nonce)
            .finalize()
            .into_bytes();
        Ok(Command::trusted(format!("AUTHENTICATE {}", hex::encode_upper(client_hash))).secret())
    }

    fn mac(&self, key: &[u8], server_nonce: &[u8]) -> Hmac<Sha256> {
        // A fixed non-empty key never fails for HMAC; the fallback keeps clippy's unwrap lint happy.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(&self.cookie);
        mac.update(&self.client_nonce);
        mac.update(server_nonce);
        mac
    }
}

/// Checks the reply to `AUTHENTICATE`.
pub fn check_authenticated(method: &'static str, reply: &Reply) -> Result<(), AuthError> {
    if reply.is_ok() {
        Ok(())
    } else {
        Err(AuthError::Refused {
            method,
            status: reply.status(),
            message: reply.end_text().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::reply::reply_of as reply;

    #[test]
    fn protocolinfo_with_octal_escaped_cookie_path() {
        let r = reply(
            "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE,HASHEDPASSWORD COOKIEFILE=\"/tmp/caf\\303\\251 \\\"x\\\"/control_auth_cookie\"\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n",
        );
        let info = parse_protocolinfo(&r).unwrap();
        assert_eq!(
            info.methods,
            vec![
                AuthMethod::Cookie,
                AuthMethod::SafeCookie,
                AuthMethod::HashedPassword
            ]
        );
        assert_eq!(
            info.cookie_file.as_deref(),
            Some(std::path::Path::new("/tmp/café \"x\"/control_auth_cookie"))
        );
        assert_eq!(info.tor_version.as_deref(), Some("0.4.9.11"));
    }

    #[test]
    fn protocolinfo_without_auth_is_an_error() {
        let r = reply("250-PROTOCOLINFO 1\r\n250 OK\r\n");
        assert!(matches!(
            parse_protocolinfo(&r),
            Err(AuthError::BadProtocolInfo(_))
        ));
        let r = reply("514 Authentication required.\r\n");
        assert!(matches!(
            parse_protocolinfo(&r),
            Err(AuthError::ProtocolInfoRefused { status: 514, .. })
        ));
    }

    fn info(methods: &[AuthMethod], cookie: bool) -> ProtocolInfo {
        ProtocolInfo {
            methods: methods.to_vec(),
            cookie_file: cookie.then(|| PathBuf::from("/c")),
            tor_version: None,
        }
    }

    fn choose_method_unix(
        info: &ProtocolInfo,
        have_password: bool,
        readable: impl Fn(&std::path::Path) -> bool,
    ) -> Result<Plan, AuthError> {
        choose_method(info, Transport::Unix, have_password, readable)
    }

    fn tcp(info: &ProtocolInfo, have_password: bool, readable: bool) -> Result<Plan, AuthError> {
        choose_method(info, Transport::Tcp, have_password, |_| readable)
    }

    #[test]
    fn over_tcp_only_safecookie_or_a_configured_password() {
        use AuthMethod::*;
        let all = [Null, HashedPassword, Cookie, SafeCookie];
        assert_eq!(
            tcp(&info(&all, true), true, true).unwrap(),
            Plan::SafeCookie("/c".into())
        );
        assert_eq!(
            tcp(&info(&all, true), true, false).unwrap(),
            Plan::HashedPassword
        );
        // No password: the unreadable SAFECOOKIE is reported, never COOKIE or NULL.
        assert_eq!(
            tcp(&info(&all, true), false, false).unwrap(),
            Plan::SafeCookie("/c".into())
        );
        for methods in [
            &[Cookie][..],
            &[Null],
            &[Cookie, Null],
            &[HashedPassword, Cookie],
        ] {
            let err = tcp(&info(methods, true), false, true).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, AuthError::NoUsableMethod { .. })
                    && msg.contains("CookieAuthentication 1"),
                "{methods:?}: {msg}"
            );
        }
        // A password is used only when one is configured.
        assert!(tcp(&info(&[HashedPassword, Null], false), false, true).is_err());
        assert!(matches!(
            tcp(&info(&[SafeCookie, Cookie], false), false, true),
            Err(AuthError::NoCookieFile {
                method: "SAFECOOKIE"
            })
        ));
    }

    #[test]
    fn method_preference_order() {
        use AuthMethod::*;
        let all = [Null, HashedPassword, Cookie, SafeCookie];
        assert_eq!(
            choose_method_unix(&info(&all, true), true, |_| true).unwrap(),
            Plan::SafeCookie("/c".into())
        );
        assert_eq!(
            choose_method_unix(&info(&[Cookie], true), false, |_| true).unwrap(),
            Plan::Cookie("/c".into())
        );
        assert_eq!(
            choose_method_unix(&info(&all, true), true, |_| false).unwrap(),
            Plan::HashedPassword
        );
        assert_eq!(
            choose_method_unix(&info(&all, true), false, |_| false).unwrap(),
            Plan::Null
        );
        // Unreadable cookie and nothing else: the cookie plan, so the read error is reported.
        assert_eq!(
            choose_method_unix(&info(&[SafeCookie, Cookie], true), false, |_| false).unwrap(),
            Plan::SafeCookie("/c".into())
        );
        assert!(matches!(
            choose_method_unix(&info(&[SafeCookie], false), false, |_| true),
            Err(AuthError::NoCookieFile {
                method: "SAFECOOKIE"
            })
        ));
        let err = choose_method_unix(&info(&[HashedPassword], false), false, |_| true).unwrap_err();
        assert!(err.to_string().contains("HASHEDPASSWORD"), "{err}");
    }

    #[test]
    fn cookie_length_is_checked() {
        let err = check_cookie("COOKIE", std::path::Path::new("/c"), &[0; 31]).unwrap_err();
        assert!(err.to_string().contains("31 bytes"), "{err}");
        assert!(check_cookie("COOKIE", std::path::Path::new("/c"), &[0; 32]).is_ok());
    }

    /// Independent HMAC of the spec's construction, to check `respond` against.
    fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    #[test]
    fn safecookie_verifies_server_and_answers() {
        let cookie = [7u8; 32];
        let cn = [1u8; 32];
        let sn = [2u8; 32];
        let sc = SafeCookie::new(cookie, cn, "/c".into());
        assert_eq!(
            sc.challenge().to_bytes(),
            format!("AUTHCHALLENGE SAFECOOKIE {}\r\n", hex::encode_upper(cn)).into_bytes()
        );
        let server_hash = hmac(SERVER_TO_CONTROLLER, &[&cookie, &cn, &sn]);
        let r = reply(&format!(
            "250 AUTHCHALLENGE SERVERHASH={} SERVERNONCE={}\r\n",
            hex::encode_upper(&server_hash),
            hex::encode_upper(sn)
        ));
        let cmd = sc.respond(&r).unwrap();
        let client_hash = hmac(CONTROLLER_TO_SERVER, &[&cookie, &cn, &sn]);
        assert_eq!(
            cmd.to_bytes(),
            format!("AUTHENTICATE {}\r\n", hex::encode_upper(client_hash)).into_bytes()
        );

        let mut wrong = server_hash.clone();
        wrong[0] ^= 1;
        let r = reply(&format!(
            "250 AUTHCHALLENGE SERVERHASH={} SERVERNONCE={}\r\n",
            hex::encode_upper(&wrong),
            hex::encode_upper(sn)
        ));
        assert!(matches!(
            sc.respond(&r),
            Err(AuthError::ServerHashMismatch(_))
        ));
        let r = reply("250 AUTHCHALLENGE SERVERHASH=zz SERVERNONCE=00\r\n");
        assert!(matches!(sc.respond(&r), Err(AuthError::BadChallenge(_))));
        let r = reply("513 Unrecognized authentication type\r\n");
        assert!(matches!(
            sc.respond(&r),
            Err(AuthError::Refused {
                method: "SAFECOOKIE",
                status: 513,
                ..
            })
        ));
    }

    #[test]
    fn authenticate_commands() {
        assert_eq!(authenticate_null().to_bytes(), b"AUTHENTICATE\r\n");
        assert_eq!(
            authenticate_cookie(&[0xab; 32]).to_bytes(),
            format!("AUTHENTICATE {}\r\n", "AB".repeat(32)).into_bytes()
        );
        assert_eq!(
            authenticate_password(b"s3\"cr\\t").to_bytes(),
            b"AUTHENTICATE \"s3\\\"cr\\\\t\"\r\n"
        );
    }
}
