#!/usr/bin/env bash
# From a fresh clone to a protected browser: builds and installs Persite for the current user,
# packs the extension into Persite's data directory, and ends by running `persite browser`
# (tor check, daemon, native host, Persite's own Firefox profile with the add-on, the browser).
#
#   ./scripts/install.sh                  # … then opens the browser
#   ./scripts/install.sh --managed-tor    # arguments go to `persite browser`
#   ./scripts/install.sh --no-browser     # install only, then `persite doctor`
#   PREFIX=/usr/local ./scripts/install.sh     # install elsewhere than ~/.local
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
prefix=${PREFIX:-$HOME/.local}
bindir="$prefix/bin"
# Persite's data directory, by the rule of broker/src/paths.rs (a relative $XDG_DATA_HOME is
# ignored).
case "${XDG_DATA_HOME:-}" in
  /*) datadir="$XDG_DATA_HOME/persite" ;;
  *) datadir="$HOME/.local/share/persite" ;;
esac

step() { printf '\n==> %s\n' "$*"; }

# Where cargo puts the build: $CARGO_TARGET_DIR when set (relative to the repository), else target/.
target=${CARGO_TARGET_DIR:-target}

step "Building (release)"
cargo build --release --locked -p persite -p persite-native-messaging

step "Installing binaries into $bindir"
install -d "$bindir"
install -m 0755 "$target/release/persite" "$target/release/persite-native-host" "$bindir/"

step "Packing the extension into $datadir/persite.xpi"
install -d -m 0700 "$datadir"
"$repo/scripts/pack-xpi.sh" "$datadir/persite.xpi"

case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "note: $bindir is not on your PATH; add it to run \`persite\` by name" ;;
esac

if [ "${1:-}" = "--no-browser" ]; then
  step "Registering the native messaging host"
  "$bindir/persite" install --browser all
  step "Checking the installation"
  "$bindir/persite" doctor || true
  echo
  echo "Installed. Run \`$bindir/persite browser\` to open Persite's browser."
  exit 0
fi

step "Starting Persite's browser"
exec "$bindir/persite" browser "$@"
