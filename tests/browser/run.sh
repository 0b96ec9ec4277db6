#!/usr/bin/env bash
# The web page in a real browser (issue #11): headless Chromium from Debian's package with JavaScript off, at
# 320 px, driven by Playwright. It fills the report form, sends it, reads the reference code, looks it up, does
# the same in Indonesian, and checks the page weight, the labels and that nothing is wider than the screen.
# Screenshots are kept in target/browser-artifacts/.
#
#   bash tests/browser/run.sh [SERVER_BINARY]     # default target/debug/civic311 (build it first)
#
# Installs chromium (apt) when /usr/bin/chromium is missing and creates target/browser-venv from
# tests/browser/requirements.txt. About 20 s once installed.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/../.."
repo=$PWD

bin=${1:-target/debug/civic311}
case "$bin" in
  /*) ;;
  *) if [ -e "$caller/$bin" ]; then bin="$caller/$bin"; else bin="$repo/$bin"; fi ;;
esac
[ -x "$bin" ] || { echo "no server binary at $bin (cargo build --bin civic311)" >&2; exit 2; }

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
venv=target/browser-venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/browser/requirements.txt "$venv/requirements.txt"; then
  echo "== browser venv ($venv)"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/browser/requirements.txt
  cp tests/browser/requirements.txt "$venv/requirements.txt"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/civic311-browser.XXXXXX")
artifacts=target/browser-artifacts
rm -rf "$artifacts"
mkdir -p "$artifacts"
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [ -f "$tmp/server.log" ] && cp "$tmp/server.log" "$artifacts/server.log"
  rm -rf "$tmp"
}
trap cleanup EXIT

: >"$tmp/server.log"
"$bin" serve --bind 127.0.0.1:0 --database-url "sqlite://$tmp/civic311.db" --data-dir "$tmp/data" \
  --import examples/demo-city >"$tmp/server.log" 2>&1 &
server_pid=$!
url=
for _ in $(seq 1 300); do
  url=$(sed -n 's|.*listening on \(http://[0-9.:]*\)/open311/v2.*|\1|p' "$tmp/server.log" | head -n 1)
  if [ -n "$url" ] && curl -fsS "$url/health" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "the server stopped" >&2; exit 1; }
  url=
  sleep 0.1
done
[ -n "$url" ] || { cat "$tmp/server.log" >&2; echo "the server did not come up" >&2; exit 1; }
echo "== browser test against $url"
"$venv/bin/python" tests/browser/web_page.py "$url" "$artifacts"
