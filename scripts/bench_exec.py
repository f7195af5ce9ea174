"""Issue 16's performance bar, side by side on this machine: `accelsim exec` against LiteRT.

Usage: python scripts/bench_exec.py ACCELSIM_BIN [MODEL.tflite ...] [--rounds N] [--threads T]

Needs numpy and ai-edge-litert (a throwaway venv). MODELs default to the shared MobileNet-v1
int8 model; scripts/mnv2/make_tflite.py makes a MobileNet-v2 one (the same int8 input).
The batch is the shared MobileNet-v1 evaluation images, eight times (64 images).

Per model, N rounds, each running in turn (so a change of the machine's load reaches both):
  - accelsim exec, 64 images, --threads 1: CPU time (user + sys) of the whole process, which
    includes importing the model, packing its weights and reading and quantizing the .npy;
  - LiteRT with its default delegate (XNNPACK), one thread: CPU time of its invoke loop over
    the same 64 int8 images (loading the model and quantizing the images excluded);
  - accelsim exec, 64 images, --threads T (default 2) and --threads 1: wall time of each;
  - accelsim exec, one image, --threads 1: CPU time of the whole process.
Prints every round, then the medians of the rounds' ratios (a shared machine's load changes
within minutes: quote these, not absolute times), the fastest run of each side, which
instruction set accelsim's dispatcher chose, and whether the outputs of 1 and T threads are
byte-identical.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from time_litert import invoke_loop  # noqa: E402  (the same loop time_litert.py times)

ROOT = Path(__file__).resolve().parent.parent / ".." / "shared" / "tflite"


def child(cmd):
    """Runs `cmd`; returns (CPU seconds of the child, wall seconds). Fails loudly."""
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter()
        # Standard error into a file, not a pipe: a child writing more than a pipe holds
        # would block before `wait4` returned.
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        errf.seek(0)
        err = errf.read().decode(errors="replace")
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{err}")
    return ru.ru_utime + ru.ru_stime, wall


def main():
    args = sys.argv[1:]
    rounds, threads = 9, 2
    for flag in ("--rounds", "--threads"):
        if flag in args:
            k = args.index(flag)
            value = int(args[k + 1])
            del args[k : k + 2]
            if flag == "--rounds":
                rounds = value
            else:
                threads = value
    if not args:
        sys.exit(__doc__)
    exe, models = args[0], [Path(m) for m in args[1:]] or [ROOT / "models" / "mobilenet_v1_int8.tflite"]
    images = np.load(ROOT / "data" / "mobilenet_v1_eval_float_inputs.npy")
    batch = np.concatenate([images] * (64 // len(images) + 1))[:64]
    tmp = Path(tempfile.mkdtemp())
    np.save(tmp / "b64.npy", batch)
    np.save(tmp / "one.npy", batch[:1])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    shown = subprocess.run(
        [exe, "exec", "--model", str(models[0]), "--input", str(tmp / "one.npy"), "--output", os.devnull, "--show-kernels"],
        capture_output=True,
        text=True,
    )
    print(f"CPU: {cpu}, {os.cpu_count()} logical cores")
    print(shown.stderr.strip() or f"(exec --show-kernels failed: {shown.returncode})")
    for model in models:
        run_litert, _ = invoke_loop(model, batch, "xnnpack")
        exec_ = lambda x, t, out=os.devnull: [exe, "exec", "--model", str(model), "--input", str(tmp / x), "--output", str(out), "--threads", str(t)]
        rows = []
        print(f"\n{model.name}: round, accelsim 64 images CPU s, XNNPACK loop CPU s, ratio, "
              f"wall 1 / {threads} threads s, speedup, one-image process CPU ms")
        for r in range(rounds):
            a, _ = child(exec_("b64.npy", 1))
            user, system, _ = run_litert()
            x = user + system
            _, w1 = child(exec_("b64.npy", 1, tmp / "o1.bin"))
            _, wt = child(exec_("b64.npy", threads, tmp / "ot.bin"))
            one, _ = child(exec_("one.npy", 1))
            rows.append((a, x, a / x, w1, wt, w1 / wt, one * 1e3))
            print(f"  {r + 1}: {a:.3f}  {x:.3f}  {a / x:.2f}  {w1:.3f} / {wt:.3f}  {w1 / wt:.2f}  {one * 1e3:.1f}")
        same = (tmp / "o1.bin").read_bytes() == (tmp / "ot.bin").read_bytes()
        med = lambda k: statistics.median(row[k] for row in rows)
        print(f"  per image, one thread, accelsim / XNNPACK: median ratio {med(2):.2f} "
              f"(fastest runs {min(r[0] for r in rows) / 64e-3:.2f} / {min(r[1] for r in rows) / 64e-3:.2f} ms per image)")
        print(f"  {threads} threads: median speedup {med(5):.2f}x; outputs of 1 and {threads} threads "
              f"{'byte-identical' if same else 'DIFFER'}")
        print(f"  one-image process: median {med(6):.1f} ms CPU (fastest {min(r[6] for r in rows):.1f} ms)")


if __name__ == "__main__":
    main()
