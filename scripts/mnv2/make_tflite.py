"""Builds a full-integer int8 MobileNet-v2 TFLite model for accelsim's executor checks.

Usage: python make_mnv2_tflite.py [OUT.tflite]   (default: mobilenet_v2_int8.tflite in the current
folder; the SavedModel it converts and the float outputs go beside it)

Keras' MobileNetV2 (224x224x3, 1000 classes, softmax), random init with a fixed seed
(ImageNet weights cannot be downloaded here). So that activations are not degenerate, the
BatchNorm moving statistics are set from one training-mode forward pass over the 32
calibration images (momentum 0 for that pass: moving stats = that pass's batch stats, each
layer seeing inputs already normalised by the layers before it). The random classifier
then gives a near-uniform softmax (int8 outputs all -128/-127), so the last Dense layer is
centred and scaled on the calibration features (logits' std 4), for an informative output.

Converted with TFLiteConverter: optimizations DEFAULT, representative dataset = the 32
float32 calibration images (NHWC, in [-1, 1], the MobileNet preprocessing, used as is),
TFLITE_BUILTINS_INT8 only, and int8 input and output, as
shared/tflite/models/mobilenet_v1_int8.tflite has (input 'quantization' (0.00784, -1),
output (1/256, -128) there). Batch fixed at 1, as that model's [1, 224, 224, 3].
Needs tensorflow (tensorflow-cpu) and numpy. Deterministic: two runs gave the same bytes.

Caveat: a random-init network is numerically chaotic. Against a float conversion of the same
model, the int8 model's per-layer SQNR falls from ~40 dB (first conv) to ~0 dB (last conv),
and the optimized kernels' 1-LSB rounding differences from the reference kernels grow to
100+ LSB by the end (measured with a layer-by-layer comparison, not kept). Good for bit-exactness checks and timing, not
for accuracy or SQNR studies.
"""
import collections
import os
import sys

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(ROOT, "..", "shared")
CALIB = os.path.join(SHARED, "tflite/data/mobilenet_v1_calib_float_inputs.npy")
out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "mobilenet_v2_int8.tflite")
OUTDIR = os.path.dirname(out)

tf.keras.utils.set_random_seed(0)
calib = np.load(CALIB).astype(np.float32)
print("calibration images", calib.shape, calib.dtype, "range [%.4f, %.4f]" % (calib.min(), calib.max()))

model = tf.keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None, classes=1000)

# BatchNorm statistics from one training-mode pass (momentum 0: moving = batch statistics).
bns = [l for l in model.layers if isinstance(l, tf.keras.layers.BatchNormalization)]
for l in bns:
    l.momentum = 0.0
model(calib, training=True)
for l in bns:
    l.momentum = 0.99
print("BatchNorm layers set from the calibration batch:", len(bns))


# The random classifier gives a near-uniform softmax (top-1 prob ~0.004, i.e. int8 outputs
# all -128/-127) with the same argmax for most images. So that the int8 output says
# something, centre and scale the last Dense layer on the calibration features: logits =
# k (f - mean f) W, with k making the logits' standard deviation 4.
dense = model.layers[-1]
feats = tf.keras.Model(model.input, dense.input)(calib, training=False).numpy()
W, b = dense.get_weights()
mu = feats.mean(axis=0)
k = 4.0 / ((feats - mu) @ W).std()
dense.set_weights([W * k, -(mu @ W) * k])
print("classifier: %s, scaled by %.3f and centred" % (dense.name, k))

y = model(calib, training=False).numpy()
top = y.max(axis=1)
print("float model: top-1 prob min %.4f mean %.4f max %.4f; distinct argmax %d of %d"
      % (top.min(), top.mean(), top.max(), len(set(y.argmax(1))), len(y)))

# The float model's outputs on the 8 evaluation images, for comparison with the int8 model's.
EVAL = os.path.join(SHARED, "tflite/data/mobilenet_v1_eval_float_inputs.npy")
np.save(os.path.join(OUTDIR, "float_out.npy"), model(np.load(EVAL), training=False).numpy())

# Exported as a SavedModel with a fixed [1, 224, 224, 3] input (variables frozen on
# conversion; converting the concrete function directly left READ_VARIABLE ops in).
SAVED = os.path.join(OUTDIR, "mnv2_savedmodel")
model.export(SAVED, format="tf_saved_model",
             input_signature=[tf.TensorSpec([1, 224, 224, 3], tf.float32, name="input")])


def representative_dataset():
    for img in calib:
        yield [img[None]]


conv = tf.lite.TFLiteConverter.from_saved_model(SAVED)
conv.optimizations = [tf.lite.Optimize.DEFAULT]
conv.representative_dataset = representative_dataset
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_input_type = tf.int8
conv.inference_output_type = tf.int8
flat = conv.convert()
with open(out, "wb") as f:
    f.write(flat)
print("wrote %s: %d bytes (%.2f MiB)" % (out, len(flat), len(flat) / 2**20))

it = tf.lite.Interpreter(model_content=flat, experimental_op_resolver_type=
                         tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
it.allocate_tensors()
ops = [o["op_name"] for o in it._get_ops_details()]
print("ops (%d):" % len(ops), dict(collections.Counter(ops)))
print("op sequence:", " ".join(ops))
for d in it.get_input_details() + it.get_output_details():
    print(d["name"], d["shape"].tolist(), d["dtype"].__name__, d["quantization"])
