#!/usr/bin/env python3
"""massif_per_conn.py: the heap at massif's peak, per connection, by allocation site.

    massif_per_conn.py MS_PRINT_OUTPUT CONNECTIONS [--min-bytes 40]

Reads the text of `ms_print massif.out` for a server that held CONNECTIONS idle connections at
its heap's peak (profile_ping.sh), and prints the peak's total and its allocation sites in bytes
per connection: the top level of the tree, and one level deeper (which coroutine frame, under
Asio's frame allocator). Useful bytes only: malloc's own overhead is in RSS, not here.
"""
import re
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    lines = open(sys.argv[1]).read().splitlines()
    n = int(sys.argv[2])
    min_bytes = float(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--min-bytes" else 40
    peak = None
    for line in lines:
        m = re.search(r"Detailed snapshots: \[.*?(\d+) \(peak\)", line)
        if m:
            peak = m.group(1)
    if peak is None:
        sys.exit("massif_per_conn.py: no peak snapshot in the input")
    snapshot_row = re.compile(r"^\s*(\d+)\s+[\d,]+\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+[\d,]+\s*$")
    site = re.compile(r"^(\| )?->\s*[\d.]+% \(([\d,]+)B\) (?:0x[0-9A-Fa-f]+: )?(.*?)(?: \(in [^)]*\))?$")
    rows, on, useful, extra = [], False, 0, 0
    for line in lines:
        m = snapshot_row.match(line)
        if m:
            if on:
                break
            if m.group(1) == peak:
                on = True
                useful = int(m.group(3).replace(",", ""))
                extra = int(m.group(4).replace(",", ""))
            continue
        if not on:
            continue
        m = site.match(line)
        if m:
            rows.append((2 if m.group(1) else 1, int(m.group(2).replace(",", "")), m.group(3)))
    print(f"   heap at the peak: {useful / n:.0f} useful bytes per connection "
          f"(+{extra / n:.0f} malloc overhead)")
    for depth, size, fn in rows:
        if size / n < min_bytes:
            continue
        if depth == 2:
            fn = fn.split("(")[0] if not fn.startswith("asio::") else fn
        print(f"   {'    ' if depth == 2 else ''}{size / n:6.0f}  {fn[:140]}")


if __name__ == "__main__":
    main()
