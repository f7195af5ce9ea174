//! What a sweep's points share of a run before its schedules: the fusion plan, the layers'
//! phases, their row labels and the tensors the on-chip decision may keep ([`RunPlan`]);
//! and per layer, the GEMM's loop nest as the family runs it, its compute mode and figures,
//! the evaluation's inputs and the notes said on them ([`super::gemm_setup`]), each phase's
//! operand widths, and the on-chip decision's bound of the layer before the channel's
//! speed and the clock enter ([`crate::schedule::BoundBasis`]). They
//! depend on the graph and the description less its channel speed and clock, so points that
//! differ only in those (a sweep over DRAM bandwidth) make them once per layer, phase and
//! description of the run (its own, and each with buffers shrunk by what it holds on chip).
//!
//! A [`Setups`] is bound to one graph at a time, held by an [`Arc`]: a shared graph cannot
//! change, and the one held cannot be freed and another made at its address, so comparing
//! pointers is exact. Entries are keyed by the memo's description id
//! ([`crate::map::tiling::TilingMemo::description_of`]), which is never given twice.

use super::onchip::{Kept, LayerOnChip};
use super::PhaseWidths;
use crate::hw::HwDesc;
use crate::ir::{Graph, LayerId};
use crate::map::family::ComputeFigures;
use crate::map::fusion::{self, FusionPlan};
use crate::map::tiling::{TilingMemo, Widths};
use crate::map::work::{phases_of, ConvWork, Phase};
use crate::schedule::{BoundBasis, LayerWork, Prepared};
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, OnceLock};

/// How many entries each map of a [`Setups`] holds before it starts again empty
/// ([`make_room`]).
const ENTRIES: usize = 8192;

/// A sweep worker's memo: the schedules ([`TilingMemo`]) and the layers' setups.
#[derive(Debug, Default)]
pub struct RunMemo {
    /// The schedules, seeds and fronts.
    pub tiling: TilingMemo,
    /// The layers' setups of the graph the last point ran.
    pub setups: Setups,
}

impl RunMemo {
    /// A memo for a sweep that costs each description at `speeds` consecutive channel
    /// speeds ([`TilingMemo::for_channel_speeds`]).
    pub fn for_channel_speeds(speeds: usize) -> Self {
        RunMemo { tiling: TilingMemo::for_channel_speeds(speeds), setups: Setups::default() }
    }
}

/// The setups of the layers of one graph ([`Setups::for_graph`]).
#[derive(Debug, Default)]
pub struct Setups {
    graph: Option<Arc<Graph>>,
    /// By the id of the description the run is costed on.
    runs: HashMap<u64, Arc<RunPlan>>,
    gemms: HashMap<GemmKey, GemmFacts>,
    widths: HashMap<(u64, usize, usize), PhaseWidths>,
    /// The on-chip decision's bounds of a layer ([`super::layer_bound`]) by description,
    /// layer and what it holds on chip, before the channel's speed and the clock enter.
    bounds: HashMap<(u64, usize, LayerOnChip), Option<BoundBasis>>,
}

/// What a run makes of a graph on a description before costing its layers.
#[derive(Debug)]
pub(super) struct RunPlan {
    /// Which layers run fused into which ([`fusion::plan`]).
    pub plan: FusionPlan,
    /// Each layer's phases ([`phases_of`]).
    pub phases: Vec<Vec<Phase>>,
    /// The tensors the on-chip decision may keep, made when it first asks
    /// ([`super::onchip::decide_with`]).
    pub cands: OnceLock<Vec<Kept>>,
    /// Each layer's labels in its report row.
    pub labels: Vec<LayerLabels>,
}

/// A layer's labels in its report row: its name, its operator (with those of the layers
/// fused into it, `+`-joined) and its output shape; shared by every run on the plan
/// (made by `LayerLabels::of`, beside the rows in `pipeline`).
#[derive(Debug, Clone)]
pub(super) struct LayerLabels {
    pub name: Arc<str>,
    pub op: Arc<str>,
    pub shape: Arc<[usize]>,
}

impl RunPlan {
    pub fn new(g: &Graph, hw: &HwDesc) -> Self {
        let plan = fusion::plan(g, hw);
        let labels =
            g.layers.iter().enumerate().map(|(i, l)| LayerLabels::of(g, l, plan.followers(LayerId(i)))).collect();
        RunPlan { plan, phases: g.layers.iter().map(|l| phases_of(g, l)).collect(), cands: OnceLock::new(), labels }
    }
}

/// Where a GEMM is costed: the description's id, the layer, the phase, the GEMM (a batch's
/// images together or one by one, a grouped convolution whole or group by group) and its
/// widths (which hold what the layer keeps on chip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct GemmKey {
    description: u64,
    layer: usize,
    phase: usize,
    work: ConvWork,
    wd: Widths,
}

/// A GEMM's setup as kept: the compute mode by its index in the description's precisions.
#[derive(Debug, Clone)]
pub(super) struct GemmFacts {
    pub w: ConvWork,
    pub mode: usize,
    pub f: ComputeFigures,
    pub work: LayerWork,
    /// What its evaluation makes before costing a tiling.
    pub prepared: Prepared,
    /// The notes [`super::gemm_setup`] says on it.
    pub notes: Vec<String>,
    /// Whether any tiling of it fits ([`crate::map::tiling::has_candidate`]), once asked.
    pub fits: Option<bool>,
}

/// Empties `map` when it holds [`ENTRIES`]: a long sweep over many descriptions stays
/// bounded, and a point's own entries come back at the next one.
fn make_room<K, V>(map: &mut HashMap<K, V>) {
    if map.len() >= ENTRIES {
        map.clear();
    }
}

impl Setups {
    /// These setups for `g`: emptied when they were another graph's.
    pub fn for_graph(&mut self, g: &Arc<Graph>) -> &mut Self {
        if !self.graph.as_ref().is_some_and(|held| Arc::ptr_eq(held, g)) {
            self.runs.clear();
            self.gemms.clear();
            self.widths.clear();
            self.bounds.clear();
            self.graph = Some(Arc::clone(g));
        }
        self
    }

    /// The run plan of `g` (the graph these setups are for) on `hw`, whose id is
    /// `description`, made on first use.
    pub(super) fn run_plan(&mut self, description: u64, g: &Graph, hw: &HwDesc) -> Arc<RunPlan> {
        make_room(&mut self.runs);
        Arc::clone(self.runs.entry(description).or_insert_with(|| Arc::new(RunPlan::new(g, hw))))
    }
}

/// A run's access to its [`Setups`]: the description a layer is costed on, and the layer.
#[derive(Debug)]
pub(super) struct SetupAt<'s> {
    pub setups: &'s mut Setups,
    pub description: u64,
    pub layer: usize,
    pub phase: usize,
}

impl SetupAt<'_> {
    /// The key of the GEMM `work` at widths `wd` here.
    fn key(&self, work: ConvWork, wd: Widths) -> GemmKey {
        GemmKey { description: self.description, layer: self.layer, phase: self.phase, work, wd }
    }

    /// The setup kept of the GEMM `work` at widths `wd` here.
    pub fn gemm(&self, work: ConvWork, wd: Widths) -> Option<&GemmFacts> {
        self.setups.gemms.get(&self.key(work, wd))
    }

    /// Keeps `facts`, the setup of the GEMM `work` at widths `wd` here.
    pub fn keep_gemm(&mut self, work: ConvWork, wd: Widths, facts: GemmFacts) {
        make_room(&mut self.setups.gemms);
        self.setups.gemms.insert(self.key(work, wd), facts);
    }

    /// Whether any tiling of the GEMM `work` at widths `wd` here fits, found by `find` on
    /// first use (and every time when its setup is not kept).
    pub fn fits(&mut self, work: ConvWork, wd: Widths, find: impl FnOnce() -> bool) -> bool {
        match self.setups.gemms.get_mut(&self.key(work, wd)) {
            Some(kept) => *kept.fits.get_or_insert_with(find),
            None => find(),
        }
    }

    /// The widths of this phase, made by `make` on first use.
    pub fn widths(&mut self, make: impl FnOnce() -> PhaseWidths) -> PhaseWidths {
        make_room(&mut self.setups.widths);
        *self.setups.widths.entry((self.description, self.layer, self.phase)).or_insert_with(make)
    }

    /// The on-chip decision's bound basis of this layer holding `on`, when kept (`None`
    /// when not; `Some(None)` when the layer has none).
    pub fn bound_basis(&self, on: LayerOnChip) -> Option<Option<BoundBasis>> {
        self.setups.bounds.get(&(self.description, self.layer, on)).copied()
    }

    /// Keeps `basis`, this layer's bound basis holding `on`.
    pub fn keep_bound_basis(&mut self, on: LayerOnChip, basis: Option<BoundBasis>) {
        make_room(&mut self.setups.bounds);
        self.setups.bounds.insert((self.description, self.layer, on), basis);
    }

    /// A shorter-lived access to the same setups, at phase `phase`.
    pub fn at_phase(&mut self, phase: usize) -> SetupAt<'_> {
        SetupAt { setups: self.setups, description: self.description, layer: self.layer, phase }
    }

    /// A shorter-lived access to the same setups.
    pub fn reborrow(&mut self) -> SetupAt<'_> {
        let phase = self.phase;
        self.at_phase(phase)
    }
}
