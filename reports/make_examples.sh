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
"$ACCELSIM" sweep --hw systolic32,mac8,nvdla_full --model mnv1,resnet18 \
    --wbits 4,8,16 --abits 8 --per-layer --threads 2 --out "$out/example_sweep.csv"
for kind in latency-vs-bits energy-breakdown per-layer roofline; do
    "$ACCELSIM" plot --input "$out/example_sweep.csv" --kind "$kind" --out "$out/$kind.svg"
done
"$ACCELSIM" plot --input "$out/example_sweep.csv" --kind speedup --baseline systolic32 --out "$out/speedup.svg"
# Functional sweep (SQNR joined, one evaluation per model/widths/accumulator) of the float
# ONNX small_resnet2 with its calibration images from the shared data; its Pareto front is
# energy vs SQNR.
shared="${ACCELSIM_SHARED:-../shared}/onnx"
"$ACCELSIM" sweep --hw mac8 --hw mac4 --model "$shared/models/small_resnet2_float.onnx" \
    --wbits 2,3,4,6,8 --abits 4,8 --set accumulator_bits=16,20,32 \
    --functional --calib "$shared/data/small_resnet2_calib_nchw.npy" --threads 2 \
    --out "$out/example_functional_sweep.csv"
# Model paths in the CSV relative to the repository, whatever ACCELSIM_SHARED was.
sed -i "s#$shared/#shared/onnx/#g" "$out/example_functional_sweep.csv"
"$ACCELSIM" plot --input "$out/example_functional_sweep.csv" --kind pareto --out "$out/pareto.svg"
# Latency vs SRAM size and vs array size, one preset per family (fails if a curve rises);
# trends.md keeps the `before` cells of the committed table unless ACCELSIM_BEFORE names an older binary.
python3 reports/trends.py "$ACCELSIM" "${ACCELSIM_BEFORE:-reports/trends.md}"
# Llama-1B widths x KV-cache width x two accelerators, decode and prefill (issue 19).
python3 reports/transformer_widths.py "$ACCELSIM"
# The digits ViT quantized at W8A8 / W4A8 (g32) / W4A16 / W3A8, scored against labels, costed (issue 19).
python3 reports/transformer_digits.py "$ACCELSIM" > "$out/transformer_digits.md"
# Eyeriss v1 on AlexNet CONV1-5 against the chip's measurements (issue 21).
python3 reports/eyeriss_alexnet.py "$ACCELSIM" > "$out/eyeriss_alexnet.md"
# On-chip activation reuse across layers, off vs on (issue 21 item 3).
python3 reports/onchip_reuse.py "$ACCELSIM" > "$out/onchip_reuse.md"
echo "wrote $out/example_sweep.csv, $out/example_functional_sweep.csv and $out/*.svg"
