//! The cost pipeline: for each layer of a (width-assigned) graph, map it onto the
//! accelerator, simulate its tiles and count its energy, then gather the report.
//!
//! Architecture invariant: this is the only place that chains map -> simulate -> cost ->
//! report; the CLI calls it and never reaches into the stages.

use crate::cost::{BufferTraffic, CoreActions};
use crate::hw::HwDesc;
use crate::ir::{Graph, Layer, LayerId, WeightSource};
use crate::map::family::{ConvPassInput, OperandReads};
use crate::map::fusion::{self, FusedOp};
use crate::map::tiling::{schedule_conv, schedule_vector, MemoView, NoTileFits, Objective, TilingMemo, Widths};
use crate::map::work::{mode_of, work_of, SeveralPhases, Work};
use crate::report::{Bound, LayerReport, OperandAccesses, RunReport, Totals};
use crate::schedule::{LayerEval, LayerWork};
use crate::units::{Bits, Bytes, Cycles, Macs, Seconds};

/// Why a network cannot run on an accelerator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// No compute mode is wide enough.
    #[error("layer '{layer}': {hw} has no compute mode for {weight_bits}-bit weights x {activation_bits}-bit activations; its modes are {modes}")]
    Precision {
        /// Layer.
        layer: String,
        /// Accelerator.
        hw: String,
        /// Requested weight bits.
        weight_bits: u32,
        /// Requested activation bits.
        activation_bits: u32,
        /// What it has.
        modes: String,
    },
    /// A count of the layer (elements, bits, MACs, cycles, bytes) does not fit in 64 bits,
    /// or a time or energy is not finite: the layer is too large to cost.
    #[error("layer '{layer}': too large to cost: {what} does not fit in 64 bits; check its shape")]
    TooLarge {
        /// Layer.
        layer: String,
        /// The count that overflows.
        what: String,
    },
    /// A total over all layers (cycles, MACs, bytes) does not fit in 64 bits, or the total
    /// latency or energy is not finite, though every layer's own counts do.
    #[error("the network is too large to cost: {what} summed over all layers does not fit in 64 bits")]
    TotalTooLarge {
        /// The total that overflows.
        what: String,
    },
    /// A layer with multiply-accumulate work but no weight tensor: no weight width to
    /// choose its compute mode by.
    #[error("layer '{layer}': multiply-accumulate work without a weight tensor has no weight width to choose a compute mode by")]
    NoWeights {
        /// Layer.
        layer: String,
    },
    /// The layer's op costs several phases.
    #[error(transparent)]
    SeveralPhases(#[from] SeveralPhases),
    /// No tile fits.
    #[error("layer '{layer}': {source}")]
    NoTile {
        /// Layer.
        layer: String,
        /// Details.
        source: NoTileFits,
    },
}

/// Costs every layer of `g` (whose tensor widths are already assigned) on `hw`, each
/// layer scheduled for the least latency.
pub fn run(g: &Graph, hw: &HwDesc) -> Result<RunReport, RunError> {
    run_inner(g, hw, Sched { objective: Objective::default(), memo: None })
}

/// [`run`] with each layer scheduled for `objective`.
pub fn run_for(g: &Graph, hw: &HwDesc, objective: Objective) -> Result<RunReport, RunError> {
    run_inner(g, hw, Sched { objective, memo: None })
}

/// [`run_for`], reusing the schedules of `memo` (a sweep's points share them when their
/// descriptions are equal, e.g. points that differ only in the network's other layers or in
/// functional options). The report is identical to [`run_for`]'s.
pub fn run_memo(g: &Graph, hw: &HwDesc, objective: Objective, memo: &mut TilingMemo) -> Result<RunReport, RunError> {
    run_inner(g, hw, Sched { objective, memo: Some(memo.table(hw, objective)) })
}

/// Costs one layer of `g` on `hw` (map, tile, simulate, cost) as [`run`] does, without the
/// whole-network checks and totals. `notes` collects the run's notes. For benchmarks.
pub fn eval_layer(g: &Graph, l: &Layer, hw: &HwDesc, notes: &mut Vec<String>) -> Result<LayerReport, RunError> {
    run_layer(g, l, hw, &[], Sched { objective: Objective::default(), memo: None }, notes)
}

/// How layers are scheduled: the objective, and a memo table of the description's schedules.
struct Sched<'m> {
    objective: Objective,
    memo: Option<MemoView<'m>>,
}

fn run_inner(g: &Graph, hw: &HwDesc, mut sched: Sched) -> Result<RunReport, RunError> {
    let mut notes = hw.notes.clone();
    notes.extend(hw.throttle_notes());
    let mut layers = Vec::with_capacity(g.layers.len());
    let mut peak = 0u64;
    let plan = fusion::plan(g, hw);
    let grouped = |l: &Layer| matches!(work_of(g, l), Ok(Work::Conv(w)) if w.groups > 1);
    // A family with two mappings of grouped convolutions: what the other would cost.
    let other = match hw.family.other_grouped_mapping() {
        Some((family, this, other)) if g.layers.iter().any(grouped) => {
            Some((HwDesc { family, ..hw.clone() }, this, other))
        }
        _ => None,
    };
    let mut other_rows = Vec::new();
    for (i, l) in g.layers.iter().enumerate() {
        check_counts(g, l)?;
        let r = match plan.fused_into(LayerId(i)) {
            Some(head) => fused_row(g, l, hw, &g.layer(head).name),
            None => {
                let layer_sched =
                    Sched { objective: sched.objective, memo: sched.memo.as_mut().map(MemoView::reborrow) };
                run_layer(g, l, hw, plan.followers(LayerId(i)), layer_sched, &mut notes)?
            }
        };
        if let Some((other_hw, _, _)) = other.as_ref().filter(|_| r.fused_into.is_none() && grouped(l)) {
            let other_sched = Sched { objective: sched.objective, memo: None };
            let alt = run_layer(g, l, other_hw, plan.followers(LayerId(i)), other_sched, &mut Vec::new())?;
            other_rows.push((l.name.as_str(), r.cycles, alt.cycles));
        }
        check_report(&r)?;
        if let Some(m) = mode_of(g, l, hw) {
            peak = peak.max(m.macs_per_cycle);
        }
        layers.push(r);
    }
    let overhead = hw.family.overhead(g.layers.len());
    let weights = match &g.weights {
        WeightSource::Synthetic { seed } => format!("synthetic, seeded ({seed}); built-in network, not trained"),
        WeightSource::Imported { path } => format!("imported from {path}"),
    };
    if plan.fused_count() > 0 {
        notes.push(format!(
            "{} layers run on the fly inside the convolution before them (SDP element-wise with its operand read by SDP's DMA, PDP pooling fed by SDP): their rows are marked fused, their cost is in that convolution's row (see map/fusion.rs)",
            plan.fused_count()
        ));
    }
    if let Some((_, this, other)) = other {
        let (sum_this, sum_other) = other_rows
            .iter()
            .fold((0u64, 0u64), |(a, b), (_, x, y)| (a.saturating_add(x.get()), b.saturating_add(y.get())));
        let rows: Vec<String> = other_rows.iter().map(|(n, x, y)| format!("{n} {} -> {}", x.get(), y.get())).collect();
        notes.push(format!(
            "{} grouped/depthwise convolutions ran with the \"{this}\" mapping (nvdla.grouped_conv; docs/nvdla_grouped_conv.md); with \"{other}\" their cycles would be {sum_other} instead of {sum_this}: {}",
            other_rows.len(),
            rows.join(", ")
        ));
    }
    notes.dedup();
    let totals = Totals::from_layers(&layers, peak, hw.clock.0, overhead);
    check_totals(&totals)?;
    Ok(RunReport {
        model: g.name.clone(),
        hw: hw.name.clone(),
        kind: hw.family.kind().to_string(),
        clock_hz: hw.clock.0,
        accumulator_bits: hw.accumulator.bits,
        weights,
        notes,
        totals,
        layers,
        accuracy: None,
    })
}

/// The operand widths of a layer; the weight width is `None` for a layer without weights.
fn widths(g: &Graph, l: &Layer, hw: &HwDesc) -> (Option<u32>, Widths) {
    let weight = g.weights_of(l).map(|t| t.dtype.bits());
    let wd = Widths {
        // Read only by conv work, which needs weights (checked in `run_layer`).
        weight: weight.unwrap_or(0),
        input: g.data_input(l).dtype.bits(),
        output: g.output(l).dtype.bits(),
        acc: g.bias_of(l).map(|t| t.dtype.bits()).unwrap_or(hw.accumulator.bits),
    };
    (weight, wd)
}

fn run_layer(
    g: &Graph,
    l: &Layer,
    hw: &HwDesc,
    followers: &[(LayerId, FusedOp)],
    sched: Sched,
    notes: &mut Vec<String>,
) -> Result<LayerReport, RunError> {
    let (weight_bits, wd) = widths(g, l, hw);
    let out = g.output(l);
    let no_tile = |source| RunError::NoTile { layer: l.name.clone(), source };
    let mut op_name = g.op_name(l).to_string();
    let mut array = None;
    let (chosen, macs, mode) = match work_of(g, l)? {
        Work::Conv(layer_work) => {
            // The loop nest as the family runs it (NVDLA may pack groups); the layer's
            // useful MACs stay its own.
            let w = hw.family.conv_work(&layer_work);
            let weight = weight_bits.ok_or_else(|| RunError::NoWeights { layer: l.name.clone() })?;
            let mode = hw.mode_for(weight, wd.input).ok_or_else(|| RunError::Precision {
                layer: l.name.clone(),
                hw: hw.name.clone(),
                weight_bits: wd.weight,
                activation_bits: wd.input,
                modes: hw
                    .precisions
                    .iter()
                    .map(|m| format!("{}x{}", m.weight_bits, m.activation_bits))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            if mode.weight_bits != wd.weight || mode.activation_bits != wd.input {
                let note = format_args!(
                    "{}x{}-bit operands run in the {}x{} compute mode (sign-extended); memory traffic is counted at {}x{} bits",
                    wd.weight, wd.input, mode.weight_bits, mode.activation_bits, wd.weight, wd.input
                );
                // The run keeps one of consecutive equal notes (`dedup`): skip the
                // allocation when the last note already says this.
                if !notes.last().is_some_and(|last| equals_formatted(last, note)) {
                    notes.push(note.to_string());
                }
            }
            let f = hw.family.conv_compute(mode, &w);
            let out_elems = w.pixels().saturating_mul(w.k);
            // What runs on the fly behind the array (NVDLA's SDP and a fused PDP); the
            // buffer ports bound the array further per schedule (see `schedule`).
            let pass = hw.family.conv_pass(
                g,
                hw,
                ConvPassInput { mode, compute: f.cycles.get(), out_elements: out_elems, widths: wd, followers },
            );
            for &(fi, _) in followers {
                op_name.push('+');
                op_name.push_str(g.op_name(g.layer(fi)));
            }
            array = f.array;
            let ev = LayerEval::new(
                hw,
                Some(mode),
                LayerWork {
                    wd,
                    reads: f.buffer,
                    pe_local_reads: f.pe_local,
                    out_elems,
                    compute: pass.compute,
                    core: CoreActions { macs: w.macs().get(), vector_ops: pass.vector_ops, vector_bits: wd.input },
                    extra_read: pass.extra_read,
                    fused_out: pass.fused_output,
                },
            );
            let t = match sched.memo {
                None => schedule_conv(hw, &w, wd, &ev, sched.objective),
                Some(mut view) => view.schedule_conv(hw, &w, wd, ev.key(), &ev),
            }
            .map_err(no_tile)?;
            (Some((ev.figures(&t), t)), layer_work.macs(), Some(mode))
        }
        Work::Vector(v) => {
            let per_cycle = hw.family.vector_elements_per_cycle(hw, &v) as f64 * 8.0 / wd.input.max(8) as f64;
            let ev = LayerEval::new(
                hw,
                None,
                LayerWork {
                    wd,
                    reads: OperandReads { inputs: v.in_elements, weights: 0 },
                    pe_local_reads: OperandReads::default(),
                    out_elems: v.out_elements,
                    compute: (v.ops as f64 / per_cycle).ceil() as u64,
                    core: CoreActions { macs: 0, vector_ops: v.ops, vector_bits: wd.input },
                    extra_read: Bits::ZERO,
                    fused_out: None,
                },
            );
            let t = schedule_vector(hw, &v, wd, &ev, sched.objective).map_err(no_tile)?;
            (Some((ev.figures(&t), t)), Macs::ZERO, None)
        }
        Work::Free => (None, Macs::ZERO, None),
    };
    let mut traffic: Vec<BufferTraffic> =
        hw.buffers.iter().map(|b| BufferTraffic { name: b.name.clone(), ..Default::default() }).collect();
    let mut operands = OperandAccesses::default();
    let (cycles, compute, stall, bound, tiles, dram_read, dram_write, energy) = match chosen {
        Some((fig, t)) => {
            operands = fig.operands;
            for (tr, &(reads, writes)) in traffic.iter_mut().zip(&fig.buffers) {
                tr.reads = reads;
                tr.writes = writes;
            }
            let tl = fig.timeline;
            let bound = if tl.dma_busy > tl.compute { Bound::Memory } else { Bound::Compute };
            (tl.total, fig.compute, tl.stall, bound, t.tiles.max(1), fig.dram_read, fig.dram_write, fig.energy)
        }
        None => (Cycles::ZERO, 0, Cycles::ZERO, Bound::None, 0, Bytes::ZERO, Bytes::ZERO, Default::default()),
    };
    let peak = mode.map(|m| m.macs_per_cycle).unwrap_or(0);
    Ok(LayerReport {
        name: l.name.clone(),
        op: op_name,
        shape: out.shape.clone(),
        mode: mode.map(|m| mode_label(m.weight_bits, m.activation_bits)).unwrap_or_default(),
        weight_type: g.weights_of(l).map(|t| t.dtype),
        activation_type: g.data_input(l).dtype,
        macs,
        cycles,
        compute_cycles: Cycles(compute),
        stall_cycles: stall,
        latency: hw.clock.duration(cycles),
        utilization: if peak > 0 && cycles.get() > 0 {
            macs.get() as f64 / (cycles.get() as f64 * peak as f64)
        } else {
            0.0
        },
        bound,
        tiles,
        dram_read,
        dram_write,
        buffers: traffic,
        energy,
        fused_into: None,
        array,
        operands,
    })
}

/// The row of a layer fused into `head`: no cycles, traffic or energy of its own (they are
/// in the head's row), so totals stay the sum of the rows.
fn fused_row(g: &Graph, l: &Layer, hw: &HwDesc, head: &str) -> LayerReport {
    LayerReport {
        name: l.name.clone(),
        op: g.op_name(l).to_string(),
        shape: g.output(l).shape.clone(),
        mode: String::new(),
        weight_type: g.weights_of(l).map(|t| t.dtype),
        activation_type: g.data_input(l).dtype,
        macs: Macs::ZERO,
        cycles: Cycles::ZERO,
        compute_cycles: Cycles::ZERO,
        stall_cycles: Cycles::ZERO,
        latency: Seconds(0.0),
        utilization: 0.0,
        bound: Bound::Fused,
        tiles: 0,
        dram_read: Bytes::ZERO,
        dram_write: Bytes::ZERO,
        buffers: hw.buffers.iter().map(|b| BufferTraffic { name: b.name.clone(), ..Default::default() }).collect(),
        energy: Default::default(),
        fused_into: Some(head.to_string()),
        array: None,
        operands: OperandAccesses::default(),
    }
}

/// `format!("{weight}x{activation}")` without the formatting machinery (one allocation).
fn mode_label(weight: u32, activation: u32) -> String {
    let mut s = String::with_capacity(8);
    push_decimal(&mut s, weight);
    s.push('x');
    push_decimal(&mut s, activation);
    s
}

fn push_decimal(s: &mut String, v: u32) {
    let mut digits = [0u8; 10];
    let mut n = v;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}

/// Whether `args` formats to exactly `s`, without allocating.
fn equals_formatted(s: &str, args: std::fmt::Arguments) -> bool {
    struct Cmp<'a>(&'a str);
    impl std::fmt::Write for Cmp<'_> {
        fn write_str(&mut self, part: &str) -> std::fmt::Result {
            match self.0.strip_prefix(part) {
                Some(rest) => {
                    self.0 = rest;
                    Ok(())
                }
                None => Err(std::fmt::Error),
            }
        }
    }
    let mut c = Cmp(s);
    std::fmt::write(&mut c, args).is_ok() && c.0.is_empty()
}

/// Rejects a layer whose tensors' element or bit counts, or MAC count, overflow u64, so
/// no saturated count reaches a report.
fn check_counts(g: &Graph, l: &Layer) -> Result<(), RunError> {
    let too_large = |what: String| RunError::TooLarge { layer: l.name.clone(), what };
    for &t in l.inputs.iter().chain(&l.outputs) {
        let t = g.tensor(t);
        let bits = t
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .and_then(|e| e.checked_mul(u64::from(t.dtype.bits().max(32))));
        if bits.is_none() {
            return Err(too_large(format!("the size of tensor '{}' {:?}", t.name, t.shape)));
        }
    }
    if g.macs(l).get() == u64::MAX {
        return Err(too_large("the MAC count".into()));
    }
    Ok(())
}

/// Rejects a layer report with a saturated count or a non-finite time or energy.
fn check_report(r: &LayerReport) -> Result<(), RunError> {
    let too_large = |what: &str| Err(RunError::TooLarge { layer: r.name.clone(), what: what.into() });
    let counts = [
        ("the cycle count", r.cycles.get()),
        ("the compute cycle count", r.compute_cycles.get()),
        ("the stall cycle count", r.stall_cycles.get()),
        ("the DRAM read byte count", r.dram_read.get()),
        ("the DRAM write byte count", r.dram_write.get()),
    ];
    for (what, v) in counts {
        if v == u64::MAX {
            return too_large(what);
        }
    }
    if r.buffers.iter().any(|b| b.reads.get() == u64::MAX || b.writes.get() == u64::MAX) {
        return too_large("a buffer byte count");
    }
    if !r.latency.0.is_finite() || !r.energy.total().get().is_finite() || !r.utilization.is_finite() {
        return too_large("the latency or energy");
    }
    Ok(())
}

/// Rejects totals that saturated (the unit types add saturating) or are not finite.
fn check_totals(t: &Totals) -> Result<(), RunError> {
    let counts = [
        ("the cycle count", t.cycles.get()),
        ("the compute cycle count", t.compute_cycles.get()),
        ("the stall cycle count", t.stall_cycles.get()),
        ("the MAC count", t.macs.get()),
        ("the DRAM read byte count", t.dram_read.get()),
        ("the DRAM write byte count", t.dram_write.get()),
    ];
    let what = counts.iter().find(|(_, v)| *v == u64::MAX).map(|(w, _)| *w).or_else(|| {
        let finite = t.latency.0.is_finite() && t.energy.total().get().is_finite() && t.utilization.is_finite();
        (!finite).then_some("the latency or energy")
    });
    match what {
        Some(w) => Err(RunError::TotalTooLarge { what: w.into() }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_label_is_the_formatted_pair() {
        for (w, a) in [(0, 0), (1, 8), (8, 8), (16, 8), (10, 109), (u32::MAX, 4_000_000_007)] {
            assert_eq!(mode_label(w, a), format!("{w}x{a}"));
        }
    }

    #[test]
    fn equals_formatted_compares_the_whole_text() {
        let (a, b) = (4, 8);
        assert!(equals_formatted("4x8 bits", format_args!("{a}x{b} bits")));
        assert!(!equals_formatted("4x8 bit", format_args!("{a}x{b} bits")));
        assert!(!equals_formatted("4x8 bitss", format_args!("{a}x{b} bits")));
        assert!(!equals_formatted("4x9 bits", format_args!("{a}x{b} bits")));
        assert!(equals_formatted("", format_args!("")));
    }

    #[test]
    fn totals_that_saturate_are_an_error() {
        let hw = crate::hw::load_hw("systolic32", &[]).expect("preset");
        let mut g = crate::import::load_model("mnv1", &Default::default()).expect("mnv1");
        crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: 8, activation_bits: 8 }, 32);
        let r = run(&g, &hw).expect("runs");
        assert!(check_totals(&r.totals).is_ok());
        // Two layers whose own counts fit, but whose sum does not.
        let mut l = r.layers[0].clone();
        l.cycles = Cycles(u64::MAX / 2 + 1);
        let t = Totals::from_layers(&[l.clone(), l], 1, hw.clock.0, Seconds(0.0));
        let e = check_totals(&t).expect_err("saturated");
        assert!(e.to_string().contains("the cycle count summed over all layers"), "{e}");
    }
}
