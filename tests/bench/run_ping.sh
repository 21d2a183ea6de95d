#!/usr/bin/env bash
# The ping workloads of issue 6, netd vs the floor vs redis, from one command:
#
#   tests/bench/run_ping.sh [--seconds 5] [--no-scaling] [--compare NETD_BINARY] [--keep]
#
# What it does (about 4 minutes on a quiet machine; each repeated run adds seconds + 2):
#   1. installs what is missing with apt-get (as root on Debian 12): redis-server, redis-tools,
#      the compilers and netd's build dependencies;
#   2. builds netd (ninja target daemon/netd in $NETD_BUILD_DIR, default build/; or takes
#      $NETD_BIN), the floor server tests/bench/floor_server.c and the load generator
#      tests/bench/line_load.cpp (cc/g++ into $BUILD/tests/bench/; or $FLOOR_BIN, $LINE_LOAD_BIN);
#   3. starts, each on a free loopback port: netd (threads = 1, only [ping], its log to a file
#      at level info: one line per connection opened and closed, none per request), the floor
#      (floor_server: one thread, epoll, no deadlines, no log) and redis-server (`save ""`,
#      `appendonly no`); with 2 or more CPUs each is pinned to CPU 0 and the load generator
#      (one thread) to CPU 1, as run_files.sh does;
#   4. runs the same load generator against each, in the order netd, floor, redis, redis, floor,
#      netd (ABBA: each server gets an early and a late slot, so a drift over the run favours
#      none), 1 s warm-up then --seconds each:
#        rtt1       1 connection, 1 request in flight: the p50 round trip;
#        conns64    64 connections, 1 request in flight on each: requests/s;
#        pipe64x16  64 connections, 16 requests in flight on each: requests/s;
#        rtt1-samecpu  rtt1 with the load generator on CPU 0 too: waking the other, idle CPU
#                   costs tens of microseconds on this VM (rtt1 is ~65 us for every server), which
#                   hides the few microseconds that differ; on one CPU they show (~6 us);
#      redis answers "PING\r\n" with "+PONG\r\n" (RESP inline), netd and the floor "ping\n"
#      with "pong\n";
#   5. scaling (unless --no-scaling): two more netd instances, threads = 1 and threads = 2, not
#      pinned, and the load generator with 2 threads, not pinned either, on conns64 in the order
#      t1, t2, t2, t1. On a 2-CPU machine the load generator shares the 2 cores with netd's
#      threads, so the ratio is what a second thread buys here, not what it buys on a machine
#      whose clients are elsewhere;
#   6. measures the CPU each side used: a run during which other processes used more than
#      $NOISE_CPUS CPUs (a build in another shell) is done again (at most 6 repeats in all); one
#      still noisy is marked so and left out of the averages where a clean run exists. Before
#      each run it waits for a quiet second (at most $QUIET_WAIT_LEFT s, default 120, in all).
#      srv_cpu is the server process's CPU time; core0 is how busy CPU 0 was, which for a
#      server pinned alone there includes the softirq work on its packets (a third of the core
#      on loopback, not in any process's time): core0 near 1.00 means the server was the limit.
#      core_us/req (CPU 0 time per request) compares the servers' cost even when it was not;
#      throughput on this VM varies by up to 40 % between rounds, the CPU per request less;
#   7. prints every run, the averages, and the ratios netd/floor and netd/redis against the
#      targets of issue 6 (rtt1 and rtt1-samecpu p50 <= 1.15x the floor; conns64 >= 0.90x the
#      floor; pipe64x16 >= 1.0x redis), and writes it all as JSON to
#      $BENCH_TMPDIR/ping_bench.json (default: the build dir's tests/bench/);
#   8. stops every server (trap), also when interrupted.
#
# --compare NETD_BINARY adds a second netd ("netd-b": another build, e.g. main before a change)
# to every workload, configured and pinned as netd, in the order netd, netd-b, floor, redis,
# redis, floor, netd-b, netd; the table then has its ratios too.
#
# Exit status: 0 measured; 1 a run had errors or a server died; 2 usage or setup error.
# A ratio that misses its target is reported, not failed: this is a measurement.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=run_ping.sh
SECONDS_PER_RUN=5
WARMUP=1
SCALING=1
COMPARE=
KEEP=0
NOISE_CPUS=0.3  # CPUs used by other processes during a run that make its figures suspect
# shellcheck source=bench_lib.sh
. "$REPO/tests/bench/bench_lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) SECONDS_PER_RUN=${2:?}; shift 2 ;;
    --no-scaling) SCALING=0; shift ;;
    --compare) COMPARE=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done

# --- 1, 2. packages and builds ----------------------------------------------------------------
PACKAGES=(redis-server redis-tools gcc g++ python3)
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
WORK=$(mktemp -d "$BASE/bench-ping.XXXXXX")
RESULTS=$BASE/ping_bench.json
echo "== $NCPU CPUs; $PINNING"

# --- 3. the servers ---------------------------------------------------------------------------
declare -A PORT=() PID_OF=()
start_netd() {  # $1: name, $2: threads, $3: pin (1 or 0), [$4: binary]
    local port pin=() bin=${4:-$NETD}
    port=$(free_port)
    [ "$3" -eq 1 ] && pin=("${SERVER_PIN[@]}")
    cat >"$WORK/$1.toml" <<EOF
[daemon]
threads = $2
control = ""
[log]
level = "info"
path = "$WORK/$1.log"
[ping]
listen = ["127.0.0.1:$port"]
EOF
    "${pin[@]}" "$bin" -c "$WORK/$1.toml" >>"$WORK/$1.stdout" 2>&1 &
    PID_OF[$1]=$!
    PIDS+=("$!")
    PORT[$1]=$port
    wait_port "$port" ||
        die "$1 did not start: $(tail -3 "$WORK/$1.stdout") $(tail -3 "$WORK/$1.log" 2>/dev/null)"
}
start_floor() {
    local port
    port=$(free_port)
    "${SERVER_PIN[@]}" "$FLOOR" --port "$port" >>"$WORK/floor.log" 2>&1 &
    PID_OF[floor]=$!
    PIDS+=("$!")
    PORT[floor]=$port
    wait_port "$port" || die "the floor server did not start: $(tail -3 "$WORK/floor.log")"
}
start_redis() {
    local port
    port=$(free_port)
    mkdir -p "$WORK/redis"
    "${SERVER_PIN[@]}" redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
        --daemonize no --dir "$WORK/redis" --logfile "$WORK/redis.log" --save "" \
        --appendonly no &
    PID_OF[redis]=$!
    PIDS+=("$!")
    PORT[redis]=$port
    for _ in $(seq 100); do
        [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    die "redis did not start: $(tail -3 "$WORK/redis.log")"
}
start_netd netd 1 1
if [ -n "$COMPARE" ]; then
    COMPARE=$(realpath "$COMPARE")
    [ -x "$COMPARE" ] || die "--compare '$COMPARE' is not an executable"
    start_netd netd-b 1 1 "$COMPARE"
fi
start_floor
start_redis
if [ "$SCALING" -eq 1 ]; then
    start_netd netd-t1 1 0
    start_netd netd-t2 2 0
fi

# --- 4, 5, 6. the runs ------------------------------------------------------------------------
RUNS=$WORK/runs.jsonl
: >"$RUNS"
FAILED=0
# $6, where the load generator runs: 1 on CPU 1 (the server is on CPU 0), 2 on CPU 0 with the
# server (no cross-CPU wake-ups), 0 anywhere (with servers that are not pinned either).
run_once() {  # $1 server, $2 workload, $3 connections, $4 depth, $5 client threads, $6 pin, $7 round
    local proto=ping json b0 k0 s0 c0 b1 k1 s1 c1 t0 t1 pin=()
    [ "$1" = redis ] && proto=redis
    [ "$6" -eq 1 ] && pin=("${CLIENT_PIN[@]}")
    [ "$6" -eq 2 ] && pin=("${SERVER_PIN[@]}")
    read -r b0 k0 s0 c0 < <(cpu_snap "${PID_OF[$1]}")
    t0=$(date +%s.%N)
    json=$("${pin[@]}" "$LOAD" --proto "$proto" --port "${PORT[$1]}" --connections "$3" \
        --depth "$4" --threads "$5" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" \
        --timeout 5) || true  # errors are counted in $json
    t1=$(date +%s.%N)
    read -r b1 k1 s1 c1 < <(cpu_snap "${PID_OF[$1]}")
    [ -n "$json" ] || { echo "$BENCH_NAME: line_load against $1 printed nothing" >&2; return 1; }
    python3 - "$json" "$1" "$2" "$7" "$CLK_TCK" "$t0" "$t1" "$NOISE_CPUS" \
        "$((b1 - b0))" "$((k1 - k0))" "$((s1 - s0))" "$((c1 - c0))" "$6" \
        "${#SERVER_PIN[@]}" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
server, workload, rnd = sys.argv[2], sys.argv[3], int(sys.argv[4])
tck, wall, noise = float(sys.argv[5]), float(sys.argv[7]) - float(sys.argv[6]), float(sys.argv[8])
busy, kernel, srv, core0 = (int(x) / tck for x in sys.argv[9:13])
pin, pinned = int(sys.argv[13]), int(sys.argv[14]) > 0
other = (busy - srv - kernel - r["client_cpu_s"]) / wall
# The server's CPU over the whole run (warm-up included), per request completed in it: the
# process's own time, and (server alone on CPU 0) all of CPU 0's, its packets' softirq included.
done = max(r["completed_total"], 1)
r.update(server=server, workload=workload, round=rnd,
         server_cpu=round(srv / wall, 2), client_cpu=round(r["client_cpu_s"] / wall, 2),
         kernel_cpu=round(kernel / wall, 2), other_cpu=round(max(other, 0.0), 2),
         noisy=other > noise,
         server_us_per_request=round(srv * 1e6 / done, 2))
if pinned and pin == 1:
    r.update(core_busy=round(core0 / wall, 2), core_us_per_request=round(core0 * 1e6 / done, 2))
print(json.dumps(r))
sys.stderr.write("   %-12s %-7s round %d: %9.0f req/s  p50 %7.1f us  p99 %7.1f us  p999 %7.1f us  "
                 "CPUs: server %.2f (core %s) client %.2f other %.2f  srv %.2f us/req  errors %d%s\n"
                 % (workload, server, rnd, r["ops_per_sec"], r["p50_us"], r["p99_us"],
                    r["p999_us"], r["server_cpu"], r.get("core_busy", "-"), r["client_cpu"],
                    r["other_cpu"], r["server_us_per_request"], r["errors"],
                    "  <- other load on the machine" if r["noisy"] else ""))
sys.exit(1 if r["errors"] or not r["ops"] else 3 if r["noisy"] else 0)
EOF
}
REPEATS_LEFT=6  # for the whole benchmark, so a busy machine cannot make it run for long
WAIT_QUIET=1  # before each run, a quiet second
run() {  # run_once's arguments. A run disturbed by other load is done again.
    run_repeated "$1" "${PID_OF[$1]}" "$RUNS" "$@"
}

ORDER=(netd floor redis redis floor netd)
[ -z "$COMPARE" ] || ORDER=(netd netd-b floor redis redis floor netd-b netd)
echo "== line_load: ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s per run, order ${ORDER[*]} per workload"
WORKLOADS=("rtt1 1 1 1" "conns64 64 1 1" "pipe64x16 64 16 1")
# The round trip again with the load generator on the server's CPU: on this VM, waking an idle
# CPU costs tens of microseconds, which swamps the servers' own few in rtt1.
[ "${#SERVER_PIN[@]}" -eq 0 ] || WORKLOADS+=("rtt1-samecpu 1 1 2")
for workload in "${WORKLOADS[@]}"; do
    read -r name conns depth pin <<<"$workload"
    declare -A round_of=()
    for server in "${ORDER[@]}"; do
        round_of[$server]=$((${round_of[$server]:-0} + 1))
        run "$server" "$name" "$conns" "$depth" 1 "$pin" "${round_of[$server]}"
    done
done
if [ "$SCALING" -eq 1 ]; then
    echo "== scaling: netd threads = 1 vs 2, nothing pinned, load generator with 2 threads" \
        "sharing the $NCPU CPUs; order t1 t2 t2 t1"
    declare -A round_of=()
    for server in netd-t1 netd-t2 netd-t2 netd-t1; do
        round_of[$server]=$((${round_of[$server]:-0} + 1))
        run "$server" conns64-unpinned 64 1 2 0 "${round_of[$server]}"
    done
fi

# --- 7. the table -------------------------------------------------------------------------------
echo
python3 - "$RUNS" "$RESULTS" "$PINNING" "$(machine_line)" "$(redis-server --version | cut -d' ' -f1-3)" \
    "$("$NETD" --version 2>&1 | head -1), commit $(source_version)" "$SECONDS_PER_RUN" \
    "${COMPARE:+netd-b: $COMPARE}" <<'EOF' || FAILED=1
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'workload':16} {'server':7} {'round':>5} {'req/s':>10} {'p50_us':>7} {'p99_us':>7} "
      f"{'p999_us':>8} {'srv_cpu':>7} {'core0':>5} {'srv_us/req':>10} {'core_us/req':>11} "
      f"{'cli_cpu':>7} {'other':>5} {'errors':>6}")
for r in runs:
    core = f"{r['core_busy']:.2f}" if "core_busy" in r else "-"
    core_us = f"{r['core_us_per_request']:.2f}" if "core_us_per_request" in r else "-"
    print(f"{r['workload']:16} {r['server']:7} {r['round']:>5} {r['ops_per_sec']:>10.0f} "
          f"{r['p50_us']:>7.1f} {r['p99_us']:>7.1f} {r['p999_us']:>8.1f} {r['server_cpu']:>7.2f} "
          f"{core:>5} {r['server_us_per_request']:>10.2f} {core_us:>11} {r['client_cpu']:>7.2f} "
          f"{r['other_cpu']:>5.2f} {r['errors']:>6}{'  (noisy)' if r['noisy'] else ''}")

def summarise(workload, server):
    rs = [r for r in runs if r["workload"] == workload and r["server"] == server]
    if not rs:
        return None
    # Other load only ever lowers a figure: leave noisy runs out where a clean one exists.
    clean = [r for r in rs if not r["noisy"]] or rs
    ops = sum(r["ops"] for r in clean)
    return {"requests_per_sec": round(ops / sum(r["seconds"] for r in clean), 1),
            "p50_us": round(sum(r["p50_us"] for r in clean) / len(clean), 2),
            "p99_us": round(sum(r["p99_us"] for r in clean) / len(clean), 2),
            "p999_us": round(sum(r["p999_us"] for r in clean) / len(clean), 2),
            "server_cpu": round(sum(r["server_cpu"] for r in clean) / len(clean), 2),
            "server_us_per_request": round(sum(r["server_us_per_request"] * r["completed_total"]
                                               for r in clean)
                                           / max(sum(r["completed_total"] for r in clean), 1), 3),
            "core_busy": (round(sum(r["core_busy"] for r in clean) / len(clean), 2)
                          if all("core_busy" in r for r in clean) else None),
            "core_us_per_request": (round(sum(r["core_us_per_request"] * r["completed_total"]
                                              for r in clean)
                                          / max(sum(r["completed_total"] for r in clean), 1), 3)
                                    if all("core_us_per_request" in r for r in clean) else None),
            "runs": len(rs), "clean_runs": len([r for r in rs if not r["noisy"]])}

summary = {}
for w in dict.fromkeys(r["workload"] for r in runs):
    for s in dict.fromkeys(r["server"] for r in runs if r["workload"] == w):
        summary.setdefault(w, {})[s] = summarise(w, s)

def ratio(w, a, b, key):
    x, y = summary.get(w, {}).get(a), summary.get(w, {}).get(b)
    if not x or not y or not y[key]:
        return None
    return round(x[key] / y[key], 3)

# (workload, what, peer, key, target, "<=" or ">=")
checks = [
    ("rtt1", "p50 RTT", "floor", "p50_us", 1.15, "<="),
    ("rtt1", "p50 RTT", "redis", "p50_us", None, "<="),
    ("rtt1-samecpu", "p50 RTT", "floor", "p50_us", 1.15, "<="),
    ("rtt1-samecpu", "p50 RTT", "redis", "p50_us", None, "<="),
    ("conns64", "req/s", "floor", "requests_per_sec", 0.90, ">="),
    ("conns64", "req/s", "redis", "requests_per_sec", None, ">="),
    ("pipe64x16", "req/s", "floor", "requests_per_sec", None, ">="),
    ("pipe64x16", "req/s", "redis", "requests_per_sec", 1.0, ">="),
]
print()
print(f"{'workload':12} {'server':7} {'figure':7} {'netd':>10} {'floor':>10} {'redis':>10} "
      f"{'x/floor':>8} {'x/redis':>8} {'target':>26}  {'CPU/req: x/floor':>16} {'x/redis':>8}")
ratios = []
variants = [v for v in ("netd", "netd-b") if any(r["server"] == v for r in runs)]
for w in ("rtt1", "rtt1-samecpu", "conns64", "pipe64x16"):
    if w not in summary:
        continue
    key = "p50_us" if w.startswith("rtt1") else "requests_per_sec"
    fmt = (lambda v: f"{v:.1f}") if key == "p50_us" else (lambda v: f"{v:.0f}")
    for v in variants:
        if v not in summary[w]:
            continue
        row, verdict = {}, ""
        for (cw, what, peer, k, target, op) in checks:
            if cw != w:
                continue
            q = ratio(w, v, peer, k)
            # Server CPU per request: all of CPU 0 (softirq included) where the server had it
            # alone, else the process's own time.
            cpu = ratio(w, v, peer, "core_us_per_request") or ratio(w, v, peer,
                                                                    "server_us_per_request")
            entry = {"workload": w, "server": v, "figure": what, "peer": peer, "ratio": q,
                     "server_cpu_per_request_ratio": cpu}
            if target is not None and q is not None:
                met = q <= target if op == "<=" else q >= target
                entry.update(target=target, op=op, met=met)
                verdict = f"{op} {target}x {peer}: {'met' if met else 'NOT met'}"
            row[peer] = entry
            ratios.append(entry)
        val = lambda s: fmt(summary[w][s][key]) if s in summary[w] else "-"
        rq = lambda p: f"{row[p]['ratio']:.2f}x" if row.get(p, {}).get("ratio") is not None else "-"
        rc = lambda p: (f"{row[p]['server_cpu_per_request_ratio']:.2f}x"
                        if row.get(p, {}).get("server_cpu_per_request_ratio") is not None else "-")
        print(f"{w:12} {v:7} {('p50 us' if key == 'p50_us' else 'req/s'):7} {val(v):>10} "
              f"{val('floor'):>10} {val('redis'):>10} {rq('floor'):>8} {rq('redis'):>8} "
              f"{verdict:>26}  {rc('floor'):>16} {rc('redis'):>8}")
scaling = None
if "conns64-unpinned" in summary and {"netd-t1", "netd-t2"} <= summary["conns64-unpinned"].keys():
    s = summary["conns64-unpinned"]
    scaling = round(s["netd-t2"]["requests_per_sec"] / s["netd-t1"]["requests_per_sec"], 3)
    print(f"\nscaling, conns64 unpinned: threads=1 {s['netd-t1']['requests_per_sec']:.0f} req/s, "
          f"threads=2 {s['netd-t2']['requests_per_sec']:.0f} req/s: {scaling:.2f}x (the load "
          f"generator's 2 threads share the same CPUs, so this is not what a second core buys "
          f"with clients elsewhere)")
print(f"\npinning: {sys.argv[3]}")
print("srv_cpu: CPUs the server process used over the run (1.00 = one core); core0: how busy the "
      "server's CPU 0 was, the softirq work on its packets included (on loopback a third of it, "
      "which srv_cpu leaves out); core0 near 1.00 means the server was the limit. srv_us/req and "
      "core_us/req: CPU time per request (warm-up included); 'CPU/req' ratios use core_us/req "
      "where there is one (below 1: netd is cheaper). rtt1-samecpu: the load generator on the "
      "server's CPU, so no cross-CPU wake-up (tens of us on this VM) hides the servers' own cost")
if any(r["noisy"] for r in runs):
    print("note: other processes used the CPUs during runs marked noisy; their figures are low")
unreliable = [f"{w}/{s}" for w, by in summary.items() for s, m in by.items() if not m["clean_runs"]]
if unreliable:
    print(f"UNRELIABLE (no clean run): {', '.join(unreliable)}")
print(f"machine: {sys.argv[4]}; {sys.argv[5]}; {sys.argv[6]}" + (f"; {sys.argv[8]}" if sys.argv[8] else ""))
with open(sys.argv[2], "w") as f:
    json.dump({"benchmark": "ping", "runs": runs, "summary": summary, "ratios": ratios,
               "scaling_threads2_vs_1": scaling, "seconds_per_run": float(sys.argv[7]),
               "pinning": sys.argv[3], "machine": sys.argv[4], "redis": sys.argv[5],
               "netd": sys.argv[6], "netd_b": sys.argv[8] or None}, f, indent=2)
    f.write("\n")
print(f"results: {sys.argv[2]}")
sys.exit(1 if any(r["errors"] or not r["ops"] for r in runs) else 0)
EOF
if [ "$FAILED" -ne 0 ]; then
    echo "$BENCH_NAME: a run had errors (see above)" >&2
    exit 1
fi
