#!/usr/bin/env python3
"""Optional external check of `accelsim quantize --out X.tflite` (not run in CI).

Runs a `.tflite` written by accelsim through LiteRT's interpreter with its reference kernels
(OpResolverType.BUILTIN_REF, one thread, every tensor preserved) and through
`accelsim exec --dump`, on each image of a float32 NHWC `.npy`, and compares every tensor
both computed (the final output and all intermediates) bit for bit. Exits non-zero on any
mismatch. Needs only ai-edge-litert and numpy, e.g. in a throwaway venv:

    python3 -m venv /tmp/litert && /tmp/litert/bin/pip install ai-edge-litert numpy
    /tmp/litert/bin/python scripts/litert_check_export.py --accelsim target/release/accelsim \
        --model mnv1_int8.tflite --inputs ../shared/tflite/data/mobilenet_v1_eval_float_inputs.npy

Prints one JSON line: model, images, tensors and elements compared, mismatching elements,
and the tensors that mismatch (with the largest difference).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def accelsim_tensors(binary, model, x, workdir):
    """Runs `accelsim exec --dump`; returns {tensor index: array} of every computed tensor."""
    inp = os.path.join(workdir, "input.bin")
    out = os.path.join(workdir, "output.bin")
    dump = os.path.join(workdir, "dump")
    x.astype(x.dtype.newbyteorder("<")).tofile(inp)
    subprocess.run([binary, "exec", "--model", model, "--input", inp, "--output", out, "--dump", dump], check=True)
    with open(os.path.join(dump, "index.json")) as f:
        index = json.load(f)["tensors"]
    dtypes = {"f32": "<f4", "i8": "i1", "u8": "u1", "i16": "<i2", "i32": "<i4"}
    tensors = {}
    for t in index:
        if t["dtype"] not in dtypes:
            raise SystemExit(f"tensor {t['index']} ({t['name']}): unexpected dtype {t['dtype']}")
        a = np.fromfile(os.path.join(dump, t["file"]), dtype=dtypes[t["dtype"]])
        tensors[t["index"]] = a.reshape(t["shape"])
    return tensors


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accelsim", required=True, help="path of the accelsim binary")
    p.add_argument("--model", required=True, help=".tflite written by accelsim quantize")
    p.add_argument("--inputs", required=True, help="float32 .npy [N, H, W, C] of inputs")
    p.add_argument("--limit", type=int, default=0, help="use at most this many images (0 = all)")
    p.add_argument(
        "--random", type=int, default=0, help="also this many seeded uniform [-1, 1] images (stress inputs)"
    )
    args = p.parse_args()

    interp = Interpreter(
        model_path=args.model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
        num_threads=1,
    )
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    images = np.load(args.inputs).astype(np.float32)
    if args.limit:
        images = images[: args.limit]
    if args.random:
        rng = np.random.default_rng(1)
        extra = rng.uniform(-1.0, 1.0, (args.random,) + images.shape[1:]).astype(np.float32)
        images = np.concatenate([images, extra])
    want_shape = tuple(inp["shape"])
    compared = tensors_compared = mismatches = 0
    bad = {}
    with tempfile.TemporaryDirectory() as work:
        for k, img in enumerate(images):
            x = img.reshape(want_shape).astype(inp["dtype"])
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            ours = accelsim_tensors(args.accelsim, args.model, x, work)
            for i, a in sorted(ours.items()):
                if i == inp["index"]:
                    continue
                ref = interp.get_tensor(i)
                if ref.shape != a.shape and ref.size == a.size:
                    ref = ref.reshape(a.shape)
                if ref.dtype != a.dtype or ref.shape != a.shape:
                    raise SystemExit(f"tensor {i}: LiteRT {ref.dtype}{ref.shape}, accelsim {a.dtype}{a.shape}")
                # Bit-exact: compare the raw bytes (also for floats).
                diff = ref.view(np.uint8).reshape(ref.size, -1) != a.view(np.uint8).reshape(a.size, -1)
                n = int(diff.any(axis=1).sum())
                compared += a.size
                tensors_compared += 1
                if n:
                    mismatches += n
                    d = float(np.max(np.abs(ref.astype(np.float64) - a.astype(np.float64))))
                    name = interp.get_tensor_details()[i]["name"] if i < len(interp.get_tensor_details()) else str(i)
                    b = bad.setdefault(i, {"tensor": i, "name": name, "mismatches": 0, "max_abs_diff": 0.0})
                    b["mismatches"] += n
                    b["max_abs_diff"] = max(b["max_abs_diff"], d)
    print(
        json.dumps(
            {
                "model": args.model,
                "images": int(len(images)),
                "tensors_compared": tensors_compared,
                "elements_compared": compared,
                "mismatches": mismatches,
                "mismatching_tensors": list(bad.values()),
            }
        )
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
