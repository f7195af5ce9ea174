//! Element-wise integer ops: quantized ADD (LiteRT's reference `add.h` general path with
//! its 20-bit left shift), QUANTIZE / requantize, DEQUANTIZE, and the clamp range of a
//! fused activation.

use super::conv::Isa;
use super::elem::Elem;
#[cfg(target_arch = "x86_64")]
use super::fixedpoint::OneStep;
use super::fixedpoint::{multiply_by_quantized_multiplier, requantize, Arithmetic, QuantMultiplier, Requant};
use crate::ir::Activation;

/// The integer clamp range of a fused activation on an output with the given quantization
/// and integer range (TFLite's `CalculateActivationRangeQuantized`).
pub fn activation_range(act: Activation, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> (i32, i32) {
    let q = |f: f32| zero_point.saturating_add((f / scale).round() as i32);
    match act {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(q(0.0)), qmax),
        Activation::Relu6 => (qmin.max(q(0.0)), qmax.min(q(6.0))),
        Activation::ReluN1To1 => (qmin.max(q(-1.0)), qmax.min(q(1.0))),
    }
}

/// Parameters of a quantized ADD, resolved from the three tensors' quantization.
#[derive(Debug, Clone)]
pub struct AddParams {
    /// Zero point of input 1.
    pub zp1: i32,
    /// Zero point of input 2.
    pub zp2: i32,
    /// Output zero point.
    pub zp_out: i32,
    /// Left shift applied to both inputs (20 for 8-bit outputs, 15 for 16-bit).
    pub left_shift: i32,
    /// Input 1 rescale.
    pub m1: QuantMultiplier,
    /// Input 2 rescale.
    pub m2: QuantMultiplier,
    /// Output rescale.
    pub m_out: QuantMultiplier,
    /// Output clamp (lower).
    pub act_min: i32,
    /// Output clamp (upper).
    pub act_max: i32,
}

impl AddParams {
    /// LiteRT's `Prepare` for the general quantized path.
    #[allow(clippy::too_many_arguments)]
    pub fn new(s1: f32, zp1: i32, s2: f32, zp2: i32, so: f32, zpo: i32, out_bits: u32, act: (i32, i32)) -> Self {
        let left_shift = if out_bits > 8 { 15 } else { 20 };
        let twice_max = 2.0 * s1.max(s2) as f64;
        let m1 = QuantMultiplier::from_real(s1 as f64 / twice_max);
        let m2 = QuantMultiplier::from_real(s2 as f64 / twice_max);
        let m_out = QuantMultiplier::from_real(twice_max / ((1i64 << left_shift) as f64 * so as f64));
        Self { zp1, zp2, zp_out: zpo, left_shift, m1, m2, m_out, act_min: act.0, act_max: act.1 }
    }
}

/// Quantized element-wise addition of two tensors of equal shape.
pub fn add(p: &AddParams, a: &[i32], b: &[i32], arith: &Arithmetic) -> Vec<i32> {
    add_or_sub(p, a, b, arith, false)
}

/// Quantized element-wise subtraction (LiteRT's `SubElementwise`: ADD's arithmetic with
/// the rescaled second operand subtracted).
pub fn sub(p: &AddParams, a: &[i32], b: &[i32], arith: &Arithmetic) -> Vec<i32> {
    add_or_sub(p, a, b, arith, true)
}

fn add_or_sub(p: &AddParams, a: &[i32], b: &[i32], arith: &Arithmetic, subtract: bool) -> Vec<i32> {
    a.iter().zip(b).map(|(&x, &y)| add_or_sub_one(p, x, y, arith, subtract)).collect()
}

/// One element of [`add`] or [`sub`] (`subtract`).
#[inline]
fn add_or_sub_one(p: &AddParams, x: i32, y: i32, arith: &Arithmetic, subtract: bool) -> i32 {
    let sx = (x - p.zp1).wrapping_mul(1 << p.left_shift);
    let sy = (y - p.zp2).wrapping_mul(1 << p.left_shift);
    let rx = requantize(sx as i64, p.m1, Requant::Double, arith);
    let ry = requantize(sy as i64, p.m2, Requant::Double, arith);
    let sum = if subtract { rx.wrapping_sub(ry) } else { rx.wrapping_add(ry) };
    let raw = requantize(sum as i64, p.m_out, Requant::Double, arith);
    raw.saturating_add(p.zp_out).clamp(p.act_min, p.act_max)
}

/// [`add`] or [`sub`] (`subtract`) of two 8-bit tensors of one shape into an 8-bit one, under
/// LiteRT's rounding: the same values, 16 at a time with AVX-512 or 8 with AVX2 where the CPU
/// has it and the multipliers allow ([`OneStep`]: non-negative, right shifts only), 16 at a
/// time with NEON (shifts within 31 either way), else one by one. The caller checks that the
/// output's clamp range lies within i8.
pub fn add_or_sub_i8(p: &AddParams, a: &[i8], b: &[i8], subtract: bool) -> Vec<i8> {
    add_or_sub_i8_on(Isa::best(), p, a, b, subtract)
}

/// [`add_or_sub_i8`] with the kernels of instruction set `isa` (one the CPU runs).
fn add_or_sub_i8_on(isa: Isa, p: &AddParams, a: &[i8], b: &[i8], subtract: bool) -> Vec<i8> {
    assert_eq!(a.len(), b.len(), "operands of one shape");
    assert!(-128 <= p.act_min && p.act_max <= 127, "an 8-bit output");
    assert!(isa.available(), "{isa:?} on this CPU");
    let mut out = super::buffers::take::<i8>(a.len());
    #[cfg(target_arch = "x86_64")]
    let one_step = [p.m1, p.m2, p.m_out].into_iter().all(|m| OneStep::covers(m) && m.shift <= 0)
        && (0..=20).contains(&p.left_shift);
    #[cfg(target_arch = "aarch64")]
    let shifts_fit =
        [p.m1, p.m2, p.m_out].into_iter().all(|m| (-31..=31).contains(&m.shift)) && (0..=31).contains(&p.left_shift);
    let done = match isa {
        // SAFETY: AVX-512 F and BW are available (asserted above: both sets include them);
        // the lengths are equal.
        #[cfg(target_arch = "x86_64")]
        Isa::Amx | Isa::Avx512Vnni if one_step => unsafe { add_or_sub_i8_avx512(p, a, b, subtract, &mut out) },
        // SAFETY: AVX2 is available (asserted above: both sets include it); the lengths are
        // equal.
        #[cfg(target_arch = "x86_64")]
        Isa::AvxVnni | Isa::Avx2 if one_step => unsafe { add_or_sub_i8_avx2(p, a, b, subtract, &mut out) },
        // SAFETY: NEON is available (asserted above); the lengths are equal.
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDot | Isa::Neon if shifts_fit => unsafe { add_or_sub_i8_neon(p, a, b, subtract, &mut out) },
        Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 | Isa::NeonDot | Isa::Neon | Isa::Portable => 0,
    };
    let litert = Arithmetic::default();
    for ((o, &x), &y) in out[done..].iter_mut().zip(&a[done..]).zip(&b[done..]) {
        // Within i8: the clamp range is (asserted above).
        *o = add_or_sub_one(p, x as i32, y as i32, &litert, subtract) as i8;
    }
    out
}

/// [`add_or_sub_i8`]'s whole blocks of 16 elements; returns how many it did.
///
/// # Safety
/// AVX-512 F and BW must be available; `a`, `b` and `out` of one length; every multiplier
/// of `p` non-negative with a right shift of at most 31 and no left shift.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn add_or_sub_i8_avx512(p: &AddParams, a: &[i8], b: &[i8], subtract: bool, out: &mut [i8]) -> usize {
    use super::fixedpoint::{clamp_before_zero_point, OneStep16};
    use std::arch::x86_64::*;
    let n = a.len() / 16 * 16;
    assert!(b.len() >= n && out.len() >= n);
    let step = |m: QuantMultiplier| OneStep16::splat(OneStep::new(m.multiplier, -m.shift));
    let (s1, s2, so) = (step(p.m1), step(p.m2), step(p.m_out));
    let ls = _mm_cvtsi32_si128(p.left_shift);
    let (z1, z2) = (_mm512_set1_epi32(p.zp1), _mm512_set1_epi32(p.zp2));
    let (lo, hi) = clamp_before_zero_point(p.act_min, p.act_max, p.zp_out);
    let (lo, hi) = (_mm512_set1_epi32(lo), _mm512_set1_epi32(hi));
    let zo = _mm512_set1_epi32(p.zp_out);
    for i in (0..n).step_by(16) {
        let x = _mm512_cvtepi8_epi32(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
        let y = _mm512_cvtepi8_epi32(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
        let rx = s1.apply(_mm512_sll_epi32(_mm512_sub_epi32(x, z1), ls));
        let ry = s2.apply(_mm512_sll_epi32(_mm512_sub_epi32(y, z2), ls));
        let sum = if subtract { _mm512_sub_epi32(rx, ry) } else { _mm512_add_epi32(rx, ry) };
        let raw = so.apply(sum);
        // `clamp(x + zo) = clamp(x, lo - zo, hi - zo) + zo`: the saturating add never saturates.
        let v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(raw, lo), hi), zo);
        _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, _mm512_cvtepi32_epi8(v));
    }
    n
}

/// [`add_or_sub_i8_avx512`]'s arithmetic eight elements at a time with AVX2 ([`OneStep8`]);
/// returns how many it did.
///
/// # Safety
/// AVX2 must be available; `a`, `b` and `out` of one length; every multiplier of `p`
/// non-negative with a right shift of at most 31 and no left shift.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_or_sub_i8_avx2(p: &AddParams, a: &[i8], b: &[i8], subtract: bool, out: &mut [i8]) -> usize {
    use super::elem::OutClamp8;
    use super::fixedpoint::OneStep8;
    use std::arch::x86_64::*;
    let n = a.len() / 8 * 8;
    assert!(b.len() >= n && out.len() >= n);
    let step = |m: QuantMultiplier| OneStep8::splat(OneStep::new(m.multiplier, -m.shift));
    let (s1, s2, so) = (step(p.m1), step(p.m2), step(p.m_out));
    let ls = _mm_cvtsi32_si128(p.left_shift);
    let (z1, z2) = (_mm256_set1_epi32(p.zp1), _mm256_set1_epi32(p.zp2));
    let clamp = OutClamp8::new::<i8>(p.act_min, p.act_max, p.zp_out);
    for i in (0..n).step_by(8) {
        let x = _mm256_cvtepi8_epi32(_mm_loadl_epi64(a.as_ptr().add(i) as *const __m128i));
        let y = _mm256_cvtepi8_epi32(_mm_loadl_epi64(b.as_ptr().add(i) as *const __m128i));
        let rx = s1.apply(_mm256_sll_epi32(_mm256_sub_epi32(x, z1), ls));
        let ry = s2.apply(_mm256_sll_epi32(_mm256_sub_epi32(y, z2), ls));
        let sum = if subtract { _mm256_sub_epi32(rx, ry) } else { _mm256_add_epi32(rx, ry) };
        <i8 as Elem>::store8(out.as_mut_ptr().add(i), clamp.apply(so.apply(sum)));
    }
    n
}

/// [`add_or_sub_i8`]'s whole blocks of 16 elements with NEON, four i32 vectors per block
/// ([`super::fixedpoint::multiply_by_quantized_multiplier_neon`] for each of the three
/// rescales); returns how many it did.
///
/// # Safety
/// NEON must be available; `a`, `b` and `out` of one length; every multiplier of `p` with a
/// shift within -31..=31 and `p.left_shift` within 0..=31.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn add_or_sub_i8_neon(p: &AddParams, a: &[i8], b: &[i8], subtract: bool, out: &mut [i8]) -> usize {
    use super::fixedpoint::{clamp_before_zero_point, multiply_by_quantized_multiplier_neon as mbqm};
    use std::arch::aarch64::*;
    let n = a.len() / 16 * 16;
    assert!(b.len() >= n && out.len() >= n);
    let consts =
        |m: QuantMultiplier| (vdupq_n_s32(m.shift.max(0)), vdupq_n_s32(m.multiplier), vdupq_n_s32((-m.shift).max(0)));
    let ((l1, m1, r1), (l2, m2, r2), (lo_, mo, ro)) = (consts(p.m1), consts(p.m2), consts(p.m_out));
    let ls = vdupq_n_s32(p.left_shift);
    let (z1, z2) = (vdupq_n_s32(p.zp1), vdupq_n_s32(p.zp2));
    let (lo, hi) = clamp_before_zero_point(p.act_min, p.act_max, p.zp_out);
    let (lo, hi, zo) = (vdupq_n_s32(lo), vdupq_n_s32(hi), vdupq_n_s32(p.zp_out));
    // Sixteen bytes as four vectors of i32 lanes.
    let widen = |v: int8x16_t| {
        let (l, h) = (vmovl_s8(vget_low_s8(v)), vmovl_high_s8(v));
        [vmovl_s16(vget_low_s16(l)), vmovl_high_s16(l), vmovl_s16(vget_low_s16(h)), vmovl_high_s16(h)]
    };
    for i in (0..n).step_by(16) {
        let x = widen(vld1q_s8(a.as_ptr().add(i)));
        let y = widen(vld1q_s8(b.as_ptr().add(i)));
        let mut v = [vdupq_n_s32(0); 4];
        for j in 0..4 {
            let rx = mbqm(vshlq_s32(vsubq_s32(x[j], z1), ls), l1, m1, r1);
            let ry = mbqm(vshlq_s32(vsubq_s32(y[j], z2), ls), l2, m2, r2);
            let sum = if subtract { vsubq_s32(rx, ry) } else { vaddq_s32(rx, ry) };
            let raw = mbqm(sum, lo_, mo, ro);
            // `clamp(x + zo) = clamp(x, lo - zo, hi - zo) + zo`: the saturating add never
            // saturates.
            v[j] = vaddq_s32(vminq_s32(vmaxq_s32(raw, lo), hi), zo);
        }
        // Saturating narrowings, exact within i8.
        let l = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
        let h = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
        vst1q_s8(out.as_mut_ptr().add(i), vcombine_s8(vqmovn_s16(l), vqmovn_s16(h)));
    }
    n
}

/// Parameters of a quantized MUL (LiteRT's `MulElementwise`).
#[derive(Debug, Clone)]
pub struct MulParams {
    /// Zero point of input 1.
    pub zp1: i32,
    /// Zero point of input 2.
    pub zp2: i32,
    /// Output zero point.
    pub zp_out: i32,
    /// `s1 * s2 / s_out` (computed in float, as LiteRT's `Prepare` does).
    pub m: QuantMultiplier,
    /// LiteRT's double rounding where every product fits 32 bits; one rounding of the 64-bit
    /// product where it may not (16-bit operands with zero points).
    pub requant: Requant,
    /// Output clamp.
    pub act: (i32, i32),
}

/// Quantized element-wise multiplication: `zo + (a - z1) (b - z2) m`, clamped.
pub fn mul(p: &MulParams, a: &[i32], b: &[i32], arith: &Arithmetic) -> Vec<i32> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let prod = i64::from(x - p.zp1) * i64::from(y - p.zp2);
            requantize(prod, p.m, p.requant, arith).saturating_add(p.zp_out).clamp(p.act.0, p.act.1)
        })
        .collect()
}

/// Parameters of LiteRT's int8 SQUARED_DIFFERENCE (`squared_difference.cc`).
#[derive(Debug, Clone)]
pub struct SquaredDifferenceParams {
    /// First input's zero point.
    pub zp1: i32,
    /// Second input's zero point.
    pub zp2: i32,
    /// Output zero point.
    pub zp_out: i32,
    /// First input to the common scale `2 max(s1, s2)` (below one).
    pub m1: QuantMultiplier,
    /// Second input to the common scale (below one).
    pub m2: QuantMultiplier,
    /// The squared difference (at 2^14 the common scale squared) to the output (below one).
    pub m_out: QuantMultiplier,
}

/// LiteRT's int8 SQUARED_DIFFERENCE: each input offset, shifted left by 7, rescaled to the
/// common scale; the difference squared in 32 bits, rescaled to the output, offset,
/// saturated to int8.
pub fn squared_difference(p: &SquaredDifferenceParams, a: &[i32], b: &[i32]) -> Vec<i32> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let x = multiply_by_quantized_multiplier(x.wrapping_sub(p.zp1).wrapping_mul(1 << 7), p.m1);
            let y = multiply_by_quantized_multiplier(y.wrapping_sub(p.zp2).wrapping_mul(1 << 7), p.m2);
            let d = x.wrapping_sub(y);
            multiply_by_quantized_multiplier(d.wrapping_mul(d), p.m_out).wrapping_add(p.zp_out).clamp(-128, 127)
        })
        .collect()
}

/// Parameters of a quantized PRELU (LiteRT's `BroadcastPrelu4DSlow`).
#[derive(Debug, Clone)]
pub struct PreluParams {
    /// Input zero point.
    pub zp_in: i32,
    /// Alpha zero point.
    pub zp_alpha: i32,
    /// Output zero point.
    pub zp_out: i32,
    /// `s_in / s_out` for non-negative inputs.
    pub identity: QuantMultiplier,
    /// `s_in * s_alpha / s_out` for negative inputs (times alpha's integer value).
    pub alpha: QuantMultiplier,
    /// Output clamp.
    pub act: (i32, i32),
}

/// Quantized PRELU of an input and its (broadcast) slopes.
pub fn prelu(p: &PreluParams, x: &[i32], alpha: &[i32]) -> Vec<i32> {
    x.iter()
        .zip(alpha)
        .map(|(&v, &a)| {
            let d = v - p.zp_in;
            let r = if d >= 0 {
                multiply_by_quantized_multiplier(d, p.identity)
            } else {
                multiply_by_quantized_multiplier(d.wrapping_mul(a - p.zp_alpha), p.alpha)
            };
            r.saturating_add(p.zp_out).clamp(p.act.0, p.act.1)
        })
        .collect()
}

/// Parameters of a quantized MAXIMUM / MINIMUM: each operand rescaled to the output's
/// parameters first (`None`: it already has them, LiteRT's only case), then compared.
#[derive(Debug, Clone)]
pub struct ExtremumParams {
    /// Per operand: its zero point and rescale to the output, when its parameters differ.
    pub rescale: [Option<(i32, QuantMultiplier)>; 2],
    /// Output zero point.
    pub zp_out: i32,
    /// Output clamp.
    pub act: (i32, i32),
    /// MAXIMUM (else MINIMUM).
    pub max: bool,
}

/// Quantized MAXIMUM / MINIMUM.
pub fn extremum(p: &ExtremumParams, a: &[i32], b: &[i32]) -> Vec<i32> {
    let on_out = |v: i32, r: &Option<(i32, QuantMultiplier)>| match r {
        Some((z, m)) => multiply_by_quantized_multiplier(v - z, *m).saturating_add(p.zp_out),
        None => v,
    };
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let (x, y) = (on_out(x, &p.rescale[0]), on_out(y, &p.rescale[1]));
            (if p.max { x.max(y) } else { x.min(y) }).clamp(p.act.0, p.act.1)
        })
        .collect()
}

/// Float to integer quantization (TFLite's `AffineQuantize`): `round(x / scale) + zp`, clamped.
pub fn quantize(x: &[f32], scale: f32, zp: i32, qmin: i32, qmax: i32) -> Vec<i32> {
    quantize_as(x, scale, zp, qmin, qmax)
}

/// [`quantize`] stored as `O` ([`Elem`]: i32, or i8 for a signed 8-bit tensor).
///
/// Narrow types (bounds and zero point within `2^16`, every 8- and 16-bit tensor) take
/// [`round_clamped`], which has no branches (so the loop vectorizes) and gives the same
/// result once clamped.
///
/// # Panics
/// When `qmin..=qmax` does not fit `O`.
pub fn quantize_as<O: Elem>(x: &[f32], scale: f32, zp: i32, qmin: i32, qmax: i32) -> Vec<O> {
    assert!(O::RANGE.0 <= qmin && qmax <= O::RANGE.1, "{qmin}..={qmax} stored in {:?}", O::RANGE);
    const NARROW: i32 = 1 << 16;
    if -NARROW <= qmin && qmax <= NARROW && (-NARROW..=NARROW).contains(&zp) {
        #[cfg(target_arch = "x86_64")]
        let simd = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let simd = false;
        quantize_narrow(x, scale, zp, qmin, qmax, simd)
    } else {
        x.iter().map(|&v| O::narrow(round_to_i32(v / scale).saturating_add(zp).clamp(qmin, qmax))).collect()
    }
}

/// [`quantize_as`] for narrow types through [`round_clamped`], eight values at a time with
/// AVX2 when `simd` (the caller detected it), the rest in scalar code.
fn quantize_narrow<O: Elem>(x: &[f32], scale: f32, zp: i32, qmin: i32, qmax: i32, simd: bool) -> Vec<O> {
    let mut out = vec![O::default(); x.len()];
    // Only the x86 build writes it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: AVX2 was detected by the caller; the slices have the same length.
        done = unsafe { quantize_narrow_avx2(x, scale, zp, qmin, qmax, &mut out) };
    }
    let _ = simd;
    for (o, &v) in out[done..].iter_mut().zip(&x[done..]) {
        *o = O::narrow(round_clamped(v / scale).saturating_add(zp).clamp(qmin, qmax));
    }
    out
}

/// [`round_clamped`] of `x / scale` plus `zp`, clamped, on the whole blocks of eight values of
/// `x` into `out`; returns how many values it wrote. The division is IEEE's, as the scalar
/// one; `min` returns its second operand for a NaN, as `f32::min` returns the number; the sum
/// with `zp` cannot overflow (`|r| <= 2^23`, `|zp| <= 2^16`).
///
/// # Safety
/// AVX2 must be available; `out` must be as long as `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_narrow_avx2<O: Elem>(x: &[f32], scale: f32, zp: i32, qmin: i32, qmax: i32, out: &mut [O]) -> usize {
    use std::arch::x86_64::*;
    assert_eq!(x.len(), out.len());
    let (s, big, half) = (_mm256_set1_ps(scale), _mm256_set1_ps(8_388_608.0), _mm256_set1_ps(0.5));
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
    let (z, lo, hi) = (_mm256_set1_epi32(zp), _mm256_set1_epi32(qmin), _mm256_set1_epi32(qmax));
    let whole = x.len() / 8 * 8;
    for i in (0..whole).step_by(8) {
        let y = _mm256_div_ps(_mm256_loadu_ps(x.as_ptr().add(i)), s);
        let a = _mm256_min_ps(_mm256_and_ps(y, abs), big);
        let t = _mm256_cvttps_epi32(a);
        let up = _mm256_cmp_ps::<_CMP_GE_OQ>(_mm256_sub_ps(a, _mm256_cvtepi32_ps(t)), half);
        let r = _mm256_sub_epi32(t, _mm256_castps_si256(up));
        let neg = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(y, _mm256_setzero_ps()));
        let r = _mm256_sub_epi32(_mm256_xor_si256(r, neg), neg);
        let r = _mm256_andnot_si256(_mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(y, y)), r);
        let v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, z), lo), hi);
        O::store8(out.as_mut_ptr().add(i), v);
    }
    whole
}

/// [`round_to_i32`] for `|y| < 2^23`, `±2^23` beyond (NaN to 0), without branches: the same
/// value once a zero point within `2^16` is added and the sum clamped to bounds within
/// `2^16` (beyond `2^23` both saturate to the bound on `y`'s side).
#[inline(always)]
fn round_clamped(y: f32) -> i32 {
    // `min` takes the number when `y` is NaN; the last select puts NaN's 0 back.
    let a = y.abs().min(8_388_608.0);
    let t = a as i32;
    let r = t + i32::from(a - t as f32 >= 0.5);
    let r = if y < 0.0 { -r } else { r };
    if y.is_nan() {
        0
    } else {
        r
    }
}

/// `y.round() as i32` (half away from zero, saturating, NaN to 0) without a call to the C
/// library's `roundf` (the baseline x86-64 target has no rounding instruction), which
/// cost more than the rest of an input's quantization: below `2^23` the truncation and
/// the fraction are exact in f32; above it every f32 is an integer already.
#[inline]
pub fn round_to_i32(y: f32) -> i32 {
    let a = y.abs();
    if a < 8_388_608.0 {
        let t = a as i32;
        let r = t + i32::from(a - t as f32 >= 0.5);
        if y < 0.0 {
            -r
        } else {
            r
        }
    } else {
        y as i32
    }
}

/// Float to integer as ONNX `QuantizeLinear` does: `x / scale` rounded half to even, plus
/// the zero point, saturated.
pub fn quantize_half_even(x: &[f32], scale: f32, zp: i32, qmin: i32, qmax: i32) -> Vec<i32> {
    x.iter().map(|&v| ((v / scale).round_ties_even() as i32).saturating_add(zp).clamp(qmin, qmax)).collect()
}

/// Integer to integer requantization (TFLite's `Requantize`): `(q - zi) * m + zo`.
pub fn requantize_tensor(x: &[i32], zi: i32, m: QuantMultiplier, zo: i32, qmin: i32, qmax: i32) -> Vec<i32> {
    x.iter().map(|&v| multiply_by_quantized_multiplier(v - zi, m).saturating_add(zo).clamp(qmin, qmax)).collect()
}

/// Integer to float: `scale * (q - zp)`, computed in double as the reference does.
pub fn dequantize(x: &[i32], scale: f32, zp: i32) -> Vec<f32> {
    x.iter().map(|&v| (scale as f64 * (v as i64 - zp as i64) as f64) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 8-bit ADD and SUB (AVX-512 or AVX2 blocks and the scalar tail, on every instruction
    /// set the CPU has) equal [`add`] and [`sub`] on widened values: scales whose ratios span 1e-3..1e3 (the multipliers of `Prepare`,
    /// right shifts up to 31), any zero points, clamps within i8, lengths around 16's
    /// multiples, every pair of byte values.
    #[test]
    fn add_and_sub_on_8_bits_equal_the_general_path() {
        let mut rnd = crate::kernels::xorshift(0x853c_49e6_748f_ea9b);
        let mut next = |lo: i32, hi: i32| rnd(lo as i64, hi as i64) as i32;
        let all: Vec<(i8, i8)> = (0..=255u8).flat_map(|x| (0..=255u8).map(move |y| (x as i8, y as i8))).collect();
        for case in 0..300 {
            let scale = |e: i32| 10f32.powf(e as f32 / 10.0) * 0.01;
            let act = (next(-128, -20), next(20, 127));
            let p = AddParams::new(
                scale(next(-15, 15)),
                next(-128, 127),
                scale(next(-15, 15)),
                next(-128, 127),
                scale(next(-15, 15)),
                next(-128, 127),
                8,
                act,
            );
            let len = if case == 0 { all.len() } else { next(0, 70) as usize };
            let (a, b): (Vec<i8>, Vec<i8>) = if case == 0 {
                all.iter().copied().unzip()
            } else {
                (0..len).map(|_| (next(-128, 127) as i8, next(-128, 127) as i8)).unzip()
            };
            let wide = |v: &[i8]| v.iter().map(|&x| x as i32).collect::<Vec<_>>();
            let arith = Arithmetic::default();
            for subtract in [false, true] {
                let want = if subtract {
                    sub(&p, &wide(&a), &wide(&b), &arith)
                } else {
                    add(&p, &wide(&a), &wide(&b), &arith)
                };
                for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                    let got = wide(&add_or_sub_i8_on(isa, &p, &a, &b, subtract));
                    assert_eq!(got, want, "{isa:?}, case {case}, {p:?}, subtract {subtract}");
                }
            }
        }
    }

    /// Rounding's hard cases (halves, 2^23 and 2^24, infinities, NaN of both signs,
    /// extremes, subnormals) and `2 n` pseudo-random floats: `n` of any bit pattern and `n`
    /// multiples of 1/8 around zero.
    fn rounding_cases(n: usize) -> Vec<f32> {
        let mut xs = vec![0.0f32, -0.0, 0.5, -0.5, 1.5, -2.5, 0.49999997, -0.49999997, 8388607.5, -8388607.5];
        xs.extend([8388608.0, -8388608.0, 16777217.0, 3.0e9, -3.0e9, f32::MAX, f32::MIN, f32::INFINITY]);
        xs.extend([f32::NEG_INFINITY, f32::NAN, -f32::NAN, f32::MIN_POSITIVE, 1.0e-40, 2147483520.0, -2147483648.0]);
        let mut s = 0x9e3779b97f4a7c15u64;
        for _ in 0..n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            xs.push(f32::from_bits(s as u32));
            xs.push((s % 20_000) as f32 / 8.0 - 1250.0);
        }
        xs
    }

    #[test]
    fn round_to_i32_is_f32_round() {
        for x in rounding_cases(100_000) {
            assert_eq!(round_to_i32(x), x.round() as i32, "{x:e}");
        }
    }

    /// The narrow types' branch-free rounding gives the exact rounding's values once
    /// clamped, stored as i32 or i8, on edge cases (halves, 2^23, infinities, NaN, extremes)
    /// and random floats, for 8- and 16-bit bounds and extreme zero points.
    #[test]
    fn narrow_quantization_equals_the_exact_rounding() {
        let xs = rounding_cases(20_000);
        let exact = |scale: f32, zp: i32, lo: i32, hi: i32| -> Vec<i32> {
            xs.iter().map(|&v| round_to_i32(v / scale).saturating_add(zp).clamp(lo, hi)).collect()
        };
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        for scale in [1.0f32, 0.0078125, 0.3, 1.0e-30, 7.0e30] {
            for (lo, hi) in [(-128, 127), (0, 255), (-32768, 32767), (-127, 127)] {
                for zp in [-65536, -128, -1, 0, 5, 127, 255, 65536] {
                    let want = exact(scale, zp, lo, hi);
                    assert_eq!(quantize(&xs, scale, zp, lo, hi), want, "{scale} {zp} {lo}..={hi}");
                    if hi <= 127 && lo >= -128 {
                        let got: Vec<i32> =
                            quantize_as::<i8>(&xs, scale, zp, lo, hi).iter().map(|&v| v as i32).collect();
                        assert_eq!(got, want, "i8 {scale} {zp} {lo}..={hi}");
                    }
                    // The scalar and the AVX2 loops each (`quantize` took the best).
                    for simd in [false, avx2] {
                        let got = quantize_narrow::<i32>(&xs, scale, zp, lo, hi, simd);
                        assert_eq!(got, want, "simd {simd} {scale} {zp} {lo}..={hi}");
                    }
                }
            }
        }
    }

    /// 16-bit operands with zero points multiply beyond 32 bits ((30000 + 30000)^2 = 3.6e9):
    /// with the 64-bit product rounded once the result is the real product rescaled (it
    /// wrapped to a negative number before).
    #[test]
    fn a_wide_product_is_rescaled_without_wrapping() {
        let m = QuantMultiplier::from_real(1e-6);
        let p = MulParams { zp1: -30000, zp2: -30000, zp_out: 0, m, requant: Requant::Single, act: (-32768, 32767) };
        let got = mul(&p, &[30000, 0, -30000], &[30000, 100, 5], &Arithmetic::default());
        let want: Vec<i32> = [(60000i64, 60000i64), (30000, 30100), (0, 30005)]
            .iter()
            .map(|&(a, b)| ((a * b) as f64 * 1e-6).round() as i32)
            .collect();
        assert_eq!(got, want);
        assert_eq!(want[0], 3600);
    }
}
