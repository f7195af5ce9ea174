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
//! Invariant: DRAM traffic is never below the compulsory traffic (every weight, input and
//! output moved once at its width) and equals it when one tile covers the whole layer.

use super::work::{ConvWork, VectorWork};
use crate::hw::{Buffer, Family, HwDesc, Role};
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
}

/// A buffer that overflows: its index and the bytes needed there. Cheap to make (the search
/// probes thousands of tiles); turned into a [`NoTileFits`] only when reported.
#[derive(Debug, Clone, Copy)]
struct Overflow {
    buffer: usize,
    need: u64,
}

impl<'a> Capacity<'a> {
    fn new(hw: &'a HwDesc) -> Self {
        let find = |r: Role| hw.buffers.iter().position(|b| b.holds.has(r)).unwrap_or(0);
        let idx = [find(Role::Inputs), find(Role::Weights), find(Role::Outputs)];
        let copies = idx.map(|b| if hw.buffers[b].double_buffered { 2 } else { 1 });
        Capacity { idx, copies, buffers: &hw.buffers }
    }

    /// Checks bytes needed per role; returns the first overflow.
    fn check(&self, need: [u64; 3]) -> Result<(), Overflow> {
        let mut used = [0u64; 8];
        for ((&bytes, &b), &copies) in need.iter().zip(&self.idx).zip(&self.copies) {
            if let Some(u) = used.get_mut(b) {
                *u = u.saturating_add(bytes.saturating_mul(copies));
            }
        }
        for (b, buf) in self.buffers.iter().enumerate().take(used.len()) {
            if used[b] > buf.size.get() {
                return Err(Overflow { buffer: b, need: used[b] });
            }
        }
        Ok(())
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
    let mut chain = vec![wd.weight.max(1)];
    while *chain.last().unwrap_or(&16) < 16 {
        chain.push(chain.last().unwrap_or(&16) * 2);
    }
    let mut limit: Option<u64> = None;
    let mut result = None;
    for &wb in chain.iter().rev() {
        let wdi = Widths { weight: wb, ..wd };
        match search_conv(hw, w, wdi, limit) {
            Ok(t) => {
                limit = Some(t.weight_reads);
                result = Some(Ok(t));
            }
            // A wider width that does not fit says nothing about a narrower one.
            Err(e) => result = Some(Err(e)),
        }
    }
    result.unwrap_or_else(|| search_conv(hw, w, wd, None))
}

/// The fields of a description that [`tile_conv`] reads: per buffer its name (for errors),
/// size, double buffering and roles, and whether the family streams finished outputs
/// (NVDLA). Two descriptions with equal keys get the same tiling for every layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TilingKey {
    buffers: Vec<(String, u64, bool, [bool; 3])>,
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
                    )
                })
                .collect(),
            streams_outputs: matches!(hw.family, Family::Nvdla(_)),
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

/// One search; `limit` caps how many times the weights may be read.
fn search_conv(hw: &HwDesc, w: &ConvWork, wd: Widths, limit: Option<u64>) -> Result<Tiling, NoTileFits> {
    let cap = Capacity::new(hw);
    let grouped = w.groups > 1;
    // NVDLA: CACC hands each finished stripe of atomic-K outputs to SDP, which writes it to
    // DRAM (unit description); finished outputs never wait in a buffer, only partial sums of
    // a channel split would.
    let streams_outputs = matches!(hw.family, Family::Nvdla(_));
    let weights_total = bits(w.weights(), wd.weight) + bits(w.k, wd.acc);
    let out_total = bits(w.pixels().saturating_mul(w.k), wd.output);
    let mut best: Option<(u64, u64, Tiling)> = None;
    let mut smallest_err: Option<Overflow> = None;
    // Exact pruning: with the input channels split (n_c > 1) both loop orders re-read the
    // inputs once per output-channel tile and the weights at least once, so such a tiling
    // moves at least `lb_in * n_k + weights_total + out_total` bits, `lb_in` being the
    // smallest input pass of any spatial tiling. A (tk, tc) whose bound is strictly above
    // the best total so far can neither beat it nor tie it, so skipping it leaves the
    // result unchanged.
    let lb_in = if grouped { None } else { input_pass_bound(w, wd) };
    // Grouped convs tile whole groups: tk = tg * kg output and tg * cg input channels.
    let k_units = if grouped { w.groups } else { w.k };
    for tku in candidates(k_units) {
        let tk = if grouped { tku * w.kg() } else { tku };
        let c_cands: Vec<u64> = if grouped { vec![tku * w.cg()] } else { candidates(w.c).collect() };
        for &tc in &c_cands {
            let n_c = if grouped { 1 } else { w.c.div_ceil(tc) };
            if let (true, Some(lb), Some((best_total, _, _))) = (n_c > 1, lb_in, &best) {
                let n_k = w.k.div_ceil(tk);
                if lb.saturating_mul(n_k).saturating_add(weights_total).saturating_add(out_total) > *best_total {
                    continue;
                }
            }
            let out_bits = if n_c > 1 { wd.acc } else { wd.output };
            let w_tile = bytes(tk * w.r * w.s * if grouped { w.cg() } else { tc }, wd.weight) + bytes(tk, wd.acc);
            // Largest spatial tile that fits, trying full width first.
            for tw in candidates(w.ow) {
                let fits = |rows: u64| {
                    let i = bytes(w.n * w.in_rows(rows) * w.in_cols(tw) * tc, wd.input);
                    let o = if streams_outputs && n_c == 1 { 0 } else { bytes(w.n * rows * tw * tk, out_bits) };
                    cap.check([i, w_tile, o])
                };
                let th = match largest_fitting(w.oh, &fits) {
                    Ok(th) => th,
                    Err(e) => {
                        if smallest_err.as_ref().is_none_or(|s| e.need < s.need) {
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
                    let total = dram.inputs.get().saturating_add(dram.weights.get()).saturating_add(dram.outputs.get());
                    let tiles = n_k.saturating_mul(n_s).saturating_mul(n_c);
                    let t = Tiling {
                        tile: Tile { k: tk, rows: th, cols: tw, c: tc },
                        order,
                        tiles,
                        c_tiles: n_c,
                        weight_reads: w_reads,
                        dram,
                    };
                    if best.as_ref().is_none_or(|(bt, bn, _)| (total, tiles) < (*bt, *bn)) {
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

/// A lower bound on the input bits of one pass over all spatial tiles of a dense conv (the
/// `in_pass` of [`search_conv`]) for any tile rows and columns, or `None` when it is not
/// worth computing (huge outputs) or `in_pass` could overflow (then nothing is pruned).
fn input_pass_bound(w: &ConvWork, wd: Widths) -> Option<u64> {
    if w.oh > 4096 || w.ow > 4096 {
        return None;
    }
    // Every tile's extent is at most ih (iw) and there are at most oh (ow) tiles: if this
    // product fits, `in_pass`'s unchecked product never wraps, so the bound holds.
    w.n.checked_mul(w.oh.checked_mul(w.ih.max(1))?)?
        .checked_mul(w.ow.checked_mul(w.iw.max(1))?)?
        .checked_mul(w.c)?
        .checked_mul(u64::from(wd.input))?;
    let rows = (1..=w.oh).map(|th| extent_sum(w.oh, th, |r| w.in_rows(r))).min()?;
    let cols = (1..=w.ow).map(|tw| extent_sum(w.ow, tw, |c| w.in_cols(c))).min()?;
    Some(bits(w.n * rows * cols * w.c, wd.input))
}

/// The largest `rows` in 1..=max for which `fits` holds (fits is monotone).
fn largest_fitting(max: u64, fits: &impl Fn(u64) -> Result<(), Overflow>) -> Result<u64, Overflow> {
    fits(1)?;
    if fits(max).is_ok() {
        return Ok(max);
    }
    let (mut lo, mut hi) = (1u64, max);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid).is_ok() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Tiles streaming vector work: inputs and outputs move once each.
pub fn tile_vector(hw: &HwDesc, v: &VectorWork, wd: Widths) -> Result<Tiling, NoTileFits> {
    let cap = Capacity::new(hw);
    let ratio = (v.in_elements / v.out_elements.max(1)).max(1);
    let fits = |te: u64| cap.check([bytes(te * ratio, wd.input), 0, bytes(te, wd.output)]);
    let te = largest_fitting(v.out_elements.max(1), &fits).map_err(|o| cap.error(o))?;
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
    fn buffer_too_small_for_any_tile_is_an_error() {
        let hw = load_hw("systolic32", &[("buffer.1.size_kib".into(), 0.001)]).unwrap();
        let e = tile_conv(&hw, &conv(64, 64, 16, 3), W8).unwrap_err();
        assert_eq!(e.buffer, "filter_sram");
    }
}
