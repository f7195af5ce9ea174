"""Times LiteRT on the same images as `accelsim exec` (the anchor of issue 16).

Usage: python scripts/time_litert.py MODEL.tflite BATCH.npy {xnnpack,builtin,ref}

Quantizes the float32 batch [N, ...] with the model input's scale and zero point, then
invokes a one-thread interpreter once per item and prints the user and wall time of that
loop (model loading excluded). Needs numpy and ai-edge-litert (a throwaway venv).
Run it interleaved with `scripts/time_exec.sh`, on the same machine.
"""
import resource
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

m, x = sys.argv[1], np.load(sys.argv[2])
kind = sys.argv[3]
rt = {"xnnpack": OpResolverType.AUTO, "ref": OpResolverType.BUILTIN_REF, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}[kind]
it = Interpreter(model_path=m, num_threads=1, experimental_op_resolver_type=rt)
it.allocate_tensors()
i, o = it.get_input_details()[0], it.get_output_details()[0]
s, z = i['quantization']
q = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)
t0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime; w0 = time.time()
for img in q:
    it.set_tensor(i['index'], img[None]); it.invoke(); it.get_tensor(o['index'])
print(kind, "user %.3f s, wall %.3f s for %d images" % (resource.getrusage(resource.RUSAGE_SELF).ru_utime - t0, time.time() - w0, len(q)))
