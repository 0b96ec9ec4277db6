#!/usr/bin/env bash
# Fuzzes every target for a short, bounded time (CI: FUZZ_SECONDS=20 each, debug build). A longer run, e.g.
# an hour per target on an optimised build:
#   FUZZ_SECONDS=3600 FUZZ_RELEASE=1 bash tests/fuzz/run.sh
# One target: bash tests/fuzz/run.sh photo. New inputs collect in tests/fuzz/corpus/<target> (not committed);
# a failing input is written to tests/fuzz/artifacts/<target>/ and the run fails.
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-20}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(form multipart attributes xml photo)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
# libFuzzer's instrumentation needs unstable compiler flags: a nightly toolchain when the machine has one,
# otherwise the stable compiler told to accept them.
if cargo +nightly --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
  toolchain=()
fi
profile=(--dev)
[ "${FUZZ_RELEASE:-0}" = 1 ] && profile=()

cargo "${toolchain[@]}" fuzz build --fuzz-dir . "${profile[@]}" "${targets[@]:0:1}" >/dev/null
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== fuzz $t (${secs} s)"
  set +e
  cargo "${toolchain[@]}" fuzz run --fuzz-dir . "${profile[@]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | grep -E "^Done|panicked|SUMMARY|Test unit written"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" != 0 ]; then
    echo "fuzz target $t failed (exit $status): the input is in tests/fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
