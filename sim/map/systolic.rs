//! Closed-form compute-cycle model of an `R x C` systolic array that agrees,
//! cycle for cycle, with SCALE-Sim 3.0.0 (`pip install scalesim==3.0.0`).
//!
//! This module is self-contained (std only) so that it can be wired into any
//! part of the crate.
//!
//! # Model
//!
//! A layer is lowered to a GEMM of an `Sr x T` operand times a `T x Sc`
//! operand ([`Gemm`]). What `Sr`, `Sc` and `T` mean depends on the
//! [`Dataflow`]; see [`lower_conv`] and [`lower_matmul`]. The array is used in
//! `folds = ceil(Sr / rows) * ceil(Sc / cols)` tiles, each tile ("fold") is run
//! to completion (fill, stream, drain) before the next one starts, and no fold
//! overlaps another.
//!
//! Per-fold length, in cycles (`R` = rows, `C` = cols):
//!
//! | dataflow | cycles per fold      |
//! |----------|----------------------|
//! | OS       | `T + R + C - 2`      |
//! | WS, IS   | `T + 2R + C - 2`     |
//!
//! and `compute_cycles = folds * per_fold - 1`.
//!
//! Where these come from in SCALE-Sim 3.0.0 (paths relative to the installed
//! `scalesim` package):
//!
//! * `compute/systolic_compute_os.py`, `create_ifmap_demand_mat` /
//!   `create_filter_demand_mat` / `create_ofmap_demand_mat` (lines ~257-439):
//!   each fold of the operand demand matrix has `T` useful rows, padded with
//!   `C - 1` (ifmap) or `R - 1` (filter) idle rows, then skewed by the array
//!   width/height, giving `T + R + C - 2` rows per fold for all three
//!   operands.
//! * `compute/systolic_compute_ws.py` (lines ~236-470) and
//!   `compute/systolic_compute_is.py` (lines ~218-380): the stationary operand
//!   is preloaded (`R` rows of prefix), then `T` streamed rows, then `C - 1`
//!   idle rows, and the stream is skewed by `R`, giving `2R + C + T - 2` rows
//!   per fold. The stationary-operand demand matrix is padded to the same
//!   length (`R + (R + C + T - 2)`).
//! * `memory/double_buffered_scratchpad_mem.py`, `service_memory_requests`
//!   (lines ~234-307): one demand row is issued per cycle, the row index
//!   starts at 0, and the reported "Total Cycles" is the largest cycle stamp
//!   at which an ofmap row was serviced, i.e. `rows_of_demand - 1 + stalls`.
//!   That is where the `- 1` comes from.
//! * `single_layer_sim.py`, `calc_report_data` (lines ~335-339): "Total
//!   Cycles" = the memory system's total, "Stall Cycles" is reported
//!   separately but is already *included* in "Total Cycles". In the default
//!   `InterfaceBandwidth = CALC` mode the reads hit with latency 1 and the
//!   ofmap buffer drains `C` words per cycle, so stalls are 0 in every case
//!   we have observed; `compute_cycles` here is `Total Cycles - Stall Cycles`.
//!
//! Reported percentages (see [`SystolicCompute`]):
//!
//! * "Mapping Efficiency %" is the mean over folds of
//!   `used_rows * used_cols / (R * C)`. Because the used rows of the row folds
//!   sum to `Sr` and the used cols of the column folds sum to `Sc`, the mean
//!   is `Sr * Sc / (R * C * folds)`.
//! * "Compute Util %" is the mean over folds of
//!   `used_rows * used_cols * T / (R * C * util_cycles)` where SCALE-Sim uses
//!   `util_cycles = shape[0] + shape[1] - 1` of one (already padded) demand
//!   matrix. For OS that is `T + R + C - 2` (= the fold length), but for WS
//!   and IS it is `T + 2R + 2C - 3`, i.e. `C - 1` *more* than the actual fold
//!   length (the width of the matrix is added on top of its already-skewed
//!   length). We reproduce that quirk. The mean is
//!   `Sr * Sc * T / (R * C * util_cycles * folds)`.
//! * "Overall Util %" = `MACs * 100 / (Total Cycles * R * C)` where `MACs` is
//!   the layer's true MAC count (see [`overall_utilization`]).
//!
//! SCALE-Sim sums per-fold floating-point values in order, so its
//! percentages can differ from these closed forms in the last few ulps
//! (relative error ~1e-13); cycle counts are exact integers.
//!
//! Everything here is O(1) and uses checked `u64` arithmetic: results that do
//! not fit in `u64` produce [`SystolicError::Overflow`] instead of panicking.

use std::fmt;

pub use crate::hw::Dataflow;

/// Errors from lowering or from the cycle model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystolicError {
    /// An array dimension, GEMM dimension, layer dimension or stride was 0.
    ZeroDimension(&'static str),
    /// The filter is larger than the ifmap (SCALE-Sim asserts on this too).
    FilterLargerThanIfmap,
    /// A result does not fit in `u64`.
    Overflow,
}

impl fmt::Display for SystolicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystolicError::ZeroDimension(what) => write!(f, "{what} must be at least 1"),
            SystolicError::FilterLargerThanIfmap => {
                f.write_str("filter is larger than the ifmap (no padding is modelled)")
            }
            SystolicError::Overflow => f.write_str("result does not fit in 64 bits"),
        }
    }
}

impl std::error::Error for SystolicError {}

/// The GEMM a layer lowers to for one dataflow: an `sr x t` operand times a
/// `t x sc` operand. `sr` is mapped onto array rows, `sc` onto array columns
/// and `t` is streamed through time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gemm {
    /// Spatial extent mapped on the array rows.
    pub sr: u64,
    /// Spatial extent mapped on the array columns.
    pub sc: u64,
    /// Temporal extent (reduction or streaming length).
    pub t: u64,
}

/// A convolution in SCALE-Sim's topology convention (no padding, NHWC, batch 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvShape {
    /// Input feature map height.
    pub ifmap_h: u64,
    /// Input feature map width.
    pub ifmap_w: u64,
    /// Filter height.
    pub filter_h: u64,
    /// Filter width.
    pub filter_w: u64,
    /// Input channels.
    pub channels: u64,
    /// Filters (output channels).
    pub num_filters: u64,
    /// Stride along height.
    pub stride_h: u64,
    /// Stride along width.
    pub stride_w: u64,
}

impl ConvShape {
    /// Output height and width. SCALE-Sim (`topology_utils.py`,
    /// `topo_calc_hyperparams`, lines ~285-286) uses
    /// `ceil((ifmap - filter + stride) / stride)` = `ceil((ifmap - filter) / stride) + 1`.
    /// There is no padding, but note the *ceil*: when `ifmap - filter` is not
    /// a multiple of the stride SCALE-Sim adds one more output row/column
    /// than a framework's "valid" convolution (`floor(..) + 1`) would; the
    /// extra window hangs off the ifmap edge and its missing operands are
    /// simply idle (address -1) in `compute/operand_matrix.py`.
    pub fn ofmap_dims(&self) -> Result<(u64, u64), SystolicError> {
        Ok((
            ofmap_dim(self.ifmap_h, self.filter_h, self.stride_h)?,
            ofmap_dim(self.ifmap_w, self.filter_w, self.stride_w)?,
        ))
    }

    /// Output pixels per filter (`ofmap_h * ofmap_w`).
    pub fn ofmap_pixels(&self) -> Result<u64, SystolicError> {
        let (h, w) = self.ofmap_dims()?;
        h.checked_mul(w).ok_or(SystolicError::Overflow)
    }

    /// Convolution window size `filter_h * filter_w * channels`.
    pub fn window(&self) -> Result<u64, SystolicError> {
        if self.channels == 0 {
            return Err(SystolicError::ZeroDimension("channels"));
        }
        self.filter_h
            .checked_mul(self.filter_w)
            .and_then(|x| x.checked_mul(self.channels))
            .ok_or(SystolicError::Overflow)
    }

    /// True MAC count `ofmap_pixels * num_filters * window` (SCALE-Sim's
    /// `num_compute`, used for "Overall Util %").
    pub fn macs(&self) -> Result<u64, SystolicError> {
        let window = self.window()?;
        self.ofmap_pixels()?
            .checked_mul(self.num_filters)
            .and_then(|x| x.checked_mul(window))
            .ok_or(SystolicError::Overflow)
    }

    /// One of the per-channel layers SCALE-Sim creates for a depthwise row.
    ///
    /// A topology row whose *name contains `DP`* is expanded
    /// (`topology_utils.py`, `load_arrays_conv`, line ~153) into `channels`
    /// separate layers, each identical to the row but with `channels = 1`
    /// (`num_filters` is kept as written, so a DP row should be written with
    /// `Num Filter = 1` to model a true depthwise conv). Each one is simulated
    /// and reported as its own layer; the total is `channels` times this
    /// layer's cycles.
    pub fn depthwise_channel(&self) -> ConvShape {
        ConvShape { channels: 1, ..*self }
    }
}

/// `ceil((ifmap - filter + stride) / stride)`, SCALE-Sim's no-padding output
/// size (which rounds *up*, see [`ConvShape::ofmap_dims`]). Errors if the
/// filter does not fit or a dimension is zero.
pub fn ofmap_dim(ifmap: u64, filter: u64, stride: u64) -> Result<u64, SystolicError> {
    if stride == 0 {
        return Err(SystolicError::ZeroDimension("stride"));
    }
    if filter == 0 {
        return Err(SystolicError::ZeroDimension("filter size"));
    }
    if filter > ifmap {
        return Err(SystolicError::FilterLargerThanIfmap);
    }
    Ok(ceil_div(ifmap - filter, stride) + 1)
}

/// Lower a convolution to the GEMM SCALE-Sim maps for `df`
/// (`topology_utils.py`, `calc_spatio_temporal_params`, and the operand
/// shapes used in `compute/systolic_compute_*.py` `set_params`):
///
/// * OS: `Sr` = output pixels, `Sc` = filters, `T` = window (`R*S*C`)
/// * WS: `Sr` = window, `Sc` = filters, `T` = output pixels
/// * IS: `Sr` = window, `Sc` = output pixels, `T` = filters
pub fn lower_conv(df: Dataflow, conv: &ConvShape) -> Result<Gemm, SystolicError> {
    let px = conv.ofmap_pixels()?;
    let win = conv.window()?;
    let k = conv.num_filters;
    if k == 0 {
        return Err(SystolicError::ZeroDimension("num_filters"));
    }
    Ok(lower_mnk(df, px, k, win))
}

/// Lower a plain matrix multiply `(M x K) * (K x N)`, i.e. one row `name, M, N, K,`
/// of a SCALE-Sim GEMM-format topology. SCALE-Sim turns such a row into a
/// conv with ifmap `M x K`, filter `1 x K`, 1 channel, `N` filters, stride 1
/// (`topology_utils.py`, `load_arrays_gemm`, line ~110), so the output has
/// `M` pixels and the window is `K`:
///
/// * OS: `(Sr, Sc, T) = (M, N, K)`
/// * WS: `(K, N, M)`
/// * IS: `(K, M, N)`
pub fn lower_matmul(df: Dataflow, m: u64, n: u64, k: u64) -> Gemm {
    lower_mnk(df, m, n, k)
}

fn lower_mnk(df: Dataflow, pixels: u64, filters: u64, window: u64) -> Gemm {
    match df {
        Dataflow::Os => Gemm { sr: pixels, sc: filters, t: window },
        Dataflow::Ws => Gemm { sr: window, sc: filters, t: pixels },
        Dataflow::Is => Gemm { sr: window, sc: pixels, t: filters },
    }
}

/// Compute-side numbers for one layer, as in SCALE-Sim's COMPUTE_REPORT.csv.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystolicCompute {
    /// "Total Cycles" minus "Stall Cycles" (= "Total Cycles" in CALC mode).
    pub compute_cycles: u64,
    /// Number of array tiles, `ceil(Sr/R) * ceil(Sc/C)`.
    pub folds: u64,
    /// "Mapping Efficiency %", in percent (0..=100).
    pub mapping_efficiency: f64,
    /// "Compute Util %", in percent (0..=100).
    pub compute_utilization: f64,
}

/// Cycles of one fold (see the module docs for the derivation).
pub fn cycles_per_fold(df: Dataflow, rows: u64, cols: u64, t: u64) -> Result<u64, SystolicError> {
    let base = match df {
        Dataflow::Os => rows.checked_add(cols),
        Dataflow::Ws | Dataflow::Is => rows.checked_mul(2).and_then(|r2| r2.checked_add(cols)),
    };
    base.and_then(|b| b.checked_add(t))
        .map(|x| x - 2) // rows, cols, t >= 1 so x >= 3
        .ok_or(SystolicError::Overflow)
}

/// The per-fold cycle count SCALE-Sim divides by for "Compute Util %":
/// equal to the fold length for OS, `C - 1` longer for WS and IS.
fn util_cycles_per_fold(df: Dataflow, rows: u64, cols: u64, t: u64) -> Result<u64, SystolicError> {
    let fold = cycles_per_fold(df, rows, cols, t)?;
    match df {
        Dataflow::Os => Ok(fold),
        Dataflow::Ws | Dataflow::Is => fold.checked_add(cols - 1).ok_or(SystolicError::Overflow),
    }
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a / b + u64::from(a % b != 0)
}

/// SCALE-Sim 3.0.0's compute cycles, fold count, mapping efficiency and
/// compute utilisation for `gemm` on a `rows x cols` array, in O(1).
///
/// `compute_cycles = ceil(Sr/R) * ceil(Sc/C) * per_fold - 1` with
/// `per_fold = T + R + C - 2` (OS) or `T + 2R + C - 2` (WS, IS).
pub fn compute(df: Dataflow, rows: u64, cols: u64, gemm: Gemm) -> Result<SystolicCompute, SystolicError> {
    if rows == 0 {
        return Err(SystolicError::ZeroDimension("array rows"));
    }
    if cols == 0 {
        return Err(SystolicError::ZeroDimension("array cols"));
    }
    if gemm.sr == 0 || gemm.sc == 0 || gemm.t == 0 {
        return Err(SystolicError::ZeroDimension("GEMM dimension"));
    }
    let folds = ceil_div(gemm.sr, rows).checked_mul(ceil_div(gemm.sc, cols)).ok_or(SystolicError::Overflow)?;
    let per_fold = cycles_per_fold(df, rows, cols, gemm.t)?;
    let compute_cycles = folds.checked_mul(per_fold).ok_or(SystolicError::Overflow)? - 1;

    // Percentages in f64, mirroring SCALE-Sim's float averages.
    let pes = rows as f64 * cols as f64;
    let used = gemm.sr as f64 * gemm.sc as f64;
    let mapping_efficiency = used / (pes * folds as f64) * 100.0;
    let util_cycles = util_cycles_per_fold(df, rows, cols, gemm.t)? as f64;
    let compute_utilization = used * gemm.t as f64 / (pes * util_cycles * folds as f64) * 100.0;

    Ok(SystolicCompute { compute_cycles, folds, mapping_efficiency, compute_utilization })
}

/// "Overall Util %" as SCALE-Sim computes it (`single_layer_sim.py`,
/// `calc_report_data`, line ~337): `macs * 100 / (total_cycles * R * C)`,
/// where `total_cycles` is the reported "Total Cycles" (stalls included) and
/// `macs` is the layer's true MAC count ([`ConvShape::macs`], or `M*N*K` for
/// a GEMM row). Returns `f64::INFINITY`/NaN for `total_cycles == 0` like a
/// plain division would.
pub fn overall_utilization(macs: u64, total_cycles: u64, rows: u64, cols: u64) -> f64 {
    macs as f64 * 100.0 / (total_cycles as f64 * rows as f64 * cols as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn parse_dataflow() {
        assert_eq!("os".parse::<Dataflow>().unwrap(), Dataflow::Os);
        assert_eq!("is".parse::<Dataflow>().unwrap(), Dataflow::Is);
        // Exactly SCALE-Sim's spelling: it compares case-sensitively.
        assert!(" WS ".parse::<Dataflow>().is_err());
        assert!("Is".parse::<Dataflow>().is_err());
        assert!("rs".parse::<Dataflow>().is_err());
        assert_eq!(Dataflow::Ws.to_string(), "ws");
    }

    #[test]
    fn ofmap_no_padding() {
        assert_eq!(ofmap_dim(7, 3, 1).unwrap(), 5);
        assert_eq!(ofmap_dim(9, 3, 2).unwrap(), 4);
        // ceil((13 - 5 + 3) / 3) = ceil(11 / 3) = 4, one more than floor(8 / 3) + 1.
        assert_eq!(ofmap_dim(13, 5, 3).unwrap(), 4);
        assert_eq!(ofmap_dim(10, 4, 3).unwrap(), 3);
        assert_eq!(ofmap_dim(224, 7, 2).unwrap(), 110); // floor would give 109
        assert_eq!(ofmap_dim(u64::MAX, 1, 1).unwrap(), u64::MAX);
        assert_eq!(ofmap_dim(5, 5, 1).unwrap(), 1);
        assert_eq!(ofmap_dim(3, 4, 1), Err(SystolicError::FilterLargerThanIfmap));
        assert!(ofmap_dim(3, 1, 0).is_err());
    }

    #[test]
    fn lowering() {
        // 7x7x5 ifmap, 3x3 filters, 10 of them: 25 output pixels, window 45.
        let c = ConvShape {
            ifmap_h: 7,
            ifmap_w: 7,
            filter_h: 3,
            filter_w: 3,
            channels: 5,
            num_filters: 10,
            stride_h: 1,
            stride_w: 1,
        };
        assert_eq!(lower_conv(Dataflow::Os, &c).unwrap(), Gemm { sr: 25, sc: 10, t: 45 });
        assert_eq!(lower_conv(Dataflow::Ws, &c).unwrap(), Gemm { sr: 45, sc: 10, t: 25 });
        assert_eq!(lower_conv(Dataflow::Is, &c).unwrap(), Gemm { sr: 45, sc: 25, t: 10 });
        assert_eq!(c.macs().unwrap(), 25 * 10 * 45);
        assert_eq!(c.depthwise_channel().window().unwrap(), 9);
        assert_eq!(lower_matmul(Dataflow::Is, 2, 3, 4), Gemm { sr: 4, sc: 2, t: 3 });
    }

    // Hand cases checked against SCALE-Sim 3.0.0 runs (layer 7x7x5, 3x3, 10
    // filters, stride 1) on 8x4 and 4x8 arrays.
    #[test]
    fn os_hand_case() {
        // 8x4: folds = ceil(25/8) * ceil(10/4) = 4 * 3 = 12, fold = 45 + 8 + 4 - 2 = 55.
        let r = compute(Dataflow::Os, 8, 4, Gemm { sr: 25, sc: 10, t: 45 }).unwrap();
        assert_eq!(r.folds, 12);
        assert_eq!(r.compute_cycles, 12 * 55 - 1); // SCALE-Sim: 659
        assert!(close(r.mapping_efficiency, 65.10416666666666));
        assert!(close(r.compute_utilization, 53.26704545454546));
        assert!(close(overall_utilization(25 * 10 * 45, 659, 8, 4), 53.34787556904401));
    }

    #[test]
    fn ws_hand_case() {
        // 8x4: folds = 6 * 3 = 18, fold = 25 + 16 + 4 - 2 = 43.
        let r = compute(Dataflow::Ws, 8, 4, Gemm { sr: 45, sc: 10, t: 25 }).unwrap();
        assert_eq!(r.folds, 18);
        assert_eq!(r.compute_cycles, 773);
        assert!(close(r.mapping_efficiency, 78.125));
        assert!(close(r.compute_utilization, 42.45923913043478));
        // 4x8: folds = 12 * 2 = 24, fold = 25 + 8 + 8 - 2 = 39.
        let r = compute(Dataflow::Ws, 4, 8, Gemm { sr: 45, sc: 10, t: 25 }).unwrap();
        assert_eq!(r.compute_cycles, 935);
        assert!(close(r.compute_utilization, 31.844429347826104));
    }

    #[test]
    fn is_hand_case() {
        // 8x4: folds = 6 * 7 = 42, fold = 10 + 16 + 4 - 2 = 28.
        let r = compute(Dataflow::Is, 8, 4, Gemm { sr: 45, sc: 25, t: 10 }).unwrap();
        assert_eq!(r.compute_cycles, 1175);
        assert!(close(r.mapping_efficiency, 83.70535714285714));
        assert!(close(r.compute_utilization, 27.00172811059906));
    }

    #[test]
    fn single_mac() {
        let g = Gemm { sr: 1, sc: 1, t: 1 };
        assert_eq!(compute(Dataflow::Os, 1, 1, g).unwrap().compute_cycles, 0);
        assert_eq!(compute(Dataflow::Ws, 1, 1, g).unwrap().compute_cycles, 1);
        let r = compute(Dataflow::Os, 8, 8, g).unwrap();
        assert_eq!(r.compute_cycles, 14);
        assert!(close(r.mapping_efficiency, 100.0 / 64.0));
    }

    #[test]
    fn errors_instead_of_panics() {
        let g = Gemm { sr: 1, sc: 1, t: 1 };
        assert!(compute(Dataflow::Os, 0, 8, g).is_err());
        assert!(compute(Dataflow::Os, 8, 0, g).is_err());
        assert!(compute(Dataflow::Os, 8, 8, Gemm { sr: 0, ..g }).is_err());
        let huge = Gemm { sr: u64::MAX, sc: u64::MAX, t: u64::MAX };
        for df in [Dataflow::Os, Dataflow::Ws, Dataflow::Is] {
            assert_eq!(compute(df, 1, 1, huge), Err(SystolicError::Overflow));
            assert_eq!(compute(df, u64::MAX, u64::MAX, Gemm { sr: 1, sc: 1, t: 1 }), Err(SystolicError::Overflow));
        }
        // Large but representable.
        let r = compute(Dataflow::Os, 128, 128, Gemm { sr: 1 << 30, sc: 1 << 20, t: 1 << 12 }).unwrap();
        assert_eq!(r.folds, (1 << 23) * (1 << 13));
        let c = ConvShape {
            ifmap_h: u64::MAX,
            ifmap_w: u64::MAX,
            filter_h: 1,
            filter_w: 1,
            channels: 1,
            num_filters: 1,
            stride_h: 1,
            stride_w: 1,
        };
        assert_eq!(c.ofmap_pixels(), Err(SystolicError::Overflow));
    }
}
