//! The work of one layer in the normalized form the schedulers use: a convolution loop nest
//! (fully connected is a 1x1 convolution over a 1x1 image), vector work, or nothing.

use crate::hw::{HwDesc, PrecisionMode};
use crate::ir::{Graph, Layer, Op, PoolKind};
use crate::units::Macs;

/// The compute mode a layer's widths select: its weights' width by its data input's, for
/// a layer with weights; `None` for a layer without weights (it has no weight width, so no
/// mode: never a default width) or when no mode is wide enough.
pub fn mode_of<'a>(g: &Graph, l: &Layer, hw: &'a HwDesc) -> Option<&'a PrecisionMode> {
    let w = g.weights_of(l)?;
    hw.mode_for(w.dtype.bits(), g.data_input(l).dtype.bits())
}

/// A convolution (or FC) loop nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvWork {
    /// Batch.
    pub n: u64,
    /// Input height and width (before padding).
    pub ih: u64,
    /// Input width.
    pub iw: u64,
    /// Input channels (all groups).
    pub c: u64,
    /// Output channels (all groups).
    pub k: u64,
    /// Groups (1 dense, c for depthwise).
    pub groups: u64,
    /// Kernel height.
    pub r: u64,
    /// Kernel width.
    pub s: u64,
    /// Stride along height.
    pub sh: u64,
    /// Stride along width.
    pub sw: u64,
    /// Dilation along height.
    pub dh: u64,
    /// Dilation along width.
    pub dw: u64,
    /// Output height.
    pub oh: u64,
    /// Output width.
    pub ow: u64,
}

impl ConvWork {
    /// A fully connected layer as a 1x1 convolution over a 1x1 image, batch `n`.
    pub fn fully_connected(n: u64, in_features: u64, out_features: u64) -> Self {
        ConvWork {
            n,
            ih: 1,
            iw: 1,
            c: in_features,
            k: out_features,
            groups: 1,
            r: 1,
            s: 1,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            oh: 1,
            ow: 1,
        }
    }

    /// Input channels per group.
    pub fn cg(&self) -> u64 {
        self.c / self.groups.max(1)
    }
    /// Output channels per group.
    pub fn kg(&self) -> u64 {
        self.k / self.groups.max(1)
    }
    /// Whether this is a depthwise convolution (one input channel per group).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.c
    }
    /// Output pixels (batch included).
    pub fn pixels(&self) -> u64 {
        self.n.saturating_mul(self.oh).saturating_mul(self.ow)
    }
    /// Multiply-accumulates.
    pub fn macs(&self) -> Macs {
        Macs(self.pixels().saturating_mul(self.k).saturating_mul(self.r * self.s).saturating_mul(self.cg()))
    }
    /// Weight elements.
    pub fn weights(&self) -> u64 {
        self.k.saturating_mul(self.r * self.s).saturating_mul(self.cg())
    }
    /// Input rows needed for `rows` output rows.
    pub fn in_rows(&self, rows: u64) -> u64 {
        (rows.saturating_sub(1) * self.sh + (self.r - 1) * self.dh + 1).min(self.ih.max(1))
    }
    /// Input columns needed for `cols` output columns.
    pub fn in_cols(&self, cols: u64) -> u64 {
        (cols.saturating_sub(1) * self.sw + (self.s - 1) * self.dw + 1).min(self.iw.max(1))
    }
}

/// Element-wise, pooling, reduction or data-movement work, run on the vector unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorWork {
    /// Input elements read (all inputs).
    pub in_elements: u64,
    /// Output elements written.
    pub out_elements: u64,
    /// Vector-unit operations.
    pub ops: u64,
    /// Whether this is pooling (runs on NVDLA's PDP rather than its SDP).
    pub pooling: bool,
}

/// What a layer asks of the hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Convolution or fully connected.
    Conv(ConvWork),
    /// Vector work.
    Vector(VectorWork),
    /// No work: a reshape is a view of the same bytes.
    Free,
}

/// Extracts the work of a layer from a validated graph.
pub fn work_of(g: &Graph, l: &Layer) -> Work {
    let x = g.data_input(l);
    let out = g.output(l);
    let dim = |t: &[usize], i: usize| t.get(i).copied().unwrap_or(1) as u64;
    match &l.op {
        Op::Conv2d(c) => {
            let (n, ih, iw, cin) = (dim(&x.shape, 0), dim(&x.shape, 1), dim(&x.shape, 2), dim(&x.shape, 3));
            Work::Conv(ConvWork {
                n,
                ih,
                iw,
                c: cin,
                k: c.out_channels as u64,
                groups: c.groups as u64,
                r: c.kernel[0] as u64,
                s: c.kernel[1] as u64,
                sh: c.stride[0] as u64,
                sw: c.stride[1] as u64,
                dh: c.dilation[0] as u64,
                dw: c.dilation[1] as u64,
                oh: dim(&out.shape, 1),
                ow: dim(&out.shape, 2),
            })
        }
        Op::FullyConnected(fc) => {
            let n = dim(&x.shape, 0).max(1);
            Work::Conv(ConvWork::fully_connected(n, x.elements() / n, fc.out_features as u64))
        }
        Op::Reshape { .. } => Work::Free,
        op => {
            let in_elements: u64 = g.activation_inputs(l).map(|t| t.elements()).sum();
            let out_elements = out.elements();
            let (ops, pooling) = match op {
                Op::Pool(p) => {
                    let window = (p.kernel[0] * p.kernel[1]) as u64;
                    // An average also needs one multiply per output for the division.
                    let extra = if p.kind == PoolKind::Avg { out_elements } else { 0 };
                    (out_elements.saturating_mul(window) + extra, true)
                }
                Op::Mean { .. } => (in_elements + out_elements, true),
                // exp via a lookup table, running sum, reciprocal multiply.
                Op::Softmax { .. } => (in_elements.saturating_mul(3), false),
                Op::Add => (in_elements + out_elements, false),
                // Pure data movement: one copy per element.
                _ => (out_elements, false),
            };
            Work::Vector(VectorWork { in_elements, out_elements, ops, pooling })
        }
    }
}
