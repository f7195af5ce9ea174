//! Graph-level fusion of NVDLA's on-the-fly post-processing: which element-wise adds and
//! poolings run inside the convolution before them instead of as passes of their own.
//!
//! NVDLA (unit description, nvdla/doc `doc/hw/v1/ias/unit_description.rst`):
//! - SDP always takes the convolution output from CACC on the fly ("Working Mode: Flying:
//!   On-flying: source data is from Conv-Core"); bias, batch norm, ReLU and the output
//!   conversion run there (the conv's own cost, see `pipeline`).
//! - Element-wise: "SDP supports both online mode and offline mode for element-wise layer.
//!   When online mode, one data cube comes from convolution pipeline, and the other input
//!   data cube is fetched from memory" (by SDP's own read DMA). Only configurations with
//!   the EW unit have it (`SDP_EW_ENABLE` in `spec/defs/*.spec`).
//! - PDP "shall directly receive data from point processing unit" when its share line
//!   buffer holds the partial results of the window rows in flight: the on-the-fly
//!   condition `width_out <= buffer / (data_width x ongoing_channels x f(ceil(kh / sh)))`
//!   with f = 1, 2, 4, 4, 8 for ceil = 1, 2, 3, 4, > 4, ongoing channels = the kernels
//!   of one group (atomic-K) and 14 bits per int8 partial result (28 for int16). Pooling
//!   windows are 1..=8 and strides 1..=16 in the RTL.
//!
//! The unit description's table of pipeline working modes lists the convolution + pooling
//! pipeline (CDMA .. CACC, SDP, PDP) for "direct convolution + pooling layer (multi-batch
//! mode is not supported)": pooling fuses only into a direct convolution (not image input,
//! not Winograd) of batch 1. NVIDIA's compiler (nvdla/sw, `SDPElementWiseOpNode`) runs the
//! element-wise add in X1 (or X2) in per-element mode -- its operand read by that unit's
//! read DMA (BRDMA / NRDMA), at X1/X2's 16 elements/cycle on nv_full -- and rejects it after
//! a Winograd convolution ("Unsupported WINOGRAD Conv mode"): no add fuses into Winograd.
//!
//! A layer is fused only when the graph allows it: the conv's output has that one
//! consumer and is not a network output, shapes agree, and for an add the other operand
//! already exists when the conv runs (its producer comes earlier in the layer order).
//!
//! The intermediates of a fused pass never leave the chip: the run's `on_chip` list names
//! them (`fused`). They are the only tensors NVDLA keeps on chip: between passes every
//! output goes through memory (`Family::keeps_activations_on_chip`; the other families'
//! on-chip reuse across layers is `pipeline/onchip.rs`).
//!
//! Architecture invariant: the plan reads shapes, operators and bit widths only.

use super::family::{nvdla_conv_mode, NvdlaConvMode};
use super::work::{work_of, Work};
use crate::hw::{HwDesc, Nvdla};
use crate::ir::{Graph, Layer, LayerId, TensorId};
use crate::ops::{LayerCx, OnTheFly, OpFamily, WeightLayout};

/// The mode of the conv at layer `i`, if it is one: only convolutions head a fused pass
/// (every family decides; a fully connected layer runs as a pass of its own).
fn conv_mode(g: &Graph, n: &Nvdla, i: usize) -> Option<(NvdlaConvMode, u64)> {
    match g.layers[i].op.weight_layout() {
        WeightLayout::Conv(_) => {}
        // A transposed convolution runs as one convolution per sub-pixel phase
        // (`ops::transpose_conv`): passes of their own, heading none.
        WeightLayout::Matrix(_) | WeightLayout::TransposeConv(_) | WeightLayout::Float | WeightLayout::None => {
            return None
        }
    }
    match work_of(g, &g.layers[i]) {
        Ok(Work::Conv(w)) => Some((nvdla_conv_mode(n, &super::family::nvdla::conv_work(n, &w)), w.n)),
        Ok(Work::Vector(_) | Work::Free) | Err(_) => None,
    }
}

/// What a layer fused into a convolution does there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedOp {
    /// An element-wise add on SDP; the second operand is read from DRAM by SDP's DMA.
    Eltwise {
        /// The operand read from memory.
        operand: TensorId,
    },
    /// Pooling (or a spatial mean) on PDP, fed by SDP.
    Pool,
}

/// The role of one layer in the fused schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Runs as its own pass (possibly the head of fused followers).
    Alone {
        /// Layers fused into this one, in data-flow order.
        followers: Vec<(LayerId, FusedOp)>,
    },
    /// Runs inside the layer at this index; costs nothing of its own.
    Fused {
        /// The head convolution.
        into: LayerId,
    },
}

/// One role per layer of a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FusionPlan {
    /// Indexed like `Graph::layers`.
    pub roles: Vec<Role>,
}

impl FusionPlan {
    /// No fusion: every layer alone.
    pub fn none(g: &Graph) -> Self {
        FusionPlan { roles: g.layers.iter().map(|_| Role::Alone { followers: Vec::new() }).collect() }
    }

    /// Layers fused into layer `id`.
    pub fn followers(&self, id: LayerId) -> &[(LayerId, FusedOp)] {
        match self.roles.get(id.0) {
            Some(Role::Alone { followers }) => followers,
            _ => &[],
        }
    }

    /// The head a layer is fused into, if it is.
    pub fn fused_into(&self, id: LayerId) -> Option<LayerId> {
        match self.roles.get(id.0) {
            Some(Role::Fused { into }) => Some(*into),
            _ => None,
        }
    }

    /// Number of fused layers.
    pub fn fused_count(&self) -> usize {
        self.roles.iter().filter(|r| matches!(r, Role::Fused { .. })).count()
    }
}

/// Partial-result bits of one pooled element in PDP's share line buffer (unit description:
/// bytes per element 14/8 for int8, 28/8 for int16 and fp16).
pub fn pdp_partial_bits(activation_bits: u32) -> u64 {
    if activation_bits <= 8 {
        14
    } else {
        28
    }
}

/// The unit description's f(ceil(kernel height / stride)): window rows whose partial
/// results the line buffer keeps per output column.
pub fn pdp_overlap_rows(kernel_h: u64, stride_h: u64) -> u64 {
    match kernel_h.div_ceil(stride_h.max(1)) {
        0 | 1 => 1,
        2 => 2,
        3 | 4 => 4,
        _ => 8,
    }
}

/// Whether PDP can pool on the fly: window and stride in the RTL's ranges and the share
/// line buffer holding `width_out x f(ceil(kh / sh)) x channels` partial results.
pub fn pdp_fits_on_the_fly(
    n: &Nvdla,
    kernel: [u64; 2],
    stride: [u64; 2],
    width_out: u64,
    channels: u64,
    activation_bits: u32,
) -> bool {
    let in_range = kernel.iter().all(|&k| (1..=8).contains(&k)) && stride.iter().all(|&s| (1..=16).contains(&s));
    let need_bits = width_out
        .saturating_mul(pdp_overlap_rows(kernel[0], stride[0]))
        .saturating_mul(channels)
        .saturating_mul(pdp_partial_bits(activation_bits));
    in_range && need_bits <= n.pdp_line_buffer.get().saturating_mul(8)
}

/// The fusion plan of `g` on `hw`: the family's ([`crate::hw::Family::fusion_plan`]).
pub fn plan(g: &Graph, hw: &HwDesc) -> FusionPlan {
    hw.family.fusion_plan(g, hw)
}

/// NVDLA's fusion plan: element-wise adds and poolings fuse as its SDP and PDP allow.
pub fn nvdla_plan(g: &Graph, hw: &HwDesc, n: &Nvdla) -> FusionPlan {
    let mut p = FusionPlan::none(g);
    if !n.eltwise_on_the_fly && !n.pool_on_the_fly {
        return p;
    }
    let mut producer = vec![None; g.tensors.len()];
    let mut consumers = vec![0usize; g.tensors.len()];
    for (i, l) in g.layers.iter().enumerate() {
        for &t in &l.outputs {
            producer[t.0] = Some(i);
        }
        for &t in &l.inputs {
            consumers[t.0] += 1;
        }
    }
    for &t in &g.outputs {
        consumers[t.0] += 1;
    }
    // A tensor that streams from one unit to the next: one consumer, not a network output.
    let streams = |t: TensorId| consumers[t.0] == 1;
    for (i, l) in g.layers.iter().enumerate() {
        // Each op says what SDP or PDP could run of it on the fly (`OpFamily::on_the_fly`);
        // the hardware's switches and conditions decide here.
        let fused = match l.op.on_the_fly(&LayerCx::new(g, l)) {
            // SDP's element-wise unit.
            OnTheFly::SdpAdd if n.eltwise_on_the_fly => eltwise_head(g, n, &p, l, &producer, &streams),
            // PDP: a pooling window, or a spatial mean as one window over the plane.
            OnTheFly::PdpPool { kernel, stride } if n.pool_on_the_fly => {
                pool_head(g, hw, n, &p, l, pool_window(g, l, kernel, stride), &producer, &streams)
            }
            OnTheFly::PdpPlaneMean if n.pool_on_the_fly => {
                pool_head(g, hw, n, &p, l, mean_window(g, l), &producer, &streams)
            }
            // Configurations without SDP's element-wise unit or PDP's on-the-fly input, and
            // what neither runs on the fly.
            OnTheFly::SdpAdd | OnTheFly::PdpPool { .. } | OnTheFly::PdpPlaneMean | OnTheFly::No => None,
        };
        if let Some((head, op)) = fused {
            if let Role::Alone { followers } = &mut p.roles[head] {
                followers.push((LayerId(i), op));
            }
            p.roles[i] = Role::Fused { into: LayerId(head) };
        }
    }
    p
}

/// Where the layer that produces `t` runs: its own index, or its head's if it is fused;
/// `None` for a network input.
fn head_of(p: &FusionPlan, producer: &[Option<usize>], t: TensorId) -> Option<usize> {
    let i = producer.get(t.0).copied().flatten()?;
    Some(p.fused_into(LayerId(i)).map_or(i, |h| h.0))
}

fn eltwise_head(
    g: &Graph,
    n: &Nvdla,
    p: &FusionPlan,
    l: &Layer,
    producer: &[Option<usize>],
    streams: &dyn Fn(TensorId) -> bool,
) -> Option<(usize, FusedOp)> {
    let ins: Vec<TensorId> = l.inputs.iter().copied().filter(|&t| !g.tensor(t).is_constant()).collect();
    let [a, b] = ins.as_slice() else { return None };
    let out = g.output(l);
    if g.tensor(*a).shape != out.shape || g.tensor(*b).shape != out.shape {
        return None;
    }
    // Either operand may stream from its conv; prefer the later conv, so the other operand
    // already exists when it runs.
    let mut best: Option<(usize, FusedOp)> = None;
    for (on_fly, from_mem) in [(*a, *b), (*b, *a)] {
        let Some(conv) = producer.get(on_fly.0).copied().flatten() else { continue };
        let head_ok = conv_mode(g, n, conv).is_some_and(|(m, _)| m != NvdlaConvMode::Winograd)
            && p.followers(LayerId(conv)).is_empty()
            && p.fused_into(LayerId(conv)).is_none()
            && streams(on_fly);
        // The operand from memory must exist before the conv runs.
        // (A producer fused into an earlier head runs at that head's place.)
        let operand_ready = head_of(p, producer, from_mem).map_or(true, |h| h < conv);
        if head_ok && operand_ready && best.map_or(true, |(c, _)| conv > c) {
            best = Some((conv, FusedOp::Eltwise { operand: from_mem }));
        }
    }
    best
}

/// A PDP window: its size, its stride and the output width it writes per line.
#[derive(Debug, Clone, Copy)]
struct PdpWindow {
    kernel: [u64; 2],
    stride: [u64; 2],
    width_out: u64,
}

fn dim(s: &[usize], i: usize) -> u64 {
    s.get(i).copied().unwrap_or(1) as u64
}

/// The PDP window of a pooling layer.
fn pool_window(g: &Graph, l: &Layer, kernel: [usize; 2], stride: [usize; 2]) -> PdpWindow {
    PdpWindow {
        kernel: [kernel[0] as u64, kernel[1] as u64],
        stride: [stride[0] as u64, stride[1] as u64],
        width_out: dim(&g.output(l).shape, 2),
    }
}

/// A mean over H and W of an NHWC tensor is one PDP window over the whole plane.
fn mean_window(g: &Graph, l: &Layer) -> PdpWindow {
    let x = g.data_input(l);
    PdpWindow { kernel: [dim(&x.shape, 1), dim(&x.shape, 2)], stride: [1, 1], width_out: 1 }
}

#[allow(clippy::too_many_arguments)]
fn pool_head(
    g: &Graph,
    hw: &HwDesc,
    n: &Nvdla,
    p: &FusionPlan,
    l: &Layer,
    window: PdpWindow,
    producer: &[Option<usize>],
    streams: &dyn Fn(TensorId) -> bool,
) -> Option<(usize, FusedOp)> {
    let x = g.data_input(l);
    let input = *l.inputs.first()?;
    let PdpWindow { kernel, stride, width_out } = window;
    if !streams(input) {
        return None;
    }
    let head = head_of(p, producer, input)?;
    let head_layer = &g.layers[head];
    if conv_mode(g, n, head) != Some((NvdlaConvMode::Direct, 1)) || p.fused_into(LayerId(head)).is_some() {
        return None;
    }
    // PDP follows SDP once: no second pooling in the same pass.
    if p.followers(LayerId(head)).iter().any(|(_, op)| *op == FusedOp::Pool) {
        return None;
    }
    // The element-wise add, if any, must be what feeds the pool (the last unit in the chain).
    let chain_end = p.followers(LayerId(head)).last().map_or(head, |(i, _)| i.0);
    if producer.get(input.0).copied().flatten() != Some(chain_end) {
        return None;
    }
    // Channels in flight: the kernels of one group in the conv's compute mode.
    let mode = crate::map::work::mode_of(g, head_layer, hw)?;
    let channels = (mode.macs_per_cycle / n.atomic_c.max(1)).max(1);
    pdp_fits_on_the_fly(n, kernel, stride, width_out, channels, x.dtype.bits()).then_some((head, FusedOp::Pool))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::load_hw;
    use crate::hw::Family;
    use crate::import::load_model;
    use crate::ir::{BinaryKind, Op, Reduce, ReduceKind};
    use crate::quant::{assign_uniform, Precision};

    fn planned(hw: &str, set: &[(String, f64)], model: &str) -> (Graph, FusionPlan) {
        let hw = load_hw(hw, set).expect("preset");
        let mut g = load_model(model, &Default::default()).expect("model");
        assign_uniform(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
        let p = plan(&g, &hw);
        (g, p)
    }

    #[test]
    fn resnet50_fuses_every_residual_add_and_the_mean() {
        let (g, p) = planned("nvdla_full", &[], "resnet50");
        let adds = g.layers.iter().filter(|l| matches!(l.op, Op::Binary(BinaryKind::Add))).count();
        assert_eq!(adds, 16);
        for (i, l) in g.layers.iter().enumerate() {
            match &l.op {
                // conv1 runs in image-input mode: its max-pool is an offline PDP pass.
                Op::Pool(_) => assert!(p.fused_into(LayerId(i)).is_none(), "{} fused", l.name),
                Op::Binary(BinaryKind::Add) | Op::Reduce(Reduce { kind: ReduceKind::Mean, .. }) => {
                    let head = p.fused_into(LayerId(i)).unwrap_or_else(|| panic!("{} not fused", l.name));
                    let h = g.layer(head);
                    assert!(matches!(h.op, Op::Conv2d(_)), "{} into {}", l.name, h.name);
                    assert!(head.0 < i);
                }
                _ => assert!(p.fused_into(LayerId(i)).is_none(), "{} fused", l.name),
            }
        }
        // The add streams from the later of its two convs: the other operand exists by then.
        let first_add = g.layers.iter().position(|l| matches!(l.op, Op::Binary(BinaryKind::Add))).expect("an add");
        let head = p.fused_into(LayerId(first_add)).expect("fused");
        assert_eq!(g.layer(head).name, "layer1_0_downsample");
        assert_eq!(p.fused_count(), 17);
    }

    #[test]
    fn switches_and_families_disable_fusion() {
        let off = [("nvdla.pdp_line_buffer_kib".to_string(), 0.0)];
        let hw = load_hw("nvdla_full", &off).expect("preset");
        let Family::Nvdla(n) = &hw.family else { panic!("nvdla") };
        assert_eq!(n.pdp_line_buffer.get(), 0);
        let (_, p) = planned("nvdla_full", &off, "resnet50");
        assert_eq!(p.fused_count(), 16, "no pooling fits a zero line buffer");
        let (_, p) = planned("systolic32", &[], "resnet50");
        assert_eq!(p.fused_count(), 0);
        let (g, _) = planned("nvdla_full", &[], "resnet50");
        let mut hw = load_hw("nvdla_full", &[]).expect("preset");
        if let Family::Nvdla(n) = &mut hw.family {
            n.eltwise_on_the_fly = false;
        }
        // Without the element-wise path the mean reads an add that runs alone: nothing fuses.
        assert_eq!(plan(&g, &hw).fused_count(), 0);
    }

    #[test]
    fn pooling_fuses_into_a_direct_conv_only() {
        // VGG-16's 2x2 / 2 pools follow 3x3 stride-1 convs: Winograd on nv_full (no fusion),
        // direct on nv_large (fusion when the line buffer holds the rows).
        let (g, p) = planned("nvdla_full", &[], "vgg16");
        let pools: Vec<usize> = (0..g.layers.len()).filter(|&i| matches!(g.layers[i].op, Op::Pool(_))).collect();
        assert!(!pools.is_empty());
        assert!(pools.iter().all(|&i| p.fused_into(LayerId(i)).is_none()));
        let (g, p) = planned("nvdla_large", &[], "vgg16");
        for &i in &pools {
            let width_out = g.output(&g.layers[i]).shape[2] as u64;
            // 2 rows (ceil(2 / 2) = 1 -> f = 1) x 32 kernels x 14 bits per output column.
            let fits = width_out * 32 * 14 <= 7 * 1024 * 8;
            assert_eq!(p.fused_into(LayerId(i)).is_some(), fits, "{}", g.layers[i].name);
        }
    }

    #[test]
    fn pdp_condition_follows_the_unit_description() {
        let hw = load_hw("nvdla_full", &[]).expect("preset");
        let Family::Nvdla(n) = &hw.family else { panic!("nvdla") };
        // ResNet's 3x3 / 2 max-pool, 56 outputs wide, 32 int8 kernels per group:
        // 56 x f(2) = 2 x 32 x 14 bits = 6272 B <= 7 KB.
        assert!(pdp_fits_on_the_fly(n, [3, 3], [2, 2], 56, 32, 8));
        // 64 wide is the limit (64 x 2 x 32 x 14 bits = 7168 B); 65 does not fit.
        assert!(pdp_fits_on_the_fly(n, [3, 3], [2, 2], 64, 32, 8));
        assert!(!pdp_fits_on_the_fly(n, [3, 3], [2, 2], 65, 32, 8));
        // int16 partial results are twice as wide.
        assert!(!pdp_fits_on_the_fly(n, [3, 3], [2, 2], 56, 32, 16));
        // Windows beyond 8 are not PDP's.
        assert!(!pdp_fits_on_the_fly(n, [9, 9], [1, 1], 1, 32, 8));
        assert_eq!([1, 2, 3, 4, 5].map(|k| pdp_overlap_rows(k, 1)), [1, 2, 4, 4, 8]);
    }
}
