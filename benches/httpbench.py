#!/usr/bin/env python3
"""HTTP benchmark of the public API (issue #7): the release server on one core, wrk on the other.

Run through benches/http.sh. For each backend it starts the server on a fresh database with the demo city,
seeds reports through the API (POST benchmark first, then a top-up to --seed reports), optionally adds
--large reports by bulk SQL (copies of API-made reports, spread evenly over three years), runs wrk against
every request in JSON and XML and prints one table: req/s, p50, p99, errors, and the server's RSS at the end.

The server is measured as shipped: default settings except one HTTP worker (CIVIC311_WORKERS=1, the
"one core" of the targets) and the rate limits, which are switched off (the load comes from one address,
which is exactly what they refuse); the printed header says so.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "demo-key-jakarta"
POST_BODY = (
    "api_key=" + KEY + "&service_code=LIGHT&lat=-6.1877&long=106.8238"
    "&address_string=Jl.+MH+Thamrin&description=The+lamp+in+front+of+the+school+is+dark"
    "&attribute%5BSTATE%5D=dark"
)
# Top-up reports: a realistic mix of the demo city's services (DUMPING stays empty on purpose: a filter that
# matches nothing must still be fast).
SEED_BODIES = [
    POST_BODY,
    "api_key=" + KEY + "&service_code=FLOOD&lat=-6.2088&long=106.8456&description=Knee-deep+water"
    "&attribute%5BDEPTH%5D=45&attribute%5BPASSABLE%5D=large&attribute%5BHAZARDS%5D%5B%5D=debris",
    "api_key=" + KEY + "&service_code=DRAIN&lat=-6.1751&long=106.8650&description=Drain+full+of+plastic",
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fsync_probe(directory, n=500):
    """fdatasync latency of this disk right now: POST figures depend on it (notes: it varies ~50x)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"x" * 4096
    times = []
    try:
        for _ in range(n):
            os.write(fd, block)
            t = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def parse_duration_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[unit]


BUST_LUA = """
-- A query parameter the server ignores, different on every request: no answer is served from the cache.
local n = 0
request = function()
  n = n + 1
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, wrk.path .. sep .. "nocache=" .. n)
end
"""


def wrk(url, duration, connections, cores, script=None):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if cores >= 2:
        cmd = ["taskset", "-c", "1"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": parse_duration_ms(p50.group(1)) if p50 else float("nan"),
        "p99": parse_duration_ms(p99.group(1)) if p99 else float("nan"),
        "errors": errors,
    }


class Server:
    def __init__(self, binary, backend, database_url, workdir, cores):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            {
                "CIVIC311_DATABASE_URL": database_url,
                "CIVIC311_BIND": f"127.0.0.1:{self.port}",
                "CIVIC311_DATA_DIR": os.path.join(workdir, "data"),
                "CIVIC311_WORKERS": "1",
                "RUST_LOG": "warn",
            }
        )
        env.pop("CIVIC311_SMTP_URL", None)
        # --demo: the benchmark posts with the demo city's published test key. Rate limits off: wrk is one
        # client address asking tens of thousands of times a second, which the limits exist to refuse.
        cmd = [
            binary, "serve", "--demo", "--import", os.path.join(ROOT, "examples/demo-city"),
            "--rate-limit-post", "off", "--rate-limit-read", "off", "--rate-limit-key", "off",
        ]
        if cores >= 2:
            cmd = ["taskset", "-c", "0"] + cmd
        self.log = open(os.path.join(workdir, f"server-{backend}.log"), "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited at start; see {self.log.name}")
            try:
                urllib.request.urlopen(self.base + "/health", timeout=1).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise SystemExit("the server did not answer /health within 60 s")

    def drain(self):
        """Waits until requests that wrk gave up on are done, so that they do not weigh on the next row."""
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/health", timeout=5).read()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def get_json(self, path):
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return json.loads(r.read())

    def count(self):
        return len(self.get_json("/open311/v2/requests.json?page_size=1000"))


def seed_api(server, target, threads=8):
    """POSTs reports until at least `target` are public (the list is capped at 1000, so count ids)."""
    done = []
    lock = threading.Lock()
    have = server.get_json("/open311/v2/requests.json?page_size=1")
    top = int(have[0]["service_request_id"]) if have else 0
    # Always a few hundred of the mix, so that every service but DUMPING has reports to copy and filter.
    need = max(target - top, 100 * len(SEED_BODIES))
    counter = iter(range(need))

    def worker():
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = SEED_BODIES[i % len(SEED_BODIES)]
            conn.request(
                "POST",
                "/open311/v2/requests.json",
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit(f"seeding POST answered {r.status}")
            with lock:
                done.append(1)
        conn.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if len(done) != need:
        raise SystemExit("seeding failed")


# Bulk seeding for --large: copies of the API-made reports (same columns, attribute answers included), with
# requested/updated times spread evenly over the three years before now. It bypasses the API (routing,
# e-mail) on purpose: it is the fastest honest way to a million stored reports that look like real ones.
COPY_COLUMNS = [
    "jurisdiction_id", "service_code", "status", "detailed_status", "status_notes", "description",
    "agency_responsible", "service_notice", "expected_at", "address", "address_id", "zipcode", "lat", "long",
    "api_key_id", "channel", "hidden", "moderation_state", "department_code", "priority",
]


def copy_columns(has_column):
    """COPY_COLUMNS, and the stored public point where the schema has it (older binaries, for before/after
    comparisons, do not)."""
    return COPY_COLUMNS + [c for c in ("public_lat", "public_long") if has_column(c)]


def seed_bulk_sqlite(path, extra):
    db = sqlite3.connect(path, timeout=60)
    db.execute("PRAGMA busy_timeout = 60000")
    db.isolation_level = None
    # The write lock first: the server may still be committing reports whose clients wrk gave up on.
    db.execute("BEGIN IMMEDIATE")
    # The newest report of each of the three seeded services.
    templates = [r[0] for r in db.execute("SELECT max(id) FROM requests GROUP BY service_code ORDER BY 1 LIMIT 3")]
    base = db.execute("SELECT max(id) FROM requests").fetchone()[0]
    span = 3 * 365 * 86400
    names = {r[1] for r in db.execute("PRAGMA table_info(requests)")}
    columns = copy_columns(lambda c: c in names)
    cols = ", ".join(columns)
    tcols = ", ".join("t." + c for c in columns)
    db.execute(
        f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
        INSERT INTO requests (id, {cols}, requested_at, updated_at)
        SELECT ? + 1 + n.i, {tcols},
               datetime('now', '-' || CAST(? - n.i * ? / ? AS INTEGER) || ' seconds'),
               datetime('now', '-' || CAST(? - n.i * ? / ? AS INTEGER) || ' seconds')
        FROM n JOIN requests t ON t.id = (CASE n.i % 3 WHEN 0 THEN ? WHEN 1 THEN ? ELSE ? END)""",
        (extra, base, span, span, extra, span, span, extra, *templates),
    )
    db.execute(
        """INSERT INTO request_attributes (request_id, code, position, value)
        SELECT r.id, a.code, a.position, a.value FROM requests r
        JOIN request_attributes a ON a.request_id = (CASE (r.id - ? - 1) % 3 WHEN 0 THEN ? WHEN 1 THEN ? ELSE ? END)
        WHERE r.id > ?""",
        (base, *templates, base),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def seed_bulk_pg(url, extra):
    names = set(subprocess.run(
        ["psql", url, "-qAt", "-c",
         "SELECT column_name FROM information_schema.columns WHERE table_name = 'requests'"],
        capture_output=True, text=True, check=True).stdout.split())
    columns = copy_columns(lambda c: c in names)
    cols = ", ".join(columns)
    tcols = ", ".join("t." + c for c in columns)
    sql = f"""
BEGIN;
LOCK TABLE requests IN SHARE ROW EXCLUSIVE MODE;
CREATE TEMP TABLE tpl AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS k
  FROM (SELECT max(id) AS id FROM requests GROUP BY service_code ORDER BY 1 LIMIT 3) AS newest;
CREATE TEMP TABLE base AS SELECT max(id) AS b FROM requests;
INSERT INTO requests (id, {cols}, requested_at, updated_at)
SELECT base.b + 1 + n.i, {tcols},
       now()::timestamp - make_interval(secs => (3 * 365 * 86400) - n.i * (3 * 365 * 86400.0) / {extra}),
       now()::timestamp - make_interval(secs => (3 * 365 * 86400) - n.i * (3 * 365 * 86400.0) / {extra})
FROM generate_series(0, {extra} - 1) AS n(i) CROSS JOIN base
JOIN tpl ON tpl.k = n.i % 3 JOIN requests t ON t.id = tpl.id;
INSERT INTO request_attributes (request_id, code, position, value)
SELECT r.id, a.code, a.position, a.value FROM requests r CROSS JOIN base
JOIN tpl ON tpl.k = (r.id - base.b - 1) % 3 JOIN request_attributes a ON a.request_id = tpl.id
WHERE r.id > base.b;
SELECT setval(pg_get_serial_sequence('requests', 'id'), (SELECT max(id) FROM requests));
COMMIT;
ANALYZE;
"""
    subprocess.run(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1"], input=sql, text=True, check=True,
                   stdout=subprocess.DEVNULL)


def count_stored(backend, where):
    """How many reports the database holds (the newest id would not say: bulk copies are older but larger)."""
    if backend == "sqlite":
        db = sqlite3.connect(where, timeout=60)
        try:
            return db.execute("SELECT count(*) FROM requests").fetchone()[0]
        finally:
            db.close()
    out = subprocess.run(["psql", where, "-qAt", "-c", "SELECT count(*) FROM requests"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def requests_to_run(large, some_id, ids):
    """(label, path, uncached): `uncached` rows defeat the response cache (a fresh query string each time),
    so they measure the database and the rendering; the others measure what a polling client gets."""
    base = [
        ("GET services", "/open311/v2/services.{f}", False),
        ("GET service definition", "/open311/v2/services/FLOOD.{f}", False),
        ("GET discovery", "/open311/discovery.{f}", False),
    ]
    for label, path in [
        ("GET requests/{id}", f"/open311/v2/requests/{some_id}.{{f}}"),
        ("GET requests page_size=50", "/open311/v2/requests.{f}?page_size=50"),
        ("GET requests page_size=1000", "/open311/v2/requests.{f}?page_size=1000"),
        ("GET requests extensions, 50", "/open311/v2/requests.{f}?page_size=50&extensions=true"),
    ]:
        base.append((label + ", cached", path, False))
        base.append((label + ", uncached", path, True))
    if large:
        year_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 365 * 86400))
        month_later = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 335 * 86400))
        recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * 365 * 86400))
        base += [
            (label + ", uncached", path, True)
            for label, path in [
                ("filter service_code=DUMPING (none)", "/open311/v2/requests.{f}?service_code=DUMPING"),
                ("filter service_code=FLOOD, 50", "/open311/v2/requests.{f}?service_code=FLOOD&page_size=50"),
                ("filter status=closed (none), 50", "/open311/v2/requests.{f}?status=closed&page_size=50"),
                ("filter 30-day window a year ago, 50",
                 f"/open311/v2/requests.{{f}}?start_date={year_ago}&end_date={month_later}&page_size=50"),
                ("filter updated_after 1 h ago, 50",
                 f"/open311/v2/requests.{{f}}?updated_after={recent}&page_size=50"),
                ("filter updated_before 2 y ago, 50",
                 f"/open311/v2/requests.{{f}}?updated_before={old}&page_size=50"),
                ("filter 10 service_request_ids", "/open311/v2/requests.{f}?service_request_id=" + ",".join(ids)),
                ("page=200 of 50", "/open311/v2/requests.{f}?page_size=50&page=200"),
            ]
        ]
    return base


def export_memory(server, fmt):
    """Streams the whole public dataset (`requests.{fmt}?all=true`) as a client would, reading 64 KiB at a
    time, while a thread samples the server's RSS every 20 ms. Answers (reports, bytes, seconds, RSS before,
    peak RSS during)."""
    import threading
    server.drain()
    before = rss_mb(server.proc.pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(server.proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    start = time.time()
    size, lines = 0, 0
    mark = b'"type":"Feature"' if fmt == "geojson" else b"\n"
    carry = b""
    try:
        with urllib.request.urlopen(server.base + f"/open311/v2/requests.{fmt}?all=true", timeout=600) as resp:
            while True:
                chunk = resp.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                # The end of the previous chunk, too short to hold a whole mark: a mark cut in two counts once.
                data = carry + chunk
                lines += data.count(mark)
                carry = data[-(len(mark) - 1):] if len(mark) > 1 else b""
    finally:
        done.set()
        t.join()
    seconds = time.time() - start
    # CSV: one line per report after the header (a description with a line break adds one; the seed has none).
    reports = lines - 1 if fmt == "csv" else lines
    return reports, size, seconds, before, peak[0]


def run_backend(args, binary, backend, workdir, cores, exports):
    rows = []
    if backend == "sqlite":
        db_path = os.path.join(workdir, "bench.db")
        url = "sqlite://" + db_path
    else:
        admin = args.pg_url
        name = "civic311_bench"
        subprocess.run(["psql", admin, "-qAt", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                        "-c", f"CREATE DATABASE {name}"], check=True, stdout=subprocess.DEVNULL)
        url = admin.rsplit("/", 1)[0] + "/" + name
    server = Server(binary, backend, url, workdir, cores)
    try:
        d = args.duration
        c = args.connections
        post_script = os.path.join(workdir, "post.lua")
        with open(post_script, "w") as f:
            f.write('wrk.method = "POST"\n')
            f.write('wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
            f.write(f'wrk.body = "{POST_BODY}"\n')
        # One report first, so that the rows do not measure building the routing index.
        urllib.request.urlopen(
            urllib.request.Request(
                server.base + "/open311/v2/requests.json",
                data=POST_BODY.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            timeout=60,
        ).read()
        # The POSTs come first: they are measured on a small database and they seed it. Each row follows one
        # second of the same load that is not counted: a fresh database's first seconds measure the files'
        # first growth (fsync of a growing WAL and database file takes 5-30 ms instead of 1 ms), once.
        for fmt in ("json", "xml"):
            wrk(f"{server.base}/open311/v2/requests.{fmt}", 1, c, cores, post_script)
            server.drain()
            r = wrk(f"{server.base}/open311/v2/requests.{fmt}", d, c, cores, post_script)
            rows.append((backend, "POST requests (urlencoded)", fmt, r))
            server.drain()
            log(f"{backend} POST {fmt}: {r['rps']:.0f} req/s")
        seed_api(server, args.seed)
        if args.large:
            stored = int(server.get_json("/open311/v2/requests.json?page_size=1")[0]["service_request_id"])
            extra = max(0, args.large - stored)
            log(f"{backend}: adding {extra} reports by bulk SQL")
            t = time.time()
            if backend == "sqlite":
                seed_bulk_sqlite(db_path, extra)
            else:
                seed_bulk_pg(url, extra)
            log(f"{backend}: bulk seed took {time.time() - t:.0f} s")
        newest = server.get_json("/open311/v2/requests.json?page_size=1")
        top = int(newest[0]["service_request_id"])
        some_id = str(max(1, top // 2))
        ids = [str(max(1, top - i * 997)) for i in range(10)]
        bust_script = os.path.join(workdir, "bust.lua")
        with open(bust_script, "w") as f:
            f.write(BUST_LUA)
        for label, path, uncached in requests_to_run(args.large, some_id, ids):
            for fmt in ("json", "xml"):
                r = wrk(server.base + path.format(f=fmt), d, c, cores, bust_script if uncached else None)
                server.drain()
                rows.append((backend, label, fmt, r))
                log(f"{backend} {label} {fmt}: {r['rps']:.0f} req/s")
        if args.export:
            for fmt in ("csv", "geojson"):
                exports.append((backend, fmt) + export_memory(server, fmt))
                e = exports[-1]
                log(f"{backend} export {fmt}: {e[2]:,} reports, {e[3] / 1e6:.0f} MB in {e[4]:.1f} s, "
                    f"RSS {e[5]:.0f} → peak {e[6]:.0f} MB")
        rss = rss_mb(server.proc.pid)
        stored = count_stored(backend, db_path if backend == "sqlite" else url)
    finally:
        server.stop()
        if backend == "postgres":
            subprocess.run(["psql", args.pg_url, "-qAt", "-c", "DROP DATABASE IF EXISTS civic311_bench WITH (FORCE)"],
                           stdout=subprocess.DEVNULL)
    return rows, rss, stored


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--duration", type=int, default=10, help="seconds per request and format")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seed", type=int, default=5000, help="at least this many reports through the API")
    p.add_argument("--large", type=int, default=0, help="then this many stored reports in all, by bulk SQL")
    p.add_argument("--pg-url", default=os.environ.get("CIVIC311_TEST_DATABASE_URL",
                                                      "postgres://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--json-out", help="also write the rows as JSON to this file")
    p.add_argument("--export", action="store_true",
                   help="then stream the whole dataset as CSV and GeoJSON and report the server's memory")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    cores = os.cpu_count() or 1
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = tempfile.mkdtemp(prefix="civic311-bench-")
    fs50, fs99 = fsync_probe(workdir)
    all_rows, rss, exports = [], {}, []
    try:
        for b in backends:
            rows, r, stored = run_backend(args, os.path.abspath(args.bin), b, workdir, cores, exports)
            all_rows += rows
            rss[b] = (r, stored)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    pin = "server on core 0, wrk on core 1" if cores >= 2 else "one core: server and wrk share it"
    print(f"# civic311 HTTP benchmark — {time.strftime('%Y-%m-%d %H:%M')} UTC, {cores} cores, {pin}")
    print(f"# wrk -t1 -c{args.connections} -d{args.duration}s per row; one HTTP worker; rate limits "
          f"switched off; fdatasync of 4 KiB: p50 {fs50:.2f} ms, p99 {fs99:.2f} ms")
    print()
    print("| backend | request | fmt | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---:|---:|---:|---:|")
    for backend, label, fmt, r in all_rows:
        print(f"| {backend} | {label} | {fmt} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} |")
    print()
    for b, (r, stored) in rss.items():
        print(f"{b}: server RSS at the end {r:.0f} MB, {stored:,} reports stored")
    if exports:
        print()
        print("| backend | whole export | reports | MB | seconds | RSS before MB | RSS peak MB |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for backend, fmt, reports, size, seconds, before, peak in exports:
            print(f"| {backend} | {fmt} | {reports:,} | {size / 1e6:,.0f} | {seconds:.1f} | {before:.0f} | {peak:.0f} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"rows": all_rows, "rss": rss}, f, indent=1)
    errors = sum(r["errors"] for *_, r in all_rows)
    if errors:
        print(f"{errors} requests failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
