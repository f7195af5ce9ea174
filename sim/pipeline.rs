//! The cost pipeline: for each layer of a (width-assigned) graph, map it onto the
//! accelerator, simulate its tiles and count its energy, then gather the report.
//!
//! Architecture invariant: this is the only place that chains map -> simulate -> cost ->
//! report; the CLI calls it and never reaches into the stages.

use crate::cost::{BufferTraffic, CoreActions, Energy};
use crate::hw::{HwDesc, PrecisionMode};
use crate::ir::WeightGroups;
use crate::ir::{Graph, HybridConvKernel, Layer, LayerId, WeightSource};
use crate::map::family::{ComputeFigures, ConvPassInput, OperandReads};
use crate::map::fusion::{self, FusedOp};
use crate::map::tiling::{self, Tiling};
use crate::map::tiling::{
    schedule_conv, schedule_vector, DynamicInput, MemoView, NoTileFits, Objective, Score, TilingMemo, Widths,
};
use crate::map::work::{phases_of, ConvWork, Operand, Phase, VectorWork};
use crate::ops::WeightLayout;
use crate::report::{ArrayUse, Bound, LayerReport, OperandAccesses, RunReport, Totals};
use crate::schedule::{BoundBasis, ChannelTimes, Figures, LayerEval, LayerWork};
use crate::units::{Bits, Bytes, Cycles, Macs, PicoJoules, Seconds};
use smallvec::SmallVec;

pub mod onchip;
pub mod setups;

use crate::report::OnChipTensor;
use onchip::{LayerOnChip, Residency};
use setups::{GemmFacts, LayerLabels, RunMemo, RunPlan, SetupAt, Setups};
use std::sync::Arc;

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
    /// A GEMM phase whose second operand is a data input the layer does not have.
    #[error("layer '{layer}': its op multiplies by data input {input}, which the layer does not have")]
    NoOperand {
        /// Layer.
        layer: String,
        /// The data input's index.
        input: usize,
    },
    /// Integer weights behind a float input that no LiteRT hybrid kernel runs
    /// ([`crate::ir::Conv2d::hybrid_kernel`]).
    #[error("layer '{layer}': {reason}")]
    NoHybridKernel {
        /// Layer.
        layer: String,
        /// Why.
        reason: String,
    },
    /// The network cannot run at the batch asked for.
    #[error("{0}")]
    Batch(String),
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
    run_inner(g, hw, Objective::default(), None)
}

/// [`run`] with each layer scheduled for `objective`.
pub fn run_for(g: &Graph, hw: &HwDesc, objective: Objective) -> Result<RunReport, RunError> {
    run_inner(g, hw, objective, None)
}

/// [`run_for`], reusing the schedules of `memo` (a sweep's points share them when their
/// descriptions are equal, e.g. points that differ only in the network's other layers or in
/// functional options). The report is identical to [`run_for`]'s.
pub fn run_memo(g: &Graph, hw: &HwDesc, objective: Objective, memo: &mut TilingMemo) -> Result<RunReport, RunError> {
    run_inner(g, hw, objective, Some(memo))
}

/// Costs one layer of `g` on `hw` (map, tile, simulate, cost) as [`run`] does, without the
/// whole-network checks and totals. `notes` collects the run's notes. For benchmarks.
pub fn eval_layer(g: &Graph, l: &Layer, hw: &HwDesc, notes: &mut Vec<String>) -> Result<LayerReport, RunError> {
    let sched = Sched { objective: Objective::default(), memo: None, setup: None };
    Ok(run_layer(g, l, hw, &[], sched, LayerOnChip::default(), notes)?.0)
}

/// How layers are scheduled: the objective, and a memo table of the description's schedules.
struct Sched<'m> {
    objective: Objective,
    memo: Option<MemoView<'m>>,
    /// The sweep's setups, at the layer and description being costed ([`setups`]).
    setup: Option<SetupAt<'m>>,
}

impl<'m> Sched<'m> {
    /// The schedules of layer `layer` through `memo`, the view of the description it is
    /// costed on, with the sweep's `setups` at that description when there are some.
    fn of_layer(
        objective: Objective,
        memo: Option<MemoView<'m>>,
        setups: Option<&'m mut Setups>,
        layer: usize,
    ) -> Self {
        let setup = setups.zip(memo.as_ref()).map(|(setups, view)| SetupAt {
            setups,
            description: view.description(),
            layer,
            phase: 0,
        });
        Sched { objective, memo, setup }
    }

    /// A shorter-lived copy.
    fn reborrow(&mut self) -> Sched<'_> {
        Sched {
            objective: self.objective,
            memo: self.memo.as_mut().map(MemoView::reborrow),
            setup: self.setup.as_mut().map(SetupAt::reborrow),
        }
    }
}

fn run_inner(
    g: &Graph,
    hw: &HwDesc,
    objective: Objective,
    memo: Option<&mut TilingMemo>,
) -> Result<RunReport, RunError> {
    Ok(run_peak(g, hw, objective, memo, None)?.0)
}

/// [`run_batch`] for a sweep's points: with the schedules of `memo` and the layers' setups
/// it kept for `g` ([`setups`]). The report is identical to
/// [`run_batch`]'s.
pub fn run_shared(
    g: &Arc<Graph>,
    batch: usize,
    hw: &HwDesc,
    objective: Objective,
    memo: &mut RunMemo,
) -> Result<RunReport, RunError> {
    run_batch_with(g, batch, hw, objective, Some(&mut memo.tiling), Some(memo.setups.for_graph(g)))
}

/// [`run_inner`], with the peak MACs per cycle of the modes the layers ran in.
fn run_peak(
    g: &Graph,
    hw: &HwDesc,
    objective: Objective,
    memo: Option<&mut TilingMemo>,
    setups: Option<&mut Setups>,
) -> Result<(RunReport, u64), RunError> {
    let mut notes = hw.notes.clone();
    notes.extend(hw.throttle_notes());
    notes.extend(g.notes.iter().cloned());
    let mut layers = Vec::with_capacity(g.layers.len());
    let mut peak = 0u64;
    // On-chip reuse across layers: which tensors stay on chip, decided jointly against the
    // cost of the layers their reservations affect (`onchip`). The memo serves these
    // evaluations too: a layer on the whole buffers is the run's own schedule, and a
    // layer on buffers shrunk by the same bytes recurs at every point of a sweep over the
    // channel's speed (a description of its own, whose fronts those points share).
    // Every description the run costs its layers on is its own with buffers shrunk: one
    // frame, numbered once and kept with the memo.
    let mut memo = memo.map(|m| {
        let frame = m.frame_of(hw);
        (m, frame)
    });
    // Setups are keyed by the memo's description ids: only with a memo.
    let mut setups = setups.filter(|_| memo.is_some());
    // The fusion plan and each layer's phases, made once: the on-chip decision, its
    // evaluations and the rows read them (once per description of a sweep).
    let run_plan = match (setups.as_deref_mut(), memo.as_mut()) {
        (Some(s), Some((m, f))) => s.run_plan(m.description_of(*f, hw), g, hw),
        (None, _) | (_, None) => Arc::new(RunPlan::new(g, hw)),
    };
    let (plan, phases) = (&run_plan.plan, &run_plan.phases);
    let grouped = |i: usize| phases[i].iter().any(|p| matches!(p, Phase::Gemm { work, .. } if work.groups > 1));
    // A family with two mappings of grouped convolutions: what the other would cost.
    let other = match hw.family.other_grouped_mapping() {
        Some((family, this, other)) if (0..g.layers.len()).any(grouped) => {
            Some((HwDesc { family, ..hw.clone() }, this, other))
        }
        _ => None,
    };
    for l in &g.layers {
        check_counts(g, l)?;
    }
    // Each evaluation keeps the sum of the layer's phases and its notes: a layer the
    // decision evaluated under the residency it chose is not evaluated again below (only
    // its row is written).
    // The description with shrunk buffers, cloned once and resized per evaluation (and per
    // bound, which the decision asks for between evaluations).
    let scratch = std::cell::RefCell::new(None);
    // Shared by the decision's evaluations and bounds (never asked for at once).
    let setups = std::cell::RefCell::new(setups);
    let memo = std::cell::RefCell::new(memo);
    let cost = |i: usize, held: &[u64], on: LayerOnChip| {
        let l = &g.layers[i];
        let mut scratch = scratch.borrow_mut();
        let layer_hw = onchip::shrunk_in(hw, held, &mut scratch);
        let mut setups = setups.borrow_mut();
        let mut memo = memo.borrow_mut();
        let memo = memo.as_mut().map(|(m, f)| m.table_in(*f, layer_hw, objective));
        let sched = Sched::of_layer(objective, memo, setups.as_deref_mut(), i);
        let mut layer_notes = Vec::new();
        let followers = plan.followers(LayerId(i));
        let sum = sum_phases(g, l, layer_hw, &phases[i], followers, sched, on, &mut layer_notes).ok()?;
        // The row is written only for the layers the decision keeps this evaluation of.
        Some((sum.score(), (sum, layer_notes)))
    };
    let bound = |i: usize, held: &[u64], on: LayerOnChip| {
        let mut scratch = scratch.borrow_mut();
        let layer_hw = onchip::shrunk_in(hw, held, &mut scratch);
        let mut setups = setups.borrow_mut();
        let mut memo = memo.borrow_mut();
        let setup = setups.as_deref_mut().zip(memo.as_mut()).map(|(setups, (m, f))| SetupAt {
            setups,
            description: m.description_of(*f, layer_hw),
            layer: i,
            phase: 0,
        });
        layer_bound(g, &g.layers[i], &phases[i], layer_hw, plan.followers(LayerId(i)), on, setup)
    };
    let (residency, mut made) = onchip::decide_with(g, hw, plan, phases, &run_plan.cands, objective, cost, bound);
    let (mut memo, mut setups) = (memo.into_inner(), setups.into_inner());
    let mut other_rows = Vec::new();
    for (i, l) in g.layers.iter().enumerate() {
        let on = residency.layer(i);
        let (r, layer_peak) = match (plan.fused_into(LayerId(i)), made[i].take()) {
            (Some(head), _) => (fused_row(g, l, hw, run_plan.labels[i].clone(), &g.layer(head).name), 0),
            (None, Some((sum, layer_notes))) => {
                notes.extend(layer_notes);
                layer_row(g, l, hw, run_plan.labels[i].clone(), sum)
            }
            // A layer beside tensors held on chip runs on the buffers left (the memo's table
            // of that description).
            (None, None) => {
                let shrunk = residency.hw_for(i, hw);
                let layer_hw = shrunk.as_ref().unwrap_or(hw);
                let layer_memo = memo.as_mut().map(|(m, f)| m.table_in(*f, layer_hw, objective));
                let layer_sched = Sched::of_layer(objective, layer_memo, setups.as_deref_mut(), i);
                let followers = plan.followers(LayerId(i));
                let sum = sum_phases(g, l, layer_hw, &phases[i], followers, layer_sched, on, &mut notes)?;
                layer_row(g, l, hw, run_plan.labels[i].clone(), sum)
            }
        };
        if let Some((other_hw, _, _)) = other.as_ref().filter(|_| r.fused_into.is_none() && grouped(i)) {
            // The other mapping's schedules are memoized too, in tables of their own description.
            let other_memo = memo.as_mut().map(|(m, _)| m.alt_table(other_hw, objective));
            // Not the setups: the other description's ids are numbered apart from this one's.
            let other_sched = Sched { objective, memo: other_memo, setup: None };
            let none = LayerOnChip::default();
            let followers = plan.followers(LayerId(i));
            let (alt, _) = run_phases(g, l, other_hw, &phases[i], followers, other_sched, none, &mut Vec::new())?;
            other_rows.push((l.name.as_str(), r.cycles, alt.cycles));
        }
        check_report(&r)?;
        peak = peak.max(layer_peak);
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
    let on_chip = on_chip_tensors(g, plan, &residency);
    notes.push(onchip_note(hw));
    // One of each note, in the order first said (layers alternate between a few).
    let first: Vec<bool> = {
        let mut said = std::collections::HashSet::with_capacity(notes.len());
        notes.iter().map(|n| said.insert(n.as_str())).collect()
    };
    let mut first = first.into_iter();
    notes.retain(|_| first.next().unwrap_or(true));
    let totals = Totals::from_layers(&layers, peak, hw.clock.0, overhead);
    check_totals(&totals)?;
    let report = RunReport {
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
        sequence: None,
        on_chip,
    };
    Ok((report, peak))
}

/// The run's note on on-chip reuse across layers: which mode its numbers assume.
fn onchip_note(hw: &HwDesc) -> String {
    match (hw.onchip_reuse, hw.family.keeps_activations_on_chip()) {
        (true, true) => "on-chip reuse across layers on: a layer's output stays in the on-chip buffer for its readers (no DRAM write or read; its room reserved meanwhile), the set of such tensors whose layers cost least for the objective (`on_chip` lists the tensors; --no-onchip-reuse or onchip_reuse = false moves every layer's output through DRAM)".to_string(),
        (true, false) => format!("on-chip reuse across layers: the {} family keeps no layer output on chip between passes; only fused intermediates stay on chip (`on_chip` lists them)", hw.family.kind()),
        (false, _) => "on-chip reuse across layers off (--no-onchip-reuse, onchip_reuse = false, or a SCALE-Sim .cfg): every layer's output is written to DRAM and read back by its readers, fused intermediates aside".to_string(),
    }
}

/// The tensors a run keeps on chip: those [`onchip::decide`] kept, and the intermediates of
/// fused passes (a fused layer's inputs written by its head or by another layer fused into
/// the same head).
fn on_chip_tensors(g: &Graph, plan: &fusion::FusionPlan, res: &Residency) -> Vec<OnChipTensor> {
    let name = |i: usize| g.layers[i].name.clone();
    let bytes = |t: crate::ir::TensorId| g.tensor(t).bits().to_bytes_ceil();
    let mut out: Vec<OnChipTensor> = res
        .kept
        .iter()
        .map(|k| OnChipTensor {
            tensor: g.tensor(k.tensor).name.clone(),
            bytes: bytes(k.tensor),
            producer: name(k.producer),
            readers: k.readers.iter().map(|&r| name(r)).collect(),
            fused: false,
        })
        .collect();
    for (i, l) in g.layers.iter().enumerate() {
        let Some(head) = plan.fused_into(LayerId(i)) else { continue };
        let pass: Vec<usize> = std::iter::once(head.0).chain(plan.followers(head).iter().map(|(f, _)| f.0)).collect();
        for &t in &l.inputs {
            if let Some(p) = pass.iter().copied().find(|&p| p != i && g.layers[p].outputs.contains(&t)) {
                out.push(OnChipTensor {
                    tensor: g.tensor(t).name.clone(),
                    bytes: bytes(t),
                    producer: name(p),
                    readers: vec![name(i)],
                    fused: true,
                });
            }
        }
    }
    out
}

/// Costs a batch of `batch` images of the batch-1 graph `g` on `hw` (`--batch`): the
/// network at that batch ([`Graph::with_batch`]), each pass scheduled for `objective`
/// with its images together (weights fetched once per tile for all of them), except the
/// passes that cost less run image by image as at batch 1 (e.g. NVDLA, whose
/// convolution + pooling pipeline has no multi-batch mode); so an image never costs more
/// in a larger batch. A pass here is a layer with the layers fused into it at either
/// batch. Batch 1 is [`run_for`].
pub fn run_batch(
    g: &Graph,
    batch: usize,
    hw: &HwDesc,
    objective: Objective,
    memo: Option<&mut TilingMemo>,
) -> Result<RunReport, RunError> {
    run_batch_with(g, batch, hw, objective, memo, None)
}

/// [`run_batch`], with `setups` for `g`'s layers ([`run_shared`]; the graph at the batch
/// is made here, so its layers' setups are not kept).
fn run_batch_with(
    g: &Graph,
    batch: usize,
    hw: &HwDesc,
    objective: Objective,
    mut memo: Option<&mut TilingMemo>,
    setups: Option<&mut Setups>,
) -> Result<RunReport, RunError> {
    if batch == 1 {
        return Ok(run_peak(g, hw, objective, memo, setups)?.0);
    }
    let many_graph = g.with_batch(batch).map_err(|e| RunError::Batch(e.to_string()))?;
    let (one, peak_one) = run_peak(g, hw, objective, memo.as_deref_mut(), setups)?;
    let (mut many, peak_many) = run_peak(&many_graph, hw, objective, memo, None)?;
    let n = batch as u64;
    // Passes: layers joined to the layer they are fused into, at either batch.
    let index: std::collections::HashMap<&str, usize> =
        one.layers.iter().enumerate().map(|(i, l)| (&*l.name, i)).collect();
    let mut pass: Vec<usize> = (0..one.layers.len()).collect();
    fn root(pass: &mut [usize], mut i: usize) -> usize {
        while pass[i] != i {
            pass[i] = pass[pass[i]];
            i = pass[i];
        }
        i
    }
    for r in [&one, &many] {
        for (i, l) in r.layers.iter().enumerate() {
            if let Some(&h) = l.fused_into.as_deref().and_then(|h| index.get(h)) {
                let (a, b) = (root(&mut pass, i), root(&mut pass, h));
                pass[a] = b;
            }
        }
        // A tensor held on chip between passes joins its producer through its last reader
        // (they ran on buffers shrunk by it): one pass, run one way or the other.
        for t in r.on_chip.iter().filter(|t| !t.fused) {
            let Some(&p) = index.get(t.producer.as_str()) else { continue };
            let last = t.readers.iter().filter_map(|n| index.get(n.as_str()).copied()).max().unwrap_or(p);
            for i in p + 1..=last {
                let (a, b) = (root(&mut pass, i), root(&mut pass, p));
                pass[a] = b;
            }
        }
    }
    let roots: Vec<usize> = (0..pass.len()).map(|i| root(&mut pass, i)).collect();
    let score = |r: &RunReport, times: f64, root: usize| {
        let mut s = Score { cycles: 0.0, energy_pj: 0.0, dram_bits: 0.0 };
        for (l, _) in r.layers.iter().zip(&roots).filter(|(_, &x)| x == root) {
            s.cycles += l.cycles.get() as f64 * times;
            s.energy_pj += l.energy.total().0 * times;
            s.dram_bits += (l.dram_read.get().saturating_add(l.dram_write.get())) as f64 * 8.0 * times;
        }
        s
    };
    let mut alone = Vec::new();
    for root in (0..roots.len()).filter(|&i| roots[i] == i) {
        if objective.better(&score(&one, n as f64, root), &score(&many, 1.0, root)) {
            for i in (0..roots.len()).filter(|&i| roots[i] == root) {
                let shape = std::mem::take(&mut many.layers[i].shape);
                many.layers[i] = LayerReport { shape, ..times(&one.layers[i], n) };
            }
            alone.push(one.layers[root].name.clone());
        }
    }
    // The tensors on chip: each pass's, from the run it was taken from.
    let taken_alone = |name: &str| index.get(name).is_some_and(|&i| alone.contains(&one.layers[roots[i]].name));
    let mut on_chip: Vec<OnChipTensor> = many.on_chip.iter().filter(|t| !taken_alone(&t.producer)).cloned().collect();
    on_chip.extend(
        one.on_chip
            .iter()
            .filter(|t| taken_alone(&t.producer))
            .map(|t| OnChipTensor { bytes: Bytes(t.bytes.get().saturating_mul(n)), ..t.clone() }),
    );
    many.on_chip = on_chip;
    if !alone.is_empty() {
        many.notes.push(format!(
            "batch {batch}: {} passes run image by image, as at batch 1, because that costs less ({}); the others run the {batch} images together",
            alone.len(),
            alone.join(", ")
        ));
    }
    let overhead = hw.family.overhead(g.layers.len());
    many.totals = Totals::from_layers(&many.layers, peak_one.max(peak_many), hw.clock.0, overhead);
    check_totals(&many.totals)?;
    Ok(many)
}

/// A layer's row run `n` times, one after another.
fn times(l: &LayerReport, n: u64) -> LayerReport {
    let k = |x: u64| x.saturating_mul(n);
    let mut operands = OperandAccesses::default();
    operands.add_times(&l.operands, n);
    LayerReport {
        macs: Macs(k(l.macs.get())),
        executed_macs: Macs(k(l.executed_macs.get())),
        cycles: Cycles(k(l.cycles.get())),
        compute_cycles: Cycles(k(l.compute_cycles.get())),
        port_cycles: Cycles(k(l.port_cycles.get())),
        stall_cycles: Cycles(k(l.stall_cycles.get())),
        latency: Seconds(l.latency.0 * n as f64),
        tiles: k(l.tiles),
        dram_read: Bytes(k(l.dram_read.get())),
        dram_write: Bytes(k(l.dram_write.get())),
        buffers: l
            .buffers
            .iter()
            .map(|b| BufferTraffic {
                name: b.name.clone(),
                reads: Bytes(k(b.reads.get())),
                writes: Bytes(k(b.writes.get())),
            })
            .collect(),
        energy: Energy {
            mac: l.energy.mac * n,
            vector: l.energy.vector * n,
            buffers: l.energy.buffers * n,
            dram: l.energy.dram * n,
        },
        operands,
        ..l.clone()
    }
}

/// The operand widths of one phase of a layer. The first phase reads the layer's data
/// input; a later phase reads the one before it, whose result is held at the layer's output
/// width. A GEMM's second operand is the weights or the data input it names; `weight` is
/// `None` without one (a layer without a weight tensor has no width to choose a compute mode
/// by: never a default).
#[derive(Debug, Clone, Copy)]
struct PhaseWidths {
    weight: Option<u32>,
    wd: Widths,
}

fn phase_widths(g: &Graph, l: &Layer, hw: &HwDesc, index: usize, phase: &Phase) -> PhaseWidths {
    let out = g.output(l).dtype.bits();
    let weight = match phase {
        Phase::Gemm { operand: Operand::Constant | Operand::Sequential { .. }, .. } | Phase::Vector(_) => {
            g.weights_of(l)
        }
        Phase::Gemm { operand: Operand::Activation { input, .. }, .. } => g.activation_inputs(l).nth(*input),
    }
    .map(|t| t.dtype.bits());
    let wd = Widths {
        // Read only by GEMM work, which has its operand's width (checked in `cost_phase`).
        weight: weight.unwrap_or(0),
        input: if index == 0 { g.data_input(l).dtype.bits() } else { out },
        output: out,
        acc: hw.accumulator.bits,
        bias: g.bias_of(l).map(|t| t.dtype.bits()).unwrap_or(hw.accumulator.bits),
        // Group scales belong to a GEMM's constant weights (a vector phase's table is read
        // by rows, at its width).
        groups: match phase {
            Phase::Gemm { operand: Operand::Constant | Operand::Sequential { .. }, .. } => {
                g.weights_of(l).and_then(|t| t.groups)
            }
            // A KV cache's groups run along its last axis: along the reduction of `Q K^T`.
            Phase::Gemm { operand: Operand::Activation { input, last_axis_summed: true }, .. } => {
                g.activation_inputs(l).nth(*input).and_then(|t| t.groups)
            }
            Phase::Gemm { operand: Operand::Activation { last_axis_summed: false, .. }, .. } | Phase::Vector(_) => None,
        },
        // ... and across the reduction of `P V`.
        dequant: match phase {
            Phase::Gemm { operand: Operand::Activation { input, last_axis_summed: false }, .. } => {
                g.activation_inputs(l).nth(*input).and_then(|t| t.groups)
            }
            Phase::Gemm { operand: Operand::Activation { last_axis_summed: true, .. }, .. }
            | Phase::Gemm { operand: Operand::Constant | Operand::Sequential { .. }, .. }
            | Phase::Vector(_) => None,
        },
        dynamic: dynamic_input(g, l, phase),
        resident_in: 0,
        resident_out: false,
    };
    PhaseWidths { weight, wd }
}

/// LiteRT's hybrid layers (integer weights behind a float input, the executor's hybrid
/// kernels): a fully connected layer's input rows quantized to 8 bits when it runs, with a
/// zero point each when the layer says so; a convolution's images, each with a zero point.
///
/// Under dynamic activation scales (`--act-scales dynamic`, [`Graph::dynamic_activations`])
/// every GEMM with constant weights quantizes its (wider) input per row the same way, to the
/// width the scales name.
fn dynamic_input(g: &Graph, l: &Layer, phase: &Phase) -> Option<DynamicInput> {
    let constant = matches!(phase, Phase::Gemm { operand: Operand::Constant | Operand::Sequential { .. }, .. });
    if !constant {
        return None;
    }
    if !g.is_hybrid(l) {
        let d = g.dynamic_activations.filter(|_| l.op.weight_layout().reduced())?;
        // An input no wider than the rows' width is used as it is.
        return (g.data_input(l).dtype.bits() > u32::from(d.bits))
            .then_some(DynamicInput { bits: u32::from(d.bits), zero_point: d.zero_point });
    }
    let zero_point = match l.op.weight_layout() {
        // The executor's rule (block-wise weights always have a zero point per row).
        WeightLayout::Matrix(fc) => g.weights_of(l).is_some_and(|w| crate::ops::fc::asymmetric_rows(fc, w)),
        // The kernel by the weights' scales (metadata, not values): per channel with a zero
        // point per image, per tensor symmetric.
        WeightLayout::Conv(c) => match hybrid_conv_kernel(g, l, c) {
            Ok(HybridConvKernel::PerChannel) => true,
            Ok(HybridConvKernel::PerTensor) => false,
            // No hybrid kernel: `cost_weights` reports why.
            Err(_) => return None,
        },
        // No hybrid kernel: the run reports the missing compute mode.
        WeightLayout::TransposeConv(_) | WeightLayout::None | WeightLayout::Float => return None,
    };
    Some(DynamicInput { bits: crate::kernels::fc::HYBRID_ROW_BITS, zero_point })
}

/// The hybrid kernel LiteRT runs convolution `c` (layer `l`) with, by its weights' scales.
fn hybrid_conv_kernel(g: &Graph, l: &Layer, c: &crate::ir::Conv2d) -> Result<HybridConvKernel, String> {
    let scales = g.weights_of(l).and_then(|t| t.quant.as_ref()).map_or(&[][..], |q| q.scales.as_slice());
    let in_channels = g.data_input(l).shape.last().copied().unwrap_or(0);
    c.hybrid_kernel(in_channels, scales)
}

/// What one phase of a layer costs: the chosen schedule and its figures (none for a phase
/// that moves no data), the MACs, the compute mode and the array's mapping figures.
struct PhaseCost<'h> {
    chosen: Option<(Figures, Tiling)>,
    macs: Macs,
    /// Multiplies executed for the useful MACs (fewer with Winograd; see
    /// [`crate::map::family::ComputeFigures::executed`]).
    executed: Macs,
    mode: Option<&'h PrecisionMode>,
    array: Option<ArrayUse>,
    active_pes: Option<u64>,
}

/// A layer's cost: the sum of its phases' (each phase a pass that reads its operands from
/// and writes its result to memory, one after another). It does not borrow the description
/// it was costed on (the on-chip decision costs layers on a scratch description with shrunk
/// buffers and writes rows only for the layers it keeps, [`layer_row`]).
struct LayerSum {
    cycles: Cycles,
    compute: u64,
    port: u64,
    stall: Cycles,
    compute_busy: Cycles,
    dma_busy: Cycles,
    tiles: u64,
    dram_read: Bytes,
    dram_write: Bytes,
    buffers: crate::schedule::PerBuffer,
    operands: OperandAccesses,
    energy: Energy,
    macs: Macs,
    executed: Macs,
    /// The compute modes the phases ran in (indices into the description's precisions).
    modes: SmallVec<[usize; 2]>,
    /// The row's weight groups: its weights' (a KV cache's are in the notes).
    weight_groups: Option<WeightGroups>,
    array: Option<ArrayUse>,
    active_pes: Option<u64>,
    costed: bool,
}

impl LayerSum {
    fn new(hw: &HwDesc) -> Self {
        LayerSum {
            cycles: Cycles::ZERO,
            compute: 0,
            port: 0,
            stall: Cycles::ZERO,
            compute_busy: Cycles::ZERO,
            dma_busy: Cycles::ZERO,
            tiles: 0,
            dram_read: Bytes::ZERO,
            dram_write: Bytes::ZERO,
            buffers: smallvec::smallvec![(Bytes::ZERO, Bytes::ZERO); hw.buffers.len()],
            operands: OperandAccesses::default(),
            energy: Energy::default(),
            macs: Macs::ZERO,
            executed: Macs::ZERO,
            modes: SmallVec::new(),
            weight_groups: None,
            array: None,
            active_pes: None,
            costed: false,
        }
    }

    /// Adds a phase of `hw` run `times` times (a GEMM with an activation operand per batch
    /// element).
    fn add(&mut self, hw: &HwDesc, c: PhaseCost, times: u64) {
        let n = |x: u64| x.saturating_mul(times);
        self.macs += Macs(n(c.macs.get()));
        self.executed += Macs(n(c.executed.get()));
        if let Some(m) = c.mode.and_then(|m| hw.precisions.iter().position(|x| std::ptr::eq(x, m))) {
            if !self.modes.contains(&m) {
                self.modes.push(m);
            }
        }
        // The first GEMM phase's mapping figures (SCALE-Sim reports show one per layer).
        self.array = self.array.or(c.array);
        // The most PEs any phase keeps busy.
        self.active_pes = self.active_pes.max(c.active_pes);
        let Some((fig, t)) = c.chosen else { return };
        self.costed = true;
        let tl = fig.timeline;
        self.cycles += Cycles(n(tl.total.get()));
        // The timeline's compute is the port-bound compute (rounded per tile); the units'
        // own cycles are the part of it the ports do not add.
        let own = fig.own_compute.min(tl.compute.get());
        self.compute = self.compute.saturating_add(n(own));
        self.port = self.port.saturating_add(n(tl.compute.get() - own));
        self.stall += Cycles(n(tl.stall.get()));
        self.compute_busy += Cycles(n(tl.compute.get()));
        self.dma_busy += Cycles(n(tl.dma_busy.get()));
        self.tiles = self.tiles.saturating_add(n(t.tiles.max(1)));
        self.dram_read += Bytes(n(fig.dram_read.get()));
        self.dram_write += Bytes(n(fig.dram_write.get()));
        for (acc, &(r, w)) in self.buffers.iter_mut().zip(&fig.buffers) {
            acc.0 += Bytes(n(r.get()));
            acc.1 += Bytes(n(w.get()));
        }
        self.operands.add_times(&fig.operands, times);
        let e = fig.energy;
        let times_pj = |p: PicoJoules| if times == 1 { p } else { p * times };
        self.energy = self.energy
            + Energy {
                mac: times_pj(e.mac),
                vector: times_pj(e.vector),
                buffers: times_pj(e.buffers),
                dram: times_pj(e.dram),
            };
    }
}

/// Costs every phase of layer `l` ([`phases_of`]) and reports their sum; also returns the
/// peak MACs per cycle of the modes it ran in.
#[allow(clippy::too_many_arguments)]
fn run_layer(
    g: &Graph,
    l: &Layer,
    hw: &HwDesc,
    followers: &[(LayerId, FusedOp)],
    sched: Sched,
    on: LayerOnChip,
    notes: &mut Vec<String>,
) -> Result<(LayerReport, u64), RunError> {
    let phases = phases_of(g, l);
    run_phases(g, l, hw, &phases, followers, sched, on, notes)
}

/// [`run_layer`] over the given phases ([`sum_phases`], then [`layer_row`]).
#[allow(clippy::too_many_arguments)]
fn run_phases(
    g: &Graph,
    l: &Layer,
    hw: &HwDesc,
    phases: &[Phase],
    followers: &[(LayerId, FusedOp)],
    sched: Sched,
    on: LayerOnChip,
    notes: &mut Vec<String>,
) -> Result<(LayerReport, u64), RunError> {
    let sum = sum_phases(g, l, hw, phases, followers, sched, on, notes)?;
    Ok(layer_row(g, l, hw, LayerLabels::of(g, l, followers), sum))
}

/// Costs the given phases of layer `l` and sums them. Layers fused into this one run
/// behind its last phase (the fusion plan only fuses into a one-phase convolution). `on`:
/// what the layer reads and writes on chip (the first phase reads the data input, the last
/// writes the output; [`onchip`] holds tensors only for layers of one phase).
#[allow(clippy::too_many_arguments)]
fn sum_phases(
    g: &Graph,
    l: &Layer,
    hw: &HwDesc,
    phases: &[Phase],
    followers: &[(LayerId, FusedOp)],
    mut sched: Sched,
    on: LayerOnChip,
    notes: &mut Vec<String>,
) -> Result<LayerSum, RunError> {
    let mut sum = LayerSum::new(hw);
    for (k, phase) in phases.iter().enumerate() {
        let behind = if k + 1 == phases.len() { followers } else { &[] };
        let mut phase_sched = Sched {
            objective: sched.objective,
            memo: sched.memo.as_mut().map(MemoView::reborrow),
            setup: sched.setup.as_mut().map(|at| at.at_phase(k)),
        };
        let mut pw = widths_at(phase_sched.setup.as_mut(), || phase_widths(g, l, hw, k, phase));
        if k == 0 {
            pw.wd.resident_in = on.resident_in;
        }
        pw.wd.resident_out = on.resident_out && k + 1 == phases.len();
        // The row's weight groups are its weights' (a KV cache's are in the notes).
        if !matches!(phase, Phase::Gemm { operand: Operand::Activation { .. }, .. }) {
            sum.weight_groups = sum.weight_groups.or(pw.wd.groups);
        }
        let (c, times) = cost_phase(g, l, hw, phase, pw, behind, phase_sched, notes)?;
        sum.add(hw, c, times);
    }
    Ok(sum)
}

impl LayerSum {
    /// Its score as the on-chip decision compares layers ([`onchip::decide`]).
    fn score(&self) -> Score {
        let dram = self.dram_read.get().saturating_add(self.dram_write.get()) as f64 * 8.0;
        Score { cycles: self.cycles.get() as f64, energy_pj: self.energy.total().get(), dram_bits: dram }
    }
}

impl LayerLabels {
    /// The labels of layer `l` of `g`, with `followers` fused into it.
    fn of(g: &Graph, l: &Layer, followers: &[(LayerId, FusedOp)]) -> Self {
        let mut op = g.op_name(l).to_string();
        for &(fi, _) in followers {
            op.push('+');
            op.push_str(g.op_name(g.layer(fi)));
        }
        LayerLabels { name: l.name.as_str().into(), op: op.into(), shape: g.output(l).shape.as_slice().into() }
    }
}

/// Layer `l`'s row from the sum of its phases, costed on `hw` or on a description with
/// the same buffers, precisions and clock but other buffer sizes (the row reads neither
/// sizes nor the channel); also the peak MACs per cycle of the modes it ran in.
fn layer_row(g: &Graph, l: &Layer, hw: &HwDesc, labels: LayerLabels, sum: LayerSum) -> (LayerReport, u64) {
    let traffic: Vec<BufferTraffic> = hw
        .buffers
        .iter()
        .zip(&sum.buffers)
        .map(|(b, &(reads, writes))| BufferTraffic { name: b.name.clone(), reads, writes })
        .collect();
    let bound = match (sum.costed, sum.dma_busy > sum.compute_busy) {
        (false, _) => Bound::None,
        (true, true) => Bound::Memory,
        (true, false) => Bound::Compute,
    };
    let modes = || sum.modes.iter().filter_map(|&m| hw.precisions.get(m));
    let peak = modes().map(|m| m.macs_per_cycle).max().unwrap_or(0);
    // The modes' labels joined by '+' (one allocation: a label is at most "32x32").
    let mut mode = String::with_capacity(8 * sum.modes.len());
    for m in modes() {
        if !mode.is_empty() {
            mode.push('+');
        }
        push_mode_label(&mut mode, m.weight_bits, m.activation_bits);
    }
    let (cycles, macs) = (sum.cycles, sum.macs);
    let report = LayerReport {
        name: labels.name,
        op: labels.op,
        shape: labels.shape,
        mode,
        weight_type: g.weights_of(l).map(|t| t.dtype),
        weight_groups: sum.weight_groups,
        activation_type: g.data_input(l).dtype,
        macs,
        executed_macs: sum.executed,
        cycles,
        compute_cycles: Cycles(sum.compute),
        port_cycles: Cycles(sum.port),
        stall_cycles: sum.stall,
        latency: hw.clock.duration(cycles),
        utilization: if peak > 0 && cycles.get() > 0 {
            sum.executed.get() as f64 / (cycles.get() as f64 * peak as f64)
        } else {
            0.0
        },
        bound,
        tiles: sum.tiles,
        dram_read: sum.dram_read,
        dram_write: sum.dram_write,
        buffers: traffic,
        energy: sum.energy,
        fused_into: None,
        array: sum.array,
        active_pes: sum.active_pes,
        operands: sum.operands,
    };
    (report, peak)
}

/// A score that layer `l`'s row on `hw` (what [`run_layer`] gives, scored as the on-chip
/// decision scores it) does not beat in any field, with `on` read and written on chip,
/// whatever schedule is chosen; `None` where no such bound is known cheaply, and where the
/// layer has no schedule on `hw` (so a bound says its evaluation succeeds). Only a layer of
/// one GEMM phase with constant weights, one image and no groups that could run one by one
/// has one ([`tiling::conv_tiling_bound`]): a batch takes the better of two ways, and a
/// grouped convolution may fall back to dense ones. Its basis ([`BoundBasis`]) is kept in
/// the setups: only the channel's figures differ across a sweep over its speed and clock.
fn layer_bound(
    g: &Graph,
    l: &Layer,
    phases: &[Phase],
    hw: &HwDesc,
    followers: &[(LayerId, FusedOp)],
    on: LayerOnChip,
    mut setup: Option<SetupAt>,
) -> Option<Score> {
    let basis_of = |mut setup: Option<SetupAt>| -> Option<BoundBasis> {
        let (phase, work) = match phases {
            [phase @ Phase::Gemm { work, operand: Operand::Constant }] => (phase, *work),
            [Phase::Gemm { operand: Operand::Activation { .. } | Operand::Sequential { .. }, .. }]
            | [Phase::Vector(_)]
            | []
            | [_, _, ..] => return None,
        };
        if work.n > 1 || (work.groups > 1 && !work.is_depthwise()) {
            return None;
        }
        let mut pw = widths_at(setup.as_mut(), || phase_widths(g, l, hw, 0, phase));
        pw.wd.resident_in = on.resident_in;
        pw.wd.resident_out = on.resident_out;
        let at = setup.as_mut().map(SetupAt::reborrow);
        let gemm = GemmOf { g, l, work, operand: Operand::Constant, pw: &pw, followers };
        let s = gemm_setup_cached(gemm, hw, None, at).ok()?;
        // Only where the evaluation succeeds (a failing one scores zero when nothing is held).
        let fits = || tiling::has_candidate(hw, &s.w, pw.wd);
        let fits = match setup {
            Some(mut at) => at.fits(work, pw.wd, fits),
            None => fits(),
        };
        if !fits {
            return None;
        }
        tiling::conv_tiling_bound(&s.w, pw.wd).map(|b| s.ev.bound_basis(&b))
    };
    let basis = match setup.as_ref().and_then(|at| at.bound_basis(on)) {
        Some(kept) => kept,
        None => {
            let made = basis_of(setup.as_mut().map(SetupAt::reborrow));
            if let Some(at) = setup.as_mut() {
                at.keep_bound_basis(on, made);
            }
            made
        }
    };
    basis.map(|b| ChannelTimes::of(hw).bound(&b))
}

/// Maps, schedules and costs one phase of layer `l`; returns its cost and how many times
/// it runs (a GEMM whose second operand is an activation has a different operand per batch
/// element: it is costed for one and runs once per element, with no reuse across them).
#[allow(clippy::too_many_arguments)]
fn cost_phase<'h>(
    g: &Graph,
    l: &Layer,
    hw: &'h HwDesc,
    phase: &Phase,
    pw: PhaseWidths,
    followers: &[(LayerId, FusedOp)],
    sched: Sched,
    notes: &mut Vec<String>,
) -> Result<(PhaseCost<'h>, u64), RunError> {
    let wd = pw.wd;
    let no_tile = |source| RunError::NoTile { layer: l.name.clone(), source };
    let cost = match *phase {
        Phase::Gemm { work, operand: Operand::Constant } if work.n > 1 => {
            // A batch: the images together (weights fetched once per tile for all of them),
            // or one after another when holding them together does not pay (their tiles
            // crowd the buffers); the better for the objective, so an image never costs
            // more in a larger batch.
            let mut sched = sched;
            let objective = sched.objective;
            let first = sched.reborrow();
            let (whole, t_whole) = cost_weights(g, l, hw, work, &pw, followers, first, notes)?;
            let second = sched.reborrow();
            let (one, t_one) = cost_weights(g, l, hw, ConvWork { n: 1, ..work }, &pw, followers, second, notes)?;
            let t_one = t_one.saturating_mul(work.n);
            return Ok(match (score(&whole, t_whole), score(&one, t_one)) {
                (Some(a), Some(b)) if objective.better(&b, &a) => (one, t_one),
                // Only the images one after another have a schedule.
                (None, Some(_)) => (one, t_one),
                (Some(_), _) | (None, None) => (whole, t_whole),
            });
        }
        Phase::Gemm { work, operand: Operand::Constant } => {
            return cost_weights(g, l, hw, work, &pw, followers, sched, notes);
        }
        Phase::Gemm { work, operand: Operand::Sequential { steps } } => {
            // One step's GEMM, run `steps` times one after another: no reuse across steps.
            let (cost, times) = cost_weights(g, l, hw, work, &pw, followers, sched, notes)?;
            return Ok((cost, times.saturating_mul(steps)));
        }
        Phase::Gemm { work, operand: operand @ Operand::Activation { .. } } => {
            let one = ConvWork { n: 1, ..work };
            return Ok((cost_gemm(g, l, hw, one, operand, &pw, followers, sched, notes)?, work.n.max(1)));
        }
        Phase::Vector(v) => {
            let per_cycle = hw.family.vector_elements_per_cycle(hw, &v) as f64 * 8.0 / wd.input.max(8) as f64;
            let ev = LayerEval::new(
                hw,
                None,
                LayerWork {
                    wd,
                    reads: OperandReads { inputs: v.in_elements, weights: v.weights },
                    pe_local_reads: OperandReads::default(),
                    out_elems: v.out_elements,
                    psum_passes: 1,
                    compute: (v.ops as f64 / per_cycle).ceil() as u64,
                    core: CoreActions { macs: 0, vector_ops: v.ops, vector_bits: wd.input },
                    extra_read: Bits::ZERO,
                    fused_out: None,
                },
            );
            let t = match sched.memo {
                None => schedule_vector(hw, &v, wd, &ev, sched.objective),
                Some(mut view) => view.schedule_vector(hw, &v, wd, ev.key(), &ev),
            }
            .map_err(no_tile)?;
            PhaseCost {
                chosen: Some((ev.figures(&t), t)),
                macs: Macs::ZERO,
                executed: Macs::ZERO,
                mode: None,
                array: None,
                active_pes: None,
            }
        }
    };
    Ok((cost, 1))
}

/// What a layer's phase costs at its batch: [`Score`] of a chosen schedule run `times`
/// times (`None` for a phase that moves no data).
fn score(c: &PhaseCost, times: u64) -> Option<Score> {
    let (fig, _) = c.chosen.as_ref()?;
    let t = times as f64;
    let dram = fig.dram_read.get().saturating_add(fig.dram_write.get()) as f64 * 8.0;
    Some(Score {
        cycles: fig.timeline.total.get() as f64 * t,
        energy_pj: fig.energy.total().0 * t,
        dram_bits: dram * t,
    })
}

/// Maps, schedules and costs the GEMM `work` of layer `l` whose second operand is its
/// weights; returns its cost and how many times it runs. A grouped (not depthwise)
/// convolution none of whose tiles fits -- a tile holds whole groups -- runs group by group,
/// each group a dense convolution of its own channels (AlexNet's CONV2 on a 64 KiB weight
/// buffer).
#[allow(clippy::too_many_arguments)]
fn cost_weights<'h>(
    g: &Graph,
    l: &Layer,
    hw: &'h HwDesc,
    work: ConvWork,
    pw: &PhaseWidths,
    followers: &[(LayerId, FusedOp)],
    mut sched: Sched,
    notes: &mut Vec<String>,
) -> Result<(PhaseCost<'h>, u64), RunError> {
    let first = sched.reborrow();
    match cost_gemm(g, l, hw, work, Operand::Constant, pw, followers, first, notes) {
        Err(RunError::NoTile { .. }) if work.groups > 1 && !work.is_depthwise() => {
            let group = ConvWork { groups: 1, c: work.cg(), k: work.kg(), ..work };
            let cost = cost_gemm(g, l, hw, group, Operand::Constant, pw, followers, sched, notes)?;
            let note = format!(
                "layer '{}': no tile holds a whole group of its grouped convolution; it runs group by group ({} dense convolutions of {} to {} channels)",
                l.name, work.groups, group.c, group.k
            );
            notes.push(note);
            Ok((cost, work.groups))
        }
        other => Ok((other?, 1)),
    }
}

/// Maps, schedules and costs the GEMM `layer_work` of layer `l` (one run of it).
#[allow(clippy::too_many_arguments)]
fn cost_gemm<'h>(
    g: &Graph,
    l: &Layer,
    hw: &'h HwDesc,
    layer_work: ConvWork,
    operand: Operand,
    pw: &PhaseWidths,
    followers: &[(LayerId, FusedOp)],
    sched: Sched,
    notes: &mut Vec<String>,
) -> Result<PhaseCost<'h>, RunError> {
    let wd = pw.wd;
    let no_tile = |source| RunError::NoTile { layer: l.name.clone(), source };
    let gemm = GemmOf { g, l, work: layer_work, operand, pw, followers };
    let GemmSetup { w, mode, f, ev } = gemm_setup_cached(gemm, hw, Some(notes), sched.setup)?;
    let t = match sched.memo {
        None => schedule_conv(hw, &w, wd, &ev, sched.objective),
        Some(mut view) => view.schedule_conv(hw, &w, wd, ev.key(), &ev),
    }
    .map_err(no_tile)?;
    let cost = PhaseCost {
        chosen: Some((ev.figures(&t), t)),
        macs: layer_work.macs(),
        // Useful work only: a Winograd mode executes fewer, a channel-expanded
        // mapping more (its padding zeros, which are not useful).
        executed: f.executed.min(layer_work.macs()),
        mode: Some(mode),
        array: f.array,
        active_pes: f.active_pes,
    };
    Ok(cost)
}

/// A GEMM of layer `l` of `g` to cost: the layer's work or a part of it (one image, one
/// group), its second operand, the phase's widths and the layers fused behind it.
#[derive(Clone, Copy)]
struct GemmOf<'a> {
    g: &'a Graph,
    l: &'a Layer,
    work: ConvWork,
    operand: Operand,
    pw: &'a PhaseWidths,
    followers: &'a [(LayerId, FusedOp)],
}

/// What costing a GEMM of a layer needs before its schedule is chosen: the loop nest as the
/// family runs it, the compute mode and figures, and the evaluation its candidates are
/// scored by ([`gemm_setup`]).
struct GemmSetup<'h> {
    w: ConvWork,
    mode: &'h PrecisionMode,
    f: ComputeFigures,
    ev: LayerEval<'h>,
}

/// `make`'s widths, kept in the sweep's setups at `setup` when there are some.
fn widths_at(setup: Option<&mut SetupAt>, make: impl FnOnce() -> PhaseWidths) -> PhaseWidths {
    match setup {
        Some(at) => at.widths(make),
        None => make(),
    }
}

/// [`gemm_setup`], made once per description and kept in the sweep's setups when there are
/// some ([`setups`]): a kept setup says its notes again, each unless `notes` has it already
/// (the run keeps one of each note, in the order first said, so what it reports is the same).
fn gemm_setup_cached<'h>(
    gemm: GemmOf,
    hw: &'h HwDesc,
    notes: Option<&mut Vec<String>>,
    setup: Option<SetupAt>,
) -> Result<GemmSetup<'h>, RunError> {
    let Some(mut at) = setup else {
        return gemm_setup(gemm, hw, notes);
    };
    let say = |said: &[String], notes: Option<&mut Vec<String>>| {
        if let Some(notes) = notes {
            for n in said {
                if !notes.contains(n) {
                    notes.push(n.clone());
                }
            }
        }
    };
    // The description's modes are the same on every description of one id.
    if let Some(kept) = at.gemm(gemm.work, gemm.pw.wd).filter(|k| k.mode < hw.precisions.len()) {
        say(&kept.notes, notes);
        let mode = &hw.precisions[kept.mode];
        let ev = LayerEval::with_prepared(hw, Some(mode), kept.work, &kept.prepared);
        return Ok(GemmSetup { w: kept.w, mode, f: kept.f, ev });
    }
    let mut said = Vec::new();
    let made = gemm_setup(gemm, hw, Some(&mut said))?;
    say(&said, notes);
    if let Some(mode) = hw.precisions.iter().position(|m| std::ptr::eq(m, made.mode)) {
        let (work, prepared) = (*made.ev.work(), made.ev.prepared());
        let facts = GemmFacts { w: made.w, mode, f: made.f, work, prepared, notes: said, fits: None };
        at.keep_gemm(gemm.work, gemm.pw.wd, facts);
    }
    Ok(made)
}

/// [`cost_gemm`] up to the schedule: the GEMM `gemm` mapped onto `hw`, with the run's
/// notes on it pushed to `notes` (none when `None`: [`layer_bound`]).
fn gemm_setup<'h>(
    gemm: GemmOf,
    hw: &'h HwDesc,
    mut notes: Option<&mut Vec<String>>,
) -> Result<GemmSetup<'h>, RunError> {
    let GemmOf { g, l, work: layer_work, operand, pw, followers } = gemm;
    let wd = pw.wd;
    // The loop nest as the family runs it (NVDLA may pack groups); the layer's
    // useful MACs stay its own.
    let w = hw.family.conv_work(&layer_work);
    let weight = pw.weight.ok_or_else(|| match operand {
        Operand::Constant | Operand::Sequential { .. } => RunError::NoWeights { layer: l.name.clone() },
        Operand::Activation { input, .. } => RunError::NoOperand { layer: l.name.clone(), input },
    })?;
    // A hybrid convolution no LiteRT kernel runs: say why rather than which mode is missing.
    if let (true, None, WeightLayout::Conv(c)) = (g.is_hybrid(l), wd.dynamic, l.op.weight_layout()) {
        if let Err(reason) = hybrid_conv_kernel(g, l, c) {
            return Err(RunError::NoHybridKernel { layer: l.name.clone(), reason });
        }
    }
    // A float input quantized per token on the way in runs in the mode of its quantized width.
    let array_input = wd.dynamic.map_or(wd.input, |d| d.bits);
    let mode = hw.mode_for(weight, array_input).ok_or_else(|| RunError::Precision {
        layer: l.name.clone(),
        hw: hw.name.clone(),
        weight_bits: wd.weight,
        activation_bits: array_input,
        modes: hw
            .precisions
            .iter()
            .map(|m| format!("{}x{}", m.weight_bits, m.activation_bits))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    if mode.weight_bits != wd.weight || mode.activation_bits != array_input {
        let note = format_args!(
            "{}x{}-bit operands run in the {}x{} compute mode, unpacked (sign-extended) between the buffers and the array; buffers and DRAM hold and move them at {}x{} bits",
            wd.weight, array_input, mode.weight_bits, mode.activation_bits, wd.weight, wd.input
        );
        // The run keeps one of consecutive equal notes (`dedup`): skip the
        // allocation when the last note already says this.
        if let Some(notes) = notes.as_deref_mut().filter(|n| !n.last().is_some_and(|last| equals_formatted(last, note)))
        {
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
    // Group-wise weights: the array multiplies the packed integers (unpacked to the mode's
    // width on the way in) and each group's partial sum is rescaled by its scale on the
    // vector unit, beside the array (one multiply-add per output and group, two with a
    // zero point); the pass takes at least as long as that unit needs.
    let group_ops = wd.group_ops(out_elems, w.r * w.s * w.cg());
    let cache = matches!(operand, Operand::Activation { .. });
    if let (Some(groups), true) = (wd.groups, group_ops > 0) {
        let note = format_args!(
            "group-wise {} ({groups}, {}-bit scales{}): each group's partial sum is rescaled on the vector unit beside the array ({} multiply-add{} per output and group); the scales move with the {}",
            if cache { "keys (a KV cache grouped along each head's features, summed over by Q K^T)" } else { "weights" },
            groups.scale_bits,
            if groups.zero_point_bits > 0 { " and zero points" } else { "" },
            if groups.zero_point_bits > 0 { 2 } else { 1 },
            if groups.zero_point_bits > 0 { "s" } else { "" },
            if cache { "cache" } else { "weights" },
        );
        if let Some(notes) = notes.as_deref_mut().filter(|n| !n.iter().any(|last| equals_formatted(last, note))) {
            notes.push(note.to_string());
        }
    }
    // An operand grouped across the reduction (a value cache read by P V): each element
    // dequantized on the vector unit as it is loaded, once per GEMM.
    let dequant_ops = wd.dequant_ops(w.k, w.r * w.s * w.cg());
    if let (Some(groups), true) = (wd.dequant, dequant_ops > 0) {
        let note = format_args!(
            "group-wise values ({groups}, {}-bit scales{}, along each head's features, across the positions P V sums over): each cached element is dequantized on the vector unit as it is loaded ({} operation{} per element); the scales move with the cache",
            groups.scale_bits,
            if groups.zero_point_bits > 0 { " and zero points" } else { "" },
            if groups.zero_point_bits > 0 { 2 } else { 1 },
            if groups.zero_point_bits > 0 { "s" } else { "" },
        );
        if let Some(notes) = notes.as_deref_mut().filter(|n| !n.iter().any(|last| equals_formatted(last, note))) {
            notes.push(note.to_string());
        }
    }
    // Dynamic quantization of a float input: each row's (image's) range and quantization
    // and each output's rescale on the vector unit, beside the array.
    let in_elems =
        layer_work.n.saturating_mul(layer_work.ih).saturating_mul(layer_work.iw).saturating_mul(layer_work.c);
    let dynamic_ops = wd.dynamic.map_or(0, |d| d.ops(in_elems, out_elems));
    if let Some(d) = wd.dynamic {
        let note = format_args!(
            "dynamic quantization ({}): a {}-bit {} input, moved and held in the buffers at that width, is quantized row by row (fully connected: per token) or image by image (convolution) to {} bits on the vector unit as the array reads it ({} operations per input element, {} per output), then multiplied in the {}x{} mode; the scales{} stay on chip",
            if g.is_hybrid(l) { "LiteRT's hybrid layers" } else { "--act-scales dynamic" },
            wd.input,
            if g.is_hybrid(l) { "float" } else { "activation" },
            d.bits,
            2,
            if d.zero_point { 2 } else { 1 },
            mode.weight_bits,
            mode.activation_bits,
            if d.zero_point { " and zero points" } else { "" },
        );
        if let Some(notes) = notes.filter(|n| !n.iter().any(|n| equals_formatted(n, note))) {
            notes.push(note.to_string());
        }
    }
    let vector_ops = group_ops.saturating_add(dynamic_ops).saturating_add(dequant_ops);
    let compute = if vector_ops > 0 {
        let v = VectorWork { in_elements: 0, out_elements: out_elems, weights: 0, ops: vector_ops, pooling: false };
        let per_cycle = hw.family.vector_elements_per_cycle(hw, &v) as f64 * 8.0 / wd.input.max(8) as f64;
        pass.compute.max((vector_ops as f64 / per_cycle).ceil() as u64)
    } else {
        pass.compute
    };
    let ev = LayerEval::new(
        hw,
        Some(mode),
        LayerWork {
            wd,
            reads: f.buffer,
            pe_local_reads: f.pe_local,
            out_elems,
            psum_passes: f.psum_passes,
            compute,
            core: CoreActions {
                macs: w.macs().get(),
                vector_ops: pass.vector_ops.saturating_add(vector_ops),
                vector_bits: wd.input,
            },
            extra_read: pass.extra_read,
            fused_out: pass.fused_output,
        },
    );
    Ok(GemmSetup { w, mode, f, ev })
}

/// The row of a layer fused into `head`: no cycles, traffic or energy of its own (they are
/// in the head's row), so totals stay the sum of the rows.
fn fused_row(g: &Graph, l: &Layer, hw: &HwDesc, labels: LayerLabels, head: &str) -> LayerReport {
    LayerReport {
        name: labels.name,
        op: labels.op,
        shape: labels.shape,
        mode: String::new(),
        weight_type: g.weights_of(l).map(|t| t.dtype),
        weight_groups: None,
        activation_type: g.data_input(l).dtype,
        macs: Macs::ZERO,
        executed_macs: Macs::ZERO,
        cycles: Cycles::ZERO,
        compute_cycles: Cycles::ZERO,
        port_cycles: Cycles::ZERO,
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
        active_pes: None,
        operands: OperandAccesses::default(),
    }
}

/// Appends `format!("{weight}x{activation}")` without the formatting machinery.
fn push_mode_label(s: &mut String, weight: u32, activation: u32) {
    push_decimal(s, weight);
    s.push('x');
    push_decimal(s, activation);
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
    let too_large = |what: &str| Err(RunError::TooLarge { layer: r.name.to_string(), what: what.into() });
    let counts = [
        ("the cycle count", r.cycles.get()),
        ("the compute cycle count", r.compute_cycles.get()),
        ("the buffer-port cycle count", r.port_cycles.get()),
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
        ("the buffer-port cycle count", t.port_cycles.get()),
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
            let mut s = String::from("4x4+");
            push_mode_label(&mut s, w, a);
            assert_eq!(s, format!("4x4+{w}x{a}"));
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

    fn mnv1_w8a8() -> Graph {
        let mut g = crate::import::load_model("mnv1", &Default::default()).expect("mnv1");
        crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: 8, activation_bits: 8 }, 32);
        g
    }

    /// One memo across descriptions that differ in DRAM bandwidth, latency and clock (once a
    /// layer has been searched a few times, its candidate front is built and later points
    /// only re-simulate it) gives every point exactly what a fresh search gives, on every family
    /// and objective.
    #[test]
    fn memoized_fronts_across_channel_speeds_equal_fresh_searches() {
        let g = mnv1_w8a8();
        for name in ["systolic32", "mac8", "nvdla_full", "dsp"] {
            for objective in [Objective::Latency, Objective::Energy, Objective::Edp] {
                let mut memo = TilingMemo::default();
                // More variants than the searches before a front is built, so the later
                // ones come from the front.
                let gbps = [1.0, 3.0, 7.5, 20.0, 80.0, 2.0, 0.5, 5.0, 10.0, 40.0, 160.0, 1.5, 12.0, 4.0];
                for (i, gbps) in gbps.into_iter().enumerate() {
                    let (latency_ns, mhz) = ([0.0, 100.0, 40.0, 400.0][i % 4], [1000.0, 500.0, 2000.0, 700.0][i % 3]);
                    let mut hw = crate::hw::load_hw(name, &[]).expect("preset");
                    hw.dram.bandwidth = crate::units::BytesPerSecond(gbps * 1e9);
                    hw.dram.latency_ns = latency_ns;
                    hw.clock = crate::units::Hertz(mhz * 1e6);
                    let fresh = run_for(&g, &hw, objective).expect("runs");
                    let memoized = run_memo(&g, &hw, objective, &mut memo).expect("runs");
                    assert_eq!(memoized, fresh, "{name} {objective:?} {gbps} GB/s {latency_ns} ns {mhz} MHz");
                }
            }
        }
    }

    /// A sweep worker's memo with the layers' setups ([`run_shared`]) gives every point
    /// exactly what a fresh run gives (notes included), across channel speeds, clocks, buffer
    /// sizes, objectives, batches and graphs taking turns (the setups are another graph's
    /// when it changes): on the families with fusion, on-chip reuse and NVDLA's other
    /// grouped mapping, at widths that run in a wider mode (a note per layer).
    #[test]
    fn shared_setups_equal_fresh_runs() {
        let graph = |w: u8| {
            let mut g = crate::import::load_model("mnv1", &Default::default()).expect("mnv1");
            crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: w, activation_bits: 8 }, 32);
            Arc::new(g)
        };
        let graphs = [graph(8), graph(4)];
        for name in ["systolic32", "nvdla_full", "dsp"] {
            let mut memo = RunMemo::for_channel_speeds(12);
            for (i, gbps) in [1.0, 3.0, 7.5, 20.0, 80.0, 2.0, 0.5, 5.0, 10.0, 40.0, 160.0, 1.5].into_iter().enumerate()
            {
                let mut hw = crate::hw::load_hw(name, &[]).expect("preset");
                hw.dram.bandwidth = crate::units::BytesPerSecond(gbps * 1e9);
                hw.clock = crate::units::Hertz([1000.0, 500.0, 2000.0][i % 3] * 1e6);
                if i % 4 == 3 {
                    for b in &mut hw.buffers {
                        b.size = Bytes(b.size.get() / 2);
                    }
                }
                let objective = [Objective::Latency, Objective::Energy][i / 6];
                let batch = if i % 5 == 4 { 2 } else { 1 };
                let g = &graphs[(i / 2) % 2];
                let fresh = run_batch(g, batch, &hw, objective, None);
                let shared = run_shared(g, batch, &hw, objective, &mut memo);
                assert_eq!(shared, fresh, "{name} {objective:?} {gbps} GB/s, batch {batch}, graph {}", (i / 2) % 2);
            }
        }
    }

    /// Two tilings that reach one tile stream by different float paths (NVDLA's split into
    /// CBUF rows) simulate alike, so the front's dominance test never drops the better of
    /// them: ResNet-50 w4a8 on nvdla_full under `--objective energy`, the channel speeds in
    /// the order whose front once chose layer2_0_conv1's tiling a cycle worse at 8 GB/s
    /// than a fresh search (and a sweep's rows depended on its thread count).
    #[test]
    fn fronts_equal_fresh_searches_where_two_tilings_reach_one_stream() {
        let mut g = crate::import::load_model("resnet50", &Default::default()).expect("resnet50");
        crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: 4, activation_bits: 8 }, 32);
        let mut memo = TilingMemo::default();
        for gbps in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0, 10.0, 8.0] {
            let mut hw = crate::hw::load_hw("nvdla_full", &[]).expect("preset");
            hw.dram.bandwidth = crate::units::BytesPerSecond(gbps * 1e9);
            let fresh = run_for(&g, &hw, Objective::Energy).expect("runs");
            let memoized = run_memo(&g, &hw, Objective::Energy, &mut memo).expect("runs");
            assert_eq!(memoized, fresh, "{gbps} GB/s");
        }
    }

    /// Preset `name` at `gbps` GB/s, at `ghz` GHz (its own clock when `None`), with every
    /// buffer `shrink` smaller.
    fn varied_preset(name: &str, gbps: f64, ghz: Option<f64>, shrink: f64) -> HwDesc {
        let mut hw = crate::hw::load_hw(name, &[]).expect("preset");
        hw.dram.bandwidth = crate::units::BytesPerSecond(gbps * 1e9);
        if let Some(ghz) = ghz {
            hw.clock = crate::units::Hertz(ghz * 1e9);
        }
        for b in &mut hw.buffers {
            b.size = Bytes((b.size.get() as f64 * (1.0 - shrink)) as u64);
        }
        hw
    }

    /// What layer `l` may hold on chip: its input, its output, both or neither.
    fn holds(g: &Graph, l: &Layer) -> [LayerOnChip; 4] {
        let input = g.data_input(l).elements();
        [(0, false), (input, false), (0, true), (input, true)]
            .map(|(resident_in, resident_out)| LayerOnChip { resident_in, resident_out })
    }

    /// The on-chip decision's bound of a layer ([`layer_bound`]) never beats, in any field,
    /// the score of its row under the same holds, on every family at several channel speeds
    /// and widths, with its input and output on chip or not and buffers shrunk or not; and
    /// it is given only where the row is (a layer with no schedule has no bound).
    #[test]
    fn a_layer_bound_never_beats_its_row() {
        let mut bounded = 0;
        for (model, bits) in [("mnv1", 8), ("resnet18", 4), ("mnv2", 8)] {
            let mut g = crate::import::load_model(model, &Default::default()).expect("model");
            let p = crate::quant::Precision { weight_bits: bits, activation_bits: 8 };
            crate::quant::assign_uniform(&mut g, p, 32);
            for name in ["systolic32", "mac8", "nvdla_full", "dsp", "eyeriss"] {
                for (gbps, shrink) in [(1.0, 0.0), (6.0, 0.5), (40.0, 0.9), (400.0, 0.97)] {
                    let hw = varied_preset(name, gbps, None, shrink);
                    let plan = fusion::plan(&g, &hw);
                    for (i, l) in g.layers.iter().enumerate() {
                        for on in holds(&g, l) {
                            let followers = plan.followers(LayerId(i));
                            let Some(b) = layer_bound(&g, l, &phases_of(&g, l), &hw, followers, on, None) else {
                                continue;
                            };
                            let sched = Sched { objective: Objective::default(), memo: None, setup: None };
                            let row = run_layer(&g, l, &hw, followers, sched, on, &mut Vec::new());
                            let (r, _) =
                                row.unwrap_or_else(|e| panic!("{model} {name} {}: bounded, no row: {e}", l.name));
                            let dram = r.dram_read.get().saturating_add(r.dram_write.get()) as f64 * 8.0;
                            let at =
                                format!("{model} {name} {gbps} GB/s -{shrink} {} {on:?}: {b:?} against {r:?}", l.name);
                            assert!(b.cycles <= r.cycles.get() as f64, "{at}");
                            assert!(b.energy_pj <= r.energy.total().get(), "{at}");
                            assert!(b.dram_bits <= dram, "{at}");
                            bounded += 1;
                        }
                    }
                }
            }
        }
        assert!(bounded > 1000, "{bounded} bounds checked");
    }

    /// A layer's bound kept in a sweep's setups (its basis, [`SetupAt::keep_bound_basis`])
    /// is the bound made afresh at every channel speed and clock of the description it was
    /// kept for, with the layer's input and output on chip or not, on buffers shrunk or not.
    #[test]
    fn kept_layer_bounds_equal_fresh_ones() {
        let mut g = crate::import::load_model("mnv1", &Default::default()).expect("model");
        crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: 8, activation_bits: 8 }, 32);
        let g = Arc::new(g);
        let mut kept = 0;
        for name in ["systolic32", "nvdla_full", "dsp", "mac8"] {
            for shrink in [0.0, 0.9] {
                let mut memo = RunMemo::default();
                // The first speed and clock keep the bases; the others read them.
                for (gbps, ghz) in [(8.0, 1.0), (1.0, 1.0), (100.0, 1.0), (8.0, 0.25), (3.0, 2.0)] {
                    let hw = varied_preset(name, gbps, Some(ghz), shrink);
                    let frame = memo.tiling.frame_of(&hw);
                    let description = memo.tiling.description_of(frame, &hw);
                    let plan = fusion::plan(&g, &hw);
                    for (i, l) in g.layers.iter().enumerate() {
                        for on in holds(&g, l) {
                            let followers = plan.followers(LayerId(i));
                            let phases = phases_of(&g, l);
                            let setups = memo.setups.for_graph(&g);
                            let at = SetupAt { setups, description, layer: i, phase: 0 };
                            let with = layer_bound(&g, l, &phases, &hw, followers, on, Some(at));
                            let fresh = layer_bound(&g, l, &phases, &hw, followers, on, None);
                            assert_eq!(with, fresh, "{name} -{shrink} {gbps} GB/s {ghz} GHz {} {on:?}", l.name);
                            kept += usize::from(with.is_some());
                        }
                    }
                }
            }
        }
        assert!(kept > 500, "{kept} bounds compared");
    }

    /// The decision with bounds (some combinations of holds not evaluated) is the decision
    /// without them: the same report and on-chip tensors on every family and objective, at
    /// channel speeds from memory-bound to compute-bound.
    #[test]
    fn bounds_do_not_change_the_on_chip_decision() {
        for (model, bits) in [("mnv1", 8), ("resnet18", 4)] {
            let mut g = crate::import::load_model(model, &Default::default()).expect("model");
            let p = crate::quant::Precision { weight_bits: bits, activation_bits: 8 };
            crate::quant::assign_uniform(&mut g, p, 32);
            for name in ["systolic32", "mac8", "dsp", "eyeriss"] {
                for objective in [Objective::Latency, Objective::Energy, Objective::Edp] {
                    for gbps in [1.0, 8.0, 100.0] {
                        let mut hw = crate::hw::load_hw(name, &[]).expect("preset");
                        hw.dram.bandwidth = crate::units::BytesPerSecond(gbps * 1e9);
                        let plan = fusion::plan(&g, &hw);
                        let phases: Vec<Vec<Phase>> = g.layers.iter().map(|l| phases_of(&g, l)).collect();
                        let decided = |bounds: bool| {
                            let cost = |i: usize, held: &[u64], on: LayerOnChip| {
                                let layer_hw = onchip::shrunk(&hw, held);
                                let layer_hw = layer_hw.as_ref().unwrap_or(&hw);
                                let sched = Sched { objective, memo: None, setup: None };
                                let l = &g.layers[i];
                                let (r, _) =
                                    run_layer(&g, l, layer_hw, plan.followers(LayerId(i)), sched, on, &mut Vec::new())
                                        .ok()?;
                                let dram = r.dram_read.get().saturating_add(r.dram_write.get()) as f64 * 8.0;
                                Some((
                                    Score {
                                        cycles: r.cycles.get() as f64,
                                        energy_pj: r.energy.total().get(),
                                        dram_bits: dram,
                                    },
                                    r,
                                ))
                            };
                            let bound = |i: usize, held: &[u64], on: LayerOnChip| {
                                let layer_hw = onchip::shrunk(&hw, held);
                                let layer_hw = layer_hw.as_ref().unwrap_or(&hw);
                                bounds
                                    .then(|| {
                                        layer_bound(
                                            &g,
                                            &g.layers[i],
                                            &phases[i],
                                            layer_hw,
                                            plan.followers(LayerId(i)),
                                            on,
                                            None,
                                        )
                                    })
                                    .flatten()
                            };
                            onchip::decide(&g, &hw, &plan, &phases, objective, cost, bound)
                        };
                        let (with, with_rows) = decided(true);
                        let (without, without_rows) = decided(false);
                        let at = format!("{model} {name} {objective:?} {gbps} GB/s");
                        assert_eq!(with, without, "{at}");
                        assert_eq!(with_rows, without_rows, "{at}");
                    }
                }
            }
        }
    }

    fn cost(g: &Graph, l: &Layer, hw: &HwDesc, phases: &[Phase]) -> LayerReport {
        let sched = Sched { objective: Objective::default(), memo: None, setup: None };
        run_phases(g, l, hw, phases, &[], sched, LayerOnChip::default(), &mut Vec::new()).expect("costs").0
    }

    /// A layer of two phases (a GEMM, then vector work) costs the sum of the two, field by
    /// field, on every family; its row keeps the shape of a one-phase row.
    #[test]
    fn a_layer_of_several_phases_costs_the_sum_of_its_phases() {
        let g = mnv1_w8a8();
        let l = g.layers.iter().find(|l| g.op_name(l) == "conv").expect("a conv");
        let gemm = phases_of(&g, l)[0];
        let Phase::Gemm { work, .. } = gemm else { panic!("a conv costs a GEMM: {gemm:?}") };
        let out = work.pixels() * work.k;
        let vector = Phase::Vector(crate::map::work::VectorWork {
            in_elements: out,
            out_elements: out,
            weights: 0,
            ops: 2 * out,
            pooling: false,
        });
        for name in ["systolic32", "mac8", "nvdla_full", "dsp"] {
            let hw = crate::hw::load_hw(name, &[]).expect("preset");
            let (a, b) = (cost(&g, l, &hw, &[gemm]), cost(&g, l, &hw, &[vector]));
            let both = cost(&g, l, &hw, &[gemm, vector]);
            assert_eq!(both.cycles, a.cycles + b.cycles, "{name}");
            assert_eq!(both.compute_cycles, a.compute_cycles + b.compute_cycles, "{name}");
            assert_eq!(both.stall_cycles, a.stall_cycles + b.stall_cycles, "{name}");
            assert_eq!(both.tiles, a.tiles + b.tiles, "{name}");
            assert_eq!(both.dram_read, a.dram_read + b.dram_read, "{name}");
            assert_eq!(both.dram_write, a.dram_write + b.dram_write, "{name}");
            assert_eq!(both.energy, a.energy + b.energy, "{name}");
            assert_eq!(both.macs, a.macs, "{name}: the vector phase has no MACs");
            assert_eq!(both.mode, a.mode, "{name}");
            assert!(b.cycles.get() > 0 && b.energy.total().get() > 0.0, "{name}: the vector phase costs");
            for ((t, x), y) in both.buffers.iter().zip(&a.buffers).zip(&b.buffers) {
                assert_eq!((t.reads, t.writes), (x.reads + y.reads, x.writes + y.writes), "{name}: {}", t.name);
            }
            assert_eq!(both.latency, hw.clock.duration(both.cycles), "{name}");
            // The layer's one phase costs what `run` reports for it (holding nothing on chip:
            // `a` is costed on the whole buffers, reading and writing DRAM).
            let run = run(&g, &HwDesc { onchip_reuse: false, ..hw.clone() }).expect("runs");
            let row = run.layers.iter().find(|r| *r.name == *l.name).expect("row");
            if row.fused_into.is_none() && !row.op.contains('+') {
                assert_eq!(row, &a, "{name}");
            }
        }
    }

    /// A GEMM whose second operand is an activation has one per batch element: it costs as
    /// many GEMMs of one element.
    #[test]
    fn a_gemm_with_an_activation_operand_runs_once_per_batch_element() {
        let g = mnv1_w8a8();
        let l = g.layers.iter().find(|l| g.op_name(l) == "conv").expect("a conv");
        let Phase::Gemm { work, .. } = phases_of(&g, l)[0] else { panic!("a conv costs a GEMM") };
        let one = Phase::Gemm { work: ConvWork { n: 1, ..work }, operand: Operand::Constant };
        let batch = |operand| Phase::Gemm { work: ConvWork { n: 4, ..work }, operand };
        for name in ["systolic32", "nvdla_full", "dsp"] {
            let hw = crate::hw::load_hw(name, &[]).expect("preset");
            let single = cost(&g, l, &hw, &[one]);
            let act = cost(&g, l, &hw, &[batch(Operand::Activation { input: 0, last_axis_summed: false })]);
            let shared = cost(&g, l, &hw, &[batch(Operand::Constant)]);
            assert_eq!(act.cycles, Cycles(4 * single.cycles.get()), "{name}");
            assert_eq!(act.macs, Macs(4 * single.macs.get()), "{name}");
            assert_eq!(act.dram_read, Bytes(4 * single.dram_read.get()), "{name}");
            assert_eq!(act.macs, shared.macs, "{name}");
            // A data input the layer does not have is an error naming it.
            let sched = Sched { objective: Objective::default(), memo: None, setup: None };
            let missing = [batch(Operand::Activation { input: 3, last_axis_summed: false })];
            let e = run_phases(&g, l, &hw, &missing, &[], sched, LayerOnChip::default(), &mut Vec::new())
                .expect_err("no input 3");
            assert!(e.to_string().contains("data input 3"), "{e}");
        }
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
