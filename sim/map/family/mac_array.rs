//! The MAC-array family (`kind = "mac_array"`): a rows x cols systolic array run with one
//! dataflow. A convolution is lowered to GEMMs ([`systolic_gemms`]) whose cycles are
//! SCALE-Sim 3.0.0's ([`crate::map::systolic`]); the operand reads are SCALE-Sim's SRAM
//! read counts. Memory behaviour is the default one (see [`super::Family::dma`]).

use super::{ArrayUse, ComputeFigures, OperandReads};
use crate::hw::{Dataflow, DepthwiseMapping, MacArray, PrecisionMode};
use crate::map::systolic::{self, Gemm};
use crate::map::work::ConvWork;
use crate::units::Cycles;

/// SCALE-Sim compatibility ([`DepthwiseMapping::PerGroup`], an array read from a `.cfg`):
/// SCALE-Sim reduces the whole input-channel dimension in the array and writes each output
/// once, so its mapping has no input-channel split -- unless nothing else fits, when the
/// returned array (the native mapping) is searched instead. `None` for the native mapping.
pub fn whole_input_channels(m: &MacArray) -> Option<MacArray> {
    match m.depthwise {
        DepthwiseMapping::PerGroup => Some(MacArray { depthwise: DepthwiseMapping::Native, ..m.clone() }),
        DepthwiseMapping::Native => None,
    }
}

/// The array's parameters as `hw show` prints them.
pub fn describe(m: &MacArray) -> String {
    format!(
        "array       {} x {} PEs of {}-bit multipliers, {} dataflow\n",
        m.rows,
        m.cols,
        m.pe_bits,
        m.dataflow.name()
    )
}

/// Lowering of a conv to the GEMMs a systolic array runs, and how many times each runs.
/// Dense: one GEMM with Sr x T and T x Sc per dataflow (SCALE-Sim's lowering).
/// Depthwise / grouped on OS: channels sit on columns, each PE reduces its own channel's
/// window (T = R*S*Cg): one GEMM P x (G*Kg) -- native, no zeros. The price is the input
/// feed: columns of different groups cannot share a row's input, so each PE reads its own
/// operand from the ifmap buffer (counted in [`conv_compute`]; the buffer port bounds it).
/// On WS and IS the inputs (or filters) are broadcast along a row to all columns, so two
/// groups can never share a fold: each group runs as its own GEMM, G times.
pub fn systolic_gemms(df: Dataflow, w: &ConvWork) -> (Gemm, u64) {
    let p = w.pixels();
    let rsc = w.r * w.s * w.cg();
    if w.groups <= 1 {
        let g = match df {
            Dataflow::Os => Gemm { sr: p, sc: w.k, t: rsc },
            Dataflow::Ws => Gemm { sr: rsc, sc: w.k, t: p },
            Dataflow::Is => Gemm { sr: rsc, sc: p, t: w.k },
        };
        return (g, 1);
    }
    match df {
        Dataflow::Os => (Gemm { sr: p, sc: w.k, t: rsc }, 1),
        Dataflow::Ws => (Gemm { sr: rsc, sc: w.kg(), t: p }, w.groups),
        Dataflow::Is => (Gemm { sr: rsc, sc: p, t: w.kg() }, w.groups),
    }
}

/// SCALE-Sim's mapping of a depthwise / grouped conv (compatibility mode): every group is a
/// layer of its own, run one after another, on every dataflow -- a topology `DP` row of `C`
/// channels is `C` one-channel layers. Only OS differs from [`systolic_gemms`] (which packs
/// all groups' outputs on the columns of one GEMM).
pub fn systolic_gemms_per_group(df: Dataflow, w: &ConvWork) -> (Gemm, u64) {
    if w.groups <= 1 {
        return systolic_gemms(df, w);
    }
    let (p, rsc) = (w.pixels(), w.r * w.s * w.cg());
    match df {
        Dataflow::Os => (Gemm { sr: p, sc: w.kg(), t: rsc }, w.groups),
        Dataflow::Ws | Dataflow::Is => systolic_gemms(df, w),
    }
}

/// The GEMM a MAC array runs for a conv in a precision mode, how many times it runs one
/// after another (groups mapped separately), and the slow-down factor of a mode that needs
/// several passes per MAC.
pub fn mac_array_gemm(m: &MacArray, mode: &PrecisionMode, w: &ConvWork) -> (Gemm, u64, u64) {
    let (gemm, repeats) = match m.depthwise {
        DepthwiseMapping::Native => systolic_gemms(m.dataflow, w),
        DepthwiseMapping::PerGroup => systolic_gemms_per_group(m.dataflow, w),
    };
    let pes = m.rows * m.cols;
    // MACs per PE per cycle in this mode: > 1 when narrow operands fuse (bit-fusion), < 1
    // when a wide product takes several passes.
    let (per_pe_num, per_pe_den) = (mode.macs_per_cycle, pes);
    if per_pe_num >= per_pe_den {
        let f = per_pe_num / per_pe_den;
        // Each PE reduces f products per cycle: the reduction dimension shrinks by f.
        let g = match m.dataflow {
            Dataflow::Os => Gemm { t: gemm.t.div_ceil(f), ..gemm },
            Dataflow::Ws | Dataflow::Is => Gemm { sr: gemm.sr.div_ceil(f), ..gemm },
        };
        (g, repeats, 1)
    } else {
        (gemm, repeats, per_pe_den.div_ceil(per_pe_num))
    }
}

/// Compute figures of a convolution on a MAC array.
pub fn conv_compute(m: &MacArray, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
    let (gemm, repeats, slow) = mac_array_gemm(m, mode, w);
    // Dimensions of a validated graph are non-zero; only an overflow can fail, and it
    // saturates (the report then shows u64::MAX cycles rather than a wrapped count).
    let sc = systolic::compute(m.dataflow, m.rows, m.cols, gemm).ok();
    let cycles = sc.map(|c| c.compute_cycles).unwrap_or(u64::MAX);
    let folds_r = gemm.sr.div_ceil(m.rows);
    let folds_c = gemm.sc.div_ceil(m.cols);
    // SCALE-Sim's SRAM read counts: the streamed operand is read once per fold of the other
    // dimension, the stationary one once.
    let (a, b) = (gemm.sr.saturating_mul(gemm.t), gemm.sc.saturating_mul(gemm.t));
    // Native OS grouped conv: the columns of one fold hold different groups, so a row's
    // input can no longer be shared along the row -- every PE is fed its own group's window
    // element, and the ifmap buffer is read once per PE (`Sr x T x Sc`), which the buffer
    // port then bounds (see `pipeline::port_cycles`).
    let per_pe_inputs = m.dataflow == Dataflow::Os && w.groups > 1 && repeats == 1;
    let (input_reads, weight_reads) = match m.dataflow {
        Dataflow::Os if per_pe_inputs => (a.saturating_mul(gemm.sc), b.saturating_mul(folds_r)),
        Dataflow::Os => (a.saturating_mul(folds_c), b.saturating_mul(folds_r)),
        Dataflow::Ws => (gemm.t.saturating_mul(gemm.sr).saturating_mul(folds_c), gemm.sr * gemm.sc),
        Dataflow::Is => (gemm.sr * gemm.sc, gemm.t.saturating_mul(gemm.sr).saturating_mul(folds_c)),
    };
    // Output stationary: each PE keeps its output's sum over the whole reduction. Weight and
    // input stationary: the reduction runs down the rows, so each of its row folds sends
    // every output it touches out of the array as a partial sum.
    let psum_passes = match m.dataflow {
        Dataflow::Os => 1,
        Dataflow::Ws | Dataflow::Is => folds_r.max(1),
    };
    ComputeFigures {
        psum_passes,
        cycles: Cycles(cycles.saturating_mul(repeats).saturating_mul(slow)),
        buffer: OperandReads {
            inputs: input_reads.saturating_mul(repeats),
            weights: weight_reads.saturating_mul(repeats),
        },
        pe_local: OperandReads::default(),
        executed: w.macs(),
        active_pes: None,
        array: sc.map(|c| ArrayUse {
            mapping_efficiency: c.mapping_efficiency,
            compute_utilization: c.compute_utilization / slow as f64,
        }),
    }
}
