#!/usr/bin/env bash
# Where netd's ping path spends its time, against the floor and redis (issue 6, "profile before
# changing anything"), from one command:
#
#   tests/bench/profile_ping.sh [--requests 20000] [--no-perf] [--no-massif] [--keep]
#
# Three views, each for netd (threads = 1, only [ping], log at info), the floor server and redis:
#   1. instructions per request (valgrind --tool=callgrind): the server starts with
#      instrumentation off; one connection sends 200 pings as a warm-up, then instrumentation is
#      switched on (callgrind_control -i on) for --requests pings, one in flight (depth 1), and
#      again for --requests pings sent 16 per write (depth 16); Ir of that window / requests.
#      User space only: the kernel's work (the system calls) is not in these counts, which is
#      what view 2 is for. Deterministic: repeatable to about 1 %, whatever else the machine
#      does. The top functions of netd's depth-1 window are printed (exclusive Ir);
#   2. system calls per request (strace -c -f on the running server) for the same exchange;
#   3. (unless --no-perf) perf record -g (cpu-clock: this VM has no hardware counters) of netd
#      under the conns64 load of run_ping.sh (64 connections, depth 1, server on CPU 0, load on
#      CPU 1) for 4 s: the share of kernel and user space, per system call, and the top symbols;
#   4. (unless --no-massif) heap per idle connection (valgrind --tool=massif): netd's ping service
#      with 2000 idle connections (idle_conns.py, one request each); massif_per_conn.py prints the
#      allocation sites at the heap's peak in bytes per connection (and which coroutine frames,
#      under Asio's frame allocator). Heap only; run_memory.sh measures RSS.
# It needs valgrind, strace and perf (linux-perf); installs the missing ones with apt-get (root).
# Writes everything to $BENCH_TMPDIR/profile_ping/ (default: the build dir's tests/bench/), the
# summary also to profile_ping.txt there.
#
# Exit status: 0 done; 2 usage or setup error.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=profile_ping.sh
REQUESTS=20000
PERF=1
MASSIF=1
KEEP=0
NOISE_CPUS=0.3
# shellcheck source=bench_lib.sh
. "$REPO/tests/bench/bench_lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
    --requests) REQUESTS=${2:?}; shift 2 ;;
    --no-perf) PERF=0; shift ;;
    --no-massif) MASSIF=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done
[ $((REQUESTS % 16)) -eq 0 ] || die "--requests must be a multiple of 16"

PACKAGES=(redis-server redis-tools valgrind strace gcc g++ python3)
[ "$PERF" -eq 0 ] || PACKAGES+=(linux-perf)
[ -n "${NETD_BIN:-}" ] || PACKAGES+=("${NETD_BUILD_PACKAGES[@]}")
ensure_packages "${PACKAGES[@]}"
BUILD=${NETD_BUILD_DIR:-$REPO/build}
build_netd
build_tool LINE_LOAD_BIN line_load.cpp
build_tool FLOOR_BIN floor_server.c
LOAD=$LINE_LOAD_BIN
FLOOR=$FLOOR_BIN

BASE=${BENCH_TMPDIR:-$BUILD/tests/bench}
mkdir -p "$BASE"
BASE=$(realpath "$BASE")
OUT=$BASE/profile_ping
rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d "$BASE/bench-profile.XXXXXX")
SUMMARY=$OUT/profile_ping.txt
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

# The client: one connection, warm-up, then $2 requests at depth $3, optionally with callgrind's
# instrumentation switched on around them (when $4 is a pid).
cat >"$WORK/pinger.py" <<'EOF'
import socket, subprocess, sys
port, n, depth, proto, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
req, rep = (b"ping\n", b"pong\n") if proto == "ping" else (b"PING\r\n", b"+PONG\r\n")
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def rounds(k, d):
    for _ in range(k):
        s.sendall(req * d)
        want, got = len(rep) * d, b""
        while len(got) < want:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("pinger: connection closed")
            got += chunk
        if got != rep * d:
            sys.exit(f"pinger: unexpected reply {got[:40]!r}")
rounds(200, 1)
ctl = lambda *a: subprocess.run(["callgrind_control", *a, pid], check=True, capture_output=True)
if pid != "-":
    ctl("-i", "on")
rounds(n // depth, depth)
if pid != "-":
    ctl("-i", "off")
    ctl("-d")
s.close()
EOF

server_cmd() {  # $1: netd|floor|redis, $2: port; sets CMD to the command line
    case "$1" in
    netd)
        cat >"$WORK/netd-$2.toml" <<EOF
[daemon]
threads = 1
control = ""
[log]
level = "info"
path = "$WORK/netd-$2.log"
[ping]
listen = ["127.0.0.1:$2"]
EOF
        CMD=("$NETD" -c "$WORK/netd-$2.toml") ;;
    floor) CMD=("$FLOOR" --port "$2") ;;
    redis) CMD=(redis-server --bind 127.0.0.1 --port "$2" --save "" --appendonly no
        --daemonize no --logfile "$WORK/redis-$2.log") ;;
    esac
}
proto_of() { [ "$1" = redis ] && echo redis || echo ping; }

# --- 1. callgrind --------------------------------------------------------------------------------
say "== instructions per request (callgrind, user space only; $REQUESTS requests on 1 connection)"
declare -A IR=()
for server in netd floor redis; do
    for depth in 1 16; do
        port=$(free_port)
        server_cmd "$server" "$port"
        valgrind --tool=callgrind --instr-atstart=no \
            --callgrind-out-file="$OUT/callgrind.$server.d$depth.%p" "${CMD[@]}" \
            >"$WORK/valgrind.$server.$depth.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        for _ in $(seq 150); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.2
        done
        python3 "$WORK/pinger.py" "$port" "$REQUESTS" "$depth" "$(proto_of $server)" "$pid" ||
            die "the callgrind run of $server failed: $(tail -3 "$WORK/valgrind.$server.$depth.log")"
        stop_pid "$pid"
        f=$OUT/callgrind.$server.d$depth.$pid.1
        [ -f "$f" ] || die "no callgrind dump $f"
        ir=$(callgrind_annotate "$f" 2>/dev/null |
            awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
        IR[$server.$depth]=$((ir / REQUESTS))
        say "   $server depth $depth: $((ir / REQUESTS)) instructions per request ($f)"
    done
done
ratio() { python3 -c "import sys; print(f'{int(sys.argv[1]) / int(sys.argv[2]):.2f}x')" "$1" "$2"; }
say "   netd/floor: depth 1 $(ratio "${IR[netd.1]}" "${IR[floor.1]}")," \
    "depth 16 $(ratio "${IR[netd.16]}" "${IR[floor.16]}");" \
    "netd/redis: depth 1 $(ratio "${IR[netd.1]}" "${IR[redis.1]}")," \
    "depth 16 $(ratio "${IR[netd.16]}" "${IR[redis.16]}")"
say "   netd's top functions, depth 1 (exclusive Ir per request):"
callgrind_annotate "$(ls "$OUT"/callgrind.netd.d1.*.1)" 2>/dev/null |
    awk -v n="$REQUESTS" '/file:function/ { on = 1; next } on && /^ *[0-9,]+ / {
        v = $1; gsub(",", "", v); line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line);
        sub(/^\?\?\?:/, "", line); sub(/ \[[^]]*\]$/, "", line);
        printf "   %7.0f  %s\n", v / n, substr(line, 1, 150);
        if (++k == 25) exit }' | tee -a "$SUMMARY" || true  # awk ends the pipe early

# --- 2. strace -c ----------------------------------------------------------------------------------
say ""
say "== system calls per request (strace -c -f; $REQUESTS requests on 1 connection)"
for server in netd floor redis; do
    for depth in 1 16; do
        port=$(free_port)
        server_cmd "$server" "$port"
        "${CMD[@]}" >"$WORK/strace-server.$server.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        wait_port "$port" || die "$server did not start"
        strace -c -f -p "$pid" -o "$OUT/strace.$server.d$depth.txt" 2>/dev/null &
        tpid=$!
        sleep 1
        python3 "$WORK/pinger.py" "$port" "$REQUESTS" "$depth" "$(proto_of $server)" - ||
            die "the strace run of $server failed"
        sleep 0.3
        kill -INT "$tpid"
        wait "$tpid" 2>/dev/null || true
        stop_pid "$pid"
        # The warm-up's 200 requests are in the counts too.
        say "   $server depth $depth: $(awk -v n=$((REQUESTS + 200)) 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ && $4 / n >= 0.01 {
            printf "%s %.2f, ", $NF, $4 / n }' "$OUT/strace.$server.d$depth.txt" | sed 's/, $//')"
    done
done

# --- 3. perf ------------------------------------------------------------------------------------------
if [ "$PERF" -eq 1 ]; then
    say ""
    say "== perf record -g, netd under 64 connections x depth 1 (pinned as in run_ping.sh), 4 s"
    port=$(free_port)
    server_cmd netd "$port"
    "${SERVER_PIN[@]}" "${CMD[@]}" >"$WORK/perf-server.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port" || die "netd did not start"
    "${CLIENT_PIN[@]}" "$LOAD" --proto ping --port "$port" --connections 64 --seconds 7 \
        --warmup 1 >"$OUT/perf_load.json" &
    lpid=$!
    sleep 2
    perf record -e cpu-clock -F 2999 -g --call-graph dwarf,16384 -p "$pid" \
        -o "$OUT/perf.data" -- sleep 4 >/dev/null 2>&1 || say "   (perf record failed)"
    wait "$lpid" || true
    stop_pid "$pid"
    say "   load: $(cat "$OUT/perf_load.json")"
    say "   share by object (self):"
    perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null |
        awk '/^ +[0-9.]+%/ { printf "   %s\n", $0 }' | head -6 | tee -a "$SUMMARY" || true
    say "   system calls and the event loop (children: time in them and below):"
    perf report -i "$OUT/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
        awk '/^ +[0-9.]+%/ && /__x64_sys_|epoll_reactor::run|scheduler::run/ { printf "   %s\n", $0 }' |
        head -12 | tee -a "$SUMMARY" || true
    say "   top symbols (self):"
    perf report -i "$OUT/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
        awk '/^ +[0-9.]+%/ { printf "   %s\n", substr($0, 1, 160) }' | head -25 | tee -a "$SUMMARY" || true
fi
# --- 4. massif --------------------------------------------------------------------------------------
if [ "$MASSIF" -eq 1 ]; then
    IDLE=2000
    say ""
    say "== heap per idle connection (valgrind --tool=massif; netd ping, $IDLE idle connections)"
    port=$(free_port)
    server_cmd netd "$port"
    # Idle for as long as it takes under valgrind.
    sed -i 's/^\[ping\]$/[ping]\nidle_timeout = "10m"/' "$WORK/netd-$port.toml"
    valgrind --tool=massif --threshold=0.5 --depth=40 --massif-out-file="$OUT/massif.out" \
        "${CMD[@]}" >"$WORK/massif.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 150); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.2
    done
    python3 "$REPO/tests/bench/idle_conns.py" --port "$port" --pid "$pid" --proto ping \
        --count "$IDLE" --settle 1 --idle-settle 1 --timeout 30 >"$OUT/massif_idle.json" ||
        say "   (idle_conns.py reported a failure: $(cat "$OUT/massif_idle.json"))"
    stop_pid "$pid"
    ms_print "$OUT/massif.out" >"$OUT/massif.txt"
    python3 "$REPO/tests/bench/massif_per_conn.py" "$OUT/massif.txt" "$IDLE" |
        cut -c1-170 | tee -a "$SUMMARY"
fi

say ""
say "machine: $(machine_line); $("$NETD" --version 2>&1 | head -1), commit $(source_version);" \
    "$(redis-server --version | cut -d' ' -f1-3); $(valgrind --version)"
say "files: $OUT (callgrind_annotate FILE, perf report -i $OUT/perf.data)"
