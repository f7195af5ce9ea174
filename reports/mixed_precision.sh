#!/bin/bash
# Mixed-precision fronts (`accelsim search`, energy objective), each drawn by `plot --kind
# pareto` beside the uniform-width points, on three presets:
# - the digit classifier (tests/fixtures/digits, ../shared/digits_dev): top-1 against the 300
#   labelled eval images;
# - MobileNet-v1 (../shared/tflite, float32 TFLite; 32 calibration, 8 evaluation images):
#   logits SQNR (the input of the final softmax) against the float model;
# - the built-in MobileNet-v2 (synthetic seeded weights) on the same MobileNet images, logits SQNR.
# Usage: reports/mixed_precision.sh [BIN]   (from the repository root; cargo build --release)
set -euo pipefail
BIN=${1:-target/release/accelsim}
D=../shared/digits_dev M=tests/fixtures/digits/digits_cnn.tflite S=../shared/tflite
for hw in mac4 mac8 systolic32; do
  $BIN search --hw $hw --model $M --calib $D/calib_x_nhwc.npy --eval $D/eval_x_nhwc.npy \
    --labels $D/eval_y.npy --wbits 2,3,4,8 --abits 4,8 --objective energy \
    --constraint 'top1>=0.97' --out reports/mixed_front_digits_$hw.csv
  $BIN plot --kind pareto --input reports/mixed_front_digits_$hw.csv --sqnr-column top1_accuracy \
    --out reports/mixed_front_digits_$hw.svg
  $BIN search --hw $hw --model $S/models/mobilenet_v1_float32.tflite \
    --calib $S/data/mobilenet_v1_calib_float_inputs.npy --eval $S/data/mobilenet_v1_eval_float_inputs.npy \
    --wbits 2,3,4,8 --abits 4,8 --objective energy --max-verified 16 \
    --out reports/mixed_front_mnv1_$hw.csv
  $BIN plot --kind pareto --input reports/mixed_front_mnv1_$hw.csv --sqnr-column logits_sqnr_db \
    --out reports/mixed_front_mnv1_$hw.svg
  $BIN search --hw $hw --model mnv2 \
    --calib $S/data/mobilenet_v1_calib_float_inputs.npy --eval $S/data/mobilenet_v1_eval_float_inputs.npy \
    --wbits 2,3,4,8 --abits 4,8 --objective energy --out reports/mixed_front_mnv2_$hw.csv
  $BIN plot --kind pareto --input reports/mixed_front_mnv2_$hw.csv --sqnr-column logits_sqnr_db \
    --out reports/mixed_front_mnv2_$hw.svg
done
