#!/usr/bin/env bash
# Fuzz smoke: builds every cargo-fuzz target of the repository and runs each for a bounded time
# over its seed corpus (<crate>/fuzz/corpus/<target>/), failing on any crash, panic, leak of a
# property assertion or hang. Called by scripts/test.sh; also useful alone after touching a
# parser. The long runs and their figures are in docs/reliability.md ("Fuzzing").
#
#   scripts/fuzz-smoke.sh                 every target, FUZZ_SECONDS (default 10) each
#   scripts/fuzz-smoke.sh torctl/events   one target (crate/target); builds only its crate
#
# Needs the nightly toolchain (installed with rustup when missing) and cargo-fuzz (built from
# crates.io into $PERSITE_CACHE/tools, like geckodriver in scripts/test.sh, when missing).
# The seed corpora are only read: inputs the fuzzer finds go to a temporary directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cache=${PERSITE_CACHE:-$HOME/.cache/persite}
cargo_fuzz_version=0.13.2
seconds=${FUZZ_SECONDS:-10}

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The crates with a fuzz/ directory; each one's targets are the [[bin]]s of fuzz/Cargo.toml.
crates=(torctl native-messaging broker)
targets_of() { (cd "$1" && cargo +nightly fuzz list); }

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain (cargo-fuzz needs it for the sanitizer flags)"
    rustup toolchain install nightly --profile minimal
fi
export PATH="$cache/tools/bin:$PATH"
installed=$(cargo fuzz --version 2>/dev/null || true)
if [[ "$installed" != *"$cargo_fuzz_version"* ]]; then
    echo "building cargo-fuzz $cargo_fuzz_version from crates.io into $cache/tools (once)"
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --root "$cache/tools"
fi

# One target directory for the three fuzz crates, so dependencies they share build once.
target_dir="${CARGO_TARGET_DIR:-$repo/target}/fuzz"
# Address sanitizer off: the fuzzed code has no unsafe, and the build is much faster.
flags=(--sanitizer none --target-dir "$target_dir")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

selected=("$@")
wanted() {
    [ ${#selected[@]} -eq 0 ] && return 0
    local s
    for s in "${selected[@]}"; do [[ "$s" == "$1/$2" || ( -z "$2" && "$s" == "$1/"* ) ]] && return 0; done
    return 1
}
for s in "${selected[@]}"; do
    [ -f "${s%/*}/fuzz/fuzz_targets/${s#*/}.rs" ] || die "no fuzz target $s (crate/target)"
done

start=$SECONDS
for crate in "${crates[@]}"; do
    wanted "$crate" "" || continue
    step "fuzz build: $crate/fuzz"
    (cd "$crate" && cargo +nightly fuzz build "${flags[@]}")
done
echo "built in $((SECONDS - start)) s"

failed=()
for crate in "${crates[@]}"; do
    for target in $(targets_of "$crate"); do
        wanted "$crate" "$target" || continue
        seeds="$crate/fuzz/corpus/$target"
        [ -d "$seeds" ] || die "no seed corpus at $seeds"
        step "fuzz run: $crate/$target (${seconds} s over $(ls "$seeds" | wc -l) inputs)"
        mkdir -p "$work/$target"
        log="$work/$target.log"
        if (cd "$crate" && cargo +nightly fuzz run "${flags[@]}" "$target" \
            "$work/$target" "fuzz/corpus/$target" -- \
            -max_total_time="$seconds" -timeout=10 -print_final_stats=1) >"$log" 2>&1; then
            echo "ok: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") inputs, no crash"
        else
            grep -E -A6 'panicked at|==ERROR|ERROR: libFuzzer' "$log" | head -n 30 || true
            grep -E -A2 '^Failing input:|^Reproduce with:' "$log" || tail -n 30 "$log"
            failed+=("$crate/$target")
        fi
    done
done

echo "fuzz smoke took $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    die "fuzz targets failed: ${failed[*]} (the crashing input is in <crate>/fuzz/artifacts/<target>/)"
fi
