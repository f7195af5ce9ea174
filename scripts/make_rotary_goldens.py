#!/usr/bin/env python3
"""Makes the rotary position embedding goldens under tests/fixtures/rotary/ (issue 19):
onnxruntime's `RotaryEmbedding` (ONNX opset 23, `interleaved = 0`: the pairs
`(x[i], x[i + head_dim/2])`, as Llama and GPT-NeoX rotate them) on seeded inputs, with the
cosine / sine caches computed here from the frequencies `theta^(-2i/head_dim)` and, where a
case says so, Llama 3's `rope_scaling` (`rope_type = "llama3"`), written after Hugging Face
transformers' `_compute_llama3_parameters`.

Run in a throwaway virtual environment outside the repository:

    python3 -m venv /tmp/venv-rope
    /tmp/venv-rope/bin/pip install onnx onnxruntime numpy
    /tmp/venv-rope/bin/python scripts/make_rotary_goldens.py tests/fixtures/rotary

Files: `NAME.in.bin` (the input, `[batch * seq, heads * head_dim]` rows, raw little-endian
float32) and `NAME.out.bin` (onnxruntime's output, the same layout); `manifest.json` lists each
case's attributes (heads, theta, scaling, start, sequences, positions per sequence) and the
versions. Read by tests/rotary_goldens.rs.
"""

import json
import os
import sys

import numpy as np


def frequencies(theta, head_dim, scaling):
    """Rotation frequencies (radians per position), float64."""
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if scaling is None:
        return inv
    factor = scaling["factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_positions"]
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * np.pi / inv
    scaled = np.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled)


LLAMA3 = {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_positions": 8192}

# name: heads, head_dim, theta, scaling, start, sequences, positions per sequence
CASES = {
    "plain": (4, 8, 10000.0, None, 0, 2, 5),
    "offset": (2, 16, 10000.0, None, 7, 1, 3),
    # Llama 3.2's frequencies: head_dim 16 puts them in all three bands of the scaling.
    "llama3": (2, 16, 500000.0, LLAMA3, 0, 2, 6),
    # A decode step deep into a long context: one new token at position 100,000.
    "llama3_decode": (3, 16, 500000.0, LLAMA3, 100000, 2, 1),
}


def main(out):
    import onnx  # noqa: PLC0415
    import onnxruntime as ort  # noqa: PLC0415
    from onnx import TensorProto, helper  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(19)
    manifest = {
        "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
        "cases": {},
    }
    for name, (heads, head_dim, theta, scaling, start, batch, seq) in CASES.items():
        hidden = heads * head_dim
        positions = start + seq
        angles = np.outer(np.arange(positions, dtype=np.float64), frequencies(theta, head_dim, scaling))
        cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
        node = helper.make_node(
            "RotaryEmbedding",
            ["x", "cos", "sin", "pos"],
            ["y"],
            interleaved=0,
            num_heads=heads,
        )
        graph = helper.make_graph(
            [node],
            name,
            [
                helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, seq, hidden]),
                helper.make_tensor_value_info("cos", TensorProto.FLOAT, list(cos.shape)),
                helper.make_tensor_value_info("sin", TensorProto.FLOAT, list(sin.shape)),
                helper.make_tensor_value_info("pos", TensorProto.INT64, [batch, seq]),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, seq, hidden])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        x = rng.standard_normal((batch, seq, hidden)).astype(np.float32)
        pos = np.tile(np.arange(start, start + seq, dtype=np.int64), (batch, 1))
        (y,) = sess.run(None, {"x": x, "cos": cos, "sin": sin, "pos": pos})
        x.tofile(os.path.join(out, f"{name}.in.bin"))
        y.astype(np.float32).tofile(os.path.join(out, f"{name}.out.bin"))
        manifest["cases"][name] = {
            "heads": heads,
            "head_dim": head_dim,
            "theta": theta,
            "scaling": scaling,
            "start": start,
            "sequences": batch,
            "positions": seq,
        }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/rotary")
