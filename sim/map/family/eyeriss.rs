//! The Eyeriss family (`kind = "eyeriss"`): a rows x cols spatial array of PEs with private
//! scratchpads running the row-stationary (RS) dataflow of Chen, Emer and Sze (ISCA 2016,
//! "Eyeriss: A Spatial Architecture for Energy-Efficient Dataflow for CNNs") as the chip of
//! Chen et al. (JSSC 52(1), 2017) runs it. Memory behaviour (the global buffer filled by
//! DMA, tiles double buffered) is the default one (see [`super::Family::dma`]).
//!
//! The mapping, per 2-D convolution of one image, one filter and one channel:
//! - a *logical PE set* of R' filter rows x E ofmap rows: PE (i, j) runs the 1-D convolution
//!   primitive of filter row i over ifmap row i + U*j, producing one row of F partial sums,
//!   and the R' rows of a column add up vertically (PE to PE) into ofmap row j;
//! - a set wider than the physical columns is cut into `n_s = ceil(E / cols)` strips of width
//!   `w = ceil(E / n_s)` (folding); a filter taller than the rows is cut into
//!   `ceil(R / rows)` row groups whose partial sums meet in the global buffer; a set that
//!   fits is never cut;
//! - strips are placed side by side and above each other, `floor(rows / R') x floor(cols / w)`
//!   at once (replication), each running another image, filter block or channel block;
//! - each PE keeps `p` filters x `q` channels of its filter row in the filter scratchpad
//!   (`p q S <= filter_spad`), a sliding window of `q S` ifmap values in the ifmap scratchpad
//!   (`q S <= ifmap_spad`) and the `p` partial sums of its current output position in the
//!   partial-sum scratchpad (`p <= psum_spad`).
//!
//! A PE does one MAC per cycle. Per output position it runs `p q S` MACs, then adds the `p`
//! partial sums arriving from the PE below into its own and passes them up (`p` cycles on the
//! same adder); the ifmap window slides by the horizontal stride, `q U` new values arriving
//! one per cycle (a position can take no less). Before a primitive block starts, the filter
//! scratchpad is filled (`p q S` words, one per cycle) and the ifmap window primed (`q S`).
//! The blocking (`p`, `q`) is the one with the fewest cycles, then the fewest global-buffer
//! reads: every candidate depends on the layer and the scratchpads only, so a larger
//! scratchpad never runs a layer slower, and a larger array only places more strips at once.
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
    /// Primitive blocks, each run by a strip: images x groups x row groups x tap pieces x
    /// strips x filter blocks x channel blocks.
    pub blocks: u64,
    /// Passes of the array: `ceil(blocks / slots)`.
    pub passes: u64,
    /// Cycles of one pass (one primitive block on each PE).
    pub pass_cycles: u64,
    /// PEs busy in a full pass.
    pub active_pes: u64,
    /// Global-buffer reads: (ifmap values, weights).
    pub glb_reads: (u64, u64),
}

impl RsMapping {
    /// Compute cycles of the layer.
    pub fn cycles(&self) -> u64 {
        self.passes.saturating_mul(self.pass_cycles)
    }
}

/// The array's parameters as `hw show` prints them.
pub fn describe(e: &Eyeriss) -> String {
    format!(
        "array       {} x {} PEs, row-stationary; scratchpads per PE: filter {}, ifmap {}, psum {} words\n",
        e.rows, e.cols, e.filter_spad, e.ifmap_spad, e.psum_spad
    )
}

/// The row-stationary mapping of a convolution: the papers' PE sets, and the scratchpad
/// blocking (`p`, `q`) with the fewest cycles (then the fewest global-buffer reads).
pub fn rs_mapping(e: &Eyeriss, w: &ConvWork) -> RsMapping {
    let (r, s, big_e, f) = (w.r.max(1), w.s.max(1), w.oh.max(1), w.ow.max(1));
    let (cg, mg, groups, n) = (w.cg().max(1), w.kg().max(1), w.groups.max(1), w.n.max(1));
    // Vertical and horizontal strides and dilations (a validated graph has them >= 1).
    let (u, uw, dh, dw) = (w.sh.max(1), w.sw.max(1), w.dh.max(1), w.dw.max(1));
    // The ifmap window of one channel must fit the ifmap scratchpad, its filter row the
    // filter scratchpad: a wider filter runs in pieces of `taps` columns.
    let taps = s.min(e.ifmap_spad).min(e.filter_spad).max(1);
    let tap_pieces = s.div_ceil(taps);
    let base = n.saturating_mul(groups).saturating_mul(tap_pieces);
    let mut best: Option<(u64, u64, RsMapping)> = None;
    // The logical set is R filter rows x E ofmap rows (ISCA 2016): a filter taller than the
    // array is cut into row groups, a set wider than the array into strips; nothing else is
    // cut (the papers' mappings of AlexNet keep every set that fits whole).
    let row_groups = r.div_ceil(e.rows);
    let set_rows = r.div_ceil(row_groups);
    let strips = big_e.div_ceil(e.cols);
    let strip = big_e.div_ceil(strips);
    let slots = (e.rows / set_rows) * (e.cols / strip);
    // Ifmap rows a strip reads: its diagonal span.
    let ifmap_rows = u * (strip - 1) + dh * (set_rows - 1) + 1;
    let ifmap_cols = uw * (f - 1) + dw * (taps - 1) + 1;
    for q in 1..=cg.min(e.ifmap_spad.min(e.filter_spad) / taps) {
        let cblocks = cg.div_ceil(q);
        let q = cg.div_ceil(cblocks);
        for p in 1..=mg.min(e.psum_spad).min(e.filter_spad / (q * taps)) {
            let mblocks = mg.div_ceil(p);
            let p = mg.div_ceil(mblocks);
            let blocks =
                base.saturating_mul(row_groups).saturating_mul(strips).saturating_mul(mblocks).saturating_mul(cblocks);
            let passes = blocks.div_ceil(slots);
            let macs = p * q * taps;
            // Per position: the MACs and the vertical psum accumulation, or the
            // window's new values arriving one per cycle, whichever is longer.
            let position = (macs + p).max(q * uw);
            let pass_cycles = f.saturating_mul(position).saturating_add(macs).saturating_add(q * taps);
            let cycles = passes.saturating_mul(pass_cycles);
            let ifmap = blocks.saturating_mul(q * ifmap_rows).saturating_mul(ifmap_cols);
            let weights = blocks.saturating_mul(macs * set_rows);
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
                    passes,
                    pass_cycles,
                    active_pes,
                    glb_reads: (ifmap, weights),
                };
                best = Some((cycles, glb, m));
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
        pass_cycles: 1,
        active_pes: 1,
        glb_reads: (u64::MAX, u64::MAX),
    })
}

/// Compute figures of a convolution on the array: cycles of the row-stationary mapping in
/// any mode (one MAC per PE per cycle), scratchpad and global-buffer reads.
pub fn conv_compute(e: &Eyeriss, _mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
    let m = rs_mapping(e, w);
    let macs = w.macs().get();
    ComputeFigures {
        cycles: Cycles(m.cycles()),
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
        Eyeriss { rows: 12, cols: 14, filter_spad: 224, ifmap_spad: 12, psum_spad: 24 }
    }

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
        // ISCA 2016 / JSSC 2017: CONV1's 11 x 55 set runs in strips of 11 x 14, CONV2's
        // 5 x 27 set is cut in two strips stacked on the array, CONV3-5's 3 x 13 sets are
        // replicated four times.
        let e = eyeriss();
        let got: Vec<(u64, u64, u64)> =
            alexnet().iter().map(|w| rs_mapping(&e, w)).map(|m| (m.set_rows, m.strip, m.active_pes)).collect();
        assert_eq!(got, vec![(11, 14, 154), (5, 14, 135), (3, 13, 156), (3, 13, 156), (3, 13, 156)]);
    }

    #[test]
    fn scratchpads_bound_the_blocks_and_cycles_never_beat_the_active_pes() {
        let e = eyeriss();
        for w in alexnet() {
            let m = rs_mapping(&e, &w);
            assert!(m.p * m.q * m.taps <= e.filter_spad && m.q * m.taps <= e.ifmap_spad && m.p <= e.psum_spad);
            // Never faster than every active PE doing one MAC per cycle.
            assert!(m.cycles() * m.active_pes >= w.macs().get(), "{m:?}");
        }
    }

    #[test]
    fn a_bigger_array_or_scratchpad_is_never_slower() {
        let e = eyeriss();
        for w in alexnet() {
            let base = rs_mapping(&e, &w).cycles();
            for bigger in [
                Eyeriss { rows: 24, ..e.clone() },
                Eyeriss { cols: 28, ..e.clone() },
                Eyeriss { filter_spad: 448, ..e.clone() },
                Eyeriss { ifmap_spad: 24, ..e.clone() },
                Eyeriss { psum_spad: 48, ..e.clone() },
            ] {
                assert!(rs_mapping(&bigger, &w).cycles() <= base, "{bigger:?} {w:?}");
            }
        }
    }
}
