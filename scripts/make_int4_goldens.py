#!/usr/bin/env python3
"""Makes LiteRT int4- and int2-weight goldens under tests/fixtures/ops/ (issue 19, item 5; not run in CI).

A float FULLY_CONNECTED (`x [1, 6, 64]` times seeded weights `[64, 48]` plus a bias) converted
by TensorFlow, then quantized by ai-edge-quantizer's `dynamic_wi4_afp32` recipe: INT4 weights
(packed two per byte), one scale per output channel, and LiteRT's hybrid kernel quantizing each
float input row to int8 (symmetric) when it runs. Written as `fc_int4_hybrid.tflite` and `.npz`
(`in0.npy` as fed to LiteRT, `out0.npy` as its reference kernels returned: BUILTIN_REF, one
thread), which `tests/op_goldens.rs` runs bit for bit. The same with `dynamic_wi2c_afp32`
(INT2 weights, four per byte, per channel): `fc_int2_hybrid`; and weight-only quantization
(`weight_only_wi8_afp32`, `weight_only_wi4_afp32`: per-channel INT8 / INT4 constants behind a
DEQUANTIZE, a float FULLY_CONNECTED): `fc_int8_weight_only`, `fc_int4_weight_only`. And `dynamic_wi4b32_afp32`
(INT4 in blocks of 32 with FLOAT16 block scales in tensors of their own, LiteRT's
BlockwiseQuantization): LiteRT's reference kernel does not apply the block scales (its outputs
are far off the float layer's, its optimized kernels' are not), so no LiteRT result is defined to
match bit for bit; the model goes to tests/fixtures/blockwise/fc_int4_blockwise.tflite with an
`.npz` of the input (`in0`), the float layer's output (`float`) and what LiteRT's optimized
kernels return (`xnnpack`: the default resolver; `builtin`: BUILTIN_WITHOUT_DEFAULT_DELEGATES),
against which `tests/hybrid.rs` checks accelsim's own definition of the layer.

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
BLOCKWISE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "blockwise")


def main():
    r = np.random.default_rng(41)
    w = tf.constant(r.uniform(-0.5, 0.5, (64, 48)).astype(np.float32))
    b = tf.constant(r.uniform(-0.5, 0.5, (48,)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 6, 64], tf.float32)])
    def f(x):
        return tf.tensordot(x, w, axes=1) + b

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    float_model = conv.convert()
    x = r.uniform(-3, 3, (1, 6, 64)).astype(np.float32)
    x[0, 2] = 0.0  # an all-zero row
    reference = np.tensordot(x, w.numpy(), axes=1) + b.numpy()

    def quantized(rec):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "fc_float.tflite")
            with open(path, "wb") as fh:
                fh.write(float_model)
            q = quantizer.Quantizer(path)
            q.load_quantization_recipe(rec)
            return bytes(q.quantize().quantized_model)

    def run(model, resolver):
        it = Interpreter(model_content=model, experimental_op_resolver_type=resolver, num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"])

    for name, rec in [
        ("fc_int4_hybrid", recipe.dynamic_wi4_afp32()),
        ("fc_int2_hybrid", recipe.dynamic_wi2c_afp32()),
        ("fc_int8_weight_only", recipe.weight_only_wi8_afp32()),
        ("fc_int4_weight_only", recipe.weight_only_wi4_afp32()),
    ]:
        model = quantized(rec)
        y = run(model, OpResolverType.BUILTIN_REF)
        stem = os.path.join(OUT, name)
        with open(stem + ".tflite", "wb") as fh:
            fh.write(model)
        np.savez(stem + ".npz", in0=x, out0=y)
        print(f"{name}: {len(model)} bytes, largest output {np.abs(y).max():.3f}, "
              f"{np.abs(y - reference).max():.3f} off the float layer")
    model = quantized(recipe.dynamic_wi4b32_afp32())
    ref, xnn, builtin = (run(model, k) for k in (OpResolverType.BUILTIN_REF, OpResolverType.AUTO,
                                                 OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    os.makedirs(BLOCKWISE, exist_ok=True)
    stem = os.path.join(BLOCKWISE, "fc_int4_blockwise")
    with open(stem + ".tflite", "wb") as fh:
        fh.write(model)
    np.savez(stem + ".npz", in0=x, float=reference.astype(np.float32), xnnpack=xnn, builtin=builtin)
    off = [np.abs(y - reference).max() for y in (ref, xnn, builtin)]
    print(f"fc_int4_blockwise: {len(model)} bytes; off the float layer: reference kernels {off[0]:.3f}, "
          f"XNNPACK {off[1]:.3f}, builtin optimized {off[2]:.3f}; XNNPACK vs builtin "
          f"{np.abs(xnn - builtin).max():.3g}")


if __name__ == "__main__":
    main()
