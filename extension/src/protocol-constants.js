// Generated from protocol/src/limits.rs by `PERSITE_BLESS=1 cargo test -p persite-protocol`.
// Do not edit: a test fails when this file differs from what the Rust definitions produce.

/** Protocol version this extension speaks (`hello.protocol`). */
export const PROTOCOL_VERSION = 1;
/** Largest native-messaging frame, in bytes (either direction). */
export const MAX_FRAME_BYTES = 1048576;
/** Firefox SOCKS usernames and passwords are limited to 255 bytes (nsSOCKSIOLayer.cpp). */
export const MAX_CREDENTIAL_BYTES = 255;
/** Shortest `max_age_s` the broker accepts. */
export const MIN_MAX_AGE_S = 1;
/** Longest `max_age_s` the broker accepts (a week). */
export const MAX_MAX_AGE_S = 604800;
/** Smallest `max_bytes` the broker accepts. */
export const MIN_MAX_BYTES = 1024;
/** Largest `max_bytes` the broker accepts (2^50). */
export const MAX_MAX_BYTES = 1125899906842624;
/** Fewest characters of a `session` value. */
export const MIN_SESSION_LEN = 16;
/** Most characters of a `session` value. */
export const MAX_SESSION_LEN = 64;
/** Most characters of an application context's name. */
export const MAX_APP_NAME_LEN = 64;
/** The site of requests with no network first party. */
export const CATCH_ALL_SITE = "--unknown--";
/** The container of a `credentials` request that names none. */
export const DEFAULT_CONTAINER = "firefox-default";
/** The extension's id (manifest.json `browser_specific_settings.gecko.id`). */
export const EXTENSION_ID = "persite@persite.org";
/** The native host's name (`runtime.connectNative`). */
export const NATIVE_HOST_NAME = "persite";
/** Request `type`s (protocol §2.1). */
export const REQUEST_TYPES = Object.freeze(["hello", "credentials", "new_circuit", "new_identity", "status", "policy_get", "policy_set", "circuit", "app_credentials", "tab_closed", "session_ended"]);
/** Error codes (protocol §2.3). */
export const ERROR_CODES = Object.freeze(["invalid_json", "frame_too_large", "reply_too_large", "missing_field", "invalid_field", "unknown_type", "unsupported_protocol", "invalid_url", "invalid_container", "broker_unavailable", "socks_not_tor", "socks_unverified", "internal"]);
/** Why an `invalidate` push was sent (protocol §2.2). */
export const INVALIDATE_REASONS = Object.freeze(["new_circuit", "new_identity", "rotation", "broker_restarted", "events_lost"]);
/** What became of tor's NEWNYM on New identity (protocol §2.1). */
export const NEWNYM_OUTCOMES = Object.freeze(["sent", "delayed", "unavailable"]);
/** Roles a hop can have in a circuit result (protocol §2.4). */
export const HOP_ROLES = Object.freeze(["guard", "middle", "exit", "bridge"]);
/** Why a circuit result can be `available: false` (protocol §2.4). */
export const CIRCUIT_UNAVAILABLE_REASONS = Object.freeze(["no_control_port", "not_bootstrapped", "no_network_first_party"]);
/** States of tor's control connection in a tor status (protocol §2.4). */
export const TOR_CONTROL_STATES = Object.freeze(["connected", "connecting", "none"]);
