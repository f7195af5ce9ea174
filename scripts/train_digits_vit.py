#!/usr/bin/env python3
"""Trains the small ViT-style digit classifier of tests/fixtures/digits/ (issue 19, item 6) on
the real handwritten digits of ../shared/digits_dev (train split only; the calibration and
evaluation splits are never seen in training) and exports it as a float32 `.tflite`.

Run in a throwaway virtual environment outside the repository:

    python3 -m venv /work/venv-vit && /work/venv-vit/bin/pip install tensorflow numpy ai-edge-litert
    /work/venv-vit/bin/python scripts/train_digits_vit.py /work/shared/digits_dev tests/fixtures/digits

Made with TensorFlow 2.21.0 (Keras 3), numpy 2.4, ai-edge-litert 2.3.0, Python 3.11, on CPU.

The network (a 16x16x1 image read as 16 tokens of 16 pixels, one per row; logits out): a
token embedding (Dense 32) plus a learned position embedding, two pre-norm encoder blocks
(LayerNorm, two-head self-attention with head size 16 -- Q, K, V projections, Q.K^T / 4,
softmax over the keys, attention x V, an output projection -- and a residual; LayerNorm, an MLP
32 -> 64 (GELU) -> 32 and a residual), a final LayerNorm, the mean over tokens and Dense 10.
Written with plain tensor operations so that the converter emits the operators LiteRT runs
transformers with (FULLY_CONNECTED on rank-3 inputs, BATCH_MATMUL of two activations,
SOFTMAX, GELU, and LayerNorm as MEAN / SQUARED_DIFFERENCE / RSQRT arithmetic).

Seeded. Writes `digits_vit.tflite` and `digits_vit.json`: the float top-1 on the eval split
(Keras and the converted model under LiteRT's reference kernels) and, as a peer for
`accelsim quantize`, the top-1 of LiteRT's own full-integer int8 conversion (calibrated on
the calibration split) under its reference kernels.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

TOKENS, FEATURES, DIM, HEADS, MLP, BLOCKS = 16, 16, 64, 4, 128, 2


class PositionEmbedding(tf.keras.layers.Layer):
    def build(self, shape):
        self.pos = self.add_weight(shape=(1, TOKENS, DIM), initializer="random_normal", name="pos")

    def call(self, x):
        return x + self.pos


class Attention(tf.keras.layers.Layer):
    """Multi-head self-attention with explicit projections and matmuls."""

    def __init__(self, name):
        super().__init__(name=name)
        L = tf.keras.layers
        self.q, self.k, self.v, self.o = (L.Dense(DIM, name=n) for n in ("q", "k", "v", "o"))

    def heads(self, x):
        x = tf.reshape(x, [-1, TOKENS, HEADS, DIM // HEADS])
        return tf.transpose(x, [0, 2, 1, 3])

    def call(self, x):
        q, k, v = self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        s = tf.matmul(q, k, transpose_b=True) * (1.0 / np.sqrt(DIM // HEADS))
        a = tf.nn.softmax(s, axis=-1)
        o = tf.transpose(tf.matmul(a, v), [0, 2, 1, 3])
        return self.o(tf.reshape(o, [-1, TOKENS, DIM]))


def model():
    L = tf.keras.layers
    img = tf.keras.Input((16, 16, 1), batch_size=1, name="image")
    h = L.Reshape((TOKENS, FEATURES), name="tokens")(img)
    h = L.Dense(DIM, name="embed")(h)
    h = PositionEmbedding(name="pos")(h)
    for b in range(BLOCKS):
        y = L.LayerNormalization(epsilon=1e-5, name=f"ln{b}a")(h)
        h = L.Add(name=f"res{b}a")([h, Attention(f"attn{b}")(y)])
        y = L.LayerNormalization(epsilon=1e-5, name=f"ln{b}b")(h)
        y = L.Dense(MLP, activation="gelu", name=f"mlp{b}_up")(y)
        y = L.Dense(DIM, name=f"mlp{b}_down")(y)
        h = L.Add(name=f"res{b}b")([h, y])
    h = L.LayerNormalization(epsilon=1e-5, name="ln_f")(h)
    h = L.GlobalAveragePooling1D(name="mean")(h)
    out = L.Dense(10, name="logits")(h)
    return tf.keras.Model(img, out)


def top1(tfl, x, y, int8=False):
    interp = Interpreter(model_content=tfl, experimental_op_resolver_type=OpResolverType.BUILTIN_REF, num_threads=1)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    right = 0
    for img, label in zip(x, y):
        v = img[None]
        if int8:
            s, z = i["quantization"]
            v = np.clip(np.round(v / s) + z, -128, 127).astype(np.int8)
        interp.set_tensor(i["index"], v)
        interp.invoke()
        right += int(interp.get_tensor(o["index"])[0].argmax() == label)
    return right / len(y)


def main(data, out):
    tf.keras.utils.set_random_seed(19)
    x = np.load(f"{data}/train_x_nhwc.npy")
    y = np.load(f"{data}/train_y.npy")
    cx = np.load(f"{data}/calib_x_nhwc.npy")
    ex = np.load(f"{data}/eval_x_nhwc.npy")
    ey = np.load(f"{data}/eval_y.npy")
    m = model()
    # Trained at batch 32 through the same layers on an input without the exported model's
    # fixed batch of 1 (the layers, and so the weights, are shared).
    trainable = build_trainable(m)
    trainable.compile(optimizer=tf.keras.optimizers.Adam(2e-3),
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    trainable.fit(x, y, epochs=60, batch_size=32, verbose=0, shuffle=True)
    keras_top1 = float((m.predict(ex, batch_size=1, verbose=0).argmax(1) == ey).mean())
    tfl = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/digits_vit.tflite", "wb") as f:
        f.write(tfl)
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([v[None]] for v in cx)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    tfl8 = conv.convert()
    info = {
        "keras_eval_top1": keras_top1,
        "tflite_eval_top1": top1(tfl, ex, ey),
        "litert_int8_eval_top1": top1(tfl8, ex, ey, int8=True),
        "eval_images": int(len(ey)),
        "train_images": int(len(y)),
        "tensorflow": tf.__version__,
    }
    with open(f"{out}/digits_vit.json", "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info, indent=1))


def build_trainable(m):
    """The same layers on an input without a fixed batch (the exported model has batch 1)."""
    img = tf.keras.Input((16, 16, 1))
    by_name = {layer.name: layer for layer in m.layers}
    h = by_name["tokens"](img)
    h = by_name["embed"](h)
    h = by_name["pos"](h)
    for b in range(BLOCKS):
        y = by_name[f"ln{b}a"](h)
        h = by_name[f"res{b}a"]([h, by_name[f"attn{b}"](y)])
        y = by_name[f"ln{b}b"](h)
        y = by_name[f"mlp{b}_up"](y)
        y = by_name[f"mlp{b}_down"](y)
        h = by_name[f"res{b}b"]([h, y])
    h = by_name["ln_f"](h)
    h = by_name["mean"](h)
    return tf.keras.Model(img, by_name["logits"](h))


if __name__ == "__main__":
    main(*sys.argv[1:3])
