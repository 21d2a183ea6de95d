#!/usr/bin/env bash
# Memory per idle connection (issue 6): netd's ping, ack, sensor and files services vs redis and
# nginx, from one command:
#
#   tests/bench/run_memory.sh [--count 10000] [--servers "ping ack sensor files redis nginx"]
#                             [--keep]
#
# What it does (about 2 minutes with the defaults):
#   1. installs what is missing with apt-get (as root on Debian 12): redis-server, nginx-light,
#      python3 and netd's build dependencies; builds netd as run_files.sh does ($NETD_BIN, or
#      ninja's daemon/netd in $NETD_BUILD_DIR, default build/);
#   2. raises the descriptor limit (ulimit -n) to --count plus some for this script and the
#      servers it starts: each end of each connection is a descriptor;
#   3. for each server in turn, a fresh process (so memory freed by the previous one's
#      connections does not hide this one's), on a free loopback port: netd with threads = 1 and
#      only that service (deadlines raised to 10 minutes so nothing is closed while measured;
#      sensor with durability = "write"; files serving a 1 KiB file), redis-server (`save ""`,
#      `appendonly no`, maxclients above --count) and nginx (one worker, the files served from
#      the same directory, keep-alive 10 minutes);
#   4. runs tests/bench/idle_conns.py against it: --count connections from 4 local addresses
#      (127.0.0.2-5), and the server's VmRSS and Pss (smaps_rollup) before, once they are all
#      accepted ("connected": nothing sent yet), 2 s after each sent one request and read its
#      reply ("after a request": an idle keep-alive client), and 10 s after that ("idle 10s":
#      redis frees an idle client's query buffer after 2 s, allocators return pages late).
#      For nginx the worker process is measured (it holds the connections);
#   5. prints a table of bytes per connection and the target of issue 6 (<= 1 KiB per idle
#      connection on any netd service), and writes it as JSON to $BENCH_TMPDIR/memory_bench.json
#      (default: the build dir's tests/bench/).
#
# Kernel memory is not in a process's RSS: each TCP socket's structures (tcp_sock, the file,
# the epoll item; a few KiB per end) are slab memory, the same for every server. The table shows
# the machine's Slab growth per connection (both ends of a loopback connection, plus whatever
# else ran meanwhile: approximate), for scale.
#
# Exit status: 0 measured; 1 a server refused or dropped connections or died; 2 usage or setup
# error. A figure over the target is reported, not failed: this is a measurement.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=run_memory.sh
COUNT=10000
SERVERS="ping ack sensor files redis nginx"
KEEP=0
TARGET_BYTES=1024
# shellcheck source=bench_lib.sh
. "$REPO/tests/bench/bench_lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
    --count) COUNT=${2:?}; shift 2 ;;
    --servers) SERVERS=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done
for s in $SERVERS; do
    case "$s" in ping | ack | sensor | files | redis | nginx) ;;
    *) die "--servers takes ping ack sensor files redis nginx, not '$s'" ;; esac
done

# --- 1. packages and build ----------------------------------------------------------------------
PACKAGES=(python3)
case " $SERVERS " in *" redis "*) PACKAGES+=(redis-server redis-tools) ;; esac
case " $SERVERS " in *" nginx "*) PACKAGES+=(nginx-light) ;; esac
NEED_NETD=0
case " $SERVERS " in *" ping "* | *" ack "* | *" sensor "* | *" files "*) NEED_NETD=1 ;; esac
[ "$NEED_NETD" -eq 0 ] || [ -n "${NETD_BIN:-}" ] || PACKAGES+=("${NETD_BUILD_PACKAGES[@]}")
ensure_packages "${PACKAGES[@]}"
BUILD=${NETD_BUILD_DIR:-$REPO/build}
NETD=
[ "$NEED_NETD" -eq 0 ] || build_netd
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- 2. descriptors -----------------------------------------------------------------------------
NOFILE=$((COUNT + 2048))
if [ "$(ulimit -n)" -lt "$NOFILE" ]; then
    ulimit -n "$NOFILE" 2>/dev/null || ulimit -Sn "$NOFILE" 2>/dev/null ||
        die "need $NOFILE descriptors (ulimit -n); the hard limit is $(ulimit -Hn):" \
            "run as root or lower --count"
fi

BASE=${BENCH_TMPDIR:-$BUILD/tests/bench}
mkdir -p "$BASE"
BASE=$(realpath "$BASE")
WORK=$(mktemp -d "$BASE/bench-memory.XXXXXX")
RESULTS=$BASE/memory_bench.json
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"

# --- 3. one server at a time ------------------------------------------------------------------
SERVER_PID=   # the process that runs the server (stopped after its run)
MEASURE_PID=  # the process that holds the connections (nginx: the worker)
PORT=
start_netd() {  # $1: service
    PORT=$(free_port)
    local section
    case "$1" in
    ping | ack) section="idle_timeout = \"10m\"" ;;
    sensor) section="idle_timeout = \"10m\"
data_file = \"$WORK/readings.jsonl\"
durability = \"write\"" ;;
    files) section="root = \"$WORK/www\"
listing = false
header_timeout = \"10m\"
idle_timeout = \"10m\"" ;;
    esac
    cat >"$WORK/netd-$1.toml" <<EOF
[daemon]
threads = 1
max_connections = $((COUNT + 1000))
control = ""
[log]
level = "info"
path = "$WORK/netd-$1.log"
[$1]
listen = ["127.0.0.1:$PORT"]
$section
EOF
    "${SERVER_PIN[@]}" "$NETD" -c "$WORK/netd-$1.toml" >>"$WORK/netd-$1.stdout" 2>&1 &
    SERVER_PID=$!
    MEASURE_PID=$SERVER_PID
    PIDS+=("$SERVER_PID")
    wait_port "$PORT" || die "netd ($1) did not start: $(tail -3 "$WORK/netd-$1.stdout")"
}
start_redis() {
    PORT=$(free_port)
    mkdir -p "$WORK/redis"
    # protected-mode would refuse the clients from 127.0.0.2-5 (it trusts only 127.0.0.1 and
    # ::1); bound to 127.0.0.1, nothing outside the machine can reach it anyway.
    "${SERVER_PIN[@]}" redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode no \
        --daemonize no --dir "$WORK/redis" --logfile "$WORK/redis.log" --save "" \
        --appendonly no --maxclients $((COUNT + 1000)) --timeout 0 &
    SERVER_PID=$!
    MEASURE_PID=$SERVER_PID
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    die "redis did not start: $(tail -3 "$WORK/redis.log")"
}
start_nginx() {
    PORT=$(free_port)
    mkdir -p "$WORK/nginx"
    local user=""
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat >"$WORK/nginx/nginx.conf" <<EOF
$user
worker_processes 1;
worker_rlimit_nofile $NOFILE;
daemon off;
master_process on;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections $((COUNT + 1000)); }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $WORK/nginx/access.log;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    client_header_timeout 10m;
    keepalive_timeout 10m;
    keepalive_requests 1000000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $WORK/www;
    }
}
EOF
    "${SERVER_PIN[@]}" "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
        -e "$WORK/nginx/error.log" >>"$WORK/nginx/stdout.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$PORT" || die "nginx did not start: $(tail -3 "$WORK/nginx/error.log")"
    MEASURE_PID=
    for _ in $(seq 50); do
        MEASURE_PID=$(pgrep -P "$SERVER_PID" | head -1 || true)
        [ -n "$MEASURE_PID" ] && break
        sleep 0.1
    done
    [ -n "$MEASURE_PID" ] || die "no nginx worker process"
}

RUNS=$WORK/runs.jsonl
: >"$RUNS"
FAILED=0
echo "== $COUNT idle connections per server, one server at a time; $PINNING"
for s in $SERVERS; do
    case "$s" in
    redis) start_redis; proto=redis; label=redis ;;
    nginx) start_nginx; proto=http; label=nginx ;;
    files) start_netd files; proto=http; label="netd files" ;;
    *) start_netd "$s"; proto=$s; label="netd $s" ;;
    esac
    line=$("${CLIENT_PIN[@]}" python3 "$REPO/tests/bench/idle_conns.py" --port "$PORT" \
        --pid "$MEASURE_PID" --proto "$proto" --count "$COUNT" --label "$label") || FAILED=1
    if ! kill -0 "$MEASURE_PID" 2>/dev/null; then
        echo "$BENCH_NAME: $label died during the run" >&2
        FAILED=1
    fi
    [ -z "$line" ] || echo "$line" >>"$RUNS"
    [ -z "$line" ] || python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("   %-11s %5d connections (%d accepted, %d open at the end, %d failed requests): "
      "RSS B/conn: %+6.0f connected, %+6.0f after a request, %+6.0f 10 s later" % (
          r["label"], r["connections"], r["accepted"], r["still_open"], r["failed_requests"],
          r["rss_per_conn_connected"], r["rss_per_conn_requested"], r["rss_per_conn_idle"]))
' "$line" >&2
    stop_pid "$SERVER_PID"
done

# --- 5. the table -------------------------------------------------------------------------------
echo
NETD_VERSION="-"
[ -z "$NETD" ] || NETD_VERSION="$("$NETD" --version 2>&1 | head -1), commit $(source_version)"
PEERS="$(command -v redis-server >/dev/null && redis-server --version | cut -d' ' -f1-3);"
PEERS="$PEERS $("$NGINX" -v 2>&1 | sed 's/^nginx version: //' || true)"
python3 - "$RUNS" "$RESULTS" "$TARGET_BYTES" "$(machine_line)" "$NETD_VERSION" "$PEERS" <<'EOF' || FAILED=1
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
target = int(sys.argv[3])
print(f"{'':12} {'':>6} {'bytes per connection: RSS':^38} {'Pss':>7} {'kernel':>8}")
print(f"{'server':12} {'conns':>6} {'connected':>12} {'after req':>12} {'idle 10s':>12} "
      f"{'idle 10s':>7} {'slab':>8} {'target':>16}")
for r in runs:
    verdict = ""
    if r["label"].startswith("netd"):
        worst = max(r["rss_per_conn_connected"], r["rss_per_conn_idle"])
        r["target_bytes"] = target
        r["target_met"] = worst <= target
        verdict = f"<= {target}: {'met' if r['target_met'] else 'NOT met'}"
    print(f"{r['label']:12} {r['connections']:>6} {r['rss_per_conn_connected']:>12.0f} "
          f"{r['rss_per_conn_requested']:>12.0f} {r['rss_per_conn_idle']:>12.0f} "
          f"{r['pss_per_conn_idle']:>7.0f} {r['slab_per_conn_requested']:>8.0f} {verdict:>16}")
print("RSS/Pss: the server process's growth over its state before the connections, divided by "
      "their number: once accepted (nothing sent), 2 s after one request each, and 10 s later "
      "(servers trim idle buffers on timers). The target applies to the worse of 'connected' "
      "and 'idle 10s'. Kernel socket memory is NOT in RSS: 'kernel slab' is the machine's Slab "
      "growth per connection, both ends of each loopback connection (approximate)")
print(f"machine: {sys.argv[4]}; {sys.argv[5]}; {sys.argv[6]}")
with open(sys.argv[2], "w") as f:
    json.dump({"benchmark": "memory", "runs": runs, "target_bytes": target,
               "machine": sys.argv[4], "netd": sys.argv[5], "peers": sys.argv[6]}, f, indent=2)
    f.write("\n")
print(f"results: {sys.argv[2]}")
bad = [r for r in runs if r["failed_connects"] or r["failed_requests"]
       or r["accepted"] < r["connections"] or r["still_open"] < r["connections"]]
sys.exit(1 if bad else 0)
EOF
if [ "$FAILED" -ne 0 ]; then
    echo "$BENCH_NAME: a server refused, dropped or did not answer connections (see above)" >&2
    exit 1
fi
