#!/usr/bin/env bash
# Packs the extension into an .xpi (a zip of extension/ without development files):
#   scripts/pack-xpi.sh OUT.xpi
# The one packer: scripts/install.sh and the test harness (tests/src/wrappers.rs) both call it.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT.xpi" >&2; exit 2; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "$1")
rm -f "$out"
cd "$repo/extension"
python3 - "$out" <<'PY'
import os, sys, zipfile
# Development files stay out: dependencies, tests, benchmarks, packaging output, npm metadata.
skip_dirs = {"node_modules", "test", "bench", "web-ext-artifacts"}
skip_files = {"package.json", "package-lock.json", "eslint.config.js"}
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in os.walk("."):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs and not d.startswith("."))
        for f in sorted(files):
            if f in skip_files or f.startswith("."):
                continue
            path = os.path.join(root, f)
            z.write(path, os.path.relpath(path, "."))
PY
