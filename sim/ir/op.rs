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

    /// Every activation, in the order errors list them.
    pub const ALL: [Activation; 4] = [Activation::None, Activation::Relu, Activation::Relu6, Activation::ReluN1To1];

    /// The activation with this name (as model and `.aqm` files write it).
    pub fn parse(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The accepted names, for error messages ("none, relu, relu6 or relu_n1_to_1").
    pub fn expected() -> String {
        let names: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
        format!("{} or {}", names[..names.len() - 1].join(", "), names[names.len() - 1])
    }

    /// Name as used in model and `.aqm` files.
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

    /// Which of LiteRT's hybrid kernels runs it with integer weights of these `scales` behind
    /// a float input with `in_channels` channels. CONV_2D (`conv.cc`'s Prepare) takes its
    /// per-channel kernel only for more than one scale of which two differ; one scale, or
    /// all equal, take the per-tensor one (measured: `conv_hybrid_equal_scales` differs in
    /// every output between the two). DEPTHWISE_CONV_2D always takes its per-channel
    /// kernel, which reads one scale per output channel: with fewer it reads past them
    /// (measured: outputs 4e22 off a 13-magnitude result), so that is refused. The one rule
    /// of the executor, the cost model and `quantize --dynamic`.
    pub fn hybrid_kernel(&self, in_channels: usize, scales: &[f32]) -> Result<HybridConvKernel, String> {
        if self.is_depthwise(in_channels) {
            return if scales.len() == self.out_channels {
                Ok(HybridConvKernel::PerChannel)
            } else {
                Err(format!(
                    "hybrid (float input) depthwise convolution with {} weight scale(s) for {} channels: LiteRT's kernel reads one per channel (past the given ones: its outputs are undefined)",
                    scales.len(),
                    self.out_channels
                ))
            };
        }
        match scales.split_first() {
            Some((first, rest)) if rest.iter().any(|s| s != first) => Ok(HybridConvKernel::PerChannel),
            Some(_) => Ok(HybridConvKernel::PerTensor),
            None => Err("hybrid (float input) convolution without weight scales".into()),
        }
    }
}

/// LiteRT's two hybrid convolution kernels ([`Conv2d::hybrid_kernel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HybridConvKernel {
    /// `EvalHybridPerChannel`: each image quantized asymmetrically as a whole (a zero point),
    /// each output rescaled by its channel's weight scale.
    PerChannel,
    /// `EvalHybrid`: each image quantized symmetrically as a whole, the image's scale times
    /// the one weight scale rescaling every output.
    PerTensor,
}

/// A 2-D transposed convolution (TFLite's TRANSPOSE_CONV, ONNX ConvTranspose): each input
/// pixel scatters `kernel` taps into the output, `stride` apart, the output window shifted
/// up and left by `pad`: input `(iy, ix)` and tap `(ky, kx)` land on output
/// `(iy * stride[0] + ky - pad[0], ix * stride[1] + kx - pad[1])` when that is inside the
/// `output` window (taps outside are dropped, as LiteRT's kernels do). Weights are OHWI
/// (`[out_channels, kh, kw, in_channels]`, TFLite's layout); no groups or dilation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransposeConv {
    /// Output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along height and width (>= 1).
    pub stride: [usize; 2],
    /// Rows and columns cropped above and on the left (TFLite: the top / left padding its
    /// SAME or VALID rule gives for the output size; ONNX: `pads` begin).
    pub pad: [usize; 2],
    /// Output height and width (TFLite's `output_shape`; ONNX's from `pads`,
    /// `output_padding` or `output_shape`).
    pub output: [usize; 2],
    /// Whether the layer adds a bias.
    pub bias: bool,
}

/// A batched matrix product of two data inputs (TFLite's BATCH_MATMUL, ONNX MatMul of two
/// activations): `[..., M, K] x [..., K, N] -> [..., M, N]`, each batch axis of size 1 in
/// one operand broadcast to the other's (ranks 2 to 5, the shorter one extended with leading
/// ones). `adj_x` / `adj_y` read an operand with its last two axes swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatMul {
    /// The first operand is `[..., K, M]`.
    pub adj_x: bool,
    /// The second operand is `[..., N, K]`.
    pub adj_y: bool,
}

/// A fully connected layer over the input read as rows of the weights' input features.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullyConnected {
    /// Output features.
    pub out_features: usize,
    /// Whether the layer adds a bias.
    pub bias: bool,
    /// Whether the output keeps the input's leading axes (`[..., in] -> [..., out]`, TFLite's
    /// `keep_num_dims`, a transformer's per-token projection); otherwise it is `[rows, out]`.
    /// Either way the input is read as rows of the weights' input features.
    pub keep_dims: bool,
    /// LiteRT's hybrid (dynamic-range) form, integer weights behind a float input: each input
    /// row (token) is quantized to int8 when the layer runs, with its own scale, and with
    /// its own zero point when this is set (`asymmetric_quantize_inputs`; else symmetric).
    pub asymmetric_inputs: bool,
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

/// The element-wise binary kinds (rows of the table in `ops::binary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryKind {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b.
    Div,
    /// max(a, b).
    Maximum,
    /// min(a, b).
    Minimum,
    /// Parametric ReLU: a where a >= 0, else a * b (b: the slopes, broadcast to a).
    Prelu,
    /// a to the power b (TFLite's POW, float only).
    Pow,
    /// (a - b)^2 (TFLite's SQUARED_DIFFERENCE, what the converter lowers a variance to).
    SquaredDifference,
}

/// The element-wise unary kinds (rows of the table in `ops::unary`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryKind {
    /// 1 / (1 + exp(-x)) (TFLite's LOGISTIC, ONNX Sigmoid).
    Logistic,
    /// tanh(x).
    Tanh,
    /// x * relu6(x + 3) / 6.
    HardSwish,
    /// x where x >= 0, else alpha * x.
    LeakyRelu {
        /// The slope below zero.
        alpha: f32,
    },
    /// max(x, 0) as a layer of its own.
    Relu,
    /// min(max(x, 0), 6) as a layer of its own.
    Relu6,
    /// min(max(x, -1), 1) as a layer of its own.
    ReluN1To1,
    /// sqrt(x).
    Sqrt,
    /// 1 / sqrt(x) (TFLite's RSQRT).
    Rsqrt,
    /// The natural logarithm.
    Log,
    /// -x (TFLite's NEG, ONNX Neg).
    Neg,
    /// x * x (TFLite's SQUARE; float only).
    Square,
    /// ONNX HardSigmoid: min(max(alpha * x + beta, 0), 1) (no TFLite operator).
    HardSigmoid {
        /// The slope (ONNX's default 0.2; PyTorch exports 1/6).
        alpha: f32,
        /// The offset (0.5 by default).
        beta: f32,
    },
    /// GELU, exact form: `x * (1 + erf(x / sqrt 2)) / 2` (BERT, ViT; PyTorch's default).
    Gelu,
    /// GELU, tanh form: `x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2` (GPT-2).
    GeluTanh,
    /// SiLU (swish): `x * logistic(x)` (Llama's gated FFN).
    Silu,
}

impl UnaryKind {
    /// The kind's parameters `(alpha, beta)` (LeakyReLU's slope; HardSigmoid's slope and
    /// offset), `None` where it has none: the one place that lists which kinds carry what,
    /// read by the float kernels, `.aqm` and the TFLite writer.
    pub fn parameters(&self) -> (Option<f32>, Option<f32>) {
        match *self {
            UnaryKind::LeakyRelu { alpha } => (Some(alpha), None),
            UnaryKind::HardSigmoid { alpha, beta } => (Some(alpha), Some(beta)),
            UnaryKind::Logistic
            | UnaryKind::Tanh
            | UnaryKind::HardSwish
            | UnaryKind::Relu
            | UnaryKind::Relu6
            | UnaryKind::ReluN1To1
            | UnaryKind::Sqrt
            | UnaryKind::Rsqrt
            | UnaryKind::Log
            | UnaryKind::Neg
            | UnaryKind::Square
            | UnaryKind::Gelu
            | UnaryKind::GeluTanh
            | UnaryKind::Silu => (None, None),
        }
    }
}

/// A reduction over axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceKind {
    /// The arithmetic mean (global average pooling is a mean over H and W).
    Mean,
    /// The largest value (TFLite's REDUCE_MAX); quantized output shares the input's
    /// parameters.
    Max,
}

/// A reduction of its input over some axes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reduce {
    /// What is computed over the reduced axes.
    pub kind: ReduceKind,
    /// The reduced axes.
    pub axes: Vec<usize>,
    /// Whether reduced axes stay with size 1.
    pub keep_dims: bool,
}

/// Softmax over the last axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Softmax {
    /// Scaling of logits (TFLite's beta), usually 1 (attention: `1 / sqrt(head_dim)`).
    pub beta: f32,
    /// A causal mask over the last two axes `[.., M, N]`: row `i` sees columns
    /// `j <= i + N - M` (the rows are the last `M` of `N` positions; prefill has `M = N`,
    /// a decode step of one new token `M = 1` and sees every column).
    pub causal: bool,
}

/// Which normalization a [`Norm`] layer computes over the last axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NormKind {
    /// LayerNorm: `(x - mean) / sqrt(var + eps) * gamma + beta` (inputs: data, gamma, beta).
    Layer,
    /// RMSNorm: `x / sqrt(mean(x^2) + eps) * gamma` (inputs: data, gamma).
    Rms,
}

/// A normalization over the last axis with learned per-element scale (and LayerNorm's
/// shift): inputs data, gamma (`[d]`, a weight) and, for LayerNorm, beta (`[d]`, a bias).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Norm {
    /// LayerNorm or RMSNorm.
    pub kind: NormKind,
    /// Added to the variance (mean square) before the square root.
    pub epsilon: f32,
}

/// Llama 3's rescaling of the rotary frequencies for contexts longer than the pretraining
/// one (Hugging Face's `rope_scaling` with `rope_type = "llama3"`): frequencies whose
/// wavelength exceeds `original_max_positions / low_freq_factor` are divided by `factor`,
/// those below `original_max_positions / high_freq_factor` are kept, and the band between
/// is interpolated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeScaling {
    /// How much longer the context is made (Llama 3.2: 32).
    pub factor: f32,
    /// Wavelengths above `original_max_positions / low_freq_factor` are scaled fully.
    pub low_freq_factor: f32,
    /// Wavelengths below `original_max_positions / high_freq_factor` are not scaled.
    pub high_freq_factor: f32,
    /// The pretraining context (Llama 3.2: 8192).
    pub original_max_positions: usize,
}

/// Rotary position embedding (RoFormer, as Llama and GPT-NeoX apply it to queries and keys):
/// the last axis holds `heads` heads of `head_dim` features; in each head the pair
/// `(x[i], x[i + head_dim / 2])` at position `p` is rotated by the angle `p * f_i`, with
/// `f_i = theta^(-2 i / head_dim)` (rescaled by `scaling`). Rows are positions: row `r` of
/// a token-major graph is position `start + r mod S` (`S` = [`crate::ir::Graph::sequence_rows`],
/// so every sequence of a batch starts again), of any other graph `start + r`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotary {
    /// Heads on the last axis.
    pub heads: usize,
    /// The frequency base (Llama 2: 10,000; Llama 3: 500,000).
    pub theta: f32,
    /// Long-context rescaling of the frequencies, if any.
    pub scaling: Option<RopeScaling>,
    /// The position of a sequence's first row: 0 in prefill; a decode step's new token is
    /// the last of the `kv_len` positions, `kv_len - 1`.
    pub start: usize,
}

/// An embedding lookup: data input `[..]` of row indices into a weight table
/// `[rows, dim]`, output `[.., dim]` (the rows read, in order). Indices are carried as
/// float values and must be whole numbers below `rows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Embedding {
    /// Rows of the table (vocabulary or positions).
    pub rows: usize,
    /// Row width.
    pub dim: usize,
}

/// Which recurrent cell a [`Recurrent`] layer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecurrentKind {
    /// LSTM: gates input, output, forget and cell (ONNX's `iofc` order), cell state `c`.
    Lstm,
    /// GRU: gates update, reset and hidden (ONNX's `zrh` order).
    Gru,
}

/// The directions a [`Recurrent`] layer runs over the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// First step to last.
    Forward,
    /// Last step to first.
    Reverse,
    /// Both, forward first: `num_directions` = 2.
    Bidirectional,
}

impl Direction {
    /// ONNX's `num_directions`.
    pub fn count(self) -> usize {
        match self {
            Direction::Forward | Direction::Reverse => 1,
            Direction::Bidirectional => 2,
        }
    }
}

/// A recurrent layer over a whole sequence, as ONNX's `LSTM` and `GRU` define it (layout 0,
/// default activations -- sigmoid for the gates, tanh for the cell --, no clip, no
/// peepholes, every sequence the full length). Inputs: `X` `[T, B, I]` (data), `W`
/// `[D, G*H, I]` (weight), `R` `[D, G*H, H]` (weight), `B` `[D, 2*G*H]` (bias), then the
/// initial `h` `[D, B, H]` and, for LSTM, the initial `c` (activations or constants); `G`
/// gates (LSTM 4, GRU 3), `D` directions. Outputs: `Y` `[T, D, B, H]`, `Y_h` `[D, B, H]` and,
/// for LSTM, `Y_c` `[D, B, H]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recurrent {
    /// LSTM or GRU.
    pub kind: RecurrentKind,
    /// Hidden size `H`.
    pub hidden: usize,
    /// Forward, reverse or both.
    pub direction: Direction,
    /// GRU: apply the reset gate after the recurrent projection (`linear_before_reset = 1`,
    /// PyTorch's and cuDNN's form) rather than before it; always false for LSTM.
    pub linear_before_reset: bool,
    /// LSTM: the cell state is clipped to `[-clip, clip]` after every update (LiteRT's
    /// `cell_clip`, which the TFLite converter sets to 10 for Keras LSTMs); `None`: no clip.
    /// Not ONNX's `clip`, which bounds the gates' inputs (refused at import).
    pub cell_clip: Option<f32>,
}

/// How a resize interpolates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResizeKind {
    /// Bilinear (TFLite RESIZE_BILINEAR).
    Bilinear,
    /// Nearest neighbour (TFLite RESIZE_NEAREST_NEIGHBOR).
    Nearest,
}

/// Spatial resize of an NHWC tensor to `size` = `[height, width]`, with TensorFlow's
/// coordinate conventions (`align_corners`, `half_pixel_centers`; never both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resize {
    /// Interpolation.
    pub kind: ResizeKind,
    /// Output height and width.
    pub size: [usize; 2],
    /// The corner pixels of input and output are aligned (scale `(in - 1) / (out - 1)`).
    pub align_corners: bool,
    /// Pixels are sampled at their centres (`(o + 0.5) * scale - 0.5`).
    pub half_pixel_centers: bool,
}

/// Ops that move or view values without computing on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Concatenation of the data inputs along an axis.
    Concat {
        /// The axis (0..rank).
        axis: usize,
    },
    /// Constant zero padding; `pads[d] = (before, after)` for each dimension.
    Pad {
        /// Padding per dimension.
        pads: Vec<(usize, usize)>,
    },
    /// Reshape to a new shape with the same element count (also SQUEEZE and EXPAND_DIMS,
    /// which are views of the same bytes).
    Reshape {
        /// Target shape; at most one entry may be -1 (inferred).
        shape: Vec<i64>,
    },
    /// A strided window of the input (SLICE, STRIDED_SLICE): along axis `d`, `size[d]`
    /// elements from index `begin[d]` in steps of `stride[d]` (negative: backwards); the
    /// axes listed in `drop` (each of size 1) are then removed from the output's shape
    /// (STRIDED_SLICE's `shrink_axis_mask`). Importers resolve masks and negative indices.
    Slice {
        /// First index per axis.
        begin: Vec<usize>,
        /// Elements taken per axis.
        size: Vec<usize>,
        /// Step per axis (non-zero).
        stride: Vec<i64>,
        /// Axes of size 1 removed from the output, ascending.
        drop: Vec<usize>,
    },
    /// TILE: the input repeated `multiples[d]` times along each axis `d` (a copy).
    Tile {
        /// Repetitions per axis (>= 1).
        multiples: Vec<usize>,
    },
    /// TRANSPOSE: output axis `d` is input axis `perm[d]`.
    Transpose {
        /// A permutation of `0..rank`.
        perm: Vec<usize>,
    },
    /// DEPTH_TO_SPACE of an NHWC tensor (TensorFlow's DCR order): `[n, h, w, c]` to
    /// `[n, h*b, w*b, c/b^2]`.
    DepthToSpace {
        /// Block size `b` (>= 1; `c` a multiple of `b^2`).
        block: usize,
    },
    /// SPACE_TO_DEPTH of an NHWC tensor: `[n, h, w, c]` to `[n, h/b, w/b, c*b^2]`.
    SpaceToDepth {
        /// Block size `b` (>= 1, dividing `h` and `w`).
        block: usize,
    },
    /// GATHER with constant indices along `axis`: the output's shape is the input's with
    /// `axis` replaced by `indices_shape`.
    Gather {
        /// The gathered axis.
        axis: usize,
        /// The indices, row-major, each below the axis' size.
        indices: Vec<usize>,
        /// Their shape (empty: a scalar index, which removes the axis).
        indices_shape: Vec<usize>,
    },
    /// SPLIT / SPLIT_V: consecutive pieces along `axis`, one output per piece.
    Split {
        /// The split axis.
        axis: usize,
        /// Each output's size along it (summing to the axis' size).
        sizes: Vec<usize>,
    },
}

/// Conversions between float and integer representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Convert {
    /// Float to integer quantization (or requantization between integer types).
    Quantize,
    /// Integer to float dequantization.
    Dequantize,
    /// TFLite's CAST: an element type conversion of unquantized values (`static_cast`: a
    /// float to an integer truncates toward zero, an integer to a narrower one wraps, an
    /// integer to float32 rounds to nearest). The output tensor's type is the target.
    Cast,
}

/// Which way a state layer moves a graph state (see [`crate::ir::StateVar`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateAccess {
    /// Copies the state's current value (its input: the state tensor, or the output of an
    /// earlier assignment in the same invocation) into its output (TFLite's READ_VARIABLE).
    Read,
    /// Copies its input into the state: its output is the state's new value, which later
    /// reads in the invocation take, and the last one is what the next invocation starts
    /// from (TFLite's ASSIGN_VARIABLE).
    Assign,
}

/// A layer that reads or writes one of the graph's states ([`crate::ir::Graph::states`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateOp {
    /// Read or assign.
    pub access: StateAccess,
    /// The state: an index into [`crate::ir::Graph::states`].
    pub state: usize,
}

/// What a layer computes: one variant per op family. Each family's behaviour (shapes,
/// MACs, cost, quantization rule, float and integer execution, data-free statistics)
/// lives in its module under `ops/`, which implements [`crate::ops::OpFamily`].
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution (dense, grouped or depthwise). Inputs: data, weights, optional bias.
    Conv2d(Conv2d),
    /// Fully connected. Inputs: data, weights, optional bias.
    FullyConnected(FullyConnected),
    /// 2-D transposed convolution. Inputs: data, weights, optional bias.
    TransposeConv(TransposeConv),
    /// Batched matrix product of two data inputs.
    MatMul(MatMul),
    /// Element-wise binary op of two data inputs with broadcasting.
    Binary(BinaryKind),
    /// Element-wise unary op (activation functions as layers of their own).
    Unary(UnaryKind),
    /// Max or average pooling.
    Pool(Pool),
    /// A reduction over axes.
    Reduce(Reduce),
    /// Softmax over the last axis.
    Softmax(Softmax),
    /// LayerNorm or RMSNorm over the last axis. Inputs: data, gamma, beta (LayerNorm).
    Norm(Norm),
    /// Embedding lookup: rows of a weight table by index. Inputs: indices, table.
    Embedding(Embedding),
    /// Rotary position embedding of queries or keys. Input: data.
    Rotary(Rotary),
    /// An LSTM or GRU over a whole sequence. Inputs: X, W, R, B, initial h (and c).
    Recurrent(Recurrent),
    /// Concat, pad, reshape, slice.
    Layout(Layout),
    /// Spatial resize (bilinear, nearest neighbour).
    Resize(Resize),
    /// Quantize, dequantize.
    Convert(Convert),
    /// A read or an assignment of a state that persists across invocations.
    State(StateOp),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
