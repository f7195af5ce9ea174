#!/usr/bin/env python3
"""Latency trends per accelerator family: MobileNet-v1 and ResNet-50 latency as the on-chip
SRAM grows (every buffer of the preset scaled x0.25 .. x16) and as the array grows (x1, x2, x4),
for one preset per family. Standard library only.

    python3 reports/trends.py AFTER [BEFORE]     # writes reports/trends.md and reports/trends.svg

AFTER and BEFORE are accelsim binaries; BEFORE may also be a table this script wrote earlier
(reports/trends.md), whose `before` cells are kept (the binary they came from need not be built
again). With BEFORE (e.g. a build of an older commit) the table
has before/after columns; the figure always shows AFTER. What "array x2" sets, per family:

- mac_array (systolic32): mac.rows and mac.cols doubled (four times the PEs);
- nvdla (nvdla_full): nvdla.atomic_k and every mode's macs_per_cycle doubled (twice the MAC cells);
- dsp (dsp): dsp.hvx_contexts and every mode's macs_per_cycle doubled (twice the HVX units).

The same --set arguments go to both binaries, so BEFORE shows what the same command gave then.
"""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = [("mac_array", "systolic32"), ("nvdla", "nvdla_full"), ("dsp", "dsp")]
MODELS = ["mnv1", "resnet50"]
SRAM_SCALES = [0.25, 0.5, 1, 2, 4, 8, 16]
ARRAY_SCALES = [1, 2, 4]


def preset(name):
    return tomllib.loads((ROOT / "accelerators" / f"{name}.toml").read_text())


def sram_sets(p, s):
    return [f"buffer.{i}.size_kib={b['size_kib'] * s:g}" for i, b in enumerate(p["buffer"])]


def array_sets(kind, p, a):
    if a == 1:
        return []
    if kind == "mac_array":
        return [f"mac.rows={p['mac']['rows'] * a}", f"mac.cols={p['mac']['cols'] * a}"]
    modes = [f"precision.{i}.macs_per_cycle={m['macs_per_cycle'] * a}" for i, m in enumerate(p["precision"])]
    if kind == "nvdla":
        return [f"nvdla.atomic_k={p['nvdla']['atomic_k'] * a}"] + modes
    return [f"dsp.hvx_contexts={p['dsp']['hvx_contexts'] * a}"] + modes


def latency_ms(binary, hw, model, sets):
    cmd = [binary, "run", "--hw", hw, "--model", model, "--format", "json"]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out)["totals"]["latency_s"] * 1e3


def points(binary):
    """{(kind, model, axis, scale): latency in ms} for one binary."""
    res = {}
    for kind, hw in FAMILIES:
        p = preset(hw)
        for model in MODELS:
            for s in SRAM_SCALES:
                res[(kind, model, "sram", s)] = latency_ms(binary, hw, model, sram_sets(p, s))
            for a in ARRAY_SCALES:
                res[(kind, model, "array", a)] = latency_ms(binary, hw, model, array_sets(kind, p, a))
    return res


def before_from_table(path):
    """The `before` cells of a table `table` wrote: {(kind, model, axis, scale): ms}."""
    res = {}
    axis = None
    for line in Path(path).read_text().splitlines():
        if line.startswith("| family | network |"):
            axis = "sram" if "SRAM x" in line else "array"
            scales = [float(c.strip().split("x")[-1]) for c in line.strip("|").split("|")[2:]]
        elif line.startswith("| ") and axis and "→" in line:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            kind, model = cells[0].split(" ")[0], cells[1]
            for sc, cell in zip(scales, cells[2:]):
                res[(kind, model, axis, int(sc) if sc == int(sc) else sc)] = float(cell.split("→")[0])
    return res


def table(after, before):
    lines = [
        "# Latency trends per family",
        "",
        "Made by `python3 reports/trends.py AFTER BEFORE` (see the script's doc for what each scale sets).",
        "Latency in ms of the whole network; `before` is the binary before the schedule search optimized the",
        "simulated latency and before a MAC array derived its peak and ports (issue 12; its cells were first",
        "measured for commit 68b9db4 and are kept since by passing this table as BEFORE), `after` this commit's.",
        "",
    ]
    for axis, scales, label in [("sram", SRAM_SCALES, "SRAM x"), ("array", ARRAY_SCALES, "array x")]:
        head = "| family | network | " + " | ".join(f"{label}{s:g}" for s in scales) + " |"
        lines += [head, "|" + " --- |" * (len(scales) + 2)]
        for kind, hw in FAMILIES:
            for model in MODELS:
                cells = []
                for s in scales:
                    a = after[(kind, model, axis, s)]
                    cells.append(f"{before[(kind, model, axis, s)]:.3f} → {a:.3f}" if before else f"{a:.3f}")
                lines.append(f"| {kind} ({hw}) | {model} | " + " | ".join(cells) + " |")
        lines.append("")
    if before:
        lines.append("Cells are `before → after`.")
    return "\n".join(lines) + "\n"


def svg(after):
    """Two rows of panels (SRAM scale, array scale) x one column per family; one line per network,
    latency relative to the preset (scale x1), log2 x axis."""
    w, h, pad = 300, 220, 50
    cols, rows = len(FAMILIES), 2
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{cols * w}" height="{rows * h + 30}" '
        'font-family="DejaVu Sans, sans-serif" font-size="11">',
        f'<rect width="{cols * w}" height="{rows * h + 30}" fill="white"/>',
        f'<text x="{cols * w / 2}" y="18" text-anchor="middle" font-size="14">'
        "Latency relative to the preset vs SRAM size and array size (lower is faster)</text>",
    ]
    colors = {"mnv1": "#1f77b4", "resnet50": "#d62728"}
    import math

    for r, (axis, scales) in enumerate([("sram", SRAM_SCALES), ("array", ARRAY_SCALES)]):
        for c, (kind, hw) in enumerate(FAMILIES):
            x0, y0 = c * w + pad, 30 + r * h + 20
            pw, ph = w - pad - 15, h - 70
            rel = {m: [after[(kind, m, axis, s)] / after[(kind, m, axis, 1)] for s in scales] for m in MODELS}
            ymax = max(1.05, max(max(v) for v in rel.values()) * 1.05)
            ymin = min(0.0, min(min(v) for v in rel.values()))
            lx = [math.log2(s) for s in scales]
            sx = lambda v: x0 + (v - lx[0]) / (lx[-1] - lx[0]) * pw
            sy = lambda v: y0 + ph - (v - ymin) / (ymax - ymin) * ph
            title = f"{kind} ({hw}): {'SRAM' if axis == 'sram' else 'array'} size"
            out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 6}" text-anchor="middle">{title}</text>')
            out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
            for s, v in zip(scales, lx):
                out.append(f'<text x="{sx(v)}" y="{y0 + ph + 14}" text-anchor="middle">x{s:g}</text>')
            for t in [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0]:
                if ymin <= t <= ymax:
                    out.append(f'<text x="{x0 - 5}" y="{sy(t) + 4}" text-anchor="end">{t:g}</text>')
                    out.append(f'<line x1="{x0}" y1="{sy(t)}" x2="{x0 + pw}" y2="{sy(t)}" stroke="#eee"/>')
            for i, m in enumerate(MODELS):
                pts = " ".join(f"{sx(v):.1f},{sy(y):.1f}" for v, y in zip(lx, rel[m]))
                out.append(f'<polyline points="{pts}" fill="none" stroke="{colors[m]}" stroke-width="2"/>')
                out.append(
                    f'<text x="{x0 + pw - 4}" y="{y0 + 14 + 13 * i}" text-anchor="end" fill="{colors[m]}">{m}</text>'
                )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    after = points(sys.argv[1])
    before = None
    if len(sys.argv) > 2:
        b = sys.argv[2]
        before = before_from_table(b) if b.endswith(".md") else points(b)
    (ROOT / "reports" / "trends.svg").write_text(svg(after))
    if before:
        (ROOT / "reports" / "trends.md").write_text(table(after, before))
    # The figure's claim: every curve falls or stays flat.
    rising = [
        (k, m, axis, s)
        for (k, m, axis, s), v in after.items()
        for scales in [SRAM_SCALES if axis == "sram" else ARRAY_SCALES]
        if s != scales[0] and v > after[(k, m, axis, scales[scales.index(s) - 1])] * (1 + 1e-9)
    ]
    if rising:
        sys.exit(f"latency rises at {rising}")


if __name__ == "__main__":
    main()
