//! gemmlowp's fixed-point transcendental functions (`fixedpoint.h`), once for both raw widths
//! LiteRT uses them at: 32 bits (SOFTMAX's `exp_on_negative_values` of a Q5.26 value and its
//! `one_over_one_plus_x_for_x_in_0_1`, `softmax.rs`) and 16 bits (the integer LSTM's gates:
//! `tensor_utils::ApplySigmoid` on Q3.12 and `ApplyTanh` on Q`m`.(15-`m`), `lstm.rs`). The
//! algorithms are gemmlowp's: a Taylor expansion of `exp` around -1/8, a barrel shifter over
//! the input's integer bits, Newton-Raphson divisions; bit for bit, including what each width
//! does differently (16-bit products round by 2^15, 16-bit sums that gemmlowp saturates
//! saturate, others wrap as C++'s conversions back to the raw type do, constants are the 32-bit
//! ones rounded by 16 bits: gemmlowp's `RescaleConstantInitializer`).
//!
//! A value is a raw integer and its number of integer bits `ib` (Q`ib`.(`BITS`-1-`ib`));
//! results are Q0.(`BITS`-1).

use super::fixedpoint::{rounding_divide_by_pot, saturating_left_shift, srdhm};

/// A raw fixed-point type: `i16` or `i32`.
pub trait Raw: Copy + Ord + std::ops::BitAnd<Output = Self> {
    /// Bits, sign included.
    const BITS: u32;
    /// Zero.
    const ZERO: Self;
    /// The largest value (one, with no integer bits).
    const MAX: Self;
    /// The smallest value.
    const MIN: Self;
    /// `x` as the raw type (wrapping: the callers' values fit).
    fn of(x: i64) -> Self;
    /// Widened.
    fn wide(self) -> i64;
    /// `SaturatingRoundingDoublingHighMul`.
    fn mul(self, b: Self) -> Self;
    /// `RoundingDivideByPOT` (`e < 0`) or the saturating left shift (`e > 0`).
    fn pot(self, e: i32) -> Self;
    /// gemmlowp's `AddSaturatingIf16Bit`.
    fn add_saturating_if_16bit(self, b: Self) -> Self;
    /// Wrapping addition.
    fn add(self, b: Self) -> Self {
        Self::of(self.wide() + b.wide())
    }
    /// Wrapping subtraction.
    fn sub(self, b: Self) -> Self {
        Self::of(self.wide() - b.wide())
    }
    /// Wrapping negation.
    fn neg(self) -> Self {
        Self::of(-self.wide())
    }
}

impl Raw for i32 {
    const BITS: u32 = 32;
    const ZERO: Self = 0;
    const MAX: Self = i32::MAX;
    const MIN: Self = i32::MIN;
    fn of(x: i64) -> Self {
        x as i32
    }
    fn wide(self) -> i64 {
        i64::from(self)
    }
    fn mul(self, b: Self) -> Self {
        srdhm(self, b)
    }
    fn pot(self, e: i32) -> Self {
        saturating_left_shift(self, e)
    }
    fn add_saturating_if_16bit(self, b: Self) -> Self {
        self.wrapping_add(b)
    }
}

impl Raw for i16 {
    const BITS: u32 = 16;
    const ZERO: Self = 0;
    const MAX: Self = i16::MAX;
    const MIN: Self = i16::MIN;
    fn of(x: i64) -> Self {
        x as i16
    }
    fn wide(self) -> i64 {
        i64::from(self)
    }
    /// `round(a * b / 2^15)`, with `-1 * -1` saturated.
    fn mul(self, b: Self) -> Self {
        if self == i16::MIN && b == i16::MIN {
            return i16::MAX;
        }
        let ab = i32::from(self) * i32::from(b);
        let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
        // Division truncates toward zero, as in C++.
        ((ab + nudge) / (1 << 15)) as i16
    }
    /// The 32-bit primitives on the widened value: a rounding division gives the same
    /// quotient at any width, and a left shift saturated to 16 bits is gemmlowp's threshold
    /// test (`x > 2^(15-e) - 1` is exactly `x << e > i16::MAX`, likewise below).
    fn pot(self, e: i32) -> Self {
        if e <= 0 {
            rounding_divide_by_pot(i32::from(self), -e) as i16
        } else {
            (i32::from(self) << e).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
        }
    }
    fn add_saturating_if_16bit(self, b: Self) -> Self {
        self.saturating_add(b)
    }
}

/// A gemmlowp constant given as its 32-bit raw value, at `T`'s width.
fn constant<T: Raw>(raw32: i32) -> T {
    T::of(i64::from(rounding_divide_by_pot(raw32, 32 - T::BITS as i32)))
}

/// One in Q`ib`: the largest value when there are no integer bits.
fn one<T: Raw>(ib: u32) -> T {
    if ib == 0 {
        T::MAX
    } else {
        T::of(1i64 << (T::BITS - 1 - ib))
    }
}

/// `exp(a)` for `a` in [-1/4, 0), Q0 in and out.
fn exp_on_interval<T: Raw>(a: T) -> T {
    let constant_term = constant::<T>(1_895_147_668); // exp(-1/8)
    let one_third = constant::<T>(715_827_883);
    let x = a.add(T::of(1i64 << (T::BITS - 4)));
    let x2 = x.mul(x);
    let x3 = x2.mul(x);
    let x4 = x2.mul(x2);
    let x4_over_4 = x4.pot(-2);
    let poly = x4_over_4.add(x3).mul(one_third).add(x2).pot(-1);
    constant_term.add_saturating_if_16bit(constant_term.mul(x.add(poly)))
}

/// gemmlowp's `exp_on_negative_values`: `exp(a)` for `a <= 0` in Q`ib`; Q0 out.
pub fn exp_on_negative_values<T: Raw>(a: T, ib: u32) -> T {
    let fb = T::BITS as i32 - 1 - ib as i32;
    let one_quarter = T::of(1i64 << (fb - 2));
    let mask = one_quarter.sub(T::of(1));
    let a_mod_quarter_minus_one_quarter = (a & mask).sub(one_quarter);
    let mut result = exp_on_interval(a_mod_quarter_minus_one_quarter.pot(ib as i32));
    let remainder = a_mod_quarter_minus_one_quarter.sub(a);
    // exp(-2^k) for k = -2..4, as gemmlowp's 32-bit raw multipliers.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if ib as i32 > exponent && remainder & T::of(1i64 << (fb + exponent)) != T::ZERO {
            result = result.mul(constant(multiplier));
        }
    }
    if ib > 5 && a < constant(-(1 << (36 - ib))) {
        result = T::ZERO;
    }
    if a == T::ZERO {
        result = one(0);
    }
    result
}

/// Newton-Raphson's three steps on `half_denominator` (Q0), from gemmlowp's start
/// `48/17 - 32/17 * d`; Q2 out.
fn reciprocal_steps<T: Raw>(half_denominator: T) -> T {
    let c48_over_17 = constant::<T>(1_515_870_810);
    let c_neg_32_over_17 = constant::<T>(-1_010_580_540);
    let mut x = c48_over_17.add(half_denominator.mul(c_neg_32_over_17));
    for _ in 0..3 {
        let one_minus_half_denominator_times_x = one::<T>(2).sub(half_denominator.mul(x));
        // A Q2 x Q2 product is Q4; Rescale<2> of it is a saturating left shift by 2.
        x = x.add(x.mul(one_minus_half_denominator_times_x).pot(2));
    }
    x
}

/// gemmlowp's `RoundingHalfSum(a, 1)`.
fn half_sum_with_one<T: Raw>(a: T) -> T {
    let sum = a.wide() + T::MAX.wide();
    T::of((sum + if sum >= 0 { 1 } else { -1 }) / 2)
}

/// gemmlowp's `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)`, Q0 in and out.
pub fn one_over_one_plus_x<T: Raw>(a: T) -> T {
    // Halved (Q2 read as Q1), then back to Q0.
    reciprocal_steps(half_sum_with_one(a)).pot(1)
}

/// `(1 - a) / (1 + a)` for `a` in (0, 1), Q0.
fn one_minus_x_over_one_plus_x<T: Raw>(a: T) -> T {
    reciprocal_steps(half_sum_with_one(a)).sub(one(2)).pot(2)
}

/// gemmlowp's `logistic` of a Q`ib` value; Q0 out.
pub fn logistic<T: Raw>(a: T, ib: u32) -> T {
    let abs = if a > T::ZERO { a } else { a.neg() };
    let if_positive = one_over_one_plus_x(exp_on_negative_values(abs.neg(), ib));
    if a == T::ZERO {
        constant(1 << 30)
    } else if a > T::ZERO {
        if_positive
    } else {
        one::<T>(0).sub(if_positive)
    }
}

/// gemmlowp's `tanh` of a Q`ib` value; Q0 out.
pub fn tanh<T: Raw>(a: T, ib: u32) -> T {
    let n = if a < T::ZERO { a } else { a.neg() };
    // -tanh(n) for n <= 0: (1 - e^2n) / (1 + e^2n), with 2n read exactly as Q(ib+1).
    let t = one_minus_x_over_one_plus_x(exp_on_negative_values(n, ib + 1));
    if a == T::ZERO {
        T::ZERO
    } else if a < T::ZERO {
        t.neg()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(raw: i16, ib: u32) -> f64 {
        f64::from(raw) / f64::from(1u32 << (15 - ib))
    }

    /// Within a few LSBs of the functions over every Q3.12 input (the gates') and every
    /// Q4.11 input (a cell state of scale 2^-11 through tanh), odd and even symmetry at the
    /// raw level, and the fixed points at zero.
    #[test]
    fn close_to_the_functions_over_every_input() {
        for ib in [0u32, 1, 3, 4, 6] {
            for raw in i16::MIN..=i16::MAX {
                let x = real(raw, ib);
                let s = real(logistic(raw, ib), 0);
                let t = real(tanh(raw, ib), 0);
                assert!((s - 1.0 / (1.0 + (-x).exp())).abs() < 4e-4, "logistic Q{ib} {raw}: {s}");
                assert!((t - x.tanh()).abs() < 4e-4, "tanh Q{ib} {raw}: {t}");
            }
        }
        assert_eq!(logistic(0i16, 3), 16384);
        assert_eq!(tanh(0i16, 3), 0);
        assert_eq!(tanh(100i16, 3), -tanh(-100i16, 3));
    }

    /// The 32-bit instances (SOFTMAX's): exp of Q5.26 values and 1 / (1 + x) of Q0.31 values
    /// close to the functions (gemmlowp's 32-bit approximations; SOFTMAX's goldens check them
    /// bit for bit).
    #[test]
    fn thirty_two_bit_exp_and_reciprocal() {
        let (mut worst_exp, mut worst_rec) = (0f64, 0f64);
        for k in 0..2000 {
            let x = -(k as f64) * 0.01;
            let q = (x * f64::from(1 << 26)).round();
            let e = exp_on_negative_values(q as i32, 5);
            worst_exp = worst_exp.max((f64::from(e) / 2f64.powi(31) - (q / f64::from(1 << 26)).exp()).abs());
            let a = k as f64 / 2000.0;
            let r = one_over_one_plus_x((a * 2f64.powi(31)) as i32);
            worst_rec = worst_rec.max((f64::from(r) / 2f64.powi(31) - 1.0 / (1.0 + a)).abs());
        }
        // Measured: 2.2e-7 and 3.0e-9.
        assert!(worst_exp < 5e-7 && worst_rec < 1e-8, "exp {worst_exp:e}, 1/(1+x) {worst_rec:e}");
    }
}
