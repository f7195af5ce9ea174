//! Renderings of a [`RunReport`]: a terminal table, JSON and CSV.

use super::{LayerReport, RunReport};
use crate::quant::widths::{common_widths, summary, Common};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};
use serde_json::{json, Value};

fn si(v: f64, unit: &str) -> String {
    let (d, p) = match v.abs() {
        x if x >= 1e9 => (1e9, "G"),
        x if x >= 1e6 => (1e6, "M"),
        x if x >= 1e3 => (1e3, "k"),
        x if x >= 1.0 || x == 0.0 || unit != "J" => (1.0, ""),
        x if x >= 1e-3 => (1e-3, "m"),
        x if x >= 1e-6 => (1e-6, "u"),
        _ => (1e-9, "n"),
    };
    format!("{:.2} {p}{unit}", v / d)
}

fn time(s: f64) -> String {
    match s {
        x if x >= 1.0 => format!("{x:.3} s"),
        x if x >= 1e-3 => format!("{:.3} ms", x * 1e3),
        x => format!("{:.2} us", x * 1e6),
    }
}

/// An SQNR for text: two decimals, `inf` when identical, `-` when unknown.
fn db(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.is_infinite() {
        "inf".into()
    } else {
        format!("{v:.2}")
    }
}

/// An SQNR for JSON: a number, the string `"inf"` when identical, null when unknown.
fn db_json(v: f64) -> Value {
    if v.is_infinite() && v > 0.0 {
        json!("inf")
    } else if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// The (vs float, vs ideal) SQNR of a layer, NaN when not evaluated.
fn layer_db(r: &RunReport, name: &str) -> (f64, f64) {
    r.accuracy
        .as_ref()
        .and_then(|a| a.layers.iter().find(|l| l.layer == name))
        .map_or((f64::NAN, f64::NAN), |l| (l.sqnr_db, l.sqnr_vs_ideal_db))
}

fn shape(s: &[usize]) -> String {
    s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

/// A human-readable table with a totals line and notes.
pub fn to_table(r: &RunReport) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    let mut header = vec![
        "layer", "op", "output", "widths", "mode", "MACs", "cycles", "util", "bound", "DRAM rd", "DRAM wr", "energy",
    ];
    if r.accuracy.is_some() {
        header.extend(["SQNR dB", "vs ideal"]);
    }
    t.set_header(header);
    let row = |l: &LayerReport| {
        let mut cells = vec![
            Cell::new(&l.name),
            Cell::new(match &l.fused_into {
                Some(head) => format!("{} (in {head})", l.op),
                None => l.op.to_string(),
            }),
            Cell::new(shape(&l.shape)),
            Cell::new(l.widths_label()),
            Cell::new(&l.mode),
            Cell::new(si(l.macs.get() as f64, "")).set_alignment(CellAlignment::Right),
            Cell::new(l.cycles.get()).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.1}%", l.utilization * 100.0)).set_alignment(CellAlignment::Right),
            Cell::new(l.bound.name()),
            Cell::new(si(l.dram_read.get() as f64, "B")).set_alignment(CellAlignment::Right),
            Cell::new(si(l.dram_write.get() as f64, "B")).set_alignment(CellAlignment::Right),
            Cell::new(si(l.energy.total().get() * 1e-12, "J")).set_alignment(CellAlignment::Right),
        ];
        if r.accuracy.is_some() {
            let (f, i) = layer_db(r, &l.name);
            cells.push(Cell::new(db(f)).set_alignment(CellAlignment::Right));
            cells.push(Cell::new(db(i)).set_alignment(CellAlignment::Right));
        }
        cells
    };
    for l in &r.layers {
        t.add_row(row(l));
    }
    let tot = &r.totals;
    let mut out = format!(
        "{} on {} ({}, {:.0} MHz), {}, accumulators {} bit; weights: {}\n",
        r.model,
        r.hw,
        r.kind,
        r.clock_hz / 1e6,
        widths_phrase(r),
        r.accumulator_bits,
        r.weights
    );
    out.push_str(&t.to_string());
    out.push('\n');
    out.push_str(&format!(
        "total: {} MACs, {} cycles ({} compute, {} buffer-port, {} DRAM stall), {} at {:.0} MHz, utilization {:.1}%\n",
        si(tot.macs.get() as f64, ""),
        tot.cycles.get(),
        tot.compute_cycles.get(),
        tot.port_cycles.get(),
        tot.stall_cycles.get(),
        time(tot.latency.get()),
        r.clock_hz / 1e6,
        tot.utilization * 100.0
    ));
    if tot.overhead.get() > 0.0 {
        out.push_str(&format!(
            "hardware {} + software overhead {} = {}\n",
            time(tot.latency.get()),
            time(tot.overhead.get()),
            time(tot.latency.get() + tot.overhead.get())
        ));
    }
    out.push_str(&format!(
        "DRAM: {} read, {} written; energy {} (MAC {}, vector {}, buffers {}, DRAM {})\n",
        si(tot.dram_read.get() as f64, "B"),
        si(tot.dram_write.get() as f64, "B"),
        si(tot.energy.total().get() * 1e-12, "J"),
        si(tot.energy.mac.get() * 1e-12, "J"),
        si(tot.energy.vector.get() * 1e-12, "J"),
        si(tot.energy.buffers.get() * 1e-12, "J"),
        si(tot.energy.dram.get() * 1e-12, "J"),
    ));
    if let Some(a) = &r.accuracy {
        out.push_str(&format!(
            "accuracy ({}-bit accumulator, {:?} on overflow; input {}): output SQNR {} dB vs float, {} dB vs ideal 32-bit accumulation; top-1 agreement {:.1}% vs float, {:.1}% vs ideal\n",
            a.arithmetic.acc_bits,
            a.arithmetic.overflow,
            a.input,
            db(a.output_sqnr_db),
            db(a.output_sqnr_vs_ideal_db),
            a.top1_agreement * 100.0,
            a.top1_agreement_vs_ideal * 100.0
        ));
    }
    if let Some(s) = &r.sequence {
        let total = tot.latency.get() + tot.overhead.get();
        let of = if s.batch > 1 { format!(" of each of {} sequences", s.batch) } else { String::new() };
        out.push_str(&match s.phase {
            crate::import::SeqPhase::Prefill { len } => {
                format!("prefill: {len} tokens{of} in {}: {:.1} tokens/s\n", time(total), s.tokens() as f64 / total)
            }
            crate::import::SeqPhase::Decode { kv_len } => format!(
                "decode: 1 token{of} attending to {kv_len} positions (KV cache {}{}): {} per token, {:.1} tokens/s\n",
                s.kv_bits.map_or("float".to_string(), |b| format!("{b}-bit")),
                s.kv_groups.map_or(String::new(), |g| format!(" {g}")),
                time(total),
                s.tokens() as f64 / total
            ),
        });
    }
    if !r.on_chip.is_empty() {
        let saved: u64 = r.on_chip.iter().map(|t| t.bytes.get()).sum();
        let list: Vec<String> = r
            .on_chip
            .iter()
            .map(|t| {
                format!(
                    "{} ({}, {} -> {}{})",
                    t.tensor,
                    si(t.bytes.get() as f64, "B"),
                    t.producer,
                    t.readers.join("+"),
                    if t.fused { ", fused" } else { "" }
                )
            })
            .collect();
        out.push_str(&format!(
            "on chip: {} tensors, {} in all: {}\n",
            r.on_chip.len(),
            si(saved as f64, "B"),
            list.join(", ")
        ));
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// "weights 8 bit, activations 8 bit", or for per-layer widths "widths per layer w8a8 x3, w4a8 x12".
fn widths_phrase(r: &RunReport) -> String {
    let layers = r.integer_widths();
    match common_widths(&layers) {
        (Common::One(w), Common::One(a)) => format!("weights {w} bit, activations {a} bit"),
        (Common::None, Common::One(a)) => format!("activations {a} bit"),
        _ => format!("widths per layer {}", summary(&layers)),
    }
}

/// A common width as JSON: the number, or null when the layers differ or none has it.
fn common_json(c: Common) -> Value {
    match c {
        Common::One(b) => json!(b),
        Common::None | Common::Mixed => Value::Null,
    }
}

fn layer_json(r: &RunReport, l: &LayerReport, clock_hz: f64) -> Value {
    let mut v = json!({
        "name": &*l.name,
        "op": &*l.op,
        "shape": &*l.shape,
        "mode": l.mode,
        "widths": l.widths_label(),
        "weight_bits": l.weight_type.map(|t| t.bits()),
        "weight_group": l.weight_groups.map(|g| g.size),
        "activation_bits": l.activation_type.bits(),
        "macs": l.macs.get(),
        "executed_macs": l.executed_macs.get(),
        "cycles": l.cycles.get(),
        "compute_cycles": l.compute_cycles.get(),
        "port_cycles": l.port_cycles.get(),
        "stall_cycles": l.stall_cycles.get(),
        "latency_s": l.cycles.get() as f64 / clock_hz,
        "utilization": l.utilization,
        "bound": l.bound.name(),
        "tiles": l.tiles,
        "dram_read_bytes": l.dram_read.get(),
        "dram_write_bytes": l.dram_write.get(),
        "buffers": l.buffers.iter().map(|b| json!({"name": &*b.name, "read_bytes": b.reads.get(), "write_bytes": b.writes.get()})).collect::<Vec<_>>(),
        "energy_pj": l.energy.total().get(),
        "energy_breakdown_pj": {"mac": l.energy.mac.get(), "vector": l.energy.vector.get(), "buffers": l.energy.buffers.get(), "dram": l.energy.dram.get()},
    });
    if let Some(head) = &l.fused_into {
        v["fused_into"] = json!(head);
    }
    if output_on_chip(r, l) {
        v["output_on_chip"] = json!(true);
    }
    if let Some(pes) = l.active_pes {
        v["active_pes"] = json!(pes);
    }
    if r.accuracy.is_some() {
        let (f, i) = layer_db(r, &l.name);
        v["sqnr_db"] = db_json(f);
        v["sqnr_vs_ideal_db"] = db_json(i);
    }
    v
}

/// Whether a layer's output stays on chip (its producer row in [`RunReport::on_chip`]).
fn output_on_chip(r: &RunReport, l: &LayerReport) -> bool {
    r.on_chip.iter().any(|t| *t.producer == *l.name)
}

/// The JSON document (`totals` + `layers`).
pub fn to_json(r: &RunReport) -> Value {
    let t = &r.totals;
    let layers = r.integer_widths();
    let (w, a) = common_widths(&layers);
    let mut doc = json!({
        "model": r.model,
        "hw": r.hw,
        "kind": r.kind,
        "clock_hz": r.clock_hz,
        "weight_bits": common_json(w),
        "activation_bits": common_json(a),
        "widths": summary(&layers),
        "accumulator_bits": r.accumulator_bits,
        "weights": r.weights,
        "notes": r.notes,
        "totals": {
            "cycles": t.cycles.get(),
            "compute_cycles": t.compute_cycles.get(),
            "port_cycles": t.port_cycles.get(),
            "stall_cycles": t.stall_cycles.get(),
            "latency_s": t.latency.get(),
            "overhead_s": t.overhead.get(),
            "total_s": t.latency.get() + t.overhead.get(),
            "macs": t.macs.get(),
            "utilization": t.utilization,
            "dram_read_bytes": t.dram_read.get(),
            "dram_write_bytes": t.dram_write.get(),
            "energy_pj": t.energy.total().get(),
            "energy_breakdown_pj": {"mac": t.energy.mac.get(), "vector": t.energy.vector.get(), "buffers": t.energy.buffers.get(), "dram": t.energy.dram.get()},
        },
        "layers": r.layers.iter().map(|l| layer_json(r, l, r.clock_hz)).collect::<Vec<_>>(),
        "on_chip": r.on_chip.iter().map(|t| json!({"tensor": t.tensor, "bytes": t.bytes.get(), "producer": t.producer, "readers": t.readers, "fused": t.fused})).collect::<Vec<_>>(),
    });
    if let Some(s) = &r.sequence {
        let total = t.latency.get() + t.overhead.get();
        let (phase, kv_len) = match s.phase {
            crate::import::SeqPhase::Prefill { .. } => ("prefill", None),
            crate::import::SeqPhase::Decode { kv_len } => ("decode", Some(kv_len)),
        };
        doc["sequence"] = json!({
            "phase": phase,
            "batch": s.batch,
            "tokens": s.tokens(),
            "kv_len": kv_len,
            "kv_bits": s.kv_bits,
            "kv_group": s.kv_groups.map(|g| g.size),
            "kv_group_zero_point_bits": s.kv_groups.map(|g| g.zero_point_bits),
            "latency_per_token_s": total / s.tokens_per_sequence() as f64,
            "tokens_per_s": s.tokens() as f64 / total,
        });
    }
    if let Some(a) = &r.accuracy {
        let output = json!({
            "sqnr_db": db_json(a.output_sqnr_db),
            "sqnr_vs_ideal_db": db_json(a.output_sqnr_vs_ideal_db),
            "top1_agreement": a.top1_agreement,
            "top1_agreement_vs_ideal": a.top1_agreement_vs_ideal,
        });
        doc["totals"]["sqnr_db"] = db_json(a.output_sqnr_db);
        doc["totals"]["sqnr_vs_ideal_db"] = db_json(a.output_sqnr_vs_ideal_db);
        doc["totals"]["top1_agreement"] = json!(a.top1_agreement);
        doc["output"] = output;
        doc["accuracy"] = json!({
            "input": a.input,
            "accumulator_bits": a.arithmetic.acc_bits,
            "overflow": format!("{:?}", a.arithmetic.overflow).to_lowercase(),
        });
    }
    doc
}

/// CSV: one row per layer, then a `TOTAL` row.
pub fn to_csv(r: &RunReport) -> String {
    let mut s = String::from(
        "name,op,shape,mode,macs,cycles,compute_cycles,port_cycles,stall_cycles,latency_s,utilization,bound,tiles,dram_read_bytes,dram_write_bytes,energy_pj,widths,output_on_chip",
    );
    let acc = r.accuracy.as_ref();
    s.push_str(if acc.is_some() { ",sqnr_db,sqnr_vs_ideal_db\n" } else { "\n" });
    let esc = |v: &str| {
        if v.contains(',') || v.contains('"') {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    for l in &r.layers {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{:e},{:.6},{},{},{},{},{:.3},{},{}",
            esc(&l.name),
            l.op,
            shape(&l.shape),
            l.mode,
            l.macs.get(),
            l.cycles.get(),
            l.compute_cycles.get(),
            l.port_cycles.get(),
            l.stall_cycles.get(),
            l.latency.get(),
            l.utilization,
            l.bound.name(),
            l.tiles,
            l.dram_read.get(),
            l.dram_write.get(),
            l.energy.total().get(),
            l.widths_label(),
            u8::from(output_on_chip(r, l))
        ));
        if acc.is_some() {
            let (f, i) = layer_db(r, &l.name);
            s.push_str(&format!(",{},{}", db(f), db(i)));
        }
        s.push('\n');
    }
    let t = &r.totals;
    s.push_str(&format!(
        "TOTAL,,,,{},{},{},{},{},{:e},{:.6},,,{},{},{:.3},{},{}",
        t.macs.get(),
        t.cycles.get(),
        t.compute_cycles.get(),
        t.port_cycles.get(),
        t.stall_cycles.get(),
        t.latency.get(),
        t.utilization,
        t.dram_read.get(),
        t.dram_write.get(),
        t.energy.total().get(),
        esc(&summary(&r.integer_widths())),
        r.on_chip.len()
    ));
    match acc {
        Some(a) => s.push_str(&format!(",{},{}\n", db(a.output_sqnr_db), db(a.output_sqnr_vs_ideal_db))),
        None => s.push('\n'),
    }
    s
}
