//! How each accelerator family computes a convolution: whole-layer compute cycles at its
//! array-edge utilization, and the operand reads its datapath makes from on-chip buffers.
//! (Memory, tiling and timing are family-independent: see [`super::tiling`] and
//! [`crate::simulate`].)

pub use super::dsp::{dsp_kernel_efficiency, DspKernel, LoopShape};
use super::systolic::{self, Gemm};
use super::work::ConvWork;
use crate::hw::{Dataflow, DepthwiseMapping, Family, HwDesc, MacArray, Nvdla, PrecisionMode};
use crate::simulate::{Dma, TileStream};
use crate::units::Cycles;

/// Per-layer compute figures of a family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComputeFigures {
    /// Cycles the compute units need, with no memory stalls.
    pub cycles: Cycles,
    /// Input-activation elements the datapath reads from its buffer.
    pub input_reads: u64,
    /// Weight elements the datapath reads from its buffer.
    pub weight_reads: u64,
}

/// Compute figures of a convolution on a family in a precision mode.
pub fn conv_compute(family: &Family, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
    match family {
        Family::MacArray(m) => mac_array(m, mode, w),
        Family::Nvdla(n) => nvdla(n, mode, w),
        Family::Dsp(d) => super::dsp::conv_compute(d, mode, w),
    }
}

/// Lowering of a conv to the GEMMs a systolic array runs, and how many times each runs.
/// Dense: one GEMM with Sr x T and T x Sc per dataflow (SCALE-Sim's lowering).
/// Depthwise / grouped on OS: channels sit on columns, each PE reduces its own channel's
/// window (T = R*S*Cg): one GEMM P x (G*Kg) -- native, no zeros. The price is the input
/// feed: columns of different groups cannot share a row's input, so each PE reads its own
/// operand from the ifmap buffer (counted in `mac_array`; the buffer port bounds it). On WS and IS the inputs (or
/// filters) are broadcast along a row to all columns, so two groups can never share a fold:
/// each group runs as its own GEMM, G times.
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

/// The systolic dataflow of a MAC array.
pub fn systolic_dataflow(m: &MacArray) -> systolic::Dataflow {
    match m.dataflow {
        Dataflow::Os => systolic::Dataflow::OutputStationary,
        Dataflow::Ws => systolic::Dataflow::WeightStationary,
        Dataflow::Is => systolic::Dataflow::InputStationary,
    }
}

fn mac_array(m: &MacArray, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
    let (gemm, repeats, slow) = mac_array_gemm(m, mode, w);
    let df = systolic_dataflow(m);
    // Dimensions of a validated graph are non-zero; only an overflow can fail, and it
    // saturates (the report then shows u64::MAX cycles rather than a wrapped count).
    let cycles = systolic::compute(df, m.rows, m.cols, gemm).map(|c| c.compute_cycles).unwrap_or(u64::MAX);
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
    ComputeFigures {
        cycles: Cycles(cycles.saturating_mul(repeats).saturating_mul(slow)),
        input_reads: input_reads.saturating_mul(repeats),
        weight_reads: weight_reads.saturating_mul(repeats),
    }
}

/// NVDLA direct convolution (unit description): each cycle one atomic op multiplies
/// atomic-C input channels of one pixel by atomic-K kernels. A stripe of output pixels
/// reuses the same weights; loading the next atomic op's weights takes
/// `weight_load_cycles`, so a stripe costs max(stripe length, weight load) cycles -- which
/// is why FC (one pixel) runs at 1/16 = 6.25% efficiency. A grouped or depthwise conv has
/// no dedicated mode: each group runs as its own direct convolution.
/// The convolution pipeline's three modes (unit description: DC, image input, Winograd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvdlaConvMode {
    /// Direct convolution of feature data.
    Direct,
    /// Image input (the first layer, 1-4 channels), with channel post-extension.
    ImageInput,
    /// Winograd F(4x4, 3x3): 3x3 stride-1 dense kernels on configurations that have it.
    Winograd,
}

/// The mode NVDLA runs a convolution in.
pub fn nvdla_conv_mode(n: &Nvdla, w: &ConvWork) -> NvdlaConvMode {
    if w.groups == 1 && w.c <= 4 {
        NvdlaConvMode::ImageInput
    } else if n.winograd && w.r == 3 && w.s == 3 && w.sh == 1 && w.sw == 1 && w.groups == 1 {
        NvdlaConvMode::Winograd
    } else {
        NvdlaConvMode::Direct
    }
}

fn nvdla(n: &Nvdla, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
    // Wider modes halve the kernels per cycle (int16: 1024 MACs = 64 x 16).
    let ak = (mode.macs_per_cycle / n.atomic_c).max(1);
    let mut c_atoms = w.cg().div_ceil(n.atomic_c);
    let mut rs = w.r * w.s;
    let conv_mode = nvdla_conv_mode(n, w);
    if conv_mode == NvdlaConvMode::ImageInput {
        // Image input (the first layer, 1-4 channels): CDMA's image mode stores a kernel
        // row's S pixels x C channels contiguously and CSC's channel post-extension
        // (register CSC_D_POST_Y_EXTENSION: 1, 2 or 4 rows) packs e kernel rows into one
        // atomic op, as far as atomic-C allows: one atomic op covers e x S x C products.
        let row = w.s * w.c;
        let e = [4u64, 2, 1].into_iter().find(|&e| e * row <= n.atomic_c).unwrap_or(1);
        c_atoms = (e * row).div_ceil(n.atomic_c).max(1);
        rs = w.r.div_ceil(e);
    }
    let k_groups = w.kg().div_ceil(ak);
    let p = w.pixels();
    let full_stripes = p / n.stripe;
    let rest = p % n.stripe;
    let stripe_cycles = full_stripes.saturating_mul(n.stripe.max(n.weight_load_cycles))
        + if rest > 0 { rest.max(n.weight_load_cycles) } else { 0 };
    let mut cycles =
        stripe_cycles.saturating_mul(rs).saturating_mul(c_atoms).saturating_mul(k_groups).saturating_mul(w.groups);
    if conv_mode == NvdlaConvMode::Winograd {
        // Winograd F(4x4, 3x3): 36 multiplies per 4x4 outputs instead of 144 (4x); NVDLA's
        // unit description quotes a 2.25x MAC-efficiency gain once the transform is paid.
        cycles = (cycles as f64 / 2.25).ceil() as u64;
    }
    ComputeFigures {
        cycles: Cycles(cycles),
        input_reads: p.saturating_mul(w.r * w.s).saturating_mul(w.c).saturating_mul(k_groups),
        weight_reads: w.weights().saturating_mul(p.div_ceil(n.stripe)),
    }
}

/// How the DMA of a family behaves, and cycles paid once per layer.
///
/// NVDLA: the DMA keeps many read requests in flight; its latency buffer is sized for the
/// configured memory latency (`PRIMARY_MEMIF_LATENCY` in the `spec/defs/*.spec` files), so a
/// transfer streams at the DRAM bandwidth and the latency is paid once per layer (the first
/// fill), not per tile. CDMA refills CBUF entries as CSC releases them (unit description),
/// so loads overlap compute: two slots. Other families: the latency is paid per transfer and
/// the slots follow the buffers' double buffering.
pub fn dma_for(hw: &HwDesc) -> (Dma, u64) {
    let bytes_per_cycle = hw.dram_bytes_per_cycle();
    match &hw.family {
        Family::Nvdla(_) => (Dma { bytes_per_cycle, latency: 0.0, slots: 2 }, hw.dram_latency_cycles()),
        _ => (
            Dma {
                bytes_per_cycle,
                latency: hw.dram_latency_cycles() as f64,
                slots: if hw.buffers.iter().all(|b| b.double_buffered) { 2 } else { 1 },
            },
            0,
        ),
    }
}

/// Refines a layer's tile stream to the granularity the family's DMA really works at.
///
/// NVDLA: CDMA tells CSC how many CBUF entries hold valid data as it writes them (the
/// `cdma2sc_dat_updt` / `cdma2sc_dat_entries` handshake of the RTL), and CSC starts as soon
/// as its first atomic operations' entries are valid, so a layer that fits in one tile still
/// overlaps its fetch with compute. The stream is split into one piece per CBUF row (one
/// entry in every bank) of data moved. The grain does not depend on the CBUF's size: a
/// larger CBUF never delays the start of compute.
/// Other families keep their tiles.
pub fn refine_stream(hw: &HwDesc, s: TileStream) -> TileStream {
    let Some(grain) = refine_grain(hw) else { return s };
    let total_load = s.load_bytes * s.tiles as f64;
    let pieces = ((total_load / grain).ceil() as u64).max(s.tiles).max(1);
    let f = s.tiles as f64 / pieces as f64;
    TileStream { tiles: pieces, load_bytes: s.load_bytes * f, compute: s.compute * f, store_bytes: s.store_bytes * f }
}

/// Lower bounds on the per-transfer load and store bytes of a stream that [`refine_stream`]
/// makes from tiles of at least `load` and `store` bytes each.
///
/// NVDLA: a piece moves `R / max(tiles, ceil(R / grain))` of the `R` bytes loaded, which is
/// the tile's load or, when the grain splits it further, more than half a grain; the
/// stores are split by the same unknown factor, so nothing is claimed for them.
pub fn refined_bound(hw: &HwDesc, load: f64, store: f64) -> (f64, f64) {
    match refine_grain(hw) {
        Some(grain) => (load.min(grain / 2.0), 0.0),
        None => (load, store),
    }
}

/// Bytes per piece of [`refine_stream`], if the family refines its stream: NVDLA's CBUF
/// row (an entry in every bank).
fn refine_grain(hw: &HwDesc) -> Option<f64> {
    let Family::Nvdla(_) = hw.family else { return None };
    let cbuf = hw.buffers.iter().find(|b| b.holds.inputs)?;
    Some((cbuf.access_bytes() * cbuf.banks as f64).max(1.0))
}
