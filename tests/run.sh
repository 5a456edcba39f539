#!/usr/bin/env bash
# Runs every test: the C test programs (once per vector path the CPU has), the CLI error and
# output tests
# and, unless SKIP_PYTHON=1, the cross-checks against PyTorch, numpy and scikit-image. Each prints "name: N passed, M failed";
# this script adds them up, prints the total as its last line, and fails when anything failed.
set -u
BUILD=${BUILD:-build}
export BUILD
export SEGLOSS="$PWD/$BUILD/segloss"
PY=/usr/bin/python3
total_p=0
total_f=0
log=$(mktemp)
run() {
    local name=$1
    shift
    echo "== $name"
    "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    local line
    line=$(grep -E '^[A-Za-z0-9_./ -]*: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        local p f
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
        f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
        total_p=$((total_p + p))
        total_f=$((total_f + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "$name exited $rc"
            total_f=$((total_f + 1))
        fi
    else
        echo "$name exited $rc without a summary"
        total_f=$((total_f + 1))
    fi
}
# The C tests run once per vector path the CPU has (SEGLOSS_ISA; see docs/kernels.md).
isas="scalar"
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
if has avx2 && has fma; then isas="$isas avx2"; fi
if has avx512f && has avx512dq && has avx512bw && has avx512vl && has fma; then
    isas="$isas avx512"
fi
echo "vector paths on this CPU: $isas"
for isa in $isas; do
    for t in "$BUILD"/tests/*; do
        [ -x "$t" ] && run "$(basename "$t")[$isa]" env SEGLOSS_ISA="$isa" "$t"
    done
done
run cli_errors bash tests/cli_errors.sh
run cli_outputs bash tests/cli_outputs.sh
if [ "${SKIP_PYTHON:-0}" != 1 ]; then
    for s in tests/check_*.py; do
        [ -f "$s" ] && run "$(basename "$s" .py)" "$PY" "$s"
    done
fi
rm -f "$log"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
