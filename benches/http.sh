#!/usr/bin/env bash
# The HTTP benchmark of the public API (docs/BENCHMARKS.md). Builds the release binary, then runs
# benches/httpbench.py: the server on core 0 with one HTTP worker, wrk on core 1, on a fresh SQLite file and a
# fresh PostgreSQL database, every request in JSON and XML, one table at the end.
#
#   bash benches/http.sh                      # 10 s per row, >= 5,000 reports seeded through the API
#   bash benches/http.sh --large 1000000      # then a million stored reports, and every filter of the API
#   bash benches/http.sh --large 200000 --export   # and a whole export streamed as CSV and GeoJSON, with RSS
#   bash benches/http.sh --short              # CI: 1 s per row, 300 reports, the debug build
#   bash benches/http.sh --bin PATH ...       # measure a binary built elsewhere (before/after comparisons)
#
# PostgreSQL: CIVIC311_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), a role that
# may create databases; the benchmark uses a database of its own, civic311_bench, dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

bin=""
profile=release
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --short) profile=debug; args+=(--duration 1 --seed 300 --connections 8 --export); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ -z "$bin" ]; then
  if [ "$profile" = release ]; then
    cargo build --release --quiet --bin civic311
    bin=target/release/civic311
  else
    cargo build --quiet --bin civic311
    bin=target/debug/civic311
  fi
fi

exec python3 benches/httpbench.py --bin "$bin" "${args[@]}"
