#!/bin/sh
# test_cli.sh -- drives the real binary through a pipe: one response line per request, only
# protocol on stdout, over-long lines drained, unterminated last line answered, bad arguments.
# usage: sh tests/test_cli.sh path/to/universe-sim
set -u
SIM=${1:?usage: test_cli.sh BINARY}
TMP=${TMPDIR:-/tmp}/universe-sim-cli.$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
check() { # name, condition-command...
    name=$1
    shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "test_cli: FAIL $name" >&2; fi
}

# 1. a session: every request gets exactly one line, ids echoed, stdout is pure protocol
{
    printf '{"cmd":"status","id":1}\n'
    printf '{"cmd":"tick","id":2,"actions":{"1-1":{"type":"survey"}}}\n'
    printf 'garbage\n'
    printf '{"cmd":"metrics","id":"m"}\n'
    head -c 300 /dev/zero | tr '\0' 'x'
    printf '\n{"cmd":"hash","id":4}\n'
    printf '{"cmd":"quit","id":5}\n'
    printf '{"cmd":"status","id":6}\n'
} | "$SIM" --pipe --seed 42 --max-line 200 >"$TMP/out" 2>"$TMP/err"
check "exit status 0" test $? -eq 0
check "seven responses" test "$(wc -l <"$TMP/out")" -eq 7
check "ids echoed" test "$(grep -c '"id":' "$TMP/out")" -eq 5
check "parse error reported" grep -q '"code":"parse_error","message":"[^"]*","pos":0' "$TMP/out"
check "line too long" grep -q '"code":"line_too_long"' "$TMP/out"
check "quit answered" grep -q '"id":5,"bye":true' "$TMP/out"
check "nothing after quit" sh -c "! grep -q '\"id\":6' '$TMP/out'"
check "every line is an object" sh -c "! grep -qv '^{\"ok\":' '$TMP/out'"
check "log on stderr" grep -q 'seed 42' "$TMP/err"

# 2. EOF without newline still answered; EOF exits 0
printf '{"cmd":"hash"}' | "$SIM" --pipe >"$TMP/out2" 2>/dev/null
check "unterminated last line" grep -q '"hash":"[0-9a-f]\{16\}"' "$TMP/out2"
: | "$SIM" --pipe >/dev/null 2>&1
check "empty stdin exits 0" test $? -eq 0

# 3. determinism across processes
a=$(printf '{"cmd":"tick"}\n{"cmd":"tick"}\n{"cmd":"hash"}\n' | "$SIM" --pipe --seed 7 2>/dev/null | tail -1)
b=$(printf '{"cmd":"tick"}\n{"cmd":"tick"}\n{"cmd":"hash"}\n' | "$SIM" --pipe --seed 7 2>/dev/null | tail -1)
c=$(printf '{"cmd":"tick"}\n{"cmd":"tick"}\n{"cmd":"hash"}\n' | "$SIM" --pipe --seed 8 2>/dev/null | tail -1)
check "same seed same hash" test "$a" = "$b"
check "other seed other hash" test "$a" != "$c"

# 4. --populate and bad arguments
n=$(printf '{"cmd":"status","limit":2}\n' | "$SIM" --pipe --populate 1000 2>/dev/null | grep -o '"total":[0-9]*')
check "populate" test "$n" = '"total":1000'
"$SIM" --pipe --seed nope >/dev/null 2>&1
check "bad seed rejected" test $? -eq 2
"$SIM" >/dev/null 2>&1
check "no mode is usage error" test $? -eq 2

# 5. save / load through the binary, across processes
printf '{"cmd":"tick"}\n{"cmd":"save","path":"%s/s.sav"}\n' "$TMP" | "$SIM" --pipe >"$TMP/save" 2>/dev/null
h1=$(grep -o '"hash":"[0-9a-f]*"' "$TMP/save")
printf '{"cmd":"load","path":"%s/s.sav"}\n{"cmd":"hash"}\n' "$TMP" | "$SIM" --pipe --seed 99 >"$TMP/load" 2>/dev/null
h2=$(tail -1 "$TMP/load" | grep -o '"hash":"[0-9a-f]*"')
check "save/load across processes" test -n "$h1" -a "$h1" = "$h2"
check "no temp file left" sh -c "! ls '$TMP' | grep -q tmp"

# 6. the reference overlay through the binary: same inputs, same bytes; the hash does not move
ref_run() { # reference-value
    printf '{"cmd":"tick","actions":{"1-1":{"type":"claim_system"}},"reference":%s}\n{"cmd":"tick","reference":%s}\n{"cmd":"scan","probe_id":"1-1","shape":"reference"}\n{"cmd":"history","probe_id":"1-1","shape":"reference"}\n{"cmd":"hash"}\n' "$1" "$1" |
        "$SIM" --pipe --seed 5 --populate 3 2>/dev/null
}
ref_run '"all"' >"$TMP/ref1"
ref_run '"all"' >"$TMP/ref2"
ref_run null >"$TMP/ref3"
check "overlay deterministic" cmp -s "$TMP/ref1" "$TMP/ref2"
check "overlay present" grep -q '"reference":{"system":{' "$TMP/ref1"
check "overlay absent by default" sh -c "! grep -q '\"reference\":{' '$TMP/ref3'"
check "overlay keeps the hash" test "$(tail -1 "$TMP/ref1")" = "$(tail -1 "$TMP/ref3")"
check "claims carry claimer" grep -q '"claimer":"1-1","tick":1}' "$TMP/ref3"
check "scan star_class numeric" grep -q '"star_class":[0-6],' "$TMP/ref1"

echo "test_cli: $passed passed, $failed failed"
test "$failed" -eq 0
