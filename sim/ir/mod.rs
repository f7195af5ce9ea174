//! The network IR: a graph of layers over tensors, the one representation every importer
//! produces and every later stage (quantization, mapping, simulation, execution) consumes.
//!
//! Wires are indices, not pointers: a [`Layer`] names its input and output tensors by
//! [`TensorId`], and tensors live in one vector on the [`Graph`]. Activations are NHWC
//! (`[batch, height, width, channels]`); convolution weights are OHWI
//! (`[out_channels, kh, kw, in_channels / groups]`), so a depthwise convolution is a
//! [`Conv2d`] with `groups == in_channels` and weights `[C * multiplier, kh, kw, 1]`; fully
//! connected weights are `[out_features, in_features]`.
//!
//! Architecture invariant: after [`Graph::validate`] succeeds, every tensor has a shape,
//! every layer's inputs are produced before it in `layers` (topological order) and its
//! output shapes agree with shape inference. The simulator relies on this and never
//! re-checks shapes.

mod batch;
mod graph;
mod int8;
mod op;
mod quant;
mod shape;

pub use batch::BatchError;
pub use graph::{Graph, IrError, Layer, LayerId, StateVar, Tensor, TensorData, TensorId, TensorKind, WeightSource};
pub use int8::{I8Values, SharedBytes};
pub use op::{
    Activation, BinaryKind, Conv2d, Convert, Direction, Embedding, FullyConnected, HybridConvKernel, Layout, MatMul,
    Norm, NormKind, Op, Padding, Pool, PoolKind, Recurrent, RecurrentKind, Reduce, ReduceKind, Resize, ResizeKind,
    RopeScaling, Rotary, Softmax, StateAccess, StateOp, TransposeConv, UnaryKind,
};
pub use quant::{DataType, DynamicActivations, QuantParams, WeightGroups};
pub use shape::{conv_out_dim, resolve_padding, window_out, ExplicitPadding};
