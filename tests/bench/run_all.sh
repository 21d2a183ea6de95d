#!/usr/bin/env bash
# Every benchmark of issue 6, one after the other, and one combined table of ratios and targets:
#
#   tests/bench/run_all.sh [--only "durable files ping memory"] [--keep-going]
#
# Runs run_durable.sh (sensor durable acks vs redis), run_files.sh (files vs nginx), run_ping.sh
# (ping vs the floor and redis; threads = 2 vs 1) and run_memory.sh (memory per idle connection)
# with their defaults (about 8 minutes in all, more when other load makes runs repeat), each
# with the same netd build ($NETD_BIN, or ninja's daemon/netd in $NETD_BUILD_DIR, default
# build/), and their output in $BENCH_TMPDIR (default: the build dir's tests/bench/) as
# <name>.log next to their JSON. Then prints the targets of issue 6, netd's figure, the peer's,
# the ratio and whether it is met, and writes it all to $BENCH_TMPDIR/all_bench.json.
#
# Run it on a quiet machine: each script marks runs disturbed by other load ("noisy"), repeats
# them a few times and says when a figure has no clean run; the table says so too.
#
# Exit status: 0 every benchmark measured; 1 one failed (the rest still run, the table shows
# what there is); 2 usage error.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ONLY="durable files ping memory"
while [ $# -gt 0 ]; do
    case "$1" in
    --only) ONLY=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_all.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for b in $ONLY; do
    case "$b" in durable | files | ping | memory) ;;
    *) echo "run_all.sh: --only takes durable files ping memory, not '$b'" >&2; exit 2 ;; esac
done

BUILD=${NETD_BUILD_DIR:-$REPO/build}
export NETD_BUILD_DIR=$BUILD
BASE=${BENCH_TMPDIR:-$BUILD/tests/bench}
mkdir -p "$BASE"
BASE=$(realpath "$BASE")
export BENCH_TMPDIR=$BASE

declare -A STATUS=()
FAILED=0
for b in $ONLY; do
    echo "=================== $b ==================="
    # Results of an earlier run must not pass for this one's.
    case "$b" in
    files) rm -f "$BASE/files_bench.json" ;;
    ping) rm -f "$BASE/ping_bench.json" ;;
    memory) rm -f "$BASE/memory_bench.json" ;;
    esac
    start=$(date +%s)
    "$REPO/tests/bench/run_$b.sh" 2>&1 | tee "$BASE/$b.log"
    rc=${PIPESTATUS[0]}
    STATUS[$b]=$rc
    [ "$rc" -eq 0 ] || FAILED=1
    echo "== $b: exit status $rc after $(($(date +%s) - start)) s"
done

echo
echo "=================== all benchmarks ==================="
python3 - "$BASE" "$ONLY" "$(for b in $ONLY; do echo "$b=${STATUS[$b]}"; done)" <<'EOF'
import json, os, re, sys
base, only = sys.argv[1], sys.argv[2].split()
status = dict(l.split("=") for l in sys.argv[3].split())
rows = []  # (workload, netd, peer, ratio, target, met, note)

def load(name):
    try:
        with open(os.path.join(base, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

if "durable" in only:
    # run_durable.sh writes no JSON: its summary line has the figures.
    try:
        text = open(os.path.join(base, "durable.log")).read()
    except OSError:
        text = ""
    m = re.search(r"fsync/always\s+netd (\d+) ops/s, redis (\d+) ops/s: ratio netd/redis "
                  r"([\d.]+)x(.*)", text)
    if m:
        ratio = float(m.group(3))
        rows.append(("sensor durable acks/s, 64 conns", f"{int(m.group(1)):,}",
                     f"redis {int(m.group(2)):,}", ratio, ">= 1.5x", ratio >= 1.5,
                     "noisy runs" if "noisy" in m.group(4) else ""))
    else:
        rows.append(("sensor durable acks/s, 64 conns", "-", "-", None, ">= 1.5x", None,
                     "no result"))

if "files" in only:
    f = load("files_bench.json")
    if f:
        for name, label, target in (("1k.bin", "files 1 KiB, 64 conns, req/s", 1.0),
                                    ("10m.bin", "files 10 MiB, 8 conns, bytes/s", 0.95)):
            q = f.get("ratio_netd_nginx", {}).get(name)
            s = f.get("summary", {}).get(name, {})
            key = "requests_per_sec" if name == "1k.bin" else "bytes_per_sec"
            if not q:
                rows.append((label, "-", "-", None, f">= {target}x", None, "no result"))
                continue
            fmt = (lambda v: f"{v:,.0f}") if key == "requests_per_sec" else (
                lambda v: f"{v / 1e9:.2f} GB/s")
            rows.append((label, fmt(s["netd"][key]), "nginx " + fmt(s["nginx"][key]), q[key],
                         f">= {target}x", q[key] >= target,
                         "" if q.get("reliable", True) else "no clean run"))
    else:
        rows.append(("files vs nginx", "-", "-", None, "", None, "no result"))

if "ping" in only:
    p = load("ping_bench.json")
    if p:
        s = p["summary"]
        def clean(w):
            return all(m["clean_runs"] for m in s.get(w, {}).values())
        for r in p["ratios"]:
            if r.get("server", "netd") != "netd":
                continue  # a --compare build, not in the combined table
            w, peer = r["workload"], r["peer"]
            key = "p50_us" if w.startswith("rtt1") else "requests_per_sec"
            label = {"rtt1": "ping 1 conn p50 RTT",
                     "rtt1-samecpu": "ping 1 conn p50 RTT, client on server's CPU",
                     "conns64": "ping 64 conns req/s",
                     "pipe64x16": "ping 64 conns x 16 pipelined req/s"}[w]
            fmt = (lambda v: f"{v:.1f} us") if key == "p50_us" else (lambda v: f"{v:,.0f}")
            target = f"{r['op']} {r['target']}x" if "target" in r else "(reported)"
            cpu = r.get("server_cpu_per_request_ratio")
            note = (f"CPU/req {cpu:.2f}x" if cpu is not None else "") + (
                "" if clean(w) else "; no clean run")
            rows.append((f"{label} vs {peer}", fmt(s[w]["netd"][key]),
                         f"{peer} {fmt(s[w][peer][key])}", r["ratio"], target, r.get("met"),
                         note))
        if p.get("scaling_threads2_vs_1") is not None:
            u = s["conns64-unpinned"]
            rows.append(("ping 64 conns, threads=2 vs 1 (unpinned)",
                         f"{u['netd-t2']['requests_per_sec']:,.0f}",
                         f"t1 {u['netd-t1']['requests_per_sec']:,.0f}",
                         p["scaling_threads2_vs_1"], "(reported)", None,
                         "load generator shares the 2 CPUs"))
    else:
        rows.append(("ping vs floor/redis", "-", "-", None, "", None, "no result"))

if "memory" in only:
    m = load("memory_bench.json")
    if m:
        peers = {r["label"]: r for r in m["runs"] if not r["label"].startswith("netd")}
        peer_text = ", ".join(f"{k} {max(v['rss_per_conn_connected'], v['rss_per_conn_idle']):,.0f}"
                              for k, v in peers.items())
        for r in m["runs"]:
            if not r["label"].startswith("netd"):
                continue
            worst = max(r["rss_per_conn_connected"], r["rss_per_conn_idle"])
            rows.append((f"memory per idle conn, {r['label']} (B)", f"{worst:,.0f}", peer_text,
                         None, "<= 1024 B", worst <= 1024, "RSS; kernel socket memory not in it"))
    else:
        rows.append(("memory per idle connection", "-", "-", None, "", None, "no result"))

w0 = max(len(r[0]) for r in rows)
print(f"{'workload':{w0}}  {'netd':>12}  {'peer':28}  {'ratio':>6}  {'target':>10}  {'met':>4}  note")
for name, netd, peer, ratio, target, met, note in rows:
    rq = f"{ratio:.2f}x" if ratio is not None else "-"
    mt = "-" if met is None else ("yes" if met else "NO")
    print(f"{name:{w0}}  {netd:>12}  {peer[:28]:28}  {rq:>6}  {target:>10}  {mt:>4}  {note}")
print("benchmarks: " + ", ".join(f"{b} exit {status.get(b, '?')}" for b in only))
with open(os.path.join(base, "all_bench.json"), "w") as f:
    json.dump({"rows": [dict(zip(("workload", "netd", "peer", "ratio", "target", "met", "note"),
                                 r)) for r in rows], "status": status}, f, indent=2)
    f.write("\n")
print(f"results: {os.path.join(base, 'all_bench.json')} (each benchmark's log and JSON beside it)")
EOF
exit "$FAILED"
