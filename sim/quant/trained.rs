//! Trained weight thresholds (FAT: Goncharenko et al., "Fast Adjustable Threshold for
//! Uniform Neural Network Quantization", 2019), layer by layer: each conv / FC layer's
//! symmetric weight scales (one per output channel, or one per layer) are trained with a
//! straight-through estimator so that the quantized layer reproduces the float layer's
//! output on the calibration data, instead of the weights themselves (what the min/max,
//! percentile and MSE methods look at).
//!
//! With `H = sum x x^T` the Gram matrix of the layer's input patches
//! ([`super::adaround::layer_grams`]) and `d = s clamp(round(w / s)) - w` the weight error
//! of scale `s`, the output error is `d^T H d`; relative to `w^T H w` it is the loss. The
//! straight-through estimator treats `round` as the identity, so `dd/ds = q - w / s` where
//! the integer `q` is not clamped and `q` where it is; Adam trains `log s` (FAT trains
//! the log threshold too), starting from the MSE thresholds. A channel keeps its starting
//! scale when training did not lower its exact loss (the estimator is a guide, the loss
//! decides). Deterministic: fixed blocks of channels, no random state.

use rayon::prelude::*;

use super::adaround::{channels_per_batch, LayerGram, Real};
use crate::ir::{Graph, TensorData, TensorKind};

/// How threshold training runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Adam steps.
    pub iterations: usize,
    /// Adam step size on `log s`.
    pub learning_rate: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { iterations: 200, learning_rate: 0.01 }
    }
}

/// Why thresholds cannot be trained.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// Asymmetric weights: the zero point would move with the threshold.
    #[error("layer `{0}`: trained thresholds take symmetric weights (zero point 0); use --scheme symmetric")]
    Asymmetric(String),
}

/// Channels sharing one Gram matrix: `rows x k` float weights and their integer range.
struct Rows<'a> {
    rows: usize,
    k: usize,
    w: &'a [f32],
    h: &'a [f32],
    qmax: f64,
}

/// Per row, the output error `d^T H d` at scale `s[r]` and its straight-through derivative
/// in `s[r]`.
struct ErrorAndSlope {
    err: Vec<f64>,
    slope: Vec<f64>,
}

impl Rows<'_> {
    fn eval(&self, s: &[f64]) -> ErrorAndSlope {
        let (rows, k) = (self.rows, self.k);
        let mut d = vec![0f32; rows * k];
        let mut dq = vec![0f64; rows * k];
        for r in 0..rows {
            for i in r * k..(r + 1) * k {
                let x = f64::from(self.w[i]) / s[r];
                let q = x.round();
                let qc = q.clamp(-self.qmax, self.qmax);
                d[i] = (s[r] * qc - f64::from(self.w[i])) as f32;
                dq[i] = if q == qc { qc - x } else { qc };
            }
        }
        let mut hd = vec![0f32; rows * k];
        f32::gemm(rows, k, k, &d, self.h, &mut hd);
        let mut out = ErrorAndSlope { err: vec![0.0; rows], slope: vec![0.0; rows] };
        for r in 0..rows {
            for i in r * k..(r + 1) * k {
                out.err[r] += f64::from(d[i]) * f64::from(hd[i]);
                out.slope[r] += 2.0 * f64::from(hd[i]) * dq[i];
            }
        }
        out
    }
}

/// A layer's weights as blocks of channels that share a Gram matrix.
struct Layer<'a> {
    k: usize,
    w: &'a [f32],
    h32: Vec<Vec<f32>>,
    /// (group, channels) of each block.
    jobs: Vec<(usize, std::ops::Range<usize>)>,
    qmax: f64,
}

impl Layer<'_> {
    fn eval(&self, s: &[f64]) -> ErrorAndSlope {
        let parts: Vec<ErrorAndSlope> = self
            .jobs
            .par_iter()
            .map(|(gi, r)| {
                let rows = Rows {
                    rows: r.len(),
                    k: self.k,
                    w: &self.w[r.start * self.k..r.end * self.k],
                    h: &self.h32[*gi],
                    qmax: self.qmax,
                };
                rows.eval(&s[r.clone()])
            })
            .collect();
        let mut out = ErrorAndSlope { err: Vec::new(), slope: Vec::new() };
        for p in parts {
            out.err.extend(p.err);
            out.slope.extend(p.slope);
        }
        out
    }
}

/// Trains the scales `start` (one per channel, or one for the layer) of weights `w`
/// (`cout` rows of `gram.k`, the patch order of `gram`) with `qmax` the largest integer.
/// Returns the trained scales.
pub fn train_scales(w: &[f32], gram: &LayerGram, start: &[f32], qmax: i32, opt: &Options) -> Vec<f32> {
    let k = gram.k;
    let groups = gram.groups.len();
    if k == 0 || groups == 0 || w.len() % k != 0 || (w.len() / k) % groups != 0 {
        return start.to_vec();
    }
    let cout = w.len() / k;
    let cout_g = cout / groups;
    let per = channels_per_batch(cout_g);
    let layer = Layer {
        k,
        w,
        h32: gram.groups.iter().map(|h| h.iter().map(|&x| x as f32).collect()).collect(),
        jobs: (0..groups)
            .flat_map(|gi| {
                let end = (gi + 1) * cout_g;
                (gi * cout_g..end).step_by(per).map(move |s| (gi, s..(s + per).min(end)))
            })
            .collect(),
        qmax: f64::from(qmax),
    };
    let shared = start.len() == 1;
    let expand = |p: &[f64]| -> Vec<f64> {
        if shared {
            vec![p[0].exp(); cout]
        } else {
            p.iter().map(|x| x.exp()).collect()
        }
    };
    // Norms: the error of all-zero weights is w^T H w.
    let norm: Vec<f64> = {
        let mut n = vec![0f64; cout];
        for (gi, r) in &layer.jobs {
            let ws = &w[r.start * k..r.end * k];
            let mut hw = vec![0f32; r.len() * k];
            f32::gemm(r.len(), k, k, ws, &layer.h32[*gi], &mut hw);
            for (j, c) in r.clone().enumerate() {
                n[c] = (0..k).map(|i| f64::from(ws[j * k + i]) * f64::from(hw[j * k + i])).sum::<f64>().max(1e-30);
            }
        }
        n
    };
    let loss = |e: &ErrorAndSlope| -> Vec<f64> {
        if shared {
            vec![e.err.iter().sum::<f64>() / norm.iter().sum::<f64>()]
        } else {
            e.err.iter().zip(&norm).map(|(a, b)| a / b).collect()
        }
    };
    let start_p: Vec<f64> = start.iter().map(|&s| f64::from(s).max(1e-30).ln()).collect();
    let mut p = start_p.clone();
    let n = p.len();
    let (mut m, mut m2) = (vec![0f64; n], vec![0f64; n]);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    for it in 0..opt.iterations {
        let s = expand(&p);
        let e = layer.eval(&s);
        // d loss / d log s = s * d loss / d s.
        let g: Vec<f64> = if shared {
            vec![s[0] * e.slope.iter().sum::<f64>() / norm.iter().sum::<f64>()]
        } else {
            (0..cout).map(|c| s[c] * e.slope[c] / norm[c]).collect()
        };
        let t = (it + 1) as i32;
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for i in 0..n {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            m2[i] = b2 * m2[i] + (1.0 - b2) * g[i] * g[i];
            p[i] -= opt.learning_rate * (m[i] / c1) / ((m2[i] / c2).sqrt() + eps);
        }
    }
    // The exact loss decides, per trained parameter.
    let before = loss(&layer.eval(&expand(&start_p)));
    let after = loss(&layer.eval(&expand(&p)));
    (0..n).map(|i| if after[i] < before[i] { p[i].exp() as f32 } else { start[i] }).collect()
}

/// Re-derives every conv and FC layer's weight scales of `q` (quantized from `float` by
/// [`super::ptq::quantize_graph`], which keeps tensor ids; symmetric weights) by
/// [`train_scales`] on the Gram matrices `grams` of `float`'s layers, requantizes the
/// weights to nearest at the new scales and moves each bias to the new scale (and, where
/// `channel_means` is given, by the change of the weights' mean error, as bias correction
/// would). `on_layer` is called after each layer. Returns the layers done.
pub fn apply(
    float: &Graph,
    q: &mut Graph,
    grams: &[Option<LayerGram>],
    channel_means: Option<&dyn Fn(usize) -> Option<Vec<f64>>>,
    opt: &Options,
    on_layer: &mut dyn FnMut(&str),
) -> Result<usize, TrainError> {
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
        if qp.zero_points.iter().any(|&z| z != 0) {
            return Err(TrainError::Asymmetric(l.name.clone()));
        }
        let k = gram.k;
        if k == 0 || w.len() % k != 0 {
            continue;
        }
        let cout = w.len() / k;
        let bits = q.tensor(wid).dtype.bits() as u8;
        let (_, qmax) = super::clip::int_range(bits, true);
        let old_scales = qp.scales.clone();
        let new_scales = train_scales(w, gram, &old_scales, qmax, opt);
        let scale_of = |s: &[f32], c: usize| s[if s.len() > 1 { c } else { 0 }];
        let new: Vec<i32> = w
            .iter()
            .enumerate()
            .map(|(i, &x)| super::clip::quantize(x, scale_of(&new_scales, i / k), 0, -qmax, qmax))
            .collect();
        if let Some(bid) = l.inputs.iter().copied().find(|&t| float.tensor(t).kind == TensorKind::Bias) {
            let deq = |v: &[i32], s: &[f32]| -> Vec<f32> {
                v.iter().enumerate().map(|(i, &x)| scale_of(s, i / k) * x as f32).collect()
            };
            let shift = match channel_means.and_then(|f| f(l.inputs[0].0)) {
                Some(mean) => super::bias_correction::correction(
                    &deq(old, &old_scales),
                    &deq(&new, &new_scales),
                    cout,
                    gram.groups.len(),
                    &mean,
                ),
                None => vec![0.0; cout],
            };
            let bt = q.tensor_mut(bid);
            if let (Some(TensorData::I64(b)), Some(bq)) = (&mut bt.data, &mut bt.quant) {
                for (c, (bi, bs)) in b.iter_mut().zip(bq.scales.iter_mut()).enumerate() {
                    let s_in = f64::from(*bs) / f64::from(scale_of(&old_scales, c));
                    let value = *bi as f64 * f64::from(*bs) + f64::from(shift.get(c).copied().unwrap_or(0.0));
                    let ns = (s_in * f64::from(scale_of(&new_scales, c))) as f32;
                    *bs = ns;
                    *bi = (value / f64::from(ns)).round() as i64;
                }
            }
        }
        let wt = q.tensor_mut(wid);
        wt.data = Some(TensorData::I32(new));
        if let Some(qp) = &mut wt.quant {
            qp.scales = new_scales;
        }
        done += 1;
        on_layer(&l.name);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(k: usize, f: impl Fn(usize, usize) -> f64) -> LayerGram {
        LayerGram { k, groups: vec![(0..k * k).map(|i| f(i / k, i % k)).collect()] }
    }

    /// Output error of weights `w` (one channel) at scale `s`.
    fn out_err(w: &[f32], h: &LayerGram, s: f32, qmax: i32) -> f64 {
        let k = h.k;
        let d: Vec<f64> = w
            .iter()
            .map(|&x| f64::from(s) * f64::from(super::super::clip::quantize(x, s, 0, -qmax, qmax)) - f64::from(x))
            .collect();
        (0..k).map(|i| (0..k).map(|j| d[i] * h.groups[0][i * k + j] * d[j]).sum::<f64>()).sum()
    }

    /// The straight-through slope is the derivative of the error where no integer moves:
    /// between rounding steps, `d` is linear in `s` with slope `q`.
    #[test]
    fn straight_through_slope_is_the_derivative_between_steps() {
        let w = [0.31f32, -0.72, 0.55, 0.12];
        let g = gram(4, |i, j| if i == j { 2.0 } else { 0.4 });
        let h32: Vec<f32> = g.groups[0].iter().map(|&x| x as f32).collect();
        let rows = Rows { rows: 1, k: 4, w: &w, h: &h32, qmax: 7.0 };
        let s = 0.1037;
        let e = rows.eval(&[s]);
        let eps = 1e-6;
        let fd = (rows.eval(&[s + eps]).err[0] - rows.eval(&[s - eps]).err[0]) / (2.0 * eps);
        // The estimator adds `(round(x) - x)`'s rounding-through term: d(s q)/ds = q exactly,
        // the estimator's q - w/s differs by -w/s; compare against that known difference.
        let hd: Vec<f64> = (0..4)
            .map(|i| {
                (0..4)
                    .map(|j| {
                        let q = (f64::from(w[j]) / s).round();
                        g.groups[0][i * 4 + j] * (s * q - f64::from(w[j]))
                    })
                    .sum()
            })
            .collect();
        let ste_minus_exact: f64 = (0..4).map(|i| -2.0 * hd[i] * f64::from(w[i]) / s).sum();
        assert!((e.slope[0] - (fd + ste_minus_exact)).abs() < 1e-3 * (1.0 + fd.abs()), "{} vs {}", e.slope[0], fd);
    }

    /// Inputs that always carry the same value (H all ones): only the weights' sum matters,
    /// so the output-optimal scale differs from the weight-MSE one; training lowers the
    /// output error below its start and never returns a worse scale.
    #[test]
    fn training_lowers_the_output_error() {
        let w: Vec<f32> = (0..16).map(|i| ((i * 7 % 16) as f32 - 7.5) * 0.031 + 0.004).collect();
        let g = gram(16, |_, _| 1.0);
        let start = 0.03f32;
        let trained = train_scales(&w, &g, &[start], 7, &Options { iterations: 400, learning_rate: 0.02 });
        let (a, b) = (out_err(&w, &g, start, 7), out_err(&w, &g, trained[0], 7));
        assert!(b <= a, "{b} > {a}");
        assert!(
            b < 0.5 * a,
            "training should find a clearly better scale: {a} -> {b} (scale {start} -> {})",
            trained[0]
        );
    }

    /// Per channel, each channel's scale is its own; one shared scale when given one.
    #[test]
    fn per_channel_and_per_tensor_shapes_and_determinism() {
        let w: Vec<f32> = (0..24).map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.05).collect();
        let g = gram(8, |i, j| 1.0 / (1.0 + (i as f64 - j as f64).abs()));
        let opt = Options::default();
        let pc = train_scales(&w, &g, &[0.04, 0.05, 0.06], 7, &opt);
        assert_eq!(pc.len(), 3);
        assert_eq!(pc, train_scales(&w, &g, &[0.04, 0.05, 0.06], 7, &opt));
        assert_eq!(train_scales(&w, &g, &[0.05], 7, &opt).len(), 1);
    }
}
