//! Tiling: choose the tile of a layer's loop nest and the loop order that fit the on-chip
//! buffers and serve the architect's objective best (latency, energy or energy-delay
//! product, each evaluated on the layer's simulated tile timeline), and count the DRAM
//! traffic at the operands' packed widths.
//!
//! The loop nest of a convolution is tiled over output channels (`tk`), output rows and
//! columns (`th`, `tw`) and input channels (`tc`, dense convs only; partial sums then stay in
//! the output buffer at accumulator width). Two loop orders are considered: weights outer
//! (each weight tile stays resident while the spatial tiles stream past) and inputs outer.
//! A tile that stays resident across the inner loop is read from DRAM once; otherwise it is
//! re-read per inner iteration. Each operand role lives in the first buffer that holds it;
//! a double-buffered buffer must hold two tiles.
//!
//! The candidates are a grid that depends on the layer only (tile sizes halving from the
//! whole layer; see [`schedule_conv`]): the buffers decide which fit, so a larger buffer
//! offers a superset and the chosen schedule never gets worse. Each candidate is scored by
//! an [`Evaluate`] the pipeline provides (the simulated timeline and the energy); the
//! search skips candidates whose cheap lower bound cannot beat the best so far, so it
//! returns exactly what scoring every candidate returns.
//!
//! Invariant: DRAM traffic is never below the compulsory traffic (every weight, input and
//! output moved once at its width) and equals it when one tile covers the whole layer.

use super::work::{ConvWork, VectorWork};
use crate::hw::{Buffer, BufferLevel, Family, HwDesc, Role};
use crate::ir::WeightGroups;
use crate::schedule::ChannelFree;
use crate::units::{Bits, Bytes};
// The memo's maps are keyed by small integer records and description strings, looked up
// several times per layer of every sweep point: rustc's multiply-rotate hash, not SipHash
// (which resists collisions an attacker crafts; nothing here needs that).
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;

/// Operand widths of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Widths {
    /// Weight bits.
    pub weight: u32,
    /// Input activation bits.
    pub input: u32,
    /// Output activation bits.
    pub output: u32,
    /// Partial-sum bits: the accelerator's accumulator width, at which partial sums of a
    /// split reduction are written to and read back from the output buffer.
    pub acc: u32,
    /// Bias bits (the bias tensor's width; the accumulator's for a layer without one),
    /// loaded with the weights.
    pub bias: u32,
    /// Group-wise weight scales (`--wgroup`): stored and moved with the weights, at their
    /// own widths; `None` for per-tensor or per-channel weights.
    pub groups: Option<WeightGroups>,
    /// Group-wise scales across the reduction: the second operand's groups run along its
    /// output axis (a value cache grouped along each head's features, read by `P V`, whose
    /// reduction is over positions), so the scales change along every output's sum and
    /// cannot be applied to partial sums. Each operand element is dequantized on the vector
    /// unit (a multiply, and a subtract with a zero point) before the array; the scales move
    /// with the operand. `None` without such groups.
    pub dequant: Option<WeightGroups>,
    /// Dynamic quantization of a float input (LiteRT's hybrid layers): the input is stored and
    /// moved at `input` bits and quantized row by row (a convolution: image by image) on the
    /// vector unit to the array's width; `None` when the input is used at its width.
    pub dynamic: Option<DynamicInput>,
    /// Input elements held on chip across layers (a tensor kept in the buffer by the layer
    /// that wrote it, `pipeline`'s on-chip reuse): they are neither read from DRAM nor given
    /// tile room (they sit in their reserved region). A convolution's input is all or
    /// nothing; vector work may hold some of its inputs.
    pub resident_in: u64,
    /// Whether the output stays on chip for its readers: not written to DRAM, written into
    /// its reserved region rather than output tiles (partial sums of a channel split keep
    /// their tile room).
    pub resident_out: bool,
}

/// Dynamic quantization of a GEMM's float input, as LiteRT's hybrid layers run it (a fully
/// connected layer per row, that is per token; a convolution per image): each row's range found and its values quantized on the
/// vector unit, the integer GEMM on the array at `bits`, each output rescaled by its row's
/// scale (times the weight scale) and, with a zero point, corrected by the row's zero point
/// times the weights' row sum. The scales and zero points are made and used on chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DynamicInput {
    /// The width the rows are quantized to (8 in LiteRT).
    pub bits: u32,
    /// Whether each row has a zero point (LiteRT's `asymmetric_quantize_inputs`).
    pub zero_point: bool,
}

impl DynamicInput {
    /// Vector operations: per input element a comparison (the row's range) and a
    /// multiply-add with rounding (its quantization); per output element a multiply-add (the
    /// rescale and the bias) and, with a zero point, a second (the correction).
    pub fn ops(&self, in_elements: u64, out_elements: u64) -> u64 {
        let per_out = if self.zero_point { 2 } else { 1 };
        in_elements.saturating_mul(2).saturating_add(out_elements.saturating_mul(per_out))
    }
}

impl Widths {
    /// The width a GEMM's inputs are held at in the buffers: a dynamically quantized input
    /// ([`Widths::dynamic`]) is quantized as it is loaded (its rows' ranges tracked by the
    /// producer as it wrote them, the comparisons counted in [`DynamicInput::ops`]), so it
    /// moves over the channel at `input` bits but takes room and port bandwidth at the
    /// quantized width; one held on chip across layers ([`Widths::resident_in`]) sits there
    /// at its own width and is quantized as the array reads it.
    pub fn buffered_input(&self) -> u32 {
        match self.dynamic {
            Some(d) if self.resident_in == 0 => d.bits,
            Some(_) | None => self.input,
        }
    }

    /// Weights, inputs and outputs at `bits`, partial sums at `acc`, a 32-bit bias, per-channel
    /// weights, nothing quantized on the fly or held on chip.
    pub const fn plain(bits: u32, acc: u32) -> Widths {
        Widths {
            weight: bits,
            input: bits,
            output: bits,
            acc,
            bias: 32,
            groups: None,
            dequant: None,
            dynamic: None,
            resident_in: 0,
            resident_out: false,
        }
    }

    /// Bits of `k` output channels' weights of `reduction` elements each: the packed
    /// weights and, when group-wise, their groups' scales and zero points.
    pub fn weight_bits(&self, k: u64, reduction: u64) -> u64 {
        let along = match self.groups {
            Some(g) => g.weight_bits(k, reduction, self.weight),
            None => bits(k.saturating_mul(reduction), self.weight),
        };
        // Groups across the reduction: `k` outputs' operand in groups per reduction element.
        let across = self
            .dequant
            .map_or(0, |g| reduction.saturating_mul(g.groups(k)).saturating_mul(u64::from(g.bits_per_group())));
        along.saturating_add(across)
    }

    /// Bytes of [`Widths::weight_bits`].
    pub fn weight_bytes(&self, k: u64, reduction: u64) -> u64 {
        self.weight_bits(k, reduction).div_ceil(8)
    }

    /// Rescaling operations of group-wise weights for `outputs` output elements of a
    /// reduction over `reduction` weights: each group's partial sum is multiplied by its
    /// scale and added (and, with a zero point, the zero point times the group's input
    /// sum subtracted: a second multiply-add). 0 without groups.
    pub fn group_ops(&self, outputs: u64, reduction: u64) -> u64 {
        match self.groups {
            Some(g) => {
                let per = if g.zero_point_bits > 0 { 2 } else { 1 };
                outputs.saturating_mul(g.groups(reduction)).saturating_mul(per)
            }
            None => 0,
        }
    }

    /// Dequantization operations of an operand grouped across the reduction
    /// ([`Widths::dequant`]) of `k` outputs by `reduction` elements, loaded once: one
    /// multiply per element, two with a zero point. 0 without such groups.
    pub fn dequant_ops(&self, k: u64, reduction: u64) -> u64 {
        match self.dequant {
            Some(g) => k.saturating_mul(reduction).saturating_mul(if g.zero_point_bits > 0 { 2 } else { 1 }),
            None => 0,
        }
    }
}

/// A tile of a convolution's loop nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Output channels.
    pub k: u64,
    /// Output rows.
    pub rows: u64,
    /// Output columns.
    pub cols: u64,
    /// Input channels (per group for grouped convs: all of the group's channels).
    pub c: u64,
}

/// The loop order of the tiled nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopOrder {
    /// Output-channel tiles outer: weights stay resident, inputs stream.
    WeightsOuter,
    /// Spatial tiles outer: inputs stay resident, weights stream.
    InputsOuter,
}

/// DRAM traffic of a layer by operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Input activations read.
    pub inputs: Bits,
    /// Weights and biases read.
    pub weights: Bits,
    /// Outputs written.
    pub outputs: Bits,
}

impl Traffic {
    /// Bytes read (packed, rounded up per operand).
    pub fn read_bytes(&self) -> Bytes {
        self.inputs.to_bytes_ceil() + self.weights.to_bytes_ceil()
    }
    /// Bytes written.
    pub fn write_bytes(&self) -> Bytes {
        self.outputs.to_bytes_ceil()
    }
}

/// The chosen tiling of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// The tile (for vector work: `k` = elements per tile, other fields 1).
    pub tile: Tile,
    /// Loop order.
    pub order: LoopOrder,
    /// Number of tiles.
    pub tiles: u64,
    /// Input-channel tiles (> 1 means partial sums are kept on chip).
    pub c_tiles: u64,
    /// How many times the weights are read from DRAM.
    pub weight_reads: u64,
    /// DRAM traffic.
    pub dram: Traffic,
}

/// No tile of a layer fits the buffers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "buffer '{buffer}' ({size} bytes) is too small for any tile of this layer: the smallest tile needs {need} bytes"
)]
pub struct NoTileFits {
    /// The buffer that overflows.
    pub buffer: String,
    /// Its size.
    pub size: u64,
    /// Bytes the smallest tile needs there.
    pub need: u64,
}

struct Capacity<'a> {
    // For each role, the index of the buffer holding it.
    idx: [usize; 3],
    // For each role, how many copies of its tile its buffer keeps (2 if double buffered).
    copies: [u64; 3],
    buffers: &'a [Buffer],
    // The fast form of `check`: for each role, the slot of its buffer among the (at most
    // three) distinct buffers holding a role, or `NO_SLOT` when `check` does not count it
    // (index 8 or more); and each slot's size.
    slot: [usize; 3],
    slot_size: [u64; 3],
}

/// A role whose buffer `check` does not count.
const NO_SLOT: usize = 3;

/// A buffer that overflows: its index and the bytes needed there. Cheap to make (the search
/// probes thousands of tiles); turned into a [`NoTileFits`] only when reported.
#[derive(Debug, Clone, Copy)]
struct Overflow {
    buffer: usize,
    need: u64,
}

impl<'a> Capacity<'a> {
    fn new(hw: &'a HwDesc) -> Self {
        let find = |r: Role| hw.buffer_at(r, BufferLevel::Shared).unwrap_or(0);
        let idx = [find(Role::Inputs), find(Role::Weights), find(Role::Outputs)];
        let copies = idx.map(|b| if hw.buffers[b].double_buffered { 2 } else { 1 });
        let mut slot = [NO_SLOT; 3];
        let mut slot_size = [0u64; 3];
        for r in 0..3 {
            if idx[r] < 8 {
                // The first role with the same buffer gave it a slot; else this role does.
                slot[r] = (0..r).find(|&q| idx[q] == idx[r]).map_or(r, |q| slot[q]);
                slot_size[slot[r]] = hw.buffers[idx[r]].size.get();
            }
        }
        Capacity { idx, copies, buffers: &hw.buffers, slot, slot_size }
    }

    /// Whether the bytes needed per role fit: `check(need).is_ok()`, without building the
    /// overflow (buffers that hold no role have nothing to overflow).
    #[inline]
    fn fits(&self, need: [u64; 3]) -> bool {
        let used = self.used(need);
        used[0] <= self.slot_size[0] && used[1] <= self.slot_size[1] && used[2] <= self.slot_size[2]
    }

    /// Bytes used per slot (the fourth entry collects roles `check` does not count).
    #[inline]
    fn used(&self, need: [u64; 3]) -> [u64; 4] {
        let mut used = [0u64; 4];
        for r in 0..3 {
            used[self.slot[r]] = used[self.slot[r]].saturating_add(need[r].saturating_mul(self.copies[r]));
        }
        used
    }

    /// Checks bytes needed per role; returns the first overflow.
    fn check(&self, need: [u64; 3]) -> Result<(), Overflow> {
        if self.fits(need) {
            return Ok(());
        }
        self.first_overflow(need).map_or(Ok(()), Err)
    }

    /// The first buffer (in order, among the first 8) that `need` overflows, if any.
    fn first_overflow(&self, need: [u64; 3]) -> Option<Overflow> {
        let mut used = [0u64; 8];
        for ((&bytes, &b), &copies) in need.iter().zip(&self.idx).zip(&self.copies) {
            if let Some(u) = used.get_mut(b) {
                *u = u.saturating_add(bytes.saturating_mul(copies));
            }
        }
        for (b, buf) in self.buffers.iter().enumerate().take(used.len()) {
            if used[b] > buf.size.get() {
                return Some(Overflow { buffer: b, need: used[b] });
            }
        }
        None
    }

    /// The reportable error of an overflow.
    fn error(&self, o: Overflow) -> NoTileFits {
        let buf = &self.buffers[o.buffer];
        NoTileFits { buffer: buf.name.to_string(), size: buf.size.get(), need: o.need }
    }
}

fn bits(elements: u64, width: u32) -> u64 {
    elements.saturating_mul(width as u64)
}

fn bytes(elements: u64, width: u32) -> u64 {
    bits(elements, width).div_ceil(8)
}

/// Candidate sizes for a dimension: n, then halving (rounded up) down to 1.
fn candidates(n: u64) -> impl Iterator<Item = u64> {
    let mut v = Some(n.max(1));
    std::iter::from_fn(move || {
        let cur = v?;
        v = if cur <= 1 { None } else { Some(cur.div_ceil(2)) };
        Some(cur)
    })
}

/// Sum over tiles of a dimension of the input extent each tile needs.
fn extent_sum(total_out: u64, tile: u64, extent: impl Fn(u64) -> u64) -> u64 {
    let full = total_out / tile;
    let rest = total_out % tile;
    full.saturating_mul(extent(tile)) + if rest > 0 { extent(rest) } else { 0 }
}

/// What the schedule search minimizes (`--objective`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Objective {
    /// The layer's simulated cycles, fill and drain included.
    #[default]
    Latency,
    /// The layer's energy.
    Energy,
    /// The energy-delay product.
    Edp,
}

impl Objective {
    /// The names `--objective` takes.
    pub const NAMES: [&'static str; 3] = ["latency", "energy", "edp"];

    /// The objective of a name in [`Objective::NAMES`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "latency" => Some(Objective::Latency),
            "energy" => Some(Objective::Energy),
            "edp" => Some(Objective::Edp),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Latency => "latency",
            Objective::Energy => "energy",
            Objective::Edp => "edp",
        }
    }

    /// The figures compared, most significant first: the objective's own, then energy (or
    /// cycles, when energy is the objective), then DRAM bits. Each is non-decreasing in every
    /// field of a [`Score`], so a score at least a bound field by field never compares below
    /// the bound.
    fn key(self, s: &Score) -> [f64; 3] {
        match self {
            Objective::Latency => [s.cycles, s.energy_pj, s.dram_bits],
            Objective::Energy => [s.energy_pj, s.cycles, s.dram_bits],
            Objective::Edp => [s.cycles * s.energy_pj, s.energy_pj, s.dram_bits],
        }
    }

    /// The figure compared first ([`Objective::better`]): non-decreasing in every field.
    pub fn first(self, s: &Score) -> f64 {
        self.key(s)[0]
    }

    /// Whether `a` is no better than `b`: its key is at least `b`'s (lexicographic; false
    /// where a field compared is NaN).
    fn no_better(self, a: &Score, b: &Score) -> bool {
        self.key(a) >= self.key(b)
    }

    /// Whether every objective finds a score with `a`'s energy and DRAM bits strictly
    /// better than one with `b`'s whenever its cycles are no more ([`Evaluate::strictly_better`]):
    /// asked of the keys at equal cycles, since each key is non-decreasing in every figure,
    /// so fewer cycles keep a strictly better key strictly better.
    pub fn all_prefer_at_no_more_cycles(a: &Score, b: &Score) -> bool {
        let at_equal_cycles = |s: &Score| Score { cycles: 0.0, ..*s };
        Objective::NAMES
            .iter()
            .filter_map(|name| Objective::from_name(name))
            .all(|o| o.better(&at_equal_cycles(a), &at_equal_cycles(b)))
    }

    /// Whether `a` is strictly better than `b` (exact ties keep `b`).
    pub fn better(self, a: &Score, b: &Score) -> bool {
        // `self.key(a) < self.key(b)`, field by field (the search calls it for every bound):
        // the first field that differs decides; a NaN compares as neither.
        let (x, y) = (self.key(a), self.key(b));
        if x[0] != y[0] {
            return x[0] < y[0];
        }
        if x[1] != y[1] {
            return x[1] < y[1];
        }
        x[2] < y[2]
    }
}

/// What one candidate schedule of a layer costs, as the objective compares it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Simulated cycles of the layer, fill and drain included.
    pub cycles: f64,
    /// Energy in picojoules.
    pub energy_pj: f64,
    /// DRAM bits moved.
    pub dram_bits: f64,
}

/// Lower bounds that hold for a set of candidate tilings, for [`Evaluate::bound`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TilingBound {
    /// DRAM bits read by the tiling (inputs and weights).
    pub read_bits: u64,
    /// Bits one tile loads on average.
    pub load_bits_per_tile: f64,
    /// The fewest tiles.
    pub tiles_min: u64,
    /// The most tiles.
    pub tiles_max: u64,
}

impl TilingBound {
    /// The bound of one known candidate: `read_bits` read over exactly `tiles` tiles.
    pub fn exact(read_bits: u64, tiles: u64) -> Self {
        TilingBound {
            read_bits,
            load_bits_per_tile: read_bits as f64 / tiles as f64,
            tiles_min: tiles,
            tiles_max: tiles,
        }
    }
}

/// How the search costs a candidate tiling of one layer: the pipeline simulates its tile
/// timeline and counts its energy ([`crate::schedule`]).
pub trait Evaluate {
    /// What a tiling's evaluation computes before the DRAM channel's speed (bandwidth,
    /// latency, clock) enters: a sweep over those keeps it and only redoes the rest.
    type Part: Clone;
    /// The channel-independent part of a tiling's evaluation. It never reads the tiling's
    /// loop order (its traffic, tile counts and sizes decide it): the search skips the
    /// second order of a tile where that reads as often as the first (the same part, a
    /// later rank).
    fn part(&self, t: &Tiling) -> Self::Part;
    /// The exact score of a tiling from its part.
    fn score_part(&self, p: &Self::Part) -> Score;
    /// A score the tiling of part `p` does not beat field by field (cheap: no simulation).
    fn bound_part(&self, p: &Self::Part) -> Score;
    /// Another score the tiling of part `p` does not beat field by field (no simulation),
    /// dearer than [`Evaluate::bound_part`] and tighter where that is loosest: asked only of
    /// a candidate whose cheaper bound did not rule it out, before simulating it.
    fn tight_bound_part(&self, p: &Self::Part) -> Score;
    /// Whether the tiling of part `a` scores no worse than that of part `b` in every field,
    /// whatever the channel's speed.
    fn dominates(a: &Self::Part, b: &Self::Part) -> bool;
    /// Of parts where `a` [`Evaluate::dominates`] `b`: whether `a` scores strictly better at
    /// every channel speed, for every objective (by the figures no speed changes:
    /// [`Objective::all_prefer_at_no_more_cycles`]).
    fn strictly_better(a: &Self::Part, b: &Self::Part) -> bool;
    /// A key whose lexicographic order puts a part after those that dominate it (or
    /// beside equal ones), e.g. lexicographic: [`conv_front`] sorts by its first field and
    /// the high bits of its second (the rest only for fronts of more than 2^24 candidates),
    /// compares neighbours and scans blocks of that order. [`ordered`] maps an `f64` into it.
    fn order_key(p: &Self::Part) -> [u64; 4];
    /// A part no worse than `a` and `b` in any field (field by field minimum), so that
    /// `bound_part(meet(a, b))` bounds both: [`schedule_front`] skips a block of a front
    /// by the bound of its meet.
    fn meet(a: &Self::Part, b: &Self::Part) -> Self::Part;
    /// The exact score of a tiling.
    fn score(&self, t: &Tiling) -> Score {
        self.score_part(&self.part(t))
    }
    /// A score no tiling within `b` beats field by field (cheap: no simulation).
    fn bound(&self, b: &TilingBound) -> Score;
}

/// Candidate spatial tiles (rows, cols) of an `oh x ow` output plane: whole rows, halving
/// the rows down to one, then one row, halving the columns. Each needs no more room than
/// the one before, and the list depends on the layer only, so a larger buffer fits a
/// superset of it.
fn spatial_chain(oh: u64, ow: u64) -> impl Iterator<Item = (u64, u64)> {
    let ow = ow.max(1);
    candidates(oh).map(move |th| (th, ow)).chain(candidates(ow).skip(1).map(|tw| (1, tw)))
}

/// A spatial tile of [`spatial_chain`] with what the search needs of it, made once per search.
#[derive(Debug, Clone, Copy)]
struct Spatial {
    th: u64,
    tw: u64,
    /// Spatial tiles.
    n_s: u64,
    /// Input pixels (batch x rows x columns) a tile needs, for one channel.
    in_pix: u64,
    /// Output pixels (batch x rows x columns) of a tile.
    out_pix: u64,
    /// Input bits of one pass over all spatial tiles, halos included.
    in_pass: u64,
}

impl Spatial {
    fn new(w: &ConvWork, wd: Widths, th: u64, tw: u64) -> Self {
        let rows_in = extent_sum(w.oh, th, |r| w.in_rows(r));
        let cols_in = extent_sum(w.ow, tw, |c| w.in_cols(c));
        Spatial {
            th,
            tw,
            n_s: w.oh.div_ceil(th).saturating_mul(w.ow.div_ceil(tw)),
            in_pix: w.n.wrapping_mul(w.in_rows(th)).wrapping_mul(w.in_cols(tw)),
            out_pix: w.n.wrapping_mul(th).wrapping_mul(tw),
            // An input held on chip (`Widths::resident_in`) moves nothing from DRAM.
            in_pass: if wd.resident_in > 0 {
                0
            } else {
                bits(w.n.saturating_mul(rows_in).saturating_mul(cols_in).saturating_mul(w.c), wd.input)
            },
        }
    }
}

/// Schedules a convolution on the buffers of `hw`: the tiling, among every candidate that
/// fits, that `ev` scores best for `objective` (exact ties keep the first found).
///
/// Candidates: output-channel tiles (whole groups for grouped convs) and input-channel
/// tiles (dense convs only; partial sums then stay on chip at accumulator width) halving
/// from the whole layer, the spatial tiles of [`spatial_chain`], and both loop orders. The
/// set depends on the layer only; the buffers only decide which fit. So a larger buffer
/// offers a superset and the chosen score can only improve, and anything that shortens
/// every candidate's timeline (bandwidth, clock, a faster array) improves the choice too.
///
/// The search skips a candidate whose lower bound ([`Evaluate::bound`]) loses to the best so
/// far, and stops a chain of output-channel (of a grouped convolution), input-channel or
/// spatial tiles when a bound over the rest of it does (an (output, input channel) tile's
/// whole spatial chain, when that holds at its first tile that fits); a candidate later in
/// the search order than the best is not simulated either when its part's bounds only tie
/// the best ([`cannot_replace`]); skipping cannot change the result (property tests compare
/// it with the unpruned search, with a traffic-only evaluator and with the pipeline's).
pub fn schedule_conv(
    hw: &HwDesc,
    w: &ConvWork,
    wd: Widths,
    ev: &impl Evaluate,
    objective: Objective,
) -> Result<Tiling, NoTileFits> {
    search_conv(hw, w, wd, ev, objective, true, None)
}

/// [`schedule_conv`], starting from `seed`: a tiling of the same work and widths found on
/// another description (a sweep's neighbouring point). A good seed lets the bounds skip most
/// candidates from the start; the result is the same with or without it (ties between
/// equal scores go to the candidate found first in the search order, see [`SearchRank`]),
/// and a seed that is not a candidate here (it does not fit, or the description does not
/// split input channels) is ignored.
pub fn schedule_conv_seeded(
    hw: &HwDesc,
    w: &ConvWork,
    wd: Widths,
    ev: &impl Evaluate,
    objective: Objective,
    seed: Option<&Tiling>,
) -> Result<Tiling, NoTileFits> {
    search_conv(hw, w, wd, ev, objective, true, seed)
}

/// The spatial tiles of a convolution's search ([`spatial_chain`]), each with what it needs
/// and reads, and per tile the least input pass of it and every later one of the chain
/// (input passes need not grow along it: a strided 1x1 conv reads fewer input rows in more
/// tiles). They depend on the work and widths only: a sweep's memo keeps them ([`Seeds`]).
#[derive(Debug, Clone)]
struct SpatialChain {
    tiles: SmallVec<[Spatial; 32]>,
    pass_after: SmallVec<[u64; 32]>,
}

impl SpatialChain {
    fn of(w: &ConvWork, wd: Widths) -> Self {
        let tiles: SmallVec<[Spatial; 32]> =
            spatial_chain(w.oh, w.ow).map(|(th, tw)| Spatial::new(w, wd, th, tw)).collect();
        let mut pass_after: SmallVec<[u64; 32]> = tiles.iter().map(|sp| sp.in_pass).collect();
        for i in (1..pass_after.len()).rev() {
            pass_after[i - 1] = pass_after[i - 1].min(pass_after[i]);
        }
        SpatialChain { tiles, pass_after }
    }
}

/// A candidate's position in the search order: output-channel tiles, then input-channel
/// tiles, then spatial tiles from the largest down (see [`spatial_chain`]: rows halve at full
/// width, then columns at one row), then weights-outer before inputs-outer. Every dimension
/// of the order is a halving chain, so comparing the tile sizes in reverse is comparing
/// positions.
type SearchRank = (std::cmp::Reverse<[u64; 4]>, bool);

fn rank(t: &Tiling) -> SearchRank {
    (std::cmp::Reverse([t.tile.k, t.tile.c, t.tile.rows, t.tile.cols]), t.order == LoopOrder::InputsOuter)
}

/// Whether no candidate whose score is at least `bound` field by field and whose rank is at
/// least `from` replaces the best so far `(bs, bt)` ([`replaces`]): the best beats the
/// bound, or the bound is no better than the best and the best ranks before `from` (such a
/// candidate at most ties, and a tie keeps the earlier). Exact ties are common: tilings
/// whose timelines, energy and traffic come out equal.
#[inline]
fn cannot_replace(objective: Objective, (bs, bt): (&Score, &Tiling), bound: &Score, from: SearchRank) -> bool {
    objective.better(bs, bound) || (objective.no_better(bound, bs) && rank(bt) < from)
}

/// Whether candidate `(s, t)` replaces the best so far: a strictly better score, or an
/// equal one earlier in the search order.
fn replaces(objective: Objective, s: &Score, t: &Tiling, best: Option<(&Score, &Tiling)>) -> bool {
    match best {
        None => true,
        Some((bs, bt)) => objective.better(s, bs) || (!objective.better(bs, s) && rank(t) < rank(bt)),
    }
}

/// What a tile of `w` needs in each role's buffer (inputs, weights, outputs): of an (output,
/// input channel) pair `(tk, tc)`, the weights and a function of the spatial tile's input
/// and output pixels (the products wrap, as the release build's unchecked ones did).
/// `streams_outputs`: the family's ([`crate::hw::Family::streams_outputs`]).
#[inline]
fn pair_need(w: &ConvWork, wd: Widths, streams_outputs: bool, tk: u64, tc: u64) -> impl Fn(&Spatial) -> [u64; 3] {
    let grouped = w.groups > 1;
    let in_resident = wd.resident_in > 0;
    let n_c = if grouped { 1 } else { w.c.div_ceil(tc) };
    let out_bits = if n_c > 1 { wd.acc } else { wd.output };
    let w_tile = wd.weight_bytes(tk, w.r * w.s * if grouped { w.cg() } else { tc }) + bytes(tk, wd.bias);
    let no_out = (streams_outputs || wd.resident_out) && n_c == 1;
    move |sp: &Spatial| {
        let i = if in_resident { 0 } else { bytes(sp.in_pix.wrapping_mul(tc), wd.buffered_input()) };
        let o = if no_out { 0 } else { bytes(sp.out_pix.wrapping_mul(tk), out_bits) };
        [i, w_tile, o]
    }
}

/// Whether `t`, the schedule [`schedule_conv`] found for `w` and `wd` on a description with
/// `hw`'s frame and no smaller buffers, is a candidate of the family's own search on `hw`
/// too: it keeps the input channels whole where the family requires that, and it fits.
/// Then it is also `hw`'s schedule: `hw`'s candidates are a subset of the other
/// description's (fitting is monotone in the sizes, and nothing else a candidate is scored
/// by reads them), `t` is among them and beat or tied-and-preceded every one there.
fn still_fits(hw: &HwDesc, w: &ConvWork, wd: Widths, t: &Tiling) -> bool {
    let grouped = w.groups > 1;
    if !grouped && hw.family.whole_input_channels().is_some() && t.tile.c != w.c {
        // From the relaxed family's search (nothing of the family's own fit there).
        return false;
    }
    let need = pair_need(w, wd, hw.family.streams_outputs(), t.tile.k, t.tile.c);
    Capacity::new(hw).fits(need(&Spatial::new(w, wd, t.tile.rows, t.tile.cols)))
}

fn search_conv(
    hw: &HwDesc,
    w: &ConvWork,
    wd: Widths,
    ev: &impl Evaluate,
    objective: Objective,
    prune: bool,
    seed: Option<&Tiling>,
) -> Result<Tiling, NoTileFits> {
    search_conv_in(hw, w, wd, &SpatialChain::of(w, wd), ev, objective, prune, seed)
}

/// [`search_conv`] along `spatial`, the work's and widths' ([`SpatialChain::of`]).
#[allow(clippy::too_many_arguments)]
fn search_conv_in(
    hw: &HwDesc,
    w: &ConvWork,
    wd: Widths,
    spatial: &SpatialChain,
    ev: &impl Evaluate,
    objective: Objective,
    prune: bool,
    seed: Option<&Tiling>,
) -> Result<Tiling, NoTileFits> {
    let cap = Capacity::new(hw);
    // NVDLA: CACC hands each finished stripe of atomic-K outputs to SDP, which writes it to
    // DRAM (unit description); finished outputs never wait in a buffer, only partial sums of
    // a channel split would.
    let streams_outputs = hw.family.streams_outputs();
    let grouped = w.groups > 1;
    let weights_total =
        wd.weight_bits(w.k, w.r.saturating_mul(w.s).saturating_mul(w.cg())).saturating_add(bits(w.k, wd.bias));
    // On-chip reuse: an input held on chip moves nothing from DRAM and takes no tile room
    // (its tiles are read where it sits); an output kept on chip is never written out.
    let in_resident = wd.resident_in > 0;
    let out_total = if wd.resident_out { 0 } else { bits(w.pixels().saturating_mul(w.k), wd.output) };
    let lb_in = input_pass_bound(w, wd).map(|b| if in_resident { 0 } else { b });
    // Every tile's inputs span at least one output pixel's window over all channels.
    let window_in = if in_resident {
        0
    } else {
        bits(w.n.saturating_mul(w.in_rows(1)).saturating_mul(w.in_cols(1)).saturating_mul(w.c), wd.input)
    };
    let plane = w.oh.saturating_mul(w.ow).max(1);
    // A family that keeps input channels whole (SCALE-Sim compatibility) unless nothing
    // else fits; `relaxed` is the family without that requirement.
    let relaxed = hw.family.whole_input_channels();
    let whole_c = relaxed.is_some();
    let pair_need = |tk: u64, tc: u64| pair_need(w, wd, streams_outputs, tk, tc);
    let need_of = |tk: u64, tc: u64, rows: u64, tw: u64| pair_need(tk, tc)(&Spatial::new(w, wd, rows, tw));
    // The spatial chain, with what each tile needs and reads: the same for every pair.
    let (chain, pass_after) = (&spatial.tiles, &spatial.pass_after);
    // A seed is a candidate here when it fits and keeps the input channels whole where the
    // description requires it (it was generated from the same work, so its sizes are on
    // the same halving chains).
    let mut best: Option<(Score, Tiling)> = seed
        .filter(|t| grouped || !whole_c || t.tile.c == w.c)
        .filter(|t| cap.fits(need_of(t.tile.k, t.tile.c, t.tile.rows, t.tile.cols)))
        .map(|t| (ev.score(t), t.clone()));
    let k_units = if grouped { w.groups } else { w.k };
    // The most input-channel tiles of any pair (one channel per tile, when split).
    let n_c_max = if grouped || whole_c { 1 } else { w.c.max(1) };
    for tku in candidates(k_units) {
        let tk = if grouped { tku * w.kg() } else { tku };
        let n_k = w.k.div_ceil(tk);
        // The most (output, input channel) tiles of this pair and of every later one: the
        // output-channel chain ends at one unit per tile.
        let per_max = w.k.div_ceil(if grouped { w.kg().max(1) } else { 1 }).saturating_mul(n_c_max).max(1);
        if let (true, true, Some((bs, _)), Some(lb_in)) = (prune, grouped, &best, lb_in) {
            // Every later candidate has at least `n_k` tiles, reads at least one input pass
            // and the weights, and loads per tile at least what the pair bound below gives
            // the pair with the most tiles: when even that loses, so does the rest. Grouped
            // convolutions only: a dense one's first pair bound below (the rest of its
            // input-channel chain) is tighter and nearly always decides alone (asked of every
            // convolution, 1 in 40 of these checks pruned on sweep B of `docs/sweeps.md`,
            // which runs 1% faster without them for dense ones).
            if objective.better(bs, &ev.bound(&chain_bound(lb_in, weights_total, window_in, n_k, per_max, plane))) {
                break;
            }
        }
        for tc in c_candidates(w, grouped, !whole_c, tku) {
            let n_c = if grouped { 1 } else { w.c.div_ceil(tc) };
            let need = pair_need(tk, tc);
            // The smallest spatial tile (the chain's last, one output pixel) of this pair does
            // not fit: none does.
            if chain.last().is_none_or(|sp| !cap.fits(need(sp))) {
                continue;
            }
            let per = n_k.saturating_mul(n_c);
            if let (true, false, Some((bs, _)), Some(lb_in)) = (prune, grouped, &best, lb_in) {
                // The rest of the input-channel chain has at least `per` tiles and reads at
                // least what this pair does with one spatial tile (the read count grows with
                // the channel tiles): when even that loses, so does every later pair of `tk`.
                let read = PairBound { grouped, n_k, n_c, lb_in, weights_total }.read_bound(1);
                let rest = chain_bound(read, 0, window_in, per, n_k.saturating_mul(n_c_max), plane);
                if objective.better(bs, &ev.bound(&rest)) {
                    break;
                }
            }
            // Each tile of the chain needs no more room than the one before: skip those that
            // do not fit (some one does); every later one fits. (The bound below only grows
            // along the chain, so where it stops the chain does not move past a candidate.)
            let first = chain.iter().position(|sp| cap.fits(need(sp))).unwrap_or(chain.len());
            for (sp, &pass_rest) in chain[first..].iter().zip(&pass_after[first..]) {
                let (th, tw, n_s) = (sp.th, sp.tw, sp.n_s);
                // The rest of the chain has at least this many spatial tiles, so at least
                // these tiles and reads (inputs at the least pass from here on, either
                // order), and loads per tile at least what a pair's tile spans (one output
                // pixel's window) and the reads over its most tiles: when even that loses to
                // the best, so does every later candidate of the pair (at the chain's first
                // fitting tile: the whole pair).
                if let (true, Some((bs, _)), Some(_)) = (prune, &best, lb_in) {
                    let read = PairBound { grouped, n_k, n_c, lb_in: pass_rest, weights_total }.read_bound(n_s);
                    let rest = chain_bound(read, 0, window_in, per.saturating_mul(n_s), per, plane);
                    if objective.better(bs, &ev.bound(&rest)) {
                        break;
                    }
                }
                let in_pass = sp.in_pass;
                let tiles = per.saturating_mul(n_s);
                let mut first_reads = None;
                for order in [LoopOrder::WeightsOuter, LoopOrder::InputsOuter] {
                    let (in_reads, w_reads) = reads(grouped, order, n_k, n_s, n_c);
                    // Inputs-outer reading as often as weights-outer (one output-channel tile,
                    // or one spatial tile) is the same traffic at a later rank: its part is the
                    // same ([`Evaluate::part`] does not read the order), so it never replaces
                    // the other (and a front would drop it as dominated by it).
                    if first_reads.replace((in_reads, w_reads)) == Some((in_reads, w_reads)) {
                        continue;
                    }
                    let dram = Traffic {
                        inputs: Bits(in_pass.saturating_mul(in_reads)),
                        weights: Bits(weights_total.saturating_mul(w_reads)),
                        outputs: Bits(out_total),
                    };
                    if let (true, Some((bs, _))) = (prune, &best) {
                        let b = TilingBound::exact(dram.inputs.get().saturating_add(dram.weights.get()), tiles);
                        if objective.better(bs, &ev.bound(&b)) {
                            continue;
                        }
                    }
                    let t = Tiling {
                        tile: Tile { k: tk, rows: th, cols: tw, c: tc },
                        order,
                        tiles,
                        c_tiles: n_c,
                        weight_reads: w_reads,
                        dram,
                    };
                    // The candidate's channel-independent part bounds its score more
                    // tightly than its traffic did; only a part that can still win is
                    // simulated.
                    let p = ev.part(&t);
                    if let (true, Some((bs, bt))) = (prune, &best) {
                        let from = rank(&t);
                        if cannot_replace(objective, (bs, bt), &ev.bound_part(&p), from)
                            || cannot_replace(objective, (bs, bt), &ev.tight_bound_part(&p), from)
                        {
                            continue;
                        }
                    }
                    let s = ev.score_part(&p);
                    if replaces(objective, &s, &t, best.as_ref().map(|(bs, bt)| (bs, bt))) {
                        best = Some((s, t));
                    }
                }
            }
        }
    }
    match (best, relaxed) {
        (Some((_, t)), _) => Ok(t),
        (None, Some(family)) => {
            search_conv_in(&HwDesc { family, ..hw.clone() }, w, wd, spatial, ev, objective, prune, seed)
        }
        (None, None) => {
            // Nothing fits: report what the smallest candidate (one output-channel unit, one
            // input channel, one output pixel) needs.
            let (tk, tc) = if grouped { (w.kg(), w.cg()) } else { (1, 1) };
            let w_tile = wd.weight_bytes(tk, w.r * w.s * tc) + bytes(tk, wd.bias);
            let out_bits = if !grouped && w.c > 1 { wd.acc } else { wd.output };
            let i = bytes(w.n * w.in_rows(1) * w.in_cols(1) * tc, wd.buffered_input());
            let o = if streams_outputs && (grouped || w.c <= 1) { 0 } else { bytes(w.n * tk, out_bits) };
            Err(cap
                .check([i, w_tile, o])
                .err()
                .map_or(NoTileFits { buffer: String::new(), size: 0, need: 0 }, |o| cap.error(o)))
        }
    }
}

/// What every candidate of [`schedule_conv`] for `w` and `wd` has at least, on any buffers
/// (fitting only decides which candidates there are): one pass of the inputs (none when
/// they are held on chip) and the weights once, read in at least one tile; so its
/// [`Evaluate::bound`] is a score no candidate beats in any field. `None` when the input
/// pass could overflow (the search then prunes nothing either).
pub fn conv_tiling_bound(w: &ConvWork, wd: Widths) -> Option<TilingBound> {
    let lb_in = input_pass_bound(w, wd).map(|b| if wd.resident_in > 0 { 0 } else { b })?;
    let weights_total =
        wd.weight_bits(w.k, w.r.saturating_mul(w.s).saturating_mul(w.cg())).saturating_add(bits(w.k, wd.bias));
    Some(TilingBound {
        read_bits: lb_in.saturating_add(weights_total),
        load_bits_per_tile: 0.0,
        tiles_min: 1,
        tiles_max: u64::MAX,
    })
}

/// Whether [`schedule_conv`] finds a schedule for `w` and `wd` on `hw` (some candidate of
/// the family's, or else of its relaxed form's, fits), without searching: the smallest
/// output-channel tile and spatial tile of each input-channel tile need the least room of
/// their chains (what the search itself relies on), so one of them fits when any does.
pub fn has_candidate(hw: &HwDesc, w: &ConvWork, wd: Widths) -> bool {
    /// Whether a candidate of family `f`'s (or, none fitting, of its relaxed form's) fits.
    fn fits_in(cap: &Capacity, w: &ConvWork, wd: Widths, f: &Family) -> bool {
        let grouped = w.groups > 1;
        // One output-channel unit and one output pixel: the last of their chains.
        let tk = if grouped { w.kg() } else { 1 };
        let smallest = Spatial::new(w, wd, 1, 1);
        let relaxed = f.whole_input_channels();
        let need = |tc: u64| pair_need(w, wd, f.streams_outputs(), tk, tc)(&smallest);
        c_candidates(w, grouped, relaxed.is_none(), 1).any(|tc| cap.fits(need(tc)))
            || relaxed.is_some_and(|r| fits_in(cap, w, wd, &r))
    }
    fits_in(&Capacity::new(hw), w, wd, &hw.family)
}

/// The candidates of a convolution that can be best at some DRAM channel speed: every
/// candidate that fits (the relaxed family's when none of the family's own does, as in
/// [`schedule_conv`]) but those that a candidate earlier in the search order dominates
/// ([`Evaluate::dominates`]). Whatever the channel and the objective, the best of these is
/// what [`schedule_conv`] returns: a dominated candidate scores no better than the earlier
/// one, which also wins an exact tie.
pub fn conv_front<E: Evaluate>(hw: &HwDesc, w: &ConvWork, wd: Widths, ev: &E) -> Result<Front<E::Part>, NoTileFits> {
    /// Records every candidate the unpruned search evaluates, with its part.
    struct Record<'e, E: Evaluate> {
        ev: &'e E,
        all: std::cell::RefCell<Vec<(Tiling, E::Part)>>,
    }
    const ZERO: Score = Score { cycles: 0.0, energy_pj: 0.0, dram_bits: 0.0 };
    impl<E: Evaluate> Evaluate for Record<'_, E> {
        type Part = ();
        fn part(&self, t: &Tiling) {
            self.all.borrow_mut().push((*t, self.ev.part(t)));
        }
        fn score_part(&self, _: &()) -> Score {
            ZERO
        }
        fn bound_part(&self, _: &()) -> Score {
            ZERO
        }
        fn tight_bound_part(&self, _: &()) -> Score {
            ZERO
        }
        fn dominates(_: &(), _: &()) -> bool {
            false
        }
        fn strictly_better(_: &(), _: &()) -> bool {
            false
        }
        fn order_key(_: &()) -> [u64; 4] {
            [0; 4]
        }
        fn meet(_: &(), _: &()) {}
        fn bound(&self, _: &TilingBound) -> Score {
            ZERO
        }
    }
    // Layers have hundreds to a few thousand fitting candidates: growing the list from
    // empty would copy it a dozen times.
    let rec = Record { ev, all: std::cell::RefCell::new(Vec::with_capacity(2048)) };
    search_conv(hw, w, wd, &rec, Objective::Latency, false, None)?;
    Ok(front_of::<E>(rec.all.into_inner()))
}

/// The front of candidates with their parts, recorded in the search order: sorted by
/// [`Evaluate::order_key`], without those a kept candidate beats or ties and precedes at
/// every channel speed (it dominates them and is earlier in the search order or
/// [`Evaluate::strictly_better`]), in blocks and groups of blocks.
fn front_of<E: Evaluate>(all: Vec<(Tiling, E::Part)>) -> Front<E::Part> {
    // In the evaluator's order (alike parts next to each other), then the search order
    // (sorting keys and indices: the candidates are large to move, their order slow).
    // The search records candidates in its own order, so ties by index are ties by rank.
    // The order only groups alike parts (any order keeps the front exact): sorted by the
    // key's first field and the high bits of its second, packed with the index into one
    // integer, which sorts several times faster than the whole key (each front build sorts
    // hundreds to thousands of candidates).
    let order: Vec<usize> = if all.len() <= INDEX_MASK as usize {
        let mut packed: Vec<u128> = all
            .iter()
            .enumerate()
            .map(|(i, (_, p))| {
                let k = E::order_key(p);
                u128::from(k[0]) << 64 | u128::from(k[1] & !INDEX_MASK | i as u64)
            })
            .collect();
        packed.sort_unstable();
        packed.into_iter().map(|k| (k as u64 & INDEX_MASK) as usize).collect()
    } else {
        let mut keyed: Vec<([u64; 4], usize)> =
            all.iter().enumerate().map(|(i, (_, p))| (E::order_key(p), i)).collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, i)| i).collect()
    };
    // Each candidate is checked against the last few kept ones only, the last first (one
    // that dominates it and is earlier in the search order or strictly better wins over it
    // at every speed): the front may keep some dominated candidates (harmless: they are
    // bounded or scored like any other), and building it stays linear.
    let mut entries: Vec<(Tiling, E::Part)> = Vec::with_capacity(order.len());
    for i in order {
        let (t, p) = &all[i];
        let recent = &entries[entries.len().saturating_sub(FRONT_CHECKS)..];
        let wins = |(u, q): &(Tiling, E::Part)| E::dominates(q, p) && (rank(u) < rank(t) || E::strictly_better(q, p));
        if !recent.iter().rev().any(wins) {
            entries.push((*t, p.clone()));
        }
    }
    let blocks: Vec<E::Part> = entries
        .chunks(FRONT_BLOCK)
        .map(|c| c.iter().skip(1).fold(c[0].1.clone(), |m, (_, p)| E::meet(&m, p)))
        .collect();
    let groups = blocks
        .chunks(FRONT_GROUP)
        .map(|c: &[E::Part]| c.iter().skip(1).fold(c[0].clone(), |m, p| E::meet(&m, p)))
        .collect();
    Front { entries, blocks, groups, last: std::cell::Cell::new(0) }
}

/// The candidates of a layer that can be best at some channel speed ([`conv_front`]), in
/// blocks of [`FRONT_BLOCK`] consecutive ones with the meet of their parts, so a scan skips
/// a block whose bound cannot win.
#[derive(Debug, Clone)]
pub struct Front<P> {
    /// The candidates with their parts, in [`Evaluate::order_key`] order.
    pub entries: Vec<(Tiling, P)>,
    /// Per block, [`Evaluate::meet`] of its parts.
    pub blocks: Vec<P>,
    /// Per group of [`FRONT_GROUP`] blocks, the meet of their meets.
    pub groups: Vec<P>,
    /// The index of the entry [`schedule_front`] chose last: a sweep's next point is
    /// usually seeded with it, and finds it here without a search through the entries.
    last: std::cell::Cell<usize>,
}

/// The low bits of [`front_of`]'s packed sort keys that hold a candidate's index.
const INDEX_MASK: u64 = (1 << 24) - 1;

/// Candidates per block of a [`Front`]. Four rather than eight: a scan enters about four
/// blocks and bounds every candidate in each, most of which lose (sweep A of
/// `docs/sweeps.md`: 2% fewer instructions, the same CSV).
const FRONT_BLOCK: usize = 4;

/// Blocks per group of a [`Front`] (a scan skips a group by the bound of its meet, then a
/// block, then a candidate).
const FRONT_GROUP: usize = 8;

/// An `f64` as a `u64` in the same order as `f64::total_cmp`, for [`Evaluate::order_key`].
pub fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

/// The best candidate of a front ([`conv_front`]) for `objective`, exact ties to the earlier
/// one in the search order; `seed` (a tiling of the same work, e.g. the previous sweep
/// point's) is scored first so the bounds skip most of the rest (a candidate later in the
/// search order than the best also when its bounds tie it). `None` for an empty front.
pub fn schedule_front<E: Evaluate>(
    front: &Front<E::Part>,
    ev: &E,
    objective: Objective,
    seed: Option<&Tiling>,
) -> Option<Tiling> {
    let entries = &front.entries;
    let seeded = seed.and_then(|s| {
        let last = front.last.get();
        match entries.get(last) {
            Some((t, _)) if t == s => Some(last),
            _ => entries.iter().position(|(t, _)| t == s),
        }
    });
    let mut best: Option<(Score, Tiling, usize)> = seeded.map(|i| (ev.score_part(&entries[i].1), entries[i].0, i));
    for (g, meet) in front.groups.iter().enumerate() {
        if let Some((bs, _, _)) = &best {
            if objective.better(bs, &ev.bound_part(meet)) {
                continue;
            }
        }
        let blocks = g * FRONT_GROUP..((g + 1) * FRONT_GROUP).min(front.blocks.len());
        for (b, meet) in front.blocks[blocks.clone()].iter().enumerate().map(|(k, m)| (blocks.start + k, m)) {
            if let Some((bs, _, _)) = &best {
                if objective.better(bs, &ev.bound_part(meet)) {
                    continue;
                }
            }
            let block = &entries[b * FRONT_BLOCK..((b + 1) * FRONT_BLOCK).min(entries.len())];
            for (j, (t, p)) in block.iter().enumerate() {
                let i = b * FRONT_BLOCK + j;
                if seeded == Some(i) {
                    continue; // scored already
                }
                if let Some((bs, bt, _)) = &best {
                    let from = rank(t);
                    if cannot_replace(objective, (bs, bt), &ev.bound_part(p), from)
                        || cannot_replace(objective, (bs, bt), &ev.tight_bound_part(p), from)
                    {
                        continue;
                    }
                }
                let s = ev.score_part(p);
                if replaces(objective, &s, t, best.as_ref().map(|(bs, bt, _)| (bs, bt))) {
                    best = Some((s, *t, i));
                }
            }
        }
    }
    if let Some((_, _, i)) = best {
        front.last.set(i);
    }
    best.map(|(_, t, _)| t)
}

/// The id of a description's frame in a [`TilingMemo`] ([`TilingMemo::frame_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameId(u64);

/// Memoized schedules of a sweep. A schedule is a pure function of the description, the
/// objective and the layer's evaluation inputs, so a table is per (description, objective)
/// and keyed by the layer's work, widths and the evaluator's key; a hit returns exactly
/// what a fresh search would, whichever thread filled it. Across descriptions, the last
/// schedule found for a work and widths seeds the next search of them
/// ([`schedule_conv_seeded`]), which returns the same schedule sooner. Descriptions that
/// differ only in the DRAM channel's speed (bandwidth, efficiency, latency) and the clock
/// share each layer's candidate front ([`conv_front`], built once a layer has been searched
/// [`FRONT_AFTER`] times on such descriptions), so the later points only re-simulate the front.
#[derive(Debug, Default)]
pub struct TilingMemo {
    /// The tables of the descriptions the points run on.
    own: MemoTables,
    /// The tables of the alternative descriptions a run also costs some layers on (NVDLA's
    /// other grouped-convolution mapping, [`TilingMemo::alt_table`]): apart, so the two
    /// descriptions of one point do not evict each other's last-description entry.
    alt: Option<Box<MemoTables>>,
}

/// The tables of a [`TilingMemo`].
#[derive(Debug, Default)]
struct MemoTables {
    /// Schedules by description (the id of its [`channel_free`] form, and the channel's
    /// speed and clock) and objective.
    tables: HashMap<(u64, [u64; 4], Objective), (u64, TilingTable)>,
    /// Tables dropped from `tables`, kept to be cleared and used again.
    spare_tables: Vec<TilingTable>,
    uses: u64,
    seeds: HashMap<(ConvWork, Widths, Objective), Seeds>,
    /// Candidate fronts by the id of the description without its channel speed and clock
    /// ([`channel_free`]), least recently used dropped past [`FRONT_DESCRIPTIONS`].
    fronts: HashMap<u64, (u64, FrontTable)>,
    /// Ids of frames ([`channel_free`] descriptions, buffer sizes blanked too) by their
    /// formatted form (every field), least recently used dropped past [`FRAMES`]: a frame
    /// formatted again after that gets a new id, and its old tables are never found again.
    frames: HashMap<String, (u64, u64)>,
    /// Ids of [`channel_free`] descriptions by their frame's id and their buffer sizes
    /// (on-chip reuse schedules a run's layers on its description with buffers shrunk by
    /// what is held, so one frame comes with many sizes), least recently used dropped past
    /// [`TABLE_DESCRIPTIONS`].
    ids: HashMap<(u64, Sizes), (u64, u64)>,
    /// The last id given (frames and descriptions number apart from each other's ids
    /// never: one counter).
    last_id: u64,
    /// The last frame looked up, blanked ([`channel_free`], sizes zero), with its id.
    last: Option<(HwDesc, u64)>,
    /// After how many searches of a layer its front is built ([`FRONT_AFTER`] when `None`).
    front_after: Option<u32>,
}

/// What a [`TilingMemo`] keeps of a work and widths across descriptions: the last schedule
/// found (the next search's seed), the schedules found on the latest frame and channel
/// speed with the buffer sizes of each, and the search's spatial chain. On-chip reuse schedules a layer on its point's
/// description with buffers shrunk by each set of held tensors tried, and a schedule found
/// on larger buffers that still fits the smaller ones is theirs too ([`still_fits`]).
#[derive(Debug, Default)]
struct Seeds {
    last: Option<Tiling>,
    wider: SmallVec<[Found; WIDER]>,
    /// The search's spatial chain, made on the first search.
    spatial: Option<Box<SpatialChain>>,
}

/// A schedule of [`Seeds`]: where it was found (frame id and channel speed, the
/// evaluator's key, the buffer sizes) and the tiling.
#[derive(Debug)]
struct Found {
    at: (u64, [u64; 4]),
    ev_key: [u64; 4],
    sizes: Sizes,
    tiling: Tiling,
}

/// A description's buffer sizes, in its order (inline for up to four buffers).
type Sizes = SmallVec<[u64; 4]>;

/// How many schedules [`Seeds`] keeps of one frame and channel speed (the oldest dropped
/// past it).
const WIDER: usize = 2;

/// Whether every size of `a` is at least `b`'s.
fn no_smaller(a: &[u64], b: &[Buffer]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, y)| x >= y.size.get())
}

/// How many descriptions' tables a [`TilingMemo`] keeps (the least recently used ones are
/// dropped beyond it, which bounds a long sweep's memory). With on-chip reuse one point of
/// a sweep schedules layers on dozens of descriptions (its own with buffers shrunk by each
/// reservation tried: about 80 for MobileNet-v1), most holding one or two layers' entries;
/// the bound must hold a point's worth, or the point searches its layers again (sweep A of
/// `docs/sweeps.md` runs the same at 256 and 1024, with 35 and 60 MB resident).
const TABLE_DESCRIPTIONS: usize = 256;

/// How many frames (descriptions less their buffer sizes, channel speed and clock) a
/// [`TilingMemo`] keeps ids of: a sweep point has one (two with NVDLA's other mapping).
const FRAMES: usize = 64;

/// The entry of `key` in an LRU map of at most `cap` keys: created empty on first use,
/// stamped with use number `now`. When full, the less recently used half is dropped at once
/// (each drop scans the map, so dropping one key per insertion would cost a scan each).
fn lru_entry<K: std::hash::Hash + Eq, V: Default>(
    map: &mut HashMap<K, (u64, V)>,
    key: K,
    cap: usize,
    now: u64,
) -> &mut V {
    lru_entry_recycling(map, key, cap, now, &mut Vec::new(), 0, |_| V::default())
}

/// [`lru_entry`], with the values it drops kept in `spare` (up to `keep` of them) and a new
/// entry made by `fresh` from one of them, if any: a sweep over the channel's speed makes a
/// table per point and drops as many, and remaking their room each time (large blocks,
/// which glibc aligns and consolidates for) cost more than clearing it.
fn lru_entry_recycling<'m, K: std::hash::Hash + Eq, V>(
    map: &'m mut HashMap<K, (u64, V)>,
    key: K,
    cap: usize,
    now: u64,
    spare: &mut Vec<V>,
    keep: usize,
    fresh: impl FnOnce(Option<V>) -> V,
) -> &'m mut V {
    if map.len() >= cap && !map.contains_key(&key) {
        let mut used: Vec<u64> = map.values().map(|(u, _)| *u).collect();
        let half = used.len() / 2;
        let (_, &mut median, _) = used.select_nth_unstable(half);
        for (_, (_, v)) in map.extract_if(|_, (u, _)| *u < median) {
            if spare.len() < keep {
                spare.push(v);
            }
        }
    }
    let entry = map.entry(key).or_insert_with(|| (0, fresh(spare.pop())));
    entry.0 = now;
    &mut entry.1
}

/// What a memo entry is keyed by: the work, the widths and an evaluator fingerprint (the
/// fields of the layer beyond its work that its evaluation reads, e.g. fused layers).
pub type MemoKey = (ConvWork, Widths, [u64; 4]);

/// The memo tables of one description and objective, from [`TilingMemo::table`]: the
/// schedules of convolutions and of vector work.
#[derive(Debug)]
pub struct TilingTable {
    convs: HashMap<MemoKey, Result<Tiling, NoTileFits>>,
    vectors: HashMap<(VectorWork, Widths, [u64; 4]), Result<Tiling, NoTileFits>>,
}

impl TilingTable {
    /// This table emptied, its room kept.
    fn cleared(mut self) -> Self {
        self.convs.clear();
        self.vectors.clear();
        self
    }
}

impl Default for TilingTable {
    /// Empty, with room for a network's layers: a sweep over the channel's speed fills a new
    /// table per point, and growing one from empty rehashes it several times.
    fn default() -> Self {
        TilingTable {
            convs: HashMap::with_capacity_and_hasher(64, Default::default()),
            vectors: HashMap::with_capacity_and_hasher(8, Default::default()),
        }
    }
}

/// How many of the candidates kept last [`conv_front`] checks each candidate against (on
/// sweep A of `docs/sweeps.md` fronts keep 81.6 candidates on average, checking every kept
/// one 81.5).
const FRONT_CHECKS: usize = 16;

/// How many seeded searches of a layer on descriptions of one key come before its front is
/// built. Building computes every fitting candidate's part (714-1,520 per conv on average
/// for mnv1 and resnet50 on the four presets, against about 30 candidates scored and 300
/// bounded by a seeded search), so a sweep over a few channel speeds keeps searching and a
/// sweep over many builds it. A speed setting only: the schedule is the same either way.
const FRONT_AFTER: u32 = 8;

/// How many consecutive channel speeds (and clocks) per description a sweep must cost for
/// its memo to build each layer's front on its first search ([`TilingMemo::for_channel_speeds`]):
/// a front costs about as much as a dozen seeded searches and each scan of it a tenth of one,
/// so from about 13 speeds on building it first costs less than searching, and much less
/// than searching [`FRONT_AFTER`] times and then building it.
pub const FRONT_EAGER: usize = 16;

/// How many descriptions' fronts a [`TilingMemo`] keeps: as many as their tables (a
/// description of on-chip reuse holds the fronts of the one or two layers run on it).
const FRONT_DESCRIPTIONS: usize = TABLE_DESCRIPTIONS;

/// One description's fronts, by layer.
#[derive(Debug, Default)]
struct FrontTable {
    convs: HashMap<MemoKey, FrontSlot>,
    /// Vector work has a few candidates: its front is built on first use.
    vectors: HashMap<(VectorWork, Widths, [u64; 4]), Result<Front<ChannelFree>, NoTileFits>>,
}

/// A layer's front on a description: not built yet (the layer was searched this many times
/// on descriptions of the key, and the parts those searches made), or built.
#[derive(Debug)]
enum FrontSlot {
    Searched(u32, PartCache<ChannelFree>),
    Built(Result<Front<ChannelFree>, NoTileFits>),
}

/// The parts of a layer's candidates, by candidate ([`part_key`]).
type PartCache<P> = HashMap<u64, P>;

/// A candidate's tile sizes and loop order packed in one integer (the rest of a [`Tiling`]
/// follows from them and the layer), or `None` when a size does not fit its 16 bits (15
/// for the columns): such candidates are not cached.
fn part_key(t: &Tiling) -> Option<u64> {
    let Tile { k, c, rows, cols } = t.tile;
    (k < 1 << 16 && c < 1 << 16 && rows < 1 << 16 && cols < 1 << 15)
        .then(|| k << 48 | c << 32 | rows << 16 | cols << 1 | u64::from(t.order == LoopOrder::InputsOuter))
}

/// Room for the parts a layer's seeded searches make (a few dozen each).
const PART_CACHE_ROOM: usize = 128;

/// An evaluator that keeps the parts `ev` makes ([`PartCache`]): the searches of a layer on
/// descriptions that differ only in channel speed and clock evaluate many of the same
/// candidates, and a part does not depend on the channel.
struct CachedParts<'a, E: Evaluate> {
    ev: &'a E,
    parts: std::cell::RefCell<&'a mut PartCache<E::Part>>,
}

impl<E: Evaluate> Evaluate for CachedParts<'_, E> {
    type Part = E::Part;
    fn part(&self, t: &Tiling) -> E::Part {
        let Some(key) = part_key(t) else {
            return self.ev.part(t);
        };
        let mut parts = self.parts.borrow_mut();
        if parts.capacity() == 0 {
            parts.reserve(PART_CACHE_ROOM);
        }
        parts.entry(key).or_insert_with(|| self.ev.part(t)).clone()
    }
    fn score_part(&self, p: &E::Part) -> Score {
        self.ev.score_part(p)
    }
    fn bound_part(&self, p: &E::Part) -> Score {
        self.ev.bound_part(p)
    }
    fn tight_bound_part(&self, p: &E::Part) -> Score {
        self.ev.tight_bound_part(p)
    }
    fn dominates(a: &E::Part, b: &E::Part) -> bool {
        E::dominates(a, b)
    }
    fn strictly_better(a: &E::Part, b: &E::Part) -> bool {
        E::strictly_better(a, b)
    }
    fn order_key(p: &E::Part) -> [u64; 4] {
        E::order_key(p)
    }
    fn meet(a: &E::Part, b: &E::Part) -> E::Part {
        E::meet(a, b)
    }
    fn bound(&self, b: &TilingBound) -> Score {
        self.ev.bound(b)
    }
}

/// The description with its DRAM channel's speed and its clock blanked: two descriptions
/// with the same blanked form have the same candidates and the same [`ChannelFree`] figures
/// for every layer. With [`channel_speed`] it tells every description apart.
fn channel_free(hw: &HwDesc) -> HwDesc {
    let mut h = hw.clone();
    h.clock = crate::units::Hertz(0.0);
    h.dram.bandwidth = crate::units::BytesPerSecond(0.0);
    h.dram.efficiency = 0.0;
    h.dram.latency_ns = 0.0;
    h
}

/// `hw`'s frame: [`channel_free`], with every buffer's size zero too.
fn frame(hw: &HwDesc) -> HwDesc {
    let mut h = channel_free(hw);
    for b in &mut h.buffers {
        b.size = crate::units::Bytes(0);
    }
    h
}

/// Whether `hw`'s frame ([`frame`]) equals `blank`, a frame, without cloning `hw`: `blank`
/// takes `hw`'s buffer sizes for the comparison ([`same_channel_free`] its speeds) and
/// gives them back after it.
fn same_frame(blank: &mut HwDesc, hw: &HwDesc) -> bool {
    if blank.buffers.len() != hw.buffers.len() {
        return false;
    }
    for (b, h) in blank.buffers.iter_mut().zip(&hw.buffers) {
        b.size = h.size;
    }
    let same = same_channel_free(blank, hw);
    for b in &mut blank.buffers {
        b.size = crate::units::Bytes(0);
    }
    same
}

/// The fields [`channel_free`] blanks, exactly (bit patterns).
fn channel_speed(hw: &HwDesc) -> [u64; 4] {
    [hw.clock.0.to_bits(), hw.dram.bandwidth.0.to_bits(), hw.dram.efficiency.to_bits(), hw.dram.latency_ns.to_bits()]
}

/// Whether `hw` blanked ([`channel_free`]) equals `blank`, a blanked description, without
/// cloning `hw`: `blank` takes `hw`'s channel speed and clock for the comparison and is
/// blanked again after it.
fn same_channel_free(blank: &mut HwDesc, hw: &HwDesc) -> bool {
    blank.clock = hw.clock;
    blank.dram.bandwidth = hw.dram.bandwidth;
    blank.dram.efficiency = hw.dram.efficiency;
    blank.dram.latency_ns = hw.dram.latency_ns;
    let same = *blank == *hw;
    blank.clock = crate::units::Hertz(0.0);
    blank.dram.bandwidth = crate::units::BytesPerSecond(0.0);
    blank.dram.efficiency = 0.0;
    blank.dram.latency_ns = 0.0;
    same
}

/// One description's view of a [`TilingMemo`]: its table, its fronts and the shared seeds.
#[derive(Debug)]
pub struct MemoView<'m> {
    table: &'m mut TilingTable,
    fronts: &'m mut FrontTable,
    seeds: &'m mut HashMap<(ConvWork, Widths, Objective), Seeds>,
    /// The view's frame id and channel speed ([`Found::at`]).
    at: (u64, [u64; 4]),
    /// The id of the view's description less its channel speed and clock
    /// ([`MemoView::description`]).
    id: u64,
    objective: Objective,
    front_after: u32,
}

impl TilingMemo {
    /// A memo for a sweep that costs each description at `speeds` consecutive DRAM channel
    /// speeds and clocks: from [`FRONT_EAGER`] on, each layer's front is built on its first
    /// search (a speed setting only: every way returns the same schedules).
    pub fn for_channel_speeds(speeds: usize) -> Self {
        let mut memo = TilingMemo::default();
        if speeds >= FRONT_EAGER {
            memo.own.front_after = Some(0);
        }
        memo
    }

    /// The view of `hw` and `objective` (its table created empty on first use; the least
    /// recently used description's dropped beyond [`TABLE_DESCRIPTIONS`]).
    pub fn table(&mut self, hw: &HwDesc, objective: Objective) -> MemoView<'_> {
        self.own.view(hw, objective)
    }

    /// The frame of `hw` (the description less its buffer sizes, channel speed and clock),
    /// numbered once for [`TilingMemo::table_in`]: a run costs its layers on its description
    /// with buffers shrunk by what it holds on chip, one frame for all of them.
    pub fn frame_of(&mut self, hw: &HwDesc) -> FrameId {
        self.own.uses += 1;
        FrameId(self.own.frame_id(hw))
    }

    /// [`TilingMemo::table`] of `hw`, a description of `frame` ([`TilingMemo::frame_of`]
    /// of one that differs from it at most in buffer sizes), without comparing frames again.
    pub fn table_in(&mut self, frame: FrameId, hw: &HwDesc, objective: Objective) -> MemoView<'_> {
        debug_assert!(
            self.own.last.as_mut().is_some_and(|(blank, id)| *id != frame.0 || same_frame(blank, hw)),
            "{} is not of the frame given",
            hw.name
        );
        self.own.uses += 1;
        self.own.view_of(frame.0, hw, objective)
    }

    /// [`MemoView::description`] of `hw`, a description of `frame` ([`TilingMemo::frame_of`]
    /// of one that differs from it at most in buffer sizes), without a view.
    pub fn description_of(&mut self, frame: FrameId, hw: &HwDesc) -> u64 {
        self.own.uses += 1;
        self.own.description_id(frame.0, hw)
    }

    /// The view of `alt`, an alternative description the same run also costs some layers on,
    /// for `objective` (in tables of its own, made on first use).
    pub fn alt_table(&mut self, alt: &HwDesc, objective: Objective) -> MemoView<'_> {
        let front_after = self.own.front_after;
        self.alt.get_or_insert_with(|| Box::new(MemoTables { front_after, ..Default::default() })).view(alt, objective)
    }
}

impl MemoTables {
    /// [`TilingMemo::table`].
    fn view(&mut self, hw: &HwDesc, objective: Objective) -> MemoView<'_> {
        self.uses += 1;
        let frame_id = self.frame_id(hw);
        self.view_of(frame_id, hw, objective)
    }

    /// The id of `hw`'s frame ([`frame`]), numbered on first sight.
    fn frame_id(&mut self, hw: &HwDesc) -> u64 {
        // Every field of the description can change an evaluation: key on all of them (the
        // frame formatted, then numbered, with the buffer sizes beside it: on-chip reuse
        // runs layers on the point's description with shrunk buffers, the same frame).
        // A point's descriptions, and consecutive points of a sweep, mostly share a frame:
        // formatting is most of a memo hit's cost, comparing is not. (Frames equal under
        // `==` but formatted apart, by a signed zero, would share an id; every comparison
        // the search makes treats them alike, so they choose the same schedules.)
        let known = match &mut self.last {
            Some((blank, id)) => same_frame(blank, hw).then_some(*id),
            None => None,
        };
        match known {
            Some(id) => id,
            None => {
                let blank = frame(hw);
                let slot = lru_entry(&mut self.frames, format!("{blank:?}"), FRAMES, self.uses);
                if *slot == 0 {
                    self.last_id += 1;
                    *slot = self.last_id;
                }
                let id = *slot;
                self.last = Some((blank, id));
                id
            }
        }
    }

    /// The id of `hw`, whose frame's id is `frame_id` (its [`channel_free`] form), numbered
    /// on first sight.
    fn description_id(&mut self, frame_id: u64, hw: &HwDesc) -> u64 {
        let sizes = hw.buffers.iter().map(|b| b.size.get()).collect();
        let slot = lru_entry(&mut self.ids, (frame_id, sizes), TABLE_DESCRIPTIONS, self.uses);
        if *slot == 0 {
            self.last_id += 1;
            *slot = self.last_id;
        }
        *slot
    }

    /// The view of `hw`, whose frame's id is `frame_id`, for `objective`.
    fn view_of(&mut self, frame_id: u64, hw: &HwDesc, objective: Objective) -> MemoView<'_> {
        let id = self.description_id(frame_id, hw);
        let table = lru_entry_recycling(
            &mut self.tables,
            (id, channel_speed(hw), objective),
            TABLE_DESCRIPTIONS,
            self.uses,
            &mut self.spare_tables,
            TABLE_DESCRIPTIONS / 2,
            |spare| spare.map_or_else(TilingTable::default, TilingTable::cleared),
        );
        let fronts = lru_entry(&mut self.fronts, id, FRONT_DESCRIPTIONS, self.uses);
        let at = (frame_id, channel_speed(hw));
        let front_after = self.front_after.unwrap_or(FRONT_AFTER);
        MemoView { table, fronts, seeds: &mut self.seeds, at, id, objective, front_after }
    }
}

impl MemoView<'_> {
    /// A shorter-lived view of the same table.
    pub fn reborrow(&mut self) -> MemoView<'_> {
        MemoView {
            table: self.table,
            fronts: self.fronts,
            seeds: self.seeds,
            at: self.at,
            id: self.id,
            objective: self.objective,
            front_after: self.front_after,
        }
    }

    /// The id of the view's description less its channel speed and clock: equal for two
    /// views of a memo's own descriptions exactly when those are equal but for them, and
    /// never given to another of its own descriptions (ids only grow), even after this
    /// one's is dropped. The alternative descriptions ([`TilingMemo::alt_table`]) are
    /// numbered apart: their ids may equal own ones.
    pub fn description(&self) -> u64 {
        self.id
    }

    /// The schedule of a convolution ([`schedule_conv`]) on the view's description: from
    /// the table; else the schedule found on the same frame, speed and clock with buffers
    /// no smaller, when it still fits ([`still_fits`]); else from the layer's front when one
    /// was built for a description that differs only in channel speed and clock; else
    /// searched (seeded by the same work's schedule on another description). All return
    /// the same schedule.
    pub fn schedule_conv(
        &mut self,
        hw: &HwDesc,
        w: &ConvWork,
        wd: Widths,
        ev_key: [u64; 4],
        ev: &impl Evaluate<Part = ChannelFree>,
    ) -> Result<Tiling, NoTileFits> {
        let key = (*w, wd, ev_key);
        if let Some(hit) = self.table.convs.get(&key) {
            return hit.clone();
        }
        let seeds = self.seeds.entry((*w, wd, self.objective)).or_default();
        let (at, buffers) = (self.at, &hw.buffers);
        let wider = seeds.wider.iter().find(|f| {
            f.at == at && f.ev_key == ev_key && no_smaller(&f.sizes, buffers) && still_fits(hw, w, wd, &f.tiling)
        });
        if let Some(t) = wider.map(|f| f.tiling) {
            seeds.last = Some(t);
            self.table.convs.insert(key, Ok(t));
            return Ok(t);
        }
        let seed = seeds.last;
        let seed = seed.as_ref();
        let slot = self.fronts.convs.entry(key).or_insert_with(|| FrontSlot::Searched(0, PartCache::default()));
        if let FrontSlot::Searched(n, _) = slot {
            if *n >= self.front_after {
                *slot = FrontSlot::Built(conv_front(hw, w, wd, ev));
            } else {
                *n += 1;
            }
        }
        let found = match slot {
            FrontSlot::Built(Ok(front)) => match schedule_front(front, ev, self.objective, seed) {
                Some(t) => Ok(t),
                None => schedule_conv_seeded(hw, w, wd, ev, self.objective, seed),
            },
            FrontSlot::Built(Err(e)) => Err(e.clone()),
            FrontSlot::Searched(_, parts) => {
                let cached = CachedParts { ev, parts: std::cell::RefCell::new(parts) };
                let spatial = seeds.spatial.get_or_insert_with(|| Box::new(SpatialChain::of(w, wd)));
                search_conv_in(hw, w, wd, spatial, &cached, self.objective, true, seed)
            }
        };
        if let Ok(t) = &found {
            seeds.last = Some(*t);
            // Schedules found at an earlier frame or speed are never looked up again.
            seeds.wider.retain(|f| f.at == at);
            if seeds.wider.len() == WIDER {
                seeds.wider.remove(0);
            }
            let sizes = buffers.iter().map(|b| b.size.get()).collect();
            seeds.wider.push(Found { at, ev_key, sizes, tiling: *t });
        }
        self.table.convs.insert(key, found.clone());
        found
    }

    /// The schedule of vector work ([`schedule_vector`]) on the view's description: from
    /// the table, else from the front of its candidates on descriptions that differ only in
    /// channel speed and clock (built on first use). Both return what the search does.
    pub fn schedule_vector<E: Evaluate<Part = ChannelFree>>(
        &mut self,
        hw: &HwDesc,
        v: &VectorWork,
        wd: Widths,
        ev_key: [u64; 4],
        ev: &E,
    ) -> Result<Tiling, NoTileFits> {
        let key = (*v, wd, ev_key);
        if let Some(hit) = self.table.vectors.get(&key) {
            return hit.clone();
        }
        let front = self.fronts.vectors.entry(key).or_insert_with(|| {
            vector_candidates(hw, v, wd).map(|all| front_of::<E>(all.into_iter().map(|t| (t, ev.part(&t))).collect()))
        });
        let found = match front {
            // Seeded with the entry chosen last (a sweep's previous point's).
            Ok(front) => {
                match schedule_front(front, ev, self.objective, front.entries.get(front.last.get()).map(|(t, _)| t)) {
                    Some(t) => Ok(t),
                    None => schedule_vector(hw, v, wd, ev, self.objective),
                }
            }
            Err(e) => Err(e.clone()),
        };
        self.table.vectors.insert(key, found.clone());
        found
    }
}

/// Candidate input-channel tiles of a dense conv (all of [`candidates`]`(c)`, or only `c`
/// when `split` is off) or the single one of a grouped conv (`tg` whole groups), without
/// allocating.
fn c_candidates(w: &ConvWork, grouped: bool, split: bool, tku: u64) -> impl Iterator<Item = u64> {
    let dense = (!grouped).then(|| candidates(w.c).take(if split { usize::MAX } else { 1 })).into_iter().flatten();
    let group = grouped.then(|| tku * w.cg());
    dense.chain(group)
}

/// What a lower bound on the DRAM bits an (output, input channel) tile reads needs.
struct PairBound {
    grouped: bool,
    n_k: u64,
    n_c: u64,
    /// Lower bound on one input pass ([`input_pass_bound`]).
    lb_in: u64,
    weights_total: u64,
}

impl PairBound {
    /// A lower bound on the bits (inputs and weights) every candidate of this pair with at
    /// least `n_s` spatial tiles reads, over both loop orders (see [`reads`]): read counts
    /// only grow with the spatial tiles, and the arithmetic saturates as the search's does.
    fn read_bound(&self, n_s: u64) -> u64 {
        let (lb, w) = (self.lb_in, self.weights_total);
        [LoopOrder::WeightsOuter, LoopOrder::InputsOuter]
            .map(|order| reads(self.grouped, order, self.n_k, n_s, self.n_c))
            .into_iter()
            .map(|(i, wr)| lb.saturating_mul(i).saturating_add(w.saturating_mul(wr)))
            .min()
            .unwrap_or(0)
    }
}

/// The bound of candidates of [`search_conv`] (a chain of (output, input channel) pairs, or
/// the rest of one pair's spatial chain) that read at least `read + weights` bits
/// (saturating, as the search adds them) in at least `tiles_min` tiles, where no pair has
/// more than `per_max` (output, input channel) tiles: a pair's tile loads at least
/// `window_in / per` bits on average (one output pixel's window), at least
/// `window_in / per_max`; no candidate has more than `per_max * plane` tiles, so each loads
/// at least the reads over that many too.
fn chain_bound(read: u64, weights: u64, window_in: u64, tiles_min: u64, per_max: u64, plane: u64) -> TilingBound {
    let read_bits = read.saturating_add(weights);
    let tiles_max = per_max.saturating_mul(plane);
    TilingBound {
        read_bits,
        // And at least the reads over the most tiles.
        load_bits_per_tile: (window_in as f64 / per_max as f64).max(read_bits as f64 / tiles_max as f64),
        tiles_min,
        tiles_max,
    }
}

/// How many times a loop order reads the inputs and the weights from DRAM.
fn reads(grouped: bool, order: LoopOrder, n_k: u64, n_s: u64, n_c: u64) -> (u64, u64) {
    if grouped {
        // Each group tile needs only its own channels: inputs once; weights once when group
        // tiles are outer, per spatial tile otherwise.
        match order {
            LoopOrder::WeightsOuter => (1, 1),
            LoopOrder::InputsOuter => (1, if n_k == 1 { 1 } else { n_s }),
        }
    } else {
        match order {
            LoopOrder::WeightsOuter => (if n_s == 1 && n_c == 1 { 1 } else { n_k }, if n_c == 1 { 1 } else { n_s }),
            LoopOrder::InputsOuter => (if n_c == 1 { 1 } else { n_k }, if n_k == 1 && n_c == 1 { 1 } else { n_s }),
        }
    }
}

/// A lower bound on the input bits of one pass over all spatial tiles of a conv (the
/// `in_pass` of [`search_conv`]) for any tile rows and columns, or `None` when the output
/// plane is empty or `in_pass` could overflow (then nothing is pruned).
fn input_pass_bound(w: &ConvWork, wd: Widths) -> Option<u64> {
    if w.oh == 0 || w.ow == 0 {
        return None;
    }
    // Every tile's extent is at most ih (iw) and there are at most oh (ow) tiles: if this
    // product fits, `in_pass`'s unchecked product never wraps, so the bound holds.
    w.n.checked_mul(w.oh.checked_mul(w.ih.max(1))?)?
        .checked_mul(w.ow.checked_mul(w.iw.max(1))?)?
        .checked_mul(w.c)?
        .checked_mul(u64::from(wd.input))?;
    let rows = extent_bound(w.oh, w.sh, w.in_rows(1), w.in_rows(w.oh), w.ih.max(1));
    let cols = extent_bound(w.ow, w.sw, w.in_cols(1), w.in_cols(w.ow), w.iw.max(1));
    Some(bits(w.n * rows * cols * w.c, wd.input))
}

/// A lower bound on [`extent_sum`]`(total, t, extent)` over every tile size t, where
/// `extent(t) = min((t - 1) * stride + e, clamp)`, `one = extent(1)`, `all = extent(total)`.
///
/// Split `total` into tiles t_1 + ... + t_m = total (m >= 1). Since
/// `min(a, c) + min(b, c) >= min(a + b, c)`, the sum of extents is at least
/// `min(sum of unclamped extents, clamp)`. If `stride <= one` (so stride <= e), the
/// unclamped sum is `total * stride + m * (e - stride) >= (total - 1) * stride + e`: the
/// sum is at least `all` (one tile, attained). Otherwise each tile needs at least
/// `t_i * one` rows before the clamp (`(t - 1) * stride + e >= t * one`), so the sum is at
/// least `min(total * one, clamp)`.
fn extent_bound(total: u64, stride: u64, one: u64, all: u64, clamp: u64) -> u64 {
    if stride <= one {
        all
    } else {
        total.saturating_mul(one).min(clamp)
    }
}

/// Schedules streaming vector work: inputs and outputs move once each, in tiles of `te`
/// output elements halving from the whole layer; the one that fits and that `ev` scores
/// best for `objective` (a larger buffer fits a superset).
pub fn schedule_vector(
    hw: &HwDesc,
    v: &VectorWork,
    wd: Widths,
    ev: &impl Evaluate,
    objective: Objective,
) -> Result<Tiling, NoTileFits> {
    let mut best: Option<(Score, Tiling)> = None;
    for t in vector_candidates(hw, v, wd)? {
        if let Some((bs, _)) = &best {
            let b = TilingBound::exact(t.dram.inputs.get(), t.tiles);
            if !objective.better(&ev.bound(&b), bs) {
                continue;
            }
        }
        let p = ev.part(&t);
        if let Some((bs, _)) = &best {
            if !objective.better(&ev.bound_part(&p), bs) {
                continue;
            }
        }
        let s = ev.score_part(&p);
        if best.as_ref().map_or(true, |(bs, _)| objective.better(&s, bs)) {
            best = Some((s, t));
        }
    }
    best.map(|(_, t)| t).ok_or(NoTileFits { buffer: String::new(), size: 0, need: 0 })
}

/// The candidates of [`schedule_vector`] that fit, in its search order (tiles of `te`
/// output elements halving from the whole layer); an error when none does.
fn vector_candidates(hw: &HwDesc, v: &VectorWork, wd: Widths) -> Result<Vec<Tiling>, NoTileFits> {
    let cap = Capacity::new(hw);
    let ratio = (v.in_elements / v.out_elements.max(1)).max(1);
    let out = v.out_elements.max(1);
    // Weights (an embedding's rows, a norm's gamma and beta) are held per tile in proportion
    // to its outputs, at least one element; read from DRAM once.
    let w_per = |te: u64| (v.weights.saturating_mul(te).div_ceil(out)).min(v.weights);
    // On-chip reuse: inputs held on chip are not read from DRAM (a tile of inputs all of
    // which are held needs no room of its own), an output kept on chip is not written.
    let all_in_resident = wd.resident_in >= v.in_elements;
    let need = |te: u64| {
        let i = if all_in_resident { 0 } else { bytes(te.saturating_mul(ratio), wd.input) };
        let o = if wd.resident_out { 0 } else { bytes(te, wd.output) };
        [i, bytes(w_per(te), wd.weight), o]
    };
    let dram = Traffic {
        inputs: Bits(bits(v.in_elements.saturating_sub(wd.resident_in), wd.input)),
        weights: Bits(bits(v.weights, wd.weight)),
        outputs: Bits(if wd.resident_out { 0 } else { bits(v.out_elements, wd.output) }),
    };
    let all: Vec<Tiling> = candidates(out)
        .filter(|&te| cap.fits(need(te)))
        .map(|te| Tiling {
            tile: Tile { k: te, rows: 1, cols: 1, c: 1 },
            order: LoopOrder::InputsOuter,
            tiles: out.div_ceil(te),
            c_tiles: 1,
            weight_reads: 0,
            dram,
        })
        .collect();
    if all.is_empty() {
        return Err(cap
            .check(need(1))
            .err()
            .map_or(NoTileFits { buffer: String::new(), size: 0, need: 0 }, |o| cap.error(o)));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::load_hw;
    use proptest::prelude::*;

    fn conv(c: u64, k: u64, hw_: u64, r: u64) -> ConvWork {
        ConvWork {
            n: 1,
            ih: hw_,
            iw: hw_,
            c,
            k,
            groups: 1,
            r,
            s: r,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            oh: hw_ - r + 1,
            ow: hw_ - r + 1,
        }
    }

    const W8: Widths = Widths::plain(8, 32);

    /// Scores a tiling by its DRAM bits alone (then its tile count): the least traffic.
    struct DramOnly;

    impl Evaluate for DramOnly {
        type Part = Score;
        fn part(&self, t: &Tiling) -> Score {
            let bits = (t.dram.inputs.get() + t.dram.weights.get() + t.dram.outputs.get()) as f64;
            Score { cycles: bits, energy_pj: t.tiles as f64, dram_bits: bits }
        }
        fn score_part(&self, p: &Score) -> Score {
            *p
        }
        fn bound_part(&self, p: &Score) -> Score {
            *p
        }
        fn tight_bound_part(&self, p: &Score) -> Score {
            *p
        }
        fn dominates(a: &Score, b: &Score) -> bool {
            a.cycles <= b.cycles && a.energy_pj <= b.energy_pj && a.dram_bits <= b.dram_bits
        }
        fn strictly_better(a: &Score, b: &Score) -> bool {
            Objective::all_prefer_at_no_more_cycles(a, b)
        }
        fn order_key(p: &Score) -> [u64; 4] {
            [ordered(p.cycles), ordered(p.energy_pj), ordered(p.dram_bits), 0]
        }
        fn meet(a: &Score, b: &Score) -> Score {
            Score {
                cycles: a.cycles.min(b.cycles),
                energy_pj: a.energy_pj.min(b.energy_pj),
                dram_bits: a.dram_bits.min(b.dram_bits),
            }
        }
        fn bound(&self, b: &TilingBound) -> Score {
            Score { cycles: b.read_bits as f64, energy_pj: b.tiles_min as f64, dram_bits: b.read_bits as f64 }
        }
    }

    /// Scores a part `[tiles, load, compute, energy, dram]` at a channel speed: cycles
    /// `compute + slowness * load`, the tile count not at all (so a part with fewer tiles
    /// and otherwise equal figures dominates another and only ties it, and the search
    /// order must decide).
    struct AtSpeed {
        slowness: u64,
    }

    impl Evaluate for AtSpeed {
        type Part = [u64; 5];
        fn part(&self, _: &Tiling) -> [u64; 5] {
            unreachable!("the test builds parts itself")
        }
        fn score_part(&self, p: &[u64; 5]) -> Score {
            Score { cycles: (p[2] + self.slowness * p[1]) as f64, energy_pj: p[3] as f64, dram_bits: p[4] as f64 }
        }
        fn bound_part(&self, p: &[u64; 5]) -> Score {
            self.score_part(p)
        }
        fn tight_bound_part(&self, p: &[u64; 5]) -> Score {
            self.score_part(p)
        }
        fn dominates(a: &[u64; 5], b: &[u64; 5]) -> bool {
            a.iter().zip(b).all(|(x, y)| x <= y)
        }
        fn strictly_better(a: &[u64; 5], b: &[u64; 5]) -> bool {
            let fixed = |p: &[u64; 5]| Score { cycles: 0.0, energy_pj: p[3] as f64, dram_bits: p[4] as f64 };
            Objective::all_prefer_at_no_more_cycles(&fixed(a), &fixed(b))
        }
        fn order_key(p: &[u64; 5]) -> [u64; 4] {
            [p[0], p[1], p[2], p[3]]
        }
        fn meet(a: &[u64; 5], b: &[u64; 5]) -> [u64; 5] {
            std::array::from_fn(|i| a[i].min(b[i]))
        }
        fn bound(&self, _: &TilingBound) -> Score {
            Score { cycles: 0.0, energy_pj: 0.0, dram_bits: 0.0 }
        }
    }

    fn least_traffic(hw: &HwDesc, w: &ConvWork, wd: Widths) -> Result<Tiling, NoTileFits> {
        schedule_conv(hw, w, wd, &DramOnly, Objective::Latency)
    }

    fn compulsory(w: &ConvWork, wd: Widths) -> u64 {
        wd.weight_bits(w.k, w.r * w.s * w.cg())
            + bits(w.k, wd.bias)
            + bits(w.ih * w.iw * w.c, wd.input)
            + bits(w.pixels() * w.k, wd.output)
    }

    /// A dynamically quantized 16-bit input is stored quantized: it takes buffer room at 8
    /// bits (the tiles an 8-bit input gets, not the smaller ones a 16-bit one needs), moves
    /// over the channel at 16 bits, and its fills and reads count in the input buffer at 8.
    #[test]
    fn a_dynamically_quantized_input_takes_buffer_room_at_its_quantized_width() {
        let hw = load_hw("systolic32", &[]).unwrap();
        // An FC-like 1x1 layer whose 16-bit input fills more than the input buffer holds.
        let bi = hw.buffer_at(crate::hw::Role::Inputs, crate::hw::BufferLevel::Shared).expect("an input buffer");
        let in_buf = hw.buffers[bi].size.get();
        let c = 512;
        let side = ((in_buf / c) as f64).sqrt().ceil() as u64 + 2;
        let w = conv(c, 64, side, 1);
        let dynamic = Widths { input: 16, dynamic: Some(DynamicInput { bits: 8, zero_point: false }), ..W8 };
        let sixteen = Widths { input: 16, ..W8 };
        let (t8, td, t16) = (
            least_traffic(&hw, &w, W8).unwrap(),
            least_traffic(&hw, &w, dynamic).unwrap(),
            least_traffic(&hw, &w, sixteen).unwrap(),
        );
        assert_eq!(td.tile, t8.tile, "the same tiles as an 8-bit input");
        assert_ne!(t16.tile, t8.tile, "a 16-bit input held at 16 bits needs other tiles");
        assert_eq!(td.dram.inputs.get(), 2 * t8.dram.inputs.get(), "loaded at 16 bits");
        let (e8, ed) = (layer_eval(&hw, &w, W8), layer_eval(&hw, &w, dynamic));
        let buf = |e: &crate::schedule::LayerEval, t: &Tiling| e.figures(t).buffers;
        assert_eq!(buf(&ed, &td)[bi], buf(&e8, &t8)[bi], "filled and read at 8 bits");
    }

    /// Descriptions of one frame with other buffer sizes (on-chip reuse's shrunk buffers) are
    /// told apart; the same sizes again find their id; the channel's speed is not part of it.
    #[test]
    fn memo_ids_tell_buffer_sizes_apart_within_a_frame() {
        let hw = load_hw("systolic32", &[]).unwrap();
        let mut small = hw.clone();
        small.buffers[0].size = Bytes(hw.buffers[0].size.get() / 2);
        let mut fast = hw.clone();
        fast.dram.bandwidth = crate::units::BytesPerSecond(hw.dram.bandwidth.0 * 2.0);
        let mut other = hw.clone();
        other.buffers[1].banks += 1;
        let mut memo = MemoTables::default();
        for h in [&hw, &small, &hw, &fast, &small] {
            memo.view(h, Objective::Latency);
        }
        assert_eq!((memo.frames.len(), memo.ids.len(), memo.tables.len()), (1, 2, 3));
        memo.view(&other, Objective::Latency);
        assert_eq!((memo.frames.len(), memo.ids.len()), (2, 3), "a bank more is another frame");
    }

    /// The pipeline's evaluator of conv work `w` at widths `wd` on `hw` (its 8x8 mode, or
    /// its last), as `pipeline::cost_gemm` builds it for a layer with no fused work.
    fn layer_eval<'a>(hw: &'a HwDesc, w: &ConvWork, wd: Widths) -> crate::schedule::LayerEval<'a> {
        let mode = hw.mode_for(8, 8).or_else(|| hw.precisions.last()).expect("a preset has a compute mode");
        layer_eval_in(hw, mode, w, wd)
    }

    /// The pipeline's evaluator of conv work `w` at widths `wd` on `hw` in `mode`, no fused
    /// work and no vector operations.
    fn layer_eval_in<'a>(
        hw: &'a HwDesc,
        mode: &'a crate::hw::PrecisionMode,
        w: &ConvWork,
        wd: Widths,
    ) -> crate::schedule::LayerEval<'a> {
        use crate::cost::CoreActions;
        use crate::schedule::{LayerEval, LayerWork};
        let f = hw.family.conv_compute(mode, w);
        let work = LayerWork {
            wd,
            reads: f.buffer,
            pe_local_reads: f.pe_local,
            out_elems: w.pixels().saturating_mul(w.k),
            psum_passes: f.psum_passes,
            compute: f.cycles.get(),
            core: CoreActions { macs: w.macs().get(), vector_ops: 0, vector_bits: wd.input },
            extra_read: Bits::ZERO,
            fused_out: None,
        };
        LayerEval::new(hw, Some(mode), work)
    }

    /// The convolutions of built-in networks (8-bit): every one of MobileNet-v1's (dense,
    /// depthwise, the classifier) and every fourth of ResNet-50's, with their names.
    fn network_convs() -> Vec<(String, ConvWork)> {
        let mut works = Vec::new();
        for (model, every) in [("mnv1", 1), ("resnet50", 4)] {
            let mut g = crate::import::load_model(model, &Default::default()).expect(model);
            crate::quant::assign_uniform(&mut g, crate::quant::Precision { weight_bits: 8, activation_bits: 8 }, 32);
            let mut convs = Vec::new();
            for l in &g.layers {
                for p in crate::map::work::phases_of(&g, l) {
                    if let crate::map::work::Phase::Gemm { work, .. } = p {
                        convs.push((format!("{model} {}", l.name), work));
                    }
                }
            }
            works.extend(convs.into_iter().step_by(every));
        }
        works
    }

    /// On-chip reuse schedules a layer on its description with a shared buffer shrunk by
    /// what is held; the memo then reuses the schedule it found for the same work, widths and
    /// evaluator on the same frame and channel speed with buffers no smaller, when that still
    /// fits ([`still_fits`]), instead of searching. For five presets (and systolic32 with
    /// SCALE-Sim's mapping, which falls back to splitting input channels when nothing else fits), MobileNet-v1's and some
    /// of ResNet-50's convolutions, three widths (plain, output held, input held), every
    /// objective, with and without fronts built at once: the memo on the full description,
    /// then on each shared buffer shrunk by 10%, 50%, 90% and 99%, returns exactly what a fresh
    /// search without a memo returns on each (figures included). Both ways are taken:
    /// the full description's schedule still fits some shrunk ones (then a fresh search
    /// chooses it too) and not others.
    #[test]
    fn memo_schedules_on_shrunk_buffers_equal_fresh_searches() {
        let works = network_convs();
        assert!(works.len() > 30, "{} convolutions", works.len());
        let mut descriptions: Vec<(&str, HwDesc)> = ["systolic32", "dsp", "mac8", "eyeriss", "nvdla_full"]
            .into_iter()
            .map(|name| (name, load_hw(name, &[]).expect("preset")))
            .collect();
        // SCALE-Sim's mapping keeps input channels whole unless nothing else fits (then the
        // native one is searched): a schedule found that way is never reused.
        let mut per_group = load_hw("systolic32", &[]).expect("preset");
        let crate::hw::Family::MacArray(m) = &mut per_group.family else { panic!("systolic32 is a MAC array") };
        m.depthwise = crate::hw::DepthwiseMapping::PerGroup;
        descriptions.push(("systolic32 per-group", per_group));
        let (mut relaxed_full, mut relaxed_small) = (0u32, 0u32);
        for (name, hw) in descriptions {
            let whole_c = hw.family.whole_input_channels().is_some();
            let roles = [Role::Inputs, Role::Weights, Role::Outputs];
            let shared: Vec<usize> = (0..hw.buffers.len())
                .filter(|&b| {
                    let buf = &hw.buffers[b];
                    buf.level == BufferLevel::Shared && roles.iter().any(|&r| buf.holds.has(r))
                })
                .collect();
            assert!(!shared.is_empty(), "{name}");
            let shrunk: Vec<(usize, u64, HwDesc)> = shared
                .iter()
                .flat_map(|&b| [10u64, 50, 90, 99].map(|pct| (b, pct)))
                .map(|(b, pct)| {
                    let mut h = hw.clone();
                    let size = h.buffers[b].size.get();
                    h.buffers[b].size = Bytes(size - size * pct / 100);
                    (b, pct, h)
                })
                .collect();
            let (mut reused, mut searched) = (0u32, 0u32);
            for objective in [Objective::Latency, Objective::Energy, Objective::Edp] {
                for eager in [false, true] {
                    let mut memo =
                        if eager { TilingMemo::for_channel_speeds(FRONT_EAGER) } else { TilingMemo::default() };
                    for (label, w) in &works {
                        let held_in = w.n * w.ih * w.iw * w.c;
                        let plain = Widths::plain(8, 32);
                        for wd in
                            [plain, Widths { resident_out: true, ..plain }, Widths { resident_in: held_in, ..plain }]
                        {
                            let ev = layer_eval(&hw, w, wd);
                            let full = memo.table(&hw, objective).schedule_conv(&hw, w, wd, ev.key(), &ev);
                            assert_eq!(full, schedule_conv(&hw, w, wd, &ev, objective), "{name} {label} full");
                            let split = |t: &Result<Tiling, NoTileFits>| {
                                u32::from(whole_c && w.groups == 1 && t.as_ref().is_ok_and(|t| t.tile.c != w.c))
                            };
                            relaxed_full += split(&full);
                            for (b, pct, small) in &shrunk {
                                let case = format!("{name} {label} {objective:?} eager {eager} {wd:?}: buffer {b} less {pct}% ({} of {} B)", small.buffers[*b].size.get(), hw.buffers[*b].size.get());
                                let ev = layer_eval(small, w, wd);
                                let fresh = schedule_conv(small, w, wd, &ev, objective);
                                let got = memo.table(small, objective).schedule_conv(small, w, wd, ev.key(), &ev);
                                assert_eq!(got, fresh, "{case}");
                                relaxed_small += split(&fresh);
                                if let (Ok(got), Ok(fresh)) = (&got, &fresh) {
                                    assert_eq!(ev.figures(got), ev.figures(fresh), "{case}");
                                }
                                // The claim itself: the larger buffers' schedule, when it
                                // still fits, is the smaller ones'.
                                if let Ok(full) = &full {
                                    if still_fits(small, w, wd, full) {
                                        reused += 1;
                                        assert_eq!(fresh.as_ref(), Ok(full), "{case}: the full schedule fits");
                                    } else {
                                        searched += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            eprintln!("{name}: the full description's schedule fit {reused} shrunk ones, not {searched}");
            assert!(reused > 0 && searched > 0, "{name}: fit {reused}, did not fit {searched}");
        }
        eprintln!("per-group: input channels split on {relaxed_full} full descriptions, {relaxed_small} shrunk ones");
        assert!(relaxed_small > 0, "the fallback to the native mapping is taken on some shrunk description");
    }

    /// A full LRU map drops its less recently used half at once, then takes the new key.
    #[test]
    fn a_full_lru_map_drops_its_older_half() {
        let mut map: HashMap<u32, (u64, u32)> = HashMap::default();
        for k in 0..4u32 {
            *lru_entry(&mut map, k, 4, u64::from(k)) = k;
        }
        *lru_entry(&mut map, 0, 4, 4) = 10; // a hit: no eviction, newest now
        assert_eq!(map.len(), 4);
        *lru_entry(&mut map, 9, 4, 5) = 9;
        let mut keys: Vec<u32> = map.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, [0, 3, 9]);
    }

    #[test]
    fn small_layer_moves_compulsory_traffic_in_one_tile() {
        let hw = load_hw("systolic32", &[]).unwrap();
        let w = conv(16, 16, 16, 3);
        let t = least_traffic(&hw, &w, W8).unwrap();
        assert_eq!(t.tiles, 1);
        let d = t.dram;
        assert_eq!(d.inputs.get() + d.weights.get() + d.outputs.get(), compulsory(&w, W8));
    }

    #[test]
    fn big_layer_is_tiled_and_never_below_compulsory() {
        let hw = load_hw("systolic32", &[]).unwrap();
        for w in [conv(256, 512, 30, 3), conv(1024, 1024, 7, 1), conv(3, 64, 226, 3)] {
            let t = least_traffic(&hw, &w, W8).unwrap();
            assert!(t.tiles > 1);
            let d = t.dram;
            assert!(d.inputs.get() + d.weights.get() + d.outputs.get() >= compulsory(&w, W8));
        }
    }

    #[test]
    fn buffer_too_small_for_any_tile_is_an_error() {
        let hw = load_hw("systolic32", &[("buffer.1.size_kib".into(), 0.001)]).unwrap();
        let e = least_traffic(&hw, &conv(64, 64, 16, 3), W8).unwrap_err();
        assert_eq!(e.buffer, "filter_sram");
    }

    #[test]
    fn objectives_order_by_their_own_figure_then_energy_then_dram() {
        let s = |cycles, energy_pj, dram_bits| Score { cycles, energy_pj, dram_bits };
        assert!(Objective::Latency.better(&s(1.0, 9.0, 9.0), &s(2.0, 1.0, 1.0)));
        assert!(Objective::Latency.better(&s(1.0, 1.0, 9.0), &s(1.0, 2.0, 1.0)));
        assert!(Objective::Latency.better(&s(1.0, 1.0, 1.0), &s(1.0, 1.0, 2.0)));
        assert!(!Objective::Latency.better(&s(1.0, 1.0, 1.0), &s(1.0, 1.0, 1.0)));
        assert!(Objective::Energy.better(&s(9.0, 1.0, 9.0), &s(1.0, 2.0, 1.0)));
        assert!(Objective::Edp.better(&s(3.0, 1.0, 9.0), &s(1.0, 4.0, 1.0)));
        for name in Objective::NAMES {
            assert_eq!(Objective::from_name(name).map(Objective::name), Some(name));
        }
    }

    /// A random small dense or grouped conv (SAME or VALID output size, strides and
    /// dilations up to 3 and 2).
    pub(crate) fn arb_conv() -> impl Strategy<Value = ConvWork> {
        (1u64..=2, 1u64..=48, 1u64..=48, 0u8..3, 1u64..=5, 1u64..=5, 1u64..=3, 1u64..=3, 1u64..=2, any::<bool>())
            .prop_flat_map(|(n, cg, kg, kind, r, s, sh, sw, d, same)| {
                (1u64..=40, 1u64..=40, 1u64..=8).prop_map(move |(ih, iw, g)| {
                    // kind 0: dense; 1: depthwise; 2: g groups of cg -> kg channels.
                    let (groups, c, k) = match kind {
                        0 => (1, cg, kg),
                        1 => (cg, cg, cg),
                        _ => (g, g * cg, g * kg),
                    };
                    let out = |i: u64, f: u64, st: u64| {
                        let ext = (f - 1) * d + 1;
                        if same || i < ext {
                            i.div_ceil(st)
                        } else {
                            (i - ext) / st + 1
                        }
                    };
                    ConvWork {
                        n,
                        ih,
                        iw,
                        c,
                        k,
                        groups,
                        r,
                        s,
                        sh,
                        sw,
                        dh: d,
                        dw: d,
                        oh: out(ih, r, sh),
                        ow: out(iw, s, sw),
                    }
                })
            })
    }

    /// A preset's buffer layout with random sizes (16 B to 64 KiB) and double buffering.
    pub(crate) fn arb_hw() -> impl Strategy<Value = HwDesc> {
        let presets = ["systolic32", "nvdla_full", "mac8", "dsp"];
        (0..presets.len(), proptest::collection::vec((16u64..=65536, any::<bool>()), 4)).prop_map(move |(p, bufs)| {
            let mut hw = load_hw(presets[p], &[]).unwrap();
            for (b, (size, db)) in hw.buffers.iter_mut().zip(bufs) {
                b.size = Bytes(size);
                b.double_buffered = db;
            }
            hw
        })
    }

    pub(crate) fn arb_widths() -> impl Strategy<Value = Widths> {
        (1u32..=16, 2u32..=16, 2u32..=16, prop_oneof![Just(16u32), Just(24), Just(32)])
            .prop_map(|(weight, input, output, acc)| Widths { weight, input, output, ..Widths::plain(8, acc) })
    }

    proptest! {
        /// The fast fit test agrees with the overflow search on every buffer layout,
        /// including roles sharing a buffer and sums that saturate.
        #[test]
        fn fast_fit_test_equals_overflow_search(
            hw in arb_hw(),
            need in proptest::array::uniform3(prop_oneof![0u64..=70_000, Just(u64::MAX / 2), Just(u64::MAX)]),
        ) {
            let cap = Capacity::new(&hw);
            prop_assert_eq!(cap.fits(need), cap.first_overflow(need).is_none());
        }

        /// Pruning by the traffic bound returns what scoring every candidate returns.
        #[test]
        fn pruned_least_traffic_search_equals_exhaustive(w in arb_conv(), hw in arb_hw(), wd in arb_widths()) {
            prop_assert_eq!(
                search_conv(&hw, &w, wd, &DramOnly, Objective::Latency, true, None),
                search_conv(&hw, &w, wd, &DramOnly, Objective::Latency, false, None)
            );
        }

        /// A seed found on another description changes nothing: the seeded search returns
        /// what the exhaustive one does, ties included.
        #[test]
        fn seeded_search_equals_exhaustive(w in arb_conv(), hw in arb_hw(), others in proptest::collection::vec(arb_hw(), 1..4), wd in arb_widths()) {
            let exhaustive = search_conv(&hw, &w, wd, &DramOnly, Objective::Latency, false, None);
            for other in &others {
                if let Ok(seed) = least_traffic(other, &w, wd) {
                    prop_assert_eq!(&search_conv(&hw, &w, wd, &DramOnly, Objective::Latency, true, Some(&seed)), &exhaustive);
                }
            }
        }

        /// With the pipeline's evaluator (simulated timeline, energy) at random channel
        /// speeds, the pruned search (pair, spatial and chain bounds), seeded or not, returns
        /// what scoring every candidate returns, for every objective.
        #[test]
        fn pruned_timeline_search_equals_exhaustive(
            w in arb_conv(), hw in arb_hw(), other in arb_hw(), wd in arb_widths(), o in 0usize..3,
            gbps in 0.05f64..200.0, latency_ns in 0.0f64..2000.0,
        ) {
            let objective = Objective::from_name(Objective::NAMES[o]).expect("a name");
            let mut hw = hw;
            hw.dram.bandwidth = crate::units::BytesPerSecond(gbps * 1e9);
            hw.dram.latency_ns = latency_ns;
            let mode = hw.mode_for(wd.weight.max(4), wd.input.max(4)).or_else(|| hw.precisions.last());
            let mode = mode.expect("a preset has a compute mode");
            let ev = layer_eval_in(&hw, mode, &w, wd);
            let exhaustive = search_conv(&hw, &w, wd, &ev, objective, false, None);
            prop_assert_eq!(&search_conv(&hw, &w, wd, &ev, objective, true, None), &exhaustive);
            if let Ok(seed) = least_traffic(&other, &w, wd) {
                prop_assert_eq!(&search_conv(&hw, &w, wd, &ev, objective, true, Some(&seed)), &exhaustive);
            }
        }

        /// The best of a candidate front, seeded or not, is what scoring every candidate
        /// returns, for every objective (ties included).
        #[test]
        fn front_search_equals_exhaustive(w in arb_conv(), hw in arb_hw(), other in arb_hw(), wd in arb_widths(), o in 0usize..3) {
            let objective = Objective::from_name(Objective::NAMES[o]).expect("a name");
            let exhaustive = search_conv(&hw, &w, wd, &DramOnly, objective, false, None);
            let seed = least_traffic(&other, &w, wd).ok();
            let front = conv_front(&hw, &w, wd, &DramOnly);
            for seed in [None, seed.as_ref()] {
                let got = front.as_ref().map_err(Clone::clone).map(|f| schedule_front(f, &DramOnly, objective, seed));
                prop_assert_eq!(got, exhaustive.clone().map(Some));
            }
        }

        /// What fronts drop by: a score no worse in any figure than another, with energy and
        /// DRAM bits every objective prefers at equal cycles, is strictly better under every
        /// objective at any cycles no more than the other's.
        #[test]
        fn preferred_figures_win_at_any_cycles(
            b in proptest::array::uniform3(0u64..4), less in proptest::array::uniform3(0u64..3), o in 0usize..3,
        ) {
            let objective = Objective::from_name(Objective::NAMES[o]).expect("a name");
            let score = |x: [u64; 3]| Score { cycles: x[0] as f64, energy_pj: x[1] as f64, dram_bits: x[2] as f64 };
            let a = std::array::from_fn(|i| b[i].saturating_sub(less[i]));
            let (a, b) = (score(a), score(b));
            if Objective::all_prefer_at_no_more_cycles(&a, &b) {
                prop_assert!(objective.better(&a, &b));
            }
        }

        /// A front drops only candidates another beats, or ties and precedes in the search
        /// order, at every channel speed: its best is the best of all candidates (exact ties
        /// to the earliest) at each speed and for every objective, seeded with any of them or
        /// not. Small figures make ties and dominance common.
        #[test]
        fn front_keeps_the_best_of_every_speed(
            parts in proptest::collection::vec(proptest::array::uniform5(0u64..3), 1..40),
            slowness in 0u64..4, o in 0usize..3, seed in 0usize..40,
        ) {
            let objective = Objective::from_name(Objective::NAMES[o]).expect("a name");
            // The search order is the recording order: output-channel tiles halving.
            let all: Vec<(Tiling, [u64; 5])> = parts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let tile = Tile { k: 64 - i as u64, rows: 1, cols: 1, c: 1 };
                    let t = Tiling { tile, order: LoopOrder::WeightsOuter, tiles: 1, c_tiles: 1, weight_reads: 1, dram: Traffic::default() };
                    (t, *p)
                })
                .collect();
            let ev = AtSpeed { slowness };
            let best = all
                .iter()
                .fold(None, |best: Option<(Score, Tiling)>, (t, p)| {
                    let s = ev.score_part(p);
                    if replaces(objective, &s, t, best.as_ref().map(|(bs, bt)| (bs, bt))) { Some((s, *t)) } else { best }
                })
                .map(|(_, t)| t);
            let seed = all.get(seed).map(|(t, _)| *t);
            let front = front_of::<AtSpeed>(all);
            for seed in [None, seed.as_ref()] {
                prop_assert_eq!(schedule_front(&front, &ev, objective, seed), best);
            }
        }

        /// The best of a vector front, seeded or not, is what the vector search returns.
        #[test]
        fn vector_front_search_equals_search(
            in_elements in 1u64..100_000, out_elements in 1u64..50_000, hw in arb_hw(), wd in arb_widths(), o in 0usize..3, s in 0usize..20,
        ) {
            let objective = Objective::from_name(Objective::NAMES[o]).expect("a name");
            let v = VectorWork { in_elements, out_elements, weights: 0, ops: in_elements, pooling: false };
            let searched = schedule_vector(&hw, &v, wd, &DramOnly, objective);
            match vector_candidates(&hw, &v, wd) {
                Ok(all) => {
                    let seed = all.get(s % all.len()).copied();
                    let front = front_of::<DramOnly>(all.into_iter().map(|t| (t, DramOnly.part(&t))).collect());
                    for seed in [None, seed.as_ref()] {
                        prop_assert_eq!(schedule_front(&front, &DramOnly, objective, seed), searched.clone().ok());
                    }
                }
                Err(e) => prop_assert_eq!(Err(e), searched),
            }
        }

        /// Doubling any buffer never raises the best score (the candidates fitting the
        /// larger buffer are a superset).
        #[test]
        fn a_larger_buffer_never_raises_the_least_traffic(w in arb_conv(), hw in arb_hw(), wd in arb_widths(), b in 0usize..4) {
            let mut big = hw.clone();
            if let Some(buf) = big.buffers.get_mut(b) {
                buf.size = Bytes(buf.size.get() * 2);
            }
            if let Ok(small) = least_traffic(&hw, &w, wd) {
                let large = least_traffic(&big, &w, wd).expect("a larger buffer fits what the smaller one did");
                prop_assert!(!Objective::Latency.better(&DramOnly.score(&small), &DramOnly.score(&large)));
            }
        }
    }
}
