#!/usr/bin/env python3
"""Makes the stateful streaming-model goldens under tests/fixtures/stateful/ (not run in CI).

A small streaming keyword-spotting-like model: each invocation takes one frame of 10
features; two tf.Variable ring buffers keep the last frames of the input (3 x 10) and of
the first conv's output (2 x 16) across invocations, so each step runs a conv over time
(kernel 4, then 3) on the buffered frames, then a dense layer to 4 logits. The second
buffer starts from a non-zero constant, so the initial values CALL_ONCE assigns matter.
Converted with resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE):

- `kws_stream_f32.tflite`: float32;
- `kws_stream_int8.tflite`: int8 full-integer post-training quantization with int8 input
  and output and quantized variables (`_experimental_variable_quantization`: the state is
  int8 with the quantization of the assigned tensor).

Each is run for STEPS invocations on ONE LiteRT interpreter (reference kernels,
OpResolverType.BUILTIN_REF, one thread), so the state carries across steps, and written:

- `inputs_f32.npy`: float32 `[STEPS, 1, 10]`, one step per item (what `accelsim exec
  --input` takes as steps); `outputs_f32.bin`: every step's float32 output, step after step;
- `int8_step<k>.bin`: each step's raw int8 input; `outputs_int8.bin`: every step's int8
  output, step after step.

`tests/stateful_cli.rs` runs `accelsim exec` on them and requires the int8 outputs bit for
bit and the float outputs within 1e-6.

Needs tensorflow, ai-edge-litert and numpy in a throwaway venv outside the repo:

    /work/venv-tf/bin/python scripts/make_stateful_goldens.py

Made with tensorflow 2.21.0, ai-edge-litert 2.3.0, numpy 2.4.6, Python 3.11.7.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "stateful")
STEPS = 8
FEATURES = 10


class Stream(tf.Module):
    def __init__(self):
        super().__init__()
        r = np.random.default_rng(13)
        self.buf1 = tf.Variable(tf.zeros([1, 3, FEATURES]), trainable=False, name="buf1")
        init2 = (r.standard_normal([1, 2, 16]) * 0.5).astype(np.float32)
        self.buf2 = tf.Variable(init2, trainable=False, name="buf2")
        self.w1 = tf.constant((r.standard_normal([4, FEATURES, 16]) * 0.3).astype(np.float32))
        self.b1 = tf.constant((r.standard_normal([16]) * 0.1).astype(np.float32))
        self.w2 = tf.constant((r.standard_normal([3, 16, 8]) * 0.3).astype(np.float32))
        self.b2 = tf.constant((r.standard_normal([8]) * 0.1).astype(np.float32))
        self.w3 = tf.constant((r.standard_normal([8, 4]) * 0.4).astype(np.float32))
        self.b3 = tf.constant((r.standard_normal([4]) * 0.1).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 1, FEATURES], tf.float32)])
    def __call__(self, x):
        b1 = tf.concat([self.buf1, x], axis=1)  # [1, 4, F]: the last 4 frames
        self.buf1.assign(b1[:, 1:, :])
        h = tf.nn.relu(tf.nn.conv1d(b1, self.w1, stride=1, padding="VALID") + self.b1)  # [1, 1, 16]
        b2 = tf.concat([self.buf2, h], axis=1)  # [1, 3, 16]
        self.buf2.assign(b2[:, 1:, :])
        h2 = tf.nn.relu(tf.nn.conv1d(b2, self.w2, stride=1, padding="VALID") + self.b2)  # [1, 1, 8]
        return tf.matmul(tf.reshape(h2, [1, 8]), self.w3) + self.b3


def convert(m, int8):
    c = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    c.experimental_enable_resource_variables = True
    if int8:
        r = np.random.default_rng(7)

        def rep():
            for _ in range(64):
                yield [r.standard_normal([1, 1, FEATURES]).astype(np.float32)]

        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = rep
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
        c._experimental_variable_quantization = True
    return c.convert()


def run_steps(model, xs):
    """Invokes one interpreter once per step (the state carries over) and returns the outputs."""
    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF, num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for x in xs:
        it.set_tensor(i["index"], x)
        it.invoke()
        outs.append(it.get_tensor(o["index"]).copy())
    return outs, i


def main():
    os.makedirs(OUT, exist_ok=True)
    m = Stream()
    r = np.random.default_rng(21)
    xs = [r.standard_normal([1, 1, FEATURES]).astype(np.float32) for _ in range(STEPS)]

    f32 = convert(m, int8=False)
    open(os.path.join(OUT, "kws_stream_f32.tflite"), "wb").write(f32)
    outs, _ = run_steps(f32, xs)
    np.save(os.path.join(OUT, "inputs_f32.npy"), np.stack([x[0] for x in xs]))
    open(os.path.join(OUT, "outputs_f32.bin"), "wb").write(b"".join(y.astype("<f4").tobytes() for y in outs))
    # The state matters: the same input twice gives different outputs.
    again, _ = run_steps(f32, [xs[0], xs[0]])
    assert not np.array_equal(again[0], again[1]), "the state does not change the output"

    q = convert(m, int8=True)
    open(os.path.join(OUT, "kws_stream_int8.tflite"), "wb").write(q)
    _, det = run_steps(q, [])
    scale, zp = det["quantization"]
    xq = [np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8) for x in xs]
    outs, _ = run_steps(q, xq)
    for k, x in enumerate(xq):
        open(os.path.join(OUT, f"int8_step{k}.bin"), "wb").write(x.tobytes())
    open(os.path.join(OUT, "outputs_int8.bin"), "wb").write(b"".join(y.tobytes() for y in outs))
    for name in ["kws_stream_f32.tflite", "kws_stream_int8.tflite"]:
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
        tf.lite.experimental.Analyzer.analyze(model_path=os.path.join(OUT, name))
    print("int8 outputs per step:", [y.ravel().tolist() for y in outs])


if __name__ == "__main__":
    main()
