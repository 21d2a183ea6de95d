#!/usr/bin/env bash
# One entry point for a fresh Debian 12 checkout (as root, or with sudo for apt-get):
#   scripts/dev.sh run              install what is missing, build, run netd on config/netd.toml
#   scripts/dev.sh test             install what is missing, build, run the whole test suite
#   scripts/dev.sh test --sanitize  the same in build-asan/ with ASan+UBSan; any report fails
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ meson ninja-build pkg-config libasio-dev libtomlplusplus-dev libfmt-dev
          nlohmann-json3-dev doctest-dev netcat-openbsd python3 curl wget chromium debhelper dpkg-dev lintian systemd groff-base man-db clang libclang-rt-14-dev)

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "dev.sh: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {  # build DIR [meson options...]
    local dir=$1
    shift
    [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
    ninja -C "$dir"
}

run_tests() {  # run_tests DIR: meson's suites, then one closing line for CI's reader
    local dir=$1 log status=0
    meson test -C "$dir" --print-errorlogs --num-processes 1 || status=$?
    log="$dir/meson-logs/testlog.json"
    python3 - "$log" <<'PY'
# Counts test cases, not meson suites: doctest's and the system runner's own summaries.
import json, re, sys
passed = failed = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    out = (r.get("stdout") or "") + (r.get("stderr") or "")
    ok = r["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
    doc = re.search(r"test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed", out)
    sysm = re.search(r"system tests: (\d+) run, (\d+) failed, (\d+) errors", out)
    if doc:
        passed += int(doc.group(2))
        failed += int(doc.group(3))
    elif sysm:
        bad = int(sysm.group(2)) + int(sysm.group(3))
        passed += int(sysm.group(1)) - bad
        failed += bad
    else:
        passed += ok
        failed += not ok
    if not ok and not failed:
        failed = 1  # a suite that crashed before printing its summary
print(f"{passed} passed, {failed} failed")
PY
    return $status
}

cmd=${1:-}
case "$cmd" in
    run)
        install_missing
        build build
        mkdir -p var
        exec ./build/daemon/netd -c config/netd.toml
        ;;
    test)
        install_missing
        if [ "${2:-}" = "--sanitize" ]; then
            reports=$(mktemp -d)
            build build-asan -Dsanitize=true -Dbuildtype=debugoptimized
            export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0"
            export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1"
            status=0
            run_tests build-asan || status=$?
            if [ -n "$(ls -A "$reports")" ]; then
                echo "dev.sh: sanitizer reports:" >&2
                cat "$reports"/* >&2
                status=1
            fi
            rm -rf "$reports"
            exit $status
        fi
        build build
        run_tests build
        ;;
    *)
        echo "usage: scripts/dev.sh run | test [--sanitize]" >&2
        exit 2
        ;;
esac
