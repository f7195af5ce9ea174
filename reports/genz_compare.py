#!/usr/bin/env python3
"""accelsim beside GenZ (the LLM inference roofline model on PyPI as `genz-llm`) on the
same transformers and the same hardware figures (issue 19's quality bar).

Usage: python3 reports/genz_compare.py ACCELSIM_BIN GENZ_PYTHON > reports/genz_compare.md

ACCELSIM_BIN is an accelsim binary; GENZ_PYTHON a Python with genz-llm installed (a
throwaway venv: `python3 -m venv /tmp/venv-genz && /tmp/venv-genz/bin/pip install
genz-llm==0.0.16`). For each preset the GenZ system is built from what `accelsim hw show`
prints: the 8x8 mode's MAC rate (GenZ's int8 runs at twice its `Flops`, so `Flops` is one
MAC per int8 op pair: GMAC/s / 1000 TFLOPS) and the DRAM bandwidth times its efficiency;
the on-chip memory is left unbounded in GenZ (it has no tiling), and everything is W8A8
with an 8-bit KV cache in both.
"""
import json
import re
import subprocess
import sys

ACCELSIM, GENZ_PY = sys.argv[1], sys.argv[2]

MODELS = [("gpt2", "gpt-2"), ("llama_1b", "meta-llama/Llama-3.2-1B")]
HWS = ["nvdla_full", "systolic32"]
CASES = [("prefill", 128, 1), ("decode", 1024, 1), ("decode", 1024, 8)]


def hw_figures(hw):
    text = subprocess.run([ACCELSIM, "hw", "show", hw], check=True, capture_output=True, text=True).stdout
    gmacs = re.search(r"precision\s+8x8\s+bits: \d+ MACs/cycle \(\w+; ([\d.]+) GMAC/s\)", text)
    dram = re.search(r"dram\s+([\d.]+) GB/s x (\d+)%", text)
    if not gmacs or not dram:
        sys.exit(f"cannot read the 8x8 rate or the DRAM bandwidth of {hw} from `accelsim hw show`:\n{text}")
    return float(gmacs.group(1)), float(dram.group(1)) * float(dram.group(2)) / 100.0


def accelsim(model, hw, phase, n, batch, sets=()):
    flag = ["--seq-len", str(n)] if phase == "prefill" else ["--kv-len", str(n), "--kv-bits", "8"]
    cmd = [ACCELSIM, "run", "--hw", hw, "--model", model, "--phase", phase, *flag, "--batch", str(batch),
           "--wbits", "8", "--abits", "8", "--no-accuracy", "--format", "json"]
    for s in sets:
        cmd += ["--set", s]
    j = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    t = j["totals"]
    return {"ms": t["total_s"] * 1e3, "macs": t["macs"], "dram": t["dram_read_bytes"] + t["dram_write_bytes"]}


GENZ = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
from GenZ import decode_moddeling, prefill_moddeling
cases = json.loads(sys.argv[1])
out = []
for c in cases:
    system = {"Flops": c["tflops"], "Memory_BW": c["gbps"], "Memory_size": 1024, "ICN": 1, "real_values": True}
    if c["phase"] == "prefill":
        r = prefill_moddeling(model=c["model"], batch_size=c["batch"], input_tokens=c["n"], system_name=system, bits="int8")
    else:
        r = decode_moddeling(model=c["model"], batch_size=c["batch"], input_tokens=c["n"], output_tokens=0, Bb=1,
                             system_name=system, bits="int8")
    s = r["summary_table"]
    mem = [k for k in s.columns if k.startswith("Total Data")][0]
    macs = [k for k in s.columns if k.startswith("MACs")][0]
    b = r["Runtime_breakdown"]
    # GenZ counts 2 ops per MAC and MiB.
    out.append({"ms": float(r["Latency"]), "mb": float(s[mem].values[0]) * 1.048576, "mmacs": float(s[macs].values[0]) / 2,
                "embedding_ms": float(b.Embedding)})
print(json.dumps(out))
"""


HEAD = """# accelsim beside GenZ on GPT-2 and Llama-3.2-1B

Issue 19's quality bar: per-token decode and prefill times side by side with a peer that models LLM
inference, on the same model and a hardware configuration both can describe, with the differences
explained. The peer is GenZ (`genz-llm` 0.0.16 on PyPI, Georgia Tech's LLM inference analyzer), a
roofline model: each operator takes max(compute / peak, bytes / bandwidth), every operand read once
(`intermediate_on_chip`), no tiling, no latency, no vector work. The hardware is two accelsim presets,
described to GenZ by their 8x8 MAC rate and their effective DRAM bandwidth (`accelsim hw show`); W8A8 and
an 8-bit KV cache in both. Made by `python3 reports/genz_compare.py target/release/accelsim
VENV/bin/python > reports/genz_compare.md` (VENV: a throwaway venv with `pip install genz-llm==0.0.16`).
GenZ's "MB" are MiB and its op counts two per MAC; both are converted here.
"""

TAIL = """
What the columns say, from the two models' definitions (nothing here is tuned to the other):

- **MACs.** Decode agrees exactly. In prefill GenZ has more: it costs the token embedding as a dense
  GEMM (S x d x vocab: 4.94 G MACs for GPT-2 at S = 128, 33.6 G for Llama-3.2-1B), which is exactly the
  difference; accelsim costs it as what it is, a gather of S rows of the table (its bytes only).
- **Decode** is memory-bound in both and lands within 8-18% at batch 1 (GenZ lower). GenZ's time is the
  bytes over the bandwidth; accelsim adds what a schedule pays on top: each layer's first load and last
  store that nothing overlaps, DRAM latency per transfer on the NVDLA preset (1.2 us), the norms,
  softmax and residual adds on the vector unit, and the LM head's tiles. Bytes moved agree within
  0.4-3.5% (accelsim also writes the new token's keys and values, the cache write).
- **Batched decode** (8 sequences): both read the weights once per step and each sequence's own cache;
  accelsim's step grows more (1.10-1.38x GenZ) because the per-sequence attention matmuls are small
  GEMMs (one query row against L cached positions per head) that it schedules one by one on the array,
  each with its own operand load and fill.
- **Prefill** is where they part: GenZ assumes every intermediate stays on chip and each weight is read
  once, i.e. unbounded on-chip memory; accelsim tiles every matmul into the preset's real buffers (512 KB
  CBUF on nvdla_full, three 64 KB SRAMs on systolic32) and re-reads the operand that does not fit. Where
  the tiles fit (GPT-2 on nvdla_full) the bytes agree; otherwise accelsim moves up to 2.5x GenZ's bytes
  and turns memory-bound at 128 tokens. Grown buffers take accelsim to GenZ's figure (table below):
  with 1 MiB SRAMs GPT-2's prefill on systolic32 lands a few percent below GenZ's time and moves less
  than GenZ's bytes by about the 38.6 MB token-embedding table that GenZ's embedding GEMM reads whole
  (accelsim gathers 128 rows of it), with the intermediates that fit kept on chip (on-chip reuse, on by
  default).
"""


def main():
    rows, genz_cases = [], []
    for hw in HWS:
        gmacs, gbps = hw_figures(hw)
        for model, genz_model in MODELS:
            for phase, n, batch in CASES:
                rows.append((hw, gmacs, gbps, model, phase, n, batch, accelsim(model, hw, phase, n, batch)))
                genz_cases.append({"model": genz_model, "phase": phase, "n": n, "batch": batch,
                                   "tflops": gmacs / 1000.0, "gbps": gbps})
    g = json.loads(subprocess.run([GENZ_PY, "-c", GENZ, json.dumps(genz_cases)], check=True, capture_output=True,
                                  text=True).stdout)
    print(HEAD)
    print("| hw (8x8 GMAC/s, DRAM GB/s) | model | phase | batch | accelsim ms | GenZ ms | of which GenZ's embedding and LM head ms | accelsim / GenZ | DRAM MB accelsim / GenZ | MACs G accelsim / GenZ |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (hw, gmacs, gbps, model, phase, n, batch, a), z in zip(rows, g):
        what = f"prefill S={n}" if phase == "prefill" else f"decode L={n}"
        print(f"| {hw} ({gmacs:.0f}, {gbps:.1f}) | {model} | {what} | {batch} | {a['ms']:.2f} | {z['ms']:.2f} | "
              f"{z['embedding_ms']:.2f} | {a['ms'] / z['ms']:.2f} | {a['dram'] / 1e6:.1f} / {z['mb']:.1f} | "
              f"{a['macs'] / 1e9:.2f} / {z['mmacs'] / 1e3:.2f} |")
    print(TAIL)
    print("GPT-2 prefill (S = 128) on systolic32 with its three SRAMs grown (`--set buffer.N.size_kib=...`):\n")
    print("| SRAM size each | accelsim ms | DRAM MB |")
    print("|---:|---:|---:|")
    for kib in (64, 256, 1024, 8192):
        a = accelsim("gpt2", "systolic32", "prefill", 128, 1, [f"buffer.{i}.size_kib={kib}" for i in range(3)])
        print(f"| {kib} KiB | {a['ms']:.2f} | {a['dram'] / 1e6:.1f} |")
    z = [r for r, (hw, *_rest) in zip(g, rows) if hw == "systolic32"][0]
    print(f"\nGenZ on the same array and bandwidth: {z['ms']:.2f} ms, {z['mb']:.1f} MB.")


if __name__ == "__main__":
    main()
