//! The op set: one module per operator family, each implementing [`OpFamily`], the one
//! place that says what the family's layers compute and cost.
//!
//! [`Op`] (in `ir`) is a closed enum with one variant per family; the methods on `Op` below
//! delegate to the family modules with exhaustive matches, so adding a family is a compile
//! error everywhere a decision is needed and nowhere else. Every stage reads the family
//! through these methods: shape inference and MAC counts (`ir::Graph`), the cost phases
//! (`map::work`), the quantization rule (`quant::ptq`, the ONNX QDQ importer), float and
//! integer execution (`kernels::Executor`) and data-free statistics (`quant::data_free`).
//! The stages that rewrite weights (PTQ, CLE, ONNX folding, TFLite export) and NVDLA's
//! fusion plan ask the family for its [`WeightLayout`] instead of naming ops; NVDLA's fusion
//! plan (`map::fusion`) and its performance workbook's graph reader
//! (`simulate::nvdla_estimator`) ask for plain descriptions, [`OnTheFly`] and
//! [`WorkbookRow`], so neither matches on op kinds.
//! Element-wise binary kinds are rows of the table in [`binary`].
//!
//! Architecture invariant: no method of [`OpFamily`] has a default, and no stage matches
//! on an op family with a catch-all arm.

pub mod binary;
pub mod conv;
pub mod convert;
pub mod embedding;
pub mod fc;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod recurrent;
pub mod reduce;
pub mod resize;
pub mod rotary;
pub mod softmax;
pub mod state;
pub mod transpose_conv;
pub mod unary;
mod weighted;
pub mod work;

use crate::ir::{Conv2d, FullyConnected, Graph, Layer, Op, Tensor, TensorKind, TransposeConv};
use crate::kernels::{Arithmetic, Values};
use crate::units::Macs;
use work::Phase;

/// A layer seen from its op: the layer and the graph around it.
#[derive(Clone, Copy)]
pub struct LayerCx<'a> {
    /// The graph.
    pub g: &'a Graph,
    /// The layer.
    pub l: &'a Layer,
}

impl<'a> LayerCx<'a> {
    /// The layer `l` of `g`.
    pub fn new(g: &'a Graph, l: &'a Layer) -> Self {
        LayerCx { g, l }
    }

    /// The first data (activation) input, or the first input when none is an activation.
    pub fn x(&self) -> &'a Tensor {
        self.data().next().unwrap_or_else(|| self.g.tensor(self.l.inputs[0]))
    }

    /// The data (activation) inputs, in order.
    pub fn data(&self) -> impl Iterator<Item = &'a Tensor> + 'a {
        let g = self.g;
        self.l.inputs.iter().map(move |&t| g.tensor(t)).filter(|t| t.kind == TensorKind::Activation)
    }

    /// The first output (valid once shapes are inferred).
    pub fn out(&self) -> &'a Tensor {
        self.g.tensor(self.l.outputs[0])
    }

    /// The weight tensor, if the layer has one.
    pub fn weights(&self) -> Option<&'a Tensor> {
        self.g.weights_of(self.l)
    }

    /// The bias tensor, if the layer has one.
    pub fn bias(&self) -> Option<&'a Tensor> {
        self.g.bias_of(self.l)
    }
}

/// How an op's output is quantized relative to its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantRule {
    /// Its own parameters from statistics; the integer kernel rescales.
    Free,
    /// The output carries the data input's parameters: the integer kernel moves values
    /// without rescaling them.
    SameAsInput,
    /// Parameters fixed by the op at this width.
    Fixed {
        /// Scale.
        scale: f32,
        /// Zero point.
        zero_point: i32,
    },
    /// Its own parameters and a kernel that rescales its inputs; targets whose kernel does
    /// not (LiteRT) give the inputs and the output one set.
    SharedWithInputs,
    /// No integer kernel at this width: the op runs in float on dequantized inputs (and a
    /// DEQUANTIZE's output is float by definition).
    FloatOnly,
}

impl QuantRule {
    /// Own parameters where LiteRT's integer kernel exists, which is for operands of at most 8
    /// bits (its int8 / uint8 kernels and tables); float at wider widths.
    pub fn free_up_to_8_bits(input_bits: u8, output_bits: u8) -> QuantRule {
        if input_bits <= 8 && output_bits <= 8 {
            QuantRule::Free
        } else {
            QuantRule::FloatOnly
        }
    }
}

/// The constant weights a family's layers hold: what the stages that rewrite weights (PTQ,
/// cross-layer equalization, the ONNX importer's folding, the TFLite exporter) and NVDLA's
/// fusion plan (only a convolution heads a fused pass) read. A family with another weight
/// layout adds a variant, and the compiler lists those stages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightLayout<'a> {
    /// No constant weights.
    None,
    /// A convolution's kernel, output channels first, in `groups` groups.
    Conv(&'a Conv2d),
    /// A fully connected layer's `[out_features, in_features]` matrix.
    Matrix(&'a FullyConnected),
    /// A transposed convolution's kernel, OHWI `[out_channels, kh, kw, in_channels]`
    /// (output channels first, as a dense convolution's).
    TransposeConv(&'a TransposeConv),
    /// Constant weights of a layer that computes in float only (a norm's gamma and beta, an
    /// embedding table): no stage rewrites them (PTQ keeps them float, CLE, folding and
    /// learned rounding skip them, nothing fuses into the layer).
    Float,
}

impl WeightLayout<'_> {
    /// Whether a matrix product reduces over these weights, so they can be quantized in
    /// groups along the reduction (`--wgroup`, `--layer-bits NAME=g32`): a convolution's,
    /// fully connected or transposed convolution's; a norm's gamma or an embedding's table
    /// is read element by element.
    pub fn reduced(&self) -> bool {
        match self {
            WeightLayout::Conv(_) | WeightLayout::Matrix(_) | WeightLayout::TransposeConv(_) => true,
            WeightLayout::None | WeightLayout::Float => false,
        }
    }

    /// Whether the executor has an integer group-wise kernel for these weights (the fully
    /// connected one, `kernels::fc::FcGroups`): the layers `accelsim quantize` writes
    /// group-wise; the cost model costs groups on every [`Self::reduced`] layout.
    pub fn group_kernel(&self) -> bool {
        match self {
            WeightLayout::Matrix(_) => true,
            WeightLayout::Conv(_) | WeightLayout::TransposeConv(_) | WeightLayout::None | WeightLayout::Float => false,
        }
    }
}

/// What NVDLA's post-processing behind a convolution (SDP, PDP) can run of a layer on the
/// fly: a plain description that the fusion plan (`map::fusion`) reads under the hardware's
/// conditions (the switches, the convolution's mode, the line buffer). Every family says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTheFly {
    /// Never on the fly: a pass of its own.
    No,
    /// SDP's element-wise add, the other operand read from memory by SDP's DMA.
    SdpAdd,
    /// A PDP pooling window over the convolution's output.
    PdpPool {
        /// Window height and width.
        kernel: [usize; 2],
        /// Stride along height and width.
        stride: [usize; 2],
    },
    /// A mean over height and width of an NHWC tensor: one PDP window over the whole plane.
    PdpPlaneMean,
}

/// What a layer is in NVIDIA's NVDLA performance workbook, whose rows are convolutions and
/// fully connected layers with pooling and element-wise work fused into them (its `Readme`,
/// assumption 2): a plain description the estimator's graph reader
/// (`simulate::nvdla_estimator::from_graph`) turns into rows. Every family says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkbookRow<'a> {
    /// A convolution row (the reader refuses what the workbook has no convention for).
    Conv(&'a Conv2d),
    /// A fully connected row.
    FullyConnected {
        /// Output features.
        out_features: usize,
    },
    /// An element-wise add: the latest convolution row among its inputs becomes
    /// `conv + elwise`.
    ConvEltwise,
    /// A pooling window fused into the row that produced its input.
    Pool {
        /// Window height and width.
        kernel: [usize; 2],
        /// Stride along height and width.
        stride: [usize; 2],
    },
    /// A mean over height and width of an NHWC tensor (global average pooling), fused into
    /// the row that produced its input as one window over the plane.
    PlaneMean,
    /// A view that moves no data: no row; a pool after it still fuses into the row before.
    View,
    /// No row and no cost.
    None {
        /// What the layer is, as the skip note says it ("this operator").
        what: &'static str,
    },
}

/// The workbook's answer for an operator it has no row for.
pub const NO_WORKBOOK_ROW: WorkbookRow<'static> = WorkbookRow::None { what: "this operator" };

/// Per-channel mean and variance of a tensor, as data-free calibration propagates them.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Mean per channel (one entry when collapsed over channels).
    pub mean: Vec<f64>,
    /// Variance per channel.
    pub var: Vec<f64>,
}

impl Moments {
    /// Mean and variance over all channels.
    pub fn collapse(&self) -> (f64, f64) {
        let n = self.mean.len().max(1) as f64;
        let m = self.mean.iter().sum::<f64>() / n;
        let v = self.var.iter().zip(&self.mean).map(|(v, mu)| v + (mu - m).powi(2)).sum::<f64>() / n;
        (m, v)
    }

    /// The moments of channel `i` (the only entry of a collapsed tensor; zero beyond the end).
    pub fn channel(&self, i: usize) -> (f64, f64) {
        if self.mean.len() == 1 {
            (self.mean[0], self.var[0])
        } else {
            (self.mean.get(i).copied().unwrap_or(0.0), self.var.get(i).copied().unwrap_or(0.0))
        }
    }

    /// The same moments collapsed to one channel when they do not have `channels` entries.
    pub fn with_channels(self, channels: usize) -> Moments {
        if self.mean.len() == channels {
            self
        } else {
            let (mu, v) = self.collapse();
            Moments { mean: vec![mu], var: vec![v] }
        }
    }
}

/// What data-free calibration knows of an op's output before its fused activation.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFree {
    /// The propagated moments.
    pub moments: Moments,
    /// Whether the output's range lies within the data input's (pooling, means, layout).
    pub within_input_range: bool,
}

/// A layer's integer kernel with its parameters resolved once (requantization multipliers,
/// clamp ranges, packed weights); [`IntKernel::run`] then takes only values.
pub enum IntKernel {
    /// A convolution.
    Conv(conv::IntConv),
    /// A fully connected layer.
    Fc(fc::IntFc),
    /// A transposed convolution.
    TransposeConv(transpose_conv::IntTransposeConv),
    /// A batched matrix product of two activations.
    MatMul(matmul::IntMatMul),
    /// An element-wise binary op.
    Binary(binary::IntBinary),
    /// Pooling.
    Pool(pool::IntPool),
    /// A reduction.
    Reduce(reduce::IntReduce),
    /// Softmax.
    Softmax(softmax::IntSoftmax),
    /// Concat, pad, reshape.
    Layout(layout::IntLayout),
    /// Quantize, dequantize.
    Convert(convert::IntConvert),
    /// A spatial resize.
    Resize(resize::IntResize),
    /// An element-wise unary op.
    Unary(unary::IntUnary),
    /// A state read or assignment (a copy).
    State(state::IntState),
    /// LiteRT's integer LSTM.
    Recurrent(recurrent::IntRecurrent),
}

impl IntKernel {
    /// Runs the kernel on the layer's data inputs (in order) and returns one value per
    /// output; an error says what is missing or unsupported.
    pub fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        match self {
            IntKernel::Conv(k) => k.run(inputs, arith),
            IntKernel::Fc(k) => k.run(inputs, arith),
            IntKernel::TransposeConv(k) => k.run(inputs, arith),
            IntKernel::MatMul(k) => k.run(inputs, arith),
            IntKernel::Binary(k) => k.run(inputs, arith),
            IntKernel::Pool(k) => k.run(inputs),
            IntKernel::Reduce(k) => k.run(inputs, arith),
            IntKernel::Softmax(k) => k.run(inputs),
            IntKernel::Layout(k) => k.run(inputs),
            IntKernel::Convert(k) => k.run(inputs),
            IntKernel::Unary(k) => k.run(inputs),
            IntKernel::Resize(k) => k.run(inputs),
            IntKernel::State(k) => k.run(inputs),
            IntKernel::Recurrent(k) => k.run(inputs, arith),
        }
    }
}

/// Vector work that reads every data input once and writes the output once, with `ops`
/// operations from the elements read and written.
pub(crate) fn vector_phase(cx: &LayerCx, pooling: bool, ops: impl FnOnce(u64, u64) -> u64) -> Phase {
    let in_elements: u64 = cx.data().map(|t| t.elements()).fold(0, u64::saturating_add);
    let out_elements = cx.out().elements();
    let ops = ops(in_elements, out_elements);
    Phase::Vector(work::VectorWork { in_elements, out_elements, weights: 0, ops, pooling })
}

/// Data-free statistics of an op that keeps its data input's moments.
pub(crate) fn same_moments(inputs: &[Option<&Moments>], within_input_range: bool) -> Option<DataFree> {
    let x = inputs.first().copied().flatten()?;
    Some(DataFree { moments: x.clone(), within_input_range })
}

/// The integer values of data input `i` as i32 (8-bit storage widened, [`Values::ints`]),
/// or why there are none.
pub(crate) fn int_input<'v>(inputs: &[&'v Values], i: usize) -> Result<std::borrow::Cow<'v, [i32]>, String> {
    match inputs.get(i) {
        Some(v) => v.ints().ok_or_else(|| "expects an integer input, got floats".into()),
        None => Err("input not computed".into()),
    }
}

/// What every op family defines. No method has a default: a new family decides each.
pub trait OpFamily {
    /// A short name for reports.
    fn name(&self) -> &'static str;
    /// The shape of each output from the inputs' shapes (one entry per output), or what
    /// is inconsistent.
    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String>;
    /// Multiply-accumulates: weight-by-activation or activation-by-activation products
    /// (bias, pooling and element-wise work is not counted).
    fn macs(&self, cx: &LayerCx) -> Macs;
    /// The cost phases, in order (none for an op that moves no data).
    fn work(&self, cx: &LayerCx) -> Vec<Phase>;
    /// How the output is quantized, for a data input and an output of these widths.
    fn quant_rule(&self, input_bits: u8, output_bits: u8) -> QuantRule;
    /// Whether the family's layers carry a fused activation: its integer kernel clamps to
    /// the layer's activation and the formats can write one (a layer of a family that
    /// does not has none).
    fn fused_activation(&self) -> bool;
    /// The constant weights its layers hold ([`WeightLayout::None`] for none).
    fn weight_layout(&self) -> WeightLayout<'_>;
    /// Whether its integer kernel writes floats (DEQUANTIZE): its layers run the integer
    /// kernel although their output is float. Other layers run it when their output is an
    /// integer tensor.
    fn dequantizes(&self) -> bool;
    /// What NVDLA's post-processing behind a convolution can run of its layers on the fly
    /// ([`OnTheFly::No`] for none).
    fn on_the_fly(&self, cx: &LayerCx) -> OnTheFly;
    /// What its layers are in NVDLA's performance workbook ([`NO_WORKBOOK_ROW`] for none).
    fn workbook_row(&self, cx: &LayerCx) -> WorkbookRow<'_>;
    /// Sets the batch axis in the attributes that name it, for a batch-1 network run at
    /// batch `n` (`Graph::with_batch`, `--batch N`); a family whose output's batch follows
    /// from its inputs keeps its attributes.
    fn set_batch(&mut self, n: usize);
    /// Float evaluation (before the fused activation) from the data inputs' values, in
    /// order; constants are read from the graph. One value per output.
    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String>;
    /// The integer kernel of a layer whose output is an integer tensor.
    fn prepare_int(&self, cx: &LayerCx, arith: &Arithmetic) -> Result<IntKernel, String>;
    /// Data-free statistics of the output before the fused activation from those of the
    /// inputs (`inputs[i]` for `l.inputs[i]`, `None` where unknown); `None` when unknown.
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree>;
}

/// Delegation of [`OpFamily`] to the family modules.
macro_rules! delegate {
    ($self:ident, $f:ident ( $($arg:expr),* )) => {
        match $self {
            Op::Conv2d(o) => o.$f($($arg),*),
            Op::FullyConnected(o) => o.$f($($arg),*),
            Op::TransposeConv(o) => o.$f($($arg),*),
            Op::MatMul(o) => o.$f($($arg),*),
            Op::Binary(o) => o.$f($($arg),*),
            Op::Unary(o) => o.$f($($arg),*),
            Op::Pool(o) => o.$f($($arg),*),
            Op::Reduce(o) => o.$f($($arg),*),
            Op::Softmax(o) => o.$f($($arg),*),
            Op::Norm(o) => o.$f($($arg),*),
            Op::Embedding(o) => o.$f($($arg),*),
            Op::Rotary(o) => o.$f($($arg),*),
            Op::Recurrent(o) => o.$f($($arg),*),
            Op::Layout(o) => o.$f($($arg),*),
            Op::Convert(o) => o.$f($($arg),*),
            Op::Resize(o) => o.$f($($arg),*),
            Op::State(o) => o.$f($($arg),*),
        }
    };
}

impl OpFamily for Op {
    fn name(&self) -> &'static str {
        delegate!(self, name())
    }
    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        delegate!(self, infer_shapes(cx))
    }
    fn macs(&self, cx: &LayerCx) -> Macs {
        delegate!(self, macs(cx))
    }
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        delegate!(self, work(cx))
    }
    fn quant_rule(&self, input_bits: u8, output_bits: u8) -> QuantRule {
        delegate!(self, quant_rule(input_bits, output_bits))
    }
    fn fused_activation(&self) -> bool {
        delegate!(self, fused_activation())
    }
    fn weight_layout(&self) -> WeightLayout<'_> {
        delegate!(self, weight_layout())
    }
    fn dequantizes(&self) -> bool {
        delegate!(self, dequantizes())
    }
    fn on_the_fly(&self, cx: &LayerCx) -> OnTheFly {
        delegate!(self, on_the_fly(cx))
    }
    fn workbook_row(&self, cx: &LayerCx) -> WorkbookRow<'_> {
        delegate!(self, workbook_row(cx))
    }
    fn set_batch(&mut self, n: usize) {
        delegate!(self, set_batch(n))
    }
    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        delegate!(self, eval_float(cx, inputs))
    }
    fn prepare_int(&self, cx: &LayerCx, arith: &Arithmetic) -> Result<IntKernel, String> {
        delegate!(self, prepare_int(cx, arith))
    }
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        delegate!(self, data_free(cx, inputs))
    }
}

impl Op {
    /// Whether the op's kernel passes its data input's quantization through to its output
    /// without rescaling ([`QuantRule::SameAsInput`], a rule that holds at every width), so
    /// the two share parameters and width.
    pub fn passes_quantization_through(&self) -> bool {
        // SameAsInput is decided by the family alone; the widths given do not matter.
        self.quant_rule(8, 8) == QuantRule::SameAsInput
    }

    /// A short name for reports (`Graph::op_name` also tells depthwise convolutions apart).
    pub fn name(&self) -> &'static str {
        OpFamily::name(self)
    }

    /// The constant weights the op's layers hold (see [`WeightLayout`]).
    pub fn weight_layout(&self) -> WeightLayout<'_> {
        OpFamily::weight_layout(self)
    }
}
