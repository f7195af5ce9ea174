//! accelsim's quantized-model format (`.aqm`): one JSON document holding the IR graph,
//! every tensor's element type and quantization parameters, and the constant values
//! (integer weights and biases). Written by `accelsim quantize`, read by `load_model`
//! (so `accelsim run` and `accelsim exec` take it).
//!
//! ```text
//! { "format": "accelsim-aqm", "version": 1, "name": "...",
//!   "inputs": [tensor index...], "outputs": [...],
//!   "tensors": [{ "name", "shape": [..], "dtype": "f32" | "i8" | "u8" | "i4" ..., "kind":
//!                 "activation" | "weight" | "bias" | "constant",
//!                 "quant": null | { "scales": [..], "zero_points": [..], "axis": null | n },
//!                 "data": null | { "f32": [..] } | { "i32": [..] } | { "i64": [..] } }],
//!   "layers": [{ "name", "op": { "type": "conv2d", ... }, "inputs": [..], "outputs": [..],
//!                "activation": "none" | "relu" | "relu6" | "relu_n1_to_1" }] }
//! ```
//!
//! Serde lives only here, on mirror types; the graph is validated after reading.

use serde::{Deserialize, Serialize};

use super::RawRopeScaling;
use crate::diag::FileError;
use crate::ir::{
    Activation, BinaryKind, Conv2d, Convert, DataType, Direction, Embedding, FullyConnected, Graph, Layer, Layout,
    MatMul, Norm, NormKind, Op, Padding, Pool, PoolKind, QuantParams, Recurrent, RecurrentKind, Reduce, ReduceKind,
    Resize, ResizeKind, RopeScaling, Rotary, Softmax, StateAccess, StateOp, StateVar, Tensor, TensorData, TensorId,
    TensorKind, TransposeConv, UnaryKind, WeightSource,
};
use crate::ops::{binary, unary};

const FORMAT: &str = "accelsim-aqm";

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    name: String,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    tensors: Vec<RawTensor>,
    layers: Vec<RawLayer>,
    /// States that persist across invocations (absent in files of stateless graphs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    states: Vec<RawState>,
}

#[derive(Serialize, Deserialize)]
struct RawState {
    name: String,
    tensor: usize,
    init: Option<RawData>,
}

#[derive(Serialize, Deserialize)]
struct RawTensor {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    kind: String,
    quant: Option<RawQuant>,
    data: Option<RawData>,
    /// Group-wise weights: the group size and the bits of each group's scale and zero point
    /// (absent for per-tensor and per-channel tensors, so older files read unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<RawGroups>,
}

#[derive(Serialize, Deserialize)]
struct RawGroups {
    size: u32,
    scale_bits: u8,
    zero_point_bits: u8,
}

#[derive(Serialize, Deserialize)]
struct RawQuant {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    axis: Option<usize>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawData {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RawOp {
    Conv2d {
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: RawPadding,
        groups: usize,
        bias: bool,
    },
    FullyConnected {
        out_features: usize,
        bias: bool,
        #[serde(default)]
        keep_dims: bool,
        #[serde(default)]
        asymmetric_inputs: bool,
    },
    TransposeConv {
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        output: [usize; 2],
        bias: bool,
    },
    MatMul {
        adj_x: bool,
        adj_y: bool,
    },
    Add,
    /// An element-wise binary kind other than ADD, by its name in `ops::binary::TABLE`.
    Binary {
        kind: String,
    },
    /// An element-wise unary kind, by its name in `ops::unary::TABLE`; LEAKY_RELU's and
    /// HARD_SIGMOID's slope, HARD_SIGMOID's offset.
    Unary {
        kind: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alpha: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        beta: Option<f32>,
    },
    Concat {
        axis: usize,
    },
    Pool {
        max: bool,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: RawPadding,
    },
    Mean {
        axes: Vec<usize>,
        keep_dims: bool,
    },
    ReduceMax {
        axes: Vec<usize>,
        keep_dims: bool,
    },
    Pad {
        pads: Vec<(usize, usize)>,
    },
    Reshape {
        shape: Vec<i64>,
    },
    Slice {
        begin: Vec<usize>,
        size: Vec<usize>,
        stride: Vec<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        drop: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    DepthToSpace {
        block: usize,
    },
    SpaceToDepth {
        block: usize,
    },
    Gather {
        axis: usize,
        indices: Vec<usize>,
        indices_shape: Vec<usize>,
    },
    Split {
        axis: usize,
        sizes: Vec<usize>,
    },
    Tile {
        multiples: Vec<usize>,
    },
    Softmax {
        beta: f32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        causal: bool,
    },
    /// `kind`: `layer` or `rms`.
    Norm {
        kind: String,
        epsilon: f32,
    },
    Embedding {
        rows: usize,
        dim: usize,
    },
    Rotary {
        heads: usize,
        theta: f32,
        start: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scaling: Option<RawRopeScaling>,
    },
    /// `kind`: `lstm` or `gru`; `direction`: `forward`, `reverse` or `bidirectional`.
    Recurrent {
        kind: String,
        hidden: usize,
        direction: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        linear_before_reset: bool,
        /// LSTM: the cell state's clip (absent: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cell_clip: Option<f32>,
    },
    Resize {
        /// `bilinear` or `nearest`.
        kind: String,
        size: [usize; 2],
        align_corners: bool,
        half_pixel_centers: bool,
    },
    Quantize,
    Dequantize,
    Cast,
    /// A state read (`access = "read"`) or assignment (`"assign"`) of state `state`.
    State {
        access: String,
        state: usize,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawPadding {
    Same,
    Valid,
    Explicit([usize; 4]),
}

#[derive(Serialize, Deserialize)]
struct RawLayer {
    name: String,
    op: RawOp,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    activation: String,
}

fn pad_out(p: Padding) -> RawPadding {
    match p {
        Padding::Same => RawPadding::Same,
        Padding::Valid => RawPadding::Valid,
        Padding::Explicit { top, bottom, left, right } => RawPadding::Explicit([top, bottom, left, right]),
    }
}

fn pad_in(p: RawPadding) -> Padding {
    match p {
        RawPadding::Same => Padding::Same,
        RawPadding::Valid => Padding::Valid,
        RawPadding::Explicit([top, bottom, left, right]) => Padding::Explicit { top, bottom, left, right },
    }
}

fn data_out(d: &TensorData) -> RawData {
    match d {
        TensorData::F32(v) => RawData::F32(v.clone()),
        // The file holds every integer tensor as i32 values (the dtype says its width).
        TensorData::I8(v) => RawData::I32(v.iter().map(|&x| i32::from(x)).collect()),
        TensorData::I32(v) => RawData::I32(v.clone()),
        TensorData::I64(v) => RawData::I64(v.clone()),
    }
}

fn data_in(d: RawData) -> TensorData {
    match d {
        RawData::F32(v) => TensorData::F32(v),
        RawData::I32(v) => TensorData::I32(v),
        RawData::I64(v) => TensorData::I64(v),
    }
}

fn kind_name(k: TensorKind) -> &'static str {
    match k {
        TensorKind::Activation => "activation",
        TensorKind::Weight => "weight",
        TensorKind::Bias => "bias",
        TensorKind::Constant => "constant",
    }
}

fn op_out(op: &Op) -> RawOp {
    match op {
        Op::Conv2d(c) => RawOp::Conv2d {
            out_channels: c.out_channels,
            kernel: c.kernel,
            stride: c.stride,
            dilation: c.dilation,
            padding: pad_out(c.padding),
            groups: c.groups,
            bias: c.bias,
        },
        Op::FullyConnected(f) => RawOp::FullyConnected {
            out_features: f.out_features,
            bias: f.bias,
            keep_dims: f.keep_dims,
            asymmetric_inputs: f.asymmetric_inputs,
        },
        Op::MatMul(m) => RawOp::MatMul { adj_x: m.adj_x, adj_y: m.adj_y },
        Op::TransposeConv(t) => RawOp::TransposeConv {
            out_channels: t.out_channels,
            kernel: t.kernel,
            stride: t.stride,
            pad: t.pad,
            output: t.output,
            bias: t.bias,
        },
        // ADD keeps the encoding `.aqm` files had before the kinds were table rows; every
        // other kind is written by its table name.
        Op::Binary(BinaryKind::Add) => RawOp::Add,
        Op::Binary(k) => RawOp::Binary { kind: binary::row(*k).name.into() },
        Op::Unary(k) => {
            let (alpha, beta) = k.parameters();
            RawOp::Unary { kind: unary::row(*k).name.into(), alpha, beta }
        }
        Op::Layout(Layout::Concat { axis }) => RawOp::Concat { axis: *axis },
        Op::Pool(p) => RawOp::Pool {
            max: p.kind == PoolKind::Max,
            kernel: p.kernel,
            stride: p.stride,
            padding: pad_out(p.padding),
        },
        Op::Reduce(Reduce { kind: ReduceKind::Mean, axes, keep_dims }) => {
            RawOp::Mean { axes: axes.clone(), keep_dims: *keep_dims }
        }
        Op::Reduce(Reduce { kind: ReduceKind::Max, axes, keep_dims }) => {
            RawOp::ReduceMax { axes: axes.clone(), keep_dims: *keep_dims }
        }
        Op::Layout(Layout::Pad { pads }) => RawOp::Pad { pads: pads.clone() },
        Op::Layout(Layout::Reshape { shape }) => RawOp::Reshape { shape: shape.clone() },
        Op::Layout(Layout::Slice { begin, size, stride, drop }) => {
            RawOp::Slice { begin: begin.clone(), size: size.clone(), stride: stride.clone(), drop: drop.clone() }
        }
        Op::Layout(Layout::Transpose { perm }) => RawOp::Transpose { perm: perm.clone() },
        Op::Layout(Layout::DepthToSpace { block }) => RawOp::DepthToSpace { block: *block },
        Op::Layout(Layout::SpaceToDepth { block }) => RawOp::SpaceToDepth { block: *block },
        Op::Layout(Layout::Gather { axis, indices, indices_shape }) => {
            RawOp::Gather { axis: *axis, indices: indices.clone(), indices_shape: indices_shape.clone() }
        }
        Op::Layout(Layout::Split { axis, sizes }) => RawOp::Split { axis: *axis, sizes: sizes.clone() },
        Op::Layout(Layout::Tile { multiples }) => RawOp::Tile { multiples: multiples.clone() },
        Op::Softmax(Softmax { beta, causal }) => RawOp::Softmax { beta: *beta, causal: *causal },
        Op::Norm(n) => RawOp::Norm {
            kind: match n.kind {
                NormKind::Layer => "layer".into(),
                NormKind::Rms => "rms".into(),
            },
            epsilon: n.epsilon,
        },
        Op::Embedding(e) => RawOp::Embedding { rows: e.rows, dim: e.dim },
        Op::Rotary(r) => RawOp::Rotary {
            heads: r.heads,
            theta: r.theta,
            start: r.start,
            scaling: r.scaling.map(RawRopeScaling::from),
        },
        Op::Recurrent(r) => RawOp::Recurrent {
            kind: match r.kind {
                RecurrentKind::Lstm => "lstm".into(),
                RecurrentKind::Gru => "gru".into(),
            },
            hidden: r.hidden,
            direction: match r.direction {
                Direction::Forward => "forward".into(),
                Direction::Reverse => "reverse".into(),
                Direction::Bidirectional => "bidirectional".into(),
            },
            linear_before_reset: r.linear_before_reset,
            cell_clip: r.cell_clip,
        },
        Op::Resize(r) => RawOp::Resize {
            kind: match r.kind {
                ResizeKind::Bilinear => "bilinear".into(),
                ResizeKind::Nearest => "nearest".into(),
            },
            size: r.size,
            align_corners: r.align_corners,
            half_pixel_centers: r.half_pixel_centers,
        },
        Op::Convert(Convert::Quantize) => RawOp::Quantize,
        Op::Convert(Convert::Dequantize) => RawOp::Dequantize,
        Op::Convert(Convert::Cast) => RawOp::Cast,
        Op::State(StateOp { access, state }) => RawOp::State {
            access: match access {
                StateAccess::Read => "read".into(),
                StateAccess::Assign => "assign".into(),
            },
            state: *state,
        },
    }
}

fn op_in(op: RawOp) -> Result<Op, String> {
    Ok(match op {
        RawOp::Conv2d { out_channels, kernel, stride, dilation, padding, groups, bias } => {
            Op::Conv2d(Conv2d { out_channels, kernel, stride, dilation, padding: pad_in(padding), groups, bias })
        }
        RawOp::FullyConnected { out_features, bias, keep_dims, asymmetric_inputs } => {
            Op::FullyConnected(FullyConnected { out_features, bias, keep_dims, asymmetric_inputs })
        }
        RawOp::MatMul { adj_x, adj_y } => Op::MatMul(MatMul { adj_x, adj_y }),
        RawOp::TransposeConv { out_channels, kernel, stride, pad, output, bias } => {
            Op::TransposeConv(TransposeConv { out_channels, kernel, stride, pad, output, bias })
        }
        RawOp::Add => Op::Binary(BinaryKind::Add),
        RawOp::Binary { kind } => match binary::by_name(&kind) {
            Some(r) => Op::Binary(r.kind),
            None => return Err(format!("unknown element-wise binary kind '{kind}'")),
        },
        RawOp::Unary { kind, alpha, beta } => match unary::by_name(&kind).map(|r| r.kind) {
            Some(UnaryKind::LeakyRelu { .. }) => Op::Unary(UnaryKind::LeakyRelu {
                alpha: alpha.ok_or_else(|| format!("unary kind '{kind}' needs 'alpha'"))?,
            }),
            Some(UnaryKind::HardSigmoid { .. }) => Op::Unary(UnaryKind::HardSigmoid {
                alpha: alpha.ok_or_else(|| format!("unary kind '{kind}' needs 'alpha'"))?,
                beta: beta.ok_or_else(|| format!("unary kind '{kind}' needs 'beta'"))?,
            }),
            Some(k) => Op::Unary(k),
            None => return Err(format!("unknown element-wise unary kind '{kind}'")),
        },
        RawOp::Concat { axis } => Op::Layout(Layout::Concat { axis }),
        RawOp::Pool { max, kernel, stride, padding } => Op::Pool(Pool {
            kind: if max { PoolKind::Max } else { PoolKind::Avg },
            kernel,
            stride,
            padding: pad_in(padding),
        }),
        RawOp::Mean { axes, keep_dims } => Op::Reduce(Reduce { kind: ReduceKind::Mean, axes, keep_dims }),
        RawOp::ReduceMax { axes, keep_dims } => Op::Reduce(Reduce { kind: ReduceKind::Max, axes, keep_dims }),
        RawOp::Pad { pads } => Op::Layout(Layout::Pad { pads }),
        RawOp::Reshape { shape } => Op::Layout(Layout::Reshape { shape }),
        RawOp::Slice { begin, size, stride, drop } => Op::Layout(Layout::Slice { begin, size, stride, drop }),
        RawOp::Transpose { perm } => Op::Layout(Layout::Transpose { perm }),
        RawOp::DepthToSpace { block } => Op::Layout(Layout::DepthToSpace { block }),
        RawOp::SpaceToDepth { block } => Op::Layout(Layout::SpaceToDepth { block }),
        RawOp::Gather { axis, indices, indices_shape } => Op::Layout(Layout::Gather { axis, indices, indices_shape }),
        RawOp::Split { axis, sizes } => Op::Layout(Layout::Split { axis, sizes }),
        RawOp::Tile { multiples } => Op::Layout(Layout::Tile { multiples }),
        RawOp::Softmax { beta, causal } => Op::Softmax(Softmax { beta, causal }),
        RawOp::Norm { kind, epsilon } => {
            let kind = match kind.as_str() {
                "layer" => NormKind::Layer,
                "rms" => NormKind::Rms,
                other => return Err(format!("unknown norm kind '{other}' (expected 'layer' or 'rms')")),
            };
            Op::Norm(Norm { kind, epsilon })
        }
        RawOp::Embedding { rows, dim } => Op::Embedding(Embedding { rows, dim }),
        RawOp::Rotary { heads, theta, start, scaling } => {
            Op::Rotary(Rotary { heads, theta, start, scaling: scaling.map(RopeScaling::from) })
        }
        RawOp::Recurrent { kind, hidden, direction, linear_before_reset, cell_clip } => {
            let kind = match kind.as_str() {
                "lstm" => RecurrentKind::Lstm,
                "gru" => RecurrentKind::Gru,
                other => return Err(format!("unknown recurrent kind '{other}' (expected 'lstm' or 'gru')")),
            };
            let direction = match direction.as_str() {
                "forward" => Direction::Forward,
                "reverse" => Direction::Reverse,
                "bidirectional" => Direction::Bidirectional,
                other => {
                    return Err(format!(
                        "unknown recurrent direction '{other}' (expected 'forward', 'reverse' or 'bidirectional')"
                    ))
                }
            };
            Op::Recurrent(Recurrent { kind, hidden, direction, linear_before_reset, cell_clip })
        }
        RawOp::Resize { kind, size, align_corners, half_pixel_centers } => {
            let kind = match kind.as_str() {
                "bilinear" => ResizeKind::Bilinear,
                "nearest" => ResizeKind::Nearest,
                other => return Err(format!("unknown resize kind '{other}' (expected 'bilinear' or 'nearest')")),
            };
            Op::Resize(Resize { kind, size, align_corners, half_pixel_centers })
        }
        RawOp::Quantize => Op::Convert(Convert::Quantize),
        RawOp::Dequantize => Op::Convert(Convert::Dequantize),
        RawOp::Cast => Op::Convert(Convert::Cast),
        RawOp::State { access, state } => {
            let access = match access.as_str() {
                "read" => StateAccess::Read,
                "assign" => StateAccess::Assign,
                other => return Err(format!("unknown state access '{other}' (expected 'read' or 'assign')")),
            };
            Op::State(StateOp { access, state })
        }
    })
}

fn parse_dtype(s: &str) -> Option<DataType> {
    match s {
        "f32" => Some(DataType::F32),
        "f16" => Some(DataType::F16),
        _ => {
            let signed = s.starts_with('i');
            if !signed && !s.starts_with('u') {
                return None;
            }
            let bits: u8 = s[1..].parse().ok()?;
            (1..=64).contains(&bits).then_some(DataType::Int { bits, signed })
        }
    }
}

/// Serializes a graph to `.aqm` JSON bytes.
pub fn to_bytes(g: &Graph) -> Vec<u8> {
    let f = File {
        format: FORMAT.into(),
        version: 1,
        name: g.name.clone(),
        inputs: g.inputs.iter().map(|t| t.0).collect(),
        outputs: g.outputs.iter().map(|t| t.0).collect(),
        tensors: g
            .tensors
            .iter()
            .map(|t| RawTensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                dtype: t.dtype.to_string(),
                kind: kind_name(t.kind).into(),
                quant: t.quant.as_ref().map(|q| RawQuant {
                    scales: q.scales.clone(),
                    zero_points: q.zero_points.clone(),
                    axis: q.axis,
                }),
                data: t.data.as_ref().map(data_out),
                groups: t.groups.map(|g| RawGroups {
                    size: g.size,
                    scale_bits: g.scale_bits,
                    zero_point_bits: g.zero_point_bits,
                }),
            })
            .collect(),
        layers: g
            .layers
            .iter()
            .map(|l| RawLayer {
                name: l.name.clone(),
                op: op_out(&l.op),
                inputs: l.inputs.iter().map(|t| t.0).collect(),
                outputs: l.outputs.iter().map(|t| t.0).collect(),
                activation: l.activation.name().into(),
            })
            .collect(),
        states: g
            .states
            .iter()
            .map(|s| RawState { name: s.name.clone(), tensor: s.tensor.0, init: s.init.as_ref().map(data_out) })
            .collect(),
    };
    serde_json::to_vec(&f).unwrap_or_default()
}

/// Parses `.aqm` bytes (`file` names them in errors) into a validated graph.
pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Graph, FileError> {
    let err = |m: String| FileError::whole(file, m);
    let f: File = serde_json::from_slice(bytes).map_err(|e| err(format!("not an accelsim .aqm model: {e}")))?;
    if f.format != FORMAT || f.version != 1 {
        return Err(err(format!("unsupported format '{}' version {}", f.format, f.version)));
    }
    let n = f.tensors.len();
    let tid = |i: usize| if i < n { Ok(TensorId(i)) } else { Err(err(format!("tensor index {i} out of range"))) };
    let mut g = Graph::new(f.name, WeightSource::Imported { path: file.to_string() });
    for t in f.tensors {
        let dtype =
            parse_dtype(&t.dtype).ok_or_else(|| err(format!("tensor '{}': bad dtype '{}'", t.name, t.dtype)))?;
        let kind = match t.kind.as_str() {
            "activation" => TensorKind::Activation,
            "weight" => TensorKind::Weight,
            "bias" => TensorKind::Bias,
            "constant" => TensorKind::Constant,
            k => return Err(err(format!("tensor '{}': bad kind '{k}'", t.name))),
        };
        let quant = match t.quant {
            Some(q) => {
                if q.scales.is_empty() || q.scales.len() != q.zero_points.len() {
                    return Err(err(format!("tensor '{}': scales and zero points differ in length", t.name)));
                }
                Some(QuantParams { scales: q.scales, zero_points: q.zero_points, axis: q.axis })
            }
            None => None,
        };
        let data = t.data.map(data_in);
        let elems = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        if let Some(d) = &data {
            if elems != Some(d.len() as u64) {
                return Err(err(format!("tensor '{}': {} values for shape {:?}", t.name, d.len(), t.shape)));
            }
        }
        let groups = match t.groups {
            Some(r) if r.size == 0 || u64::from(r.size) > crate::quant::MAX_GROUP as u64 => {
                return Err(err(format!(
                    "tensor '{}': group size {}; expected 1..={}",
                    t.name,
                    r.size,
                    crate::quant::MAX_GROUP
                )));
            }
            Some(r) => Some(crate::ir::WeightGroups {
                size: r.size,
                scale_bits: r.scale_bits,
                zero_point_bits: r.zero_point_bits,
            }),
            None => None,
        };
        g.add_tensor(Tensor { name: t.name, shape: t.shape, dtype, quant, kind, data, groups });
    }
    for l in f.layers {
        let activation = Activation::parse(&l.activation).ok_or_else(|| {
            err(format!("layer '{}': activation '{}': expected {}", l.name, l.activation, Activation::expected()))
        })?;
        // Several outputs are accepted: validation checks their count against the op's.
        if l.inputs.is_empty() || l.outputs.is_empty() {
            return Err(err(format!("layer '{}': needs inputs and at least one output", l.name)));
        }
        let op = op_in(l.op).map_err(|m| err(format!("layer '{}': {m}", l.name)))?;
        g.layers.push(Layer {
            name: l.name,
            op,
            inputs: l.inputs.into_iter().map(tid).collect::<Result<_, _>>()?,
            outputs: l.outputs.into_iter().map(tid).collect::<Result<_, _>>()?,
            activation,
        });
    }
    g.inputs = f.inputs.into_iter().map(tid).collect::<Result<_, _>>()?;
    g.outputs = f.outputs.into_iter().map(tid).collect::<Result<_, _>>()?;
    for s in f.states {
        g.states.push(StateVar { name: s.name, tensor: tid(s.tensor)?, init: s.init.map(data_in) });
    }
    g.validate().map_err(|e| err(e.to_string()))?;
    Ok(g)
}

/// Reads a `.aqm` file.
pub fn read(path: &std::path::Path) -> Result<Graph, FileError> {
    let name = path.display().to_string();
    let bytes = crate::bounded_read::map_at_most(path, crate::bounded_read::MAX_MODEL_BYTES, true)
        .map_err(|e| FileError::whole(&name, format!("cannot read: {e}")))?;
    from_bytes(&bytes, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stateful/kws_stream_int8.tflite");
        let g = crate::import::tflite::import_tflite(&p).expect("stateful model").graph;
        assert_eq!(g.states.len(), 2);
        let back = from_bytes(&to_bytes(&g), "t.aqm").expect("reads back");
        assert_eq!(back.states, g.states);
        assert_eq!(back.layers, g.layers);
    }
}
