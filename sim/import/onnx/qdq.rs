//! QDQ import: folds ONNX `QuantizeLinear` / `DequantizeLinear` pairs into the IR's
//! quantized tensors, so that a model quantized by onnxruntime's `quantize_static` (QDQ
//! format) becomes the same kind of integer graph as an int8 `.tflite`.
//!
//! The patterns, and what they become:
//!
//! - `DequantizeLinear(integer initializer)`: a quantized constant (weights int8/uint8 per
//!   tensor or per output channel, biases int32 with scale = input scale x weight scale).
//!   A Conv or Gemm whose input is quantized takes its integer values as they are; a float
//!   Conv or Gemm (weight-only quantization) takes the dequantized values.
//! - `QuantizeLinear(x)` where `x` is the single-use float output of an op whose inputs are
//!   all dequantized activations (`DQ -> op -> Q`): the op's output becomes an integer tensor
//!   with the Q's scale and zero point; the op runs on the integer kernels.
//! - `QuantizeLinear` of a graph input (or any other float tensor): a `Quantize` layer.
//! - `DequantizeLinear(QuantizeLinear output)`: the same integer tensor, read as real values
//!   by the next op; the scale and zero point must be those of the Q. When its output is a
//!   graph output, a `Dequantize` layer gives the float result.
//! - `QuantizeLinear` of an already quantized tensor (after a Transpose, Identity): nothing
//!   when the parameters agree, otherwise a requantizing `Quantize` layer.
//!
//! Everything else is an error naming the node: a dequantized tensor feeding an op whose
//! output is not quantized again, per-channel activations, int8 and uint8 activations mixed
//! in one op, a Q/DQ pair whose parameters differ, an op whose integer kernel needs equal
//! input and output parameters (pooling, reshape) quantized with different ones.

use super::{pb, Const, ImportError, Importer, Res, Value};
use crate::ir::{Activation, Convert, DataType, Op, QuantParams, Tensor, TensorData, TensorId, TensorKind};
use crate::ops::{OpFamily, QuantRule};

/// The integer values and quantization of a constant that a DequantizeLinear produced.
#[derive(Debug, Clone)]
pub(super) struct ConstQuant {
    /// The integers, in the ONNX tensor's order.
    pub values: Vec<i64>,
    /// Their type (int8, uint8 or int32).
    pub dtype: DataType,
    /// Scales (one, or one per channel along `axis`).
    pub scales: Vec<f32>,
    /// Zero points, as many as scales.
    pub zero_points: Vec<i64>,
    /// The channel axis in the ONNX shape when per channel.
    pub axis: Option<usize>,
}

/// The parameters of one QuantizeLinear or DequantizeLinear node.
struct QdqParams {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    dtype: DataType,
    /// The normalized `axis` when per channel.
    axis: Option<usize>,
}

impl QdqParams {
    fn per_tensor(&self) -> QuantParams {
        QuantParams::per_tensor(self.scales[0], self.zero_points[0])
    }
}

fn onnx_int_type(dt: i32) -> Option<DataType> {
    match dt {
        2 => Some(DataType::Int { bits: 8, signed: false }),
        3 => Some(DataType::int(8)),
        6 => Some(DataType::int(32)),
        _ => None,
    }
}

/// A per-channel `x * scale + shift` of a quantized activation (a BatchNormalization that
/// follows no Conv, in a QDQ model) as the int8 weights and int32 bias of a depthwise 1x1
/// convolution: each channel's weight is +-127 (0 for a zero scale) with scale
/// `|scale| / 127`, so the product is the real scale up to float rounding; the bias is the
/// shift rounded to the accumulator's scale (input scale x weight scale), as a quantizer
/// would store it.
pub(super) fn affine_weights(input: Option<&QuantParams>, scale: &[f32], shift: &[f32]) -> (Const, Const) {
    let si = input.map_or(1.0, |q| q.channel(0).0);
    let ws: Vec<f32> = scale.iter().map(|&k| if k == 0.0 { 1.0 } else { k.abs() / 127.0 }).collect();
    let wv: Vec<i64> = scale
        .iter()
        .map(|&k| {
            if k > 0.0 {
                127
            } else if k < 0.0 {
                -127
            } else {
                0
            }
        })
        .collect();
    let bs: Vec<f32> = ws.iter().map(|&w| si * w).collect();
    let bv: Vec<i64> = shift.iter().zip(&bs).map(|(&b, &s)| (b / s).round() as i64).collect();
    let c = scale.len();
    let quant = |values: Vec<i64>, dtype: DataType, scales: Vec<f32>| ConstQuant {
        values,
        dtype,
        zero_points: vec![0; c],
        scales,
        axis: Some(0),
    };
    let w = Const {
        dims: vec![c, 1, 1, 1],
        f: wv.iter().zip(&ws).map(|(&v, &s)| v as f32 * s).collect(),
        dt: 1,
        quant: Some(quant(wv, DataType::int(8), ws)),
        ..Default::default()
    };
    let b = Const {
        dims: vec![c],
        f: bv.iter().zip(&bs).map(|(&v, &s)| v as f32 * s).collect(),
        dt: 1,
        quant: Some(quant(bv, DataType::int(32), bs)),
        ..Default::default()
    };
    (w, b)
}

fn same_scale(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

impl Importer<'_> {
    fn node_err(&self, n: &pb::NodeProto, index: usize, message: String) -> ImportError {
        self.invalid(format!("node {index} ({} '{}'): {message}", n.op_type, n.name))
    }

    /// Reads the scale, zero point and axis of a Q/DQ node whose input has rank `rank`.
    fn qdq_params(&self, n: &pb::NodeProto, index: usize, rank: usize) -> Res<QdqParams> {
        let scale = self.cst(n, index, 1)?.ok_or_else(|| self.node_err(n, index, "has no scale input".into()))?;
        if scale.dt != 1 || scale.f.is_empty() || scale.dims.len() > 1 {
            return Err(self.node_err(
                n,
                index,
                format!("scale must be a float32 scalar or 1-D tensor, got type {} shape {:?}", scale.dt, scale.dims),
            ));
        }
        if let Some(s) = scale.f.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(self.node_err(n, index, format!("scale {s} is not a positive finite number")));
        }
        let (zero_points, dtype) = match self.cst(n, index, 2)? {
            None => (vec![0; scale.f.len()], DataType::Int { bits: 8, signed: false }),
            Some(z) => {
                let dtype = onnx_int_type(z.dt).ok_or_else(|| {
                    self.node_err(n, index, format!("zero point has ONNX type {}, expected int8, uint8 or int32", z.dt))
                })?;
                // A scalar zero point beside a one-element scale (or the reverse) is per tensor.
                let one = z.i.len() == 1 && scale.f.len() == 1;
                if z.i.len() != scale.f.len() || (z.dims.len() != scale.dims.len() && !one) {
                    return Err(self.node_err(
                        n,
                        index,
                        format!(
                            "zero point has shape {:?} ({} values) but the scale has shape {:?} ({} values)",
                            z.dims,
                            z.i.len(),
                            scale.dims,
                            scale.f.len()
                        ),
                    ));
                }
                (z.i, dtype)
            }
        };
        let axis = if scale.f.len() > 1 {
            let a = super::attr_i(n, "axis", 1);
            let norm = if a < 0 { a + rank as i64 } else { a };
            if norm < 0 || norm >= rank as i64 {
                return Err(self.node_err(n, index, format!("axis {a} is out of range for a rank-{rank} input")));
            }
            Some(norm as usize)
        } else {
            None
        };
        Ok(QdqParams { scales: scale.f, zero_points, dtype, axis })
    }

    /// `QuantizeLinear`: see the module documentation.
    pub(super) fn quantize_linear(&mut self, index: usize, n: &pb::NodeProto) -> Res<()> {
        let out = self.out(n);
        let name = self.layer_name(n, index);
        let input = n.input.first().cloned().unwrap_or_default();
        let (x, l) = match self.values.get(&input) {
            Some(Value::Act(x, l)) => (*x, *l),
            Some(Value::QAct(..)) => {
                return Err(self.unsupported(n, index, "its input is already the output of a QuantizeLinear"))
            }
            Some(Value::Const(c)) if c.dt == 1 && c.quant.is_none() => {
                // A constant the exporter computed (ConstantOfShape) quantized at import, as
                // ONNX defines it: round half to even, add the zero point, saturate.
                let p = self.qdq_params(n, index, c.dims.len())?;
                let (lo, hi) = crate::kernels::qrange(p.dtype);
                let (lo, hi) = (lo as i64, hi as i64);
                let per = |k: usize| match p.axis {
                    Some(a) => k / c.dims[a + 1..].iter().product::<usize>() % c.dims[a],
                    None => 0,
                };
                let i =
                    c.f.iter()
                        .enumerate()
                        .map(|(k, &v)| {
                            ((v / p.scales[per(k)]).round_ties_even() as i64 + p.zero_points[per(k)]).clamp(lo, hi)
                        })
                        .collect();
                let dt = match p.dtype {
                    DataType::Int { bits: 8, signed: false } => 2,
                    DataType::Int { bits: 8, signed: true } => 3,
                    _ => 6,
                };
                self.values.insert(out, Value::Const(Const { dims: c.dims.clone(), i, dt, ..Default::default() }));
                return Ok(());
            }
            Some(Value::Const(_)) => {
                return Err(self.unsupported(
                    n,
                    index,
                    "quantizing a constant (weights are expected as integers behind a DequantizeLinear)",
                ))
            }
            None => return Err(self.node_err(n, index, format!("input '{input}' is not defined before it"))),
        };
        let rank = self.g.tensor(x).shape.len();
        let p = self.qdq_params(n, index, rank)?;
        if p.scales.len() > 1 {
            return Err(self.unsupported(n, index, "per-channel quantization of an activation"));
        }
        if p.dtype.bits() != 8 {
            return Err(self.unsupported(n, index, &format!("quantization to {} (int8 and uint8 only)", p.dtype)));
        }
        let q = p.per_tensor();
        let xt = self.g.tensor(x);
        if xt.dtype.is_int() {
            // A quantized tensor seen through DQ -> Transpose/Identity -> Q.
            if xt.dtype == p.dtype && xt.quant.as_ref() == Some(&q) {
                self.values.insert(out, Value::QAct(x, l));
                return Ok(());
            }
        } else if let Some(li) = self.producer.get(&x).copied() {
            let quantized_inputs = self.g.activation_inputs(&self.g.layers[li]).any(|t| t.dtype.is_int());
            if quantized_inputs {
                if self.uses.get(&input).copied().unwrap_or(0) != 1 || self.g.outputs.contains(&x) {
                    return Err(self.node_err(
                        n,
                        index,
                        format!(
                            "'{input}' is also read by other nodes; a QDQ op output must feed only its QuantizeLinear"
                        ),
                    ));
                }
                self.quantize_layer_output(n, index, li, x, p.dtype, q)?;
                self.values.insert(out, Value::QAct(x, l));
                return Ok(());
            }
        }
        let t = self.add_layer(&name, Op::Convert(Convert::Quantize), vec![x], &out, l)?;
        let tt = self.g.tensor_mut(t);
        tt.dtype = p.dtype;
        tt.quant = Some(q);
        self.values.insert(out, Value::QAct(t, l));
        Ok(())
    }

    /// Makes layer `li`'s float output the integer tensor a QuantizeLinear describes.
    fn quantize_layer_output(
        &mut self,
        n: &pb::NodeProto,
        index: usize,
        li: usize,
        x: TensorId,
        dtype: DataType,
        q: QuantParams,
    ) -> Res<()> {
        let layer = &self.g.layers[li];
        let lname = layer.name.trim_start_matches("layer:").to_string();
        let op = layer.op.name();
        for t in self.g.activation_inputs(layer) {
            if !t.dtype.is_int() {
                return Err(self.node_err(
                    n,
                    index,
                    format!("the {op} '{lname}' it quantizes mixes float input '{}' with dequantized inputs", t.name),
                ));
            }
            if t.dtype != dtype {
                return Err(self.node_err(
                    n,
                    index,
                    format!(
                        "the {op} '{lname}' mixes {} input '{}' with a {dtype} output; int8 and uint8 activations cannot mix in one op",
                        t.dtype, t.name
                    ),
                ));
            }
        }
        // These integer kernels pass values through (LiteRT requires equal parameters).
        if layer.op.passes_quantization_through() {
            let x = self.g.data_input(layer);
            if x.quant.as_ref() != Some(&q) {
                let (si, zi) = x.quant.as_ref().map_or((1.0, 0), |p| p.channel(0));
                return Err(self.node_err(
                    n,
                    index,
                    format!(
                        "the {op} '{lname}' is requantized from scale {si} zero point {zi} to scale {} zero point {}; its integer kernel needs equal parameters",
                        q.scales[0], q.zero_points[0]
                    ),
                ));
            }
        }
        // onnxruntime's quantizer removes a Relu that a QuantizeLinear follows: a zero point at
        // the type's minimum clamps at real 0, which is exactly the Relu. Put it back on the
        // layer, so the float execution of this graph (the reference accuracy is measured
        // against) has it too; the integer results are unchanged (the clamp is the same).
        // Only a layer with its own output parameters says so (a pass-through or shared zero
        // point is its input's), and only one whose family carries a fused activation.
        let qmin = match dtype {
            DataType::Int { bits, signed: true } => Some(-(1i64 << (bits.clamp(1, 63) - 1))),
            DataType::Int { signed: false, .. } => Some(0),
            _ => None,
        };
        let clamps_at_zero = qmin.is_some_and(|m| q.zero_points.iter().all(|&z| z == m));
        let in_bits = self.g.data_input(&self.g.layers[li]).dtype.bits() as u8;
        let layer = &mut self.g.layers[li];
        let own_params = layer.op.quant_rule(in_bits, dtype.bits() as u8) == QuantRule::Free;
        if clamps_at_zero && layer.activation == Activation::None && layer.op.fused_activation() && own_params {
            layer.activation = Activation::Relu;
        }
        // `x` is one of the layer's outputs (a Split has several, each with its own
        // QuantizeLinear).
        let t = self.g.tensor_mut(x);
        t.dtype = dtype;
        t.quant = Some(q);
        Ok(())
    }

    /// The activation `x` in float, for an op that runs in float only beside quantized
    /// tensors (onnxruntime's quantizer left it float between a DequantizeLinear and a
    /// QuantizeLinear: GRU, LSTM, a PRelu with a float slope): a quantized tensor goes through
    /// a `Dequantize` layer (what the DequantizeLinear computes), in the layout it is held in.
    pub(super) fn float_input(&mut self, name: &str, x: TensorId, what: &str) -> Res<TensorId> {
        if !self.g.tensor(x).dtype.is_int() {
            return Ok(x);
        }
        let out = format!("{name}/{what}_dequantized");
        let ids =
            self.push_layer(&format!("{name}/dequantize_{what}"), Op::Convert(Convert::Dequantize), vec![x], &[out])?;
        Ok(ids[0])
    }

    /// `DequantizeLinear`: see the module documentation.
    pub(super) fn dequantize_linear(&mut self, index: usize, n: &pb::NodeProto) -> Res<()> {
        let out = self.out(n);
        let input = n.input.first().cloned().unwrap_or_default();
        match self.values.get(&input).cloned() {
            Some(Value::Const(c)) if c.quant.is_none() && onnx_int_type(c.dt).is_some() => {
                let p = self.qdq_params(n, index, c.dims.len())?;
                let dtype = onnx_int_type(c.dt).unwrap_or(p.dtype);
                if self.cst(n, index, 2)?.is_some() && dtype != p.dtype {
                    return Err(self.node_err(
                        n,
                        index,
                        format!("input '{input}' is {dtype} but its zero point is {}", p.dtype),
                    ));
                }
                if dtype.bits() == 32 && p.zero_points.iter().any(|&z| z != 0) {
                    return Err(self.node_err(n, index, "an int32 input needs zero points of 0".into()));
                }
                let c = self.dequantize_const(n, index, &input, c, p, dtype)?;
                self.values.insert(out, Value::Const(c));
            }
            Some(Value::QAct(t, l)) => {
                let rank = self.g.tensor(t).shape.len();
                let p = self.qdq_params(n, index, rank)?;
                if p.scales.len() > 1 {
                    return Err(self.unsupported(n, index, "per-channel dequantization of an activation"));
                }
                let tt = self.g.tensor(t);
                let q = p.per_tensor();
                if tt.dtype != p.dtype || tt.quant.as_ref() != Some(&q) {
                    let (s, z) = tt.quant.as_ref().map_or((1.0, 0), |p| p.channel(0));
                    return Err(self.node_err(
                        n,
                        index,
                        format!(
                            "dequantizes {} with scale {} zero point {}, but '{input}' was quantized to {} with scale {s} zero point {z}",
                            p.dtype, q.scales[0], q.zero_points[0], tt.dtype
                        ),
                    ));
                }
                if self.graph_outputs.contains(&out) {
                    let name = self.layer_name(n, index);
                    let d = self.add_layer(&name, Op::Convert(Convert::Dequantize), vec![t], &out, l)?;
                    self.dequantized_outputs.insert(out.clone(), (d, l));
                }
                self.values.insert(out, Value::Act(t, l));
            }
            Some(_) => {
                return Err(self.unsupported(
                    n,
                    index,
                    &format!("input '{input}' is neither an integer constant nor the output of a QuantizeLinear"),
                ))
            }
            None => return Err(self.node_err(n, index, format!("input '{input}' is not defined before it"))),
        }
        Ok(())
    }

    fn dequantize_const(
        &self,
        n: &pb::NodeProto,
        index: usize,
        input: &str,
        c: Const,
        p: QdqParams,
        dtype: DataType,
    ) -> Res<Const> {
        let (dim, inner) = match p.axis {
            Some(a) => {
                let dim = c.dims[a];
                if dim != p.scales.len() {
                    return Err(self.node_err(
                        n,
                        index,
                        format!("{} scales for axis {a} of '{input}', which has {dim} entries", p.scales.len()),
                    ));
                }
                (dim, c.dims[a + 1..].iter().product::<usize>())
            }
            None => (1, 1),
        };
        // ONNX's arithmetic: (x - zero_point) as float32, times the scale in float32.
        let f =
            c.i.iter()
                .enumerate()
                .map(|(k, &v)| {
                    let ch = if dim > 1 { (k / inner.max(1)) % dim } else { 0 };
                    (v - p.zero_points[ch]) as f32 * p.scales[ch]
                })
                .collect();
        let quant = ConstQuant {
            values: c.i,
            dtype,
            scales: p.scales,
            zero_points: p.zero_points,
            axis: p.axis.filter(|_| dim > 1),
        };
        Ok(Const { dims: c.dims, f, i: Vec::new(), dt: 1, quant: Some(quant) })
    }

    /// The integer weights (and bias) of a Conv or Gemm whose input `x` is quantized.
    /// `src[k]` is the ONNX index of the IR weight element `k`; `out_axis` is the ONNX axis
    /// of the output channels (the only per-channel axis the kernels take).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn quantized_weights(
        &mut self,
        n: &pb::NodeProto,
        index: usize,
        name: &str,
        x: TensorId,
        w: &Const,
        src: &[usize],
        shape: Vec<usize>,
        out_axis: usize,
        bias: Option<&Const>,
    ) -> Res<(TensorId, TensorId)> {
        let wq = w.quant.as_ref().ok_or_else(|| {
            self.node_err(n, index, "the input is quantized (QDQ) but the weights are float; expected a DequantizeLinear of integer weights".into())
        })?;
        if wq.dtype.bits() != 8 {
            return Err(self.node_err(n, index, format!("weights are {}, expected int8 or uint8", wq.dtype)));
        }
        if let Some(a) = wq.axis.filter(|&a| a != out_axis) {
            return Err(self.node_err(
                n,
                index,
                format!(
                    "weights are quantized along axis {a}; only the output channels (axis {out_axis}) are supported"
                ),
            ));
        }
        let cout = shape[0];
        let per_channel = wq.axis.is_some();
        let wparams = QuantParams {
            scales: wq.scales.clone(),
            zero_points: wq.zero_points.clone(),
            axis: per_channel.then_some(0),
        };
        let values: Vec<i32> = src.iter().map(|&k| wq.values[k] as i32).collect();
        let wid =
            self.add_quant_const(&format!("{name}/weights"), TensorKind::Weight, shape, values, wq.dtype, wparams);
        let (si, _) = self.g.tensor(x).quant.as_ref().map_or((1.0, 0), |q| q.channel(0));
        let expected: Vec<f32> = (0..cout).map(|c| si * wq.scales[if per_channel { c } else { 0 }]).collect();
        let (values, scales) = match bias {
            None => (vec![0; cout], expected),
            Some(b) => {
                let bq = b.quant.as_ref().filter(|q| q.dtype == DataType::int(32)).ok_or_else(|| {
                    self.node_err(
                        n,
                        index,
                        "the input is quantized but the bias is not an int32 DequantizeLinear".into(),
                    )
                })?;
                if bq.values.len() != cout {
                    return Err(self.node_err(
                        n,
                        index,
                        format!("bias has {} values for {cout} outputs", bq.values.len()),
                    ));
                }
                for (c, &e) in expected.iter().enumerate() {
                    let s = bq.scales[if bq.scales.len() > 1 { c } else { 0 }];
                    if !same_scale(s, e) {
                        return Err(self.node_err(
                            n,
                            index,
                            format!("bias scale {s} of channel {c} is not input scale x weight scale = {e}"),
                        ));
                    }
                }
                let values = bq.values.iter().map(|&v| v as i32).collect();
                (values, bq.scales.clone())
            }
        };
        let bparams = QuantParams { axis: (scales.len() > 1).then_some(0), zero_points: vec![0; scales.len()], scales };
        let bid = self.add_quant_const(
            &format!("{name}/bias"),
            TensorKind::Bias,
            vec![cout],
            values,
            DataType::int(32),
            bparams,
        );
        Ok((wid, bid))
    }

    pub(super) fn add_quant_const(
        &mut self,
        name: &str,
        kind: TensorKind,
        shape: Vec<usize>,
        values: Vec<i32>,
        dtype: DataType,
        quant: QuantParams,
    ) -> TensorId {
        let name = self.unique(name);
        self.g.add_tensor(Tensor {
            name,
            shape,
            dtype,
            quant: Some(quant),
            kind,
            data: Some(TensorData::I32(values)),
            groups: None,
        })
    }

    /// After import: every op that reads dequantized activations has a quantized output.
    pub(super) fn check_quantized_layers(&self) -> Res<()> {
        for l in &self.g.layers {
            if matches!(l.op, Op::Convert(Convert::Quantize) | Op::Convert(Convert::Dequantize)) {
                continue;
            }
            if let Some(t) = self.g.activation_inputs(l).find(|t| t.dtype.is_int()) {
                if l.outputs.iter().any(|&o| !self.g.tensor(o).dtype.is_int()) {
                    return Err(self.invalid(format!(
                        "node '{}' ({}): its input '{}' is dequantized from a QuantizeLinear, but no QuantizeLinear follows it; accelsim runs QDQ graphs on integer kernels only (DQ -> op -> Q)",
                        l.name.trim_start_matches("layer:"),
                        l.op.name(),
                        t.name
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{import_onnx_bytes, pb};
    use prost::Message;

    fn model() -> pb::ModelProto {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/onnx/models/small_resnet2_qdq_int8.onnx");
        pb::ModelProto::decode(std::fs::read(path).expect("QDQ model").as_slice()).expect("decode")
    }

    fn graph(m: &mut pb::ModelProto) -> &mut pb::GraphProto {
        m.graph.as_mut().expect("graph")
    }

    /// The index of the `k`-th node of type `op`.
    fn nth(m: &mut pb::ModelProto, op: &str, k: usize) -> usize {
        let g = graph(m);
        (0..g.node.len()).filter(|&i| g.node[i].op_type == op).nth(k).expect("node")
    }

    fn init<'m>(m: &'m mut pb::ModelProto, name: &str) -> &'m mut pb::TensorProto {
        graph(m).initializer.iter_mut().find(|t| t.name == name).expect("initializer")
    }

    fn error(m: &pb::ModelProto) -> String {
        match import_onnx_bytes(&m.encode_to_vec(), "bad_qdq.onnx") {
            Ok(_) => panic!("imported a malformed model"),
            Err(e) => e.to_string(),
        }
    }

    fn check(m: &pb::ModelProto, fragments: &[&str]) {
        let e = error(m);
        assert!(e.contains("bad_qdq.onnx"), "{e}");
        for f in fragments {
            assert!(e.contains(f), "expected '{f}' in: {e}");
        }
    }

    /// The first per-channel weight DequantizeLinear (`DQ(w, scale[16], zp[16], axis=0)`).
    fn weight_dq(m: &mut pb::ModelProto) -> usize {
        let g = graph(m);
        (0..g.node.len())
            .find(|&i| g.node[i].op_type == "DequantizeLinear" && g.node[i].attribute.iter().any(|a| a.name == "axis"))
            .expect("weight DQ")
    }

    #[test]
    fn the_model_imports() {
        let g = import_onnx_bytes(&model().encode_to_vec(), "ok.onnx").expect("import");
        assert!(g.layers.iter().any(|l| l.op == crate::ir::Op::Convert(crate::ir::Convert::Quantize)));
    }

    #[test]
    fn zero_point_of_the_wrong_length() {
        let mut m = model();
        let i = weight_dq(&mut m);
        let zp = graph(&mut m).node[i].input[2].clone();
        let t = init(&mut m, &zp);
        t.dims = vec![8];
        t.raw_data.truncate(8);
        t.int32_data.truncate(8);
        check(
            &m,
            &["DequantizeLinear", "zero point has shape [8] (8 values) but the scale has shape [16] (16 values)"],
        );
    }

    #[test]
    fn axis_out_of_range() {
        let mut m = model();
        let i = weight_dq(&mut m);
        let a = graph(&mut m).node[i].attribute.iter_mut().find(|a| a.name == "axis").expect("axis");
        a.i = 4;
        check(&m, &["DequantizeLinear", "axis 4 is out of range for a rank-4 input"]);
        let mut m = model();
        let i = weight_dq(&mut m);
        let a = graph(&mut m).node[i].attribute.iter_mut().find(|a| a.name == "axis").expect("axis");
        a.i = 2;
        check(&m, &["16 scales for axis 2", "which has 1 entries"]);
    }

    #[test]
    fn weights_quantized_along_the_input_channels() {
        // A Gemm weight [K, N] quantized along K instead of N: 512 scales on axis 0.
        let mut m = model();
        let g = graph(&mut m);
        let i = (0..g.node.len())
            .find(|&i| {
                g.node[i].op_type == "DequantizeLinear"
                    && g.node[i].attribute.iter().any(|a| a.name == "axis" && a.i == 1)
            })
            .expect("Gemm weight DQ");
        let (scale, zp) = (g.node[i].input[1].clone(), g.node[i].input[2].clone());
        g.node[i].attribute.iter_mut().for_each(|a| a.i = 0);
        let k = 512;
        let s = init(&mut m, &scale);
        (s.dims, s.raw_data) = (vec![k], 0.01f32.to_le_bytes().repeat(k as usize));
        let z = init(&mut m, &zp);
        (z.dims, z.raw_data) = (vec![k], vec![0; k as usize]);
        check(&m, &["Gemm", "weights are quantized along axis 0; only the output channels (axis 1)"]);
    }

    #[test]
    fn int8_and_uint8_activations_mixed() {
        // The input is quantized to uint8 (its zero point becomes uint8), the stem conv's
        // output stays int8.
        let mut m = model();
        let zp = graph(&mut m).node[0].input[2].clone();
        init(&mut m, &zp).data_type = 2;
        check(&m, &["mixes u8 input", "with a i8 output", "int8 and uint8"]);
    }

    #[test]
    fn weights_and_zero_point_of_different_types() {
        let mut m = model();
        let i = weight_dq(&mut m);
        let zp = graph(&mut m).node[i].input[2].clone();
        init(&mut m, &zp).data_type = 2;
        check(&m, &["is i8 but its zero point is u8"]);
    }

    #[test]
    fn dequantize_with_other_parameters_than_the_quantize() {
        let mut m = model();
        // The DQ after the input Q reads the stem output's scale instead.
        let q = nth(&mut m, "QuantizeLinear", 1);
        let other = graph(&mut m).node[q].input[1].clone();
        let g = graph(&mut m);
        let i = (0..g.node.len())
            .find(|&i| g.node[i].op_type == "DequantizeLinear" && g.node[i].input[0] == "input_QuantizeLinear_Output")
            .expect("input DQ");
        g.node[i].input[1] = other;
        check(&m, &["DequantizeLinear", "was quantized to i8 with scale"]);
    }

    #[test]
    fn float_op_after_a_dequantize_with_no_quantize() {
        // Softmax -> Q -> DQ -> output becomes Softmax -> output.
        let mut m = model();
        let g = graph(&mut m);
        let n = g.node.len();
        g.node.truncate(n - 2);
        let last = g.node.len() - 1;
        g.node[last].output[0] = "output".into();
        check(&m, &["Softmax", "softmax", "no QuantizeLinear follows it"]);
    }

    #[test]
    fn pooling_requantized() {
        let mut m = model();
        // The Q after the first MaxPool gets another scale than the pool's input.
        let q = nth(&mut m, "QuantizeLinear", 2);
        let q3 = nth(&mut m, "QuantizeLinear", 3);
        let other = graph(&mut m).node[q3].input[1].clone();
        graph(&mut m).node[q].input[1] = other;
        check(&m, &["maxpool", "its integer kernel needs equal parameters"]);
    }

    #[test]
    fn bad_scale_and_per_channel_activation() {
        let mut m = model();
        let s = graph(&mut m).node[0].input[1].clone();
        init(&mut m, &s).raw_data = (-1.0f32).to_le_bytes().to_vec();
        check(&m, &["QuantizeLinear", "scale -1 is not a positive finite number"]);
        let mut m = model();
        let (s, z) = (graph(&mut m).node[0].input[1].clone(), graph(&mut m).node[0].input[2].clone());
        let t = init(&mut m, &s);
        (t.dims, t.raw_data) = (vec![3], 0.01f32.to_le_bytes().repeat(3));
        let t = init(&mut m, &z);
        (t.dims, t.raw_data) = (vec![3], vec![0; 3]);
        check(&m, &["QuantizeLinear", "per-channel quantization of an activation"]);
    }

    #[test]
    fn unsupported_op_between_qdq_pairs() {
        let mut m = model();
        let i = nth(&mut m, "AveragePool", 0);
        graph(&mut m).node[i].op_type = "LpPool".into();
        check(&m, &[&format!("unsupported operator LpPool at node index {i}")]);
    }
}

/// uint8 activations (onnxruntime's default `QUInt8`): the int8 model with every activation
/// zero point moved up by 128 is the same model. In the exact-QDQ reference every integer
/// tensor comes out exactly 128 higher. On the integer kernels too, up to the average pool:
/// LiteRT rounds the average of the integers half away from zero, which is not
/// shift-invariant (a -2.5 average rounds down in int8, its +125.5 twin up in uint8).
#[cfg(test)]
mod uint8_tests {
    use super::super::{import_onnx_bytes, pb};
    use crate::ir::{Op, PoolKind};
    use crate::kernels::{run_qdq_reference, Arithmetic, Executor, Values};
    use prost::Message;

    #[test]
    fn uint8_activations_give_the_int8_results_shifted_by_128() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/onnx");
        let bytes = std::fs::read(format!("{dir}/models/small_resnet2_qdq_int8.onnx")).expect("model");
        let mut m = pb::ModelProto::decode(bytes.as_slice()).expect("decode");
        let mut moved = 0;
        for t in &mut m.graph.as_mut().expect("graph").initializer {
            // Scalar int8 zero points are the activations' (weights are per channel).
            if t.data_type == 3 && t.dims.is_empty() {
                t.data_type = 2;
                t.raw_data.iter_mut().for_each(|b| *b = (*b as i8 as i32 + 128) as u8);
                t.int32_data.iter_mut().for_each(|v| *v += 128);
                moved += 1;
            }
        }
        assert!(moved > 10, "{moved} activation zero points");
        let g8 = import_onnx_bytes(&bytes, "i8.onnx").expect("int8 import");
        let gu = import_onnx_bytes(&m.encode_to_vec(), "u8.onnx").expect("uint8 import");
        assert_eq!(g8.tensors.len(), gu.tensors.len());
        let input = std::fs::read(format!("{dir}/golden/small_resnet2/input_1_nhwc.bin")).expect("input");
        let x = Values::F32(input.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
        let x = std::slice::from_ref(&x);
        let int = (
            Executor::new(&g8, Arithmetic::default()).and_then(|e| e.run(x)).expect("int8"),
            Executor::new(&gu, Arithmetic::default()).and_then(|e| e.run(x)).expect("uint8"),
        );
        let exact = (run_qdq_reference(&g8, x).expect("int8 ref"), run_qdq_reference(&gu, x).expect("uint8 ref"));
        let avg = gu.layers.iter().position(|l| matches!(&l.op, Op::Pool(p) if p.kind == PoolKind::Avg)).expect("avg");
        for (runs, upto) in [(&exact, gu.layers.len()), (&int, avg)] {
            let (a, b) = runs;
            for l in &gu.layers[..upto] {
                let o = l.outputs[0].0;
                match (&a[o], &b[o]) {
                    (Some(Values::Int(p)), Some(Values::Int(q))) => {
                        assert_eq!(gu.tensors[o].dtype, crate::ir::DataType::Int { bits: 8, signed: false });
                        assert!(p.iter().zip(q).all(|(p, q)| p + 128 == *q), "{}", l.name);
                    }
                    (Some(Values::F32(p)), Some(Values::F32(q))) => assert_eq!(p, q, "{}", l.name),
                    other => panic!("{}: {other:?}", l.name),
                }
            }
        }
        // The average pool itself: within 1 step.
        let o = gu.layers[avg].outputs[0].0;
        let (Some(Values::Int(p)), Some(Values::Int(q))) = (&int.0[o], &int.1[o]) else { panic!("avg pool values") };
        assert!(p.iter().zip(q).all(|(p, q)| (p + 128 - q).abs() <= 1));
    }
}
