#!/usr/bin/env python3
"""Makes the ONNX operator goldens under tests/fixtures/onnx_ops/ops/ (issue 13): one tiny
model per operator use, in float and in QDQ form (x -> Q -> DQ -> op -> Q -> DQ -> y, int8),
and onnxruntime's outputs on seeded inputs (graph optimizations off, so the QDQ models run
as ONNX defines them: float ops between exact quantize / dequantize).

Run in a throwaway virtual environment outside the repository:

    python3 -m venv /work/venv-onnx
    /work/venv-onnx/bin/pip install onnx onnxruntime numpy
    /work/venv-onnx/bin/python scripts/make_onnx_op_goldens.py tests/fixtures/onnx_ops/ops

Files: `NAME.onnx`, `NAME.in0.bin` (the input) and `NAME.out{k}.bin` (output k), raw
little-endian float32 in the ONNX tensor's own layout (NCHW); `manifest.json` lists the
shapes, opsets and versions. Read by tests/onnx_op_goldens.rs.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/onnx_ops/ops"
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1313)
manifest = {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "models": {}}
NOOPT = ort.SessionOptions()
NOOPT.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def save(name, nodes, inits, in_shape, n_out, opset, x, qdq):
    """Builds x -> nodes -> y0..y{n_out-1}, runs onnxruntime on `x`, writes everything."""
    outs = [f"y{k}" for k in range(n_out)]
    g = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [onnx.ValueInfoProto(name=o) for o in outs], inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 10
    # The outputs' types and shapes from ONNX's shape inference.
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    for o in m.graph.output:
        o.CopyFrom(inferred[o.name])
    onnx.checker.check_model(m)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(m, path)
    sess = ort.InferenceSession(path, NOOPT, providers=["CPUExecutionProvider"])
    ys = sess.run(None, {"x": x})
    x.astype("<f4").tofile(os.path.join(OUT, f"{name}.in0.bin"))
    for k, y in enumerate(ys):
        y.astype("<f4").tofile(os.path.join(OUT, f"{name}.out{k}.bin"))
    manifest["models"][name] = {
        "opset": opset,
        "qdq": qdq,
        "input": list(x.shape),
        "outputs": [list(y.shape) for y in ys],
        "ops": sorted({n.op_type for n in nodes}),
    }


def case(name, make, in_shape, opset=13, lo=-3.0, hi=3.0, n_out=1, out_q=None, grid=False):
    """One op use, in float and in QDQ form. `make(src, dst)` returns (nodes, initializers)
    computing the outputs dst[k] from tensor src; `out_q` is the QDQ output's (scale,
    zero point) (None: the input's, as pass-through ops need). `grid`: the input is every
    int8 value of the QDQ input's grid, dequantized, in a seeded order (256 elements)."""
    # Input parameters: int8 over [lo, hi] with the zero point where the range puts it.
    s_in = np.float32((hi - lo) / 255.0)
    z_in = int(np.clip(np.round(-128 - lo / s_in), -128, 127))
    if grid:
        q = rng.permutation(np.arange(-128, 128)).reshape(in_shape)
        x = (s_in * (q - z_in).astype(np.float32)).astype(np.float32)
    else:
        x = rng.uniform(lo, hi, in_shape).astype(np.float32)
        # Edge inputs: the range ends (saturating the quantizer) and zero.
        flat = x.reshape(-1)
        flat[:3] = [lo, hi, 0.0]
    nodes, inits = make("x", [f"y{k}" for k in range(n_out)])
    save(name, nodes, inits, in_shape, n_out, opset, x, False)
    if out_q is False:
        return
    s_out, z_out = out_q if out_q is not None else (s_in, z_in)
    q = [
        const("s_in", s_in), const("z_in", z_in, np.int8),
        const("s_out", np.float32(s_out)), const("z_out", z_out, np.int8),
    ]
    pre = [
        helper.make_node("QuantizeLinear", ["x", "s_in", "z_in"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s_in", "z_in"], ["xd"]),
    ]
    body, inits = make("xd", [f"r{k}" for k in range(n_out)])
    post = []
    for k in range(n_out):
        post += [
            helper.make_node("QuantizeLinear", [f"r{k}", "s_out", "z_out"], [f"rq{k}"]),
            helper.make_node("DequantizeLinear", [f"rq{k}", "s_out", "z_out"], [f"y{k}"]),
        ]
    save(name + "_qdq", pre + body + post, inits + q, in_shape, n_out, opset, x, True)


def unary(op, **attrs):
    return lambda src, dst: ([helper.make_node(op, [src], dst, **attrs)], [])


S = [1, 8, 6, 4]
case("sigmoid", unary("Sigmoid"), S, out_q=(1 / 256, -128))
case("tanh", unary("Tanh"), S, out_q=(1 / 128, 0))
case("relu", unary("Relu"), S, out_q=(3 / 255, -128))
case("clip6", lambda s, d: ([helper.make_node("Clip", [s, "lo", "hi"], d)], [const("lo", 0.0), const("hi", 6.0)]),
     S, lo=-4.0, hi=8.0, out_q=(6 / 255, -128))
case("leaky_relu", unary("LeakyRelu", alpha=0.2), S, out_q=(3.6 / 255, -43))
case("hard_swish", unary("HardSwish"), S, opset=14, out_q=(3.375 / 255, -94))
case("sqrt", unary("Sqrt"), S, lo=0.01, hi=4.0, out_q=False)
case("log", unary("Log"), S, lo=0.01, hi=4.0, out_q=False)
case("reduce_max_c", unary("ReduceMax", axes=[1], keepdims=1), S)
case("reduce_max_hw_opset18",
     lambda s, d: ([helper.make_node("ReduceMax", [s, "axes"], d, keepdims=0)], [const("axes", [2, 3], np.int64)]),
     S, opset=18)
case("split_attr_opset11", unary("Split", axis=1, split=[3, 5]), S, opset=11, n_out=2)
case("split_input_opset13",
     lambda s, d: ([helper.make_node("Split", [s, "sp"], d, axis=2)], [const("sp", [2, 4], np.int64)]),
     S, n_out=2)
case("split_equal_opset13", unary("Split", axis=-1), S, n_out=2)
case("split_num_outputs_opset18", unary("Split", axis=1, num_outputs=3), S, opset=18, n_out=3)
case("gather_channels",
     lambda s, d: ([helper.make_node("Gather", [s, "idx"], d, axis=1)], [const("idx", [3, 0, -1, 5], np.int64)]),
     S)
case("gather_one_channel",
     lambda s, d: ([helper.make_node("Gather", [s, "idx"], d, axis=1)], [const("idx", 2, np.int64)]), S)
case("depth_to_space_dcr", unary("DepthToSpace", blocksize=2, mode="DCR"), S)
case("depth_to_space_crd", unary("DepthToSpace", blocksize=2, mode="CRD"), S)
case("space_to_depth", unary("SpaceToDepth", blocksize=2), S)
case("transpose_hw", unary("Transpose", perm=[0, 1, 3, 2]), S)
case("transpose_to_nhwc_then_swap", unary("Transpose", perm=[0, 2, 1, 3]), S)


def conv_transpose(cin, cout, k, lo, hi, seed, bias=True, **attrs):
    """ConvTranspose with per-output-channel int8 weights (axis 1 of [cin, cout, kh, kw])
    and an int32 bias at input scale x weight scale, as onnxruntime's quantizer writes them:
    behind DequantizeLinear in the QDQ model, their dequantized floats in the float one."""
    r = np.random.default_rng(seed)
    w = r.uniform(-0.5, 0.5, [cin, cout, k[0], k[1]]).astype(np.float32)
    s_w = (np.abs(w).max(axis=(0, 2, 3)) / 127).astype(np.float32)
    wq = np.clip(np.round(w / s_w[None, :, None, None]), -127, 127).astype(np.int8)
    s_in = np.float32((hi - lo) / 255.0)
    s_b = (s_in * s_w).astype(np.float32)
    bq = np.round(r.uniform(-1, 1, cout) / s_b).astype(np.int32)

    def make(src, dst):
        if src == "x":
            inits = [const("w", wq * s_w[None, :, None, None])] + ([const("b", bq * s_b)] if bias else [])
            return [helper.make_node("ConvTranspose", [src, "w"] + (["b"] if bias else []), dst, **attrs)], inits
        inits = [const("wq", wq, np.int8), const("s_w", s_w), const("z_w", np.zeros(cout), np.int8),
                 const("bq", bq, np.int32), const("s_b", s_b), const("z_b", np.zeros(cout), np.int32)]
        nodes = [helper.make_node("DequantizeLinear", ["wq", "s_w", "z_w"], ["wd"], axis=1)]
        if bias:
            nodes.append(helper.make_node("DequantizeLinear", ["bq", "s_b", "z_b"], ["bd"], axis=0))
        nodes.append(helper.make_node("ConvTranspose", [src, "wd"] + (["bd"] if bias else []), dst, **attrs))
        return nodes, inits if bias else inits[:3]

    return make


# ConvTranspose as PyTorch exports ConvTranspose2d: explicit pads, output_padding.
T = [1, 4, 5, 6]
case("conv_transpose_s2", conv_transpose(4, 3, [3, 3], -3.0, 3.0, 31, strides=[2, 2], pads=[1, 1, 1, 1],
     output_padding=[1, 1]), T, out_q=(8 / 255, 0))
case("conv_transpose_k4s2", conv_transpose(4, 5, [4, 4], -3.0, 3.0, 32, strides=[2, 2], pads=[1, 1, 1, 1]),
     T, out_q=(8 / 255, 0))
case("conv_transpose_k2s2_nobias", conv_transpose(4, 3, [2, 2], -3.0, 3.0, 33, bias=False, strides=[2, 2]),
     T, out_q=(6 / 255, 0))
case("conv_transpose_asym", conv_transpose(4, 2, [3, 2], -3.0, 3.0, 34, strides=[3, 1], pads=[2, 0, 0, 1]),
     T, out_q=(6 / 255, 0))

# MatMul of two activations (attention's Q K^T): the input by itself, and by its transpose.
case("matmul_self", lambda s, d: ([helper.make_node("MatMul", [s, s], d)], []), [2, 6, 6], out_q=(44 / 255, 0))
def matmul_transposed(src, dst):
    t = [helper.make_node("Transpose", [src], ["t"], perm=[0, 2, 1])]
    if src != "x":
        # QDQ: the transpose's output quantized again with the input's parameters.
        t += [helper.make_node("QuantizeLinear", ["t", "s_in", "z_in"], ["tq"]),
              helper.make_node("DequantizeLinear", ["tq", "s_in", "z_in"], ["td"])]
    return t + [helper.make_node("MatMul", [src, t[-1].output[0]], dst)], []


case("matmul_transposed", matmul_transposed, [2, 5, 8], out_q=(60 / 255, 0))

# Element-wise binary ops with NumPy broadcasting: x against a reduction of itself (an SE
# block's [1,C,1,1] gate, a [1,1,H,W] channel statistic), and against float constants.
def binary(op, reduce, axes, gate=None, const_operand=None, first=False):
    def make(src, dst):
        if const_operand is not None:
            args = ["c", src] if first else [src, "c"]
            return [helper.make_node(op, args, dst)], [const("c", const_operand)]
        nodes = [helper.make_node(reduce, [src], ["r"], axes=axes, keepdims=1)]
        other = "r"
        if gate is not None:
            nodes.append(helper.make_node(gate, ["r"], ["g"]))
            other = "g"
        if src != "x":
            # QDQ: the second operand quantized too (over the input's range).
            nodes += [helper.make_node("QuantizeLinear", [other, "s_in", "z_in"], ["oq"]),
                      helper.make_node("DequantizeLinear", ["oq", "s_in", "z_in"], ["od"])]
            other = "od"
        return nodes + [helper.make_node(op, [src, other], dst)], []
    return make


case("add_bcast_hw", binary("Add", "ReduceMean", [2, 3]), S, out_q=(8 / 255, 0))
case("sub_bcast_c", binary("Sub", "ReduceMax", [1]), S, out_q=(6 / 255, 0))
case("mul_bcast_hw", binary("Mul", "ReduceMean", [2, 3]), S, out_q=(4 / 255, 0))
case("max_bcast_c", binary("Max", "ReduceMean", [1]), S)
case("min_bcast_hw", binary("Min", "ReduceMax", [2, 3]), S)
case("div_bcast_hw", binary("Div", "ReduceMax", [2, 3], gate="Sigmoid"), S, out_q=False)
# Its QDQ form (a float constant beside a quantized activation) is refused at import.
case("max_const_scalar", binary("Max", None, None, const_operand=np.float32(0.25)), S)
case("min_const_full", binary("Min", None, None, const_operand=rng.uniform(-1, 1, [1, 1, 6, 4]).astype(np.float32)),
     S, out_q=False)
case("div_const_by_act", binary("Div", None, None, const_operand=np.float32(2.0), first=True), S, lo=0.5, hi=3.0,
     out_q=False)
case("mul_rank3_last_axis", binary("Mul", "ReduceMax", [1]), [2, 5, 8], out_q=(4 / 255, 0))

# Cases added later go last, so the seeded inputs of the ones before stay as committed.
# HardSigmoid: ONNX's default slope and offset, and PyTorch's export of nn.Hardsigmoid
# (alpha 1/6) on every int8 input value; the output grid [0, 1] in 255 steps.
case("hard_sigmoid", unary("HardSigmoid"), S, lo=-4.0, hi=4.0, out_q=(1 / 255, -128))
case("hard_sigmoid_torch_grid", unary("HardSigmoid", alpha=1 / 6, beta=0.5), [1, 8, 8, 4], opset=17, lo=-4.0,
     hi=4.0, out_q=(1 / 255, -128), grid=True)


# Pow with a constant exponent (normalization layers' x^2 and sqrt), and Reciprocal.
def pow_(exponent, dtype=np.float32):
    return lambda s, d: ([helper.make_node("Pow", [s, "e"], d)], [const("e", exponent, dtype)])


case("pow2", pow_(2.0), S, out_q=(9 / 255, -128))
case("pow2_int_exponent", pow_(2, np.int64), S, out_q=False)
case("pow_one", pow_(1.0), S)
case("pow_half", pow_(0.5), S, lo=0.01, hi=4.0, out_q=False)
case("pow_rsqrt", pow_(-0.5), S, lo=0.01, hi=4.0, out_q=False)
# Its QDQ form (no integer kernel for exponent 1.5) is refused at import.
case("pow_general", pow_(1.5), S, lo=0.01, hi=4.0, out_q=(8 / 255, -128))
case("pow_per_channel", pow_(np.array([1, 2, 3, 0.5, 1.5, -1, 2.5, 0.25]).reshape(1, 8, 1, 1)), S, lo=0.1, hi=2.0,
     out_q=False)
# Refused: an exponent computed by the network.
case("pow_by_activation", lambda s, d: ([helper.make_node("Pow", [s, s], d)], []), S, lo=0.1, hi=2.0, out_q=False)
# Its QDQ form is refused at import (Div has no integer kernel).
case("reciprocal", unary("Reciprocal"), S, lo=0.5, hi=3.0, out_q=(2 / 255, -128))


# HardSwish as PyTorch exports nn.Hardswish before opset 14: x * HardSigmoid(x) (alpha 1/6),
# the gate quantized on [0, 1] in the QDQ form.
def torch_hard_swish(src, dst):
    nodes = [helper.make_node("HardSigmoid", [src], ["g"], alpha=1 / 6, beta=0.5)]
    inits = []
    gate = "g"
    if src != "x":
        inits = [const("s_g", np.float32(1 / 255)), const("z_g", -128, np.int8)]
        nodes += [helper.make_node("QuantizeLinear", ["g", "s_g", "z_g"], ["gq"]),
                  helper.make_node("DequantizeLinear", ["gq", "s_g", "z_g"], ["gd"])]
        gate = "gd"
    return nodes + [helper.make_node("Mul", [src, gate], dst)], inits


case("hard_swish_torch_opset13", torch_hard_swish, S, out_q=(3.375 / 255, -94))

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print(len(manifest["models"]), "models in", OUT)
