#!/usr/bin/env python3
"""On-chip activation reuse across layers (issue 21 item 3): DRAM bytes, latency and energy of
MobileNet-v1 and ResNet-50 on each preset family, and AlexNet at batch 4 on eyeriss, with
`--no-onchip-reuse` (every output through DRAM: the numbers before reuse) and with reuse (the
default). Usage: python3 reports/onchip_reuse.py [path/to/accelsim] > reports/onchip_reuse.md"""
import json
import subprocess
import sys

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/accelsim"
CASES = [(hw, m, 1) for hw in ["systolic32", "mac8", "nvdla_full", "nvdla_small", "dsp", "eyeriss"]
         for m in ["mnv1", "resnet50"]] + [("eyeriss", "alexnet", 4)]


def run(hw, model, batch, extra):
    cmd = [BIN, "run", "--hw", hw, "--model", model, "--batch", str(batch), "--format", "json", "--no-accuracy"]
    d = json.loads(subprocess.run(cmd + extra, check=True, capture_output=True, text=True).stdout)
    t = d["totals"]
    kept = [o for o in d["on_chip"] if not o["fused"]]
    fused = [o for o in d["on_chip"] if o["fused"]]
    return t["dram_read_bytes"] + t["dram_write_bytes"], t["latency_s"], t["energy_pj"], kept, fused


print("# On-chip activation reuse across layers\n")
print("Made by `python3 reports/onchip_reuse.py target/release/accelsim > reports/onchip_reuse.md`; each row is")
print("`accelsim run --hw HW --model M --batch B --format json --no-accuracy` without and with")
print("`--no-onchip-reuse` (off = every layer's output through DRAM, the numbers before reuse; w8a8,")
print("`--objective latency`). Kept: tensors held in the buffer between passes; fused: NVDLA's fused")
print("intermediates (on chip either way).\n")
print("| hw | model | batch | DRAM MB off | DRAM MB on | latency ms off | latency ms on | energy uJ off | energy uJ on | kept | fused |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for hw, m, b in CASES:
    off = run(hw, m, b, ["--no-onchip-reuse"])
    on = run(hw, m, b, [])
    pct = lambda a, o: f"{(a / o - 1) * 100:+.1f}%" if o else ""
    print(f"| {hw} | {m} | {b} | {off[0] / 1e6:.3f} | {on[0] / 1e6:.3f} ({pct(on[0], off[0])}) | "
          f"{off[1] * 1e3:.3f} | {on[1] * 1e3:.3f} ({pct(on[1], off[1])}) | {off[2] / 1e6:.1f} | {on[2] / 1e6:.1f} | "
          f"{len(on[3])} | {len(on[4])} |")
    if hw == "eyeriss" and m == "alexnet":
        names = ", ".join(f"{o['tensor']} ({o['bytes']} B)" for o in on[3])
        print(f"\nAlexNet at batch 4 on eyeriss: no CONV1-5 output fits the 108 KB GLB beside its readers' tiles, so "
              f"CONV1-5 are unchanged; what stays on chip is the tail: {names}.")
