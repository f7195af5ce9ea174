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
use crate::import::tflite::ops;
use crate::ir::{Activation, DataType, Graph, Layer, Tensor, TensorData, TensorId};
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

pub(crate) fn dims(t: &Tensor, shape: &[usize]) -> Res<Vec<i32>> {
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
    let Some(ints) = values.ints_i64() else {
        return Err(tensor_err(t, format!("a {} tensor holds float values", t.dtype)));
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
                TensorData::I8(v) => TensorData::I8(depthwise_to_tflite(&v, kh * kw, cm).into()),
                TensorData::I32(v) => TensorData::I32(depthwise_to_tflite(&v, kh * kw, cm)),
                TensorData::I64(v) => TensorData::I64(depthwise_to_tflite(&v, kh * kw, cm)),
            });
            shape = vec![1, kh, kw, cm];
            axis = axis.map(|_| 3);
        }
        if t.groups.is_some() && t.quant.as_ref().is_some_and(|q| q.scales.len() > 1) {
            return Err(tensor_err(t, "has group-wise scales, which TFLite's quantization (per tensor or per channel) cannot hold; keep them in a .aqm file".into()));
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

    /// The index of an operator code in the file's table (added on first use).
    fn opcode(&mut self, code: &ops::Written) -> u32 {
        let entry = fb::OperatorCode {
            deprecated_builtin_code: (code.code as i32).min(127) as i8,
            version: code.version,
            builtin_code: code.code,
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
        let mut cx = ops::WriteCtx {
            g,
            l,
            x,
            out,
            wide,
            act,
            inputs: l.inputs.iter().map(|t| t.0 as i32).collect(),
            tensors: &mut self.tensors,
            buffers: &mut self.buffers,
        };
        let written = ops::write(&mut cx)?;
        let inputs = cx.inputs;
        Ok(fb::Operator {
            opcode_index: self.opcode(&written),
            inputs: Some(inputs),
            outputs: Some(l.outputs.iter().map(|t| t.0 as i32).collect()),
            builtin_options: written.options,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::tflite::import_tflite_bytes;
    use crate::ir::Op;

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
        let mut v = g.tensor(w).data.as_ref().and_then(TensorData::ints).expect("integer weights").into_owned();
        v[0] = 200;
        g.tensor_mut(w).data = Some(TensorData::I32(v));
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
