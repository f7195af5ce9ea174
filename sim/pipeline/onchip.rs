//! On-chip activation reuse across layers: which tensors stay in the on-chip buffer from the
//! layer that writes them to the last layer that reads them, instead of a DRAM write and a
//! DRAM read per reader, as compilers for these accelerators keep them.
//!
//! A tensor held on chip occupies its bytes (at its packed width) in the shared buffer that
//! holds outputs while its producer runs, and in the shared buffer that holds inputs from
//! the next layer through its last reader (on a unified buffer, the same buffer; with
//! separate SRAMs the producer's output moves from one to the other on chip, costed as a
//! read and a write there, `schedule::LayerEval`). Every layer of that span -- readers or
//! not -- is scheduled on the buffers less the bytes held, so the reservation shrinks their
//! tiles. The producer writes nothing of it to DRAM and every reader reads nothing of it
//! from DRAM, and gives it no tile room (`Widths::resident_in` / `resident_out`).
//!
//! The decision is made against the real cost: tensors are considered in producer order,
//! and one is kept on chip only when the whole span it affects (its producer through its
//! last reader, each layer scheduled again with the reservation, with the tensors already
//! kept) scores no worse for the run's objective than without it. A tensor is a candidate
//! only when the family keeps outputs on chip at all ([`crate::hw::Family::keeps_activations_on_chip`]),
//! it is its producer's only output, it is not a network output or a graph state, every
//! reader reads it on chip (a layer of one GEMM phase whose data input it is, or one
//! vector phase), and no layer of its producer or readers is fused into another or heads
//! fused layers. So a tensor with several readers (a residual branch, a concat) is dropped
//! from DRAM only when all of them read it on chip.
//!
//! Architecture invariant: the decision reads shapes and widths only.

use crate::hw::{BufferLevel, HwDesc, Role};
use crate::ir::{Graph, Layer, LayerId, TensorId};
use crate::map::fusion::FusionPlan;
use crate::map::tiling::{Objective, Score};
use crate::map::work::{phases_of, Operand, Phase};
use crate::units::Bytes;

/// A tensor kept on chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The tensor.
    pub tensor: TensorId,
    /// The layer that writes it.
    pub producer: usize,
    /// The layers that read it (layer order, each once).
    pub readers: Vec<usize>,
    /// Its bytes at its packed width.
    pub bytes: u64,
}

impl Kept {
    /// The last layer of its span.
    pub fn last(&self) -> usize {
        self.readers.iter().copied().max().unwrap_or(self.producer)
    }
}

/// What each layer of a run holds on chip.
#[derive(Debug, Clone, PartialEq)]
pub struct Residency {
    /// Per layer, bytes reserved in each buffer (the description's order): layer `i`'s
    /// buffer `b` at `i * buffers + b`, one allocation (a decision clones this per trial).
    reserved: Vec<u64>,
    /// How many buffers the description has.
    buffers: usize,
    /// Per layer, input elements it reads on chip.
    resident_in: Vec<u64>,
    /// Per layer, whether its output stays on chip.
    resident_out: Vec<bool>,
    /// The tensors kept, in producer order.
    pub kept: Vec<Kept>,
}

/// What one layer reads and writes on chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerOnChip {
    /// Input elements held on chip.
    pub resident_in: u64,
    /// Whether its output stays on chip.
    pub resident_out: bool,
}

impl Residency {
    /// Nothing on chip.
    pub fn none(g: &Graph, hw: &HwDesc) -> Self {
        let n = g.layers.len();
        Residency {
            reserved: vec![0; n * hw.buffers.len()],
            buffers: hw.buffers.len(),
            resident_in: vec![0; n],
            resident_out: vec![false; n],
            kept: Vec::new(),
        }
    }

    /// The bytes held in each buffer while layer `i` runs.
    fn held(&self, i: usize) -> &[u64] {
        &self.reserved[i * self.buffers..(i + 1) * self.buffers]
    }

    /// What layer `i` reads and writes on chip.
    pub fn layer(&self, i: usize) -> LayerOnChip {
        LayerOnChip { resident_in: self.resident_in[i], resident_out: self.resident_out[i] }
    }

    /// The description layer `i` is scheduled on: `hw` with each buffer less the bytes
    /// held in it while the layer runs; `None` when nothing is held.
    pub fn hw_for(&self, i: usize, hw: &HwDesc) -> Option<HwDesc> {
        let r = self.held(i);
        if r.iter().all(|&b| b == 0) {
            return None;
        }
        let mut h = hw.clone();
        for (b, &held) in h.buffers.iter_mut().zip(r) {
            b.size = Bytes(b.size.get().saturating_sub(held));
        }
        Some(h)
    }

    /// The places (`reserved` indices) holding `c` reserves its bytes in, when each has
    /// room for them beside what is held already (some room must be left for the layers'
    /// tiles); `None` when one has not.
    fn slots(&self, hw: &HwDesc, c: &Kept) -> Option<Vec<usize>> {
        let out_buf = hw.buffer_at(Role::Outputs, BufferLevel::Shared)?;
        let in_buf = hw.buffer_at(Role::Inputs, BufferLevel::Shared)?;
        let slots: Vec<usize> = std::iter::once(c.producer * self.buffers + out_buf)
            .chain((c.producer + 1..=c.last()).map(|i| i * self.buffers + in_buf))
            .collect();
        let room = |k: usize| self.reserved[k].saturating_add(c.bytes) < hw.buffers[k % self.buffers].size.get();
        slots.iter().all(|&k| room(k)).then_some(slots)
    }

    /// Keeps `c` on chip too; `None`, with `self` unchanged, when a buffer of its span
    /// cannot hold it beside what is held already (some room must be left for the layers'
    /// tiles). Else what [`Residency::undo`] needs to take it back.
    fn hold(&mut self, g: &Graph, hw: &HwDesc, c: Kept) -> Option<Undo> {
        let slots = self.slots(hw, &c)?;
        let undo = Undo {
            reserved: slots.iter().map(|&k| (k, self.reserved[k])).collect(),
            resident_in: c.readers.iter().map(|&i| (i, self.resident_in[i])).collect(),
            resident_out: (c.producer, self.resident_out[c.producer]),
        };
        for &k in &slots {
            self.reserved[k] += c.bytes;
        }
        self.resident_out[c.producer] = true;
        let elements = g.tensor(c.tensor).elements();
        for &i in &c.readers {
            let times = g.layers[i].inputs.iter().filter(|&&t| t == c.tensor).count() as u64;
            self.resident_in[i] = self.resident_in[i].saturating_add(elements.saturating_mul(times));
        }
        self.kept.push(c);
        Some(undo)
    }

    /// Takes back the last tensor kept, by what its [`Residency::hold`] returned.
    fn undo(&mut self, undo: Undo) {
        for (k, v) in undo.reserved {
            self.reserved[k] = v;
        }
        for (i, v) in undo.resident_in {
            self.resident_in[i] = v;
        }
        self.resident_out[undo.resident_out.0] = undo.resident_out.1;
        self.kept.pop();
    }
}

/// What a [`Residency::hold`] changed: the old values of what it wrote.
struct Undo {
    reserved: Vec<(usize, u64)>,
    resident_in: Vec<(usize, u64)>,
    resident_out: (usize, bool),
}

/// Whether a layer of phases `phases` can read or write a tensor on chip: one GEMM phase
/// with constant weights or one vector phase, not fused into another layer (`i`) and
/// heading none.
fn eligible(plan: &FusionPlan, i: usize, phases: &[Phase]) -> bool {
    let id = LayerId(i);
    if plan.fused_into(id).is_some() || !plan.followers(id).is_empty() {
        return false;
    }
    match phases {
        [Phase::Gemm { operand: Operand::Constant, .. }] | [Phase::Vector(_)] => true,
        [Phase::Gemm { operand: Operand::Activation { .. } | Operand::Sequential { .. }, .. }] => false,
        // Views (no phase) and layers of several phases.
        [] | [_, _, ..] => false,
    }
}

/// Whether layer `l`, of phases `phases`, reads tensor `t` in a way it can read on chip: a
/// GEMM reads only its data input, vector work reads all of its inputs alike.
fn reads_on_chip(l: &Layer, phases: &[Phase], t: TensorId) -> bool {
    match phases {
        [Phase::Gemm { operand: Operand::Constant, .. }] => l.inputs.first() == Some(&t),
        [Phase::Vector(_)] => true,
        [Phase::Gemm { operand: Operand::Activation { .. } | Operand::Sequential { .. }, .. }] => false,
        [] | [_, _, ..] => false,
    }
}

/// The tensors that could stay on chip, in producer order.
fn candidates(g: &Graph, plan: &FusionPlan) -> Vec<Kept> {
    // (tensor, reader) pairs, sorted: each tensor's readers in layer order, each once (one
    // allocation: a sweep decides at every point).
    let mut reads: Vec<(usize, usize)> =
        g.layers.iter().enumerate().flat_map(|(i, l)| l.inputs.iter().map(move |t| (t.0, i))).collect();
    reads.sort_unstable();
    reads.dedup();
    let readers = |t: TensorId| {
        let from = reads.partition_point(|&(u, _)| u < t.0);
        let to = reads.partition_point(|&(u, _)| u <= t.0);
        reads[from..to].iter().map(|&(_, i)| i)
    };
    // Each layer's phases, and whether it can read or write on chip at all.
    let phases: Vec<Vec<Phase>> = g.layers.iter().map(|l| phases_of(g, l)).collect();
    let able: Vec<bool> = phases.iter().enumerate().map(|(i, p)| eligible(plan, i, p)).collect();
    let state = |t: TensorId| g.states.iter().enumerate().any(|(s, v)| v.tensor == t || g.state_final(s) == Some(t));
    let mut out = Vec::new();
    for (p, l) in g.layers.iter().enumerate() {
        let [t] = l.outputs.as_slice() else { continue };
        let t = *t;
        if readers(t).next().is_none() || !able[p] || g.outputs.contains(&t) || state(t) {
            continue;
        }
        if readers(t).any(|r| r <= p || !able[r] || !reads_on_chip(&g.layers[r], &phases[r], t)) {
            continue;
        }
        let bytes = g.tensor(t).bits().to_bytes_ceil().get();
        out.push(Kept { tensor: t, producer: p, readers: readers(t).collect(), bytes });
    }
    out
}

fn add(a: Score, b: Score) -> Score {
    Score { cycles: a.cycles + b.cycles, energy_pj: a.energy_pj + b.energy_pj, dram_bits: a.dram_bits + b.dram_bits }
}

/// Decides which tensors of `g` stay on chip on `hw` for `objective`. `cost(i, r)` is layer
/// `i`'s score scheduled with residency `r` (on `r.hw_for(i)`), with whatever else the
/// caller wants kept of that evaluation (`P`, e.g. the layer's report); `None` when no tile
/// of it fits there. Returns the residency and, per layer, what `cost` gave for it under
/// that residency when the decision evaluated it so (layers of no candidate's span, or
/// whose evaluation failed, have `None`): the caller need not evaluate those layers again.
pub fn decide<P>(
    g: &Graph,
    hw: &HwDesc,
    plan: &FusionPlan,
    objective: Objective,
    mut cost: impl FnMut(usize, &Residency) -> Option<(Score, P)>,
) -> (Residency, Vec<Option<P>>) {
    let mut res = Residency::none(g, hw);
    let n = g.layers.len();
    // Each layer's evaluation under the residency decided so far, made when first needed
    // (`Some(None)`: made, and no tile fits).
    let mut current: Vec<Option<Option<(Score, P)>>> = (0..n).map(|_| None).collect();
    if hw.onchip_reuse && hw.family.keeps_activations_on_chip() {
        for c in candidates(g, plan) {
            if res.slots(hw, &c).is_none() {
                continue;
            }
            let span = c.producer..=c.last();
            // The span's scores without it (made first: `res` then holds it too).
            let mut before = Score { cycles: 0.0, energy_pj: 0.0, dram_bits: 0.0 };
            let mut feasible = true;
            for i in span.clone() {
                match current[i].get_or_insert_with(|| cost(i, &res)) {
                    Some((o, _)) => before = add(before, *o),
                    None => feasible = false,
                }
            }
            if !feasible {
                continue;
            }
            let Some(undo) = res.hold(g, hw, c) else { continue };
            let mut after = Score { cycles: 0.0, energy_pj: 0.0, dram_bits: 0.0 };
            let mut new = Vec::new();
            for i in span.clone() {
                // A layer that does not fit with the reservation.
                let Some(n) = cost(i, &res) else {
                    feasible = false;
                    break;
                };
                after = add(after, n.0);
                new.push(n);
            }
            if feasible && !objective.better(&before, &after) {
                for (i, n) in span.zip(new) {
                    current[i] = Some(Some(n));
                }
            } else {
                res.undo(undo);
            }
        }
    }
    let made = current.into_iter().map(|m| m.flatten().map(|(_, p)| p)).collect();
    (res, made)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(layers: &str) -> Graph {
        let text = format!("name = \"t\"\ninput = {{ name = \"input\", shape = [1, 8, 8, 16] }}\n{layers}");
        let mut g = crate::import::model_file::parse("t.toml", &text, &Default::default()).expect("model");
        crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: 8, activation_bits: 8 }, 32);
        g
    }

    fn conv(name: &str) -> String {
        format!("[[layer]]\nname = \"{name}\"\nop = \"conv2d\"\nfilters = 16\nkernel = 1\nstride = 1\npadding = \"same\"\n\n")
    }

    fn names(g: &Graph, c: &[Kept]) -> Vec<String> {
        c.iter().map(|k| g.tensor(k.tensor).name.clone()).collect()
    }

    /// A residual add's operand has two readers and is a candidate; a network output is not,
    /// nor a tensor a view (reshape) reads.
    #[test]
    fn candidates_need_every_reader_on_chip_and_no_network_output() {
        let add = "[[layer]]\nname = \"sum\"\nop = \"add\"\ninputs = [\"b\", \"a\"]\n\n";
        let g = graph(&format!("{}{}{add}", conv("a"), conv("b")));
        let c = candidates(&g, &FusionPlan::none(&g));
        assert_eq!(names(&g, &c), ["a", "b"], "sum is the network output");
        assert_eq!(c[0].readers, [1, 2]);
        assert_eq!((c[0].last(), c[0].bytes), (2, 8 * 8 * 16));
        let view = "[[layer]]\nname = \"flat\"\nop = \"reshape\"\nshape = [1, -1]\ninputs = [\"a\"]\n\n";
        let g = graph(&format!("{}{}{view}", conv("a"), conv("b")));
        assert!(names(&g, &candidates(&g, &FusionPlan::none(&g))).is_empty(), "a is read by a view, b is an output");
    }

    /// Holding a tensor reserves its bytes in the output buffer at its producer and in the input
    /// buffer through its last reader; one that leaves no room is refused.
    #[test]
    fn a_held_tensor_reserves_its_bytes_over_its_span() {
        let add = "[[layer]]\nname = \"sum\"\nop = \"add\"\ninputs = [\"b\", \"a\"]\n\n";
        let g = graph(&format!("{}{}{add}{}", conv("a"), conv("b"), conv("c")));
        let hw = crate::hw::load_hw("systolic32", &[]).expect("preset");
        let c = candidates(&g, &FusionPlan::none(&g));
        let mut r = Residency::none(&g, &hw);
        r.hold(&g, &hw, c[0].clone()).expect("fits");
        let (inp, out) = (0, 2); // ifmap_sram, ofmap_sram
        assert_eq!(r.held(0)[out], 1024);
        assert_eq!((r.held(1)[inp], r.held(2)[inp], r.held(3)[inp]), (1024, 1024, 0));
        assert_eq!(r.layer(0), LayerOnChip { resident_in: 0, resident_out: true });
        assert_eq!(r.layer(2), LayerOnChip { resident_in: 1024, resident_out: false });
        let shrunk = r.hw_for(1, &hw).expect("shrunk");
        assert_eq!(shrunk.buffers[inp].size.get(), hw.buffers[inp].size.get() - 1024);
        assert!(r.hw_for(3, &hw).is_none());
        let tiny = crate::hw::load_hw("systolic32", &[("buffer.0.size_kib".into(), 1.0)]);
        let tiny = tiny.expect("preset");
        let mut none = Residency::none(&g, &tiny);
        assert!(none.hold(&g, &tiny, c[0].clone()).is_none(), "1 KiB leaves no room");
        assert_eq!(none, Residency::none(&g, &tiny), "unchanged");
        let undo = r.hold(&g, &hw, c[1].clone()).expect("fits");
        r.undo(undo);
        let mut again = Residency::none(&g, &hw);
        again.hold(&g, &hw, c[0].clone()).expect("fits");
        assert_eq!(r, again, "undo takes back exactly the last hold");
    }
}
