//! The uniform affine quantizer generalized to 2-16 bits and the choice of its clipping
//! range: min/max, percentile and MSE-optimal thresholds, per tensor or per output channel.
//!
//! The scheme is TFLite's / gemmlowp's (Jacob et al., CVPR 2018; Krishnamoorthi,
//! arXiv:1806.08342): `q = clamp(round(x / scale) + zero_point, qmin, qmax)`. Symmetric
//! quantizers use the narrow range `[-(2^(b-1) - 1), 2^(b-1) - 1]` with zero point 0 (TFLite's
//! int8 weights); asymmetric ones use `[-2^(b-1), 2^(b-1) - 1]` with a zero point that makes
//! 0.0 exactly representable. Rounding is round-half-away-from-zero (`f32::round`), the same as
//! the executor's QUANTIZE kernel.
//!
//! Thresholds matter most at low widths (Goncharenko et al., "Fast Adjustable Threshold",
//! arXiv:1812.07872): [`ClipMethod::Percentile`] drops rare outliers and [`ClipMethod::Mse`]
//! searches the threshold that minimizes the mean squared error of quantize-dequantize
//! (clipping error + rounding error), as in Banner et al. (ACIQ) and Migacz (TensorRT, 2017).

/// How a clipping range is chosen from observed values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClipMethod {
    /// The full observed range.
    MinMax,
    /// The given percentile (e.g. 99.99) of the values (and `100 - p` for the low end).
    Percentile(f64),
    /// The range, a fraction of the full one, that minimizes the quantization MSE.
    Mse,
}

/// Integer range of a `bits`-wide quantizer.
pub fn int_range(bits: u8, symmetric: bool) -> (i32, i32) {
    let half = 1i64 << (bits.clamp(2, 31) - 1);
    let max = (half - 1) as i32;
    if symmetric {
        (-max, max)
    } else {
        (-(half as i32), max)
    }
}

/// Affine parameters `(scale, zero_point)` for the real range `[lo, hi]` (widened to contain
/// 0). Symmetric: `scale = max(|lo|, |hi|) / qmax`, zero point 0.
pub fn affine_params(lo: f32, hi: f32, bits: u8, symmetric: bool) -> (f32, i32) {
    let (qmin, qmax) = int_range(bits, symmetric);
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if symmetric {
        let m = lo.abs().max(hi);
        let s = if m > 0.0 { m / qmax as f32 } else { 1.0 };
        return (s, 0);
    }
    if hi - lo <= 0.0 {
        return (1.0, 0);
    }
    let s = (hi - lo) / (qmax - qmin) as f32;
    let zp = (qmin as f32 - lo / s).round().clamp(qmin as f32, qmax as f32) as i32;
    (s, zp)
}

/// Quantizes one value.
#[inline]
pub fn quantize(x: f32, scale: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
    ((x / scale).round() as i32).saturating_add(zp).clamp(qmin, qmax)
}

/// Quantize-dequantize of one value.
#[inline]
pub fn fake_quant(x: f32, scale: f32, zp: i32, qmin: i32, qmax: i32) -> f32 {
    scale * (quantize(x, scale, zp, qmin, qmax) - zp) as f32
}

/// Sum of squared quantize-dequantize errors of `values` in the range `[lo, hi]`, given up
/// past `bound` ([`super::sse::bounded_sse`]).
fn sse(values: &[f32], lo: f32, hi: f32, bits: u8, symmetric: bool, bound: f64) -> f64 {
    let (s, z) = affine_params(lo, hi, bits, symmetric);
    let (qmin, qmax) = int_range(bits, symmetric);
    super::sse::bounded_sse(values, s, z, qmin, qmax, bound)
}

/// Value at percentile `p` (0-100) of `values` (nearest rank; `values` is reordered).
fn percentile(values: &mut [f32], p: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    let k = k.min(values.len() - 1);
    *values.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
}

/// The clipping range of `values` (whose exact extremes are `min`, `max`; `values` may be a
/// subsample) for a `bits`-wide quantizer.
pub fn choose_range(values: &[f32], min: f32, max: f32, bits: u8, symmetric: bool, method: ClipMethod) -> (f32, f32) {
    let (min, max) = (min.min(0.0), max.max(0.0));
    if values.is_empty() {
        return (min, max);
    }
    match method {
        ClipMethod::MinMax => (min, max),
        ClipMethod::Percentile(p) => {
            if symmetric {
                let mut a: Vec<f32> = values.iter().map(|v| v.abs()).collect();
                let m = percentile(&mut a, p);
                (-m, m)
            } else {
                let mut a = values.to_vec();
                let hi = percentile(&mut a, p);
                let lo = percentile(&mut a, 100.0 - p);
                (lo.min(0.0), hi.max(0.0))
            }
        }
        ClipMethod::Mse => {
            // Shrink the range by a common factor; 100 candidates from 1.0 down to 0.05.
            let mut best = (f64::INFINITY, min, max);
            for i in 0..100 {
                let k = 1.0 - i as f32 * 0.0095;
                let (lo, hi) = (min * k, max * k);
                // A candidate whose partial sum passes the best so far cannot beat it.
                let e = sse(values, lo, hi, bits, symmetric, best.0);
                if e < best.0 {
                    best = (e, lo, hi);
                }
            }
            (best.1, best.2)
        }
    }
}

/// Weights quantized per output channel (axis 0 of OHWI / `[out, in]`) or per tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedWeights {
    /// Integer values, same layout as the float weights.
    pub q: Vec<i32>,
    /// One scale per channel (or one).
    pub scales: Vec<f32>,
    /// Zero points, as many as scales.
    pub zero_points: Vec<i32>,
}

impl QuantizedWeights {
    /// The dequantized weights.
    pub fn dequantized(&self, channels: usize) -> Vec<f32> {
        let per = self.q.len() / channels.max(1);
        self.q
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = if self.scales.len() > 1 { i / per.max(1) } else { 0 };
                self.scales[c] * (v - self.zero_points[c]) as f32
            })
            .collect()
    }
}

/// Quantizes weights with `channels` output channels (the outermost axis).
pub fn quantize_weights(
    w: &[f32],
    channels: usize,
    bits: u8,
    per_channel: bool,
    symmetric: bool,
    method: ClipMethod,
) -> QuantizedWeights {
    let (qmin, qmax) = int_range(bits, symmetric);
    let groups: Vec<&[f32]> =
        if per_channel { w.chunks((w.len() / channels.max(1)).max(1)).collect() } else { vec![w] };
    let mut out = QuantizedWeights { q: Vec::with_capacity(w.len()), scales: Vec::new(), zero_points: Vec::new() };
    for g in groups {
        let min = g.iter().copied().fold(0f32, f32::min);
        let max = g.iter().copied().fold(0f32, f32::max);
        let (lo, hi) = choose_range(g, min, max, bits, symmetric, method);
        let (s, z) = affine_params(lo, hi, bits, symmetric);
        out.q.extend(g.iter().map(|&v| quantize(v, s, z, qmin, qmax)));
        out.scales.push(s);
        out.zero_points.push(z);
    }
    out
}

/// The nearest IEEE half-precision value (ties to even) of a positive scale, as an f32:
/// group-wise weight scales are stored as fp16 ([`crate::quant::GROUP_SCALE_BITS`]).
/// Clamped to fp16's positive range (the smallest subnormal 2^-24 up to 65504), so a scale
/// stays usable.
pub fn to_fp16(x: f32) -> f32 {
    let (lo, hi) = (2f64.powi(-24), 65504.0);
    let x = f64::from(x).clamp(lo, hi);
    let (_, e) = fp16_parts(x as f32);
    let quantum = 2f64.powi(e);
    ((x / quantum).round_ties_even() * quantum).clamp(lo, hi) as f32
}

/// A positive value in fp16's range as `m * 2^e`: `e` the exponent of one unit in the last
/// place of an fp16 number of that size (`exponent - 10`, at least -24 for subnormals) and
/// `m = x / 2^e` (an integer below 2048 when `x` is an fp16 value).
pub fn fp16_parts(x: f32) -> (f64, i32) {
    let x = f64::from(x);
    let exponent = ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let e = exponent.max(-14) - 10;
    (x / 2f64.powi(e), e)
}

/// The smallest exponent `E` of a set of fp16 group scales written `m * 2^e` with integer
/// `m` ([`fp16_parts`]): the bias and the requantization of a group-wise output are at
/// `input scale x 2^E`.
pub fn group_exponent(scales: &[f32]) -> i32 {
    scales.iter().map(|&s| fp16_parts(s).1).min().unwrap_or(0)
}

/// fp16 scales `m * 2^e` as the integers `m * 2^(e - E)` over their smallest exponent `E`
/// ([`group_exponent`]), and `E`: how the group-wise integer kernels (`kernels::fc::FcGroups`,
/// `kernels::kv_cache`) combine exact group sums through the scales.
pub fn group_integers(scales: &[f32]) -> (Vec<i64>, i32) {
    let e_min = group_exponent(scales);
    let ints = scales
        .iter()
        .map(|&s| {
            let (m, e) = fp16_parts(s);
            (m as i64) << (e - e_min)
        })
        .collect();
    (ints, e_min)
}

/// Quantizes weights `[channels, reduction]` (the outermost axis by the rest) in groups of
/// `group` consecutive weights along the reduction (a ragged last group is a group): one
/// range per group by `method`, its scale rounded to fp16 ([`to_fp16`]) and the zero point
/// (asymmetric) recomputed for the rounded scale. Scales and zero points are stored channel
/// by channel, `[c * groups + j]`.
pub fn quantize_weight_groups(
    w: &[f32],
    channels: usize,
    group: usize,
    bits: u8,
    symmetric: bool,
    method: ClipMethod,
) -> QuantizedWeights {
    let (qmin, qmax) = int_range(bits, symmetric);
    let per = w.len() / channels.max(1);
    let mut out = QuantizedWeights { q: Vec::with_capacity(w.len()), scales: Vec::new(), zero_points: Vec::new() };
    for row in w.chunks(per.max(1)) {
        for g in row.chunks(group.max(1)) {
            let min = g.iter().copied().fold(0f32, f32::min);
            let max = g.iter().copied().fold(0f32, f32::max);
            let (lo, hi) = choose_range(g, min, max, bits, symmetric, method);
            let (s, z) = affine_params(lo, hi, bits, symmetric);
            let s = to_fp16(s);
            let z = if symmetric {
                z
            } else {
                (qmin as f32 - lo.min(0.0) / s).round().clamp(qmin as f32, qmax as f32) as i32
            };
            out.q.extend(g.iter().map(|&v| quantize(v, s, z, qmin, qmax)));
            out.scales.push(s);
            out.zero_points.push(z);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fp16 rounding: exact values stay, ties go to even, the range is clamped, and
    /// `fp16_parts` gives integer significands below 2048.
    #[test]
    fn scales_round_to_fp16() {
        for v in [1.0f32, 0.5, 1.0009765625, 65504.0, 2f32.powi(-24), 2f32.powi(-14), 0.0999755859375] {
            assert_eq!(to_fp16(v), v, "{v} is an fp16 value");
        }
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: to even (1).
        assert_eq!(to_fp16(1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(to_fp16(1.0 + 3.0 * 2f32.powi(-11)), 1.0 + 2.0 * 2f32.powi(-10));
        assert_eq!(to_fp16(0.1), 0.0999755859375);
        assert_eq!(to_fp16(1e9), 65504.0);
        assert_eq!(to_fp16(1e-12), 2f32.powi(-24));
        for v in [0.1f32, 3.3, 1e-6, 2e-8, 60000.0] {
            let (m, e) = fp16_parts(to_fp16(v));
            assert!(m.fract() == 0.0 && m < 2048.0 && m >= 1.0, "{v}: {m} x 2^{e}");
            assert_eq!((m * 2f64.powi(e)) as f32, to_fp16(v));
        }
    }

    #[test]
    fn ranges_and_params() {
        assert_eq!(int_range(8, true), (-127, 127));
        assert_eq!(int_range(2, true), (-1, 1));
        assert_eq!(int_range(4, false), (-8, 7));
        let (s, z) = affine_params(0.0, 6.0, 8, false);
        assert!((s - 6.0 / 255.0).abs() < 1e-7);
        assert_eq!(z, -128);
        assert_eq!(fake_quant(0.0, s, z, -128, 127), 0.0);
    }

    /// Giving up at the bound changes no choice: the search picks what exhaustive sums pick,
    /// and a sum below its bound is the whole sum bit for bit.
    #[test]
    fn the_bounded_sum_is_the_whole_sum_below_its_bound() {
        let v: Vec<f32> = (0..10_000).map(|i| ((i as f32 * 0.7311).sin() * 3.0).powi(3)).collect();
        let (min, max) = (v.iter().copied().fold(0f32, f32::min), v.iter().copied().fold(0f32, f32::max));
        for bits in [2, 3, 4, 8] {
            for symmetric in [true, false] {
                let whole = |k: f32| {
                    let (s, z) = affine_params(min * k, max * k, bits, symmetric);
                    let (qmin, qmax) = int_range(bits, symmetric);
                    crate::quant::sse::bounded_sse(&v, s, z, qmin, qmax, f64::INFINITY)
                };
                let mut best = (f64::INFINITY, 0);
                for i in 0..100 {
                    let e = whole(1.0 - i as f32 * 0.0095);
                    if e < best.0 {
                        best = (e, i);
                    }
                }
                let k = 1.0 - best.1 as f32 * 0.0095;
                let chosen = choose_range(&v, min, max, bits, symmetric, ClipMethod::Mse);
                assert_eq!(chosen, (min.min(0.0) * k, max.max(0.0) * k), "bits {bits} symmetric {symmetric}");
                assert!(sse(&v, min, max, bits, symmetric, 0.0) < whole(1.0), "gives up after the first chunk");
            }
        }
    }

    #[test]
    fn mse_and_percentile_clip_outliers() {
        let mut v: Vec<f32> = (0..10000).map(|i| (i as f32 / 10000.0) - 0.5).collect();
        v.push(20.0);
        let (_, hi_mm) = choose_range(&v, -0.5, 20.0, 4, true, ClipMethod::MinMax);
        let (_, hi_p) = choose_range(&v, -0.5, 20.0, 4, true, ClipMethod::Percentile(99.0));
        let (_, hi_mse) = choose_range(&v, -0.5, 20.0, 4, true, ClipMethod::Mse);
        assert_eq!(hi_mm, 20.0);
        assert!(hi_p < 1.0 && hi_mse < hi_mm);
        let e = |h: f32| sse(&v, -h, h, 4, true, f64::INFINITY);
        assert!(e(hi_mse) <= e(hi_mm));
    }

    #[test]
    fn per_channel_weights_have_one_scale_per_channel() {
        let w = [1.0, -0.5, 0.011, 0.02];
        let q = quantize_weights(&w, 2, 8, true, true, ClipMethod::MinMax);
        assert_eq!(q.scales.len(), 2);
        assert_eq!(q.q, vec![127, -64, 70, 127]);
        let d = q.dequantized(2);
        assert!((d[3] - 0.02).abs() < 1e-6);
    }
}
