//! Cross-layer equalization (Nagel, van Baalen, Blankevoort, Welling, "Data-Free
//! Quantization Through Weight Equalization and Bias Correction", ICCV 2019, section 4.1).
//!
//! For two consecutive layers `y = f(W2 f(W1 x + b1) + b2)` with a positively homogeneous
//! `f` (ReLU: `f(s x) = s f(x)` for `s > 0`), scaling output channel `i` of layer 1 by
//! `1 / s_i` and input channel `i` of layer 2 by `s_i` leaves the function unchanged:
//! `W1' = S^-1 W1`, `b1' = S^-1 b1`, `W2' = W2 S`. With `r1_i` the range of channel `i` of
//! `W1` (its output channel) and `r2_i` the range of channel `i` of `W2` (its input
//! channel), the paper's optimum of the sum of per-channel precisions is
//! `s_i = sqrt(r1_i * r2_i) / r2_i = sqrt(r1_i / r2_i)`, which makes both ranges
//! `sqrt(r1_i * r2_i)`. Equalizing pairs in sequence is iterated until the scales converge.
//!
//! Pairs are found in the graph: a conv (regular or depthwise) whose single consumer is a
//! conv or fully connected layer reading it directly. FAT's "mutual rescaling of consecutive
//! depthwise and pointwise convolutions" is the depthwise -> pointwise case. ReLU6 is not
//! positively homogeneous. Two ways to deal with it ([`Relu6`]): like the paper (which
//! equalizes MobileNet), replace the first layer's ReLU6 by ReLU, which changes the float
//! model where pre-activations exceed 6 and, with data-free ranges, leaves them unclamped;
//! or keep ReLU6 and restrict the scales so it stays exact: a channel whose pre-activation
//! can reach 6 (mean + [`data_free::N_SIGMA`] standard deviations, from the moments of
//! [`data_free::pre_activation_moments`]) is not scaled, and another is scaled up at most
//! until that bound reaches 6, so the clamp at 6 never acts on it and ReLU6 behaves as ReLU.
//! `reports/quant_sqnr.md` measures both.

use crate::ir::{Activation, Graph, TensorData, TensorId, TensorKind};
use crate::ops::WeightLayout;
use crate::quant::data_free;

/// What equalization does with a ReLU6 between the two layers of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relu6 {
    /// Replace it by ReLU (Nagel et al.): full equalization, changed float function.
    Replace,
    /// Keep it and limit the scales so that it stays exact (see the module doc).
    Keep,
}

/// One equalizable pair: layer indices `(first, second)`.
pub type Pair = (usize, usize);

/// Finds consecutive conv -> conv/FC pairs that can be equalized.
pub fn find_pairs(g: &Graph) -> Vec<Pair> {
    let mut consumers = vec![Vec::new(); g.tensors.len()];
    for (i, l) in g.layers.iter().enumerate() {
        for t in &l.inputs {
            consumers[t.0].push(i);
        }
    }
    let mut pairs = Vec::new();
    for (i, l) in g.layers.iter().enumerate() {
        // The first layer of a pair rescales its output channels: a convolution. (Fully
        // connected layers end pairs only; nothing else has weights to rescale.)
        let first = match l.op.weight_layout() {
            WeightLayout::Conv(_) => true,
            // A transposed convolution is not equalized (neither end of a pair).
            WeightLayout::Matrix(_) | WeightLayout::TransposeConv(_) | WeightLayout::Float | WeightLayout::None => {
                false
            }
        };
        if !first || !matches!(l.activation, Activation::None | Activation::Relu | Activation::Relu6) {
            continue;
        }
        let out = l.outputs[0];
        if g.outputs.contains(&out) {
            continue;
        }
        let [j] = consumers[out.0][..] else { continue };
        let l2 = &g.layers[j];
        if l2.inputs.first() != Some(&out) || !has_float_weights(g, i) || !has_float_weights(g, j) {
            continue;
        }
        let cout = g.output(l).shape.last().copied().unwrap_or(0);
        let ok = match l2.op.weight_layout() {
            WeightLayout::Conv(c) => c.groups == 1 || (c.groups == cout && g.output(l2).shape.last() == Some(&cout)),
            WeightLayout::Matrix(_) => {
                g.tensor(out).shape.last() == Some(&cout) && g.tensor(out).elements() as usize == cout
            }
            // Only weighted layers rescale; a transposed convolution ends no pair.
            WeightLayout::TransposeConv(_) | WeightLayout::Float | WeightLayout::None => false,
        };
        if ok {
            pairs.push((i, j));
        }
    }
    pairs
}

fn has_float_weights(g: &Graph, layer: usize) -> bool {
    matches!(g.weights_of(&g.layers[layer]).and_then(|w| w.data.as_ref()), Some(TensorData::F32(_)))
}

fn weight_id(g: &Graph, layer: usize) -> Option<TensorId> {
    g.layers[layer].inputs.iter().copied().find(|&t| g.tensor(t).kind == TensorKind::Weight)
}

fn bias_id(g: &Graph, layer: usize) -> Option<TensorId> {
    g.layers[layer].inputs.iter().copied().find(|&t| g.tensor(t).kind == TensorKind::Bias)
}

fn f32_mut(g: &mut Graph, id: TensorId) -> Option<&mut Vec<f32>> {
    match g.tensor_mut(id).data.as_mut() {
        Some(TensorData::F32(v)) => Some(v),
        _ => None,
    }
}

/// Under [`Relu6::Keep`], the limits on a pair's scales: per channel of the first layer,
/// the upper bound of its pre-activation before any scaling and the cumulative scale so far.
struct Relu6Limit {
    bound: Vec<f64>,
    scale: Vec<f64>,
}

impl Relu6Limit {
    /// Restricts the proposed scale `s` of channel `i` and records the one applied.
    fn restrict(&mut self, i: usize, s: f32) -> f32 {
        let (bound, total) = (self.bound[i], self.scale[i]);
        let hi = Activation::Relu6.range().1 as f64;
        let s = if bound >= hi {
            1.0 // the clamp can act: any scale would move it
        } else {
            // The channel's values are divided by the cumulative scale: keep bound / scale < 6.
            (s as f64).max(bound / hi / total)
        };
        self.scale[i] = total * s;
        s as f32
    }
}

/// Equalizes one pair once; returns the largest `|log s_i|` applied (0 when converged).
fn equalize_pair(g: &mut Graph, (a, b): Pair, mut limit: Option<&mut Relu6Limit>) -> f64 {
    let (Some(w1), Some(w2)) = (weight_id(g, a), weight_id(g, b)) else { return 0.0 };
    let c = g.output(&g.layers[a]).shape.last().copied().unwrap_or(0);
    // How W2 holds its input channels: a depthwise kernel per channel, else a column.
    let depthwise2 = match g.layers[b].op.weight_layout() {
        WeightLayout::Conv(cv) => cv.groups > 1,
        WeightLayout::Matrix(_) => false,
        // `find_pairs` ends pairs at convolutions and fully connected layers only.
        WeightLayout::TransposeConv(_) | WeightLayout::Float | WeightLayout::None => return 0.0,
    };
    let (Some(v1), Some(v2)) = (f32_mut(g, w1).cloned(), f32_mut(g, w2).cloned()) else { return 0.0 };
    if c == 0 || v1.len() % c != 0 || limit.as_ref().is_some_and(|l| l.bound.len() != c) {
        return 0.0;
    }
    let per1 = v1.len() / c;
    let r1: Vec<f32> = v1.chunks(per1).map(|ch| ch.iter().fold(0f32, |m, x| m.max(x.abs()))).collect();
    // Range of W2's input channel i: depthwise -> its kernel i; else element i of every row.
    let mut r2 = vec![0f32; c];
    if depthwise2 {
        for (i, ch) in v2.chunks(v2.len() / c).enumerate() {
            r2[i] = ch.iter().fold(0f32, |m, x| m.max(x.abs()));
        }
    } else {
        for (k, x) in v2.iter().enumerate() {
            r2[k % c] = r2[k % c].max(x.abs());
        }
    }
    let s: Vec<f32> = r1
        .iter()
        .zip(&r2)
        .enumerate()
        .map(|(i, (&p, &q))| {
            let s = if p > 0.0 && q > 0.0 { (p / q).sqrt() } else { 1.0 };
            limit.as_deref_mut().map_or(s, |l| l.restrict(i, s))
        })
        .collect();
    if let Some(v) = f32_mut(g, w1) {
        for (i, ch) in v.chunks_mut(per1).enumerate() {
            ch.iter_mut().for_each(|x| *x /= s[i]);
        }
    }
    if let Some(bid) = bias_id(g, a) {
        if let Some(v) = f32_mut(g, bid) {
            v.iter_mut().zip(&s).for_each(|(x, s)| *x /= s);
        }
    }
    if let Some(v) = f32_mut(g, w2) {
        if depthwise2 {
            let per = v.len() / c;
            for (i, ch) in v.chunks_mut(per).enumerate() {
                ch.iter_mut().for_each(|x| *x *= s[i]);
            }
        } else {
            for (k, x) in v.iter_mut().enumerate() {
                *x *= s[k % c];
            }
        }
    }
    if g.layers[a].activation == Activation::Relu6 && limit.is_none() {
        g.layers[a].activation = Activation::Relu;
    }
    s.iter().map(|&x| (x as f64).ln().abs()).fold(0.0, f64::max)
}

/// Equalizes every pair found by [`find_pairs`] the paper's way ([`Relu6::Replace`]).
pub fn equalize(g: &mut Graph, iterations: usize) -> usize {
    equalize_with(g, iterations, Relu6::Replace)
}

/// Equalizes every pair found by [`find_pairs`], iterating up to `iterations` sweeps or until
/// no scale differs from 1 by more than 1e-4. Returns the number of pairs.
pub fn equalize_with(g: &mut Graph, iterations: usize, relu6: Relu6) -> usize {
    let pairs = find_pairs(g);
    // Pre-activation moments are invariant under equalization (a channel's scale divides its
    // mean and standard deviation, which `Relu6Limit` tracks), so they are computed once.
    let moments = if relu6 == Relu6::Keep { data_free::pre_activation_moments(g) } else { Vec::new() };
    let mut limits: Vec<Option<Relu6Limit>> = pairs
        .iter()
        .map(|&(a, _)| {
            if relu6 != Relu6::Keep || g.layers[a].activation != Activation::Relu6 {
                return None;
            }
            let (mean, var) = moments.get(a)?.as_ref()?;
            let bound: Vec<f64> =
                mean.iter().zip(var).map(|(m, v)| m + data_free::N_SIGMA * v.max(0.0).sqrt()).collect();
            Some(Relu6Limit { scale: vec![1.0; bound.len()], bound })
        })
        .collect();
    for _ in 0..iterations {
        let mut worst = 0f64;
        for (&p, limit) in pairs.iter().zip(&mut limits) {
            // A ReLU6 pair whose moments did not propagate is left alone under `Keep`.
            if relu6 == Relu6::Keep && limit.is_none() && g.layers[p.0].activation == Activation::Relu6 {
                continue;
            }
            worst = worst.max(equalize_pair(g, p, limit.as_mut()));
        }
        if worst < 1e-4 {
            break;
        }
    }
    pairs.len()
}

#[cfg(test)]
mod tests {
    use super::Relu6Limit;

    #[test]
    fn relu6_limit_keeps_the_clamp_out_of_reach() {
        // Channel 0 can reach 6: never scaled. Channel 1 is bounded by 1.5: scaled up (s < 1)
        // at most 4x in total, over any number of steps. Scaling down is always allowed.
        let mut l = Relu6Limit { bound: vec![7.0, 1.5, 1.5], scale: vec![1.0; 3] };
        assert_eq!(l.restrict(0, 0.5), 1.0);
        assert_eq!(l.restrict(1, 0.5), 0.5);
        assert_eq!(l.restrict(1, 0.25), 0.5);
        assert_eq!(l.scale[1], 0.25);
        assert_eq!(l.restrict(1, 0.9), 1.0);
        assert_eq!(l.restrict(2, 3.0), 3.0);
    }
}
