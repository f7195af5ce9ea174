#!/bin/bash
# Mixed-precision fronts of the digit classifier (tests/fixtures/digits, ../shared/digits_dev)
# on three presets: `accelsim search` (energy objective, top-1 against the 300 labelled eval
# images), then `plot --kind pareto` of each front beside the uniform-width points.
# Usage: reports/mixed_precision.sh [BIN]   (from the repository root)
set -euo pipefail
BIN=${1:-target/release/accelsim}
D=../shared/digits_dev M=tests/fixtures/digits/digits_cnn.tflite
for hw in mac4 mac8 systolic32; do
  $BIN search --hw $hw --model $M --calib $D/calib_x_nhwc.npy --eval $D/eval_x_nhwc.npy \
    --labels $D/eval_y.npy --wbits 2,3,4,8 --abits 4,8 --objective energy \
    --constraint 'top1>=0.97' --out reports/mixed_front_digits_$hw.csv
  $BIN plot --kind pareto --input reports/mixed_front_digits_$hw.csv --sqnr-column top1_accuracy \
    --out reports/mixed_front_digits_$hw.svg
done
