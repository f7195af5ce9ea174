//! Tiling: choose the tile of a layer's loop nest and the loop order that fit the on-chip
//! buffers and minimize DRAM traffic, and count that traffic at the operands' packed widths.
//!
//! The loop nest of a convolution is tiled over output channels (`tk`), output rows and
//! columns (`th`, `tw`) and input channels (`tc`, dense convs only; partial sums then stay in
//! the output buffer at accumulator width). Two loop orders are considered: weights outer
//! (each weight tile stays resident while the spatial tiles stream past) and inputs outer.
//! A tile that stays resident across the inner loop is read from DRAM once; otherwise it is
//! re-read per inner iteration. Each operand role lives in the first buffer that holds it;
//! a double-buffered buffer must hold two tiles.
//!
//! The search visits (output channel, input channel) tiles widest first and, for each,
//! the widest spatial tile that fits. It skips those that provably cannot change the
//! result (lower bounds on their traffic and tile count from the buffer sizes, the
//! weight-read limit and the best found so far; see [`search_conv`]), so it returns
//! exactly what probing every one returns, at a fraction of the probes.
//!
//! Invariant: DRAM traffic is never below the compulsory traffic (every weight, input and
//! output moved once at its width) and equals it when one tile covers the whole layer.

use super::work::{ConvWork, VectorWork};
use crate::hw::{Buffer, BufferLevel, HwDesc, Role};
use crate::units::{Bits, Bytes};
use std::collections::HashMap;

/// Operand widths of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Widths {
    /// Weight bits.
    pub weight: u32,
    /// Input activation bits.
    pub input: u32,
    /// Output activation bits.
    pub output: u32,
    /// Accumulator / bias bits.
    pub acc: u32,
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

    /// A guess of the largest `rows` in 1..max that fits (`max` >= 2), from the use at one
    /// row and at `max` rows (linear in between); only a starting point for a bisection.
    fn guess_rows(&self, max: u64, at_one: [u64; 3], at_max: [u64; 3]) -> u64 {
        let (lo, hi) = (self.used(at_one), self.used(at_max));
        let mut guess = max - 1;
        for slot in 0..3 {
            let size = self.slot_size[slot];
            if hi[slot] > size && hi[slot] > lo[slot] && size >= lo[slot] {
                // (size - lo) * (max - 1) / (hi - lo), in u128 (no overflow).
                let steps =
                    (u128::from(size - lo[slot]) * u128::from(max - 1) / u128::from(hi[slot] - lo[slot])) as u64;
                guess = guess.min(steps.saturating_add(1));
            }
        }
        guess.clamp(1, max - 1)
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

    /// The most pixels (elements over `per_pixel` > 0) of role `role`'s tile at `width`
    /// bits that can fit in its buffer, next to a weight tile of `w_tile` bytes if the
    /// weights share that buffer (other operands only take more room). Every tile that
    /// passes [`Capacity::check`] moves at most this many pixels of that role.
    fn max_pixels(&self, role: usize, w_tile: u64, per_pixel: u64, width: u32) -> u64 {
        let (b, wb) = (self.idx[role], self.idx[1]);
        // `check` only sees the first 8 buffers; beyond them (or past u64) claim no limit.
        if b >= 8 || width == 0 || per_pixel == 0 {
            return u64::MAX;
        }
        let size = self.buffers.get(b).map_or(0, |buf| buf.size.get());
        let others = if wb == b { w_tile.saturating_mul(self.copies[1]) } else { 0 };
        let free = size.saturating_sub(others);
        // Copies are 1 or 2 (double buffered): a shift instead of a division.
        let room = if self.copies[role] == 2 { free / 2 } else { free / self.copies[role].max(1) };
        // floor(floor(a / b) / c) = floor(a / (b c)); a product past u64 exceeds any room.
        match (room.checked_mul(8), u64::from(width).checked_mul(per_pixel)) {
            (Some(room_bits), Some(per_pixel_bits)) => room_bits / per_pixel_bits,
            (Some(_), None) => 0,
            (None, _) => u64::MAX,
        }
    }

    /// The reportable error of an overflow.
    fn error(&self, o: Overflow) -> NoTileFits {
        let buf = &self.buffers[o.buffer];
        NoTileFits { buffer: buf.name.clone(), size: buf.size.get(), need: o.need }
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

/// Tiles a convolution for the buffers of `hw`, minimizing DRAM traffic.
///
/// Narrower weights make every tile smaller, so the optimum may trade weight re-reads for
/// fewer input re-reads. Architects expect narrower weights never to move more weight
/// bytes, so the search runs down the chain of halvings from the first width >= 16 bits
/// (w*2^k, ..., 2w, w), each step allowed at most the weight traffic of the step above; the
/// tiling above always qualifies, so each step stays optimal among those that keep the
/// property.
pub fn tile_conv(hw: &HwDesc, w: &ConvWork, wd: Widths) -> Result<Tiling, NoTileFits> {
    let s = Search::new(hw, w, wd);
    // The chain w, 2w, ... up to the first width >= 16 (at most 1, 2, 4, 8, 16).
    let mut chain = [0u32; 6];
    let mut len = 0;
    let mut wb = wd.weight.max(1);
    loop {
        chain[len] = wb;
        len += 1;
        if wb >= 16 || len == chain.len() {
            break;
        }
        wb *= 2;
    }
    let mut limit: Option<u64> = None;
    let mut result = None;
    for &wb in chain[..len].iter().rev() {
        let wdi = Widths { weight: wb, ..wd };
        match search_conv(&s, w, wdi, limit) {
            Ok(t) => {
                limit = Some(t.weight_reads);
                result = Some(Ok(t));
            }
            // A wider width that does not fit says nothing about a narrower one.
            Err(e) => result = Some(Err(e)),
        }
    }
    result.unwrap_or_else(|| search_conv(&s, w, wd, None))
}

/// The fields of a description that [`tile_conv`] reads: per buffer its name (for errors),
/// size, double buffering, roles and level, and whether the family streams finished outputs
/// ([`crate::hw::Family::streams_outputs`]). Two descriptions with equal keys get the same tiling for every layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TilingKey {
    buffers: Vec<(String, u64, bool, [bool; 3], BufferLevel)>,
    streams_outputs: bool,
}

impl TilingKey {
    /// The key of a description.
    pub fn of(hw: &HwDesc) -> Self {
        TilingKey {
            buffers: hw
                .buffers
                .iter()
                .map(|b| {
                    (
                        b.name.clone(),
                        b.size.get(),
                        b.double_buffered,
                        [b.holds.inputs, b.holds.weights, b.holds.outputs],
                        b.level,
                    )
                })
                .collect(),
            streams_outputs: hw.family.streams_outputs(),
        }
    }
}

/// Memoized [`tile_conv`] results of a sweep: design points that differ only in fields the
/// tiling does not read (array shape, DRAM, clock, energies...) share them. `tile_conv` is a
/// pure function of ([`TilingKey`], work, widths), so a hit returns exactly what a fresh
/// search would, and results do not depend on which thread filled the memo.
#[derive(Debug, Default)]
pub struct TilingMemo {
    keys: HashMap<TilingKey, usize>,
    tables: Vec<HashMap<(ConvWork, Widths), Result<Tiling, NoTileFits>>>,
}

/// The memo table of one description, from [`TilingMemo::table`].
pub type TilingTable = HashMap<(ConvWork, Widths), Result<Tiling, NoTileFits>>;

impl TilingMemo {
    /// The table of `hw`'s tiling key (created empty on first use).
    pub fn table(&mut self, hw: &HwDesc) -> &mut TilingTable {
        let key = TilingKey::of(hw);
        let n = self.tables.len();
        let i = *self.keys.entry(key).or_insert(n);
        if i == n {
            self.tables.push(HashMap::new());
        }
        &mut self.tables[i]
    }
}

/// [`tile_conv`] through a memo table of `hw` (see [`TilingMemo`]); `None` searches afresh.
pub fn tile_conv_memo(
    table: Option<&mut TilingTable>,
    hw: &HwDesc,
    w: &ConvWork,
    wd: Widths,
) -> Result<Tiling, NoTileFits> {
    match table {
        None => tile_conv(hw, w, wd),
        Some(t) => t.entry((*w, wd)).or_insert_with(|| tile_conv(hw, w, wd)).clone(),
    }
}

/// What every search of one [`tile_conv`] call shares: the capacity check, whether outputs
/// stream, and the lower bound on one input pass (it depends on the input width only, which
/// the chain of weight widths does not change).
struct Search<'a> {
    cap: Capacity<'a>,
    streams_outputs: bool,
    lb_in: Option<u64>,
    /// Whether the search's output tile sizes cannot wrap (`n * oh * ow * k` at any width
    /// fits in 64 bits), so the output buffer bounds the spatial tile.
    outputs_exact: bool,
    /// Whether input tiles have at least as many pixels as their output tiles: strides
    /// >= 1 and an output plane no larger than the input plane.
    inputs_cover_outputs: bool,
    /// Whether pruning is sound for this layer: its output plane is not empty (so every
    /// candidate has at least one spatial tile).
    prunable: bool,
}

impl<'a> Search<'a> {
    fn new(hw: &'a HwDesc, w: &ConvWork, wd: Widths) -> Self {
        Search {
            cap: Capacity::new(hw),
            // NVDLA: CACC hands each finished stripe of atomic-K outputs to SDP, which writes
            // it to DRAM (unit description); finished outputs never wait in a buffer, only
            // partial sums of a channel split would.
            streams_outputs: hw.family.streams_outputs(),
            lb_in: input_pass_bound(w, wd),
            outputs_exact: w
                .n
                .checked_mul(w.oh)
                .and_then(|x| x.checked_mul(w.ow))
                .and_then(|x| x.checked_mul(w.k))
                .and_then(|x| x.checked_mul(u64::from(wd.acc.max(wd.output))))
                .is_some(),
            inputs_cover_outputs: w.sh >= 1 && w.sw >= 1 && w.oh <= w.ih && w.ow <= w.iw,
            prunable: w.oh >= 1 && w.ow >= 1,
        }
    }
}

/// Candidate input-channel tiles of a dense conv (all of [`candidates`]`(c)`) or the single
/// one of a grouped conv (`tg` whole groups), without allocating.
fn c_candidates(w: &ConvWork, grouped: bool, tku: u64) -> impl Iterator<Item = u64> {
    let dense = (!grouped).then(|| candidates(w.c)).into_iter().flatten();
    let group = grouped.then(|| tku * w.cg());
    dense.chain(group)
}

/// Whether a candidate whose (total bits, tiles) are at least `(total_lb, tiles_lb)` can be
/// skipped: the search replaces its best only on a strictly smaller (total, tiles), so such
/// a candidate can neither beat nor displace `best`.
fn dominated(total_lb: u64, tiles_lb: u64, best: Option<(u64, u64)>) -> bool {
    best.is_some_and(|(bt, bn)| total_lb > bt || (total_lb == bt && tiles_lb >= bn))
}

/// One search; `limit` caps how many times the weights may be read.
///
/// Candidates are visited in a fixed order (output-channel tiles from the widest, then
/// input-channel tiles from the widest, then spatial tiles from the widest) and the best is
/// replaced only by a strictly smaller (total bits, tiles), so ties go to the first found.
/// An (output, input channel) tile is skipped without probing its spatial tiles when it
/// provably adds no candidate that would replace the best: nothing of it fits, the weight
/// read limit rules it out, or a lower bound on its candidates' (total bits, tiles) is
/// [`dominated`] by the best so far ([`skip_pair`], [`skip_splits`]). The result is then
/// the same as probing every tile (a property test compares the two). Only the error when
/// nothing fits depends on every probe (it names the smallest overflow), so that case is
/// searched again without skipping.
fn search_conv(s: &Search, w: &ConvWork, wd: Widths, limit: Option<u64>) -> Result<Tiling, NoTileFits> {
    // Pruning skips only (tk, tc) tiles that cannot change the best; but when nothing fits,
    // the reported overflow is the smallest over every probe, so search again unpruned.
    let prune = s.prunable;
    match search_conv_with(s, w, wd, limit, prune) {
        Err(_) if prune => search_conv_with(s, w, wd, limit, false),
        r => r,
    }
}

/// [`search_conv`], skipping (tk, tc) tiles by [`skip_pair`] if `prune`.
fn search_conv_with(
    s: &Search,
    w: &ConvWork,
    wd: Widths,
    limit: Option<u64>,
    prune: bool,
) -> Result<Tiling, NoTileFits> {
    let cap = &s.cap;
    let grouped = w.groups > 1;
    let streams_outputs = s.streams_outputs;
    let weights_total = bits(w.weights(), wd.weight) + bits(w.k, wd.acc);
    let out_total = bits(w.pixels().saturating_mul(w.k), wd.output);
    let mut best: Option<(u64, u64, Tiling)> = None;
    let mut smallest_err: Option<Overflow> = None;
    // Grouped convs tile whole groups: tk = tg * kg output and tg * cg input channels.
    let k_units = if grouped { w.groups } else { w.k };
    for tku in candidates(k_units) {
        let tk = if grouped { tku * w.kg() } else { tku };
        let n_k = w.k.div_ceil(tk);
        let mut splits_checked = false;
        for tc in c_candidates(w, grouped, tku) {
            let n_c = if grouped { 1 } else { w.c.div_ceil(tc) };
            if prune && n_c > 1 && !splits_checked {
                splits_checked = true;
                let best_key = best.as_ref().map(|(bt, bn, _)| (*bt, *bn));
                if skip_splits(s, w, wd, tk, n_k, weights_total, out_total, limit, best_key) {
                    break;
                }
            }
            let out_bits = if n_c > 1 { wd.acc } else { wd.output };
            let w_tile = bytes(tk * w.r * w.s * if grouped { w.cg() } else { tc }, wd.weight) + bytes(tk, wd.acc);
            let need = |rows: u64, tw: u64| {
                let i = bytes(w.n * w.in_rows(rows) * w.in_cols(tw) * tc, wd.input);
                let o = if streams_outputs && n_c == 1 { 0 } else { bytes(w.n * rows * tw * tk, out_bits) };
                [i, w_tile, o]
            };
            let pair_of = || Pair {
                w,
                wd,
                tk,
                tc,
                n_c,
                out_bits,
                w_tile,
                bound: PairBound { grouped, n_k, n_c, lb_in: s.lb_in.unwrap_or(0), weights_total, out_total, limit },
            };
            if prune && skip_pair(s, &pair_of(), best.as_ref().map(|(bt, bn, _)| (*bt, *bn))) {
                continue;
            }
            // Largest spatial tile that fits, trying full width first.
            for tw in candidates(w.ow) {
                let check = |rows: u64| cap.check(need(rows, tw));
                let guess = |max: u64| cap.guess_rows(max, need(1, tw), need(max, tw));
                let th = match largest_fitting_from(w.oh, &check, &|rows| cap.fits(need(rows, tw)), &guess) {
                    Ok(th) => th,
                    Err(e) => {
                        if smallest_err.as_ref().map_or(true, |s| e.need < s.need) {
                            smallest_err = Some(e);
                        }
                        continue;
                    }
                };
                let n_s = w.oh.div_ceil(th) * w.ow.div_ceil(tw);
                // Inputs of one pass over all spatial tiles, halos included.
                let rows_in = extent_sum(w.oh, th, |r| w.in_rows(r));
                let cols_in = extent_sum(w.ow, tw, |c| w.in_cols(c));
                let in_pass = bits(w.n * rows_in * cols_in * w.c, wd.input);
                for order in [LoopOrder::WeightsOuter, LoopOrder::InputsOuter] {
                    let (in_reads, w_reads) = reads(grouped, order, n_k, n_s, n_c);
                    if limit.is_some_and(|max_reads| w_reads > max_reads) {
                        continue;
                    }
                    let dram = Traffic {
                        inputs: Bits(in_pass.saturating_mul(in_reads)),
                        weights: Bits(weights_total.saturating_mul(w_reads)),
                        outputs: Bits(out_total),
                    };
                    let total = dram.inputs.get().saturating_add(dram.weights.get()).saturating_add(dram.outputs.get());
                    let tiles = n_k.saturating_mul(n_s).saturating_mul(n_c);
                    if best.as_ref().map_or(true, |(bt, bn, _)| (total, tiles) < (*bt, *bn)) {
                        let t = Tiling {
                            tile: Tile { k: tk, rows: th, cols: tw, c: tc },
                            order,
                            tiles,
                            c_tiles: n_c,
                            weight_reads: w_reads,
                            dram,
                        };
                        best = Some((total, tiles, t));
                    }
                }
                break; // wider tiles found a fit: narrower ones only add halo traffic
            }
        }
    }
    match best {
        Some((_, _, t)) => Ok(t),
        None => {
            Err(smallest_err.map(|o| cap.error(o)).unwrap_or(NoTileFits { buffer: String::new(), size: 0, need: 0 }))
        }
    }
}

/// Whether the search may skip every input-channel split (n_c > 1) of output-channel tile
/// `tk`: the smaller input-channel tiles come last in the order, and a bound that holds for
/// all of them at once rules them out (see [`skip_pair`]). With the channels split, both
/// loop orders read the inputs n_k times and the weights once per spatial tile, and the
/// partial sums of a tile stay on chip at accumulator width, so the output buffer bounds
/// the spatial tile whatever the input-channel tile (counting no room for weights).
#[allow(clippy::too_many_arguments)]
fn skip_splits(
    s: &Search,
    w: &ConvWork,
    wd: Widths,
    tk: u64,
    n_k: u64,
    weights_total: u64,
    out_total: u64,
    limit: Option<u64>,
    best: Option<(u64, u64)>,
) -> bool {
    let bound = PairBound { grouped: false, n_k, n_c: 2, lb_in: s.lb_in.unwrap_or(0), weights_total, out_total, limit };
    let pruned = |n_s_lb| bound.bound(n_s_lb).map_or(true, |(t, n)| dominated(t, n, best));
    if pruned(1) {
        return true;
    }
    if !s.outputs_exact {
        return false;
    }
    match s.cap.max_pixels(2, 0, w.n.saturating_mul(tk), wd.acc) {
        0 => true,
        px => pruned(w.oh.saturating_mul(w.ow).div_ceil(px).max(1)),
    }
}

/// An (output, input channel) tile of one search, for [`skip_pair`].
struct Pair<'a> {
    w: &'a ConvWork,
    wd: Widths,
    tk: u64,
    tc: u64,
    n_c: u64,
    /// Width of the outputs it keeps on chip (the accumulator's with a channel split).
    out_bits: u32,
    /// Bytes of its weight tile.
    w_tile: u64,
    bound: PairBound,
}

/// Whether the search may skip an (output, input channel) tile: no candidate of it fits,
/// none respects the weight-read limit, or (given the best so far, `best`) every candidate
/// it could produce is [`dominated`]. Skipping it then leaves the search's best unchanged.
fn skip_pair(s: &Search, p: &Pair, best: Option<(u64, u64)>) -> bool {
    let (w, cap) = (p.w, &s.cap);
    let need = |rows: u64, tw: u64| {
        let i = bytes(w.n * w.in_rows(rows) * w.in_cols(tw) * p.tc, p.wd.input);
        let o = if s.streams_outputs && p.n_c == 1 { 0 } else { bytes(w.n * rows * tw * p.tk, p.out_bits) };
        [i, p.w_tile, o]
    };
    let pruned = |n_s_lb| p.bound.bound(n_s_lb).map_or(true, |(t, n)| dominated(t, n, best));
    if pruned(1) {
        return true;
    }
    // Every probe needs at least the room of one row of one column (the need grows with
    // both), so if that overflows no tile of this pair fits.
    if !cap.fits(need(1, 1)) {
        return true;
    }
    // A lower bound on the number of spatial tiles: a fitting tile of th x tw output pixels
    // holds th * tw * n * tk outputs (if they stay in a buffer) and, when the output plane
    // is no larger than the input plane and strides are >= 1, at least th * tw * n * tc
    // inputs (in_rows(th) >= th for th <= ih), so th * tw is at most these pixel limits.
    let outputs_held = s.outputs_exact && !(s.streams_outputs && p.n_c == 1);
    let max_out =
        if outputs_held { cap.max_pixels(2, p.w_tile, w.n.saturating_mul(p.tk), p.out_bits) } else { u64::MAX };
    let max_in = if s.inputs_cover_outputs && s.lb_in.is_some() {
        cap.max_pixels(0, p.w_tile, w.n.saturating_mul(p.tc), p.wd.input)
    } else {
        u64::MAX
    };
    let mut n_s_lb = match max_out.min(max_in) {
        0 => return true, // not even one output pixel fits
        px => w.oh.saturating_mul(w.ow).div_ceil(px).max(1),
    };
    if n_s_lb > 1 && pruned(n_s_lb) {
        return true;
    }
    // If the whole output plane does not fit there are at least two spatial tiles (one
    // tile would have to be the whole plane).
    if n_s_lb < 2 && !cap.fits(need(w.oh, w.ow)) {
        n_s_lb = 2;
        return pruned(n_s_lb);
    }
    false
}

/// What a lower bound on the (total bits, tiles) of an (output, input channel) tile needs.
struct PairBound {
    grouped: bool,
    n_k: u64,
    n_c: u64,
    /// Lower bound on one input pass ([`input_pass_bound`]).
    lb_in: u64,
    weights_total: u64,
    out_total: u64,
    /// The search's cap on weight reads.
    limit: Option<u64>,
}

impl PairBound {
    /// Lower bounds on the total bits and the tiles of every candidate of this pair with at
    /// least `n_s` spatial tiles, over both loop orders (see [`reads`]): read counts only
    /// grow with n_s, and the arithmetic saturates as the search's does, so each bound is
    /// at most the search's figure. `None` when the weight-read limit rules out both orders
    /// (their weight reads at `n_s` already exceed it).
    fn bound(&self, n_s: u64) -> Option<(u64, u64)> {
        let (lb, w, o) = (self.lb_in, self.weights_total, self.out_total);
        let cost = |(i, wr): (u64, u64)| lb.saturating_mul(i).saturating_add(w.saturating_mul(wr)).saturating_add(o);
        let total = [LoopOrder::WeightsOuter, LoopOrder::InputsOuter]
            .map(|order| reads(self.grouped, order, self.n_k, n_s, self.n_c))
            .into_iter()
            .filter(|&(_, wr)| self.limit.map_or(true, |max_reads| wr <= max_reads))
            .map(cost)
            .min()?;
        Some((total, self.n_k.saturating_mul(n_s).saturating_mul(self.n_c)))
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

/// The largest `rows` in 1..=max for which `fits` holds (fits is monotone); `check` is
/// `fits` with the overflow it reports, asked only about one row.
fn largest_fitting(
    max: u64,
    check: &impl Fn(u64) -> Result<(), Overflow>,
    fits: &impl Fn(u64) -> bool,
) -> Result<u64, Overflow> {
    check(1)?;
    if fits(max) {
        return Ok(max);
    }
    Ok(bisect(1, max, fits))
}

/// The largest `n` in `lo..hi` with `fits(n)`, given `fits(lo)` and `!fits(hi)` (`fits`
/// monotone).
fn bisect(mut lo: u64, mut hi: u64, fits: &impl Fn(u64) -> bool) -> u64 {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// [`largest_fitting`], bisecting from `guess(max)` (clamped to 1..max) and its successor
/// first: the bracket stays valid whatever the guess, since `fits` is monotone, so the
/// result is the same; a good guess ends the search in two probes.
fn largest_fitting_from(
    max: u64,
    check: &impl Fn(u64) -> Result<(), Overflow>,
    fits: &impl Fn(u64) -> bool,
    guess: &impl Fn(u64) -> u64,
) -> Result<u64, Overflow> {
    check(1)?;
    if fits(max) {
        return Ok(max);
    }
    // Invariant: fits(lo), !fits(hi), 1 <= lo < hi <= max.
    let (mut lo, mut hi) = (1u64, max);
    let g = guess(max).clamp(1, max - 1);
    if fits(g) {
        lo = g;
        if g + 1 < hi {
            if fits(g + 1) {
                lo = g + 1;
            } else {
                hi = g + 1;
            }
        }
    } else {
        hi = g;
    }
    Ok(bisect(lo, hi, fits))
}

/// Tiles streaming vector work: inputs and outputs move once each.
pub fn tile_vector(hw: &HwDesc, v: &VectorWork, wd: Widths) -> Result<Tiling, NoTileFits> {
    let cap = Capacity::new(hw);
    let ratio = (v.in_elements / v.out_elements.max(1)).max(1);
    let need = |te: u64| [bytes(te * ratio, wd.input), 0, bytes(te, wd.output)];
    let te = largest_fitting(v.out_elements.max(1), &|te| cap.check(need(te)), &|te| cap.fits(need(te)))
        .map_err(|o| cap.error(o))?;
    Ok(Tiling {
        tile: Tile { k: te, rows: 1, cols: 1, c: 1 },
        order: LoopOrder::InputsOuter,
        tiles: v.out_elements.max(1).div_ceil(te),
        c_tiles: 1,
        weight_reads: 0,
        dram: Traffic {
            inputs: Bits(bits(v.in_elements, wd.input)),
            weights: Bits(0),
            outputs: Bits(bits(v.out_elements, wd.output)),
        },
    })
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

    const W8: Widths = Widths { weight: 8, input: 8, output: 8, acc: 32 };

    fn compulsory(w: &ConvWork, wd: Widths) -> u64 {
        bits(w.weights(), wd.weight)
            + bits(w.k, wd.acc)
            + bits(w.ih * w.iw * w.c, wd.input)
            + bits(w.pixels() * w.k, wd.output)
    }

    #[test]
    fn small_layer_moves_compulsory_traffic_in_one_tile() {
        let hw = load_hw("systolic32", &[]).unwrap();
        let w = conv(16, 16, 16, 3);
        let t = tile_conv(&hw, &w, W8).unwrap();
        assert_eq!(t.tiles, 1);
        let d = t.dram;
        assert_eq!(d.inputs.get() + d.weights.get() + d.outputs.get(), compulsory(&w, W8));
    }

    #[test]
    fn big_layer_is_tiled_and_never_below_compulsory() {
        let hw = load_hw("systolic32", &[]).unwrap();
        for w in [conv(256, 512, 30, 3), conv(1024, 1024, 7, 1), conv(3, 64, 226, 3)] {
            let t = tile_conv(&hw, &w, W8).unwrap();
            assert!(t.tiles > 1);
            let d = t.dram;
            assert!(d.inputs.get() + d.weights.get() + d.outputs.get() >= compulsory(&w, W8));
        }
    }

    #[test]
    fn narrower_weights_never_raise_weight_traffic() {
        let hw = load_hw("systolic32", &[]).unwrap();
        for w in [conv(256, 512, 30, 3), conv(512, 512, 14, 3), conv(32, 32, 112, 3)] {
            let mut last = u64::MAX;
            for wb in [16, 8, 4, 3, 2] {
                let t = tile_conv(&hw, &w, Widths { weight: wb, ..W8 }).unwrap();
                assert!(t.dram.weights.get() <= last, "{wb}-bit weights raised traffic");
                last = t.dram.weights.get();
            }
        }
    }

    #[test]
    fn guessed_bisection_equals_plain_bisection_whatever_the_guess() {
        for max in 1..40u64 {
            for limit in 0..=max {
                let fits = |rows: u64| rows <= limit;
                let check = |rows: u64| if fits(rows) { Ok(()) } else { Err(Overflow { buffer: 0, need: rows }) };
                let plain = largest_fitting(max, &check, &fits).map_err(|o| o.need);
                for g in 0..=max + 1 {
                    let guessed = largest_fitting_from(max, &check, &fits, &|_| g).map_err(|o| o.need);
                    assert_eq!(guessed, plain, "max {max} limit {limit} guess {g}");
                }
            }
        }
    }

    #[test]
    fn buffer_too_small_for_any_tile_is_an_error() {
        let hw = load_hw("systolic32", &[("buffer.1.size_kib".into(), 0.001)]).unwrap();
        let e = tile_conv(&hw, &conv(64, 64, 16, 3), W8).unwrap_err();
        assert_eq!(e.buffer, "filter_sram");
    }

    /// [`tile_conv`] on top of [`reference_search`].
    fn reference_tile_conv(hw: &HwDesc, w: &ConvWork, wd: Widths) -> Result<Tiling, NoTileFits> {
        let mut chain = vec![wd.weight.max(1)];
        while *chain.last().unwrap() < 16 {
            chain.push(chain.last().unwrap() * 2);
        }
        let mut limit: Option<u64> = None;
        let mut result = None;
        for &wb in chain.iter().rev() {
            match reference_search(hw, w, Widths { weight: wb, ..wd }, limit) {
                Ok(t) => {
                    limit = Some(t.weight_reads);
                    result = Some(Ok(t));
                }
                Err(e) => result = Some(Err(e)),
            }
        }
        result.unwrap()
    }

    /// The search before any pruning: every (tk, tc) pair is probed.
    fn reference_search(hw: &HwDesc, w: &ConvWork, wd: Widths, limit: Option<u64>) -> Result<Tiling, NoTileFits> {
        let cap = Capacity::new(hw);
        let grouped = w.groups > 1;
        // NVDLA: CACC hands each finished stripe of atomic-K outputs to SDP, which writes it to
        // DRAM (unit description); finished outputs never wait in a buffer, only partial sums of
        // a channel split would.
        let streams_outputs = hw.family.streams_outputs();
        let weights_total = bits(w.weights(), wd.weight) + bits(w.k, wd.acc);
        let out_total = bits(w.pixels().saturating_mul(w.k), wd.output);
        let mut best: Option<(u64, u64, Tiling)> = None;
        let mut smallest_err: Option<Overflow> = None;
        // Grouped convs tile whole groups: tk = tg * kg output and tg * cg input channels.
        let k_units = if grouped { w.groups } else { w.k };
        for tku in candidates(k_units) {
            let tk = if grouped { tku * w.kg() } else { tku };
            let c_cands: Vec<u64> = if grouped { vec![tku * w.cg()] } else { candidates(w.c).collect() };
            for &tc in &c_cands {
                let n_c = if grouped { 1 } else { w.c.div_ceil(tc) };
                let out_bits = if n_c > 1 { wd.acc } else { wd.output };
                let w_tile = bytes(tk * w.r * w.s * if grouped { w.cg() } else { tc }, wd.weight) + bytes(tk, wd.acc);
                // Largest spatial tile that fits, trying full width first.
                for tw in candidates(w.ow) {
                    let fits = |rows: u64| {
                        let i = bytes(w.n * w.in_rows(rows) * w.in_cols(tw) * tc, wd.input);
                        let o = if streams_outputs && n_c == 1 { 0 } else { bytes(w.n * rows * tw * tk, out_bits) };
                        cap.check([i, w_tile, o])
                    };
                    let th = match largest_fitting(w.oh, &fits, &|r| fits(r).is_ok()) {
                        Ok(th) => th,
                        Err(e) => {
                            if smallest_err.as_ref().map_or(true, |s| e.need < s.need) {
                                smallest_err = Some(e);
                            }
                            continue;
                        }
                    };
                    let n_k = w.k.div_ceil(tk);
                    let n_s = w.oh.div_ceil(th) * w.ow.div_ceil(tw);
                    // Inputs of one pass over all spatial tiles, halos included.
                    let rows_in = extent_sum(w.oh, th, |r| w.in_rows(r));
                    let cols_in = extent_sum(w.ow, tw, |c| w.in_cols(c));
                    let in_pass = bits(w.n * rows_in * cols_in * w.c, wd.input);
                    for order in [LoopOrder::WeightsOuter, LoopOrder::InputsOuter] {
                        let (in_reads, w_reads) = if grouped {
                            // Each group tile needs only its own channels: inputs once; weights
                            // once when group tiles are outer, per spatial tile otherwise.
                            match order {
                                LoopOrder::WeightsOuter => (1, 1),
                                LoopOrder::InputsOuter => (1, if n_k == 1 { 1 } else { n_s }),
                            }
                        } else {
                            match order {
                                LoopOrder::WeightsOuter => {
                                    (if n_s == 1 && n_c == 1 { 1 } else { n_k }, if n_c == 1 { 1 } else { n_s })
                                }
                                LoopOrder::InputsOuter => {
                                    (if n_c == 1 { 1 } else { n_k }, if n_k == 1 && n_c == 1 { 1 } else { n_s })
                                }
                            }
                        };
                        let dram = Traffic {
                            inputs: Bits(in_pass.saturating_mul(in_reads)),
                            weights: Bits(weights_total.saturating_mul(w_reads)),
                            outputs: Bits(out_total),
                        };
                        if limit.is_some_and(|max_reads| w_reads > max_reads) {
                            continue;
                        }
                        let total =
                            dram.inputs.get().saturating_add(dram.weights.get()).saturating_add(dram.outputs.get());
                        let tiles = n_k.saturating_mul(n_s).saturating_mul(n_c);
                        let t = Tiling {
                            tile: Tile { k: tk, rows: th, cols: tw, c: tc },
                            order,
                            tiles,
                            c_tiles: n_c,
                            weight_reads: w_reads,
                            dram,
                        };
                        if best.as_ref().map_or(true, |(bt, bn, _)| (total, tiles) < (*bt, *bn)) {
                            best = Some((total, tiles, t));
                        }
                    }
                    break; // wider tiles found a fit: narrower ones only add halo traffic
                }
            }
        }
        match best {
            Some((_, _, t)) => Ok(t),
            None => Err(smallest_err.map(|o| cap.error(o)).unwrap_or(NoTileFits {
                buffer: String::new(),
                size: 0,
                need: 0,
            })),
        }
    }

    /// A random small dense or grouped conv (SAME or VALID output size, strides and
    /// dilations up to 3 and 2).
    fn arb_conv() -> impl Strategy<Value = ConvWork> {
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
    fn arb_hw() -> impl Strategy<Value = HwDesc> {
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

    fn arb_widths() -> impl Strategy<Value = Widths> {
        (1u32..=16, 2u32..=16, 2u32..=16, prop_oneof![Just(16u32), Just(24), Just(32)])
            .prop_map(|(weight, input, output, acc)| Widths { weight, input, output, acc })
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
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The pruned search returns exactly what probing every candidate returns: the same
        /// tiling, or the same error when nothing fits.
        #[test]
        fn pruned_search_equals_reference(w in arb_conv(), hw in arb_hw(), wd in arb_widths()) {
            prop_assert_eq!(tile_conv(&hw, &w, wd), reference_tile_conv(&hw, &w, wd));
        }
    }

    #[test]
    fn pruned_search_equals_reference_on_builtin_networks() {
        for hw_name in ["systolic32", "nvdla_full", "nvdla_small", "mac8", "dsp"] {
            let hw = load_hw(hw_name, &[]).unwrap();
            for model in ["mnv1", "resnet50", "inception_v3", "vgg16"] {
                let g = crate::import::load_model(model, &Default::default()).unwrap();
                for l in &g.layers {
                    if let Ok(crate::map::work::Work::Conv(w)) = crate::map::work::work_of(&g, l) {
                        for weight in [2, 3, 4, 8, 16] {
                            let wd = Widths { weight, ..W8 };
                            assert_eq!(tile_conv(&hw, &w, wd), reference_tile_conv(&hw, &w, wd), "{model} {}", l.name);
                        }
                    }
                }
            }
        }
    }
}
