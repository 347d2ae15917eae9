#!/bin/sh
# run.sh -- build the libFuzzer targets (clang, ASan + UBSan) and run each for its share of
# FUZZ_SECONDS (default 60, split evenly between the targets), one process on one core each, one
# after the other. New corpus entries go to fuzz-out/<target>/ (gitignored), crashes to
# fuzz-out/<target>-crash-*; fuzz/corpus* are the read-only seed sets (crashes found become
# regression inputs there). Prints per target: executions, executions/s, corpus size, edges.
# Without clang (or without libFuzzer support) it explains and exits 0.
#   FUZZ_TARGETS="json proto actions"   which targets (default all three)
set -eu
cd "$(dirname "$0")/.."
BUDGET=${1:-${FUZZ_SECONDS:-60}}
CLANG=${CLANG:-clang}
TARGETS=${FUZZ_TARGETS:-json proto actions}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz: clang not found; skipping (apt-get install clang to enable). make test still replays the corpora."
    exit 0
fi
mkdir -p build fuzz-out
# the library sources: the Makefile passes its SRC_LIB list; run directly, every src/*.c but main.c
LIB=${LIB_SRCS:-$(ls src/*.c | grep -v '^src/main\.c$' | tr '\n' ' ')}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -g -O1 -fsanitize=fuzzer $SAN -Isrc -Ifuzz"
# The library is compiled once into build/fuzz-lib.a, every file with ASan + UBSan, the coverage
# instrumentation chosen per file by what it tells the fuzzer (exec/s and edges: docs/security.md):
#   proto_*.c, actions.c  full: edge counters and comparison tracing (trace-cmp). This is where
#                         request and action arguments are checked, so the compared values are
#                         worth feeding back into mutations.
#   observe*.c            none. The observation writers print the state; their many branches
#                         (per field, per byte, with the JSON writer inlined) only told the fuzzer
#                         what the state looked like, which the engine's own edges already do, and
#                         counting them cost more than the engine work (libFuzzer updates its
#                         per-feature tables for every edge an execution hits).
#   the rest              edge counters without trace-cmp: the engine compares its own derived
#                         values (ids, ticks, counts), never the input's bytes, and a traced
#                         comparison costs a call with table updates each time.
# The JSON target links json.c compiled on its own with full instrumentation.
FULL=""
NONE=""
EDGES=""
for f in $LIB; do
    case $(basename "$f" .c) in
        proto_*|actions) FULL="$FULL $f" ;;
        observe*) NONE="$NONE $f" ;;
        *) EDGES="$EDGES $f" ;;
    esac
done
OBJ=build/fuzz-obj
rm -rf "$OBJ" && mkdir -p "$OBJ/lib" "$OBJ/json"
TOP=$(pwd)
lib_cc() { # lib_cc DIR "FLAGS" FILES...: compile FILES (paths relative to sim/) into DIR
    dir=$1; fl=$2; shift 2
    [ $# -gt 0 ] || return 0
    srcs=""
    for f in "$@"; do srcs="$srcs $TOP/$f"; done
    (cd "$dir" && "$CLANG" -std=c11 -g -O1 $SAN $fl -I"$TOP/src" -c $srcs)
}
: >build/fuzz-build.log
if ! lib_cc "$OBJ/lib" "-fsanitize=fuzzer-no-link" $FULL 2>>build/fuzz-build.log ||
    ! lib_cc "$OBJ/lib" "" $NONE 2>>build/fuzz-build.log ||
    ! lib_cc "$OBJ/lib" "-fsanitize=fuzzer-no-link -fno-sanitize-coverage=trace-cmp" $EDGES 2>>build/fuzz-build.log ||
    ! lib_cc "$OBJ/json" "-fsanitize=fuzzer-no-link" src/json.c 2>>build/fuzz-build.log; then
    echo "fuzz: $CLANG cannot build with -fsanitize=fuzzer (see build/fuzz-build.log); skipping."
    exit 0
fi
rm -f build/fuzz-lib.a && ar rcs build/fuzz-lib.a "$OBJ"/lib/*.o
n=0
for t in $TARGETS; do n=$((n + 1)); done
EACH=$((BUDGET / n))
[ "$EACH" -ge 1 ] || EACH=1
status=0
total_execs=0
summary=""
for t in $TARGETS; do
    case $t in
        json) entry=fuzz_json_one; src=fuzz/target_json.c; lib=$OBJ/json/json.o; seeds=fuzz/corpus-json; dict=fuzz/json.dict; max=4096 ;;
        proto) entry=fuzz_proto_one; src=fuzz/target.c; lib=build/fuzz-lib.a; seeds=fuzz/corpus; dict=fuzz/proto.dict; max=8192 ;;
        actions) entry=fuzz_actions_one; src=fuzz/target_actions.c; lib=build/fuzz-lib.a; seeds=fuzz/corpus-actions; dict=fuzz/actions.dict; max=4096 ;;
        *) echo "fuzz: unknown target $t"; exit 2 ;;
    esac
    "$CLANG" $CFLAGS -DFUZZ_ENTRY=$entry -o build/fuzz-$t fuzz/fuzz_main.c $src $lib -lm \
        2>>build/fuzz-build.log
    mkdir -p fuzz-out/$t
    echo "fuzz: $t for ${EACH}s (new entries in fuzz-out/$t)"
    log=build/fuzz-$t.log
    rc=0
    ./build/fuzz-$t -max_total_time="$EACH" -max_len=$max -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -dict=$dict -artifact_prefix=fuzz-out/$t- fuzz-out/$t $seeds >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
    corpus=$(ls fuzz-out/$t | wc -l)
    line=$(printf '%-8s %12s execs  %8s exec/s  corpus %6s  edges %6s' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "${edges:-?}")
    if [ "$rc" != 0 ]; then
        status=1
        line="$line  CRASH (rc $rc, see $log and fuzz-out/$t-*)"
    fi
    echo "fuzz: $line"
    summary="$summary$line
"
    total_execs=$((total_execs + ${execs:-0}))
done
echo "fuzz: summary (${BUDGET}s budget, ASan+UBSan, one core)"
printf '%s' "$summary"
echo "fuzz: total $total_execs executions"
exit $status
