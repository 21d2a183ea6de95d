#!/usr/bin/env bash
# Durable acknowledgements per second, netd vs redis, from one command:
#
#   tests/bench/run_durable.sh [--seconds 10] [--connections 64] [--client-threads 2]
#                              [--relaxed] [--fs-image | --fs-image-no-journal] [--keep]
#                              [--floor]
#
# What it does (about 75 s; 110 s with --floor; 145 s with --relaxed; a repeated run adds 11 s):
#   1. installs what is missing with apt-get (as root on Debian 12; `apt-get update` first only
#      if something is missing): redis-server, the compiler and netd's build dependencies;
#   2. builds netd (ninja target daemon/netd in $NETD_BUILD_DIR, default build/, set up with
#      meson if needed; or takes $NETD_BIN, to compare another build) and the load generator
#      tests/bench/durable_load.cpp (g++, into the build dir; or takes $LOAD_BIN);
#   3. makes one temporary directory (under $BENCH_TMPDIR, default the build dir: a real disk,
#      not /tmp, which may be tmpfs where fsync costs nothing) and puts BOTH servers' data in
#      it, so both fsync on the same filesystem; prints `df -T` of it and, for ext4, whether it
#      has a journal. The result depends on that: without one an append's fdatasync commits no
#      journal, which is the cost netd's write-ahead log avoids and redis's AOF pays. With
#      --fs-image (root) the directory is on a new ext4 made with mkfs.ext4's defaults (with a
#      journal, as Debian installs it) in a 4 GiB image under $BENCH_TMPDIR, every block of it
#      written (checked: not sparse, no unwritten extents), on a loop device with direct I/O so
#      that every sync reaches the disk below; unmounted and deleted at the end (kept mounted
#      with --keep, or when a server died during a run, as the data directory is).
#      --fs-image-no-journal makes the same without a journal: the two side by side show what
#      the journal does to each server on one machine. The loop device adds its own cost to
#      every I/O and flush, and a journal commit is more I/Os than an overwrite's sync, so the
#      image is not a real disk: compare the two images with each other, not with another
#      machine;
#   4. starts redis-server on 127.0.0.1 on a free port with `appendonly yes`, `appendfsync
#      always`, `save ""` (and no AOF rewrite, which would fork and compact in the middle of a
#      run; netd does not compact either), and netd with durability = "fsync", threads = 0;
#   5. runs the same load generator (64 connections, closed loop, 1 s warm-up then 10 s) against
#      each in the order redis, netd, netd, redis, redis, netd (ABBAAB): each server gets
#      early and late slots, so a drift over the run (file growth, page cache, writeback)
#      cancels out instead of favouring whoever goes second, and three runs each keep one
#      unusually fast or slow run (the disk's sync time varies by tens of percent from one
#      run to the next) from deciding the ratio; `sync` before each run so one server's dirty
#      pages are not flushed on the other's time. The client spreads its connections over 2
#      epoll threads: on a small machine 64 client threads would compete with the servers for
#      the CPUs, and real sensors are not on the server's machine;
#   6. measures the CPU each side used; a run during which other processes took more than
#      $NOISE_CPUS CPUs (a build in another shell) is marked noisy and done again (at most 4
#      repeats in all), and the ratio leaves noisy runs out where a clean one exists;
#   7. checks that each server stored what it acknowledged: the growth of LLEN readings and of
#      netd's line count must equal the acks (plus at most one in-flight request per failed
#      connection), and at the end the RPUSH commands in redis's AOF and the lines in netd's
#      file on disk must cover every ack;
#   8. with --relaxed, also netd durability = "write" vs redis `appendfsync everysec` (ABBAAB);
#      with --floor, also the floor (tests/bench/durable_floor.c, or $DURABLE_FLOOR_BIN: redis's
#      one-thread loop with nothing else, its log overwritten in place as netd's is) in the
#      fsync rows, order redis, netd, floor, floor, netd, redis, redis, netd, floor: the least
#      CPU per ack that structure needs here, a reference rather than an upper bound (it keeps
#      no data file, so its acks are not checked against what it stored);
#   9. prints a table, the ratio netd/redis and the machine; stops the servers (trap).
#
# Exit status: 0 measured and every ack was stored; 1 a run had errors or lost acks; 2 usage
# or setup error. Below-target ratios are reported, not failed: this is a measurement.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=run_durable.sh
SECONDS_PER_RUN=10
CONNECTIONS=64
CLIENT_THREADS=2
NOISE_CPUS=0.3  # CPUs used by other processes during a run that make it worth repeating
WARMUP=1
RELAXED=0
KEEP=0
FS_IMAGE=0
FS_IMAGE_JOURNAL=1
FLOOR=0
TARGET=1.5
# shellcheck source=bench_lib.sh
. "$REPO/tests/bench/bench_lib.sh"

while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) SECONDS_PER_RUN=${2:?}; shift 2 ;;
    --connections) CONNECTIONS=${2:?}; shift 2 ;;
    --client-threads) CLIENT_THREADS=${2:?}; shift 2 ;;
    --relaxed) RELAXED=1; shift ;;
    --fs-image) FS_IMAGE=1; shift ;;
    --fs-image-no-journal) FS_IMAGE=1; FS_IMAGE_JOURNAL=0; shift ;;
    --keep) KEEP=1; shift ;;
    --floor) FLOOR=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done

# --- 1. what is missing -------------------------------------------------------------------
ensure_packages redis-server redis-tools g++ meson ninja-build pkg-config python3 libasio-dev \
    libtomlplusplus-dev libfmt-dev nlohmann-json3-dev doctest-dev

# --- 2. build ---------------------------------------------------------------------------------
BUILD=${NETD_BUILD_DIR:-$REPO/build}
build_netd
build_tool LOAD_BIN durable_load.cpp
LOAD=$LOAD_BIN
[ "$FLOOR" -eq 0 ] || build_tool DURABLE_FLOOR_BIN durable_floor.c

# --- 3. one directory for both servers' data --------------------------------------------------
BASE=${BENCH_TMPDIR:-$BUILD}
mkdir -p "$BASE"
IMAGE='' IMAGE_MNT=''
drop_image() {  # in the EXIT trap, after bench_lib's cleanup stopped the servers, removed $WORK
    [ -n "$IMAGE" ] || return 0
    if [ "$KEEP" -eq 1 ] && mountpoint -q "$IMAGE_MNT"; then
        echo "kept $IMAGE on $(losetup --noheadings --output NAME --associated "$IMAGE" | head -1)," \
            "mounted at $IMAGE_MNT: umount it, then losetup -d the loop device"
        return 0
    fi
    if mountpoint -q "$IMAGE_MNT" && ! umount "$IMAGE_MNT"; then
        echo "$BENCH_NAME: could not unmount $IMAGE_MNT; $IMAGE left as it is" >&2
        return 0
    fi
    rmdir "$IMAGE_MNT" 2>/dev/null || true
    local loop
    for loop in $(losetup --noheadings --output NAME --associated "$IMAGE" 2>/dev/null); do
        losetup --detach "$loop" || true
    done
    rm -f "$IMAGE"
}
mount_fs_image() {  # $1: 1 with a journal, 0 without; makes $IMAGE and mounts it on $IMAGE_MNT
    [ "$(id -u)" -eq 0 ] || die "--fs-image needs root (mkfs.ext4, losetup, mount)"
    ensure_packages e2fsprogs mount
    local image_mb=4096 free_mb allocated_mb unwritten loop mkfs
    free_mb=$(($(df --output=avail -k "$BASE" | tail -1) / 1024))
    [ "$free_mb" -ge $((image_mb + 512)) ] || die "only $free_mb MB free in $BASE for a $image_mb MB image"
    # A second Ctrl-C while cleanup waits for the servers must not leave the image mounted.
    trap 'trap "" INT TERM; cleanup; drop_image' EXIT
    IMAGE=$(mktemp "$BASE/durable-ext4.XXXXXX.img")
    IMAGE_MNT=$(mktemp -d "$BASE/durable-ext4.XXXXXX")
    mkfs=(mkfs.ext4 -q -F -E "nodiscard,lazy_itable_init=0,lazy_journal_init=0")
    [ "$1" -eq 1 ] || mkfs+=(-O ^has_journal)
    echo "== --fs-image: $image_mb MB of zeros in $IMAGE, ${mkfs[*]}, loop device with direct I/O"
    # Every block written and staying so: in a sparse or fallocated image the first write to a
    # block (redis's appends, the first pass through the journal) would also cost the host's
    # file system a metadata update, which netd's log, overwritten in place, does not pay. So
    # mkfs must neither discard (punch out the zeros) nor zero the journal with fallocate
    # (UNIX_IO_NOZEROOUT: it writes zeros instead), and initializes everything now, not in the
    # kernel's lazy-init thread during the runs.
    dd if=/dev/zero of="$IMAGE" bs=4M count=$((image_mb / 4)) conv=fsync status=none
    UNIX_IO_NOZEROOUT=1 "${mkfs[@]}" "$IMAGE"
    sync "$IMAGE"
    allocated_mb=$(($(du -k "$IMAGE" | cut -f1) / 1024))
    [ "$allocated_mb" -ge $((image_mb - 16)) ] ||
        die "the image is sparse ($allocated_mb of $image_mb MB allocated)"
    unwritten=$(filefrag -v "$IMAGE" | grep -c unwritten || true)
    [ "$unwritten" -eq 0 ] || die "the image has $unwritten unwritten extents (filefrag -v)"
    loop=$(losetup --direct-io=on --find --show "$IMAGE") || die "no loop device for $IMAGE"
    [ "$(cat "/sys/block/${loop#/dev/}/loop/dio" 2>/dev/null)" = 1 ] ||
        echo "WARNING: $loop does not do direct I/O: syncs may stop in the host's page cache" >&2
    mount "$loop" "$IMAGE_MNT" || die "could not mount $loop"
}
case "$(df --output=fstype "$BASE" | tail -1)" in
tmpfs | ramfs)
    # A sync costs nothing there: the figures would say nothing about a disk.
    [ "$FS_IMAGE" -eq 0 ] || die "$BASE is on a RAM file system; set BENCH_TMPDIR to a directory on disk"
    echo "WARNING: $BASE is on a RAM file system, which ignores fsync; set BENCH_TMPDIR to a directory on disk" >&2
    ;;
esac
if [ "$FS_IMAGE" -eq 1 ]; then
    mount_fs_image "$FS_IMAGE_JOURNAL"
    BASE=$IMAGE_MNT
fi
WORK=$(mktemp -d "$BASE/bench-durable.XXXXXX")
mkdir -p "$WORK/redis" "$WORK/netd"
FSTYPE=$(df --output=fstype "$WORK" | tail -1)
FSDEV=$(df --output=source "$WORK" | tail -1)
FSDESC=$FSTYPE
if [ "$FSTYPE" = ext4 ]; then
    # The journal decides what an append's fdatasync costs (see the top of this file). A
    # mounted ext4 has /proc/fs/ext4/<device>, and /proc/fs/jbd2/<device>-<inode> if it has one.
    FSDEVNAME=$(basename "$(realpath "$FSDEV" 2>/dev/null || echo "$FSDEV")")
    if [ ! -d "/proc/fs/ext4/$FSDEVNAME" ]; then
        FSDESC="ext4 (journal unknown: no /proc/fs/ext4/$FSDEVNAME)"
    elif compgen -G "/proc/fs/jbd2/$FSDEVNAME-*" >/dev/null; then
        FSDESC="ext4 with a journal"
    else
        FSDESC="ext4 without a journal"
    fi
fi
echo "== data of both servers in $WORK (one filesystem: $FSDESC)"
df -T "$WORK"
if [ "$FSDESC" = "ext4 without a journal" ]; then
    echo "note: without a journal an append's fdatasync costs about what an overwrite's does, so" \
        "netd's write-ahead log saves little here; --fs-image measures on a default ext4" >&2
fi
# Each server writes about 15 MB per second of run (more with --relaxed).
AVAIL_MB=$(($(df --output=avail -k "$WORK" | tail -1) / 1024))
[ "$AVAIL_MB" -ge 3000 ] || die "only $AVAIL_MB MB free in $WORK; the runs need about 3 GB"

# --- 4. the servers ---------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes --daemonize no \
    --dir "$WORK/redis" --logfile "$WORK/redis.log" \
    --appendonly yes --appendfsync always --save "" --auto-aof-rewrite-percentage 0 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
for _ in $(seq 100); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(rcli ping 2>/dev/null)" = PONG ] || die "redis did not start: $(tail -3 "$WORK/redis.log")"
rcli del readings >/dev/null

NETD_PID=
start_netd() {  # $1: durability
    NETD_PORT=$(free_port)
    cat >"$WORK/netd.toml" <<EOF
[daemon]
threads = 0
[log]
level = "info"  # start, listening, conn_open/close, stop: a few lines per run
[sensor]
listen = ["127.0.0.1:$NETD_PORT"]
data_file = "$WORK/netd/readings.jsonl"
durability = "$1"
EOF
    "$NETD" -c "$WORK/netd.toml" >>"$WORK/netd.log" 2>&1 &
    NETD_PID=$!
    PIDS+=("$NETD_PID")
    wait_port "$NETD_PORT" || die "netd did not start: $(tail -3 "$WORK/netd.log")"
}
stop_netd() {
    kill -TERM "$NETD_PID" 2>/dev/null || true
    wait "$NETD_PID" || die "netd exited with status $? on SIGTERM: $(tail -3 "$WORK/netd.log")"
    forget_pid "$NETD_PID"
}
start_netd fsync
if [ "$FLOOR" -eq 1 ]; then
    FLOOR_PORT=$(free_port)
    mkdir -p "$WORK/floor"
    "$DURABLE_FLOOR_BIN" --port "$FLOOR_PORT" --file "$WORK/floor/log" >>"$WORK/floor.log" 2>&1 &
    FLOOR_PID=$!
    PIDS+=("$FLOOR_PID")
    wait_port "$FLOOR_PORT" || die "the floor did not start: $(tail -3 "$WORK/floor.log")"
fi

# --- 5, 6, 7. the runs -----------------------------------------------------------------------------
RESULTS=$WORK/results.jsonl  # the runs in the table
ALL_RUNS=$WORK/all_runs.jsonl  # and those repeated because of other load
: >"$RESULTS"
: >"$ALL_RUNS"
FAILED=0
stored() {  # what the server holds now (the floor keeps nothing to count: run_once says -1)
    case $1 in
    redis) rcli llen readings ;;
    netd) wc -l <"$WORK/netd/readings.jsonl" ;;
    *) echo 0 ;;
    esac
}
# The lib's cpu_snap: busy time that is neither the server's, the client's nor the kernel threads'
# (here jbd2 and kworkers, the servers' own I/O work) is other load on the machine, which makes a
# run worth repeating. Neither server has child processes (no AOF rewrite, no save), so its
# "process and its children" figure is the process's own; the CPU 0 figure is not used here.
run_once() {  # $1: server, $2: row label, $3: round; prints the result as a JSON line
    local port=$NETD_PORT pid=$NETD_PID proto=netd before after json b0 b1 k0 k1 c0 c1 t0 t1
    if [ "$1" = redis ]; then port=$REDIS_PORT; pid=$REDIS_PID; proto=redis; fi
    if [ "$1" = floor ]; then port=$FLOOR_PORT; pid=$FLOOR_PID; fi
    before=$(stored "$1")
    sync
    read -r b0 k0 c0 _ < <(cpu_snap "$pid")
    t0=$(date +%s.%N)
    json=$("$LOAD" --proto "$proto" --port "$port" --connections "$CONNECTIONS" \
        --threads "$CLIENT_THREADS" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" \
        --timeout 5) || true  # errors are counted in $json
    t1=$(date +%s.%N)
    read -r b1 k1 c1 _ < <(cpu_snap "$pid")
    after=$(stored "$1")
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
row, rnd, server_name = sys.argv[2], int(sys.argv[3]), sys.argv[12]
stored = int(sys.argv[4]) if server_name != "floor" else -1  # the floor is not counted
tck, wall = float(sys.argv[7]), float(sys.argv[9]) - float(sys.argv[8])
server = int(sys.argv[5]) / tck
other = (int(sys.argv[6]) / tck - server - r["client_cpu_s"] - int(sys.argv[11]) / tck) / wall
r.update(server=server_name, row=row, round=rnd, stored=stored,
         stored_ok=stored < 0 or r["acked_total"] <= stored <= r["acked_total"] + r["errors"],
         server_cpu=round(server / wall, 2), client_cpu=round(r["client_cpu_s"] / wall, 2),
         server_us_per_ack=round(server * 1e6 / max(r["acked_total"], 1), 1),
         other_cpu=round(max(other, 0.0), 2), noisy=other > float(sys.argv[10]))
print(json.dumps(r))
sys.stderr.write("   %-14s %-5s round %d: %7.0f ops/s  p50 %5d us  p99 %5d us  errors %d  "
                 "stored %s/%d  CPUs: server %.2f client %.2f other %.2f%s\n"
                 % (row, server_name, rnd, r["ops_per_sec"], r["p50_us"], r["p99_us"],
                    r["errors"], stored if stored >= 0 else "-", r["acked_total"], r["server_cpu"], r["client_cpu"],
                    r["other_cpu"], "  <- other load on the machine" if r["noisy"] else ""))
sys.exit(3 if r["noisy"] else 0)
' "$json" "$2" "$3" "$((after - before))" "$((c1 - c0))" "$((b1 - b0))" "$CLK_TCK" "$t0" "$t1" \
        "$NOISE_CPUS" "$((k1 - k0))" "$1"
}
check_alive() {  # $1: server; a server that died under load ends the benchmark
    local pid=$NETD_PID log=$WORK/netd.log status=0
    if [ "$1" = redis ]; then pid=$REDIS_PID log=$WORK/redis.log; fi
    if [ "$1" = floor ]; then pid=$FLOOR_PID log=$WORK/floor.log; fi
    kill -0 "$pid" 2>/dev/null && return 0
    wait "$pid" || status=$?
    echo "$BENCH_NAME: $1 (pid $pid) exited during the run with status $status" \
        "$([ "$status" -gt 128 ] && echo "(signal $(kill -l $((status - 128))))"); its log ends:" >&2
    tail -5 "$log" >&2
    KEEP=1
    exit 1
}
REPEATS_LEFT=4  # for the whole benchmark, so a busy machine cannot make it run for long
run() {  # $1: server, $2: row label, $3: round. A run disturbed by other load is done again.
    local line rc
    for attempt in 1 2 3; do
        line=$(run_once "$@") && rc=0 || rc=$?
        check_alive "$1"
        [ -z "$line" ] || echo "$line" >>"$ALL_RUNS"  # what the servers stored, repeats too
        if [ "$rc" -eq 3 ] && [ "$attempt" -lt 3 ] && [ "$REPEATS_LEFT" -gt 0 ]; then
            echo "   (again: other processes used more than $NOISE_CPUS CPUs during that run)" >&2
            REPEATS_LEFT=$((REPEATS_LEFT - 1))
            continue
        fi
        [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || { FAILED=1; return; }
        echo "$line" >>"$RESULTS"
        return
    done
}

ROUNDS=(redis netd netd redis redis netd)
FSYNC_ROUNDS=("${ROUNDS[@]}")  # --relaxed's rounds stay ROUNDS: the floor has no such mode
[ "$FLOOR" -eq 0 ] || FSYNC_ROUNDS=(redis netd floor floor netd redis redis netd floor)
echo "== fsync vs always: $CONNECTIONS connections on $CLIENT_THREADS client threads, ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s, order ${FSYNC_ROUNDS[*]}"
declare -A round_of=()
for server in "${FSYNC_ROUNDS[@]}"; do
    round_of[$server]=$((${round_of[$server]:-0} + 1))
    run "$server" "fsync/always" "${round_of[$server]}"
done

# On disk, not only in memory: every acked reading is in redis's AOF and in netd's file.
acked() { python3 -c 'import json, sys; print(sum(r["acked_total"] for r in map(json.loads, open(sys.argv[1])) if r["server"] == sys.argv[2]))' "$ALL_RUNS" "$1"; }
ACKED_REDIS=$(acked redis)
ACKED_NETD=$(acked netd)
AOF_RPUSH=$(cat "$WORK"/redis/appendonlydir/*.aof 2>/dev/null | grep -ac '^RPUSH' || true)
NETD_LINES=$(wc -l <"$WORK/netd/readings.jsonl")
echo "== on disk: redis AOF holds $AOF_RPUSH RPUSH for $ACKED_REDIS acks; netd's file $NETD_LINES lines for $ACKED_NETD acks"
[ "$AOF_RPUSH" -ge "$ACKED_REDIS" ] && [ "$NETD_LINES" -ge "$ACKED_NETD" ] || FAILED=1

if [ "$RELAXED" -eq 1 ]; then
    stop_netd
    start_netd write
    rcli config set appendfsync everysec >/dev/null
    echo "== write vs everysec, order ${ROUNDS[*]}"
    declare -A round_of=()
    for server in "${ROUNDS[@]}"; do
        round_of[$server]=$((${round_of[$server]:-0} + 1))
        run "$server" "write/everysec" "${round_of[$server]}"
    done
fi

# --- 9. the table ---------------------------------------------------------------------------------
echo
python3 - "$RESULTS" "$TARGET" <<'EOF' || FAILED=1
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
target = float(sys.argv[2])
print(f"{'durability':15} {'server':6} {'round':>5} {'ops/s':>7} {'p50_us':>7} {'p99_us':>7} "
      f"{'max_us':>7} {'errors':>6} {'stored/acked':>15} {'srv_us/ack':>10} {'other_cpu':>9}")
for r in runs:
    print(f"{r['row']:15} {r['server']:6} {r['round']:>5} {r['ops_per_sec']:>7.0f} {r['p50_us']:>7} "
          f"{r['p99_us']:>7} {r['max_us']:>7} {r['errors']:>6} "
          f"{(str(r['stored']) if r['stored'] >= 0 else '-') + '/' + str(r['acked_total']):>15} "
          f"{r['server_us_per_ack']:>10} "
          f"{r['other_cpu']:>9}{'  (noisy)' if r['noisy'] else ''}")
bad = [r for r in runs if r["errors"] or not r["stored_ok"]]
print()
for row in dict.fromkeys(r["row"] for r in runs):
    mean, note = {}, ""
    for server in ("netd", "redis", "floor"):
        rs = [r for r in runs if r["row"] == row and r["server"] == server]
        if not rs:
            continue
        # Other load only ever lowers a figure: leave noisy runs out where a clean one exists.
        clean = [r for r in rs if not r["noisy"]]
        if len(clean) < len(rs):
            note += f"; {server}: {len(clean)} of {len(rs)} runs clean" + (
                "" if clean else " (all noisy, ratio unreliable)")
        rs = clean or rs
        mean[server] = sum(r["ops"] for r in rs) / sum(r["seconds"] for r in rs)
    if not mean.get("netd") or not mean.get("redis"):
        print(f"{row:16} no netd/redis ratio: a server has no run with acks (not measured)")
        continue
    ratio = mean["netd"] / mean["redis"]
    verdict = ""
    if row == "fsync/always":
        verdict = f"  (target >= {target}x: {'met' if ratio >= target else 'NOT met'})"
    print(f"{row:16} netd {mean['netd']:.0f} ops/s, redis {mean['redis']:.0f} ops/s: "
          f"ratio netd/redis {ratio:.2f}x{verdict}{note}")
    if mean.get("floor"):
        print(f"{'':16} floor {mean['floor']:.0f} ops/s: netd/floor {mean['netd'] / mean['floor']:.2f}x, "
              f"floor/redis {mean['floor'] / mean['redis']:.2f}x (redis's loop with nothing else)")
if any(r["noisy"] for r in runs):
    print("note: other processes used the CPUs during runs marked noisy; their figures are low")
sys.exit(1 if bad else 0)
EOF
if [ -n "${NETD_BIN:-}" ]; then
    NETD_FROM=$NETD
else
    NETD_FROM="built from $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "an unknown commit")"
fi
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r), data on $FSDESC ($FSDEV$([ -z "$IMAGE" ] || echo ", a loop-mounted image")); $(redis-server --version | cut -d' ' -f1-3); $("$NETD" --version 2>&1 | head -1) ($NETD_FROM)"
if [ "$FAILED" -ne 0 ]; then
    echo "$BENCH_NAME: a run had errors or acks that were not stored (see above)" >&2
    exit 1
fi
