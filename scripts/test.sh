#!/usr/bin/env bash
# Runs every Persite test on a fresh Debian machine: lints, unit and property tests, the
# extension's tests, the real-Firefox end-to-end suite, the private-Tor-network suite and a
# bounded run of every fuzz target.
#
# It installs what the tests need when it is missing (never skips a test for a missing tool):
#   - Debian packages: firefox-esr, tor (with tor-gencert and tor-resolve), strace, torsocks,
#     curl, wget, python3, and nodejs/npm if absent
#   - geckodriver, built from crates.io into $PERSITE_CACHE/tools (cached after the first run)
#   - the extension's npm dev dependencies (web-ext), from its package-lock.json
#   - the nightly toolchain (rustup) and cargo-fuzz, built from crates.io into $PERSITE_CACHE/tools,
#     for the fuzz smoke (scripts/fuzz-smoke.sh)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cache=${PERSITE_CACHE:-$HOME/.cache/persite}
geckodriver_version=0.37.1

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

step "System packages"
missing=()
command -v firefox-esr >/dev/null || missing+=(firefox-esr)
{ command -v tor >/dev/null && command -v tor-gencert >/dev/null; } || missing+=(tor)
command -v strace >/dev/null || missing+=(strace)
# Real programs for the per-application suite (tests/tests/tor_front.rs).
command -v torsocks >/dev/null || missing+=(torsocks)
command -v curl >/dev/null || missing+=(curl)
# torsocks-wrapped wget fetches from the onion services (curl refuses .onion names itself).
command -v wget >/dev/null || missing+=(wget)
# The extension packer (scripts/pack-xpi.sh) and the per-application suite's Python client.
command -v python3 >/dev/null || missing+=(python3)
{ command -v node >/dev/null && command -v npm >/dev/null; } || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v firefox-esr >/dev/null || die "firefox-esr is still missing after apt-get install"
command -v tor >/dev/null || die "tor is still missing after apt-get install"
command -v node >/dev/null || die "node is still missing after apt-get install"
echo "firefox: $(firefox-esr --version 2>/dev/null)"
# First line of a tool's --version. `sed -n 1p` reads all of the output: `head -n 1` would close
# the pipe early, and geckodriver panics (exit 101) when its next line meets the closed pipe.
first_line() { "$@" | sed -n 1p; }
echo "tor:     $(first_line tor --version)"

step "geckodriver $geckodriver_version"
geckodriver="$cache/tools/bin/geckodriver"
installed_version=""
if [ -x "$geckodriver" ]; then installed_version=$(first_line "$geckodriver" --version || true); fi
if [[ "$installed_version" != *"$geckodriver_version"* ]]; then
    echo "building geckodriver from crates.io into $cache/tools (once; several minutes)"
    cargo install geckodriver --version "$geckodriver_version" --locked --root "$cache/tools"
fi
export PERSITE_GECKODRIVER="$geckodriver"
first_line "$geckodriver" --version

step "Extension dependencies (npm)"
(cd extension && npm ci --no-audit --no-fund --loglevel=error)

step "Formatting and lints"
cargo fmt --all -- --check
# The fuzz crates are workspaces of their own (scripts/fuzz-smoke.sh builds them).
for fuzz in broker/fuzz native-messaging/fuzz torctl/fuzz; do
    cargo fmt --manifest-path "$fuzz/Cargo.toml" -- --check
done
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd extension && npm run --silent lint)

step "Extension unit tests (node --test)"
(cd extension && npm test)

step "Rust tests: unit, property, binaries, daemon, native host, real Firefox, private Tor network"
cargo test --workspace --locked

step "Fuzz smoke: every cargo-fuzz target for ${FUZZ_SECONDS:-10} s over its seed corpus"
./scripts/fuzz-smoke.sh

step "All tests passed"
