#!/usr/bin/env python3
"""Trains the small float digit classifier of tests/fixtures/digits/ (issue 14) on the real
handwritten digits of ../shared/digits_dev (train split only; calibration and evaluation
splits are never seen in training) and exports it as a float32 `.tflite`.

Run in a throwaway virtual environment outside the repository:

    python3 -m venv /work/venv-tf && /work/venv-tf/bin/pip install tensorflow numpy
    /work/venv-tf/bin/python scripts/train_digits.py /work/shared/digits_dev tests/fixtures/digits
    /work/venv-tf/bin/python scripts/train_digits.py /work/shared/digits_dev tests/fixtures/digits relu6

Made with TensorFlow 2.21.0 (Keras 3.15.1), numpy 2.4.6, Python 3.11, on CPU.

The network (16x16x1 input, logits output, no softmax, so that arg-max ties of a quantized
softmax do not blur top-1): Conv 3x3x16 ReLU, DepthwiseConv 3x3 ReLU, Conv 1x1x32 ReLU,
MaxPool 2x2, Conv 3x3x32 stride 2 ReLU, Flatten, (Dropout in training), Dense 10. Seeded; the float top-1 on the
eval split is printed and written to `digits_cnn.json`. With a third argument `relu6` every ReLU is
a ReLU6 (as in MobileNets) and the files are `digits_cnn_relu6.*` (issue 15: the evidence for CLE's
ReLU6 handling; `reports/quant_defaults.sh`).

With a third argument `dynamic` the same ReLU network (same seed) is converted with LiteRT's
dynamic-range quantization (`Optimize.DEFAULT`, no calibration data: weights of 1024 or more
elements -- conv3 and the logits -- become per-channel int8 and run LiteRT's hybrid kernels,
the smaller ones stay float) to `digits_cnn_dynamic.tflite`, and LiteRT's reference kernels'
logits on the 300 evaluation images are written to `digits_cnn_dynamic_eval_logits.npy`
(`tests/hybrid.rs` compares accelsim's bit for bit).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf


def main(data, out, variant=""):
    act = "relu6" if variant == "relu6" else "relu"
    stem = {"relu6": "digits_cnn_relu6", "dynamic": "digits_cnn_dynamic"}.get(variant, "digits_cnn")
    tf.keras.utils.set_random_seed(14)
    x = np.load(f"{data}/train_x_nhwc.npy")
    y = np.load(f"{data}/train_y.npy")
    ex = np.load(f"{data}/eval_x_nhwc.npy")
    ey = np.load(f"{data}/eval_y.npy")
    L = tf.keras.layers
    m = tf.keras.Sequential([
        tf.keras.Input((16, 16, 1), batch_size=1, name="image"),
        L.Conv2D(16, 3, padding="same", activation=act, name="conv1"),
        L.DepthwiseConv2D(3, padding="same", activation=act, name="dw2"),
        L.Conv2D(32, 1, activation=act, name="pw2"),
        L.MaxPool2D(2, name="pool"),
        L.Conv2D(32, 3, strides=2, padding="same", activation=act, name="conv3"),
        L.Flatten(name="flatten"),
        L.Dropout(0.3, name="dropout"),
        L.Dense(10, name="logits"),
    ])
    m.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    m.fit(x, y, epochs=80, batch_size=32, verbose=0, shuffle=True)
    keras_top1 = float((m.predict(ex, batch_size=64, verbose=0).argmax(1) == ey).mean())
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    if variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    tfl = conv.convert()
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/{stem}.tflite", "wb") as f:
        f.write(tfl)
    # LiteRT's reference kernels (the hybrid kernels' reference forms) for the dynamic model.
    resolver = tf.lite.experimental.OpResolverType
    kind = resolver.BUILTIN_REF if variant == "dynamic" else resolver.AUTO
    interp = tf.lite.Interpreter(model_content=tfl, experimental_op_resolver_type=kind, num_threads=1)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    logits = []
    for img in ex:
        interp.set_tensor(i, img[None])
        interp.invoke()
        logits.append(interp.get_tensor(o)[0].copy())
    logits = np.array(logits, np.float32)
    if variant == "dynamic":
        np.save(f"{out}/{stem}_eval_logits.npy", logits)
    tflite_top1 = float((logits.argmax(1) == ey).mean())
    info = {"keras_eval_top1": keras_top1, "tflite_eval_top1": tflite_top1, "eval_images": int(len(ey)),
            "train_images": int(len(y)), "tensorflow": tf.__version__}
    with open(f"{out}/{stem}.json", "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main(*sys.argv[1:4])
