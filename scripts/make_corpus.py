#!/usr/bin/env python3
"""Makes the real-model corpus under tests/corpus/ (issue 13 item 5; not run in CI).

Small instances of the architectures people ship, exported by the real converters:
MobileNet-v3 Small (keras.applications), an EfficientNet-lite-style network (MBConv with
ReLU6, no squeeze-excite), a BlazeFace-style detector (5x5 depthwise BlazeBlocks, channel
padding, two heads), a U-Net segmenter (transposed conv and bilinear upsampling, skip
concatenations, sigmoid), keyword-spotting CRNNs (conv + GRU, conv + LSTM) and a YOLO-style
two-scale head (SiLU, nearest upsampling, box decoding with slices and constants).
Weights are random (seeded); BatchNormalization statistics are set from one batch of the
calibration data, so no layer is an identity.

Keras part (`--part keras`): each Keras model is converted by the TFLite converter four
ways -- float32, fp16 weights (float16 constants behind DEQUANTIZE), int8 full-integer
post-training quantization (int8 input and output, representative dataset) and 16x8 (int16
activations, int8 weights, float input and output) -- and to ONNX by tf2onnx (opset 17) where
tf2onnx converts it. Goldens: LiteRT's REFERENCE kernels (OpResolverType.BUILTIN_REF, one
thread) and onnxruntime (graph optimizations off), on the same seeded inputs.
PyTorch part (`--part torch`): PyTorch versions of the architectures exported by
`torch.onnx.export` (TorchScript exporter, opset 13; one through the dynamo exporter, opset
18), and the int8 QDQ model onnxruntime's `quantize_static` makes of each; goldens from
onnxruntime.

Files, per model STEM: `STEM.tflite` or `STEM.onnx`, `STEM.in0.npy` (the inputs as fed,
`[S, ...input shape]`, S samples) and `STEM.outK.npy` (what the runtime returned, `[S, ...]`),
and one entry in `manifest.json` (architecture, source, variant, inputs and outputs with
shapes and dtypes, the operators in the file). Regenerate everything:

    python3 -m venv /work/venv-tf && /work/venv-tf/bin/pip install tensorflow-cpu ai-edge-litert onnx onnxruntime
    python3 -m venv /work/venv-tf2onnx                      # tf2onnx beside TensorFlow, no deps
    echo /work/venv-tf/lib/python3.11/site-packages > /work/venv-tf2onnx/lib/python3.11/site-packages/venvtf.pth
    /work/venv-tf2onnx/bin/pip install --no-deps tf2onnx && /work/venv-tf2onnx/bin/pip install requests
    python3 -m venv /work/venv-corpus && /work/venv-corpus/bin/pip install torch onnxscript onnx onnxruntime numpy
    /work/venv-tf2onnx/bin/python scripts/make_corpus.py --part keras
    /work/venv-corpus/bin/python scripts/make_corpus.py --part torch
    /work/venv-corpus/bin/python scripts/make_corpus.py --check target/release/accelsim   # docs/corpus.md's table
    # one LiteRT golden again, from the committed model and inputs (pip install ai-edge-litert flatbuffers):
    /work/venv-litert/bin/python scripts/make_corpus.py --regolden yolo_int8

Made with tensorflow 2.21.0 (keras 3.15.1), ai-edge-litert 2.3.0, tf2onnx 1.17.0, torch
2.15.0, onnx 1.23.2, onnxruntime 1.32.0, numpy 2.4.6, Python 3.11.7 (the manifest records
the versions each part ran with).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

OUT = os.environ.get("CORPUS_OUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "corpus")
SAMPLES = 2
MAX_BYTES = 300_000


def load_manifest():
    p = os.path.join(OUT, "manifest.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {"versions": {}, "models": {}}


def save_manifest(m):
    m["models"] = dict(sorted(m["models"].items()))
    m["refused"] = dict(sorted(m.get("refused", {}).items()))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(m, f, indent=1)
        f.write("\n")


def refuse(manifest, stem, why):
    """Records a variant a converter or runtime refused (docs/corpus.md lists them)."""
    manifest.setdefault("refused", {})[stem] = why
    manifest["models"].pop(stem, None)
    print(f"{stem}: refused by {why}")


def spec(arr_list, names):
    return [{"name": n, "shape": list(a.shape[1:]), "dtype": str(a.dtype)} for n, a in zip(names, arr_list)]


def save_goldens(stem, ins, outs, shared=None):
    """Writes the outputs, and the inputs unless they are the shared file `shared` (the float
    samples every float-input variant of an architecture reads). Returns the input files."""
    files = []
    for k, a in enumerate(ins):
        name = shared if shared else f"{stem}.in{k}.npy"
        np.save(os.path.join(OUT, name), a)
        files.append(name)
    for k, a in enumerate(outs):
        np.save(os.path.join(OUT, f"{stem}.out{k}.npy"), a)
    return files


# LiteRT's reference resolver (register_ref.cc) registers fewer versions of some operators
# than the builtin one, with the SAME kernel: TILE is `Register_TILE()` (tile.cc, a copy of
# every element type) in both, versions 1-2 in the reference resolver and 1-3 in the builtin
# one, so the converter's int8 TILE (version 3) has no reference registration. A golden from the reference
# kernels runs a copy of the model whose operator code says the version the reference
# resolver has; the committed file is the converter's, unchanged.
REF_SAME_KERNEL_VERSION = {"TILE": 2}


def ref_runnable(content):
    """`content` with every operator of REF_SAME_KERNEL_VERSION above that version lowered to
    it, and the list of what was lowered ("TILE 3->2")."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:
        from ai_edge_litert import schema_py_generated as schema
    import flatbuffers

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    lowered = []
    for c in m.operatorCodes:
        name = names.get(max(c.builtinCode, c.deprecatedBuiltinCode))
        top = REF_SAME_KERNEL_VERSION.get(name)
        if top is not None and c.version > top:
            lowered.append(f"{name} {c.version}->{top}")
            c.version = top
    if not lowered:
        return content, []
    b = flatbuffers.Builder(len(content))
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), lowered


def run_litert(content, xs, resolver=None):
    """Runs the model on every sample of `xs` (one array per input, `[S, ...]`) with LiteRT's
    reference kernels (or `resolver`), one thread. Returns the input and output details and
    one `[S, ...]` array per output."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        model_content=content,
        experimental_op_resolver_type=resolver if resolver is not None else OpResolverType.BUILTIN_REF,
        num_threads=1,
    )
    it.allocate_tensors()
    ind = it.get_input_details()
    outd = it.get_output_details()
    outs = [[] for _ in outd]
    for s in range(xs[0].shape[0]):
        for d, x in zip(ind, xs):
            it.set_tensor(d["index"], x[s : s + 1])
        it.invoke()
        for k, d in enumerate(outd):
            outs[k].append(it.get_tensor(d["index"])[0])
    return ind, outd, [np.stack(o) for o in outs]


def reference_golden(content, xs):
    """run_litert with the reference kernels, on ref_runnable(content); returns the details,
    the outputs and the golden's description for the manifest."""
    runnable, lowered = ref_runnable(content)
    ind, outd, outs = run_litert(runnable, xs)
    what = "LiteRT BUILTIN_REF"
    if lowered:
        what += f" ({', '.join(lowered)}: the same kernel, see REF_SAME_KERNEL_VERSION)"
    return ind, outd, outs, what


def regolden(manifest, stems):
    """Re-makes the LiteRT goldens of committed .tflite models from their committed inputs
    (needs only ai-edge-litert, numpy and flatbuffers)."""
    for stem in stems:
        e = manifest["models"].get(stem)
        if e is None or e["format"] != "tflite":
            sys.exit(f"--regolden: {stem} is not a .tflite model of manifest.json")
        with open(os.path.join(OUT, e["file"]), "rb") as f:
            content = f.read()
        xs = [np.load(os.path.join(OUT, n)) for n in e["input_files"]]
        _, _, outs, what = reference_golden(content, xs)
        for k, a in enumerate(outs):
            old = np.load(os.path.join(OUT, f"{stem}.out{k}.npy"))
            diff = np.abs(a.astype(np.float64) - old.astype(np.float64)).max()
            print(f"{stem}.out{k}: largest change {diff} against the previous golden ({e['golden']})")
            np.save(os.path.join(OUT, f"{stem}.out{k}.npy"), a)
        e["golden"] = what


# ----------------------------------------------------------------------------- Keras


def keras_part(manifest, only):
    import tensorflow as tf
    import keras
    from keras import layers as L
    from ai_edge_litert.interpreter import Interpreter

    try:
        import tf2onnx
    except ImportError:
        tf2onnx = None
    import onnx
    import onnxruntime as ort

    keras.utils.set_random_seed(13)
    manifest["versions"].update(
        tensorflow=tf.__version__,
        keras=keras.__version__,
        litert=__import__("ai_edge_litert").__version__ if hasattr(__import__("ai_edge_litert"), "__version__") else "2.3.0",
        tf2onnx=getattr(tf2onnx, "__version__", None),
    )

    def conv_bn(x, c, k=3, s=1, act="relu", name=None):
        x = L.Conv2D(c, k, strides=s, padding="same", use_bias=False, name=name)(x)
        x = L.BatchNormalization()(x)
        if act == "relu6":
            return L.ReLU(6.0)(x)
        if act == "silu":
            return L.Activation("silu")(x)
        if act == "relu":
            return L.ReLU()(x)
        return x

    def mobilenet_v3():
        base = keras.applications.MobileNetV3Small(
            input_shape=(64, 64, 3),
            alpha=0.125,
            minimalistic=False,
            include_top=False,
            weights=None,
            include_preprocessing=False,
            pooling="avg",
        )
        x = L.Dense(10)(base.output)
        x = L.Softmax()(x)
        return keras.Model(base.input, x, name="mobilenet_v3"), (64, 64, 3), (-1.0, 1.0)

    def efficientnet_lite():
        def mbconv(x, cin, cout, expand, k, s):
            y = x
            if expand != 1:
                y = conv_bn(y, cin * expand, 1, act="relu6")
            y = L.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False)(y)
            y = L.BatchNormalization()(y)
            y = L.ReLU(6.0)(y)
            y = conv_bn(y, cout, 1, act=None)
            if s == 1 and cin == cout:
                y = L.Add()([x, y])
            return y

        i = keras.Input((64, 64, 3))
        x = conv_bn(i, 16, 3, 2, act="relu6")
        for cin, cout, e, k, s in [(16, 8, 1, 3, 1), (8, 16, 6, 3, 2), (16, 16, 6, 3, 1), (16, 24, 6, 5, 2),
                                   (24, 24, 6, 5, 1), (24, 40, 6, 3, 2)]:
            x = mbconv(x, cin, cout, e, k, s)
        x = conv_bn(x, 128, 1, act="relu6")
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(10)(x)
        x = L.Softmax()(x)
        return keras.Model(i, x, name="efficientnet_lite"), (64, 64, 3), (-1.0, 1.0)

    class ChannelPad(L.Layer):
        def __init__(self, extra, **kw):
            super().__init__(**kw)
            self.extra = extra

        def call(self, x):
            return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def blazeface():
        def blaze_block(x, cin, cout, s):
            y = L.DepthwiseConv2D(5, strides=s, padding="same")(x)
            y = L.Conv2D(cout, 1)(y)
            skip = x
            if s == 2:
                skip = L.MaxPooling2D(2)(skip)
            if cout > cin:
                skip = ChannelPad(cout - cin)(skip)
            return L.ReLU()(L.Add()([y, skip]))

        i = keras.Input((64, 64, 3))
        x = L.Conv2D(16, 5, strides=2, padding="same")(i)
        x = L.PReLU(shared_axes=[1, 2])(x)
        x = blaze_block(x, 16, 16, 1)
        x = blaze_block(x, 16, 24, 2)  # 16x16
        x = blaze_block(x, 24, 24, 1)
        x = blaze_block(x, 24, 32, 2)  # 8x8
        f8 = blaze_block(x, 32, 32, 1)
        x = blaze_block(f8, 32, 48, 2)  # 4x4
        f4 = blaze_block(x, 48, 48, 1)
        regs, clss = [], []
        for f, a in ((f8, 2), (f4, 6)):
            h = f.shape[1]
            regs.append(L.Reshape((h * h * a, 16))(L.Conv2D(a * 16, 1)(f)))
            clss.append(L.Reshape((h * h * a, 1))(L.Conv2D(a, 1)(f)))
        return (
            keras.Model(i, [L.Concatenate(axis=1)(regs), L.Concatenate(axis=1)(clss)], name="blazeface"),
            (64, 64, 3),
            (-1.0, 1.0),
        )

    def unet():
        def block(x, c):
            return conv_bn(conv_bn(x, c), c)

        i = keras.Input((64, 64, 3))
        e1 = block(i, 8)
        e2 = block(L.MaxPooling2D(2)(e1), 16)
        b = block(L.MaxPooling2D(2)(e2), 32)
        u2 = L.Conv2DTranspose(16, 2, strides=2)(b)
        d2 = block(L.Concatenate()([u2, e2]), 16)
        u1 = L.UpSampling2D(2, interpolation="bilinear")(d2)
        d1 = block(L.Concatenate()([u1, e1]), 8)
        o = L.Conv2D(1, 1, activation="sigmoid")(d1)
        return keras.Model(i, o, name="unet"), (64, 64, 3), (0.0, 1.0)

    def kws(cell):
        i = keras.Input((49, 10, 1))
        x = conv_bn(i, 16, (10, 4), (2, 2))  # 25 x 5 x 16
        x = L.Reshape((25, 5 * 16))(x)
        if cell == "gru":
            x = L.GRU(32, unroll=True)(x)
        else:
            x = L.LSTM(32, unroll=True)(x)
        x = L.Dense(12)(x)
        x = L.Softmax()(x)
        return keras.Model(i, x, name=f"kws_{cell}"), (49, 10, 1), (-2.0, 2.0)

    def yolo():
        i = keras.Input((64, 64, 3))
        x = conv_bn(i, 16, 3, 2, act="silu")  # 32
        x = conv_bn(x, 24, 3, 2, act="silu")  # 16
        p8 = conv_bn(x, 32, 3, 2, act="silu")  # 8
        p4 = conv_bn(p8, 48, 3, 2, act="silu")  # 4
        up = L.UpSampling2D(2, interpolation="nearest")(conv_bn(p4, 32, 1, act="silu"))
        n8 = conv_bn(L.Concatenate()([up, p8]), 32, 3, act="silu")
        na, nc = 3, 3
        outs = []
        for f, stride, anchors in ((n8, 8, [[10, 13], [16, 30], [33, 23]]), (p4, 16, [[30, 61], [62, 45], [59, 119]])):
            h = f.shape[1]
            p = L.Conv2D(na * (5 + nc), 1)(f)
            p = L.Reshape((h * h * na, 5 + nc))(p)
            p = L.Activation("sigmoid")(p)
            gy, gx = np.meshgrid(np.arange(h), np.arange(h), indexing="ij")
            grid = np.repeat(np.stack([gx, gy], -1).reshape(h * h, 1, 2), na, axis=1).reshape(1, h * h * na, 2)
            anc = np.tile(np.array(anchors, np.float32), (h * h, 1)).reshape(1, h * h * na, 2)
            grid_c = keras.ops.convert_to_tensor(grid.astype(np.float32) - 0.5)
            anc_c = keras.ops.convert_to_tensor(anc)
            xy = L.Lambda(lambda t, g=grid_c, s=stride: (t[..., 0:2] * 2.0 + g) * float(s))(p)
            wh = L.Lambda(lambda t, a=anc_c: keras.ops.square(t[..., 2:4] * 2.0) * a)(p)
            rest = L.Lambda(lambda t: t[..., 4:])(p)
            outs.append(L.Concatenate(axis=-1)([xy, wh, rest]))
        return keras.Model(i, L.Concatenate(axis=1)(outs), name="yolo"), (64, 64, 3), (0.0, 1.0)

    archs = {
        "mobilenet_v3": mobilenet_v3,
        "efficientnet_lite": efficientnet_lite,
        "blazeface": blazeface,
        "unet": unet,
        "kws_gru": lambda: kws("gru"),
        "kws_lstm": lambda: kws("lstm"),
        "yolo": yolo,
    }

    def calibrate_bn(model, x):
        """BatchNormalization statistics from one batch, random gamma and beta."""
        rng = np.random.default_rng(7)
        bns = [layer for layer in model.layers if isinstance(layer, L.BatchNormalization)]
        for layer in bns:
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype(np.float32))
            layer.beta.assign(rng.normal(0.1, 0.2, c).astype(np.float32))
            layer.momentum = 0.0
        model(x, training=True)

    def interp_ops(content):
        from tensorflow.lite.python import schema_py_generated as schema

        m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        ops = set()
        for sg in m.subgraphs:
            for op in sg.operators:
                c = m.operatorCodes[op.opcodeIndex]
                ops.add(names.get(max(c.builtinCode, c.deprecatedBuiltinCode), str(c.builtinCode)))
        return sorted(ops)

    for arch, make in archs.items():
        if only and arch not in only:
            continue
        keras.utils.set_random_seed(13 + sum(map(ord, arch)))  # per architecture: --only reproduces it
        net, shape, (lo, hi) = make()
        rng = np.random.default_rng(sum(map(ord, arch)))
        calib = rng.uniform(lo, hi, (32,) + shape).astype(np.float32)
        calibrate_bn(net, calib)
        xs = rng.uniform(lo, hi, (SAMPLES,) + shape).astype(np.float32)
        # A batch of 1, as shipped models have: with Keras' dynamic batch the converter
        # writes the batch arithmetic of every Reshape (SHAPE, STRIDED_SLICE, PACK) into the
        # file; one variant keeps it (`blazeface_float32_dynbatch`).
        inp = keras.Input(shape, batch_size=1)
        model = keras.Model(inp, net(inp))

        def rep():
            for k in range(calib.shape[0]):
                yield [calib[k : k + 1]]

        variants = ("float32", "fp16", "int8", "16x8") + (("float32_dynbatch",) if arch == "blazeface" else ())
        for variant in variants:
            conv = tf.lite.TFLiteConverter.from_keras_model(net if variant.endswith("dynbatch") else model)
            if variant == "fp16":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.target_spec.supported_types = [tf.float16]
            elif variant == "int8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = rep
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                conv.inference_input_type = tf.int8
                conv.inference_output_type = tf.int8
            elif variant == "16x8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = rep
                conv.target_spec.supported_ops = [
                    tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                ]
            stem = f"{arch}_{variant}"
            try:
                content = conv.convert()
            except Exception as e:  # noqa: BLE001 -- the converter's own refusal, recorded
                refuse(manifest, stem, f"converter: {str(e).splitlines()[0][:200]}")
                continue
            if len(content) > MAX_BYTES:
                refuse(manifest, stem, f"size: {len(content)} bytes, over {MAX_BYTES}")
                continue
            ins = xs
            # The int8 model takes int8: the float samples quantized with its input parameters.
            it = Interpreter(model_content=content)
            d = it.get_input_details()[0]
            if d["dtype"] != np.float32:
                sc, zp = d["quantization"]
                info = np.iinfo(d["dtype"])
                ins = np.clip(np.round(xs / sc) + zp, info.min, info.max).astype(d["dtype"])
            try:
                ind, outd, outs, golden = reference_golden(content, [ins])
            except Exception as e:  # noqa: BLE001
                refuse(manifest, stem, f"LiteRT reference kernels: {str(e).splitlines()[0][:200]}")
                continue
            manifest.setdefault("refused", {}).pop(stem, None)
            with open(os.path.join(OUT, f"{stem}.tflite"), "wb") as f:
                f.write(content)
            files = save_goldens(stem, [ins], outs, None if ins is not xs else f"{arch}.nhwc.npy")
            ops = interp_ops(content)
            manifest["models"][stem] = {
                "arch": arch,
                "source": "keras",
                "format": "tflite",
                "variant": variant,
                "file": f"{stem}.tflite",
                "samples": SAMPLES,
                "input_files": files,
                "inputs": spec([ins], [d["name"] for d in ind]),
                "outputs": spec(outs, [d["name"] for d in outd]),
                "ops": ops,
                "bytes": len(content),
                "golden": golden,
            }
            print(f"{stem}: {len(content)} bytes, {' '.join(ops)}")

        if tf2onnx is None:
            continue
        stem = f"{arch}_keras_onnx"
        try:
            mp, _ = tf2onnx.convert.from_keras(
                model, input_signature=(tf.TensorSpec((1,) + shape, tf.float32, name="input"),), opset=17
            )
        except Exception as e:  # noqa: BLE001
            refuse(manifest, stem, f"tf2onnx: {str(e).splitlines()[0][:200]}")
            continue
        data = mp.SerializeToString()
        if len(data) > MAX_BYTES:
            refuse(manifest, stem, f"size: {len(data)} bytes, over {MAX_BYTES}")
            continue
        write_onnx(manifest, stem, arch, "keras", "onnx", data, xs, ort, onnx, f"{arch}.nhwc.npy")


def write_onnx(manifest, stem, arch, source, variant, data, xs, ort, onnx, shared, extra=None):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    outs = [[] for _ in sess.get_outputs()]
    for s in range(xs.shape[0]):
        for k, o in enumerate(sess.run(None, {iname: xs[s : s + 1]})):
            outs[k].append(o[0])
    outs = [np.stack(o) for o in outs]
    manifest.setdefault("refused", {}).pop(stem, None)
    with open(os.path.join(OUT, f"{stem}.onnx"), "wb") as f:
        f.write(data)
    files = save_goldens(stem, [xs], outs, shared)
    m = onnx.load_from_string(data)
    ops = sorted({n.op_type for n in m.graph.node})
    manifest["models"][stem] = {
        "arch": arch,
        "source": source,
        "format": "onnx",
        "variant": variant,
        "file": f"{stem}.onnx",
        "samples": int(xs.shape[0]),
        "input_files": files,
        "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": spec([xs], [iname]),
        "outputs": spec(outs, [o.name for o in sess.get_outputs()]),
        "ops": ops,
        "bytes": len(data),
        "golden": "onnxruntime",
        **(extra or {}),
    }
    print(f"{stem}: {len(data)} bytes, {' '.join(ops)}")


# ----------------------------------------------------------------------------- PyTorch


def torch_part(manifest, only):
    import onnx
    import onnxruntime as ort
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    torch.manual_seed(13)
    manifest["versions"].update(torch=torch.__version__, onnx=onnx.__version__, onnxruntime=ort.__version__)

    def cbr(cin, cout, k=3, s=1, act=nn.ReLU, groups=1, pad=None):
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, s, k // 2 if pad is None else pad, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            act(),
        )

    class SE(nn.Module):
        def __init__(self, c, r=4):
            super().__init__()
            self.fc1 = nn.Conv2d(c, max(8, c // r), 1)
            self.fc2 = nn.Conv2d(max(8, c // r), c, 1)

        def forward(self, x):
            s = F.adaptive_avg_pool2d(x, 1)
            return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))

    class IR(nn.Module):
        """MobileNet-v3 inverted residual."""

        def __init__(self, cin, exp, cout, k, s, se, act):
            super().__init__()
            self.res = s == 1 and cin == cout
            layers = [cbr(cin, exp, 1, act=act)] if exp != cin else []
            layers.append(cbr(exp, exp, k, s, act=act, groups=exp))
            if se:
                layers.append(SE(exp))
            layers += [nn.Conv2d(exp, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            self.body = nn.Sequential(*layers)

        def forward(self, x):
            y = self.body(x)
            return x + y if self.res else y

    class MobileNetV3(nn.Module):
        def __init__(self):
            super().__init__()
            hs, re = nn.Hardswish, nn.ReLU
            self.stem = cbr(3, 8, 3, 2, act=hs)
            self.blocks = nn.Sequential(
                IR(8, 8, 8, 3, 2, True, re),
                IR(8, 24, 8, 3, 2, False, re),
                IR(8, 32, 8, 3, 1, False, re),
                IR(8, 32, 16, 5, 2, True, hs),
                IR(16, 64, 16, 5, 1, True, hs),
                IR(16, 48, 24, 5, 2, True, hs),
            )
            self.head = cbr(24, 96, 1, act=hs)
            self.fc = nn.Linear(96, 10)

        def forward(self, x):
            x = self.head(self.blocks(self.stem(x)))
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return F.softmax(self.fc(x), dim=1)

    class EffLite(nn.Module):
        def __init__(self):
            super().__init__()
            r6 = nn.ReLU6
            self.stem = cbr(3, 16, 3, 2, act=r6)
            self.blocks = nn.Sequential(
                IR(16, 16, 8, 3, 1, False, r6),
                IR(8, 48, 16, 3, 2, False, r6),
                IR(16, 96, 16, 3, 1, False, r6),
                IR(16, 96, 24, 5, 2, False, r6),
                IR(24, 144, 24, 5, 1, False, r6),
                IR(24, 144, 40, 3, 2, False, r6),
            )
            self.head = cbr(40, 128, 1, act=r6)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            x = self.head(self.blocks(self.stem(x)))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    class Blaze(nn.Module):
        def __init__(self, cin, cout, s):
            super().__init__()
            self.s, self.pad = s, cout - cin
            self.dw = nn.Conv2d(cin, cin, 5, s, 2, groups=cin)
            self.pw = nn.Conv2d(cin, cout, 1)

        def forward(self, x):
            y = self.pw(self.dw(x))
            if self.s == 2:
                x = F.max_pool2d(x, 2)
            if self.pad:
                x = F.pad(x, (0, 0, 0, 0, 0, self.pad))
            return F.relu(x + y)

    class BlazeFace(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 5, 2, 2)
            self.act = nn.PReLU(16)
            self.b8 = nn.Sequential(Blaze(16, 16, 1), Blaze(16, 24, 2), Blaze(24, 24, 1), Blaze(24, 32, 2), Blaze(32, 32, 1))
            self.b4 = nn.Sequential(Blaze(32, 48, 2), Blaze(48, 48, 1))
            self.r8, self.c8 = nn.Conv2d(32, 32, 1), nn.Conv2d(32, 2, 1)
            self.r4, self.c4 = nn.Conv2d(48, 96, 1), nn.Conv2d(48, 6, 1)

        def forward(self, x):
            f8 = self.b8(self.act(self.stem(x)))
            f4 = self.b4(f8)
            r = torch.cat([self.r8(f8).permute(0, 2, 3, 1).reshape(1, -1, 16), self.r4(f4).permute(0, 2, 3, 1).reshape(1, -1, 16)], 1)
            c = torch.cat([self.c8(f8).permute(0, 2, 3, 1).reshape(1, -1, 1), self.c4(f4).permute(0, 2, 3, 1).reshape(1, -1, 1)], 1)
            return r, c

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            blk = lambda a, b: nn.Sequential(cbr(a, b), cbr(b, b))  # noqa: E731
            self.e1, self.e2, self.b = blk(3, 8), blk(8, 16), blk(16, 32)
            self.up2 = nn.ConvTranspose2d(32, 16, 2, 2)
            self.d2, self.d1 = blk(32, 16), blk(24, 8)
            self.out = nn.Conv2d(8, 1, 1)

        def forward(self, x):
            e1 = self.e1(x)
            e2 = self.e2(F.max_pool2d(e1, 2))
            b = self.b(F.max_pool2d(e2, 2))
            d2 = self.d2(torch.cat([self.up2(b), e2], 1))
            u1 = F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)
            return torch.sigmoid(self.out(self.d1(torch.cat([u1, e1], 1))))

    class KWS(nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.conv = cbr(1, 16, (10, 4), 2, pad=(5, 1))
            self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(5 * 16, 32, batch_first=True)
            self.fc = nn.Linear(32, 12)

        def forward(self, x):  # [1, 1, 49, 10]
            x = self.conv(x)  # [1, 16, 25, 5]
            x = x.permute(0, 2, 1, 3).reshape(x.shape[0], 25, 80)
            y, _ = self.rnn(x)
            return F.softmax(self.fc(y[:, -1]), dim=1)

    class Yolo(nn.Module):
        def __init__(self):
            super().__init__()
            si = nn.SiLU
            self.c1, self.c2 = cbr(3, 16, 3, 2, si), cbr(16, 24, 3, 2, si)
            self.c3, self.c4 = cbr(24, 32, 3, 2, si), cbr(32, 48, 3, 2, si)
            self.lat, self.n8 = cbr(48, 32, 1, act=si), cbr(64, 32, 3, act=si)
            self.h8, self.h4 = nn.Conv2d(32, 24, 1), nn.Conv2d(48, 24, 1)
            self.anchors = [torch.tensor([[10, 13], [16, 30], [33, 23]], dtype=torch.float32),
                            torch.tensor([[30, 61], [62, 45], [59, 119]], dtype=torch.float32)]

        def decode(self, p, stride, anchors):
            b, _, h, w = p.shape
            p = p.view(b, 3, 8, h, w).permute(0, 1, 3, 4, 2).sigmoid()
            gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack([gx, gy], -1).view(1, 1, h, w, 2).float() - 0.5
            xy = (p[..., 0:2] * 2 + grid) * stride
            wh = (p[..., 2:4] * 2) ** 2 * anchors.view(1, 3, 1, 1, 2)
            return torch.cat([xy, wh, p[..., 4:]], -1).view(b, -1, 8)

        def forward(self, x):
            p8 = self.c3(self.c2(self.c1(x)))
            p4 = self.c4(p8)
            n8 = self.n8(torch.cat([F.interpolate(self.lat(p4), scale_factor=2, mode="nearest"), p8], 1))
            return torch.cat([self.decode(self.h8(n8), 8, self.anchors[0]), self.decode(self.h4(p4), 16, self.anchors[1])], 1)

    archs = {
        "mobilenet_v3": (MobileNetV3, (1, 3, 64, 64), (-1.0, 1.0)),
        "efficientnet_lite": (EffLite, (1, 3, 64, 64), (-1.0, 1.0)),
        "blazeface": (BlazeFace, (1, 3, 64, 64), (-1.0, 1.0)),
        "unet": (UNet, (1, 3, 64, 64), (0.0, 1.0)),
        "kws_gru": (lambda: KWS("gru"), (1, 1, 49, 10), (-2.0, 2.0)),
        "kws_lstm": (lambda: KWS("lstm"), (1, 1, 49, 10), (-2.0, 2.0)),
        "yolo": (Yolo, (1, 3, 64, 64), (0.0, 1.0)),
    }
    for arch, (make, shape, (lo, hi)) in archs.items():
        if only and arch not in only:
            continue
        torch.manual_seed(13 + sum(map(ord, arch)))
        net = make()
        rng = np.random.default_rng(sum(map(ord, arch)) + 1)
        calib = rng.uniform(lo, hi, (32,) + shape[1:]).astype(np.float32)
        # BatchNorm statistics from the calibration batch, random affine parameters.
        for mod in net.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.momentum = None
                with torch.no_grad():
                    mod.weight.uniform_(0.5, 1.5)
                    mod.bias.normal_(0.1, 0.2)
        net.train()
        with torch.no_grad():
            net(torch.from_numpy(calib))
        net.eval()
        xs = rng.uniform(lo, hi, (SAMPLES,) + shape[1:]).astype(np.float32)
        dyn = arch == "mobilenet_v3"
        for dynamo in (False, True) if dyn else (False,):
            stem = f"{arch}_torch_onnx" + ("_dynamo" if dynamo else "")
            path = os.path.join(tempfile.mkdtemp(), "m.onnx")
            try:
                if dynamo:
                    torch.onnx.export(net, (torch.from_numpy(xs[:1]),), path, dynamo=True, opset_version=18, external_data=False)
                else:
                    torch.onnx.export(net, (torch.from_numpy(xs[:1]),), path, dynamo=False, opset_version=13,
                                      input_names=["input"])
            except Exception as e:  # noqa: BLE001
                refuse(manifest, stem, f"torch.onnx.export: {str(e).splitlines()[0][:200]}")
                continue
            with open(path, "rb") as f:
                data = f.read()
            if len(data) > MAX_BYTES:
                refuse(manifest, stem, f"size: {len(data)} bytes, over {MAX_BYTES}")
                continue
            write_onnx(manifest, stem, arch, "torch", "onnx", data, xs, ort, onnx, f"{arch}.nchw.npy",
                       {"exporter": "dynamo" if dynamo else "torchscript"})
            if dynamo:
                continue

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.it = iter([{"input": calib[k : k + 1]} for k in range(calib.shape[0])])

                def get_next(self):
                    return next(self.it, None)

            qpath = os.path.join(os.path.dirname(path), "q.onnx")
            try:
                quantize_static(path, qpath, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
            except Exception as e:  # noqa: BLE001
                refuse(manifest, f"{arch}_torch_qdq", f"quantize_static: {str(e).splitlines()[0][:200]}")
                continue
            with open(qpath, "rb") as f:
                qdata = f.read()
            write_onnx(manifest, f"{arch}_torch_qdq", arch, "torch", "qdq", qdata, xs, ort, onnx, f"{arch}.nchw.npy",
                       {"exporter": "torchscript + quantize_static"})


# ----------------------------------------------------------------------------- check


def check(manifest, binary, hw):
    """Runs `accelsim run` and `accelsim exec` on every corpus model and prints the table."""
    rows = []
    for stem, m in manifest["models"].items():
        path = os.path.join(OUT, m["file"])
        r = subprocess.run([binary, "run", "--hw", hw, "--model", path, "--format", "json"], capture_output=True, text=True)
        if r.returncode != 0:
            rows.append((stem, "no", "-", "-", first_line(r.stderr)))
            print(rows[-1], flush=True)
            continue
        doc = json.loads(r.stdout)
        layers = doc.get("layers", [])
        full = all(layer.get("cycles") is not None for layer in layers) and len(layers) > 0
        xin = np.load(os.path.join(OUT, m["input_files"][0]))
        outs = [np.load(os.path.join(OUT, f"{stem}.out{k}.npy")) for k in range(len(m["outputs"]))]
        worst, blocker = 0.0, ""
        integer = np.issubdtype(outs[0].dtype, np.integer)
        with tempfile.TemporaryDirectory() as td:
            for s in range(xin.shape[0]):
                fin, fout = os.path.join(td, "in.bin"), os.path.join(td, "out.bin")
                xin[s : s + 1].tofile(fin)
                cmd = [binary, "exec", "--model", path, "--input", fin, "--output", fout]
                if m["format"] == "onnx" and xin.ndim == 4:
                    # The file's layout: tf2onnx keeps Keras' NHWC input, PyTorch's is NCHW.
                    cmd += ["--layout", "nhwc" if m["source"] == "keras" else "nchw"]
                e = subprocess.run(cmd, capture_output=True, text=True)
                if e.returncode != 0:
                    blocker = first_line(e.stderr)
                    break
                raw = np.fromfile(fout, dtype=np.uint8)
                off = 0
                for o in outs:
                    want = o[s]
                    n = want.size * want.dtype.itemsize
                    got = raw[off : off + n].view(want.dtype).reshape(want.shape)
                    off += n
                    if integer:
                        worst = max(worst, float(np.abs(got.astype(np.int64) - want.astype(np.int64)).max()))
                    else:
                        scale = max(float(np.abs(want).max()), 1e-30)
                        worst = max(worst, float(np.abs(got - want).max()) / scale)
        if blocker:
            rows.append((stem, "yes", "yes" if full else "partial", "no", blocker))
        else:
            rows.append((stem, "yes", "yes" if full else "partial", f"{worst:.3g} {'LSB' if integer else 'rel'}", ""))
        print(rows[-1], flush=True)
    print("\n| model | imports | run table | exec vs golden | blocker |\n|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def first_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    msg = " ".join(lines[:6])
    return msg.replace("|", "/")[:400]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["keras", "torch"])
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--check", metavar="ACCELSIM")
    ap.add_argument("--hw", default="mac8")
    ap.add_argument("--regolden", nargs="+", metavar="STEM", help="re-make these .tflite goldens only")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    manifest = load_manifest()
    if a.check:
        check(manifest, a.check, a.hw)
        return
    if a.regolden:
        regolden(manifest, a.regolden)
    elif a.part == "keras":
        keras_part(manifest, a.only)
    elif a.part == "torch":
        torch_part(manifest, a.only)
    else:
        sys.exit("give --part keras|torch or --check BINARY")
    save_manifest(manifest)


if __name__ == "__main__":
    main()
