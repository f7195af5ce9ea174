"""Checks accelsim's executor against LiteRT's reference kernels on an int8 TFLite model.

Usage: python check.py [MODEL.tflite] [IMAGES.npy] [ACCELSIM] [OUTDIR]
  defaults: mobilenet_v2_int8.tflite in the current folder (make_tflite.py's),
            ../shared/tflite/data/mobilenet_v1_eval_float_inputs.npy (float32 [N, 224, 224, 3]),
            the repository's target/release/accelsim, the current folder (for the outputs)

1. LiteRT with OpResolverType.BUILTIN_REF, one invoke per image (batch 1), on the images
   quantized as TFLite's QUANTIZE and `accelsim exec` quantize them (float32
   x / scale, rounded half away from zero, + zero point, clamped); outputs stacked to
   ref_out.npy in OUTDIR ([N, ...], the output tensor's dtype).
2. The same with LiteRT's default resolver (XNNPACK), for information: xnn_out.npy.
3. `accelsim exec --model M --input IMAGES.npy --output acc_out.bin` (the raw output
   tensors, item after item) compared element for element with 1.
4. Every intermediate tensor: per image, the quantized image as a raw file through
   `accelsim exec --dump`, against LiteRT BUILTIN_REF with experimental_preserve_all_tensors,
   matched by tensor index (index.json); reports the first tensor (in execution order) that
   differs. Exits 1 if anything differs from the reference kernels.
Needs numpy and ai-edge-litert.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(ROOT, "..", "shared")
model = sys.argv[1] if len(sys.argv) > 1 else "mobilenet_v2_int8.tflite"
images = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SHARED, "tflite/data/mobilenet_v1_eval_float_inputs.npy")
accelsim = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "target/release/accelsim")
outdir = sys.argv[4] if len(sys.argv) > 4 else "."

x = np.load(images).astype(np.float32)


def interp(kind, keep=False):
    it = Interpreter(model_path=model, num_threads=1, experimental_op_resolver_type=kind,
                     experimental_preserve_all_tensors=keep)
    it.allocate_tensors()
    return it


ref = interp(OpResolverType.BUILTIN_REF, keep=True)
i, o = ref.get_input_details()[0], ref.get_output_details()[0]
s, z = i["quantization"]
assert i["dtype"] == np.int8, i["dtype"]
v = x / np.float32(s)  # float32 division, as the QUANTIZE kernel
q = np.clip(np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)) + z, -128, 127).astype(np.int8)
q_even = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)  # scripts/time_litert.py's
print("input %s %s scale %.9g zp %d; %d images; %d of %d input elements differ from "
      "round-half-even quantization" % (i["name"], i["shape"].tolist(), s, z, len(x),
                                        int((q != q_even).sum()), q.size))
print("output %s %s %s quantization %s" % (o["name"], o["shape"].tolist(), o["dtype"].__name__, o["quantization"]))


def run(it, img):
    it.set_tensor(i["index"], img[None])
    it.invoke()
    return it.get_tensor(o["index"])[0].copy()


t0 = time.time()
ref_out = np.stack([run(ref, img) for img in q])
print("BUILTIN_REF: %.2f s" % (time.time() - t0))
np.save(os.path.join(outdir, "ref_out.npy"), ref_out)
xnn_out = np.stack([run(interp(OpResolverType.AUTO), img) for img in q])
np.save(os.path.join(outdir, "xnn_out.npy"), xnn_out)

acc_path = os.path.join(outdir, "acc_out.bin")
cmd = [accelsim, "exec", "--model", model, "--input", images, "--output", acc_path]
print("$", " ".join(cmd))
t0 = time.time()
subprocess.run(cmd, check=True)
print("accelsim exec: %.2f s" % (time.time() - t0))
acc_out = np.fromfile(acc_path, dtype=ref_out.dtype)
assert acc_out.size == ref_out.size, (acc_out.size, ref_out.shape)
acc_out = acc_out.reshape(ref_out.shape)


def compare(name, a, b):
    d = np.abs(a.astype(np.int64) - b.astype(np.int64))
    print("%-28s %d of %d elements differ, max |diff| %d; argmax agrees on %d of %d"
          % (name, int((d != 0).sum()), d.size, int(d.max()),
             int((a.reshape(len(a), -1).argmax(1) == b.reshape(len(b), -1).argmax(1)).sum()), len(a)))
    return int((d != 0).sum())


bad = compare("accelsim vs BUILTIN_REF:", acc_out, ref_out)
compare("XNNPACK vs BUILTIN_REF:", xnn_out, ref_out)
compare("accelsim vs XNNPACK:", acc_out, xnn_out)
print("output range over the images: [%d, %d], top-1 int8 values %s"
      % (ref_out.min(), ref_out.max(), ref_out.reshape(len(ref_out), -1).max(1).tolist()))

# Every intermediate tensor, image by image.
order = [d["outputs"] for d in ref._get_ops_details()]
order = [t for outs in order for t in outs]
n_cmp = 0
first = None
with tempfile.TemporaryDirectory() as tmp:
    for k, img in enumerate(q):
        raw, dump = os.path.join(tmp, "in.bin"), os.path.join(tmp, "dump%d" % k)
        img.tofile(raw)
        subprocess.run([accelsim, "exec", "--model", model, "--input", raw,
                        "--output", os.path.join(tmp, "out.bin"), "--dump", dump], check=True)
        run(ref, img)
        index = {t["index"]: t for t in json.load(open(os.path.join(dump, "index.json")))["tensors"]}
        for t in order:
            if t not in index:
                continue
            e = index[t]
            want = ref.get_tensor(t)
            got = np.fromfile(os.path.join(dump, e["file"]), dtype=want.dtype).reshape(want.shape)
            n_cmp += 1
            d = np.abs(got.astype(np.int64) - want.astype(np.int64))
            if d.any() and first is None:
                first = (k, t, e["name"], int((d != 0).sum()), d.size, int(d.max()))
        missing = [t for t in order if t not in index]
        if k == 0:
            print("intermediates: %d op outputs, %d dumped by accelsim%s"
                  % (len(order), len(order) - len(missing), (", not dumped: %s" % missing) if missing else ""))
print("intermediates: %d tensor comparisons over %d images" % (n_cmp, len(q)))
if first:
    print("first differing tensor: image %d, tensor %d %s: %d of %d differ, max |diff| %d" % first)
    bad += 1
else:
    print("every intermediate tensor is bit-exact with BUILTIN_REF")
print("RESULT:", "bit-exact" if bad == 0 else "DIFFERS")
sys.exit(1 if bad else 0)
