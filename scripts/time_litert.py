"""Times LiteRT on the same images as `accelsim exec` (the anchor of issue 16).

Usage: python scripts/time_litert.py MODEL.tflite BATCH.npy {xnnpack,builtin,ref}

Quantizes the float32 batch [N, ...] with the model input's scale and zero point, then
invokes a one-thread interpreter once per item and prints the user and wall time of that
loop (model loading excluded). Needs numpy and ai-edge-litert (a throwaway venv).
Run it interleaved with `scripts/time_exec.sh`, on the same machine; `scripts/bench_exec.py`
uses `invoke_loop` for its rounds.
"""
import resource
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

RESOLVERS = {
    "xnnpack": OpResolverType.AUTO,
    "ref": OpResolverType.BUILTIN_REF,
    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
}


def invoke_loop(model, batch, kind):
    """A one-thread interpreter of `kind` for `model` and a function that invokes it once per
    image of the float `batch` (quantized once, here) and returns (user, system, wall) seconds."""
    it = Interpreter(model_path=str(model), num_threads=1, experimental_op_resolver_type=RESOLVERS[kind])
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    s, z = i["quantization"]
    q = np.clip(np.round(batch / s + z), -128, 127).astype(np.int8)

    def run():
        r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
        for img in q:
            it.set_tensor(i["index"], img[None])
            it.invoke()
            it.get_tensor(o["index"])
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        return r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, time.time() - w0

    return run, len(q)


if __name__ == "__main__":
    m, x, kind = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
    run, n = invoke_loop(m, x, kind)
    user, _, wall = run()
    print(kind, "user %.3f s, wall %.3f s for %d images" % (user, wall, n))
