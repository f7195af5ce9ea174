//! Quantization: the bit widths and quantization parameters of a graph's tensors.
//!
//! For costing, what matters is each tensor's element width: [`assign_widths`] gives every
//! weight and activation of a float (or re-targeted) graph the widths of a [`WidthPlan`]
//! (per layer, [`widths`]) and every bias the accumulator width.
//!
//! Post-training quantization (`accelsim quantize`) turns a float graph into an integer
//! graph at 2-16 bits, one method per module: [`clip`] (the affine quantizer and min/max,
//! percentile and MSE thresholds), [`trained`] (weight thresholds trained on each layer's output), [`trained_act`] (activation
//! thresholds trained on their readers' outputs), [`adaround`] (learned rounding), [`cle`] (cross-layer equalization), [`bias_correction`],
//! [`data_free`] (statistics without data), [`calib`] (statistics from data), [`ptq`] (the
//! quantized graph), [`dynamic`] (dynamic-range: hybrid fully connected layers and
//! convolutions with per-token / per-image int8 activations, no calibration), [`eval`] (SQNR against the float model, accuracy against labels),
//! [`sensitivity`] (each layer alone at each width) and [`synthetic`] (seeded
//! weights for built-in networks). Batch-norm folding happens in the importers (TFLite
//! exports arrive folded; the ONNX importer folds `BatchNormalization` into the conv), so
//! graphs reaching this module have no BN layers: the IR has no BN operator.

pub mod adaround;
pub mod bias_correction;
pub mod calib;
pub mod cle;
pub mod clip;
pub mod data_free;
pub mod dynamic;
pub mod eval;
pub mod layer_bits;
pub mod ptq;
pub mod sensitivity;
pub mod sse;
pub mod synthetic;
pub mod trained;
pub mod trained_act;
pub mod widths;

pub use widths::{ActScales, GroupRequest, LayerRequest, LayerWidths, WidthPlan, DYNAMIC_CARRIER_BITS};

use crate::ir::{DataType, Graph, TensorKind, WeightGroups};

/// Bit widths a graph is run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    /// Weight bits.
    pub weight_bits: u8,
    /// Activation bits.
    pub activation_bits: u8,
}

/// The range of operand widths accelsim supports.
pub const WIDTHS: std::ops::RangeInclusive<u32> = 2..=16;

/// A bit width outside [`WIDTHS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be in 2..=16 bits, got {got}")]
pub struct BadWidth {
    /// Which width (e.g. "--wbits").
    pub what: String,
    /// The value given.
    pub got: i64,
}

/// Checks a user-given width.
pub fn check_width(what: &str, bits: i64) -> Result<u8, BadWidth> {
    if bits < *WIDTHS.start() as i64 || bits > *WIDTHS.end() as i64 {
        return Err(BadWidth { what: what.to_string(), got: bits });
    }
    Ok(bits as u8)
}

/// Test graphs the quantization modules share.
#[cfg(test)]
pub(crate) mod test_graphs {
    use crate::ir::{Activation, FullyConnected, Graph, Layer, Op, Tensor, TensorData, TensorKind, WeightSource};

    /// `x (x_shape) -> fc (weights [out, in], bias) -> y`, float, shapes inferred; `keep_dims`
    /// as the layer's. Returns the graph (inputs `x`, `w`, `b` are tensors 0, 2, 3; `y` is 1).
    pub(crate) fn one_fc(x_shape: Vec<usize>, w: Vec<f32>, bias: Vec<f32>, keep_dims: bool) -> Graph {
        let out = bias.len();
        let mut g = Graph::new("t", WeightSource::Imported { path: "test".into() });
        let x = g.add_tensor(Tensor::float("x", x_shape, TensorKind::Activation));
        let y = g.add_tensor(Tensor::float("y", Vec::new(), TensorKind::Activation));
        let mut wt = Tensor::float("w", vec![out, w.len() / out.max(1)], TensorKind::Weight);
        wt.data = Some(TensorData::F32(w));
        let mut bt = Tensor::float("b", vec![out], TensorKind::Bias);
        bt.data = Some(TensorData::F32(bias));
        let (w, b) = (g.add_tensor(wt), g.add_tensor(bt));
        g.inputs.push(x);
        g.outputs.push(y);
        let fc = FullyConnected { out_features: out, bias: true, keep_dims, asymmetric_inputs: false };
        let l = Layer {
            name: "fc".into(),
            op: Op::FullyConnected(fc),
            inputs: vec![x, w, b],
            outputs: vec![y],
            activation: Activation::None,
        };
        g.layers.push(l);
        g.infer_shapes().expect("shape inference");
        g
    }
}

/// Bits of a group-wise weight scale: an fp16 number, as GPTQ, AWQ and llama.cpp's
/// `Q4_0` store them.
pub const GROUP_SCALE_BITS: u8 = 16;

/// Largest weight group size accepted.
pub const MAX_GROUP: i64 = 1 << 20;

/// Group-wise weights of `size` weights per group along the reduction axis (`--wgroup`),
/// fp16 scales and, for asymmetric weights, a zero point of `zero_point_bits` (0:
/// symmetric). The error names `what` and the range.
pub fn weight_groups(what: &str, size: i64, zero_point_bits: u8) -> Result<WeightGroups, String> {
    if !(1..=MAX_GROUP).contains(&size) {
        return Err(format!("{what} must be a group size in 1..={MAX_GROUP} weights, got {size}"));
    }
    Ok(WeightGroups { size: size as u32, scale_bits: GROUP_SCALE_BITS, zero_point_bits })
}

/// Sets each layer's weights and activations to the widths of `plan` (made for `g`;
/// activations by [`WidthPlan::activation_widths`]) and biases to `bias_bits` (the
/// accumulator width), and the graph's dynamic activation scales to the plan's. Values, if
/// any, are left alone: this fixes the widths the cost model moves, not the numbers.
pub fn assign_widths(g: &mut Graph, plan: &WidthPlan, bias_bits: u8) {
    let acts = plan.activation_widths(g);
    g.dynamic_activations = plan.dynamic_activations();
    for t in g.tensors.iter_mut().filter(|t| t.kind == TensorKind::Weight) {
        t.groups = None;
    }
    for (i, l) in g.layers.iter().enumerate() {
        if let Some(w) = plan.layer(crate::ir::LayerId(i)).weight {
            // Group scales belong to the weights a GEMM reduces over; a norm's gamma and
            // an embedding's table are read element by element.
            let groups = plan.weight_groups_of(crate::ir::LayerId(i)).filter(|_| l.op.weight_layout().reduced());
            for &t in &l.inputs {
                let t = &mut g.tensors[t.0];
                if t.kind == TensorKind::Weight {
                    t.dtype = DataType::int(w);
                    // A table shared with a GEMM (a tied LM head) keeps the GEMM's groups.
                    t.groups = t.groups.or(groups);
                }
            }
        }
    }
    // The KV cache's groups run along its last axis, each head's features; zero points, if
    // asked for, at the cache's width.
    for i in 0..g.kv_cache.len() {
        let t = g.kv_cache[i];
        let bits = acts[t.0].unwrap_or(0);
        g.tensors[t.0].groups = plan
            .kv_groups()
            .map(|k| WeightGroups { zero_point_bits: if k.zero_point_bits > 0 { bits } else { 0 }, ..k });
    }
    for (t, a) in g.tensors.iter_mut().zip(acts) {
        match (t.kind, a) {
            (TensorKind::Bias, _) => t.dtype = DataType::int(bias_bits),
            (TensorKind::Activation, Some(a)) => t.dtype = DataType::int(a),
            (TensorKind::Activation, None) | (TensorKind::Weight, _) | (TensorKind::Constant, _) => {}
        }
    }
}

/// Whether a graph carries its own quantization (quantized integer tensors: a `.tflite`,
/// QDQ `.onnx` or `.aqm` model), so every command keeps its widths unless told otherwise.
pub fn is_quantized(g: &Graph) -> bool {
    g.tensors.iter().any(|t| t.dtype.is_int() && t.quant.is_some())
}

/// [`assign_widths`] with every layer at `p`.
pub fn assign_uniform(g: &mut Graph, p: Precision, bias_bits: u8) {
    let plan = WidthPlan::uniform(g, p);
    assign_widths(g, &plan, bias_bits);
}

/// Checks that every float weight value of `g` is finite: an infinite or NaN weight would
/// give infinite or NaN quantization scales (a broken model written with exit 0). The
/// message names the tensor and the element.
pub fn check_finite_weights(g: &Graph) -> Result<(), String> {
    for t in g.tensors.iter().filter(|t| matches!(t.kind, TensorKind::Weight | TensorKind::Bias)) {
        if let Some(crate::ir::TensorData::F32(v)) = &t.data {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(format!("tensor '{}' holds {} at element {i}; expected finite values", t.name, v[i]));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_outside_2_to_16_are_rejected() {
        assert!(check_width("--wbits", 0).is_err());
        assert_eq!(check_width("--wbits", 33).unwrap_err().to_string(), "--wbits must be in 2..=16 bits, got 33");
        assert_eq!(check_width("--abits", 3), Ok(3));
    }
}
