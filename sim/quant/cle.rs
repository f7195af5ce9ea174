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
//! positively homogeneous; like the paper (which equalizes MobileNet), the first layer's
//! ReLU6 is replaced by ReLU, which changes the float model where pre-activations exceed 6.
//! With data-free ranges this costs MobileNet-v1 dearly (the ranges no longer clamp at 6;
//! see `reports/quant_sqnr.md`); with calibrated ranges CLE helps.

use crate::ir::{Activation, Graph, Op, TensorData, TensorId, TensorKind};

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
        if !matches!(l.op, Op::Conv2d(_))
            || !matches!(l.activation, Activation::None | Activation::Relu | Activation::Relu6)
        {
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
        let ok = match &l2.op {
            Op::Conv2d(c) => c.groups == 1 || (c.groups == cout && g.output(l2).shape.last() == Some(&cout)),
            Op::FullyConnected(_) => {
                g.tensor(out).shape.last() == Some(&cout) && g.tensor(out).elements() as usize == cout
            }
            _ => false,
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

/// Equalizes one pair once; returns the largest `|log s_i|` applied (0 when converged).
fn equalize_pair(g: &mut Graph, (a, b): Pair) -> f64 {
    let (Some(w1), Some(w2)) = (weight_id(g, a), weight_id(g, b)) else { return 0.0 };
    let c = g.output(&g.layers[a]).shape.last().copied().unwrap_or(0);
    let depthwise2 = matches!(&g.layers[b].op, Op::Conv2d(cv) if cv.groups > 1);
    let (Some(v1), Some(v2)) = (f32_mut(g, w1).cloned(), f32_mut(g, w2).cloned()) else { return 0.0 };
    if c == 0 || v1.len() % c != 0 {
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
    let s: Vec<f32> =
        r1.iter().zip(&r2).map(|(&p, &q)| if p > 0.0 && q > 0.0 { (p / q).sqrt() } else { 1.0 }).collect();
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
    if g.layers[a].activation == Activation::Relu6 {
        g.layers[a].activation = Activation::Relu;
    }
    s.iter().map(|&x| (x as f64).ln().abs()).fold(0.0, f64::max)
}

/// Equalizes every pair found by [`find_pairs`], iterating up to `iterations` sweeps or until
/// no scale differs from 1 by more than 1e-4. Returns the number of pairs.
pub fn equalize(g: &mut Graph, iterations: usize) -> usize {
    let pairs = find_pairs(g);
    for _ in 0..iterations {
        let mut worst = 0f64;
        for &p in &pairs {
            worst = worst.max(equalize_pair(g, p));
        }
        if worst < 1e-4 {
            break;
        }
    }
    pairs.len()
}
