//! Learned rounding (AdaRound: Nagel et al., "Up or Down? Adaptive Rounding for Post-Training
//! Quantization", ICML 2020): each weight is rounded up or down, not to nearest, so that
//! the quantized layer reproduces the float layer's output on calibration data.
//!
//! For a conv or FC layer, output channel `o` computes `w_o . x` over input patches `x`
//! (im2col rows, in the weights' OHWI / `[out, in]` order), so the reconstruction error of
//! a rounding with weight error `d = w~_o - w_o` over the calibration patches is
//! `d^T H d` with `H = sum x x^T`, the patches' Gram matrix (one per channel group). Output
//! channels are independent given `H`, so [`layer_grams`] gathers `H` once from float runs
//! and [`learn_channel`] optimizes each channel's roundings alone (in parallel):
//! `w~ = s * (clamp(floor(w / s) + h(V) + z, qmin, qmax) - z)` with the rectified sigmoid
//! `h(V) = clamp(sigmoid(V) * (zeta - gamma) + gamma, 0, 1)`, minimizing
//! `d^T H d / w^T H w + lambda * sum(1 - |2 h - 1|^beta)` by Adam, `beta` annealed from 20
//! to 2 after a warm-up without the regularizer (the paper's schedule), then rounding up
//! where `h >= 1/2`. The scales and zero points are the threshold method's; only the
//! integers change. Deterministic: no random state, channels computed independently.

use rayon::prelude::*;

use crate::ir::resolve_padding;
use crate::ir::{Graph, TensorData, TensorKind};
use crate::kernels::{run_float, ExecError, Values};
use crate::ops::WeightLayout;

/// The rectified sigmoid's stretch (Nagel et al.: zeta = 1.1, gamma = -0.1).
const ZETA: f64 = 1.1;
const GAMMA: f64 = -0.1;

/// How learned rounding runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Adam steps per output channel.
    pub iterations: usize,
    /// Weight of the rounding regularizer against the relative reconstruction error.
    pub lambda: f64,
    /// Adam step size on `V`.
    pub learning_rate: f64,
    /// Share of the steps without the regularizer.
    pub warmup: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { iterations: 1000, lambda: 0.01, learning_rate: 0.01, warmup: 0.2 }
    }
}

/// The Gram matrices of a weighted layer's input patches: one per channel group, each
/// `k x k` (row-major) for `k` weights per output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerGram {
    /// Weights per output channel.
    pub k: usize,
    /// Per group, `sum x x^T` over every patch of every calibration input.
    pub groups: Vec<Vec<f64>>,
}

/// How a weighted layer's input patches are cut: a conv's geometry, or an FC's rows.
#[derive(Debug, Clone, Copy)]
enum Patches {
    Conv {
        n: usize,
        ih: usize,
        iw: usize,
        c: usize,
        kh: usize,
        kw: usize,
        sh: usize,
        sw: usize,
        dh: usize,
        dw: usize,
        top: usize,
        left: usize,
        oh: usize,
        ow: usize,
        groups: usize,
    },
    Rows {
        features: usize,
    },
}

impl Patches {
    fn of(g: &Graph, l: &crate::ir::Layer) -> Option<(Patches, usize, usize)> {
        let x = &g.tensor(l.inputs[0]).shape;
        match l.op.weight_layout() {
            WeightLayout::Conv(cv) => {
                let [n, ih, iw, c] = <[usize; 4]>::try_from(x.as_slice()).ok()?;
                let o = &g.output(l).shape;
                let (oh, ow) = (*o.get(1)?, *o.get(2)?);
                let p = resolve_padding(cv.padding, [ih, iw], cv.kernel, cv.stride, cv.dilation);
                let groups = cv.groups.max(1);
                let k = cv.kernel[0] * cv.kernel[1] * (c / groups);
                let patches = Patches::Conv {
                    n,
                    ih,
                    iw,
                    c,
                    kh: cv.kernel[0],
                    kw: cv.kernel[1],
                    sh: cv.stride[0],
                    sw: cv.stride[1],
                    dh: cv.dilation[0],
                    dw: cv.dilation[1],
                    top: p.top,
                    left: p.left,
                    oh,
                    ow,
                    groups,
                };
                Some((patches, groups, k))
            }
            WeightLayout::Matrix(_) => {
                let features = *x.last()?;
                Some((Patches::Rows { features }, 1, features))
            }
            // Rounded to nearest: each output of a transposed convolution sums a
            // phase-dependent part of the kernel, so its channels have no one Gram matrix.
            WeightLayout::TransposeConv(_) | WeightLayout::None => None,
        }
    }

    /// Adds `x x^T` of every patch of input `v` to `h` (one `k x k` matrix per group).
    fn accumulate(&self, v: &[f32], k: usize, h: &mut [Vec<f64>]) {
        let mut x = vec![0f32; k];
        let add = |x: &[f32], h: &mut Vec<f64>| {
            for (i, &xi) in x.iter().enumerate() {
                if xi == 0.0 {
                    continue;
                }
                let row = &mut h[i * k..(i + 1) * k];
                for (hj, &xj) in row.iter_mut().zip(x) {
                    *hj += f64::from(xi * xj);
                }
            }
        };
        match *self {
            Patches::Rows { features } => {
                for r in v.chunks_exact(features.max(1)) {
                    add(r, &mut h[0]);
                }
            }
            Patches::Conv { n, ih, iw, c, kh, kw, sh, sw, dh, dw, top, left, oh, ow, groups } => {
                let cg = c / groups;
                for b in 0..n {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            for (gi, hg) in h.iter_mut().enumerate() {
                                let mut j = 0;
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let y = (oy * sh + ky * dh) as isize - top as isize;
                                        let xx = (ox * sw + kx * dw) as isize - left as isize;
                                        let inside = y >= 0 && xx >= 0 && (y as usize) < ih && (xx as usize) < iw;
                                        for ci in 0..cg {
                                            x[j] = if inside {
                                                v[((b * ih + y as usize) * iw + xx as usize) * c + gi * cg + ci]
                                            } else {
                                                0.0
                                            };
                                            j += 1;
                                        }
                                    }
                                }
                                add(&x, hg);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The Gram matrices of every conv and FC layer's input patches over `inputs` (float runs
/// of `g`, in parallel), indexed by layer (`None` for layers without weights).
pub fn layer_grams(g: &Graph, inputs: &[Vec<f32>]) -> Result<Vec<Option<LayerGram>>, ExecError> {
    let shapes: Vec<Option<(Patches, usize, usize)>> = g.layers.iter().map(|l| Patches::of(g, l)).collect();
    let empty = || -> Vec<Option<LayerGram>> {
        shapes.iter().map(|s| s.map(|(_, groups, k)| LayerGram { k, groups: vec![vec![0.0; k * k]; groups] })).collect()
    };
    let per_input = inputs
        .par_iter()
        .map(|x| {
            let vals = run_float(g, std::slice::from_ref(x))?;
            let mut grams = empty();
            for ((l, s), gram) in g.layers.iter().zip(&shapes).zip(&mut grams) {
                if let (Some((p, _, k)), Some(gram), Some(Values::F32(v))) = (s, gram, &vals[l.inputs[0].0]) {
                    p.accumulate(v, *k, &mut gram.groups);
                }
            }
            Ok(grams)
        })
        .collect::<Result<Vec<_>, ExecError>>()?;
    let mut total = empty();
    for grams in per_input {
        for (t, g) in total.iter_mut().zip(grams) {
            if let (Some(t), Some(g)) = (t, g) {
                for (a, b) in t.groups.iter_mut().zip(g.groups) {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                }
            }
        }
    }
    Ok(total)
}

/// The quantizer of one output channel: scale, zero point and integer range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelQuant {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
    /// Smallest integer.
    pub qmin: i32,
    /// Largest integer.
    pub qmax: i32,
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn rect(v: f64) -> f64 {
    (sigmoid(v) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)
}

/// One channel's optimization problem: its weights, their floors and Gram matrix.
struct Channel<'a> {
    w: Vec<f64>,
    base: Vec<f64>,
    h: &'a [f64],
    cq: ChannelQuant,
    /// `w^T H w`: the reconstruction error is relative to the layer's output energy.
    norm: f64,
}

impl<'a> Channel<'a> {
    fn new(w: &[f32], h: &'a [f64], cq: ChannelQuant) -> Self {
        let s = f64::from(cq.scale);
        let w: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
        let base = w.iter().map(|x| (x / s).floor()).collect();
        let hw = mat_vec(h, &w);
        let norm = w.iter().zip(&hw).map(|(a, b)| a * b).sum::<f64>().max(f64::MIN_POSITIVE);
        Channel { w, base, h, cq, norm }
    }

    /// The loss at `v` and its gradient in `v` (the straight-through path: through the
    /// rectified sigmoid where it is not clipped and the integer where it is not clamped).
    fn loss_grad(&self, v: &[f64], beta: Option<f64>, lambda: f64) -> (f64, Vec<f64>) {
        let (s, z) = (f64::from(self.cq.scale), f64::from(self.cq.zero_point));
        let (lo, hi) = (f64::from(self.cq.qmin), f64::from(self.cq.qmax));
        let k = v.len();
        let mut d = vec![0f64; k];
        let mut clamped = vec![false; k];
        for i in 0..k {
            let t = self.base[i] + rect(v[i]) + z;
            clamped[i] = t < lo || t > hi;
            d[i] = s * (t.clamp(lo, hi) - z) - self.w[i];
        }
        let hd = mat_vec(self.h, &d);
        let mut loss = d.iter().zip(&hd).map(|(a, b)| a * b).sum::<f64>() / self.norm;
        let mut grad = vec![0f64; k];
        for i in 0..k {
            let sg = sigmoid(v[i]);
            let hv = sg * (ZETA - GAMMA) + GAMMA;
            if let Some(beta) = beta {
                let u = 2.0 * rect(v[i]) - 1.0;
                loss += lambda * (1.0 - u.abs().powf(beta));
            }
            // h is clipped to [0, 1]: no gradient outside.
            if !(0.0..=1.0).contains(&hv) {
                continue;
            }
            let mut gh = if clamped[i] { 0.0 } else { 2.0 * hd[i] * s / self.norm };
            if let Some(beta) = beta {
                let u = 2.0 * hv - 1.0;
                gh -= lambda * beta * u.abs().powf(beta - 1.0) * u.signum() * 2.0;
            }
            grad[i] = gh * (ZETA - GAMMA) * sg * (1.0 - sg);
        }
        (loss, grad)
    }
}

fn mat_vec(h: &[f64], x: &[f64]) -> Vec<f64> {
    let k = x.len();
    (0..k).map(|i| h[i * k..(i + 1) * k].iter().zip(x).map(|(a, b)| a * b).sum()).collect()
}

/// The learned integers of one output channel's weights `w` (the patch order of `h`, a
/// `k x k` Gram matrix) under quantizer `cq`.
pub fn learn_channel(w: &[f32], h: &[f64], cq: ChannelQuant, opt: &Options) -> Vec<i32> {
    let ch = Channel::new(w, h, cq);
    let s = f64::from(cq.scale);
    // V starts where h(V) is the fractional part: the float weight itself.
    let mut v: Vec<f64> =
        ch.w.iter()
            .zip(&ch.base)
            .map(|(x, b)| {
                let frac = (x / s - b).clamp(1e-4, 1.0 - 1e-4);
                let sg = ((frac - GAMMA) / (ZETA - GAMMA)).clamp(1e-6, 1.0 - 1e-6);
                (sg / (1.0 - sg)).ln()
            })
            .collect();
    let k = v.len();
    let (mut m, mut m2) = (vec![0f64; k], vec![0f64; k]);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let warm = (opt.warmup * opt.iterations as f64) as usize;
    for it in 0..opt.iterations {
        let beta = (it >= warm).then(|| {
            let f = (it - warm) as f64 / (opt.iterations - warm).max(1) as f64;
            20.0 + (2.0 - 20.0) * f
        });
        let (_, g) = ch.loss_grad(&v, beta, opt.lambda);
        let t = (it + 1) as i32;
        for i in 0..k {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            m2[i] = b2 * m2[i] + (1.0 - b2) * g[i] * g[i];
            let mh = m[i] / (1.0 - b1.powi(t));
            let vh = m2[i] / (1.0 - b2.powi(t));
            v[i] -= opt.learning_rate * mh / (vh.sqrt() + eps);
        }
    }
    let z = f64::from(cq.zero_point);
    let (lo, hi) = (f64::from(cq.qmin), f64::from(cq.qmax));
    ch.base
        .iter()
        .zip(&v)
        .map(|(b, &vi)| ((b + if rect(vi) >= 0.5 { 1.0 } else { 0.0 } + z).clamp(lo, hi)) as i32)
        .collect()
}

/// The reconstruction error `d^T H d` of integers `q` against float weights `w`.
pub fn reconstruction_error(w: &[f32], q: &[i32], h: &[f64], cq: ChannelQuant) -> f64 {
    let k = w.len();
    let d: Vec<f64> =
        w.iter().zip(q).map(|(&x, &qi)| f64::from(cq.scale) * f64::from(qi - cq.zero_point) - f64::from(x)).collect();
    (0..k).map(|i| d[i] * h[i * k..(i + 1) * k].iter().zip(&d).map(|(a, b)| a * b).sum::<f64>()).sum()
}

/// Re-rounds every conv and FC layer's integer weights of `q` (quantized from `float` by
/// [`super::ptq::quantize_graph`], which keeps tensor ids) with learned rounding on the
/// Gram matrices `grams` of `float`'s layers. Where `channel_means` (per input tensor id,
/// from calibration) is given, the bias moves by the change of the weights' mean error,
/// as bias correction would have computed it for the new integers. Returns the layers done.
pub fn apply(
    float: &Graph,
    q: &mut Graph,
    grams: &[Option<LayerGram>],
    channel_means: Option<&dyn Fn(usize) -> Option<Vec<f64>>>,
    opt: &Options,
) -> usize {
    let mut done = 0;
    for (li, l) in float.layers.iter().enumerate() {
        let Some(Some(gram)) = grams.get(li) else { continue };
        let Some(wid) = l.inputs.iter().copied().find(|&t| float.tensor(t).kind == TensorKind::Weight) else {
            continue;
        };
        let (Some(TensorData::F32(w)), Some(TensorData::I32(old)), Some(qp)) =
            (&float.tensor(wid).data, &q.tensor(wid).data, &q.tensor(wid).quant)
        else {
            continue;
        };
        let bits = q.tensor(wid).dtype.bits();
        let k = gram.k;
        if k == 0 || w.len() % k != 0 {
            continue;
        }
        let cout = w.len() / k;
        let cout_g = (cout / gram.groups.len().max(1)).max(1);
        let symmetric = qp.zero_points.iter().all(|&z| z == 0);
        let (qmin, qmax) = super::clip::int_range(bits as u8, symmetric);
        let chan = |o: usize| {
            let c = if qp.scales.len() > 1 { o } else { 0 };
            ChannelQuant { scale: qp.scales[c], zero_point: qp.zero_points[c] as i32, qmin, qmax }
        };
        let new: Vec<i32> = (0..cout)
            .into_par_iter()
            .flat_map_iter(|o| {
                let h = &gram.groups[(o / cout_g).min(gram.groups.len() - 1)];
                let ws = &w[o * k..(o + 1) * k];
                let learned = learn_channel(ws, h, chan(o), opt);
                // Keep nearest where learning did not reconstruct better (a guard: the
                // regularizer can trade reconstruction for decisiveness).
                let keep = reconstruction_error(ws, &old[o * k..(o + 1) * k], h, chan(o))
                    < reconstruction_error(ws, &learned, h, chan(o));
                if keep {
                    old[o * k..(o + 1) * k].to_vec()
                } else {
                    learned
                }
            })
            .collect();
        // Bias: the mean error of the weights changed by (old - new) . E[x].
        if let (Some(means), Some(bid)) =
            (channel_means, l.inputs.iter().copied().find(|&t| float.tensor(t).kind == TensorKind::Bias))
        {
            if let (Some(mean), Some(bq)) = (means(l.inputs[0].0), &q.tensor(bid).quant) {
                let deq = |v: &[i32]| -> Vec<f32> {
                    v.iter()
                        .enumerate()
                        .map(|(i, &x)| {
                            let c = chan(i / k);
                            c.scale * (x - c.zero_point) as f32
                        })
                        .collect()
                };
                let shift = super::bias_correction::correction(&deq(old), &deq(&new), cout, gram.groups.len(), &mean);
                let scales = bq.scales.clone();
                if let Some(TensorData::I64(b)) = &mut q.tensor_mut(bid).data {
                    for ((bi, d), s) in b.iter_mut().zip(shift).zip(scales) {
                        *bi += (f64::from(d) / f64::from(s)).round() as i64;
                    }
                }
            }
        }
        q.tensor_mut(wid).data = Some(TensorData::I32(new));
        done += 1;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    const CQ: ChannelQuant = ChannelQuant { scale: 1.0, zero_point: 0, qmin: -8, qmax: 7 };

    /// With independent, equally weighted inputs (H = I) the error of each weight is alone:
    /// nearest rounding is optimal and learning must find it.
    #[test]
    fn identity_gram_learns_nearest_rounding() {
        let w = [0.2f32, 0.7, -1.3, 2.6, -0.45, 3.1];
        let k = w.len();
        let h: Vec<f64> = (0..k * k).map(|i| if i % (k + 1) == 0 { 1.0 } else { 0.0 }).collect();
        let q = learn_channel(&w, &h, CQ, &Options::default());
        assert_eq!(q, vec![0, 1, -1, 3, 0, 3]);
    }

    /// Two inputs that always carry the same value (H all ones): only the sum of the two
    /// weights matters. 0.6 + 0.55 = 1.15: nearest gives 1 + 1 = 2 (error 0.85), the best
    /// rounding one up, one down (error 0.15), which learning finds.
    #[test]
    fn correlated_inputs_learn_the_rounding_nearest_misses() {
        let w = [0.6f32, 0.55];
        let h = vec![1.0; 4];
        let q = learn_channel(&w, &h, CQ, &Options::default());
        assert_eq!(q.iter().sum::<i32>(), 1, "{q:?}");
        assert!(reconstruction_error(&w, &q, &h, CQ) < reconstruction_error(&w, &[1, 1], &h, CQ));
    }

    #[test]
    fn deterministic_and_within_range() {
        let w: Vec<f32> = (0..40).map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.93).collect();
        let k = w.len();
        let h: Vec<f64> = (0..k * k).map(|i| 1.0 / (1.0 + ((i / k) as f64 - (i % k) as f64).abs())).collect();
        let a = learn_channel(&w, &h, CQ, &Options::default());
        let b = learn_channel(&w, &h, CQ, &Options::default());
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| (-8..=7).contains(&x)));
        // Each weight rounds to one of its two neighbours (or the clamped end).
        for (&x, &q) in w.iter().zip(&a) {
            let f = x.floor() as i32;
            assert!(q == f.clamp(-8, 7) || q == (f + 1).clamp(-8, 7), "{x} -> {q}");
        }
    }

    /// The gradient the optimizer follows is the loss's: finite differences in `V` at
    /// points where no weight's rounding variable is clipped or integer clamped, with and
    /// without the regularizer.
    #[test]
    fn straight_through_gradient_matches_finite_differences() {
        let w = [0.3f32, -1.7, 2.2, 0.9];
        let h = [2.0, 0.5, 0.1, 0.0, 0.5, 1.0, 0.3, 0.2, 0.1, 0.3, 1.5, 0.4, 0.0, 0.2, 0.4, 1.2];
        let ch = Channel::new(&w, &h, CQ);
        let v = [0.4, -0.3, 0.9, -1.1];
        for beta in [None, Some(12.0), Some(2.5)] {
            let (_, g) = ch.loss_grad(&v, beta, 0.01);
            for i in 0..4 {
                let (mut p, mut m) = (v, v);
                p[i] += 1e-6;
                m[i] -= 1e-6;
                let fd = (ch.loss_grad(&p, beta, 0.01).0 - ch.loss_grad(&m, beta, 0.01).0) / 2e-6;
                assert!((fd - g[i]).abs() < 1e-5 * (1.0 + g[i].abs()), "beta {beta:?}, {i}: {fd} vs {}", g[i]);
            }
        }
    }
}
