//! Fixed-point primitives of integer-only inference: gemmlowp's saturating rounding
//! doubling high multiply and rounding divide by a power of two, TFLite's multiplier
//! quantization (`frexp` of a real multiplier into a Q31 mantissa and a shift), and the
//! requantization step parameterized by the [`Arithmetic`] of a hardware datapath.
//!
//! The default [`Arithmetic`] reproduces LiteRT's reference kernels bit for bit: gemmlowp
//! double rounding for 8-bit activations, and the reduced 16-bit multiplier of the 16x8
//! convolutions (see [`multiply_reduced`]).

/// How an accumulator that exceeds its width behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Overflow {
    /// Two's-complement wrap-around (what a plain adder does; LiteRT's int32 accumulators).
    #[default]
    Wrap,
    /// Clamp to the accumulator's range after every addition.
    Saturate,
}

/// How the accumulator is scaled back to the output type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Rounding {
    /// TFLite's default: gemmlowp's rounding doubling high multiply, then a rounding
    /// right shift (two roundings); the 16x8 convolutions use their reduced multiplier.
    #[default]
    TfliteDouble,
    /// One rounding: `(x * m + 2^(s-1)) >> s` with the full 31-bit multiplier
    /// (TFLite built with `TFLITE_SINGLE_ROUNDING`).
    Single,
    /// No rounding: `(x * m) >> s` (floor), the cheapest hardware.
    Truncate,
}

/// The integer datapath of an accelerator: accumulator width, overflow behaviour and
/// requantization rounding. The default reproduces LiteRT exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arithmetic {
    /// Accumulator width in bits (16, 20, 24, 32, ... 64). 64 means LiteRT's native
    /// accumulators (int32 for 8-bit activations, int64 for 16-bit), which never
    /// overflow on real networks.
    pub acc_bits: u32,
    /// Behaviour on accumulator overflow.
    pub overflow: Overflow,
    /// Requantization rounding.
    pub rounding: Rounding,
}

impl Default for Arithmetic {
    fn default() -> Self {
        Self { acc_bits: 64, overflow: Overflow::Wrap, rounding: Rounding::TfliteDouble }
    }
}

impl Arithmetic {
    /// Whether this is LiteRT's arithmetic (the fast kernels apply only then).
    pub fn is_litert(&self) -> bool {
        self.acc_bits >= 64 && self.rounding == Rounding::TfliteDouble
    }

    /// Adds `v` to the accumulator `acc` under this datapath's width and overflow rule.
    #[inline]
    pub fn acc_add(&self, acc: i64, v: i64) -> i64 {
        if self.acc_bits >= 64 {
            return acc.wrapping_add(v);
        }
        let s = acc.wrapping_add(v);
        self.fit(s)
    }

    /// Brings a value into the accumulator's range (wrap or saturate).
    #[inline]
    pub fn fit(&self, v: i64) -> i64 {
        if self.acc_bits >= 64 {
            return v;
        }
        let bits = self.acc_bits.max(2);
        let max = (1i64 << (bits - 1)) - 1;
        let min = -(1i64 << (bits - 1));
        match self.overflow {
            Overflow::Saturate => v.clamp(min, max),
            Overflow::Wrap => {
                let sh = 64 - bits;
                (v << sh) >> sh
            }
        }
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^31)` with the single
/// overflow case (`i32::MIN * i32::MIN`) saturated.
#[inline]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    // Division truncates toward zero, as in C++.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT` for a left shift: `x * 2^exponent`, saturated.
#[inline]
pub fn saturating_left_shift(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return rounding_divide_by_pot(x, -exponent);
    }
    let threshold = ((1i64 << (31 - exponent)) - 1) as i32;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// A real multiplier as TFLite's `QuantizeMultiplier` represents it: a Q31 mantissa in
/// `[2^30, 2^31)` and a power-of-two exponent (positive = left shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct QuantMultiplier {
    /// Q31 mantissa.
    pub multiplier: i32,
    /// Exponent: `real = multiplier / 2^31 * 2^shift`.
    pub shift: i32,
}

/// `frexp` for finite positive and negative doubles: mantissa in [0.5, 1) and exponent.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let e = exp - 1022;
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, e)
}

impl QuantMultiplier {
    /// TFLite's `QuantizeMultiplier` of a real multiplier (double precision).
    pub fn from_real(real: f64) -> Self {
        if real == 0.0 || !real.is_finite() {
            return Self { multiplier: 0, shift: 0 };
        }
        let (q, mut shift) = frexp(real);
        let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
        if q_fixed == 1i64 << 31 {
            q_fixed /= 2;
            shift += 1;
        }
        if shift < -31 {
            shift = 0;
            q_fixed = 0;
        }
        Self { multiplier: q_fixed as i32, shift }
    }
}

impl QuantMultiplier {
    /// [`QuantMultiplier::from_real`] of a rescale computed from a model's scales, refusing
    /// one the integer kernels cannot apply: not finite, not positive, or at least 2^30
    /// (a left shift past 30 bits wraps a 32-bit value; LiteRT's `QuantizeMultiplier`
    /// rejects shifts past 31). The message says which rescale and why.
    pub fn checked(real: f64) -> Result<Self, String> {
        let m = Self::from_real(real);
        if !(real.is_finite() && real > 0.0) || m.shift > 30 {
            return Err(format!(
                "rescale factor {real:e} (from the tensors' scales) is outside what integer kernels can apply (0 < m < 2^30)"
            ));
        }
        Ok(m)
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier` for a 32-bit value (double rounding).
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, m: QuantMultiplier) -> i32 {
    let left = m.shift.max(0);
    let right = (-m.shift).max(0);
    rounding_divide_by_pot(srdhm(x.wrapping_mul(1i32.wrapping_shl(left as u32)), m.multiplier), right)
}

/// [`multiply_by_quantized_multiplier`] for a non-negative multiplier `m` and a right shift
/// `r` in `0..=31` as one exact 64-bit step: `(x m + add - [x m < -2^30] sub) >> shift`, with
/// `add = 2^30 + 2^(30 + r)`, `sub = 2^31`, `shift = 31 + r` (for `r = 0`: `2^30`, 0, 31).
///
/// With `P = x m + 2^30`, the doubling high multiply is `h = floor(P / 2^31)` (its nudge for
/// negative products is this floor), and the rounding divide by `2^r` (half away from zero)
/// is `floor((h + 2^(r-1) - [h < 0]) / 2^r)`; `[h < 0] = [P < 0] = [x m < -2^30]`, and
/// `floor((floor(P / 2^31) + c) / 2^r) = floor((P + c 2^31) / 2^(31 + r))` for an integer
/// `c`. The result fits i32 (it is `h` rounded), and the sum cannot overflow 64 bits
/// (`|x m| < 2^62`). The SIMD kernels (16 lanes: [`OneStep16`]) compute it so: two 32 x 32
/// -> 64-bit multiplies per 16 lanes instead of the doubling multiply's and the rounding's
/// separate steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OneStep {
    /// The Q31 multiplier.
    pub mul: i64,
    /// The rounding addend.
    pub add: i64,
    /// What a sum below `-2^30` loses.
    pub sub: i64,
    /// The final arithmetic shift.
    pub shift: i64,
}

impl OneStep {
    /// The constants of multiplier `multiplier` (non-negative) and right shift `right`
    /// (clamped to `0..=31`).
    pub fn new(multiplier: i32, right: i32) -> OneStep {
        let r = right.clamp(0, 31);
        OneStep {
            mul: multiplier as i64,
            add: (1i64 << 30) + if r > 0 { 1i64 << (30 + r) } else { 0 },
            sub: if r > 0 { 1i64 << 31 } else { 0 },
            shift: 31 + r as i64,
        }
    }

    /// Whether the step computes `m`'s right-shift part exactly: a non-negative multiplier
    /// and a right shift of at most 31 (a left shift, `m.shift > 0`, is the caller's).
    pub fn covers(m: QuantMultiplier) -> bool {
        m.multiplier >= 0 && m.shift >= -31
    }

    /// The step on one value (the SIMD kernels' arithmetic, lane by lane).
    pub fn apply(self, x: i32) -> i32 {
        let xm = x as i64 * self.mul;
        let p = if xm < -(1 << 30) { xm + self.add - self.sub } else { xm + self.add };
        (p >> self.shift) as i32
    }

    /// The step without the correction of products below `-2^30`, for a result clamped at or
    /// above 0 afterwards (a fused ReLU's lower bound at or above the zero point): equal to
    /// [`OneStep::apply`] once so clamped. Where the correction applies (`x m < -2^30`),
    /// `x m + add < add - 2^30`, which is `2^(30 + r)` for `r > 0` and 0 for `r = 0`; shifted
    /// right by `31 + r` that is at most 0, and the corrected result (`sub` more subtracted)
    /// at most that: both clamp to a bound of 0 or more.
    pub fn apply_floored(self, x: i32) -> i32 {
        ((x as i64 * self.mul + self.add) >> self.shift) as i32
    }
}

/// [`OneStep`]'s constants for 16 lanes: each field's first vector holds the even lanes'
/// (in the low halves of its 64-bit lanes, which `vpmuldq` reads), the second the odd lanes'.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct OneStep16 {
    pub mul: [std::arch::x86_64::__m512i; 2],
    pub add: [std::arch::x86_64::__m512i; 2],
    pub sub: [std::arch::x86_64::__m512i; 2],
    pub shift: [std::arch::x86_64::__m512i; 2],
}

#[cfg(target_arch = "x86_64")]
impl OneStep16 {
    /// `o`'s constants in every lane.
    ///
    /// # Safety
    /// Only called from AVX-512 F code.
    #[inline(always)]
    pub unsafe fn splat(o: OneStep) -> OneStep16 {
        let v = |c: i64| [std::arch::x86_64::_mm512_set1_epi64(c); 2];
        OneStep16 { mul: v(o.mul), add: v(o.add), sub: v(o.sub), shift: v(o.shift) }
    }

    /// The step on 16 lanes.
    ///
    /// # Safety
    /// Only called from AVX-512 F code.
    #[inline(always)]
    pub unsafe fn apply(&self, x: std::arch::x86_64::__m512i) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        let OneStep16 { mul, add, sub, shift } = *self;
        // Odd lanes moved down by a shuffle (the port of shifts and multiplies is the busier one).
        let neg = _mm512_set1_epi64(-(1 << 30));
        let pe = _mm512_mul_epi32(x, mul[0]);
        let po = _mm512_mul_epi32(_mm512_shuffle_epi32::<0xF5>(x), mul[1]);
        let (ne, no) = (_mm512_cmplt_epi64_mask(pe, neg), _mm512_cmplt_epi64_mask(po, neg));
        let pe = _mm512_mask_sub_epi64(_mm512_add_epi64(pe, add[0]), ne, _mm512_add_epi64(pe, add[0]), sub[0]);
        let po = _mm512_mask_sub_epi64(_mm512_add_epi64(po, add[1]), no, _mm512_add_epi64(po, add[1]), sub[1]);
        let qe = _mm512_srav_epi64(pe, shift[0]);
        let qo = _mm512_srav_epi64(po, shift[1]);
        // The odd results' low halves into the odd 32-bit lanes.
        _mm512_mask_shuffle_epi32::<0xA0>(qe, 0xAAAA, qo)
    }

    /// [`OneStep::apply_floored`] on 16 lanes: for results clamped at or above 0 afterwards
    /// (four operations of [`OneStep16::apply`]'s twelve left out).
    ///
    /// # Safety
    /// Only called from AVX-512 F code.
    #[inline(always)]
    pub unsafe fn apply_floored(&self, x: std::arch::x86_64::__m512i) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        let OneStep16 { mul, add, shift, .. } = *self;
        let pe = _mm512_mul_epi32(x, mul[0]);
        let po = _mm512_mul_epi32(_mm512_shuffle_epi32::<0xF5>(x), mul[1]);
        let qe = _mm512_srav_epi64(_mm512_add_epi64(pe, add[0]), shift[0]);
        let qo = _mm512_srav_epi64(_mm512_add_epi64(po, add[1]), shift[1]);
        _mm512_mask_shuffle_epi32::<0xA0>(qe, 0xAAAA, qo)
    }
}

/// [`OneStep`] on 8 lanes with AVX2, which has no 64-bit arithmetic shift: `2^62` is added
/// to every sum (folded into `add`) and the shift is logical. A corrected sum lies in
/// `(-2^62, 2^62 + 2^61 + 2^30)` (`|x m| < 2^62`, `add <= 2^30 + 2^61`), so the biased one in
/// `(0, 2^64)`; `2^62` is a multiple of `2^shift` (`shift <= 62`), so the logical shift is the
/// arithmetic one plus `2^(62 - shift)`, which `unbias` takes back off in the 32-bit lanes
/// (modulo `2^32`: the result fits i32). Each 64-bit field's first vector holds the even
/// lanes' constants, the second the odd lanes'; `unbias` is in lane order.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct OneStep8 {
    pub mul: [std::arch::x86_64::__m256i; 2],
    /// [`OneStep::add`] plus `2^62`.
    pub add: [std::arch::x86_64::__m256i; 2],
    pub sub: [std::arch::x86_64::__m256i; 2],
    pub shift: [std::arch::x86_64::__m256i; 2],
    /// `2^(62 - shift)` modulo `2^32`, per 32-bit lane.
    pub unbias: std::arch::x86_64::__m256i,
}

#[cfg(target_arch = "x86_64")]
impl OneStep {
    /// [`OneStep::add`] with [`OneStep8`]'s bias of `2^62`.
    pub(crate) fn add_biased(self) -> i64 {
        self.add + (1i64 << 62)
    }

    /// What [`OneStep8`]'s logical shift adds to the result, modulo `2^32`.
    pub(crate) fn unbias(self) -> i32 {
        (1u64 << (62 - self.shift.clamp(0, 62))) as u32 as i32
    }
}

#[cfg(target_arch = "x86_64")]
impl OneStep8 {
    /// `o`'s constants in every lane.
    ///
    /// # Safety
    /// Only called from AVX2 code.
    #[inline(always)]
    pub unsafe fn splat(o: OneStep) -> OneStep8 {
        use std::arch::x86_64::*;
        let v = |c: i64| [_mm256_set1_epi64x(c); 2];
        OneStep8 {
            mul: v(o.mul),
            add: v(o.add_biased()),
            sub: v(o.sub),
            shift: v(o.shift),
            unbias: _mm256_set1_epi32(o.unbias()),
        }
    }

    /// The step on 8 lanes.
    ///
    /// # Safety
    /// Only called from AVX2 code.
    #[inline(always)]
    pub unsafe fn apply(&self, x: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let neg = _mm256_set1_epi64x(-(1 << 30));
        let pe = _mm256_mul_epi32(x, self.mul[0]);
        let po = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.mul[1]);
        let fix = |p: __m256i, h: usize| {
            _mm256_sub_epi64(
                _mm256_add_epi64(p, self.add[h]),
                _mm256_and_si256(_mm256_cmpgt_epi64(neg, p), self.sub[h]),
            )
        };
        self.shifted(fix(pe, 0), fix(po, 1))
    }

    /// [`OneStep::apply_floored`] on 8 lanes: for results clamped at or above 0 afterwards.
    ///
    /// # Safety
    /// Only called from AVX2 code.
    #[inline(always)]
    pub unsafe fn apply_floored(&self, x: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let pe = _mm256_mul_epi32(x, self.mul[0]);
        let po = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.mul[1]);
        self.shifted(_mm256_add_epi64(pe, self.add[0]), _mm256_add_epi64(po, self.add[1]))
    }

    /// The biased sums of the even and the odd lanes shifted, joined and unbiased.
    #[inline(always)]
    unsafe fn shifted(
        &self,
        pe: std::arch::x86_64::__m256i,
        po: std::arch::x86_64::__m256i,
    ) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let qe = _mm256_srlv_epi64(pe, self.shift[0]);
        let qo = _mm256_srlv_epi64(po, self.shift[1]);
        // The odd results' low halves into the odd lanes by a shuffle: a shift left after the
        // variable shift became a check of its range (three more operations).
        let q = _mm256_blend_epi32::<0b1010_1010>(qe, _mm256_shuffle_epi32::<0b10_10_00_00>(qo));
        _mm256_sub_epi32(q, self.unbias)
    }
}

/// [`multiply_by_quantized_multiplier`] on four lanes with NEON, per lane a left shift `left`
/// (`0..=31`), Q31 multiplier `mul` and right shift `right` (`0..=31`); bit-exact, as
/// gemmlowp's steps map onto single instructions: the wrapping left shift is `sshl`, the
/// doubling high multiply is `sqrdmulh` (`(2 a b + 2^31) >> 32`, saturating only
/// `i32::MIN * i32::MIN`: [`srdhm`] exactly), and the rounding divide by `2^r` (ties away from
/// zero) is `srshl` by `-r` (ties up; its addition of `2^(r-1)` is exact) after subtracting 1
/// from negative values when `r > 0` (the sign bit of `x & -r`; saturating, which only
/// `i32::MIN` meets, whose result that leaves unchanged).
///
/// # Safety
/// NEON must be available (inlined into NEON code).
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub(crate) unsafe fn multiply_by_quantized_multiplier_neon(
    x: std::arch::aarch64::int32x4_t,
    left: std::arch::aarch64::int32x4_t,
    mul: std::arch::aarch64::int32x4_t,
    right: std::arch::aarch64::int32x4_t,
) -> std::arch::aarch64::int32x4_t {
    use std::arch::aarch64::*;
    let h = vqrdmulhq_s32(vshlq_s32(x, left), mul);
    let neg_r = vnegq_s32(right);
    let fixup = vshrq_n_s32::<31>(vandq_s32(h, neg_r));
    vrshlq_s32(vqaddq_s32(h, fixup), neg_r)
}

/// The bounds that clamp an output before its zero point `zo` is added, equal to clamping
/// `v + zo` to `act_min..=act_max` (and `v + zo` never overflows where they hold).
pub(crate) fn clamp_before_zero_point(act_min: i32, act_max: i32, zo: i32) -> (i32, i32) {
    let b = |a: i32| (i64::from(a) - i64::from(zo)).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    (b(act_min), b(act_max))
}

/// LiteRT's `GetInvSqrtQuantizedMultiplierExp`: `1 / sqrt(input)` as a Q31 multiplier and a
/// shift (times `reverse_shift`, -1 for a left shift), by five Newton-Raphson steps in Q3.28
/// on the input normalized to [2^27, 2^29); inputs 0 and 1 give the largest multiplier.
pub fn inv_sqrt_multiplier_exp(input: i32, reverse_shift: i32) -> QuantMultiplier {
    if input <= 1 {
        return QuantMultiplier { multiplier: i32::MAX, shift: 0 };
    }
    let mut input = input;
    let mut shift = 11;
    while input >= 1 << 29 {
        input /= 4;
        shift += 1;
    }
    let max_left_shift_bit_pairs = ((input as u32).leading_zeros() - 1) / 2;
    let left_shift_bit_pairs = max_left_shift_bit_pairs as i32 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Q3.28: `x * y` is Q6 and `x * y * z` Q9; Rescale<3> shifts back left, saturating.
    let fixedpoint_input = input >> 1;
    let half_input = rounding_divide_by_pot(fixedpoint_input, 1);
    let half_three = (1 << 28) + (1 << 27);
    let mut x = 1i32 << 28;
    for _ in 0..5 {
        let x3 = saturating_left_shift(srdhm(srdhm(x, x), x), 6);
        x = saturating_left_shift(srdhm(half_three, x).wrapping_sub(srdhm(half_input, x3)), 3);
    }
    let half_sqrt_2 = 1_518_500_250; // sqrt(2) / 2 in Q0.31
    let mut multiplier = srdhm(x, half_sqrt_2);
    if shift < 0 {
        multiplier <<= -shift;
        shift = 0;
    }
    QuantMultiplier { multiplier, shift: shift * reverse_shift }
}

/// TFLite's 64-bit `MultiplyByQuantizedMultiplier` used by the 16x8 convolutions: the
/// multiplier is reduced to 16 bits, `(q + 2^15) >> 16`, then `(x * m + round) >> (15 - shift)`.
#[inline]
pub fn multiply_reduced(x: i64, m: QuantMultiplier) -> i32 {
    let reduced: i64 = if m.multiplier < 0x7FFF_0000 { ((m.multiplier as i64) + (1 << 15)) >> 16 } else { 0x7FFF };
    let total_shift = 15 - m.shift;
    let v = x.wrapping_mul(reduced).wrapping_add(1i64 << (total_shift - 1));
    (v >> total_shift) as i32
}

/// `x * multiplier` shifted right by `31 - shift` with one round-half-up, saturated to i32.
#[inline]
pub fn multiply_single(x: i64, m: QuantMultiplier) -> i32 {
    let total_shift = 31 - m.shift;
    let prod = x as i128 * m.multiplier as i128;
    let v = if total_shift <= 0 {
        prod << (-total_shift).min(64)
    } else {
        (prod + (1i128 << (total_shift - 1))) >> total_shift
    };
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// Which requantization formula an op uses under LiteRT's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requant {
    /// gemmlowp double rounding on a 32-bit value.
    Double,
    /// The reduced 16-bit multiplier on a 64-bit value (16x8 CONV_2D / DEPTHWISE_CONV_2D).
    Reduced,
    /// One rounding of a 64-bit value times the full 31-bit multiplier: LiteRT's reference
    /// FULLY_CONNECTED, int8 and 16x8 (0 mismatches over 94 800 outputs of ai-edge-litert
    /// 2.3.0 on random inputs, double rounding 54; see `docs/tflite_export.md`).
    Single,
}

impl Requant {
    /// `self` when every multiplier is one its formula applies: the reduced 64-bit formula
    /// takes shifts up to 7 (LiteRT's `MultiplyByQuantizedMultiplier` for int64 values:
    /// "shift is -31 to +7"; from 15 on its rounding term is a shift by a negative amount),
    /// so a larger rescale (a model's scales making the output 256 or more times the
    /// accumulator) is refused by name rather than computed wrong.
    pub fn checked(self, multipliers: &[QuantMultiplier]) -> Result<Self, String> {
        match (self, multipliers.iter().map(|m| m.shift).max()) {
            (Requant::Reduced, Some(shift)) if shift > 7 => Err(format!(
                "rescale factor of about 2^{shift} (from the tensors' scales) is beyond the 16-bit kernels' range (LiteRT's 64-bit requantization takes up to 2^7)"
            )),
            (Requant::Double | Requant::Reduced | Requant::Single, _) => Ok(self),
        }
    }
}

/// Scales an accumulator by a quantized multiplier under an [`Arithmetic`]: LiteRT's
/// formula (`kind`) when the rounding is [`Rounding::TfliteDouble`], otherwise single
/// rounding or truncation with the full multiplier. Saturates to i32.
#[inline]
pub fn requantize(acc: i64, m: QuantMultiplier, kind: Requant, arith: &Arithmetic) -> i32 {
    match arith.rounding {
        Rounding::TfliteDouble => match kind {
            Requant::Double => multiply_by_quantized_multiplier(acc as i32, m),
            Requant::Reduced => multiply_reduced(acc, m),
            Requant::Single => multiply_single(acc, m),
        },
        Rounding::Single | Rounding::Truncate => {
            let total_shift = 31 - m.shift;
            let prod = acc as i128 * m.multiplier as i128;
            let v = if total_shift <= 0 {
                prod << (-total_shift)
            } else if arith.rounding == Rounding::Single {
                (prod + (1i128 << (total_shift - 1))) >> total_shift
            } else {
                prod >> total_shift
            };
            v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
        }
    }
}

/// Integer range of a signed type of `bits` bits.
#[inline]
pub fn int_range(bits: u32) -> (i32, i32) {
    let b = bits.clamp(2, 32);
    if b == 32 {
        (i32::MIN, i32::MAX)
    } else {
        (-(1i32 << (b - 1)), (1i32 << (b - 1)) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reduced 64-bit formula takes shifts up to 7 (found by the fuzz campaign: a 16x8
    /// convolution whose scales made a 2^19 rescale shifted by a negative amount,
    /// `fuzz/corpus/tflite_exec/fuzz_rescale_beyond_16bit.tflite`); the others any shift
    /// `QuantMultiplier::checked` gives.
    #[test]
    fn the_reduced_formula_refuses_rescales_beyond_its_range() {
        let m = |real: f64| QuantMultiplier::checked(real).expect("in range");
        assert_eq!(Requant::Reduced.checked(&[m(0.5), m(100.0)]), Ok(Requant::Reduced));
        let e = Requant::Reduced.checked(&[m(0.5), m(300.0)]).expect_err("2^9");
        assert!(e.contains("about 2^9") && e.contains("up to 2^7"), "{e}");
        assert_eq!(Requant::Double.checked(&[m(300.0)]), Ok(Requant::Double));
        assert_eq!(Requant::Single.checked(&[m(2e8)]), Ok(Requant::Single));
        assert_eq!(multiply_reduced(1000, m(100.0)), 100_000);
    }

    #[test]
    fn rounding_divide_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
    }

    #[test]
    fn srdhm_saturates_the_corner() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
    }

    #[test]
    fn quantize_multiplier_matches_frexp() {
        let m = QuantMultiplier::from_real(0.5);
        assert_eq!(m, QuantMultiplier { multiplier: 1 << 30, shift: 0 });
        let m = QuantMultiplier::from_real(0.25);
        assert_eq!(m.shift, -1);
        assert_eq!(multiply_by_quantized_multiplier(100, QuantMultiplier::from_real(0.1)), 10);
    }

    #[test]
    fn narrow_accumulators_wrap_or_saturate() {
        let w = Arithmetic { acc_bits: 16, ..Default::default() };
        assert_eq!(w.acc_add(32767, 1), -32768);
        let s = Arithmetic { acc_bits: 16, overflow: Overflow::Saturate, ..Default::default() };
        assert_eq!(s.acc_add(32767, 1), 32767);
    }
}
