#!/bin/sh
# Refresh the vendored Public Suffix List (broker/data/public_suffix_list.dat).
#
# Upstream is https://publicsuffix.org/list/public_suffix_list.dat (with internet access:
#   curl -fsSL https://publicsuffix.org/list/public_suffix_list.dat -o broker/data/public_suffix_list.dat
# gives the newest list; check that its "// VERSION:" header is present).
#
# Without general internet access we take the copy shipped in the PyPI package `publicsuffixlist`,
# which is re-released whenever the list changes and keeps upstream's "// VERSION:" and
# "// COMMIT:" headers. The broker compares that VERSION header with the system copy at runtime
# (see broker/src/isolation/psl.rs), so a refreshed list must keep it.
set -eu

repo_root=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo_root/broker/data/public_suffix_list.dat"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

python3 -m pip download --quiet --no-deps --no-binary :none: -d "$work" publicsuffixlist
wheel=$(ls "$work"/publicsuffixlist-*.whl)
python3 -m zipfile -e "$wheel" "$work/unpacked"
list="$work/unpacked/publicsuffixlist/public_suffix_list.dat"

if ! grep -q '^// VERSION: ' "$list"; then
    echo "refresh-psl: $wheel has no '// VERSION:' header; refusing to vendor it" >&2
    exit 1
fi
if ! grep -q 'BEGIN ICANN DOMAINS' "$list" || ! grep -q 'BEGIN PRIVATE DOMAINS' "$list"; then
    echo "refresh-psl: $wheel does not look like a public suffix list" >&2
    exit 1
fi

cp "$list" "$dest"
vectors="$repo_root/broker/tests/data/psl-test-vectors.txt"
version=$(basename "$wheel" | sed -e 's/^publicsuffixlist-//' -e 's/-py3.*//')
{
    echo "// Public Suffix List project test vectors, verbatim from upstream tests/test_psl.txt as shipped in"
    echo "// the PyPI package publicsuffixlist $version (refreshed by scripts/refresh-psl.sh)."
    echo "// Note: /work/shared/reference/psl-test-vectors.txt differs from upstream on city.kobe.jp (it"
    echo "// expects kobe.jp; upstream and the PSL algorithm give city.kobe.jp, since !city.kobe.jp is an"
    echo "// exception rule) and was not used."
    echo
    cat "$work/unpacked/publicsuffixlist/test_psl.txt"
} > "$vectors"
echo "refresh-psl: vendored $(basename "$wheel") (list and test vectors)"
grep -m2 -E '^// (VERSION|COMMIT): ' "$dest"
echo "Now run: cargo test -p persite --test site_psl_vectors --test site_cases"
