#!/usr/bin/env bash
# Coverage-guided fuzzing with clang's libFuzzer (Debian: clang libclang-rt-14-dev).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]   fuzz each TARGET (default: all) for SECONDS
#                                             (default 60), one after another
#   tests/fuzz/run.sh --list                  the targets
#   tests/fuzz/run.sh --smoke [SECONDS]       CI's smoke run: every target SECONDS (default 15)
#
# Options (before the rest): --build-dir DIR (default build-fuzz), --jobs N (ninja, default 2).
# The targets build in a meson build of their own with clang, ASan, UBSan and libFuzzer's
# coverage on all of netd's code. New corpus inputs go to DIR/corpus/TARGET; the checked-in
# seeds in tests/fuzz/corpus/TARGET are read, never written. A crash leaves its input in
# DIR/crashes/ and fails the run: reproduce it with `DIR/tests/fuzz/fuzz-TARGET FILE`, then
# check it in as tests/fuzz/corpus/TARGET/regress-WHAT so every test run replays it.
#
# --smoke is what `meson test --suite fuzz` runs: without clang it skips (exit 77), except
# with CI=true, where a missing clang is an error rather than a silent skip.
set -euo pipefail
cd "$(dirname "$0")/../.."

targets_all=(framing parsers json_escape reading http_request http_path http_range http_date
             ack config server)
build=build-fuzz
jobs=2
smoke=false
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --smoke) smoke=true; shift ;;
        --list) printf '%s\n' "${targets_all[@]}"; exit 0 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done
seconds=${1:-$($smoke && echo 15 || echo 60)}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")
for t in "${targets[@]}"; do
    [ -f "tests/fuzz/fuzz_$t.cpp" ] || { echo "run.sh: no target '$t' (--list)" >&2; exit 2; }
done

# clang with libFuzzer's runtime (clang-14 alone lacks it: libclang-rt-14-dev).
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe_dir/probe.cpp"
if ! command -v clang++ >/dev/null ||
   ! clang++ -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cpp" -o "$probe_dir/probe" \
       >"$probe_dir/log" 2>&1; then
    echo "run.sh: clang++ with libFuzzer not found: apt-get install clang libclang-rt-14-dev" >&2
    cat "$probe_dir/log" >&2 2>/dev/null || true
    if $smoke && [ "${CI:-}" != true ]; then
        echo "run.sh: skipping the fuzz smoke run (with CI=true this is an error)" >&2
        exit 77
    fi
    $smoke && echo "run.sh: CI=true: the fuzz smoke run must not be skipped" >&2
    exit 1
fi

# -fno-sanitize=function: clang 14 cannot emit its prologue data for coroutines ("Cannot
# represent a difference across sections"). ASIO_HAS_CO_AWAIT: Asio 1.22 looks for
# <experimental/coroutine> under clang, which libstdc++ does not have; <coroutine> works.
if [ ! -f "$build/build.ninja" ]; then
    CXX=clang++ meson setup "$build" -Dsanitize=true -Doptimization=1 -Ddebug=true \
        "-Dcpp_args=-fsanitize=fuzzer-no-link -fno-sanitize=function -DASIO_HAS_CO_AWAIT=1" \
        >"$probe_dir/setup.log" 2>&1 || { cat "$probe_dir/setup.log" >&2; exit 1; }
fi
ninja -C "$build" -j "$jobs" "${targets[@]/#/tests/fuzz/fuzz-}" >"$probe_dir/build.log" 2>&1 ||
    { cat "$probe_dir/build.log" >&2; exit 1; }

mkdir -p "$build/crashes"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$build/corpus/$t"
    log="$build/fuzz-$t.log"
    started=$SECONDS
    status=0
    # -timeout: an input that takes this long is a hang (the server target's deadlines are 10 s).
    "$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$t-" "$build/corpus/$t" "tests/fuzz/corpus/$t" \
        >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
    corpus=$(find "$build/corpus/$t" -type f | wc -l)
    if [ "$status" -eq 0 ]; then
        echo "fuzz $t: ok, ${runs:-?} runs in $((SECONDS - started)) s, coverage ${cov:-?}, corpus $corpus"
    else
        echo "fuzz $t: FAILED (exit $status) after $((SECONDS - started)) s; log $log"
        grep -v '^#[0-9]' "$log" | tail -60
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed (${failed[*]}); inputs in $build/crashes/"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, $seconds s each, no crash"
