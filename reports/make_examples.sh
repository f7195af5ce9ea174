#!/usr/bin/env bash
# Regenerates the example sweep and figures of reports/ (see reports/README.md).
# Usage: reports/make_examples.sh [path/to/accelsim]   (default: builds and runs the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then
    ACCELSIM="$1"
else
    cargo build --release --quiet
    ACCELSIM=target/release/accelsim
fi
out=reports
"$ACCELSIM" sweep --hw systolic32 --hw mac8 --hw nvdla_full --model mnv1 \
    --wbits 4,8,16 --abits 8 --per-layer --threads 2 --out "$out/example_sweep.csv"
for kind in latency-vs-bits energy-breakdown per-layer roofline pareto; do
    "$ACCELSIM" plot --input "$out/example_sweep.csv" --kind "$kind" --out "$out/$kind.svg"
done
"$ACCELSIM" plot --input "$out/example_sweep.csv" --kind speedup --baseline systolic32 --out "$out/speedup.svg"
echo "wrote $out/example_sweep.csv and $out/*.svg"
