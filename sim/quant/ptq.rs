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
};
use crate::ops::WeightLayout;
use crate::ops::{OpFamily, QuantRule};
use crate::quant::bias_correction;
use crate::quant::calib::Calibration;
use crate::quant::clip::{affine_params, choose_range, quantize_weights, ClipMethod};
use crate::quant::widths::WidthPlan;

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
        let qw = quantize_weights(w, cout, wb, cfg.per_channel, cfg.symmetric_weights, cfg.weight_method);
        let in_id = l.inputs[0].0;
        // 32-bit biases, 64-bit behind activations wider than 8 bits (LiteRT's 16x8).
        let bias_bits = if bits[in_id].is_some_and(|b| b <= 8) { 32 } else { 64 };
        let (s_in, _) = act[in_id].ok_or_else(|| QuantError::NoStatistics(g.tensor(l.inputs[0]).name.clone()))?;
        if let Some(bid) = l.inputs.iter().copied().find(|&t| g.tensor(t).kind == TensorKind::Bias) {
            let mut b = float_data(g.tensor(bid)).cloned().ok_or_else(|| QuantError::NoFloatWeights(l.name.clone()))?;
            if cfg.bias_correction {
                if let Some(Some(st)) = cal.tensors.get(in_id) {
                    let d = bias_correction::correction(w, &qw.dequantized(cout), cout, groups, &st.channel_mean);
                    b.iter_mut().zip(d).for_each(|(x, d)| *x += d * share);
                }
            }
            let scales: Vec<f32> =
                (0..cout).map(|c| s_in * qw.scales[if qw.scales.len() > 1 { c } else { 0 }]).collect();
            let bq: Vec<i64> = b.iter().zip(&scales).map(|(&x, &s)| (x as f64 / s as f64).round() as i64).collect();
            let bt = q.tensor_mut(bid);
            bt.dtype = DataType::int(bias_bits);
            bt.data = Some(TensorData::I64(bq));
            bt.quant = Some(QuantParams { zero_points: vec![0; cout], scales, axis: Some(0) });
        }
        let wt = q.tensor_mut(wid);
        wt.dtype = DataType::int(wb);
        wt.quant = Some(QuantParams {
            axis: if qw.scales.len() > 1 { Some(0) } else { None },
            zero_points: qw.zero_points.iter().map(|&z| z as i64).collect(),
            scales: qw.scales,
        });
        wt.data = Some(TensorData::I32(qw.q));
    }
    // 3. Ops without an integer kernel at their widths run in float behind a DEQUANTIZE.
    // A graph input is still float here (its QUANTIZE comes in step 4): its planned width
    // counts, not its type.
    {
        let mut i = 0;
        while i < q.layers.len() {
            let (x, o) = (q.layers[i].inputs[0], q.layers[i].outputs[0]);
            let ib = match bits.get(x.0).copied().flatten() {
                Some(b) if g.inputs.contains(&x) => b,
                _ => q.tensor(x).dtype.bits() as u8,
            };
            let ob = q.tensor(o).dtype.bits() as u8;
            if q.layers[i].op.quant_rule(ib, ob) == QuantRule::FloatOnly {
                let d = add_like(&mut q, x, "dequantized", DataType::F32, None);
                q.layers.insert(i, layer(&q, "dequantize", Op::Convert(Convert::Dequantize), x, d));
                q.layers[i + 1].inputs[0] = d;
                q.tensor_mut(o).dtype = DataType::F32;
                q.tensor_mut(o).quant = None;
                i += 1;
            }
            i += 1;
        }
    }
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
}
