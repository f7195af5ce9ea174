#!/usr/bin/env bash
# Times the cost pipeline of two accelsim binaries, interleaved, on one thread: a sweep of
# 4 presets x {mnv1, resnet50} x weight bits {4, 8} x 4 DRAM bandwidths (64 points), and 10
# single runs of ResNet-50 on each of the 4 presets. Prints the best of ROUNDS rounds per
# binary and the layer evaluations per second of the sweep.
# Usage: scripts/time_search.sh BEFORE AFTER [ROUNDS]
set -euo pipefail
before=$1 after=$2 rounds=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sweep() {
    "$1" sweep --hw systolic32 --hw nvdla_full --hw dsp --hw mac8 --model mnv1 --model resnet50 \
        --wbits 4,8 --set dram.bandwidth_gbps=5,10,20,40 --threads 1 --out "$tmp/s.csv"
}
runs() {
    for hw in systolic32 nvdla_full dsp mac8; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do "$1" run --hw "$hw" --model resnet50 --format json >/dev/null; done
    done
}
now() { date +%s.%N; }
declare -A best
for r in $(seq "$rounds"); do
    for name in before after; do
        bin=${!name}
        t0=$(now); sweep "$bin"; t1=$(now); runs "$bin"; t2=$(now)
        s=$(echo "$t1 - $t0" | bc); u=$(echo "$t2 - $t1" | bc)
        echo "round $r $name: sweep ${s}s, 40 runs ${u}s"
        [ -z "${best[$name.s]:-}" ] || (( $(echo "$s < ${best[$name.s]}" | bc) )) && best[$name.s]=$s
        [ -z "${best[$name.u]:-}" ] || (( $(echo "$u < ${best[$name.u]}" | bc) )) && best[$name.u]=$u
    done
done
# Layer evaluations of the sweep: every layer of every point.
layers=$(awk -F, 'NR > 1 { n++ } END { print n }' "$tmp/s.csv")
evals=0
for m in mnv1 resnet50; do
    l=$("$after" run --hw systolic32 --model "$m" --format csv | grep -vc '^name\|^TOTAL' || true)
    evals=$((evals + l * 32))
done
for name in before after; do
    echo "$name: sweep best ${best[$name.s]}s ($(echo "$evals / ${best[$name.s]}" | bc) layer evaluations/s), 40 runs best ${best[$name.u]}s"
done
echo "($layers points, $evals layer evaluations per sweep; CPU: $(lscpu | sed -n 's/^Model name: *//p'))"
