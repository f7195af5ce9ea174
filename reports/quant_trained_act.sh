#!/usr/bin/env bash
# Trained activation thresholds (issue 15, `--act-method trained`) against the MSE thresholds
# they start from, on real data: the digit classifiers trained on ../shared/digits_dev (top-1
# against the labels of the 300 evaluation images, and output SQNR) and MobileNet-v1
# (../shared/tflite: logits SQNR over the 8 evaluation images, 32 calibration images), at
# several activation widths. Prints a markdown table (the "Trained activation thresholds"
# section of reports/quant_learned.md).
#
# Usage: reports/quant_trained_act.sh   (build first: cargo build --release; needs jq)
# Environment: MN_ABITS (MobileNet's activation widths, default "8"; at 3-4 bits its output is
# noise with either method). A MobileNet cell with trained activations takes 2-3 minutes.
# "(k/n kept)": of the n tensors whose scale training moved, the k that raised the network's
# output SQNR on the calibration inputs (only those are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/accelsim}
D=../shared/digits_dev
T=../shared/tflite
MN_ABITS=${MN_ABITS:-8}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cell() { # jq filter, then quantize arguments
  local filter=$1; shift
  local j
  j=$("$BIN" quantize "$@" --out "$TMP/q.aqm" --format json 2>/dev/null) || j='{}'
  jq -r "if .output then $filter + (if .config.act_training then \" (\(.config.act_training.kept)/\(.config.act_training.proposed) kept)\" else \"\" end) else \"error\" end" <<<"$j"
}

DIGITS='"\(.output.top1_accuracy*300|round) (\(.output.sqnr_db*100|round/100) dB)"'
MOBILE='"\(.output.sqnr_db*100|round/100) dB (\(.output.top1_agreement*8|round)/8)"'

echo "| model | weights | activations | a3 | a4 | a5 | a8 |"
echo "|---|---|---|---|---|---|---|"
for m in digits_cnn digits_cnn_relu6; do
  for am in mse trained; do
    row="| $m | w8 mse | $am |"
    for ab in 3 4 5 8; do
      row+=" $(cell "$DIGITS" --model tests/fixtures/digits/$m.tflite --calib $D/calib_x_nhwc.npy \
        --eval $D/eval_x_nhwc.npy --labels $D/eval_y.npy --wbits 8 --abits "$ab" \
        --weight-method mse --act-method "$am") |"
    done
    echo "$row"
  done
done
echo
printf '| model | weights | activations |'
for ab in $MN_ABITS; do printf ' a%s |' "$ab"; done
printf '\n|---|---|---|'
for _ in $MN_ABITS; do printf -- '---|'; done
echo
for c in "w8 mse|mse|--weight-method mse" "w8 mse|trained|--weight-method mse" \
  "w8 trained|mse|--weight-method trained" "w8 trained|trained|--weight-method trained"; do
  IFS='|' read -r wname am flags <<<"$c"
  row="| mobilenet_v1 | $wname | $am |"
  for ab in $MN_ABITS; do
    start=$SECONDS
    # shellcheck disable=SC2086
    row+=" $(cell "$MOBILE" --model $T/models/mobilenet_v1_float32.tflite \
      --calib $T/data/mobilenet_v1_calib_float_inputs.npy --eval $T/data/mobilenet_v1_eval_float_inputs.npy \
      --wbits 8 --abits "$ab" --act-method "$am" $flags) |"
    echo "mobilenet $wname a$ab $am: $((SECONDS - start)) s" >&2
  done
  echo "$row"
done
