//! Trained activation thresholds (FAT: Goncharenko et al., "Fast Adjustable Threshold for
//! Uniform Neural Network Quantization", 2019, which trains per-tensor activation
//! thresholds beside the weights'), layer by layer: an activation tensor's scale is trained
//! with a straight-through estimator so that the layers reading it reproduce their float
//! outputs from its quantized values, instead of the tensor itself (what the min/max,
//! percentile and MSE methods look at).
//!
//! A tensor read by conv / FC layers with float weights `W` (one block per channel group),
//! bias `b` and fused activation `f` (a clamp) enters them as patch rows `x`; each reader's
//! float output is `f(W x + b)`, and quantizing the tensor at scale `s` makes it
//! `f(W Q_s(x) + b)`. The loss is the squared difference of the two over the reader's
//! output, relative to the float output's energy, summed over the readers (the activation
//! counts: AdaRound's paper finds that reconstructing after it helps, and without it, a
//! clipped large value that the reader's ReLU would have passed looks cheap). The range keeps
//! the start's zero point and scales with `s` (an activation range `[lo, hi]` scaled by `a`
//! has scale `a s` and the same zero point), so `s` is the one parameter. With
//! `q = clamp(round(x / s) + z, qmin, qmax)` and `Q_s(x) = s (q - z)`, the straight-through
//! estimator treats `round` as the identity: `dQ/ds = q - z - x / s` where `q` is not
//! clamped and `q - z` where it is; `f` passes the slope where its input is inside its
//! clamp. Adam trains `log s` from the MSE scale on a fixed, evenly spaced sample of each
//! reader's patch rows from the calibration inputs; the scale kept is the one of lowest exact
//! loss seen (the start included), so training never makes a tensor's readers worse on that
//! sample. The network then decides ([`apply`]): a trained scale is kept only if the whole
//! quantized network's output error on the calibration inputs falls with it.
//!
//! Trained: tensors whose parameters are their own (the producer's rule is
//! [`QuantRule::Free`]) and whose readers are all conv / FC layers reading them as their
//! data input. Other tensors (read by additions, concatenations, pooling, outputs, or
//! sharing their parameters along pass-through ops) keep their start. Deterministic: fixed
//! samples, no random state, tensors trained independently.

use rayon::prelude::*;

use super::adaround::{PatchCutter, Real};
use super::eval::FloatRuns;
use crate::ir::{Graph, TensorData, TensorId, TensorKind};
use crate::kernels::{run_float, Arithmetic, ExecError, Values};
use crate::ops::{OpFamily, QuantRule};

/// How activation threshold training runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Adam steps per tensor.
    pub iterations: usize,
    /// Adam step size on `log s`.
    pub learning_rate: f64,
    /// Patch rows sampled per reader (spread evenly over the calibration inputs).
    pub rows: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { iterations: 100, learning_rate: 0.01, rows: 1024 }
    }
}

/// A trained scale for one tensor, not yet applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The tensor's name.
    pub name: String,
    q_tensor: TensorId,
    q_readers: Vec<usize>,
    /// Its scale from the threshold method (MSE).
    pub start: f32,
    /// Its trained scale.
    pub trained: f32,
}

impl Proposal {
    /// Gives the tensor its trained scale in `q` and moves each reader's bias to its new
    /// input scale (bias scale = input scale x weight scale).
    pub fn apply(&self, q: &mut Graph) {
        let ratio = f64::from(self.trained) / f64::from(self.start);
        if let Some(p) = &mut q.tensor_mut(self.q_tensor).quant {
            p.scales[0] = self.trained;
        }
        for &li in &self.q_readers {
            let Some(bid) = q.layers[li].inputs.iter().copied().find(|&t| q.tensor(t).kind == TensorKind::Bias) else {
                continue;
            };
            let bt = q.tensor_mut(bid);
            if let (Some(TensorData::I64(b)), Some(bq)) = (&mut bt.data, &mut bt.quant) {
                for (bi, bs) in b.iter_mut().zip(bq.scales.iter_mut()) {
                    let value = *bi as f64 * f64::from(*bs);
                    let ns = (f64::from(*bs) * ratio) as f32;
                    *bs = ns;
                    *bi = (value / f64::from(ns)).round() as i64;
                }
            }
        }
    }
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Tensors trained on their readers whose scale moved.
    pub proposed: usize,
    /// Those kept: `(name, start scale, trained scale)`, each lowering the network's output
    /// error on the calibration inputs.
    pub accepted: Vec<(String, f32, f32)>,
    /// Activation tensors not trained: not read by conv / FC layers only, or sharing their
    /// parameters with another tensor.
    pub untrained: usize,
    /// The quantized network's output SQNR on the calibration inputs before and after (dB).
    pub calib_sqnr_db: (f64, f64),
}

/// One reader of a tensor: its sampled patch rows, weights, bias and activation per group.
struct Reader {
    k: usize,
    /// Output channels per group.
    cout: usize,
    /// Per group, `rows x k` sampled patch rows (row-major).
    x: Vec<Vec<f32>>,
    /// Per group, `W_g^T` (`k x cout`, row-major).
    wt: Vec<Vec<f32>>,
    /// Per group, the bias of its `cout` channels.
    bias: Vec<Vec<f32>>,
    /// The fused activation's clamp.
    clamp: (f32, f32),
    /// Per group, the float output before the activation (`rows x cout`).
    y: Vec<Vec<f32>>,
    /// The float output's energy after the activation.
    energy: f64,
}

impl Reader {
    /// Per group, `x W_g^T + b` (`rows x cout`) of `x` (`rows x k` per group).
    fn pre_activation(&self, gi: usize, x: &[f32], with_bias: bool) -> Vec<f32> {
        let rows = x.len() / self.k.max(1);
        let mut y = vec![0f32; rows * self.cout];
        <f32 as Real>::gemm(rows, self.k, self.cout, x, &self.wt[gi], &mut y);
        if with_bias {
            for row in y.chunks_exact_mut(self.cout.max(1)) {
                row.iter_mut().zip(&self.bias[gi]).for_each(|(v, b)| *v += b);
            }
        }
        y
    }

    /// Fills `y` (the float pre-activation outputs) and `energy` from `x`.
    fn finish(&mut self) {
        self.y = (0..self.x.len()).map(|gi| self.pre_activation(gi, &self.x[gi], true)).collect();
        let (lo, hi) = self.clamp;
        self.energy = self.y.iter().flatten().map(|&v| f64::from(v.clamp(lo, hi))).map(|v| v * v).sum::<f64>();
    }
}

/// A tensor to train: its id in the quantized graph, its quantizer, and its readers.
struct Job {
    name: String,
    q_tensor: TensorId,
    /// Quantized-graph layers reading it (their biases follow the new scale).
    q_readers: Vec<usize>,
    scale: f32,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
    readers: Vec<Reader>,
}

/// The loss and its straight-through slope in `s` at scale `s`.
fn loss_and_slope(job: &Job, s: f64) -> (f64, f64) {
    let z = f64::from(job.zero_point);
    let (qmin, qmax) = (f64::from(job.qmin), f64::from(job.qmax));
    let mut loss = 0.0;
    let mut slope = 0.0;
    for r in &job.readers {
        if r.energy <= 0.0 {
            continue;
        }
        let (lo, hi) = r.clamp;
        let (mut l, mut sl) = (0.0f64, 0.0f64);
        for (gi, x) in r.x.iter().enumerate() {
            // The slope's product: `dQ/ds = (Q(x) - x [not clamped]) / s`, so
            // `dQ/ds W^T = (yq - y + (x [clamped]) W^T) / s` with `y` the float output (same
            // bias): one GEMM per step, plus the clamped elements' rows (few) one by one.
            let mut xq = vec![0f32; x.len()];
            let mut clamped = Vec::new();
            for (i, (&xi, qi)) in x.iter().zip(&mut xq).enumerate() {
                let unclamped = (f64::from(xi) / s).round() + z;
                let q = unclamped.clamp(qmin, qmax);
                *qi = (s * (q - z)) as f32;
                if unclamped != q {
                    clamped.push(i);
                }
            }
            let yq = r.pre_activation(gi, &xq, true);
            let mut extra = vec![0f32; yq.len()];
            for &i in &clamped {
                let (row, col) = (i / r.k, i % r.k);
                let w = &r.wt[gi][col * r.cout..(col + 1) * r.cout];
                extra[row * r.cout..(row + 1) * r.cout].iter_mut().zip(w).for_each(|(e, &wv)| *e += x[i] * wv);
            }
            for ((&a, &f), &c) in yq.iter().zip(&r.y[gi]).zip(&extra) {
                let e = f64::from(a.clamp(lo, hi)) - f64::from(f.clamp(lo, hi));
                l += e * e;
                if a > lo && a < hi {
                    let d = (f64::from(a) - f64::from(f) + f64::from(c)) / s;
                    sl += 2.0 * e * d;
                }
            }
        }
        loss += l / r.energy;
        slope += sl / r.energy;
    }
    (loss, slope)
}

/// Adam on `log s` from `start`; the scale of lowest exact loss seen.
fn train(job: &Job, opt: &Options) -> f32 {
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let mut u = f64::from(job.scale).ln();
    let (mut m, mut v) = (0.0, 0.0);
    let (mut best_loss, mut best) = (f64::INFINITY, job.scale);
    for t in 1..=opt.iterations.max(1) {
        let s = u.exp();
        let (loss, slope) = loss_and_slope(job, s);
        if loss < best_loss {
            (best_loss, best) = (loss, s as f32);
        }
        let grad = slope * s;
        m = b1 * m + (1.0 - b1) * grad;
        v = b2 * v + (1.0 - b2) * grad * grad;
        let (mh, vh) = (m / (1.0 - b1.powi(t as i32)), v / (1.0 - b2.powi(t as i32)));
        u -= opt.learning_rate * mh / (vh.sqrt() + eps);
    }
    // The last step's scale is evaluated too.
    let s = u.exp();
    if loss_and_slope(job, s).0 < best_loss {
        best = s as f32;
    }
    best
}

/// The float readers of tensor `t` in `float`, if every reader is a conv / FC layer
/// reading it as its data input only.
fn weighted_readers(float: &Graph, t: TensorId) -> Option<Vec<usize>> {
    let readers: Vec<usize> =
        float.layers.iter().enumerate().filter(|(_, l)| l.inputs.contains(&t)).map(|(i, _)| i).collect();
    let ok = !readers.is_empty()
        && readers.iter().all(|&i| {
            let l = &float.layers[i];
            l.inputs[0] == t && l.inputs[1..].iter().all(|&o| o != t) && PatchCutter::of(float, l).is_some()
        });
    ok.then_some(readers)
}

/// The jobs: tensors of `float` whose quantized twin in `q` is trainable (see the module
/// doc), with their readers' float weights; patch rows are filled in later.
fn jobs(float: &Graph, q: &Graph, litert: bool) -> (Vec<(Job, Vec<usize>)>, usize) {
    let mut jobs = Vec::new();
    let mut kept = 0;
    for (ti, t) in float.tensors.iter().enumerate() {
        let tid = TensorId(ti);
        if t.kind != TensorKind::Activation || float.outputs.contains(&tid) {
            continue;
        }
        let job = (|| {
            let readers = weighted_readers(float, tid)?;
            // The same layers in the quantized graph (PTQ keeps layer names; it inserts
            // QUANTIZE / DEQUANTIZE layers around them).
            let q_readers: Vec<usize> = readers
                .iter()
                .map(|&i| q.layers.iter().position(|l| l.name == float.layers[i].name))
                .collect::<Option<_>>()?;
            let tq = q.layers[q_readers[0]].inputs[0];
            if q_readers.iter().any(|&i| q.layers[i].inputs[0] != tq) {
                return None;
            }
            // Nothing else reads it, and its producer gives it parameters of its own.
            if q.layers.iter().filter(|l| l.inputs.contains(&tq)).count() != q_readers.len() {
                return None;
            }
            let producer = q.layers.iter().find(|l| l.outputs.contains(&tq))?;
            let (ib, ob) = (q.tensor(producer.inputs[0]).dtype.bits() as u8, q.tensor(tq).dtype.bits() as u8);
            if producer.op.quant_rule(ib, ob) != QuantRule::Free {
                return None;
            }
            let qt = q.tensor(tq);
            let qp = qt.quant.as_ref().filter(|p| p.scales.len() == 1 && p.zero_points.len() == 1)?;
            if !qt.dtype.is_int() {
                return None;
            }
            let (qmin, qmax) = super::clip::int_range(ob, litert && ob > 8);
            let mut rs = Vec::new();
            for &i in &readers {
                let l = &float.layers[i];
                let cut = PatchCutter::of(float, l)?;
                let wid = l.inputs.iter().copied().find(|&w| float.tensor(w).kind == TensorKind::Weight)?;
                let Some(TensorData::F32(w)) = &float.tensor(wid).data else { return None };
                let k = cut.k;
                if k == 0 || w.len() % k != 0 || (w.len() / k) % cut.groups != 0 {
                    return None;
                }
                let per_group = w.len() / k / cut.groups;
                // A reader without a bias adds zeros; one whose bias is not float (or of
                // another length) is not trained.
                let bias = match l.inputs.iter().find(|&&b| float.tensor(b).kind == TensorKind::Bias) {
                    Some(&b) => {
                        let Some(TensorData::F32(v)) = &float.tensor(b).data else { return None };
                        if v.len() != w.len() / k {
                            return None;
                        }
                        v.clone()
                    }
                    None => vec![0.0; w.len() / k],
                };
                let wt = (0..cut.groups)
                    .map(|gi| {
                        let wg = &w[gi * per_group * k..(gi + 1) * per_group * k];
                        // W_g is `per_group x k`; its transpose `k x per_group`.
                        let mut t = vec![0f32; k * per_group];
                        for o in 0..per_group {
                            for i in 0..k {
                                t[i * per_group + o] = wg[o * k + i];
                            }
                        }
                        t
                    })
                    .collect();
                rs.push(Reader {
                    k,
                    cout: per_group,
                    x: vec![Vec::new(); cut.groups],
                    wt,
                    bias: bias.chunks(per_group.max(1)).map(<[f32]>::to_vec).collect(),
                    clamp: l.activation.range(),
                    y: Vec::new(),
                    energy: 0.0,
                });
            }
            Some((
                Job {
                    name: t.name.clone(),
                    q_tensor: tq,
                    q_readers,
                    scale: qp.scales[0],
                    zero_point: qp.zero_points[0] as i32,
                    qmin,
                    qmax,
                    readers: rs,
                },
                readers,
            ))
        })();
        match job {
            Some(j) => jobs.push(j),
            None => kept += 1,
        }
    }
    (jobs, kept)
}

/// Trains each eligible activation tensor's scale of `q` (quantized from `float` by
/// [`super::ptq::quantize_graph`], which keeps tensor ids and layer names) on float runs of
/// `inputs` (see the module doc); `on_tensor` is called after each tensor. `litert`:
/// activations wider than 8 bits are symmetric (as PTQ made them). Returns the tensors
/// whose scale moved and how many were not eligible.
pub fn propose(
    float: &Graph,
    q: &Graph,
    inputs: &[Vec<f32>],
    litert: bool,
    opt: &Options,
    on_tensor: &(dyn Fn(&str) + Sync),
) -> Result<(Vec<Proposal>, usize), ExecError> {
    let (mut jobs, untrained) = jobs(float, q, litert);
    // Patch rows: about `opt.rows` per reader, evenly spaced in each input's rows.
    let per_input = opt.rows.div_ceil(inputs.len().max(1)).max(1);
    let batch = 2 * rayon::current_num_threads().max(1);
    for (ci, chunk) in inputs.chunks(batch).enumerate() {
        let runs =
            chunk.par_iter().map(|x| run_float(float, std::slice::from_ref(x))).collect::<Result<Vec<_>, _>>()?;
        jobs.par_iter_mut().for_each(|(job, readers)| {
            for (r, &li) in job.readers.iter_mut().zip(readers.iter()) {
                let l = &float.layers[li];
                let Some(cut) = PatchCutter::of(float, l) else { continue };
                for (ii, vals) in runs.iter().enumerate() {
                    let Some(Values::F32(v)) = &vals[l.inputs[0].0] else { continue };
                    let rows = cut.rows(v.len());
                    let take = per_input.min(rows);
                    // Evenly spaced, from an offset that moves with the input (the golden
                    // ratio's fractions), so a few rows per input do not all fall on the
                    // same positions (a conv's first rows are the image's top-left edge).
                    let offset = (((ci * batch + ii) as f64 * 0.618_033_988_749_895).fract() * rows as f64) as usize;
                    for j in 0..take {
                        let row = (j * rows / take + offset) % rows;
                        for (gi, x) in r.x.iter_mut().enumerate() {
                            cut.push_row(v, gi, row, x);
                        }
                    }
                }
            }
        });
    }
    jobs.par_iter_mut().for_each(|(job, _)| job.readers.iter_mut().for_each(Reader::finish));
    let proposals = jobs
        .par_iter()
        .map(|(job, _)| {
            let s = train(job, opt);
            on_tensor(&job.name);
            Proposal {
                name: job.name.clone(),
                q_tensor: job.q_tensor,
                q_readers: job.q_readers.clone(),
                start: job.scale,
                trained: s,
            }
        })
        .collect::<Vec<_>>();
    Ok((proposals.into_iter().filter(|p| p.trained != p.start).collect(), untrained))
}

/// [`propose`], then the network decides: in tensor order, each trained scale is kept only
/// if the whole quantized network (LiteRT's arithmetic) reproduces the float outputs of
/// `float` on `inputs` better with it than without (output SQNR), so `q` never ends worse
/// on the calibration inputs than the thresholds it started from. Layer-wise training
/// alone does not guarantee that: each tensor is trained against float inputs to its
/// readers, and the errors of several tensors compound downstream.
pub fn apply(
    float: &Graph,
    q: &mut Graph,
    inputs: &[Vec<f32>],
    litert: bool,
    opt: &Options,
    on_tensor: &(dyn Fn(&str) + Sync),
) -> Result<Summary, ExecError> {
    let (proposals, untrained) = propose(float, q, inputs, litert, opt, on_tensor)?;
    let runs = FloatRuns::new(float, inputs, None, &[])?;
    let sqnr = |g: &Graph| runs.evaluate(g, Arithmetic::default(), &[]).map(|r| r.output_sqnr_db);
    let start = sqnr(q)?;
    let mut best = start;
    let mut accepted = Vec::new();
    for p in &proposals {
        let mut cand = q.clone();
        p.apply(&mut cand);
        let s = sqnr(&cand)?;
        if s > best {
            *q = cand;
            best = s;
            accepted.push((p.name.clone(), p.start, p.trained));
        }
    }
    Ok(Summary { proposed: proposals.len(), accepted, untrained, calib_sqnr_db: (start, best) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job of one reader without bias or activation: `w` is `W` (`cout x k`, row-major).
    fn job(x: Vec<f32>, k: usize, w: &[f32], scale: f32, zero_point: i32) -> Job {
        let cout = w.len() / k;
        let wt = (0..k * cout).map(|i| w[(i % cout) * k + i / cout]).collect();
        let mut r = Reader {
            k,
            cout,
            x: vec![x],
            wt: vec![wt],
            bias: vec![vec![0.0; cout]],
            clamp: (f32::NEG_INFINITY, f32::INFINITY),
            y: Vec::new(),
            energy: 0.0,
        };
        r.finish();
        Job {
            name: "t".into(),
            q_tensor: TensorId(0),
            q_readers: Vec::new(),
            scale,
            zero_point,
            qmin: -8,
            qmax: 7,
            readers: vec![r],
        }
    }

    /// Between rounding steps no integer moves, so the exact derivative of the loss is the
    /// slope with `dQ/ds = q - z` everywhere; the estimator differs from it by the known
    /// `-x / s` term of the unclamped elements.
    #[test]
    fn straight_through_slope_differs_from_the_derivative_by_the_rounding_term() {
        let x = vec![0.31f32, 0.72, 0.05, 1.9, 0.44, 0.0, 0.63, 0.12];
        let w = [1.2f32, 0.3, 0.5, 1.1];
        // G = W^T W.
        let g: Vec<f64> =
            (0..4).map(|i| (0..2).map(|o| f64::from(w[o * 2 + i / 2]) * f64::from(w[o * 2 + i % 2])).sum()).collect();
        let j = job(x.clone(), 2, &w, 0.1037, -8);
        let s = 0.1037f64;
        let eps = 1e-4;
        let fd = (loss_and_slope(&j, s + eps).0 - loss_and_slope(&j, s - eps).0) / (2.0 * eps);
        let (_, slope) = loss_and_slope(&j, s);
        // The rounding term: 2 sum (-x/s) [unclamped] (G d), over the energy.
        let z = -8.0;
        let d: Vec<f64> = x
            .iter()
            .map(|&xi| {
                let q = ((f64::from(xi) / s).round() + z).clamp(-8.0, 7.0);
                s * (q - z) - f64::from(xi)
            })
            .collect();
        let mut term = 0.0;
        for row in 0..4 {
            for a in 0..2 {
                let xi = f64::from(x[row * 2 + a]);
                let unclamped = (xi / s).round() + z;
                if (-8.0..=7.0).contains(&unclamped) {
                    let gd: f64 = (0..2).map(|b| g[a * 2 + b] * d[row * 2 + b]).sum();
                    term += 2.0 * (-xi / s) * gd;
                }
            }
        }
        let expect = fd + term / j.readers[0].energy;
        assert!((slope - expect).abs() < 1e-2 * (1.0 + expect.abs()), "{slope} vs {expect}");
    }

    /// A reader that weighs one input channel heavily: the output-optimal scale clips the
    /// rare large values of the light channel, which a tensor-level threshold keeps; training
    /// lowers the output error, never returns a worse scale, and is deterministic.
    #[test]
    fn training_lowers_the_readers_error_and_never_worsens_it() {
        let rows = 64;
        let x: Vec<f32> = (0..rows)
            .flat_map(|r| {
                let heavy = ((r * 37 % 64) as f32) / 64.0;
                let light = if r % 16 == 0 { 6.0 } else { ((r * 11 % 64) as f32) / 256.0 };
                [heavy, light]
            })
            .collect();
        // W = diag(10, 0.1): the heavy channel dominates the reader's output.
        let w = [10.0f32, 0.0, 0.0, 0.1];
        let start = 6.0f32 / 15.0; // min/max over [0, 6] at 4 bits, zero point -8
        let j = job(x, 2, &w, start, -8);
        let opt = Options { iterations: 300, learning_rate: 0.05, rows: 0 };
        let s = train(&j, &opt);
        let (a, b) = (loss_and_slope(&j, f64::from(start)).0, loss_and_slope(&j, f64::from(s)).0);
        assert!(b <= a, "{b} > {a}");
        assert!(b < 0.2 * a, "training should find a clearly better scale: {a} -> {b} ({start} -> {s})");
        assert_eq!(s, train(&j, &opt));
        // Already optimal-ish: a start at the trained scale is never made worse.
        let j2 = job(j.readers[0].x[0].clone(), 2, &w, s, -8);
        let s2 = train(&j2, &opt);
        assert!(loss_and_slope(&j2, f64::from(s2)).0 <= loss_and_slope(&j2, f64::from(s)).0);
    }
}
