//! The NVDLA family (`kind = "nvdla"`): the convolution core's atomic operations and
//! stripes ([`conv_compute`]), SDP and a fused PDP behind it ([`conv_pass`]), PDP for
//! pooling ([`vector_elements_per_cycle`]), and its DMA, which keeps many requests in
//! flight and overlaps CBUF fills with compute row by row ([`dma`], [`refined_pieces`]).
//! Which layers fuse is decided in [`crate::map::fusion`]. Sources: the unit description
//! (nvdla/doc `doc/hw/v1/ias/unit_description.rst`) and the `spec/defs/*.spec` files.

use super::{ComputeFigures, ConvPass, ConvPassInput, OperandReads, StreamGrain};
use crate::hw::{BufferLevel, HwDesc, Nvdla, NvdlaGroupedMapping, PrecisionMode, Role};
use crate::ir::Graph;
use crate::map::fusion::FusedOp;
use crate::map::work::{vector_ops, ConvWork, VectorWork};
use crate::simulate::Dma;
use crate::units::{Bits, Cycles, Macs};

/// Winograd F(4x4, 3x3)'s MAC-efficiency gain over direct convolution once the transforms
/// are paid, as NVDLA's unit description quotes it (36 instead of 144 multiplies per 4x4
/// outputs is 4x before the transforms).
pub const WINOGRAD_GAIN: f64 = 2.25;

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

/// NVDLA direct convolution (unit description): each cycle one atomic op multiplies
/// atomic-C input channels of one pixel by atomic-K kernels. A stripe of output pixels
/// reuses the same weights; loading the next atomic op's weights takes
/// `weight_load_cycles`, so a stripe costs max(stripe length, weight load) cycles -- which
/// is why FC (one pixel) runs at 1/16 = 6.25% efficiency. A grouped or depthwise conv has
/// no dedicated mode: each group runs as its own direct convolution.
pub fn conv_compute(n: &Nvdla, mode: &PrecisionMode, w: &ConvWork) -> ComputeFigures {
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
    let mut executed = w.macs();
    if conv_mode == NvdlaConvMode::Winograd {
        // Winograd F(4x4, 3x3): 36 multiplies per 4x4 outputs instead of 144 (4x); NVDLA's
        // unit description quotes a 2.25x MAC-efficiency gain once the transform is paid:
        // the array executes that many fewer multiply slots.
        cycles = (cycles as f64 / WINOGRAD_GAIN).ceil() as u64;
        executed = Macs((executed.get() as f64 / WINOGRAD_GAIN).ceil() as u64);
    }
    ComputeFigures {
        cycles: Cycles(cycles),
        buffer: OperandReads {
            inputs: p.saturating_mul(w.r * w.s).saturating_mul(w.c).saturating_mul(k_groups),
            weights: w.weights().saturating_mul(p.div_ceil(n.stripe)),
        },
        pe_local: OperandReads::default(),
        array: None,
        active_pes: None,
        executed,
        psum_passes: 1,
    }
}

/// A grouped convolution as NVDLA runs it. Group emulation (nvdla/sw's compiler, Caffe's
/// group convolution): unchanged, each group a direct convolution. Channel-expanded: `b`
/// consecutive groups form one dense group whose weights are block-diagonal (zeros off the
/// diagonal blocks), `b` the largest divisor of the group count with `b x Cg <= atomic-C` and
/// `b x Kg <= atomic-K`, so a block fills one atomic op; weights grow by `b`.
pub fn conv_work(n: &Nvdla, w: &ConvWork) -> ConvWork {
    match n.grouped {
        NvdlaGroupedMapping::GroupEmulation => *w,
        NvdlaGroupedMapping::ChannelExpanded if w.groups <= 1 => *w,
        NvdlaGroupedMapping::ChannelExpanded => {
            let max_b = (n.atomic_c / w.cg().max(1)).min(n.atomic_k / w.kg().max(1)).max(1);
            let b = (1..=max_b.min(w.groups)).rev().find(|b| w.groups % b == 0).unwrap_or(1);
            ConvWork { groups: w.groups / b, ..*w }
        }
    }
}

/// SDP takes every output element from CACC on the fly (bias, batch norm, ReLU,
/// requantization, and a fused element-wise add) at its rate; a fused PDP takes SDP's
/// output at its own. An element-wise operand is read by SDP's own DMA; a fused chain
/// writes its last output instead of the conv's.
pub fn conv_pass(n: &Nvdla, g: &Graph, hw: &HwDesc, c: ConvPassInput) -> ConvPass {
    let scale = 8.0 / c.mode.activation_bits.max(8) as f64;
    let sdp = (c.out_elements as f64 / (hw.vector.elements_per_cycle as f64 * scale)).ceil() as u64;
    let mut pass = ConvPass {
        compute: c.compute.max(sdp),
        vector_ops: c.out_elements,
        extra_read: Bits::ZERO,
        fused_output: None,
    };
    let mut last_bits = None;
    for &(fi, op) in c.followers {
        let fl = g.layer(fi);
        let ops = vector_ops(g, fl);
        pass.vector_ops = pass.vector_ops.saturating_add(ops);
        match op {
            FusedOp::Eltwise { operand } => pass.extra_read += g.tensor(operand).bits(),
            // PDP's operations at its rate, counted as for an offline pass.
            FusedOp::Pool => {
                let bits = g.data_input(fl).dtype.bits().max(8);
                let rate = n.pdp_elements_per_cycle as f64 * 8.0 / bits as f64;
                pass.compute = pass.compute.max((ops as f64 / rate).ceil() as u64);
            }
        }
        last_bits = Some(g.output(fl).bits());
    }
    if let Some(last) = last_bits {
        pass.fused_output = Some((Bits(c.out_elements.saturating_mul(c.widths.output as u64)), last));
    }
    pass
}

/// Pooling runs on PDP; other vector work on SDP (the description's vector unit).
pub fn vector_elements_per_cycle(n: &Nvdla, hw: &HwDesc, v: &VectorWork) -> u64 {
    if v.pooling {
        n.pdp_elements_per_cycle
    } else {
        hw.vector.elements_per_cycle
    }
}

/// CACC hands each finished stripe of atomic-K outputs to SDP, which writes it to DRAM
/// (unit description): finished outputs never wait in a buffer, only partial sums of a
/// channel split would.
pub const STREAMS_OUTPUTS: bool = true;

/// The DMA keeps many read requests in flight; its latency buffer is sized for the
/// configured memory latency (`PRIMARY_MEMIF_LATENCY` in the `spec/defs/*.spec` files), so
/// a transfer streams at the DRAM bandwidth and the latency is paid once per layer (the
/// first fill), not per tile. CDMA refills CBUF entries as CSC releases them (unit
/// description), so loads overlap compute: two slots.
pub fn dma(hw: &HwDesc) -> (Dma, u64) {
    (Dma { bytes_per_cycle: hw.dram_bytes_per_cycle(), latency: 0.0, slots: 2 }, hw.dram_latency_cycles())
}

/// CDMA tells CSC how many CBUF entries hold valid data as it writes them (the
/// `cdma2sc_dat_updt` / `cdma2sc_dat_entries` handshake of the RTL), and CSC starts as soon
/// as its first atomic operations' entries are valid, so a layer that fits in one tile still
/// overlaps its fetch with compute: the stream is split into one piece per CBUF row (one
/// entry in every bank) of data moved. The grain does not depend on the CBUF's size, so a
/// larger CBUF never delays the start of compute (with one piece per bank, as before, it did).
/// The pieces of `tiles` tiles loading `load` bytes in all.
pub fn refined_pieces(grain: f64, tiles: u64, load: f64) -> u64 {
    ((load / grain).ceil() as u64).max(tiles).max(1)
}

/// Lower bounds on the per-piece load and store bytes of [`refined_pieces`]'s pieces, for
/// tiles of at least `load` bytes: a piece moves `R / max(tiles, ceil(R / grain))` of the
/// `R` bytes loaded, which is the tile's load or, when the grain splits it further, more
/// than half a grain; the stores are split by the same unknown factor, so nothing is
/// claimed for them.
pub fn refined_bound(grain: f64, load: f64) -> (f64, f64) {
    (load.min(grain / 2.0), 0.0)
}

/// The grain of [`refined_pieces`]: a CBUF row, or whole tiles without an input buffer.
pub fn stream_grain(hw: &HwDesc) -> StreamGrain {
    refine_grain(hw).map_or(StreamGrain::Tiles, StreamGrain::CbufRows)
}

/// The engine's parameters as `hw show` prints them: the conv core, then SDP's and PDP's
/// on-the-fly fusion.
pub fn describe(n: &Nvdla) -> String {
    format!(
        "nvdla       atomic-C {} x atomic-K {}, winograd {}, stripe {}, weight load {} cycles, PDP {} el/cycle\n\
         fusion      SDP element-wise on the fly {}, PDP on the fly {} (share line buffer {} B)\n",
        n.atomic_c,
        n.atomic_k,
        n.winograd,
        n.stripe,
        n.weight_load_cycles,
        n.pdp_elements_per_cycle,
        n.eltwise_on_the_fly,
        n.pool_on_the_fly,
        n.pdp_line_buffer.get()
    )
}

/// Bytes per piece of [`refined_pieces`]: a CBUF row (an entry in every bank).
fn refine_grain(hw: &HwDesc) -> Option<f64> {
    let cbuf = hw.buffer_at(Role::Inputs, BufferLevel::Shared).map(|i| &hw.buffers[i])?;
    Some((cbuf.access_bytes() * cbuf.banks as f64).max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::{load_hw, Family};
    use crate::units::Macs;

    fn depthwise(c: u64) -> ConvWork {
        ConvWork { n: 1, ih: 14, iw: 14, c, k: c, groups: c, r: 3, s: 3, sh: 1, sw: 1, dh: 1, dw: 1, oh: 14, ow: 14 }
    }

    #[test]
    fn channel_expansion_packs_as_many_groups_as_one_atomic_op_holds() {
        let hw = load_hw("nvdla_full", &[]).expect("preset");
        let Family::Nvdla(n) = &hw.family else { panic!("nvdla") };
        assert_eq!(n.grouped, NvdlaGroupedMapping::GroupEmulation, "the default is what nvdla/sw does");
        assert_eq!(conv_work(n, &depthwise(512)), depthwise(512));
        let x = Nvdla { grouped: NvdlaGroupedMapping::ChannelExpanded, ..n.clone() };
        // atomic-C 64, atomic-K 32: 32 one-channel groups per block, weights 32x larger.
        let w = conv_work(&x, &depthwise(512));
        assert_eq!((w.groups, w.c, w.k, w.macs()), (16, 512, 512, Macs(512 * 32 * 9 * 196)));
        assert_eq!(w.weights(), 32 * depthwise(512).weights());
        // 24 groups: the largest divisor that fits is 24; 1000 groups: 25.
        assert_eq!(conv_work(&x, &depthwise(24)).groups, 1);
        assert_eq!(conv_work(&x, &depthwise(1000)).groups, 40);
        // Faster, never slower, at the same mode.
        let mode = &hw.precisions[0];
        for c in [24, 64, 512, 1000] {
            let (g, e) = (conv_compute(n, mode, &depthwise(c)), conv_compute(&x, mode, &conv_work(&x, &depthwise(c))));
            assert!(e.cycles.get() * 8 <= g.cycles.get(), "{c}: {:?} vs {:?}", e.cycles, g.cycles);
        }
    }
}
