#!/usr/bin/env python3
"""Makes LiteRT int4-weight goldens under tests/fixtures/ops/ (issue 19, item 5; not run in CI).

A float FULLY_CONNECTED (`x [1, 6, 64]` times seeded weights `[64, 48]` plus a bias) converted
by TensorFlow, then quantized by ai-edge-quantizer's `dynamic_wi4_afp32` recipe: INT4 weights
(packed two per byte), one scale per output channel, and LiteRT's hybrid kernel quantizing each
float input row to int8 (symmetric) when it runs. Written as `fc_int4_hybrid.tflite` and `.npz`
(`in0.npy` as fed to LiteRT, `out0.npy` as its reference kernels returned: BUILTIN_REF, one
thread), which `tests/op_goldens.rs` runs bit for bit.

    python3 -m venv /work/venv-q && /work/venv-q/bin/pip install tensorflow ai-edge-litert ai-edge-quantizer
    /work/venv-q/bin/python scripts/make_int4_goldens.py

Made with tensorflow 2.21.0, ai-edge-litert 2.3.0, ai-edge-quantizer 0.10.0, numpy 2.4, Python 3.11.7.
"""
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402
from ai_edge_quantizer import quantizer, recipe  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ops")


def main():
    r = np.random.default_rng(41)
    w = tf.constant(r.uniform(-0.5, 0.5, (64, 48)).astype(np.float32))
    b = tf.constant(r.uniform(-0.5, 0.5, (48,)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 6, 64], tf.float32)])
    def f(x):
        return tf.tensordot(x, w, axes=1) + b

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fc_float.tflite")
        with open(path, "wb") as fh:
            fh.write(conv.convert())
        q = quantizer.Quantizer(path)
        q.load_quantization_recipe(recipe.dynamic_wi4_afp32())
        model = bytes(q.quantize().quantized_model)
    x = r.uniform(-3, 3, (1, 6, 64)).astype(np.float32)
    x[0, 2] = 0.0  # an all-zero row
    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF, num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])
    stem = os.path.join(OUT, "fc_int4_hybrid")
    with open(stem + ".tflite", "wb") as fh:
        fh.write(model)
    np.savez(stem + ".npz", in0=x, out0=y)
    print(f"fc_int4_hybrid: {len(model)} bytes, largest output {np.abs(y).max():.3f}")


if __name__ == "__main__":
    main()
