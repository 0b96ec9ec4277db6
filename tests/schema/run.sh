#!/usr/bin/env bash
# A bounded schemathesis run of openapi/openapi.yaml against a real server, for CI: every operation, every
# check schemathesis has (all are on by default; the few per-operation allowances are in schemathesis.toml,
# each with its reason), 100 generated cases per operation and phase; non-zero exit on any failure.
#
#   bash tests/schema/run.sh [SERVER_BINARY] [ST_RUN_ARGS…]     # default target/debug/civic311 (build it first)
#
# About a minute on 2 cores with a debug build (plus ≈ 30 s the first time, to create the venv). It creates
# target/schema-venv (schemathesis, pinned in tests/schema/requirements.txt) when absent or when the
# requirements changed; starts the server on a free loopback port against a fresh SQLite file in a temporary
# directory, with the demo city and --demo (its published keys); creates staff accounts with `user create`,
# posts a few reports so that identifiers exist and signs in (POST /staff/v1/session); then runs schemathesis
# with tests/schema/schemathesis.toml and tests/schema/hooks.py (the credentials of each operation, and guards
# that keep the fuzzer from locking the run out). The JUnit and NDJSON reports and the server log are left
# in target/schema-report; the server is stopped and the temporary directory removed on exit.
#
# Longer runs: more cases per operation and phase (≈ 3 min for 300), another seed (the run prints its seed;
# the same seed replays the same cases), extra `st run` options after the binary:
#   CIVIC311_SCHEMA_EXAMPLES=1000 bash tests/schema/run.sh target/release/civic311
#   CIVIC311_SCHEMA_SEED=1234 bash tests/schema/run.sh target/debug/civic311
#   bash tests/schema/run.sh target/debug/civic311 --include-path-regex '^/staff/' --max-failures 5
# Staff access tokens live 10 minutes; hooks.py rotates the run's session, so runs of any length work.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/../.."
repo=$PWD
started=$SECONDS

bin=${1:-target/debug/civic311}
shift || true
case "$bin" in
  /*) ;;
  *) if [ -e "$caller/$bin" ]; then bin="$caller/$bin"; else bin="$repo/$bin"; fi ;;
esac
if [ ! -x "$bin" ]; then
  echo "no server binary at $bin (cargo build --bin civic311, or give its path)" >&2
  exit 2
fi
examples=${CIVIC311_SCHEMA_EXAMPLES:-100}
seed=${CIVIC311_SCHEMA_SEED:-}

venv=target/schema-venv
if [ ! -x "$venv/bin/st" ] || ! cmp -s tests/schema/requirements.txt "$venv/requirements.txt"; then
  echo "== schemathesis venv ($venv)"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/schema/requirements.txt
  cp tests/schema/requirements.txt "$venv/requirements.txt"
fi
py="$venv/bin/python"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/civic311-schema.XXXXXX")
report=target/schema-report
rm -rf "$report"
mkdir -p "$report"
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [ -f "$tmp/server.log" ] && cp "$tmp/server.log" "$report/server.log"
  rm -rf "$tmp"
}
trap cleanup EXIT

db="sqlite://$tmp/civic311.db"
# The rate limits are off: the run sends thousands of requests from one address (and with one API key) within
# a minute or two, far past the per-address and per-key quotas, and 429s would hide every other answer. The
# 429 answers themselves are documented (RateLimited) and covered by the API tests. The staff sign-in throttle
# cannot be turned off and does not need to be: see hooks.py.
echo "== server ($bin)"
: >"$tmp/server.log"
"$bin" serve --demo --bind 127.0.0.1:0 --database-url "$db" --data-dir "$tmp/data" \
  --import examples/demo-city \
  --rate-limit-post off --rate-limit-read off --rate-limit-key off >"$tmp/server.log" 2>&1 &
server_pid=$!
url=
for _ in $(seq 1 300); do
  url=$(sed -n 's|.*listening on \(http://[0-9.:]*\)/open311/v2.*|\1|p' "$tmp/server.log" | head -n 1)
  if [ -n "$url" ] && curl -fsS "$url/health" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$tmp/server.log" >&2
    echo "the server stopped" >&2
    exit 1
  fi
  url=
  sleep 0.1
done
[ -n "$url" ] || { cat "$tmp/server.log" >&2; echo "the server did not come up" >&2; exit 1; }
echo "   listening on $url"

# Staff accounts: the run's administrator, a spare administrator (the target of user routes aimed at the
# run's own account, see hooks.py), a dispatcher and a department member so that lists hold every role.
password='schemathesis-run-passphrase'
new_user() {
  CIVIC311_NEW_PASSWORD="$password" "$bin" user create --database-url "$db" "$@" |
    sed -n 's/.*(id \([^)]*\)).*/\1/p'
}
admin_id=$(new_user schema-admin)
spare_user_id=$(new_user schema-spare-admin)
new_user schema-dispatcher --role dispatcher --jurisdiction jakarta.go.id >/dev/null
new_user schema-staff --role staff --jurisdiction jakarta.go.id --department SDA-JP >/dev/null
[ -n "$admin_id" ] && [ -n "$spare_user_id" ] || { echo "could not create the staff accounts" >&2; exit 1; }

json() { "$py" -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
sign_in() {
  curl -fsS -H 'Content-Type: application/json' \
    -d "{\"username\":\"schema-admin\",\"password\":\"$password\"}" "$url/staff/v1/session"
}
session=$(sign_in)
access=$(json 'd["access_token"]' <<<"$session")
refresh=$(json 'd["refresh_token"]' <<<"$session")
signout_access=$(sign_in | json 'd["access_token"]')
staff=(-H "Authorization: Bearer $access")

# Data for the identifiers of the GETs: reports in each encoding (one with a photo, one of a batch
# service, which answers a token), a back-office update and a public note.
app_key=demo-key-jakarta
backoffice_key=demo-backoffice-jakarta
curl -fsS -o /dev/null -F api_key=$app_key -F service_code=FLOOD -F lat=-6.1877 -F long=106.8238 \
  -F 'address_string=Jl. MH Thamrin, Jakarta Pusat' -F 'description=Water up to the knees' \
  -F 'attribute[DEPTH]=45' -F 'attribute[PASSABLE]=large' -F 'attribute[HAZARDS][]=debris' \
  -F 'media=@examples/flood-photo.jpg' "$url/open311/v2/requests.json"
curl -fsS -o /dev/null -d api_key=$app_key -d service_code=LIGHT -d lat=-6.2 -d long=106.84 \
  -d 'attribute[STATE]=dark' -d 'attribute[POLE]=PJU-117' "$url/open311/v2/requests.xml"
token=$(curl -fsS -H 'Content-Type: application/json' \
  -d "{\"api_key\":\"$app_key\",\"service_code\":\"DUMPING\",\"address_string\":\"Kali Ciliwung, Manggarai\",\"attribute\":{\"AMOUNT\":\"truck\"}}" \
  "$url/open311/v2/requests.json" | json 'd[0]["token"]')
media=$(curl -fsS "$url/open311/v2/requests/1.json" | json 'd[0]["media_url"].rsplit("/", 1)[1]')
curl -fsS -o /dev/null -d api_key=$backoffice_key -d service_request_id=1 -d update_id=wo-1 -d status=IN_PROGRESS \
  -d updated_datetime=2026-01-15T10:00:00+07:00 -d 'description=Crew on site' \
  "$url/open311/v2/servicerequestupdates.json"
curl -fsS -o /dev/null "${staff[@]}" -H 'Content-Type: application/json' \
  -d '{"text":"The pump truck is on its way","public":true}' "$url/staff/v1/requests/2/notes"
# The keys the run needs are protected from revocation (hooks.py revokes a spare key instead).
protected_key_ids=$(curl -fsS "${staff[@]}" "$url/staff/v1/apikeys" | json '",".join(k["id"] for k in d)')
spare_key_id=$(curl -fsS "${staff[@]}" -H 'Content-Type: application/json' \
  -d '{"name":"schemathesis spare","kind":"test"}' "$url/staff/v1/apikeys" | json 'd["id"]')

# A scan of the paper form on report 1, and the reports' reference codes, for the routes that take them.
scan_id=$(curl -fsS "${staff[@]}" -H 'Content-Type: application/pdf' --data-binary $'%PDF-1.4\n% a form\n' \
  "$url/staff/v1/requests/1/scans" | json 'd["id"]')
codes=$(for id in 1 2 3; do
  curl -fsS "$url/open311/v2/requests/$id.json?extensions=true" 2>/dev/null |
    json 'd[0]["extended_attributes"]["reference_code"]' || true
done)

# Identifiers only known now, as dictionaries for schemathesis.toml (libFuzzer format, one quoted value a line).
printf '"%s"\n' "$token" >"$report/tokens.dict"
printf '"%s"\n' "$media" >"$report/media.dict"
printf '"%s"\n' "$scan_id" >"$report/scans.dict"
printf '"%s"\n' $codes >"$report/codes.dict"

export CIVIC311_ST_URL="$url" CIVIC311_ST_APP_KEY="$app_key" CIVIC311_ST_BACKOFFICE_KEY="$backoffice_key" \
  CIVIC311_ST_ACCESS="$access" CIVIC311_ST_REFRESH="$refresh" CIVIC311_ST_SIGNOUT_ACCESS="$signout_access" \
  CIVIC311_ST_ADMIN_ID="$admin_id" CIVIC311_ST_SPARE_USER_ID="$spare_user_id" \
  CIVIC311_ST_PROTECTED_KEY_IDS="$protected_key_ids" CIVIC311_ST_SPARE_KEY_ID="$spare_key_id"
export SCHEMATHESIS_HOOKS="$repo/tests/schema/hooks.py"
setup=$((SECONDS - started))

echo "== schemathesis $("$venv/bin/st" --version | sed 's/.*version //'), $examples cases per operation and phase"
# One worker: schemathesis' threads meet a CPython 3.11 bug in ast.parse (gh-106905, "AST constructor
# recursion depth mismatch") that Hypothesis calls; one worker is fast enough here (the server answers in
# well under a millisecond).
args=(--url "$url" --max-examples "$examples" --workers 1 --no-color --report junit,ndjson --report-dir .)
[ -n "$seed" ] && args+=(--seed "$seed")
fuzz_started=$SECONDS
status=0
# From the report directory: schemathesis keeps its cache (.schemathesis, which replays earlier failures
# first) and Hypothesis its example database (.hypothesis) in the working directory; a run starts from none.
(cd "$report" && "$repo/$venv/bin/st" --config-file "$repo/tests/schema/schemathesis.toml" \
  run "$repo/openapi/openapi.yaml" "${args[@]}" "$@") || status=$?
echo "== took $((SECONDS - started)) s (setup ${setup} s, schemathesis $((SECONDS - fuzz_started)) s); reports in $report"
if [ "$status" -ne 0 ]; then
  echo "schemathesis failed (exit $status); server log: $report/server.log" >&2
fi
exit "$status"
