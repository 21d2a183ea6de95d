#!/usr/bin/env bash
# Coverage-guided fuzzing with clang's libFuzzer (apt-get install clang libclang-rt-14-dev).
#   tests/fuzz/run.sh [SECONDS]   each target for SECONDS (default 60), corpus in build-fuzz/
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=build-fuzz
mkdir -p "$out"
for target in framing parsers json_escape reading http_request http_path http_range http_date; do
    src=daemon/proto
    clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Idaemon/proto \
        tests/fuzz/fuzz_$target.cpp $src/address.cpp $src/duration.cpp $src/framing.cpp \
        $src/http_date.cpp $src/http_path.cpp $src/http_range.cpp $src/http_request.cpp \
        $src/json_escape.cpp $src/mime.cpp $src/ping.cpp $src/reading.cpp $src/timefmt.cpp \
        -o "$out/fuzz_$target"
    mkdir -p "$out/corpus_$target"
    "$out/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 "$out/corpus_$target"
done
