#!/usr/bin/env python3
"""Regenerates reports/nvdla_hw_vs_estimator.md: the NVDLA hardware model (`accelsim run
--hw nvdla_full`) against NVIDIA's estimator (`accelsim nvdla-estimate`) on ResNet-50, per
layer, with the reason each row differs. Standard library only.

    python3 reports/nvdla_hw_vs_estimator.py [ACCELSIM] > reports/nvdla_hw_vs_estimator.md

ACCELSIM defaults to target/release/accelsim (build it with `cargo build --release`).
"""

import json
import math
import subprocess
import sys

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/accelsim"
HW_CMD = [BIN, "run", "--hw", "accelerators/nvdla_full.toml", "--model", "resnet50", "--format", "json"]
EST_CMD = [BIN, "nvdla-estimate", "--macs", "2048", "--cbuf-kib", "512", "--gbps", "20", "--model", "resnet50"]
SDP_PER_CYCLE = 16  # accelerators/nvdla_full.toml [vector] elements_per_cycle
PRIMER_FPS = 269.0  # nvdla.org/primer.html, the figure being compared against (not an input)


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def estimator_rows(text):
    rows, total = {}, None
    for line in text.splitlines():
        f = line.split()
        if len(f) == 6 and f[0] != "layer":
            rows[f[0]] = {"mac": float(f[1]), "dram": int(f[2]), "cycles": float(f[3]), "bound": f[4]}
        elif line.startswith("total") or "frames/s" in line:
            total = line.strip()
    return rows, total


def elements(shape):
    return math.prod(shape)


def reason(l, layers):
    op, name = l["op"], l["name"]
    if l.get("fused_into"):
        unit = "PDP pooling fed by SDP" if op == "mean" else "SDP element-wise, operand read by SDP's DMA"
        return f"runs on the fly in {l['fused_into']} ({unit}): no pass of its own"
    if op == "maxpool":
        return ("offline PDP pass: conv1 runs in image-input mode and the conv + pooling pipeline is for "
                "direct convolution only; the estimator fuses it into conv1")
    if op in ("softmax",):
        return "SDP pass (estimator has no row)"
    notes = []
    sdp = math.ceil(elements(l["shape"]) / SDP_PER_CYCLE)
    if op.startswith("conv") and l["compute_cycles"] == sdp:
        notes.append("SDP-bound: 16 output elements/cycle from CACC")
    if "+add" in op:
        notes.append("fused residual add: + second operand read, no intermediate round trip (estimator: conv + elwise)")
    if "+mean" in op:
        notes.append("+ global mean on PDP")
    if name == "conv1":
        notes.append("image-in post-extension (2 kernel rows x 7 x 3 ch per atomic op) vs estimator folding stride into channels")
    elif op == "fc":
        notes.append("both DRAM-bound on 2 MB of weights; hardware adds 16-cycle weight load (6.25%)")
    elif name.endswith("_conv2") and "_0_" in name and not name.startswith("layer1"):
        notes.append("stride 2: no Winograd in hardware; estimator applies it")
    elif name.endswith("_conv2"):
        notes.append("Winograd 3x3 s1 (2.25x) in both")
    elif not notes:
        notes.append("granularities: K rounded to atomic-K 32 / C to 64 vs estimator 128 / 16; DRAM overlap bank by bank")
    return "; ".join(notes)


def main():
    hw = json.loads(run(HW_CMD))
    est, est_total = estimator_rows(run(EST_CMD))
    layers = hw["layers"]
    t = hw["totals"]
    cycles = t["cycles"]
    fps = 1.0 / t["total_s"]
    est_cycles = sum(r["cycles"] for r in est.values())
    est_fps = 1e9 / est_cycles
    out = []
    w = out.append
    w("# NVDLA hardware model vs NVIDIA's estimator: ResNet-50, nv_full (2048 int8 MACs, 512 KB CBUF, 20 GB/s, 1 GHz)")
    w("")
    w("Generated with `python3 reports/nvdla_hw_vs_estimator.py > reports/nvdla_hw_vs_estimator.md`, which runs")
    w("")
    w("    " + " ".join(["accelsim"] + HW_CMD[1:]))
    w("    " + " ".join(["accelsim"] + EST_CMD[1:]))
    w("")
    w("| | cycles | ms | frames/s |")
    w("|---|---|---|---|")
    w(f"| hardware model (SDP/PDP on-the-fly fusion) | {cycles:,} | {cycles / 1e6:.2f} | {fps:.0f} |")
    w(f"| estimator on accelsim's ResNet-50 graph | {round(est_cycles):,} | {est_cycles / 1e6:.2f} | {est_fps:.0f} |")
    w(f"| primer / workbook (its own layer list) | - | {1e3 / PRIMER_FPS:.2f} | {PRIMER_FPS:.0f} |")
    w("")
    w(f"The hardware model lands at {100 * (fps / PRIMER_FPS - 1):+.1f}% of the primer's 269 frames/s (the requirement is")
    w("within 25%). No constant was fitted: every number is a property of the configuration (atomic-C 64,")
    w("atomic-K 32, stripe 32, 16-cycle weight load, Winograd 2.25x on 3x3 stride 1, CBUF 16 banks x 32 KB,")
    w("SDP 16 and PDP 8 elements/cycle, PDP share line buffer 7 KB, 20 GB/s DRAM, 1200-cycle latency once per pass).")
    w("")
    w("## Time by operator (hardware model)")
    w("")
    groups = {}
    for l in layers:
        key = l["op"]
        groups[key] = groups.get(key, 0) + l["cycles"]
    w("| op (row) | cycles | share |")
    w("|---|---|---|")
    for k, v in sorted(groups.items(), key=lambda kv: -kv[1]):
        share = 100 * v / cycles
        w(f"| {k} | {v:,} | {'<1' if share < 1 else round(share)}% |")
    fused = [l for l in layers if l.get("fused_into")]
    w("")
    w(f"{len(fused)} rows run on the fly inside the convolution before them and cost nothing of their own")
    w("(`bound` = fused; JSON `fused_into` names the conv). Totals are the sums of the rows.")
    w("")
    w("## Why the two differ")
    w("")
    w(DIFFERENCES)
    w("")
    w("## Per-layer rows")
    w("")
    w("Estimator columns are `nvdla-estimate`'s (MAC cycles unrounded, DRAM cycles rounded up). Rows with `-`")
    w("have no estimator row (fused or unsupported operators).")
    w("")
    w("| layer | op | hw cycles | hw compute | hw bound | hw DRAM KB | est MAC cycles | est DRAM cycles | est cycles | est bound | reason |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for l in layers:
        e = est.get(l["name"])
        kb = (l["dram_read_bytes"] + l["dram_write_bytes"]) / 1000
        ecols = (f"{e['mac']:.0f} | {e['dram']} | {e['cycles']:.0f} | {e['bound']}" if e else "- | - | - | -")
        w(f"| {l['name']} | {l['op']} | {l['cycles']} | {l['compute_cycles']} | {l['bound']} | {kb:.0f} | {ecols} | {reason(l, layers)} |")
    w("")
    if est_total:
        w(f"Estimator: {est_total}")
    w("")
    w("## Presets and networks (hardware model)")
    w("")
    w("`accelsim run --hw PRESET --model NET --format json` for each preset and network; fused = rows")
    w("that run on the fly inside a conv.")
    w("")
    w("| network | preset | cycles | frames/s | fused rows | DRAM MB (rd + wr) |")
    w("|---|---|---|---|---|---|")
    for net in NETS:
        for preset in PRESETS:
            r = json.loads(run([BIN, "run", "--hw", preset, "--model", net, "--format", "json"]))
            tt = r["totals"]
            nf = sum(1 for l in r["layers"] if l.get("fused_into"))
            mb = (tt["dram_read_bytes"] + tt["dram_write_bytes"]) / 1e6
            w(f"| {net} | {preset} | {tt['cycles']:,} | {1 / tt['total_s']:.1f} | {nf} | {mb:.1f} |")
    print("\n".join(out))


NETS = ["resnet50", "resnet18", "mnv1"]
PRESETS = ["nvdla_full", "nvdla_large", "nvdla_medium_1024", "nvdla_medium_512", "nvdla_small_256", "nvdla_small"]


DIFFERENCES = """\
- **On-the-fly fusion (both fuse, with different rules).** SDP takes the conv output from CACC on the
  fly and adds the residual's second cube read by its own DMA (unit description, SDP "Element-Wise
  Layer": online mode; NVIDIA's compiler runs it in X1 per-element mode), so each residual add costs
  its operand read instead of a separate pass (write + two reads + write). The hardware model fuses an
  add into the later of its two convs when that conv's output has no other consumer, the other operand
  already exists, and the conv is not Winograd (the compiler rejects EW after Winograd). PDP takes SDP's
  output when its 7 KB share line buffer holds `width_out x f(ceil(kh/sh)) x 32 kernels x 14 bits`, and
  only after a direct convolution of batch 1 (the unit description's pipeline table). ResNet-50's
  max-pool follows conv1, which runs in image-input mode, so it stays an offline PDP pass in the
  hardware model while the estimator folds it into conv1; the global mean fuses into layer4_2_conv3.
- **SDP throughput.** Every conv's output passes SDP at 16 elements/cycle (nv_full X1/X2); 1x1 convs
  with 64 input channels produce 32 outputs per atomic op and are SDP-bound (e.g. layer1_0_conv1:
  12,544 SDP cycles vs 6,272 MAC cycles). The estimator assumes post-processing fully overlapped.
- **Granularities.** Hardware rounds input channels to atomic-C (64) per atomic op and kernels to
  atomic-K (32); a stripe costs max(pixels, 16) cycles. The estimator rounds channels to 16 and kernels
  to 128 whatever the array.
- **Winograd.** Hardware: only 3x3 stride 1 at 2.25x; the strided `layerN_0_conv2` run direct. The
  estimator applies Winograd to every 3x3 layer.
- **First layer.** Hardware: image-in mode with channel post-extension packs 2 kernel rows x 7 taps x 3
  channels = 42 of the 64 atomic-C slots (CSC_D_POST_Y_EXTENSION), 4 row-groups per output. The
  estimator folds the stride into channels.
- **DRAM.** Both use 20 GB/s at full efficiency (the primer's figure; `dram.efficiency` is settable).
  The hardware model tiles CBUF between data and weights and re-reads the operand that does not fit,
  overlaps fetch with compute bank by bank and pays the 1200-cycle latency once per pass. The estimator
  takes max(DRAM, MAC) per layer with no fill time and re-reads inputs per weight pass, which is why its
  DRAM cycles are larger on the late, weight-heavy layers.
- **FC.** Both DRAM-bound on its 2 MB of weights (~100k cycles); the hardware's 16-cycle weight load
  (6.25% MAC efficiency, pinned in tests/nvdla_hw.rs) is hidden under the weight fetch."""


if __name__ == "__main__":
    main()
