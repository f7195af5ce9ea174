#!/usr/bin/env python3
"""Makes the ONNX LSTM / GRU goldens under tests/fixtures/onnx_ops/recurrent/ (issue 13): one
tiny model per use of the recurrent nodes (forward, reverse, bidirectional; GRU's
linear_before_reset 0 and 1; initial states absent, constant or graph inputs; opsets 7, 14
and 21), with onnxruntime's outputs on seeded inputs (graph optimizations off), and models
that accelsim must refuse by name (non-default activations, clip, layout 1).

Run in a throwaway virtual environment outside the repository:

    python3 -m venv /work/venv-34
    /work/venv-34/bin/pip install onnx onnxruntime numpy
    /work/venv-34/bin/python scripts/make_recurrent_goldens.py tests/fixtures/onnx_ops/recurrent

Files: `NAME.onnx`, `NAME.in{k}.bin` (graph input k: x, then the initial states that are
inputs) and `NAME.out{k}.bin` (output k: Y, Y_h, Y_c as the node lists them), raw
little-endian float32 in the ONNX tensors' order; `manifest.json` lists the shapes, opsets
and versions, and the refusals with the phrase accelsim's error must contain. Read by
tests/recurrent_goldens.rs.

TFLite part (`--tflite DIR`, default tests/fixtures/ops): Keras LSTM layers (tf_keras, the
Keras 2 that the TFLite converter fuses into UNIDIRECTIONAL_SEQUENCE_LSTM; Keras 3 converts
an LSTM into a WHILE loop) with seeded random weights and biases, converted float32 and run
through LiteRT's reference resolver (OpResolverType.BUILTIN_REF, one thread). Files in the
per-operator golden format of scripts/make_op_goldens.py (`lstm_CASE_float32.tflite` and
`.npz` with `in0` and `out0`), read by tests/op_goldens.rs. Each case is also converted
full-integer (int8 input and output; LiteRT's integer LSTM, "8x8_16") with a representative
dataset and run on a quantized random input (`lstm_CASE_int8`), the `seq` case also on
int8 inputs at the range's ends (`lstm_seq_extreme_int8`: saturated gates, a cell state
saturated and clipped). The dynamic-range ("hybrid": float activations, int8 weights) conversion
of a larger LSTM (32 units of 40 features), which accelsim refuses by name, is written to tests/fixtures/tflite/lstm_hybrid.tflite:

    python3 -m venv /work/venv-m40 && /work/venv-m40/bin/pip install tensorflow tf_keras ai-edge-litert
    /work/venv-m40/bin/python scripts/make_recurrent_goldens.py --tflite tests/fixtures/ops

Made with tensorflow 2.21.0, tf_keras 2.21.0, ai-edge-litert 2.3.0, numpy 2.4.6.
"""

import json
import os
import sys

import numpy as np


def tflite_part(out):
    """The TFLite UNIDIRECTIONAL_SEQUENCE_LSTM goldens (module documentation)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf  # noqa: PLC0415
    import tf_keras as keras  # noqa: PLC0415
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415
    from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415

    os.makedirs(out, exist_ok=True)
    r = np.random.default_rng(1340)

    def model(batch, steps, features, units, **kw):
        keras.utils.set_random_seed(int(r.integers(1 << 30)))
        time_major = kw.get("time_major", False)
        shape = (steps, batch, features) if time_major else (steps, features)
        inp = keras.Input(shape, batch_size=None if time_major else batch)
        if time_major:
            inp = keras.Input(batch_shape=(steps, batch, features))
        layer = keras.layers.LSTM(units, **kw)
        m = keras.Model(inp, layer(inp))
        # Random biases too (Keras starts them at 0, the forget gate's at 1).
        layer.set_weights([w + r.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])
        return m, [int(d) for d in inp.shape]

    def ops(content):
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
        names = {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_")}
        codes = m.operatorCodes
        return [names.get(max(codes[o.opcodeIndex].builtinCode, codes[o.opcodeIndex].deprecatedBuiltinCode), "?")
                for o in m.subgraphs[0].operators]

    def run(content, x):
        it = Interpreter(model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                         num_threads=1)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        if d["dtype"] != np.float32 and x.dtype == np.float32:
            sc, zp = d["quantization"]
            x = np.clip(np.round(x / sc) + zp, -128, 127).astype(d["dtype"])
        it.set_tensor(d["index"], x)
        it.invoke()
        return x, it.get_tensor(it.get_output_details()[0]["index"])

    # Calibration and the integer goldens' inputs: a generator of their own, so the float
    # cases keep their weights.
    rq = np.random.default_rng(1341)

    def save(stem, content, x, y):
        with open(os.path.join(out, stem + ".tflite"), "wb") as f:
            f.write(content)
        np.savez(os.path.join(out, stem + ".npz"), in0=x, out0=y)
        print(f"{stem}: {' '.join(ops(content))} ({len(content)} bytes), out {list(y.shape)}")

    def case(name, *args, extreme=False, **kw):
        m, shape = model(*args, **kw)
        x = r.normal(0, 1, shape).astype(np.float32)
        conv = tf.lite.TFLiteConverter.from_keras_model(m)
        content = conv.convert()
        x, y = run(content, x)
        save(f"lstm_{name}_float32", content, x, y)

        def rep():
            for _ in range(32):
                yield [rq.normal(0, 1, shape).astype(np.float32)]
        conv = tf.lite.TFLiteConverter.from_keras_model(m)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        content = conv.convert()
        save(f"lstm_{name}_int8", content, *run(content, rq.normal(0, 1, shape).astype(np.float32)))
        if extreme:
            # The most negative input after a few of both extremes: gates saturate, and the
            # cell state ends at +32767 in two units (saturated) and -32767 in one (clipped:
            # the quantized cell_clip is 32767, so the saturating add's -32768 becomes -32767).
            x = np.full(shape, -128, np.int8)
            x.flat[:4] = [-128, 127, -128, 127]
            save(f"lstm_{name}_extreme_int8", content, *run(content, x))

    # batch, steps, features, units
    case("seq", 1, 6, 5, 7, return_sequences=True, extreme=True)
    case("last", 1, 8, 4, 6, return_sequences=False)
    case("batch2", 2, 5, 3, 4, return_sequences=True)
    case("time_major", 2, 4, 3, 5, return_sequences=True, time_major=True)

    # Hybrid: the converter quantizes weights of 1024 elements or more only.
    m, _ = model(1, 4, 40, 32, return_sequences=True)
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    content = conv.convert()
    hybrid = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "tflite",
                          "lstm_hybrid.tflite")
    with open(hybrid, "wb") as f:
        f.write(content)
    print(f"{hybrid}: {' '.join(ops(content))} ({len(content)} bytes)")


if len(sys.argv) > 1 and sys.argv[1] == "--tflite":
    tflite_part(sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures/ops")
    sys.exit(0)

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/onnx_ops/recurrent"
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1334)
manifest = {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "models": {}, "refused": {}}
NOOPT = ort.SessionOptions()
NOOPT.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def f32(shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def build(name, op, T, B, I, H, direction="forward", bias=True, init="none", outputs=("Y", "Y_h", "Y_c"),
          opset=14, **attrs):
    """A graph x -> op -> outputs. `init`: 'none', 'const' (initializers) or 'input' (graph
    inputs after x)."""
    G = 4 if op == "LSTM" else 3
    D = 2 if direction == "bidirectional" else 1
    inits = [numpy_helper.from_array(f32([D, G * H, I], 0.5), "W"),
             numpy_helper.from_array(f32([D, G * H, H], 0.5), "R")]
    ins = ["x", "W", "R", "B" if bias else ""]
    if bias:
        inits.append(numpy_helper.from_array(f32([D, 2 * G * H], 0.5), "B"))
    ins.append("")  # sequence_lens
    feeds = {"x": f32([T, B, I])}
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I])]
    states = ["h0", "c0"] if op == "LSTM" else ["h0"]
    for s in states:
        if init == "none":
            ins.append("")
        elif init == "const":
            inits.append(numpy_helper.from_array(f32([D, B, H]), s))
            ins.append(s)
        else:
            feeds[s] = f32([D, B, H])
            graph_inputs.append(helper.make_tensor_value_info(s, TensorProto.FLOAT, [D, B, H]))
            ins.append(s)
    while ins and ins[-1] == "":
        ins.pop()
    n_out = 3 if op == "LSTM" else 2
    node_outs = [o if o in outputs else "" for o in ["Y", "Y_h", "Y_c"][:n_out]]
    while node_outs and node_outs[-1] == "":
        node_outs.pop()
    node = helper.make_node(op, ins, node_outs, hidden_size=H, direction=direction, **attrs)
    g = helper.make_graph([node], name, graph_inputs,
                          [onnx.ValueInfoProto(name=o) for o in node_outs if o], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 10
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    for o in m.graph.output:
        if o.name in inferred:
            o.CopyFrom(inferred[o.name])
    onnx.checker.check_model(m)
    return m, feeds


def case(name, *args, **kw):
    m, feeds = build(name, *args, **kw)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(m, path)
    sess = ort.InferenceSession(path, NOOPT, providers=["CPUExecutionProvider"])
    names = [i.name for i in m.graph.input]
    ys = sess.run(None, feeds)
    for k, n in enumerate(names):
        feeds[n].astype("<f4").tofile(os.path.join(OUT, f"{name}.in{k}.bin"))
    for k, y in enumerate(ys):
        y.astype("<f4").tofile(os.path.join(OUT, f"{name}.out{k}.bin"))
    manifest["models"][name] = {
        "inputs": [list(feeds[n].shape) for n in names],
        "outputs": [list(y.shape) for y in ys],
        "opset": m.opset_import[0].version,
    }


def refused(name, phrase, *args, **kw):
    m, _ = build(name, *args, **kw)
    onnx.save(m, os.path.join(OUT, name + ".onnx"))
    manifest["refused"][name] = phrase


# LSTM: T=5 steps, batch 2, 3 inputs, 4 hidden.
case("lstm_forward", "LSTM", 5, 2, 3, 4)
case("lstm_reverse_const_state", "LSTM", 5, 2, 3, 4, direction="reverse", init="const")
case("lstm_bidirectional_state_inputs", "LSTM", 4, 1, 3, 5, direction="bidirectional", init="input")
case("lstm_no_bias_opset7", "LSTM", 3, 1, 2, 3, bias=False, opset=7,
     activations=["Sigmoid", "Tanh", "Tanh"])
case("lstm_only_y_h_opset21", "LSTM", 6, 1, 4, 3, outputs=("Y_h",), opset=21)
# GRU: both forms of the candidate's reset.
case("gru_forward_lbr0", "GRU", 5, 2, 3, 4, linear_before_reset=0)
case("gru_forward_lbr1_const_state", "GRU", 5, 2, 3, 4, linear_before_reset=1, init="const")
case("gru_reverse_lbr0_no_bias", "GRU", 4, 1, 3, 4, direction="reverse", bias=False)
case("gru_bidirectional_lbr1_state_input", "GRU", 4, 2, 3, 5, direction="bidirectional", init="input",
     linear_before_reset=1)
case("gru_opset7_activations", "GRU", 3, 1, 2, 3, opset=7, activations=["Sigmoid", "Tanh"])
# Refused by name.
refused("gru_relu_activation", "activations", "GRU", 3, 1, 2, 3, activations=["Sigmoid", "Relu"])
refused("lstm_clip", "attribute 'clip'", "LSTM", 3, 1, 2, 3, clip=1.0)
refused("lstm_layout1", "layout = 1", "LSTM", 3, 1, 2, 3, layout=1)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {len(manifest['models'])} goldens and {len(manifest['refused'])} refusals to {OUT}")
