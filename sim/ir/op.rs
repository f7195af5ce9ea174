//! Layer operators and their attributes.

use std::fmt;

/// A fused activation applied to a layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Activation {
    /// No activation.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// min(max(x, -1), 1) (TFLite's RELU_N1_TO_1).
    ReluN1To1,
}

impl Activation {
    /// The clamp range this activation applies to real values.
    pub fn range(self) -> (f32, f32) {
        match self {
            Activation::None => (f32::NEG_INFINITY, f32::INFINITY),
            Activation::Relu => (0.0, f32::INFINITY),
            Activation::Relu6 => (0.0, 6.0),
            Activation::ReluN1To1 => (-1.0, 1.0),
        }
    }

    /// Name as used in model files.
    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "none",
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
            Activation::ReluN1To1 => "relu_n1_to_1",
        }
    }
}

/// Spatial padding of a convolution or pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// TensorFlow SAME: output = ceil(input / stride), extra padding at the bottom/right.
    Same,
    /// No padding.
    Valid,
    /// Explicit padding in elements.
    Explicit {
        /// Rows added above.
        top: usize,
        /// Rows added below.
        bottom: usize,
        /// Columns added on the left.
        left: usize,
        /// Columns added on the right.
        right: usize,
    },
}

/// A 2-D convolution; depthwise is `groups == in_channels`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conv2d {
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Dilation along height and width.
    pub dilation: [usize; 2],
    /// Spatial padding.
    pub padding: Padding,
    /// Channel groups: 1 for a dense conv, `in_channels` for depthwise.
    pub groups: usize,
    /// Whether the layer adds a bias.
    pub bias: bool,
}

impl Conv2d {
    /// Whether this conv is depthwise for an input with `in_channels` channels
    /// (one group per input channel, any channel multiplier).
    pub fn is_depthwise(&self, in_channels: usize) -> bool {
        self.groups > 1 && self.groups == in_channels
    }
}

/// A fully connected layer over the flattened input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullyConnected {
    /// Output features.
    pub out_features: usize,
    /// Whether the layer adds a bias.
    pub bias: bool,
}

/// Max or average pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Average over the window (padding excluded from the count, as TFLite does).
    Avg,
}

/// A pooling window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pool {
    /// Max or average.
    pub kind: PoolKind,
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Spatial padding.
    pub padding: Padding,
}

/// What a layer computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution (dense, grouped or depthwise). Inputs: data, weights, optional bias.
    Conv2d(Conv2d),
    /// Fully connected. Inputs: data, weights, optional bias.
    FullyConnected(FullyConnected),
    /// Element-wise sum of two tensors of the same shape.
    Add,
    /// Concatenation along an axis.
    Concat {
        /// The axis (0..rank).
        axis: usize,
    },
    /// Max or average pooling.
    Pool(Pool),
    /// Mean over axes (global average pooling is a mean over H and W).
    Mean {
        /// The reduced axes.
        axes: Vec<usize>,
        /// Whether reduced axes stay with size 1.
        keep_dims: bool,
    },
    /// Constant zero padding; `pads[d] = (before, after)` for each dimension.
    Pad {
        /// Padding per dimension.
        pads: Vec<(usize, usize)>,
    },
    /// Reshape to a new shape with the same element count.
    Reshape {
        /// Target shape; at most one entry may be -1 (inferred).
        shape: Vec<i64>,
    },
    /// Softmax over the last axis.
    Softmax {
        /// Scaling of logits (TFLite's beta), usually 1.
        beta: f32,
    },
    /// Float to integer quantization (or requantization between integer types).
    Quantize,
    /// Integer to float dequantization.
    Dequantize,
}

impl Op {
    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(c) if c.groups > 1 => "gconv",
            Op::Conv2d(_) => "conv",
            Op::FullyConnected(_) => "fc",
            Op::Add => "add",
            Op::Concat { .. } => "concat",
            Op::Pool(Pool { kind: PoolKind::Max, .. }) => "maxpool",
            Op::Pool(Pool { kind: PoolKind::Avg, .. }) => "avgpool",
            Op::Mean { .. } => "mean",
            Op::Pad { .. } => "pad",
            Op::Reshape { .. } => "reshape",
            Op::Softmax { .. } => "softmax",
            Op::Quantize => "quantize",
            Op::Dequantize => "dequantize",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
