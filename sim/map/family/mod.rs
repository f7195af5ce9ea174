//! Accelerator families: everything that differs between a MAC array, NVDLA, a DSP and an
//! Eyeriss-like row-stationary array, as methods on [`Family`], one module per family
//! ([`mac_array`], [`nvdla`], [`dsp`], [`eyeriss`]).
//!
//! The rest of the cost chain is family-independent: the pipeline, the tiling search and
//! the tile timeline ask the family only through these methods:
//! - [`Family::conv_compute`]: a convolution's compute cycles and the operand reads its
//!   datapath makes, per level of on-chip storage ([`ComputeFigures`]);
//! - [`Family::conv_pass`]: what runs on the fly behind the array (NVDLA's SDP and a fused
//!   PDP) and the DRAM traffic that changes with it;
//! - [`Family::vector_elements_per_cycle`]: which unit runs vector work, at what rate;
//! - [`Family::dma`] and [`Family::stream_grain`]: how the family's DMA moves a layer's
//!   tiles (latency per transfer or once per layer, the granularity of overlap);
//! - [`Family::streams_outputs`]: whether finished outputs bypass the output buffer
//!   (the tiling search then does not reserve room for them);
//! - [`Family::overhead`]: fixed time per invocation and per layer;
//! - [`Family::fusion_plan`]: which layers run on the fly inside another;
//! - [`Family::keeps_activations_on_chip`]: whether an output can stay in the on-chip
//!   buffer for its readers (on-chip reuse across layers);
//! - [`Family::whole_input_channels`]: whether the schedule search keeps a convolution's
//!   input channels in one tile (SCALE-Sim compatibility);
//! - [`Family::systolic_array`]: the array whose mapping figures SCALE-Sim's reports show;
//! - [`Family::describe`]: the parameters `hw show` prints.
//!
//! No other module matches on `Family` (bar `hw/`, which defines and validates it).
//!
//! Each method is one exhaustive `match` that delegates to the family's module, so adding a
//! family is a compile error at every decision it must make (see `ARCHITECTURE.md`, "Add a
//! family").

pub mod dsp;
pub mod eyeriss;
pub mod mac_array;
pub mod nvdla;

pub use dsp::{dsp_kernel_efficiency, DspKernel, LoopShape};
pub use mac_array::{mac_array_gemm, systolic_gemms, systolic_gemms_per_group};
pub use nvdla::{nvdla_conv_mode, NvdlaConvMode};

use super::fusion::{FusedOp, FusionPlan};
use super::tiling::Widths;
use super::work::{ConvWork, VectorWork};
use crate::hw::{BufferLevel, Family, HwDesc, Nvdla, PrecisionMode};
use crate::ir::{Graph, LayerId};
use crate::simulate::{Dma, TileStream};
use crate::units::{Bits, Cycles, Macs, Seconds};

/// Operand elements a datapath reads at one level of on-chip storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OperandReads {
    /// Input-activation elements.
    pub inputs: u64,
    /// Weight elements.
    pub weights: u64,
}

/// SCALE-Sim's percentages of a layer on a systolic array (its `COMPUTE_REPORT` columns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrayUse {
    /// "Mapping Efficiency %": used PEs over all PEs, mean over folds.
    pub mapping_efficiency: f64,
    /// "Compute Util %": useful PE-cycles over PE-cycles, mean over folds (divided by the
    /// passes a wide mode needs per MAC).
    pub compute_utilization: f64,
}

/// Per-layer compute figures of a family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComputeFigures {
    /// Cycles the compute units need, with no memory stalls.
    pub cycles: Cycles,
    /// Reads from the shared on-chip buffer holding each operand (SRAM, CBUF, VTCM).
    pub buffer: OperandReads,
    /// Reads from PE-local storage (a register file per PE, as in a row-stationary array);
    /// counted on a `level = "pe_local"` buffer holding the operand, or on the shared
    /// buffer when the description has none. Zero for families without PE-local reuse.
    pub pe_local: OperandReads,
    /// SCALE-Sim's percentages, for systolic arrays.
    pub array: Option<ArrayUse>,
    /// PEs busy in a full pass of a spatial array's mapping (Eyeriss's "active PEs");
    /// `None` for families that do not map onto PEs one by one.
    pub active_pes: Option<u64>,
    /// Multiplies the compute units execute for the work: its MACs for a direct
    /// convolution, fewer where a fast algorithm runs it (NVDLA's Winograd). Utilization
    /// counts these where they are fewer than the layer's MACs, so it never exceeds 1.
    pub executed: Macs,
    /// How many times each output leaves the compute units as a partial sum of the whole
    /// reduction (written to the output buffer at accumulator width and read back to be
    /// added to): the array's row folds on a weight- or input-stationary array, whose
    /// reduction runs down the rows; 1 where the units keep each sum until it is complete
    /// (output stationary, NVDLA's CACC, the DSP's accumulator registers).
    pub psum_passes: u64,
}

/// A convolution pass after the family's on-the-fly post-processing (see
/// [`Family::conv_pass`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvPass {
    /// Compute cycles of the pass: the array's, or a slower unit behind it.
    pub compute: u64,
    /// Vector-unit element operations of the pass (the conv's outputs and fused layers').
    pub vector_ops: u64,
    /// DRAM bits read beyond the tiling's (operands read by a post-processor's own DMA).
    pub extra_read: Bits,
    /// When layers are fused behind the conv: (the conv's output bits, the bits of the
    /// chain's last output), which replaces the conv's output in the DRAM writes.
    pub fused_output: Option<(Bits, Bits)>,
}

/// What [`Family::conv_pass`] reads of a convolution.
#[derive(Debug, Clone, Copy)]
pub struct ConvPassInput<'a> {
    /// The compute mode it runs in.
    pub mode: &'a PrecisionMode,
    /// Compute cycles so far (the array's, bounded by the buffer ports).
    pub compute: u64,
    /// Output elements of the conv.
    pub out_elements: u64,
    /// Operand widths.
    pub widths: Widths,
    /// Layers fused behind it by the [`Family::fusion_plan`].
    pub followers: &'a [(LayerId, FusedOp)],
}

impl Family {
    /// The convolution as the family executes it: the same loop nest, or (NVDLA's
    /// channel-expanded grouped mapping) groups packed into fewer, denser groups with
    /// zero-padded weights. Tiling, compute and traffic are of this work; useful MACs stay the
    /// layer's own.
    pub fn conv_work(&self, w: &ConvWork) -> ConvWork {
        match self {
            Family::Nvdla(n) => nvdla::conv_work(n, w),
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => *w,
        }
    }

    /// The same family with its other mapping of grouped convolutions, and the names of
    /// (this, the other) mapping; `None` when the family has one mapping only.
    pub fn other_grouped_mapping(&self) -> Option<(Family, &'static str, &'static str)> {
        match self {
            Family::Nvdla(n) => {
                let other = Nvdla { grouped: n.grouped.other(), ..n.clone() };
                Some((Family::Nvdla(other), n.grouped.name(), n.grouped.other().name()))
            }
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => None,
        }
    }

    /// Compute figures of a convolution in a precision mode.
    pub fn conv_compute(&self, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
        match self {
            Family::MacArray(m) => mac_array::conv_compute(m, mode, w),
            Family::Nvdla(n) => nvdla::conv_compute(n, mode, w),
            Family::Dsp(d) => dsp::conv_compute(d, mode, w),
            Family::Eyeriss(e) => eyeriss::conv_compute(e, mode, w),
        }
    }

    /// The convolution pass with what runs on the fly behind the array.
    pub fn conv_pass(&self, g: &Graph, hw: &HwDesc, c: ConvPassInput) -> ConvPass {
        match self {
            Family::Nvdla(n) => nvdla::conv_pass(n, g, hw, c),
            // No post-processor: the vector unit takes each output once, nothing fuses.
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => plain_pass(c),
        }
    }

    /// Elements per cycle, at 8 bits, of the unit that runs vector work `v`.
    pub fn vector_elements_per_cycle(&self, hw: &HwDesc, v: &VectorWork) -> u64 {
        match self {
            Family::Nvdla(n) => nvdla::vector_elements_per_cycle(n, hw, v),
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => hw.vector.elements_per_cycle,
        }
    }

    /// The family's DMA channel, and cycles paid once per layer on top of the timeline.
    pub fn dma(&self, hw: &HwDesc) -> (Dma, u64) {
        match self {
            Family::Nvdla(_) => nvdla::dma(hw),
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => (per_transfer_dma(hw), 0),
        }
    }

    /// How the family's DMA cuts a layer's tile stream into the pieces that really overlap
    /// with compute (resolved once per description: the schedule search refines every
    /// candidate's stream with it).
    pub fn stream_grain(&self, hw: &HwDesc) -> StreamGrain {
        match self {
            Family::Nvdla(_) => nvdla::stream_grain(hw),
            // Tiles are the unit of overlap.
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => StreamGrain::Tiles,
        }
    }

    /// Whether finished outputs stream out without waiting in a buffer (only partial sums of
    /// an input-channel split then take output-buffer room).
    pub fn streams_outputs(&self) -> bool {
        match self {
            Family::Nvdla(_) => nvdla::STREAMS_OUTPUTS,
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => false,
        }
    }

    /// Fixed time of one run of a network of `layers` layers, outside the layers' cycles.
    pub fn overhead(&self, layers: usize) -> Seconds {
        match self {
            Family::Dsp(d) => dsp::overhead(d, layers),
            Family::MacArray(_) | Family::Nvdla(_) | Family::Eyeriss(_) => Seconds(0.0),
        }
    }

    /// Which layers of `g` run on the fly inside another.
    pub fn fusion_plan(&self, g: &Graph, hw: &HwDesc) -> FusionPlan {
        match self {
            Family::Nvdla(n) => super::fusion::nvdla_plan(g, hw, n),
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => FusionPlan::none(g),
        }
    }

    /// Whether a layer's output can stay in the shared on-chip buffer for the layers that
    /// read it, instead of a DRAM write and read (on-chip reuse across layers: the pipeline
    /// decides per tensor, `pipeline/onchip.rs`).
    pub fn keeps_activations_on_chip(&self) -> bool {
        match self {
            // The array's (or the DSP's, or Eyeriss's) outputs land in a buffer the next
            // layer's inputs can be read from: the same buffer, or (separate SRAMs) an
            // on-chip move from the output buffer to the input buffer.
            Family::MacArray(_) | Family::Dsp(_) | Family::Eyeriss(_) => true,
            // NVDLA: CBUF is filled by CDMA only, from memory (DRAM or the SRAM interface),
            // and SDP writes every output through its write DMA to memory (unit
            // description); outputs reach the next unit on chip only on the fly, as the
            // fusion plan has them (`map/fusion.rs`: the fused intermediates stay on chip).
            Family::Nvdla(_) => false,
        }
    }

    /// When the family's mapping keeps a convolution's input channels whole in one tile
    /// (unless nothing else fits): the same family without that requirement, which the
    /// schedule search falls back to. `None` when the family splits input channels freely.
    pub fn whole_input_channels(&self) -> Option<Family> {
        match self {
            Family::MacArray(m) => mac_array::whole_input_channels(m).map(Family::MacArray),
            Family::Nvdla(_) | Family::Dsp(_) | Family::Eyeriss(_) => None,
        }
    }

    /// The (rows, columns) of a systolic array whose mapping figures the run's layer
    /// reports carry (SCALE-Sim's reports need them); `None` for a family without one.
    pub fn systolic_array(&self) -> Option<(u64, u64)> {
        match self {
            Family::MacArray(m) => Some((m.rows, m.cols)),
            Family::Nvdla(_) | Family::Dsp(_) | Family::Eyeriss(_) => None,
        }
    }

    /// The family's parameters as `hw show` prints them: lines, each ending in a newline.
    pub fn describe(&self) -> String {
        match self {
            Family::MacArray(m) => mac_array::describe(m),
            Family::Nvdla(n) => nvdla::describe(n),
            Family::Dsp(d) => dsp::describe(d),
            Family::Eyeriss(e) => eyeriss::describe(e),
        }
    }
}

/// A DMA that pays the DRAM latency per transfer, with two slots when every buffer it
/// fills (the shared ones) is double buffered.
fn per_transfer_dma(hw: &HwDesc) -> Dma {
    let shared = || hw.buffers.iter().filter(|b| b.level == BufferLevel::Shared);
    Dma {
        bytes_per_cycle: hw.dram_bytes_per_cycle(),
        latency: hw.dram_latency_cycles() as f64,
        slots: if shared().all(|b| b.double_buffered) { 2 } else { 1 },
    }
}

/// A conv pass with nothing behind the array: the vector unit takes each output once.
fn plain_pass(c: ConvPassInput) -> ConvPass {
    ConvPass { compute: c.compute, vector_ops: c.out_elements, extra_read: Bits::ZERO, fused_output: None }
}

/// The granularity at which a family's DMA overlaps a layer's transfers with compute
/// ([`Family::stream_grain`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StreamGrain {
    /// Each tile loads, computes and stores as a whole.
    Tiles,
    /// NVDLA: compute starts as soon as a CBUF row of this many bytes has arrived
    /// ([`nvdla::refined_pieces`]).
    CbufRows(f64),
}

impl StreamGrain {
    /// A layer's tile stream of `tiles` tiles loading, computing and storing these totals
    /// (bytes, cycles, bytes), refined to the pieces that overlap. Each piece's figure is
    /// one division of its exact total, so the same totals over the same pieces give the
    /// same stream bit for bit whatever tiling reached them: the simulated timeline is then
    /// the same too, which the search's dominance between candidates relies on (two float
    /// paths to one stream differed in the last bit and simulated a cycle apart).
    pub fn stream(self, tiles: u64, load: f64, compute: f64, store: f64) -> TileStream {
        let pieces = match self {
            StreamGrain::Tiles => tiles.max(1),
            StreamGrain::CbufRows(grain) => nvdla::refined_pieces(grain, tiles, load),
        };
        let n = pieces as f64;
        TileStream { tiles: pieces, load_bytes: load / n, compute: compute / n, store_bytes: store / n }
    }

    /// Lower bounds on the bytes each transfer of [`StreamGrain::refine`]'s stream loads and
    /// stores, for tiles that load at least `load` and store at least `store` bytes each
    /// (the schedule search's bound).
    pub fn bound(self, load: f64, store: f64) -> (f64, f64) {
        match self {
            StreamGrain::Tiles => (load, store),
            StreamGrain::CbufRows(grain) => nvdla::refined_bound(grain, load),
        }
    }
}
