#!/usr/bin/env python3
"""Makes the per-operator LiteRT goldens under tests/fixtures/ops/ (not run in CI).

For each operator case, a tiny TensorFlow function is converted three ways -- float32,
int8 full-integer post-training quantization (int8 input and output), and 16x8 (int16
activations, int8 weights) where the converter has it -- and run through LiteRT's REFERENCE
kernels (OpResolverType.BUILTIN_REF, one thread) on seeded random inputs plus edge inputs
(every int8 value once for unary ops: saturation and both ends of the zero point's range).
Each variant is written as `<case>_<float32|int8|16x8|hybrid|hybrid_pt>.tflite` (hybrid:
dynamic-range quantization, int8 weights behind float inputs; hybrid_pt: with one weight scale
per tensor) and `.npz` (`in0.npy`,
`in1.npy`, ... as fed to the interpreter, `out0.npy` as it returned). `tests/op_goldens.rs`
runs accelsim's executor on every pair and requires bit-exact integer outputs (float32:
within 1e-6 relative).

Needs tensorflow, ai-edge-litert and numpy in a throwaway venv outside the repo:

    python3 -m venv /work/venv-tf && /work/venv-tf/bin/pip install tensorflow ai-edge-litert
    /work/venv-tf/bin/python scripts/make_op_goldens.py [--only CASE ...]

Made with tensorflow 2.21.0, ai-edge-litert 2.3.0, numpy 2.4.6, Python 3.11.7.
Prints, per variant, the operators in the converted model (so a case that the converter
turned into something else is visible) or why the variant was skipped.
"""

import argparse
import os
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ops")
UNDEFINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "undefined")
X = [1, 4, 4, 16]  # 256 elements: every int8 value once in the sweep input.


def rng(seed):
    return np.random.default_rng(seed)


class Case:
    """An operator case: input shapes, the function, the input range for calibration."""

    def __init__(
        self, name, shapes, fn, lo=-4.0, hi=4.0, variants=("float32", "int8", "16x8"), rewrite=None, builtin_fallback=False,
        inputs=None, undefined=False,
    ):
        self.name, self.shapes, self.fn, self.lo, self.hi, self.variants = name, shapes, fn, lo, hi, variants
        # A function of a seeded generator giving the input arrays, for cases whose inputs
        # are chosen rather than random (else `inputs_for`).
        self.inputs = inputs
        # Whether a variant the reference resolver cannot run (an operator version it does not
        # register) runs on LiteRT's BUILTIN kernels instead: only for pure copies.
        self.builtin_fallback = builtin_fallback
        # A function of the converted model's bytes, for operators the converter never
        # writes (it turns SQUEEZE and EXPAND_DIMS of static shapes into RESHAPE).
        self.rewrite = rewrite
        # Whether LiteRT's output is undefined (its kernel reads past an array): only the model
        # is written, to tests/fixtures/undefined/, for the test that accelsim refuses it.
        self.undefined = undefined


def reshape_as(op_name, axis):
    """Rewrites a converted model's only RESHAPE as SQUEEZE (of `axis`) or EXPAND_DIMS (at
    `axis`, from a new int32 scalar constant), the operators real models carry."""

    def rewrite(model):
        import flatbuffers  # noqa: PLC0415
        from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415

        m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
        (op,) = m.subgraphs[0].operators
        code = m.operatorCodes[op.opcodeIndex]
        assert max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.RESHAPE
        new = getattr(schema.BuiltinOperator, op_name)
        code.builtinCode, code.deprecatedBuiltinCode, code.version = new, new, 1
        if op_name == "SQUEEZE":
            op.inputs = op.inputs[:1]
            op.builtinOptionsType = schema.BuiltinOptions.SqueezeOptions
            op.builtinOptions = schema.SqueezeOptionsT()
            op.builtinOptions.squeezeDims = [axis]
        else:
            t = m.subgraphs[0].tensors[op.inputs[1]]
            t.shape = []
            m.buffers[t.buffer].data = np.array([axis], np.int32).tobytes()
            op.builtinOptionsType = schema.BuiltinOptions.ExpandDimsOptions
            op.builtinOptions = schema.ExpandDimsOptionsT()
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    return rewrite


def symmetric_fc_inputs(model):
    """Rewrites every FULLY_CONNECTED's `asymmetric_quantize_inputs` to false: LiteRT's hybrid
    kernel then quantizes each row symmetrically (`SymmetricQuantizeFloats`), as models
    converted before the option existed do."""
    import flatbuffers  # noqa: PLC0415
    from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    n = 0
    for op in m.subgraphs[0].operators:
        if op.builtinOptionsType == schema.BuiltinOptions.FullyConnectedOptions:
            assert op.builtinOptions.asymmetricQuantizeInputs, "the converter wrote asymmetric rows"
            op.builtinOptions.asymmetricQuantizeInputs = False
            n += 1
    assert n, "a FULLY_CONNECTED to rewrite"
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def const(shape, seed, lo=-2.0, hi=2.0):
    return tf.constant(rng(seed).uniform(lo, hi, size=shape).astype(np.float32))


def cases():
    c = []
    # Unary element-wise.
    c.append(Case("logistic", [X], lambda x: tf.sigmoid(x), -10.0, 10.0))
    c.append(Case("tanh", [X], lambda x: tf.tanh(x), -5.0, 5.0))
    c.append(Case("hard_swish", [X], lambda x: x * tf.nn.relu6(x + 3.0) / 6.0, -6.0, 6.0))
    c.append(Case("leaky_relu", [X], lambda x: tf.nn.leaky_relu(x, alpha=0.2), -3.0, 5.0))
    c.append(Case("relu", [X], lambda x: tf.nn.relu(x), -3.0, 5.0))
    c.append(Case("relu6", [X], lambda x: tf.nn.relu6(x), -3.0, 9.0))
    c.append(Case("relu_n1_to_1", [X], lambda x: tf.clip_by_value(x, -1.0, 1.0), -3.0, 2.0))
    # PRELU: alpha shared over H and W, one per channel.
    alpha = const([1, 1, 16], 7, 0.05, 0.5)
    c.append(Case("prelu", [X], lambda x: tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x), -3.0, 4.0))
    # Binary element-wise with broadcasting of every rank (second operand an activation).
    for kind, f in [
        ("mul", tf.multiply),
        ("sub", tf.subtract),
        ("maximum", tf.maximum),
        ("minimum", tf.minimum),
        ("add", tf.add),
    ]:
        c.append(Case(f"{kind}", [X, X], f))
        c.append(Case(f"{kind}_bcast1", [X, [16]], f))
        c.append(Case(f"{kind}_bcast3", [X, [4, 1, 16]], f))
        c.append(Case(f"{kind}_bcast4", [[1, 4, 1, 16], [1, 1, 4, 1]], f))
    # A constant operand (the [1, 8, 9, 32] + [32] case of issue 13).
    k32 = const([32], 3)
    c.append(Case("add_const", [[1, 8, 9, 32]], lambda x: x + k32))
    c.append(Case("mul_const", [[1, 8, 9, 32]], lambda x: x * k32))
    c.append(Case("div", [X, [16]], lambda x, y: x / y, 0.5, 4.0, variants=("float32",)))
    # Layout: views and slices.
    c.append(Case("squeeze", [[1, 4, 1, 16]], lambda x: tf.squeeze(x, axis=2), rewrite=reshape_as("SQUEEZE", 2)))
    c.append(Case("expand_dims", [[1, 4, 16]], lambda x: tf.expand_dims(x, 2), rewrite=reshape_as("EXPAND_DIMS", 2)))
    c.append(Case("strided_slice", [X], lambda x: x[:, 1:4:2, ::-1, 2:14:3]))
    c.append(Case("strided_slice_shrink", [X], lambda x: x[0, -3:, 1, ::2]))
    c.append(Case("slice", [X], lambda x: tf.slice(x, [0, 1, 0, 2], [1, 2, 4, 8])))
    # Data movement: pure copies (the integer kernels copy the integers).
    c.append(Case("transpose", [X], lambda x: tf.transpose(x, [0, 3, 1, 2])))
    c.append(Case("transpose3", [[4, 3, 16]], lambda x: tf.transpose(x, [2, 0, 1])))
    # The converter has no 16x8 DEPTH_TO_SPACE / SPACE_TO_DEPTH.
    c.append(Case("depth_to_space", [X], lambda x: tf.nn.depth_to_space(x, 2), builtin_fallback=True))
    c.append(Case("space_to_depth", [X], lambda x: tf.nn.space_to_depth(x, 2)))
    c.append(Case("gather", [X], lambda x: tf.gather(x, [3, 0, 2, 2, 15], axis=3)))
    c.append(Case("gather2d", [X], lambda x: tf.gather(x, [[0, 3], [1, 1]], axis=1)))
    c.append(Case("split", [X], lambda x: tf.split(x, 4, axis=3)))
    c.append(Case("split_v", [X], lambda x: tf.split(x, [3, 5, 8], axis=3)))
    c.append(Case("split_h", [X], lambda x: tf.split(x, [1, 3], axis=1)))
    # Normalization arithmetic (float only but RSQRT: LiteRT has no integer SQRT / LOG / POW).
    # (Float inputs span the range widened by a quarter on each side: kept positive.)
    c.append(Case("sqrt", [X], lambda x: tf.sqrt(x), 2.0, 6.0, variants=("float32",)))
    c.append(Case("rsqrt", [X], lambda x: tf.math.rsqrt(x), 2.0, 6.0, variants=("float32", "int8")))
    c.append(Case("log", [X], lambda x: tf.math.log(x), 2.0, 6.0, variants=("float32",)))
    # CAST: float32 to int32 (truncation toward zero of negative and positive values), and
    # back to float32 then int8 and int16 (in range: C++ leaves out-of-range casts undefined).
    c.append(Case("cast_to_int32", [X], lambda x: tf.cast(x * 10.0, tf.int32), variants=("float32",)))
    c.append(Case("cast_round_trip", [X], lambda x: tf.cast(tf.cast(x * 10.0, tf.int32), tf.float32) * 0.5,
                  variants=("float32",)))
    c.append(Case("cast_to_int8", [X], lambda x: tf.cast(x * 20.0, tf.int8), variants=("float32",)))
    c.append(Case("cast_to_int16", [X], lambda x: tf.cast(x * 1000.0, tf.int16), variants=("float32",)))
    c.append(Case("pow", [X, [16]], lambda x, y: tf.pow(x, y), 2.0, 6.0, variants=("float32",)))
    # Maximum over spatial axes and over channels.
    c.append(Case("reduce_max", [X], lambda x: tf.reduce_max(x, axis=[1, 2], keepdims=True)))
    c.append(Case("reduce_max_c", [X], lambda x: tf.reduce_max(x, axis=3)))
    # Resize (TF2 defaults: half-pixel centers for bilinear).
    c.append(Case("resize_bilinear", [[1, 3, 4, 8]], lambda x: tf.image.resize(x, [6, 7], method="bilinear")))
    c.append(Case("resize_nearest", [[1, 3, 4, 8]], lambda x: tf.image.resize(x, [6, 8], method="nearest")))
    # TF1 conventions: align_corners, and neither flag (legacy, also downscaling).
    v1 = tf.compat.v1.image
    c.append(Case("resize_bilinear_ac", [[1, 3, 4, 8]], lambda x: v1.resize_bilinear(x, [6, 7], align_corners=True)))
    c.append(Case("resize_bilinear_legacy", [[1, 3, 4, 8]], lambda x: v1.resize_bilinear(x, [5, 3])))
    c.append(
        Case("resize_nearest_ac", [[1, 3, 4, 8]], lambda x: v1.resize_nearest_neighbor(x, [7, 5], align_corners=True))
    )
    c.append(Case("resize_nearest_legacy", [[1, 3, 4, 8]], lambda x: v1.resize_nearest_neighbor(x, [5, 3])))
    # A layer normalization as LiteRT lowers it (MEAN, SQUARED_DIFFERENCE or MUL, RSQRT, ...):
    # the integer graph a converted transformer norm becomes. Fixed gamma and beta.
    def layer_norm(x):
        mean, var = tf.nn.moments(x, axes=[3], keepdims=True)
        g = tf.constant(np.linspace(0.5, 1.5, 16, dtype=np.float32))
        b = tf.constant(np.linspace(-0.25, 0.25, 16, dtype=np.float32))
        return (x - mean) * tf.math.rsqrt(var + 1e-3) * g + b
    c.append(Case("layer_norm", [X], layer_norm))
    # A per-token projection: FULLY_CONNECTED on a rank-3 input with keep_num_dims (what a
    # Keras Dense on tokens converts to), with a bias.
    fc_w = tf.constant(rng(31).uniform(-0.5, 0.5, (16, 8)).astype(np.float32))
    fc_b = tf.constant(rng(32).uniform(-0.5, 0.5, (8,)).astype(np.float32))
    c.append(Case("fc_keep_dims", [[1, 6, 16]], lambda x: tf.tensordot(x, fc_w, axes=1) + fc_b))
    # LiteRT's hybrid FULLY_CONNECTED (dynamic-range quantization: int8 weights of 1024 or
    # more elements, per channel; float input rows quantized per row, asymmetric, at run time):
    # per-token dynamic activation scales. With a fused ReLU, and with an all-zero row.
    hy_w = tf.constant(rng(33).uniform(-0.5, 0.5, (64, 48)).astype(np.float32))
    hy_b = tf.constant(rng(34).uniform(-0.5, 0.5, (48,)).astype(np.float32))
    zero_row = tf.constant(np.array([1, 1, 0, 1, 1, 1], np.float32).reshape(1, 6, 1))
    c.append(Case("fc_hybrid", [[1, 6, 64]], lambda x: tf.tensordot(x, hy_w, axes=1) + hy_b, variants=("hybrid",)))
    c.append(Case("fc_hybrid_relu", [[5, 64]], lambda x: tf.nn.relu(tf.matmul(x, hy_w) + hy_b), variants=("hybrid",)))
    c.append(Case("fc_hybrid_zero_row", [[1, 6, 64]], lambda x: tf.tensordot(x * zero_row, hy_w, axes=1) + hy_b,
                  variants=("hybrid",)))
    # Rows whose every quantized value is an exact tie: 0 and 255/16 set the row's scale to
    # 1/16 and its zero point to -128, so (k + 0.5) / 16 quantizes to k - 127.5. LiteRT's
    # hybrid kernels round these half up (toward +infinity), not half away from zero.
    def tie_rows(r):
        rows = [np.concatenate([[0.0, 255 / 16], (r.integers(0, 255, 62) + 0.5) / 16]) for _ in range(6)]
        for row in rows:
            r.shuffle(row)
        return [np.array(rows, np.float32).reshape(1, 6, 64)]

    c.append(Case("fc_hybrid_ties", [[1, 6, 64]], lambda x: tf.tensordot(x, hy_w, axes=1) + hy_b, variants=("hybrid",),
                  inputs=tie_rows))

    # The same for a whole image of a hybrid convolution (rounded half to even there).
    def tie_image(r):
        image = np.concatenate([[0.0, 255 / 16], (r.integers(0, 255, 6 * 6 * 16 - 2) + 0.5) / 16])
        r.shuffle(image)
        return [image.astype(np.float32).reshape(1, 6, 6, 16)]

    # Inputs where the two ways of forming `v / scale + zero point` round to different
    # integers (the value exact, or rounded to float once, then rounded half up): LiteRT's
    # hybrid fully connected and convolution kernels differ there (kernels/fc.rs).
    def near_tie(shape, per):
        def make(r):
            while True:
                x = r.uniform(-1.0, 3.0, size=shape).astype(np.float32)
                for v in x.reshape(-1, per):
                    lo, hi = np.float32(min(0.0, v.min())), np.float32(max(0.0, v.max()))
                    scale = np.float32(np.float64(np.float32(hi - lo)) / 255.0)
                    inv = np.float32(1.0 / np.float64(scale))
                    zp = -128.0 - np.float64(lo) / np.float64(scale)
                    off = -128 if zp <= -128 else (127 if zp >= 127 else int(np.round(zp)))
                    exact = v.astype(np.float64) * np.float64(inv) + off
                    if (np.floor(exact + 0.5) != np.floor(exact.astype(np.float32).astype(np.float64) + 0.5)).any():
                        return [x]
        return make

    c.append(Case("fc_hybrid_near_tie", [[1, 6, 64]], lambda x: tf.tensordot(x, hy_w, axes=1) + hy_b,
                  variants=("hybrid",), inputs=near_tie((1, 6, 64), 64)))
    # LiteRT's hybrid CONV_2D and DEPTHWISE_CONV_2D (dynamic-range quantization: int8 weights
    # per output channel; each image of the float input quantized asymmetrically as a whole
    # when the layer runs): batch 2 with a fused ReLU, the second image all zeros; stride 2
    # VALID; depthwise with multipliers 1 and 2 (weights of 1024 or more elements).
    hc_w = tf.constant(rng(35).uniform(-0.5, 0.5, (3, 3, 16, 16)).astype(np.float32))
    hc_b = tf.constant(rng(36).uniform(-0.5, 0.5, (16,)).astype(np.float32))
    hd_w = tf.constant(rng(37).uniform(-0.5, 0.5, (3, 3, 128, 1)).astype(np.float32))
    hd_b = tf.constant(rng(38).uniform(-0.5, 0.5, (128,)).astype(np.float32))
    hm_w = tf.constant(rng(39).uniform(-0.5, 0.5, (3, 3, 64, 2)).astype(np.float32))
    second_zero = tf.constant(np.array([1, 0], np.float32).reshape(2, 1, 1, 1))
    c.append(Case("conv_hybrid", [[2, 6, 6, 16]], lambda x: tf.nn.relu(tf.nn.conv2d(x, hc_w, 1, "SAME") + hc_b),
                  variants=("hybrid",)))
    c.append(Case("conv_hybrid_zero_image", [[2, 6, 6, 16]],
                  lambda x: tf.nn.conv2d(x * second_zero, hc_w, 1, "SAME") + hc_b, variants=("hybrid",)))
    c.append(Case("conv_hybrid_ties", [[1, 6, 6, 16]], lambda x: tf.nn.conv2d(x, hc_w, 1, "SAME") + hc_b,
                  variants=("hybrid",), inputs=tie_image))
    c.append(Case("conv_hybrid_s2_valid", [[1, 7, 7, 16]], lambda x: tf.nn.conv2d(x, hc_w, 2, "VALID"),
                  variants=("hybrid",)))
    c.append(Case("dwconv_hybrid", [[1, 5, 5, 128]],
                  lambda x: tf.nn.depthwise_conv2d(x, hd_w, [1, 2, 2, 1], "SAME") + hd_b, variants=("hybrid",)))
    c.append(Case("dwconv_hybrid_near_tie", [[1, 5, 5, 128]],
                  lambda x: tf.nn.depthwise_conv2d(x, hd_w, [1, 1, 1, 1], "SAME") + hd_b, variants=("hybrid",),
                  inputs=near_tie((1, 5, 5, 128), 5 * 5 * 128)))
    c.append(Case("conv_hybrid_near_tie", [[1, 6, 6, 16]], lambda x: tf.nn.conv2d(x, hc_w, 1, "SAME") + hc_b,
                  variants=("hybrid",), inputs=near_tie((1, 6, 6, 16), 6 * 6 * 16)))
    # Symmetric hybrid rows (LiteRT's `SymmetricQuantizeFloats`: scale max|x| / 127, values
    # rounded half away from zero): a per-tensor hybrid convolution (the converter's
    # dynamic-range quantization with per-channel weights disabled: LiteRT's `EvalHybrid`,
    # each image quantized symmetrically) and a fully connected layer whose
    # asymmetric_quantize_inputs is false. Batch 2 with a fused ReLU; and inputs whose every
    # value is an exact tie (a largest magnitude of 127 makes the step 1, values k + 0.5).
    def symmetric_ties(shape, per):
        def make(r):
            n = int(np.prod(shape))
            x = (r.integers(-127, 127, n) + 0.5).reshape(-1, per)
            for row in x:
                row[r.integers(0, per)] = 127.0 if r.integers(0, 2) else -127.0
            return [x.astype(np.float32).reshape(shape)]
        return make

    c.append(Case("conv_hybrid_pt", [[2, 6, 6, 16]], lambda x: tf.nn.relu(tf.nn.conv2d(x, hc_w, 1, "SAME") + hc_b),
                  variants=("hybrid_pt",)))
    c.append(Case("conv_hybrid_pt_ties", [[2, 6, 6, 16]], lambda x: tf.nn.conv2d(x, hc_w, 1, "SAME") + hc_b,
                  variants=("hybrid_pt",), inputs=symmetric_ties((2, 6, 6, 16), 6 * 6 * 16)))
    c.append(Case("conv_hybrid_pt_s2_valid", [[1, 7, 7, 16]], lambda x: tf.nn.conv2d(x, hc_w, 2, "VALID"),
                  variants=("hybrid_pt",)))
    # LiteRT's hybrid DEPTHWISE_CONV_2D always takes its per-channel kernel, which reads one
    # scale per channel: with one it reads past it (outputs about 4e22 off).
    c.append(Case("dwconv_hybrid_pt", [[1, 5, 5, 128]],
                  lambda x: tf.nn.depthwise_conv2d(x, hd_w, [1, 1, 1, 1], "SAME") + hd_b, variants=("hybrid_pt",),
                  undefined=True))
    # Per-channel weights whose scales are all equal (every output channel's largest
    # magnitude 0.5): LiteRT's CONV_2D takes its per-tensor kernel for them too.
    he = rng(40).uniform(-0.45, 0.45, (3, 3, 16, 16))
    he[0, 0, 0, :] = 0.5
    he_w = tf.constant(he.astype(np.float32))
    c.append(Case("conv_hybrid_equal_scales", [[1, 6, 6, 16]], lambda x: tf.nn.conv2d(x, he_w, 1, "SAME") + hc_b,
                  variants=("hybrid",)))
    fe = rng(41).uniform(-0.45, 0.45, (64, 48))
    fe[0, :] = 0.5
    fe_w = tf.constant(fe.astype(np.float32))
    c.append(Case("fc_hybrid_equal_scales", [[5, 64]], lambda x: tf.matmul(x, fe_w) + hy_b, variants=("hybrid",)))
    c.append(Case("fc_hybrid_sym", [[5, 64]], lambda x: tf.nn.relu(tf.matmul(x, hy_w) + hy_b), variants=("hybrid",),
                  rewrite=symmetric_fc_inputs))
    c.append(Case("fc_hybrid_sym_ties", [[1, 6, 64]], lambda x: tf.tensordot(x, hy_w, axes=1) + hy_b,
                  variants=("hybrid",), rewrite=symmetric_fc_inputs, inputs=symmetric_ties((1, 6, 64), 64)))
    c.append(Case("dwconv_hybrid_mult2", [[1, 5, 5, 64]],
                  lambda x: tf.nn.relu6(tf.nn.depthwise_conv2d(x, hm_w, [1, 1, 1, 1], "SAME")), variants=("hybrid",)))
    # GELU, exact and tanh-approximated (LiteRT's int8 kernel is a table; no 16x8 kernel).
    c.append(Case("gelu", [X], lambda x: tf.nn.gelu(x, approximate=False), variants=("float32", "int8")))
    c.append(Case("gelu_tanh", [X], lambda x: tf.nn.gelu(x, approximate=True), variants=("float32", "int8")))
    # Softmax at 16 bits (int16 in, int16 out).
    c.append(Case("softmax", [[1, 4, 4, 10]], lambda x: tf.nn.softmax(x), variants=("int8", "16x8")))
    # TRANSPOSE_CONV (tf.nn.conv2d_transpose, what Keras' Conv2DTranspose calls; filter
    # [kh, kw, cout, cin], converted to OHWI): SAME with stride 2 and a bias and ReLU fused,
    # an output that is not input x stride, VALID with unequal strides and no bias, and the
    # 4x4 stride-2 kernel of U-Net / GAN decoders.
    def tconv(cin, cout, k, out_hw, stride, padding, seed, bias=False, relu=False):
        w = const([k[0], k[1], cout, cin], seed, -0.5, 0.5)
        b = const([cout], seed + 1, -1.0, 1.0)

        def f(x):
            y = tf.nn.conv2d_transpose(x, w, [1, out_hw[0], out_hw[1], cout], stride, padding)
            if bias:
                y = tf.nn.bias_add(y, b)
            return tf.nn.relu(y) if relu else y

        return f

    c.append(Case("transpose_conv", [[1, 5, 4, 8]], tconv(8, 6, [3, 3], [10, 8], [1, 2, 2, 1], "SAME", 21, True, True)))
    c.append(Case("transpose_conv_odd", [[1, 4, 4, 8]], tconv(8, 5, [3, 3], [7, 8], [1, 2, 2, 1], "SAME", 23, True)))
    c.append(Case("transpose_conv_valid", [[1, 4, 5, 8]], tconv(8, 6, [2, 3], [8, 7], [1, 2, 1, 1], "VALID", 25)))
    c.append(Case("transpose_conv_k4", [[1, 4, 4, 16]], tconv(16, 8, [4, 4], [8, 8], [1, 2, 2, 1], "SAME", 27, True)))
    # BATCH_MATMUL of two activations (attention's Q K^T and P V): batch axes broadcast,
    # the adjoint flags, rank 3 and 4.
    c.append(Case("batch_matmul", [[2, 5, 8], [2, 8, 6]], lambda x, y: tf.matmul(x, y)))
    c.append(Case("batch_matmul_adj_y", [[1, 3, 5, 8], [1, 3, 7, 8]], lambda x, y: tf.matmul(x, y, transpose_b=True)))
    c.append(Case("batch_matmul_bcast", [[2, 3, 4, 8], [1, 1, 8, 5]], lambda x, y: tf.matmul(x, y)))
    c.append(Case("batch_matmul_adj_x", [[3, 8, 5], [3, 8, 4]], lambda x, y: tf.matmul(x, y, transpose_a=True)))
    # Float16 weights (DEQUANTIZE of fp16 constants at the converter's fp16 quantization).
    w = const([3, 3, 16, 8], 11, -0.5, 0.5)
    c.append(
        Case(
            "conv_fp16_weights",
            [X],
            lambda x: tf.nn.conv2d(x, w, 1, "SAME"),
            variants=("fp16",),
        )
    )
    # Pruned weights stored sparse (Optimize.EXPERIMENTAL_SPARSITY: the converter keeps them
    # in TFLite's sparse format behind DENSIFY; with fp16, DENSIFY of a sparse float16 constant
    # then DEQUANTIZE): a conv's OHWI weights and a FULLY_CONNECTED's, 80 % zeros.
    def pruned_const(shape, seed):
        w = rng(seed).uniform(-0.5, 0.5, size=shape) * (rng(seed + 1).random(shape) > 0.8)
        return tf.constant(w.astype(np.float32))

    ws, wf = pruned_const([3, 3, 16, 8], 31), pruned_const([32, 10], 33)

    def pruned(x):
        y = tf.nn.conv2d(x, ws, 1, "SAME")
        return tf.matmul(tf.reshape(y[:, :2, :2, :], [1, 32]), wf)

    c.append(Case("densify", [X], pruned, variants=("sparse", "sparse_fp16")))
    return c


def convert(case, variant, seed=0):
    specs = [tf.TensorSpec(s, tf.float32) for s in case.shapes]
    fn = tf.function(case.fn, input_signature=specs)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if variant == "hybrid":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "hybrid_pt":
        # One weight scale per tensor (LiteRT's non-per-channel hybrid kernels).
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv._experimental_disable_per_channel = True
    elif variant == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "sparse":
        conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    elif variant == "sparse_fp16":
        conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY, tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant != "float32":
        r = rng(seed + 100)

        def rep():
            for _ in range(64):
                yield [r.uniform(case.lo, case.hi, size=s).astype(np.float32) for s in case.shapes]
            # The range ends themselves.
            yield [np.full(s, case.lo, np.float32) for s in case.shapes]
            yield [np.full(s, case.hi, np.float32) for s in case.shapes]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        if variant == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        else:
            conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            conv.inference_input_type = tf.int16
            conv.inference_output_type = tf.int16
    return conv.convert()


def inputs_for(case, interp, seed):
    """Seeded random inputs in the calibration range widened by a quarter on each side (so
    some saturate), and for quantized single-input models a sweep of every integer value."""
    r = rng(seed)
    arrays = []
    for k, d in enumerate(interp.get_input_details()):
        shape = d["shape"]
        n = int(np.prod(shape))
        dt = d["dtype"]
        if dt == np.float32:
            span = case.hi - case.lo
            a = r.uniform(case.lo - span / 4, case.hi + span / 4, size=n).astype(np.float32)
        else:
            info = np.iinfo(dt)
            if dt == np.int8 and n >= 256 and k == 0:
                a = np.arange(-128, 128, dtype=np.int64)
                a = np.concatenate([a, r.integers(-128, 128, size=n - 256)])
            else:
                a = r.integers(info.min, info.max + 1, size=n, dtype=np.int64)
                a[: min(n, 2)] = [info.min, info.max][: min(n, 2)]
            a = a.astype(dt)
        arrays.append(a.reshape(shape))
    return arrays


def run(model, arrays, resolver=OpResolverType.BUILTIN_REF):
    interp = Interpreter(model_content=model, experimental_op_resolver_type=resolver, num_threads=1)
    interp.allocate_tensors()
    for d, a in zip(interp.get_input_details(), arrays):
        interp.set_tensor(d["index"], a)
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def op_names(model):
    from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    names = {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    return [names.get(max(m.operatorCodes[o.opcodeIndex].builtinCode, m.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode), "?") for o in m.subgraphs[0].operators]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=None, help="case names to make (default: all)")
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    failed = 0
    for case in cases():
        if args.only and case.name not in args.only:
            continue
        for variant in case.variants:
            stem = f"{case.name}_{variant}"
            try:
                model = convert(case, variant)
                if case.rewrite:
                    model = case.rewrite(model)
            except Exception as e:  # noqa: BLE001 -- the converter's reason is the report
                print(f"{stem}: skipped, the converter refused: {str(e).splitlines()[0][:200]}")
                continue
            if case.undefined:
                os.makedirs(UNDEFINED, exist_ok=True)
                with open(os.path.join(UNDEFINED, stem + ".tflite"), "wb") as f:
                    f.write(model)
                print(f"{stem}: {' '.join(op_names(model))} (model only: LiteRT's output is undefined)")
                continue
            interp = Interpreter(model_content=model)
            interp.allocate_tensors()
            seed = zlib.crc32(stem.encode()) % 1000
            arrays = case.inputs(rng(seed)) if case.inputs else inputs_for(case, interp, seed)
            kernels = ""
            try:
                outs = run(model, arrays)
            except Exception as e:  # noqa: BLE001
                # The reference resolver registers fewer versions of some pure copies
                # (DEPTH_TO_SPACE int8 is version 2); their BUILTIN kernels copy the same way.
                if "Didn't find op for builtin opcode" in str(e) and case.builtin_fallback:
                    outs = run(model, arrays, OpResolverType.BUILTIN)
                    kernels = ", LiteRT's BUILTIN kernels: the reference resolver lacks this version"
                else:
                    print(f"{stem}: skipped, LiteRT's reference kernels refused: {str(e).splitlines()[0][:200]}")
                    failed += 1
                    continue
            with open(os.path.join(OUT, stem + ".tflite"), "wb") as f:
                f.write(model)
            named = {f"in{i}": a for i, a in enumerate(arrays)}
            named.update({f"out{i}": a for i, a in enumerate(outs)})
            np.savez(os.path.join(OUT, stem + ".npz"), **named)
            print(f"{stem}: {' '.join(op_names(model))} ({len(model)} bytes{kernels})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
