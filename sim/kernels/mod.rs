//! Bit-exact execution of an [`ir::Graph`](crate::ir::Graph): integer kernels that match
//! LiteRT's reference kernels bit for bit under the default [`Arithmetic`], float32
//! kernels for the reference that quantized results are measured against, and an
//! executor that runs a graph and returns every intermediate tensor.
//!
//! Kernels know nothing of graphs; [`Executor`] resolves each layer's parameters once
//! (requantization multipliers, clamp ranges, packed weights) and then runs any number of
//! inputs. Integer values of every width (2 to 32 bits) live widened in `i32` containers.
//!
//! Architecture invariant: under the default [`Arithmetic`], the fast kernels and the
//! scalar reference kernels give identical results (property-tested).

pub mod conv;
pub mod elementwise;
pub mod fc;
pub mod fixedpoint;
pub mod float;
mod float_gemm;
pub mod layout;
pub mod metrics;
pub mod pool;
pub mod qdq_ref;
pub mod softmax;

pub use fixedpoint::{Arithmetic, Overflow, QuantMultiplier, Requant, Rounding};
pub use metrics::{layer_sqnr, sqnr_db, top1_agreement, LayerSqnr};
pub use qdq_ref::run_qdq_reference;

use crate::ir::{resolve_padding, DataType, Graph, Layer, Op, QuantParams, Tensor, TensorData, TensorId};

/// The values of one tensor: integers (any width, widened) or floats.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Integer values.
    Int(Vec<i32>),
    /// Float values.
    F32(Vec<f32>),
}

impl Values {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a graph cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The executor has no kernel for this layer's types or attributes.
    #[error("layer '{layer}' ({op}): {message}")]
    Unsupported {
        /// The layer.
        layer: String,
        /// The operator.
        op: String,
        /// What is missing.
        message: String,
    },
    /// The inputs do not fit the graph.
    #[error("input: {0}")]
    Input(String),
    /// The graph's values would take more memory than a functional run allows.
    #[error("{0}")]
    TooLarge(String),
}

/// Largest total size of a graph's values (every tensor, weights and activations, at 4 bytes
/// per element) that functional runs (`exec`, `run`'s accuracy, `quantize`, `sweep
/// --functional`) hold; checked before anything is allocated from the graph's shapes.
pub const MAX_VALUE_BYTES: u64 = 4 << 30;

/// Checks that holding every tensor of `g` as 4-byte values stays within
/// [`MAX_VALUE_BYTES`], with checked arithmetic, before any allocation: shapes are fields
/// of user files and can claim anything.
pub fn check_size(g: &Graph) -> Result<(), ExecError> {
    let mut total = 0u64;
    for t in &g.tensors {
        let bytes = t.shape.iter().try_fold(4u64, |a, &d| a.checked_mul(d as u64));
        total = match bytes.and_then(|b| total.checked_add(b)) {
            Some(b) if b <= MAX_VALUE_BYTES => b,
            _ => {
                return Err(ExecError::TooLarge(format!(
                    "too large to execute: with tensor '{}' of shape {:?} its values pass {} GiB",
                    t.name,
                    t.shape,
                    MAX_VALUE_BYTES >> 30
                )))
            }
        };
    }
    Ok(())
}

/// Dequantizes integer values with per-tensor or per-channel (last axis or `axis`) parameters.
pub fn dequantize_per_tensor(v: &[i32], q: &QuantParams) -> Vec<f32> {
    if q.scales.len() <= 1 {
        let (s, z) = q.channel(0);
        return elementwise::dequantize(v, s, z as i32);
    }
    // Per-channel along the last axis (the only per-channel layout activations use).
    let c = q.scales.len();
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            let (s, z) = q.channel(i % c);
            (s as f64 * (x as i64 - z) as f64) as f32
        })
        .collect()
}

fn int_bits(dtype: DataType) -> Option<(u32, bool)> {
    match dtype {
        DataType::Int { bits, signed } => Some((bits as u32, signed)),
        _ => None,
    }
}

fn qrange(dtype: DataType) -> (i32, i32) {
    match int_bits(dtype) {
        Some((b, true)) => fixedpoint::int_range(b),
        Some((b, false)) => (0, if b >= 31 { i32::MAX } else { (1i32 << b) - 1 }),
        None => (i32::MIN, i32::MAX),
    }
}

fn scale_zp(t: &Tensor) -> (f32, i32) {
    t.quant.as_ref().map_or((1.0, 0), |q| {
        let (s, z) = q.channel(0);
        (s, z as i32)
    })
}

fn shape4(s: &[usize]) -> [usize; 4] {
    let mut r = [1usize; 4];
    let off = 4usize.saturating_sub(s.len());
    for (i, &d) in s.iter().take(4).enumerate() {
        r[off + i] = d;
    }
    r
}

/// Constant values widened to i32 (for weights) or i64 (for biases).
fn const_i32(t: &Tensor) -> Option<Vec<i32>> {
    match &t.data {
        Some(TensorData::I32(v)) => Some(v.clone()),
        Some(TensorData::I64(v)) => Some(v.iter().map(|&x| x as i32).collect()),
        _ => None,
    }
}

fn const_i64(t: &Tensor) -> Option<Vec<i64>> {
    match &t.data {
        Some(TensorData::I32(v)) => Some(v.iter().map(|&x| x as i64).collect()),
        Some(TensorData::I64(v)) => Some(v.clone()),
        _ => None,
    }
}

/// Constant values as floats (dequantized when the tensor is quantized).
fn const_f32(t: &Tensor) -> Option<Vec<f32>> {
    match (&t.data, &t.quant) {
        (Some(TensorData::F32(v)), _) => Some(v.clone()),
        (Some(TensorData::I32(v)), Some(q)) => Some(dequantize_axis(v.iter().map(|&x| x as i64), &t.shape, q)),
        (Some(TensorData::I64(v)), Some(q)) => Some(dequantize_axis(v.iter().copied(), &t.shape, q)),
        (Some(TensorData::I32(v)), None) => Some(v.iter().map(|&x| x as f32).collect()),
        (Some(TensorData::I64(v)), None) => Some(v.iter().map(|&x| x as f32).collect()),
        (None, _) => None,
    }
}

fn dequantize_axis(v: impl Iterator<Item = i64>, shape: &[usize], q: &QuantParams) -> Vec<f32> {
    let axis = q.axis.unwrap_or(0).min(shape.len().saturating_sub(1));
    let inner: usize = shape.get(axis + 1..).map_or(1, |s| s.iter().product());
    let dim = shape.get(axis).copied().unwrap_or(1).max(1);
    v.enumerate()
        .map(|(i, x)| {
            let c = if q.scales.len() > 1 { (i / inner.max(1)) % dim } else { 0 };
            let (s, z) = q.channel(c);
            (s as f64 * (x - z) as f64) as f32
        })
        .collect()
}

enum Prepared {
    None,
    Conv(Box<conv::ConvParams>, Option<conv::PackedConv>),
    Fc(Box<fc::FcParams>),
}

/// Runs a graph on inputs; create once per graph and arithmetic, run many times.
pub struct Executor<'g> {
    graph: &'g Graph,
    arith: Arithmetic,
    prepared: Vec<Prepared>,
}

impl<'g> Executor<'g> {
    /// Resolves every layer's parameters (multipliers, packed weights) for integer execution.
    pub fn new(graph: &'g Graph, arith: Arithmetic) -> Result<Self, ExecError> {
        check_size(graph)?;
        let mut prepared = Vec::with_capacity(graph.layers.len());
        for l in &graph.layers {
            let out = graph.output(l);
            if !out.dtype.is_int() {
                prepared.push(Prepared::None);
                continue;
            }
            prepared.push(match &l.op {
                Op::Conv2d(_) => {
                    let p = conv_params(graph, l)?;
                    let x = graph.data_input(l);
                    let wb = graph.weights_of(l).map_or(8, |w| w.dtype.bits());
                    let ib = x.dtype.bits();
                    let packed = conv::fast_supported(&p, ib, wb, &arith).then(|| conv::pack(&p));
                    Prepared::Conv(Box::new(p), packed)
                }
                Op::FullyConnected(_) => Prepared::Fc(Box::new(fc_params(graph, l)?)),
                _ => Prepared::None,
            });
        }
        Ok(Self { graph, arith, prepared })
    }

    /// Runs the integer (or, for float layers, float) execution on the graph inputs, in
    /// `graph.inputs` order, and returns every tensor's values indexed by [`TensorId`]
    /// (`None` for constants and tensors not computed).
    pub fn run(&self, inputs: &[Values]) -> Result<Vec<Option<Values>>, ExecError> {
        let g = self.graph;
        let mut vals: Vec<Option<Values>> = vec![None; g.tensors.len()];
        bind_inputs(g, inputs, &mut vals)?;
        for (l, prep) in g.layers.iter().zip(&self.prepared) {
            let out = g.output(l);
            let v = if out.dtype.is_int() || matches!(l.op, Op::Dequantize) {
                self.int_layer(l, prep, &vals)?
            } else {
                Values::F32(float_layer(g, l, &vals, false)?)
            };
            vals[l.outputs[0].0] = Some(v);
        }
        Ok(vals)
    }

    fn int_layer(&self, l: &Layer, prep: &Prepared, vals: &[Option<Values>]) -> Result<Values, ExecError> {
        let g = self.graph;
        let out = g.output(l);
        let unsupported =
            |m: &str| ExecError::Unsupported { layer: l.name.clone(), op: g.op_name(l).into(), message: m.into() };
        let int_in = |i: usize| -> Result<&Vec<i32>, ExecError> {
            match l.inputs.get(i).and_then(|t| vals[t.0].as_ref()) {
                Some(Values::Int(v)) => Ok(v),
                Some(Values::F32(_)) => Err(unsupported("expects an integer input, got floats")),
                None => Err(unsupported("input not computed")),
            }
        };
        let (qmin, qmax) = qrange(out.dtype);
        let (so, zo) = scale_zp(out);
        let act = |qmin, qmax| elementwise::activation_range(l.activation, so, zo, qmin, qmax);
        let arith = &self.arith;
        let r = match (&l.op, prep) {
            (Op::Conv2d(_), Prepared::Conv(p, packed)) => {
                let x = int_in(0)?;
                match packed {
                    Some(pk) => conv::conv_fast(p, pk, x),
                    None => conv::conv_reference(p, x, arith),
                }
            }
            (Op::FullyConnected(_), Prepared::Fc(p)) => fc::fully_connected(p, int_in(0)?, arith),
            (Op::Add, _) => {
                let (a, b) = (g.tensor(l.inputs[0]), g.tensor(l.inputs[1]));
                let (s1, z1) = scale_zp(a);
                let (s2, z2) = scale_zp(b);
                let p = elementwise::AddParams::new(s1, z1, s2, z2, so, zo, out.dtype.bits(), act(qmin, qmax));
                elementwise::add(&p, int_in(0)?, int_in(1)?, arith)
            }
            (Op::Pool(pl), _) => {
                let x = g.data_input(l);
                let input = shape4(&x.shape);
                let pad = resolve_padding(pl.padding, [input[1], input[2]], pl.kernel, pl.stride, [1, 1]);
                let (amin, amax) = act(qmin, qmax);
                let p = pool::PoolParams {
                    kind: pl.kind,
                    input,
                    output: shape4(&out.shape),
                    kernel: pl.kernel,
                    stride: pl.stride,
                    pad,
                    act_min: amin,
                    act_max: amax,
                };
                pool::pool(&p, int_in(0)?)
            }
            (Op::Mean { axes, .. }, _) => {
                let x = g.data_input(l);
                let (si, zi) = scale_zp(x);
                let m = QuantMultiplier::checked(si as f64 / so as f64).map_err(|m| unsupported(&m))?;
                pool::mean(&x.shape, axes, int_in(0)?, zi, m, zo, qmin, qmax, arith)
            }
            (Op::Softmax { beta }, _) => {
                let x = g.data_input(l);
                let (si, _) = scale_zp(x);
                let (in_min, _) = qrange(x.dtype);
                if x.dtype.bits() > 8 || out.dtype.bits() > 16 {
                    return Err(unsupported("integer softmax supports 8-bit inputs only"));
                }
                let depth = x.shape.last().copied().unwrap_or(1);
                let bits = out.dtype.bits();
                if (so, zo) != (1.0 / (1u64 << bits) as f32, -(1i32 << (bits - 1))) {
                    // Not LiteRT's fixed output quantization (e.g. an ONNX QDQ model's
                    // 1/255): a float softmax quantized with the output's parameters.
                    let (_, zi) = scale_zp(x);
                    let y = float::softmax(&elementwise::dequantize(int_in(0)?, si, zi), depth, *beta);
                    return Ok(Values::Int(elementwise::quantize_half_even(&y, so, zo, qmin, qmax)));
                }
                let p = softmax::SoftmaxParams::new(*beta, si);
                softmax::softmax(&p, int_in(0)?, depth, in_min, bits)
            }
            (Op::Reshape { .. }, _) => int_in(0)?.clone(),
            (Op::Concat { axis }, _) => {
                let mut parts = Vec::new();
                let mut shapes = Vec::new();
                for (i, &t) in l.inputs.iter().enumerate() {
                    let tt = g.tensor(t);
                    let (si, zi) = scale_zp(tt);
                    let v = int_in(i)?;
                    parts.push(if (si, zi) == (so, zo) {
                        v.clone()
                    } else {
                        layout::rescale(v, si, zi, so, zo, qmin, qmax)
                    });
                    shapes.push(tt.shape.clone());
                }
                let refs: Vec<&[i32]> = parts.iter().map(|p| p.as_slice()).collect();
                let (amin, amax) = act(qmin, qmax);
                let mut r = layout::concat(&refs, &shapes, *axis);
                r.iter_mut().for_each(|v| *v = (*v).clamp(amin, amax));
                r
            }
            (Op::Pad { pads }, _) => layout::pad(int_in(0)?, &g.data_input(l).shape, pads, zo),
            (Op::Quantize, _) => {
                let x = g.data_input(l);
                match l.inputs.first().and_then(|t| vals[t.0].as_ref()) {
                    Some(Values::F32(v)) => elementwise::quantize(v, so, zo, qmin, qmax),
                    Some(Values::Int(v)) => {
                        let (si, zi) = scale_zp(x);
                        let m = QuantMultiplier::checked(si as f64 / so as f64).map_err(|m| unsupported(&m))?;
                        elementwise::requantize_tensor(v, zi, m, zo, qmin, qmax)
                    }
                    None => return Err(unsupported("input not computed")),
                }
            }
            (Op::Dequantize, _) => {
                let x = g.data_input(l);
                return Ok(Values::F32(match &x.quant {
                    Some(q) => dequantize_per_tensor(int_in(0)?, q),
                    None => int_in(0)?.iter().map(|&v| v as f32).collect(),
                }));
            }
            _ => return Err(unsupported("no integer kernel")),
        };
        Ok(Values::Int(r))
    }
}

fn bind_inputs(g: &Graph, inputs: &[Values], vals: &mut [Option<Values>]) -> Result<(), ExecError> {
    if inputs.len() != g.inputs.len() {
        return Err(ExecError::Input(format!("the graph has {} inputs, got {}", g.inputs.len(), inputs.len())));
    }
    for (&id, v) in g.inputs.iter().zip(inputs) {
        let t = g.tensor(id);
        if v.len() as u64 != t.elements() {
            return Err(ExecError::Input(format!(
                "input '{}' has shape {:?} ({} elements), got {} values",
                t.name,
                t.shape,
                t.elements(),
                v.len()
            )));
        }
        vals[id.0] = Some(v.clone());
    }
    Ok(())
}

/// Runs the graph in float32: constants are dequantized, QUANTIZE and DEQUANTIZE pass
/// values through, and every activation is a float. `inputs` are real values.
pub fn run_float(g: &Graph, inputs: &[Vec<f32>]) -> Result<Vec<Option<Values>>, ExecError> {
    let mut vals: Vec<Option<Values>> = vec![None; g.tensors.len()];
    let inputs: Vec<Values> = inputs.iter().map(|v| Values::F32(v.clone())).collect();
    bind_inputs(g, &inputs, &mut vals)?;
    for l in &g.layers {
        let v = float_layer(g, l, &vals, true)?;
        vals[l.outputs[0].0] = Some(Values::F32(v));
    }
    Ok(vals)
}

fn float_layer(g: &Graph, l: &Layer, vals: &[Option<Values>], dequant: bool) -> Result<Vec<f32>, ExecError> {
    let unsupported =
        |m: &str| ExecError::Unsupported { layer: l.name.clone(), op: g.op_name(l).into(), message: m.into() };
    let fin = |i: usize| -> Result<Vec<f32>, ExecError> {
        let t = l.inputs.get(i).ok_or_else(|| unsupported("missing input"))?;
        match vals[t.0].as_ref() {
            Some(Values::F32(v)) => Ok(v.clone()),
            Some(Values::Int(v)) if dequant => Ok(match &g.tensor(*t).quant {
                Some(q) => dequantize_per_tensor(v, q),
                None => v.iter().map(|&x| x as f32).collect(),
            }),
            Some(Values::Int(_)) => Err(unsupported("expects a float input")),
            None => Err(unsupported("input not computed")),
        }
    };
    let out = g.output(l);
    let mut r = match &l.op {
        Op::Conv2d(c) => {
            let x = g.data_input(l);
            let w = g.weights_of(l).and_then(const_f32).ok_or_else(|| unsupported("weights have no values"))?;
            let b = g.bias_of(l).and_then(const_f32);
            let input = shape4(&x.shape);
            let pad = resolve_padding(c.padding, [input[1], input[2]], c.kernel, c.stride, c.dilation);
            let geom = conv::ConvGeometry {
                input,
                output: shape4(&out.shape),
                kernel: c.kernel,
                stride: c.stride,
                dilation: c.dilation,
                pad,
            };
            float::conv(&geom, c.groups, &fin(0)?, &w, b.as_deref())
        }
        Op::FullyConnected(fcp) => {
            let x = g.data_input(l);
            let w = g.weights_of(l).and_then(const_f32).ok_or_else(|| unsupported("weights have no values"))?;
            let b = g.bias_of(l).and_then(const_f32);
            let batch = x.shape.first().copied().unwrap_or(1).max(1);
            let inf = (x.elements() as usize) / batch;
            float::fully_connected(batch, inf, fcp.out_features, &fin(0)?, &w, b.as_deref())
        }
        Op::Add => fin(0)?.iter().zip(fin(1)?).map(|(a, b)| a + b).collect(),
        Op::Pool(p) => {
            let x = g.data_input(l);
            let input = shape4(&x.shape);
            let pad = resolve_padding(p.padding, [input[1], input[2]], p.kernel, p.stride, [1, 1]);
            float::pool(p.kind, input, shape4(&out.shape), p.kernel, p.stride, pad, &fin(0)?)
        }
        Op::Mean { axes, .. } => {
            let x = g.data_input(l);
            let (s, n) = pool::reduce_sum(&x.shape, axes, fin(0)?.into_iter());
            s.iter().zip(n).map(|(&v, n)| v / n.max(1) as f32).collect()
        }
        Op::Softmax { beta } => {
            let depth = g.data_input(l).shape.last().copied().unwrap_or(1);
            float::softmax(&fin(0)?, depth, *beta)
        }
        Op::Reshape { .. } | Op::Quantize | Op::Dequantize => fin(0)?,
        Op::Concat { axis } => {
            let parts: Vec<Vec<f32>> = (0..l.inputs.len()).map(fin).collect::<Result<_, _>>()?;
            let shapes: Vec<Vec<usize>> = l.inputs.iter().map(|&t| g.tensor(t).shape.clone()).collect();
            let refs: Vec<&[f32]> = parts.iter().map(|p| p.as_slice()).collect();
            layout::concat(&refs, &shapes, *axis)
        }
        Op::Pad { pads } => layout::pad(&fin(0)?, &g.data_input(l).shape, pads, 0.0),
    };
    float::activate(&mut r, l.activation);
    Ok(r)
}

fn channel_multipliers(g: &Graph, l: &Layer, cout: usize) -> Result<Vec<QuantMultiplier>, ExecError> {
    let unsupported = |m: String| ExecError::Unsupported { layer: l.name.clone(), op: g.op_name(l).into(), message: m };
    let (si, _) = scale_zp(g.data_input(l));
    let (so, _) = scale_zp(g.output(l));
    let w = g.weights_of(l).ok_or_else(|| unsupported("no weights".into()))?;
    let wq = w.quant.as_ref().ok_or_else(|| unsupported("weights are not quantized".into()))?;
    if wq.scales.len() != 1 && wq.scales.len() != cout {
        return Err(unsupported(format!("{} weight scales for {} output channels", wq.scales.len(), cout)));
    }
    (0..cout)
        .map(|c| {
            let (sw, _) = wq.channel(c);
            QuantMultiplier::checked(si as f64 * sw as f64 / so as f64)
                .map_err(|m| unsupported(format!("output channel {c}: {m}")))
        })
        .collect()
}

fn weight_zps(w: &Tensor, cout: usize) -> Vec<i32> {
    (0..cout).map(|c| w.quant.as_ref().map_or(0, |q| q.channel(c).1 as i32)).collect()
}

fn unsupported(g: &Graph, l: &Layer, m: &str) -> ExecError {
    ExecError::Unsupported { layer: l.name.clone(), op: g.op_name(l).into(), message: m.into() }
}

/// What conv and FC layers share: integer weights and bias, zero points and the output clamp.
struct WeightedLayer<'g> {
    x: &'g Tensor,
    w: &'g Tensor,
    weights: Vec<i32>,
    bias: Option<Vec<i64>>,
    input_zp: i32,
    output_zp: i32,
    act_min: i32,
    act_max: i32,
}

fn weighted_layer<'g>(g: &'g Graph, l: &Layer) -> Result<WeightedLayer<'g>, ExecError> {
    let x = g.data_input(l);
    let out = g.output(l);
    let w = g.weights_of(l).ok_or_else(|| unsupported(g, l, "no weights"))?;
    let weights = const_i32(w).ok_or_else(|| unsupported(g, l, "weights have no integer values"))?;
    let bias = match g.bias_of(l) {
        Some(b) => Some(const_i64(b).ok_or_else(|| unsupported(g, l, "bias has no integer values"))?),
        None => None,
    };
    let (_, input_zp) = scale_zp(x);
    let (so, output_zp) = scale_zp(out);
    let (qmin, qmax) = qrange(out.dtype);
    let (act_min, act_max) = elementwise::activation_range(l.activation, so, output_zp, qmin, qmax);
    Ok(WeightedLayer { x, w, weights, bias, input_zp, output_zp, act_min, act_max })
}

fn conv_params(g: &Graph, l: &Layer) -> Result<conv::ConvParams, ExecError> {
    let Op::Conv2d(c) = &l.op else { return Err(unsupported(g, l, "not a convolution")) };
    let WeightedLayer { x, w, weights, bias, input_zp, output_zp, act_min, act_max } = weighted_layer(g, l)?;
    let input = shape4(&x.shape);
    let output = shape4(&g.output(l).shape);
    let pad = resolve_padding(c.padding, [input[1], input[2]], c.kernel, c.stride, c.dilation);
    let requant = if x.dtype.bits() > 8 { Requant::Reduced } else { Requant::Double };
    Ok(conv::ConvParams {
        geom: conv::ConvGeometry { input, output, kernel: c.kernel, stride: c.stride, dilation: c.dilation, pad },
        groups: c.groups,
        weight_zp: weight_zps(w, output[3]),
        weights,
        bias,
        input_zp,
        output_zp,
        multipliers: channel_multipliers(g, l, output[3])?,
        requant,
        act_min,
        act_max,
    })
}

fn fc_params(g: &Graph, l: &Layer) -> Result<fc::FcParams, ExecError> {
    let Op::FullyConnected(f) = &l.op else { return Err(unsupported(g, l, "not a fully connected layer")) };
    let WeightedLayer { x, w, weights, bias, input_zp, output_zp, act_min, act_max } = weighted_layer(g, l)?;
    let batch = x.shape.first().copied().unwrap_or(1).max(1);
    Ok(fc::FcParams {
        batch,
        in_features: x.elements() as usize / batch,
        out_features: f.out_features,
        weight_zp: weight_zps(w, f.out_features),
        weights,
        bias,
        input_zp,
        output_zp,
        multipliers: channel_multipliers(g, l, f.out_features)?,
        // LiteRT's FULLY_CONNECTED (int8 and 16x8, per tensor or per channel) rounds the
        // accumulator once with the full multiplier (docs/tflite_export.md); wider weights
        // with wide activations (post-training quantization at > 8 bits) take the reduced
        // 64-bit path of the 16x8 convolutions.
        requant: if x.dtype.bits() > 8 && w.dtype.bits() > 8 { Requant::Reduced } else { Requant::Single },
        act_min,
        act_max,
    })
}

/// Runs the graph with LiteRT's arithmetic and returns every tensor (see [`Executor::run`]).
pub fn execute(graph: &Graph, inputs: &[Values]) -> Result<Vec<Option<Values>>, ExecError> {
    Executor::new(graph, Arithmetic::default())?.run(inputs)
}

/// The id of an IR tensor, for callers that index [`Executor::run`]'s result.
pub fn value_of(vals: &[Option<Values>], id: TensorId) -> Option<&Values> {
    vals.get(id.0).and_then(|v| v.as_ref())
}
