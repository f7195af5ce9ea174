#!/usr/bin/env bash
# Interleaved timing of bit-exact execution against LiteRT on the same CPU (issue 16).
# Usage: scripts/time_exec.sh ACCELSIM_BIN PYTHON_WITH_LITERT [ROUNDS] [MODEL.tflite]
# Builds a 64-image batch from the MobileNet-v1 eval inputs (8 images x 8) and runs, per round,
# `accelsim exec` on one thread and on all threads, then LiteRT (XNNPACK and BUILTIN) on one thread.
# MODEL defaults to the shared MobileNet-v1 int8 model; scripts/mnv2/make_tflite.py makes a
# MobileNet-v2 one (224x224x3 int8 input, as v1's).
set -euo pipefail
bin=$1 py=$2 rounds=${3:-3}
root="$(cd "$(dirname "$0")/.." && pwd)/../shared/tflite"
model="${4:-$root/models/mobilenet_v1_int8.tflite}"
batch="$(mktemp -d)/mnv1_64.npy"
"$py" -c "import numpy as np, sys; a = np.load(sys.argv[1]); np.save(sys.argv[2], np.concatenate([a] * 8))" \
  "$root/data/mobilenet_v1_eval_float_inputs.npy" "$batch"
grep -m1 'model name' /proc/cpuinfo || true
for _ in $(seq "$rounds"); do
  RAYON_NUM_THREADS=1 /usr/bin/time -f "accelsim 1 thread: %U s user %S s sys %e s wall" \
    "$bin" exec --model "$model" --input "$batch" --output /dev/null
  /usr/bin/time -f "accelsim all threads: %U s user %S s sys %e s wall" \
    "$bin" exec --model "$model" --input "$batch" --output /dev/null
  for k in xnnpack builtin; do "$py" "$(dirname "$0")/time_litert.py" "$model" "$batch" "$k" 2>&1 | tail -1; done
done
