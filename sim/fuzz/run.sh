#!/bin/sh
# run.sh -- build and run the libFuzzer target for FUZZ_SECONDS (default 60).
# New corpus entries go to fuzz-out/corpus (gitignored); fuzz/corpus is the read-only seed set.
# Without clang (or without libFuzzer support) it explains and exits 0.
set -eu
cd "$(dirname "$0")/.."
SECONDS_BUDGET=${1:-${FUZZ_SECONDS:-60}}
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz: clang not found; skipping (apt-get install clang to enable). make test still replays the corpus."
    exit 0
fi
mkdir -p build fuzz-out/corpus
# the library sources: the Makefile passes its SRC_LIB list; run directly, every src/*.c but main.c
LIB=${LIB_SRCS:-$(ls src/*.c | grep -v '^src/main\.c$' | tr '\n' ' ')}
if ! "$CLANG" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
        -Isrc -Ifuzz -o build/fuzz-proto fuzz/fuzz_main.c fuzz/target.c $LIB -lm 2>build/fuzz-build.log; then
    echo "fuzz: $CLANG cannot build a libFuzzer target (see build/fuzz-build.log); skipping."
    exit 0
fi
echo "fuzz: running build/fuzz-proto for ${SECONDS_BUDGET}s (new entries in fuzz-out/corpus)"
./build/fuzz-proto -max_total_time="$SECONDS_BUDGET" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict=fuzz/proto.dict -artifact_prefix=fuzz-out/ fuzz-out/corpus fuzz/corpus
echo "fuzz: done; $(ls fuzz-out/corpus | wc -l) corpus entries in fuzz-out/corpus"
