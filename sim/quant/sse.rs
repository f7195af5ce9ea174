//! The MSE threshold search's inner sum: the squared quantize-dequantize error of a set of
//! values under one candidate range, given up once it passes a bound.
//!
//! The sum is defined lane by lane so that it can run as wide as the CPU allows and still be
//! one number on every CPU: value `i` of each [`CHUNK`] adds (in f64, in order) to lane
//! `i % LANES`, and the lanes are added by a fixed halving tree ([`lane_total`]). The portable
//! code is that definition; the AVX-512 and AVX2 builds of the same code (chosen at run time)
//! vectorize across the lanes, which are independent, so the additions and their rounding
//! are the same. Summed as one chain, each value waited for the last addition (four cycles);
//! with the lanes the search is 5.7x faster, from 39% of a MobileNet-v1 `quantize --method
//! mse` run to 12% (`docs/exec_speed.md`).
//!
//! Each term is the one [`super::clip::fake_quant`] gives: with `r = round(x / s)` (half away
//! from zero), `q - zp = clamp(r + zp, qmin, qmax) - zp = clamp(r, qmin - zp, qmax - zp)`, so
//! the dequantized value is `s * clamp(r, qmin - zp, qmax - zp)` with the clamp in f32,
//! exact while the bounds are below 2^24 (quantizers of up to 24 bits). Wider quantizers use
//! `fake_quant` itself.

use super::clip::fake_quant;

/// Lanes of the sum.
pub const LANES: usize = 16;

/// Values between checks of the bound (a multiple of [`LANES`], so the lanes, and the sum,
/// do not depend on it). A pointwise layer's channel has a few hundred weights, so a long
/// chunk would rarely be given up. MobileNet-v1 w4a8 `--method mse`, samples of the search
/// against the float convolution, medians of five runs: 32 -> 0.24, 64 -> 0.20, 256 -> 0.33.
pub const CHUNK: usize = 64;

/// The integer bounds of `q - zp` as exact f32, when the quantizer is narrow enough.
fn float_bounds(z: i32, qmin: i32, qmax: i32) -> Option<(f32, f32)> {
    let (lo, hi) = (i64::from(qmin) - i64::from(z), i64::from(qmax) - i64::from(z));
    const EXACT: i64 = 1 << 24;
    (lo.abs() <= EXACT && hi.abs() <= EXACT).then_some((lo as f32, hi as f32))
}

/// Sum of `(x - fake_quant(x))^2` over `values` for scale `s`, zero point `z` and integer
/// range `[qmin, qmax]`, lane by lane (module doc). Stops after the first chunk whose lanes
/// add to more than `bound` and returns that partial total, which is above `bound`; the
/// whole sum would be too (every term is non-negative and rounding is monotone). Below the
/// bound the result is the whole sum.
pub fn bounded_sse(values: &[f32], s: f32, z: i32, qmin: i32, qmax: i32, bound: f64) -> f64 {
    let Some((lo, hi)) = float_bounds(z, qmin, qmax) else {
        return lanes(values, bound, |x| fake_quant(x, s, z, qmin, qmax));
    };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512 F (checked above).
            return unsafe { clamped_avx512(values, s, lo, hi, bound) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            return unsafe { clamped_avx2(values, s, lo, hi, bound) };
        }
    }
    clamped(values, s, lo, hi, bound)
}

#[inline(always)]
fn clamped(values: &[f32], s: f32, lo: f32, hi: f32, bound: f64) -> f64 {
    lanes(values, bound, |x| s * (x / s).round().clamp(lo, hi))
}

/// [`clamped`] with AVX-512: sixteen values per step, their f64 terms in two vectors of
/// eight lanes (lanes 0-7 and 8-15), which the bound check and the end add as
/// [`lane_total`] does. A tail is loaded with zeros past its end, which add +0.0 (zero is
/// representable: `lo <= 0 <= hi`), leaving the lanes as they were.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn clamped_avx512(values: &[f32], s: f32, lo: f32, hi: f32, bound: f64) -> f64 {
    use std::arch::x86_64::*;
    let (vs, vlo, vhi) = (_mm512_set1_ps(s), _mm512_set1_ps(lo), _mm512_set1_ps(hi));
    let half = _mm512_set1_ps(0.5);
    let one = _mm512_set1_ps(1.0);
    let sign = _mm512_set1_ps(-0.0);
    let (mut a0, mut a1) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let total = |a0: __m512d, a1: __m512d| {
        let v8 = _mm512_add_pd(a0, a1);
        let v4 = _mm256_add_pd(_mm512_castpd512_pd256(v8), _mm512_extractf64x4_pd::<1>(v8));
        let v2 = _mm_add_pd(_mm256_castpd256_pd128(v4), _mm256_extractf128_pd::<1>(v4));
        _mm_cvtsd_f64(_mm_add_sd(v2, _mm_unpackhi_pd(v2, v2)))
    };
    for chunk in values.chunks(CHUNK) {
        for b in chunk.chunks(LANES) {
            let mask: __mmask16 = if b.len() == LANES { !0 } else { (1u16 << b.len()) - 1 };
            // SAFETY: the mask covers only `b`'s elements.
            let x = _mm512_maskz_loadu_ps(mask, b.as_ptr());
            let q = _mm512_div_ps(x, vs);
            // Half away from zero: the truncation, plus one away from zero where the
            // fraction (exact) is at least a half.
            let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(q);
            let frac = _mm512_sub_ps(q, t);
            let up = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_andnot_ps(sign, frac), half);
            let step = _mm512_or_ps(_mm512_and_ps(q, sign), one);
            let r = _mm512_mask_add_ps(t, up, t, step);
            // f32::clamp: a NaN stays (MAXPS / MINPS return their second operand then).
            let r = _mm512_min_ps(vhi, _mm512_max_ps(vlo, r));
            let d = _mm512_sub_ps(x, _mm512_mul_ps(vs, r));
            let d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(d));
            let d1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(d))));
            a0 = _mm512_add_pd(a0, _mm512_mul_pd(d0, d0));
            a1 = _mm512_add_pd(a1, _mm512_mul_pd(d1, d1));
        }
        let t = total(a0, a1);
        if t > bound {
            return t;
        }
    }
    total(a0, a1)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn clamped_avx2(values: &[f32], s: f32, lo: f32, hi: f32, bound: f64) -> f64 {
    clamped(values, s, lo, hi, bound)
}

/// The lane sum of `(x - dequantized(x))^2`, given up past `bound`.
#[inline(always)]
fn lanes(values: &[f32], bound: f64, dequantized: impl Fn(f32) -> f32) -> f64 {
    let term = |x: f32| {
        let d = f64::from(x - dequantized(x));
        d * d
    };
    let mut acc = [0f64; LANES];
    for chunk in values.chunks(CHUNK) {
        let mut blocks = chunk.chunks_exact(LANES);
        for b in &mut blocks {
            for (a, &x) in acc.iter_mut().zip(b) {
                *a += term(x);
            }
        }
        for (a, &x) in acc.iter_mut().zip(blocks.remainder()) {
            *a += term(x);
        }
        let t = lane_total(&acc);
        if t > bound {
            return t;
        }
    }
    lane_total(&acc)
}

/// The lanes added by halving: lane `j` and `j + n/2` first, down to one.
#[inline(always)]
pub fn lane_total(acc: &[f64; LANES]) -> f64 {
    let mut a = *acc;
    let mut n = LANES;
    while n > 1 {
        n /= 2;
        for j in 0..n {
            a[j] += a[j + n];
        }
    }
    a[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::clip::{affine_params, int_range};

    /// The definition written out: one term per value with `fake_quant`, lanes, halving tree.
    fn reference(values: &[f32], s: f32, z: i32, qmin: i32, qmax: i32) -> f64 {
        let mut acc = [0f64; LANES];
        for (i, &x) in values.iter().enumerate() {
            let d = (x - fake_quant(x, s, z, qmin, qmax)) as f64;
            acc[i % CHUNK % LANES] += d * d;
        }
        lane_total(&acc)
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = (i as f32 * 0.7311 + seed as f32 * 1.37).sin() * 3.0;
                // Exact halves and zeros, where rounding and the clamp have their edges.
                if i % 7 == 0 {
                    0.0
                } else if i % 7 == 1 {
                    (t * 4.0).round() / 4.0 + 0.5
                } else {
                    t.powi(3)
                }
            })
            .collect()
    }

    /// Every build (the CPU's and the portable one) gives the definition's number bit for
    /// bit, at every width, scheme and length (tails included).
    #[test]
    fn every_build_is_the_definition() {
        for n in [0, 1, 15, 16, 17, 63, 64, 65, 1000, 4099] {
            let v = values(n, n as u32);
            let (min, max) = (v.iter().copied().fold(0f32, f32::min), v.iter().copied().fold(0f32, f32::max));
            for bits in [2, 3, 4, 8, 16, 24, 31] {
                for symmetric in [true, false] {
                    for k in [1.0f32, 0.7, 0.13] {
                        let (s, z) = affine_params(min * k, max * k, bits, symmetric);
                        let (qmin, qmax) = int_range(bits, symmetric);
                        // Quotients at exact halves, where rounding away from zero shows.
                        let mut v = v.clone();
                        v.extend((-20..20).map(|j| (j as f32 + 0.5) * s).take(n));
                        let want = reference(&v, s, z, qmin, qmax);
                        let got = bounded_sse(&v, s, z, qmin, qmax, f64::INFINITY);
                        assert_eq!(got.to_bits(), want.to_bits(), "n {n} bits {bits} sym {symmetric} k {k}");
                        if let Some((lo, hi)) = float_bounds(z, qmin, qmax) {
                            let portable = clamped(&v, s, lo, hi, f64::INFINITY);
                            assert_eq!(portable.to_bits(), want.to_bits(), "portable, n {n} bits {bits}");
                            #[cfg(target_arch = "x86_64")]
                            if std::arch::is_x86_feature_detected!("avx2") {
                                // SAFETY: the CPU supports AVX2 (checked above).
                                let avx2 = unsafe { clamped_avx2(&v, s, lo, hi, f64::INFINITY) };
                                assert_eq!(avx2.to_bits(), want.to_bits(), "AVX2, n {n} bits {bits}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// The float-domain clamp is `fake_quant`, term by term, including values far outside
    /// the range, infinities and values whose quotient does not fit an i32.
    #[test]
    fn clamped_terms_are_fake_quant() {
        let odd = [0.0f32, -0.0, 0.5, -0.5, 1.5, -2.5, 1e30, -1e30, f32::INFINITY, f32::NEG_INFINITY, 3e9, 1e-30];
        for bits in [2, 4, 8, 16, 24] {
            for symmetric in [true, false] {
                for (lo, hi) in [(-1.0f32, 1.0), (0.0, 6.0), (-0.3, 7.1), (-5e-3, 2e-3)] {
                    let (s, z) = affine_params(lo, hi, bits, symmetric);
                    let (qmin, qmax) = int_range(bits, symmetric);
                    let (flo, fhi) = float_bounds(z, qmin, qmax).expect("narrow");
                    for &x in odd.iter().chain(&values(200, bits as u32)) {
                        // (A zero may come out as -0.0 on one side: the term is the same.)
                        let term = |d: f32| f64::from(x - d) * f64::from(x - d);
                        let want = term(fake_quant(x, s, z, qmin, qmax));
                        let got = term(s * (x / s).round().clamp(flo, fhi));
                        assert_eq!(got.to_bits(), want.to_bits(), "x {x} bits {bits} sym {symmetric}");
                    }
                }
            }
        }
    }

    /// Giving up: past the bound the result exceeds it, after at most one chunk more than
    /// needed; below it the whole sum comes back.
    #[test]
    fn the_bound_gives_up_early_and_only_above_it() {
        let v = values(10_000, 3);
        let (s, z) = affine_params(-0.1, 0.1, 4, false);
        let (qmin, qmax) = int_range(4, false);
        let whole = bounded_sse(&v, s, z, qmin, qmax, f64::INFINITY);
        assert_eq!(bounded_sse(&v, s, z, qmin, qmax, whole).to_bits(), whole.to_bits());
        let partial = bounded_sse(&v, s, z, qmin, qmax, whole / 1000.0);
        assert!(partial > whole / 1000.0 && partial < whole / 10.0, "{partial} of {whole}");
    }
}
