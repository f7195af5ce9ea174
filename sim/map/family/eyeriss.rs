//! The Eyeriss family (`kind = "eyeriss"`): a rows x cols spatial array of PEs with private
//! scratchpads running the row-stationary (RS) dataflow of Chen, Emer and Sze (ISCA 2016,
//! "Eyeriss: A Spatial Architecture for Energy-Efficient Dataflow for CNNs") as the chip of
//! Chen et al. (JSSC 52(1), 2017) runs it. Memory behaviour (the global buffer filled by
//! DMA, double buffered or not as the description says) is the default one (see
//! [`super::Family::dma`]).
//!
//! The mapping, per 2-D convolution of one image, one filter and one channel:
//! - a *logical PE set* of R' filter rows x E ofmap rows: PE (i, j) runs the 1-D convolution
//!   primitive of filter row i over ifmap row i + U*j, producing one row of F partial sums,
//!   and the R' rows of a column add up vertically (PE to PE) into ofmap row j;
//! - a set wider than the physical columns is cut into `n_s = ceil(E / cols)` strips of width
//!   `w = ceil(E / n_s)` (folding); a filter taller than the rows is cut into
//!   `ceil(R / rows)` row groups whose partial sums meet in the global buffer (a
//!   generalization: the chip supports filters of up to 12 rows); a set that fits is never cut;
//! - strips are placed side by side and above each other, `floor(rows / R') x floor(cols / w)`
//!   at once (replication), each running another image, filter block or channel block;
//! - each PE keeps `p` filters x `q` channels of its filter row in the filter scratchpad
//!   (`p q S <= filter_spad`), a sliding window of `q S` ifmap values in the ifmap scratchpad
//!   (`q S <= ifmap_spad`) and the `p` partial sums of its current output position in the
//!   partial-sum scratchpad (`p <= psum_spad`).
//!
//! Time, per processing pass (JSSC 2017 Sec. IV-A: the blocks placed on the array at once,
//! with the whole batch streamed through them, filters staying in the scratchpads):
//! - the filter scratchpads are filled first over the filter GIN (one multicast of
//!   `filter_bus_bits` per cycle; no PE computes on a half-loaded filter set), which is the
//!   pass's ramp-up;
//! - then per image each PE runs `F` positions of `p q S` MACs (one per cycle), its window
//!   primed once per row; the partial sums of a position arrive from the PE below (the local
//!   network) or the psum GIN as the PE's *input psums* (Sec. V-B) and start its
//!   accumulation, so a column's rows run one position apart (a pipeline fill per pass);
//! - the networks must keep up: the ifmap GIN multicasts one `ifmap_bus_bits` word per
//!   cycle to every PE that needs it (filter blocks placed together share it; a stride-4
//!   layer's diagonal spans 4x more ifmap rows per strip), the GON drains and the psum GIN
//!   returns partial sums `psum_bus_bits` per cycle; an image takes the longest of the four.
//! The blocking (`p`, `q`) is the one with the fewest cycles, then the fewest global-buffer
//! reads: every candidate depends on the layer, the scratchpads and the buses only, so a
//! larger scratchpad or bus never runs a layer slower, and a larger array only places more
//! strips at once.
//!
//! Operand reads: every MAC reads one weight and one ifmap value from its PE's scratchpads
//! (`pe_local`); the global buffer is read once per value a primitive block needs (filters
//! multicast along a PE row, ifmap rows multicast along a diagonal), and each output leaves
//! the array once per channel block, row group and filter-column piece as a partial sum.

use super::{ComputeFigures, OperandReads};
use crate::hw::{Eyeriss, PrecisionMode};
use crate::map::work::ConvWork;
use crate::units::Cycles;

/// The row-stationary mapping of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsMapping {
    /// Filter rows per PE set (`R'`), after cutting R into row groups.
    pub set_rows: u64,
    /// Row groups (`ceil(R / R')`).
    pub row_groups: u64,
    /// Strip width (ofmap rows per strip, `<= cols`).
    pub strip: u64,
    /// Strips per logical set (`ceil(E / strip)`).
    pub strips: u64,
    /// Strips placed on the array at once.
    pub slots: u64,
    /// Filters per PE (`p`).
    pub p: u64,
    /// Channels per PE (`q`).
    pub q: u64,
    /// Filter-column taps per primitive (`S'`, `S` unless the ifmap scratchpad is narrower).
    pub taps: u64,
    /// Pieces the filter width is cut into (`ceil(S / S')`).
    pub tap_pieces: u64,
    /// Blocks, each run by a strip for the whole batch: groups x row groups x tap pieces x
    /// strips x filter blocks x channel blocks.
    pub blocks: u64,
    /// Processing passes of the array: `ceil(blocks / slots)`.
    pub passes: u64,
    /// Compute cycles of the layer.
    pub cycles: u64,
    /// PEs busy in a full pass.
    pub active_pes: u64,
    /// Global-buffer reads: (ifmap values, weights).
    pub glb_reads: (u64, u64),
}

/// The array's parameters as `hw show` prints them.
pub fn describe(e: &Eyeriss) -> String {
    format!(
        "array       {} x {} PEs, row-stationary; scratchpads per PE: filter {}, ifmap {}, psum {} words\n",
        e.rows, e.cols, e.filter_spad, e.ifmap_spad, e.psum_spad
    )
}

/// Operand words each bus of the array's network moves per cycle, at the mode's widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusWords {
    /// Filter weights per cycle on the filter GIN.
    pub filter: u64,
    /// Ifmap values per cycle on the ifmap GIN.
    pub ifmap: u64,
    /// Partial sums per cycle on the psum GIN and on the GON.
    pub psum: u64,
}

impl BusWords {
    /// The buses of `e` at a mode of `weight_bits` x `activation_bits` (partial sums are kept
    /// at the activation width, as Eyeriss truncates products to 16 bits): at least one word.
    pub fn of(e: &Eyeriss, mode: &PrecisionMode) -> BusWords {
        let (wb, ab) = (u64::from(mode.weight_bits.max(1)), u64::from(mode.activation_bits.max(1)));
        BusWords {
            filter: (e.filter_bus_bits / wb).max(1),
            ifmap: (e.ifmap_bus_bits / ab).max(1),
            psum: (e.psum_bus_bits / ab).max(1),
        }
    }
}

/// The row-stationary mapping of a convolution: the papers' PE sets, and the scratchpad
/// blocking (`p`, `q`) with the fewest cycles (then the fewest global-buffer reads).
pub fn rs_mapping(e: &Eyeriss, bus: BusWords, w: &ConvWork) -> RsMapping {
    let (r, s, big_e, f) = (w.r.max(1), w.s.max(1), w.oh.max(1), w.ow.max(1));
    let (cg, mg, groups, n) = (w.cg().max(1), w.kg().max(1), w.groups.max(1), w.n.max(1));
    // Vertical and horizontal strides and dilations (a validated graph has them >= 1).
    let (u, uw, dh, dw) = (w.sh.max(1), w.sw.max(1), w.dh.max(1), w.dw.max(1));
    // The ifmap window of one channel must fit the ifmap scratchpad, its filter row the
    // filter scratchpad: a wider filter runs in pieces of `taps` columns.
    let taps = s.min(e.ifmap_spad).min(e.filter_spad).max(1);
    let tap_pieces = s.div_ceil(taps);
    let mut best: Option<(u64, u64, RsMapping)> = None;
    // The logical set is R filter rows x E ofmap rows (JSSC 2017 Sec. IV-A, "PE Set
    // Mapping"): a filter taller than the array is cut into row groups; a set of more PEs than
    // the array is strip-mined to R x e (the chip picks e by optimization: here every e is a
    // candidate); a smaller set wider than the array is cut into ceil(E / cols) segments; a
    // set that fits stays whole.
    let row_groups = r.div_ceil(e.rows);
    let set_rows = r.div_ceil(row_groups);
    let widths = if set_rows.saturating_mul(big_e) > e.rows * e.cols {
        1..=big_e.min(e.cols)
    } else {
        let w = big_e.div_ceil(big_e.div_ceil(e.cols));
        w..=w
    };
    let ifmap_cols = uw * (f - 1) + dw * (taps - 1) + 1;
    for strip in widths {
        let strips = big_e.div_ceil(strip);
        let slots = (e.rows / set_rows) * (e.cols / strip);
        // Ifmap values a strip reads per channel: its diagonal span of rows, its window columns.
        let ifmap_rows = u * (strip - 1) + dh * (set_rows - 1) + 1;
        for q in 1..=cg.min(e.ifmap_spad.min(e.filter_spad) / taps) {
            let cblocks = cg.div_ceil(q);
            let q = cg.div_ceil(cblocks);
            for p in 1..=mg.min(e.psum_spad).min(e.filter_spad / (q * taps)) {
                let mblocks = mg.div_ceil(p);
                let p = mg.div_ceil(mblocks);
                // Blocks of a pass: one strip of one (group, row group, tap piece, channel block,
                // filter block); the batch streams through each pass, reusing its filters.
                let blocks = groups
                    .saturating_mul(tap_pieces)
                    .saturating_mul(row_groups)
                    .saturating_mul(strips)
                    .saturating_mul(mblocks)
                    .saturating_mul(cblocks);
                let macs = p * q * taps;
                // The reduction's pieces (channel blocks, row groups, tap pieces).
                let pieces = cblocks.saturating_mul(row_groups).saturating_mul(tap_pieces);
                // One image through a pass of `k` blocks, filter blocks placed together so that
                // `t` of them share each ifmap value (one multicast on the ifmap GIN).
                // One pass of `k` blocks: `r` sets stacked in a column run `r` channel blocks
                // and add their psums up in the array (one set's top row feeds the next set's
                // bottom row), `t` run filter blocks on one ifmap (one multicast on the ifmap
                // GIN), the sets of one pass being `t x r` or fewer (JSSC 2017 Sec. IV-A, "Multiple
                // PE Sets in the PE Array"). The arrangement with the shortest pass is taken.
                // A pass first fills the filter scratchpads over the filter GIN (they hold the
                // pass's filters for the whole pass), then streams the batch; a column's rows
                // start one position apart (each waits for the psums of the row below).
                let pass = |k: u64| {
                    let mut best_pass: Option<(u64, u64)> = None;
                    for r in 1..=k.min(cblocks).min(e.rows / set_rows).max(1) {
                        let t = (k / r).min(mblocks).max(1);
                        let shared = k.div_ceil(t);
                        // Per position the `p q S` MACs (a PE's input psums, from the PE below or
                        // the psum GIN, start its accumulation); the window is primed once per row.
                        let compute = f.saturating_mul(macs).saturating_add(q * taps);
                        let ifmap = (shared * q * ifmap_rows).saturating_mul(ifmap_cols).div_ceil(bus.ifmap);
                        let out = (k.div_ceil(r) * p * strip).saturating_mul(f).div_ceil(bus.psum);
                        // Psums continue from the GLB on all but the first of the reduction's
                        // pieces (channel blocks, row groups, tap pieces).
                        let psum_in = out.saturating_mul(pieces.saturating_sub(r)) / pieces;
                        let per_image = compute.max(ifmap).max(out).max(psum_in);
                        let fill = (k * set_rows * macs).div_ceil(bus.filter) + (r * set_rows - 1) * macs;
                        let cycles = fill.saturating_add(n.saturating_mul(per_image));
                        if best_pass.is_none_or(|(c, _)| cycles < c) {
                            best_pass = Some((cycles, shared));
                        }
                    }
                    best_pass.unwrap_or((u64::MAX, k))
                };
                let (full, rem) = (blocks / slots, blocks % slots);
                let (full_cycles, full_shared) = pass(slots);
                let (rem_cycles, rem_shared) = if rem > 0 { pass(rem) } else { (0, 0) };
                let cycles = full.saturating_mul(full_cycles).saturating_add(rem_cycles);
                let strips_read = full.saturating_mul(full_shared).saturating_add(rem_shared);
                let ifmap = strips_read.saturating_mul(n * q * ifmap_rows).saturating_mul(ifmap_cols);
                let weights = blocks.saturating_mul(set_rows * macs);
                let glb = ifmap.saturating_add(weights);
                let better = match &best {
                    None => true,
                    Some((c, g, _)) => (cycles, glb) < (*c, *g),
                };
                if better {
                    let placed = slots.min(blocks);
                    let whole = placed / strips;
                    let active_pes = set_rows * (whole * big_e + (placed % strips) * strip);
                    let m = RsMapping {
                        set_rows,
                        row_groups,
                        strip,
                        strips,
                        slots,
                        p,
                        q,
                        taps,
                        tap_pieces,
                        blocks,
                        passes: blocks.div_ceil(slots),
                        cycles,
                        active_pes,
                        glb_reads: (ifmap, weights),
                    };
                    best = Some((cycles, glb, m));
                }
            }
        }
    }

    // Every loop runs at least once (all bounds are >= 1), so a mapping exists.
    best.map(|(_, _, m)| m).unwrap_or(RsMapping {
        set_rows: 1,
        row_groups: r,
        strip: 1,
        strips: big_e,
        slots: 1,
        p: 1,
        q: 1,
        taps,
        tap_pieces,
        blocks: u64::MAX,
        passes: u64::MAX,
        cycles: u64::MAX,
        active_pes: 1,
        glb_reads: (u64::MAX, u64::MAX),
    })
}

/// Compute figures of a convolution on the array: cycles of the row-stationary mapping in
/// the mode (one MAC per PE per cycle; the network's buses move words of the mode's widths),
/// scratchpad and global-buffer reads.
pub fn conv_compute(e: &Eyeriss, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
    let m = rs_mapping(e, BusWords::of(e, mode), w);
    let macs = w.macs().get();
    ComputeFigures {
        cycles: Cycles(m.cycles),
        buffer: OperandReads { inputs: m.glb_reads.0, weights: m.glb_reads.1 },
        pe_local: OperandReads { inputs: macs, weights: macs },
        array: None,
        active_pes: Some(m.active_pes),
        executed: w.macs(),
        // Each output leaves the array once per channel block, row group and tap piece.
        psum_passes: w.cg().max(1).div_ceil(m.q).saturating_mul(m.row_groups).saturating_mul(m.tap_pieces).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eyeriss() -> Eyeriss {
        Eyeriss {
            rows: 12,
            cols: 14,
            filter_spad: 224,
            ifmap_spad: 12,
            psum_spad: 24,
            filter_bus_bits: 64,
            ifmap_bus_bits: 16,
            psum_bus_bits: 64,
        }
    }

    /// The buses at 16 bits.
    const BUS: BusWords = BusWords { filter: 4, ifmap: 1, psum: 4 };

    fn conv(n: u64, c: u64, k: u64, groups: u64, rs: u64, stride: u64, ih: u64, oh: u64) -> ConvWork {
        ConvWork { n, ih, iw: ih, c, k, groups, r: rs, s: rs, sh: stride, sw: stride, dh: 1, dw: 1, oh, ow: oh }
    }

    /// AlexNet's CONV layers (the two-group original, 227x227) at batch 4.
    fn alexnet() -> [ConvWork; 5] {
        [
            conv(4, 3, 96, 1, 11, 4, 227, 55),
            conv(4, 96, 256, 2, 5, 1, 27, 27),
            conv(4, 256, 384, 1, 3, 1, 13, 13),
            conv(4, 384, 384, 2, 3, 1, 13, 13),
            conv(4, 384, 256, 2, 3, 1, 13, 13),
        ]
    }

    #[test]
    fn alexnet_sets_are_the_papers() {
        // JSSC 2017 Sec. IV-A: CONV1's 11 x 55 set is strip-mined to 11 x 7 (two side by
        // side), CONV2's 5 x 27 set is cut into segments of 14 and 13 stacked on the array,
        // CONV3-5's 3 x 13 sets are placed four times. (The strip width is searched; the
        // chip's 7 comes out of the search.)
        let e = eyeriss();
        let got: Vec<(u64, u64, u64)> =
            alexnet().iter().map(|w| rs_mapping(&e, BUS, w)).map(|m| (m.set_rows, m.strip, m.active_pes)).collect();
        assert_eq!(got, vec![(11, 7, 154), (5, 14, 135), (3, 13, 156), (3, 13, 156), (3, 13, 156)]);
    }

    #[test]
    fn scratchpads_bound_the_blocks_and_cycles_never_beat_the_active_pes() {
        let e = eyeriss();
        for w in alexnet() {
            let m = rs_mapping(&e, BUS, &w);
            assert!(m.p * m.q * m.taps <= e.filter_spad && m.q * m.taps <= e.ifmap_spad && m.p <= e.psum_spad);
            // Never faster than every active PE doing one MAC per cycle.
            assert!(m.cycles * m.active_pes >= w.macs().get(), "{m:?}");
        }
    }

    #[test]
    fn a_bigger_array_or_scratchpad_is_never_slower() {
        let e = eyeriss();
        for w in alexnet() {
            let base = rs_mapping(&e, BUS, &w).cycles;
            for bigger in [
                Eyeriss { rows: 24, ..e.clone() },
                Eyeriss { cols: 28, ..e.clone() },
                Eyeriss { filter_spad: 448, ..e.clone() },
                Eyeriss { ifmap_spad: 24, ..e.clone() },
                Eyeriss { psum_spad: 48, ..e.clone() },
            ] {
                assert!(rs_mapping(&bigger, BUS, &w).cycles <= base, "{bigger:?} {w:?}");
            }
        }
    }
}
