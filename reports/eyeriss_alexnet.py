#!/usr/bin/env python3
"""AlexNet CONV1-5 at batch 4 on the `eyeriss` preset against the Eyeriss chip (JSSC 2017).

Usage: python3 reports/eyeriss_alexnet.py [path/to/accelsim] > reports/eyeriss_alexnet.md
Runs `accelsim run --hw eyeriss --model alexnet --batch 4 --wbits 16 --abits 16
--objective energy --format json` and prints the markdown report (tables and notes).
"""
import json
import subprocess
import sys

ACCELSIM = sys.argv[1] if len(sys.argv) > 1 else "target/release/accelsim"
ARGS = ["run", "--hw", "eyeriss", "--model", "alexnet", "--batch", "4", "--wbits", "16", "--abits", "16",
        "--objective", "energy", "--no-accuracy", "--format", "json"]
CONVS = ["conv1", "conv2", "conv3", "conv4", "conv5"]

# Chen et al., JSSC 52(1), 2017, Table V ("Performance breakdown of the five CONV layers in AlexNet at 1 V,
# batch 4, core and link clocks at 200 and 60 MHz"). The table is an image in every copy read for this
# report; these per-layer figures were recalled by the project lead and are NOT verified against it. The text
# of the paper (Sec. VI-A) confirms their totals: 34.7 frames/s (4 frames in 115.3 ms) and 15.4 MB of DRAM
# access per batch; and the text's "only 88% of the PEs are active" is the time-weighted mean of these PE
# counts over these latencies (88.1%).
PAPER_LATENCY_MS = [20.9, 41.9, 23.6, 18.4, 10.5]
PAPER_DRAM_MB = [5.0, 4.0, 3.0, 2.1, 1.3]
# Derived from the mapping the paper's text describes (Sec. IV-A, Fig. 5): CONV1's 11x55 set strip-mined to
# 11x7 with t = 2 sets (154 PEs); CONV2's 5x27 set in segments of 5x14 and 5x13 (135); CONV3's 3x13 set with
# t = 4 and CONV4-5's with r = t = 2 (4 sets, 156).
PAPER_ACTIVE_PES = [154, 135, 156, 156, 156]
CLOCK_HZ = 200e6
# Compulsory DRAM bytes at 16 bits, batch 4: ifmap + weights (+ biases) + ofmap of each layer of the two-group
# AlexNet (227x227): every value once.
COMPULSORY_MB = [2 * (4 * 227 * 227 * 3 + 96 * 3 * 121 + 96 + 4 * 55 * 55 * 96) / 1e6,
                 2 * (4 * 27 * 27 * 96 + 256 * 48 * 25 + 256 + 4 * 27 * 27 * 256) / 1e6,
                 2 * (4 * 13 * 13 * 256 + 384 * 256 * 9 + 384 + 4 * 13 * 13 * 384) / 1e6,
                 2 * (4 * 13 * 13 * 384 + 384 * 192 * 9 + 384 + 4 * 13 * 13 * 384) / 1e6,
                 2 * (4 * 13 * 13 * 384 + 256 * 192 * 9 + 256 + 4 * 13 * 13 * 256) / 1e6]


def err(ours, paper):
    return 100.0 * (ours - paper) / paper


def main():
    out = subprocess.run([ACCELSIM] + ARGS, check=True, capture_output=True, text=True).stdout
    run = json.loads(out)
    layers = {l["name"]: l for l in run["layers"]}
    rows = []
    for i, name in enumerate(CONVS):
        l = layers[name]
        proc_ms = (l["compute_cycles"] + l["port_cycles"]) / CLOCK_HZ * 1e3
        total_ms = l["latency_s"] * 1e3
        dram_mb = (l["dram_read_bytes"] + l["dram_write_bytes"]) / 1e6
        floor_ms = l["macs"] / (l["active_pes"] * CLOCK_HZ) * 1e3
        rows.append((name, l["active_pes"], floor_ms, proc_ms, total_ms, dram_mb, i))
    print("# Eyeriss v1 on AlexNet CONV1-5 (batch 4): accelsim vs the chip (JSSC 2017 Table V)")
    print()
    print("Made by `python3 reports/eyeriss_alexnet.py target/release/accelsim > reports/eyeriss_alexnet.md`")
    print("(run by `reports/make_examples.sh`), which runs")
    print()
    print("```")
    print("accelsim " + " ".join(ARGS))
    print("```")
    print()
    print("on the `eyeriss` preset (`accelerators/eyeriss.toml`: published parameters only, each with its source;")
    print("nothing chosen to match the table) and the `alexnet` built-in (the two-group original, 227x227).")
    print("`--objective energy`: the chip's mappings are chosen for energy (JSSC 2017 Sec. IV-A, by the")
    print("optimization of ISCA 2016); with `latency` the schedule search takes tilings whose extra DRAM")
    print("traffic hides under compute, which changes no compute figure below.")
    print()
    print("## Per layer")
    print()
    print("| layer | active PEs (ours / paper) | MAC floor ms | processing ms (ours) | latency ms (ours) | latency ms (paper) | processing vs paper | latency vs paper | DRAM MB (ours) | compulsory MB | DRAM MB (paper) | error |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    tot = [0.0] * 5
    for name, pes, floor_ms, proc_ms, total_ms, dram_mb, i in rows:
        pl, pd = PAPER_LATENCY_MS[i], PAPER_DRAM_MB[i]
        print(f"| {name} | {pes} / {PAPER_ACTIVE_PES[i]} | {floor_ms:.1f} | {proc_ms:.1f} | {total_ms:.1f} | {pl} | "
              f"{err(proc_ms, pl):+.0f}% | {err(total_ms, pl):+.0f}% | {dram_mb:.2f} | {COMPULSORY_MB[i]:.2f} | {pd} | "
              f"{err(dram_mb, pd):+.0f}% |")
        tot = [tot[0] + floor_ms, tot[1] + proc_ms, tot[2] + total_ms, tot[3] + dram_mb, tot[4] + COMPULSORY_MB[i]]
    pl, pd = sum(PAPER_LATENCY_MS), sum(PAPER_DRAM_MB)
    print(f"| total | | {tot[0]:.1f} | {tot[1]:.1f} | {tot[2]:.1f} | {pl:.1f} | {err(tot[1], pl):+.0f}% | "
          f"{err(tot[2], pl):+.0f}% | {tot[3]:.2f} | {tot[4]:.2f} | {pd:.1f} | {err(tot[3], pd):+.0f}% |")
    print()
    print("- *MAC floor*: MACs / (active PEs x 200 MHz), every active PE doing one MAC per cycle.")
    print("- *processing* (ours): compute + buffer-port cycles, DRAM fully overlapped -- what the paper's")
    print("  *Processing Latency* column measures (\"the performance when DRAM traffic is fully overlapped")
    print("  with processing\", Sec. VI-A). Those per-layer values were not available to compare with.")
    print("- *latency* (ours): with DRAM stalls. The preset's global buffer is single-buffered, because the")
    print("  chip \"does not perform processing while it is loading ifmap from DRAM or dumping ofmaps to DRAM\"")
    print("  (Sec. VI-A), over the 64-bit link at Table V's 60 MHz link clock (0.48 GB/s). That is the")
    print("  measured *Latency* column, which the paper figures here are (their sum is the text's 34.7 fps).")
    print("- *DRAM*: bytes read + written. The paper's are run-length compressed (every fmap except CONV1's")
    print("  input; filters are not compressed, Sec. IV-B); accelsim's are not (the cost model reads no tensor")
    print("  values, and the built-in AlexNet has no trained weights to produce real zeros).")
    print()
    print(NOTES)


NOTES = """## Where the paper's figures come from

The per-layer Table V figures (latency, DRAM) were recalled by the project lead and could not be checked: in
every copy of the paper found (the JSSC text, slides, paper reviews), Table V is an image. What the text of
JSSC 2017 Sec. VI-A does confirm: 34.7 frames/s at batch 4 (115.3 ms per batch, the sum of the recalled
latencies), 15.4 MB of DRAM access per batch (0.0029 access/MAC; the sum of the recalled DRAM figures), and
"only 88% of the PEs are active" (the recalled latencies weight the PE counts above to 88.1%). The active PEs
follow from the mapping the text describes (Sec. IV-A and Fig. 5). The *Processing Latency* column (DRAM
overlapped) is not known here; it lies between the MAC floor and the measured latency.

## The bar, layer by layer (nothing tuned)

The issue's bar (processing latency within 20%, total DRAM within 30%) cannot be checked as posed: the paper's
processing latencies are not available, and the available latencies include DRAM time. Ours against what is
known:

- **Processing vs measured latency.** Ours must not exceed the measured latency (which adds DRAM time to
  processing). CONV1-4 are 2-14% below it. CONV1 leaves the chip 3 ms for DRAM time (its uncompressed input
  image alone is 1.2 MB, 2.6 ms at 0.48 GB/s); CONV2 leaves 0.7 ms, less than its 4.0 MB would take without
  overlap, so ours is likely slow there too, or the chip hides more of CONV2's traffic (filters are
  preloaded). **CONV5 is 6% above it**: our compute model is at least that slow there.
  The likely cause is the per-pass ramp we count in full: every pass refills the filter scratchpads over the
  64-bit filter GIN (576 cycles) and waits 5 rows of one position (960 cycles) before the column's psums
  flow, 13% of a CONV5 pass; the chip's PEs start "as soon as any fmaps or psums arrive" behind I/O FIFOs
  (Sec. III-B, V-C), so part of it overlaps. The chip's own mapping parameters (Table III, also an image) are
  not known either: ours picks p = 16, q = 4 and two-by-two stacked sets for CONV3-5, which the text's r = t = 2
  for CONV4-5 agrees with.
- **Latency with DRAM** overshoots on every layer (+21% to +51%) for two reasons the paper gives: (1) the
  chip preloads the next pass's filters while it computes (Sec. V-A) and stalls only for ifmap loads and
  ofmap dumps, while the preset's single-buffered GLB stalls for every transfer; (2) our DRAM bytes are not
  run-length compressed (below), and at 0.48 GB/s each extra MB costs 2.1 ms.
- **DRAM.** CONV1 (-4%) and CONV2 (+13%) are within the bar; CONV3-5 miss (+69% to +87%) and the total
  misses (+33%). CONV3-5's ifmaps are the ReLU outputs of deep layers: the paper measures almost 40% zeros
  in CONV2's ifmaps and about 75% at CONV5, and RLC saves "nearly 75%" of CONV5's fmap traffic (Sec. IV-B).
  Their weights are most of the compulsory bytes and are not compressed, so the gap is the fmaps plus the
  re-reads our schedule search makes in a 108 KB buffer holding all three operands (the chip streams filters
  through its own 8 kB). accelsim does not model RLC: it would need the zero statistics of real activations
  (a functional run of a trained AlexNet), not a guessed sparsity.

With `--objective latency` instead, CONV1 and CONV2 run their 4 images together (processing 14.9 and 35.3 ms,
more DRAM bytes: 5.99 and 5.63 MB); the energy objective runs them image by image (the pipeline's batch rule,
`pipeline::run_batch`), each image refilling the filter scratchpads. CONV3-5 are the same under both.

## What the model is

`sim/map/family/eyeriss.rs`: the PE sets of Sec. IV-A (R x E; strip-mined when larger than the array, the
strip width searched -- CONV1's 11 x 7 of the paper comes out -- segmented when wider, replicated), each PE
blocking p filters x q channels under its 224 / 12 / 24-word scratchpads, and per processing pass: the
filter-GIN fill (64 b), the row-to-row psum pipeline, then the batch streamed through at one MAC per PE per
cycle, bounded by the ifmap GIN (16 b, one multicast per cycle), the psum GIN and the GON (64 b). Energy:
scratchpad, GLB and DRAM accesses priced with Eyeriss's normalized costs (RF 1, GLB 6, DRAM 200 per 16-bit
word, MAC 1; the preset's pJ are MAC-equivalents). Not modelled: PE-to-PE (2x) accesses as their own level,
the psum scratchpad's accesses, zero gating (it saves power, not time), RLC, the configuration scan chain
(< 100 us per layer).
"""


if __name__ == "__main__":
    main()
