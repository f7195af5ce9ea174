#!/usr/bin/env python3
"""Makes the ONNX import fixtures under tests/fixtures/onnx_ops/ (issue 13): small models as
real exporters write them, and onnxruntime's outputs on seeded inputs.

Run in a throwaway virtual environment outside the repository:

    python3 -m venv /work/venv-onnx
    /work/venv-onnx/bin/pip install torch onnx onnxruntime onnxscript numpy
    /work/venv-onnx/bin/python scripts/make_onnx_fixtures.py tests/fixtures/onnx_ops

Made with torch 2.15.0, onnx 1.23, onnxruntime (see manifest.json), numpy, Python 3.11.

Models (each `NAME.onnx` with `NAME.in0.bin` ... and `NAME.out.bin`: raw little-endian
float32 in the ONNX tensor's own layout, NCHW for images; `manifest.json` lists the input
names and shapes):
- `torch_shapes_opsetN`: a PyTorch CNN exported with `torch.onnx.export` (TorchScript
  exporter) at opsets 11, 13, 17 with a dynamic batch and dynamic H and W: Conv + BN + ReLU,
  a BatchNormalization after a pooling layer (not after a Conv), a per-channel Mul + Add
  after a depthwise Conv, F.pad (Pad), `x.view(x.size(0), -1)` (Shape -> Gather ->
  Unsqueeze -> Concat -> Reshape), `x.reshape(x.shape)` (a no-op Reshape), ConstantOfShape
  and Cast of a shape. Goldens at 1x3x20x24 (import needs `--input-shape x=1x3x20x24`).
- `torch_shapes_opset18_dynamo`: the same network through the dynamo exporter (opset 18).
- `nhwc_input`: tf2onnx's pattern, built with onnx.helper: an NHWC input transposed to NCHW,
  Conv, Relu, transposed back (opset 21).
- `two_inputs`: two inputs, each through a Conv, added (opset 13).
- `torch_shapes_qdq`: `torch_shapes_opset13` quantized by onnxruntime's `quantize_static`
  (QDQ, int8 activations and per-channel weights); goldens with graph optimizations off.
- `qdq_scalar_zp`: the same QDQ model with every `[1]`-shaped scale kept and its zero point
  rewritten as a scalar (shape []), as some exporters write them.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/onnx_ops"
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(13)
rng = np.random.default_rng(13)
manifest = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__, "models": {}}


class ShapeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.bn_pool = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.scale = nn.Parameter(torch.rand(1, 8, 1, 1) + 0.5)
        self.shift = nn.Parameter(torch.randn(1, 8, 1, 1) * 0.1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        self.fc = nn.Linear(16, 10)
        for bn in (self.bn1, self.bn_pool):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 2)
        x = self.bn_pool(x)
        x = self.dw(x) * self.scale + self.shift
        x = x.reshape(x.shape)
        x = F.pad(x, (1, 0, 1, 0))
        x = F.relu(self.conv2(x))
        x = F.adaptive_avg_pool2d(x, 1)
        x = x.view(x.size(0), -1)
        # A shape turned into a constant tensor and cast (folded at import).
        z = torch.zeros(x.shape[0], x.shape[1], dtype=torch.float32)
        x = x + z
        return self.fc(x)


def save_run(name, path, inputs, output_names=None, opts=None):
    sess = ort.InferenceSession(path, opts or ort.SessionOptions(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feeds = dict(zip(names, inputs))
    outs = sess.run(output_names, feeds)
    for k, x in enumerate(inputs):
        x.astype("<f4").tofile(os.path.join(OUT, f"{name}.in{k}.bin"))
    np.concatenate([o.astype("<f4").ravel() for o in outs]).tofile(os.path.join(OUT, f"{name}.out.bin"))
    model = onnx.load(path)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    manifest["models"][name] = {
        "opset": opset,
        "inputs": [[n, list(x.shape)] for n, x in zip(names, inputs)],
        "output_shapes": [list(o.shape) for o in outs],
        "ops": sorted({n.op_type for n in model.graph.node}),
    }


net = ShapeNet().eval()
x_img = rng.uniform(-1, 1, (1, 3, 20, 24)).astype(np.float32)
dyn = {"x": {0: "batch", 2: "height", 3: "width"}, "y": {0: "batch"}}
for opset in (11, 13, 17):
    name = f"torch_shapes_opset{opset}"
    path = os.path.join(OUT, name + ".onnx")
    torch.onnx.export(
        net, (torch.from_numpy(x_img),), path, input_names=["x"], output_names=["y"],
        dynamic_axes=dyn, opset_version=opset, dynamo=False,
    )
    save_run(name, path, [x_img])

try:
    name = "torch_shapes_opset18_dynamo"
    path = os.path.join(OUT, name + ".onnx")
    b, h, w = torch.export.Dim("batch", max=64), torch.export.Dim("height", min=8, max=512), torch.export.Dim("width", min=8, max=512)
    prog = torch.onnx.export(
        net, (torch.from_numpy(x_img),), input_names=["x"], output_names=["y"],
        dynamic_shapes={"x": {0: b, 2: h, 3: w}}, opset_version=18, dynamo=True, external_data=False,
    )
    prog.save(path, external_data=False)
    save_run(name, path, [x_img])
except Exception as e:  # the dynamo exporter is optional
    print("dynamo export skipped:", e)

# tf2onnx's NHWC input: Transpose(0,3,1,2) -> Conv -> Relu -> Transpose(0,2,3,1).
w = rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
b = rng.normal(0, 0.1, (4,)).astype(np.float32)
g = helper.make_graph(
    [
        helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x_nchw", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Transpose", ["r"], ["y"], perm=[0, 2, 3, 1]),
    ],
    "nhwc_input",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 7, 3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 7, 4])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
m.ir_version = 10
onnx.checker.check_model(m)
path = os.path.join(OUT, "nhwc_input.onnx")
onnx.save(m, path)
save_run("nhwc_input", path, [rng.uniform(-1, 1, (1, 6, 7, 3)).astype(np.float32)])

# Two inputs.
w1 = rng.normal(0, 0.3, (4, 2, 1, 1)).astype(np.float32)
w2 = rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
g = helper.make_graph(
    [
        helper.make_node("Conv", ["a", "w1"], ["ca"]),
        helper.make_node("Conv", ["b", "w2"], ["cb"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["ca", "cb"], ["y"]),
    ],
    "two_inputs",
    [
        helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 2, 5, 5]),
        helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 5, 5]),
    ],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.checker.check_model(m)
path = os.path.join(OUT, "two_inputs.onnx")
onnx.save(m, path)
save_run(
    "two_inputs", path,
    [rng.uniform(-1, 1, (1, 2, 5, 5)).astype(np.float32), rng.uniform(-1, 1, (1, 3, 5, 5)).astype(np.float32)],
)

# QDQ: onnxruntime's static quantization of the opset-13 export at a fixed shape.
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static  # noqa: E402

fixed = os.path.join(OUT, "_fixed.onnx")
torch.onnx.export(net, (torch.from_numpy(x_img),), fixed, input_names=["x"], output_names=["y"], opset_version=13, dynamo=False)


class Reader(CalibrationDataReader):
    def __init__(self):
        self.data = iter([{"x": rng.uniform(-1, 1, (1, 3, 20, 24)).astype(np.float32)} for _ in range(16)])

    def get_next(self):
        return next(self.data, None)


qdq = os.path.join(OUT, "torch_shapes_qdq.onnx")
quantize_static(
    fixed, qdq, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
    weight_type=QuantType.QInt8, per_channel=True,
)
os.remove(fixed)
noopt = ort.SessionOptions()
noopt.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
save_run("torch_shapes_qdq", qdq, [x_img], opts=noopt)

# The same QDQ model with scalar zero points beside [1]-shaped scales.
m = onnx.load(qdq)
inits = {t.name: t for t in m.graph.initializer}
changed = 0
for n in m.graph.node:
    if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) == 3:
        s, z = inits.get(n.input[1]), inits.get(n.input[2])
        if s is None or z is None or len(z.dims) != 0:
            continue
        sv, zv = numpy_helper.to_array(s), numpy_helper.to_array(z)
        if sv.size != 1:
            continue
        s1 = numpy_helper.from_array(sv.reshape([1]), s.name + "_1d")
        if s1.name not in inits:
            m.graph.initializer.append(s1)
            inits[s1.name] = s1
        n.input[1] = s1.name
        changed += 1
onnx.checker.check_model(m)
path = os.path.join(OUT, "qdq_scalar_zp.onnx")
onnx.save(m, path)
print("qdq_scalar_zp: rewrote", changed, "nodes")
save_run("qdq_scalar_zp", path, [x_img], opts=noopt)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print(json.dumps(manifest, indent=1))
