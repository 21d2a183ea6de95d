#!/usr/bin/env python3
"""idle_conns.py: a server's memory per idle connection (issue 6), for run_memory.sh.

    idle_conns.py --port N --pid PID --proto ping|ack|sensor|http|redis [--count 10000]
                  [--sources 4] [--settle 2] [--idle-settle 10] [--timeout 10]

Opens --count connections to 127.0.0.1:PORT and measures the memory of the server process PID
(the one that holds the connections: for nginx its worker) three times:
  before     nothing open (after one warm-up connection that sent a request, so what every
             server allocates once, on its first connection, is not counted per connection);
  connected  all connections accepted by the server (its open descriptors grew by --count),
             none has sent anything;
  requested  each connection sent one request and read its whole reply, and is idle again:
             what a keep-alive client that went quiet costs;
  idle       the same, --idle-settle seconds later: servers trim idle connections on a timer
             (redis frees a query buffer idle for 2 s) and allocators return pages late.
Each figure is VmRSS from /proc/PID/status and Pss from /proc/PID/smaps_rollup, after --settle
seconds. The connections come from --sources local addresses (127.0.0.2, 127.0.0.3, ...) with
IP_BIND_ADDRESS_NO_PORT, so ephemeral ports do not run short. Kernel memory is not in RSS: a
TCP socket's own structures (struct tcp_sock, file, epoll item: some KiB per end) are slab
memory; the script reports the machine's Slab growth (both ends of each loopback connection,
and anything else the machine did meanwhile: approximate) and the TCP buffer pages of
/proc/net/sockstat. Prints one JSON line; exit status 0 if every connection was accepted and
answered, 1 if not, 2 on usage errors.
"""
import argparse
import json
import os
import resource
import select
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24


def request_for(proto, i):
    """The request bytes, and a function that says whether a reply is complete (and valid)."""
    if proto == "ping":
        return b"ping\n", lambda b: (b.endswith(b"\n"), b == b"pong\n")
    if proto == "redis":
        return b"PING\r\n", lambda b: (b.endswith(b"\n"), b == b"+PONG\r\n")
    if proto == "ack":
        return b"idle\n", lambda b: (b.endswith(b"\n"), b.startswith(b"ACK 1 "))
    if proto == "sensor":
        line = ('{"sensor":"idle-%d","seq":1,"temperature":21.5,"humidity":40.1}\n' % i).encode()
        return line, lambda b: (b.endswith(b"\n"), b == b"ack 1\n")
    if proto == "http":
        def done(b):
            head_end = b.find(b"\r\n\r\n")
            if head_end < 0:
                return False, False
            length = 0
            for h in b[:head_end].split(b"\r\n")[1:]:
                name, _, value = h.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            complete = len(b) >= head_end + 4 + length
            return complete, complete and b.startswith(b"HTTP/1.1 200")
        return b"GET /1k.bin HTTP/1.1\r\nHost: localhost\r\n\r\n", done
    raise ValueError(proto)


def memory(pid):
    """VmRSS and Pss of pid, in bytes."""
    rss = pss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    return rss, pss


def kernel_memory():
    """The machine's Slab bytes and the TCP buffer bytes of /proc/net/sockstat."""
    slab = tcp = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                slab = int(line.split()[1]) * 1024
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()
                tcp = int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE")
    return slab, tcp


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def exchange(socks, proto, timeout):
    """Sends one request on each socket, then reads every whole reply. Returns the failures."""
    checks = []
    for i, s in enumerate(socks):
        req, done = request_for(proto, i)
        s.sendall(req)
        checks.append(done)
    failed = 0
    deadline = time.monotonic() + timeout
    pending = {s.fileno(): (s, checks[i], bytearray()) for i, s in enumerate(socks)}
    poller = select.epoll()
    for fd in pending:
        poller.register(fd, select.EPOLLIN)
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(0.5):
            s, done, buf = pending[fd]
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            buf += data
            complete, ok = done(bytes(buf))
            if not data or complete:
                failed += 0 if (data and ok) else 1
                poller.unregister(fd)
                del pending[fd]
    poller.close()
    return failed + len(pending)


def settle_and_measure(pid, settle):
    time.sleep(settle)
    rss, pss = memory(pid)
    slab, tcp = kernel_memory()
    return {"rss": rss, "pss": pss, "slab": slab, "tcp_buffers": tcp}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--proto", required=True, choices=["ping", "ack", "sensor", "http", "redis"])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--idle-settle", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--label", default="")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 1024
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
        except (ValueError, OSError) as e:
            sys.exit(f"idle_conns.py: need {want} descriptors, have {soft}: {e}")

    # Warm-up: one connection with one request, then closed, so a first-connection allocation
    # (a pool, a buffer sized once per thread) is part of "before".
    w = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    w.setblocking(False)
    if exchange([w], a.proto, a.timeout):
        sys.exit("idle_conns.py: the warm-up request got no valid reply")
    w.close()
    time.sleep(0.2)
    fds0 = fd_count(a.pid)
    before = settle_and_measure(a.pid, a.settle)

    socks, failed_connect = [], 0
    t0 = time.monotonic()
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((f"127.0.0.{2 + i % a.sources}", 0))
        s.settimeout(a.timeout)
        try:
            s.connect(("127.0.0.1", a.port))
        except OSError as e:
            failed_connect += 1
            if failed_connect <= 3:
                print(f"idle_conns.py: connect {i}: {e}", file=sys.stderr)
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    connect_s = time.monotonic() - t0
    # Accepted by the server, not only by the kernel: its descriptors grew by one per connection.
    deadline = time.monotonic() + a.timeout
    while fd_count(a.pid) < fds0 + len(socks) and time.monotonic() < deadline:
        time.sleep(0.1)
    accepted = fd_count(a.pid) - fds0
    connected = settle_and_measure(a.pid, a.settle)

    failed_requests = exchange(socks, a.proto, a.timeout)
    requested = settle_and_measure(a.pid, a.settle)
    # Servers trim idle connections' buffers on a timer (redis: a query buffer idle for 2 s, in
    # its once-a-second client cron) and allocators return freed pages late (jemalloc: ~10 s).
    idle = settle_and_measure(a.pid, a.idle_settle)
    still_open = fd_count(a.pid) - fds0

    n = max(len(socks), 1)
    per = lambda after, key: round((after[key] - before[key]) / n, 1)
    out = {
        "label": a.label, "proto": a.proto, "connections": len(socks), "accepted": accepted,
        "still_open": still_open, "failed_connects": failed_connect,
        "failed_requests": failed_requests, "connect_seconds": round(connect_s, 2),
        "before": before, "connected": connected, "requested": requested, "idle": idle,
        "rss_per_conn_connected": per(connected, "rss"),
        "pss_per_conn_connected": per(connected, "pss"),
        "rss_per_conn_requested": per(requested, "rss"),
        "pss_per_conn_requested": per(requested, "pss"),
        "rss_per_conn_idle": per(idle, "rss"),
        "pss_per_conn_idle": per(idle, "pss"),
        "slab_per_conn_requested": per(requested, "slab"),
        "tcp_buffers_per_conn_requested": per(requested, "tcp_buffers"),
    }
    print(json.dumps(out))
    for s in socks:
        s.close()
    ok = (failed_connect == 0 and failed_requests == 0 and accepted >= len(socks) and
          still_open >= len(socks))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
