# shellcheck shell=bash disable=SC2034  # sourced: the variables are the sourcing script's
# bench_lib.sh: what the benchmark scripts (run_durable.sh, run_files.sh, run_ping.sh,
# run_memory.sh, profile_ping.sh) share (sourced, not run): installing what is missing, building
# netd and the benchmark's own C/C++ programs, free ports, starting and stopping servers, CPU
# pinning, and the CPU accounting that marks runs disturbed by other load. run_files.sh keeps
# its own CPU accounting (see its wrk_cpu_snap).
#
# The sourcing script sets BENCH_NAME (for messages), REPO and its own defaults (KEEP=0, ...)
# before sourcing, and parses its options after.

die() {
    echo "$BENCH_NAME: $*" >&2
    exit 2
}

# ensure_packages PKG...: installs the missing ones with apt-get (as root; `apt-get update` first
# only if something is missing).
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (run as root, or install them): ${missing[*]}"
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    # With systemd a package may start its own redis (:6379) or nginx (:80); ours are separate
    # (own ports, own config). `systemctl disable --now redis-server nginx` if unwanted.
}
NETD_BUILD_PACKAGES=(g++ meson ninja-build pkg-config libasio-dev libtomlplusplus-dev libfmt-dev
    nlohmann-json3-dev doctest-dev)

# build_netd: sets NETD (from $NETD_BIN, or ninja's daemon/netd in $BUILD, set up if needed).
build_netd() {
    if [ -n "${NETD_BIN:-}" ]; then
        NETD=$(realpath "$NETD_BIN")  # another build, or the one meson's benchmark() built
        [ -x "$NETD" ] || die "NETD_BIN '$NETD_BIN' is not an executable"
        return
    fi
    if [ ! -f "$BUILD/build.ninja" ]; then
        echo "== meson setup $BUILD"
        meson setup "$BUILD" "$REPO" -Dtests=false >/dev/null
    fi
    echo "== building netd in $BUILD"
    # Only the daemon target, so half-edited code elsewhere does not stop the benchmark.
    ninja -C "$BUILD" daemon/netd >/dev/null ||
        die "netd did not build; try NETD_BUILD_DIR=/tmp/bench-build (its own meson setup)"
    NETD=$BUILD/daemon/netd
}

# build_tool VAR SOURCE: sets VAR to $<VAR> if given (meson's benchmark() passes what it built),
# else compiles tests/bench/SOURCE straight into $BUILD/tests/bench/ when it is newer, so it
# builds with -Dtests=false too (as run_durable.sh does).
build_tool() {
    local var=$1 src=$REPO/tests/bench/$2 out given
    given=${!var:-}
    if [ -n "$given" ]; then
        out=$(realpath "$given")
    else
        out=$BUILD/tests/bench/${2%.*}
        mkdir -p "$(dirname "$out")"
        # The C++ generators share load_client.hpp, the C floors floor_net.h: a change to it
        # rebuilds them too.
        if [ ! -x "$out" ] || [ "$src" -nt "$out" ] ||
            { [[ $src == *.cpp ]] && [ "$REPO/tests/bench/load_client.hpp" -nt "$out" ]; } ||
            { [[ $src == *.c ]] && [ "$REPO/tests/bench/floor_net.h" -nt "$out" ]; }; then
            echo "== building $out"
            case "$src" in
            *.c) cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror "$src" -o "$out" ;;
            *) g++ -std=c++20 -O2 -Wall -Wextra -Wpedantic -Werror -pthread "$src" -o "$out" ;;
            esac || die "$2 did not build"
        fi
    fi
    [ -x "$out" ] || die "no executable at '$out'"
    printf -v "$var" '%s' "$out"
}

# The servers the script started: stopped (TERM, then KILL after 5 s) on exit, also when
# interrupted. WORK is removed unless KEEP=1.
PIDS=()
KEEP=${KEEP:-0}
WORK=
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    [ -n "$WORK" ] || return 0
    if [ "$KEEP" -eq 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {  # PID: no longer one for cleanup to stop (it was stopped already)
    local keep=() pid
    for pid in "${PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
    PIDS=("${keep[@]}")
}

stop_pid() {  # PID: TERM, KILL after 10 s; its exit status is not looked at
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {  # until 127.0.0.1:$1 accepts, or 10 s
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# Pinning, as run_files.sh does: servers on CPU 0, the load generator on CPU 1 (2+ CPUs).
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_PIN=(taskset -c 0)
    CLIENT_PIN=(taskset -c 1)
    PINNING="servers on CPU 0, the load generator on CPU 1"
else
    SERVER_PIN=()
    CLIENT_PIN=()
    PINNING="no pinning ($NCPU CPU): server and load generator share the machine"
fi

CLK_TCK=$(getconf CLK_TCK)
# cpu_snap PID: "<all CPUs busy (user+nice+system)> <kernel threads> <the process PID and its
# children> <CPU 0 busy, irq and softirq included>" in clock ticks. A process's own figure leaves
# out the softirq time the kernel spends on its packets (on loopback, a third of a core under
# load); the CPU 0 figure, for a server pinned alone on CPU 0, includes it. Busy time that is
# neither the server's, the client's nor the kernel threads' (ksoftirqd, kworkers: the network's own work) is other load on the machine (a build in
# another shell), which makes a run's figures suspect.
cpu_snap() {
    python3 -c '
import os, sys
with open("/proc/stat") as f:
    v = f.readline().split()
    cpu0 = next((l.split() for l in f if l.startswith("cpu0 ")), ["cpu0"] + ["0"] * 8)
kernel = server = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        continue
    fields = s[s.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    if pid == "2" or fields[1] == "2":
        kernel += ticks
    elif pid == sys.argv[1] or fields[1] == sys.argv[1]:  # nginx: its master and workers
        server += ticks
print(int(v[1]) + int(v[2]) + int(v[3]), kernel, server, sum(int(x) for x in cpu0[1:4] + cpu0[6:8]))
' "$1"
}

machine_line() {
    local model
    model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    echo "$NCPU CPUs ($model), kernel $(uname -r)"
}

# wait_quiet: before a run, waits (1 s samples) until the machine is idle apart from us: busy
# CPUs below $NOISE_CPUS. Other engineers' builds come and go; a run started in a quiet moment
# is far more likely to stay clean. Gives up after $QUIET_WAIT_LEFT seconds in all (default
# 120, for the whole benchmark), so a busy machine only costs a bounded delay; the run's own
# accounting still marks it noisy.
QUIET_WAIT_LEFT=${QUIET_WAIT_LEFT:-120}
wait_quiet() {
    local busy said=0
    while [ "$QUIET_WAIT_LEFT" -gt 0 ]; do
        busy=$(python3 -c '
import time
def snap():
    with open("/proc/stat") as f:
        v = f.readline().split()
    return int(v[1]) + int(v[2]) + int(v[3])
a = snap(); time.sleep(1); b = snap()
import os
print("%.2f" % ((b - a) / os.sysconf("SC_CLK_TCK")))')
        python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' \
            "$busy" "$NOISE_CPUS" && return 0
        if [ "$said" -eq 0 ]; then
            echo "   (waiting for other load to pass: $busy CPUs busy)" >&2
            said=1
        fi
        QUIET_WAIT_LEFT=$((QUIET_WAIT_LEFT - 1))
    done
    return 0
}

# run_repeated NAME PID OUT ARGS...: run_once ARGS (the script's: prints the run as a JSON line;
# status 0 ok, 1 errors, 3 disturbed by other load) until it is not disturbed, at most 3 times
# and while REPEATS_LEFT (the script's, for the whole benchmark) lasts; first wait_quiet if
# WAIT_QUIET=1. The last line goes to OUT; errors set FAILED=1. Server NAME (pid PID) dead
# after a run ends the benchmark (status 1, WORK kept).
WAIT_QUIET=0
run_repeated() {
    local name=$1 pid=$2 out=$3 line rc attempt
    shift 3
    for attempt in 1 2 3; do
        [ "$WAIT_QUIET" -eq 0 ] || wait_quiet
        line=$(run_once "$@") && rc=0 || rc=$?
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$BENCH_NAME: $name (pid $pid) died during the run" >&2
            KEEP=1
            exit 1
        fi
        if [ "$rc" -eq 3 ] && [ "$attempt" -lt 3 ] && [ "$REPEATS_LEFT" -gt 0 ]; then
            echo "   (again: other processes used more than $NOISE_CPUS CPUs during that run)" >&2
            REPEATS_LEFT=$((REPEATS_LEFT - 1))
            continue
        fi
        [ -z "$line" ] || echo "$line" >>"$out"
        [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || FAILED=1
        return
    done
}

# source_version: the commit measured, and whether the daemon's sources differ from it.
source_version() {
    local rev dirty=""
    rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) || { echo "unknown"; return; }
    git -C "$REPO" diff --quiet HEAD -- daemon 2>/dev/null || dirty=" (daemon/ modified)"
    echo "$rev$dirty"
}
