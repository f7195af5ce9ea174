#!/usr/bin/env python3
"""Makes the goldens of `accelsim quantize --out X.onnx` (issue 15 item 5) under
tests/fixtures/onnx_export/: models quantized by accelsim and written in QDQ form by
sim/export/onnx.rs, and onnxruntime's outputs for them on real inputs, with graph
optimizations off (exact QDQ: float ops between QuantizeLinear / DequantizeLinear, what
accelsim's `run_qdq_reference` computes) and on (onnxruntime's fused integer kernels, what a
deployment would run).

Run in a throwaway virtual environment outside the repository, with a release binary:

    python3 -m venv /work/venv-onnx
    /work/venv-onnx/bin/pip install onnx onnxruntime numpy
    cargo build --release
    /work/venv-onnx/bin/python scripts/make_onnx_export_goldens.py target/release/accelsim [--mobilenet]

Files per model NAME: `NAME.onnx`, `NAME.in.npy` (float32 inputs, NCHW, one per row),
`NAME.noopt.npy` and `NAME.opt.npy` (onnxruntime's outputs); `manifest.json` has the
commands, versions and the agreement of the two onnxruntime runs in output LSBs. Read by
tests/quantize_onnx.rs. `--mobilenet` also exports MobileNet-v1 (too big to commit: 4.3 MB)
to a temporary directory and prints the same agreement figures for it.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "fixtures", "onnx_export")

DIGITS = "tests/fixtures/digits/digits_cnn.tflite"
DIGITS_CALIB = "../shared/digits_dev/calib_x_nhwc.npy"
TFLITE = "../shared/tflite/models"

# name -> (quantize arguments, float inputs NHWC .npy, how many inputs)
MODELS = {
    "digits_w8a8": (["--model", DIGITS, "--calib", DIGITS_CALIB], "digits_dev/eval_x_nhwc.npy", 16),
    "digits_w4a8": (["--model", DIGITS, "--calib", DIGITS_CALIB, "--wbits", "4"], "digits_dev/eval_x_nhwc.npy", 16),
    "small_resnet_w8a8": (
        ["--model", f"{TFLITE}/small_resnet_float32.tflite", "--data-free"],
        "tflite/data/small_resnet_golden_float_inputs.npy",
        3,
    ),
    "tiny_w8a16": (
        ["--model", f"{TFLITE}/tiny_float32.tflite", "--data-free", "--abits", "16"],
        "tflite/data/tiny_golden_float_inputs.npy",
        3,
    ),
}
MOBILENET = (
    ["--model", f"{TFLITE}/mobilenet_v1_float32.tflite", "--calib", "../shared/tflite/data/mobilenet_v1_calib_float_inputs.npy"],
    "tflite/data/mobilenet_v1_eval_float_inputs.npy",
    8,
)


def session(path, optimize):
    so = ort.SessionOptions()
    so.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def output_scale(model):
    """The scale of the tensor the final DequantizeLinear reads (one output LSB)."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = model.graph.output[0].name
    producers = {o: n for n in model.graph.node for o in n.output}
    n = producers[out]
    while n.op_type == "Identity":
        n = producers[n.input[0]]
    assert n.op_type == "DequantizeLinear", n.op_type
    return float(inits[n.input[1]])


def make(binary, name, args, inputs, count, out_dir):
    path = os.path.join(out_dir, f"{name}.onnx")
    cmd = [binary, "quantize", *args, "--out", path]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    x = np.load(os.path.join(SHARED, inputs)).astype(np.float32)[:count]
    if x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW, the exported model's input layout
    x = np.ascontiguousarray(x)
    feed = model.graph.input[0].name
    runs = {}
    for tag, optimize in [("noopt", False), ("opt", True)]:
        s = session(path, optimize)
        runs[tag] = np.concatenate([s.run(None, {feed: x[i : i + 1]})[0] for i in range(len(x))])
    scale = output_scale(model)
    lsb = int(np.max(np.round(np.abs(runs["noopt"] - runs["opt"]) / scale)))
    differ = int(np.count_nonzero(runs["noopt"] != runs["opt"]))
    info = {
        "command": "accelsim " + " ".join(cmd[1:-2]) + f" --out {name}.onnx",
        "opset": model.opset_import[0].version,
        "inputs": inputs,
        "count": int(len(x)),
        "bytes": os.path.getsize(path),
        "output_scale": scale,
        "noopt_vs_opt_max_lsb": lsb,
        "noopt_vs_opt_elements_differing": f"{differ} of {runs['noopt'].size}",
    }
    return path, x, runs, info


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    os.makedirs(OUT, exist_ok=True)
    manifest = {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__, "models": {}}
    for name, (args, inputs, count) in MODELS.items():
        _, x, runs, info = make(binary, name, args, inputs, count, OUT)
        np.save(os.path.join(OUT, f"{name}.in.npy"), x)
        for tag, y in runs.items():
            np.save(os.path.join(OUT, f"{name}.{tag}.npy"), y.astype(np.float32))
        manifest["models"][name] = info
        print(name, json.dumps(info))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if "--mobilenet" in sys.argv:
        with tempfile.TemporaryDirectory() as d:
            args, inputs, count = MOBILENET
            path, x, runs, info = make(binary, "mobilenet_v1_w8a8", args, inputs, count, d)
            # accelsim's own integer execution of the same file, for the note.
            xin = os.path.join(d, "x.npy")
            np.save(xin, x)
            out = os.path.join(d, "y.bin")
            subprocess.run(
                [binary, "exec", "--model", path, "--layout", "nchw", "--input", xin, "--output", out],
                cwd=ROOT,
                check=True,
            )
            mine = np.fromfile(out, np.float32).reshape(runs["noopt"].shape)
            scale = info["output_scale"]
            for tag, y in runs.items():
                info[f"accelsim_vs_{tag}_max_lsb"] = int(np.max(np.round(np.abs(mine - y) / scale)))
                info[f"accelsim_vs_{tag}_top1_agreement"] = float(np.mean(mine.argmax(-1) == y.argmax(-1)))
            print("mobilenet_v1_w8a8", json.dumps(info))


if __name__ == "__main__":
    main()
