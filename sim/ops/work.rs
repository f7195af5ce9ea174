//! What a layer asks of the hardware, normalized for the schedulers: a convolution loop nest
//! (fully connected is a 1x1 convolution over a 1x1 image; a matrix product is one with
//! an activation as its second operand) or vector work; an op's cost is a list of these
//! phases ([`crate::ops::OpFamily::work`]).

use crate::units::Macs;

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
        let span = rows.saturating_sub(1).saturating_mul(self.sh);
        span.saturating_add(self.r.saturating_sub(1).saturating_mul(self.dh)).saturating_add(1).min(self.ih.max(1))
    }
    /// Input columns needed for `cols` output columns.
    pub fn in_cols(&self, cols: u64) -> u64 {
        let span = cols.saturating_sub(1).saturating_mul(self.sw);
        span.saturating_add(self.s.saturating_sub(1).saturating_mul(self.dw)).saturating_add(1).min(self.iw.max(1))
    }
}

/// Element-wise, pooling, reduction or data-movement work, run on the vector unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VectorWork {
    /// Input elements read (all inputs).
    pub in_elements: u64,
    /// Output elements written.
    pub out_elements: u64,
    /// Weight elements read (an embedding's table rows, a norm's gamma and beta), at the
    /// layer's weight width; 0 for work without weights.
    pub weights: u64,
    /// Vector-unit operations.
    pub ops: u64,
    /// Whether this is pooling (runs on NVDLA's PDP rather than its SDP).
    pub pooling: bool,
}

/// Where a GEMM's second operand comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A constant (weights): loaded once per tile, reused across the batch.
    Constant,
    /// An activation computed by the network (e.g. attention's K and V): the layer's data
    /// input `input` (0 is the first). It differs per batch element, so the GEMM is costed
    /// once per element with no reuse across the batch.
    Activation {
        /// Which data input.
        input: usize,
        /// Whether the operand's last axis is the one summed over (`K` read transposed in
        /// `Q K^T`); else its last axis is the output's (`V` in `P V`). A tensor's groups
        /// (a KV cache's, along its last axis) are along or across the reduction by this.
        last_axis_summed: bool,
    },
    /// Constant weights applied at each of `steps` sequential steps, each step's rows
    /// depending on the previous step's result (a recurrent layer's hidden-state
    /// projection): the loop nest is one step's, costed for one step and run `steps` times,
    /// never batched into one GEMM over the steps; each step is a pass of its own (its
    /// weights fetched again, as every pass reads its operands from DRAM).
    Sequential {
        /// How many steps run one after another.
        steps: u64,
    },
}

/// One phase of a layer's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A convolution / GEMM loop nest on the MAC array.
    Gemm {
        /// The loop nest.
        work: ConvWork,
        /// Where the second operand comes from.
        operand: Operand,
    },
    /// Element-wise, pooling, reduction or data-movement work on the vector unit.
    Vector(VectorWork),
}
