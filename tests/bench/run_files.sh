#!/usr/bin/env bash
# Static files over HTTP/1.1, netd's files service vs nginx, from one command:
#
#   tests/bench/run_files.sh [--seconds 10] [--servers "nginx netd"] [--keep]
#
# What it does (about 95 s with the defaults):
#   1. installs what is missing with apt-get (as root on Debian 12; `apt-get update` first only
#      if something is missing): nginx-light, wrk, and netd's build dependencies;
#   2. builds netd (ninja target daemon/netd in $NETD_BUILD_DIR, default build/; or takes
#      $NETD_BIN, to compare another build, as meson's benchmark() does);
#   3. makes one temporary directory (under $BENCH_TMPDIR, default the build dir) with a 1 KiB
#      and a 10 MiB file of random bytes, served by both servers from the same place;
#   4. starts nginx (one worker, sendfile on, tcp_nopush on, keep-alive with no request limit,
#      an access log to a file) and netd (threads = 1, only [files], its log to a file: it logs
#      one line per request, as nginx's access log does), each on a free loopback port;
#   5. with 2 or more CPUs pins each server to CPU 0 and wrk to CPU 1 (taskset), so the client
#      does not take the server's CPU. On a 2-CPU machine wrk's two threads share that one core
#      and wrk, not the server, may be the limit: the table shows each server's CPU use and its
#      CPU time per request, which compares the servers even then. With 1 CPU nothing is pinned;
#   6. runs wrk (1 s warm-up, then the measured run) in the order nginx, netd, netd, nginx (ABBA,
#      so a drift over the run favours neither): the 1 KiB file with 64 keep-alive connections
#      (-t2 -c64) and the 10 MiB file with 8 (-t2 -c8). Each run is checked: no socket errors,
#      no non-2xx answers, and at least the file's size received per request. A run during
#      which other processes used more than $NOISE_CPUS CPUs is done again (at most 4 repeats
#      in all); one still noisy is marked so and left out of the averages where a clean run of
#      the same kind exists;
#   7. prints a table per run (requests/s, bytes/s, latency, server CPU, CPU per request, other
#      load), the averages and the ratios netd/nginx for both loads, and writes it all as JSON
#      to $BENCH_TMPDIR/files_bench.json;
#   8. stops both servers (trap), also when interrupted.
#
# Exit status: 0 measured; 1 a run had errors or a server died; 2 usage or setup error.
# A ratio below 1 is reported, not failed: this is a measurement.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=run_files.sh
SECONDS_PER_RUN=10
WARMUP=1
SERVERS="nginx netd"
KEEP=0
NOISE_CPUS=0.3  # CPUs used by other processes during a run that make its figures suspect
# shellcheck source=bench_lib.sh
. "$REPO/tests/bench/bench_lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) SECONDS_PER_RUN=${2:?}; shift 2 ;;
    --servers) SERVERS=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done
for s in $SERVERS; do
    case "$s" in nginx | netd) ;; *) die "--servers takes nginx and/or netd, not '$s'" ;; esac
done

# --- 1. what is missing -------------------------------------------------------------------
PACKAGES=(nginx-light wrk python3)
case " $SERVERS " in *" netd "*)
    [ -n "${NETD_BIN:-}" ] || PACKAGES+=("${NETD_BUILD_PACKAGES[@]}") ;;
esac
ensure_packages "${PACKAGES[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "no nginx binary"
command -v wrk >/dev/null || die "no wrk binary"

# --- 2. build ---------------------------------------------------------------------------------
BUILD=${NETD_BUILD_DIR:-$REPO/build}
NETD=
case " $SERVERS " in *" netd "*) build_netd ;; esac

# --- 3. the files -----------------------------------------------------------------------------
BASE=${BENCH_TMPDIR:-$BUILD}
mkdir -p "$BASE"
BASE=$(realpath "$BASE")
WORK=$(mktemp -d "$BASE/bench-files.XXXXXX")
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/www/10m.bin"
RESULTS=$BASE/files_bench.json

wait_http() {  # until http://127.0.0.1:$1/1k.bin answers, or 10 s
    for _ in $(seq 100); do
        if python3 -c '
import sys, urllib.request
h = urllib.request.ProxyHandler({})
urllib.request.build_opener(h).open("http://127.0.0.1:%s/1k.bin" % sys.argv[1], timeout=1).read()
' "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# --- 5. CPUs ----------------------------------------------------------------------------------
# The lib's pinning, with wrk named.
if [ "${#SERVER_PIN[@]}" -gt 0 ]; then
    PINNING="servers on CPU 0, wrk (2 threads) on CPU 1"
    [ "$NCPU" -eq 2 ] && PINNING="$PINNING: 2 CPUs, so wrk's two threads share one core"
else
    PINNING="no pinning ($NCPU CPU): server and wrk share the machine"
fi
echo "== $NCPU CPUs; $PINNING"

# --- 4. the servers ---------------------------------------------------------------------------
NGINX_PORT=
NGINX_PID=
start_nginx() {
    NGINX_PORT=$(free_port)
    # Started as root, nginx runs its worker as another user unless told otherwise; as netd does
    # here, it runs as the user that owns the files (a loopback benchmark on temp files).
    local user=""
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat >"$WORK/nginx/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
master_process on;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $WORK/nginx/access.log;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000000;  # netd has no per-connection request limit either
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
    }
}
EOF
    "${SERVER_PIN[@]}" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
        -e "$WORK/nginx/error.log" >>"$WORK/nginx/stdout.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_http "$NGINX_PORT" || die "nginx did not start: $(tail -3 "$WORK/nginx/error.log")"
}

NETD_PORT=
NETD_PID=
start_netd() {
    NETD_PORT=$(free_port)
    cat >"$WORK/netd.toml" <<EOF
[daemon]
threads = 1
[log]
level = "info"
path = "$WORK/netd.log"
[files]
listen = ["127.0.0.1:$NETD_PORT"]
root = "$WORK/www"
listing = false
EOF
    "${SERVER_PIN[@]}" "$NETD" -c "$WORK/netd.toml" >>"$WORK/netd.stdout" 2>&1 &
    NETD_PID=$!
    PIDS+=("$NETD_PID")
    wait_http "$NETD_PORT" ||
        die "netd did not start: $(tail -3 "$WORK/netd.stdout") $(tail -3 "$WORK/netd.log" 2>/dev/null)"
}

# wrk prints its own report; this script adds one JSON line with the exact counts.
cat >"$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format('\nRESULT {"requests":%d,"bytes":%d,"duration_us":%d,'
        .. '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,'
        .. '"errors_timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
        summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
        e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
EOF

# CPU ticks: "<all CPUs busy (user+nice+system)> <the server $1: master and workers> <the
# waited-for children of the shell $2: wrk>". Busy time that is neither the server's nor wrk's is
# other load on the machine (a build in another shell), which makes a run's figures worth little.
# Not the lib's cpu_snap: that one counts the kernel threads (ksoftirqd, kworkers) apart and so
# leaves them out of "other"; here they are in it, and wrk is measured from this shell's waited-for
# children, not from its own report. The same figures as before, so results stay comparable.
wrk_cpu_snap() {
    local server=0 pid t
    for pid in "$1" $(pgrep -P "$1" || true); do
        t=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        server=$((server + t))
    done
    echo "$(awk '/^cpu / { print $2 + $3 + $4 }' /proc/stat) $server" \
        "$(awk '{ sub(/.*\) /, ""); print $14 + $15 }' "/proc/$2/stat")"
}

: >"$WORK/runs.jsonl"
FAILED=0
run_once() {  # $1 server, $2 port, $3 pid, $4 file, $5 connections, $6 file size, $7 round
    # Prints the run as a JSON line; exit status 0 ok, 1 errors, 3 disturbed by other load.
    local out b0 s0 w0 b1 s1 w1 result me=$BASHPID  # this (sub)shell: wrk's parent
    "${CLIENT_PIN[@]}" wrk -t2 -c"$5" -d"${WARMUP}s" "http://127.0.0.1:$2/$4" >/dev/null 2>&1 || true
    read -r b0 s0 w0 < <(wrk_cpu_snap "$3" "$me")
    out=$("${CLIENT_PIN[@]}" wrk -t2 -c"$5" -d"${SECONDS_PER_RUN}s" --timeout 10s \
        -s "$WORK/report.lua" "http://127.0.0.1:$2/$4" 2>&1) || true
    read -r b1 s1 w1 < <(wrk_cpu_snap "$3" "$me")
    result=$(printf '%s\n' "$out" | sed -n 's/^RESULT //p' | tail -1)
    if [ -z "$result" ]; then
        echo "$BENCH_NAME: wrk against $1 printed no result:" >&2
        printf '%s\n' "$out" >&2
        return 1
    fi
    python3 - "$result" "$1" "$4" "$5" "$6" "$7" "$CLK_TCK" "$NOISE_CPUS" \
        "$((b1 - b0))" "$((s1 - s0))" "$((w1 - w0))" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
server, name = sys.argv[2], sys.argv[3]
conns, size, rnd, tck = (int(x) for x in sys.argv[4:8])
noise = float(sys.argv[8])
busy, srv, client = (int(x) / tck for x in sys.argv[9:12])
secs = r["duration_us"] / 1e6
errors = sum(v for k, v in r.items() if k.startswith("errors_"))
other = max(busy - srv - client, 0.0) / secs
r.update(server=server, file=name, file_bytes=size, connections=conns, round=rnd,
         seconds=round(secs, 3), requests_per_sec=round(r["requests"] / secs, 1),
         bytes_per_sec=round(r["bytes"] / secs), errors=errors,
         server_cpu=round(srv / secs, 2), client_cpu=round(client / secs, 2),
         other_cpu=round(other, 2), noisy=other > noise,
         server_us_per_request=round(srv * 1e6 / max(r["requests"], 1), 1))
# Every answer a whole file: fewer bytes than requests times the size means short answers.
r["ok"] = errors == 0 and r["requests"] > 0 and r["bytes"] >= r["requests"] * size
print(json.dumps(r))
sys.stderr.write("   %-5s %-8s c=%-3d round %d: %9.0f req/s %8.1f MB/s  p99 %7d us  CPUs: server "
                 "%.2f wrk %.2f other %.2f  errors %d%s\n"
                 % (server, name, conns, rnd, r["requests_per_sec"], r["bytes_per_sec"] / 1e6,
                    r["p99_us"], r["server_cpu"], r["client_cpu"], other, errors,
                    "  <- FAILED" if not r["ok"] else
                    "  <- other load on the machine" if r["noisy"] else ""))
sys.exit(1 if not r["ok"] else 3 if r["noisy"] else 0)
EOF
}
REPEATS_LEFT=4  # for the whole benchmark, so a busy machine cannot make it run for long
run_wrk() {  # run_once's arguments. A run disturbed by other load is done again.
    run_repeated "$1" "$3" "$WORK/runs.jsonl" "$@"
}

# --- 6. the runs ------------------------------------------------------------------------------
# Both servers run all along; ABBA order, so each gets an early and a late slot and a drift over
# the run (other load, thermal limits) does not favour whoever goes second.
case "$SERVERS" in
*nginx*netd* | *netd*nginx*) ROUNDS=(nginx netd netd nginx) ;;
*) read -r -a ROUNDS <<<"$SERVERS" ;;
esac
for server in $SERVERS; do
    if [ "$server" = nginx ]; then start_nginx; else start_netd; fi
done
echo "== wrk: ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s per run; 1k.bin with 64 connections," \
    "10m.bin with 8; order ${ROUNDS[*]}"
declare -A round_of=()
for server in "${ROUNDS[@]}"; do
    round_of[$server]=$((${round_of[$server]:-0} + 1))
    if [ "$server" = nginx ]; then
        port=$NGINX_PORT pid=$NGINX_PID
    else
        port=$NETD_PORT pid=$NETD_PID
    fi
    run_wrk "$server" "$port" "$pid" 1k.bin 64 1024 "${round_of[$server]}"
    run_wrk "$server" "$port" "$pid" 10m.bin 8 $((10 * 1024 * 1024)) "${round_of[$server]}"
done

# --- 7. the table -------------------------------------------------------------------------------
echo
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
NETD_VERSION=$([ -n "$NETD" ] && "$NETD" --version 2>&1 | head -1 || echo "-")
MACHINE="$NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')),"
MACHINE="$MACHINE kernel $(uname -r)"
python3 - "$WORK/runs.jsonl" "$RESULTS" "$PINNING" "$MACHINE" "$NGINX_VERSION" "$NETD_VERSION" \
    "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" <<'EOF' || FAILED=1
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'file':8} {'conns':>5} {'server':6} {'round':>5} {'requests/s':>11} {'bytes/s':>12} "
      f"{'p50_us':>7} {'p99_us':>8} {'srv_cpu':>7} {'srv_us/req':>10} {'other_cpu':>9} "
      f"{'errors':>6}")
for r in runs:
    print(f"{r['file']:8} {r['connections']:>5} {r['server']:6} {r['round']:>5} "
          f"{r['requests_per_sec']:>11.0f} {r['bytes_per_sec']:>12} {r['p50_us']:>7} "
          f"{r['p99_us']:>8} {r['server_cpu']:>7.2f} {r['server_us_per_request']:>10} "
          f"{r['other_cpu']:>9.2f} {r['errors']:>6}{'  (noisy)' if r['noisy'] else ''}")
print()
summary, ratios = {}, {}
for name in dict.fromkeys(r["file"] for r in runs):
    for server in ("nginx", "netd"):
        rs = [r for r in runs if r["file"] == name and r["server"] == server]
        if not rs:
            continue
        # Other load only ever lowers a figure: leave noisy runs out where a clean one exists.
        clean = [r for r in rs if not r["noisy"]] or rs
        secs = sum(r["seconds"] for r in clean)
        reqs = sum(r["requests"] for r in clean)
        summary.setdefault(name, {})[server] = {
            "requests_per_sec": round(reqs / secs, 1),
            "bytes_per_sec": round(sum(r["bytes"] for r in clean) / secs),
            "server_us_per_request": round(sum(r["server_us_per_request"] * r["requests"]
                                               for r in clean) / max(reqs, 1), 1),
            "runs": len(rs), "clean_runs": len([r for r in rs if not r["noisy"]])}
    by = summary[name]
    for server, m in by.items():
        print(f"{name:8} {server:6} {m['requests_per_sec']:>9.0f} requests/s "
              f"{m['bytes_per_sec'] / 2**20:>8.1f} MiB/s  server {m['server_us_per_request']} "
              f"us CPU/request  ({m['clean_runs']} of {m['runs']} runs clean)")
    if "netd" in by and "nginx" in by and by["nginx"]["requests_per_sec"]:
        ratios[name] = {
            "requests_per_sec": round(by["netd"]["requests_per_sec"]
                                      / by["nginx"]["requests_per_sec"], 3),
            "bytes_per_sec": round(by["netd"]["bytes_per_sec"]
                                   / max(by["nginx"]["bytes_per_sec"], 1), 3),
            "server_cpu_per_request": round(by["netd"]["server_us_per_request"]
                                            / max(by["nginx"]["server_us_per_request"], 0.1), 3)}
        q = ratios[name]
        q["reliable"] = all(m["clean_runs"] for m in by.values())
        print(f"{name:8} ratio netd/nginx: {q['requests_per_sec']:.2f}x requests/s, "
              f"{q['bytes_per_sec']:.2f}x bytes/s, {q['server_cpu_per_request']:.2f}x server "
              f"CPU per request (below 1: netd is cheaper)"
              + ("" if q["reliable"] else "; UNRELIABLE: a server had no clean run"))
print(f"pinning: {sys.argv[3]}")
print("srv_cpu: CPUs the server used in a run (1.00 = one core busy); well below 1 means wrk was "
      "the limit, and then srv_us/req (server CPU per request) compares the servers better")
if any(r["noisy"] for r in runs):
    print("note: other processes used the CPUs during runs marked noisy; their figures are low")
print(f"machine: {sys.argv[4]}; nginx {sys.argv[5]}; {sys.argv[6]}; {sys.argv[7]}")
with open(sys.argv[2], "w") as f:
    json.dump({"benchmark": "files-vs-nginx", "runs": runs, "summary": summary,
               "ratio_netd_nginx": ratios, "pinning": sys.argv[3], "machine": sys.argv[4],
               "nginx": sys.argv[5], "netd": sys.argv[6], "wrk": sys.argv[7]}, f, indent=2)
    f.write("\n")
print(f"results: {sys.argv[2]}")
sys.exit(0 if all(r["ok"] for r in runs) else 1)
EOF
if [ "$FAILED" -ne 0 ]; then
    echo "$BENCH_NAME: a run had errors or short answers (see above)" >&2
    exit 1
fi
