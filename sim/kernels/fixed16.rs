//! gemmlowp's 16-bit fixed-point logistic and tanh, as LiteRT's integer LSTM applies them to
//! its gates (`tensor_utils::ApplySigmoid` on Q3.12, `ApplyTanh` on Q`m`.(15-`m`)), bit for
//! bit. The algorithms are the 32-bit ones of `softmax.rs` (a Taylor expansion around -1/8, a
//! barrel shifter over the input's integer bits, Newton-Raphson divisions), on 16-bit raw
//! values: products by the 16-bit rounding doubling high multiply, sums and negations wrapping
//! as C++'s conversions back to `int16_t` do, constants the 32-bit ones rounded by 16 bits
//! (gemmlowp's `RescaleConstantInitializer`).
//!
//! A value here is a raw `i16` and its number of integer bits `ib` (Q`ib`.(15-`ib`)); results
//! are Q0.15.

use super::fixedpoint::rounding_divide_by_pot;

/// gemmlowp's 16-bit `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^15)`, with
/// `-1 * -1` saturated.
fn mul(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    // Division truncates toward zero, as in C++.
    ((ab + nudge) / (1 << 15)) as i16
}

/// `RoundingDivideByPOT` on 16 bits: `x / 2^e` to nearest, ties away from zero.
fn divide_by_pot(x: i16, e: u32) -> i16 {
    let mask = ((1i32 << e) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i16::from(x < 0);
    (x >> e) + i16::from(remainder > threshold)
}

/// `SaturatingRoundingMultiplyByPOT`: `x * 2^e`, saturated for `e > 0`, rounded for `e < 0`.
fn multiply_by_pot(x: i16, e: i32) -> i16 {
    if e < 0 {
        return divide_by_pot(x, e.unsigned_abs());
    }
    if e == 0 {
        return x;
    }
    let threshold = ((1i32 << (15 - e)) - 1) as i16;
    if x > threshold {
        i16::MAX
    } else if x < -threshold {
        i16::MIN
    } else {
        x << e
    }
}

/// A gemmlowp constant given as its 32-bit raw value, on 16 bits.
fn constant(raw32: i32) -> i16 {
    rounding_divide_by_pot(raw32, 16) as i16
}

/// One in Q`ib`: the largest value when there are no integer bits.
fn one(ib: u32) -> i16 {
    if ib == 0 {
        i16::MAX
    } else {
        1 << (15 - ib)
    }
}

/// `exp(a)` for `a` in [-1/4, 0), Q0.15 in and out.
fn exp_on_interval(a: i16) -> i16 {
    let constant_term = constant(1_895_147_668); // exp(-1/8)
    let one_third = constant(715_827_883);
    let x = a.wrapping_add(1 << 12);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = divide_by_pot(x4, 2);
    let poly = divide_by_pot(mul(x4_over_4.wrapping_add(x3), one_third).wrapping_add(x2), 1);
    constant_term.saturating_add(mul(constant_term, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` in Q`ib`; Q0.15 out.
fn exp_on_negative_values(a: i16, ib: u32) -> i16 {
    let fb = 15 - ib as i32;
    let one_quarter = 1i16 << (fb - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval(multiply_by_pot(a_mod_quarter_minus_one_quarter, ib as i32));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
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
        if ib as i32 > exponent && remainder & (1i16 << (fb + exponent)) != 0 {
            result = mul(result, constant(multiplier));
        }
    }
    if ib > 5 {
        let clamp = constant(-(1 << (36 - ib)));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = one(0);
    }
    result
}

/// Newton-Raphson's three steps on `half_denominator` (Q0.15), from gemmlowp's start
/// `48/17 - 32/17 * d`; Q2.13 out.
fn reciprocal_steps(half_denominator: i16) -> i16 {
    let c48_over_17 = constant(1_515_870_810);
    let c_neg_32_over_17 = constant(-1_010_580_540);
    let mut x = c48_over_17.wrapping_add(mul(half_denominator, c_neg_32_over_17));
    for _ in 0..3 {
        let one_minus_half_denominator_times_x = one(2).wrapping_sub(mul(half_denominator, x));
        x = x.wrapping_add(multiply_by_pot(mul(x, one_minus_half_denominator_times_x), 2));
    }
    x
}

/// gemmlowp's 16-bit `RoundingHalfSum(a, 1)`.
fn half_sum_with_one(a: i16) -> i16 {
    let sum = i32::from(a) + i32::from(i16::MAX);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i16
}

/// `1 / (1 + a)` for `a` in (0, 1), Q0.15.
fn one_over_one_plus_x(a: i16) -> i16 {
    let x = reciprocal_steps(half_sum_with_one(a));
    // Halved (Q2.13 read as Q1.14), then back to Q0.15.
    multiply_by_pot(x, 1)
}

/// `(1 - a) / (1 + a)` for `a` in (0, 1), Q0.15.
fn one_minus_x_over_one_plus_x(a: i16) -> i16 {
    let x = reciprocal_steps(half_sum_with_one(a));
    multiply_by_pot(x.wrapping_sub(one(2)), 2)
}

/// gemmlowp's `logistic` of a Q`ib` value (`ib` <= 12); Q0.15 out.
pub fn logistic(a: i16, ib: u32) -> i16 {
    let positive = a > 0;
    let abs = if positive { a } else { a.wrapping_neg() };
    let if_positive = one_over_one_plus_x(exp_on_negative_values(abs.wrapping_neg(), ib));
    if a == 0 {
        constant(1 << 30)
    } else if positive {
        if_positive
    } else {
        one(0).wrapping_sub(if_positive)
    }
}

/// gemmlowp's `tanh` of a Q`ib` value (`ib` <= 11); Q0.15 out.
pub fn tanh(a: i16, ib: u32) -> i16 {
    let negative = a < 0;
    let n = if negative { a } else { a.wrapping_neg() };
    // -tanh(n) for n <= 0: (1 - e^2n) / (1 + e^2n), with 2n read exactly as Q(ib+1).
    let t = one_minus_x_over_one_plus_x(exp_on_negative_values(n, ib + 1));
    if a == 0 {
        0
    } else if negative {
        t.wrapping_neg()
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
        assert_eq!(logistic(0, 3), 16384);
        assert_eq!(tanh(0, 3), 0);
        assert_eq!(tanh(100, 3), -tanh(-100, 3));
    }
}
