//! Numbers and names both ends of the protocol must agree on, defined once.
//!
//! The broker and the native host use these constants directly. The extension (plain ES
//! modules, no bundler, no build step) imports `extension/src/protocol-constants.js`, which
//! [`js_module`] writes; a test fails when that file is not what `js_module` returns, so the
//! two cannot drift. Regenerate it with
//! `PERSITE_BLESS=1 cargo test -p persite-protocol`.

use crate::error::ErrorCode;
use crate::message::{
    ControlState, HopRole, InvalidateReason, Newnym, RequestType, UnavailableReason,
};

/// The protocol version (`hello.protocol`).
pub const PROTOCOL_VERSION: u64 = 1;

/// Largest native-messaging frame or daemon request body, in bytes (Firefox's own limit for
/// host → browser frames is the same 1 MiB).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Longest SOCKS username or password Firefox sends (nsSOCKSIOLayer.cpp), in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 255;

/// Shortest `max_age_s` of a policy.
pub const MIN_MAX_AGE_S: u64 = 1;
/// Longest `max_age_s` of a policy (a week).
pub const MAX_MAX_AGE_S: u64 = 604_800;
/// Smallest `max_bytes` of a policy.
pub const MIN_MAX_BYTES: u64 = 1024;
/// Largest `max_bytes` of a policy (2^50).
pub const MAX_MAX_BYTES: u64 = 1 << 50;

/// Fewest characters of a `session` value (96 bits of base64url).
pub const MIN_SESSION_LEN: usize = 16;
/// Most characters of a `session` value.
pub const MAX_SESSION_LEN: usize = 64;

/// Most characters of an application context's name (`app_credentials`).
pub const MAX_APP_NAME_LEN: usize = 64;

/// The site of requests with no network first party.
pub const CATCH_ALL_SITE: &str = "--unknown--";

/// The container of a `credentials` request that names none.
pub const DEFAULT_CONTAINER: &str = "firefox-default";

/// The Persite extension's id (`browser_specific_settings.gecko.id`, protocol §4).
pub const EXTENSION_ID: &str = "persite@persite.org";

/// The native host's name: manifest `name`, file stem, `runtime.connectNative` (protocol §4).
pub const NATIVE_HOST_NAME: &str = "persite";

/// Where [`js_module`]'s output lives, relative to the repository.
pub const JS_MODULE_PATH: &str = "extension/src/protocol-constants.js";

/// The extension's copy of these constants and of the protocol's enumerations, as an ES module.
pub fn js_module() -> String {
    fn list<T: serde::Serialize>(items: &[T]) -> String {
        let names: Vec<String> = items
            .iter()
            .map(|item| serde_json::to_string(item).unwrap_or_default())
            .collect();
        format!("Object.freeze([{}])", names.join(", "))
    }
    let request_types: Vec<&str> = RequestType::ALL.iter().map(|t| t.as_str()).collect();
    let error_codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    format!(
        "\
// Generated from protocol/src/limits.rs by `PERSITE_BLESS=1 cargo test -p persite-protocol`.
// Do not edit: a test fails when this file differs from what the Rust definitions produce.

/** Protocol version this extension speaks (`hello.protocol`). */
export const PROTOCOL_VERSION = {PROTOCOL_VERSION};
/** Largest native-messaging frame, in bytes (either direction). */
export const MAX_FRAME_BYTES = {MAX_FRAME_BYTES};
/** Firefox SOCKS usernames and passwords are limited to 255 bytes (nsSOCKSIOLayer.cpp). */
export const MAX_CREDENTIAL_BYTES = {MAX_CREDENTIAL_BYTES};
/** Shortest `max_age_s` the broker accepts. */
export const MIN_MAX_AGE_S = {MIN_MAX_AGE_S};
/** Longest `max_age_s` the broker accepts (a week). */
export const MAX_MAX_AGE_S = {MAX_MAX_AGE_S};
/** Smallest `max_bytes` the broker accepts. */
export const MIN_MAX_BYTES = {MIN_MAX_BYTES};
/** Largest `max_bytes` the broker accepts (2^50). */
export const MAX_MAX_BYTES = {MAX_MAX_BYTES};
/** Fewest characters of a `session` value. */
export const MIN_SESSION_LEN = {MIN_SESSION_LEN};
/** Most characters of a `session` value. */
export const MAX_SESSION_LEN = {MAX_SESSION_LEN};
/** Most characters of an application context's name. */
export const MAX_APP_NAME_LEN = {MAX_APP_NAME_LEN};
/** The site of requests with no network first party. */
export const CATCH_ALL_SITE = {catch_all};
/** The container of a `credentials` request that names none. */
export const DEFAULT_CONTAINER = {default_container};
/** The extension's id (manifest.json `browser_specific_settings.gecko.id`). */
export const EXTENSION_ID = {extension_id};
/** The native host's name (`runtime.connectNative`). */
export const NATIVE_HOST_NAME = {host_name};
/** Request `type`s (protocol §2.1). */
export const REQUEST_TYPES = {request_types};
/** Error codes (protocol §2.3). */
export const ERROR_CODES = {error_codes};
/** Why an `invalidate` push was sent (protocol §2.2). */
export const INVALIDATE_REASONS = {invalidate};
/** What became of tor's NEWNYM on New identity (protocol §2.1). */
export const NEWNYM_OUTCOMES = {newnym};
/** Roles a hop can have in a circuit result (protocol §2.4). */
export const HOP_ROLES = {roles};
/** Why a circuit result can be `available: false` (protocol §2.4). */
export const CIRCUIT_UNAVAILABLE_REASONS = {reasons};
/** States of tor's control connection in a tor status (protocol §2.4). */
export const TOR_CONTROL_STATES = {control};
",
        catch_all = serde_json::Value::from(CATCH_ALL_SITE),
        default_container = serde_json::Value::from(DEFAULT_CONTAINER),
        extension_id = serde_json::Value::from(EXTENSION_ID),
        host_name = serde_json::Value::from(NATIVE_HOST_NAME),
        request_types = list(&request_types),
        error_codes = list(&error_codes),
        invalidate = list(&InvalidateReason::ALL),
        newnym = list(&Newnym::ALL),
        roles = list(&HopRole::ALL),
        reasons = list(&UnavailableReason::ALL),
        control = list(&ControlState::ALL),
    )
}
