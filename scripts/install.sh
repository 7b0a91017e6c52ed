#!/usr/bin/env bash
# Builds and installs Persite for the current user, registers the native messaging host with
# every Firefox-family browser found, packs the extension, starts the broker daemon and runs
# `persite doctor`.
#
#   PREFIX=/usr/local ./scripts/install.sh     # install elsewhere than ~/.local
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
prefix=${PREFIX:-$HOME/.local}
bindir="$prefix/bin"

step() { printf '\n==> %s\n' "$*"; }

step "Building (release)"
cargo build --release --locked -p persite -p persite-native-messaging

step "Installing binaries into $bindir"
install -d "$bindir"
install -m 0755 target/release/persite target/release/persite-native-host "$bindir/"

step "Registering the native messaging host"
"$bindir/persite" install --browser all

step "Packing the extension"
xpi="$repo/target/persite.xpi"
"$repo/scripts/pack-xpi.sh" "$xpi"
echo "extension: $xpi"

step "Starting the broker daemon"
"$bindir/persite" serve --detach </dev/null >/dev/null 2>&1 &
sleep 1

step "Checking the installation"
"$bindir/persite" doctor || true

cat <<EOF

Persite is installed. Load the extension in Firefox:
  - Firefox ESR / Developer / Nightly: set xpinstall.signatures.required=false in about:config,
    then open $xpi
  - any Firefox, for this session only: about:debugging → This Firefox → Load Temporary Add-on →
    $repo/extension/manifest.json
Make sure $bindir is on your PATH, and see docs/install.md for the browser settings that keep
traffic on Tor when the extension is not running.
EOF
