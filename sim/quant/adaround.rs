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
use crate::ops::{Moments, WeightLayout};

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
            WeightLayout::TransposeConv(_) | WeightLayout::Float | WeightLayout::None => None,
        }
    }

    /// Adds `x x^T` of every patch of input `v` to `h` (one `k x k` matrix per group): the
    /// patches of a group as rows of a matrix `X`, then `X^T X` as one blocked product.
    fn accumulate(&self, v: &[f32], k: usize, h: &mut [Vec<f64>]) {
        match *self {
            Patches::Rows { features } => {
                if features == k {
                    add_gram(v, v.len() / k.max(1), k, &mut h[0]);
                }
            }
            Patches::Conv { n, oh, ow, .. } => {
                let rows = n * oh * ow;
                let mut x = vec![0f32; rows * k];
                for (gi, hg) in h.iter_mut().enumerate() {
                    for (r, row) in x.chunks_exact_mut(k.max(1)).enumerate() {
                        self.fill_row(v, gi, r, row);
                    }
                    add_gram(&x, rows, k, hg);
                }
            }
        }
    }

    /// Patch rows of one input (`elements` values): output positions for a conv, rows for
    /// an FC.
    fn rows(&self, elements: usize) -> usize {
        match *self {
            Patches::Rows { features } => elements / features.max(1),
            Patches::Conv { n, oh, ow, .. } => n * oh * ow,
        }
    }

    /// Writes patch row `r` of group `gi` of input `v` into `row` (`k` values, the weights'
    /// order; taps in the padding are zero).
    fn fill_row(&self, v: &[f32], gi: usize, r: usize, row: &mut [f32]) {
        match *self {
            Patches::Rows { features } => row.copy_from_slice(&v[r * features..(r + 1) * features]),
            Patches::Conv { ih, iw, c, kh, kw, sh, sw, dh, dw, top, left, oh, ow, groups, .. } => {
                let cg = c / groups;
                let (b, oy, ox) = (r / (oh * ow), r / ow % oh, r % ow);
                let mut j = 0;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let y = (oy * sh + ky * dh) as isize - top as isize;
                        let xx = (ox * sw + kx * dw) as isize - left as isize;
                        let inside = y >= 0 && xx >= 0 && (y as usize) < ih && (xx as usize) < iw;
                        let at = ((b * ih + y.max(0) as usize) * iw + xx.max(0) as usize) * c + gi * cg;
                        for ci in 0..cg {
                            row[j] = if inside { v[at + ci] } else { 0.0 };
                            j += 1;
                        }
                    }
                }
            }
        }
    }
}

/// A weighted layer's input patches cut the way its weights read them, for stages that
/// need patch rows themselves rather than their Gram matrix (trained activation
/// thresholds, `quant::trained_act`).
#[derive(Debug, Clone, Copy)]
pub struct PatchCutter {
    patches: Patches,
    /// Channel groups (one weight block per group).
    pub groups: usize,
    /// Weights per output channel (values per patch row of a group).
    pub k: usize,
}

impl PatchCutter {
    /// The cutter of layer `l`'s input 0 (a conv or FC layer; `None` for other layers).
    pub fn of(g: &Graph, l: &crate::ir::Layer) -> Option<PatchCutter> {
        let (patches, groups, k) = Patches::of(g, l)?;
        Some(PatchCutter { patches, groups, k })
    }

    /// Patch rows in an input of `elements` values.
    pub fn rows(&self, elements: usize) -> usize {
        self.patches.rows(elements)
    }

    /// Appends patch row `r` of group `gi` of input `v` (`k` values) to `out`.
    pub fn push_row(&self, v: &[f32], gi: usize, r: usize, out: &mut Vec<f32>) {
        let at = out.len();
        out.resize(at + self.k, 0.0);
        self.patches.fill_row(v, gi, r, &mut out[at..]);
    }
}

impl Patches {
    /// The expected `sum x x^T` over every patch when the input's values are independent,
    /// each with its channel's mean and variance (`x`; a collapsed `Moments` holds one
    /// channel for all): `E[x_a x_b] = mu_a mu_b` for two different elements and
    /// `mu_a^2 + var_a` on the diagonal, and an element of a patch that falls into the
    /// padding is zero. Counted exactly: a pair of conv taps contributes once per output
    /// position where both are inside the input; FC rows once per row of the input's
    /// `elements`. One `k x k` matrix per group.
    fn expected(&self, x: &Moments, k: usize, elements: usize) -> Vec<Vec<f64>> {
        // Channel `i`'s moments; a flattened NHWC tensor's features cycle over its channels.
        let moments = |i: usize| x.channel(if x.mean.len() > 1 { i % x.mean.len() } else { 0 });
        match *self {
            Patches::Rows { features } => {
                if features != k {
                    return vec![vec![0.0; k * k]];
                }
                let rows = (elements / k.max(1)) as f64;
                let m: Vec<(f64, f64)> = (0..k).map(moments).collect();
                let mut h = vec![0.0; k * k];
                for (a, &(ma, va)) in m.iter().enumerate() {
                    for (b, &(mb, _)) in m.iter().enumerate() {
                        h[a * k + b] = rows * (ma * mb + if a == b { va } else { 0.0 });
                    }
                }
                vec![h]
            }
            Patches::Conv { n, ih, iw, c, kh, kw, sh, sw, dh, dw, top, left, oh, ow, groups } => {
                // Output positions (per axis) where two taps are both inside the input.
                let both = |size: usize, taps: usize, stride: usize, dil: usize, pad: usize, out: usize| {
                    let inside = |t: usize, o: usize| {
                        let at = (o * stride + t * dil) as isize - pad as isize;
                        at >= 0 && (at as usize) < size
                    };
                    let mut m = vec![0usize; taps * taps];
                    for a in 0..taps {
                        for b in 0..taps {
                            m[a * taps + b] = (0..out).filter(|&o| inside(a, o) && inside(b, o)).count();
                        }
                    }
                    m
                };
                let (ys, xs) = (both(ih, kh, sh, dh, top, oh), both(iw, kw, sw, dw, left, ow));
                let cg = c / groups.max(1);
                let taps = kh * kw;
                (0..groups)
                    .map(|gi| {
                        let m: Vec<(f64, f64)> = (0..cg).map(|ci| moments(gi * cg + ci)).collect();
                        let mut h = vec![0.0; k * k];
                        for ta in 0..taps {
                            for tb in 0..taps {
                                let (ya, xa, yb, xb) = (ta / kw, ta % kw, tb / kw, tb % kw);
                                let count = (n * ys[ya * kh + yb] * xs[xa * kw + xb]) as f64;
                                if count == 0.0 {
                                    continue;
                                }
                                for (ca, &(ma, va)) in m.iter().enumerate() {
                                    let row = (ta * cg + ca) * k + tb * cg;
                                    for (cb, &(mb, _)) in m.iter().enumerate() {
                                        let diag = if ta == tb && ca == cb { va } else { 0.0 };
                                        h[row + cb] = count * (ma * mb + diag);
                                    }
                                }
                            }
                        }
                        h
                    })
                    .collect()
            }
        }
    }
}

/// The Gram matrices of every conv and FC layer's input patches expected under data-free
/// statistics (no calibration data): each input tensor's per-channel mean and variance
/// (`moments`, indexed by tensor id, from [`super::data_free::tensor_moments`]), with
/// values independent across channels and positions, so `H = sum E[x x^T]` over the
/// patches ([`Patches::expected`]). The same shape as [`layer_grams`]' result; a layer
/// whose input has no moments gets `None` (rounded to nearest).
pub fn layer_grams_data_free(g: &Graph, moments: &[Option<Moments>]) -> Vec<Option<LayerGram>> {
    g.layers
        .par_iter()
        .map(|l| {
            let (p, _, k) = Patches::of(g, l)?;
            let x = moments.get(l.inputs[0].0)?.as_ref()?;
            let elements = g.tensor(l.inputs[0]).elements() as usize;
            Some(LayerGram { k, groups: p.expected(x, k, elements) })
        })
        .collect()
}

/// Adds `X^T X` of the `rows x k` row-major matrix `x` to `h` (`k x k`): the product in
/// `f32` (one image's patches), the running sum over images in `f64`.
fn add_gram(x: &[f32], rows: usize, k: usize, h: &mut [f64]) {
    if rows == 0 || k == 0 || x.len() < rows * k || h.len() < k * k {
        return;
    }
    let mut g = vec![0f32; k * k];
    // SAFETY: `x` holds rows*k elements read as X^T (k x rows: row stride 1, column stride
    // k) and as X (rows x k: row stride k); `g` holds k*k (checked above).
    unsafe {
        matrixmultiply::sgemm(
            k,
            rows,
            k,
            1.0,
            x.as_ptr(),
            1,
            k as isize,
            x.as_ptr(),
            k as isize,
            1,
            0.0,
            g.as_mut_ptr(),
            k as isize,
            1,
        )
    }
    h.iter_mut().zip(&g).for_each(|(a, &b)| *a += f64::from(b));
}

/// The Gram matrices of every conv and FC layer's input patches over `inputs` (float runs
/// of `g`, in parallel), indexed by layer (`None` for layers without weights).
pub fn layer_grams(g: &Graph, inputs: &[Vec<f32>]) -> Result<Vec<Option<LayerGram>>, ExecError> {
    let shapes: Vec<Option<(Patches, usize, usize)>> = g.layers.iter().map(|l| Patches::of(g, l)).collect();
    let empty = || -> Vec<Option<LayerGram>> {
        shapes.iter().map(|s| s.map(|(_, groups, k)| LayerGram { k, groups: vec![vec![0.0; k * k]; groups] })).collect()
    };
    // Float runs a few inputs at a time in parallel, then each layer adds those inputs'
    // patches in input order (layers in parallel): one running sum per layer, and the same
    // sums for any thread count.
    let mut total = empty();
    let batch = 2 * rayon::current_num_threads().max(1);
    for chunk in inputs.chunks(batch) {
        let runs = chunk.par_iter().map(|x| run_float(g, std::slice::from_ref(x))).collect::<Result<Vec<_>, _>>()?;
        total.par_iter_mut().zip(g.layers.par_iter().zip(&shapes)).for_each(|(gram, (l, s))| {
            if let (Some((p, _, k)), Some(gram)) = (s, gram) {
                for vals in &runs {
                    if let Some(Values::F32(v)) = &vals[l.inputs[0].0] {
                        p.accumulate(v, *k, &mut gram.groups);
                    }
                }
            }
        });
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

/// The arithmetic the learner runs in: `f32` for layers (a blocked GEMM per step), `f64`
/// where a check needs the exact loss (the gradient test).
pub trait Real:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
    + Send
    + Sync
{
    /// The value of `x`.
    fn of(x: f64) -> Self;
    /// As f64.
    fn get(self) -> f64;
    /// `e^self`.
    fn exp(self) -> Self;
    /// `ln self`.
    fn ln(self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// The square root.
    fn sqrt(self) -> Self;
    /// `c = a b` for row-major `a` (`m x k`), `b` (`k x n`), `c` (`m x n`).
    fn gemm(m: usize, k: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]);
}

macro_rules! real {
    ($t:ty, $gemm:path) => {
        impl Real for $t {
            fn of(x: f64) -> Self {
                x as $t
            }
            fn get(self) -> f64 {
                f64::from(self)
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn gemm(m: usize, k: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]) {
                assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm operand sizes");
                if m == 0 || n == 0 {
                    return;
                }
                // SAFETY: the slices hold at least m*k, k*n and m*n elements (checked above),
                // addressed row-major with the strides given.
                unsafe {
                    $gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            }
        }
    };
}
real!(f32, matrixmultiply::sgemm);
real!(f64, matrixmultiply::dgemm);

fn sigmoid<T: Real>(v: T) -> T {
    T::of(1.0) / (T::of(1.0) + (T::of(0.0) - v).exp())
}

/// `h(V)` before clipping, from `sigmoid(V)`.
fn stretch<T: Real>(sg: T) -> T {
    sg * T::of(ZETA - GAMMA) + T::of(GAMMA)
}

fn clip01<T: Real>(x: T) -> T {
    if x < T::of(0.0) {
        T::of(0.0)
    } else if x > T::of(1.0) {
        T::of(1.0)
    } else {
        x
    }
}

/// Channels sharing one Gram matrix, optimized together: each step is one `rows x k` by
/// `k x k` product (blocked, cache-friendly) instead of `rows` matrix-vector products
/// that stream `H` from memory once each.
struct Batch<'a, T> {
    rows: usize,
    k: usize,
    /// `rows x k` float weights.
    w: Vec<T>,
    /// `floor(w / s)`.
    base: Vec<T>,
    h: &'a [T],
    cq: &'a [ChannelQuant],
    /// Per row, `w^T H w`: the reconstruction error is relative to the output energy.
    norm: Vec<T>,
}

/// Scratch of one loss-and-gradient evaluation.
struct Scratch<T> {
    d: Vec<T>,
    /// `sigmoid(V)`.
    sg: Vec<T>,
    hd: Vec<T>,
    clamped: Vec<bool>,
}

impl<'a, T: Real> Batch<'a, T> {
    fn new(w: &[f32], h: &'a [T], cq: &'a [ChannelQuant]) -> Self {
        let rows = cq.len();
        let k = if rows == 0 { 0 } else { w.len() / rows };
        let wt: Vec<T> = w.iter().map(|&x| T::of(f64::from(x))).collect();
        let base = w
            .iter()
            .enumerate()
            .map(|(i, &x)| T::of((f64::from(x) / f64::from(cq[i / k.max(1)].scale)).floor()))
            .collect();
        let mut hw = vec![T::of(0.0); rows * k];
        T::gemm(rows, k, k, &wt, h, &mut hw);
        let norm = (0..rows)
            .map(|r| {
                let n: f64 = (0..k).map(|j| wt[r * k + j].get() * hw[r * k + j].get()).sum();
                T::of(n.max(f64::from(f32::MIN_POSITIVE)))
            })
            .collect();
        Batch { rows, k, w: wt, base, h, cq, norm }
    }

    fn scratch(&self) -> Scratch<T> {
        let n = self.rows * self.k;
        Scratch { d: vec![T::of(0.0); n], sg: vec![T::of(0.0); n], hd: vec![T::of(0.0); n], clamped: vec![false; n] }
    }

    /// Each row's loss at `v` (`rows x k`), and the gradient in `v` into `grad` (the
    /// straight-through path: through the rectified sigmoid where it is not clipped and
    /// the integer where it is not clamped).
    fn loss_grad(&self, v: &[T], beta: Option<f64>, lambda: f64, s: &mut Scratch<T>, grad: &mut [T]) -> Vec<f64> {
        let k = self.k;
        for (r, cq) in self.cq.iter().enumerate() {
            let (sc, z) = (T::of(f64::from(cq.scale)), T::of(f64::from(cq.zero_point)));
            let (lo, hi) = (T::of(f64::from(cq.qmin)), T::of(f64::from(cq.qmax)));
            let row = r * k..(r + 1) * k;
            for (((((d, sg), cl), &vi), &b), &w) in s.d[row.clone()]
                .iter_mut()
                .zip(&mut s.sg[row.clone()])
                .zip(&mut s.clamped[row.clone()])
                .zip(&v[row.clone()])
                .zip(&self.base[row.clone()])
                .zip(&self.w[row])
            {
                *sg = sigmoid(vi);
                let t = b + clip01(stretch(*sg)) + z;
                *cl = t < lo || t > hi;
                let tc = if t < lo {
                    lo
                } else if t > hi {
                    hi
                } else {
                    t
                };
                *d = sc * (tc - z) - w;
            }
        }
        T::gemm(self.rows, k, k, &s.d, self.h, &mut s.hd);
        let mut loss = vec![0f64; self.rows];
        let (zg, two, one, zero) = (T::of(ZETA - GAMMA), T::of(2.0), T::of(1.0), T::of(0.0));
        let reg = beta.map(|beta| (T::of(beta - 1.0), T::of(lambda * beta * 2.0)));
        for (r, cq) in self.cq.iter().enumerate() {
            let norm = self.norm[r];
            let scale = two * T::of(f64::from(cq.scale)) / norm;
            let row = r * k..(r + 1) * k;
            let mut err = zero;
            let mut penalty = 0f64;
            for ((((g, &d), &hd), &sg), &cl) in grad[row.clone()]
                .iter_mut()
                .zip(&s.d[row.clone()])
                .zip(&s.hd[row.clone()])
                .zip(&s.sg[row.clone()])
                .zip(&s.clamped[row])
            {
                err += d * hd;
                let hv = stretch(sg);
                let inside = hv >= zero && hv <= one;
                let mut gh = if cl || !inside { zero } else { hd * scale };
                if let Some((b1, lb2)) = reg {
                    // |u|^(beta-1), u = 2 h - 1.
                    let u = two * clip01(hv) - one;
                    let au = u.abs();
                    let pw = if au > zero { (b1 * au.ln()).exp() } else { zero };
                    penalty += 1.0 - (pw * au).get();
                    if inside {
                        gh = if u < zero { gh + lb2 * pw } else { gh - lb2 * pw };
                    }
                }
                *g = if inside { gh * zg * sg * (one - sg) } else { zero };
            }
            loss[r] = err.get() / norm.get() + lambda * penalty;
        }
        loss
    }

    /// The starting `V`: where `h(V)` is each weight's fractional part (the float weight).
    fn start(&self) -> Vec<T> {
        (0..self.rows * self.k)
            .map(|i| {
                let s = f64::from(self.cq[i / self.k].scale);
                let frac = (self.w[i].get() / s - self.base[i].get()).clamp(1e-4, 1.0 - 1e-4);
                let sg = ((frac - GAMMA) / (ZETA - GAMMA)).clamp(1e-6, 1.0 - 1e-6);
                T::of((sg / (1.0 - sg)).ln())
            })
            .collect()
    }

    /// Adam on `V` with the paper's schedule, then the rounding `h(V) >= 1/2` decides.
    fn learn(&self, opt: &Options) -> Vec<i32> {
        let mut v = self.start();
        let n = v.len();
        let (mut m, mut m2, mut g) = (vec![T::of(0.0); n], vec![T::of(0.0); n], vec![T::of(0.0); n]);
        let mut s = self.scratch();
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let warm = (opt.warmup * opt.iterations as f64) as usize;
        for it in 0..opt.iterations {
            let beta = (it >= warm).then(|| {
                let f = (it - warm) as f64 / (opt.iterations - warm).max(1) as f64;
                20.0 + (2.0 - 20.0) * f
            });
            self.loss_grad(&v, beta, opt.lambda, &mut s, &mut g);
            let t = (it + 1) as i32;
            let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            let (b1t, b2t, a1, a2) = (T::of(b1), T::of(b2), T::of(1.0 - b1), T::of(1.0 - b2));
            let (lr, ic2, epst) = (T::of(opt.learning_rate / c1), T::of(1.0 / c2), T::of(eps));
            for (((vi, mi), m2i), &gi) in v.iter_mut().zip(&mut m).zip(&mut m2).zip(&g) {
                *mi = b1t * *mi + a1 * gi;
                *m2i = b2t * *m2i + a2 * gi * gi;
                *vi = *vi - lr * *mi / ((*m2i * ic2).sqrt() + epst);
            }
        }
        (0..n)
            .map(|i| {
                let cq = &self.cq[i / self.k];
                let up = clip01(stretch(sigmoid(v[i]))).get() >= 0.5;
                ((self.base[i].get() + if up { 1.0 } else { 0.0 } + f64::from(cq.zero_point))
                    .clamp(f64::from(cq.qmin), f64::from(cq.qmax))) as i32
            })
            .collect()
    }
}

/// Output channels optimized together (one GEMM per step): enough that packing `H` for
/// the product costs little beside it, few enough that a layer's channels still make
/// several parallel jobs. A function of the layer's shape only, so results do not depend
/// on the thread count.
pub(crate) fn channels_per_batch(channels: usize) -> usize {
    (channels / 8).clamp(32, 256)
}

/// The learned integers of output channels `w` (row-major, one row of `k` weights per entry
/// of `cq`, the patch order of `h`, a `k x k` Gram matrix) under their quantizers.
pub fn learn_channels<T: Real>(w: &[f32], h: &[T], cq: &[ChannelQuant], opt: &Options) -> Vec<i32> {
    let k = if cq.is_empty() { 0 } else { w.len() / cq.len() };
    let per = channels_per_batch(cq.len());
    w.par_chunks(per * k.max(1))
        .zip(cq.par_chunks(per))
        .flat_map_iter(|(w, cq)| Batch::new(w, h, cq).learn(opt))
        .collect()
}

/// The learned integers of one output channel's weights `w` (the patch order of `h`, a
/// `k x k` Gram matrix) under quantizer `cq`.
pub fn learn_channel<T: Real>(w: &[f32], h: &[T], cq: ChannelQuant, opt: &Options) -> Vec<i32> {
    learn_channels(w, h, &[cq], opt)
}

/// Per row of `q` (`k` integers each, quantizers `cq`), the reconstruction error
/// `d^T H d` against float weights `w`.
pub fn reconstruction_errors(w: &[f32], q: &[i32], h: &[f64], cq: &[ChannelQuant]) -> Vec<f64> {
    let rows = cq.len();
    let k = if rows == 0 { 0 } else { w.len() / rows };
    let d: Vec<f64> = w
        .iter()
        .zip(q)
        .enumerate()
        .map(|(i, (&x, &qi))| {
            let c = &cq[i / k];
            f64::from(c.scale) * f64::from(qi - c.zero_point) - f64::from(x)
        })
        .collect();
    let mut hd = vec![0f64; rows * k];
    f64::gemm(rows, k, k, &d, h, &mut hd);
    (0..rows).map(|r| (r * k..(r + 1) * k).map(|i| d[i] * hd[i]).sum()).collect()
}

/// The reconstruction error `d^T H d` of integers `q` against float weights `w`.
pub fn reconstruction_error(w: &[f32], q: &[i32], h: &[f64], cq: ChannelQuant) -> f64 {
    reconstruction_errors(w, q, h, &[cq])[0]
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
    on_layer: &mut dyn FnMut(&str),
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
        let groups = gram.groups.len();
        if groups == 0 || cout % groups != 0 {
            continue;
        }
        let cout_g = cout / groups;
        let symmetric = qp.zero_points.iter().all(|&z| z == 0);
        let (qmin, qmax) = super::clip::int_range(bits as u8, symmetric);
        let chan = |o: usize| {
            let c = if qp.scales.len() > 1 { o } else { 0 };
            ChannelQuant { scale: qp.scales[c], zero_point: qp.zero_points[c] as i32, qmin, qmax }
        };
        let cqs: Vec<ChannelQuant> = (0..cout).map(chan).collect();
        let h32: Vec<Vec<f32>> = gram.groups.iter().map(|h| h.iter().map(|&x| x as f32).collect()).collect();
        // Jobs: fixed blocks of channels within a group (independent of the thread count).
        let per = channels_per_batch(cout_g);
        let jobs: Vec<(usize, std::ops::Range<usize>)> = (0..groups)
            .flat_map(|gi| {
                let end = (gi + 1) * cout_g;
                (gi * cout_g..end).step_by(per).map(move |s| (gi, s..(s + per).min(end)))
            })
            .collect();
        let new: Vec<i32> = jobs
            .par_iter()
            .flat_map_iter(|(gi, r)| {
                let (ws, olds, cq) = (&w[r.start * k..r.end * k], &old[r.start * k..r.end * k], &cqs[r.clone()]);
                let learned = Batch::new(ws, &h32[*gi], cq).learn(opt);
                // Keep nearest where learning did not reconstruct better (a guard: the
                // regularizer can trade reconstruction for decisiveness).
                let e_old = reconstruction_errors(ws, olds, &gram.groups[*gi], cq);
                let e_new = reconstruction_errors(ws, &learned, &gram.groups[*gi], cq);
                let pick: Vec<i32> = (0..r.len())
                    .flat_map(|c| {
                        let src = if e_old[c] < e_new[c] { olds } else { &learned[..] };
                        src[c * k..(c + 1) * k].to_vec()
                    })
                    .collect();
                pick
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
        on_layer(&l.name);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    const CQ: ChannelQuant = ChannelQuant { scale: 1.0, zero_point: 0, qmin: -8, qmax: 7 };

    /// The data-free Gram matrix is the expectation of the empirical one: sum the patches'
    /// `x x^T` over many inputs drawn independently with the given per-channel moments
    /// (Gaussian, by Box-Muller) and compare with [`Patches::expected`], on a strided,
    /// padded, grouped conv (corner taps see fewer positions) and on FC rows.
    #[test]
    fn data_free_gram_is_the_expectation_of_the_empirical_one() {
        use crate::quant::synthetic::SplitMix64;
        let conv = Patches::Conv {
            n: 1,
            ih: 5,
            iw: 4,
            c: 4,
            kh: 3,
            kw: 3,
            sh: 2,
            sw: 1,
            dh: 1,
            dw: 1,
            top: 1,
            left: 1,
            oh: 3,
            ow: 4,
            groups: 2,
        };
        let fc = Patches::Rows { features: 3 };
        let cases = [
            (conv, 3 * 3 * 2, 5 * 4 * 4, Moments { mean: vec![0.5, -1.0, 2.0, 0.0], var: vec![1.0, 0.25, 4.0, 2.0] }),
            (fc, 3, 2 * 3, Moments { mean: vec![1.0, -0.5, 0.0], var: vec![0.5, 1.0, 3.0] }),
        ];
        for (p, k, elems, m) in cases {
            let expected = p.expected(&m, k, elems);
            let mut rng = SplitMix64(7);
            let draws = 20_000;
            let mut h = vec![vec![0.0; k * k]; expected.len()];
            let channels = m.mean.len();
            for _ in 0..draws {
                let v: Vec<f32> = (0..elems)
                    .map(|i| (m.mean[i % channels] + m.var[i % channels].sqrt() * rng.normal()) as f32)
                    .collect();
                p.accumulate(&v, k, &mut h);
            }
            for (e, h) in expected.iter().zip(&h) {
                let norm = e.iter().map(|x| x * x).sum::<f64>().sqrt();
                let diff = e.iter().zip(h).map(|(e, h)| (e - h / draws as f64).powi(2)).sum::<f64>().sqrt();
                assert!(diff < 0.02 * norm, "relative difference {} of {norm}", diff / norm);
            }
        }
        // A padded corner tap sees fewer positions than the centre one.
        let e = conv.expected(&Moments { mean: vec![0.0; 4], var: vec![1.0; 4] }, 18, 80);
        let centre = (4 * 2) * 18 + 4 * 2;
        assert!(e[0][0] < e[0][centre], "{} {}", e[0][0], e[0][centre]);
    }

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
        let w = [0.3f32, -1.7, 2.2, 0.9, 1.4, -0.6, 0.05, -2.3];
        let h = [2.0, 0.5, 0.1, 0.0, 0.5, 1.0, 0.3, 0.2, 0.1, 0.3, 1.5, 0.4, 0.0, 0.2, 0.4, 1.2];
        // Two channels in one batch: each row's loss depends on its own V only.
        let cq = [CQ, ChannelQuant { scale: 0.5, ..CQ }];
        let b = Batch::<f64>::new(&w, &h, &cq);
        let mut s = b.scratch();
        let v = [0.4, -0.3, 0.9, -1.1, 0.2, 1.3, -0.7, 0.6];
        let mut g = [0f64; 8];
        let mut scratch_g = [0f64; 8];
        for beta in [None, Some(12.0), Some(2.5)] {
            b.loss_grad(&v, beta, 0.01, &mut s, &mut g);
            for i in 0..8 {
                let (mut p, mut m) = (v, v);
                p[i] += 1e-6;
                m[i] -= 1e-6;
                let lp = b.loss_grad(&p, beta, 0.01, &mut s, &mut scratch_g)[i / 4];
                let lm = b.loss_grad(&m, beta, 0.01, &mut s, &mut scratch_g)[i / 4];
                let fd = (lp - lm) / 2e-6;
                assert!((fd - g[i]).abs() < 1e-5 * (1.0 + g[i].abs()), "beta {beta:?}, {i}: {fd} vs {}", g[i]);
            }
        }
    }

    /// The f32 batch (the path layers take) learns what the f64 one learns, channel by
    /// channel, and a batch of channels learns what each channel learns alone.
    #[test]
    fn batched_f32_learning_agrees_with_single_f64_channels() {
        let k = 24;
        let rows = 5;
        let w: Vec<f32> = (0..rows * k).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.37).collect();
        let h64: Vec<f64> = (0..k * k).map(|i| 1.0 / (1.0 + ((i / k) as f64 - (i % k) as f64).abs())).collect();
        let h32: Vec<f32> = h64.iter().map(|&x| x as f32).collect();
        let cq = vec![CQ; rows];
        let opt = Options { iterations: 300, ..Options::default() };
        let batched = learn_channels(&w, &h32, &cq, &opt);
        let single: Vec<i32> = w.chunks(k).flat_map(|c| learn_channel(c, &h64, CQ, &opt)).collect();
        let differ = batched.iter().zip(&single).filter(|(a, b)| a != b).count();
        assert!(differ <= 2, "{differ} of {} decisions differ", rows * k);
        let e32: f64 = reconstruction_errors(&w, &batched, &h64, &cq).iter().sum();
        let e64: f64 = reconstruction_errors(&w, &single, &h64, &cq).iter().sum();
        assert!((e32 - e64).abs() <= 0.05 * e64.max(1e-9), "{e32} vs {e64}");
    }

    /// `X^T X` by the blocked product equals the sum of the rows' outer products.
    #[test]
    fn gram_by_product_equals_outer_products() {
        let (rows, k) = (7, 5);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 13 % 11) as f32 - 5.0) * 0.25).collect();
        let mut h = vec![0f64; k * k];
        add_gram(&x, rows, k, &mut h);
        for i in 0..k {
            for j in 0..k {
                let e: f64 = (0..rows).map(|r| f64::from(x[r * k + i]) * f64::from(x[r * k + j])).sum();
                assert!((h[i * k + j] - e).abs() < 1e-5, "{i},{j}: {} vs {e}", h[i * k + j]);
            }
        }
    }
}
