//! The SAFECOOKIE exchange against whatever answers on the control port: arbitrary
//! `AUTHCHALLENGE` replies into `SafeCookie::respond`, arbitrary `PROTOCOLINFO` replies into its
//! parser and the method choice.
//!
//! Input: 32 bytes of cookie, 32 of client nonce, a mode byte, then
//! - mode 1: 32 bytes of server nonce and a reply template in which the target puts the genuine
//!   `%s` SERVERHASH and `%s` SERVERNONCE (hex); the hash must be accepted (other words of the
//!   reply may still make it malformed) and the answer must be the right client hash;
//! - any other mode: an AUTHCHALLENGE reply, a NUL, a PROTOCOLINFO reply. The challenge reply
//!   was not computed from the cookie, so it must be refused: a fake control port that does not
//!   know the cookie never gets an `AUTHENTICATE` out of us.
//!
//! Properties: the above; the method choice only picks a method tor offered, and a cookie
//! method only with a cookie file.
#![no_main]

use std::path::PathBuf;

use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use torctl::auth::{Plan, SafeCookie, Transport, choose_method, parse_protocolinfo};
use torctl::{AuthError, AuthMethod, Message, Parsed, Reply, ReplyParser};

fn reply(bytes: &[u8]) -> Option<Reply> {
    let mut parser = ReplyParser::default();
    parser.push(bytes);
    match parser.next_message() {
        Ok(Parsed::Message(Message::Reply(reply))) => Some(reply),
        _ => None,
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn genuine(cookie: &[u8; 32], client_nonce: &[u8; 32], rest: &[u8]) {
    let Some((server_nonce, template)) = rest.split_first_chunk::<32>() else {
        return;
    };
    let server_hash = hmac(
        b"Tor safe cookie authentication server-to-controller hash",
        &[cookie, client_nonce, server_nonce],
    );
    let Ok(template) = std::str::from_utf8(template) else {
        return;
    };
    let mut parts = template.splitn(3, "%s");
    let (Some(a), Some(b), Some(c)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    // Only templates that keep the two values as whole `KEY=value` words of one reply line.
    if !a.ends_with("SERVERHASH=") || !b.ends_with("SERVERNONCE=") || !b.starts_with(' ') {
        return;
    }
    if !(c.is_empty() || c.starts_with([' ', '\r', '\n'])) {
        return;
    }
    let text = format!(
        "{a}{}{b}{}{c}",
        hex::encode(&server_hash),
        hex::encode_upper(server_nonce)
    );
    let Some(reply) = reply(text.as_bytes()) else {
        return;
    };
    if !reply.is_ok() || reply.lines.len() != 1 {
        return;
    }
    let line = &reply.lines[0].text;
    // Other SERVERHASH/SERVERNONCE words in the line would take precedence; skip those.
    if line.matches("SERVERHASH=").count() != 1
        || line.matches("SERVERNONCE=").count() != 1
        || !line.starts_with("AUTHCHALLENGE ")
    {
        return;
    }
    let exchange = SafeCookie::new(*cookie, *client_nonce, PathBuf::from("/cookie"));
    let outcome = exchange.respond(&reply);
    assert!(
        !matches!(outcome, Err(AuthError::ServerHashMismatch(_))),
        "the genuine server hash was refused: {line:?}"
    );
    if let Ok(command) = outcome {
        let client_hash = hmac(
            b"Tor safe cookie authentication controller-to-server hash",
            &[cookie, client_nonce, server_nonce],
        );
        let expected = format!("AUTHENTICATE {}\r\n", hex::encode_upper(client_hash));
        assert_eq!(command.to_bytes(), expected.as_bytes());
        assert!(command.is_secret());
    }
}

fn forged(cookie: &[u8; 32], client_nonce: &[u8; 32], rest: &[u8]) {
    let (challenge, protocolinfo) = match rest.iter().position(|&b| b == 0) {
        Some(nul) => (&rest[..nul], &rest[nul + 1..]),
        None => (rest, &[][..]),
    };
    if let Some(reply) = reply(challenge) {
        let exchange = SafeCookie::new(*cookie, *client_nonce, PathBuf::from("/cookie"));
        if let Ok(command) = exchange.respond(&reply) {
            panic!("a forged AUTHCHALLENGE was answered: {command:?}");
        }
    }
    if let Some(reply) = reply(protocolinfo)
        && let Ok(info) = parse_protocolinfo(&reply)
    {
        let offered = |m: AuthMethod| info.methods.contains(&m);
        for transport in [Transport::Unix, Transport::Tcp] {
            for have_password in [false, true] {
                for readable in [false, true] {
                    match choose_method(&info, transport, have_password, |_| readable) {
                        Ok(Plan::SafeCookie(path)) => {
                            assert!(offered(AuthMethod::SafeCookie));
                            assert_eq!(Some(path), info.cookie_file);
                        }
                        Ok(Plan::Cookie(path)) => {
                            // COOKIE sends the cookie itself: never to a TCP port.
                            assert!(transport == Transport::Unix, "COOKIE chosen over TCP");
                            assert!(offered(AuthMethod::Cookie));
                            assert_eq!(Some(path), info.cookie_file);
                        }
                        Ok(Plan::HashedPassword) => {
                            assert!(offered(AuthMethod::HashedPassword) && have_password);
                        }
                        Ok(Plan::Null) => {
                            assert!(transport == Transport::Unix, "NULL chosen over TCP");
                            assert!(offered(AuthMethod::Null));
                        }
                        Err(e) => assert!(!e.to_string().is_empty()),
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((cookie, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let Some((client_nonce, rest)) = rest.split_first_chunk::<32>() else {
        return;
    };
    match rest.split_first() {
        Some((1, rest)) => genuine(cookie, client_nonce, rest),
        Some((_, rest)) => forged(cookie, client_nonce, rest),
        None => {}
    }
});
