//! Post-training quantization of a float graph into an integer graph the
//! [`Executor`](crate::kernels::Executor) runs: TFLite's scheme (Jacob et al., CVPR 2018;
//! Krishnamoorthi, arXiv:1806.08342, section 3) generalized to 2-16 bits.
//!
//! - Widths: per layer, from [`PtqConfig::widths`] (a [`WidthPlan`]); each activation
//!   tensor at the width of its widest reader, tensors passed through unchanged sharing one.
//! - Weights: symmetric (zero point 0, narrow range) or asymmetric, per output channel
//!   (axis 0 of the IR's OHWI / `[out, in]` weights; depthwise weights `[C, kh, kw, 1]` too)
//!   or per tensor; thresholds by [`ClipMethod`].
//! - Activations: asymmetric, per tensor, from calibration statistics (or data-free ones).
//!   RESHAPE, pooling and PAD outputs share their input's parameters (the kernels do not
//!   rescale). A SOFTMAX output at `b <= 8` bits has scale `2^-b` and zero point `-2^(b-1)`
//!   (TFLite's int8 convention); with wider inputs, which the integer softmax does not take,
//!   the softmax runs in float after a DEQUANTIZE.
//! - Biases: 32-bit (64-bit when activations are wider than 8 bits) with scale
//!   `input scale x weight scale` per channel, optionally bias-corrected first.
//! - Under [`PtqConfig::litert`] (`quantize --out X.tflite`, or `--litert`): 16-bit
//!   activations symmetric, CONCATENATION inputs sharing the output's parameters, so the
//!   graph is one LiteRT's kernels run as they are (see `docs/tflite_export.md`).
//! - The graph keeps the float model's interface: a QUANTIZE layer after each float input
//!   and a DEQUANTIZE layer before each output. Tensor ids of the float graph are preserved
//!   (new tensors are appended), so float and integer runs can be compared tensor by tensor.

use rayon::prelude::*;

use crate::ir::{
    Convert, DataType, Graph, IrError, Layer, LayerId, Op, QuantParams, Tensor, TensorData, TensorId, TensorKind,
    WeightGroups,
};
use crate::ops::WeightLayout;
use crate::ops::{OpFamily, QuantRule};
use crate::quant::bias_correction;
use crate::quant::calib::Calibration;
use crate::quant::clip::{
    affine_params, choose_range, quantize_weight_groups, quantize_weights, ClipMethod, QuantizedWeights,
};
use crate::quant::widths::WidthPlan;
use crate::quant::GROUP_SCALE_BITS;

/// What to quantize to and how.
#[derive(Debug, Clone, PartialEq)]
pub struct PtqConfig {
    /// Each layer's weight and activation widths (2-16 bits), made for the graph quantized;
    /// activation tensors take widths by [`WidthPlan::activation_widths`].
    pub widths: WidthPlan,
    /// One weight scale per output channel (else per tensor).
    pub per_channel: bool,
    /// Symmetric weights (zero point 0); activations are always asymmetric.
    pub symmetric_weights: bool,
    /// Threshold choice for weights.
    pub weight_method: ClipMethod,
    /// Threshold choice for activations.
    pub act_method: ClipMethod,
    /// Correct the biases for the mean error of quantized weights.
    pub bias_correction: bool,
    /// Follow the constraints of LiteRT's converter and kernels (implied by a `.tflite`
    /// output): activations wider than 8 bits are symmetric (zero point 0, as LiteRT's 16x8
    /// kernels require), and the inputs and output of a CONCATENATION share one set of
    /// parameters (LiteRT's int8 / int16 concatenation does not rescale), taken from the
    /// union of their ranges and spread through the RESHAPE / pooling / PAD tensors that
    /// already share theirs.
    pub litert: bool,
}

impl PtqConfig {
    /// `widths` with `accelsim quantize`'s defaults: per-channel symmetric weights, min/max
    /// thresholds for weights and activations, no bias correction, no LiteRT constraints.
    pub fn min_max(widths: WidthPlan) -> PtqConfig {
        PtqConfig {
            widths,
            per_channel: true,
            symmetric_weights: true,
            weight_method: ClipMethod::MinMax,
            act_method: ClipMethod::MinMax,
            bias_correction: false,
            litert: false,
        }
    }
}

/// Why a graph cannot be quantized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    /// A conv / FC layer's weights have no float values.
    #[error("layer '{0}': the weights have no float values (is the model already quantized?)")]
    NoFloatWeights(String),
    /// No statistics reached an activation tensor.
    #[error("tensor '{0}': no calibration statistics (not computed by the float run)")]
    NoStatistics(String),
    /// The width plan was made for another graph.
    #[error("the width plan has {plan} layers, the graph {graph}")]
    PlanMismatch {
        /// Layers in the plan.
        plan: usize,
        /// Layers in the graph.
        graph: usize,
    },
    /// LiteRT's constraints with per-layer widths.
    #[error("LiteRT's kernels (a .tflite output, or --litert) take one width for every layer; this plan has {0}")]
    LitertMixed(String),
    /// Hybrid (dynamic-range) weights wider than the hybrid kernel takes.
    #[error("dynamic-range weights of {0} bits; LiteRT's hybrid kernel takes 2 to 8")]
    DynamicWidth(u8),
    /// The result failed validation.
    #[error("the quantized graph is invalid: {0}")]
    Invalid(#[from] IrError),
}

fn float_data(t: &Tensor) -> Option<&Vec<f32>> {
    match &t.data {
        Some(TensorData::F32(v)) => Some(v),
        _ => None,
    }
}

/// Quantizes a float graph with the given statistics (of the same graph).
pub fn quantize_graph(g: &Graph, cal: &Calibration, cfg: &PtqConfig) -> Result<Graph, QuantError> {
    if cfg.widths.len() != g.layers.len() {
        return Err(QuantError::PlanMismatch { plan: cfg.widths.len(), graph: g.layers.len() });
    }
    let mut q = g.clone();
    // 1. Activation parameters, each tensor at its width.
    let bits = cfg.widths.activation_widths(g);
    let symmetric_act = |b: u8| cfg.litert && b > 8;
    // (The threshold searches of different tensors are independent: run them in parallel.)
    let ranges: Vec<Option<(f32, f32)>> = g
        .tensors
        .par_iter()
        .enumerate()
        .map(|(i, t)| {
            let s = cal.tensors.get(i)?.as_ref().filter(|_| t.kind == TensorKind::Activation)?;
            Some(choose_range(&s.samples, s.min, s.max, bits[i]?, false, cfg.act_method))
        })
        .collect();
    let mut act: Vec<Option<(f32, i32)>> = ranges
        .iter()
        .zip(&bits)
        .map(|(r, b)| r.zip(*b).map(|((lo, hi), b)| affine_params(lo, hi, b, symmetric_act(b))))
        .collect();
    for l in &g.layers {
        // Every output of a layer (a SPLIT's pieces) follows the same rule.
        for o in l.outputs.iter().map(|o| o.0) {
            let i = l.inputs[0].0;
            match bits[i].zip(bits[o]).map(|(ib, ob)| l.op.quant_rule(ib, ob)) {
                Some(QuantRule::SameAsInput) => act[o] = act[i],
                Some(QuantRule::Fixed { scale, zero_point }) => act[o] = Some((scale, zero_point)),
                Some(QuantRule::Free | QuantRule::SharedWithInputs | QuantRule::FloatOnly) | None => {}
            }
        }
    }
    if cfg.litert {
        let Some((_, ab)) = cfg.widths.uniform_widths() else {
            return Err(QuantError::LitertMixed(cfg.widths.summary()));
        };
        share_concat_params(g, &ranges, ab, symmetric_act(ab), &mut act)?;
    }
    for (i, t) in q.tensors.iter_mut().enumerate() {
        if t.kind != TensorKind::Activation || g.inputs.contains(&TensorId(i)) {
            continue;
        }
        let no_stats = || QuantError::NoStatistics(t.name.clone());
        let (s, z) = act[i].ok_or_else(no_stats)?;
        t.dtype = DataType::int(bits[i].ok_or_else(no_stats)?);
        t.quant = Some(QuantParams::per_tensor(s, z as i64));
    }
    // 2. Weights and biases.
    for (li, l) in g.layers.iter().enumerate() {
        // `share`: the fraction of the weights each output element sums over, which scales
        // the bias correction (a transposed convolution's outputs each see one sub-pixel
        // phase of the kernel, on average 1 / (stride_h * stride_w) of it).
        let (cout, groups, share) = match l.op.weight_layout() {
            WeightLayout::Conv(c) => (g.output(l).shape.last().copied().unwrap_or(1), c.groups, 1.0),
            WeightLayout::Matrix(f) => (f.out_features, 1, 1.0),
            WeightLayout::TransposeConv(t) => (t.out_channels, 1, 1.0 / (t.stride[0] * t.stride[1]).max(1) as f32),
            // No weights to quantize; float-only layers keep theirs float.
            WeightLayout::Float | WeightLayout::None => continue,
        };
        let wid = l.inputs.iter().copied().find(|&t| g.tensor(t).kind == TensorKind::Weight);
        let Some(wid) = wid else { continue };
        let w = float_data(g.tensor(wid)).ok_or_else(|| QuantError::NoFloatWeights(l.name.clone()))?;
        // A plan made for this graph gives every layer with weights a weight width.
        let wb = cfg.widths.layer(LayerId(li)).weight.ok_or_else(|| QuantError::NoFloatWeights(l.name.clone()))?;
        // Group-wise weights (the plan's, `--wgroup` and `--layer-bits NAME=w4g32`) where a
        // group-wise kernel exists: fully connected layers, one fp16 scale (and, asymmetric,
        // one zero point) per group of consecutive weights along each output's reduction
        // ([`quantize_weight_groups`]). Other weighted layers stay per channel (their integer
        // kernels take per-channel scales; `accelsim quantize` refuses a request for them).
        let group = cfg
            .widths
            .weight_groups_of(LayerId(li))
            .filter(|_| l.op.weight_layout().group_kernel())
            .map(|g| g.size as usize);
        let qw = match group {
            Some(gs) => quantize_weight_groups(w, cout, gs, wb, cfg.symmetric_weights, cfg.weight_method),
            None => quantize_weights(w, cout, wb, cfg.per_channel, cfg.symmetric_weights, cfg.weight_method),
        };
        let in_id = l.inputs[0].0;
        // 32-bit biases, 64-bit behind activations wider than 8 bits (LiteRT's 16x8) and
        // behind group-wise weights (the bias is at the finest group scale of its output).
        let bias_bits = if bits[in_id].is_some_and(|b| b <= 8) && group.is_none() { 32 } else { 64 };
        let (s_in, _) = act[in_id].ok_or_else(|| QuantError::NoStatistics(g.tensor(l.inputs[0]).name.clone()))?;
        if let Some(bid) = l.inputs.iter().copied().find(|&t| g.tensor(t).kind == TensorKind::Bias) {
            let mut b = float_data(g.tensor(bid)).cloned().ok_or_else(|| QuantError::NoFloatWeights(l.name.clone()))?;
            if cfg.bias_correction {
                if let Some(Some(st)) = cal.tensors.get(in_id) {
                    let deq = match group {
                        Some(gs) => dequantized_groups(&qw, cout, gs),
                        None => qw.dequantized(cout),
                    };
                    let d = bias_correction::correction(w, &deq, cout, groups, &st.channel_mean);
                    b.iter_mut().zip(d).for_each(|(x, d)| *x += d * share);
                }
            }
            let scales: Vec<f32> = match group {
                // Input scale x 2^E, E the smallest group exponent of the output
                // (`kernels::fc`'s group-wise arithmetic).
                Some(_) => {
                    let per = qw.scales.len() / cout.max(1);
                    (0..cout)
                        .map(|c| s_in * 2f32.powi(crate::quant::clip::group_exponent(&qw.scales[c * per..][..per])))
                        .collect()
                }
                None => (0..cout).map(|c| s_in * qw.scales[if qw.scales.len() > 1 { c } else { 0 }]).collect(),
            };
            let bq: Vec<i64> = b.iter().zip(&scales).map(|(&x, &s)| (x as f64 / s as f64).round() as i64).collect();
            let bt = q.tensor_mut(bid);
            bt.dtype = DataType::int(bias_bits);
            bt.data = Some(TensorData::I64(bq));
            bt.quant = Some(QuantParams { zero_points: vec![0; cout], scales, axis: Some(0) });
        }
        let wt = q.tensor_mut(wid);
        wt.dtype = DataType::int(wb);
        wt.groups = group.map(|gs| WeightGroups {
            size: gs as u32,
            scale_bits: GROUP_SCALE_BITS,
            zero_point_bits: if cfg.symmetric_weights { 0 } else { wb },
        });
        wt.quant = Some(QuantParams {
            axis: if qw.scales.len() > 1 { Some(0) } else { None },
            zero_points: qw.zero_points.iter().map(|&z| z as i64).collect(),
            scales: qw.scales,
        });
        wt.data = Some(TensorData::I32(qw.q));
    }
    // 3. Ops without an integer kernel at their planned widths run in float: a DEQUANTIZE
    // before each of their integer activation inputs, and a QUANTIZE (with the tensor's own
    // parameters from step 1) before each integer reader of their outputs. A graph input is
    // still float here (its QUANTIZE comes in step 4): its planned width counts, not its type.
    {
        let planned =
            |q: &Graph, t: TensorId| bits.get(t.0).copied().flatten().unwrap_or(q.tensor(t).dtype.bits() as u8);
        let mut dequantized: Vec<(TensorId, TensorId)> = Vec::new();
        let mut requantized: Vec<(TensorId, TensorId)> = Vec::new();
        // Outputs of float layers, with the integer type and parameters step 1 gave them.
        let mut floated: Vec<(TensorId, DataType, Option<QuantParams>)> = Vec::new();
        let layers = std::mem::take(&mut q.layers);
        let mut out = Vec::with_capacity(layers.len());
        for mut l in layers {
            let (x, o) = (l.inputs[0], l.outputs[0]);
            let float_only = l.op.quant_rule(planned(&q, x), planned(&q, o)) == QuantRule::FloatOnly;
            for k in 0..l.inputs.len() {
                let t = l.inputs[k];
                if q.tensor(t).kind != TensorKind::Activation {
                    continue;
                }
                let was_floated = floated.iter().find(|f| f.0 == t).cloned();
                if float_only && was_floated.is_none() {
                    let d = match dequantized.iter().find(|d| d.0 == t) {
                        Some(&(_, d)) => d,
                        None => {
                            let d = add_like(&mut q, t, "dequantized", DataType::F32, None);
                            out.push(layer(&q, "dequantize", Op::Convert(Convert::Dequantize), t, d));
                            dequantized.push((t, d));
                            d
                        }
                    };
                    l.inputs[k] = d;
                } else if let (false, Some((_, dtype, quant))) = (float_only, was_floated) {
                    let r = match requantized.iter().find(|r| r.0 == t) {
                        Some(&(_, r)) => r,
                        None => {
                            let r = add_like(&mut q, t, "requantized", dtype, quant);
                            out.push(layer(&q, "quantize", Op::Convert(Convert::Quantize), t, r));
                            requantized.push((t, r));
                            r
                        }
                    };
                    l.inputs[k] = r;
                }
            }
            if float_only {
                for &o in &l.outputs {
                    let t = q.tensor_mut(o);
                    floated.push((o, t.dtype, t.quant.take()));
                    t.dtype = DataType::F32;
                }
            }
            out.push(l);
        }
        q.layers = out;
    }
    // 3b. Float constants an integer layer reads as operands (a position embedding or a
    // norm's gamma and beta added or multiplied element-wise, an epsilon): per tensor at the
    // layer's output width from their own range, as LiteRT's converter quantizes them, or
    // with the output's parameters where the layer shares them (a concatenated class token).
    quantize_constant_operands(g, &mut q, symmetric_act)?;
    // 4. QUANTIZE after each input, DEQUANTIZE before each integer output.
    for (k, &inp) in g.inputs.iter().enumerate() {
        let no_stats = || QuantError::NoStatistics(g.tensor(inp).name.clone());
        let (s, z) = act[inp.0].ok_or_else(no_stats)?;
        let ab = bits[inp.0].ok_or_else(no_stats)?;
        let qi = add_like(&mut q, inp, "quantized", DataType::int(ab), Some(QuantParams::per_tensor(s, z as i64)));
        for l in &mut q.layers {
            l.inputs.iter_mut().filter(|t| **t == inp).for_each(|t| *t = qi);
        }
        let ql = layer(&q, "quantize", Op::Convert(Convert::Quantize), inp, qi);
        q.layers.insert(k, ql);
    }
    let outs = q.outputs.clone();
    q.outputs.clear();
    for o in outs {
        if q.tensor(o).dtype.is_int() {
            let d = add_like(&mut q, o, "dequantized", DataType::F32, None);
            let dl = layer(&q, "dequantize", Op::Convert(Convert::Dequantize), o, d);
            q.layers.push(dl);
            q.outputs.push(d);
        } else {
            q.outputs.push(o);
        }
    }
    q.validate()?;
    Ok(q)
}

/// Step 3b of [`quantize_graph`]: every float constant read as an operand by a layer whose
/// output is an integer (not a weight or bias, which step 2 quantizes) becomes an integer
/// tensor at the output's width. A constant read by layers of different widths or rules gets
/// one copy per (width, parameters) beside the first.
fn quantize_constant_operands(g: &Graph, q: &mut Graph, symmetric_act: impl Fn(u8) -> bool) -> Result<(), QuantError> {
    // The float graph's tensors keep their ids in `q`: a constant is read (and a copy made)
    // from the float graph, never from a copy already quantized.
    let float_const =
        |t: TensorId| g.tensors.get(t.0).filter(|t| t.kind == TensorKind::Constant && t.dtype == DataType::F32);
    let mut done: Vec<(TensorId, u8, (u32, i64), TensorId)> = Vec::new();
    for li in 0..q.layers.len() {
        let l = &q.layers[li];
        let out = q.tensor(l.outputs[0]);
        let (DataType::Int { bits: ob, .. }, Some(oq)) = (out.dtype, out.quant.as_ref()) else { continue };
        if !matches!(l.op.weight_layout(), WeightLayout::None) {
            continue;
        }
        let shared = l.op.quant_rule(ob, ob) == QuantRule::SharedWithInputs;
        let out_params = (oq.scales[0], oq.zero_points[0]);
        for k in 0..q.layers[li].inputs.len() {
            let t = q.layers[li].inputs[k];
            let Some(tensor) = float_const(t) else { continue };
            let Some(v) = float_data(tensor) else { continue };
            let params = if shared {
                out_params
            } else {
                let (lo, hi) = v.iter().fold((0f32, 0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                let (s, z) = affine_params(lo, hi, ob, symmetric_act(ob));
                (s, z as i64)
            };
            let key = (params.0.to_bits(), params.1);
            if let Some(&(_, _, _, copy)) = done.iter().find(|d| d.0 == t && d.1 == ob && d.2 == key) {
                q.layers[li].inputs[k] = copy;
                continue;
            }
            if !params.0.is_finite() || params.0 <= 0.0 {
                return Err(QuantError::NoStatistics(tensor.name.clone()));
            }
            let (qmin, qmax) = crate::quant::clip::int_range(ob, symmetric_act(ob) && !shared);
            let ints: Vec<i32> =
                v.iter().map(|&x| crate::quant::clip::quantize(x, params.0, params.1 as i32, qmin, qmax)).collect();
            let quant = QuantParams::per_tensor(params.0, params.1);
            let id = if done.iter().any(|d| d.0 == t) {
                let mut c = tensor.clone();
                c.name = format!("{}/{}", c.name, q.layers[li].name);
                q.add_tensor(c)
            } else {
                t
            };
            let c = q.tensor_mut(id);
            c.dtype = DataType::int(ob);
            c.quant = Some(quant);
            c.data = Some(TensorData::I32(ints));
            q.layers[li].inputs[k] = id;
            done.push((t, ob, key, id));
        }
    }
    Ok(())
}

/// Gives every tensor that must share a CONCATENATION's parameters (its inputs and output,
/// and through RESHAPE / pooling / PAD the tensors those share with) one set of parameters
/// from the union of their ranges. Tensors outside such groups keep theirs.
fn share_concat_params(
    g: &Graph,
    ranges: &[Option<(f32, f32)>],
    bits: u8,
    symmetric: bool,
    act: &mut [Option<(f32, i32)>],
) -> Result<(), QuantError> {
    let mut parent: Vec<usize> = (0..g.tensors.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let join = |parent: &mut Vec<usize>, a: TensorId, b: TensorId| {
        let (ra, rb) = (root(parent, a.0), root(parent, b.0));
        parent[ra] = rb;
    };
    let mut with_concat = Vec::new();
    for l in &g.layers {
        let o = l.outputs[0];
        match l.op.quant_rule(bits, bits) {
            QuantRule::SameAsInput => l.outputs.iter().for_each(|&o| join(&mut parent, l.inputs[0], o)),
            QuantRule::SharedWithInputs => {
                l.inputs.iter().for_each(|&i| join(&mut parent, i, o));
                with_concat.push(o);
            }
            QuantRule::Free | QuantRule::Fixed { .. } | QuantRule::FloatOnly => {}
        }
    }
    let groups: Vec<usize> = with_concat.iter().map(|t| root(&mut parent, t.0)).collect();
    for gr in groups {
        let members: Vec<usize> = (0..g.tensors.len()).filter(|&i| root(&mut parent, i) == gr).collect();
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &i in &members {
            let (a, b) = ranges[i].ok_or_else(|| QuantError::NoStatistics(g.tensors[i].name.clone()))?;
            (lo, hi) = (lo.min(a), hi.max(b));
        }
        let p = affine_params(lo, hi, bits, symmetric);
        members.iter().for_each(|&i| act[i] = Some(p));
    }
    Ok(())
}

/// Dequantized group-wise weights ([`quantize_weight_groups`]'s layout).
fn dequantized_groups(qw: &QuantizedWeights, channels: usize, group: usize) -> Vec<f32> {
    let per = qw.q.len() / channels.max(1);
    let count = per.div_ceil(group.max(1));
    qw.q.iter()
        .enumerate()
        .map(|(i, &v)| {
            let k = (i / per.max(1)) * count + (i % per.max(1)) / group.max(1);
            qw.scales[k] * (v - qw.zero_points[k]) as f32
        })
        .collect()
}

fn add_like(q: &mut Graph, of: TensorId, suffix: &str, dtype: DataType, quant: Option<QuantParams>) -> TensorId {
    let t = q.tensor(of);
    let nt = Tensor {
        name: format!("{}/{suffix}", t.name),
        shape: t.shape.clone(),
        dtype,
        quant,
        kind: TensorKind::Activation,
        data: None,
        groups: None,
    };
    q.add_tensor(nt)
}

fn layer(q: &Graph, prefix: &str, op: Op, input: TensorId, output: TensorId) -> Layer {
    Layer {
        name: format!("{prefix}:{}", q.tensor(input).name),
        op,
        inputs: vec![input],
        outputs: vec![output],
        activation: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Activation, Softmax, UnaryKind, WeightSource};
    use crate::quant::calib::calibrate;
    use crate::quant::Precision;

    /// One layer reading the graph input directly: `x -> op -> y`.
    fn one_layer_on_the_input(op: Op) -> Graph {
        let mut g = Graph::new("t", WeightSource::Imported { path: "test".into() });
        let x = g.add_tensor(Tensor::float("x", vec![1, 2, 2, 4], TensorKind::Activation));
        let y = g.add_tensor(Tensor::float("y", Vec::new(), TensorKind::Activation));
        g.inputs.push(x);
        g.outputs.push(y);
        g.layers.push(Layer { name: "l".into(), op, inputs: vec![x], outputs: vec![y], activation: Activation::None });
        g.infer_shapes().expect("shape inference");
        g
    }

    fn quantize_at(g: &Graph, bits: u8) -> Graph {
        let x: Vec<f32> = (0..16).map(|i| i as f32 / 4.0 - 2.0).collect();
        let cal = calibrate(g, &[x]).expect("calibration");
        let cfg = PtqConfig::min_max(WidthPlan::uniform(g, Precision { weight_bits: bits, activation_bits: bits }));
        quantize_graph(g, &cal, &cfg).expect("quantize")
    }

    /// A graph input is still float when step 3 looks for float-only ops: the width it is
    /// quantized to (step 4) decides, not its float type.
    #[test]
    fn ops_on_the_graph_input_run_on_integers_at_the_planned_width() {
        let ops = [
            Op::Unary(UnaryKind::Logistic),
            Op::Unary(UnaryKind::Tanh),
            Op::Unary(UnaryKind::HardSwish),
            Op::Unary(UnaryKind::HardSigmoid { alpha: 0.2, beta: 0.5 }),
            Op::Softmax(Softmax { beta: 1.0, causal: false }),
        ];
        for op in ops {
            let q = quantize_at(&one_layer_on_the_input(op.clone()), 8);
            let kinds: Vec<&Op> = q.layers.iter().map(|l| &l.op).collect();
            assert_eq!(kinds.len(), 3, "{op:?}: quantize, op, dequantize; got {kinds:?}");
            let l = &q.layers[1];
            assert_eq!(l.op, op);
            assert_eq!(q.tensor(l.inputs[0]).dtype, DataType::int(8), "{op:?} input");
            assert_eq!(q.tensor(l.outputs[0]).dtype, DataType::int(8), "{op:?} output");
        }
        // At 12 bits no integer kernel takes these: float behind a DEQUANTIZE, as before.
        let q = quantize_at(&one_layer_on_the_input(Op::Unary(UnaryKind::Logistic)), 12);
        assert_eq!(q.tensor(q.layers[2].inputs[0]).dtype, DataType::F32);
        assert_eq!(q.tensor(q.layers[2].outputs[0]).dtype, DataType::F32);
    }

    /// `x -> relu -> rsqrt-free chain`: RELU, then RSQRT (float only under post-training
    /// quantization), then MUL by a float constant and ADD of the RELU output: a layer norm's
    /// shape. The RSQRT runs in float between a DEQUANTIZE and a QUANTIZE with its output's
    /// own parameters; the constant becomes an integer tensor; the graph runs and stays close
    /// to the float one.
    #[test]
    fn a_float_island_mid_graph_is_requantized_for_its_integer_readers() {
        use crate::ir::BinaryKind;
        let mut g = Graph::new("t", WeightSource::Imported { path: "test".into() });
        let x = g.add_tensor(Tensor::float("x", vec![1, 2, 2, 4], TensorKind::Activation));
        let r = g.add_tensor(Tensor::float("r", Vec::new(), TensorKind::Activation));
        let s = g.add_tensor(Tensor::float("s", Vec::new(), TensorKind::Activation));
        let m = g.add_tensor(Tensor::float("m", Vec::new(), TensorKind::Activation));
        let y = g.add_tensor(Tensor::float("y", Vec::new(), TensorKind::Activation));
        let mut gamma = Tensor::float("gamma", vec![1, 1, 1, 4], TensorKind::Constant);
        gamma.data = Some(TensorData::F32(vec![0.5, 1.0, -1.5, 2.0]));
        let gamma = g.add_tensor(gamma);
        g.inputs.push(x);
        g.outputs.push(y);
        let mut push = |name: &str, op: Op, inputs: Vec<TensorId>, out: TensorId| {
            g.layers.push(Layer { name: name.into(), op, inputs, outputs: vec![out], activation: Activation::None })
        };
        push("relu", Op::Unary(UnaryKind::Relu), vec![x], r);
        push("rsqrt", Op::Unary(UnaryKind::Rsqrt), vec![r], s);
        push("mul", Op::Binary(BinaryKind::Mul), vec![s, gamma], m);
        push("add", Op::Binary(BinaryKind::Add), vec![m, r], y);
        g.infer_shapes().expect("shape inference");
        let xs: Vec<f32> = (0..16).map(|i| 0.25 + i as f32 / 4.0).collect();
        let cal = calibrate(&g, std::slice::from_ref(&xs)).expect("calibration");
        let cfg = PtqConfig::min_max(WidthPlan::uniform(&g, Precision { weight_bits: 8, activation_bits: 8 }));
        let q = quantize_graph(&g, &cal, &cfg).expect("quantize");
        let names: Vec<&str> = q.layers.iter().map(|l| l.name.as_str()).collect();
        let at = |n: &str| names.iter().position(|&m| m == n).unwrap_or_else(|| panic!("{n} in {names:?}"));
        let rsqrt = &q.layers[at("rsqrt")];
        assert_eq!(q.tensor(rsqrt.inputs[0]).dtype, DataType::F32, "rsqrt reads a dequantized copy");
        assert_eq!(q.tensor(rsqrt.outputs[0]).dtype, DataType::F32);
        let mul = &q.layers[at("mul")];
        let (mi, mc) = (q.tensor(mul.inputs[0]), q.tensor(mul.inputs[1]));
        assert_eq!(mi.dtype, DataType::int(8), "mul reads the requantized rsqrt output");
        let want = cal.tensors[s.0].as_ref().map(|st| (st.min, st.max));
        let (lo, hi) = want.expect("rsqrt statistics");
        let (sc, _) = affine_params(lo, hi, 8, false);
        assert_eq!(mi.quant.as_ref().map(|p| p.scales[0]), Some(sc), "with the rsqrt output's own parameters");
        assert_eq!(mc.dtype, DataType::int(8));
        assert!(matches!(mc.data, Some(TensorData::I32(_))), "the constant holds integers");
        let add = &q.layers[at("add")];
        assert_eq!(q.tensor(add.inputs[1]).dtype, DataType::int(8), "the RELU output is read as integers");
        let run = |g: &Graph| -> Vec<f32> {
            let v = crate::kernels::execute(g, &[crate::kernels::Values::F32(xs.clone())]).expect("runs");
            match v[g.outputs[0].0].clone() {
                Some(crate::kernels::Values::F32(v)) => v,
                other => panic!("float output, got {other:?}"),
            }
        };
        let (f, i) = (run(&g), run(&q));
        let span = f.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (a, b) in f.iter().zip(&i) {
            assert!((a - b).abs() <= 0.05 * span, "float {a} vs quantized {b}");
        }
    }

    /// `x [1, 3, 40] -> fc (6 outputs, keep_dims, bias) -> y` with seeded weights whose
    /// second group of every row is 20x larger (an outlier block).
    fn fc_graph() -> (Graph, Vec<f32>) {
        let mut seed = 7u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let w = (0..240).map(|i| rnd() * if (16..32).contains(&(i % 40)) { 2.0 } else { 0.1 }).collect();
        let b = (0..6).map(|_| rnd()).collect();
        let g = crate::quant::test_graphs::one_fc(vec![1, 3, 40], w, b, true);
        let xs: Vec<f32> = (0..120).map(|_| rnd() * 4.0).collect();
        (g, xs)
    }

    fn quantize_fc(g: &Graph, xs: &[f32], group: Option<usize>) -> Graph {
        let cal = calibrate(g, &[xs.to_vec()]).expect("calibration");
        let groups = group.map(|n| crate::quant::weight_groups("group", n as i64, 0).expect("a group size"));
        let cfg = PtqConfig::min_max(
            WidthPlan::uniform(g, Precision { weight_bits: 4, activation_bits: 8 }).with_weight_groups(groups),
        );
        quantize_graph(g, &cal, &cfg).expect("quantize")
    }

    fn run_f32(g: &Graph, xs: &[f32]) -> Vec<f32> {
        let v = crate::kernels::execute(g, &[crate::kernels::Values::F32(xs.to_vec())]).expect("runs");
        match v[g.outputs[0].0].clone() {
            Some(crate::kernels::Values::F32(v)) => v,
            other => panic!("float output, got {other:?}"),
        }
    }

    /// Group-wise weights (W4 g16 over a 40-long reduction: groups 16, 16, 8) carry fp16
    /// scales and run the integer definition of `kernels::fc::FcGroups`, which is the float
    /// computation with the quantized operands to within one output step (checked here in
    /// f64 from the quantized tensors); on weights with an outlier block they are closer to
    /// the float layer than per-channel scales.
    #[test]
    fn group_wise_weights_follow_their_float_definition() {
        use crate::quant::clip::{int_range, quantize as q1, to_fp16};
        let (g, xs) = fc_graph();
        let q = quantize_fc(&g, &xs, Some(16));
        let fc = q.layers.iter().find(|l| l.name == "fc").expect("fc");
        let (xt, wt, bt, yt) =
            (q.tensor(fc.inputs[0]), q.tensor(fc.inputs[1]), q.tensor(fc.inputs[2]), q.tensor(fc.outputs[0]));
        assert_eq!(wt.groups.map(|g| g.size), Some(16));
        let wq = wt.quant.as_ref().expect("weights quantized");
        assert_eq!(wq.scales.len(), 6 * 3, "three groups per output, the last ragged");
        assert!(wq.scales.iter().all(|&s| to_fp16(s) == s), "fp16 scales");
        let Some(TensorData::I32(w)) = &wt.data else { panic!("integer weights") };
        let Some(TensorData::I64(b)) = &bt.data else { panic!("integer bias") };
        let bq = bt.quant.as_ref().expect("bias scales");
        let (sx, zx) = xt.quant.as_ref().map(|p| p.channel(0)).expect("input parameters");
        let (so, zo) = yt.quant.as_ref().map(|p| p.channel(0)).expect("output parameters");
        let (lo, hi) = int_range(8, false);
        let xq: Vec<i64> = xs.iter().map(|&v| i64::from(q1(v, sx, zx as i32, lo, hi))).collect();
        // The integer outputs, recovered exactly from the DEQUANTIZE behind them.
        let got: Vec<i64> =
            run_f32(&q, &xs).iter().map(|&v| (f64::from(v) / f64::from(so)).round() as i64 + zo).collect();
        let mut exact = 0;
        for r in 0..3 {
            for o in 0..6 {
                let mut real = b[o] as f64 * f64::from(bq.channel(o).0);
                for j in 0..3 {
                    let (s, z) = wq.group(o, 3, j);
                    let acc: i64 = (j * 16..(j * 16 + 16).min(40))
                        .map(|k| (xq[r * 40 + k] - zx) * (i64::from(w[o * 40 + k]) - z))
                        .sum();
                    real += f64::from(sx) * f64::from(s) * acc as f64;
                }
                let want = ((real / f64::from(so)).round() as i64 + zo).clamp(i64::from(lo), i64::from(hi));
                let have = got[r * 6 + o];
                assert!((have - want).abs() <= 1, "row {r} output {o}: {have} vs {want}");
                exact += usize::from(have == want);
            }
        }
        assert!(exact >= 16, "{exact} of 18 exact");
        // Closer to the float layer than per-channel scales.
        let f = run_f32(&g, &xs);
        let err = |v: &[f32]| f.iter().zip(v).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>();
        let (grouped, per_channel) = (err(&run_f32(&q, &xs)), err(&run_f32(&quantize_fc(&g, &xs, None), &xs)));
        assert!(grouped < per_channel, "group-wise error {grouped} vs per-channel {per_channel}");
    }

    /// Group-wise weights survive the `.aqm` file: written, read back, the same outputs.
    #[test]
    fn group_wise_weights_round_trip_through_aqm() {
        let (g, xs) = fc_graph();
        let q = quantize_fc(&g, &xs, Some(16));
        let bytes = crate::import::aqm::to_bytes(&q);
        let back = crate::import::aqm::from_bytes(&bytes, "t.aqm").expect("read back");
        assert_eq!(back.tensors.iter().filter(|t| t.groups.is_some()).count(), 1);
        assert_eq!(run_f32(&back, &xs), run_f32(&q, &xs));
    }
}
