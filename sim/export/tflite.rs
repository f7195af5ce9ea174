//! TFLite (LiteRT) export: a quantized IR graph (int8, or 16x8: int16 activations and int8
//! weights) written as a `.tflite` flatbuffer that LiteRT's interpreter and accelsim's own
//! reader ([`crate::import::tflite`]) accept, following LiteRT's converter conventions:
//!
//! - weights int8, symmetric (zero point 0), per channel on `quantized_dimension` 0 for
//!   CONV_2D and FULLY_CONNECTED and 3 for DEPTHWISE_CONV_2D (weights `[1, kh, kw, C*m]`;
//!   the IR keeps them OHWI `[C*m, kh, kw, 1]`, so they are transposed back here);
//! - biases int32 (int64 with int16 activations, as LiteRT's 16x8 CONV_2D and
//!   FULLY_CONNECTED take them) with scale `input scale x weight scale` per channel;
//! - activations per tensor as the graph has them (the quantizer makes int16 ones symmetric
//!   when it targets TFLite, see [`crate::quant::ptq::PtqConfig::litert`]);
//! - the interface is whatever the graph's is: the quantizer's graphs are fully integer
//!   inside with a float interface, a QUANTIZE after the float input and a DEQUANTIZE
//!   before the float output (what LiteRT's converter writes for a fully-integer model
//!   whose `inference_input_type` / `inference_output_type` stay float32).
//!
//! Tensor `i` of the file is IR tensor `i`, so `exec --dump` files line up with LiteRT's
//! tensor indices; the shape, axes and paddings operands of RESHAPE, MEAN and PAD are
//! appended after them. Layer `i` is operator `i`. Operators outside the set below, grouped
//! (non-depthwise) convolutions, explicit paddings TFLite cannot express and element types
//! TFLite has no kernels for are errors naming the layer or tensor; nothing is written then.

use crate::import::tflite::codes;
use crate::import::tflite::generated::tflite as fb;
use crate::ir::{
    resolve_padding, window_out, Activation, DataType, Graph, Layer, Layout, Op, Padding, Reduce, ReduceKind,
    ResizeKind, Softmax, Tensor, TensorData, TensorId,
};
use crate::ops::OpFamily;
use crate::ops::WeightLayout;

pub use super::ExportError;

type Res<T> = Result<T, ExportError>;

/// Serializes a graph as a TFLite flatbuffer (file identifier `TFL3`, schema version 3).
pub fn to_tflite(g: &Graph) -> Res<Vec<u8>> {
    let mut w = Writer { g, tensors: Vec::new(), buffers: vec![fb::Buffer::default()], codes: Vec::new() };
    let depthwise = depthwise_weights(g)?;
    for (i, t) in g.tensors.iter().enumerate() {
        let fbt = w.tensor(t, depthwise.contains(&TensorId(i)))?;
        w.tensors.push(fbt);
    }
    let mut ops = Vec::with_capacity(g.layers.len());
    for l in &g.layers {
        let op = w.operator(l)?;
        ops.push(op);
    }
    let index = |ids: &[TensorId]| ids.iter().map(|t| t.0 as i32).collect::<Vec<_>>();
    let subgraph = fb::SubGraph {
        tensors: Some(w.tensors),
        inputs: Some(index(&g.inputs)),
        outputs: Some(index(&g.outputs)),
        operators: Some(ops),
        name: Some("main".into()),
        ..Default::default()
    };
    let model = fb::Model {
        version: 3,
        operator_codes: Some(w.codes),
        subgraphs: Some(vec![subgraph]),
        description: Some(format!("accelsim quantized {}", g.name)),
        buffers: Some(w.buffers),
        ..Default::default()
    };
    Ok(finish_tfl3(&model))
}

/// Serializes with the `TFL3` file identifier at bytes 4..8, where LiteRT looks for it
/// (planus 1.3 writes an identifier before the root offset instead): the plain buffer's
/// root offset moved by 8, the identifier, 4 bytes of padding, then the rest of the plain
/// buffer. Offsets inside a flatbuffer are relative, so only the root offset changes, and a
/// shift by 8 keeps every alignment.
fn finish_tfl3(model: &fb::Model) -> Vec<u8> {
    let mut b = planus::Builder::new();
    let plain = b.finish(model, None);
    let root = u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]]) + 8;
    let mut out = Vec::with_capacity(plain.len() + 8);
    out.extend_from_slice(&root.to_le_bytes());
    out.extend_from_slice(b"TFL3\0\0\0\0");
    out.extend_from_slice(&plain[4..]);
    out
}

/// The weight tensors of depthwise convolutions (written `[1, kh, kw, C*m]`); grouped
/// convolutions that are not depthwise are an error (TFLite's CONV_2D has no groups in the
/// kernels LiteRT's reference resolver runs).
fn depthwise_weights(g: &Graph) -> Res<Vec<TensorId>> {
    let mut out = Vec::new();
    for l in &g.layers {
        let c = match l.op.weight_layout() {
            WeightLayout::Conv(c) if c.groups > 1 => c,
            // Dense convolutions and fully connected layers keep their weights' layout.
            WeightLayout::Conv(_)
            | WeightLayout::Matrix(_)
            | WeightLayout::TransposeConv(_)
            | WeightLayout::Float
            | WeightLayout::None => continue,
        };
        let cin = g.data_input(l).shape.last().copied().unwrap_or(0);
        if !c.is_depthwise(cin) {
            return Err(layer_err(g, l, format!("grouped convolution ({} groups of {cin} channels)", c.groups)));
        }
        out.extend(l.inputs.get(1).copied());
    }
    Ok(out)
}

fn layer_err(g: &Graph, l: &Layer, message: String) -> ExportError {
    ExportError::Layer { layer: l.name.clone(), op: g.op_name(l).to_string(), message }
}

fn tensor_err(t: &Tensor, message: String) -> ExportError {
    ExportError::Tensor { tensor: t.name.clone(), message }
}

fn dims(t: &Tensor, shape: &[usize]) -> Res<Vec<i32>> {
    shape
        .iter()
        .map(|&d| i32::try_from(d).map_err(|_| tensor_err(t, format!("dimension {d} does not fit TFLite's int32"))))
        .collect()
}

/// TFLite's element type of a tensor and the range of its integer values.
fn tensor_type(t: &Tensor) -> Res<(fb::TensorType, i64, i64)> {
    Ok(match t.dtype {
        DataType::F32 => (fb::TensorType::Float32, 0, 0),
        DataType::Int { bits: 8, signed: true } => (fb::TensorType::Int8, i8::MIN as i64, i8::MAX as i64),
        DataType::Int { bits: 16, signed: true } => (fb::TensorType::Int16, i16::MIN as i64, i16::MAX as i64),
        DataType::Int { bits: 32, signed: true } => (fb::TensorType::Int32, i32::MIN as i64, i32::MAX as i64),
        DataType::Int { bits: 64, signed: true } => (fb::TensorType::Int64, i64::MIN, i64::MAX),
        other => {
            return Err(tensor_err(
                t,
                format!(
                    "element type {other}: TFLite output holds i8, i16, i32, i64 and f32 tensors \
                     (int8 and 16x8 models); write other widths as .aqm"
                ),
            ))
        }
    })
}

/// Little-endian bytes of a constant's values in its TFLite element type.
fn encode(t: &Tensor, ty: fb::TensorType, lo: i64, hi: i64, values: &TensorData) -> Res<Vec<u8>> {
    if ty == fb::TensorType::Float32 {
        let TensorData::F32(v) = values else {
            return Err(tensor_err(t, "an f32 tensor holds integer values".into()));
        };
        return Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect());
    }
    let ints: Vec<i64> = match values {
        TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
        TensorData::I64(v) => v.clone(),
        TensorData::F32(_) => return Err(tensor_err(t, format!("a {} tensor holds float values", t.dtype))),
    };
    if let Some(x) = ints.iter().find(|&&x| x < lo || x > hi) {
        return Err(tensor_err(t, format!("value {x} does not fit {}", t.dtype)));
    }
    let mut out = Vec::with_capacity(ints.len() * 8);
    for x in ints {
        match ty {
            fb::TensorType::Int8 => out.push(x as i8 as u8),
            fb::TensorType::Int16 => out.extend_from_slice(&(x as i16).to_le_bytes()),
            fb::TensorType::Int32 => out.extend_from_slice(&(x as i32).to_le_bytes()),
            _ => out.extend_from_slice(&x.to_le_bytes()),
        }
    }
    Ok(out)
}

/// OHWI depthwise weights `[C*m, kh, kw, 1]` in TFLite's order `[1, kh, kw, C*m]`.
fn depthwise_to_tflite<T: Copy>(v: &[T], taps: usize, cm: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for tap in 0..taps {
        for ch in 0..cm {
            out.push(v[ch * taps + tap]);
        }
    }
    out
}

/// A builtin operator and its version (the converter's for int8 models, checked against
/// the shared converter-made models; LiteRT accepts any version its kernels register).
struct OpCode {
    op: fb::BuiltinOperator,
    version: i32,
}

struct Writer<'g> {
    g: &'g Graph,
    tensors: Vec<fb::Tensor>,
    buffers: Vec<fb::Buffer>,
    codes: Vec<fb::OperatorCode>,
}

impl Writer<'_> {
    fn tensor(&mut self, t: &Tensor, depthwise: bool) -> Res<fb::Tensor> {
        let (ty, lo, hi) = tensor_type(t)?;
        let mut shape = t.shape.clone();
        let mut data = t.data.clone();
        let mut axis = t.quant.as_ref().and_then(|q| q.axis);
        if depthwise {
            let [cm, kh, kw, 1] = t.shape[..] else {
                return Err(tensor_err(t, format!("depthwise weights must be [C*m, kh, kw, 1], got {:?}", t.shape)));
            };
            data = data.map(|d| match d {
                TensorData::F32(v) => TensorData::F32(depthwise_to_tflite(&v, kh * kw, cm)),
                TensorData::I32(v) => TensorData::I32(depthwise_to_tflite(&v, kh * kw, cm)),
                TensorData::I64(v) => TensorData::I64(depthwise_to_tflite(&v, kh * kw, cm)),
            });
            shape = vec![1, kh, kw, cm];
            axis = axis.map(|_| 3);
        }
        let buffer = match &data {
            Some(d) => {
                if d.len() as u64 != t.elements() {
                    return Err(tensor_err(t, format!("{} values for shape {:?}", d.len(), t.shape)));
                }
                self.buffer(encode(t, ty, lo, hi, d)?)
            }
            None => 0,
        };
        let quantization = t.quant.as_ref().map(|q| {
            Box::new(fb::QuantizationParameters {
                scale: Some(q.scales.clone()),
                zero_point: Some(q.zero_points.clone()),
                quantized_dimension: axis.unwrap_or(0) as i32,
                ..Default::default()
            })
        });
        Ok(fb::Tensor {
            shape: Some(dims(t, &shape)?),
            type_: ty,
            buffer,
            name: Some(t.name.clone()),
            quantization,
            ..Default::default()
        })
    }

    fn buffer(&mut self, data: Vec<u8>) -> u32 {
        self.buffers.push(fb::Buffer { data: Some(data) });
        (self.buffers.len() - 1) as u32
    }

    /// Appends an int32 constant (a RESHAPE shape, MEAN axes, PAD paddings) and returns its index.
    fn const_i32(&mut self, name: String, shape: Vec<i32>, values: &[i32]) -> i32 {
        let buffer = self.buffer(values.iter().flat_map(|v| v.to_le_bytes()).collect());
        self.tensors.push(fb::Tensor {
            shape: Some(shape),
            type_: fb::TensorType::Int32,
            buffer,
            name: Some(name),
            ..Default::default()
        });
        (self.tensors.len() - 1) as i32
    }

    fn opcode(&mut self, code: OpCode) -> u32 {
        let entry = fb::OperatorCode {
            deprecated_builtin_code: (code.op as i32).min(127) as i8,
            version: code.version,
            builtin_code: code.op,
            ..Default::default()
        };
        match self.codes.iter().position(|c| *c == entry) {
            Some(i) => i as u32,
            None => {
                self.codes.push(entry);
                (self.codes.len() - 1) as u32
            }
        }
    }

    fn operator(&mut self, l: &Layer) -> Res<fb::Operator> {
        use fb::BuiltinOperator as B;
        use fb::BuiltinOptions as O;
        let g = self.g;
        let err = |m: String| layer_err(g, l, m);
        let x = g.data_input(l);
        let out = g.output(l);
        let wide = x.dtype.bits() > 8 || out.dtype.bits() > 8;
        let act = codes::activation_out(l.activation);
        if l.activation != Activation::None && !l.op.fused_activation() {
            let what = l.op.name().to_uppercase();
            return Err(err(format!(
                "TFLite's {what} has no fused activation, this layer has {}",
                l.activation.name()
            )));
        }
        let mut inputs: Vec<i32> = l.inputs.iter().map(|t| t.0 as i32).collect();
        let tflite_padding = |p: Padding, kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2]| {
            let Padding::Explicit { .. } = p else {
                return Ok(if p == Padding::Same { fb::Padding::Same } else { fb::Padding::Valid });
            };
            let hw = [x.shape.get(1).copied().unwrap_or(1), x.shape.get(2).copied().unwrap_or(1)];
            let explicit = resolve_padding(p, hw, kernel, stride, dilation);
            if explicit == resolve_padding(Padding::Valid, hw, kernel, stride, dilation) {
                Ok(fb::Padding::Valid)
            } else if explicit == resolve_padding(Padding::Same, hw, kernel, stride, dilation) {
                Ok(fb::Padding::Same)
            } else {
                Err(err(format!(
                    "explicit padding {explicit:?} is neither SAME nor VALID, which TFLite cannot express"
                )))
            }
        };
        let stride_i32 = |v: usize| v.min(i32::MAX as usize) as i32;
        let (code, options) = match &l.op {
            Op::Conv2d(c) => {
                let padding = tflite_padding(c.padding, c.kernel, c.stride, c.dilation)?;
                let [stride_h, stride_w] = c.stride.map(stride_i32);
                let [dilation_h_factor, dilation_w_factor] = c.dilation.map(stride_i32);
                if !c.bias {
                    inputs.push(-1);
                }
                if c.groups > 1 {
                    let o = fb::DepthwiseConv2DOptions {
                        padding,
                        stride_w,
                        stride_h,
                        depth_multiplier: (c.out_channels / c.groups.max(1)) as i32,
                        fused_activation_function: act,
                        dilation_w_factor,
                        dilation_h_factor,
                    };
                    (OpCode { op: B::DepthwiseConv2d, version: 3 }, Some(O::DepthwiseConv2DOptions(Box::new(o))))
                } else {
                    let o = fb::Conv2DOptions {
                        padding,
                        stride_w,
                        stride_h,
                        fused_activation_function: act,
                        dilation_w_factor,
                        dilation_h_factor,
                        ..Default::default()
                    };
                    (OpCode { op: B::Conv2d, version: 3 }, Some(O::Conv2DOptions(Box::new(o))))
                }
            }
            Op::TransposeConv(t) => {
                // LiteRT crops by its padding rule applied to the output size, and requires
                // that rule's conv of the output to give back the input's size.
                let input = [x.shape.get(1).copied().unwrap_or(1), x.shape.get(2).copied().unwrap_or(1)];
                let fits = |p: Padding| {
                    let e = resolve_padding(p, t.output, t.kernel, t.stride, [1, 1]);
                    [e.top, e.left] == t.pad
                        && window_out(t.output, t.kernel, t.stride, [1, 1], p) == Ok((input[0], input[1]))
                };
                let padding = if fits(Padding::Same) {
                    fb::Padding::Same
                } else if fits(Padding::Valid) {
                    fb::Padding::Valid
                } else {
                    return Err(err(format!(
                        "output {:?} cropped by {:?} from a {input:?} input is neither TFLite's SAME nor its VALID",
                        t.output, t.pad
                    )));
                };
                let shape = ints_i32(&out.shape).map_err(&err)?;
                let shape = self.const_i32(format!("{}/output_shape", out.name), vec![shape.len() as i32], &shape);
                // TRANSPOSE_CONV's inputs: output shape, weights, data, optional bias.
                inputs = [shape, inputs[1], inputs[0]].into_iter().chain(inputs.get(2).copied()).collect();
                let [stride_h, stride_w] = t.stride.map(stride_i32);
                let o = fb::TransposeConvOptions { padding, stride_w, stride_h, fused_activation_function: act };
                // LiteRT's versions: 4 with a fused activation, 3 with a bias, 2 int8 weights.
                let version = if l.activation != Activation::None {
                    4
                } else if t.bias {
                    3
                } else if g.weight_bits(l).is_some_and(|b| b <= 8) {
                    2
                } else {
                    1
                };
                (OpCode { op: B::TransposeConv, version }, Some(O::TransposeConvOptions(Box::new(o))))
            }
            Op::MatMul(m) => {
                let o = fb::BatchMatMulOptions { adj_x: m.adj_x, adj_y: m.adj_y, ..Default::default() };
                // The converter writes version 2 for int8 and int16 alike.
                let version = copy_version(out, [1, 2, 2]);
                (OpCode { op: B::BatchMatmul, version }, Some(O::BatchMatMulOptions(Box::new(o))))
            }
            Op::FullyConnected(f) => {
                if !f.bias {
                    inputs.push(-1);
                }
                let o = fb::FullyConnectedOptions { fused_activation_function: act, ..Default::default() };
                (OpCode { op: B::FullyConnected, version: 4 }, Some(O::FullyConnectedOptions(Box::new(o))))
            }
            Op::Binary(kind) => {
                let row = codes::binary_out(*kind)
                    .ok_or_else(|| err(format!("TFLite has no operator for the element-wise {}", l.op.name())))?;
                // A kind without options carries no fused activation (checked above).
                let options = row.options.map(|options| options(act));
                (OpCode { op: row.code, version: row.versions[wide as usize] }, options)
            }
            Op::Unary(kind) => {
                let (row, options) = codes::unary_out(*kind)
                    .ok_or_else(|| err(format!("TFLite has no operator for the element-wise {}", l.op.name())))?;
                (OpCode { op: row.code, version: row.versions[wide as usize] }, options)
            }
            Op::Layout(Layout::Concat { axis }) => {
                let o = fb::ConcatenationOptions { axis: *axis as i32, fused_activation_function: act };
                (
                    OpCode { op: B::Concatenation, version: if wide { 3 } else { 2 } },
                    Some(O::ConcatenationOptions(Box::new(o))),
                )
            }
            Op::Pool(p) => {
                let padding = tflite_padding(p.padding, p.kernel, p.stride, [1, 1])?;
                let o = fb::Pool2DOptions {
                    padding,
                    stride_w: stride_i32(p.stride[1]),
                    stride_h: stride_i32(p.stride[0]),
                    filter_width: stride_i32(p.kernel[1]),
                    filter_height: stride_i32(p.kernel[0]),
                    fused_activation_function: act,
                };
                let (op, versions) =
                    codes::pool_out(p.kind).ok_or_else(|| err(format!("TFLite has no {} operator", l.op.name())))?;
                (OpCode { op, version: versions[wide as usize] }, Some(O::Pool2DOptions(Box::new(o))))
            }
            Op::Reduce(Reduce { kind: ReduceKind::Mean, axes, keep_dims }) => {
                let a: Vec<i32> = axes.iter().map(|&a| a as i32).collect();
                inputs.push(self.const_i32(format!("{}/axes", out.name), vec![a.len() as i32], &a));
                let o = fb::ReducerOptions { keep_dims: *keep_dims };
                (OpCode { op: B::Mean, version: if wide { 3 } else { 2 } }, Some(O::ReducerOptions(Box::new(o))))
            }
            Op::Reduce(Reduce { kind: ReduceKind::Max, axes, keep_dims }) => {
                let a: Vec<i32> = axes.iter().map(|&a| a as i32).collect();
                inputs.push(self.const_i32(format!("{}/axes", out.name), vec![a.len() as i32], &a));
                let o = fb::ReducerOptions { keep_dims: *keep_dims };
                let version = copy_version(out, [1, 2, 3]);
                (OpCode { op: B::ReduceMax, version }, Some(O::ReducerOptions(Box::new(o))))
            }
            Op::Layout(Layout::Pad { pads }) => {
                let mut p = Vec::with_capacity(pads.len() * 2);
                for &(a, b) in pads {
                    p.push(i32::try_from(a).map_err(|_| err(format!("padding {a} does not fit int32")))?);
                    p.push(i32::try_from(b).map_err(|_| err(format!("padding {b} does not fit int32")))?);
                }
                inputs.push(self.const_i32(format!("{}/paddings", out.name), vec![pads.len() as i32, 2], &p));
                (OpCode { op: B::Pad, version: if wide { 4 } else { 2 } }, Some(O::PadOptions(Box::default())))
            }
            Op::Layout(Layout::Reshape { .. }) => {
                let s = dims(out, &out.shape)?;
                inputs.push(self.const_i32(format!("{}/shape", out.name), vec![s.len() as i32], &s));
                let o = fb::ReshapeOptions { new_shape: Some(s) };
                (OpCode { op: B::Reshape, version: 1 }, Some(O::ReshapeOptions(Box::new(o))))
            }
            // A window as STRIDED_SLICE (version as LiteRT's converter writes it at 8 and
            // 16 bits); a backward window that runs to index 0 ends through end_mask (an end
            // of -1 would count from the back).
            Op::Layout(Layout::Slice { begin, size, stride, drop }) => {
                let (mut b, mut e, mut st, mut end_mask) = (Vec::new(), Vec::new(), Vec::new(), 0i32);
                for d in 0..begin.len() {
                    let first = begin[d] as i64;
                    let stop = first + size[d] as i64 * stride[d];
                    if stop < 0 {
                        end_mask |= 1 << d;
                    }
                    let fit = |v: i64| i32::try_from(v).map_err(|_| err(format!("slice index {v} does not fit int32")));
                    b.push(fit(first)?);
                    e.push(fit(stop.max(0))?);
                    st.push(fit(stride[d])?);
                }
                let rank = vec![x.shape.len() as i32];
                inputs.push(self.const_i32(format!("{}/begin", out.name), rank.clone(), &b));
                inputs.push(self.const_i32(format!("{}/end", out.name), rank.clone(), &e));
                inputs.push(self.const_i32(format!("{}/strides", out.name), rank, &st));
                let shrink_axis_mask = drop.iter().fold(0i32, |m, &d| m | (1 << d));
                let o = fb::StridedSliceOptions { end_mask, shrink_axis_mask, ..Default::default() };
                let version = if out.dtype == DataType::F32 { 1 } else { 2 };
                (OpCode { op: B::StridedSlice, version }, Some(O::StridedSliceOptions(Box::new(o))))
            }
            // The copies, at the versions LiteRT's converter writes for float / int8 / int16
            // (versions[0] for float and int8 -- they share it --, versions[1] for int16).
            Op::Layout(Layout::Transpose { perm }) => {
                let p = ints_i32(perm).map_err(err)?;
                inputs.push(self.const_i32(format!("{}/perm", out.name), vec![p.len() as i32], &p));
                let o = O::TransposeOptions(Box::default());
                (OpCode { op: B::Transpose, version: copy_version(out, [1, 2, 2]) }, Some(o))
            }
            Op::Layout(Layout::DepthToSpace { block }) => {
                let block_size = ints_i32(&[*block]).map_err(err)?[0];
                let o = O::DepthToSpaceOptions(Box::new(fb::DepthToSpaceOptions { block_size }));
                (OpCode { op: B::DepthToSpace, version: copy_version(out, [1, 2, 2]) }, Some(o))
            }
            Op::Layout(Layout::SpaceToDepth { block }) => {
                let block_size = ints_i32(&[*block]).map_err(err)?[0];
                let o = O::SpaceToDepthOptions(Box::new(fb::SpaceToDepthOptions { block_size }));
                (OpCode { op: B::SpaceToDepth, version: copy_version(out, [1, 2, 2]) }, Some(o))
            }
            Op::Layout(Layout::Gather { axis, indices, indices_shape }) => {
                let i = ints_i32(indices).map_err(err)?;
                let shape = ints_i32(indices_shape).map_err(err)?;
                inputs.push(self.const_i32(format!("{}/indices", out.name), shape, &i));
                let axis = ints_i32(&[*axis]).map_err(err)?[0];
                let o = O::GatherOptions(Box::new(fb::GatherOptions { axis, batch_dims: 0 }));
                (OpCode { op: B::Gather, version: copy_version(out, [1, 2, 2]) }, Some(o))
            }
            // SPLIT_V (sizes need not be equal): input, size_splits, axis.
            Op::Layout(Layout::Split { axis, sizes }) => {
                let s = ints_i32(sizes).map_err(err)?;
                inputs.push(self.const_i32(format!("{}/size_splits", out.name), vec![s.len() as i32], &s));
                let a = ints_i32(&[*axis]).map_err(err)?;
                inputs.push(self.const_i32(format!("{}/axis", out.name), vec![], &a));
                let o = O::SplitVOptions(Box::new(fb::SplitVOptions { num_splits: s.len() as i32 }));
                (OpCode { op: B::SplitV, version: copy_version(out, [1, 2, 2]) }, Some(o))
            }
            Op::Recurrent(r) => {
                return Err(err(format!(
                    "the TFLite export does not write {} layers (LiteRT's UNIDIRECTIONAL_SEQUENCE_LSTM and its integer kernel are not implemented); write the model as .aqm",
                    r.label()
                )))
            }
            Op::Norm(_) | Op::Embedding(_) => {
                return Err(err(format!(
                    "the TFLite export does not write {} layers yet (issue 19: a later slice lowers them); write the model as .aqm",
                    l.op.name()
                )))
            }
            Op::Layout(Layout::Tile { .. }) => {
                return Err(err(
                    "the TFLite export does not write TILE yet (LiteRT's reference resolver has no int8 TILE \
                     version 3); write the model as .aqm or .onnx"
                        .into(),
                ))
            }
            Op::State(_) => {
                return Err(err(
                    "the TFLite export does not write graph states (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE) yet; \
                     write the model as .aqm"
                        .into(),
                ))
            }
            Op::Resize(r) => {
                let size = [i32::try_from(r.size[0]), i32::try_from(r.size[1])];
                let [Ok(h), Ok(w)] = size else {
                    return Err(err(format!("resize to {:?} does not fit int32", r.size)));
                };
                inputs.push(self.const_i32(format!("{}/size", out.name), vec![2], &[h, w]));
                let (op, versions) = codes::resize_out(r.kind);
                let (align_corners, half_pixel_centers) = (r.align_corners, r.half_pixel_centers);
                let options = match r.kind {
                    ResizeKind::Bilinear => O::ResizeBilinearOptions(Box::new(fb::ResizeBilinearOptions {
                        align_corners,
                        half_pixel_centers,
                    })),
                    ResizeKind::Nearest => {
                        O::ResizeNearestNeighborOptions(Box::new(fb::ResizeNearestNeighborOptions {
                            align_corners,
                            half_pixel_centers,
                        }))
                    }
                };
                (OpCode { op, version: versions[wide as usize] }, Some(options))
            }
            Op::Softmax(Softmax { causal: true, .. }) => {
                return Err(err("TFLite's SOFTMAX has no causal mask; write the model as .aqm".into()))
            }
            Op::Softmax(Softmax { beta, causal: false }) => {
                let version = if out.dtype == DataType::F32 {
                    1
                } else if wide {
                    3
                } else {
                    2
                };
                let o = fb::SoftmaxOptions { beta: *beta };
                (OpCode { op: B::Softmax, version }, Some(O::SoftmaxOptions(Box::new(o))))
            }
            Op::Convert(kind) => {
                let (op, versions) =
                    codes::convert_out(*kind).ok_or_else(|| err(format!("TFLite has no {} operator", l.op.name())))?;
                (OpCode { op, version: versions[wide as usize] }, None)
            }
        };
        Ok(fb::Operator {
            opcode_index: self.opcode(code),
            inputs: Some(inputs),
            outputs: Some(l.outputs.iter().map(|t| t.0 as i32).collect()),
            builtin_options: options,
            ..Default::default()
        })
    }
}

/// Sizes, axes or indices as TFLite's int32.
fn ints_i32(v: &[usize]) -> Result<Vec<i32>, String> {
    v.iter().map(|&x| i32::try_from(x).map_err(|_| format!("{x} does not fit int32"))).collect()
}

/// The operator version of a copy for its output type: `[float32, int8, int16]`.
fn copy_version(out: &crate::ir::Tensor, versions: [i32; 3]) -> i32 {
    match out.dtype.bits() {
        b if out.dtype == DataType::F32 || b > 16 => versions[0],
        b if b <= 8 => versions[1],
        _ => versions[2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::tflite::import_tflite_bytes;

    fn model(name: &str) -> Graph {
        let p = format!("{}/../shared/tflite/models/{name}", env!("CARGO_MANIFEST_DIR"));
        crate::import::tflite::import_tflite(p).expect("import").graph
    }

    /// A converter-made model written again reads back to the same graph (depthwise weights
    /// transposed twice, quantization axes restored, all operands and options kept).
    #[test]
    fn converter_models_round_trip() {
        for name in ["tiny_int8.tflite", "tiny_16x8.tflite", "small_resnet_int8.tflite", "mobilenet_v1_int8.tflite"] {
            let g = model(name);
            let bytes = to_tflite(&g).expect("export");
            assert_eq!(&bytes[4..8], b"TFL3", "{name}");
            let back = import_tflite_bytes(&bytes, name).expect("re-import").graph;
            assert_eq!(back.layers, g.layers, "{name}");
            assert_eq!(back.inputs, g.inputs, "{name}");
            assert_eq!(back.outputs, g.outputs, "{name}");
            for (a, b) in g.tensors.iter().zip(&back.tensors) {
                assert_eq!((&a.shape, a.dtype, &a.quant, &a.data), (&b.shape, b.dtype, &b.quant, &b.data), "{name}");
            }
        }
    }

    #[test]
    fn widths_tflite_cannot_hold_are_errors_naming_the_tensor() {
        let mut g = model("tiny_int8.tflite");
        let w = g.layers[0].inputs[1];
        g.tensor_mut(w).dtype = DataType::int(4);
        let e = to_tflite(&g).expect_err("4-bit weights");
        let s = e.to_string();
        assert!(s.contains(&g.tensor(w).name) && s.contains("i4") && s.contains(".aqm"), "{s}");
    }

    #[test]
    fn values_out_of_range_are_errors() {
        let mut g = model("tiny_int8.tflite");
        let w = g.layers[0].inputs[1];
        if let Some(TensorData::I32(v)) = &mut g.tensor_mut(w).data {
            v[0] = 200;
        }
        let e = to_tflite(&g).expect_err("200 in an int8 tensor");
        assert!(e.to_string().contains("value 200 does not fit i8"), "{e}");
    }

    #[test]
    fn grouped_convolution_is_an_error() {
        let mut g = model("tiny_int8.tflite");
        let Some(l) = g.layers.iter_mut().find(|l| matches!(&l.op, Op::Conv2d(c) if c.groups > 1)) else {
            panic!("tiny has a depthwise layer")
        };
        if let Op::Conv2d(c) = &mut l.op {
            c.groups = 2;
        }
        let e = to_tflite(&g).expect_err("grouped");
        assert!(e.to_string().contains("grouped convolution"), "{e}");
    }
}
