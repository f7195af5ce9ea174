//! Data-free statistics: activation ranges and per-channel means derived from the weights
//! alone, for quantization without calibration data (Nagel et al., ICCV 2019, sections 4.2
//! and 5: ranges and bias correction from batch-norm statistics; Nayak et al., "Bit
//! Efficient Quantization for Deep Neural Networks", 2019: data-free quantization down to
//! 3 bits).
//!
//! The importers fold batch normalization into the preceding convolution (TFLite and
//! tf2onnx exports arrive folded), so the BN parameters `beta`, `gamma` that DFQ reads are
//! no longer separable. What they describe is the per-channel mean and standard deviation
//! of each pre-activation; here those moments are propagated through the network instead:
//! the input is assumed uniform on [-1, 1] (mean 0, variance 1/3, the range of the shared
//! image sets); a conv / FC output channel has mean `b + sum W * E[x]` and variance
//! `sum W^2 Var[x]` (independent inputs); fused activations clamp a Gaussian with those
//! moments (moments of the clipped normal, by quadrature); pooling and means keep the mean
//! and variance, and their ranges stay within their input's; additions add them. (Dividing
//! an average's variance by the number of values, as independence would have it, narrowed
//! MobileNet-v1's logits range towards the empirical one but cost small_resnet2 4-5 dB at
//! 7-8 bits: the pooled values are correlated, and the variance is kept.) A tensor's range is `mean +- N_SIGMA * std` over its
//! channels, intersected with the activation's range, and the propagated means drive the
//! analytic bias correction.

use crate::ir::{Activation, Graph, TensorKind};
use crate::ops::{DataFree, LayerCx, Moments, OpFamily};
use crate::quant::calib::{Calibration, TensorStats};

/// Width of the data-free activation range in standard deviations.
pub const N_SIGMA: f64 = 6.0;

/// Mean and variance of `clamp(N(mu, var), lo, hi)` by quadrature.
pub(crate) fn clipped_normal(mu: f64, var: f64, lo: f64, hi: f64) -> (f64, f64) {
    let sd = var.max(0.0).sqrt();
    if sd < 1e-12 {
        let v = mu.clamp(lo, hi);
        return (v, 0.0);
    }
    let n = 400;
    let (mut m0, mut m1, mut m2) = (0f64, 0f64, 0f64);
    for k in 0..=n {
        let z = -8.0 + 16.0 * k as f64 / n as f64;
        let w = (-0.5 * z * z).exp();
        let x = (mu + sd * z).clamp(lo, hi);
        m0 += w;
        m1 += w * x;
        m2 += w * x * x;
    }
    let m = m1 / m0;
    (m, (m2 / m0 - m * m).max(0.0))
}

/// Per-channel mean and variance of every layer's output before its fused activation
/// (indexed by layer; `None` where nothing propagated): what DFQ reads from the batch norm
/// (`beta`, `gamma^2`) to bound a pre-activation, e.g. to decide whether a ReLU6 can clamp.
pub fn pre_activation_moments(g: &Graph) -> Vec<Option<(Vec<f64>, Vec<f64>)>> {
    propagate(g).1.into_iter().map(|m| m.map(|m| (m.mean, m.var))).collect()
}

/// Per-channel mean and variance of every tensor (after its producer's fused activation;
/// indexed by tensor id, `None` where nothing propagated): the data-free stand-in for the
/// calibration data that learned rounding and trained thresholds reconstruct on
/// ([`super::adaround::layer_grams_data_free`]).
pub fn tensor_moments(g: &Graph) -> Vec<Option<Moments>> {
    propagate(g).0
}

/// Moments of every tensor (after activations), of every layer's pre-activation, and
/// whether each layer's output range lies within its input's.
fn propagate(g: &Graph) -> (Vec<Option<Moments>>, Vec<Option<Moments>>, Vec<bool>) {
    let mut m: Vec<Option<Moments>> = vec![None; g.tensors.len()];
    let mut pre: Vec<Option<Moments>> = vec![None; g.layers.len()];
    let mut bounded = vec![false; g.layers.len()];
    for &i in &g.inputs {
        let c = g.tensor(i).shape.last().copied().unwrap_or(1);
        m[i.0] = Some(Moments { mean: vec![0.0; c], var: vec![1.0 / 3.0; c] });
    }
    for (li, l) in g.layers.iter().enumerate() {
        // A layer whose data input has no statistics has none either.
        if l.inputs.first().and_then(|t| m[t.0].as_ref()).is_none() {
            continue;
        }
        let inputs: Vec<Option<&Moments>> = l.inputs.iter().map(|t| m[t.0].as_ref()).collect();
        let Some(DataFree { moments: mut r, within_input_range }) = l.op.data_free(&LayerCx::new(g, l), &inputs) else {
            continue;
        };
        bounded[li] = within_input_range;
        pre[li] = Some(r.clone());
        if l.activation != Activation::None {
            let (lo, hi) = l.activation.range();
            for (mu, v) in r.mean.iter_mut().zip(r.var.iter_mut()) {
                (*mu, *v) = clipped_normal(*mu, *v, lo as f64, hi as f64);
            }
        }
        for o in &l.outputs {
            m[o.0] = Some(r.clone());
        }
    }
    (m, pre, bounded)
}

/// Propagates moments through a float graph and returns data-free statistics in the form
/// calibration produces (no samples, so every clipping method falls back to the range).
pub fn statistics(g: &Graph) -> Calibration {
    let (m, _, bounded) = propagate(g);
    let tensors = g
        .tensors
        .iter()
        .zip(m)
        .map(|(t, mm)| {
            let mm = mm?;
            if t.kind != TensorKind::Activation {
                return None;
            }
            let lo = mm.mean.iter().zip(&mm.var).map(|(mu, v)| mu - N_SIGMA * v.sqrt()).fold(f64::INFINITY, f64::min);
            let hi =
                mm.mean.iter().zip(&mm.var).map(|(mu, v)| mu + N_SIGMA * v.sqrt()).fold(f64::NEG_INFINITY, f64::max);
            Some(TensorStats { min: lo as f32, max: hi as f32, samples: Vec::new(), channel_mean: mm.mean })
        })
        .collect();
    let mut cal = Calibration { tensors };
    // Clamp ranges to each producer's activation range; pooling and means cannot leave their
    // input's range (in layer order, so bounds carry through chains).
    for (l, &bounded) in g.layers.iter().zip(&bounded) {
        let (mut lo, mut hi) = l.activation.range();
        if bounded {
            if let Some(Some(x)) = cal.tensors.get(l.inputs[0].0) {
                (lo, hi) = (lo.max(x.min), hi.min(x.max));
            }
        }
        for o in &l.outputs {
            if let Some(Some(s)) = cal.tensors.get_mut(o.0) {
                s.min = s.min.max(lo);
                s.max = s.max.min(hi);
            }
        }
    }
    for &i in &g.inputs {
        if let Some(Some(s)) = cal.tensors.get_mut(i.0) {
            (s.min, s.max) = (-1.0, 1.0);
        }
    }
    cal
}
