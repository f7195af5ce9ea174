//! The DSP family (`kind = "dsp"`): a Hexagon-like DSP with HVX vector units. Memory
//! behaviour is the default one (see [`super::Family::dma`]); each run pays the FastRPC
//! invocation and a per-layer dispatch cost ([`overhead`]).
//!
//! The HVX compute model: each convolution runs the inner loop a DSP library would
//! use, and its cycles are the packets that loop's instruction mix needs on the HVX issue
//! resources. Efficiency is derived from the mix, never assumed. `docs/dsp.md` derives each
//! kernel by hand.
//!
//! The resources of one packet of one HVX context, from LLVM's Hexagon scheduling model
//! (`HexagonDepIICHVX.td`, the V55/V60 HVX itineraries) and the V60/V61 Instruction Quick
//! Reference (80-N2040-34, slot table):
//! - 4 slots; memory instructions issue in slots 0 and 1 only (scalar loads in either, the
//!   one vector load `CVI_LD` in either, the vector store `CVI_ST` in slot 0);
//! - HVX multiplies (`CVI_VX`, e.g. `vrmpy`) issue in slots 2 and 3 and take one of the two
//!   multiply resources `CVI_MPY0`/`CVI_MPY1`; double-vector multiplies (`CVI_VX_DV`, the
//!   16x16 products) take both;
//! - permutes (`CVI_VP`: `vshuff`, `vdeal`, `valign`, `vdelta`, `vpack`) take `CVI_XLANE`;
//!   shifts (`CVI_VS`: `vasr`) take `CVI_SHIFT`;
//! - a vector ALU instruction (`CVI_VA`: `vadd`, `vmax`, ...) takes any one of the four
//!   compute resources MPY0, MPY1, SHIFT, XLANE, so ALU work competes with multiplies;
//! - a vector load that writes the register file takes one of them too (the `SLOT01,LOAD,VA`
//!   itineraries; the V65 HVX PRM, section 4.2: only the `.tmp` form does not).
//!
//! Latencies do not enter the count: every loop below keeps at least two independent
//! accumulators in flight (the GEMM block 16, depthwise four output vectors per load), which
//! covers the few-packet result latency of `CVI_VX` in the same itineraries.

use super::{ComputeFigures, OperandReads};
use crate::hw::{Dsp, PrecisionMode};
use crate::map::work::ConvWork;
use crate::units::{Cycles, Seconds};

/// The instructions of a loop body by the HVX resource they occupy (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct InstructionMix {
    /// Multiply-resource uses: a `vrmpy` (`CVI_VX`) uses one.
    pub mpy: f64,
    /// Vector loads (`CVI_LD`, one per packet, slot 0 or 1; each also takes a compute resource).
    pub vload: f64,
    /// Scalar loads (slot 0 or 1).
    pub sload: f64,
    /// Vector stores (`CVI_ST`, slot 0).
    pub store: f64,
    /// Permute-resource instructions (`CVI_XLANE`).
    pub permute: f64,
    /// Shift-resource instructions (`CVI_SHIFT`).
    pub shift: f64,
    /// Vector ALU instructions (any one of the four compute resources).
    pub alu: f64,
}

/// Memory slots per packet (slots 0 and 1).
const MEMORY_SLOTS: f64 = 2.0;
/// Instruction slots per packet.
const SLOTS: f64 = 4.0;
/// Compute resources besides the multipliers: `CVI_SHIFT` and `CVI_XLANE`.
const SHIFT_AND_PERMUTE: f64 = 2.0;

impl InstructionMix {
    /// Packets (cycles of one HVX context) the mix needs at best: the maximum over every
    /// resource of its uses over its count per packet. `multiply_slots` is the number of
    /// multiply resources (two on HVX).
    pub fn packets(&self, multiply_slots: u64) -> f64 {
        let mpy_units = multiply_slots.max(1) as f64;
        let memory = (self.vload + self.sload + self.store) / MEMORY_SLOTS;
        let compute = (self.mpy + self.vload + self.permute + self.shift + self.alu) / (mpy_units + SHIFT_AND_PERMUTE);
        let slots = (self.mpy + self.vload + self.sload + self.store + self.permute + self.shift + self.alu) / SLOTS;
        [self.mpy / mpy_units, self.vload, self.store, memory, self.permute, self.shift, compute, slots]
            .into_iter()
            .fold(0.0, f64::max)
    }

    /// `self` plus `times` copies of `o`.
    pub fn add(self, o: InstructionMix, times: f64) -> InstructionMix {
        InstructionMix {
            mpy: self.mpy + o.mpy * times,
            vload: self.vload + o.vload * times,
            sload: self.sload + o.sload * times,
            store: self.store + o.store * times,
            permute: self.permute + o.permute * times,
            shift: self.shift + o.shift * times,
            alu: self.alu + o.alu * times,
        }
    }
}

/// Output channels a GEMM block keeps in accumulator registers: 16 of the 32 HVX vector
/// registers (the rest hold the streamed activation vectors and requantization constants).
pub const DSP_GEMM_BLOCK_K: u64 = 16;

/// Requantization of one accumulator vector (32 int32 lanes) to bytes: the Q31 multiply as
/// `vmpye` + `vmpyo:acc` (2 multiply uses), the rounding `vasr` (1 shift), the output zero
/// point `vadd` and the next block's bias initialisation (2 ALU), the activation clamp
/// `vmax`+`vmin` on packed bytes (2 ALU per 4 accumulators: 0.5), narrowing 4 word vectors
/// into 1 byte vector with 3 `vpack` (0.75 permute) and one store per 4 (0.25).
pub const DSP_REQUANT: InstructionMix =
    InstructionMix { mpy: 2.0, vload: 0.0, sload: 0.0, store: 0.25, permute: 0.75, shift: 1.0, alu: 2.5 };

/// What a convolution's inner loop must rearrange besides the plain reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoopShape {
    /// The window is wider than one pixel: each tap's pixels start off a vector boundary
    /// and need a `valign`.
    pub windowed: bool,
    /// Horizontal stride above 1: output pixels are every other input pixel (`vdeal`).
    pub strided: bool,
}

impl LoopShape {
    /// The shape of a convolution's loop.
    pub fn of(w: &ConvWork) -> Self {
        LoopShape { windowed: w.r * w.s > 1, strided: w.sw > 1 }
    }
}

/// The DSP library kernels, each with the instruction mix of its inner loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DspKernel {
    /// Dense conv as a `vrmpy` GEMM: a vector holds 32 output pixels x 4 reduction bytes,
    /// weights come from scalar registers; a block is 32 pixels x 16 output channels.
    Gemm,
    /// The first layer (C < 4): the reduction R*S*C is packed 4 at a time (im2col).
    FirstLayer,
    /// Depthwise: lanes hold 32 channels of one pixel, `vrmpy` reduces 4 taps per lane.
    Depthwise,
    /// Matrix-vector (FC, under 32 pixels): weight vectors x activation bytes in a scalar.
    MatVec,
}

impl DspKernel {
    /// Instruction mix of one reduction step of the inner loop (int8: one `vrmpy` depth of 4).
    ///
    /// - Gemm: 1 activation vector load + 8 scalar 64-bit weight loads (16 channels x 4
    ///   bytes) + 16 `vrmpy`, a `valign` when windowed and a `vdeal` when strided.
    /// - FirstLayer: as Gemm, with 3 `vdelta` gathers building the im2col vector of 32
    ///   pixels x 4 of the R*S*C taps instead of `valign`/`vdeal`.
    /// - Depthwise (per output vector, per 4-tap group): 1 vector load (one 128-channel load
    ///   serves 4 output vectors of 32 channels, 4 taps), 1 `vshuff` (interleaving 4 taps x
    ///   32 channels), 1 `vrmpy`. Channels sit in lanes, so stride changes only addresses.
    /// - MatVec (per step of 32 outputs x 4 inputs): 1 weight vector load, 0.5 scalar load
    ///   (8 activation bytes per 64-bit load), 1 `vrmpy`.
    pub fn step(self, shape: LoopShape) -> InstructionMix {
        let b = DSP_GEMM_BLOCK_K as f64;
        let align = f64::from(u8::from(shape.windowed)) + f64::from(u8::from(shape.strided));
        let none = InstructionMix::default();
        match self {
            DspKernel::Gemm => InstructionMix { mpy: b, vload: 1.0, sload: b / 2.0, permute: align, ..none },
            DspKernel::FirstLayer => InstructionMix { mpy: b, vload: 1.0, sload: b / 2.0, permute: 3.0, ..none },
            DspKernel::Depthwise => InstructionMix { mpy: 1.0, vload: 1.0, permute: 1.0, ..none },
            DspKernel::MatVec => InstructionMix { mpy: 1.0, vload: 1.0, sload: 0.5, ..none },
        }
    }

    /// Accumulator vectors (32 lanes) a step feeds, which the epilogue requantizes.
    pub fn outputs_per_block(self) -> f64 {
        match self {
            DspKernel::Gemm | DspKernel::FirstLayer => DSP_GEMM_BLOCK_K as f64,
            DspKernel::Depthwise | DspKernel::MatVec => 1.0,
        }
    }

    /// The kernel a DSP library picks for a conv.
    pub fn for_conv(w: &ConvWork) -> DspKernel {
        if w.is_depthwise() {
            DspKernel::Depthwise
        } else if w.pixels() < 32 {
            DspKernel::MatVec
        } else if w.cg() < 4 {
            DspKernel::FirstLayer
        } else {
            DspKernel::Gemm
        }
    }

    /// Instruction mix of one block: `steps` reduction steps and the requantization of the
    /// block's accumulators.
    pub fn block(self, shape: LoopShape, steps: u64) -> InstructionMix {
        InstructionMix::default().add(self.step(shape), steps as f64).add(DSP_REQUANT, self.outputs_per_block())
    }
}

/// HVX: each conv runs the inner loop of the kernel a DSP library would use (see
/// [`DspKernel`]); its cycles are the packets of its instruction mix (max over resource
/// classes). Blocks are spread over the HVX contexts.
/// Wider modes (16x16, `CVI_VX_DV` multiplies using both multiply resources) shrink the
/// products per multiply use: the reduction depth per step is
/// `macs_per_cycle / (contexts x slots x 32)`.
pub fn conv_compute(d: &Dsp, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
    let lanes = (d.vector_bits / 32).max(1);
    let contexts = d.hvx_contexts.max(1);
    // Products each lane reduces per multiply use: 4 for int8 vrmpy, 1 for int16 (a 2-deep
    // vdmpy occupies both multiply resources).
    let depth = (mode.macs_per_cycle / (lanes * d.multiply_slots.max(1) * contexts)).max(1);
    let kernel = DspKernel::for_conv(w);
    let p = w.pixels();
    let rs = w.r * w.s;
    let (blocks, steps) = match kernel {
        DspKernel::Gemm => {
            let blocks = p.div_ceil(lanes).saturating_mul(w.kg().div_ceil(DSP_GEMM_BLOCK_K)).saturating_mul(w.groups);
            (blocks, rs.saturating_mul(w.cg().div_ceil(depth)))
        }
        DspKernel::FirstLayer => {
            let blocks = p.div_ceil(lanes).saturating_mul(w.kg().div_ceil(DSP_GEMM_BLOCK_K)).saturating_mul(w.groups);
            (blocks, (rs * w.cg()).div_ceil(depth))
        }
        // One block per output vector: 32 channels of one pixel.
        DspKernel::Depthwise => (p.saturating_mul(w.k.div_ceil(lanes)), rs.div_ceil(depth)),
        DspKernel::MatVec => {
            (p.saturating_mul(w.kg().div_ceil(lanes)).saturating_mul(w.groups), (rs * w.cg()).div_ceil(depth))
        }
    };
    let packets = kernel.block(LoopShape::of(w), steps).packets(d.multiply_slots);
    let cycles = (blocks.div_ceil(contexts) as f64 * packets).ceil();
    let (input_reads, weight_reads) = match kernel {
        DspKernel::Gemm | DspKernel::FirstLayer => (
            p.saturating_mul(rs).saturating_mul(w.c).saturating_mul(w.kg().div_ceil(DSP_GEMM_BLOCK_K)),
            w.weights().saturating_mul(p.div_ceil(lanes)),
        ),
        DspKernel::Depthwise => (p.saturating_mul(rs).saturating_mul(w.c), w.weights().saturating_mul(w.oh)),
        DspKernel::MatVec => (p.saturating_mul(rs).saturating_mul(w.c), w.weights()),
    };
    ComputeFigures {
        cycles: Cycles(cycles as u64),
        buffer: OperandReads { inputs: input_reads, weights: weight_reads },
        pe_local: OperandReads::default(),
        array: None,
        active_pes: None,
        executed: w.macs(),
        psum_passes: 1,
    }
}

/// The DSP's parameters as `hw show` prints them.
pub fn describe(d: &Dsp) -> String {
    format!(
        "dsp         {}-bit vectors, {} HVX contexts, {} multiply slots, {} threads, overhead {} us/call + {} us/op\n",
        d.vector_bits,
        d.hvx_contexts,
        d.multiply_slots,
        d.scalar_threads,
        d.invocation_overhead_us,
        d.per_op_overhead_us
    )
}

/// Fixed time of one run of `layers` layers: one FastRPC invocation from the CPU and the
/// DSP library's dispatch per layer.
pub fn overhead(d: &Dsp, layers: usize) -> Seconds {
    Seconds((d.invocation_overhead_us + d.per_op_overhead_us * layers as f64) * 1e-6)
}

/// Per-cycle efficiency of a DSP kernel's block at int8 on 2 multiply resources: MACs per
/// packet over the 256 a packet can do (2 `vrmpy` x 32 lanes x 4). Counts the padded
/// reduction (a 3x3 depthwise window's 9 taps fill 3 steps of 4). For reports and tests.
pub fn dsp_kernel_efficiency(kernel: DspKernel, shape: LoopShape, steps: u64) -> f64 {
    let macs = steps as f64 * kernel.outputs_per_block() * 32.0 * 4.0;
    macs / (kernel.block(shape, steps).packets(2) * 256.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(f: impl FnOnce(&mut InstructionMix)) -> InstructionMix {
        let mut m = InstructionMix::default();
        f(&mut m);
        m
    }

    #[test]
    fn each_resource_binds_alone() {
        assert_eq!(mix(|m| m.mpy = 6.0).packets(2), 3.0);
        assert_eq!(mix(|m| m.vload = 3.0).packets(2), 3.0);
        // Scalar loads use both memory slots.
        assert_eq!(mix(|m| m.sload = 6.0).packets(2), 3.0);
        assert_eq!(mix(|m| m.store = 2.0).packets(2), 2.0);
        assert_eq!(mix(|m| m.permute = 2.0).packets(2), 2.0);
        assert_eq!(mix(|m| m.shift = 2.0).packets(2), 2.0);
        // ALU work spreads over the four compute resources.
        assert_eq!(mix(|m| m.alu = 8.0).packets(2), 2.0);
    }

    #[test]
    fn alu_competes_with_multiplies_and_slots_bound_the_packet() {
        // 4 vrmpy + 4 ALU: the multipliers alone need 2 packets, the compute resources 2.
        assert_eq!(
            mix(|m| {
                m.mpy = 4.0;
                m.alu = 4.0
            })
            .packets(2),
            2.0
        );
        // 4 vrmpy + 4 ALU + 2 shifts: compute resources 10/4 = 2.5 packets.
        assert_eq!(
            mix(|m| {
                m.mpy = 4.0;
                m.alu = 4.0;
                m.shift = 2.0
            })
            .packets(2),
            2.5
        );
        // 2 vector + 2 scalar loads + 4 ALU: 8 instructions in 4 slots, memory 2 packets.
        assert_eq!(
            mix(|m| {
                m.vload = 2.0;
                m.sload = 2.0;
                m.alu = 4.0
            })
            .packets(2),
            2.0
        );
        // A vector load takes a compute resource: 1 load + 6 ALU need 7/4 packets.
        assert_eq!(
            mix(|m| {
                m.vload = 1.0;
                m.alu = 6.0
            })
            .packets(2),
            1.75
        );
    }

    #[test]
    fn gemm_step_is_multiply_bound() {
        // 16 vrmpy / 2 = 8 packets; 9 memory ops / 2 slots = 4.5; 27 instructions / 4 = 6.75.
        let step = DspKernel::Gemm.step(LoopShape { windowed: true, strided: true });
        assert_eq!(step.packets(2), 8.0);
    }

    #[test]
    fn depthwise_step_is_load_and_permute_bound() {
        let step = DspKernel::Depthwise.step(LoopShape::default());
        assert_eq!(step.packets(2), 1.0);
        assert!((dsp_kernel_efficiency(DspKernel::Depthwise, LoopShape::default(), 1000) - 0.5).abs() < 1e-3);
    }
}
