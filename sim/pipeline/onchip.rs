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
//! The decision is made against the real cost, jointly: of every set of candidates whose
//! reservations fit, the one whose layers (each scheduled with what is held beside it) score
//! best for the run's objective ([`decide`], a dynamic program over the layers; at most
//! [`MAX_LIVE`] candidate spans cross any boundary between layers, chosen from shapes alone,
//! shortest first). So more room never decides worse: every set that fit still fits and
//! every layer costs no more with it. A tensor is a candidate
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
use crate::map::work::{Operand, Phase};
use crate::units::Bytes;
use smallvec::SmallVec;
use std::sync::OnceLock;

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

    /// The buffer (index in `hw.buffers`) it occupies while layer `i` of its span runs: the
    /// shared output buffer at its producer, the shared input buffer after; `None` when the
    /// description has no such buffer. The one placement rule of the decision and the
    /// residency it returns.
    fn place(&self, i: usize, hw: &HwDesc) -> Option<usize> {
        let role = if i == self.producer { Role::Outputs } else { Role::Inputs };
        hw.buffer_at(role, BufferLevel::Shared)
    }

    /// The input elements layer `i` reads of it on chip (each time it is an input of `i`).
    fn read_at(&self, g: &Graph, i: usize) -> u64 {
        let times = g.layers[i].inputs.iter().filter(|&&t| t == self.tensor).count() as u64;
        g.tensor(self.tensor).elements().saturating_mul(times)
    }
}

/// What each layer of a run holds on chip.
#[derive(Debug, Clone, PartialEq)]
pub struct Residency {
    /// Per layer, bytes reserved in each buffer (the description's order): layer `i`'s
    /// buffer `b` at `i * buffers + b`.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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
        shrunk(hw, self.held(i))
    }

    /// The places (`reserved` indices) holding `c` reserves its bytes in, when each has
    /// room for them beside what is held already (some room must be left for the layers'
    /// tiles); `None` when one has not.
    fn slots(&self, hw: &HwDesc, c: &Kept) -> Option<Vec<usize>> {
        let slots: Vec<usize> =
            (c.producer..=c.last()).map(|i| c.place(i, hw).map(|b| i * self.buffers + b)).collect::<Option<_>>()?;
        let room = |k: usize| self.reserved[k].saturating_add(c.bytes) < hw.buffers[k % self.buffers].size.get();
        slots.iter().all(|&k| room(k)).then_some(slots)
    }

    /// Keeps `c` on chip too; `false`, with `self` unchanged, when a buffer of its span
    /// cannot hold it beside what is held already (some room must be left for the layers'
    /// tiles).
    fn hold(&mut self, g: &Graph, hw: &HwDesc, c: Kept) -> bool {
        let Some(slots) = self.slots(hw, &c) else { return false };
        for &k in &slots {
            self.reserved[k] += c.bytes;
        }
        self.resident_out[c.producer] = true;
        for &i in &c.readers {
            self.resident_in[i] = self.resident_in[i].saturating_add(c.read_at(g, i));
        }
        self.kept.push(c);
        true
    }
}

/// `hw` with each buffer less the bytes `held` in it (the description's order); `None` when
/// nothing is held.
pub fn shrunk(hw: &HwDesc, held: &[u64]) -> Option<HwDesc> {
    if held.iter().all(|&b| b == 0) {
        return None;
    }
    let mut h = hw.clone();
    for (b, &held) in h.buffers.iter_mut().zip(held) {
        b.size = Bytes(b.size.get().saturating_sub(held));
    }
    Some(h)
}

/// [`shrunk`] without a clone per call: `hw` itself when nothing is held, else `scratch`
/// (a clone of `hw` made on first use, which the caller keeps across calls with the same
/// `hw`) with each buffer `hw`'s size less the bytes `held` in it.
pub fn shrunk_in<'a>(hw: &'a HwDesc, held: &[u64], scratch: &'a mut Option<HwDesc>) -> &'a HwDesc {
    if held.iter().all(|&b| b == 0) {
        return hw;
    }
    let h = scratch.get_or_insert_with(|| hw.clone());
    for ((b, full), &held) in h.buffers.iter_mut().zip(&hw.buffers).zip(held) {
        b.size = Bytes(full.size.get().saturating_sub(held));
    }
    h
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

/// The tensors that could stay on chip, in producer order; `phases`: each layer's
/// ([`crate::map::work::phases_of`]).
fn candidates(g: &Graph, plan: &FusionPlan, phases: &[Vec<Phase>]) -> Vec<Kept> {
    // (tensor, reader) pairs, sorted: each tensor's readers in layer order, each once (one
    // allocation: a sweep decides at every point).
    let mut reads: Vec<(usize, usize)> =
        g.layers.iter().enumerate().flat_map(|(i, l)| l.inputs.iter().map(move |t| (t.0, i))).collect();
    reads.sort_unstable();
    reads.dedup();
    let readers = |t: TensorId| {
        let from = reads.partition_point(|&(u, _)| u < t.0);
        let to = from + reads[from..].iter().take_while(|&&(u, _)| u == t.0).count();
        &reads[from..to]
    };
    // Whether each layer can read or write on chip at all.
    let able: Vec<bool> = phases.iter().enumerate().map(|(i, p)| eligible(plan, i, p)).collect();
    let state = |t: TensorId| g.states.iter().enumerate().any(|(s, v)| v.tensor == t || g.state_final(s) == Some(t));
    let mut out = Vec::new();
    for (p, l) in g.layers.iter().enumerate() {
        let [t] = l.outputs.as_slice() else { continue };
        let t = *t;
        let rs = readers(t);
        if rs.is_empty() || !able[p] || g.outputs.contains(&t) || state(t) {
            continue;
        }
        if rs.iter().any(|&(_, r)| r <= p || !able[r] || !reads_on_chip(&g.layers[r], &phases[r], t)) {
            continue;
        }
        let bytes = g.tensor(t).bits().to_bytes_ceil().get();
        out.push(Kept { tensor: t, producer: p, readers: rs.iter().map(|&(_, r)| r).collect(), bytes });
    }
    out
}

fn add(a: Score, b: Score) -> Score {
    Score { cycles: a.cycles + b.cycles, energy_pj: a.energy_pj + b.energy_pj, dram_bits: a.dram_bits + b.dram_bits }
}

/// The most candidate spans the decision lets cross one boundary between two layers: the
/// decision is exact over the candidates it considers, and its work grows as 2 to this power.
pub const MAX_LIVE: usize = 4;

/// The candidates the decision considers: shortest spans first (then producer order), each
/// admitted while no boundary between two layers of its span is crossed by [`MAX_LIVE`]
/// admitted spans already. Chosen from shapes alone, so every description (any buffer size,
/// bandwidth, clock or array) decides over the same candidates. Producer order kept.
fn admitted(all: Vec<Kept>, layers: usize) -> Vec<Kept> {
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&k| (all[k].last() - all[k].producer, all[k].producer));
    // Per boundary `b` (after layer `b`), how many admitted spans cross it.
    let mut crossing = vec![0usize; layers];
    let mut admit = vec![false; all.len()];
    for k in order {
        let span = all[k].producer..all[k].last();
        if crossing[span.clone()].iter().all(|&x| x < MAX_LIVE) {
            crossing[span].iter_mut().for_each(|x| *x += 1);
            admit[k] = true;
        }
    }
    all.into_iter().zip(admit).filter_map(|(c, a)| a.then_some(c)).collect()
}

/// One partial decision, layers `0..=i`: its summed score, and how it was reached.
#[derive(Clone, Copy)]
struct Node {
    score: Score,
    /// The state before layer `i` and the node in its front.
    from: (usize, usize),
    /// Whether the candidate layer `i` produces is kept.
    keeps: bool,
    /// Layer `i`'s evaluation (`evals`), `None` when it made none (fused, or no tile fits).
    eval: Option<usize>,
    /// The position of the hold combination that reached it among layer `i`'s, in the order
    /// the decision defines ([`Combo`]): of equal scores, the earliest is kept, whatever
    /// order the combinations are evaluated in.
    seq: usize,
}

/// A state's front of partial decisions ([`offer`]): inline, since latency and energy keep
/// one node and a dynamic program makes a front per state and layer.
type Front = SmallVec<[Node; 2]>;

/// Adds `node` to a state's front: the nodes none of which another scores no worse in every
/// field (a sum of scores is non-decreasing in each, so what such a node leads to can never
/// win). Latency and energy order scores totally, so their fronts hold one node: the best,
/// the earliest ([`Node::seq`]) of equal ones. An edp front is offered nodes in their order.
fn offer(front: &mut Front, node: Node, objective: Objective) {
    match objective {
        Objective::Latency | Objective::Energy => match front.first() {
            Some(f)
                if !objective.better(&node.score, &f.score)
                    && (objective.better(&f.score, &node.score) || f.seq < node.seq) => {}
            _ => {
                front.clear();
                front.push(node);
            }
        },
        Objective::Edp => {
            let le =
                |a: &Score, b: &Score| a.cycles <= b.cycles && a.energy_pj <= b.energy_pj && a.dram_bits <= b.dram_bits;
            if front.iter().any(|f| le(&f.score, &node.score)) {
                return;
            }
            front.retain(|f| !le(&node.score, &f.score));
            front.push(node);
        }
    }
}

/// Whether every node of score `s` or more (field by field) would be refused by `front`
/// ([`offer`]): a node of `front` scores strictly better for the objective (latency and
/// energy), or no worse in every field (edp).
fn refused(front: &Front, s: &Score, objective: Objective) -> bool {
    match objective {
        Objective::Latency | Objective::Energy => front.first().is_some_and(|f| objective.better(&f.score, s)),
        Objective::Edp => front.iter().any(|f| {
            f.score.cycles <= s.cycles && f.score.energy_pj <= s.energy_pj && f.score.dram_bits <= s.dram_bits
        }),
    }
}

/// One hold combination of a layer in [`decide`]: the state before it (`m`), whether the
/// candidate it produces is kept, what it then reads and writes on chip, the state after it
/// (`out`) and how many candidate spans it holds.
#[derive(Clone, Copy)]
struct Combo {
    m: usize,
    keeps: bool,
    on: LayerOnChip,
    out: usize,
    spans: usize,
}

/// Decides which tensors of `g` stay on chip on `hw` for `objective`; `phases` are its
/// layers' ([`crate::map::work::phases_of`]). `cost(i, held, on)`
/// is layer `i`'s score scheduled with `held` bytes taken from each buffer (the description's
/// order; [`shrunk`]) while it reads and writes `on` on chip, with whatever else the caller
/// wants kept of that evaluation (`P`, e.g. the layer's report); `None` when no tile of it
/// fits there. Returns the residency and, per layer, what `cost` gave for it under that
/// residency (layers fused into another, or whose evaluation failed, have `None`): the
/// caller need not evaluate the layers again. `bound(i, held, on)` is a score that
/// `cost(i, held, on)`'s does not beat in any field, given only where `cost` gives a score
/// (`None` when unknown): a combination whose bound, added to the best way of reaching it,
/// loses to the best way found so far of reaching the same state is not evaluated (it
/// could not have been kept), so the decision is the same with or without bounds.
///
/// The choice is the best over every subset of the [`admitted`] candidates whose
/// reservations fit: a dynamic program over the layers whose state is which admitted spans
/// crossing the boundary are held (a layer's cost depends on nothing else), keeping per
/// state the partial sums the objective can still prefer ([`offer`]). So a description with
/// more room, bandwidth, clock or array, whose every layer costs no more under the same
/// holds and which admits every subset the smaller one did, never decides worse.
pub fn decide<P>(
    g: &Graph,
    hw: &HwDesc,
    plan: &FusionPlan,
    phases: &[Vec<Phase>],
    objective: Objective,
    cost: impl FnMut(usize, &[u64], LayerOnChip) -> Option<(Score, P)>,
    bound: impl FnMut(usize, &[u64], LayerOnChip) -> Option<Score>,
) -> (Residency, Vec<Option<P>>) {
    decide_with(g, hw, plan, phases, &OnceLock::new(), objective, cost, bound)
}

/// [`decide`], with the tensors it may keep ([`candidates`] that are admitted) made in
/// `cands` on first use, or taken from there: they depend only on the graph, the fusion
/// plan and the phases, which a sweep's points on one description share.
#[allow(clippy::too_many_arguments)]
pub fn decide_with<P>(
    g: &Graph,
    hw: &HwDesc,
    plan: &FusionPlan,
    phases: &[Vec<Phase>],
    cands: &OnceLock<Vec<Kept>>,
    objective: Objective,
    mut cost: impl FnMut(usize, &[u64], LayerOnChip) -> Option<(Score, P)>,
    mut bound: impl FnMut(usize, &[u64], LayerOnChip) -> Option<Score>,
) -> (Residency, Vec<Option<P>>) {
    let n = g.layers.len();
    let zero = Score { cycles: 0.0, energy_pj: 0.0, dram_bits: 0.0 };
    let places = (hw.buffer_at(Role::Outputs, BufferLevel::Shared), hw.buffer_at(Role::Inputs, BufferLevel::Shared));
    let cands: &[Kept] = match places {
        (Some(_), Some(_)) if hw.onchip_reuse && hw.family.keeps_activations_on_chip() => {
            cands.get_or_init(|| admitted(candidates(g, plan, phases), n))
        }
        _ => &[],
    };
    // A candidate that does not fit even alone is in no set that fits: not tried.
    let alone = |c: &Kept| {
        [c.producer, c.last()].iter().all(|&i| c.place(i, hw).is_some_and(|b| c.bytes < hw.buffers[b].size.get()))
    };
    // Per layer, the admitted candidate it produces; per boundary `b` (after layer `b`), the
    // admitted spans crossing it, in candidate order (bit `j` of a state is `live[b][j]`).
    let mut produced = vec![None; n];
    let mut live: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, c) in cands.iter().enumerate() {
        produced[c.producer] = Some(k);
        for b in c.producer..c.last() {
            live[b].push(k);
        }
    }
    // About one evaluation per layer and a few more (grown from empty, its large entries
    // would be copied at each doubling).
    let mut evals: Vec<Option<P>> = Vec::with_capacity(2 * n);
    // Fronts per boundary and state, all layers' in one vector (layer `i`'s state `m` at
    // `states[at[i] + m]`); before layer 0, the empty decision.
    let mut states: Vec<Front> = Vec::with_capacity(live.iter().map(|l| 1usize << l.len()).sum());
    let mut at: Vec<usize> = Vec::with_capacity(n);
    let start = Node { score: zero, from: (0, 0), keeps: false, eval: None, seq: 0 };
    let buffers = hw.buffers.len();
    let mut held = vec![0u64; buffers];
    let mut span: Vec<usize> = Vec::with_capacity(MAX_LIVE + 1);
    let mut tried: Vec<(LayerOnChip, Option<(Score, Option<usize>)>)> = Vec::new();
    let mut tried_held: Vec<u64> = Vec::new();
    // Layer `i`'s hold combinations (the held bytes of `c` at `combo_held[c * buffers..]`),
    // and the order they are evaluated in.
    let mut combos: Vec<Combo> = Vec::new();
    let mut combo_held: Vec<u64> = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    let mut bounded: Vec<(LayerOnChip, Option<Score>)> = Vec::new();
    let mut bounded_held: Vec<u64> = Vec::new();
    // (the objective's first figure of a combination's bound plus its best way in, the
    // combination): the evaluation order.
    let mut keyed: Vec<(f64, usize)> = Vec::new();
    for i in 0..n {
        let live_in: &[usize] = if i == 0 { &[] } else { &live[i - 1] };
        let base = states.len();
        states.resize(base + (1 << live[i].len()), Front::new());
        at.push(base);
        let (done, next) = states.split_at_mut(base);
        let fused = plan.fused_into(LayerId(i)).is_some();
        let reached_of = |m: usize| if i == 0 { std::slice::from_ref(&start) } else { done[at[i - 1] + m].as_slice() };
        // The combinations, in the decision's order: states in turn, keeping layer `i`'s
        // candidate first (on an exact tie the tensor stays on chip).
        combos.clear();
        combo_held.clear();
        for m in 0..1usize << live_in.len() {
            if reached_of(m).is_empty() {
                continue;
            }
            for keeps in [true, false] {
                if keeps && !produced[i].is_some_and(|k| alone(&cands[k])) {
                    continue;
                }
                span.clear();
                span.extend(live_in.iter().enumerate().filter(|&(j, _)| m >> j & 1 == 1).map(|(_, &k)| k));
                span.extend(produced[i].filter(|_| keeps));
                held.iter_mut().for_each(|h| *h = 0);
                let mut on = LayerOnChip { resident_in: 0, resident_out: keeps };
                for &k in &span {
                    let c = &cands[k];
                    // Candidates exist only where both places do (`places`).
                    if let Some(b) = c.place(i, hw) {
                        held[b] = held[b].saturating_add(c.bytes);
                    }
                    if c.readers.contains(&i) {
                        on.resident_in = on.resident_in.saturating_add(c.read_at(g, i));
                    }
                }
                // Some room must be left for the layer's tiles.
                if held.iter().zip(&hw.buffers).any(|(&h, b)| h > 0 && h >= b.size.get()) {
                    continue;
                }
                let out = span
                    .iter()
                    .filter(|&&k| cands[k].last() > i)
                    .map(|k| live[i].iter().position(|x| x == k).map_or(0, |j| 1 << j))
                    .sum::<usize>();
                combos.push(Combo { m, keeps, on, out, spans: span.len() });
                combo_held.extend_from_slice(&held);
            }
        }
        // Layer `i`'s bounds: (held, on) -> bound, the held bytes of entry `e` at
        // `bounded_held[e * buffers..]`; asked for only where another combination reaches
        // the same state (else nothing can be skipped).
        bounded.clear();
        bounded_held.clear();
        let mut bound_of = |c: usize| {
            let (on, held) = (combos[c].on, &combo_held[c * buffers..(c + 1) * buffers]);
            let known = bounded
                .iter()
                .enumerate()
                .find(|&(e, (o, _))| *o == on && bounded_held[e * buffers..(e + 1) * buffers] == held[..]);
            match known {
                Some((_, &(_, b))) => b,
                None => {
                    let b = if fused { None } else { bound(i, held, on) };
                    bounded.push((on, b));
                    bounded_held.extend_from_slice(held);
                    b
                }
            }
        };
        let shared = |c: usize| combos.iter().filter(|d| d.out == combos[c].out).nth(1).is_some();
        // Latency and energy keep one node per state, the earliest of equal ones whatever
        // order they come in: the combinations go best bound first, so the others meet a
        // good node their bounds can lose to. An edp front keeps several, and their order
        // matters later: the decision's own order.
        order.clear();
        order.extend(0..combos.len());
        match objective {
            Objective::Latency | Objective::Energy => {
                keyed.clear();
                for (c, combo) in combos.iter().enumerate() {
                    let b = if shared(c) { bound_of(c) } else { None };
                    let first = reached_of(combo.m).first().map_or(zero, |r| r.score);
                    let key = objective.first(&add(first, b.unwrap_or(zero)));
                    keyed.push((key, c));
                }
                keyed.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                order.clear();
                order.extend(keyed.iter().map(|&(_, c)| c));
            }
            Objective::Edp => {}
        }
        // Layer `i`'s evaluations so far: (held, on) -> (score, evaluation), `None` if no tile
        // fits; the held bytes of entry `e` are `tried_held[e * buffers..][..buffers]`.
        tried.clear();
        tried_held.clear();
        for &c in &order {
            let Combo { m, keeps, on, out, .. } = combos[c];
            let held = &combo_held[c * buffers..(c + 1) * buffers];
            let reached = reached_of(m);
            // Different holds can leave the layer the same room and reads (tensors of
            // equal bytes): one evaluation serves them.
            let seen = tried
                .iter()
                .enumerate()
                .find(|&(e, (o, _))| *o == on && tried_held[e * buffers..(e + 1) * buffers] == held[..])
                .map(|(_, &(_, t))| t);
            // A combination none of whose nodes the state's front would keep is not
            // evaluated (a bound is given only where the evaluation succeeds: a failing one
            // with nothing held counts as zero, which no bound covers).
            if seen.is_none() && !next[out].is_empty() {
                let b = bound_of(c);
                if b.is_some_and(|b| reached.iter().all(|r| refused(&next[out], &add(r.score, b), objective))) {
                    continue;
                }
            }
            let spans = combos[c].spans;
            let tried_now = match seen {
                Some(t) => t,
                None if fused => Some((zero, None)),
                None => {
                    let t = match cost(i, held, on) {
                        Some((s, p)) => {
                            evals.push(Some(p));
                            Some((s, Some(evals.len() - 1)))
                        }
                        // Nothing held and still no tile: the run reports the error.
                        None if spans == 0 => Some((zero, None)),
                        None => None,
                    };
                    tried.push((on, t));
                    tried_held.extend_from_slice(held);
                    t
                }
            };
            let Some((score, eval)) = tried_now else { continue };
            for (f, node) in reached.iter().enumerate() {
                let node = Node { score: add(node.score, score), from: (m, f), keeps, eval, seq: c };
                offer(&mut next[out], node, objective);
            }
        }
    }
    // The best complete decision, traced back.
    let mut res = Residency::none(g, hw);
    let mut made: Vec<Option<P>> = (0..n).map(|_| None).collect();
    let last = at.last().and_then(|&a| states.get(a)).map(|f| f.as_slice()).unwrap_or(&[]);
    let best = (0..last.len()).reduce(|a, b| if objective.better(&last[b].score, &last[a].score) { b } else { a });
    let mut kept = Vec::new();
    if let Some(mut f) = best {
        let mut m = 0;
        for i in (0..n).rev() {
            let node = states[at[i] + m][f];
            if node.keeps {
                kept.extend(produced[i]);
            }
            made[i] = node.eval.and_then(|e| evals[e].take());
            (m, f) = node.from;
        }
    }
    kept.sort_unstable();
    for k in kept {
        // Fits: the decision checked every layer of its span with everything else held.
        let fits = res.hold(g, hw, cands[k].clone());
        debug_assert!(fits, "a decided tensor fits");
    }
    (res, made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::work::phases_of;

    fn graph(layers: &str) -> Graph {
        let text = format!("name = \"t\"\ninput = {{ name = \"input\", shape = [1, 8, 8, 16] }}\n{layers}");
        let mut g = crate::import::model_file::parse("t.toml", &text, &Default::default()).expect("model");
        crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: 8, activation_bits: 8 }, 32);
        g
    }

    fn conv(name: &str) -> String {
        format!("[[layer]]\nname = \"{name}\"\nop = \"conv2d\"\nfilters = 16\nkernel = 1\nstride = 1\npadding = \"same\"\n\n")
    }

    fn phases(g: &Graph) -> Vec<Vec<Phase>> {
        g.layers.iter().map(|l| phases_of(g, l)).collect()
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
        let c = candidates(&g, &FusionPlan::none(&g), &phases(&g));
        assert_eq!(names(&g, &c), ["a", "b"], "sum is the network output");
        assert_eq!(c[0].readers, [1, 2]);
        assert_eq!((c[0].last(), c[0].bytes), (2, 8 * 8 * 16));
        let view = "[[layer]]\nname = \"flat\"\nop = \"reshape\"\nshape = [1, -1]\ninputs = [\"a\"]\n\n";
        let g = graph(&format!("{}{}{view}", conv("a"), conv("b")));
        assert!(
            names(&g, &candidates(&g, &FusionPlan::none(&g), &phases(&g))).is_empty(),
            "a is read by a view, b is an output"
        );
    }

    /// Holding a tensor reserves its bytes in the output buffer at its producer and in the input
    /// buffer through its last reader; one that leaves no room is refused.
    #[test]
    fn a_held_tensor_reserves_its_bytes_over_its_span() {
        let add = "[[layer]]\nname = \"sum\"\nop = \"add\"\ninputs = [\"b\", \"a\"]\n\n";
        let g = graph(&format!("{}{}{add}{}", conv("a"), conv("b"), conv("c")));
        let hw = crate::hw::load_hw("systolic32", &[]).expect("preset");
        let c = candidates(&g, &FusionPlan::none(&g), &phases(&g));
        let mut r = Residency::none(&g, &hw);
        assert!(r.hold(&g, &hw, c[0].clone()), "fits");
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
        assert!(!none.hold(&g, &tiny, c[0].clone()), "1 KiB leaves no room");
        assert_eq!(none, Residency::none(&g, &tiny), "unchanged");
    }

    /// Resizing the one clone for each hold in turn gives, every time, what cloning and
    /// shrinking gives ([`shrunk`]): every buffer set from the full description's size, so
    /// nothing of an earlier hold stays (a buffer held before and not now is whole again, one
    /// held more than its size is empty); nothing held is the description itself.
    #[test]
    fn shrunk_in_resizes_one_clone_to_what_shrunk_gives() {
        for name in ["systolic32", "dsp", "mac8", "eyeriss", "nvdla_full"] {
            let hw = crate::hw::load_hw(name, &[]).expect("preset");
            let n = hw.buffers.len();
            let size = |b: usize| hw.buffers[b % n].size.get();
            let holds: Vec<Vec<u64>> = vec![
                vec![0; n],
                (0..n).map(|b| u64::from(b == 0) * 1024).collect(),
                (0..n).map(|b| u64::from(b + 1 == n) * size(n - 1) / 2).collect(),
                (0..n).map(|b| size(b) / 3 + 7).collect(),
                vec![0; n],
                (0..n).map(|b| u64::from(b == 0) * 1024).collect(),
                // More than the buffer holds: nothing left of it.
                (0..n).map(|b| if b == 0 { size(0) + 1 } else { 0 }).collect(),
                (0..n).map(|b| if b + 1 == n { u64::MAX } else { 5 }).collect(),
                (0..n).map(|b| u64::from(b % 2 == 1) * 100).collect(),
                vec![0; n],
            ];
            let mut scratch = None;
            for held in &holds {
                let expected = shrunk(&hw, held);
                let got = shrunk_in(&hw, held, &mut scratch);
                match &expected {
                    None => assert!(std::ptr::eq(got, &hw), "{name} {held:?}: nothing held is the description"),
                    Some(e) => {
                        assert!(!std::ptr::eq(got, &hw), "{name} {held:?}");
                        assert_eq!(got, e, "{name} {held:?}");
                        assert_eq!(format!("{got:?}"), format!("{e:?}"), "{name} {held:?}");
                    }
                }
                for (b, (g, &h)) in got.buffers.iter().zip(held).enumerate() {
                    assert_eq!(g.size.get(), size(b).saturating_sub(h), "{name} {held:?}: buffer {b}");
                }
            }
        }
    }

    /// A cost that trades the room a reservation takes for the DRAM traffic it saves,
    /// differently at each layer, and has no tile beyond a layer's own limit.
    fn synthetic(i: usize, held: &[u64], on: LayerOnChip) -> Option<Score> {
        let room: u64 = held.iter().sum();
        let limit = [3000, 2500, 4000, 1500, 3500, 2800, 4000][i % 7];
        if room > limit {
            return None;
        }
        let squeeze = (room as f64 - limit as f64 / 2.0).max(0.0);
        let cycles = 1000.0 + 37.0 * i as f64 + squeeze * [0.9, 0.1, 0.5, 1.7, 0.3, 0.05, 1.1][i % 7]
            - 0.2 * on.resident_in as f64
            - if on.resident_out { 150.0 } else { 0.0 };
        let energy_pj = 500.0 + squeeze * [0.2, 2.0, 0.4, 0.1, 1.5, 0.7, 0.3][i % 7] - 0.25 * on.resident_in as f64;
        let dram_bits = 8192.0 - 8.0 * on.resident_in as f64;
        Some(Score { cycles, energy_pj, dram_bits })
    }

    /// The decision is the best of every set of candidates that fits, for each objective: the
    /// dynamic program against all subsets, scored by a cost with room / traffic trade-offs.
    #[test]
    fn the_decision_is_the_best_set_that_fits() {
        let residual = |name: &str, a: &str, b: &str| {
            format!("[[layer]]\nname = \"{name}\"\nop = \"add\"\ninputs = [\"{a}\", \"{b}\"]\n\n")
        };
        let text = [
            conv("a"),
            conv("b"),
            residual("s1", "b", "a"),
            conv("c"),
            conv("d"),
            residual("s2", "d", "s1"),
            conv("e"),
        ];
        let g = graph(&text.concat());
        let plan = FusionPlan::none(&g);
        let all = candidates(&g, &plan, &phases(&g));
        assert_eq!(admitted(all.clone(), g.layers.len()), all, "no boundary is crossed by more than {MAX_LIVE}");
        assert!(all.len() >= 5, "{}", all.len());
        for kib in [2.0, 3.0, 4.0, 8.0] {
            let sets = [("buffer.0.size_kib".to_string(), kib), ("buffer.2.size_kib".to_string(), kib)];
            let hw = crate::hw::load_hw("systolic32", &sets).expect("preset");
            for objective in [Objective::Latency, Objective::Energy, Objective::Edp] {
                let total = |r: &Residency| {
                    let mut sum = Score { cycles: 0.0, energy_pj: 0.0, dram_bits: 0.0 };
                    for i in 0..g.layers.len() {
                        sum = add(sum, synthetic(i, r.held(i), r.layer(i))?);
                    }
                    Some(sum)
                };
                let mut best: Option<Score> = None;
                for set in 0..1u32 << all.len() {
                    let mut r = Residency::none(&g, &hw);
                    let fits = (0..all.len()).filter(|k| set >> k & 1 == 1).all(|k| r.hold(&g, &hw, all[k].clone()));
                    match total(&r) {
                        Some(s) if fits && best.is_none_or(|b| objective.better(&s, &b)) => best = Some(s),
                        _ => {}
                    }
                }
                let cost = |i, held: &[u64], on| synthetic(i, held, on).map(|s| (s, i));
                let (r, made) = decide(&g, &hw, &plan, &phases(&g), objective, cost, |_, _, _| None);
                // Bounds skip combinations, never change the decision: the exact score (the
                // tightest bound), one below it in every field, and one only in some fields.
                let scaled = |f: [f64; 3]| {
                    move |i, held: &[u64], on| {
                        synthetic(i, held, on).map(|s: Score| Score {
                            cycles: s.cycles * f[0],
                            energy_pj: s.energy_pj * f[1],
                            dram_bits: s.dram_bits * f[2],
                        })
                    }
                };
                for f in [[1.0, 1.0, 1.0], [0.9, 0.8, 0.95], [1.0, 0.5, 1.0], [0.0, 1.0, 1.0]] {
                    let (rb, madeb) = decide(&g, &hw, &plan, &phases(&g), objective, cost, scaled(f));
                    assert_eq!((&rb, &madeb), (&r, &made), "{kib} KiB {objective:?} bounds x{f:?}");
                }
                let got = total(&r).expect("the decision fits");
                let best = best.expect("holding nothing fits");
                assert!(!objective.better(&best, &got), "{kib} KiB {objective:?}: {got:?}, best {best:?}");
                assert!(made.iter().enumerate().all(|(i, m)| *m == Some(i)), "every layer's evaluation is handed back");
            }
        }
    }
}
